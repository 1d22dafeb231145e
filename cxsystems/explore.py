"""Policy levers and one-call re-simulation for interactive exploration (e.g. notebook sliders).

A *lever* is a parameter that some scenario of the model sets: moving levers and choosing the week
the policy starts defines a new scenario, which is simulated and compared with the baseline::

    import cxsystems as cx
    from cxsystems.explore import levers, explore_run

    model = cx.load_model("cx_service")
    for lv in levers(model):                       # Extra Headcount Fraction, ...
        print(lv.parameter, lv.min, lv.max, lv.default, lv.step)
    run, base, classes = explore_run(model, {"Prevention Incentive": 1}, start_week=16)
    classes["Ticket Backlog"]                      # 'worse-before-better'

The widgets live in the notebook (``notebooks/06_explorer.ipynb``); this module imports neither
ipywidgets nor matplotlib. One exploration costs two engine runs (about 25 ms each for
``cx_service``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import pandas as pd

from .errors import CxError
from .metrics import DEFAULT_RTOL, classify_trajectory
from .scenarios import Change, Scenario
from .simulation import resolve_scenario, simulate

if TYPE_CHECKING:  # pragma: no cover
    from .compare import Comparison
    from .loading import Model

#: Name of the scenario an exploration builds.
EXPLORED = "explored"
#: Slider positions across a lever's range, at most (the step is a round number giving about this many).
_STEPS = 50


@dataclass(frozen=True)
class Lever:
    """A policy lever: a parameter set by at least one scenario of the model.

    Attributes:
        parameter: the parameter's name in the model.
        units: its units as declared in the model (``Dmnl`` for fractions).
        min, max: the range a slider offers (the declared range; when the model declares none, a
            range spanning the model's value and every scenario's value).
        default: the model's own value (what the baseline uses).
        step: a round slider step that hits the default and every scenario's value.
        comment: the model's comment on the parameter.
    """

    parameter: str
    units: str
    min: float
    max: float
    default: float
    step: float
    comment: str = ""


def _nice_step(span: float, values: list[float], low: float) -> float:
    """Round step (1, 2 or 5 x 10^k) of about ``span / _STEPS`` that lands on every value in ``values``."""
    if not span > 0:
        return 1.0
    target = span / _STEPS
    k = math.floor(math.log10(target))
    candidates = [m * 10.0 ** e for e in range(k, k - 4, -1) for m in (5, 2, 1)]
    candidates = [c for c in candidates if c <= target * 1.0000001]
    for c in candidates:
        if all(abs((v - low) / c - round((v - low) / c)) < 1e-6 for v in values):
            return float(f"{c:.12g}")
    return float(f"{candidates[-1]:.12g}")


def levers(model: "Model") -> list["Lever"]:
    """The policy levers of ``model``: every parameter some scenario changes, in order of appearance.

    Ranges and units come from ``model.parameters``; a parameter without a declared bound gets one
    from its value and the scenarios' values (twice the largest magnitude, at least 1).
    """
    names: dict[str, list[float]] = {}
    for scen in model.scenarios.values():
        for ch in scen.changes:
            names.setdefault(ch.parameter, []).append(float(ch.value))
    out = []
    for name, values in names.items():
        p = model.parameters[name]
        default = float(p.value)
        seen = [default, *values]
        reach = max(1.0, 2.0 * max(abs(v) for v in seen))
        lo = float(p.min) if not math.isnan(p.min) else (0.0 if min(seen) >= 0 else -reach)
        hi = float(p.max) if not math.isnan(p.max) else reach
        out.append(Lever(name, p.units, lo, hi, default, _nice_step(hi - lo, seen, lo), p.comment))
    return out


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
    base = resolve_scenario(model, _baseline_name(model))
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


def _baseline_name(model: "Model") -> str:
    return getattr(getattr(model, "analysis", None), "baseline", None) or "baseline"


def _outcome_specs(model: "Model"):
    from .compare import _outcomes

    return _outcomes(model)


def _kept_variables(model: "Model") -> list[str]:
    analysis = getattr(model, "analysis", None)
    keep = [o.variable for o in _outcome_specs(model)]
    keep += [m.variable for m in getattr(analysis, "metrics", ()) or ()]
    classify = getattr(analysis, "classify", None)
    if classify:
        keep.append(model.variable(classify, "classify"))
    return [v for v in dict.fromkeys(keep) if v not in model.lookups]


def explore_run(model: "Model", lever_values: Mapping[str, float], start_week: float | None = None,
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Simulate the levers at ``lever_values`` from ``start_week`` and classify against baseline.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        lever_values: ``{parameter name: value}``; levers left out (or at their default) stay as
            the model has them. Any model parameter is accepted, not only :func:`levers`.
        start_week: week the moved levers take effect (``None``: from the start).

    Returns:
        ``(run, baseline, classifications)``: the explored run and the baseline run (index
        ``time`` in weeks, columns the key outcomes and the metric variables), and
        ``{outcome variable: class}`` with the classes of
        :func:`cxsystems.metrics.classify_trajectory` (same tolerance as :func:`cxsystems.compare`).

    Raises:
        CxError: see :func:`explored_scenario`.
    """
    scen = explored_scenario(model, lever_values, start_week)
    keep = _kept_variables(model)
    run = simulate(model, scen, variables=keep)
    base = simulate(model, _baseline_name(model), variables=keep)
    rtol = getattr(getattr(model, "analysis", None), "rtol", DEFAULT_RTOL)
    times = run.index.to_numpy(dtype=float)
    classes = {o.variable: classify_trajectory(times, run[o.variable].to_numpy(), base[o.variable].to_numpy(),
                                               o.better, rtol=rtol)
               for o in _outcome_specs(model)}
    return run, base, classes


def explore_comparison(model: "Model", lever_values: Mapping[str, float],
                       start_week: float | None = None) -> "Comparison":
    """The exploration as a :class:`cxsystems.Comparison` (baseline and ``"explored"``), so that its
    ``.summary``, ``.describe("explored")`` and ``.plot()`` (dashboard) work as for :func:`compare`."""
    import dataclasses

    from .compare import compare

    cmp = compare(model, [explored_scenario(model, lever_values, start_week)])
    # the explored policy takes the first scenario colour, not the one after all the model's scenarios
    return dataclasses.replace(cmp, color_order=(cmp.baseline, EXPLORED))


def classification_line(model: "Model", classifications: Mapping[str, str]) -> str:
    """One line: each key outcome's label and its class, e.g. ``Ticket backlog: worse-before-better``."""
    labels = {o.variable: o.label for o in _outcome_specs(model)}
    return "; ".join(f"{labels.get(v, v)}: {c}" for v, c in classifications.items())
