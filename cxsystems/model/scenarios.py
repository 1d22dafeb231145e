"""Scenarios: named sets of parameter changes, read from ``<model>.scenarios.toml``.

File format::

    title = "Customer service operations"          # the model's name for people (optional)

    [scenarios.reactive_hiring]
    label = "Hire 20% more agents"                  # shown instead of the code name (optional)
    family = "reactive"                             # baseline, reactive, structural or mixed (colours)
    description = "Hire 20% more agents from week 16."
    [scenarios.reactive_hiring.set]
    "Extra Headcount Fraction" = { value = 0.2, from_week = 16 }   # a step change
    "Gap Coverage Fraction" = 0.8                                   # constant from the start

Every parameter name is checked against the model (unknown names are refused with the closest
real ones) and every value against the parameter's declared ``[min,max]`` range. The file may also
declare ``[metrics]``, ``[[outcomes]]``, ``[analysis]`` and ``[contact_mix]`` tables used by :mod:`cxsystems.analysis.compare`,
and an ``[uncertain]`` table of parameter distributions used by :mod:`cxsystems.analysis.ensemble` (format
in :mod:`cxsystems.model.uncertain`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import CxError
from ..files import read_toml
from ..names import closest, match
from .specs import DEFAULT_BASELINE, AnalysisSpec, ContactPart, Disturbance, MetricSpec, OutcomeSpec, TailRisk

if TYPE_CHECKING:  # pragma: no cover
    from .core import Model

#: The schema of a scenario file: the keys each table may hold (anything else is refused).
_TOP_KEYS = ("title", "scenarios", "metrics", "outcomes", "analysis", "uncertain", "contact_mix")
_SCENARIO_KEYS = ("label", "family", "description", "set")
#: Scenario families, which set a scenario's colour family on charts (baseline black, reactive warm,
#: structural cool, mixed purple).
FAMILIES = ("baseline", "reactive", "structural", "mixed")
_PART_KEYS = ("variable", "label", "avoidable")
_CHANGE_KEYS = ("value", "from_week")
_METRIC_KEYS = ("variable", "how", "better", "units", "label", "percent")
_OUTCOME_KEYS = ("variable", "better", "label", "units", "judge", "percent", "view")
#: How an outcome is charted: its level per scenario, or each scenario's difference from baseline.
VIEWS = ("level", "difference")
_ANALYSIS_KEYS = ("baseline", "classify", "rtol", "headline", "versus", "question", "tail_risks", "disturbance")
_TAIL_KEYS = ("name", "metric", "above", "below", "label")
#: The metrics of a trajectory: a metric's ``how`` and an outcome's ``judge``.
_HOWS = ("final", "mean", "max", "min", "integral")
#: How each table is written, for messages about a table of the wrong shape.
_SHAPES = {
    "scenarios": '[scenarios.NAME] with description = "..." and a [scenarios.NAME.set] table',
    "metrics": '[metrics] then NAME = { variable = "...", how = "final", better = "lower" } lines',
    "outcomes": '[[outcomes]] (two brackets) before each outcome, then variable = "...", better = "lower"',
    "analysis": "[analysis] then key = value lines (baseline, classify, rtol, headline, versus, question)",
    "uncertain": '[uncertain] then "Parameter" = { dist = "uniform", low = 1, high = 2 } lines',
    "contact_mix": '[contact_mix] then parts = [{ variable = "...", label = "...", avoidable = true }, ...]',
}


def check_keys(raw: Mapping[str, Any], allowed, where: str, what: str) -> None:
    """Refuse a key of ``raw`` that is not in ``allowed``, naming the closest valid key.

    Raises:
        CxError: ``"<where>: unknown key 'lable' in a metric; did you mean 'label'? (a metric has
            variable, how, better, units, label)"``.
    """
    for key in raw:
        if key not in allowed:
            near = closest(key, allowed, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise CxError(f"{where}: unknown key {key!r} in {what}{hint} "
                          f"({what} has {', '.join(allowed)})")


def _table(data: Mapping[str, Any], key: str, path: Path, *, array: bool = False):
    """``data[key]`` checked for shape: a table (or, with ``array``, an array of tables)."""
    raw = data.get(key, [] if array else {})
    ok = (isinstance(raw, list) and all(isinstance(x, Mapping) for x in raw)) if array else isinstance(raw, Mapping)
    if not ok:
        got = "a table" if isinstance(raw, Mapping) else f"{type(raw).__name__} {raw!r}"
        raise CxError(f"{path}: {key} must be written {_SHAPES[key]}; got {got}")
    return raw


def _check_unique_parameters(model: "Model", names, where: str) -> None:
    """Refuse the same parameter named twice (under any spelling: case, spaces, quotes)."""
    seen: dict[str, str] = {}
    for name in names:
        canonical = model.parameter(name, where).name
        if canonical in seen:
            raise CxError(f"{where}: {canonical!r} is set twice ({seen[canonical]!r} and {name!r}); keep one")
        seen[canonical] = name


@dataclass(frozen=True)
class Change:
    """Set ``parameter`` to ``value`` from ``from_week`` on (``None`` = from the start)."""

    parameter: str
    value: float
    from_week: float | None = None

    def value_at(self, base: float, time_week: float) -> float:
        """Parameter value at ``time_week`` given its ``base`` value before the change."""
        if self.from_week is None or time_week >= self.from_week:
            return self.value
        return base


@dataclass(frozen=True)
class Scenario:
    """A named policy scenario: a description and its parameter changes.

    ``label`` is its name for people (``label = "..."`` in the scenario file; :attr:`title` falls
    back to the code name). ``family`` is ``baseline``, ``reactive``, ``structural``, ``mixed`` or
    ``""`` (not declared), and picks the scenario's colour family on charts.
    """

    name: str
    description: str
    changes: tuple[Change, ...] = ()
    label: str = ""
    family: str = ""

    @property
    def title(self) -> str:
        """The label, else the code name with underscores as spaces."""
        return self.label or self.name.replace("_", " ")

    @property
    def start_week(self) -> float | None:
        """Earliest week at which a change starts (``0`` for constant changes, ``None`` if none)."""
        weeks = [0.0 if c.from_week is None else c.from_week for c in self.changes]
        return min(weeks) if weeks else None


def _where(path: Path, *keys: str) -> str:
    return f"{path}: [" + ".".join(keys) + "]"


def parse_change(model: "Model", raw: Any, name: str, where: str) -> Change:
    """Validate one ``set`` entry against the model and return a :class:`Change`."""
    param = model.parameter(name, where)
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - set(_CHANGE_KEYS))
        if unknown:
            near = closest(unknown[0], _CHANGE_KEYS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise CxError(f"{where}: unknown key(s) {unknown} for {name!r}{hint} (use value, from_week)")
        if "value" not in raw:
            raise CxError(f"{where}: {name!r} needs a value")
        value = param.check(raw["value"], where)
        from_week = raw.get("from_week")
        if from_week is not None:
            if not isinstance(from_week, (int, float)) or isinstance(from_week, bool) or not math.isfinite(from_week):
                raise CxError(f"{where}: from_week for {name!r} must be a number of weeks")
            if from_week < model.initial_time or from_week > model.final_time:
                raise CxError(
                    f"{where}: from_week {from_week:g} for {name!r} is outside the run "
                    f"[{model.initial_time:g}, {model.final_time:g}] weeks"
                )
            from_week = float(from_week)
        return Change(param.name, value, from_week)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise CxError(f"{where}: {name!r} must be a number or {{ value = ..., from_week = ... }}")
    return Change(param.name, param.check(raw, where), None)


def scenario_from_dict(model: "Model", name: str, raw: Mapping[str, Any], where: str) -> Scenario:
    """Build a validated :class:`Scenario` from its TOML table."""
    if not isinstance(raw, Mapping):
        raise CxError(f"{where}: a scenario must be a table")
    unknown = sorted(set(raw) - set(_SCENARIO_KEYS))
    if unknown:
        near = closest(unknown[0], _SCENARIO_KEYS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise CxError(f"{where}: unknown key(s) {unknown}{hint} (a scenario has label, family, description and set)")
    desc = raw.get("description", "")
    if not isinstance(desc, str):
        raise CxError(f"{where}: description must be text")
    label = raw.get("label", "")
    if not isinstance(label, str):
        raise CxError(f"{where}: label must be text")
    family = raw.get("family", "")
    if family not in ("", *FAMILIES):
        near = closest(str(family), FAMILIES, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise CxError(f"{where}: family = {family!r}{hint} (use {', '.join(FAMILIES)})")
    set_where = where[:-1] + ".set]" if where.endswith("]") else f"{where}.set"
    sets = raw.get("set", {})
    if not isinstance(sets, Mapping):
        raise CxError(f"{set_where}: must be a table of parameter = value")
    _check_unique_parameters(model, sets, set_where)
    changes = tuple(parse_change(model, v, k, set_where) for k, v in sets.items())
    return Scenario(name, " ".join(desc.split()), changes, " ".join(label.split()), family)


def load_scenarios(path: Path, model: "Model") -> dict[str, Scenario]:
    """Read and validate the scenarios of ``model`` from a TOML file (see module docstring)."""
    path = Path(path)
    data = read_toml(path)
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        near = closest(unknown[0], _TOP_KEYS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise CxError(f"{path}: unknown table(s) {unknown}{hint}; expected {sorted(_TOP_KEYS)}")
    raw = _table(data, "scenarios", path)
    if not raw:
        raise CxError(f"{path}: no [scenarios.<name>] tables")
    scenarios = {name: scenario_from_dict(model, name, body, _where(path, "scenarios", name))
                 for name, body in raw.items()}
    model.analysis = load_analysis(path, data, model, scenarios)
    return scenarios


def load_analysis(path: Path, data: Mapping[str, Any], model: "Model", scenarios) -> AnalysisSpec:
    """Read the ``[metrics]``, ``[[outcomes]]`` and ``[analysis]`` tables."""
    metrics = []
    for mname, spec in _table(data, "metrics", path).items():
        where = _where(path, "metrics", mname)
        if not isinstance(spec, Mapping):
            raise CxError(f"{where}: must be a table with variable, how, better")
        check_keys(spec, _METRIC_KEYS, where, "a metric")
        how = spec.get("how", "final")
        if how not in _HOWS:
            raise CxError(f"{where}: how = {how!r}; use final, mean, max, min or integral")
        better = spec.get("better", "lower")
        if better not in ("lower", "higher"):
            raise CxError(f"{where}: better = {better!r}; use lower or higher")
        var = model.variable(spec.get("variable", ""), where)
        percent = spec.get("percent", False)
        if not isinstance(percent, bool):
            raise CxError(f"{where}: percent = {percent!r}; use true (a fraction shown as %) or false")
        metrics.append(MetricSpec(mname, var, how, better, str(spec.get("units", model.units.get(var, ""))),
                                  str(spec.get("label", mname.replace("_", " "))), percent))
    outcomes = []
    for i, spec in enumerate(_table(data, "outcomes", path, array=True)):
        where = _where(path, "outcomes", str(i))
        check_keys(spec, _OUTCOME_KEYS, where, "an outcome")
        var = model.variable(spec.get("variable", ""), where)
        better = spec.get("better", "lower")
        if better not in ("lower", "higher"):
            raise CxError(f"{where}: better = {better!r}; use lower or higher")
        judge = spec.get("judge", "mean")
        if judge not in _HOWS:
            raise CxError(f"{where}: judge = {judge!r}; use final, mean, integral, max or min "
                          "(the metric that settles a trajectory better for a while and worse for a while)")
        percent = spec.get("percent", False)
        if not isinstance(percent, bool):
            raise CxError(f"{where}: percent = {percent!r}; use true (a fraction shown as %) or false")
        view = spec.get("view", "level")
        if view not in VIEWS:
            raise CxError(f"{where}: view = {view!r}; use level or difference (from the baseline)")
        outcomes.append(OutcomeSpec(var, better, str(spec.get("label", var)),
                                    str(spec.get("units", model.units.get(var, ""))), judge, percent, view))
    analysis = dict(_table(data, "analysis", path))
    check_keys(analysis, _ANALYSIS_KEYS, _where(path, "analysis"), "[analysis]")
    if not isinstance(analysis.get("question", ""), str):
        raise CxError(f"{_where(path, 'analysis')}: question must be text")
    classify = analysis.pop("classify", outcomes[0].variable if outcomes else None)
    if classify is not None:
        classify = model.variable(classify, _where(path, "analysis"))
    rtol = analysis.pop("rtol", 0.01)
    if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 0.5:
        raise CxError(f"{_where(path, 'analysis')}: rtol = {rtol!r}; use a fraction such as 0.01")
    baseline = analysis.pop("baseline", DEFAULT_BASELINE)
    if baseline not in scenarios:
        raise CxError(f"{_where(path, 'analysis')}: baseline {baseline!r} is not a scenario")
    names = [m.name for m in metrics]
    headline = analysis.pop("headline", names[-1] if names else None)
    if headline is not None and headline not in names:
        raise CxError(f"{_where(path, 'analysis')}: headline {headline!r} is not a metric; "
                      f"use one of {', '.join(names) or '(none declared)'}")
    versus = analysis.pop("versus", [])
    if not isinstance(versus, list) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(s, str) for s in v) for v in versus):
        raise CxError(f"{_where(path, 'analysis')}: versus must be a list of [scenario, scenario] pairs")
    for a, b in versus:
        for s in (a, b):
            if s not in scenarios:
                raise CxError(f"{_where(path, 'analysis')}: versus names {s!r}, which is not a scenario")
        if a == b:
            raise CxError(f"{_where(path, 'analysis')}: versus pairs {a!r} with itself")
    tails = _tail_risks(analysis.pop("tail_risks", []), names, _where(path, "analysis"))
    disturbance = _disturbance(analysis.pop("disturbance", None), model, _where(path, "analysis"))
    from .uncertain import parse_uncertain_table

    raw_uncertain = _table(data, "uncertain", path)
    _check_unique_parameters(model, raw_uncertain, _where(path, "uncertain"))
    uncertain = parse_uncertain_table(model, raw_uncertain, _where(path, "uncertain"))
    title = data.get("title", "")
    if not isinstance(title, str):
        raise CxError(f"{path}: title must be text, e.g. title = \"Customer service operations\"")
    mix = _contact_mix(_table(data, "contact_mix", path), model, _where(path, "contact_mix"))
    return AnalysisSpec(tuple(metrics), tuple(outcomes), classify, baseline, float(rtol), analysis,
                        uncertain, headline, tuple((a, b) for a, b in versus), tails, disturbance,
                        " ".join(title.split()), mix)


def _contact_mix(raw: Mapping[str, Any], model: "Model", where: str) -> tuple[ContactPart, ...]:
    """``[contact_mix] parts``: the kinds of contact, in stacking order (optional)."""
    if not raw:
        return ()
    check_keys(raw, ("parts",), where, "[contact_mix]")
    parts = raw.get("parts")
    if not isinstance(parts, list) or not parts or not all(isinstance(x, Mapping) for x in parts):
        raise CxError(f"{where}: parts must be a list of tables: {_SHAPES['contact_mix']}")
    out: list[ContactPart] = []
    for i, spec in enumerate(parts):
        w = f"{where} parts[{i}]"
        check_keys(spec, _PART_KEYS, w, "a contact-mix part")
        var = model.variable(spec.get("variable", ""), w)
        if var in {p.variable for p in out}:
            raise CxError(f"{w}: {var!r} is listed twice")
        label = spec.get("label", var)
        avoidable = spec.get("avoidable", False)
        if not isinstance(label, str) or not label.strip():
            raise CxError(f"{w}: label must be text")
        if not isinstance(avoidable, bool):
            raise CxError(f"{w}: avoidable must be true or false, got {avoidable!r}")
        out.append(ContactPart(var, " ".join(label.split()), avoidable))
    return tuple(out)


def _disturbance(raw: Any, model: "Model", where: str) -> Disturbance | None:
    """``[analysis] disturbance = { week = 8, label = "product launch" }`` (optional)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CxError(f'{where}: disturbance must be written {{ week = 8, label = "product launch" }}')
    check_keys(raw, ("week", "label"), f"{where} disturbance", "the disturbance")
    week, label = raw.get("week"), raw.get("label")
    if isinstance(week, bool) or not isinstance(week, (int, float)) or not math.isfinite(week):
        raise CxError(f"{where}: disturbance week must be a number of weeks, got {week!r}")
    if not model.initial_time <= week <= model.final_time:
        raise CxError(f"{where}: disturbance week {week:g} is outside the run "
                      f"[{model.initial_time:g}, {model.final_time:g}]")
    if not isinstance(label, str) or not label.strip():
        raise CxError(f'{where}: give the disturbance a label, e.g. label = "product launch"')
    return Disturbance(float(week), " ".join(label.split()))


def _tail_risks(raw: Any, metrics: list[str], where: str) -> tuple[TailRisk, ...]:
    """``[analysis] tail_risks``: a list of ``{ name, metric, above | below, label }`` tables."""
    shape = 'tail_risks = [{ name = "collapse", metric = "peak_wait", above = 8, label = "..." }]'
    if not isinstance(raw, list) or not all(isinstance(x, Mapping) for x in raw):
        raise CxError(f"{where}: tail_risks must be a list of tables: {shape}")
    out: list[TailRisk] = []
    for i, spec in enumerate(raw):
        w = f"{where} tail_risks[{i}]"
        check_keys(spec, _TAIL_KEYS, w, "a tail risk")
        name, metric = spec.get("name"), spec.get("metric")
        if not isinstance(name, str) or not name.strip():
            raise CxError(f"{w}: give a name, e.g. {shape}")
        if name in {t.name for t in out}:
            raise CxError(f"{w}: the name {name!r} is used twice")
        if metric not in metrics:
            raise CxError(f"{w}: metric {metric!r} is not a metric; use one of {', '.join(metrics) or '(none declared)'}")
        bounds = {k: spec[k] for k in ("above", "below") if k in spec}
        if len(bounds) != 1:
            raise CxError(f"{w}: give exactly one of above or below")
        ((side, value),) = bounds.items()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CxError(f"{w}: {side} must be a finite number, got {value!r}")
        label = spec.get("label", f"{name} ({metric} {side} {value:g})")
        if not isinstance(label, str):
            raise CxError(f"{w}: label must be text")
        out.append(TailRisk(name, metric, label, **{side: float(value)}))
    return tuple(out)


def resolve_scenario(model: "Model", scenario: "str | Scenario | None") -> Scenario:
    """The :class:`Scenario` for a name (or pass one through); ``None`` means the model's baseline.

    Raises:
        CxError: an unknown name (the message lists the model's scenarios and the closest ones).
    """
    if scenario is None:
        return model.scenarios.get(model.baseline) or Scenario(model.baseline, "The model as written.")
    if isinstance(scenario, Scenario):
        return scenario
    name = match(scenario, model.scenarios, what="scenario", owner=f"model {model.name}", listing=True)
    return model.scenarios[name]


def select_scenarios(model: "Model", scenarios=None) -> tuple[Scenario, ...]:
    """Resolve names/objects to scenarios, the model's baseline first and no duplicates.

    ``None`` means every scenario of the model. The baseline (:attr:`Model.baseline`) is added in
    front when not listed, and moved to the front when listed elsewhere: every comparison and
    ensemble runs it, as the reference.

    Raises:
        CxError: an unknown name (the message lists the valid ones) or two different scenarios
            with the same name.
    """
    if scenarios is None:
        chosen = list(model.scenarios.values())
    else:
        if isinstance(scenarios, (str, Scenario)):
            scenarios = [scenarios]
        chosen = [resolve_scenario(model, s) for s in scenarios]
    base = resolve_scenario(model, None)
    by_name: dict[str, Scenario] = {base.name: base}
    for s in chosen:
        if s.name in by_name and by_name[s.name] != s:
            raise CxError(f"two different scenarios are named {s.name!r}; rename one")
        by_name.setdefault(s.name, s)
    return tuple(by_name.values())
