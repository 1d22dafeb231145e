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
from cxsystems.analysis.contacts import avoidable_share, mix_table
from cxsystems.analysis.metrics import classify_trajectory, read_trajectory
from cxsystems.engine import compile_model
from cxsystems.plotting import charts
from cxsystems.text import difference_title, pretty_units

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


def assert_charts_match(charted, engine, changes, baseline_changes=(), differences=("Cumulative Profit",)):
    """The charts hold the engine's numbers: levels, or (view = "difference") the differences from
    the baseline, the baseline at zero."""
    times, values = engine(changes)
    _, base = engine(baseline_changes)
    assert set(charted) == set(values)
    for var, (t, b, v) in charted.items():
        assert_same(t, times, f"{var}: times")
        if var in differences:
            assert np.all(b == 0), f"{var}: baseline at zero"
            assert_same(v, values[var] - base[var], f"{var}: difference from the baseline")
        else:
            assert_same(b, base[var], f"{var}: baseline")
            assert_same(v, values[var], f"{var}: this setting")


# --------------------------------------------------------------------------- tests
def test_page_opens_without_errors_and_charts_the_baseline(opened, model, engine):
    assert opened.errors == []
    assert all(u.startswith("file://") for u in opened.requests), opened.requests  # no network at all
    charted = opened.charted()
    assert list(charted) == [o.variable for o in model.analysis.outcomes]
    assert_charts_match(charted, engine, [])
    assert [o.variable for o in model.analysis.outcomes if o.view == "difference"] == ["Cumulative Profit"]
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
        times, levels = engine(scenario.changes)  # the charts hold differences for some: classify levels
        for i, o in enumerate(model.analysis.outcomes):
            values = levels[o.variable]
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
            mix: (() => { const r = document.querySelector('#contact-mix').getBoundingClientRect(),
                                k = document.querySelector('#contact-mix canvas').getBoundingClientRect();
                          return {left: r.left, right: r.right, bottom: r.bottom, cw: k.width, ch: k.height,
                                  cright: k.right}; })(),
            controls: document.querySelector('.controls').getBoundingClientRect().width})""")
        assert geo["scrollWidth"] <= geo["clientWidth"], "horizontal overflow"
        assert geo["font"] >= 16
        for c in geo["cards"]:
            assert 0 <= c["left"] and c["right"] <= w and c["cright"] <= c["right"]
            assert c["cw"] >= 300 and c["ch"] >= 120  # big enough to read
        mix = geo["mix"]  # the contact mix is readable and inside its card
        assert 0 <= mix["left"] and mix["right"] <= w and mix["cright"] <= mix["right"]
        assert mix["cw"] >= 250 and mix["ch"] >= 120
        if viewport == "projector":  # the whole dashboard on one screen
            assert max(c["bottom"] for c in geo["cards"]) <= h and mix["bottom"] <= h
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


def test_fresh_install_writes_a_page_that_opens_without_errors(browser, installed, tmp_path, model):
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
        assert o.page.locator("section.chart canvas").count() == len(model.analysis.outcomes)
        assert o.page.locator("#contact-mix canvas").count() == 1
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
        # no [contact_mix]: no contact-mix card at all (no empty chart)
        assert o.page.locator("#contact-mix").count() == 0 and o.page.locator(".mix").count() == 0
        assert o.page.evaluate("CX_WORKSHOP.mix") is None
        assert_no_code_names(o.page, model)
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


# --------------------------------------------------------------------------- names, colours, formats
def code_names(model) -> list[str]:
    """The code names a person should not read: the model's file name and the scenario names that
    are no words (``reactive_hiring``; ``baseline`` or ``trap`` are words a page may use)."""
    return [n for n in [model.name, *model.scenarios] if "_" in n]


def assert_no_code_names(page, model):
    text = page.evaluate("document.body.innerText")
    for name in code_names(model):
        assert name not in text, name
    assert model.title in text
    for s in model.scenarios.values():
        assert s.title in text, s.title


def test_scenarios_are_shown_by_title_in_their_family_colours(opened, model):
    page = opened.page
    names = list(model.scenarios)
    families = {n: s.family for n, s in model.scenarios.items()}
    colors = charts.scenario_colors(names, model.baseline, names, families=families)
    assert "reactive_hiring" in code_names(model) and "cx_service" in code_names(model)
    assert page.locator("h1").inner_text().endswith(model.title)
    assert page.title() == f"{model.title}: policy workshop"
    for name, sc in model.scenarios.items():
        button = page.locator(f"button[data-scenario='{name}']")
        assert button.inner_text().strip() == sc.title
        assert button.get_attribute("data-family") == sc.family
        swatch = button.locator(".swatch").evaluate("e => getComputedStyle(e).backgroundColor")
        assert swatch == _rgb(colors[name]), name
        button.click()
        assert_no_code_names(page, model)
        # the run line, its legend entry and the header key take the scenario's colour and title
        run = page.evaluate("""() => { const c = CX_WORKSHOP.charts[0];
            return {stroke: c.series[2]._stroke,
                    label: c.root.querySelectorAll('.u-legend .u-series')[2].querySelector('.u-label').textContent,
                    base: c.root.querySelectorAll('.u-legend .u-series')[1].querySelector('.u-label').textContent,
                    key: document.getElementById('key-run-label').textContent}; }""")
        assert run["stroke"].lower() == colors[name].lower(), name
        assert run["label"] == run["key"] == sc.title
        assert run["base"] == model.scenarios[model.baseline].title
        summary = page.locator("#reading-summary").inner_text()
        if name != model.baseline:
            assert summary.startswith(f"{sc.title} against {model.scenarios[model.baseline].title}, of "), summary
    # a setting of no scenario: "Your setting", in a colour of no family
    opened.move_slider("input[data-parameter='Extra Headcount Fraction']", 0.05)
    own = page.evaluate("[CX_WORKSHOP.charts[0].series[2]._stroke, document.getElementById('key-run-label').textContent]")
    assert own == [page.evaluate("CX_WORKSHOP.config.own_color"), "Your setting"]
    assert own[0] not in colors.values()
    assert_no_code_names(page, model)


def _rgb(hex_color: str) -> str:
    h = hex_color.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def _readouts(page, i: int, week: float) -> list[str]:
    """The read-out under chart ``i`` with the pointer on ``week``."""
    return page.evaluate("""([i, w]) => { const c = CX_WORKSHOP.charts[i];
        c.setCursor({left: c.valToPos(w, 'x'), top: 5});
        return Array.from(c.root.querySelectorAll('.u-legend .u-value')).map(e => e.textContent); }""", [i, week])


def test_percent_and_difference_outcomes_read_as_people_read_them(opened, model, engine):
    page = opened.page
    outcomes = list(model.analysis.outcomes)
    opened.page.click("button[data-scenario='structural_prevention']")
    times, values = engine(model.scenarios["structural_prevention"].changes)
    _, base = engine(())
    week, k = 60.0, int(np.searchsorted(times, 60.0))
    # a fraction x100 with %: axis ticks and read-outs
    i = next(j for j, o in enumerate(outcomes) if o.percent)
    o = outcomes[i]
    card = page.locator("section.chart").nth(i)
    assert card.locator("h3").text_content() == f"{o.label} (% {pretty_units(o.units)})"
    ticks = page.evaluate("i => CX_WORKSHOP.charts[i].axes[1]._values.map(String)", i)
    assert ticks and all(t.endswith("%") for t in ticks), ticks
    splits = np.asarray(page.evaluate("i => CX_WORKSHOP.charts[i].axes[1]._splits", i), dtype=float)
    assert [float(t.rstrip("%")) for t in ticks] == pytest.approx(list(100 * splits), rel=1e-9, abs=1e-9)
    week_text, base_text, run_text = _readouts(page, i, week)
    assert week_text == "week 60"
    assert float(base_text.rstrip("%")) == pytest.approx(100 * base[o.variable][k], abs=0.006)
    assert float(run_text.rstrip("%")) == pytest.approx(100 * values[o.variable][k], abs=0.006)
    assert base_text.endswith("%") and run_text.endswith("%")
    # differences from the baseline: titled so, read out signed, the baseline at 0
    i = next(j for j, o in enumerate(outcomes) if o.view == "difference")
    o = outcomes[i]
    title = page.locator("section.chart").nth(i).locator("h3").text_content()
    assert title == difference_title(o.label, model.scenarios[model.baseline].title, o.units)
    _, base_text, run_text = _readouts(page, i, 150.0)
    k = int(np.searchsorted(times, 150.0))
    diff = values[o.variable][k] - base[o.variable][k]
    assert base_text == "0"
    assert (run_text[0] == "+") == (diff > 0)
    got = float(run_text.replace(",", "").replace("M", "e6"))
    assert got == pytest.approx(diff, rel=0.01)
    page.mouse.move(0, 0)


# --------------------------------------------------------------------------- the contact mix
def _mix_python(model, changes):
    run = cx.simulate(model, cx.Scenario("setting", "", tuple(changes)))
    parts = model.analysis.contact_mix
    return run, mix_table(run, parts), avoidable_share(run, parts)


def _mix_page(page):
    """``(times, parts in declared order, share shown (%), baseline share shown (%))``."""
    got = page.evaluate("""() => ({d: CX_WORKSHOP.mix.chart.data.map(a => Array.from(a)),
        share: document.querySelector('#contact-mix .mix-share-value').textContent,
        base: document.querySelector('#contact-mix .mix-base').textContent})""")
    times = np.asarray(got["d"][0], dtype=float)
    stacked = np.asarray(got["d"][1:], dtype=float)[::-1]  # the chart holds running totals, top first
    parts = np.diff(np.vstack([np.zeros(times.size), stacked]), axis=0)
    return times, parts, got["share"], got["base"]


def test_contact_mix_stacks_the_engine_parts_and_states_the_avoidable_share(opened, model):
    page = opened.page
    parts = model.analysis.contact_mix
    card = page.locator("#contact-mix")
    assert card.count() == 1 and card.locator("canvas").count() == 1
    # the key names every kind, the top of the stack first
    assert card.locator(".mix-key li[data-variable]").all_inner_texts() == [p.label for p in reversed(parts)]
    base_changes = model.scenarios[model.baseline].changes
    run, table, share = _mix_python(model, base_changes)
    times, stacked_parts, shown, shown_base = _mix_page(page)
    np.testing.assert_allclose(times, run.index.to_numpy(dtype=float))
    for k, p in enumerate(parts):
        want = table[p.label].to_numpy()
        np.testing.assert_allclose(stacked_parts[k], want, rtol=1e-6, atol=1e-9 * np.max(np.abs(want)))
    k = int(np.searchsorted(times, 60.0))  # one week by hand: the running total is the engine's sum
    top = page.evaluate("k => CX_WORKSHOP.mix.chart.data[1][k]", k)
    assert top == pytest.approx(sum(float(table[p.label].iloc[k]) for p in parts), rel=1e-6)
    assert 0 < share < 1
    assert float(shown.rstrip("%")) == pytest.approx(100 * share, abs=0.5)
    assert shown_base == f"{model.scenarios[model.baseline].title}: {shown}"
    assert "of contacts avoidable" in card.inner_text()
    # the key reads out each kind's contacts at the week under the pointer
    page.evaluate("k => { const c = CX_WORKSHOP.mix.chart; c.setCursor({left: c.valToPos(c.data[0][k], 'x'), top: 5}); }", k)
    value = card.locator(f".mix-key li[data-variable='{parts[0].variable}'] .mix-value").inner_text()
    assert float(value.replace(",", "")) == pytest.approx(float(table[parts[0].label].iloc[k]), rel=0.01)
    # a lever moved: the mix and the share follow the engine for that setting
    opened.move_slider("input[data-parameter='Prevention Incentive']", 1)
    changes = [Change("Prevention Incentive", 1.0, from_week=16.0)]
    run2, table2, share2 = _mix_python(model, changes)
    _, stacked2, shown2, shown_base2 = _mix_page(page)
    for k, p in enumerate(parts):
        want = table2[p.label].to_numpy()
        np.testing.assert_allclose(stacked2[k], want, rtol=1e-6, atol=1e-9 * np.max(np.abs(want)))
    assert float(shown2.rstrip("%")) == pytest.approx(100 * share2, abs=0.5)
    assert abs(share2 - share) > 0.005 and shown2 != shown
    assert shown_base2 == shown_base  # the baseline's share stays put
