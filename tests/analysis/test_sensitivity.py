"""Sensitivity analysis: SALib's Ishigami values through our sample -> evaluate -> analyse path,
Sobol indices on cx_service, Morris screening on a tiny model whose answer is known, head-to-head
and time-resolved targets computed in the same worlds as single runs, files, and one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems import CxError
from cxsystems.analysis.metrics import scenario_metrics
from cxsystems.analysis.sensitivity import analyse, design, sensitivity, to_values
from cxsystems.files import MANIFEST
from cxsystems.model.uncertain import Uncertain

# ------------------------------------------------------------------------------------ Ishigami

#: Ishigami function (a = 7, b = 0.1) on U(-pi, pi)^3: analytic first-order and total indices.
ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)


def _ishigami_factors():
    return [Uncertain(f"x{i}", "uniform", -math.pi, math.pi) for i in (1, 2, 3)]


def _ishigami(values):
    from SALib.test_functions import Ishigami

    return Ishigami.evaluate(np.column_stack([values["x1"], values["x2"], values["x3"]]))


@pytest.mark.parametrize("seed", [0, 1])
def test_sobol_on_ishigami_matches_the_known_indices_within_the_intervals(seed):
    unit, values, y, table = analyse(_ishigami_factors(), _ishigami, "sobol", n=1024, seed=seed)
    assert unit.shape == (1024 * 5, 3) and y.shape == (1024 * 5,)
    assert all(np.all((v >= -math.pi) & (v <= math.pi)) for v in values.values())
    assert list(table.columns) == ["parameter", "S1", "S1_conf", "ST", "ST_conf"]
    for row, s1, st in zip(table.itertuples(), ISHIGAMI_S1, ISHIGAMI_ST):
        assert 0 < row.S1_conf < 0.1 and 0 < row.ST_conf < 0.12  # 95% half-widths at n = 1024
        assert abs(row.S1 - s1) <= row.S1_conf, (row.parameter, row.S1, s1)
        assert abs(row.ST - st) <= row.ST_conf, (row.parameter, row.ST, st)
    # the same seed gives the same numbers (design and bootstrap)
    again = analyse(_ishigami_factors(), _ishigami, "sobol", n=1024, seed=seed)[3]
    pd.testing.assert_frame_equal(table, again)


def test_the_design_is_mapped_through_each_declared_distribution():
    tri = Uncertain("t", "triangular", 4.0, 16.0, (("mode", 8.0),))
    norm = Uncertain("n", "normal", 0.12, 0.3, (("mean", 0.2), ("sd", 0.03)))
    unit = design("sobol", 2, 1024, seed=0)
    values = to_values([tri, norm], unit)
    assert values["t"].min() >= 4 and values["t"].max() <= 16
    assert abs(values["t"].mean() - (4 + 8 + 16) / 3) < 0.05  # the triangular mean, not the midpoint 10
    assert abs(values["n"].mean() - 0.2) < 0.002 and abs(values["n"].std() - 0.03) < 0.002


# ------------------------------------------------------------------------------------ cx_service


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


def test_cx_service_sobol_first_order_sum_and_a_stable_top_driver(model):
    tops = []
    for seed in (0, 1):
        res = sensitivity(model, "sobol", metric="total_contacts", n=64, seed=seed)
        s = res.summary
        d = len(model.analysis.uncertain)
        assert res.runs == 64 * (d + 2) and len(s) == d
        slack = float(np.sqrt((s["S1_conf"] ** 2).sum()))
        assert s["S1"].sum() <= 1 + slack
        assert (s["ST"] + s["ST_conf"] >= 0).all()
        tops.append(res.top(1)["parameter"][0])
        # every world's target is the metric of a single simulation of that world
        for i in (0, res.runs // 2, res.runs - 1):
            world = {p: float(v[i]) for p, v in res.samples.items()}
            expected = scenario_metrics(cx.simulate(model, params=world), model.analysis.metrics)
            assert res.outputs[i] == pytest.approx(expected["total_contacts"], rel=1e-12)
    assert tops == ["Reference Problem Contact Rate"] * 2
    assert res.top(1)["text"][0].startswith("Reference Problem Contact Rate explains ")


def test_head_to_head_target_is_the_difference_in_the_same_worlds_with_params_fixed(model):
    res = sensitivity(model, "sobol", metric="peak_wait", scenario="reactive_hiring",
                      versus="structural_prevention", n=4, seed=5, params={"hiring delay": 6},
                      factors=["Launch Problem Sources", "Normal Handle Time"])
    assert [u.parameter for u in res.factors] == ["Launch Problem Sources", "Normal Handle Time"]
    assert res.fixed == {"Hiring Delay": 6.0} and res.runs == 16
    for i in (0, 7, 15):
        world = {p: float(v[i]) for p, v in res.samples.items()} | {"Hiring Delay": 6.0}
        a = scenario_metrics(cx.simulate(model, "reactive_hiring", params=world), model.analysis.metrics)
        b = scenario_metrics(cx.simulate(model, "structural_prevention", params=world), model.analysis.metrics)
        assert res.outputs[i] == pytest.approx(a["peak_wait"] - b["peak_wait"], rel=1e-12, abs=1e-12)
    assert res.target.describe() == "the difference in peak wait between reactive_hiring and structural_prevention"
    # a parameter fixed by params is not varied, and cannot be asked to vary
    everything = sensitivity(model, "morris", metric="peak_wait", n=2, params={"Hiring Delay": 6})
    assert "Hiring Delay" not in [u.parameter for u in everything.factors]
    with pytest.raises(CxError, match="'Hiring Delay' is fixed at 6"):
        sensitivity(model, metric="peak_wait", n=4, params={"Hiring Delay": 6}, factors=["Hiring Delay"])


def test_time_resolved_indices_per_saved_time(model):
    factors = ["Launch Problem Sources", "Reference Problem Contact Rate", "Hiring Delay"]
    res = sensitivity(model, "sobol", outcome="ticket backlog", n=16, seed=2, factors=factors)
    t = res.times
    assert t[0] == 0 and t[-1] == 156 and res.outputs.shape == (16 * 5, len(t))
    s = res.summary
    assert list(s.columns) == ["time", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert len(s) == 3 * len(t)
    # before the launch in week 8 the launch's size changes nothing: both indices exactly 0
    early = s[(s["time"] < 8) & (s["parameter"] == "Launch Problem Sources")]
    assert len(early) == 8 and (early[["S1", "ST"]].abs() < 1e-12).all().all()
    # ... and some weeks after it, it does (the extra problems work through the backlog)
    late = s[(s["time"] >= 20) & (s["time"] <= 30) & (s["parameter"] == "Launch Problem Sources")]
    assert (late["ST"] > 0.03).all()
    # the last saved time's outputs are the variable at week 156 of a single run of that world
    world = {p: float(v[3]) for p, v in res.samples.items()}
    assert res.outputs[3, -1] == pytest.approx(cx.simulate(model, params=world)["Ticket Backlog"].iloc[-1],
                                               rel=1e-12)
    fig = res.plot()
    (ax,) = fig.axes
    assert len(ax.lines) == 3 and ax.get_xlabel() == "Week"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), t)


# ------------------------------------------------------------------------------------ Morris


TINY_MODEL = """{UTF-8}
Stock = INTEG(Growth, 0) ~ units ~ |
Growth = Rate * Scale ~ units/Week ~ |
Rate = 2 ~ units/Week [0, 10] ~ |
Scale = 1.5 ~ Dmnl [0, 10] ~ |
Side Output = Knob * 2 ~ units ~ |
Knob = 0.5 ~ Dmnl [0, 1] ~ A parameter that does not enter the stock. |
FINAL TIME = 10 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 1 ~ Week ~ |
"""

TINY_SCENARIOS = """
[analysis]
baseline = "baseline"
[scenarios.baseline]
label = "As is"
[metrics]
final_stock = { variable = "Stock", how = "final", better = "higher" }
side = { variable = "Side Output", how = "final", better = "lower" }
[uncertain]
"Knob" = { dist = "uniform", low = 0, high = 1 }
"Rate" = { dist = "uniform", low = 1, high = 3 }
"Scale" = { dist = "uniform", low = 1, high = 2 }
"""


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "tiny.mdl").write_text(TINY_MODEL, encoding="utf-8")
    (tmp_path / "tiny.scenarios.toml").write_text(TINY_SCENARIOS, encoding="utf-8")
    return cx.load_model(tmp_path / "tiny.mdl")


def test_morris_ranks_a_parameter_outside_the_metric_last_with_no_effect(tiny):
    res = sensitivity(tiny, "morris", metric="final_stock", n=12, seed=3)
    s = res.summary
    assert list(s.columns) == ["parameter", "mu_star", "mu_star_conf", "sigma", "mu"]
    assert list(s["parameter"]) == ["Rate", "Scale", "Knob"]
    knob = s.iloc[2]
    assert knob["mu_star"] == 0 and knob["sigma"] == 0
    # final stock = 10 * Rate * Scale: across Rate's range (1-3) it moves by 20 * Scale, Scale in [1, 2]
    rate, scale = s.iloc[0], s.iloc[1]
    assert 20 <= rate["mu_star"] <= 40 and rate["mu"] == rate["mu_star"]
    assert 10 <= scale["mu_star"] <= 30
    assert res.runs == 12 * 4
    top = res.top(3)
    assert list(top["parameter"]) == ["Rate", "Scale", "Knob"]
    assert top["text"][0].startswith("Moving Rate across its whole range changes final stock in baseline by ")
    assert top["text"][0].endswith(" units on average (±" + f"{rate['mu_star_conf']:.3g} units)")


def test_sobol_refuses_a_target_that_does_not_vary(tiny):
    with pytest.raises(CxError, match="side in baseline is 1 in every sampled world"):
        sensitivity(tiny, "sobol", metric="side", n=8, factors=["Rate", "Scale"])


def test_save_writes_the_chart_the_table_and_the_manifest(tiny, tmp_path):
    res = sensitivity(tiny, "sobol", metric="final_stock", n=32, seed=1)
    out = tmp_path / "out"
    written = res.save(out, format="svg", run={"command": "test"})
    assert [p.name for p in written] == ["sensitivity.svg", "sensitivity.csv"]
    assert "<svg" in (out / "sensitivity.svg").read_text()[:400]
    table = pd.read_csv(out / "sensitivity.csv")
    pd.testing.assert_frame_equal(table, res.summary, check_exact=False, rtol=1e-12)
    assert list(table["parameter"])[-1] == "Knob" and table["ST"].iloc[-1] == 0
    run = json.loads((out / MANIFEST).read_text())["run"]
    assert run["method"] == "sobol" and run["n"] == 32 and run["runs"] == 32 * 5 and run["command"] == "test"
    assert run["factors"] == ["Knob", "Rate", "Scale"] and run["target"]["name"] == "final_stock"


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="fast"), "method 'fast': use sobol or morris"),
    (dict(n=100), "n 100: a Sobol' design needs a power of 2 \\(for example 64 or 128\\)"),
    (dict(n=1), "n must be a whole number of at least 2"),
    (dict(outcome="Stock"), "give a metric or an outcome, not both"),
    (dict(metric="nope"), "unknown metric 'nope'"),
    (dict(versus="baseline"), "is the scenario itself"),
    (dict(factors=["Side Output"]), "unknown parameter"),
    (dict(seed=-1), "seed must be a whole number"),
])
def test_bad_input_is_one_line(tiny, kwargs, message):
    with pytest.raises(CxError, match=message) as exc:
        sensitivity(tiny, **{"metric": "final_stock", **kwargs})
    assert "\n" not in str(exc.value)


# ------------------------------------------------------------------------------------ CLI


def test_cli_prints_the_indices_and_writes_the_files(tiny, tmp_path, cli):
    out = tmp_path / "out"
    r = cli("sensitivity", "--model", tiny.path, "--method", "morris", "--metric", "final_stock",
            "--n", "6", "--out", out)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith("tiny: morris sensitivity of final stock in baseline: 3 uncertain parameters, "
                               "24 sampled worlds per scenario (n = 6, seed 0)")
    header = next(i for i, line in enumerate(lines) if line.startswith("parameter"))
    assert lines[header].split() == ["parameter", "mu_star", "mu_star_conf", "sigma", "mu"]
    assert [line.split()[0] for line in lines[header + 2:header + 5]] == ["Rate", "Scale", "Knob"]
    assert lines[header + 4].split()[1:] == ["0.000"] * 4
    assert "Top drivers:" in r.out and "Moving Rate across its whole range" in r.out
    assert {p.name for p in out.iterdir()} == {"sensitivity.png", "sensitivity.csv", MANIFEST}


def test_cli_holds_calibrated_and_set_parameters_fixed(tiny, tmp_path, cli):
    cal = tmp_path / "calibration.toml"
    cal.write_text('[calibration]\nmodel = "tiny"\nmethod = "optimize"\nseed = 0\n[estimates]\n"Rate" = 2.5\n',
                   encoding="utf-8")
    out = tmp_path / "out"
    r = cli("sensitivity", "--model", tiny.path, "--method", "morris", "--metric", "final_stock", "--n", "4",
            "--calibration", cal, "--set", "Knob=0.2", "--out", out)
    assert r.code == 0, r.err
    assert "1 uncertain parameter, 8 sampled worlds" in r.out
    assert "not varied (fixed): Knob, Rate" in r.out
    # only Scale varies; final stock = 10 * 2.5 * Scale moves by exactly 25 across Scale's range 1-2
    row = next(line for line in r.out.splitlines() if line.startswith("Scale"))
    assert row.split() == ["Scale", "25.000", "0.000", "0.000", "25.000"]
    run = json.loads((out / MANIFEST).read_text())["run"]
    assert run["factors"] == ["Scale"] and run["fixed"] == {"Rate": 2.5, "Knob": 0.2}


@pytest.mark.parametrize("args, message", [
    (["--n", "100"], "--n 100: a Sobol' design needs a power of 2"),
    (["--n", "0"], "--n must be a whole number of at least 2"),
    (["--method", "fast"], "argument --method: invalid choice"),
    (["--metric", "nope"], "unknown metric 'nope'"),
    (["--metric", "final_stock", "--outcome", "Stock"], "not allowed with argument"),
    (["--versus", "baseline"], "is the scenario itself"),
    (["--set", "Rate=99"], "outside its range"),
    (["--seed", "-3"], "--seed must be a whole number"),
])
def test_cli_bad_options_exit_2_with_one_line(tiny, tmp_path, cli, args, message):
    r = cli("sensitivity", "--model", tiny.path, *args, "--out", tmp_path / "out")
    assert r.code == 2
    assert message in r.error
    assert not (tmp_path / "out").exists()
