"""The workshop page highlights the loop driving the focus outcome, computed live in the browser.

Headless Chromium opens the page ``cxsystems workshop`` writes, a slider is moved the way a person
moves it, and the highlighted loop, its legend entry, the words per phase and the loop scores the
page computed are compared with :func:`cxsystems.dominance` in Python for the same setting
(``params=``, or the scenario's changes), the scores within 1e-9 relative. A screenshot of the
highlighted diagram goes to ``tests/artifacts/workshop-dominance.png``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_workshop_browser import ARTIFACTS, Opened, browser, page_file  # noqa: F401 (fixtures)

import cxsystems as cx
from cxsystems.pages.workshop import DOMINANCE_PHASES, focus_outcome

LEVER = "Handle Time Target Multiplier"


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture()
def opened(browser, page_file):  # noqa: F811 (the fixtures imported above)
    o = Opened(browser, page_file)
    o.page.wait_for_selector("body[data-ltm-ready=true]")  # the first run's scores follow the first paint
    yield o
    o.close()
    assert o.errors == []


def expected(res, loops):
    """The page's rule in Python: :meth:`DominanceResult.leading` over the drawn ``loops`` (page order,
    matched by their links: ids may differ with measured signs), over the run and per quarter."""
    def links(vs):
        return set(zip(vs, vs[1:] + vs[:1]))

    rows = [next(i for i, lp in enumerate(res.loop_list) if set(lp.links()) == links(p["variables"]))
            for p in loops]
    ids = [res.loop_list[i].id for i in rows]
    page_id = dict(zip(ids, (p["id"] for p in loops)))
    t0, t1 = res.times[0], res.times[-1] + res.dt
    cuts = [t0 + (t1 - t0) * k / DOMINANCE_PHASES for k in range(DOMINANCE_PHASES + 1)]

    def read(table):
        return [(page_id[r.loop], r.share) if r.loop else (None, 0.0) for r in table.itertuples()]

    (whole,) = read(res.leading([(t0, t1)], ids))
    return res.loop_scores[rows], whole, read(res.leading(list(zip(cuts[:-1], cuts[1:])), ids))


def pct(x: float) -> str:
    return f"{math.floor(100 * x + 0.5)}%"


def check_page(o: Opened, res, what: str) -> None:
    page = o.page
    cfg = page.evaluate("CX_WORKSHOP.ltm")
    got = page.evaluate("CX_WORKSHOP.dominance")
    scores, (lead_id, lead_share), phases = expected(res, cfg["loops"])
    # the scores the page computed are the numpy ones
    np.testing.assert_array_equal(got["times"], res.times)
    for k, lp in enumerate(cfg["loops"]):
        np.testing.assert_allclose(np.asarray(got["loopScores"][k], dtype=float), scores[k], rtol=1e-9, atol=0,
                                   err_msg=f"{what}: {lp['name']}")
    names = {lp["id"]: lp["name"] for lp in cfg["loops"]}
    # the highlighted loop: diagram, legend, words
    assert got["overall"]["id"] == lead_id, what
    assert got["overall"]["share"] == pytest.approx(lead_share, abs=1e-12)
    assert page.get_attribute(".cld-svg", "data-highlighted") == lead_id
    assert page.locator(".loops li.ltm-hot").get_attribute("data-loop") == lead_id
    assert page.locator(".loops li.ltm-hot").count() == 1
    hot = page.evaluate("""() => Array.from(document.querySelectorAll('.cld-svg g.ltm-hot'))
                           .map(g => g.getAttribute('id')).filter(i => !i.endsWith(' delay'))""")
    drawn = next(lp["drawn"] for lp in cfg["loops"] if lp["id"] == lead_id)
    want_links = {f"link:{v}->{drawn[(i + 1) % len(drawn)]}" for i, v in enumerate(drawn)}
    assert set(hot) == want_links, what  # every arrow of the loop, nothing else
    assert page.locator(f".cld-svg g.ltm-hot-marker[id='marker:{lead_id}']").count() >= 1
    text = page.inner_text("#ltm .ltm-lead")
    assert f"Driving {cfg['label'].lower()} most: {names[lead_id]} " in text, text
    assert f"the strongest drawn loop in {pct(lead_share)} of the run" in text, text
    items = page.locator("#ltm .ltm-phases li")
    assert items.count() == DOMINANCE_PHASES
    for k, (pid, share) in enumerate(phases):
        assert got["phases"][k]["id"] == pid, (what, k)
        assert items.nth(k).get_attribute("data-loop") == (pid or "")
        line = items.nth(k).inner_text()
        assert line.endswith(f"{names[pid]} ({pid[0]}), {pct(share)} of the phase" if pid else "no drawn loop moves it"), line


def test_the_focus_outcome_and_its_drawn_loops(opened, model):
    cfg = opened.page.evaluate("CX_WORKSHOP.ltm")
    assert cfg["outcome"] == focus_outcome(model) == "Ticket Backlog"
    assert [lp["name"] for lp in cfg["loops"]] == ["hire to cover", "cut corners", "rework spiral", "burnout",
                                                   "fix root causes", "firefighting trap", "customers leave",
                                                   "word of mouth"]
    assert cfg["loops_in_partition"] == 7052


def test_baseline_highlight_equals_python(opened, model):
    check_page(opened, cx.dominance(model, outcome="Ticket Backlog"), "baseline")


def test_slider_move_highlights_the_loop_python_finds(opened, model):
    page = opened.page
    before = page.evaluate("CX_WORKSHOP.dominance.phases")
    opened.move_slider("#start-week-input", model.initial_time)  # changes from the start: new base values
    opened.move_slider(f"#levers input[data-parameter='{LEVER}']", 0.6)
    assert page.evaluate("CX_WORKSHOP.changes()") == [{"parameter": LEVER, "value": 0.6, "from_week": None}]
    res = cx.dominance(model, outcome="Ticket Backlog", params={LEVER: 0.6})
    check_page(opened, res, "slider")
    assert page.evaluate("CX_WORKSHOP.dominance.phases") != before  # the move changed what drives the backlog
    ms = page.evaluate("CX_WORKSHOP.dominance.ms")
    assert 0 <= ms < 500, ms  # live: well under a second per move
    # pointing at a phase highlights its loop; leaving goes back to the run's
    item = page.locator("#ltm .ltm-phases li").nth(2)
    pid = item.get_attribute("data-loop")
    item.hover()
    assert page.get_attribute(".cld-svg", "data-highlighted") == pid
    page.mouse.move(5, 5)
    assert page.get_attribute(".cld-svg", "data-highlighted") == page.evaluate("CX_WORKSHOP.dominance.overall.id")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("section.cld").screenshot(path=str(ARTIFACTS / "workshop-dominance.png"))


def test_scenario_button_with_a_start_week_equals_python(opened, model):
    opened.page.click("button[data-scenario='structural_prevention']")
    opened.page.wait_for_function("CX_WORKSHOP.lastRun.scenario === 'structural_prevention'")
    changes = opened.page.evaluate("CX_WORKSHOP.changes()")
    assert changes and all(c["from_week"] is not None for c in changes)  # from a week on, not new base values
    scen = cx.Scenario("page", "", tuple(cx.Change(c["parameter"], c["value"], c["from_week"]) for c in changes))
    check_page(opened, cx.dominance(model, scen, outcome="Ticket Backlog"), "structural_prevention")


HOSTILE = '</script><script>window.PWNED=1</script><!-- & "quotes"'


def test_model_text_in_the_highlight_stays_text(browser, tmp_path):  # noqa: F811
    """The focus outcome's label (model text) reaches the highlight only as escaped JSON in an
    attribute and as text nodes; the highlight still works (capability trap, its 'trap' scenario)."""
    import json
    import shutil

    from test_workshop_browser import ROOT

    from cxsystems.pages.workshop import render_page

    src = ROOT / "models"
    shutil.copy(src / "capability_trap.mdl", tmp_path / "capability_trap.mdl")
    toml = (src / "capability_trap.scenarios.toml").read_text()
    (tmp_path / "capability_trap.scenarios.toml").write_text(
        toml.replace('label = "Capability"', f"label = {json.dumps(HOSTILE)}", 1))
    model = cx.load_model(tmp_path / "capability_trap.mdl")
    text = render_page(model)
    assert "</script><script>" not in text and "<!--" not in text
    out = tmp_path / "page.html"
    out.write_text(text, encoding="utf-8")
    o = Opened(browser, out)
    try:
        o.page.wait_for_selector("body[data-ltm-ready=true]")
        assert o.page.evaluate("window.PWNED") is None
        assert o.page.evaluate("CX_WORKSHOP.ltm.label") == HOSTILE
        assert o.page.inner_text("#ltm .ltm-lead").startswith("No drawn loop moves " + HOSTILE.lower())  # at rest
        o.page.click("button[data-scenario='trap']")
        o.page.wait_for_function("CX_WORKSHOP.lastRun.scenario === 'trap'")
        scen = model.scenarios["trap"]
        check_page(o, cx.dominance(model, scen, outcome="Capability"), "trap")
        assert o.page.evaluate("window.PWNED") is None
    finally:
        o.close()
    assert o.errors == []
