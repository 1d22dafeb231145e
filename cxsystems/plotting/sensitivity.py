"""Charts of a :class:`cxsystems.analysis.sensitivity.SensitivityResult`: which assumptions drive a target.

* Sobol, one number per world: a bar pair per parameter (first-order and total index) with 95%
  confidence whiskers, strongest driver on top.
* Morris: a tornado of ``mu*`` with whiskers, and the ``mu*``-``sigma`` map beside it (points far
  above the diagonal act non-linearly or through interactions).
* An outcome over time: the first-order index (Sobol) or ``mu*`` (Morris) of the strongest drivers
  at every saved time, with their 95% bands.

Figures are built without pyplot, in the style of :mod:`cxsystems.plotting.charts`.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ..text import money_prefix, with_units
from .charts import (
    _LABEL_PT,
    _LEGEND_PT,
    _TICK_PT,
    _TITLE_PT,
    PALETTE,
    SLIDE_SIZE,
    ThousandsFormatter,
    _suptitle,
    _time_axis,
    _time_label,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..analysis.sensitivity import SensitivityResult

#: Drivers drawn as lines in a chart over time.
TIME_DRIVERS = 6
FIRST_COLOR = "#0072B2"
TOTAL_COLOR = "#9CC3E4"
MU_COLOR = "#D55E00"


def _title(res: "SensitivityResult") -> str:
    what = res.target.describe()
    return f"{res.model_title or res.model_name}: which assumptions drive {what}"


def _subtitle(res: "SensitivityResult") -> str:
    how = ("Sobol' indices: share of the variance" if res.method == "sobol"
           else "Morris screening: mu* = mean absolute change over each assumption's whole range")
    marks = "bands" if res.times is not None else "whiskers"
    size = f"n = {res.n:,}" if res.method == "sobol" else f"{res.n:,} trajectories"
    text = (f"{how}; {len(res.factors)} uncertain parameters, {res.runs:,} sampled worlds ({size}, "
            f"seed {res.seed}); {marks}: 95% intervals")
    return textwrap.fill(text, 150)


def _labels(names) -> list[str]:
    return [textwrap.fill(n, 34) for n in names]


def _style(ax: "Axes", grid_axis: str = "x") -> None:
    ax.tick_params(labelsize=_TICK_PT, length=4, color="#999999")
    ax.grid(True, axis=grid_axis, color="#e3e3e3", linewidth=0.9)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")


def _units(res: "SensitivityResult") -> str:
    """The units of the target's axis: percentage points for a fraction."""
    return "percentage points" if res.target.percent else res.target.units


def _amount_formatter(res: "SensitivityResult") -> ThousandsFormatter:
    t = res.target
    if t.percent:
        return _Scaled(100.0)
    return ThousandsFormatter(money_prefix(t.units))


class _Scaled(ThousandsFormatter):
    """Tick labels of ``x * factor`` (a fraction shown in percentage points)."""

    def __init__(self, factor: float, unit: str = ""):
        super().__init__(unit=unit)
        self.factor = factor

    def set_locs(self, locs):
        super().set_locs([x * self.factor for x in locs])

    def __call__(self, x, pos=None):
        return super().__call__(x * self.factor, pos)


def _sobol_bars(ax: "Axes", res: "SensitivityResult") -> None:
    rank = res.ranking().iloc[::-1]  # strongest on top
    y = np.arange(len(rank))
    h = 0.38
    err = dict(ecolor="#333333", elinewidth=1.2, capsize=3)
    ax.barh(y + h / 2, rank["S1"], h, xerr=rank["S1_conf"], color=FIRST_COLOR, label="First order (S1): alone",
            error_kw=err)
    ax.barh(y - h / 2, rank["ST"], h, xerr=rank["ST_conf"], color=TOTAL_COLOR,
            label="Total (ST): with its interactions", error_kw=err)
    ax.set_yticks(y, _labels(rank.index), fontsize=_TICK_PT)
    ax.set_ylim(-0.7, len(rank) - 0.3)
    lo = float(np.nanmin(np.r_[0.0, (rank["S1"] - rank["S1_conf"]).to_numpy()]))
    hi = float(np.nanmax(np.r_[0.05, (rank["ST"] + rank["ST_conf"]).to_numpy(),
                               (rank["S1"] + rank["S1_conf"]).to_numpy()]))
    ax.set_xlim(min(lo, 0.0) - 0.02, min(max(hi, 0.1), 1.5) + 0.02)
    ax.axvline(0, color="#999999", linewidth=1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(f"Share of the variance of {res.target.describe()}", fontsize=_LABEL_PT)
    _style(ax)
    ax.legend(fontsize=_LEGEND_PT, frameon=False, loc="lower right")


#: Least vertical distance between two point labels (fraction of the axes' height).
LABEL_GAP = 0.065


def _label_points(ax: "Axes", rank, span: float) -> None:
    """Name the strongest points of the mu*-sigma map, labels pushed apart vertically (highest
    point first) and tied to their points by thin lines."""
    pts = sorted(((float(r["sigma"]) / span, float(r["mu_star"]) / span, str(name))
                  for name, r in rank.iterrows()), reverse=True)
    ys: list[float] = []
    for ya, _, _ in pts:  # top down: each label at its point or below the one above it
        ys.append(min(ya + 0.02, ys[-1] - LABEL_GAP if ys else 1.0))
    low = 0.04
    for i in range(len(ys) - 1, -1, -1):  # bottom up: none below the axes
        ys[i] = max(ys[i], low)
        low = ys[i] + LABEL_GAP
    for (ya, xa, name), y_text in zip(pts, ys):
        right = xa > 0.6
        ax.annotate(textwrap.fill(name, 24), (xa, ya), xycoords="axes fraction",
                    xytext=(xa - 0.04 if right else xa + 0.06, y_text), textcoords="axes fraction",
                    ha="right" if right else "left", va="center", fontsize=_TICK_PT - 1,
                    arrowprops=dict(arrowstyle="-", color="#aaaaaa", linewidth=0.8, shrinkA=2, shrinkB=4))


def _morris(fig: Figure, res: "SensitivityResult") -> list:
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
    rank = res.ranking().iloc[::-1]
    y = np.arange(len(rank))
    ax.barh(y, rank["mu_star"], 0.6, xerr=rank["mu_star_conf"], color=MU_COLOR,
            error_kw=dict(ecolor="#333333", elinewidth=1.2, capsize=3))
    ax.set_yticks(y, _labels(rank.index), fontsize=_TICK_PT)
    ax.set_ylim(-0.7, len(rank) - 0.3)
    ax.set_xlim(left=0)
    fmt = _amount_formatter(res)
    ax.xaxis.set_major_formatter(fmt)
    ax.set_xlabel(with_units(f"mu*: change in {res.target.label_lower}", _units(res)), fontsize=_LABEL_PT)
    ax.set_title("Effect of each assumption", loc="left", fontsize=_TITLE_PT)
    _style(ax)

    ax2.scatter(rank["mu_star"], rank["sigma"], s=60, color=MU_COLOR, zorder=3)
    top = max(float(np.nanmax(rank["mu_star"])), float(np.nanmax(rank["sigma"]))) or 1.0  # all zero: unit axes
    ax2.plot([0, top * 1.05], [0, top * 1.05], color="#999999", linestyle="--", linewidth=1)
    ax2.text(top * 1.02, top * 1.02, "sigma = mu*", fontsize=_TICK_PT, color="#777777", ha="right", va="bottom")
    ax2.set_xlim(0, top * 1.1)
    ax2.set_ylim(0, top * 1.1)
    _label_points(ax2, res.ranking().head(TIME_DRIVERS), top * 1.1)
    ax2.xaxis.set_major_formatter(_amount_formatter(res))
    ax2.yaxis.set_major_formatter(_amount_formatter(res))
    ax2.set_xlabel("mu* (strength)", fontsize=_LABEL_PT)
    ax2.set_ylabel("sigma (non-linearity, interactions)", fontsize=_LABEL_PT)
    ax2.set_title("Strength against spread", loc="left", fontsize=_TITLE_PT)
    _style(ax2, "both")
    return [ax, ax2]


def _over_time(ax: "Axes", res: "SensitivityResult") -> None:
    col = "S1" if res.method == "sobol" else "mu_star"
    names = list(res.ranking().head(TIME_DRIVERS).index)
    t = np.asarray(res.times, dtype=float)
    table = res.table
    shown = []
    for i, name in enumerate(names):
        rows = table[table["parameter"] == name]
        v = rows[col].to_numpy(dtype=float)
        c = rows[f"{col}_conf"].to_numpy(dtype=float)
        color = PALETTE[i % len(PALETTE)]
        ax.fill_between(t, v - c, v + c, color=color, alpha=0.15, linewidth=0)
        ax.plot(t, v, color=color, linewidth=2.4, label=name)
        shown.append(v)
    _time_axis(ax, t, nbins=8)
    ax.set_xlabel(_time_label(res.time_unit), fontsize=_LABEL_PT)
    if res.method == "sobol":
        v = np.concatenate(shown) if shown else np.zeros(1)
        lo = float(np.nanmin(v)) if np.isfinite(v).any() else 0.0
        hi = float(np.nanmax(v)) if np.isfinite(v).any() else 1.0
        ax.set_ylim(max(min(-0.1, lo - 0.05), -0.5), min(max(1.1, hi + 0.05), 1.5))  # estimates stray outside 0-1
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel(f"First-order index (S1): share of the variance of {res.target.label_lower}",
                      fontsize=_LABEL_PT)
    else:
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(_amount_formatter(res))
        ax.set_ylabel(with_units(f"mu*: change in {res.target.label_lower}", _units(res)), fontsize=_LABEL_PT)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")
    ax.legend(fontsize=_LEGEND_PT, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title=f"Strongest {len(names)} drivers", title_fontsize=_LEGEND_PT)


def sensitivity_chart(res: "SensitivityResult", *, size: tuple[float, float] = SLIDE_SIZE) -> Figure:
    """The chart of a sensitivity result (see the module's description): a Figure."""
    fig = Figure(figsize=size, layout="constrained")
    if res.times is not None:
        _over_time(fig.subplots(), res)
    elif res.method == "sobol":
        _sobol_bars(fig.subplots(), res)
    else:
        _morris(fig, res)
    _suptitle(fig, _title(res))
    fig.supxlabel(_subtitle(res), x=0.01, ha="left", fontsize=_TICK_PT, color="#555555")
    return fig


__all__ = ["sensitivity_chart"]
