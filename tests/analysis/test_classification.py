"""The classification of a trajectory against the baseline: phases, the judged measure, the classes
they give, the one sign convention (positive = better for the organisation) and the description every
output prints. Constructed trajectories with known answers, then every scenario of both bundled
models read the same way by the CLI, summary.csv, the report and the workshop's JavaScript."""

from __future__ import annotations

import html as html_lib
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.analysis.compare import CLASS_PREFIX
from cxsystems.analysis.metrics import (
    CLASSES,
    DEFAULT_JUDGE,
    Phase,
    against_baseline,
    check_judge,
    classify_trajectory,
    read_trajectory,
)
from cxsystems.errors import CxError
from cxsystems.model.specs import OutcomeSpec
from cxsystems.pages import workshop as page
from cxsystems.text import pretty_units

ROOT = Path(__file__).resolve().parents[2]
READING_JS = ROOT / "cxsystems" / "pages" / "vendor" / "cx_reading.js"
NODE = shutil.which("node") or "/usr/bin/node"
assert Path(NODE).exists(), "Node.js is not installed (apt-get install nodejs)"

T = np.arange(0.0, 21.0)  # weeks 0..20
BASE = np.full(T.size, 100.0)  # tolerance at rtol = 0.01: 1.0


def lower(*spans) -> np.ndarray:
    """A lower-is-better trajectory: BASE minus ``advantage`` over ``(first, last, advantage)`` week spans."""
    v = BASE.copy()
    for first, last, adv in spans:
        v[int(first):int(last) + 1] -= adv
    return v


def read(values, better="lower", judge="mean", base=BASE, times=T, **kw):
    return read_trajectory(times, values, base, better, judge, **kw)


# ---- the classes ---------------------------------------------------------------------------------

def test_a_late_drift_does_not_turn_a_long_advantage_into_worse():
    # worse for a few weeks, better for most of the run, worse again at the end (structural
    # prevention's wait time): the old rule (first and final sign) said "worse"
    v = lower((2, 4, -5), (6, 16, 10), (18, 20, -3))
    r = read(v)
    assert [p.better for p in r.phases] == [False, True, False]
    assert r.judged_advantage > r.judged_tolerance  # better on the mean
    assert r.classification == "better-before-worse"
    # better for long, then a drift that ends worse: better-before-worse, never "worse"
    assert classify_trajectory(T, lower((1, 16, 10), (19, 20, -3)), BASE) == "better-before-worse"


def test_a_trajectory_that_ends_worse_is_never_better():
    # better, a dip, better again, worse at the end
    v = lower((1, 5, 10), (7, 8, -3), (10, 17, 10), (19, 20, -2))
    assert read(v).classification == "better-before-worse"
    rng = np.random.default_rng(5)
    for _ in range(300):
        v = BASE + rng.normal(0, 4, T.size)
        for judge in ("final", "mean", "integral", "max", "min"):
            r = read(v, judge=judge)
            if r.final_significant and r.final_advantage < 0:
                assert r.classification in ("worse", "better-before-worse"), (judge, v)
            if r.final_significant and r.final_advantage > 0:
                assert r.classification in ("better", "worse-before-better"), (judge, v)
            assert r.classification in CLASSES


def test_a_dip_in_the_middle():
    # better, a short dip, better to the end: better on the mean, so "better"
    v = lower((1, 8, 10), (10, 11, -4), (13, 20, 10))
    r = read(v)
    assert [p.text() for p in r.phases] == ["better weeks 1-8", "worse weeks 10-11", "better weeks 13-20"]
    assert r.classification == "better"
    # a dip so deep that the mean is worse: it ends better, so "worse-before-better"
    v = lower((1, 8, 2), (10, 14, -40), (16, 20, 2))
    assert read(v).judged_advantage < -read(v).judged_tolerance
    assert read(v).classification == "worse-before-better"
    # a dip the judged measure cannot tell (within tolerance): the final side decides, "better"
    v = lower((1, 5, 3), (7, 9, -5), (11, 20, 2.0))  # mean (15 - 15 + 20) / 21 = 0.95 < 1
    r = read(v)
    assert not r.judged_significant and r.classification == "better"


def test_worse_before_better_and_better_before_worse():
    assert read(lower((3, 8, -5), (12, 20, 8))).classification == "worse-before-better"
    assert read(lower((3, 8, 5), (12, 20, -8))).classification == "better-before-worse"
    # the judged measure does not matter when the run ends on the other side than it started
    v = lower((1, 15, -20), (18, 20, 2))  # far worse on the mean, ends better
    r = read(v)
    assert r.judged_advantage < 0 and r.classification == "worse-before-better"


def test_only_better_only_worse_and_no_change():
    assert read(lower((5, 20, 3))).classification == "better"
    assert read(lower((5, 20, -3))).classification == "worse"
    assert read(BASE + 0.9).classification == "no change"
    assert read(BASE + 0.9).phases == ()
    assert read(BASE + 0.9).details() == "within 1% of the baseline's largest value throughout"
    assert read(BASE + 0.4, rtol=0.005).details() == "within 0.5% of the baseline's largest value throughout"


def test_an_ending_within_tolerance():
    # better from week 3, back within tolerance (but worse) at the end: only better points, "better";
    # the description says where it ends
    v = lower((3, 17, 10))
    v[18:] = [100.0, 100.5, 100.6]  # weeks 18-20 within the tolerance of 1
    r = read(v)
    assert r.classification == "better"
    assert not r.final_significant and r.final_advantage == pytest.approx(-0.6)
    assert r.end_text() == "ends 0.6% worse, within tolerance"
    assert r.phases_text() == "better weeks 3-17"


def test_judge_final_or_mean_decides_a_mixed_case():
    # worse early, better for long, worse at the end (significant)
    v = lower((1, 3, -4), (5, 16, 8), (19, 20, -2))
    assert read(v, judge="mean").classification == "better-before-worse"
    assert read(v, judge="final").classification == "worse"   # the final value is worse
    assert read(v, judge="integral").classification == "better-before-worse"
    assert read(v, judge="max").classification == "worse"     # the peak is higher: worse
    assert read(v, judge="min").classification == "better-before-worse"
    # a cumulative quantity (higher is better): behind, ahead, behind again at the end
    profit = 10.0 * T + np.r_[np.zeros(3), -3.0 * np.ones(4), 8.0 * np.ones(10), -2.5 * np.ones(4)]
    base = 10.0 * T  # tolerance 2; mean advantage (-12 + 80 - 10) / 21 = 2.8
    assert read(profit, "higher", "final", base=base).classification == "worse"
    assert read(profit, "higher", "mean", base=base).classification == "better-before-worse"


def test_integral_tolerance_scales_with_the_run_length():
    v = lower((1, 3, -4), (5, 16, 8), (19, 20, -2))
    r = read(v, judge="integral")
    assert r.judged_tolerance == pytest.approx(1.0 * 20)  # tol x weeks 0..20
    assert r.judged_advantage == pytest.approx(cx.analysis.metrics.metric_value(T, BASE, "integral")
                                               - cx.analysis.metrics.metric_value(T, v, "integral"))
    # a judged total above tol but below tol x weeks is not significant: the final side decides
    w = lower((1, 2, -1.5), (4, 16, 1.4), (19, 20, -1.5))  # total 12.95
    rw = read(w, judge="integral")
    assert 1.0 < rw.judged_advantage < 20.0
    assert not rw.judged_significant and rw.classification == "worse"


# ---- phases and the description ------------------------------------------------------------------

def test_phases_join_across_insignificant_points_and_carry_their_peak():
    v = lower((1, 3, 4), (5, 6, 9), (8, 8, -6), (10, 10, 2))
    v[4] = 100.5  # within tolerance, between two better runs: does not split them
    r = read(v)
    assert r.phases == (
        Phase(True, 1.0, 6.0, 9.0, 5.0, 9.0),
        Phase(False, 8.0, 8.0, 6.0, 8.0, 6.0),
        Phase(True, 10.0, 10.0, 2.0, 10.0, 2.0),
    )
    assert r.phases_text() == "better weeks 1-6, worse week 8, better week 10"
    # the peak as a percentage of the baseline there (NaN where the baseline is 0), the first if tied
    base = np.linspace(0, 200, T.size)  # tolerance 2
    r = read(base - np.where(T >= 10, 5.0, 0.0) + np.where(T == 0, 3.0, 0.0), base=base)
    first, second = r.phases
    assert (first.better, first.start_week, first.end_week, first.peak) == (False, 0.0, 0.0, 3.0)
    assert math.isnan(first.peak_pct)
    assert (second.better, second.peak, second.peak_week) == (True, 5.0, 10.0)
    assert second.peak_pct == pytest.approx(100 * 5 / 100)


def test_the_description_every_output_uses():
    v = lower((2, 4, -5), (6, 16, 10), (18, 20, -3))
    r = read(v)
    mean_adv = (5 * 3 * -1 + 10 * 11 - 3 * 3) / 21  # percent of a baseline of 100
    assert r.judged_advantage_pct == pytest.approx(mean_adv)
    assert r.details() == (f"judged on the mean: {mean_adv:.1f}% better; worse weeks 2-4, better weeks 6-16, "
                           "worse weeks 18-20; ends 3.0% worse")
    assert r.line("Wait time") == f"better-before-worse on Wait time ({r.details()})"
    # fractional weeks as cxsystems.text.plain writes them; one-point phases; judge words
    t = np.arange(0.0, 5.0, 0.25)
    b = np.full(t.size, 10.0)
    v = b.copy()
    v[3] += 1.0
    v[10:] -= 0.5
    r = read_trajectory(t, v, b, "higher", "final")
    assert r.details() == ("judged on the final value: 5.0% worse; better week 0.75, worse weeks 2.5-4.75; "
                           "ends 5.0% worse")
    assert r.classification == "better-before-worse"
    # a baseline whose total and end are 0: amounts in the variable's units instead of percentages
    b = np.zeros(T.size)
    b[1:3] = [5.0, -5.0]
    r = read(b + 2.5, "higher", "integral", base=b)
    assert math.isnan(r.judged_advantage_pct) and math.isnan(r.final_advantage_pct)
    assert r.details("tickets/week") == ("judged on the total: 50.00 tickets better; better weeks 0-20; "
                                         "ends 2.50 tickets/week better")


def test_one_sign_convention_for_both_directions():
    """Positive = better for the organisation, whichever way the outcome points."""
    up = BASE + np.where(T >= 5, 10.0, 0.0)
    backlog = against_baseline(T, up, BASE, "lower")
    profit = against_baseline(T, up, BASE, "higher")
    assert backlog["final_advantage_pct"] == pytest.approx(-10.0) and backlog["judged_advantage_pct"] < 0
    assert profit["final_advantage_pct"] == pytest.approx(10.0) and profit["judged_advantage_pct"] > 0
    assert backlog["classification"] == "worse" and profit["classification"] == "better"
    assert read(up, "lower").end_text() == "ends 10.0% worse"
    assert read(up, "higher").end_text() == "ends 10.0% better"
    assert backlog["phases"] == profit["phases"].replace("better", "worse") == "worse weeks 5-20"


def test_judge_is_checked():
    assert DEFAULT_JUDGE == "mean" and OutcomeSpec("X", "lower", "X").judge == "mean"
    assert check_judge("integral") == "integral"
    with pytest.raises(CxError, match="judge = 'median'; use final, mean, max, min, integral"):
        read(BASE, judge="median")


def test_scenario_file_judge_is_parsed_and_validated(tmp_path):
    shutil.copy(ROOT / "models" / "capability_trap.mdl", tmp_path / "capability_trap.mdl")
    toml = (ROOT / "models" / "capability_trap.scenarios.toml").read_text()
    (tmp_path / "capability_trap.scenarios.toml").write_text(
        toml.replace('label = "Capability"\njudge = "mean"', 'label = "Capability"\njudge = "final"'))
    model = cx.load_model(tmp_path / "capability_trap.mdl")
    assert {o.variable: o.judge for o in model.analysis.outcomes}["Capability"] == "final"
    (tmp_path / "capability_trap.scenarios.toml").write_text(
        toml.replace('label = "Capability"\njudge = "mean"', 'label = "Capability"\njudge = "median"'))
    with pytest.raises(CxError, match=r"\[outcomes\.1\]: judge = 'median'; use final, mean, integral, max or min"):
        cx.load_model(tmp_path / "capability_trap.mdl")
    (tmp_path / "capability_trap.scenarios.toml").write_text(
        toml.replace('label = "Capability"\njudge = "mean"', 'label = "Capability"\njuge = "mean"'))
    with pytest.raises(CxError, match="unknown key 'juge'.*did you mean 'judge'"):
        cx.load_model(tmp_path / "capability_trap.mdl")


def test_bundled_models_declare_their_judges(cx_service, capability_trap):
    judges = {o.variable: o.judge for o in cx_service.analysis.outcomes}
    assert judges["Cumulative Profit"] == "final"  # a cumulative quantity: its last value is the total
    assert {v for v, j in judges.items() if j != "mean"} == {"Cumulative Profit"}
    assert {o.judge for o in capability_trap.analysis.outcomes} == {"mean"}


# ---- every output agrees, for every scenario of both bundled models -----------------------------

_NODE = """
const R = require(%s);
const data = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(data.map(c => {
  const r = R.againstBaseline(c.times, c.values, c.base, c.better, c.rtol, undefined, c.judge);
  return {cls: r.classification, final_pct: r.final_advantage_pct, judged_pct: r.judged_advantage_pct,
          details: R.details(r, c.units), sentence: R.sentence(r, c.units)};
})));
""" % json.dumps(str(READING_JS))

_LINE = re.compile(r"^(?P<scenario>\w+): (?P<cls>[a-z -]+?) on (?P<label>.+?) \((?P<details>judged on .*|within .*)\)$")


def _sign_words(details: str) -> tuple[str | None, str | None]:
    """``('better', 'worse')``: the judged and the final side named in a description."""
    judged = re.match(r"judged on [a-z ]+: [\d.,]+%? ?[a-z/ ]*?(better|worse)", details)
    end = re.search(r"; ends [\d.,]+%? ?[a-z/ ]*?(better|worse)(, within tolerance)?$", details)
    return (judged[1] if judged else None), (end[1] if end else None)


def _word(x: float) -> str:
    return "better" if x > 0 else "worse"


@pytest.mark.parametrize("name", ["cx_service", "capability_trap"])
def test_cli_summary_csv_report_and_workshop_agree(name, bundled, cli, tmp_path):
    model = bundled(name)
    out = tmp_path / "out"
    r = cli("compare", "--model", name, "--out", out)
    assert r.code == 0, r.err
    lines = {m["scenario"]: m for m in map(_LINE.match, r.out.splitlines()) if m}
    summary = pd.read_csv(out / "summary.csv", index_col="scenario", keep_default_na=False,
                          na_values={c: [""] for c in ("final_advantage_pct", "judged_advantage_pct")})
    rep = cli("report", "--model", name, "--n", "0", "--out", tmp_path / "report.html")
    assert rep.code == 0, rep.err
    report = html_lib.unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    cmp = cx.compare(model)
    spec = page.workshop_spec(model)  # what the workshop page's reading is given
    assert [o["judge"] for o in spec["outcomes"]] == [o.judge for o in model.analysis.outcomes]
    cases = []
    for s in cmp.scenario_names:
        for o in spec["outcomes"]:
            w = cmp.wide(o["variable"])
            cases.append(dict(scenario=s, variable=o["variable"], times=w.index.tolist(), values=w[s].tolist(),
                              base=w[cmp.baseline].tolist(), better=o["better"], rtol=spec["rtol"],
                              judge=o["judge"], units=o["pretty_units"]))
    proc = subprocess.run([NODE, "-e", _NODE], input=json.dumps(cases), capture_output=True, text=True,
                          timeout=120, check=True)
    js = {(c["scenario"], c["variable"]): g for c, g in zip(cases, json.loads(proc.stdout), strict=True)}
    rows = dict(re.findall(r'<tr data-scenario="([^"]+)">(.*?)</tr>', report, re.S))
    label = cmp.outcome(cmp.classify).label
    assert cmp.classify in [o.variable for o in model.analysis.outcomes]
    for s in cmp.scenario_names[1:]:
        row = summary.loc[s]
        line = lines[s]
        cls = row["classification"]
        # the class of the classified outcome: CLI line = summary.csv = the report's line = the workshop's
        assert line["cls"] == cls and line["label"] == label, s
        assert f"{cmp.title_of(s)}: {cls} on {label} ({line['details']})" in report, s
        assert js[(s, cmp.classify)]["cls"] == cls, s
        assert js[(s, cmp.classify)]["details"] == line["details"], s
        assert js[(s, cmp.classify)]["sentence"] == f"{cls.replace('-', ' ')} ({line['details']})", s
        assert row["phases"] == cmp.reading(s).phases_text()
        assert row["phases"] in line["details"]
        # the sign: the words of the CLI line, the signs of summary.csv and of the workshop's numbers
        judged, end = _sign_words(line["details"])
        if cls != "no change":
            assert judged in (_word(row["judged_advantage_pct"]), None), s
            assert end == _word(row["final_advantage_pct"]) == _word(js[(s, cmp.classify)]["final_pct"]), s
            assert judged is None or judged == _word(js[(s, cmp.classify)]["judged_pct"]), s
        # every outcome's class: summary.csv = the report's table = the workshop's reading
        cells = re.findall(r'data-class="([^"]+)" title="([^"]*)"', rows[s])
        assert len(cells) == len(model.analysis.outcomes), s
        for o, (cell_cls, title) in zip(model.analysis.outcomes, cells):
            want = row[CLASS_PREFIX + o.label]
            assert cell_cls == want == js[(s, o.variable)]["cls"], (s, o.variable)
            assert title == js[(s, o.variable)]["details"], (s, o.variable)
            assert title == cmp.reading(s, o.variable).details(pretty_units(o.units)), (s, o.variable)
    # the legend defines each class by the rule, not as "better throughout"
    legend = re.search(r'<p class="note legend">(.*?)</p>', report, re.S)[1]
    assert "better throughout" not in legend and "worse throughout" not in legend
    assert "better first, worse at the end" in legend
