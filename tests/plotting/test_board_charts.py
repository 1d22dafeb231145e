"""Board-ready charts: scenario titles instead of code names, colour families, fractions as
percentages, the difference-from-baseline view and the contact-mix chart.

Expectations are computed from the comparison itself (synthetic runs or the bundled models), never
from hard-coded model output."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgb

import cxsystems as cx
from cxsystems.analysis.compare import build_comparison
from cxsystems.errors import CxError
from cxsystems.model.scenarios import Change, Scenario
from cxsystems.model.specs import ContactPart, OutcomeSpec
from cxsystems.plotting.charts import (
    AVOIDABLE_COLORS,
    BASELINE_COLOR,
    PALETTE,
    UNAVOIDABLE_COLORS,
    comparison_colors,
    contact_mix_chart,
    dashboard,
    outcome_chart,
    scenario_colors,
)
from cxsystems.text import axis_title, difference_title, percent_units

NAMES = ("baseline", "react_a", "react_b", "struct_a", "struct_b", "struct_c", "both", "plain")
FAMILIES = {"baseline": "baseline", "react_a": "reactive", "react_b": "reactive", "struct_a": "structural",
            "struct_b": "structural", "struct_c": "structural", "both": "mixed", "plain": ""}
PARTS = (ContactPart("Routine", "Routine questions", False), ContactPart("Problems", "New problems", True),
         ContactPart("Repeats", "Repeat contacts", True))


def toy(names=NAMES, color_order=NAMES):
    """Eight scenarios of every family on weeks 0..52: churn (a fraction), profit (difference view),
    backlog (level) and a three-part contact mix."""
    t = np.arange(0.0, 53.0)
    runs, scenarios = {}, []
    for i, name in enumerate(names):
        k = NAMES.index(name)
        runs[name] = pd.DataFrame({
            "Churn": 0.2 + 0.01 * k * np.sin(t / 10), "Profit": 1e6 * t * (1 + 0.05 * k),
            "Backlog": 1000.0 + 10 * k * t, "Routine": np.full_like(t, 50.0),
            "Problems": 30.0 + k + 0.1 * t, "Repeats": 20.0 + 2 * k * np.cos(t / 8) ** 2}, index=t)
        label = "" if name == "plain" else f"Policy {name.upper()}"
        changes = () if name == "baseline" else (Change("X", 1.0, 8.0),)
        scenarios.append(Scenario(name, "", changes, label, FAMILIES[name]))
    return build_comparison(
        runs, scenarios=scenarios,
        outcomes=(OutcomeSpec("Churn", "lower", "Churn rate", "1/Year", percent=True),
                  OutcomeSpec("Profit", "higher", "Cumulative profit", "$", "final", view="difference"),
                  OutcomeSpec("Backlog", "lower", "Ticket backlog", "tickets")),
        classify="Backlog", units={"Churn": "1/Year", "Profit": "$", "Backlog": "tickets"},
        model_name="toy_model", model_title="A toy service", color_order=color_order, contact_mix=PARTS)


@pytest.fixture(scope="module")
def cmp():
    return toy()


def _hue(color: str) -> float:
    """Hue in degrees (0-360)."""
    return colorsys.rgb_to_hls(*to_rgb(color))[0] * 360


def _lightness(color: str) -> float:
    return colorsys.rgb_to_hls(*to_rgb(color))[1]


def _lines(ax) -> dict:
    """Scenario code name (the line's gid) -> line."""
    return {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}


def _legend_texts(fig) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


# ---- colours ------------------------------------------------------------------------------------

def test_families_set_the_colours(cmp):
    colors = comparison_colors(cmp)
    assert list(colors) == cmp.scenario_names
    assert colors["baseline"] == BASELINE_COLOR and _lightness(BASELINE_COLOR) < 0.15  # near-black
    warm = [colors[n] for n in ("react_a", "react_b")]
    cool = [colors[n] for n in ("struct_a", "struct_b", "struct_c")]
    for c in warm:
        assert _hue(c) <= 50 or _hue(c) >= 330, c
    for c in cool:
        assert 90 <= _hue(c) <= 250, c
    assert 260 <= _hue(colors["both"]) <= 320
    assert colors["plain"] == PALETTE[0]  # no family declared: the fallback palette
    assert len(set(colors.values())) == len(colors)  # distinct shades within a family
    # colour-blind sanity: every reactive colour is lighter than every structural one
    assert min(map(_lightness, warm)) > max(map(_lightness, cool))


def test_a_subset_keeps_every_scenario_colour(cmp):
    sub = toy(names=("baseline", "react_b", "struct_c"))
    full = comparison_colors(cmp)
    assert comparison_colors(sub) == {n: full[n] for n in sub.scenario_names}


def test_scenario_colors_without_families_is_unchanged():
    colors = scenario_colors(["base", "a", "b"], "base", ["base", "x", "a", "b"])
    assert colors == {"base": BASELINE_COLOR, "a": PALETTE[1], "b": PALETTE[2]}


def test_charts_draw_the_family_colours(cmp):
    colors = comparison_colors(cmp)
    fig = dashboard(cmp)
    for ax in [a for a in fig.axes if a.axison]:
        lines = _lines(ax)
        assert set(lines) == set(cmp.scenario_names)
        for name, ln in lines.items():
            assert to_hex(ln.get_color()) == colors[name].lower()
        assert lines["baseline"].get_linewidth() > max(ln.get_linewidth() for n, ln in lines.items()
                                                       if n != "baseline")


# ---- titles and labels --------------------------------------------------------------------------

def test_legends_and_titles_use_labels_not_code_names(cmp):
    for fig in (dashboard(cmp), outcome_chart(cmp, "Backlog")):
        texts = _legend_texts(fig)
        titles = [cmp.title_of(n) for n in cmp.scenario_names]
        assert texts[:len(titles)] == [f"{titles[0]} (baseline)", *titles[1:]]
        assert "plain" in texts  # no label: the code name with spaces is its title
        assert not any(n in t for t in texts for n in NAMES if n not in ("baseline", "plain"))
        assert fig._suptitle.get_text().startswith("A toy service: ")
        assert "toy_model" not in fig._suptitle.get_text()
        for ax in fig.axes:
            for ln in _lines(ax).values():
                assert ln.get_label() == cmp.title_of(ln.get_gid())


def test_text_formats_for_percent_and_difference():
    assert percent_units("a year") == "% a year"
    assert percent_units("Dmnl") == "%" and percent_units("") == "%"
    assert axis_title("Churn rate", "1/Year", percent=True) == "Churn rate (% per year)"
    assert axis_title("Share", "Dmnl") == "Share"
    assert difference_title("Cumulative profit", "Status quo", "$") == \
        "Cumulative profit: difference from Status quo ($)"
    assert "Dmnl" not in difference_title("Share", "Status quo", "Dmnl", percent=True)


# ---- percent and difference views --------------------------------------------------------------

def test_a_fraction_is_drawn_as_a_percentage(cmp):
    ax = outcome_chart(cmp, "Churn").axes[0]
    assert ax.get_title(loc="left") == "Churn rate (% per year)"
    table = cmp.wide("Churn")
    for name, ln in _lines(ax).items():
        np.testing.assert_allclose(ln.get_ydata(), 100 * table[name].to_numpy())
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith("%") for t in ticks)


def test_the_difference_view_draws_each_scenario_minus_the_baseline(cmp):
    fig = outcome_chart(cmp, "Profit")
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Cumulative profit: difference from Policy BASELINE ($)"
    table = cmp.wide("Profit")
    lines = _lines(ax)
    np.testing.assert_array_equal(lines["baseline"].get_ydata(), np.zeros(len(table)))
    for name in cmp.scenario_names[1:]:
        np.testing.assert_allclose(lines[name].get_ydata(), table[name] - table["baseline"])
    assert "difference from" in fig._suptitle.get_text()


def test_the_bundled_charts_show_no_code_names(cx_service):
    cmp = cx.compare(cx_service, ["reactive_hiring", "structural_prevention"])
    texts = []
    for fig in (cmp.plot(), cmp.plot("Annual Churn Rate"), cmp.plot(contact_mix=True)):
        fig.canvas.draw()
        texts += [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    shown = " ".join(texts)
    for code in ("cx_service", "reactive_hiring", "structural_prevention", "Dmnl"):
        assert code not in shown
    assert cmp.model_title in shown and cmp.title_of("reactive_hiring") in shown
    churn = [o for o in cmp.outcomes if o.percent]
    assert churn, "cx_service declares a percent outcome"
    ax = cmp.plot(churn[0].variable).axes[0]
    np.testing.assert_allclose(_lines(ax)[cmp.baseline].get_ydata(),
                               100 * cmp.wide(churn[0].variable)[cmp.baseline].to_numpy())


# ---- contact mix --------------------------------------------------------------------------------

def test_contact_mix_chart_stacks_the_parts(cmp):
    names = ["baseline", "react_a", "struct_b"]
    fig = contact_mix_chart(cmp, names)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 3
    assert len({ax.get_ylim() for ax in panels}) == 1  # one y scale
    for ax, name in zip(panels, names):
        share = cmp.summary.loc[name, "avoidable_share"]
        assert ax.get_title(loc="left").replace("\n", " ") == \
            f"{cmp.title_of(name)}: {round(100 * share):.0f}% avoidable"
        layers = ax.collections
        assert len(layers) == len(PARTS)
        mix = cmp.mix(name)
        # the top edge of each layer is the running total of the parts, in the declared order
        running = np.zeros(len(mix))
        for layer, part in zip(layers, PARTS):
            running = running + mix[part.label].to_numpy()
            top = layer.get_paths()[0].vertices[:, 1].max()
            assert top == pytest.approx(running.max())
        colors = [to_hex(layer.get_facecolor()[0]) for layer in layers]
        assert colors[0] in [c.lower() for c in UNAVOIDABLE_COLORS]
        assert all(c in [a.lower() for a in AVOIDABLE_COLORS] for c in colors[1:])
    texts = _legend_texts(fig)
    for part in PARTS:
        assert any(t.startswith(part.label) for t in texts)
    assert fig._suptitle.get_text().startswith("A toy service")


def test_contact_mix_chart_marks_the_disturbance(cx_service):
    from cxsystems.plotting.charts import DISTURBANCE_COLOR

    cmp = cx.compare(cx_service, ["structural_prevention"])
    fig = cmp.plot(contact_mix=True)
    panels = [ax for ax in fig.axes if ax.axison]
    week = cx_service.analysis.disturbance.week
    for ax in panels:
        marks = [ln for ln in ax.lines if to_hex(ln.get_color()) == DISTURBANCE_COLOR]
        assert len(marks) == 1 and np.allclose(marks[0].get_xdata(), week)
    for ax, name in zip(panels, cmp.scenario_names):
        share = cmp.summary.loc[name, "avoidable_share"]
        assert math.isfinite(share)
        assert ax.get_title(loc="left").replace("\n", " ").startswith(cmp.title_of(name) + ":")


def test_no_contact_mix_is_a_clear_refusal(capability_trap):
    cmp = cx.compare(capability_trap)
    assert not cmp.contact_mix
    with pytest.raises(CxError, match="declares no contact mix"):
        contact_mix_chart(cmp)
    assert not any(n.startswith("contact_mix") for n in cmp.chart_files())


def test_a_long_figure_title_is_never_cut_off(capability_trap):
    """capability_trap's title plus its baseline label is wider than the slide at 21 pt: the title
    shrinks (and, longer still, wraps) to stay inside the figure."""
    cmp = cx.compare(capability_trap)
    for title in (None, "A very long model name for a board slide: " * 4):
        fig = cmp.plot(title=title) if title else cmp.plot()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        box = fig._suptitle.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.get_window_extent(renderer).width, (title, box)
    assert "\n" in fig._suptitle.get_text()  # the longest one wraps
