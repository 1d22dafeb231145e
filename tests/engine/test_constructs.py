"""ACTIVE INITIAL, SAMPLE IF TRUE, GET TIME VALUE, the RANDOM functions and macros in the numpy
engine: against PySD (1e-12 relative) where PySD runs them, against the peer suite's canonical
Vensim output where it has one (skipped without the suite), and the JavaScript backend against
the numpy engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine.jsgen import model_to_js
from cxsystems.errors import CxError, UnsupportedConstruct
from cxsystems.model.scenarios import Change

NODE = shutil.which("node") or "/usr/bin/node"
DRIVER = r"""
var RUNS = JSON.parse(require("fs").readFileSync(0, "utf8"));
function enc(x) { return isFinite(x) ? x : String(x); }
process.stdout.write(JSON.stringify(RUNS.map(function (run) {
  var r = CX_MODEL.simulate(run.params, run.changes, run.opts), values = {};
  Object.keys(r.values).forEach(function (k) { values[k] = Array.from(r.values[k], enc); });
  return {times: r.times, values: values};
})));
"""


def run_js(js: str, runs: list, tmp_path: Path) -> list:
    """``CX_MODEL.simulate`` for each ``{params, changes, opts}``, in one Node process."""
    script = tmp_path / "run.js"
    script.write_text(js + "\n" + DRIVER, encoding="utf-8")
    proc = subprocess.run([NODE, str(script)], input=json.dumps(runs), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def js_change(ch: Change) -> dict:
    return {"parameter": ch.parameter, "value": ch.value, "from_week": ch.from_week}


def assert_agrees(got: dict, model, changes=(), params=None, what="") -> None:
    """The JavaScript run ``got`` equals the engine's to 1e-12 relative at every saved time."""
    res = compile_model(model).run(changes=changes, params=params)
    assert got["times"] == res.times.tolist(), what
    assert list(got["values"]) == list(res.names), what
    for j, name in enumerate(res.names):
        a = np.array([float(v) for v in got["values"][name]])
        np.testing.assert_allclose(a, res.values[j, :, 0], rtol=1e-12, atol=1e-14, err_msg=f"{what}: {name}")


ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))

CONTROL = """
FINAL TIME = 12 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 0.5 ~ Week ~ |
TIME STEP = 0.25 ~ Week ~ |
"""


def write(tmp_path: Path, body: str, name: str = "m.mdl", control: str = CONTROL) -> Path:
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + body + control, encoding="utf-8")
    return path


def numpy_vs_pysd(model, rtol=1e-12):
    """Every column PySD and the numpy engine both return agrees within ``rtol``."""
    ours = cx.simulate(model, engine="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cx.simulate(model, engine="pysd")
    cols = [c for c in ours.columns if c in ref.columns]
    assert cols
    np.testing.assert_array_equal(ours.index.to_numpy(float), ref.index.to_numpy(float))
    for c in cols:
        np.testing.assert_allclose(ours[c].to_numpy(float), ref[c].to_numpy(float), rtol=rtol, atol=0,
                                   err_msg=c)
    return ours


def js_vs_numpy(model, tmp_path, runs=None):
    runs = runs or [((), None)]
    payload = [{"params": params or {}, "changes": [js_change(c) for c in changes], "opts": {}}
               for changes, params in runs]
    out = run_js(model_to_js(model), payload, tmp_path)
    for k, ((changes, params), got) in enumerate(zip(runs, out)):
        assert_agrees(got, model, changes, params, what=f"case {k}")


def suite_model(test: str) -> Path:
    folder = SUITE / "tests" / test
    if not folder.is_dir():
        pytest.skip(f"peer suite not found at {SUITE}")
    return next(iter(sorted(folder.glob("*.mdl"))))


def vs_canonical(model_file: Path, peer_suite) -> None:
    """The numpy engine against the suite's canonical output, by the peer suite's rule (PySD's)."""
    model = cx.load_model(model_file)
    run = cx.simulate(model, engine="numpy")
    ref = peer_suite.read_canonical(peer_suite.canonical_output(model_file))
    verdict = peer_suite.compare(peer_suite.with_controls(run, model), ref)
    assert not verdict, verdict


# ------------------------------------------------------------------------------ ACTIVE INITIAL

ACTIVE = """
Growth = 0.1 ~ 1/Week ~ |
Stock = INTEG(Inflow, Start Value) ~ Widgets ~ |
Inflow = Growth * Stock ~ Widgets/Week ~ |
Start Value = ACTIVE INITIAL(Stock * 2 + Time, 45) ~ Widgets ~ |
Smoothed = SMOOTH(ACTIVE INITIAL(Smoothed * 0.5 + Time, 3.0), 2) ~ Widgets ~ |
Doubled = Start Value * 2 ~ Widgets ~ |
"""


def test_active_initial_is_the_initial_value_at_initialisation_then_the_active_one(tmp_path):
    model = cx.load_model(write(tmp_path, ACTIVE))
    run = numpy_vs_pysd(model)
    assert run["Stock"].iloc[0] == 45.0  # the stock starts from the initial expression
    # afterwards (the first saved time included) the active expression
    np.testing.assert_allclose(run["Start Value"], run["Stock"] * 2 + run.index.to_numpy(), rtol=1e-15)
    assert run["Smoothed"].iloc[0] == 3.0  # SMOOTH of an ACTIVE INITIAL: a circular start broken


def test_active_initial_in_javascript_and_ensembles(tmp_path):
    model = cx.load_model(write(tmp_path, ACTIVE))
    js_vs_numpy(model, tmp_path, [((), None), ((Change("Growth", 0.2, 4.0),), None), ((), {"Growth": 0.05})])
    cm = compile_model(model)
    ens = cm.run(params={"Growth": np.array([0.05, 0.1, 0.3])})
    for i, g in enumerate([0.05, 0.1, 0.3]):
        np.testing.assert_allclose(ens.values[:, :, i], cm.run(params={"Growth": g}).values[:, :, 0], rtol=1e-14)


@pytest.mark.parametrize("test", ["active_initial", "active_initial_circular"])
def test_active_initial_matches_vensim(test, peer_suite):
    vs_canonical(suite_model(test), peer_suite)


# ------------------------------------------------------------------------------ SAMPLE IF TRUE

SAMPLE = """
Wave = SIN(Time) ~ Dmnl ~ |
Held = SAMPLE IF TRUE(Wave > 0.5, Time * 10, -1) ~ Dmnl ~ |
Held at start = SAMPLE IF TRUE(Time < 1, Wave * 3, 7) ~ Dmnl ~ |
Stock = INTEG(Held * 0.01 + Rate, 1) ~ Dmnl ~ |
Rate = 0.2 ~ Dmnl ~ |
Nested = 1 + SAMPLE IF TRUE(Wave < -0.5, Wave * Rate, Rate) ~ Dmnl ~ |
"""


def test_sample_if_true_holds_the_input_sampled_while_the_condition_holds(tmp_path):
    model = cx.load_model(write(tmp_path, SAMPLE))
    run = numpy_vs_pysd(model)
    t = run.index.to_numpy()
    wave = np.sin(t)
    assert run["Held"].iloc[0] == -1.0  # condition false at the start: the initial value
    on = wave > 0.5
    np.testing.assert_allclose(run["Held"][on], 10 * t[on], rtol=1e-15)  # sampled now
    # off: the value held since the last time the condition held
    k = np.argmax(on)
    first_off = k + np.argmax(~on[k:])
    assert run["Held"].iloc[first_off] == run["Held"].iloc[first_off - 1]
    assert (run["Held at start"][t >= 1] == 3 * np.sin(0.75)).all()  # held from the last step it held


def test_sample_if_true_holds_the_value_of_the_step_before_not_the_updated_stock(tmp_path):
    """Vensim's meaning: the value at t is the input at t, or the value at t - dt. PySD reads an
    input that depends on a stock after updating the stock (one step late): no PySD reference."""
    body = "Held = SAMPLE IF TRUE(Time < 1, Stock, 7) ~ ~ |\nStock = INTEG(Time, 1) ~ ~ |\n"
    run = cx.simulate(cx.load_model(write(tmp_path, body)), engine="numpy", saveper=0.25)
    t = run.index.to_numpy()
    np.testing.assert_array_equal(run["Held"][t < 1], run["Stock"][t < 1])
    assert (run["Held"][t >= 1] == run["Stock"][t == 0.75].iloc[0]).all()


def test_sample_if_true_in_javascript_and_ensembles(tmp_path):
    model = cx.load_model(write(tmp_path, SAMPLE))
    js_vs_numpy(model, tmp_path, [((), None), ((Change("Rate", 0.5, 3.0),), None), ((), {"Rate": 0.1})])
    cm = compile_model(model)
    ens = cm.run(params={"Rate": np.array([0.1, 0.2, 0.4])})
    for i, r in enumerate([0.1, 0.2, 0.4]):
        np.testing.assert_allclose(ens.values[:, :, i], cm.run(params={"Rate": r}).values[:, :, 0], rtol=1e-14)


def test_sample_if_true_with_rk4_samples_once_per_step(tmp_path):
    model = cx.load_model(write(tmp_path, SAMPLE))
    cm = compile_model(model)
    euler, rk4 = cm.run(variables=["Held"]), cm.run(variables=["Held"], method="rk4")
    np.testing.assert_array_equal(euler.values, rk4.values)  # Held depends on time only


# ------------------------------------------------------------------------------ GET TIME VALUE


def test_get_time_value_of_the_current_time(tmp_path):
    body = "Later = GET TIME VALUE(0, 1.5, 0) ~ Week ~ |\nEarlier = GET TIME VALUE(0, -Shift, 0) ~ Week ~ |\n" \
           "Shift = 2 ~ Week ~ |\n"
    model = cx.load_model(write(tmp_path, body))
    run = numpy_vs_pysd(model)
    np.testing.assert_array_equal(run["Later"], run.index.to_numpy() + 1.5)
    np.testing.assert_array_equal(run["Earlier"], run.index.to_numpy() - 2)
    js_vs_numpy(model, tmp_path, [((), None), ((Change("Shift", 3.0, 5.0),), None)])


@pytest.mark.parametrize("args", ["1, 0, 0", "1, 0, 3", "2, 0, 1", "2, 0, 0", "0, 0, 3", "Shift, 0, 0"])
def test_get_time_value_refuses_what_it_cannot_reproduce(tmp_path, args):
    model = cx.load_model(write(tmp_path, f"Culprit = GET TIME VALUE({args}) ~ Week ~ |\nShift = 0 ~ Week ~ |\n"))
    with pytest.raises(UnsupportedConstruct, match="GET TIME VALUE.*|Culprit"):
        compile_model(model)


def test_get_time_value_matches_vensim(peer_suite):
    path = suite_model("get_time_value").parent / "test_get_time_value_simple.mdl"
    try:
        vs_canonical(path, peer_suite)
    except UnsupportedConstruct as err:  # subscripted: runs once the engine has subscripts
        pytest.skip(str(err))


# -------------------------------------------------------------------------------------- RANDOM

RANDOM = """
U = RANDOM UNIFORM(2, 5, 0) ~ Dmnl ~ |
N = RANDOM NORMAL(-1, 3, Mean, 2, 0) ~ Dmnl ~ |
E = RANDOM EXPONENTIAL(0, 4, 1, 2, 0) ~ Dmnl ~ |
P = RANDOM POISSON(0, 6, 3, 1, 1, 0) ~ Dmnl ~ |
T = RANDOM TRIANGULAR(0, 10, 1, 2, 8, 0) ~ Dmnl ~ |
Z = RANDOM 0 1() ~ Dmnl ~ |
U2 = RANDOM UNIFORM(2, 5, 0) ~ Dmnl ~ |
Mean = 0.5 ~ Dmnl ~ |
Noisy Stock = INTEG(U - 3.5, 0) ~ Dmnl ~ |
"""
NAMES = ["U", "N", "E", "P", "T", "Z", "U2"]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    return cx.load_model(write(tmp_path_factory.mktemp("random"), RANDOM))


def test_random_runs_are_reproducible_and_seeded(random_model):
    cm = compile_model(random_model)
    a, b = cm.run(), cm.run()
    np.testing.assert_array_equal(a.values, b.values)  # same (default) seed: same numbers
    c = cm.run(seed=7)
    continuous = [a.names.index(n) for n in ("U", "N", "E", "T", "Z")]
    assert not np.any(a.values[continuous] == c.values[continuous])
    np.testing.assert_array_equal(c.values, cm.run(seed=7).values)
    frame = cx.simulate(random_model, engine="numpy")
    np.testing.assert_array_equal(frame["U"].to_numpy(), a.values[a.names.index("U"), :, 0])
    u = a.values[a.names.index("U"), :, 0]
    assert len(set(u)) == len(u)  # a new draw every saved step
    assert not np.array_equal(u, a.values[a.names.index("U2"), :, 0])  # each call site its own stream


def test_random_draws_do_not_depend_on_what_is_recorded_or_saved(random_model):
    cm = compile_model(random_model)
    full = cm.run(saveper=0.25)
    some = cm.run(variables=["U", "Noisy Stock"])
    np.testing.assert_array_equal(some.values[0, :, 0], full.values[full.names.index("U"), ::2, 0])
    np.testing.assert_array_equal(some.values[1, :, 0], full.values[full.names.index("Noisy Stock"), ::2, 0])
    # the stock integrates the very draws recorded: stock(t + dt) = stock(t) + (U(t) - 3.5) dt
    u, s = (full.values[full.names.index(n), :, 0] for n in ("U", "Noisy Stock"))
    np.testing.assert_allclose(np.diff(s), (u[:-1] - 3.5) * 0.25, rtol=1e-12, atol=1e-15)


def test_random_worlds_are_independent_and_chunk_independent(random_model):
    cm = compile_model(random_model)
    ens = cm.run(params={"Mean": np.full(4, 0.5)})
    assert all(not np.array_equal(ens.values[:, :, 0], ens.values[:, :, i]) for i in (1, 2, 3))
    np.testing.assert_array_equal(ens.values[:, :, 0], cm.run().values[:, :, 0])  # world 0 = the single run
    later = cm.run(params={"Mean": np.full(2, 0.5)}, first_world=2)  # worlds 2 and 3 in a second chunk
    np.testing.assert_array_equal(later.values, ens.values[:, :, 2:])
    one = cm.run(params={"Mean": 0.5}, first_world=3)
    np.testing.assert_array_equal(one.values[:, :, 0], ens.values[:, :, 3])


def test_random_distributions_follow_vensim_arguments(random_model):
    from scipy import stats

    cm = compile_model(random_model)
    n = 40000
    res = cm.run(params={"Mean": np.full(n, 0.5)}, final_time=1, saveper=1, time_step=1)
    got = {name: res.values[res.names.index(name), :, :].ravel() for name in NAMES}
    se = 5 / np.sqrt(2 * n)  # about 5 standard errors of a mean of unit variance
    u = got["U"]
    assert u.min() >= 2 and u.max() <= 5 and abs(u.mean() - 3.5) < 3 * se
    z = got["Z"]
    assert 0 < z.min() and z.max() < 1 and abs(z.mean() - 0.5) < se
    x = got["N"]  # normal(0.5, 2) truncated to [-1, 3]
    tn = stats.truncnorm((-1 - 0.5) / 2, (3 - 0.5) / 2, loc=0.5, scale=2)
    assert x.min() >= -1 and x.max() <= 3
    assert abs(x.mean() - tn.mean()) < 2 * se and abs(x.std() - tn.std()) < 2 * se
    e = got["E"]  # 1 + 2 * Exp(1), truncated to [0, 4]: Exp(1) truncated to [0, 1.5]
    te = stats.truncexpon(1.5, loc=1, scale=2)
    assert e.min() >= 1 and e.max() <= 4 and abs(e.mean() - te.mean()) < 2 * se
    p = got["P"]  # 1 + Poisson(3), truncated to [0, 6]: k in 0..5
    assert set(np.unique(p)) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    pk = stats.poisson.pmf(np.arange(6), 3) / stats.poisson.cdf(5, 3)
    assert abs(p.mean() - (1 + (np.arange(6) * pk).sum())) < 2 * se
    t = got["T"]
    tt = stats.triang((2 - 1) / 7, loc=1, scale=7)
    assert t.min() >= 1 and t.max() <= 8 and abs(t.mean() - tt.mean()) < 3 * se
    assert abs(np.corrcoef(got["U"], got["U2"])[0, 1]) < 0.05  # independent call sites


def test_random_arguments_are_checked(tmp_path):
    model = cx.load_model(write(tmp_path, "Bad = RANDOM UNIFORM(5, 1, 0) ~ Dmnl ~ |\n"))
    with pytest.raises(CxError, match="RANDOM UNIFORM: min is greater than max .in 'Bad' at time 0"):
        cx.simulate(model, engine="numpy")
    model = cx.load_model(write(tmp_path, "Bad = RANDOM UNIFORM(0, 1, Seed) ~ Dmnl ~ |\nSeed = 1 ~ ~ |\n", "s.mdl"))
    with pytest.raises(UnsupportedConstruct, match="seed"):
        compile_model(model)


JS_RANDOM = """
U = RANDOM UNIFORM(2, 5, 0) ~ Dmnl ~ |
E = RANDOM EXPONENTIAL(0, 4, Shift, 2, 3) ~ Dmnl ~ |
T = RANDOM TRIANGULAR(0, 10, 1, 2, 8, 0) ~ Dmnl ~ |
Z = RANDOM 0 1() ~ Dmnl ~ |
Shift = 1 ~ Dmnl ~ |
Noisy Stock = INTEG(U - 3.5 + E, T) ~ Dmnl ~ |
"""


def test_javascript_draws_the_numpy_engines_numbers(tmp_path):
    model = cx.load_model(write(tmp_path, JS_RANDOM))
    js_vs_numpy(model, tmp_path, [((), None), ((Change("Shift", 0.5, 3.0),), None), ((), {"Shift": 2.0})])


@pytest.mark.parametrize("equation", ["RANDOM NORMAL(-1, 3, 0, 2, 0)", "RANDOM POISSON(0, 6, 3, 1, 1, 0)"])
def test_javascript_refuses_the_distributions_it_cannot_draw_exactly(tmp_path, equation):
    model = cx.load_model(write(tmp_path, f"Culprit = {equation} ~ Dmnl ~ |\n"))
    cx.simulate(model, engine="numpy")  # the numpy engine runs it
    construct = equation.split("(")[0]
    with pytest.raises(CxError, match=f"'Culprit' uses {construct}: the JavaScript engine does not run it"):
        model_to_js(model)


# -------------------------------------------------------------------------------------- macros

MACROS = """
:MACRO: ACCUMULATE(input, start)
ACCUMULATE = INTEG(inflow, start) ~ Dmnl ~ |
inflow = input * factor ~ Dmnl ~ |
factor = 0.5 ~ Dmnl ~ |
:END OF MACRO:
:MACRO: TWICE(x)
TWICE = ACCUMULATE(x, 1) * 2 ~ Dmnl ~ |
:END OF MACRO:
Rate = 2 ~ Dmnl ~ |
First = ACCUMULATE(Rate, 10) ~ Dmnl ~ |
Second = ACCUMULATE(Rate * 3, 0) + ACCUMULATE(1, 5) ~ Dmnl ~ |
"""
NESTED = "Nested = TWICE(Time) ~ Dmnl ~ |\n"


def test_macros_expand_with_a_private_copy_per_call(tmp_path):
    model = cx.load_model(write(tmp_path, MACROS))
    run = numpy_vs_pysd(model)
    t = run.index.to_numpy()
    np.testing.assert_allclose(run["First"], 10 + 0.5 * 2 * t, rtol=1e-14)
    np.testing.assert_allclose(run["Second"], 0 + 0.5 * 6 * t + 5 + 0.5 * t, rtol=1e-14)
    cm = compile_model(model)
    assert sorted(cm.variables) == ["First", "Rate", "Second"]  # the copies are hidden
    hidden = [el.name for el in cm.ir.elements if el.hidden and "[ACCUMULATE" in el.name]
    assert "First [ACCUMULATE inflow]" in hidden and "Second [ACCUMULATE 2 inflow]" in hidden
    js_vs_numpy(model, tmp_path, [((), None), ((Change("Rate", 4.0, 5.0),), None)])


def test_macros_calling_macros(tmp_path):
    model = cx.load_model(write(tmp_path, MACROS + NESTED))
    run = cx.simulate(model, engine="numpy", saveper=0.25)  # (PySD 3.14 fails on this model)
    t = run.index.to_numpy()
    euler = 1 + np.concatenate([[0.0], np.cumsum(0.5 * t[:-1] * 0.25)])  # INTEG(0.5 * Time, 1)
    np.testing.assert_allclose(run["Nested"], 2 * euler, rtol=1e-14)
    js_vs_numpy(model, tmp_path)


def test_a_macro_calling_itself_is_refused(tmp_path):
    body = ":MACRO: LOOP(x)\nLOOP = LOOP(x) + 1 ~ ~ |\n:END OF MACRO:\nCulprit = LOOP(1) ~ ~ |\n"
    model = cx.load_model(write(tmp_path, body))
    with pytest.raises(UnsupportedConstruct, match="calls itself"):
        compile_model(model)


@pytest.mark.parametrize("test", ["macro_cross_reference", "macro_expression", "macro_multi_expression",
                                  "macro_multi_macros", "macro_stock", "macro_trailing_definition"])
def test_suite_macros_match_vensim_and_pysd(test, peer_suite):
    path = suite_model(test)
    vs_canonical(path, peer_suite)
    numpy_vs_pysd(cx.load_model(path))


# ------------------------------------------------------------------------ control variables
# Control variables that change in time: tests/engine/test_dynamic_controls.py
