"""Policy levers: the one definition the notebook explorer, the workshop page and the report share.

A *lever* is a parameter that some scenario of the model sets (union over ``model.scenarios``, in
first-seen order). Moving levers and choosing the week the policy starts defines a new scenario
(:func:`explored_scenario`).

Range (:func:`lever_range`): the parameter's declared ``[min, max]``; where the model declares no
bound a fallback is used, and the range is widened to include every scenario value:

* no bounds: ``0 .. 2 x value`` for a positive value, ``2 x value .. 0`` for a negative one,
  ``-1 .. 1`` for zero;
* only ``min``: ``max = min + 2 x max(|value - min|, |min|, 1)``; only ``max``: mirrored.

Step (:func:`slider_step`): a round step (1, 2 or 5 times a power of ten) dividing the range into
at most about :data:`SLIDER_STEPS` parts, refined until the model's value and every scenario value
lie on the grid ``min + k * step``; ``0`` (any value) when no round step does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from ..errors import CxError
from .scenarios import Change, Scenario, resolve_scenario

if TYPE_CHECKING:  # pragma: no cover
    from .core import Model

#: Name of the scenario an exploration builds.
EXPLORED = "explored"
#: Largest number of parts a lever's range is divided into before its step is refined.
SLIDER_STEPS = 200


@dataclass(frozen=True)
class Lever:
    """A policy lever: a parameter set by at least one scenario of the model.

    Attributes:
        parameter: the parameter's name in the model.
        units: its units as declared in the model (``Dmnl`` for fractions).
        min, max: the range a slider offers (see the module docstring).
        default: the model's own value (what the baseline uses; where the lever rests).
        step: slider step (``0`` = any value), on whose grid the default and every scenario value lie.
        comment: the model's comment on the parameter.
        range_note: empty when the range is the model's declared one, else one short sentence on
            how it was chosen.
    """

    parameter: str
    units: str
    min: float
    max: float
    default: float
    step: float
    comment: str = ""
    range_note: str = ""


def policy_parameters(model: "Model") -> list[str]:
    """Names of the parameters any scenario of ``model`` sets, in first-seen order."""
    seen: dict[str, None] = {}
    for sc in model.scenarios.values():
        for ch in sc.changes:
            seen.setdefault(ch.parameter, None)
    return list(seen)


def lever_range(value: float, lo: float, hi: float, extra=()) -> tuple[float, float, str]:
    """Slider range ``(lo, hi, note)`` from a parameter's declared bounds (NaN = not declared).

    Missing bounds get the fallback of the module docstring; the range is widened to include
    ``value`` and every value in ``extra`` (scenario values). ``note`` is ``""`` for the declared
    range, else one short sentence.
    """
    note = ""
    if math.isnan(lo) and math.isnan(hi):
        if value > 0:
            lo, hi = 0.0, 2.0 * value
        elif value < 0:
            lo, hi = 2.0 * value, 0.0
        else:
            lo, hi = -1.0, 1.0
        note = "range not declared in the model; shown around the base value"
    elif math.isnan(hi):
        hi = lo + 2.0 * max(abs(value - lo), abs(lo), 1.0)
        note = "no upper bound declared in the model; upper end chosen here"
    elif math.isnan(lo):
        lo = hi - 2.0 * max(abs(hi - value), abs(hi), 1.0)
        note = "no lower bound declared in the model; lower end chosen here"
    vals = [value, *extra]
    if min(vals) < lo or max(vals) > hi:
        lo, hi = min(lo, *vals), max(hi, *vals)
        note = note or "range widened to include the scenario values"
    if hi <= lo:
        hi = lo + 1.0
        note = note or "range widened: the model declares an empty range"
    return float(lo), float(hi), note


def on_grid(x: float, lo: float, step: float) -> bool:
    """Whether ``x`` is ``lo + k * step`` for a whole ``k`` (to 1e-9 relative)."""
    k = (x - lo) / step
    return abs(k - round(k)) < 1e-9 * max(1.0, abs(k))


def slider_step(lo: float, hi: float, values=()) -> float:
    """A round step (1, 2 or 5 times a power of ten) dividing ``[lo, hi]`` into at most about
    :data:`SLIDER_STEPS` parts, refined (down to 1000x finer) until every value of ``values`` lies
    on the grid ``lo + k * step``; ``0`` (any value) if none does."""
    raw = (hi - lo) / SLIDER_STEPS
    exp = math.floor(math.log10(raw))
    nice = sorted((m * 10.0 ** e for e in range(exp - 4, exp + 2) for m in (1, 2, 5)), reverse=True)
    nice = [float(f"{x:.12g}") for x in nice if raw / 1000 <= x]
    start = min(x for x in nice if x >= raw * (1 - 1e-12))
    for step in (x for x in nice if x <= start):
        if all(on_grid(v, lo, step) for v in values):
            return step
    return 0.0


def levers(model: "Model") -> list[Lever]:
    """The policy levers of ``model`` (see the module docstring), in first-seen order."""
    out = []
    for name in policy_parameters(model):
        p = model.parameters[name]
        extra = [float(ch.value) for sc in model.scenarios.values() for ch in sc.changes if ch.parameter == name]
        lo, hi, note = lever_range(float(p.value), float(p.min), float(p.max), extra)
        step = slider_step(lo, hi, [float(p.value), *extra])
        out.append(Lever(name, p.units or "", lo, hi, float(p.value), step, p.comment or "", note))
    return out


def default_start_week(model: "Model") -> float:
    """Earliest ``from_week`` among the scenarios' changes, else the model's initial time."""
    weeks = [ch.from_week for sc in model.scenarios.values() for ch in sc.changes if ch.from_week is not None]
    return float(min(weeks)) if weeks else float(model.initial_time)


def scenario_settings(model: "Model", scenario: str | Scenario) -> tuple[dict[str, float], float | None]:
    """Lever values and start week of a scenario, to put the sliders where the scenario has them.

    Returns:
        ``({lever parameter: value}, start_week)``: every lever of :func:`levers`, at the
        scenario's value if it changes that lever, else at the model's default; ``start_week`` is
        the scenario's earliest ``from_week`` (``None`` if it changes nothing from a given week).
    """
    scen = resolve_scenario(model, scenario)
    values = {lv.parameter: lv.default for lv in levers(model)}
    for ch in scen.changes:
        values[ch.parameter] = float(ch.value)
    weeks = [c.from_week for c in scen.changes if c.from_week is not None]
    return values, (min(weeks) if weeks else None)


def matching_scenario(model: "Model", lever_values: Mapping[str, float], start_week: float | None) -> str | None:
    """Name of the model's scenario that these lever settings reproduce, or ``None``.

    A scenario matches when every lever is at the scenario's value (its default if the scenario
    leaves it alone) and, if the scenario changes anything from a given week, ``start_week`` is
    that week. The baseline matches any start week when every lever is at its default.
    """
    current = {lv.parameter: float(lever_values.get(lv.parameter, lv.default)) for lv in levers(model)}
    for name in model.scenarios:
        values, week = scenario_settings(model, name)
        if all(math.isclose(current[k], v, rel_tol=1e-9, abs_tol=1e-12) for k, v in values.items()):
            if week is None or (start_week is not None and math.isclose(float(start_week), week)):
                return name
    return None


def explored_scenario(model: "Model", lever_values: Mapping[str, float], start_week: float | None) -> Scenario:
    """The scenario behind an exploration: the baseline's own changes, then each lever set away
    from its default, from ``start_week`` on (from the start if ``None``).

    Raises:
        CxError: an unknown parameter, a value outside its declared range (the message names the
            lever), or a start week outside the run.
    """
    if start_week is not None:
        try:
            start = float(start_week)
        except (TypeError, ValueError):
            raise CxError(f"start week must be a number of weeks, got {start_week!r}") from None
        if not math.isfinite(start) or start < model.initial_time or start > model.final_time:
            raise CxError(f"start week {start_week!r} is outside the run "
                          f"[{model.initial_time:g}, {model.final_time:g}] weeks")
    else:
        start = None
    base = resolve_scenario(model, None)
    changes = list(base.changes)
    parts = []
    for name, value in lever_values.items():
        p = model.parameter(name, "lever")
        v = p.check(value, "lever")
        if v != p.value:
            changes.append(Change(p.name, v, start))
            parts.append(f"{p.name} = {v:g}")
    when = "" if start is None else f" from week {start:g}"
    desc = ("Explored policy: " + ", ".join(parts) + when) if parts else "Explored policy: no lever moved"
    return Scenario(EXPLORED, desc, tuple(changes))
