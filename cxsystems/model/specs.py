"""What a model's scenario file declares for analysis: metrics, key outcomes and settings.

Frozen dataclasses read by :mod:`cxsystems.model.scenarios` from ``[metrics]``, ``[[outcomes]]``
and ``[analysis]``, and used by every analysis (comparison, ensembles, pages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

#: Name of the baseline scenario when a scenario file does not name one (``[analysis] baseline``).
DEFAULT_BASELINE = "baseline"


@dataclass(frozen=True)
class MetricSpec:
    """How a summary metric is computed from one variable's trajectory.

    ``how`` is one of ``final``, ``mean``, ``max``, ``min`` or ``integral`` (trapezoid over the
    saved times, in the variable's units times weeks). ``better`` is ``lower`` or ``higher``.
    ``percent``: the value is a fraction, shown times 100 with a % sign.
    """

    name: str
    variable: str
    how: str
    better: str
    units: str = ""
    label: str = ""
    percent: bool = False


@dataclass(frozen=True)
class OutcomeSpec:
    """A key outcome charted and classified against baseline.

    ``judge`` is the metric of the trajectory (``final``, ``mean``, ``integral``, ``max`` or ``min``)
    that settles a trajectory which is better for a while and worse for a while and ends on the side
    it started: ``final`` suits cumulative quantities (cumulative profit), ``mean`` rates and levels.
    ``percent``: the variable is a fraction, shown times 100 with a % sign (``percent = true``).
    ``view``: ``level`` charts every scenario's value; ``difference`` charts each scenario's
    difference from the baseline (for cumulative quantities, whose levels overlap).
    """

    variable: str
    better: str
    label: str
    units: str = ""
    judge: str = "mean"
    percent: bool = False
    view: str = "level"


@dataclass(frozen=True)
class TailRisk:
    """A bad outcome whose share of sampled worlds robustness reports: a metric beyond a threshold.

    ``above`` or ``below`` is set (not both). A run whose metric is NaN or infinite (a world in which
    the model breaks down, kept with ``allow_nonfinite``) counts as in the tail.
    """

    name: str
    metric: str
    label: str
    above: float | None = None
    below: float | None = None

    def describe(self) -> str:
        """``'peak_wait above 8'``."""
        return f"{self.metric} above {self.above:g}" if self.above is not None else f"{self.metric} below {self.below:g}"


@dataclass(frozen=True)
class Disturbance:
    """The event every scenario faces (``[analysis] disturbance = { week = 8, label = "product
    launch" }``), marked on every chart so a reader sees what sets the story off."""

    week: float
    label: str


@dataclass(frozen=True)
class ContactPart:
    """One kind of contact in a model's contact mix (``[contact_mix] parts``).

    ``avoidable``: contacts of this kind would not happen if the organisation got things right
    (failure demand: repeat contacts, chasers; contacts caused by problems and defects).
    """

    variable: str
    label: str
    avoidable: bool


@dataclass(frozen=True)
class AnalysisSpec:
    """Model-level settings for comparisons and ensembles.

    ``rtol``: classification tolerance, a fraction of the baseline's largest absolute value.
    ``uncertain``: the ``[uncertain]`` parameters sampled by :func:`cxsystems.analysis.ensemble.ensemble`.
    ``headline``: the metric robustness verdicts lead with (``[analysis] headline``; default the
    last metric). ``versus``: scenario pairs ``(a, b)`` whose head-to-head verdicts matter most
    (``[analysis] versus = [["a", "b"], ...]``; default every scenario against the baseline).
    ``tail_risks``: bad outcomes whose share of worlds robustness reports (``[analysis] tail_risks =
    [{ name = "collapse", metric = "peak_wait", above = 8, label = "..." }, ...]``; default none).
    ``disturbance``: the event all scenarios face, marked on charts (default none).
    ``title``: the model's name for people (top-level ``title = "..."``; default none, then views use
    the model's file name). ``contact_mix``: the parts contact volume is made of, in stacking order
    (``[contact_mix] parts = [{ variable = "...", label = "...", avoidable = true }, ...]``; default
    none, then no contact-mix chart).
    """

    metrics: tuple[MetricSpec, ...] = ()
    outcomes: tuple[OutcomeSpec, ...] = ()
    classify: str | None = None
    baseline: str = DEFAULT_BASELINE
    rtol: float = 0.01
    extra: Mapping[str, Any] = field(default_factory=dict)
    uncertain: tuple = ()
    headline: str | None = None
    versus: tuple[tuple[str, str], ...] = ()
    tail_risks: tuple[TailRisk, ...] = ()
    disturbance: Disturbance | None = None
    title: str = ""
    contact_mix: tuple[ContactPart, ...] = ()
