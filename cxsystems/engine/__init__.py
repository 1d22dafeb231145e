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

Runs go to the compiled backend (:mod:`cxsystems.engine.compiled`: the model as instructions for a
virtual machine compiled once with numba) when it pays, else to the numpy closures;
``cm.run(..., backend="numpy"|"compiled"|"auto")`` chooses, and the numbers agree within 1e-12.

Subscripts are unrolled: one slot (and output column) per element; :data:`SUPPORTED` lists what the
engine runs. Anything else (ALLOCATE AVAILABLE's constant-elasticity profile, a data series with
gaps, GET TIME VALUE other than relative to the current time, RK4 with a TIME STEP that changes in
time, ...) raises :class:`cxsystems.errors.UnsupportedConstruct` naming the construct and the variable.
"""

from __future__ import annotations

from .plan import METHODS, SUPPORTED, CompiledModel, compile_model
from .result import EngineResult

__all__ = ["compile_model", "CompiledModel", "EngineResult", "METHODS", "SUPPORTED"]
