"""The model types: a loaded :class:`Model` and its :class:`Parameter` constants.

A :class:`Model` is what :func:`cxsystems.load_model` returns: the screened and parsed model
(PySD's abstract model, never its generated code), its constants with units and declared ranges,
its stocks and variables, its time settings, and the scenarios and analysis settings read from
``<model>.scenarios.toml``. Names are matched by :mod:`cxsystems.names` everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CxError
from ..names import match
from ..text import plain
from .specs import DEFAULT_BASELINE, AnalysisSpec, OutcomeSpec

if TYPE_CHECKING:  # pragma: no cover
    from .scenarios import Scenario



@dataclass(frozen=True)
class Parameter:
    """A model constant: name, value, units, declared range and comment."""

    name: str
    py_name: str
    value: float
    units: str
    min: float
    max: float
    comment: str

    def check(self, value: float, where: str) -> float:
        """Return ``value`` as float if inside the declared range, else raise CxError naming ``where``."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise CxError(f"{where}: {self.name!r} must be a number, got {value!r}") from None
        if not math.isfinite(v):
            raise CxError(f"{where}: {self.name!r} must be finite, got {value!r}")
        if (not math.isnan(self.min) and v < self.min) or (not math.isnan(self.max) and v > self.max):
            raise CxError(
                f"{where}: {self.name!r} = {v:g} is outside its range "
                f"[{plain(self.min)}, {plain(self.max)}] {self.units}"
            )
        return v


@dataclass
class Model:
    """A loaded, screened and translated model. Create it with :func:`load_model`."""

    name: str
    path: Path
    parameters: dict[str, Parameter]
    variables: list[str]
    stocks: list[str]
    lookups: list[str]
    units: dict[str, str]
    comments: dict[str, str]
    initial_time: float
    final_time: float
    time_step: float
    saveper: float
    abstract_model: object = field(repr=False)
    py_file: Path = field(repr=False)
    scenarios: dict[str, "Scenario"] = field(default_factory=dict)
    scenario_file: Path | None = None
    analysis: "AnalysisSpec" = field(default=None, repr=False)
    subscripted: tuple[str, ...] = ()
    _workdir: Path | None = field(default=None, repr=False)
    #: parameter -> base value replacing the model file's constant (a copy made by
    #: :func:`cxsystems.model.overrides.with_values`; every engine honours it, scenarios change on top)
    overrides: dict[str, float] = field(default_factory=dict)
    #: names of the run-time data files (``load_model(..., data_files=)``) the data variables read
    data_files: tuple[str, ...] = ()
    #: the integration method the model file asks for and every run uses unless told otherwise:
    #: ``"euler"`` (Vensim models) or ``"rk4"`` (an XMILE ``<sim_specs method="RK4">`` where the
    #: method changes the numbers; such a model runs on the numpy engine only)
    integration: str = "euler"

    @property
    def baseline(self) -> str:
        """The baseline scenario's name: the one rule. ``[analysis] baseline`` of the scenario
        file, else :data:`DEFAULT_BASELINE`. Every comparison, ensemble, page and the explorer
        use it as the reference."""
        named = getattr(self.analysis, "baseline", None)
        return named or DEFAULT_BASELINE

    @property
    def init_hint(self) -> str:
        """``""`` when the model has a scenario file; else a clause saying how to write one, for
        messages that need what a scenario file declares."""
        if self.scenario_file is not None:
            return ""
        return (f" (it has no {Path(self.path).stem}.scenarios.toml: `cxsystems init --model {self.path}` "
                "writes a starter one)")

    @property
    def time_unit(self) -> str:
        """The unit of the model's clock as the file writes it on its time settings (``"Week"``,
        ``"Month"``; Stella's ``time_units``); ``""`` when unstated. :func:`cxsystems.text.time_words`
        turns it into words."""
        controls = ("time step", "final time", "initial time", "saveper")
        sections = getattr(self.abstract_model, "sections", ()) or ()
        units = {" ".join(str(el.name).replace("_", " ").lower().split()): str(getattr(el, "units", "") or "").strip()
                 for sec in sections[:1] for el in sec.elements}
        return next((units[c] for c in controls if units.get(c)), "")

    @property
    def title(self) -> str:
        """The model's name for people: the scenario file's top-level ``title``, else the file
        name with underscores as spaces (``cx_service`` -> ``cx service``)."""
        named = getattr(self.analysis, "title", "")
        return named or self.name.replace("_", " ")

    @property
    def outcomes(self) -> tuple[OutcomeSpec, ...]:
        """The key outcomes: the scenario file's ``[[outcomes]]``; a model without any has every
        stock as an outcome, lower being better."""
        specs = tuple(getattr(self.analysis, "outcomes", ()) or ())
        if specs:
            return specs
        return tuple(OutcomeSpec(s, "lower", s, self.units.get(s, "")) for s in self.stocks)

    def parameter(self, name: str, where: str = "") -> Parameter:
        """Look a parameter up by name (:func:`cxsystems.names.match`: case, spaces, underscores
        and surrounding quotes do not matter); unknown names get the closest ones."""
        hit = match(name, self.parameters, what="parameter", where=where, owner=f"model {self.name}")
        return self.parameters[hit]

    def variable(self, name: str, where: str = "") -> str:
        """Return the model's spelling of a variable name; unknown names get the closest ones. An
        element of a subscripted variable, ``"Stock[north]"`` (or ``"Stock[north,small]"``), keeps its
        elements as written; a run has a column for it when the elements exist."""
        text = str(name).strip()
        if text.endswith("]") and "[" in text:
            base, inner = text[:-1].split("[", 1)
            found = match(base.strip(), self.variables, what="variable", where=where, owner=f"model {self.name}")
            if found not in self.subscripted:
                raise CxError(f"{where + ': ' if where else ''}{found!r} is not subscripted in model "
                              f"{self.name}; write {found!r} without [{inner}]")
            return f"{found}[{','.join(e.strip() for e in inner.split(','))}]"
        return match(name, self.variables, what="variable", where=where, owner=f"model {self.name}")

    def parameters_table(self):
        """Parameters as a DataFrame: name, value, units, min, max, comment."""
        import pandas as pd

        rows = [
            dict(name=p.name, value=p.value, units=p.units, min=p.min, max=p.max, comment=p.comment)
            for p in self.parameters.values()
        ]
        return pd.DataFrame(rows, columns=["name", "value", "units", "min", "max", "comment"])
