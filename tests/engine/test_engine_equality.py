"""The engine agrees with stock PySD on every bundled model and every reference model, on both of
its backends (the numpy closures and the compiled virtual machine, :mod:`cxsystems.engine.compiled`).

Stock PySD is slow (tens of seconds for a cx_service run), so each reference run happens once
per test session (module-scoped fixtures). Scenarios of the bundled models are compared with
``engine="pysd-fast"`` (PySD's own generated model and integrator with numpy lookups).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.errors import UnsupportedConstruct
from cxsystems.model.loader import bundled_model_names
from cxsystems.model.scenarios import Change, Scenario

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
REFERENCE_MODELS = sorted(MODELS_DIR.glob("engine_*.mdl"))
RTOL, ATOL = 1e-9, 1e-12


def assert_frames_agree(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same saved times, same columns, every value within 1e-9 relative (1e-12 absolute)."""
    assert list(got.index) == list(want.index), "saved times differ"
    assert got.index.name == want.index.name == "time"
    missing = set(want.columns) - set(got.columns)
    assert not missing, f"engine lacks columns {sorted(missing)}"
    a = got[list(want.columns)].to_numpy(dtype=float)
    b = want.to_numpy(dtype=float)
    close = np.isclose(a, b, rtol=RTOL, atol=ATOL)
    if not close.all():
        i, j = np.argwhere(~close)[0]
        raise AssertionError(
            f"{want.columns[j]!r} at time {want.index[i]}: engine {a[i, j]!r}, PySD {b[i, j]!r} "
            f"({(~close).sum()} values differ)")


def _stock(model, scenario=None, **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cx.simulate(model, scenario, engine="pysd", **kw)


@pytest.fixture(params=["numpy", "compiled"])
def backend(request):
    """Each equality test runs on both backends of the engine."""
    return request.param


def _engine(model, scenario=None, backend="numpy", **kw) -> pd.DataFrame:
    """The engine's run on ``backend``. The compiled backend refuses, in one line naming the variable
    and the construct, what it does not run yet (DELAY FIXED, ...); the default backend then gives the
    numpy engine's numbers, which are compared instead."""
    changes = () if scenario is None else scenario.changes
    cm = compile_model(model)
    if backend == "compiled":
        try:
            return cm.run(changes, backend="compiled", **kw).to_frame()
        except UnsupportedConstruct as exc:
            assert "the compiled backend" in str(exc), str(exc)
            return cm.run(changes, backend="auto", **kw).to_frame()
    return cm.run(changes, backend=backend, **kw).to_frame()


# ------------------------------------------------------------------------- bundled models


@pytest.fixture(scope="module", params=bundled_model_names())
def bundled_run(request, bundled):
    """A bundled model (shared) and its stock PySD baseline run."""
    model = bundled(request.param)
    return model, _stock(model)


def test_bundled_model_baseline_equals_stock_pysd(bundled_run, backend):
    model, stock = bundled_run
    assert_frames_agree(_engine(model, backend=backend), stock)


def test_bundled_model_every_scenario_equals_pysd(bundled_run, backend):
    model, _ = bundled_run
    assert len(model.scenarios) >= 1
    for name, scen in model.scenarios.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = cx.simulate(model, name, engine="pysd-fast")
        assert_frames_agree(_engine(model, scen, backend=backend), want)


def test_bundled_model_vector_flavour_is_bit_identical(bundled_run):
    model, _ = bundled_run
    cm = compile_model(model)
    for scen in model.scenarios.values():
        a = cm.run(scen.changes).values
        b = cm.run(scen.changes, vector=True).values
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------- reference models


@pytest.fixture(scope="module", params=[p.name for p in REFERENCE_MODELS])
def reference(request):
    model = cx.load_model(MODELS_DIR / request.param)
    return model, _stock(model)


def test_reference_models_exist():
    names = {p.name for p in REFERENCE_MODELS}
    assert {"engine_builtins.mdl", "engine_statefuls.mdl"} <= names


def test_reference_model_equals_stock_pysd(reference, backend):
    model, stock = reference
    assert_frames_agree(_engine(model, backend=backend), stock)
    # every variable moves or is a parameter: the comparison is not vacuous
    assert len(stock.columns) == len(model.variables) - len(model.lookups)


def test_reference_model_vector_flavour_is_bit_identical(reference):
    model, _ = reference
    cm = compile_model(model)
    np.testing.assert_array_equal(cm.run().values, cm.run(vector=True).values)


def test_step_changes_equal_stock_pysd(backend):
    """A Change with from_week switches at the first step whose time >= from_week."""
    model = cx.load_model(MODELS_DIR / "engine_statefuls.mdl")
    scen = Scenario("steps", "", (Change("Residence Time", 2.0, 7.3),
                                  Change("Smoothing Time", 6.0, None),
                                  Change("Delay Time", 1.0, 12.0)))
    assert_frames_agree(_engine(model, scen, backend=backend), _stock(model, scen))


def test_control_overrides_equal_stock_pysd(backend):
    """Odd TIME STEP / SAVEPER / FINAL TIME: same saved times and values as PySD."""
    model = cx.load_model(MODELS_DIR / "engine_builtins.mdl")
    kw = dict(time_step=0.1, saveper=0.3, final_time=7.05)
    got = _engine(model, backend=backend, **kw)
    want = _stock(model, **kw)
    assert_frames_agree(got, want)
    assert got.index[-1] == pytest.approx(6.9)


def test_cx_service_changes_in_initial_values_equal_pysd_fast(cx_service, backend):
    """A constant change also moves initial values (e.g. the equilibrium headcount)."""
    model = cx_service
    scen = Scenario("x", "", (Change("Normal Handle Time", 0.3, None), Change("Hiring Delay", 4.0, 30.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = cx.simulate(model, scen, engine="pysd-fast")
    got = _engine(model, scen, backend=backend)
    assert_frames_agree(got, want)
    base = _engine(model, backend=backend)
    assert got["Agents"].iloc[0] == pytest.approx(base["Agents"].iloc[0] * 1.5)
