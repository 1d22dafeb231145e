"""Board-quality charts of a :class:`cxsystems.analysis.compare.Comparison`.

Every chart is a :class:`matplotlib.figure.Figure` built without pyplot (no global figure state,
safe under the Agg backend and in threads). Style: one colour per scenario, the same in every chart
(baseline dark grey and thicker), the policy start marked by a dashed vertical line, titles with
units, thousands separators, fonts of 12 pt and more at the default 16:9 slide size (16 x 9 inches).

::

    fig = dashboard(cmp)                  # grid of key outcomes
    save_figure(fig, "comparison.png")    # format from the suffix: png, svg or pdf
    fan_chart(ensemble_result, "Ticket Backlog")   # median, 50% and 90% bands per scenario
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import Formatter, LogLocator, MaxNLocator, NullLocator

from ..errors import CxError
from ..files import write_figure
from ..text import share_rounded, with_units

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..analysis.compare import Comparison
    from ..analysis.ensemble import EnsembleResult

#: Slide size in inches (16:9).
SLIDE_SIZE = (16.0, 9.0)
BASELINE_COLOR = "#3a3a3a"
#: Colours for non-baseline scenarios, in order (Okabe-Ito, colour-blind safe, then extras).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
           "#8C564B", "#7F7F00", "#17BECF", "#9467BD")
POLICY_COLOR = "#7a7a7a"

_TICK_PT = 12
_LABEL_PT = 13
_TITLE_PT = 15
_SUPTITLE_PT = 21
_LEGEND_PT = 13


def scenario_colors(names: Sequence[str], baseline: str, order: Sequence[str] = ()) -> dict[str, str]:
    """Colour per scenario: baseline dark grey, the others from :data:`PALETTE`.

    Colours follow ``order`` (e.g. every scenario of the model) when given, so a scenario keeps its
    colour in a chart of a subset; names missing from ``order`` come after it.
    """
    colors, i = {}, 0
    for n in dict.fromkeys([*order, *names]):
        if n == baseline:
            colors[n] = BASELINE_COLOR
        else:
            colors[n] = PALETTE[i % len(PALETTE)]
            i += 1
    return {n: colors[n] for n in names}


class ThousandsFormatter(Formatter):
    """Tick labels with thousands separators and just enough decimals for the tick spacing.

    Axes reaching a million or more are shown in millions with an ``M`` suffix (``12.5M``);
    ``prefix`` (e.g. ``"$"``) goes before the number.
    """

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self._scale, self._suffix, self._decimals = 1.0, "", 0

    def set_locs(self, locs):
        super().set_locs(locs)
        finite = np.asarray([x for x in locs if np.isfinite(x)], dtype=float)
        big = finite.size and np.max(np.abs(finite)) >= 1e6
        self._scale, self._suffix = (1e6, "M") if big else (1.0, "")
        steps = np.diff(np.sort(finite)) / self._scale if finite.size > 1 else np.array([1.0])
        steps = steps[steps > 0]
        step = float(steps.min()) if steps.size else 1.0
        self._decimals = next((d for d in range(7) if abs(round(step, d) - step) <= 1e-6 * step), 6)

    def __call__(self, x, pos=None):
        v = x / self._scale
        text = f"{abs(v):,.{self._decimals}f}"
        if float(text.replace(",", "")) == 0:
            return f"{self.prefix}0"
        sign = "\u2212" if v < 0 else ""
        return f"{sign}{self.prefix}{text}{self._suffix}"


def _title(label: str, units: str) -> str:
    return with_units(label, units)


def _wrap(text: str, max_chars: int) -> str:
    """Break ``text`` onto lines of at most ``max_chars``, preferring a break before ``(units)``."""
    if len(text) <= max_chars:
        return text
    head, sep, tail = text.rpartition(" (")
    if sep and len(head) <= max_chars and len(tail) + 1 <= max_chars:
        return f"{head}\n({tail}"
    return textwrap.fill(text, max(8, max_chars))


def _fit_titles(fig: Figure, axes: Sequence["Axes"]) -> None:
    """Wrap left-aligned axis titles that would run past their axes into the next chart."""
    FigureCanvasAgg(fig)  # a renderer to measure text; savefig still picks the format's backend
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        text = ax.get_title(loc="left")
        title = next((c for c in ax.get_children() if isinstance(c, Text) and c.get_text() == text), None)
        if not text or title is None:
            continue
        width = title.get_window_extent(renderer).width
        room = ax.get_window_extent(renderer).width * 1.04
        if width > room:
            ax.set_title(_wrap(text, int(len(text) * room / width)), loc="left",
                         fontsize=title.get_fontsize(), pad=8)


def _policy_weeks(cmp: "Comparison") -> list[float]:
    weeks = {w for n, w in cmp.policy_start_weeks.items() if n != cmp.baseline and w is not None and w > 0}
    return sorted(weeks)


def _policy_label(weeks: Sequence[float]) -> str:
    if len(weeks) == 1:
        return f"Policy start (week {weeks[0]:g})"
    return "Policy starts (weeks " + ", ".join(f"{w:g}" for w in weeks) + ")"


def _draw_outcome(ax: "Axes", cmp: "Comparison", variable: str, colors: dict[str, str],
                  weeks: Sequence[float], *, title_pt: float = _TITLE_PT, mark_text: bool = False) -> None:
    spec = cmp.outcome(variable)
    table = cmp.wide(spec.variable)
    t = table.index.to_numpy(dtype=float)
    # baseline drawn last so it stays visible on top of the others
    order = [n for n in table.columns if n != cmp.baseline] + [cmp.baseline]
    for name in order:
        if name not in table.columns:
            continue
        is_base = name == cmp.baseline
        ax.plot(t, table[name].to_numpy(dtype=float), color=colors[name],
                linewidth=3.2 if is_base else 2.0, zorder=3 if is_base else 2,
                solid_capstyle="round", label=name)
    for w in weeks:
        ax.axvline(w, color=POLICY_COLOR, linestyle=(0, (5, 4)), linewidth=1.4, zorder=1)
    _mark_disturbance(ax, getattr(cmp, "disturbance", None), label=mark_text)
    if mark_text and weeks:
        ax.annotate("policy start", xy=(weeks[0], 1.0), xycoords=("data", "axes fraction"),
                    xytext=(4, -4), textcoords="offset points", ha="left", va="top",
                    fontsize=_TICK_PT - 1, color="#555555")
    units = spec.units or cmp.units.get(spec.variable, "")
    ax.set_title(_title(spec.label, units), fontsize=title_pt, loc="left", pad=8)
    prefix = "$" if units.strip().startswith("$") else ""
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(ThousandsFormatter(prefix))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=7, integer=True))
    ax.xaxis.set_major_formatter(ThousandsFormatter())
    ax.tick_params(labelsize=_TICK_PT, length=4, color="#999999")
    ax.set_xlim(float(t[0]), float(t[-1]))
    ax.margins(y=0.08)
    ax.grid(True, color="#e3e3e3", linewidth=0.9)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")


#: Colour of the disturbance marker (the event every scenario faces).
DISTURBANCE_COLOR = "#9b2226"


def _mark_disturbance(ax: "Axes", disturbance, *, label: bool) -> None:
    """A thin solid line at the disturbance's week; with ``label``, its name at the top."""
    if disturbance is None:
        return
    ax.axvline(disturbance.week, color=DISTURBANCE_COLOR, linewidth=1.3, zorder=1.5, alpha=0.85)
    if label:
        ax.annotate(disturbance.label, xy=(disturbance.week, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(4, 4), textcoords="offset points", ha="left", va="bottom",
                    fontsize=_TICK_PT - 1, color=DISTURBANCE_COLOR)


def _disturbance_handle(disturbance) -> list:
    if disturbance is None:
        return []
    return [Line2D([], [], color=DISTURBANCE_COLOR, linewidth=1.3,
                   label=f"{disturbance.label[:1].upper()}{disturbance.label[1:]} (week {disturbance.week:g})")]


def _legend_handles(cmp: "Comparison", colors: dict[str, str], weeks: Sequence[float]):
    handles = [Line2D([], [], color=colors[n], linewidth=3.2 if n == cmp.baseline else 2.4,
                      label=f"{n} (baseline)" if n == cmp.baseline and n != "baseline" else n)
               for n in cmp.scenario_names]
    if weeks:
        handles.append(Line2D([], [], color=POLICY_COLOR, linestyle=(0, (5, 4)), linewidth=1.4,
                              label=_policy_label(weeks)))
    return handles + _disturbance_handle(getattr(cmp, "disturbance", None))


def _grid_shape(n: int) -> tuple[int, int]:
    if n <= 3:
        return 1, max(n, 1)
    if n == 4:
        return 2, 2
    if n <= 8:
        return 2, (4 if n > 6 else 3)
    if n <= 12:
        return 3, 4
    cols = 5
    return math.ceil(n / cols), cols


def dashboard(comparison: "Comparison", *, outcomes: Iterable[str] | None = None,
              size: tuple[float, float] = SLIDE_SIZE, title: str | None = None) -> Figure:
    """Grid of the key outcomes over time, one line per scenario, shared legend.

    Args:
        comparison: from :func:`cxsystems.analysis.compare.compare`.
        outcomes: variables to chart (default: ``comparison.outcomes``, in order).
        size: figure size in inches (default 16 x 9, a slide).
        title: figure title (default names the model and the baseline).
    """
    cmp = comparison
    variables = [cmp.variable(v) for v in outcomes] if outcomes is not None else [o.variable for o in cmp.outcomes]
    if not variables:
        raise CxError("nothing to chart: the comparison has no outcomes")
    colors = scenario_colors(cmp.scenario_names, cmp.baseline, cmp.color_order)
    weeks = _policy_weeks(cmp)
    n = len(variables)
    rows, cols = _grid_shape(n)
    free = rows * cols - n
    fig = Figure(figsize=size, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12, w_pad=0.12, hspace=0.06, wspace=0.04)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    flat = list(axes.flat)
    for i, (ax, var) in enumerate(zip(flat, variables)):
        _draw_outcome(ax, cmp, var, colors, weeks, mark_text=(i == 0))
    # x-axis label on the lowest chart of each column
    for c in range(cols):
        col_axes = [axes[r, c] for r in range(rows) if r * cols + c < n]
        if col_axes:
            col_axes[-1].set_xlabel("Week", fontsize=_LABEL_PT)
            col_axes[-1].xaxis.set_tick_params(labelbottom=True)
    handles = _legend_handles(cmp, colors, weeks)
    if free:
        for ax in flat[n:]:
            ax.set_axis_off()
        holder = flat[n]
        holder.legend(handles=handles, loc="center left" if free == 1 else "center",
                      fontsize=_LEGEND_PT, frameon=False, title="Scenario",
                      title_fontproperties={"size": _LEGEND_PT + 1, "weight": "bold"},
                      borderaxespad=0.0, handlelength=2.6)
    else:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
                   fontsize=_LEGEND_PT, frameon=False, handlelength=2.6)
    fig.suptitle(title or f"{cmp.model_name}: policy scenarios compared with {cmp.baseline}",
                 fontsize=_SUPTITLE_PT, fontweight="bold", x=0.01, ha="left")
    _fit_titles(fig, flat[:n])
    return fig


def outcome_chart(comparison: "Comparison", variable: str, *, size: tuple[float, float] = SLIDE_SIZE,
                  title: str | None = None) -> Figure:
    """One variable over time, one line per scenario, in the dashboard's style.

    Args:
        comparison: from :func:`cxsystems.analysis.compare.compare`.
        variable: any variable of ``comparison.results`` (case-insensitive).
        size: figure size in inches (default 16 x 9).
        title: figure title (default names the model).
    """
    cmp = comparison
    var = cmp.variable(variable)
    colors = scenario_colors(cmp.scenario_names, cmp.baseline, cmp.color_order)
    weeks = _policy_weeks(cmp)
    fig = Figure(figsize=size, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.15, w_pad=0.15)
    ax = fig.subplots()
    _draw_outcome(ax, cmp, var, colors, weeks, title_pt=_TITLE_PT + 3, mark_text=True)
    ax.tick_params(labelsize=_TICK_PT + 2)
    ax.set_xlabel("Week", fontsize=_LABEL_PT + 2)
    ax.legend(handles=_legend_handles(cmp, colors, weeks), loc="center left", bbox_to_anchor=(1.01, 0.5),
              fontsize=_LEGEND_PT + 1, frameon=False, title="Scenario",
              title_fontproperties={"size": _LEGEND_PT + 2, "weight": "bold"}, handlelength=2.6)
    fig.suptitle(title or f"{cmp.model_name}: {cmp.outcome(var).label} by scenario",
                 fontsize=_SUPTITLE_PT, fontweight="bold", x=0.01, ha="left")
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path``; the format comes from the suffix (``.png``, ``.svg``, ``.pdf``).

    Written atomically, without creation dates (see :func:`cxsystems.files.write_figure`).

    Raises:
        CxError: unsupported suffix.
        OSError: the directory does not exist or is not writable.
    """
    return write_figure(fig, path, dpi=dpi)


#: A fan chart switches to a log y-axis when the top of its 90% bands is this many times its largest median.
LOG_SPREAD = 5.0


def log_scale_needed(values, quantiles) -> bool:
    """Whether a fan chart's y-axis should be logarithmic: every value is positive and the highest
    95th percentile exceeds :data:`LOG_SPREAD` times the highest median (a few extreme worlds would
    otherwise flatten every median line).

    ``values`` has dims (scenario, quantile, time) with ``quantiles`` along the second axis."""
    v = np.asarray(values, dtype=float)
    q = [float(x) for x in quantiles]
    if not np.all(np.isfinite(v)) or np.min(v) <= 0 or 0.5 not in q or 0.95 not in q:
        return False
    top = float(np.max(v[:, q.index(0.95)]))
    median = float(np.max(v[:, q.index(0.5)]))
    return top > LOG_SPREAD * median


def _tails_of(result: "EnsembleResult", variable: str) -> dict[str, list[tuple[str, float]]]:
    """scenario -> [(risk name, share of runs)] for the tail risks defined on ``variable``'s metrics."""
    from ..analysis.robustness import tail_shares

    on_var = [r.name for r in getattr(result, "tail_risks", ())
              if result.metrics[result.metric_index(r.metric)].variable == variable]
    if not on_var:
        return {}
    shares = tail_shares(result)[on_var]
    return {s: [(r, float(shares.loc[s, r])) for r in on_var] for s in shares.index}


def fan_chart(result: "EnsembleResult", variable: str, *, scenarios: Sequence[str] | None = None,
              size: tuple[float, float] = SLIDE_SIZE, title: str | None = None) -> Figure:
    """Fan chart of one variable of an ensemble: a panel per scenario with the median line, the
    50% band (25th-75th percentile) and the 90% band (5th-95th), all panels on one y scale, and
    the baseline's median as a grey dashed reference in every other panel. Where the model declares a
    tail risk on this variable (``[analysis] tail_risks``, e.g. service collapse on the peak wait),
    each panel states the share of runs in that tail. When a few extreme worlds would flatten every
    median (the top of the bands more than :data:`LOG_SPREAD` times the highest median, all values
    positive), the y-axis is logarithmic and the title says so.

    Args:
        result: from :func:`cxsystems.analysis.ensemble.ensemble`.
        variable: one of ``result.variables``.
        scenarios: the scenarios to show (default all, in run order).
        size: figure size in inches (default 16 x 9).
        title: figure title (default names the model, the variable and the number of runs).
    """
    bands = result.bands
    if variable not in bands:
        raise CxError(f"no bands for {variable!r}; the ensemble has {', '.join(bands.data_vars)}")
    names = list(scenarios) if scenarios is not None else list(result.scenarios)
    for s in names:
        if s not in result.scenarios:
            raise CxError(f"unknown scenario {s!r}; the ensemble has {', '.join(result.scenarios)}")
    da = bands[variable]
    t = np.asarray(da["time"], dtype=float)
    colors = scenario_colors(names, result.baseline, result.scenarios)
    units = result.units.get(variable, "")
    rows, cols = _grid_shape(len(names))
    fig = Figure(figsize=size, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12, w_pad=0.12, hspace=0.06, wspace=0.04)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    flat = list(axes.flat)
    base_median = da.sel(scenario=result.baseline, quantile=0.5).values if result.baseline in result.scenarios else None
    prefix = "$" if units.strip().startswith("$") else ""
    tails = _tails_of(result, variable)
    log = log_scale_needed(da.sel(scenario=names).values, list(da["quantile"].values))
    for ax, name in zip(flat, names):
        q = {float(k): da.sel(scenario=name, quantile=k).values for k in da["quantile"].values}
        c = colors[name]
        ax.fill_between(t, q[0.05], q[0.95], color=c, alpha=0.18, linewidth=0, label="90% of runs")
        ax.fill_between(t, q[0.25], q[0.75], color=c, alpha=0.38, linewidth=0, label="50% of runs")
        ax.plot(t, q[0.5], color=c, linewidth=2.4, label="median")
        _mark_disturbance(ax, getattr(result, "disturbance", None), label=name == names[0])
        if base_median is not None and name != result.baseline:
            ax.plot(t, base_median, color=BASELINE_COLOR, linewidth=1.6, linestyle=(0, (4, 3)),
                    label=f"{result.baseline} median")
        ax.set_title(name, fontsize=_TITLE_PT, loc="left", pad=6)
        notes = [f"{risk}: {share_rounded(share)} of runs" for risk, share in tails.get(name, []) if share > 0]
        if notes:  # the share of worlds in a tail of this outcome (e.g. service collapse)
            ax.text(0.03, 0.96, "\n".join(notes), transform=ax.transAxes, ha="left", va="top",
                    fontsize=_TICK_PT, color="#7a1f1f",
                    bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor="#d9b3b3", alpha=0.9))
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
            ax.yaxis.set_minor_locator(NullLocator())
        else:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_formatter(ThousandsFormatter(prefix))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.tick_params(labelsize=_TICK_PT, length=4, color="#999999")
        ax.set_xlim(float(t[0]), float(t[-1]))
        ax.grid(True, color="#e3e3e3", linewidth=0.9)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for c in range(cols):
        col_axes = [axes[r, c] for r in range(rows) if r * cols + c < len(names)]
        if col_axes:
            col_axes[-1].set_xlabel("Week", fontsize=_LABEL_PT)
            col_axes[-1].xaxis.set_tick_params(labelbottom=True)
    handles = [Line2D([], [], color="#555555", linewidth=2.4, label="median"),
               Line2D([], [], color="#555555", alpha=0.55, linewidth=9, label="50% of runs"),
               Line2D([], [], color="#555555", alpha=0.25, linewidth=9, label="90% of runs"),
               Line2D([], [], color=BASELINE_COLOR, linewidth=1.6, linestyle=(0, (4, 3)),
                      label=f"{result.baseline} median")] + _disturbance_handle(getattr(result, "disturbance", None))
    free = rows * cols - len(names)
    if free:
        for ax in flat[len(names):]:
            ax.set_axis_off()
        flat[len(names)].legend(handles=handles, loc="center", fontsize=_LEGEND_PT, frameon=False,
                                handlelength=2.6)
    else:
        fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=_LEGEND_PT,
                   frameon=False, handlelength=2.6)
    n_band = int(bands.attrs.get("band_runs", result.n))
    runs = f"{result.n:,} runs" if n_band == result.n else f"{n_band:,} of {result.n:,} runs"
    label = result.labels.get(variable, variable)
    scale = ", log scale" if log else ""
    fig.suptitle(title or f"{result.model_name}: {_title(label, units)} across {runs}{scale}",
                 fontsize=_SUPTITLE_PT, fontweight="bold", x=0.01, ha="left")
    return fig
