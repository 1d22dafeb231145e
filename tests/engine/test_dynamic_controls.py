"""Control variables that change in time (TIME STEP, SAVEPER, FINAL TIME written as equations):
the numpy engine's time loop reads them each step, as Vensim does. Checked against hand-computed
numbers and, where the peer suite is present, against Vensim's canonical output."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine.jsgen import model_to_js
from cxsystems.errors import CxError, UnsupportedConstruct

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))

#: TIME STEP 1 before week 5 and 0.5 from then; SAVEPER the TIME STEP before week 4, then 2;
#: the run stops at the first time Stock exceeds Threshold.
SWITCHING = """{UTF-8}
Stock = INTEG(Inflow, 0) ~ Widgets ~ |
Inflow = Time ~ Widgets/Week ~ |
Threshold = 15 ~ Widgets ~ |
Scale = 1 ~ Dmnl ~ |
Scaled Time = Scale * Time ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
FINAL TIME = IF THEN ELSE(Stock > Threshold, Time, 100) ~ Week ~ |
TIME STEP = IF THEN ELSE(Time < 5, 1, 0.5) ~ Week ~ |
SAVEPER = IF THEN ELSE(Time < 4, TIME STEP, 2) ~ Week ~ |
"""

#: A fixed TIME STEP of 0.25 and a FINAL TIME set by the run (Stock reaches 8 at t = 4).
FIXED_STEP = """{UTF-8}
Stock = INTEG(Time, 0) ~ Widgets ~ |
INITIAL TIME = 0 ~ Week ~ |
FINAL TIME = IF THEN ELSE(Stock >= 8, Time, 50) ~ Week ~ |
TIME STEP = 0.25 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
"""


def write(tmp_path: Path, text: str, name: str = "m.mdl") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_time_loop_reads_time_step_saveper_and_final_time_each_step(tmp_path):
    # By hand (Euler, Inflow = Time): t 0 1 2 3 4 5 (dt 1), then 5.5 6 (dt 0.5);
    # Stock 0 0 1 3 6 10 12.5 15.25 > 15: FINAL TIME(6) = 6 stops the run at 6.
    # Saved: 0 1 2 3 (SAVEPER 1), 4 (SAVEPER(4) = 2), 6.
    model = cx.load_model(write(tmp_path, SWITCHING))
    run = cx.simulate(model, engine="numpy")
    assert run.index.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]
    assert run["Stock"].tolist() == [0.0, 0.0, 1.0, 3.0, 6.0, 15.25]
    assert run["TIME STEP"].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5]
    assert run["SAVEPER"].tolist() == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    assert run["FINAL TIME"].tolist() == [100.0] * 5 + [6.0]


def test_the_model_reports_changing_time_settings_as_nan_and_keeps_fixed_ones(tmp_path):
    model = cx.load_model(write(tmp_path, SWITCHING))
    assert model.initial_time == 0.0
    assert all(math.isnan(v) for v in (model.final_time, model.time_step, model.saveper))
    assert {"FINAL TIME", "TIME STEP", "SAVEPER"} <= set(model.variables)
    # the result's times are the saved times actually reached
    res = compile_model(model).run()
    assert res.times.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]


def test_an_override_replaces_the_equation_of_a_changing_control(tmp_path):
    model = cx.load_model(write(tmp_path, SWITCHING))
    run = cx.simulate(model, engine="numpy", final_time=4)
    assert run.index.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert run["FINAL TIME"].tolist() == [4.0] * 5
    assert run["Stock"].tolist() == [0.0, 0.0, 1.0, 3.0, 6.0]
    # a fixed TIME STEP of 0.5 from the start: saved every 0.5 before week 4, then every 2
    run = cx.simulate(model, engine="numpy", time_step=0.5, final_time=6)
    assert run.index.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 6.0]
    assert run["Stock"].iloc[-1] == sum(0.5 * 0.5 * k for k in range(12))  # 16.5


def test_overriding_every_changing_control_runs_the_fixed_grid(tmp_path):
    model = cx.load_model(write(tmp_path, SWITCHING))
    run = cx.simulate(model, engine="numpy", final_time=3, time_step=1, saveper=1)
    assert run.index.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert run["Stock"].tolist() == [0.0, 0.0, 1.0, 3.0]
    assert run["FINAL TIME"].tolist() == [3.0] * 4 and run["TIME STEP"].tolist() == [1.0] * 4
    assert run["SAVEPER"].tolist() == [1.0] * 4


def test_ensembles_sharing_the_time_grid_run_and_diverging_grids_are_refused(tmp_path):
    model = cx.load_model(write(tmp_path, SWITCHING))
    cm = compile_model(model)
    # Scale does not reach the time settings: every world shares the grid
    res = cm.run(params={"Scale": np.array([1.0, 2.0])})
    assert res.times.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]
    stock = res.values[res.names.index("Stock")]
    np.testing.assert_array_equal(stock, np.array([[0.0, 0.0, 1.0, 3.0, 6.0, 15.25]] * 2).T)
    scaled = res.values[res.names.index("Scaled Time")]
    np.testing.assert_array_equal(scaled[:, 1], 2 * res.times)
    # Threshold feeds FINAL TIME through the stock: worlds could stop at different times
    for values in ([15.0, 30.0], [15.0, 15.0], [30.0]):
        with pytest.raises(UnsupportedConstruct, match="different time grids"):
            cm.run(params={"Threshold": np.array(values)})
    assert cm.run(params={"Threshold": 30.0}).times[-1] == 8.0  # alone: it runs


def test_rk4_runs_a_changing_final_time_with_a_fixed_step(tmp_path):
    model = cx.load_model(write(tmp_path, FIXED_STEP))
    # RK4 integrates Stock' = Time exactly: Stock = t^2 / 2 reaches 8 at t = 4
    run = cx.simulate(model, engine="numpy", method="rk4")
    assert run.index.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(run["Stock"], run.index.to_numpy() ** 2 / 2, rtol=0, atol=1e-12)
    # Euler: Stock(t) = dt^2 * k(k-1)/2 at t = k dt; first >= 8 at k = 17 (8.5), t = 4.25
    run = cx.simulate(model, engine="numpy")
    assert run.index.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]  # 4.25 is not a saved time
    assert run["Stock"].iloc[-1] == 0.0625 * 16 * 15 / 2


def test_rk4_with_a_changing_time_step_and_javascript_are_refused(tmp_path):
    model = cx.load_model(write(tmp_path, SWITCHING))
    with pytest.raises(UnsupportedConstruct, match="Euler integration only"):
        cx.simulate(model, engine="numpy", method="rk4")
    with pytest.raises(CxError, match="change in time"):
        model_to_js(model)


def test_step_with_a_changing_time_step_is_refused(tmp_path):
    text = SWITCHING.replace("Inflow = Time", "Inflow = STEP(1, 3)")
    model = cx.load_model(write(tmp_path, text))
    with pytest.raises(UnsupportedConstruct, match="STEP with a TIME STEP that changes"):
        compile_model(model)


def test_a_changing_initial_time_starts_from_its_value_at_time_zero(tmp_path):
    text = SWITCHING.replace("INITIAL TIME = 0", "INITIAL TIME = IF THEN ELSE(Time < 1, 0, 0.5)")
    model = cx.load_model(write(tmp_path, text))
    assert math.isnan(model.initial_time)
    run = cx.simulate(model, engine="numpy")
    assert run.index.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]
    assert run["INITIAL TIME"].tolist() == [0.0] + [0.5] * 5  # an ordinary variable afterwards


def vs_canonical(test: str, peer_suite) -> None:
    folder = SUITE / "tests" / test
    if not folder.is_dir():
        pytest.skip(f"peer suite not found at {SUITE}")
    model_file = next(iter(sorted(folder.glob("*.mdl"))))
    model = cx.load_model(model_file)
    run = cx.simulate(model, engine="numpy")
    ref = peer_suite.read_canonical(peer_suite.canonical_output(model_file))
    assert run.index.tolist() == ref.index.tolist()  # the same saved times, no more, no fewer
    verdict = peer_suite.compare(peer_suite.with_controls(run, model), ref)
    assert not verdict, verdict


@pytest.mark.parametrize("test", ["control_vars", "dynamic_final_time"])
def test_changing_controls_match_vensim(test, peer_suite):
    vs_canonical(test, peer_suite)
