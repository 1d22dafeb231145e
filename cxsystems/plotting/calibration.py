"""Charts of a calibration: the fit chart of a series (data points over the model's line and its
bands) and the pair plot of a posterior sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ..errors import CxError
from ..names import find
from ..text import pretty_units

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis.calibrate import CalibrationResult

LINE = "#1f4e79"
BAND = "#6fa8dc"
DATA = "#c0392b"
SIZE = (8.0, 4.5)


def _series(result: "CalibrationResult", series: str) -> str:
    hit = find(series, result.history.variables)
    if hit is None:
        raise CxError(f"no fitted series {series!r}; the calibration has {', '.join(result.history.variables)}")
    return hit


def _draw_fit(ax, result: "CalibrationResult", var: str, *, legend: bool | str) -> None:
    s = result.history.get(var)
    t = result.times
    lo, hi = result.observed_band[var]
    ax.fill_between(t, lo, hi, color=BAND, alpha=0.18, lw=0, label="90% band of observations (with measurement error)")
    lo, hi = result.band[var]
    ax.fill_between(t, lo, hi, color=BAND, alpha=0.45, lw=0, label="90% band of the model (parameter uncertainty)")
    ax.plot(t, result.line[var], color=LINE, lw=2, label="model at the estimates")
    ax.plot(s.times, s.values, "o", ms=3.2, color=DATA, alpha=0.85, label=f"data ({result.data})")
    f = result.fit.loc[var]
    stats = f"r² {f['r2']:.2f}, MAPE {100 * f['mape']:.1f}%, Theil UM/US/UC {f['theil_um']:.2f}/" \
            f"{f['theil_us']:.2f}/{f['theil_uc']:.2f}"
    ax.set_title(f"{var}\n{stats}", loc="left", fontsize=10)
    unit = pretty_units(result.units.get(var, ""))
    if unit:
        ax.set_ylabel(unit)
    ax.set_xlabel(result.time_unit or "time")
    ax.set_xlim(float(t[0]), float(t[-1]))
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if legend == "below":
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    elif legend:
        ax.legend(loc="best", fontsize=7, frameon=False)


def fit_chart(result: "CalibrationResult", series: str, *, size: tuple[float, float] = SIZE) -> Figure:
    """One series: the data's points over the model's line at the estimates, the 90% band of the
    model over the posterior sample and the wider 90% band with measurement error added."""
    var = _series(result, series)
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    _draw_fit(ax, result, var, legend="below")
    return fig


def fit_charts(result: "CalibrationResult", *, size: tuple[float, float] | None = None) -> Figure:
    """Every fitted series' fit chart in one figure (two columns)."""
    vars_ = list(result.history.variables)
    cols = 1 if len(vars_) == 1 else 2
    rows = (len(vars_) + cols - 1) // cols
    fig = Figure(figsize=size or (6.0 * cols, 3.6 * rows), layout="constrained")
    for i, v in enumerate(vars_):
        _draw_fit(fig.add_subplot(rows, cols, i + 1), result, v, legend=i == 0)
    fig.suptitle(f"{result.model} calibrated to {result.data} ({result.method})", fontsize=11)
    return fig


def pair_plot(result: "CalibrationResult", *, size: float | None = None, bins: int = 30) -> Figure:
    """The posterior sample: a histogram per parameter on the diagonal, scatter plots below it and
    the correlation above it; the estimates marked."""
    names = list(result.parameters)
    k = len(names)
    X = result.sample[names].to_numpy()
    side = size or max(4.0, 1.9 * k)
    fig = Figure(figsize=(side, side), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False)
    corr = np.corrcoef(X.T) if k > 1 else np.ones((1, 1))
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            ax.tick_params(labelsize=6)
            if i == j:
                ax.hist(X[:, i], bins=bins, color=BAND, edgecolor="white", lw=0.3)
                ax.axvline(result.estimates[names[i]], color=LINE, lw=1.2)
                lo, hi = result.intervals[names[i]]
                ax.axvspan(lo, hi, color=LINE, alpha=0.08)
                ax.set_yticks([])
            elif i > j:
                ax.plot(X[:, j], X[:, i], ".", ms=1.5, color=LINE, alpha=0.35)
                ax.plot(result.estimates[names[j]], result.estimates[names[i]], "x", color=DATA, ms=6)
            else:
                r = corr[i, j]
                ax.text(0.5, 0.5, f"r = {r:+.2f}", ha="center", va="center", transform=ax.transAxes,
                        fontsize=9, color=DATA if abs(r) > 0.9 else "black")
                ax.set_xticks([])
                ax.set_yticks([])
                for sp in ax.spines.values():
                    sp.set_visible(False)
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize=7)
    fig.suptitle(f"Posterior of {result.model} given {result.data}", fontsize=10)
    return fig


__all__ = ["fit_chart", "fit_charts", "pair_plot"]
