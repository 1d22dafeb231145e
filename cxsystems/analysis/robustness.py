"""Robustness of policies across sampled worlds: who beats whom, how often, and at what regret.

Pure functions of an :class:`~cxsystems.analysis.ensemble.EnsembleResult` (every scenario run in
the same worlds)::

    res = cx.ensemble(model, n=2000, seed=0)
    cx.robustness(res)        # share of runs each scenario beats each other one, per metric
    cx.regret(res)            # how far each scenario falls short of the best, per run
    cx.verdicts(res)          # "structural_prevention beats reactive_hiring on ... in 85.2% of ..."
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from ..errors import CxError
from ..text import share as _pct

if TYPE_CHECKING:  # pragma: no cover
    from .ensemble import EnsembleResult

#: Two metric values closer than this (relative to their size) count as a tie.
TIE_RTOL = 1e-12


def _signed(res: EnsembleResult) -> np.ndarray:
    """Metric values oriented so that larger is better: (scenario, metric, run)."""
    sign = np.array([1.0 if m.better == "higher" else -1.0 for m in res.metrics])
    return res.metric_values * sign[None, :, None]


def _tie_tol(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return TIE_RTOL * np.maximum(np.abs(a), np.abs(b)) + 1e-300


def _head_to_head(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per run: is ``a`` better, tied, worse than ``b`` (both oriented so larger is better)."""
    diff = a - b
    tie = np.abs(diff) <= _tie_tol(a, b)
    return (diff > 0) & ~tie, tie, (diff < 0) & ~tie


def tail_risk(res: EnsembleResult) -> pd.DataFrame:
    """Per scenario and tail risk declared by the model (``[analysis] tail_risks``): the share of
    runs (worlds) that end in the tail, e.g. service collapse or a loss.

    Returns columns ``scenario, risk, label, metric, threshold, side, share, runs, n_runs`` (one
    row per scenario and risk; empty when the model declares none). Runs whose metric is NaN or
    infinite count as in the tail.
    """
    rows = []
    for risk in res.tail_risks:
        j = res.metric_index(risk.metric)
        for s, name in enumerate(res.scenarios):
            v = res.metric_values[s, j]
            side, threshold = ("above", risk.above) if risk.above is not None else ("below", risk.below)
            hit = ~np.isfinite(v) | ((v > threshold) if side == "above" else (v < threshold))
            rows.append((name, risk.name, risk.label, risk.metric, threshold, side, float(hit.mean()),
                         int(hit.sum()), res.n))
    return pd.DataFrame(rows, columns=["scenario", "risk", "label", "metric", "threshold", "side", "share",
                                       "runs", "n_runs"])


def tail_shares(res: EnsembleResult) -> pd.DataFrame:
    """:func:`tail_risk`'s shares as a table: one row per scenario (run order), one column per
    tail risk (declared order); empty when the model declares none."""
    tails = tail_risk(res)
    if not len(tails):
        return pd.DataFrame(index=pd.Index(res.scenarios, name="scenario"))
    wide = tails.pivot(index="scenario", columns="risk", values="share")
    wide = wide.loc[list(res.scenarios), [r.name for r in res.tail_risks]]
    wide.columns.name = None
    return wide


def robustness(res: EnsembleResult) -> pd.DataFrame:
    """For each metric and each ordered pair of scenarios, how often one beats the other.

    Returns a DataFrame with columns ``metric, label, better, scenario, other, share_better,
    share_tied, share_worse, n_runs``: ``share_better`` is the fraction of runs (worlds) in which
    ``scenario`` does better than ``other`` on ``metric`` (higher or lower, as the metric says).
    Values within ``TIE_RTOL`` of each other count as tied. For each tail risk of the model a column
    ``<risk>_share`` gives the share of worlds in that tail for ``scenario`` (see :func:`tail_risk`).
    """
    s = _signed(res)
    rows = []
    for j, m in enumerate(res.metrics):
        for a, na in enumerate(res.scenarios):
            for b, nb in enumerate(res.scenarios):
                if a == b:
                    continue
                better, tie, worse = _head_to_head(s[a, j], s[b, j])
                rows.append((m.name, m.label, m.better, na, nb, better.mean(), tie.mean(),
                             worse.mean(), res.n))
    out = pd.DataFrame(rows, columns=["metric", "label", "better", "scenario", "other", "share_better",
                                      "share_tied", "share_worse", "n_runs"])
    shares = tail_shares(res)
    for risk in shares.columns:  # the share of worlds in each tail, of the row's scenario
        out[f"{risk}_share"] = out["scenario"].map(shares[risk])
    return out


def regret(res: EnsembleResult) -> pd.DataFrame:
    """Regret of each scenario on each metric: how far it falls short of the best scenario in the
    same world (in the metric's units, always >= 0).

    Returns columns ``metric, label, units, scenario, mean_regret, p90_regret, max_regret,
    share_best`` (share of runs in which the scenario is the best or tied best).
    """
    s = _signed(res)
    best = s.max(axis=0)  # (metric, run)
    r = best[None] - s  # (scenario, metric, run), >= 0
    rows = []
    for j, m in enumerate(res.metrics):
        for a, na in enumerate(res.scenarios):
            ra = r[a, j]
            tied_best = ra <= _tie_tol(best[j], s[a, j])
            rows.append((m.name, m.label, m.units, na, ra.mean(), np.quantile(ra, 0.9), ra.max(),
                         tied_best.mean()))
    return pd.DataFrame(rows, columns=["metric", "label", "units", "scenario", "mean_regret", "p90_regret",
                                       "max_regret", "share_best"])


def verdict(res: EnsembleResult, scenario: str, other: str, metric: str) -> str:
    """One sentence: how often ``scenario`` beats ``other`` on ``metric``."""
    for name in (scenario, other):
        if name not in res.scenarios:
            raise CxError(f"unknown scenario {name!r}; the ensemble has {', '.join(res.scenarios)}")
    j = res.metric_index(metric)
    m = res.metrics[j]
    s = _signed(res)
    a, b = res.scenarios.index(scenario), res.scenarios.index(other)
    better, tie, worse = _head_to_head(s[a, j], s[b, j])
    won, lost = better.mean(), worse.mean()
    label = m.label[:1].lower() + m.label[1:] if m.label[:2] != m.label[:2].upper() else m.label
    text = f"{scenario} beats {other} on {label} in {_pct(won)} of {res.n:,} runs"
    if won < 0.5:
        text += f" ({other} does better in {_pct(lost)})"
    if tie.any():
        text += f"; tied in {_pct(tie.mean())}"
    return text


def verdicts(res: EnsembleResult, metric: str | None = None,
             pairs: Sequence[tuple[str, str]] | None = None) -> list[str]:
    """Head-to-head verdicts on ``metric`` (default the model's headline metric) for ``pairs``
    (default the model's ``versus`` pairs, else every scenario against the baseline)."""
    metric = metric or res.headline or res.metrics[-1].name
    if pairs is None:
        pairs = res.versus or tuple((s, res.baseline) for s in res.scenarios if s != res.baseline)
    return [verdict(res, a, b, metric) for a, b in pairs]


def most_often_best(res: EnsembleResult) -> pd.DataFrame:
    """Per metric, the scenario that is best in the largest share of runs (ties share the win)."""
    g = regret(res)
    idx = g.groupby("metric", sort=False)["share_best"].idxmax()
    return g.loc[idx, ["metric", "label", "units", "scenario", "share_best", "mean_regret"]].reset_index(drop=True)


__all__ = ["TIE_RTOL", "robustness", "regret", "tail_risk", "tail_shares", "verdict", "verdicts", "most_often_best"]
