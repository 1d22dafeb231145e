"""Simulation: one entry point, :func:`simulate`, behind which engines can be swapped.

Engines:

``"auto"`` (default)
    The ``"numpy"`` engine; for a model it does not run (a construct it does not support yet:
    macros, ACTIVE INITIAL, random functions, ...) ``"pysd-fast"`` instead, with a
    one-line :class:`~cxsystems.errors.EngineNotice` naming the construct, so every command works.
``"compiled"``
    The same engine's compiled backend (:mod:`cxsystems.engine.compiled`: the model as instructions
    for a virtual machine compiled with numba), refusing a model it does not run. ``"auto"`` picks it
    by itself when numba is installed, the model runs on it and the work pays for loading it; the
    numbers agree with ``"numpy"``'s within 1e-12 relative.
``"numpy"``
    cxsystems' own engine (:mod:`cxsystems.engine`): PySD's abstract model compiled into closures,
    no generated code imported, about 35 ms a run for ``cx_service``, ensembles as numpy arrays.
    Matches PySD's Euler exactly (equality tests against stock PySD for every bundled model).
``"pysd-fast"``
    PySD's own generated model and Euler integrator, with every lookup table evaluated by
    ``numpy.interp`` instead of xarray (about 1000x faster per call, same linear interpolation and
    end-value clamping). Results agree with stock PySD within 1e-9 relative.
``"pysd"``
    Stock PySD, the reference (slow: seconds per run).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .engine import METHODS, compile_model
from .engine.data import data_variables, no_data_message
from .errors import CxError, EngineNotice, UnsupportedConstruct
from .model.core import Model
from .model.datafiles import staged_runtime_data_files
from .model.scenarios import Change, Scenario, resolve_scenario

ENGINES = ("auto", "numpy", "compiled", "pysd-fast", "pysd")
DEFAULT_ENGINE = "auto"
#: The engine ``"auto"`` falls back to for a model the numpy engine does not run.
FALLBACK_ENGINE = "pysd-fast"


def _changes(model: Model, scenario: Scenario, params: Mapping[str, float] | None) -> list[Change]:
    """``params`` (new base values, constant from the start), then the scenario's changes on top: a
    scenario's own change to the same parameter wins, as with :func:`cxsystems.model.overrides.with_values`."""
    changes = []
    for name, value in (params or {}).items():
        p = model.parameter(name, "params")
        changes.append(Change(p.name, p.check(value, "params"), None))
    return changes + list(scenario.changes)


def _fast_lookup_class(base):
    """Subclass of PySD's HardcodedLookups whose call is ``numpy.interp`` for a scalar argument
    (PySD's own call for an array argument)."""

    class FastLookups(base):
        def __call__(self, x, final_subs=None):  # noqa: D401 - same signature as PySD
            if isinstance(x, (int, float, np.floating)):
                return float(np.interp(x, self._xs, self._ys))
            return super().__call__(x, final_subs)  # a subscripted argument: PySD's own path

    return FastLookups


def _speed_up_lookups(components) -> None:
    from pysd.py_backend.lookups import HardcodedLookups

    fast = _fast_lookup_class(HardcodedLookups)
    for obj in list(vars(components).values()):
        if type(obj) is HardcodedLookups and obj.is_float and obj.interp in (None, "interpolate") \
                and tuple(getattr(obj.data, "dims", ())) == ("lookup_dim",):  # one table, not subscripted
            data = obj.data
            obj._xs = np.asarray(data["lookup_dim"].values, dtype=float)
            obj._ys = np.asarray(data.values, dtype=float).reshape(-1)
            obj.__class__ = fast


def _step_function(model_obj, change: Change, base: float) -> Callable[[], float]:
    time = model_obj.time

    def value() -> float:
        return change.value_at(base, time())

    return value


def simulate(
    model: Model,
    scenario: str | Scenario | None = None,
    *,
    params: Mapping[str, float] | None = None,
    engine: str = DEFAULT_ENGINE,
    method: str | None = None,
    time_step: float | None = None,
    final_time: float | None = None,
    saveper: float | None = None,
    variables: Iterable[str] | None = None,
    allow_nonfinite: bool = False,
) -> pd.DataFrame:
    """Simulate ``model`` under ``scenario`` and return its trajectories.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        scenario: a scenario name, a :class:`Scenario`, or ``None`` for ``baseline``.
        params: new base values ``{parameter name: value}`` (validated: name and declared range),
            constant from the start; the scenario's own changes apply on top of them.
        engine: ``"auto"`` (default: ``"numpy"``, falling back to ``"pysd-fast"`` with an
            :class:`~cxsystems.errors.EngineNotice` for a model the numpy engine does not run),
            ``"numpy"`` (refuses such a model), ``"compiled"`` (its compiled backend; refuses a model
            that backend does not run), ``"pysd-fast"`` or ``"pysd"`` (stock PySD reference).
        method: integration method, ``"euler"`` (Vensim's and PySD's) or ``"rk4"`` (classic
            fourth-order Runge-Kutta; the ``"numpy"`` engine only); default the model's own
            (``Model.integration``: Euler, or RK4 for an XMILE model that asks for it).
        time_step, final_time, saveper: override the model's control values (weeks).
        variables: names to return (default: every variable that is not a lookup table).
        allow_nonfinite: keep NaN and infinite values; by default a run that produces one is
            refused, naming the variable and the week of the first one.

    Returns:
        DataFrame indexed by ``time`` (weeks) with one column per variable, named as in the model.

    Raises:
        CxError: unknown scenario, parameter, variable or engine, a value out of range, a time
            grid that cannot advance or would not fit in memory, or (unless ``allow_nonfinite``) a
            NaN or infinite value.
    """
    if engine not in ENGINES:
        raise CxError(f"unknown engine {engine!r}: choose from {', '.join(ENGINES)}")
    if method is None:
        method = getattr(model, "integration", "euler")
    if method not in METHODS:
        raise CxError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    if method != "euler" and engine not in ("auto", "numpy"):  # "compiled": Euler only
        raise CxError(f"method {method!r} needs engine='numpy'; PySD's engines integrate with Euler only")
    scen = resolve_scenario(model, scenario)
    changes = _changes(model, scen, params)
    cols = list(model.variables if variables is None else [model.variable(v, "variables") for v in variables])
    cols = [c for c in cols if c not in model.lookups]
    ctl = dict(time_step=time_step or model.time_step, final_time=final_time or model.final_time,
               saveper=saveper or (model.saveper if time_step is None else max(model.saveper, time_step)))
    # NaN on the Model: a control variable that changes in time; the engine runs its equation
    ctl = {k: v for k, v in ctl.items() if not (isinstance(v, float) and math.isnan(v))}
    for k, v in ctl.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise CxError(f"{k} must be a positive number of weeks, got {v!r}")

    steps: dict[str, int] = {}
    for ch in changes:
        if ch.from_week is not None:
            steps[ch.parameter] = steps.get(ch.parameter, 0) + 1
            if steps[ch.parameter] > 1:
                raise CxError(f"parameter {ch.parameter!r} has two step changes; give one")
    backend = engine if engine in ("numpy", "compiled") else None  # auto: the engine's own choice
    if engine == "auto":
        engine = engine_for(model, method)
    if engine in ("numpy", "compiled"):
        result = compile_model(model).run(changes, variables=cols, method=method, backend=backend, **ctl)
        df = result.to_frame()
        df.index = pd.Index(np.asarray(df.index, dtype=float), name="time")
        return _finite(df.astype(float), model, scen, allow_nonfinite)

    try:
        df = _run_pysd(model, engine, changes, cols, ctl)
    except CxError:
        raise
    except Exception as exc:  # PySD raises many types: one line naming the model and the cause
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CxError(f"{model.path}: PySD ({engine}) could not run this model: {type(exc).__name__}"
                      f"{': ' + first[:200] if first else ''}") from None
    df.index = pd.Index(np.asarray(df.index, dtype=float), name="time")
    return _finite(df.astype(float), model, scen, allow_nonfinite)


def _run_pysd(model: Model, engine: str, changes: list[Change], cols: list[str], ctl: dict) -> pd.DataFrame:
    """One run on PySD's generated model (``pysd-fast``: with numpy lookups)."""
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # data variables without an equation read the data_files= copies staged by the loader
        files = [str(f) for f in staged_runtime_data_files(getattr(model, "_workdir", None))]
        if not files:
            missing = data_variables(model.abstract_model)
            if missing:
                raise CxError(f"{model.path}: {no_data_message(missing[0], files)}")
        m = pysd.load(str(model.py_file), data_files=files or None)
        if engine == "pysd-fast":
            _speed_up_lookups(m.components)
        settings: dict[str, object] = {model.parameters[n].py_name: float(v)  # the model's base values
                                       for n, v in (getattr(model, "overrides", None) or {}).items()}
        for ch in changes:
            p = model.parameters[ch.parameter]
            if ch.from_week is None:
                settings[p.py_name] = ch.value
            else:
                base = settings.get(p.py_name, p.value)  # one step per parameter: checked above
                settings[p.py_name] = _step_function(m, ch, float(base))
        if settings:
            m.set_components(settings)
        return m.run(return_columns=cols, **ctl)


def unsupported_reason(model: Model) -> str | None:
    """Why the numpy engine does not run ``model`` (the construct, in words), or ``None`` if it does."""
    try:
        compile_model(model)
    except UnsupportedConstruct as exc:
        return exc.reason
    return None


def engine_for(model: Model, method: str = "euler") -> str:
    """The engine ``"auto"`` runs ``model`` with: ``"numpy"``, or :data:`FALLBACK_ENGINE` with an
    :class:`~cxsystems.errors.EngineNotice` when the numpy engine does not run it.

    Raises:
        CxError: the model needs the fallback but ``method`` is not Euler (PySD integrates with
            Euler only).
    """
    reason = unsupported_reason(model)
    if reason is None:
        return "numpy"
    if method != "euler":
        raise CxError(f"{model.path}: method {method!r} needs the numpy engine, which does not run this "
                      f"model ({reason})")
    warnings.warn(EngineNotice(f"{model.name}: the numpy engine does not run this model ({reason}); "
                               f"simulated with PySD ({FALLBACK_ENGINE}) instead, which is slower"),
                  stacklevel=3)
    return FALLBACK_ENGINE


def first_nonfinite(df: pd.DataFrame) -> tuple[str, float, float] | None:
    """``(variable, week, value)`` of the earliest NaN or infinite value of a run, or ``None``."""
    values = df.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    row = int(np.argmax(bad.any(axis=1)))
    col = int(np.argmax(bad[row]))
    return str(df.columns[col]), float(df.index[row]), float(values[row, col])


def _finite(df: pd.DataFrame, model: Model, scen: Scenario, allow: bool) -> pd.DataFrame:
    if allow:
        return df
    hit = first_nonfinite(df)
    if hit is not None:
        var, week, value = hit
        what = "NaN (not a number)" if np.isnan(value) else f"{value} (infinite)"
        raise CxError(f"{model.path}: {var!r} is {what} at week {week:g} in scenario {scen.name!r}; "
                      "check its equation and inputs, or allow such values (allow_nonfinite=True, "
                      "--allow-nonfinite)")
    return df
