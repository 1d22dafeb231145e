"""compare() on the real cx_service model (structure, not its dynamics), Comparison methods,
describe_row text on synthetic runs, and the charts of plotting.py."""

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.analysis.compare import (
    AVOIDABLE_COLUMN,
    BASELINE_COLUMNS,
    CLASS_PREFIX,
    RESULT_COLUMNS,
    Comparison,
    build_comparison,
    compare,
    describe_row,
)
from cxsystems.analysis.metrics import against_baseline, metric_value
from cxsystems.errors import CxError
from cxsystems.files import slug
from cxsystems.model.scenarios import Change, Scenario, select_scenarios
from cxsystems.model.specs import MetricSpec, OutcomeSpec


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture(scope="module")
def full(model):
    return compare(model)


# ---- scenario selection -------------------------------------------------------------------------

def test_default_runs_every_scenario_baseline_first(model, full):
    names = list(model.scenarios)
    base = model.analysis.baseline
    assert full.baseline == base
    assert full.scenario_names[0] == base
    assert sorted(full.scenario_names) == sorted(names)
    assert full.policy_start_weeks == {s.name: s.start_week for s in model.scenarios.values()}
    assert full.model_name == "cx_service"


def test_baseline_always_included_and_first(model):
    others = [n for n in model.scenarios if n != model.analysis.baseline]
    chosen = select_scenarios(model, [others[1], others[0]])
    assert [s.name for s in chosen] == [model.analysis.baseline, others[1], others[0]]
    chosen = select_scenarios(model, [others[0], model.analysis.baseline, others[0]])
    assert [s.name for s in chosen] == [model.analysis.baseline, others[0]]
    assert [s.name for s in select_scenarios(model, others[0])] == [model.analysis.baseline, others[0]]


def test_unknown_scenario_lists_valid_names(model):
    with pytest.raises(CxError) as err:
        compare(model, ["no_such_policy"])
    msg = str(err.value)
    assert "no_such_policy" in msg and "\n" not in msg
    for name in model.scenarios:
        assert name in msg


def test_two_different_scenarios_with_one_name_are_refused(model):
    other = next(n for n in model.scenarios if n != model.analysis.baseline)
    fake = Scenario(other, "same name, no changes")
    with pytest.raises(CxError, match="two different scenarios"):
        select_scenarios(model, [other, fake])


# ---- results and summary ------------------------------------------------------------------------

def test_results_are_tidy_and_complete(model, full):
    res = full.results
    assert list(res.columns) == list(RESULT_COLUMNS)
    needed = {o.variable for o in model.analysis.outcomes} | {m.variable for m in model.analysis.metrics}
    assert needed <= set(res["variable"])
    counts = res.groupby(["scenario", "variable"]).size()
    assert len(counts) == len(full.scenarios) * res["variable"].nunique()
    n_times = int((model.final_time - model.initial_time) / model.saveper) + 1
    assert set(counts) == {n_times}
    assert np.isfinite(res["value"].to_numpy()).all()
    assert res["time"].min() == model.initial_time and res["time"].max() == model.final_time


def test_summary_layout(model, full):
    summ = full.summary
    assert summ.index.name == "scenario"
    assert list(summ.index) == full.scenario_names
    metric_cols = [m.name for m in model.analysis.metrics]
    class_cols = [CLASS_PREFIX + o.label for o in model.analysis.outcomes]
    assert list(summ.columns) == metric_cols + list(BASELINE_COLUMNS) + class_cols + [AVOIDABLE_COLUMN]
    allowed = {"better", "worse", "better-before-worse", "worse-before-better", "no change"}
    assert set(summ["classification"]) <= allowed
    for col in class_cols:
        assert set(summ[col]) <= allowed
    base = summ.loc[full.baseline]
    assert base["classification"] == "no change"
    assert base["worst_shortfall"] == 0.0 and base["final_advantage"] == 0.0
    assert math.isnan(base["worst_shortfall_week"]) and math.isnan(base["stays_better_from_week"])
    assert (summ["worst_shortfall"] <= 0).all()


def test_summary_agrees_with_metrics_on_the_trajectories(model, full):
    """The summary is the metrics module applied to the stored trajectories."""
    name = full.scenario_names[-1]
    for spec in model.analysis.metrics:
        w = full.wide(spec.variable)
        expect = metric_value(w.index.to_numpy(), w[name].to_numpy(), spec.how)
        assert full.summary.loc[name, spec.name] == pytest.approx(expect, rel=1e-12)
    w = full.wide(full.classify)
    expect = against_baseline(w.index.to_numpy(), w[name].to_numpy(), w[full.baseline].to_numpy(),
                              full.classify_better, judge=full.classify_judge)
    got = full.summary.loc[name, list(BASELINE_COLUMNS)].to_dict()
    for key, value in expect.items():
        if isinstance(value, str):
            assert got[key] == value
        elif math.isnan(value):
            assert math.isnan(got[key])
        else:
            assert got[key] == pytest.approx(value)
    for o in model.analysis.outcomes:
        w = full.wide(o.variable)
        cls = against_baseline(w.index.to_numpy(), w[name].to_numpy(), w[full.baseline].to_numpy(),
                               o.better, judge=o.judge)["classification"]
        assert full.summary.loc[name, CLASS_PREFIX + o.label] == cls


def test_wide_table_and_variable_lookup(full):
    w = full.wide("ticket_backlog")  # case/underscore-insensitive
    assert list(w.columns) == full.scenario_names
    assert w.index.name == "time"
    tidy = full.results[(full.results.variable == "Ticket Backlog")
                        & (full.results.scenario == full.scenario_names[1])]
    np.testing.assert_array_equal(w[full.scenario_names[1]].to_numpy(), tidy["value"].to_numpy())
    with pytest.raises(CxError, match="'Nope' is not in this comparison"):
        full.wide("Nope")


def test_to_csv_round_trip(full, tmp_path):
    paths = full.to_csv(tmp_path / "new" / "dir")
    res = pd.read_csv(paths["results"])
    assert list(res.columns) == list(RESULT_COLUMNS)
    assert len(res) == len(full.results)
    summ = pd.read_csv(paths["summary"], index_col="scenario")
    assert list(summ.index) == full.scenario_names
    assert list(summ.columns) == list(full.summary.columns)
    assert not list(paths["results"].parent.glob(".*.tmp"))


def test_classify_override_takes_direction_from_outcome_or_metric(model):
    other = next(n for n in model.scenarios if n != model.analysis.baseline)
    cmp = compare(model, [other], classify="wait time")
    assert cmp.classify == "Wait Time" and cmp.classify_better == "lower"
    # not an outcome, but the metric customers_end says higher is better
    cmp = compare(model, [other], classify="Customers")
    assert cmp.classify == "Customers" and cmp.classify_better == "higher"
    assert "Customers" in set(cmp.results["variable"])
    cmp2 = compare(model, [other], classify="Customers", better="lower")
    w = cmp.wide("Customers")
    assert cmp2.summary.loc[other, "final_advantage"] == pytest.approx(
        w[cmp.baseline].iloc[-1] - w[other].iloc[-1])
    assert cmp.summary.loc[other, "final_advantage"] == pytest.approx(
        -cmp2.summary.loc[other, "final_advantage"])
    with pytest.raises(CxError, match="unknown variable 'Bogus'"):
        compare(model, [other], classify="Bogus")


def test_model_without_outcomes_uses_stocks(model):
    bare = copy.copy(model)
    bare.analysis = dataclasses.replace(model.analysis, outcomes=(), classify=None, metrics=())
    cmp = compare(bare, [model.analysis.baseline])
    assert [o.variable for o in cmp.outcomes] == list(model.stocks)
    assert all(o.better == "lower" for o in cmp.outcomes)
    assert cmp.classify == model.stocks[0]
    assert list(cmp.summary.columns[:len(BASELINE_COLUMNS)]) == list(BASELINE_COLUMNS)


def test_custom_scenario_object(model):
    custom = Scenario("custom_prevention", "half-strength prevention from week 20",
                      (Change("Prevention Incentive", 0.5, 20.0),))
    cmp = compare(model, [custom])
    assert cmp.scenario_names == [model.analysis.baseline, "custom_prevention"]
    assert cmp.policy_start_weeks["custom_prevention"] == 20.0
    before = cmp.wide("Ticket Backlog").loc[:19.0]
    np.testing.assert_allclose(before["custom_prevention"], before[model.analysis.baseline])


# ---- synthetic comparisons: exact numbers and text ----------------------------------------------

def synthetic() -> Comparison:
    """Backlog (lower better) and profit (higher better) on weeks 0..60, policy from week 10."""
    t = np.arange(0.0, 61.0)
    base_backlog = np.full_like(t, 100_000.0)  # tolerance 1,000 tickets
    hump = np.where((t >= 10) & (t <= 40), 12_345.0 * np.sin(np.pi * (t - 10) / 30) ** 2, 0.0)
    fall = np.where(t > 40, -35_200.0 * np.minimum((t - 40) / 15, 1.0), 0.0)
    runs = {
        "baseline": pd.DataFrame({"Backlog": base_backlog, "Profit": 10.0 * t}, index=t),
        "prevent": pd.DataFrame({"Backlog": base_backlog + hump + fall, "Profit": 10.0 * t}, index=t),
    }
    scenarios = (Scenario("baseline", ""), Scenario("prevent", "", (Change("X", 1.0, 10.0),)))
    return build_comparison(
        runs, scenarios=scenarios,
        outcomes=(OutcomeSpec("Backlog", "lower", "Ticket backlog", "tickets"),
                  OutcomeSpec("Profit", "higher", "Profit", "$")),
        classify="Backlog", classify_better="lower",
        metrics=(MetricSpec("peak", "Backlog", "max", "lower"),),
        units={"Backlog": "tickets", "Profit": "$"}, model_name="toy")


def test_describe_row_text():
    cmp = synthetic()
    row = cmp.summary.loc["prevent"]
    assert row["classification"] == "worse-before-better"
    assert row["worst_shortfall"] == pytest.approx(-12_345.0)
    assert row["worst_shortfall_week"] == 25.0
    # the fall passes -1,000 between weeks 40 and 41
    assert row["stays_better_from_week"] == 41.0
    assert row["final_advantage_pct"] == pytest.approx(35.2)
    assert cmp.summary.loc["prevent", CLASS_PREFIX + "Profit"] == "no change"
    assert cmp.summary.loc["prevent", "peak"] == pytest.approx(112_345.0)
    # judged on the mean (the default judge): the mean backlog below the baseline's, positive = better
    advantage = 100_000.0 - cmp.wide("Backlog")["prevent"]
    assert row["judge"] == "mean"
    assert row["judged_advantage"] == pytest.approx(advantage.mean())
    assert row["judged_advantage_pct"] == pytest.approx(100 * advantage.mean() / 100_000.0)
    assert row["phases"] == "worse weeks 13-37, better weeks 41-60"
    # the class, the judged measure, the phases and the end, "better"/"worse" for the organisation
    # (the backlog ends 35.2% lower: better), never a bare signed change of the variable
    assert describe_row(cmp, "prevent") == (
        "prevent: worse-before-better on Ticket backlog (judged on the mean: 4.5% better; "
        "worse weeks 13-37, better weeks 41-60; ends 35.2% better)")
    assert cmp.describe("baseline").startswith("baseline: the baseline")
    with pytest.raises(CxError, match="choose from baseline, prevent"):
        cmp.describe("other")


def test_build_comparison_checks_runs():
    cmp = synthetic()
    runs = {n: cmp.wide("Backlog")[[n]].rename(columns={n: "Backlog"}) for n in cmp.scenario_names}
    with pytest.raises(CxError, match="lacks 'Profit'"):
        build_comparison(runs, scenarios=cmp.scenarios, outcomes=cmp.outcomes, classify="Backlog")
    runs["prevent"] = runs["prevent"].iloc[:-1]
    with pytest.raises(CxError, match="another time grid"):
        build_comparison(runs, scenarios=cmp.scenarios, outcomes=cmp.outcomes[:1], classify="Backlog")


def test_slug():
    assert slug("Ticket Backlog") == "ticket_backlog"
    assert slug("Ticket inflow (new issues)") == "ticket_inflow_new_issues"
    assert slug("***") == "variable"


# ---- plotting -----------------------------------------------------------------------------------

def test_dashboard_figure_structure(full):
    from matplotlib.figure import Figure

    from cxsystems.plotting.charts import BASELINE_COLOR, comparison_colors

    fig = full.plot()
    assert isinstance(fig, Figure)
    assert tuple(fig.get_size_inches()) == (16.0, 9.0)
    charts = [ax for ax in fig.axes if ax.axison]
    assert len(charts) == len(full.outcomes)
    colors = comparison_colors(full)  # by scenario family (board-ready charts)
    assert colors[full.baseline] == BASELINE_COLOR
    assert len(set(colors.values())) == len(colors)
    for ax, o in zip(charts, full.outcomes):
        assert ax.get_title(loc="left").replace("\n", " ").startswith(o.label)
        lines = {ln.get_gid(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
        assert set(lines) == set(full.scenario_names)
        for name, ln in lines.items():
            assert ln.get_color() == colors[name]
        assert lines[full.baseline].get_linewidth() > max(
            ln.get_linewidth() for n, ln in lines.items() if n != full.baseline)
        # policy start: a dashed vertical line at the policy week; the launch (the disturbance every
        # scenario faces): a solid red one at week 8
        vlines = [ln for ln in ax.get_lines() if ln.get_label().startswith("_")
                  and len(set(np.atleast_1d(ln.get_xdata()))) == 1]
        dashed = [ln for ln in vlines if ln.get_linestyle() != "-"]
        solid = [ln for ln in vlines if ln.get_linestyle() == "-"]
        assert {float(np.atleast_1d(ln.get_xdata())[0]) for ln in dashed} == {16.0}
        assert {float(np.atleast_1d(ln.get_xdata())[0]) for ln in solid} == {8.0}
        for label in ax.get_yticklabels() + ax.get_xticklabels():
            assert label.get_fontsize() >= 11
    legend_texts = [t.get_text() for leg in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
                    for t in leg.get_texts()]
    for name in full.scenario_names:  # legends show scenario titles, the title the model's title
        assert any(t.startswith(full.title_of(name)) for t in legend_texts)
    assert fig._suptitle.get_text().startswith(full.model_title)


def test_subset_keeps_each_scenario_colour(model, full):
    from cxsystems.plotting.charts import scenario_colors

    last = full.scenario_names[-1]
    sub = compare(model, [last])
    all_colors = scenario_colors(full.scenario_names, full.baseline, full.color_order)
    sub_colors = scenario_colors(sub.scenario_names, sub.baseline, sub.color_order)
    assert sub_colors[last] == all_colors[last]


def test_thousands_formatter():
    from cxsystems.plotting.charts import ThousandsFormatter

    f = ThousandsFormatter()
    f.set_locs([0, 12_500, 25_000])
    assert [f(x) for x in (0, 12_500, 25_000)] == ["0", "12,500", "25,000"]
    f.set_locs([0.2, 0.225, 0.25])
    assert f(0.225) == "0.225"
    g = ThousandsFormatter("$")
    g.set_locs([0, 2e7, 4e7])
    assert (g(0), g(2e7)) == ("$0", "$20M")
    g.set_locs([-5e5, 0, 5e5])
    assert g(-5e5) == "\u2212$500,000"


def test_save_figure_formats_and_no_pyplot_state(tmp_path, full):
    import matplotlib.pyplot as plt

    from cxsystems.plotting.charts import save_figure

    before = plt.get_fignums()
    fig = full.plot_outcome("Wait Time")
    magic = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}
    for fmt, head in magic.items():
        path = save_figure(fig, tmp_path / f"chart.{fmt}")
        assert path.read_bytes()[: len(head)] == head
    assert not list(tmp_path.glob(".*.tmp"))
    assert plt.get_fignums() == before
    with pytest.raises(CxError, match="unsupported chart format '.gif'"):
        save_figure(fig, tmp_path / "chart.gif")
    with pytest.raises(OSError):
        save_figure(fig, tmp_path / "missing" / "chart.png")


def test_save_writes_the_contact_mix_chart_when_the_model_declares_one(tmp_path):
    from cxsystems.model.specs import ContactPart

    cmp = synthetic()
    assert "contact_mix.png" not in cmp.chart_files()
    runs = {n: cmp.run(n) for n in cmp.scenario_names}
    parts = (ContactPart("Backlog", "Backlog contacts", True), ContactPart("Profit", "Profit contacts", False))
    mixed = build_comparison(runs, scenarios=cmp.scenarios, outcomes=cmp.outcomes, classify="Backlog",
                             units=dict(cmp.units), model_name="toy", contact_mix=parts)
    files = mixed.chart_files()
    assert list(files)[-1] == "contact_mix.png" and files["contact_mix.png"] is None
    assert set(mixed.chart_files("svg")) == {n.replace(".png", ".svg") for n in files}
    written = mixed.save(tmp_path / "out")
    names = [p.name for p in written]
    assert "contact_mix.png" in names and names.index("contact_mix.png") < names.index("results.csv")
    assert (tmp_path / "out" / "contact_mix.png").stat().st_size > 10_000
    # an outcome called "contact mix" never takes the chart's file name
    from cxsystems.analysis.compare import RESERVED_STEMS
    from cxsystems.files import outcome_stems

    assert outcome_stems(["Contact Mix"], reserved=RESERVED_STEMS)["Contact Mix"] != "contact_mix"


def test_a_subscripted_outcome_is_compared_element_by_element(tmp_path):
    """A subscripted stock (run through PySD) becomes one outcome per element, named as the run
    names it; the classification reads the first element."""
    import warnings

    import cxsystems as cx

    path = tmp_path / "subs.mdl"
    path.write_text("{UTF-8}\nregion: north, south\n\t~\t\n\t~\t\t|\n"
                    "growth = 1 ~ Thing/Week [0,5] ~ |\n"
                    "stock[region] = INTEG(growth * share[region], 0) ~ Thing ~ |\n"
                    "share[north] = 1 ~ Dmnl ~ |\nshare[south] = 2 ~ Dmnl ~ |\n"
                    "FINAL TIME = 4 ~ Week ~ |\nINITIAL TIME = 0 ~ Week ~ |\nSAVEPER = 1 ~ Week ~ |\n"
                    "TIME STEP = 1 ~ Week ~ |\n", encoding="utf-8")
    (tmp_path / "subs.scenarios.toml").write_text(
        '[scenarios.baseline]\ndescription = "as written"\n[scenarios.faster]\ndescription = "x2"\n'
        '[scenarios.faster.set]\ngrowth = 2\n', encoding="utf-8")
    model = cx.load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cx.errors.EngineNotice)
        cmp = compare(model)
    assert [o.variable for o in cmp.outcomes] == ["stock[north]", "stock[south]"]
    assert cmp.classify == "stock[north]"
    wide = cmp.wide("stock[south]")
    assert wide["faster"].iloc[-1] == pytest.approx(2 * wide["baseline"].iloc[-1]) == pytest.approx(16.0)
    # stocks without a declared direction: lower is better, so twice the growth is worse
    assert cmp.summary.loc["faster", "classification"] == "worse"


REGIONS = """{UTF-8}
Region: (r1-r15) ~ ~ |
Stock[Region] = INTEG(Inflow[Region], 0) ~ units ~ |
Inflow[Region] = Rate * Weight[Region] ~ units/Week ~ |
Weight[Region] = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 ~ Dmnl ~ |
Rate = 1 ~ units/Week [0, 4] ~ |
FINAL TIME = 10 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 1 ~ Week ~ |
"""


def _regions(tmp_path, outcome: str):
    (tmp_path / "regions.mdl").write_text(REGIONS, encoding="utf-8")
    (tmp_path / "regions.scenarios.toml").write_text(
        f'[analysis]\nbaseline = "baseline"\n[scenarios.baseline]\n[scenarios.more]\n[scenarios.more.set]\n'
        f'"Rate" = 2\n[[outcomes]]\nvariable = "{outcome}"\nbetter = "higher"\n', encoding="utf-8")
    return cx.load_model(tmp_path / "regions.mdl")


def test_a_subscripted_outcome_charts_its_first_elements_and_says_so(tmp_path):
    from cxsystems.analysis.compare import MAX_ELEMENTS
    from cxsystems.errors import Notice

    model = _regions(tmp_path, "Stock")
    with pytest.warns(Notice, match=r"'Stock' has 15 elements; compared and charted: the first 12 "
                                    r"\(Stock\[r1\] to Stock\[r12\]\).*variable = 'Stock\[r15\]'"):
        cmp = cx.compare(model)
    assert MAX_ELEMENTS == 12 and [o.variable for o in cmp.outcomes] == [f"Stock[r{i}]" for i in range(1, 13)]
    # Stock[r3] = 3 units a week for 10 weeks; doubled by the policy
    assert cmp.run("more")["Stock[r3]"].iloc[-1] == pytest.approx(60.0)
    assert cmp.run("baseline")["Stock[r3]"].iloc[-1] == pytest.approx(30.0)


def test_an_element_can_be_named_as_an_outcome_and_a_wrong_one_is_one_line(tmp_path):
    model = _regions(tmp_path, "stock[ r15 ]")
    cmp = cx.compare(model)
    assert [o.variable for o in cmp.outcomes] == ["Stock[r15]"]
    assert cmp.summary.loc["more", "class: Stock[r15]"] == "better"
    bad = _regions(tmp_path, "Stock[r16]")
    with pytest.raises(CxError, match=r"regions.mdl: 'Stock' has no element \[r16\]; it has Stock\[r1\], "):
        cx.compare(bad)
    with pytest.raises(CxError, match=r"'Rate' is not subscripted in model regions; write 'Rate' without \[r1\]"):
        _regions(tmp_path, "Rate[r1]")
