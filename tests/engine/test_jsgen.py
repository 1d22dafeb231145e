"""The JavaScript compiled from a model (cxsystems.engine.jsgen) equals the numpy engine.

Each test writes the generated JavaScript plus a small driver to ``tmp_path`` and runs it under
Node once (every run of a model in one process), then compares every recorded variable at every
saved time with ``compile_model(model).run(...)`` within 1e-9 relative (1e-12 absolute).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine.jsgen import js_number, js_string, model_to_js
from cxsystems.errors import CxError, UnsupportedConstruct
from cxsystems.model.loader import bundled_model_names, bundled_models_dir
from cxsystems.model.scenarios import Change

NODE = shutil.which("node") or "/usr/bin/node"
# .ci/run installs Node.js when missing; without it these tests fail rather than skip
assert Path(NODE).exists(), "Node.js is not installed (apt-get install nodejs)"

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
REFERENCE_MODELS = sorted(MODELS_DIR.glob("engine_*.mdl"))
RTOL, ATOL = 1e-9, 1e-12

DRIVER = r"""
var RUNS = JSON.parse(process.argv[2] === "-" ? require("fs").readFileSync(0, "utf8") : process.argv[2]);
function enc(x) { return isFinite(x) ? x : String(x); }
var out = RUNS.map(function (run) {
  try {
    var r = CX_MODEL.simulate(run.params, run.changes, run.opts);
    var values = {};
    Object.keys(r.values).forEach(function (k) { values[k] = Array.from(r.values[k], enc); });
    return {times: r.times, values: values};
  } catch (e) {
    return {error: String(e.message)};
  }
});
process.stdout.write(JSON.stringify({meta: {name: CX_MODEL.name, variables: CX_MODEL.variables,
  parameters: CX_MODEL.parameters, times: CX_MODEL.times, keys: Object.keys(CX_MODEL)}, runs: out}));
"""


def run_js(js: str, runs: list, tmp_path: Path) -> dict:
    """Run ``CX_MODEL.simulate`` for each ``{params, changes, opts}`` in one Node process."""
    script = tmp_path / "run.js"
    script.write_text(js + "\n" + DRIVER, encoding="utf-8")
    proc = subprocess.run([NODE, str(script), "-"], input=json.dumps(runs), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def js_change(ch: Change) -> dict:
    return {"parameter": ch.parameter, "value": ch.value, "from_week": ch.from_week}


def decode(values: list) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=float)


def assert_agrees(got: dict, model, changes=(), params=None, variables=None, what="") -> None:
    """JS result ``got`` equals the engine's run at every saved time, every recorded variable, on both
    of the engine's backends (numpy, and compiled wherever it runs the model: it refuses DELAY FIXED
    and a few other constructs in one line)."""
    assert "error" not in got, f"{what}: JavaScript failed: {got.get('error')}"
    cm = compile_model(model)
    for backend in ("numpy", "compiled"):
        try:
            res = cm.run(changes=changes, params=params, variables=variables, backend=backend)
        except UnsupportedConstruct as exc:
            assert backend == "compiled" and "the compiled backend" in str(exc), str(exc)
            continue
        assert got["times"] == res.times.tolist(), f"{what}: saved times differ"
        assert list(got["values"]) == list(res.names), f"{what}: recorded variables differ"
        for j, name in enumerate(res.names):
            a = decode(got["values"][name])
            b = res.values[j, :, 0]
            close = np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
            if not close.all():
                i = int(np.argwhere(~close)[0][0])
                raise AssertionError(f"{what}: {name!r} at week {res.times[i]}: JS {a[i]!r}, "
                                     f"engine ({backend}) {b[i]!r} ({int((~close).sum())} values differ)")


def _some_value(p) -> float:
    """A value of parameter ``p`` different from its default and inside its range."""
    lo = p.min if not math.isnan(p.min) else p.value - abs(p.value) - 1
    hi = p.max if not math.isnan(p.max) else p.value + abs(p.value) + 1
    v = p.value + 0.3 * (hi - p.value) if hi > p.value else p.value - 0.3 * (p.value - lo)
    return float(v)


# ------------------------------------------------------------------------------- bundled models


@pytest.mark.parametrize("name", bundled_model_names())
def test_bundled_model_every_scenario_equals_engine(name, tmp_path, bundled):
    model = bundled(name)
    scenarios = list(model.scenarios.values())
    assert scenarios, f"{name} has no scenarios"
    runs = [{"params": {}, "changes": [], "opts": {}}]
    runs += [{"params": {}, "changes": [js_change(c) for c in s.changes], "opts": {}} for s in scenarios]
    out = run_js(model_to_js(model), runs, tmp_path)
    cm = compile_model(model)
    assert out["meta"]["name"] == model.name
    assert out["meta"]["variables"] == cm.variables
    assert out["meta"]["times"] == cm.run().times.tolist()
    assert out["meta"]["keys"] == ["name", "variables", "parameters", "times", "simulate"]
    assert_agrees(out["runs"][0], model, what=f"{name} default run")
    for scen, got in zip(scenarios, out["runs"][1:]):
        assert_agrees(got, model, scen.changes, what=f"{name} scenario {scen.name}")


def test_parameters_metadata_matches_model(tmp_path, cx_service):
    model = cx_service
    meta = run_js(model_to_js(model), [], tmp_path)["meta"]
    assert list(meta["parameters"]) == list(model.parameters)
    for name, p in model.parameters.items():
        got = meta["parameters"][name]
        assert got["value"] == p.value and got["units"] == p.units
        assert got["min"] == (None if math.isnan(p.min) else p.min)
        assert got["max"] == (None if math.isnan(p.max) else p.max)


# ----------------------------------------------------------------------------- reference models


def _reference_runs(model):
    """Default run, a params override, a from_week change, a change from the start, and a
    world value plus two later changes of the same parameter (the later wins). A model without
    parameters (engine_timing: only its time grid is of interest) gets the default run only."""
    params = list(model.parameters.values())
    if not params:
        return [((), None)]
    p, q = params[0], params[-1]
    mid = model.final_time / 2
    cases = [
        ((), None),
        ((), {p.name: _some_value(p)}),
        ((Change(q.name, _some_value(q), mid),), None),
        ((Change(p.name, _some_value(p), None),), {q.name: _some_value(q)}),
        ((Change(p.name, _some_value(p), mid / 2), Change(p.name, p.value * 0.9 + 0.01, mid)),
         {p.name: _some_value(p)}),
    ]
    return cases


@pytest.mark.parametrize("path", REFERENCE_MODELS, ids=lambda p: p.stem)
def test_reference_model_equals_engine(path, tmp_path):
    model = cx.load_model(path)
    cases = _reference_runs(model)
    runs = [{"params": params or {}, "changes": [js_change(c) for c in changes], "opts": {}}
            for changes, params in cases]
    out = run_js(model_to_js(model), runs, tmp_path)
    for k, ((changes, params), got) in enumerate(zip(cases, out["runs"])):
        assert_agrees(got, model, changes, params, what=f"{path.stem} case {k}")


# -------------------------------------------------------------------------------- semantics


@pytest.fixture(scope="module")
def cx_js(cx_service):
    return model_to_js(cx_service)


def test_params_override_world_values(cx_service, cx_js, tmp_path):
    world = {"Hiring Delay": 12.0, "Prevention Incentive": 0.5}
    change = Change("Extra Headcount Fraction", 0.2, 16.0)
    runs = [{"params": {}, "changes": [], "opts": {"variables": ["Customers"]}},
            {"params": world, "changes": [], "opts": {"variables": ["Customers"]}},
            {"params": world, "changes": [js_change(change)], "opts": {"variables": ["Customers"]}}]
    base, worldly, both = run_js(cx_js, runs, tmp_path)["runs"]
    assert_agrees(worldly, cx_service, params=world, variables=["Customers"], what="world")
    assert_agrees(both, cx_service, [change], world, variables=["Customers"], what="world+change")
    final = [decode(r["values"]["Customers"])[-1] for r in (base, worldly, both)]
    assert abs(final[1] - final[0]) > 1.0  # the world values change the outcome
    assert abs(final[2] - final[1]) > 1.0


def test_change_from_week_applies_only_from_that_week(cx_service, cx_js, tmp_path):
    change = Change("Extra Headcount Fraction", 0.2, 16.0)
    runs = [{"params": {}, "changes": [], "opts": {}},
            {"params": {}, "changes": [js_change(change)], "opts": {}}]
    base, changed = run_js(cx_js, runs, tmp_path)["runs"]
    times = np.array(base["times"])
    before = times < 16.0  # the change acts from week 16 on (auxiliaries at week 16 itself)
    differs_after = False
    for name in base["values"]:
        a, b = decode(base["values"][name]), decode(changed["values"][name])
        assert np.array_equal(a[before], b[before], equal_nan=True), name
        differs_after |= not np.allclose(a[~before], b[~before])
    assert differs_after
    hired = decode(changed["values"]["Extra Headcount Fraction"])
    assert hired[times < 16.0].max() == 0.0 and hired[times >= 16.0].min() == 0.2


def test_change_without_from_week_sets_initial_values(tmp_path, capability_trap):
    model = capability_trap
    change = Change("Pressure Step", 0.1, None)
    out = run_js(model_to_js(model), [{"params": {}, "changes": [js_change(change)], "opts": {}}],
                 tmp_path)["runs"][0]
    assert decode(out["values"]["Pressure Step"])[0] == 0.1
    assert_agrees(out, model, [change], what="from the start")


def test_variables_option_and_bad_input_errors(cx_js, tmp_path):
    runs = [{"params": {}, "changes": [], "opts": {"variables": ["customers", "Ticket Backlog"]}},
            {"params": {"No Such Knob": 1}, "changes": [], "opts": {}},
            {"params": {"Hiring Delay": 1e9}, "changes": [], "opts": {}},
            {"params": {}, "changes": [{"parameter": "Customers", "value": 1, "from_week": 3}], "opts": {}},
            {"params": {}, "changes": [], "opts": {"variables": ["Nope"]}},
            {"params": {}, "changes": [{"parameter": "Hiring Delay", "value": "lots"}], "opts": {}}]
    ok, unknown, out_of_range, not_param, bad_var, bad_value = run_js(cx_js, runs, tmp_path)["runs"]
    assert list(ok["values"]) == ["Customers", "Ticket Backlog"]
    assert len(ok["values"]["Customers"]) == len(ok["times"]) == 157
    assert "unknown parameter" in unknown["error"] and "No Such Knob" in unknown["error"]
    assert "outside its range" in out_of_range["error"]
    assert "unknown parameter" in not_param["error"]
    assert "unknown variable" in bad_var["error"]
    assert "must be a number" in bad_value["error"]


# --------------------------------------------------------------------------- safety of output


def test_generated_js_contains_no_model_text(cx_js):
    text = (bundled_models_dir() / "cx_service.mdl").read_text(encoding="utf-8")
    comments = re.findall(r"~[^~|]*~([^|]*)\|", text)
    long_comments = [" ".join(c.split()) for c in comments if len(c.split()) >= 6]
    assert len(long_comments) > 20
    flat = " ".join(cx_js.split())
    for comment in long_comments:
        assert comment[:40] not in flat
    assert "eval(" not in cx_js and "Function(" not in cx_js and "new Function" not in cx_js
    assert "</" not in cx_js and "<!--" not in cx_js
    assert "require(" not in cx_js and "import " not in cx_js and "export " not in cx_js
    assert re.search(r"^var CX_MODEL = ", cx_js, re.M)
    # no other top-level declaration: everything else is inside the one function
    assert len(re.findall(r"^(?:var|let|const|function|class) ", cx_js, re.M)) == 1


HOSTILE_MDL = r"""{UTF-8}
"Knob </script><!-- \u2028 $&" = 2
	~	Dmnl </script> [0,10]
	~	A parameter with a hostile-ish name.
	|

"a </SCRIPT> stock" = INTEG("Knob </script><!-- \u2028 $&" * 0.5, 1.0)
	~	Dmnl
	~	A stock.
	|

FINAL TIME = 4
	~	Week
	~	Control.
	|
INITIAL TIME = 0
	~	Week
	~	Control.
	|
SAVEPER = 1
	~	Week
	~	Control.
	|
TIME STEP = 0.5
	~	Week
	~	Control.
	|
"""


def test_hostile_names_stay_json_strings(tmp_path):
    path = tmp_path / "hostile.mdl"
    path.write_text(HOSTILE_MDL.replace(r"\u2028", "\u2028"), encoding="utf-8")
    model = cx.load_model(path)  # the safety screen accepts these names: they are only names
    js = model_to_js(model)
    assert "</" not in js.lower() and "<!--" not in js and "\u2028" not in js
    knob = next(iter(model.parameters))
    out = run_js(js, [{"params": {knob: 3.0}, "changes": [], "opts": {}}], tmp_path)
    assert out["meta"]["variables"] == compile_model(model).variables
    assert knob in out["meta"]["parameters"]
    assert_agrees(out["runs"][0], model, params={knob: 3.0}, what="hostile names")


def test_node_require_gives_the_model(cx_js, tmp_path):
    (tmp_path / "model.js").write_text(cx_js, encoding="utf-8")
    code = ("var m = require(process.argv[1]); var r = m.simulate({}, [], {variables: ['Customers']});"
            "process.stdout.write(JSON.stringify([m.name, r.values.Customers.length]));")
    proc = subprocess.run([NODE, "-e", code, str(tmp_path / "model.js")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["cx_service", 157]


def test_js_string_escaping():
    s = js_string('a "quoted" </script><!-- \\ \u2028 & > name')
    assert "</" not in s and "<" not in s and ">" not in s and "&" not in s
    assert "\u2028" not in s and s.isascii()
    assert json.loads(s) == 'a "quoted" </script><!-- \\ \u2028 & > name'
    assert js_number(float("inf")) == "Infinity" and js_number(float("-inf")) == "(-Infinity)"
    assert js_number(float("nan")) == "NaN" and js_number(-1.5) == "(-1.5)"
    assert float(js_number(0.1 + 0.2)) == 0.1 + 0.2


# -------------------------------------------------------------------- statefuls with run-time orders


DYNAMIC_MDL = r"""{UTF-8}
Input=
	10 + 5 * SIN(Time / 2) + STEP(20, 6) + 8 * PULSE(12, 2) + PULSE TRAIN(3, 1, 5, 25)
	~	units/Week
	~	A signal.
	|
Order=
	3
	~	Dmnl [1,6]
	~	Order of the SMOOTH N and DELAY N.
	|
Lag=
	2
	~	Week [0.1,10]
	~	Delay and smoothing time.
	|
Smoothed= SMOOTH N(Input, Lag, 4, Order)
	~	units/Week
	~	SMOOTH N with an order from a parameter.
	|
Delayed= DELAY N(Input, Lag + Time / 20, 3, Order)
	~	units/Week
	~	DELAY N with an order from a parameter and a changing delay time.
	|
Fixed= DELAY FIXED(Input, Lag, 1)
	~	units/Week
	~	DELAY FIXED with a delay from a parameter.
	|
Lowered= DELAY3(Input, Lag / 4)
	~	units/Week
	~	DELAY3 whose order PySD lowers for short lags.
	|
Quantised=
	QUANTUM(Input, 0.7) + MODULO(Time - 7, -3) + INTEGER(-Input / 7) + POWER(Input - 12, 2) + (Input - 12) ^ 3
	~	units/Week
	~	Integer functions with negative operands.
	|
Edges=
	STEP(2, 6.125) + PULSE TRAIN(3, 0.5, -1.5, 25) + RAMP(1, 2.125, 9.875) + MIN(Input, 14) + MAX(13, Input)
	~	units/Week
	~	A STEP exactly half a time step after a step (t + dt/2 = start), a PULSE TRAIN with a \
		negative repeat (Python's modulo), a RAMP between steps and MIN/MAX with constants.
	|
Total= INTEG (Smoothed + Delayed + Fixed + Lowered + Quantised + Edges, 0.0)
	~	units
	~	Everything.
	|
FINAL TIME = 30
	~	Week
	~	Control.
	|
INITIAL TIME = 0
	~	Week
	~	Control.
	|
SAVEPER = 0.5
	~	Week
	~	Control.
	|
TIME STEP = 0.25
	~	Week
	~	Control.
	|
"""


def test_runtime_orders_and_lowered_delays_equal_engine(tmp_path):
    path = tmp_path / "dynamic.mdl"
    path.write_text(DYNAMIC_MDL, encoding="utf-8")
    model = cx.load_model(path)
    cases = [((), None), ((), {"Order": 5.0}), ((), {"Lag": 1.6, "Order": 1.0}),
             ((Change("Lag", 5.0, 10.0),), {"Order": 2.0}), ((Change("Order", 4.0, None),), None)]
    runs = [{"params": p or {}, "changes": [js_change(c) for c in ch], "opts": {}} for ch, p in cases]
    runs.append({"params": {"Lag": 0.1}, "changes": [], "opts": {}})  # DELAY3 shorter than dt
    runs.append({"params": {}, "changes": [{"parameter": "Order", "value": 2.5, "from_week": None}],
                 "opts": {}})
    out = run_js(model_to_js(model), runs, tmp_path)["runs"]
    for k, ((changes, params), got) in enumerate(zip(cases, out)):
        assert_agrees(got, model, changes, params, what=f"dynamic case {k}")
    with pytest.raises(CxError, match="shorter than TIME STEP"):
        compile_model(model).run(params={"Lag": 0.1})
    assert "shorter than TIME STEP" in out[-2]["error"]
    with pytest.raises(CxError, match="whole number"):
        compile_model(model).run([Change("Order", 2.5, None)])
    assert "whole number" in out[-1]["error"]


def test_unsupported_construct_raises_cx_error(tmp_path):
    path = tmp_path / "unsupported.mdl"
    path.write_text(DYNAMIC_MDL.replace("10 + 5 * SIN(Time / 2)", "RANDOM NORMAL(0, 1, 0, 1, 3)"),
                    encoding="utf-8")
    model = cx.load_model(path)
    with pytest.raises(CxError, match="Input"):
        model_to_js(model)


#: Unary minus and power with Vensim's precedence (the power binds tighter than the sign; ``^`` is
#: right-associative), and what Vensim computes for each.
POWERS = {"a": ("-2^2", -4.0), "b": ("-x^2", -4.0), "d": ("2^-2", 0.25), "e": ("3*-2^2", -12.0),
          "f": ("-(x)^2", -4.0), "g": ("-2^-2^2", -0.0625), "h": ("0-2^2", -4.0), "i": ("-x^x", -4.0),
          "j": ("(-x)^2", 4.0), "k": ("2^3^2", 512.0), "l": ("-x^2+1", -3.0)}


def test_unary_minus_and_power_follow_vensim_in_every_engine(tmp_path):
    """``-2^2`` is -4 in Vensim and PySD; the engine once computed +4 (the sign folded into the
    literal). The numpy engine, PySD and the JavaScript backend all give Vensim's numbers."""
    body = "x = 2 ~ Dmnl ~ |\n" + "".join(f"{k} = {eq} ~ Dmnl ~ |\n" for k, (eq, _) in POWERS.items())
    path = tmp_path / "powers.mdl"
    path.write_text("{UTF-8}\n" + body + "FINAL TIME = 1 ~ Week ~ |\nINITIAL TIME = 0 ~ Week ~ |\n"
                    "SAVEPER = 1 ~ Week ~ |\nTIME STEP = 1 ~ Week ~ |\n", encoding="utf-8")
    model = cx.load_model(path)
    for engine in ("numpy", "pysd"):
        run = cx.simulate(model, engine=engine)
        for k, (eq, want) in POWERS.items():
            assert run[k].iloc[0] == pytest.approx(want, rel=1e-12), (engine, eq)
    got = run_js(model_to_js(model), [{"params": {}, "changes": [], "opts": {}}], tmp_path)["runs"][0]
    for k, (eq, want) in POWERS.items():
        assert decode(got["values"][k])[0] == pytest.approx(want, rel=1e-12), ("js", eq)


def test_a_parenthesised_negative_base_is_refused(tmp_path):
    """PySD's parser drops the parentheses of ``(-2)^2`` and computes -4 where Vensim gives 4: refused
    with the line, rather than a wrong number."""
    path = tmp_path / "neg.mdl"
    path.write_text("{UTF-8}\nx = 1 ~ Dmnl ~ |\ny = (-2)^2 + x ~ Dmnl ~ |\nFINAL TIME = 1 ~ Week ~ |\n"
                    "INITIAL TIME = 0 ~ Week ~ |\nSAVEPER = 1 ~ Week ~ |\nTIME STEP = 1 ~ Week ~ |\n",
                    encoding="utf-8")
    with pytest.raises(CxError, match=r"neg\.mdl:3: \(-2\)\^\.\.\. is read as a negative power"):
        cx.load_model(path)
