"""Loops That Matter: the papers' known answers on tiny hand-written models, cx_service at scale,
the chart, the saved folder and the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx

TOL = 1e-9

CONTROLS = """
FINAL TIME = {final}
	~	~	|
INITIAL TIME = 0
	~	~	|
SAVEPER = TIME STEP
	~	~	|
TIME STEP = {dt}
	~	~	|
"""


def write_model(tmp_path, name: str, equations: dict[str, str], final: float = 1, dt: float = 1):
    text = "{UTF-8}\n" + "".join(f"{k} = {v}\n\t~\t~\t|\n" for k, v in equations.items())
    text += CONTROLS.format(final=final, dt=dt)
    path = tmp_path / f"{name}.mdl"
    path.write_text(text)
    return cx.load_model(path)


def first(series: pd.Series) -> float:
    return float(series.iloc[0])


# ------------------------------------------------------------------------ link scores (2020 paper)
def test_table_1_link_scores(tmp_path):
    # z = 2x + y, x 5 -> 7, y 4 -> 5: 0.8 and 0.2
    m = write_model(tmp_path, "t1", {"x": "5 + 2 * Time", "y": "4 + Time", "z": "2 * x + y"})
    r = cx.dominance(m)
    assert first(r.link_score("x", "z")) == pytest.approx(0.8, abs=TOL)
    assert first(r.link_score("y", "z")) == pytest.approx(0.2, abs=TOL)
    assert list(r.times) == [0.0]  # the score of [0, 1] is labelled 0; the final time has none
    assert len(r.loop_list) == 0 and r.scores.empty


def test_table_2_link_scores(tmp_path):
    # z = (w + x) / y, w 7 -> 10, x 2 -> 4, y 3 -> 5: +5, +3.33, -6
    m = write_model(tmp_path, "t2", {"w": "7 + 3 * Time", "x": "2 + 2 * Time", "y": "3 + 2 * Time",
                                     "z": "(w + x) / y"})
    r = cx.dominance(m)
    assert first(r.link_score("w", "z")) == pytest.approx(5.0, abs=TOL)
    assert first(r.link_score("x", "z")) == pytest.approx(10 / 3, abs=TOL)
    assert first(r.link_score("y", "z")) == pytest.approx(-6.0, abs=TOL)


def test_no_change_scores_zero(tmp_path):
    m = write_model(tmp_path, "flat", {"x": "5", "t": "Time", "z": "x * 2 + 0 * t"})
    r = cx.dominance(m)
    assert first(r.link_score("t", "z")) == 0.0  # Δz = 0


# ------------------------------------------------------------------------ flow to stock (2023 paper)
def test_flow_to_stock_2023(tmp_path):
    # inflow 5 -> 10, outflow 4 -> 5, stock 100 -> 101 -> 106: +1.25 and -0.25
    m = write_model(tmp_path, "fs", {"S": "INTEG(inflow - outflow, 100)", "inflow": "5 + 5 * Time",
                                     "outflow": "4 + Time"}, final=2)
    r = cx.dominance(m)
    assert list(r.run["S"]) == [100.0, 101.0, 106.0]
    assert first(r.link_score("inflow", "S")) == pytest.approx(1.25, abs=TOL)
    assert first(r.link_score("outflow", "S")) == pytest.approx(-0.25, abs=TOL)


def test_flow_to_stock_2023_with_net_flow(tmp_path):
    m = write_model(tmp_path, "fsn", {"S": "INTEG(net, 100)", "net": "inflow - outflow",
                                      "inflow": "5 + 5 * Time", "outflow": "4 + Time"}, final=2)
    r = cx.dominance(m)
    assert first(r.link_score("net", "S")) == pytest.approx(1.0, abs=TOL)
    assert first(r.link_score("inflow", "net")) == pytest.approx(1.25, abs=TOL)
    assert first(r.link_score("outflow", "net")) == pytest.approx(-0.25, abs=TOL)


# ------------------------------------------------------------------------ loops
def test_isolated_growth_and_drain(tmp_path):
    g = cx.dominance(write_model(tmp_path, "grow", {"S": "INTEG(growth, 1)", "growth": "0.1 * S"}, 10, 0.5))
    assert [lp.id for lp in g.loop_list] == ["R1"]
    np.testing.assert_allclose(g.loop_scores[0], 1.0, atol=TOL)
    np.testing.assert_allclose(g.relative[0], 1.0, atol=TOL)
    d = cx.dominance(write_model(tmp_path, "drain", {"S": "INTEG(-drain, 100)", "drain": "S / 5"}, 10, 0.5))
    assert [lp.id for lp in d.loop_list] == ["B1"]
    np.testing.assert_allclose(d.loop_scores[0], -1.0, atol=TOL)
    np.testing.assert_allclose(d.relative[0], -1.0, atol=TOL)


def test_births_and_deaths(tmp_path):
    m = write_model(tmp_path, "bd", {"Population": "INTEG(births - deaths, 100)",
                                     "births": "Population * birth rate", "birth rate": "0.1",
                                     "deaths": "Population / lifetime", "lifetime": "20"}, 10, 0.5)
    r = cx.dominance(m, outcome="Population")
    s = r.scores
    assert list(s.columns) == ["time", "loop", "name", "polarity", "score", "relative_score"]
    births = s[s["loop"] == "R1"]
    deaths = s[s["loop"] == "B1"]
    np.testing.assert_allclose(births["score"], 2.0, atol=TOL)
    np.testing.assert_allclose(deaths["score"], -1.0, atol=TOL)
    np.testing.assert_allclose(births["relative_score"], 2 / 3, atol=TOL)
    np.testing.assert_allclose(deaths["relative_score"], -1 / 3, atol=TOL)
    per = r.dominant_periods
    assert len(per) == 1 and per.iloc[0]["loops"] == "R1"
    assert per.iloc[0]["start"] == 0 and per.iloc[0]["end"] == 10
    assert per.iloc[0]["share"] == pytest.approx(2 / 3, abs=TOL)


def test_logistic_one_net_flow(tmp_path):
    # net = r (1 - P/K) P with P/K an auxiliary: relative R = 1 - P/K, B = -P/K at each interval start
    m = write_model(tmp_path, "logistic", {"P": "INTEG(net, 10)", "net": "r * (1 - ratio) * P",
                                           "ratio": "P / K", "r": "0.2", "K": "1000"}, 60, 0.25)
    r = cx.dominance(m)
    ids = {len(lp.variables): i for i, lp in enumerate(r.loop_list)}
    reinforcing, balancing = r.relative[ids[2]], r.relative[ids[3]]
    ratio = r.run["ratio"].to_numpy()[:-1]
    assert r.loop_list[ids[2]].polarity == "R" and r.loop_list[ids[3]].polarity == "B"
    np.testing.assert_allclose(reinforcing, 1 - ratio, atol=TOL)
    np.testing.assert_allclose(balancing, -ratio, atol=TOL)
    ph = r.phases([(0, 10), (40, 60)]).set_index(["loop", "start"])
    for loop, score in ((r.loop_list[ids[2]].id, reinforcing), (r.loop_list[ids[3]].id, balancing)):
        assert ph.loc[(loop, 0.0), "mean_relative"] == pytest.approx(float(np.mean(score[r.times < 10])), abs=TOL)
    assert ph.loc[(r.loop_list[ids[2]].id, 0.0), "dominant_share"] == 1.0
    assert ph.loc[(r.loop_list[ids[3]].id, 40.0), "dominant_share"] == 1.0  # P > K/2 by week 40
    # dominance hands over from R to B when P passes K/2
    per = r.dominant_periods
    assert list(per["polarity"]) == ["R", "B"]
    p = r.run["P"]
    handover = per.iloc[1]["start"]
    assert p.loc[handover] >= 500 > p.loc[handover - r.dt]


def test_logistic_birth_and_death_flows_differ(tmp_path):
    # derived, not forced: births = r P, deaths = r P ratio, ratio = P / K. Loop scores over the
    # same |ΔF| (F the net flow): R1 (P -> births) r ΔP; B1 (P -> deaths) -r ratio ΔP; B2 (P ->
    # ratio -> deaths) -r P ΔP / K. So R : B1 : B2 = 1 : P/K : P/K and R's share is K / (K + 2P),
    # not 1 - P/K as with one net flow: dominance hands over at P = K/2 there, at P = K/2 here too
    # (1 = 2P/K), but the shares differ in between.
    m = write_model(tmp_path, "logistic2", {"P": "INTEG(births - deaths, 10)", "births": "r * P",
                                            "deaths": "r * P * ratio", "ratio": "P / K", "r": "0.2",
                                            "K": "1000"}, 60, 0.25)
    r = cx.dominance(m)
    p = r.run["P"].to_numpy()[:-1]
    rel = {lp.id: r.relative[i] for i, lp in enumerate(r.loop_list)}
    assert set(rel) == {"R1", "B1", "B2"}  # P -> births; P -> deaths; P -> ratio -> deaths
    np.testing.assert_allclose(rel["R1"], 1000 / (1000 + 2 * p), atol=TOL)
    np.testing.assert_allclose(rel["B1"], -p / (1000 + 2 * p), atol=TOL)
    np.testing.assert_allclose(rel["B2"], -p / (1000 + 2 * p), atol=TOL)


def test_smooth_is_a_composite_link(tmp_path):
    # S -> SMOOTH(S) -> growth -> S: the first-order SMOOTH is scored as a stock with net flow
    # (input - output) / time, so the loop gets a score and stays reinforcing
    m = write_model(tmp_path, "sm", {"S": "INTEG(growth, 10)", "growth": "0.05 * Perceived",
                                     "Perceived": "SMOOTH(S, 4)"}, 40, 0.25)
    r = cx.dominance(m)
    assert len(r.loop_list) == 1
    s = r.loop_scores[0]
    assert np.all(np.isfinite(s)) and np.all(s[1:] > 0)
    ls = r.link_score("S", "Perceived").to_numpy()
    perceived, stock = r.run["Perceived"].to_numpy(), r.run["S"].to_numpy()
    flow = (stock - perceived) / 4
    expected = np.abs(np.diff(stock) / 4 / np.diff(flow)) * np.sign(np.diff(stock))
    np.testing.assert_allclose(ls[1:], expected[1:], rtol=1e-9)


def test_unknown_scenario_and_outcome(tmp_path):
    m = write_model(tmp_path, "grow2", {"S": "INTEG(growth, 1)", "growth": "0.1 * S", "c": "3"}, 4, 1)
    with pytest.raises(cx.CxError, match="scenario"):
        cx.dominance(m, "nope")
    with pytest.raises(cx.CxError, match="no feedback loop"):
        cx.dominance(m, outcome="c").dominant_periods


# ------------------------------------------------------------------------ cx_service
@pytest.fixture(scope="module")
def service():
    return cx.dominance(cx.load_model("cx_service"), outcome="Ticket Backlog")


def test_cx_service_scores(service):
    r = service
    assert r.method == "all loops" and len(r.loop_list) > 1000
    assert np.all(np.isfinite(r.loop_scores)) and np.all(np.isfinite(r.relative))
    for p in set(r.partition.tolist()):
        total = np.abs(r.relative[r.partition == p]).sum(axis=0)
        moving = np.abs(r.loop_scores[r.partition == p]).sum(axis=0) > 0
        if p == r.partition_of_outcome("Ticket Backlog"):
            assert moving.mean() > 0.9  # the backlog's loops move after the week-8 disturbance
        np.testing.assert_allclose(total[moving], 1.0, atol=1e-9)
        assert np.all(total[~moving] == 0)
    names = set(r.loops["name"])
    for name in ("hire to cover", "cut corners", "rework spiral", "burnout", "fix root causes"):
        assert name in names
    top = r.top(5)
    assert top[:len([n for n in names if n])] and all(t in set(r.loops["loop"]) for t in top)
    per = r.dominant_periods
    assert per["start"].iloc[0] == 0 and per["end"].iloc[-1] == pytest.approx(156)
    assert (per["share"][per["loops"] != ""] >= 0.5 - 1e-9).all()


def test_cx_service_loop_cap(service):
    r = cx.dominance(cx.load_model("cx_service"), outcome="Ticket Backlog", max_loops=100)
    assert r.method == "named and strongest by bound" and len(r.loop_list) == 100
    assert set(service.loops["name"]) - {""} <= set(r.loops["name"])
    # the same loops get the same scores; only the shares change (fewer loops in the sum)
    ids = list(r.loops["loop"])
    full = service.loops.reset_index().set_index("loop").loc[ids, "index"].to_numpy()
    np.testing.assert_allclose(r.loop_scores, service.loop_scores[full], rtol=1e-12, atol=0)
    total = np.abs(r.relative[r.partition == 1]).sum(axis=0)
    assert np.allclose(total[total > 0], 1.0, atol=1e-9)
    with pytest.raises(cx.CxError, match="max_loops"):
        cx.dominance(cx.load_model("cx_service"), max_loops=0)


def test_cx_service_strongest_paths(service):
    r = cx.dominance(cx.load_model("cx_service"), outcome="Ticket Backlog", strongest_paths=True)
    assert r.method == "strongest paths" and 0 < len(r.loop_list) < len(service.loop_list)
    full = {frozenset(lp.variables): i for i, lp in enumerate(service.loop_list)}
    assert all(frozenset(lp.variables) in full for lp in r.loop_list)
    assert set(service.loops["name"]) - {""} <= set(r.loops["name"])
    # a loop found by the search has the score it has among all loops
    for i, lp in enumerate(r.loop_list[:50]):
        np.testing.assert_allclose(r.loop_scores[i], service.loop_scores[full[frozenset(lp.variables)]],
                                   rtol=1e-12, atol=0)


def test_cx_service_chart_and_save(service, tmp_path):
    import matplotlib.pyplot as plt

    fig = service.plot()
    try:
        axes = fig.get_axes()
        assert len(axes) == 2
        labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
        assert any("hire to cover" in s for s in labels) and any("other loops" in s for s in labels)
    finally:
        plt.close(fig)
    files = service.save(tmp_path / "dom")
    names = sorted(p.name for p in files)
    assert names == ["dominance_ticket_backlog.png", "dominant_periods.csv", "loops.csv", "scores.csv"]
    scores = pd.read_csv(tmp_path / "dom" / "scores.csv", dtype={"name": str}, keep_default_na=False)
    assert list(scores.columns) == ["time", "loop", "name", "polarity", "score", "relative_score"]
    assert sorted(scores["time"].unique())[:3] == [0.0, 1.0, 2.0]
    manifest = json.loads((tmp_path / "dom" / "cxsystems-manifest.json").read_text())
    assert manifest["run"]["command"] == "dominance"


# ------------------------------------------------------------------------ command line
def test_cli_csv(cli, tmp_path):
    m = write_model(tmp_path, "bd", {"Population": "INTEG(births - deaths, 100)",
                                     "births": "Population * birth rate", "birth rate": "0.1",
                                     "deaths": "Population / lifetime", "lifetime": "20"}, 4, 1)
    r = cli("dominance", "--model", m.path, "--outcome", "Population", "--format", "csv")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "time,loop,name,polarity,score,relative_score"
    rows = [ln.split(",") for ln in lines[1:]]
    assert len(rows) == 2 * 4
    assert {(row[1], round(float(row[4]), 9)) for row in rows} == {("R1", 2.0), ("B1", -1.0)}
    r = cli("dominance", "--model", m.path, "--outcome", "Population", "--set", "lifetime=5", "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert {s["loop"]: round(s["score"], 9) for s in data["scores"]} == {"R1": 1.0, "B1": -2.0}


def test_cli_table_and_bad_options(cli, tmp_path):
    m = write_model(tmp_path, "grow3", {"S": "INTEG(growth, 1)", "growth": "0.1 * S"}, 4, 1)
    r = cli("dominance", "--model", m.path, "--outcome", "S", "--chart", tmp_path / "c.png")
    assert r.code == 0, r.err
    assert "R1" in r.out and "dominant periods" in r.out and (tmp_path / "c.png").stat().st_size > 0
    assert cli("dominance", "--model", m.path, "--format", "xml").code == 2
    bad = cli("dominance", "--model", m.path, "--outcome", "nope")
    assert bad.code == 2 and "nope" in bad.err


# ------------------------------------------------------------------------ across worlds
def test_ensemble_births_and_deaths(tmp_path):
    # birth rate sampled in [0.06, 0.14], lifetime 20 (death rate 0.05): R's share is b / (b + 0.05)
    # in every world and interval, so R dominates everywhere and the mean share is known exactly
    m = write_model(tmp_path, "bdu", {"Population": "INTEG(births - deaths, 100)",
                                      "births": "Population * birth rate", "birth rate": "0.1",
                                      "deaths": "Population / lifetime", "lifetime": "20"}, 10, 0.5)
    (tmp_path / "bdu.scenarios.toml").write_text(
        '[scenarios.baseline]\ndescription = "as written"\n\n'
        '[uncertain]\n"birth rate" = { dist = "uniform", low = 0.06, high = 0.14 }\n')
    m = cx.load_model(m.path)
    ens = cx.dominance(m, outcome="Population", n=7, seed=5)
    from cxsystems.model.uncertain import sample

    b = sample(m.analysis.uncertain, 7, 5)["birth rate"]
    summ = ens.summary.set_index("loop")
    assert summ.loc["R1", "dominant_share"] == 1.0 and summ.loc["B1", "dominant_share"] == 0.0
    assert summ.loc["R1", "strongest_share"] == 1.0
    assert summ.loc["R1", "mean_relative"] == pytest.approx(float(np.mean(b / (b + 0.05))), abs=TOL)
    assert summ.loc["B1", "mean_relative"] == pytest.approx(float(np.mean(-0.05 / (b + 0.05))), abs=TOL)
    assert list(ens.shares.columns) == ["time", "loop", "name", "polarity", "dominant_share",
                                        "strongest_share", "mean_relative"]
    files = ens.save(tmp_path / "ens")
    assert sorted(p.name for p in files) == ["dominance_worlds_population.png", "shares.csv", "summary.csv"]


def test_ensemble_needs_outcome_and_uncertain(tmp_path):
    m = write_model(tmp_path, "g4", {"S": "INTEG(growth, 1)", "growth": "0.1 * S"}, 4, 1)
    with pytest.raises(cx.CxError, match="outcome"):
        cx.dominance(m, n=3)
    with pytest.raises(cx.CxError, match="uncertain"):
        cx.dominance(m, outcome="S", n=3)


def test_cli_ensemble(cli):
    r = cli("dominance", "--n", "10", "--seed", "2", "--top", "2", "--format", "csv")
    assert r.code == 0, r.err
    df = pd.read_csv(__import__("io").StringIO(r.out), dtype={"name": str}, keep_default_na=False)
    assert list(df.columns) == ["time", "loop", "name", "polarity", "dominant_share", "strongest_share",
                                "mean_relative"]
    assert df["dominant_share"].between(0, 1).all() and "hire to cover" in set(df["name"])
    assert cli("dominance", "--n", "0").code == 2
