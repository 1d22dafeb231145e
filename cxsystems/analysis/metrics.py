"""Summary metrics and the comparison of one trajectory against a baseline trajectory.

Pure functions on numpy arrays and DataFrames (no model, no plotting). Times are in weeks; every
value keeps the units of the variable it came from, except ``integral`` (units x weeks) and the
``*_pct`` fields (percent).

The *advantage* of a scenario over baseline at each saved time is::

    a(t) = s * (values(t) - baseline(t)),  s = +1 if higher is better, -1 if lower is better

so ``a > 0`` means the scenario is better than baseline at ``t`` whichever way "better" points. Every
advantage this package reports (``final_advantage``, ``judged_advantage``, their ``_pct`` forms,
``worst_shortfall``) follows that one convention: positive is better for the organisation.

:func:`read_trajectory` reads a trajectory against the baseline's as *phases* (runs of significant
advantage of one sign) and a *judged* advantage (the outcome's declared metric), and classifies it;
``cxsystems/pages/vendor/cx_reading.js`` is the same rule in JavaScript for the workshop page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import CxError
from ..model.specs import MetricSpec
from ..text import plain, share, short_number, time_words

#: Values accepted for ``how`` in :func:`metric_value`.
METRIC_KINDS = ("final", "mean", "max", "min", "integral")
#: The metric that settles a mixed trajectory when an outcome declares no ``judge``.
DEFAULT_JUDGE = "mean"
#: The five trajectory classes returned by :func:`classify_trajectory`.
CLASSES = ("better", "worse", "better-before-worse", "worse-before-better", "no change")
#: Default relative tolerance of :func:`classify_trajectory` (fraction of max |baseline|).
DEFAULT_RTOL = 0.01
#: Absolute floor of the tolerance, so an all-zero baseline still has a (tiny) tolerance.
DEFAULT_ATOL = 1e-12

_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


def _arrays(*arrays, names=("times", "values", "baseline_values")) -> list[np.ndarray]:
    """Convert to 1-D float arrays of one common, non-zero length with finite values."""
    out = [np.asarray(a, dtype=float).reshape(-1) for a in arrays]
    n = len(out[0])
    if n == 0:
        raise CxError(f"{names[0]} is empty: need at least one saved time")
    for name, a in zip(names, out):
        if len(a) != n:
            raise CxError(f"{name} has {len(a)} points but {names[0]} has {n}")
        bad = ~np.isfinite(a)
        if bad.any():
            i = int(np.argmax(bad))
            where = f" at week {out[0][i]:g}" if name != names[0] and np.isfinite(out[0][i]) else ""
            raise CxError(f"{name} has a non-finite value ({a[i]}){where}")
    return out


def _sign(better: str) -> float:
    if better == "higher":
        return 1.0
    if better == "lower":
        return -1.0
    raise CxError(f"better = {better!r}; use 'lower' or 'higher'")


def metric_value(times, values, how: str) -> float:
    """One number summarising a trajectory.

    Args:
        times: saved times in weeks (increasing).
        values: the variable at those times.
        how: ``final`` (last value), ``mean`` (plain mean over the saved points), ``max``, ``min``,
            or ``integral`` (trapezoid rule over the saved times: units x weeks; 0 for one point).

    Raises:
        CxError: unknown ``how``, mismatched lengths, empty or non-finite input.
    """
    if how not in METRIC_KINDS:
        raise CxError(f"how = {how!r}; use {', '.join(METRIC_KINDS)}")
    t, v = _arrays(times, values, names=("times", "values"))
    return float(metric_values(t, v[:, None], how)[0])


def metric_values(times: np.ndarray, values: np.ndarray, how: str) -> np.ndarray:
    """:func:`metric_value` of many runs at once, unchecked: ``values`` (times, runs) -> (runs,).

    Each run is reduced contiguous, on its own (numpy's pairwise sums, and its order of comparing,
    for one 1-D run): the result of a run does not depend on how many runs come with it, to the bit.
    """
    return metric_table(times, values, (how,))[0]


def metric_table(times: np.ndarray, values: np.ndarray, hows: Sequence[str]) -> np.ndarray:
    """:func:`metric_values` of several metrics of one variable, unchecked: ``values`` (times, runs)
    -> (len(hows), runs), the same numbers bit for bit.

    ``final`` reads the last saved time in place; the other metrics share one transposed copy of
    the runs (made once, and only when one of them is asked).
    """
    values = np.asarray(values, dtype=float)
    out = np.empty((len(hows), values.shape[1]))
    rows = None  # (runs, times), each run contiguous
    for k, how in enumerate(hows):
        if how == "final":
            out[k] = values[-1]
            continue
        if how == "integral" and values.shape[0] < 2:
            out[k] = 0.0
            continue
        if rows is None:
            rows = np.ascontiguousarray(values.T)
        if how == "mean":
            out[k] = rows.mean(axis=1)
        elif how == "max":
            out[k] = rows.max(axis=1)
        elif how == "min":
            out[k] = rows.min(axis=1)
        else:
            out[k] = _trapezoid(rows, times, axis=1)
    return out


def scenario_metrics(df: pd.DataFrame, specs: Sequence[MetricSpec]) -> dict[str, float]:
    """Compute every metric in ``specs`` from one run.

    Args:
        df: a run as returned by :func:`cxsystems.simulate` (index = time in weeks, one column per
            variable).
        specs: the metrics (name, variable, how).

    Returns:
        ``{spec.name: value}`` in the order of ``specs``.

    Raises:
        CxError: a metric names a variable that is not a column of ``df``.
    """
    times = np.asarray(df.index, dtype=float)
    out: dict[str, float] = {}
    for spec in specs:
        if spec.variable not in df.columns:
            raise CxError(f"metric {spec.name!r}: variable {spec.variable!r} is not in the results")
        try:
            out[spec.name] = metric_value(times, df[spec.variable].to_numpy(dtype=float), spec.how)
        except CxError as exc:
            raise CxError(f"metric {spec.name!r} ({spec.variable}): {exc}") from None
    return out


def advantage(values, baseline_values, better: str = "lower") -> np.ndarray:
    """``s * (values - baseline_values)``: positive where the scenario is better than baseline."""
    v = np.asarray(values, dtype=float)
    b = np.asarray(baseline_values, dtype=float)
    return _sign(better) * (v - b)


def tolerance(baseline_values, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> float:
    """Smallest advantage that counts: ``max(rtol * max|baseline|, atol)``, in the variable's units."""
    b = np.asarray(baseline_values, dtype=float)
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return max(rtol * scale, atol)


#: What each ``judge`` is called in a description ("judged on the mean").
JUDGE_WORDS = {"final": "the final value", "mean": "the mean", "integral": "the total",
               "max": "the maximum", "min": "the minimum"}


def check_judge(judge: str) -> str:
    """``judge`` if it is one of :data:`METRIC_KINDS`, else a :class:`CxError` naming them."""
    if judge not in METRIC_KINDS:
        raise CxError(f"judge = {judge!r}; use {', '.join(METRIC_KINDS)}")
    return judge


@dataclass(frozen=True)
class Phase:
    """A maximal run of significant points of one sign (insignificant points inside do not split it).

    ``peak`` is the largest ``|a(t)|`` in the phase (variable's units), at ``peak_week`` (the first
    one if tied); ``peak_pct`` is ``100 * peak / |baseline(peak_week)|`` (NaN where that is 0).
    """

    better: bool
    start_week: float
    end_week: float
    peak: float
    peak_week: float
    peak_pct: float

    @property
    def sign(self) -> int:
        """``+1`` for a better phase, ``-1`` for a worse one."""
        return 1 if self.better else -1

    def text(self, time_unit: str = "week") -> str:
        """``'worse weeks 17-33'`` (``'better week 40'`` for a one-point phase; ``time_unit`` as the
        model writes it, ``'worse months 3-8'`` for ``"Month"``)."""
        word = "better" if self.better else "worse"
        one, many = time_words(time_unit)
        if self.start_week == self.end_week:
            return f"{word} {one} {plain(self.start_week)}"
        return f"{word} {many} {plain(self.start_week)}-{plain(self.end_week)}"


@dataclass(frozen=True)
class Reading:
    """How a scenario's trajectory of one outcome fares against the baseline's (see
    :func:`read_trajectory` for the rule). Advantages are positive when the scenario is better for
    the organisation, whichever way "better" points; percentages are of the baseline's magnitude."""

    classification: str
    phases: tuple[Phase, ...]
    tolerance: float
    rtol: float
    judge: str
    judged_advantage: float
    judged_advantage_pct: float
    judged_tolerance: float
    final_advantage: float
    final_advantage_pct: float
    worst_shortfall: float
    worst_shortfall_week: float
    stays_better_from_week: float

    @property
    def judged_significant(self) -> bool:
        """``|judged_advantage|`` beyond the tolerance (times the run's length for ``integral``)."""
        return abs(self.judged_advantage) > self.judged_tolerance

    @property
    def final_significant(self) -> bool:
        """The last saved point is beyond the tolerance."""
        return abs(self.final_advantage) > self.tolerance

    def phases_text(self, time_unit: str = "week") -> str:
        """``'worse weeks 17-32, better weeks 34-75, worse weeks 144-156'`` (``''`` if none)."""
        return ", ".join(p.text(time_unit) for p in self.phases)

    def judged_text(self, units: str = "") -> str:
        """``'judged on the mean: 4.5% better'`` (``', within tolerance'`` added when not significant)."""
        judged_units = _integral_units(units) if self.judge == "integral" else units
        amount = _amount(self.judged_advantage, self.judged_advantage_pct, judged_units)
        text = f"judged on {JUDGE_WORDS[self.judge]}: {amount}"
        if amount != "level with the baseline" and not self.judged_significant:
            text += ", within tolerance"
        return text

    def end_text(self, units: str = "") -> str:
        """``'ends 9.1% worse'``, ``'ends 2.2% worse, within tolerance'`` or ``'ends level with the baseline'``."""
        final = _amount(self.final_advantage, self.final_advantage_pct, units)
        if final == "level with the baseline":
            return "ends level with the baseline"
        return f"ends {final}" + ("" if self.final_significant else ", within tolerance")

    def details(self, units: str = "", time_unit: str = "week") -> str:
        """The description inside the brackets of :meth:`line`, e.g. ``'judged on the mean: 4.5% better;
        worse weeks 17-32, better weeks 34-75, worse weeks 144-156; ends 9.1% worse'``.

        ``units`` (already readable, see :func:`cxsystems.text.pretty_units`) are used only where a
        percentage is undefined (a baseline at zero); ``time_unit`` names the phases' times.
        """
        if self.classification == "no change":
            return f"within {plain(100 * self.rtol)}% of the baseline's largest value throughout"
        return f"{self.judged_text(units)}; {self.phases_text(time_unit)}; {self.end_text(units)}"

    def line(self, label: str, units: str = "", time_unit: str = "week") -> str:
        """``'better-before-worse on Wait time (judged on the mean: 4.5% better; ...; ends 9.1% worse)'``."""
        return f"{self.classification} on {label} ({self.details(units, time_unit)})"

    def as_dict(self, time_unit: str = "week") -> dict:
        """The fields of :func:`against_baseline` (``phases`` worded in ``time_unit``)."""
        return dict(
            worst_shortfall=self.worst_shortfall,
            worst_shortfall_week=self.worst_shortfall_week,
            stays_better_from_week=self.stays_better_from_week,
            final_advantage=self.final_advantage,
            final_advantage_pct=self.final_advantage_pct,
            judge=self.judge,
            judged_advantage=self.judged_advantage,
            judged_advantage_pct=self.judged_advantage_pct,
            phases=self.phases_text(time_unit),
            classification=self.classification,
        )


def _amount(adv: float, pct: float, units: str) -> str:
    """``'4.6% better'`` / ``'1,234 tickets worse'`` (when the percentage is undefined) /
    ``'level with the baseline'`` (an advantage of exactly 0)."""
    if adv == 0:
        return "level with the baseline"
    word = "better" if adv > 0 else "worse"
    if math.isfinite(pct):
        return f"{share(abs(pct) / 100)} {word}"
    return f"{short_number(abs(adv))}{' ' + units if units else ''} {word}"


def _integral_units(units: str) -> str:
    """Units of a trajectory's integral: ``tickets/week`` -> ``tickets``, ``hours`` -> ``hours x weeks``."""
    u = (units or "").strip()
    if u.lower().endswith("/week"):
        return u[:-5].strip()
    return f"{u} x weeks" if u else "weeks"


def _phases(t: np.ndarray, a: np.ndarray, b: np.ndarray, tol: float) -> tuple[Phase, ...]:
    out: list[list] = []  # [better, first index, last index, peak index]
    for i in np.flatnonzero(np.abs(a) > tol):
        i = int(i)
        pos = bool(a[i] > 0)
        if out and out[-1][0] == pos:
            ph = out[-1]
            ph[2] = i
            if abs(a[i]) > abs(a[ph[3]]):
                ph[3] = i
        else:
            out.append([pos, i, i, i])
    phases = []
    for pos, i0, i1, k in out:
        peak = abs(float(a[k]))
        base = abs(float(b[k]))
        phases.append(Phase(pos, float(t[i0]), float(t[i1]), peak, float(t[k]),
                            100.0 * peak / base if base > 0 else math.nan))
    return tuple(phases)


def _class_of(phases: Sequence[Phase], judged_better: bool | None) -> str:
    """The class from the phases and the judged advantage's sign (``None``: not significant)."""
    if not phases:
        return "no change"
    if all(p.better for p in phases):
        return "better"
    if not any(p.better for p in phases):
        return "worse"
    first, final = phases[0].better, phases[-1].better
    if first != final:
        return "worse-before-better" if final else "better-before-worse"
    judged = final if judged_better is None else judged_better
    if judged == final:
        return "better" if final else "worse"
    return "better-before-worse" if judged else "worse-before-better"


def read_trajectory(times, values, baseline_values, better: str = "lower", judge: str = DEFAULT_JUDGE,
                    rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> Reading:
    """Read a scenario's trajectory of one outcome against the baseline's.

    Rule:

    1. Advantage ``a(t) = s * (values - baseline)``, ``s = +1`` if ``better == "higher"``, ``-1`` if
       ``"lower"``: ``a > 0`` means better for the organisation.
    2. Tolerance ``tol = max(rtol * max|baseline|, atol)``; a point is *significant* when
       ``|a(t)| > tol`` (strictly).
    3. *Phases*: maximal runs of significant points of one sign; insignificant points between two
       runs of the same sign do not split them.
    4. The *judged advantage*: ``s * (M(values) - M(baseline))`` with ``M`` the outcome's ``judge``
       metric (:func:`metric_value`: ``final``, ``mean``, ``integral``, ``max`` or ``min``),
       significant beyond ``tol`` (``tol`` times the run's length in weeks for ``integral``).
    5. Class: no significant point: ``"no change"``; only better points: ``"better"``; only worse
       points: ``"worse"``. Otherwise, with *first* the sign of the first phase and *final* the sign
       at the last saved time if significant, else of the last phase:

       - *first* != *final*: ``"worse-before-better"`` if *final* is better, else
         ``"better-before-worse"``;
       - *first* == *final* (an opposite phase in between): the judged advantage decides. If its
         sign (or *final* when it is not significant) equals *final*, the class is *final*'s
         (``"better"`` or ``"worse"``); otherwise ``"better-before-worse"`` (judged better, ends
         worse) or ``"worse-before-better"`` (judged worse, ends better).

    So a trajectory that ends worse is never ``"better"``, and a late drift does not turn a long
    advantage into ``"worse"``. ``cxsystems/pages/vendor/cx_reading.js`` is the same rule in
    JavaScript (tests compare the two).

    Args:
        times: saved times in weeks (increasing).
        values: the scenario's trajectory of one variable.
        baseline_values: baseline's trajectory of the same variable at the same times.
        better: ``"lower"`` or ``"higher"``.
        judge: the metric that settles a mixed trajectory (default ``"mean"``).
        rtol: tolerance as a fraction of the largest absolute baseline value (default 1%).
        atol: absolute floor of the tolerance (variable's units).

    Raises:
        CxError: bad ``better`` or ``judge``, mismatched lengths, empty or non-finite input.
    """
    check_judge(judge)
    t, v, b = _arrays(times, values, baseline_values)
    s = _sign(better)
    a = s * (v - b)
    tol = tolerance(b, rtol, atol)
    phases = _phases(t, a, b, tol)
    # the judged metric of both runs in one call (each run summed on its own, as metric_value does)
    mv, mb = metric_values(t, np.stack([v, b], axis=1), judge)
    judged = s * (float(mv) - float(mb)) + 0.0
    judged_tol = tol * (float(t[-1] - t[0])) if judge == "integral" else tol
    judged_pct = 100.0 * judged / abs(float(mb)) + 0.0 if float(mb) != 0 else math.nan
    judged_better = None if abs(judged) <= judged_tol else judged > 0
    i_worst = int(np.argmin(a))
    if a[i_worst] < -tol:
        worst, worst_week = float(a[i_worst]), float(t[i_worst])
    else:
        worst, worst_week = 0.0, math.nan
    above = a > tol
    if above[-1]:
        not_above = np.flatnonzero(~above)
        better_from = float(t[0 if not_above.size == 0 else int(not_above[-1]) + 1])
    else:
        better_from = math.nan
    final = float(a[-1]) + 0.0  # no -0.0
    base_final = abs(float(b[-1]))
    return Reading(
        classification=_class_of(phases, judged_better),
        phases=phases,
        tolerance=tol,
        rtol=rtol,
        judge=judge,
        judged_advantage=judged,
        judged_advantage_pct=judged_pct,
        judged_tolerance=judged_tol,
        final_advantage=final,
        final_advantage_pct=100.0 * final / base_final + 0.0 if base_final > 0 else math.nan,
        worst_shortfall=worst,
        worst_shortfall_week=worst_week,
        stays_better_from_week=better_from,
    )


def classify_trajectory(times, values, baseline_values, better: str = "lower",
                        rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                        judge: str = DEFAULT_JUDGE) -> str:
    """The class of a scenario's trajectory against baseline's: one of :data:`CLASSES`, by the rule
    of :func:`read_trajectory` (phases of significant advantage, the judged metric for a mixed one)."""
    return read_trajectory(times, values, baseline_values, better, judge, rtol, atol).classification


def against_baseline(times, values, baseline_values, better: str = "lower",
                     rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                     judge: str = DEFAULT_JUDGE) -> dict:
    """Numbers describing how a scenario fares against baseline on one variable.

    Uses the advantage ``a(t)`` (positive = better for the organisation), the tolerance and the
    rule of :func:`read_trajectory`.

    Returns:
        A dict with

        ``worst_shortfall``
            the most negative advantage (variable's units; negative = worse than baseline), or
            ``0.0`` if the scenario is never worse by more than the tolerance.
        ``worst_shortfall_week``
            the week of that worst point (first one if tied); ``NaN`` if never worse.
        ``stays_better_from_week``
            the earliest saved week from which the advantage stays above the tolerance until the
            end; ``NaN`` if the scenario does not end better.
        ``final_advantage``
            ``a`` at the last saved time (variable's units; positive = better).
        ``final_advantage_pct``
            ``100 * final_advantage / |baseline final value|`` (percent, positive = better; ``NaN``
            if that is 0).
        ``judge``
            the metric the judged advantage uses (``final``, ``mean``, ``integral``, ``max``, ``min``).
        ``judged_advantage``
            ``s * (judge(values) - judge(baseline))`` (positive = better).
        ``judged_advantage_pct``
            ``100 * judged_advantage / |judge(baseline)|`` (percent; ``NaN`` if that is 0).
        ``phases``
            the phases as text, e.g. ``"worse weeks 18-27, better weeks 30-156"`` (``""`` if none).
        ``classification``
            as :func:`classify_trajectory`.

    The signed change of the variable itself is ``s * advantage`` (``s = -1`` when lower is better),
    e.g. a backlog 500 tickets above baseline has an advantage of -500.
    """
    return read_trajectory(times, values, baseline_values, better, judge, rtol, atol).as_dict()
