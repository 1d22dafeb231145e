"""Errors raised for bad user input.

Every error cxsystems raises for bad input is a :class:`CxError` whose message is one line that
names the file, line, variable or option at fault. The CLI prints it and exits with code 2.
"""

from __future__ import annotations


class CxError(ValueError):
    """Bad input (model file, scenario file, option); the message is a single line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class UnsafeModelError(CxError):
    """A model file contains text that could run code if handed to PySD's parser or builder."""


class UnsupportedConstruct(CxError):
    """A model construct the numpy engine does not run (macros, ACTIVE INITIAL, ...).
    :func:`cxsystems.simulate` then falls back to PySD by itself (engine ``"auto"``, the default)
    with an :class:`EngineNotice`; ``engine="numpy"`` refuses instead.

    ``reason`` names the construct (``"'x' calls ACTIVE INITIAL, which the engine does not
    support"``); the message is ``"engine: <reason>; <advice>"``, the advice by default
    ``"use engine='pysd'"`` (the compiled backend's refusals point to the numpy engine instead).
    """

    def __init__(self, reason: str, advice: str = "use engine='pysd'"):
        self.reason = " ".join(str(reason).split())
        super().__init__(f"engine: {self.reason}; {advice}")


class Notice(UserWarning):
    """A one-line notice about what a command chose for the user (the CLI prints it as
    ``cxsystems: note: ...``, not as a warning dump)."""


class EngineNotice(Notice):
    """A one-line notice that a run used another engine than asked for, and why."""


def require_extra(module: str, what: str, extra: str = "calibration"):
    """Import the optional dependency ``module`` (``"emcee"``, ``"SALib.analyze.sobol"``) or raise
    a one-line :class:`CxError` saying that ``what`` needs it and which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise CxError(f"{what} needs {package}, which is not installed: "
                      f"pip install 'cxsystems[{extra}]'") from None
