"""Summary metrics and the comparison of one trajectory against a baseline trajectory.

Pure functions on numpy arrays and DataFrames (no model, no plotting). Times are in weeks; every
value keeps the units of the variable it came from, except ``integral`` (units x weeks) and the
``*_pct`` fields (percent).

The *advantage* of a scenario over baseline at each saved time is::

    a(t) = s * (values(t) - baseline(t)),  s = +1 if higher is better, -1 if lower is better

so ``a > 0`` means the scenario is better than baseline at ``t`` whichever way "better" points.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import CxError
from ..model.scenarios import MetricSpec

#: Values accepted for ``how`` in :func:`metric_value`.
METRIC_KINDS = ("final", "mean", "max", "min", "integral")
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

    Each run is made contiguous so its sums are numpy's pairwise sums of one 1-D run: the result
    of a run does not depend on how many runs come with it.
    """
    v = np.ascontiguousarray(np.asarray(values, dtype=float).T)
    if how == "final":
        return v[:, -1].copy()
    if how == "mean":
        return v.mean(axis=1)
    if how == "max":
        return v.max(axis=1)
    if how == "min":
        return v.min(axis=1)
    if v.shape[1] < 2:
        return np.zeros(v.shape[0])
    return _trapezoid(v, times, axis=1)


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


def classify_trajectory(times, values, baseline_values, better: str = "lower",
                        rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> str:
    """Classify a scenario's trajectory against baseline's.

    Rule:

    1. Advantage ``a(t) = s * (values - baseline)`` with ``s = +1`` if ``better == "higher"``,
       ``-1`` if ``"lower"`` (so ``a > 0`` means better than baseline).
    2. Tolerance ``tol = max(rtol * max|baseline|, atol)``; a time point is *significant* when
       ``|a(t)| > tol`` (strictly).
    3. No significant point: ``"no change"``.
    4. Otherwise compare the *first* sign (sign of the first significant point) with the *final*
       sign (sign of ``a`` at the last saved time if that point is significant, else the sign of the
       last significant point):

       ======== ======== =========================
       first    final    class
       ======== ======== =========================
       ``+``    ``+``    ``"better"``
       ``-``    ``-``    ``"worse"``
       ``+``    ``-``    ``"better-before-worse"``
       ``-``    ``+``    ``"worse-before-better"``
       ======== ======== =========================

    Only the first and final signs matter: a trajectory that dips in between (``+ - +``) is
    ``"better"``; :func:`against_baseline` reports the dip as ``worst_shortfall``.

    Args:
        times: saved times in weeks (only checked for length and finiteness here).
        values: the scenario's trajectory of one variable.
        baseline_values: baseline's trajectory of the same variable at the same times.
        better: ``"lower"`` or ``"higher"``.
        rtol: tolerance as a fraction of the largest absolute baseline value (default 1%).
        atol: absolute floor of the tolerance (variable's units).

    Returns:
        One of :data:`CLASSES`.
    """
    _t, v, b = _arrays(times, values, baseline_values)
    a = advantage(v, b, better)
    tol = tolerance(b, rtol, atol)
    return _classify(a, tol)


def _classify(a: np.ndarray, tol: float) -> str:
    sig = np.abs(a) > tol
    if not sig.any():
        return "no change"
    first = a[int(np.argmax(sig))] > 0
    last = a[len(a) - 1 - int(np.argmax(sig[::-1]))] > 0
    if first and last:
        return "better"
    if not first and not last:
        return "worse"
    return "better-before-worse" if first else "worse-before-better"


def against_baseline(times, values, baseline_values, better: str = "lower",
                     rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> dict:
    """Numbers describing how a scenario fares against baseline on one variable.

    Uses the advantage ``a(t)`` and tolerance of :func:`classify_trajectory`.

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
            ``100 * final_advantage / |baseline final value|`` (percent; ``NaN`` if that is 0).
        ``classification``
            as :func:`classify_trajectory`.

    The signed change of the variable itself is ``s * advantage`` (``s = -1`` when lower is better),
    e.g. a backlog 500 tickets above baseline has an advantage of -500.
    """
    t, v, b = _arrays(times, values, baseline_values)
    a = advantage(v, b, better)
    tol = tolerance(b, rtol, atol)
    i_worst = int(np.argmin(a))
    if a[i_worst] < -tol:
        worst, worst_week = float(a[i_worst]), float(t[i_worst])
    else:
        worst, worst_week = 0.0, math.nan
    above = a > tol
    if above[-1]:
        not_above = np.flatnonzero(~above)
        start = 0 if not_above.size == 0 else int(not_above[-1]) + 1
        better_from = float(t[start])
    else:
        better_from = math.nan
    final = float(a[-1]) + 0.0  # no -0.0
    base_final = abs(float(b[-1]))
    pct = 100.0 * final / base_final + 0.0 if base_final > 0 else math.nan
    return dict(
        worst_shortfall=worst,
        worst_shortfall_week=worst_week,
        stays_better_from_week=better_from,
        final_advantage=final,
        final_advantage_pct=pct,
        classification=_classify(a, tol),
    )
