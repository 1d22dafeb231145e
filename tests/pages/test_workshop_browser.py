"""The workshop page in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

The page is written by ``cxsystems workshop`` and opened from ``file://``. The tests move sliders the
way a person does (set the value and fire ``input``, or press arrow keys), press scenario buttons,
read back the data the uPlot charts hold and compare it with the numpy engine's run for the same
setting. Screenshots go to ``tests/artifacts/`` (git-ignored); with ``CX_UPDATE_DOCS=1`` the
1920x1080 one is also written to ``docs/workshop.png`` for the README.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import installed_env, run_cli, run_installed

import cxsystems as cx
from cxsystems import Change
from cxsystems.analysis.metrics import classify_trajectory, read_trajectory
from cxsystems.engine import compile_model
from cxsystems.text import pretty_units

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORTS = {"projector": (1920, 1080), "laptop": (1366, 768)}

import playwright.sync_api as playwright_api  # noqa: E402 - the [dev] extra; no skipping: CI has it

# .ci/run installs Debian's chromium; without it these tests fail rather than skip
assert Path(CHROMIUM).is_file(), "Debian chromium is not installed (apt-get install chromium)"


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture(scope="module")
def engine(model):
    cm = compile_model(model)
    variables = [o.variable for o in model.analysis.outcomes]

    def run(changes):
        res = cm.run(changes=list(changes), variables=variables)
        return res.times, {v: res.variable(v)[:, 0] for v in variables}

    return run


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    """The page as a fresh install writes it: through the command line."""
    out = tmp_path_factory.mktemp("workshop") / "workshop.html"
    assert run_cli("workshop", "--model", "cx_service", "--out", out).code == 0
    return out


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Opened:
    """A page opened on the workshop file, collecting console errors and page errors."""

    def __init__(self, browser, path, viewport=VIEWPORTS["projector"]):
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready=true]", timeout=15000)

    def charted(self) -> dict:
        """``{variable: (times, baseline, this setting)}`` as the uPlot charts hold them."""
        data = self.page.evaluate("""() => CX_WORKSHOP.charts.map((c, i) => ({
            v: CX_WORKSHOP.config.outcomes[i].variable, d: c.data.map(a => Array.from(a))}))""")
        return {e["v"]: tuple(np.asarray(a, dtype=float) for a in e["d"]) for e in data}

    def move_slider(self, selector: str, value: float) -> None:
        runs = self.page.evaluate("CX_WORKSHOP.runs")
        self.page.locator(selector).evaluate(
            "(e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', {bubbles: true})); }", value)
        self.page.wait_for_function(f"CX_WORKSHOP.runs > {runs}")

    def close(self):
        self.page.close()


@pytest.fixture()
def opened(browser, page_file):
    o = Opened(browser, page_file)
    yield o
    o.close()
    assert o.errors == []


def assert_same(got, want, what):
    want = np.asarray(want, dtype=float)
    scale = float(np.max(np.abs(want))) or 1.0
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale, err_msg=what)


def assert_charts_match(charted, engine, changes, baseline_changes=()):
    times, values = engine(changes)
    _, base = engine(baseline_changes)
    assert set(charted) == set(values)
    for var, (t, b, v) in charted.items():
        assert_same(t, times, f"{var}: times")
        assert_same(b, base[var], f"{var}: baseline")
        assert_same(v, values[var], f"{var}: this setting")


# --------------------------------------------------------------------------- tests
def test_page_opens_without_errors_and_charts_the_baseline(opened, model, engine):
    assert opened.errors == []
    assert all(u.startswith("file://") for u in opened.requests), opened.requests  # no network at all
    charted = opened.charted()
    assert list(charted) == [o.variable for o in model.analysis.outcomes]
    assert_charts_match(charted, engine, [])
    cards = opened.page.locator("section.chart")
    assert cards.count() == len(model.analysis.outcomes)
    for i, o in enumerate(model.analysis.outcomes):
        assert o.label in cards.nth(i).locator("h3").inner_text()
        assert cards.nth(i).locator("canvas").count() == 1
    assert opened.page.locator("button[data-scenario=baseline]").get_attribute("aria-pressed") == "true"
    assert opened.page.locator(".cld-svg svg").count() == 1
    assert opened.page.locator(".loops li").count() >= 8


def test_every_lever_has_a_slider_with_its_units_and_range(opened, model):
    levers = [c.parameter for s in model.scenarios.values() for c in s.changes]
    levers = list(dict.fromkeys(levers))
    blocks = opened.page.locator("#levers .lever")
    assert blocks.count() == len(levers)
    for i, name in enumerate(levers):
        p = model.parameters[name]
        block = blocks.nth(i)
        assert block.get_attribute("data-parameter") == name
        slider = block.locator("input[type=range]")
        assert float(slider.get_attribute("min")) == p.min and float(slider.get_attribute("max")) == p.max
        assert float(slider.input_value()) == p.value
        text = block.inner_text()
        # units as words (issue 11): "Dmnl" (a fraction or multiplier) is never shown
        assert name in text and pretty_units(p.units) in text and "Dmnl" not in text
    start = opened.page.locator("#start-week-input")
    assert float(start.input_value()) == 16.0
    assert "weeks" in opened.page.locator("#start-week").inner_text()


def test_moving_a_slider_charts_the_engine_numbers_for_that_setting(opened, engine):
    sel = "input[data-parameter='Extra Headcount Fraction']"
    before = opened.charted()
    opened.move_slider(sel, 0.35)
    after = opened.charted()
    want = [Change("Extra Headcount Fraction", 0.35, from_week=16.0)]
    assert opened.page.evaluate("CX_WORKSHOP.lastRun.changes") == [
        dict(parameter="Extra Headcount Fraction", value=0.35, from_week=16)]
    assert_charts_match(after, engine, want)
    backlog_before, backlog_after = before["Ticket Backlog"][2], after["Ticket Backlog"][2]
    assert np.max(np.abs(backlog_after - backlog_before)) > 100  # the chart really moved (tickets)
    # the start week slider moves the policy start for every moved lever
    opened.move_slider("#start-week-input", 30)
    assert_charts_match(opened.charted(), engine, [Change("Extra Headcount Fraction", 0.35, from_week=30.0)])
    # keyboard: three steps left on the handle-time target (step 0.005) from 1.0
    ht = opened.page.locator("input[data-parameter='Handle Time Target Multiplier']")
    ht.focus()
    for _ in range(3):
        opened.page.keyboard.press("ArrowLeft")
    opened.page.wait_for_function("CX_WORKSHOP.state.values['Handle Time Target Multiplier'] < 0.99")
    value = opened.page.evaluate("CX_WORKSHOP.state.values['Handle Time Target Multiplier']")
    assert value == pytest.approx(0.985, abs=1e-12)
    assert_charts_match(opened.charted(), engine, [Change("Extra Headcount Fraction", 0.35, from_week=30.0),
                                                   Change("Handle Time Target Multiplier", value, from_week=30.0)])
    assert "0.985" in opened.page.locator(".lever", has=ht).locator("output").inner_text()
    # no perceptible lag: one simulation of 156 weeks in the browser
    ms = opened.page.evaluate("CX_WORKSHOP.lastRun.ms")
    assert 0 <= ms < 100, ms


def test_scenario_buttons_reproduce_the_engine_and_the_reading_matches_python(opened, model, engine):
    rtol = model.analysis.rtol
    _, base = engine(model.scenarios[model.analysis.baseline].changes)
    for name, scenario in model.scenarios.items():
        opened.page.click(f"button[data-scenario='{name}']")
        assert opened.page.locator(f"button[data-scenario='{name}']").get_attribute("aria-pressed") == "true"
        charted = opened.charted()
        assert_charts_match(charted, engine, scenario.changes)
        for c in scenario.changes:  # the levers show the scenario's values
            assert opened.page.evaluate(f"CX_WORKSHOP.state.values[{c.parameter!r}]") == c.value
        items = opened.page.locator("#reading-list li")
        assert items.count() == len(model.analysis.outcomes)
        for i, o in enumerate(model.analysis.outcomes):
            times, _, values = charted[o.variable]
            want = classify_trajectory(times, values, base[o.variable], o.better, rtol, judge=o.judge)
            assert items.nth(i).get_attribute("data-class") == want, (name, o.variable)
            # the reading is the description every output uses (Reading.details), word for word
            reading = read_trajectory(times, values, base[o.variable], o.better, o.judge, rtol)
            assert items.nth(i).inner_text() == (f"{o.label}: {want.replace('-', ' ')} "
                                                 f"({reading.details(pretty_units(o.units))})"), (name, o.variable)
        if name == "structural_prevention":
            text = opened.page.locator("#reading").inner_text()
            assert "Ticket backlog: worse before better (judged on the mean: " in text
            assert "Worse before better: Ticket backlog" in text
    # a slider moved to a scenario's setting lights that scenario's button
    opened.page.click("button[data-scenario='baseline']")
    opened.move_slider("input[data-parameter='Prevention Incentive']", 1)
    assert opened.page.locator("button[data-scenario='structural_prevention']").get_attribute("aria-pressed") == "true"


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_layout_fits_the_screen(browser, page_file, viewport):
    w, h = VIEWPORTS[viewport]
    o = Opened(browser, page_file, (w, h))
    try:
        o.page.click("button[data-scenario='structural_prevention']")
        geo = o.page.evaluate("""() => ({
            scrollWidth: document.documentElement.scrollWidth,
            clientWidth: document.documentElement.clientWidth,
            font: parseFloat(getComputedStyle(document.body).fontSize),
            cards: Array.from(document.querySelectorAll('section.chart')).map(c => {
                const r = c.getBoundingClientRect(), k = c.querySelector('canvas').getBoundingClientRect();
                return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, cw: k.width, ch: k.height,
                        cright: k.right};
            }),
            controls: document.querySelector('.controls').getBoundingClientRect().width})""")
        assert geo["scrollWidth"] <= geo["clientWidth"], "horizontal overflow"
        assert geo["font"] >= 16
        for c in geo["cards"]:
            assert 0 <= c["left"] and c["right"] <= w and c["cright"] <= c["right"]
            assert c["cw"] >= 300 and c["ch"] >= 120  # big enough to read
        if viewport == "projector":  # the whole dashboard on one screen
            assert max(c["bottom"] for c in geo["cards"]) <= h
            assert len({round(c["left"]) for c in geo["cards"]}) == 3
        else:
            assert len({round(c["left"]) for c in geo["cards"]}) == 2
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"workshop-{viewport}-{w}x{h}.png"
        o.page.screenshot(path=str(shot))
        assert shot.read_bytes()[:4] == b"\x89PNG"
        if viewport == "projector" and os.environ.get("CX_UPDATE_DOCS") == "1":
            shutil.copy(shot, ROOT / "docs" / "workshop.png")
        o.page.screenshot(path=str(ARTIFACTS / f"workshop-{viewport}-full.png"), full_page=True)
    finally:
        o.close()
    assert o.errors == []


def test_fresh_install_writes_a_page_that_opens_without_errors(browser, installed, tmp_path):
    """Run ``cxsystems workshop`` of the wheel installed into an empty folder."""
    _, site = installed
    work = tmp_path / "work"
    work.mkdir()
    code = "import cxsystems.pages.workshop as p; print(p.__file__)"
    where = subprocess.run([sys.executable, "-c", code], cwd=work, env=installed_env(site), check=True,
                           capture_output=True, text=True, timeout=120).stdout.strip()
    assert where.startswith(str(site))  # the installed copy, not the checkout
    proc = run_installed(site, work, "workshop")
    assert proc.returncode == 0, proc.stderr
    out = work / "cxsystems-workshop.html"
    assert [p.name for p in work.iterdir()] == [out.name]
    o = Opened(browser, out)
    try:
        assert o.page.locator("section.chart canvas").count() == 7
        assert o.page.locator("#levers input[type=range]").count() == 5
    finally:
        o.close()
    assert o.errors == []


def test_changes_from_the_start_and_a_scenario_with_mixed_weeks(browser, tmp_path, cli):
    """capability_trap (changes without from_week) plus a scenario whose changes start in different
    weeks: the button runs that scenario's changes as written, and a slider move leaves that mode."""
    for f in (ROOT / "models").glob("capability_trap.*"):
        shutil.copy(f, tmp_path / f.name)
    toml = tmp_path / "capability_trap.scenarios.toml"
    toml.write_text(toml.read_text() + '''
[scenarios.mixed]
description = "Push improvement from the start and raise the target from week 30."
[scenarios.mixed.set]
"Pressure Step" = 0.1
"Performance Step" = { value = 500, from_week = 30 }
''')
    model = cx.load_model(tmp_path / "capability_trap.mdl")
    cm = compile_model(model)
    variables = [o.variable for o in model.analysis.outcomes]

    def engine(changes):
        res = cm.run(changes=list(changes), variables=variables)
        return res.times, {v: res.variable(v)[:, 0] for v in variables}

    out = tmp_path / "trap.html"
    assert cli("workshop", "--model", tmp_path / "capability_trap.mdl", "--out", out).code == 0
    o = Opened(browser, out)
    try:
        # the default start week is the earliest from_week of any scenario
        assert o.page.locator("#start-week output").inner_text() == "from week 30"
        for name, scenario in model.scenarios.items():
            o.page.click(f"button[data-scenario='{name}']")
            assert_charts_match(o.charted(), engine, scenario.changes)
            if name == "work_smarter":  # a change without from_week applies from the start
                assert o.page.locator("#start-week output").inner_text() == "from the start"
                assert o.page.evaluate("CX_WORKSHOP.lastRun.changes") == [
                    dict(parameter="Pressure Step", value=0.1, from_week=None)]
        note = o.page.locator("#scenario-note").inner_text()
        assert "run as written" in note and "Performance Step = 500 from week 30" in note
        assert "Pressure Step = 0.1 from the start" in note
        assert o.page.evaluate("CX_WORKSHOP.lastRun.changes") == [
            dict(parameter="Pressure Step", value=0.1, from_week=None),
            dict(parameter="Performance Step", value=500, from_week=30)]
        # a slider move: every moved lever starts at the one start week (from the start, as set by
        # higher_target, the last scenario of one start week pressed)
        o.move_slider("input[data-parameter='Performance Step']", 200)
        assert_charts_match(o.charted(), engine, [Change("Pressure Step", 0.1), Change("Performance Step", 200.0)])
        assert "run as written" not in o.page.locator("#scenario-note").inner_text()
    finally:
        o.close()
    assert o.errors == []


def test_chart_read_outs_show_only_under_the_pointer(opened):
    """No row of "-" placeholders under each chart: the read-out appears while the pointer is on it."""
    page = opened.page
    style = "getComputedStyle(document.querySelectorAll('.plot .u-legend')[{i}]).visibility"
    n = page.evaluate("document.querySelectorAll('.plot .u-legend').length")
    assert n >= 7
    assert all(page.evaluate(style.format(i=i)) == "hidden" for i in range(n))
    page.locator(".plot").first.hover()
    assert page.evaluate(style.format(i=0)) == "visible"
    assert page.evaluate(style.format(i=1)) == "hidden"
    page.mouse.move(0, 0)
