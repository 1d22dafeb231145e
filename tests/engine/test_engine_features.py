"""Engine features: ensembles, RK4, refusals with clear messages, results API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_mdl

import cxsystems as cx
from cxsystems.engine import EngineResult, compile_model
from cxsystems.model.scenarios import Change

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def statefuls():
    return cx.load_model(MODELS_DIR / "engine_statefuls.mdl")




# ------------------------------------------------------------------------------- ensembles


def _sample(model, names, n, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        p = model.parameters[name]
        out[name] = rng.uniform(p.min, p.max, n)
    return out


def test_ensemble_equals_single_runs_cx_service(cx_service):
    cm = compile_model(cx_service)
    params = _sample(cx_service, ["Hiring Delay", "Reference Churn Rate", "Normal Handle Time",
                                  "Time to Recontact", "Normal Problem Creation"], 4, seed=3)
    changes = cx_service.scenarios["reactive_hiring"].changes
    ens = cm.run(changes, params=params)
    assert ens.values.shape == (len(cm.variables), 157, 4)
    for i in range(4):
        one = cm.run(changes, params={k: float(v[i]) for k, v in params.items()})
        np.testing.assert_allclose(ens.values[:, :, i], one.values[:, :, 0], rtol=1e-12, atol=1e-12)
    # the sampled worlds really differ
    customers = ens.variable("Customers")[-1]
    assert np.ptp(customers) > 100


def test_ensemble_equals_single_runs_every_stateful(statefuls):
    """Sampled delay times give DELAY FIXED a different length in each run."""
    cm = compile_model(statefuls)
    params = {"Delay Time": np.array([1.3, 2.0, 4.0, 7.9, 19.0]),
              "Smoothing Time": np.array([0.5, 1.0, 3.0, 8.0, 20.0]),
              "Residence Time": np.array([1.0, 2.0, 5.0, 9.0, 20.0])}
    changes = (Change("Short Delay Time", 2.0, 10.0),)
    ens = cm.run(changes, params=params)
    for i in range(5):
        one = cm.run(changes, params={k: float(v[i]) for k, v in params.items()})
        np.testing.assert_allclose(ens.values[:, :, i], one.values[:, :, 0], rtol=1e-12, atol=1e-12)
    fixed = ens.variable("Delay Fixed")
    # DELAY FIXED returns its initial value (1.5) for exactly round(delay / dt) steps
    steps_at_initial = (np.abs(fixed - 1.5) < 1e-12).sum(axis=0)
    np.testing.assert_array_equal(steps_at_initial, [5, 8, 16, 32, 76])


def test_scenario_changes_apply_on_top_of_sampled_base_values(cx_service):
    """params are the world (base values); the scenario's step change still happens."""
    cm = compile_model(cx_service)
    changes = cx_service.scenarios["reactive_hiring"].changes  # 0.2 from week 16
    base = np.array([0.0, 0.05, 0.1])
    res = cm.run(changes, params={"Extra Headcount Fraction": base}, variables=["Extra Headcount Fraction"])
    frac = res.variable("Extra Headcount Fraction")
    times = res.times
    np.testing.assert_array_equal(frac[times < 16], np.tile(base, ((times < 16).sum(), 1)))
    assert (frac[times >= 16] == 0.2).all()
    # a constant change in the scenario replaces the sampled value
    res = cm.run([Change("Extra Headcount Fraction", 0.3)], params={"Extra Headcount Fraction": base},
                 variables=["Extra Headcount Fraction"])
    assert (res.values == 0.3).all()


def test_an_ensemble_of_one_run(cx_service):
    cm = compile_model(cx_service)
    one = cm.run(params={"Hiring Delay": np.array([6.0])}, variables=["Customers"])
    assert one.values.shape == (1, 157, 1)
    np.testing.assert_array_equal(one.values, cm.run(params={"Hiring Delay": 6.0}, variables=["Customers"]).values)


def test_ensemble_with_a_scalar_and_an_array_parameter(cx_service):
    cm = compile_model(cx_service)
    res = cm.run(params={"Hiring Delay": 4.0, "Agent Cost": np.array([800.0, 1600.0])},
                 variables=["Cumulative Cost to Serve"])
    cost = res.variable("Cumulative Cost to Serve")[-1]
    assert cost[1] > cost[0] * 1.5


def test_ensemble_runs_keep_the_delay_order_pysd_gives_each_of_them(statefuls):
    """PySD lowers a DELAY3's order while 3 * TIME STEP exceeds the delay time; in an ensemble
    each run gets the order it would get alone."""
    cm = compile_model(statefuls)
    params = {"Short Delay Time": np.array([0.3, 0.5, 0.74, 2.0]),
              "Delay Time": np.array([0.6, 1.0, 4.0, 1.2])}
    ens = cm.run(params=params, method="euler")
    for i in range(4):
        one = cm.run(params={k: float(v[i]) for k, v in params.items()})
        np.testing.assert_allclose(ens.values[:, :, i], one.values[:, :, 0], rtol=1e-12, atol=1e-12)
    rk = cm.run(params=params, method="rk4", variables=["Delay3 Short", "Delayn"])
    one = cm.run(params={k: float(v[0]) for k, v in params.items()}, method="rk4",
                 variables=["Delay3 Short", "Delayn"])
    np.testing.assert_allclose(rk.values[:, :, 0], one.values[:, :, 0], rtol=1e-12)


def test_delay_shorter_than_time_step_is_refused(statefuls):
    with pytest.raises(cx.CxError, match="Delay3 Short.*shorter than TIME STEP"):
        compile_model(statefuls).run(params={"Short Delay Time": 0.1})


# ------------------------------------------------------------------------------------- RK4


def test_rk4_converges_at_fourth_order_and_euler_at_first():
    model = cx.load_model(MODELS_DIR / "engine_logistic.mdl")
    cm = compile_model(model)

    def error(method, dt):
        return float(np.abs(cm.run(method=method, time_step=dt, saveper=1).variable("Error")).max())

    rk4 = [error("rk4", dt) for dt in (0.5, 0.25, 0.125)]
    euler = [error("euler", dt) for dt in (0.5, 0.25, 0.125)]
    assert rk4[0] / rk4[1] > 12 and rk4[1] / rk4[2] > 14  # 2**4 = 16 in the limit
    assert 1.8 < euler[0] / euler[1] < 2.2 and 1.8 < euler[1] / euler[2] < 2.2
    assert rk4[2] < 1e-4 < euler[2]


def test_rk4_converges_on_every_stateful(statefuls):
    """Halving TIME STEP shrinks the change in the result each time (a Cauchy sequence)."""
    cm = compile_model(statefuls)
    finals = [cm.run(method="rk4", time_step=dt, saveper=0.25).variable("Total")[-1, 0]
              for dt in (0.25, 0.125, 0.0625, 0.03125)]
    steps = np.abs(np.diff(finals))
    assert steps[1] < steps[0] and steps[2] < steps[1]
    assert steps[2] / finals[-1] < 2e-4


def test_rk4_ensemble_equals_rk4_single_runs(cx_service):
    cm = compile_model(cx_service)
    params = _sample(cx_service, ["Hiring Delay", "Fatigue Onset Time"], 3, seed=5)
    ens = cm.run(params=params, method="rk4", final_time=40, variables=["Customers", "Wait Time"])
    for i in range(3):
        one = cm.run(params={k: float(v[i]) for k, v in params.items()}, method="rk4", final_time=40,
                     variables=["Customers", "Wait Time"])
        np.testing.assert_allclose(ens.values[:, :, i], one.values[:, :, 0], rtol=1e-12)


# ---------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("equation, construct", [
    ("RANDOM BINOMIAL(0, 10, 0.5, 10, 0, 1, 3)", "RANDOM BINOMIAL"),
    ("GET TIME VALUE(2, 0, 1)", "GET TIME VALUE"),
    ("VECTOR SELECT(1, 1, 1, 1, 1)", "VECTOR SELECT"),
])
def test_unsupported_constructs_are_refused_with_name_and_variable(tmp_path, equation, construct):
    path = write_mdl(tmp_path, f"Culprit Variable=\n\t{equation}\n\t~\tDmnl\n\t~\t|\n")
    model = cx.load_model(path)
    with pytest.raises(cx.CxError) as err:
        compile_model(model)
    msg = str(err.value)
    assert construct in msg and "Culprit Variable" in msg and "engine='pysd'" in msg


def test_subscripts_run_one_column_per_element(tmp_path):
    """(Subscripts in depth: tests/engine/test_subscripts.py.)"""
    body = ("Region:\n\tnorth, south\n\t~\t~\t|\n"
            "Demand[Region]=\n\t1, 2\n\t~\tDmnl\n\t~\t|\n")
    model = cx.load_model(write_mdl(tmp_path, body))
    df = compile_model(model).run(variables=["Demand"]).to_frame()
    assert list(df.columns) == ["Demand[north]", "Demand[south]"] and list(df.iloc[-1]) == [1.0, 2.0]


def test_algebraic_loop_is_refused_naming_its_members(tmp_path):
    body = ("Alpha=\n\tBeta + 1\n\t~\tDmnl\n\t~\t|\n"
            "Beta=\n\tAlpha * 2\n\t~\tDmnl\n\t~\t|\n")
    model = cx.load_model(write_mdl(tmp_path, body))
    with pytest.raises(cx.CxError, match=r"algebraic loop: (Alpha -> Beta -> Alpha|Beta -> Alpha -> Beta)"):
        compile_model(model)


def test_circular_initialisation_is_refused(tmp_path):
    body = ("Stock A= INTEG(1, Stock B)\n\t~\tDmnl\n\t~\t|\n"
            "Stock B= INTEG(1, Stock A)\n\t~\tDmnl\n\t~\t|\n")
    model = cx.load_model(write_mdl(tmp_path, body))
    with pytest.raises(cx.CxError, match="circular initialisation"):
        compile_model(model)


def test_division_by_zero_names_the_variable_and_time(tmp_path):
    body = ("Denominator=\n\t3 - Time\n\t~\tDmnl\n\t~\t|\n"
            "Ratio=\n\t1 / Denominator\n\t~\tDmnl\n\t~\t|\n")
    cm = compile_model(cx.load_model(write_mdl(tmp_path, body)))
    with pytest.raises(cx.CxError, match=r"division by zero in 'Ratio' at time 3"):
        cm.run()


def test_bad_arguments_are_refused(cx_service):
    cm = compile_model(cx_service)
    with pytest.raises(cx.CxError, match="outside its range"):
        cm.run(params={"Hiring Delay": np.array([4.0, 100.0])})
    with pytest.raises(cx.CxError, match="has 3 values but other parameters have 2"):
        cm.run(params={"Hiring Delay": np.array([4.0, 5.0]), "Agent Cost": np.ones(3) * 1000})
    with pytest.raises(cx.CxError, match="unknown parameter 'Hirng Delay'.*Hiring Delay"):
        cm.run(params={"Hirng Delay": 4.0})
    with pytest.raises(cx.CxError, match="unknown integration method"):
        cm.run(method="midpoint")
    with pytest.raises(cx.CxError, match="lookup table"):
        cm.run(variables=["Effect of Fatigue on Attrition"])
    with pytest.raises(cx.CxError, match="unknown variable 'Custmers'.*Customers"):
        cm.run(variables=["Custmers"])
    with pytest.raises(cx.CxError, match="time_step must be a positive"):
        cm.run(time_step=-1)


# --------------------------------------------------------------------------------------- API


def test_compile_model_is_cached(cx_service):
    assert compile_model(cx_service) is compile_model(cx_service)


def test_compiled_model_pickles_for_worker_processes(cx_service):
    import pickle

    cm = compile_model(cx_service)
    clone = pickle.loads(pickle.dumps(cm))
    np.testing.assert_array_equal(clone.run(variables=["Customers"]).values,
                                  cm.run(variables=["Customers"]).values)


def test_result_frame_has_the_simulate_layout(cx_service):
    cm = compile_model(cx_service)
    res = cm.run()
    assert isinstance(res, EngineResult) and res.n_runs == 1
    df = res.to_frame()
    assert df.index.name == "time"
    assert list(df.columns) == [v for v in cx_service.variables if v not in cx_service.lookups]
    assert df.index[0] == 0.0 and df.index[-1] == 156.0 and len(df) == 157
    assert all(dt == "float64" for dt in df.dtypes)
    sub = cm.run(variables=["wait time", "Customers"]).to_frame()
    assert list(sub.columns) == ["Wait Time", "Customers"]
    pd.testing.assert_series_equal(sub["Customers"], df["Customers"])


def test_result_array_and_xarray_forms(cx_service):
    cm = compile_model(cx_service)
    res = cm.run(params={"Hiring Delay": np.array([4.0, 8.0, 12.0])}, variables=["Customers", "Agents"])
    assert res.values.shape == (2, 157, 3)
    da = res.to_xarray()
    assert da.dims == ("variable", "time", "run")
    assert float(da.sel(variable="Agents", run=2).isel(time=-1)) == res.values[1, -1, 2]
    with pytest.raises(cx.CxError, match="out of range"):
        res.to_frame(run=3)
    assert res.to_frame(run=1)["Customers"].iloc[-1] == res.values[0, -1, 1]


def test_constant_change_applies_from_the_start_and_step_change_at_its_week(statefuls):
    cm = compile_model(statefuls)
    base = cm.run(variables=["Residence Time", "Stock"]).to_frame()
    const = cm.run([Change("Residence Time", 2.0)], variables=["Residence Time"]).to_frame()
    assert (const["Residence Time"] == 2.0).all()
    step = cm.run([Change("Residence Time", 2.0, 7.3)], variables=["Residence Time", "Stock"]).to_frame()
    rt = step["Residence Time"]
    assert (rt[rt.index < 7.3] == 5.0).all() and (rt[rt.index >= 7.3] == 2.0).all()
    before = step.index <= 7.25
    np.testing.assert_array_equal(step["Stock"][before], base["Stock"][before])
    assert step["Stock"].iloc[-1] < base["Stock"].iloc[-1] * 0.6


# ------------------------------------------------------------------------------- no dead ends

ACTIVE_INITIAL = """
Stock = INTEG(Flow, 10)
	~	Widgets
	~	|
Flow = 1
	~	Widgets/Week
	~	|
Value = Stock * 2 + RANDOM UNIFORM(0, 0, Seed)
	~	Widgets
	~	|
Seed = 3
	~	Dmnl
	~	|
"""


def test_a_construct_the_engine_lacks_falls_back_to_pysd_with_a_notice(tmp_path):
    """A variable RANDOM seed: the default engine runs the model through PySD and says so in one line;
    engine='numpy' refuses it; the numbers are PySD's."""
    model = cx.load_model(write_mdl(tmp_path, ACTIVE_INITIAL))
    with pytest.warns(cx.errors.EngineNotice, match=r"m: the numpy engine does not run this model "
                      r"\('Value': the seed of RANDOM UNIFORM.*simulated with PySD \(pysd-fast\)"):
        auto = cx.simulate(model)
    ref = cx.simulate(model, engine="pysd")
    assert auto.equals(ref.astype(float))
    assert auto["Value"].iloc[-1] == pytest.approx(2 * auto["Stock"].iloc[-1]) and auto["Stock"].iloc[-1] == 20
    with pytest.raises(cx.errors.UnsupportedConstruct, match="RANDOM UNIFORM.*use engine='pysd'"):
        cx.simulate(model, engine="numpy")
    with pytest.raises(cx.CxError, match="method 'rk4' needs the numpy engine"):
        cx.simulate(model, method="rk4")


def test_the_cli_prints_the_fallback_as_one_note(tmp_path, cli):
    path = write_mdl(tmp_path, ACTIVE_INITIAL)
    r = cli("run", "--model", path, "--scenario", "baseline", "--out", tmp_path / "out.csv")
    assert r.code == 0, r.err
    notes = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(notes) == 1 and notes[0].startswith("cxsystems: note: m: the numpy engine does not run")
    assert pd.read_csv(tmp_path / "out.csv")["Stock"].iloc[-1] == 20


def test_an_ensemble_of_such_a_model_is_refused_in_one_line(tmp_path):
    from cxsystems.analysis.ensemble import ensemble

    path = write_mdl(tmp_path, ACTIVE_INITIAL)
    (tmp_path / "m.scenarios.toml").write_text(
        '[scenarios.baseline]\ndescription = "as written"\n[metrics]\nend = { variable = "Stock" }\n'
        '[uncertain]\n"Flow" = { dist = "uniform", low = 0.5, high = 2 }\n', encoding="utf-8")
    model = cx.load_model(path)
    with pytest.raises(cx.CxError, match="ensembles run every world at once on the numpy engine"):
        ensemble(model, n=4, seed=0)


def test_pysd_failures_are_one_line_errors(tmp_path):
    """A model PySD cannot run either (GET TIME VALUE relative to the start, in months) is a CxError
    naming the model and PySD's reason, not PySD's traceback."""
    model = cx.load_model(write_mdl(tmp_path, "x = GET TIME VALUE(1, 0, 3)\n\t~\tWeek\n\t~\t|\n"))
    with pytest.raises(cx.CxError) as err:
        with pytest.warns(cx.errors.EngineNotice):
            cx.simulate(model)
    msg = str(err.value)
    assert msg.startswith(f"{model.path}: PySD (pysd-fast) could not run this model: NotImplementedError")
    assert "\n" not in msg


def test_pysd_fast_keeps_pysds_answer_for_a_subscripted_lookup_argument(tmp_path):
    """pysd-fast evaluates a one-dimensional table with numpy.interp for a scalar argument only; a
    subscripted argument goes through PySD's own lookup (it failed before)."""
    body = ("dim: a, b\n\t~\t\n\t~\t|\n"
            "table(\n\t(0,0),(10,20))\n\t~\tDmnl\n\t~\t|\n"
            "x[dim] = 1, 4\n\t~\tDmnl\n\t~\t|\n"
            "y[dim] = table(x[dim] + Time)\n\t~\tDmnl\n\t~\t|\n")
    model = cx.load_model(write_mdl(tmp_path, body))
    fast = cx.simulate(model, engine="pysd-fast")
    ref = cx.simulate(model, engine="pysd")
    assert fast.equals(ref)
    assert fast["y[b]"].iloc[0] == 8.0 and fast["y[a]"].loc[2.0] == 6.0


# ------------------------------------------------------------------------------- save_steps
@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_save_steps_keep_exactly_those_steps(cx_service, backend):
    # loop dominance keeps the two ends of each scored interval: the same numbers as a run saving
    # every TIME STEP, at those steps only; the compiled backend saves every step and keeps these
    if backend == "compiled" and not cx.engine.compiled.numba_available():
        pytest.skip("numba is not installed")
    cm = compile_model(cx_service)
    dt = float(cx_service.time_step)
    every = cm.run(saveper=dt, backend="numpy")
    steps = np.array([0, 1, 8, 9, 16, 17, len(every.times) - 1])
    kept = cm.run(save_steps=steps, backend=backend)
    assert kept.values.shape == (every.values.shape[0], steps.size, 1)
    np.testing.assert_array_equal(kept.times, np.asarray(every.times)[steps])
    np.testing.assert_array_equal(kept.values, every.values[:, steps, :])
    assert kept.times.tolist() == [0.0, dt, 1.0, 1.0 + dt, 2.0, 2.0 + dt, float(cx_service.final_time)]
    vec = cm.run(params={"Hiring Delay": np.array([4.0, 8.0])}, save_steps=steps, backend=backend)
    full = cm.run(params={"Hiring Delay": np.array([4.0, 8.0])}, saveper=dt, backend="numpy")
    np.testing.assert_array_equal(vec.values, full.values[:, steps, :])


def test_save_steps_refused_with_the_range(cx_service):
    cm = compile_model(cx_service)
    for bad in ([], [3, 2], [0, 1249], [-1, 2], [0.5, 1]):
        with pytest.raises(cx.CxError, match=r"save_steps must be increasing whole numbers from 0 to 1248"):
            cm.run(save_steps=bad)
