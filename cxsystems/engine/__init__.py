"""A safe, vectorised simulation engine for Vensim models.

The engine compiles PySD's ``AbstractModel`` (the parsed model, never its generated Python) into
closures over numpy arrays and integrates it with PySD's exact Euler semantics (or RK4 on
request). Parameters may be arrays of N values: N parameter sets run in one pass.

    from cxsystems import load_model
    from cxsystems.engine import compile_model

    model = load_model("cx_service")
    cm = compile_model(model)                   # cached on the model
    df = cm.run().to_frame()                    # like simulate(model, engine="pysd")
    res = cm.run(params={"Hiring Delay": np.linspace(4, 12, 1000)},
                 variables=["Customers"])       # res.values: (variables, times, 1000)

Unsupported constructs (subscripts, macros, external data, SAMPLE IF TRUE, random functions,
...) raise :class:`cxsystems.CxError` naming the construct and the variable.
"""

from __future__ import annotations

from .compiled import METHODS, CompiledModel
from .result import EngineResult

_CACHE_ATTR = "_cx_engine_compiled"

#: Vensim constructs the engine supports (everything else is refused with a CxError).
SUPPORTED = (
    "+ - * / ^ and unary minus", "= <> < <= > >= :AND: :OR: :NOT:", "IF THEN ELSE", "MIN", "MAX",
    "ABS", "EXP", "LN", "LOG", "SQRT", "POWER", "SIN", "COS", "TAN", "ARCSIN", "ARCCOS", "ARCTAN",
    "SINH", "COSH", "TANH", "PI", "INTEGER", "MODULO", "QUANTUM", "XIDZ", "ZIDZ", "STEP", "RAMP",
    "PULSE", "PULSE TRAIN", "lookups (standalone and WITH LOOKUP)", "INTEG", "SMOOTH", "SMOOTHI",
    "SMOOTH3", "SMOOTH3I", "SMOOTH N", "DELAY1", "DELAY1I", "DELAY3", "DELAY3I", "DELAY N",
    "DELAY FIXED", "TREND", "FORECAST", "INITIAL", "GAME", "Time", "INITIAL TIME", "FINAL TIME",
    "TIME STEP", "SAVEPER",
)


def compile_model(model) -> CompiledModel:
    """Compile a :class:`cxsystems.Model` for the engine (cached on the model object).

    ``CompiledModel.run(changes=(), params=None, *, time_step=None, final_time=None,
    saveper=None, variables=None, method="euler")`` returns an :class:`EngineResult`:

    * ``params``: ``{parameter name: number or array of N values}``: the base values (the
      "world"), constant from the start; arrays run N parameter sets in one pass.
    * ``changes``: :class:`cxsystems.Change` objects applied on top of ``params`` (the
      scenario): a change with ``from_week`` sets the parameter to its value when
      ``time >= from_week`` (base value before), a change without sets it from the start
      (initial values included). Later changes win from their week on.
    * ``variables``: names to record (default: every variable that is not a lookup).
    * ``method``: ``"euler"`` (PySD's, the default) or ``"rk4"``.
    * ``time_step``, ``final_time``, ``saveper``: override the model's control values (weeks).
    * ``vector``: force the vector flavour for one run (default: only for arrays of values).

    ``EngineResult.values`` is an array (variables, saved times, runs); ``.to_frame(run=0)``
    gives the DataFrame :func:`cxsystems.simulate` returns; ``.to_xarray()`` a DataArray.
    """
    cached = getattr(model, _CACHE_ATTR, None)
    key = id(model.abstract_model)
    if cached is not None and cached[0] == key:
        return cached[1]
    compiled = CompiledModel(model)
    try:
        setattr(model, _CACHE_ATTR, (key, compiled))
    except AttributeError:  # pragma: no cover - frozen objects: no cache
        pass
    return compiled


__all__ = ["compile_model", "CompiledModel", "EngineResult", "METHODS", "SUPPORTED"]
