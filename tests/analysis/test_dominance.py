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
SAVEPER = {saveper}
	~	~	|
TIME STEP = {dt}
	~	~	|
"""


def write_model(tmp_path, name: str, equations: dict[str, str], final: float = 1, dt: float = 1,
                saveper: str = "TIME STEP"):
    text = "{UTF-8}\n" + "".join(f"{k} = {v}\n\t~\t~\t|\n" for k, v in equations.items())
    text += CONTROLS.format(final=final, dt=dt, saveper=saveper)
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


def test_scored_at_the_saveper_times_or_every_step(tmp_path):
    # logistic growth, TIME STEP 0.25, SAVEPER 1: the intervals [t, t + 0.25] starting at the SAVEPER
    # times are scored (as Stella reports them); every_step scores all; the same numbers where both do
    m = write_model(tmp_path, "logsave", {"P": "INTEG(net, 10)", "net": "r * (1 - ratio) * P", "ratio": "P / K",
                                          "r": "0.5", "K": "1000"}, 20, 0.25, saveper="1")
    r = cx.dominance(m, outcome="P", backend="numpy")
    every = cx.dominance(m, outcome="P", every_step=True, backend="numpy")
    assert r.times.tolist() == [float(t) for t in range(20)] and (r.spacing, r.dt) == (1.0, 0.25)
    assert every.times.size == 80 and every.spacing == 0.25
    cols = np.arange(0, 80, 4)
    np.testing.assert_array_equal(every.times[cols], r.times)
    np.testing.assert_array_equal(every.loop_scores[:, cols], r.loop_scores)
    np.testing.assert_array_equal(every.relative[:, cols], r.relative)
    assert r.link_score("P", "net").index.tolist() == r.times.tolist()
    # relative R = 1 - P/K at the start of each scored interval (the paper's answer)
    ids = [lp.id for lp in r.loop_list]
    ratio = r.run["ratio"].to_numpy()[:-1]
    np.testing.assert_allclose(r.relative[ids.index("R1")], 1 - ratio, atol=TOL)
    assert r.run.index.tolist() == [float(t) for t in range(21)]  # the run at the SAVEPER times
    per, per_every = r.dominant_periods, every.dominant_periods
    assert per["end"].iloc[-1] == per_every["end"].iloc[-1] == 20.0
    assert per["start"].tolist()[1:] == per["end"].tolist()[:-1]
    # the balancing loop takes over at the same saved time as in the every-step periods, rounded up
    switch = float(per.loc[per["loops"] == "B1", "start"].iloc[0])
    switch_every = float(per_every.loc[per_every["loops"] == "B1", "start"].iloc[0])
    assert switch == np.ceil(switch_every)
    saved = r.scores_for(None, every=2.0)
    assert saved["time"].unique().tolist() == [float(t) for t in range(0, 20, 2)]
    if cx.engine.compiled.numba_available():
        compiled = cx.dominance(m, outcome="P", backend="compiled")
        np.testing.assert_array_equal(compiled.loop_scores, r.loop_scores)
    with pytest.raises(cx.CxError, match="every_step is for one run"):
        cx.dominance(m, outcome="P", n=4, every_step=True)


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


# ------------------------------------------------------------------------ shared products and memos
from cxsystems.analysis import dominance as D  # noqa: E402
from cxsystems.causal import loops as L  # noqa: E402
from cxsystems.causal.graph import graph_from_links  # noqa: E402


def naive_products(loops, link_scores, n):
    """Each loop's link scores multiplied one after the other, around the loop (a zero score as
    +0: a loop score 0 has the sign of its number of negative links, as exp(sum of logs) gave)."""
    out = np.ones((len(loops), n))
    with np.errstate(all="ignore"):
        for i, lp in enumerate(loops):
            for link in lp.links():
                out[i] = out[i] * (link_scores.get(link, np.full(n, np.nan)) + 0.0)
    return out


def three_sector_model(tmp_path, name="sectors"):
    # three stocks, each feeding the others' flows: 8 loops that share most of their links
    eqs = {"A": "INTEG(fa, 10)", "B": "INTEG(fb, 20)", "C": "INTEG(fc, 5)",
           "fa": "0.05 * B - 0.02 * A + 0.01 * C * (1 - A / 100)",
           "fb": "0.03 * C - 0.04 * B + 0.002 * A * B / 50",
           "fc": "0.02 * A - 0.01 * C + 0.001 * B * Time",
           "w": "0.3"}
    return write_model(tmp_path, name, eqs, 12, 0.25)


def test_shared_products_equal_naive_products(tmp_path):
    r = cx.dominance(three_sector_model(tmp_path))
    assert len(r.loop_list) >= 6
    naive = naive_products(r.loop_list, r.link_scores, r.times.size)
    assert np.any(naive < 0) and np.any(naive > 0)
    np.testing.assert_allclose(r.loop_scores, naive, rtol=1e-14, atol=0)
    assert np.array_equal(np.signbit(r.loop_scores), np.signbit(naive))


def products_of(cycles, table):
    loops = [L.Loop(f"R{i + 1}", "R", "R", c, ("+",) * len(c), 0) for i, c in enumerate(cycles)]
    prod = D._LoopProducts.of(tuple(lp.variables for lp in loops))
    scores = {k: table[k] for k in table}
    n = len(next(iter(table.values())))
    return prod, prod.products(prod.table(scores, n)), naive_products(loops, scores, n)


def test_products_keep_nan_zero_signs_and_self_loops():
    cycles = [("a",), ("a", "b"), ("a", "b", "c"), ("b", "c"), ("a", "c", "b")]
    table = {("a", "a"): np.array([2.0, -1.0, 0.5, 3.0]), ("a", "b"): np.array([-2.0, 0.0, -0.0, 1.0]),
             ("b", "a"): np.array([0.5, 4.0, -3.0, np.nan]), ("b", "c"): np.array([1.5, -2.0, 2.0, 1.0]),
             ("c", "a"): np.array([-1.0, 1.0, 1.0, 1.0]), ("c", "b"): np.array([3.0, 3.0, -1.0, 2.0])}
    # ("a", "c") is on a loop but has no score: that loop's score is NaN, as a link not scored
    prod, got, want = products_of(cycles, table)
    assert prod.keys == tuple(sorted(prod.keys)) and ("a", "c") in prod.keys
    np.testing.assert_array_equal(got[:4], want[:4])
    assert np.isnan(got[4]).all()
    assert got[:4, 0].tolist() == [2.0, -1.0, 3.0, 4.5] and got[:4, 1].tolist() == [-1.0, 0.0, 0.0, -6.0]
    assert np.signbit(got[2, 1])  # 0 * -2 * 1: -0 (one negative link)
    assert got[1, 1] == 0.0 and not np.signbit(got[1, 1])  # 0 * 4: +0
    assert got[1, 2] == 0.0 and np.signbit(got[1, 2])  # -0 as +0, times -3: -0 (one negative link)
    assert np.isnan(got[1, 3])


def test_products_never_overflow_in_between():
    # 1e200 * 1e200 * 1e-200 * 1e-200 = 1: formed directly the partial product would overflow;
    # such intervals are scored as exp(sum of logs), as before
    cycles = [("a", "b", "c", "d")]
    big = np.array([1e200, 2.0, 1e-300])
    table = {("a", "b"): big, ("b", "c"): big, ("c", "d"): 1 / big, ("d", "a"): -1 / big}
    prod, got, _ = products_of(cycles, table)
    assert prod._risky(prod.table(table, 3)).tolist() == [True, False, True]
    np.testing.assert_allclose(got[0], [-1.0, -1.0, -1.0], rtol=1e-12)


def test_relative_by_partition():
    scores = np.array([[1.0, 0.0, -2.0], [-3.0, 0.0, np.nan], [4.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, 2.0, 0.0]])
    part = np.array([1, 1, 2, 3, 2])
    rel = D._relative(scores, part)
    np.testing.assert_allclose(rel[0], [0.25, 0.0, -1.0])
    np.testing.assert_allclose(rel[1, :2], [-0.75, 0.0])
    assert np.isnan(rel[1, 2])
    np.testing.assert_allclose(rel[2], [0.8, 1 / 3, 1.0])
    np.testing.assert_allclose(rel[4], [-0.2, 2 / 3, 0.0])
    assert np.all(rel[3] == 0)


def test_top_sorted_equals_a_full_sort():
    rng = np.random.default_rng(4)
    a = np.round(rng.random((300, 150)), 2)  # many ties
    for k in (1, 64, 300):
        np.testing.assert_array_equal(D._top_sorted(a, k, block=7), np.sort(a, axis=0)[::-1][:k])


def test_structure_memoised_numbers_anew(tmp_path):
    # a second call reuses the loops and the products' structure (memo hits) and gives the same
    # numbers; other parameters reuse them too and give the new numbers
    m = write_model(tmp_path, "bdm", {"Population": "INTEG(births - deaths, 100)",
                                      "births": "Population * birth rate", "birth rate": "0.1",
                                      "deaths": "Population / lifetime", "lifetime": "20"}, 4, 1)
    first = cx.dominance(m, outcome="Population")
    cycles, products = L._all_cycles.cache_info().hits, D._products.cache_info().hits
    again = cx.dominance(m, outcome="Population")
    assert L._all_cycles.cache_info().hits > cycles and D._products.cache_info().hits > products
    np.testing.assert_array_equal(again.loop_scores, first.loop_scores)
    np.testing.assert_array_equal(again.relative, first.relative)
    other = cx.dominance(m, outcome="Population", params={"lifetime": 5})
    ids = [lp.id for lp in other.loop_list]
    np.testing.assert_allclose(other.loop_scores[ids.index("R1")], 1.0, atol=TOL)
    np.testing.assert_allclose(other.loop_scores[ids.index("B1")], -2.0, atol=TOL)
    np.testing.assert_allclose(first.loop_scores[ids.index("R1")], 2.0, atol=TOL)
    np.testing.assert_allclose(other.relative[ids.index("B1")], -2 / 3, atol=TOL)


def test_loop_memo_keeps_polarities_and_structure_apart():
    links = [("x", "y", "+", False), ("y", "x", "+", True), ("y", "z", "+", False), ("z", "y", "-", True)]
    one = L.find_loops(graph_from_links("g", links, kinds={"x": "stock", "z": "stock"}))
    flipped = [(s, t, "-" if (s, t) == ("y", "x") else p, d) for s, t, p, d in links]
    two = L.find_loops(graph_from_links("g", flipped, kinds={"x": "stock", "z": "stock"}))
    assert [(lp.id, lp.variables) for lp in one] == [("R1", ("x", "y")), ("B1", ("z", "y"))]
    assert [(lp.id, lp.variables) for lp in two] == [("B1", ("x", "y")), ("B2", ("z", "y"))]
    three = L.find_loops(graph_from_links("g", links + [("x", "z", "+", False)], kinds={"x": "stock", "z": "stock"}))
    assert [lp.variables for lp in three] == [("x", "y"), ("z", "y"), ("x", "z", "y")]
    assert [lp.variables for lp in L.find_loops(graph_from_links("g", links, kinds={"y": "stock"}))] == \
        [("y", "x"), ("y", "z")]  # other stocks, other canonical rotation


def test_cx_service_second_call_same_numbers(service):
    again = cx.dominance(cx.load_model("cx_service"), outcome="Ticket Backlog")
    assert [lp.id for lp in again.loop_list] == [lp.id for lp in service.loop_list]
    np.testing.assert_array_equal(again.loop_scores, service.loop_scores)
    np.testing.assert_array_equal(again.relative, service.relative)
    pd.testing.assert_frame_equal(again.dominant_periods, service.dominant_periods)
    naive = naive_products(service.loop_list[::500], service.link_scores, service.times.size)
    np.testing.assert_allclose(service.loop_scores[::500], naive, rtol=1e-13, atol=0)


def test_loop_memo_follows_measured_signs():
    # the same structure with a link whose sign changes at another time: other loop polarities
    from cxsystems.causal.graph import CausalGraph, Edge, Node

    def graph(change_at: float):
        edges = {("x", "y"): Edge("x", "y", "+"), ("y", "x"): Edge("y", "x", "+", delayed=True),
                 ("y", "z"): Edge("y", "z", "mixed", segments=((0.0, change_at, "+"), (change_at, 10.0, "-"))),
                 ("z", "y"): Edge("z", "y", "+", delayed=True)}
        nodes = {v: Node(v, "stock" if v != "y" else "auxiliary") for v in "xyz"}
        return CausalGraph("g", nodes, edges, times=tuple(float(t) for t in range(11)))

    early, late = L.find_loops(graph(3.0)), L.find_loops(graph(7.0))
    assert [(lp.id, lp.description) for lp in early] == [("R1", "R"), ("B1", "R until week 3, then B")]
    assert [(lp.id, lp.description) for lp in late] == [("R1", "R"), ("R2", "R until week 7, then B")]
    assert [lp.as_dict() for lp in L.find_loops(graph(3.0))] == [lp.as_dict() for lp in early]


def test_dominant_sets_equal_a_full_sort():
    # the strongest 64 settle most intervals; ties, NaN, zero columns and shares never reached
    # fall back to the full stable sort: the sets are the same
    rng = np.random.default_rng(7)
    for trial in range(60):
        loops, cols = int(rng.integers(1, 140)), int(rng.integers(1, 90))
        x = rng.random((loops, cols)) ** int(rng.integers(1, 8))
        if trial % 3 == 0:
            x = np.round(x * 4) / 10  # many ties
        x[rng.random(x.shape) < 0.1] = np.nan
        x[:, ::9] = 0.0
        x = x / np.maximum(np.nansum(x, axis=0), 1e-300) * rng.uniform(0.3, 1.2, cols)  # some below 50%
        x *= np.where(rng.random((loops, 1)) < 0.5, -1.0, 1.0)
        for share in (0.5, 0.8):
            full = D._dominant_sets_sorted(np.nan_to_num(np.abs(x)), share)
            assert D.dominant_sets(x, share) == full
    assert D.dominant_sets(np.array([[0.3, 0.0], [-0.3, 0.0], [0.4, 0.0]])) == [(0, 2), ()]
