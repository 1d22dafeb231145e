"""A loop-dominance chart in the manner of Stella's: the outcome on top, below it the relative
scores of the loops of the outcome's cycle partition stacked over time, reinforcing loops (positive
scores, warm colours) above the axis and balancing loops (negative scores, cool colours) below it;
the loops not shown are one grey band ("other loops")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..errors import CxError
from .charts import SLIDE_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis.dominance import DominanceResult

#: Colours of reinforcing loops (warm) and balancing loops (cool), strongest first.
R_COLORS = ("#C0392B", "#E67E22", "#F1C40F", "#D35400", "#E74C3C", "#F39C12", "#A04000", "#FAD7A0")
B_COLORS = ("#1F4E79", "#2E86C1", "#17A589", "#5DADE2", "#148F77", "#85C1E9", "#0B5345", "#A9CCE3")
OTHER_COLOR = "#BBBBBB"


def _label(lp) -> str:
    return f"{lp.id} {lp.name}" if lp.name else f"{lp.id}: " + " -> ".join(lp.variables[:3]) + (
        " ..." if len(lp.variables) > 3 else "")


def dominance_chart(result: "DominanceResult", outcome: str, *, loops: Sequence[str] | None = None,
                    top: int = 6, size: tuple[float, float] = SLIDE_SIZE) -> Figure:
    """The chart of ``outcome`` and the relative scores of ``loops`` (ids or names; default: the
    partition's named loops and its ``top`` strongest others)."""
    part = result.partition_of_outcome(outcome)
    col = next((c for c in result.run.columns if c.lower() == outcome.lower()), None)
    if col is None:
        raise CxError(f"{result.model}: no variable {outcome!r} in the run")
    ids = list(loops) if loops is not None else result.top(top, outcome)
    idx = result._indices(ids)
    idx = [i for i in idx if result.partition[i] == part]
    t = result.times
    fig = Figure(figsize=size, layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    y = result.run[col].to_numpy(dtype=float)
    ax1.plot(result.run.index.to_numpy(dtype=float), y, color="#1a1a1a", lw=2.2)
    ax1.set_title(f"{col} ({result.scenario})", loc="left", fontsize=15)
    ax1.grid(alpha=0.3)

    rel = result.relative
    shown = np.zeros(t.size)
    pos_layers, pos_labels, pos_colors = [], [], []
    neg_layers, neg_labels, neg_colors = [], [], []
    for i in sorted(idx, key=lambda i: -float(np.nanmean(np.abs(rel[i])))):
        lp = result.loop_list[i]
        r = np.nan_to_num(rel[i])
        shown += np.abs(r)
        if np.nanmean(r) >= 0:
            pos_layers.append(np.clip(r, 0, None))
            neg_layers.append(np.clip(r, None, 0)) if np.any(r < 0) else None
            pos_labels.append(_label(lp))
            pos_colors.append(R_COLORS[len(pos_colors) % len(R_COLORS)])
            if np.any(r < 0):
                neg_labels.append("_" + _label(lp))
                neg_colors.append(pos_colors[-1])
        else:
            neg_layers.append(np.clip(r, None, 0))
            neg_labels.append(_label(lp))
            neg_colors.append(B_COLORS[len([c for c in neg_colors if c in B_COLORS]) % len(B_COLORS)])
            if np.any(r > 0):
                pos_layers.append(np.clip(r, 0, None))
                pos_labels.append("_" + _label(lp))
                pos_colors.append(neg_colors[-1])
    members = np.flatnonzero(result.partition == part)
    rest = [i for i in members if i not in set(idx)]
    if rest:
        other = np.nan_to_num(rel[rest])
        pos_layers.append(np.clip(other, 0, None).sum(axis=0))
        neg_layers.append(np.clip(other, None, 0).sum(axis=0))
        pos_labels.append(f"{len(rest)} other loops")
        neg_labels.append("_other")
        pos_colors.append(OTHER_COLOR)
        neg_colors.append(OTHER_COLOR)
    if pos_layers:
        ax2.stackplot(t, *pos_layers, labels=pos_labels, colors=pos_colors, alpha=0.9, step="post")
    if neg_layers:
        ax2.stackplot(t, *neg_layers, labels=neg_labels, colors=neg_colors, alpha=0.9, step="post")
    ax2.axhline(0, color="#333333", lw=0.8)
    ax2.axhline(0.5, color="#666666", lw=0.6, ls=":")
    ax2.axhline(-0.5, color="#666666", lw=0.6, ls=":")
    ax2.set_ylim(-1.02, 1.02)
    ax2.set_ylabel("relative loop score\n(R above, B below)")
    ax2.set_xlabel("Week (score of [t, t+dt] shown at t)")
    ax2.set_title(f"Loops that matter ({result.method}; partition {part}, "
                  f"{members.size} loops)", loc="left", fontsize=15)
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10, frameon=False)
    return fig


def ensemble_dominance_chart(ens, *, size: tuple[float, float] = SLIDE_SIZE) -> Figure:
    """The share of sampled worlds in which each reported loop belongs to the dominant set of
    the outcome's partition, over time (reinforcing loops warm, balancing loops cool)."""
    one = ens.one
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    r_i = b_i = 0
    for k, i in enumerate(ens.reported):
        lp = one.loop_list[i]
        if lp.id.startswith("R"):
            color, r_i = R_COLORS[r_i % len(R_COLORS)], r_i + 1
        else:
            color, b_i = B_COLORS[b_i % len(B_COLORS)], b_i + 1
        ax.plot(ens.times, ens.dominant[k], color=color, lw=2.0 if lp.name else 1.2,
                ls="-" if lp.name else "--", label=_label(lp))
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("share of worlds in which the loop dominates")
    ax.set_xlabel("Week (score of [t, t+dt] shown at t)")
    ax.set_title(f"{one.outcome}: which loops dominate, across {ens.n:,} worlds ({one.scenario})",
                 loc="left", fontsize=15)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10, frameon=False)
    return fig
