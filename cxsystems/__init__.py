"""cxsystems: systems thinking for customer experience.

Load a system-dynamics model, run policy scenarios, compare them, test them across plausible
worlds, and read the feedback loops behind them::

    import cxsystems as cx
    model = cx.load_model("cx_service")
    result = cx.compare(model)            # every scenario of the model against the baseline
    result.summary                        # metrics and classifications
    result.plot()                         # dashboard figure
    result.save("out/")                   # what `cxsystems compare` writes

    res = cx.ensemble(model, n=2000, seed=0)   # every scenario in 2,000 sampled worlds
    cx.verdicts(res)                           # "structural_prevention beats reactive_hiring ..."
    cx.loops(model)                            # feedback loops with polarity and names
    cx.archetypes(model)                       # named system archetypes among them

Every name below is loaded on first use, so ``import cxsystems`` stays fast; the layers behind
them are described in ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

#: Public name -> module that defines it (loaded on first access).
_PUBLIC: dict[str, str] = {
    # errors
    "CxError": "cxsystems.errors",
    "UnsafeModelError": "cxsystems.errors",
    "Notice": "cxsystems.errors",
    # the model
    "DEFAULT_MODEL": "cxsystems.model.loader",
    "bundled_model_names": "cxsystems.model.loader",
    "load_model": "cxsystems.model.loader",
    "Model": "cxsystems.model.core",
    "Parameter": "cxsystems.model.core",
    "Change": "cxsystems.model.scenarios",
    "Scenario": "cxsystems.model.scenarios",
    "Lever": "cxsystems.model.levers",
    "levers": "cxsystems.model.levers",
    # running it
    "simulate": "cxsystems.simulation",
    "compile_model": "cxsystems.engine",
    # analysis
    "compare": "cxsystems.analysis.compare",
    "Comparison": "cxsystems.analysis.compare",
    "ensemble": "cxsystems.analysis.ensemble",
    "EnsembleResult": "cxsystems.analysis.ensemble",
    "robustness": "cxsystems.analysis.robustness",
    "regret": "cxsystems.analysis.robustness",
    "verdicts": "cxsystems.analysis.robustness",
    "most_often_best": "cxsystems.analysis.robustness",
    "tail_risk": "cxsystems.analysis.robustness",
    "explore": "cxsystems.analysis.explore",
    "start_week_sweep": "cxsystems.analysis.timing",
    "TimingSweep": "cxsystems.analysis.timing",
    "Exploration": "cxsystems.analysis.explore",
    "classify_trajectory": "cxsystems.analysis.metrics",
    "sensitivity": "cxsystems.analysis.sensitivity",
    "SensitivityResult": "cxsystems.analysis.sensitivity",
    "dominance": "cxsystems.analysis.dominance", "DominanceResult": "cxsystems.analysis.dominance", "DominanceEnsemble": "cxsystems.analysis.dominance",
    "calibrate": "cxsystems.analysis.calibrate",
    "CalibrationResult": "cxsystems.analysis.calibrate",
    "read_history": "cxsystems.model.history",
    "with_values": "cxsystems.model.overrides",
    "read_calibration": "cxsystems.model.calibration_file",
    "Calibration": "cxsystems.model.calibration_file",
    # causal loops
    "causal_graph": "cxsystems.causal.api",
    "loops": "cxsystems.causal.api",
    "archetypes": "cxsystems.causal.api",
    "load_cld": "cxsystems.causal.cld_format",
    "lint": "cxsystems.causal.linter",
    # views
    "model_diagram": "cxsystems.plotting.diagrams",
    "cld_diagram": "cxsystems.plotting.diagrams",
    "write_diagram": "cxsystems.plotting.diagrams",
    "write_workshop": "cxsystems.pages.workshop",
    "write_report": "cxsystems.pages.report",
    "build_report": "cxsystems.pages.report",
}

#: Modules reachable as attributes after ``import cxsystems`` (``cx.causal.find_loops``,
#: ``cx.simulation.ENGINES``, ...), imported on first access.
_SUBPACKAGES = ("analysis", "causal", "cli", "engine", "errors", "files", "limits", "model", "names", "pages",
                "plotting", "simulation", "text", "version")

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'cxsystems' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .analysis.calibrate import CalibrationResult, calibrate
    from .analysis.compare import Comparison, compare
    from .analysis.ensemble import EnsembleResult, ensemble
    from .analysis.explore import Exploration, explore
    from .analysis.metrics import classify_trajectory
    from .analysis.robustness import most_often_best, regret, robustness, tail_risk, verdicts
    from .analysis.sensitivity import SensitivityResult, sensitivity
    from .analysis.timing import TimingSweep, start_week_sweep
    from .causal.api import archetypes, causal_graph, loops
    from .causal.cld_format import load_cld
    from .causal.linter import lint
    from .engine import compile_model
    from .errors import CxError, Notice, UnsafeModelError
    from .model.calibration_file import Calibration, read_calibration
    from .model.core import Model, Parameter
    from .model.history import read_history
    from .model.levers import Lever, levers
    from .model.loader import DEFAULT_MODEL, bundled_model_names, load_model
    from .model.overrides import with_values
    from .model.scenarios import Change, Scenario
    from .pages.report import build_report, write_report
    from .pages.workshop import write_workshop
    from .plotting.diagrams import cld_diagram, model_diagram, write_diagram
    from .simulation import simulate
