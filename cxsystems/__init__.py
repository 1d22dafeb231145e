"""cxsystems: systems thinking for customer experience.

Load a system-dynamics model, run policy scenarios and compare them::

    import cxsystems as cx
    model = cx.load_model("cx_service")
    result = cx.compare(model)            # every scenario of the model
    result.summary                        # metrics and classifications
    result.plot()                         # dashboard figure
"""

from .errors import CxError, UnsafeModelError
from .loading import DEFAULT_MODEL, Model, Parameter, bundled_model_names, load_model
from .scenarios import Change, Scenario
from .simulation import simulate
from .compare import Comparison, compare

__all__ = [
    "CxError",
    "UnsafeModelError",
    "DEFAULT_MODEL",
    "Model",
    "Parameter",
    "bundled_model_names",
    "load_model",
    "Change",
    "Scenario",
    "simulate",
    "Comparison",
    "compare",
]
__version__ = "0.1.0"
