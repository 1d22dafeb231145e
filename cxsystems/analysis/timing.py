"""When must a policy start? A sweep of its start week against the scenarios it must beat.

::

    import cxsystems as cx
    from cxsystems.analysis.timing import start_week_sweep

    model = cx.load_model("cx_service")
    sweep = start_week_sweep(model, "structural_prevention")   # vs the baseline and its versus rivals
    sweep.latest_start_beating("baseline")        # e.g. 60.0: start by week 60 to beat the status quo
    sweep.latest_start_beating("reactive_hiring")
    sweep.summary                                 # one row per week tried

Shifting a scenario to week ``w`` moves every timed change (``from_week``) of the scenario to week
``w``; changes that hold from the start (no ``from_week``) are left alone. The scenarios it is
measured against run unshifted, as written. "Beats" uses the metric's direction (higher or lower is
better) and counts a difference within :data:`cxsystems.analysis.robustness.TIE_RTOL` as a tie (not
a win), as the robustness verdicts do.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import pandas as pd

from ..errors import CxError
from ..model.scenarios import Scenario, resolve_scenario
from ..model.specs import MetricSpec
from ..names import match
from ..simulation import DEFAULT_ENGINE, simulate
from .metrics import scenario_metrics
from .robustness import TIE_RTOL

if TYPE_CHECKING:  # pragma: no cover
    from ..model.loader import Model

#: Weeks between two start weeks tried by default.
DEFAULT_STEP = 4.0


def beats(value: float, other: float, better: str) -> bool:
    """Whether ``value`` is better than ``other`` (``better`` is ``"higher"`` or ``"lower"``), a
    difference within :data:`TIE_RTOL` of their size counting as a tie (not a win)."""
    diff = (value - other) if better == "higher" else (other - value)
    return diff > TIE_RTOL * max(abs(value), abs(other)) + 1e-300


@dataclass(frozen=True)
class TimingSweep:
    """The result of :func:`start_week_sweep`.

    Attributes:
        model_name: the model's name.
        scenario: the scenario whose timed changes were moved.
        own_start: the week its timed changes start in the scenario file.
        metric: the metric judged (its ``better`` says which way is better).
        weeks: the start weeks tried, ascending.
        values: the metric of the shifted scenario, one per week of :attr:`weeks`.
        references: scenario name -> its metric, run as written (the baseline first).
        baseline: the model's baseline (the first of :attr:`references`).
    """

    model_name: str
    scenario: str
    own_start: float
    metric: MetricSpec
    weeks: tuple[float, ...]
    values: tuple[float, ...]
    references: Mapping[str, float] = field(default_factory=dict)
    baseline: str = "baseline"

    def wins(self, other: str) -> tuple[bool, ...]:
        """Per week tried: does the shifted scenario beat ``other`` (one of :attr:`references`)?"""
        ref = self.references[self._other(other)]
        return tuple(beats(v, ref, self.metric.better) for v in self.values)

    def latest_start_beating(self, other: str) -> float | None:
        """The latest week it can start and still beat ``other``: the last of the weeks tried such
        that starting in it and in every earlier week tried beats ``other`` (``None`` when starting
        in the first week tried does not). A later week that wins again after a loss is not counted:
        "start by week N" must hold for every start up to N."""
        latest = None
        for week, won in zip(self.weeks, self.wins(other)):
            if not won:
                break
            latest = week
        return latest

    def next_week_tried(self, week: float | None) -> float | None:
        """The week tried after ``week`` (``None`` after the last one or for ``None``)."""
        if week is None:
            return None
        later = [w for w in self.weeks if w > week]
        return later[0] if later else None

    @property
    def latest_vs_baseline(self) -> float | None:
        """:meth:`latest_start_beating` the baseline."""
        return self.latest_start_beating(self.baseline)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per week tried (index ``start_week``): the metric, then ``beats <other>`` per reference."""
        table = pd.DataFrame({self.metric.name: list(self.values)},
                             index=pd.Index(list(self.weeks), name="start_week"))
        for other in self.references:
            table[f"beats {other}"] = list(self.wins(other))
        return table

    def _other(self, other: str) -> str:
        if other not in self.references:
            raise CxError(f"{other!r} was not in the sweep of {self.scenario!r}; "
                          f"it was measured against {', '.join(self.references)}")
        return other


def timed_start(scenario: Scenario) -> float:
    """The earliest ``from_week`` of a scenario's changes.

    Raises:
        CxError: the scenario has no timed change (nothing to move).
    """
    weeks = [c.from_week for c in scenario.changes if c.from_week is not None]
    if not weeks:
        raise CxError(f"scenario {scenario.name!r} has no change with a from_week, so it has no start week "
                      "to move; give a change a from_week in the scenario file")
    return min(weeks)


def shifted(scenario: Scenario, week: float) -> Scenario:
    """``scenario`` with every timed change starting in ``week`` (constant changes untouched)."""
    changes = tuple(c if c.from_week is None else dataclasses.replace(c, from_week=float(week))
                    for c in scenario.changes)
    return dataclasses.replace(scenario, changes=changes)


def default_weeks(start: float, final_time: float, step: float = DEFAULT_STEP) -> tuple[float, ...]:
    """``start, start + step, ...`` up to ``final_time`` (inclusive)."""
    n = int(math.floor((final_time - start) / step + 1e-9))
    return tuple(float(start + i * step) for i in range(n + 1))


def headline_metric(model: "Model", metric: str | None = None) -> MetricSpec:
    """The metric spec called ``metric`` (by name or label), default the model's headline metric
    (``[analysis] headline``, else its last metric).

    Raises:
        CxError: the model declares no metrics, or none of that name.
    """
    specs = tuple(getattr(model.analysis, "metrics", ()) or ())
    if not specs:
        raise CxError(f"model {model.name!r} declares no [metrics] in its scenario file; a sweep needs "
                      f"one{getattr(model, 'init_hint', '')}")
    name = metric or getattr(model.analysis, "headline", None) or specs[-1].name
    for m in specs:
        if name in (m.name, m.label):
            return m
    hit = match(name, [m.name for m in specs], what="metric", owner=f"model {model.name}", listing=True)
    return next(m for m in specs if m.name == hit)


def rivals_of(model: "Model", scenario: str) -> tuple[str, ...]:
    """The scenarios ``scenario`` is paired against in ``[analysis] versus`` (as the first of a pair)."""
    versus = tuple(getattr(model.analysis, "versus", ()) or ())
    return tuple(dict.fromkeys(b for a, b in versus if a == scenario))


def _check_weeks(model: "Model", weeks: Iterable[float]) -> tuple[float, ...]:
    out = []
    for w in weeks:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise CxError(f"start week {w!r} is not a number of weeks")
        if w < model.initial_time or w > model.final_time:
            raise CxError(f"start week {w:g} is outside the run [{model.initial_time:g}, "
                          f"{model.final_time:g}] weeks of model {model.name!r}")
        out.append(float(w))
    if not out:
        raise CxError("no start weeks to try")
    return tuple(sorted(set(out)))


def _metric_of(model: "Model", scenario: Scenario, spec: MetricSpec, engine: str) -> float:
    run = simulate(model, scenario, engine=engine, variables=[spec.variable])
    return float(scenario_metrics(run, [spec])[spec.name])


def start_week_sweep(model: "Model", scenario: str, *, against: Sequence[str] | None = None,
                     metric: str | None = None, weeks: Iterable[float] | None = None,
                     step: float = DEFAULT_STEP, engine: str = DEFAULT_ENGINE) -> TimingSweep:
    """Run ``scenario`` with its timed changes moved to each of ``weeks`` and measure ``metric``.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        scenario: the policy to move (a scenario name of the model with at least one ``from_week``).
        against: the scenarios it must beat, run as written; default the model's baseline and the
            rivals of ``scenario`` in ``[analysis] versus``. The baseline is always included, first.
        metric: a metric name or label (default the model's headline metric).
        weeks: the start weeks to try (within the run); default from the scenario's own start week
            to the end of the run every ``step`` weeks.
        step: weeks between two default start weeks.
        engine: simulation engine (see :func:`cxsystems.simulate`).

    Returns:
        A :class:`TimingSweep`; ``sweep.latest_start_beating(name)`` is the timing answer.

    Raises:
        CxError: an unknown scenario or metric, a scenario without a timed change, a week outside
            the run, a step that is not positive, or a failing simulation.
    """
    scen = resolve_scenario(model, scenario)
    own = timed_start(scen)
    spec = headline_metric(model, metric)
    if weeks is None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0:
            raise CxError(f"step must be a positive number of weeks, got {step!r}")
        weeks = default_weeks(own, model.final_time, float(step))
    tried = _check_weeks(model, weeks)
    others = [model.baseline, *(rivals_of(model, scen.name) if against is None else against)]
    chosen = {}
    for o in others:
        s = resolve_scenario(model, None if o == model.baseline else o)
        chosen.setdefault(s.name, s)
    names = list(chosen)
    references = {n: _metric_of(model, s, spec, engine) for n, s in chosen.items()}
    values = tuple(_metric_of(model, shifted(scen, w), spec, engine) for w in tried)
    return TimingSweep(model.name, scen.name, own, spec, tried, values, references, names[0])


__all__ = ["DEFAULT_STEP", "TimingSweep", "start_week_sweep", "shifted", "timed_start", "beats",
           "headline_metric", "rivals_of", "default_weeks"]
