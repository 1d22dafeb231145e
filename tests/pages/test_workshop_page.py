"""The workshop page without a browser: levers, ranges, the JS reading rule (through Node), the
page's self-containment and escaping, and the ``cxsystems workshop`` command."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.analysis.metrics import (
    CLASSES,
    METRIC_KINDS,
    against_baseline,
    classify_trajectory,
    read_trajectory,
)
from cxsystems.engine import compile_model
from cxsystems.model import levers as lv_mod
from cxsystems.pages import html as page_html
from cxsystems.pages import workshop as page
from cxsystems.plotting import charts
from cxsystems.text import axis_title, difference_title, pretty_units

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "cxsystems" / "pages" / "vendor"
NODE = shutil.which("node") or "/usr/bin/node"
# .ci/run installs Node.js when missing; without it the Node tests fail rather than skip
assert Path(NODE).exists(), "Node.js is not installed (apt-get install nodejs)"


@pytest.fixture(scope="module")
def cx_page(cx_service):
    return page.render_page(cx_service)


# --------------------------------------------------------------------------- levers and spec
def test_levers_of_cx_service_are_the_scenario_parameters_with_declared_ranges(cx_service):
    levers = lv_mod.levers(cx_service)
    assert [lv.parameter for lv in levers] == ["Extra Headcount Fraction", "Handle Time Target Multiplier",
                                          "Prevention Incentive", "Data Consolidation Investment",
                                          "KPI Alignment Programme"]
    for lv in levers:
        p = cx_service.parameters[lv.parameter]
        assert (lv.min, lv.max, lv.default, lv.units, lv.range_note) == (p.min, p.max, p.value, p.units, "")
        values = [lv.default] + [c.value for s in cx_service.scenarios.values() for c in s.changes
                              if c.parameter == lv.parameter]
        assert lv.step > 0
        assert (lv.max - lv.min) / lv.step <= 201
        for v in values:  # every scenario value is reachable with the slider
            k = (v - lv.min) / lv.step
            assert abs(k - round(k)) < 1e-9
    assert lv_mod.default_start_week(cx_service) == 16.0


def test_spec_of_cx_service(cx_service):
    spec = page.workshop_spec(cx_service)
    assert spec["start_week"] == dict(lo=0.0, hi=156.0, step=1.0, default=16.0)
    assert spec["baseline"] == "baseline"
    assert spec["rtol"] == 0.01
    assert [o["variable"] for o in spec["outcomes"]] == [o.variable for o in cx_service.analysis.outcomes]
    bridge = next(s for s in spec["scenarios"] if s["name"] == "bridge")
    assert bridge["uniform"] and bridge["start"] == 16.0
    assert {c["parameter"]: c["value"] for c in bridge["changes"]} == {
        "Prevention Incentive": 1.0, "Extra Headcount Fraction": 0.2}
    base = next(s for s in spec["scenarios"] if s["name"] == "baseline")
    sc = cx_service.scenarios["baseline"]
    assert base == dict(name="baseline", title=sc.title, family=sc.family, color=charts.BASELINE_COLOR,
                        description=sc.description, uniform=True, start=None, changes=[])
    json.dumps(spec, allow_nan=False)  # JSON-ready


def test_spec_names_scenarios_and_the_model_for_people_in_chart_colours(cx_service):
    """Titles, not code names; the colour families of every chart of the model."""
    spec = page.workshop_spec(cx_service)
    assert spec["title"] == cx_service.title != cx_service.name
    names = list(cx_service.scenarios)
    families = {n: s.family for n, s in cx_service.scenarios.items()}
    want = charts.scenario_colors(names, cx_service.baseline, names, families=families)
    assert [s["name"] for s in spec["scenarios"]] == names
    for entry in spec["scenarios"]:
        sc = cx_service.scenarios[entry["name"]]
        assert (entry["title"], entry["family"], entry["color"]) == (sc.title, sc.family, want[sc.name])
        if sc.name != cx_service.baseline:  # each scenario's colour is a shade of its family
            assert entry["color"] in charts.FAMILY_PALETTES[sc.family], entry
    assert "_" not in "".join(s["title"] for s in spec["scenarios"])
    assert spec["scenarios"][names.index("reactive_hiring")]["title"] == cx_service.scenarios["reactive_hiring"].label
    assert spec["baseline_title"] == cx_service.scenarios[cx_service.baseline].title
    assert spec["baseline_color"] == charts.BASELINE_COLOR
    # the run in no named scenario has a colour of no family
    assert spec["own_color"] not in {c for shades in charts.FAMILY_PALETTES.values() for c in shades}
    assert spec["own_color"] not in want.values()


def test_spec_carries_percent_and_difference_outcomes(cx_service):
    spec = page.workshop_spec(cx_service)
    base = spec["baseline_title"]
    outs = {o["variable"]: o for o in spec["outcomes"]}
    for o in cx_service.analysis.outcomes:
        got = outs[o.variable]
        assert (got["percent"], got["view"]) == (o.percent, o.view)
        full = f"{got['heading']} ({got['heading_units']})" if got["heading_units"] else got["heading"]
        if o.view == "difference":
            assert full == difference_title(o.label, base, o.units, percent=o.percent)
        else:
            assert full == axis_title(o.label, o.units, percent=o.percent)
        assert "Dmnl" not in full
    assert outs["Annual Churn Rate"]["percent"] and outs["Annual Churn Rate"]["heading_units"] == "% a year"
    profit = outs["Cumulative Profit"]
    assert profit["view"] == "difference" and profit["heading"] == f"Cumulative profit: difference from {base}"
    assert sum(o["view"] == "difference" for o in spec["outcomes"]) == 1


def test_spec_carries_the_contact_mix_in_its_declared_order(cx_service, capability_trap):
    mix = page.workshop_spec(cx_service)["contact_mix"]
    parts = cx_service.analysis.contact_mix
    assert len(parts) >= 2
    assert [(p["variable"], p["label"], p["avoidable"]) for p in mix["parts"]] == [
        (p.variable, p.label, p.avoidable) for p in parts]
    assert all(p["variable"] in cx_service.variables for p in mix["parts"])
    colors = [p["color"] for p in mix["parts"]]
    assert len(set(colors)) == len(colors)  # every kind its own colour
    avoidable = {p["color"] for p in mix["parts"] if p["avoidable"]}
    assert avoidable <= set(page.MIX_AVOIDABLE) and not avoidable & set(page.MIX_PLAIN)
    assert mix["units"] == pretty_units(cx_service.units[parts[0].variable])
    assert page.workshop_spec(capability_trap)["contact_mix"] is None  # no [contact_mix]: no chart


# --------------------------------------------------------------------------- reading rule in JS
def _node(script: str, data) -> object:
    proc = subprocess.run([NODE, "-e", script], input=json.dumps(data), capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(proc.stdout)


_NODE_READING = """
const R = require(%s);
const data = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = data.cases.map(c => {
  const r = R.againstBaseline(c.times, c.values, c.base, c.better, c.rtol, undefined, c.judge);
  const fix = x => (typeof x === 'number' && !isFinite(x)) ? null : x;
  return {cls: R.classify(c.times, c.values, c.base, c.better, c.rtol, undefined, c.judge),
          stays_better: fix(r.stays_better_from_week), worst: r.worst_shortfall,
          worst_week: fix(r.worst_shortfall_week), final: r.final_advantage, pct: fix(r.final_advantage_pct),
          judged: r.judged_advantage, judged_pct: fix(r.judged_advantage_pct), phases: R.phasesText(r),
          phase_list: r.phases.map(p => [p.better, p.start_week, p.end_week, p.peak, p.peak_week, fix(p.peak_pct)]),
          details: R.details(r, c.units || ""), line: R.line(r, c.label || "X", c.units || ""),
          sentence: R.sentence(r, c.units || "")};
});
process.stdout.write(JSON.stringify(out));
""" % json.dumps(str(VENDOR / "cx_reading.js"))


def _check_cases(cases):
    """Every case read by the JavaScript port and by Python: the same class, numbers and text."""
    got = _node(_NODE_READING, {"cases": cases})
    for c, g in zip(cases, got, strict=True):
        judge = c.get("judge", "mean")
        reading = read_trajectory(c["times"], c["values"], c["base"], c["better"], judge, c["rtol"])
        want = against_baseline(c["times"], c["values"], c["base"], c["better"], c["rtol"], judge=judge)
        assert g["cls"] == classify_trajectory(c["times"], c["values"], c["base"], c["better"], c["rtol"],
                                               judge=judge), c["id"]
        assert g["cls"] == want["classification"] == reading.classification, c["id"]
        for key, wkey in (("stays_better", "stays_better_from_week"), ("worst", "worst_shortfall"),
                          ("worst_week", "worst_shortfall_week"), ("final", "final_advantage"),
                          ("pct", "final_advantage_pct"), ("judged", "judged_advantage"),
                          ("judged_pct", "judged_advantage_pct")):
            w = want[wkey]
            if math.isnan(w):
                assert g[key] is None, (c["id"], key)
            else:  # the same arithmetic in the same order (numpy's pairwise sums): the same bits
                assert g[key] == w, (c["id"], key)
        assert g["phases"] == want["phases"] == reading.phases_text(), c["id"]
        assert [tuple(p) for p in g["phase_list"]] == [
            (p.better, p.start_week, p.end_week, p.peak, p.peak_week, None if math.isnan(p.peak_pct) else p.peak_pct)
            for p in reading.phases], c["id"]
        units = c.get("units", "")
        assert g["details"] == reading.details(units), c["id"]
        assert g["line"] == reading.line(c.get("label", "X"), units), c["id"]
        assert g["sentence"] == g["cls"].replace("-", " ") + " (" + g["details"] + ")", c["id"]
    return got


@pytest.mark.parametrize("fixture", ["cx_service", "capability_trap"])
def test_js_reading_equals_python_for_every_scenario(fixture, request):
    model = request.getfixturevalue(fixture)
    outcomes = model.analysis.outcomes
    cm = compile_model(model)
    variables = [o.variable for o in outcomes]
    base = cm.run(changes=model.scenarios[model.analysis.baseline].changes, variables=variables)
    cases = []
    for sc in model.scenarios.values():
        res = cm.run(changes=sc.changes, variables=variables)
        for o in outcomes:
            cases.append(dict(id=f"{sc.name}/{o.variable}", times=res.times.tolist(),
                              values=res.variable(o.variable)[:, 0].tolist(),
                              base=base.variable(o.variable)[:, 0].tolist(),
                              better=o.better, rtol=model.analysis.rtol, judge=o.judge,
                              label=o.label, units=pretty_units(o.units)))
    got = _check_cases(cases)
    classes = {c["id"]: g["cls"] for c, g in zip(cases, got)}
    if fixture == "cx_service":  # the reference behaviours the model card promises
        assert classes["structural_prevention/Ticket Backlog"] == "worse-before-better"
        assert classes["baseline/Ticket Backlog"] == "no change"
        sentence = next(g["sentence"] for c, g in zip(cases, got) if c["id"] == "structural_prevention/Ticket Backlog")
        assert re.fullmatch(r"worse before better \(judged on the mean: \d+\.\d% better; worse weeks \d+-\d+, "
                            r"better weeks \d+-156; ends \d+\.\d% better\)", sentence), sentence
    else:
        assert classes["work_smarter/Performance"] == "worse-before-better"
        assert classes["higher_target/Performance"] == "better-before-worse"


def test_js_reading_equals_python_on_edge_cases():
    rng = np.random.default_rng(7)
    t = np.arange(20.0)
    cases = []
    for i in range(120):
        base = rng.normal(100, 30, t.size) * rng.choice([1, -1, 0.001])
        values = base + rng.normal(0, 3, t.size) * rng.choice([0.1, 1, 5])
        cases.append(dict(id=f"random {i}", times=t.tolist(), values=values.tolist(), base=base.tolist(),
                          better=["lower", "higher"][i % 2], rtol=[0.01, 0.005, 0.2][i % 3],
                          judge=METRIC_KINDS[i % len(METRIC_KINDS)], units=["tickets/week", ""][i % 2]))
    zeros = np.zeros(t.size)
    tol_edge = np.full(t.size, 100.0)
    cases += [
        dict(id="all zero", times=t.tolist(), values=zeros.tolist(), base=zeros.tolist(), better="lower", rtol=0.01),
        dict(id="exactly at tolerance", times=t.tolist(), values=(tol_edge + 1.0).tolist(), base=tol_edge.tolist(),
             better="higher", rtol=0.01),
        dict(id="dip in the middle", times=t.tolist(), values=np.r_[np.full(7, 90.0), np.full(6, 120.0),
                                                                    np.full(7, 80.0)].tolist(),
             base=tol_edge.tolist(), better="lower", rtol=0.01),
        dict(id="late drift", times=t.tolist(), values=np.r_[np.full(16, 90.0), np.full(4, 103.0)].tolist(),
             base=tol_edge.tolist(), better="lower", rtol=0.01),
        dict(id="judged worse, ends better", times=t.tolist(),
             values=np.r_[np.full(2, 98.0), np.full(16, 90.0), np.full(2, 102.0)].tolist(),
             base=tol_edge.tolist(), better="higher", rtol=0.01, judge="mean"),
        dict(id="exact percentage ties", times=t.tolist(), values=(tol_edge - 2.25).tolist(),
             base=tol_edge.tolist(), better="lower", rtol=0.01),
        dict(id="baseline ends at zero", times=t.tolist(), values=(np.linspace(10, 0, t.size) + 1).tolist(),
             base=np.linspace(10, 0, t.size).tolist(), better="higher", rtol=0.01, judge="integral",
             units="tickets/week"),
        dict(id="one point", times=[0.0], values=[3.0], base=[2.0], better="higher", rtol=0.01),
        dict(id="one point, integral", times=[0.0], values=[3.0], base=[2.0], better="higher", rtol=0.01,
             judge="integral"),
        dict(id="quarter weeks", times=(t / 4).tolist(), values=np.r_[np.full(10, 100.0), np.full(10, 95.0)].tolist(),
             base=tol_edge.tolist(), better="lower", rtol=0.01, judge="final"),
    ]
    got = _check_cases(cases)
    assert {g["cls"] for g in got} == set(CLASSES)  # the cases reach every class


def test_js_number_formats_equal_cxsystems_text():
    """The description's numbers: Python's rounding (ties to even), grouping and %g in JavaScript."""
    from cxsystems.text import plain, share, short_number

    rng = np.random.default_rng(3)
    xs = ([0.25, 0.75, 2.25, 2.5, 0.125, 0.05, 12.345, 1e-5, 1.5e-5, 123456.5, 1234567.0, 99.995, 999999.5,
           5e-5, 2.675, 0.0001, 0.001234, 150.0, 1e6, 2.5e6, 1234.5, 0.5, 1.5, 1e-300, 123456789.0, 0.1 + 0.2,
           9.9999995, 1e16, 0.0, 27.25, 10.5]
          + [k / 8 for k in range(400)] + list(rng.uniform(0, 200, 200)) + list(10 ** rng.uniform(-8, 9, 200)))
    script = """
const R = require(%s);
const xs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(xs.map(x => [R.format.plain(x), R.format.share(x / 100), R.format.shortNumber(x),
                                                 R.format.shortNumber(-x)])));
""" % json.dumps(str(VENDOR / "cx_reading.js"))
    got = _node(script, xs)
    for x, g in zip(xs, got, strict=True):
        assert g == [plain(x), share(x / 100), short_number(x), short_number(-x)], x


# --------------------------------------------------------------------------- the page
class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.attrs, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
        if tag == "script":
            self._in = [dict(attrs), ""]

    def handle_data(self, data):
        if self._in is not None:
            self._in[1] += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in is not None:
            self.scripts.append(tuple(self._in))
            self._in = None


def _parse(text: str) -> _Scripts:
    p = _Scripts()
    p.feed(text)
    p.close()
    return p


def test_vendored_files_match_their_recorded_checksums():
    readme = (VENDOR / "README.md").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in readme, name
    assert "Copyright (c) 2022 Leon Sorokin" in (VENDOR / "uPlot.LICENSE").read_text()


def test_page_is_self_contained(cx_page):
    parsed = _parse(cx_page)
    for tag, attrs in parsed.attrs:
        for key in ("src", "href", "xlink:href", "action", "data"):
            v = attrs.get(key)
            assert v is None or not re.match(r"\s*(https?:|//|ftp:)", v, re.I), (tag, key, v)
        assert not (tag == "script" and "src" in attrs), attrs
        assert tag != "link" or attrs.get("href", "").startswith("data:"), attrs
    assert "@import" not in cx_page
    assert not re.search(r"url\(\s*['\"]?\s*(https?:|//)", cx_page, re.I)
    # the only URL in the file is the one in uPlot's licence banner
    assert re.findall(r"https?://[^\s\"')]+", cx_page) == ["https://github.com/leeoniya/uPlot"]
    # every script is inline: config JSON, uPlot, the reading rule, the model, the page
    kinds = [attrs.get("type", "text/javascript") for attrs, _ in parsed.scripts]
    assert kinds == ["application/json", "text/javascript", "text/javascript", "text/javascript",
                     "text/javascript"]
    body = {i: text for i, (_, text) in enumerate(parsed.scripts)}
    assert "uPlot" in body[1] and "CXReading" in body[2] and "CX_MODEL" in body[3] and "CX_WORKSHOP" in body[4]
    assert "<svg" in cx_page and "Ticket Backlog" in cx_page


def test_page_config_round_trips(cx_service, cx_page):
    parsed = _parse(cx_page)
    config = json.loads(parsed.scripts[0][1])
    assert config == json.loads(json.dumps(page.workshop_spec(cx_service) | {"diagram_title": config["diagram_title"]}))
    assert config["diagram_title"] == "Customer service: why reactive fixes fail"


HOSTILE = '</script><script>window.PWNED=1</script><!-- & "quotes" \u2028'


def _hostile_model(tmp_path):
    src = ROOT / "models"
    shutil.copy(src / "capability_trap.mdl", tmp_path / "capability_trap.mdl")
    toml = (src / "capability_trap.scenarios.toml").read_text()
    esc = json.dumps(HOSTILE)
    toml = toml.replace('label = "Performance"', f"label = {esc}", 1)
    # the model's title and the baseline's label reach the page's HTML (title, heading, key)
    toml = re.sub(r'^title = "[^"]*"', lambda m: f"title = {esc}", toml, count=1, flags=re.M)
    toml = toml.replace('label = "Nothing changed"', f"label = {esc}", 1)
    toml = re.sub(r'(\[scenarios\.trap\]\n(?:\w+ = [^\n]*\n)*?description = )"[^"]*"',
                  lambda m: m.group(1) + esc, toml)
    (tmp_path / "capability_trap.scenarios.toml").write_text(toml)
    return cx.load_model(tmp_path / "capability_trap.mdl")


def test_model_text_cannot_break_out_of_the_page(tmp_path):
    model = _hostile_model(tmp_path)
    assert model.scenarios["trap"].description == " ".join(HOSTILE.split())
    text = page.render_page(model)
    parsed = _parse(text)
    assert len(parsed.scripts) == 5  # no script element was injected
    config = json.loads(parsed.scripts[0][1])
    assert config["outcomes"][0]["label"] == HOSTILE
    clean = " ".join(HOSTILE.split())
    assert model.title == clean and config["title"] == clean and config["baseline_title"] == clean
    assert page_html.esc(clean) in text  # in the <title>, the heading and the key, escaped
    assert next(s for s in config["scenarios"] if s["name"] == "trap")["description"] == model.scenarios["trap"].description
    assert "</script><script>" not in text
    assert text.count("</script>") == 5
    assert "<!--" not in text


def test_script_safe_and_json_for_html():
    assert page_html.script_safe('a="</script>"; b="</SCRIPT >"; c="<!--"') == 'a="<\\/script>"; b="<\\/SCRIPT >"; c="<\\!--"'
    assert page_html.script_safe("x < y && y </ z") == "x < y && y </ z"
    safe = page_html.json_for_html(HOSTILE)
    assert json.loads(safe) == HOSTILE
    assert not set("<>&\u2028") & set(safe)


# --------------------------------------------------------------------------- the command
def test_cli_writes_the_page_atomically(tmp_path, cli):
    out = tmp_path / "ws.html"
    r = cli("workshop", "--model", "capability_trap", "--out", out)
    assert r.code == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["ws.html"]  # no temporary file left
    msg = r.out
    assert "capability_trap" in msg and str(out) in msg


def test_cli_default_file_name(tmp_path, cli):
    assert cli("workshop", "--model", "capability_trap", cwd=tmp_path).code == 0
    assert (tmp_path / "cxsystems-workshop.html").is_file()


@pytest.mark.parametrize("args, fragment", [
    (["--model", "no_such_model"], "unknown model 'no_such_model'"),
    (["--model", "missing/model.mdl"], "model file not found"),
])
def test_cli_bad_model_is_a_one_line_error(tmp_path, cli, args, fragment):
    out = tmp_path / "ws.html"
    r = cli("workshop", *args, "--out", out)
    assert r.code == 2
    err = r.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cxsystems: error: ") and fragment in err[0]
    assert not out.exists()


def test_cli_out_is_a_directory(tmp_path, cli):
    r = cli("workshop", "--model", "capability_trap", "--out", tmp_path)
    assert r.code == 2
    err = r.err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0]


def test_failed_render_leaves_the_old_file(tmp_path, cli):
    src = ROOT / "models"
    shutil.copy(src / "capability_trap.mdl", tmp_path / "capability_trap.mdl")
    toml = (src / "capability_trap.scenarios.toml").read_text()
    toml = toml[: toml.index("[[outcomes]]")]  # no key outcomes: the workshop refuses the model
    (tmp_path / "capability_trap.scenarios.toml").write_text(toml)
    out = tmp_path / "ws.html"
    out.write_text("old page")
    r = cli("workshop", "--model", tmp_path / "capability_trap.mdl", "--out", out)
    assert r.code == 2
    err = r.err
    assert "[[outcomes]]" in err
    assert out.read_text() == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capability_trap.mdl", "capability_trap.scenarios.toml",
                                                         "ws.html"]
