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
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patheffects import Normal, Stroke
from matplotlib.text import Text
from matplotlib.ticker import Formatter, LogLocator, MaxNLocator, NullLocator

from ..errors import CxError
from ..files import write_figure
from ..text import axis_title, difference_title, money_prefix, share, share_rounded, time_words, with_units

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.axes import Axes

    from ..analysis.compare import Comparison
    from ..analysis.ensemble import EnsembleResult

#: Slide size in inches (16:9).
SLIDE_SIZE = (16.0, 9.0)
BASELINE_COLOR = "#1a1a1a"
#: Colours for scenarios of no declared family, in order (Okabe-Ito, colour-blind safe, then extras).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
           "#8C564B", "#7F7F00", "#17BECF", "#9467BD")
#: Shades per scenario family (``family`` in the scenario file). Reactive fixes are warm and light
#: (CIE lightness 52-70), structural ones cool and dark (28-47), so the two families stay apart by
#: lightness as well as hue for colour-blind readers; mixed policies are purple; a scenario of the
#: ``baseline`` family that is not the reference is grey.
FAMILY_PALETTES = {
    "reactive": ("#E66100", "#E8364F", "#D9A21B", "#F26B4A"),
    "structural": ("#1F5FA8", "#0E7C7B", "#2E7D32", "#17456E"),
    "mixed": ("#7B3294", "#A366C2", "#5E2A84"),
    "baseline": ("#6B6B6B", "#9A9A9A"),
}
POLICY_COLOR = "#7a7a7a"

_TICK_PT = 12
_LABEL_PT = 13
_TITLE_PT = 15
_SUPTITLE_PT = 21
_LEGEND_PT = 13


def scenario_colors(names: Sequence[str], baseline: str, order: Sequence[str] = (),
                    families: Mapping[str, str] | None = None) -> dict[str, str]:
    """Colour (hex) per scenario in ``names``: the baseline near-black, the others by family.

    Without ``families`` (or for a scenario whose family is ``""`` or not given) colours come from
    :data:`PALETTE` in turn. With ``families`` (scenario name -> ``reactive``, ``structural``,
    ``mixed``, ``baseline`` or ``""``), a scenario of a declared family takes a shade of that
    family (:data:`FAMILY_PALETTES`) picked by its place among the non-baseline scenarios of
    ``order``. Colours follow ``order`` (e.g. every scenario of the model) when given, so a scenario
    keeps its colour in a chart of a subset; names missing from ``order`` come after it.
    """
    families = families or {}
    colors, undeclared = {}, 0
    others = [n for n in dict.fromkeys([*order, *names]) if n != baseline]
    for place, n in enumerate(others):
        shades = FAMILY_PALETTES.get(families.get(n, ""))
        if shades:
            colors[n] = shades[place % len(shades)]
        else:
            colors[n] = PALETTE[undeclared % len(PALETTE)]
            undeclared += 1
    colors[baseline] = BASELINE_COLOR
    return {n: colors[n] for n in names}


def comparison_colors(cmp: "Comparison") -> dict[str, str]:
    """Scenario name -> hex colour for every scenario of a comparison, the same in every chart and
    page: the baseline near-black, the others by their declared family (see :func:`scenario_colors`),
    stable across comparisons of a subset (``cmp.color_order``)."""
    families = {s.name: getattr(s, "family", "") for s in cmp.scenarios}
    return scenario_colors(cmp.scenario_names, cmp.baseline, cmp.color_order, families)


class ThousandsFormatter(Formatter):
    """Tick labels with thousands separators and just enough decimals for the tick spacing.

    Axes reaching a million or more are shown in millions with an ``M`` suffix (``12.5M``);
    ``prefix`` (e.g. ``"$"``) goes before the number, ``unit`` (e.g. ``"%"``) after it; with
    ``plus``, positive numbers get a ``+`` (an axis of differences).
    """

    def __init__(self, prefix: str = "", *, unit: str = "", plus: bool = False):
        self.prefix, self.unit, self.plus = prefix, unit, plus
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
            return f"{self.prefix}0{self.unit}"
        sign = "\u2212" if v < 0 else ("+" if self.plus else "")
        return f"{sign}{self.prefix}{text}{self._suffix}{self.unit}"


def _title(label: str, units: str) -> str:
    return with_units(label, units)


def model_title_of(cmp: "Comparison") -> str:
    """The model's name for people on a chart: ``cmp.model_title``, else the file name with spaces."""
    return cmp.model_title or cmp.model_name.replace("_", " ")


def legend_label(cmp: "Comparison", name: str) -> str:
    """A scenario's legend entry: its title; the baseline's says so (``"Status quo (baseline)"``)."""
    title = cmp.title_of(name)
    return f"{title} (baseline)" if name == cmp.baseline and title.lower() != "baseline" else title


def chart_table(cmp: "Comparison", variable: str) -> "pd.DataFrame":
    """A variable as its chart draws it: index time (weeks), one column per scenario; times 100 for
    a ``percent`` outcome; for a ``difference`` outcome, each scenario minus the baseline (the
    baseline's column is then all zeros)."""
    spec = cmp.outcome(variable)
    table = cmp.wide(spec.variable).astype(float)
    if spec.percent:
        table = table * 100.0
    if spec.view == "difference" and cmp.baseline in table.columns:
        table = table.sub(table[cmp.baseline], axis=0)
    return table


def chart_title(cmp: "Comparison", variable: str) -> str:
    """A variable's chart title with units: ``"Churn rate (% a year)"``, or for a ``difference``
    outcome ``"Cumulative profit: difference from Status quo ($)"``."""
    spec = cmp.outcome(variable)
    units = spec.units or cmp.units.get(spec.variable, "")
    if spec.view == "difference":
        return difference_title(spec.label, cmp.title_of(cmp.baseline), units, percent=spec.percent)
    return axis_title(spec.label, units, percent=spec.percent)


def _value_formatter(cmp: "Comparison", variable: str) -> ThousandsFormatter:
    """Tick labels of a variable's axis: ``$`` for money, ``%`` for a fraction's level, ``+`` on
    the positive side of differences."""
    spec = cmp.outcome(variable)
    units = spec.units or cmp.units.get(spec.variable, "")
    difference = spec.view == "difference"
    unit = "%" if spec.percent and not difference else ""
    return ThousandsFormatter(money_prefix(units), unit=unit, plus=difference)


def _wrap(text: str, max_chars: int) -> str:
    """Break ``text`` onto lines of at most ``max_chars``, preferring a break before ``(units)``."""
    if len(text) <= max_chars:
        return text
    head, sep, tail = text.rpartition(" (")
    if sep and len(head) <= max_chars and len(tail) + 1 <= max_chars:
        return f"{head}\n({tail}"
    return textwrap.fill(text, max(8, max_chars))


def _left_title(ax: "Axes") -> Text | None:
    """The Text of an axes' left title (``None`` without one)."""
    text = ax.get_title(loc="left")
    if not text:
        return None
    return next((c for c in ax.get_children() if isinstance(c, Text) and c.get_text() == text), None)


def _suptitle(fig: Figure, text: str) -> None:
    """The figure's title, left-aligned; a title too wide for the figure gets a smaller font (down
    to the axis-title size), then wraps, so a long model or scenario name is never cut off."""
    t = fig.suptitle(text, fontsize=_SUPTITLE_PT, fontweight="bold", x=0.01, ha="left")
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    room = fig.get_window_extent(renderer).width * 0.98
    size = _SUPTITLE_PT
    while t.get_window_extent(renderer).width > room and size > _TITLE_PT:
        size -= 1
        t.set_fontsize(size)
    width = t.get_window_extent(renderer).width
    if width > room:
        t.set_text(_wrap(text, int(len(text) * room / width)))


def _fit_titles(fig: Figure, axes: Sequence["Axes"]) -> None:
    """Wrap left-aligned axis titles that would run past their axes into the next chart."""
    FigureCanvasAgg(fig)  # a renderer to measure text; savefig still picks the format's backend
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        title = _left_title(ax)
        if title is None:
            continue
        text = title.get_text()
        width = title.get_window_extent(renderer).width
        room = ax.get_window_extent(renderer).width * 1.04
        if width > room:
            ax.set_title(_wrap(text, int(len(text) * room / width)), loc="left",
                         fontsize=title.get_fontsize(), pad=8)


def _policy_weeks(cmp: "Comparison") -> list[float]:
    weeks = {w for n, w in cmp.policy_start_weeks.items() if n != cmp.baseline and w is not None and w > 0}
    return sorted(weeks)


def _policy_label(weeks: Sequence[float], time_unit: str = "Week") -> str:
    one, many = time_words(time_unit)
    if len(weeks) == 1:
        return f"Policy start ({one} {weeks[0]:g})"
    return f"Policy starts ({many} " + ", ".join(f"{w:g}" for w in weeks) + ")"


def _time_label(time_unit: str) -> str:
    """The time axis's label: the model's unit as a word (``"Week"``, ``"Month"``), else ``"Time"``."""
    one, _ = time_words(time_unit)
    return "Time" if one == "time unit" else one.capitalize()


def _time_axis(ax: "Axes", t: np.ndarray, nbins: int) -> None:
    """What every time chart shares: week ticks, the run's time span, a light grid, no top or
    right spine."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=nbins, integer=True))
    ax.tick_params(labelsize=_TICK_PT, length=4, color="#999999")
    ax.set_xlim(float(t[0]), float(t[-1]))
    ax.grid(True, color="#e3e3e3", linewidth=0.9)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _style_axes(ax: "Axes", t: np.ndarray) -> None:
    """Ticks, grid and spines of a time chart (x = weeks)."""
    _time_axis(ax, t, nbins=7)
    ax.xaxis.set_major_formatter(ThousandsFormatter())
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#999999")


def _draw_outcome(ax: "Axes", cmp: "Comparison", variable: str, colors: dict[str, str],
                  weeks: Sequence[float], *, title_pt: float = _TITLE_PT, mark_text: bool = False) -> None:
    """One outcome's lines on ``ax`` (:func:`chart_table`): each line is labelled with the
    scenario's title and carries its code name as ``gid``."""
    spec = cmp.outcome(variable)
    table = chart_table(cmp, spec.variable)
    t = table.index.to_numpy(dtype=float)
    # baseline drawn last so it stays visible on top of the others
    order = [n for n in table.columns if n != cmp.baseline] + [cmp.baseline]
    for name in order:
        if name not in table.columns:
            continue
        is_base = name == cmp.baseline
        ax.plot(t, table[name].to_numpy(dtype=float), color=colors[name],
                linewidth=3.2 if is_base else 2.0, zorder=3 if is_base else 2,
                solid_capstyle="round", label=cmp.title_of(name), gid=name)
    for w in weeks:
        ax.axvline(w, color=POLICY_COLOR, linestyle=(0, (5, 4)), linewidth=1.4, zorder=1)
    _mark_disturbance(ax, getattr(cmp, "disturbance", None), label=mark_text)
    if mark_text and weeks:
        ax.annotate("policy start", xy=(weeks[0], 1.0), xycoords=("data", "axes fraction"),
                    xytext=(4, -4), textcoords="offset points", ha="left", va="top",
                    fontsize=_TICK_PT - 1, color="#555555")
    ax.set_title(chart_title(cmp, spec.variable), fontsize=title_pt, loc="left", pad=8)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.yaxis.set_major_formatter(_value_formatter(cmp, spec.variable))
    ax.margins(y=0.08)
    _style_axes(ax, t)


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


def _disturbance_handle(disturbance, time_unit: str = "Week") -> list:
    if disturbance is None:
        return []
    one, _ = time_words(time_unit)
    return [Line2D([], [], color=DISTURBANCE_COLOR, linewidth=1.3,
                   label=f"{disturbance.label[:1].upper()}{disturbance.label[1:]} ({one} {disturbance.week:g})")]


def _legend_handles(cmp: "Comparison", colors: dict[str, str], weeks: Sequence[float]):
    handles = [Line2D([], [], color=colors[n], linewidth=3.2 if n == cmp.baseline else 2.4,
                      label=legend_label(cmp, n)) for n in cmp.scenario_names]
    if weeks:
        handles.append(Line2D([], [], color=POLICY_COLOR, linestyle=(0, (5, 4)), linewidth=1.4,
                              label=_policy_label(weeks, cmp.time_unit)))
    return handles + _disturbance_handle(getattr(cmp, "disturbance", None), cmp.time_unit)


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
    colors = comparison_colors(cmp)
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
            col_axes[-1].set_xlabel(_time_label(cmp.time_unit), fontsize=_LABEL_PT)
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
    _suptitle(fig, title or f"{model_title_of(cmp)}: policy scenarios compared with {cmp.title_of(cmp.baseline)}")
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
    colors = comparison_colors(cmp)
    weeks = _policy_weeks(cmp)
    fig = Figure(figsize=size, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.15, w_pad=0.15)
    ax = fig.subplots()
    _draw_outcome(ax, cmp, var, colors, weeks, title_pt=_TITLE_PT + 3, mark_text=True)
    ax.tick_params(labelsize=_TICK_PT + 2)
    ax.set_xlabel(_time_label(cmp.time_unit), fontsize=_LABEL_PT + 2)
    ax.legend(handles=_legend_handles(cmp, colors, weeks), loc="center left", bbox_to_anchor=(1.01, 0.5),
              fontsize=_LEGEND_PT + 1, frameon=False, title="Scenario",
              title_fontproperties={"size": _LEGEND_PT + 2, "weight": "bold"}, handlelength=2.6)
    spec = cmp.outcome(var)
    what = (f"{spec.label}, difference from {cmp.title_of(cmp.baseline)}" if spec.view == "difference"
            else f"{spec.label} by scenario")
    _suptitle(fig, title or f"{model_title_of(cmp)}: {what}")
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


def _ensemble_titles(result: "EnsembleResult", titles: Mapping[str, str] | None) -> dict[str, str]:
    """Scenario name -> title for a fan chart: ``titles``, else the result's ``scenario_titles`` (if
    it holds them), else the code names."""
    known = dict(titles if titles is not None else getattr(result, "scenario_titles", None) or {})
    return {s: known.get(s) or s for s in result.scenarios}


def _ensemble_percent(result: "EnsembleResult", variable: str, percent: bool | None) -> bool:
    """Whether a fan chart shows ``variable`` times 100: ``percent``, else the result's outcome spec."""
    if percent is not None:
        return percent
    return any(o.variable == variable and o.percent for o in getattr(result, "outcomes", ()) or ())


def fan_chart(result: "EnsembleResult", variable: str, *, scenarios: Sequence[str] | None = None,
              size: tuple[float, float] = SLIDE_SIZE, title: str | None = None,
              titles: Mapping[str, str] | None = None, families: Mapping[str, str] | None = None,
              model_title: str | None = None, percent: bool | None = None) -> Figure:
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
        titles: scenario name -> title for panels and the legend (default: the result's
            ``scenario_titles`` when it holds them, else the code names).
        families: scenario name -> family, for colours (default: the result's ``families``, if any;
            see :func:`scenario_colors`).
        model_title: the model's name for people (default: the result's ``model_title``, else
            its ``model_name``).
        percent: show the variable times 100 with ``%`` (default: from the result's outcome specs,
            if it holds them).
    """
    bands = result.bands
    if variable not in bands:
        raise CxError(f"no bands for {variable!r}; the ensemble has {', '.join(bands.data_vars)}")
    names = list(scenarios) if scenarios is not None else list(result.scenarios)
    for s in names:
        if s not in result.scenarios:
            raise CxError(f"unknown scenario {s!r}; the ensemble has {', '.join(result.scenarios)}")
    pct = _ensemble_percent(result, variable, percent)
    da = bands[variable] * 100.0 if pct else bands[variable]
    t = np.asarray(da["time"], dtype=float)
    shown = _ensemble_titles(result, titles)
    if families is None:
        families = getattr(result, "families", None)
    colors = scenario_colors(names, result.baseline, result.scenarios, families)
    units = result.units.get(variable, "")
    rows, cols = _grid_shape(len(names))
    fig = Figure(figsize=size, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12, w_pad=0.12, hspace=0.06, wspace=0.04)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    flat = list(axes.flat)
    base_median = da.sel(scenario=result.baseline, quantile=0.5).values if result.baseline in result.scenarios else None
    prefix = money_prefix(units)
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
                    label=f"{shown.get(result.baseline, result.baseline)} median")
        ax.set_title(shown[name], fontsize=_TITLE_PT, loc="left", pad=6, gid=name)
        notes = [f"{risk}: {share_rounded(frac)} of runs" for risk, frac in tails.get(name, []) if frac > 0]
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
        ax.yaxis.set_major_formatter(ThousandsFormatter(prefix, unit="%" if pct else ""))
        _time_axis(ax, t, nbins=6)
    for c in range(cols):
        col_axes = [axes[r, c] for r in range(rows) if r * cols + c < len(names)]
        if col_axes:
            col_axes[-1].set_xlabel(_time_label(result.time_unit), fontsize=_LABEL_PT)
            col_axes[-1].xaxis.set_tick_params(labelbottom=True)
    handles = [Line2D([], [], color="#555555", linewidth=2.4, label="median"),
               Line2D([], [], color="#555555", alpha=0.55, linewidth=9, label="50% of runs"),
               Line2D([], [], color="#555555", alpha=0.25, linewidth=9, label="90% of runs"),
               Line2D([], [], color=BASELINE_COLOR, linewidth=1.6, linestyle=(0, (4, 3)),
                      label=f"{shown.get(result.baseline, result.baseline)} median")]
    handles += _disturbance_handle(getattr(result, "disturbance", None), result.time_unit)
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
    name_shown = model_title or getattr(result, "model_title", "") or result.model_name.replace("_", " ")
    _suptitle(fig, title or f"{name_shown}: {axis_title(label, units, percent=pct)} across {runs}{scale}")
    return fig


#: Colours of avoidable contact kinds (failure demand): oranges, darkest at the bottom of the stack.
AVOIDABLE_COLORS = ("#B35806", "#E08214", "#F5A849", "#FDCB8A", "#FEE6C4")
#: Colours of contact kinds that are not avoidable (value demand): greys.
UNAVOIDABLE_COLORS = ("#8C8C8C", "#B3B3B3", "#D2D2D2")


def mix_colors(parts: Sequence) -> list[str]:
    """A colour per contact part, in order: avoidable parts in shades of orange, the others grey."""
    counts = {True: 0, False: 0}
    out = []
    for p in parts:
        shades = AVOIDABLE_COLORS if p.avoidable else UNAVOIDABLE_COLORS
        out.append(shades[counts[p.avoidable] % len(shades)])
        counts[p.avoidable] += 1
    return out


def _avoidable_text(cmp: "Comparison", name: str) -> str:
    """``"78% avoidable"`` from the summary's avoidable share (empty when it is unknown)."""
    col = "avoidable_share"
    if col not in cmp.summary.columns:
        return ""
    x = float(cmp.summary.loc[name, col])
    return "" if math.isnan(x) else f"{share(x, 0)} avoidable"


def contact_mix_chart(cmp: "Comparison", scenarios: Sequence[str] | None = None, *,
                      size: tuple[float, float] = SLIDE_SIZE, title: str | None = None) -> Figure:
    """What contact volume is made of: for each scenario a panel of contacts per week by kind
    (:meth:`Comparison.mix`), stacked in the declared order, all panels on one y scale. Avoidable
    kinds are orange, the others grey; each panel is titled with the scenario's title and the
    share of its contacts that were avoidable over the run (``"Status quo: 78% avoidable"``, broken
    after the colon in every panel when one is too long for its panel); the disturbance and the
    policy start are marked as on the other charts (the disturbance with a white edge, to stand
    out on the stack).

    Args:
        cmp: from :func:`cxsystems.analysis.compare.compare`.
        scenarios: the scenarios to show (default all, baseline first).
        size: figure size in inches (default 16 x 9).
        title: figure title (default names the model).

    Raises:
        CxError: the model declares no ``[contact_mix]``, or an unknown scenario.
    """
    if not cmp.contact_mix:
        raise CxError(f"model {cmp.model_name!r} declares no contact mix ([contact_mix] parts in its "
                      "scenario file), so there is no contact-mix chart")
    names = list(scenarios) if scenarios is not None else cmp.scenario_names
    for n in names:
        cmp.scenario(n)
    parts = cmp.contact_mix
    colors = mix_colors(parts)
    rows, cols = _grid_shape(len(names))
    fig = Figure(figsize=size, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12, w_pad=0.12, hspace=0.06, wspace=0.04)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    flat = list(axes.flat)
    disturbance = getattr(cmp, "disturbance", None)
    top = 0.0
    for i, (ax, name) in enumerate(zip(flat, names)):
        table = cmp.mix(name)
        t = table.index.to_numpy(dtype=float)
        top = max(top, float(np.nanmax(table.sum(axis=1).to_numpy())))
        ax.stackplot(t, *[table[p.label].to_numpy(dtype=float) for p in parts], colors=colors,
                     labels=[p.label for p in parts], edgecolor="white", linewidth=0.4)
        start = cmp.policy_start_weeks.get(name)
        if name != cmp.baseline and start:
            ax.axvline(start, color=POLICY_COLOR, linestyle=(0, (5, 4)), linewidth=1.4, zorder=3)
        _mark_disturbance(ax, disturbance, label=i == 0)
        for ln in ax.lines:  # markers over the stack; the disturbance's red with a white edge
            ln.set_zorder(3)
            if ln.get_color() == DISTURBANCE_COLOR:
                ln.set_path_effects([Stroke(linewidth=3.0, foreground="white"), Normal()])
        note = _avoidable_text(cmp, name)
        ax.set_title(f"{cmp.title_of(name)}: {note}" if note else cmp.title_of(name),
                     fontsize=_TITLE_PT, loc="left", pad=6, gid=name)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_formatter(ThousandsFormatter())
        _style_axes(ax, t)
        ax.grid(False, axis="x")
    flat[0].set_ylim(0, top * 1.04 if top > 0 else 1.0)
    for r in range(rows):
        axes[r, 0].set_ylabel(f"Contacts per {time_words(cmp.time_unit)[0]}", fontsize=_LABEL_PT)
    for c in range(cols):
        col_axes = [axes[r, c] for r in range(rows) if r * cols + c < len(names)]
        if col_axes:
            col_axes[-1].set_xlabel(_time_label(cmp.time_unit), fontsize=_LABEL_PT)
            col_axes[-1].xaxis.set_tick_params(labelbottom=True)
    handles = _mix_handles(cmp, colors)
    free = rows * cols - len(names)
    if free:
        for ax in flat[len(names):]:
            ax.set_axis_off()
        flat[len(names)].legend(handles=handles, loc="center", fontsize=_LEGEND_PT - 1, frameon=False,
                                title="Contacts (top of the stack first)",
                                title_fontproperties={"size": _LEGEND_PT, "weight": "bold"})
    else:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3),
                   fontsize=_LEGEND_PT, frameon=False)
    _suptitle(fig, title or f"{model_title_of(cmp)}: what contact volume is made of")
    _break_titles_if_wide(fig, flat[:len(names)], ": ")
    return fig


def _break_titles_if_wide(fig: Figure, axes: Sequence["Axes"], sep: str) -> None:
    """When any left title is wider than its axes, break every title after its first ``sep``
    (panels of one figure keep titles of one shape)."""
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    titles = [(ax, _left_title(ax)) for ax in axes]
    titles = [(ax, t) for ax, t in titles if t is not None]
    if all(t.get_window_extent(renderer).width <= ax.get_window_extent(renderer).width * 1.04
           for ax, t in titles):
        return
    for _, t in titles:
        t.set_text(t.get_text().replace(sep, sep.rstrip() + "\n", 1))


def _mix_handles(cmp: "Comparison", colors: Sequence[str]) -> list:
    """Legend entries of the contact mix, top of the stack first, then the markers."""
    from matplotlib.patches import Patch

    kinds = [Patch(facecolor=c, edgecolor="white", label=f"{p.label}{'' if p.avoidable else ' (not avoidable)'}")
             for p, c in zip(cmp.contact_mix, colors)][::-1]
    weeks = sorted({w for n, w in cmp.policy_start_weeks.items() if n != cmp.baseline and w})
    policy = [Line2D([], [], color=POLICY_COLOR, linestyle=(0, (5, 4)), linewidth=1.4,
                     label=_policy_label(weeks, cmp.time_unit))] if weeks else []
    return kinds + policy + _disturbance_handle(getattr(cmp, "disturbance", None), cmp.time_unit)
