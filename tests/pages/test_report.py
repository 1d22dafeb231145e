"""``cxsystems report``: the briefing page's content, self-containment, escaping, atomic writing and
how it renders and prints in a real headless Chromium (Debian's ``chromium``, driven by Playwright)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import installed_env, run_installed

import cxsystems as cx
from cxsystems.analysis.compare import CLASS_PREFIX, compare
from cxsystems.errors import CxError
from cxsystems.pages.report import (
    build_report,
    fmt_number,
    fmt_value,
    model_summary,
    question_for,
    write_report,
)
from cxsystems.text import share_rounded as _pct
from cxsystems.text import short_number

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
N_RUNS = 200
SECTIONS = ("question", "model", "scenarios", "comparison", "outcomes", "summary", "loops", "robustness", "drivers",
            "method")
#: Namespace names inside SVG (never fetched); any other http(s) URL is a failure.
SVG_NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}

import playwright.sync_api as playwright_api  # noqa: E402 - the [dev] extra; no skipping: CI has it

# .ci/run installs Debian's chromium; without it the browser tests fail rather than skip
assert Path(CHROMIUM).is_file(), "Debian chromium is not installed (apt-get install chromium)"


class Page(HTMLParser):
    """The tags, attributes and section texts of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def attrs(self, tag: str) -> list[dict]:
        return [a for t, a in self.tags if t == tag]

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture(scope="module")
def report_file(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "briefing.html"
    write_report(model, out, n_runs=N_RUNS, seed=0)
    return out


@pytest.fixture(scope="module")
def html(report_file):
    return report_file.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(html):
    return Page(html)


@pytest.fixture(scope="module")
def cmp(model):
    return compare(model)


def section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', html, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


# ------------------------------------------------------------------------------ content
def test_the_page_has_every_section_in_order(html):
    starts = [html.index(f'<section id="{s}"') for s in SECTIONS]
    assert starts == sorted(starts)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_the_question_and_the_model_in_two_sentences(html, page, model):
    assert question_for(model) == "Does structural prevention beat reactive hiring?"
    assert "<h1>Does structural prevention beat reactive hiring?</h1>" in html
    summary = model_summary(model)
    assert summary.startswith("A CX leader asks:")
    assert summary.count(". ") + summary.count("? ") + summary.count('?" ') <= 2
    assert "cx_service connects internal drivers" in Page(section(html, "model")).plain


def test_every_scenario_is_listed_with_its_title_and_description(html, model):
    text = Page(section(html, "scenarios")).plain
    for s in model.scenarios.values():
        assert s.title in text and s.description in text
    # people read titles: no code name outside the command that rebuilds the page
    body = Page(html[html.index("<main>"):html.index('<p id="reproduce">')]).plain
    for name in model.scenarios:
        if "_" in name:
            assert name not in body, name


def test_summary_classifications_match_compare(html, cmp):
    body = section(html, "summary")
    class_cols = [c for c in cmp.summary.columns if c.startswith(CLASS_PREFIX)]
    headers = re.search(r'<table class="classifications"><thead><tr>(.*?)</tr>', body, re.S).group(1)
    assert re.findall(r"<th>(.*?)</th>", headers)[1:] == [c[len(CLASS_PREFIX):] for c in class_cols]
    table = re.search(r'<table class="classifications">.*?</table>', body, re.S).group(0)
    rows = dict(re.findall(r'<tr data-scenario="([^"]+)">(.*?)</tr>', table, re.S))
    assert list(rows) == cmp.scenario_names
    for name, row in rows.items():
        got = re.findall(r'data-class="([^"]+)"', row)
        if name == cmp.baseline:
            assert got == [] and row.count("reference") == len(class_cols)
        else:
            assert got == [cmp.summary.loc[name, c] for c in class_cols], name
    # the headline classes the briefing is about
    assert rows["structural_prevention"].count('data-class="worse-before-better"') >= 1
    # one line per scenario on the classified outcome, as Comparison.describe gives it, by title
    for name in cmp.scenario_names[1:]:
        line = cmp.describe(name).replace(name, cmp.title_of(name), 1)
        assert line.replace("&", "&amp;") in body


def test_summary_metric_values_are_compares(html, cmp, model):
    body = section(html, "summary")
    table = re.search(r'<table class="metrics">.*?</table>', body, re.S).group(0)
    for name in cmp.scenario_names:
        row = re.search(rf'<tr data-scenario="{name}"><td><strong>{cmp.title_of(name)}</strong></td>(.*?)</tr>',
                        table, re.S)
        cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1))
        want = [fmt_value(cmp.summary.loc[name, m.name], m.units or model.units.get(m.variable, ""), m.percent)
                for m in cmp.metrics]
        assert cells == want, name
    assert fmt_number(79_880_723.06, "$") == "$79.9M" and fmt_number(-1486.9) == "\u22121,487"
    assert fmt_number(0.2011) == "0.201" and fmt_number(float("nan")) == "-"
    assert fmt_value(0.2253, "a year", True) == "22.5%" and fmt_value(82_165_828, "$") == "$82.2M"


def test_charts_dashboard_contact_mix_outcome_cld_and_fan(html, page, cmp):
    figures = [a.get("id") for a in page.attrs("figure")]
    assert cmp.contact_mix  # the bundled model declares one: its chart is on the page
    assert figures == ["fig-dashboard", "fig-contact-mix", "fig-outcome-1", "fig-cld", "fig-fan"]
    alts = [a["alt"] for a in page.attrs("img")]
    assert f"{cmp.model_title}: what contact volume is made of" in alts
    cld = re.search(r'<figure id="fig-cld">(.*?)</figure>', html, re.S).group(1)
    assert cld.lstrip().startswith("<svg") and "viewBox" in cld   # inline SVG, scales with the column
    assert 'width="' not in cld.split(">", 1)[0]


def test_loops_and_archetypes_are_listed(html, model):
    from cxsystems import causal

    body = section(html, "loops")
    text = Page(body).plain
    graph = causal.model_graph(model)
    for name in graph.loop_names:
        assert name.name in text and name.description in text
    for kind in ("shifting the burden", "fixes that fail"):
        assert f"<strong>{kind}</strong>" in body
    fixes = re.findall(r"<li><strong>fixes that fail</strong>: (.*?)</li>", body)
    assert any("cut corners" in f and "rework spiral" in f for f in fixes)   # the fast-closing fix that fails
    assert "most plausible first" in text and "Implausible matches are not shown" in text
    burden = re.findall(r"<li><strong>shifting the burden</strong>: (.*?)</li>", body)
    assert burden[0].endswith("confirmed: Reward prevention ends better on Ticket Backlog than Hire 20% more agents")
    assert re.search(r"\b\d+ implausible match\(es\) hidden \(a decision role nobody takes", text)


def test_robustness_verdicts_match_the_ensemble(html, model, cmp):
    from cxsystems.analysis.ensemble import ensemble
    from cxsystems.analysis.robustness import verdicts

    body = section(html, "robustness")
    assert "robustness-unavailable" not in body
    want = verdicts(ensemble(model, n=N_RUNS, seed=0))     # the same verdicts, by scenario title
    for a, b in model.analysis.versus:
        want = [w.replace(f"{a} beats {b}", f"{cmp.title_of(a)} beats {cmp.title_of(b)}")
                .replace(f"({b} does", f"({cmp.title_of(b)} does") for w in want]
    got = re.findall(r"<li>(.*?)</li>", re.search(r'<ul class="verdicts">(.*?)</ul>', body, re.S).group(1))
    assert got == want
    assert got[0].startswith("Reward prevention beats Hire 20% more agents on cumulative profit in ")
    assert got[0].endswith(f"of {N_RUNS} runs")
    # every uncertain parameter is listed with its source
    text = Page(body).plain
    for u in model.analysis.uncertain:
        assert u.parameter in text


def test_the_assumptions_that_decide_the_answer_are_sobols_top_three(html, model):
    """The drivers section names the top three of cx.sensitivity on the headline pair, same numbers."""
    from cxsystems.analysis.sensitivity import sensitivity
    from cxsystems.pages.report import DRIVER_RUNS

    sens = sensitivity(model, "sobol", metric="cumulative_profit", scenario="structural_prevention",
                       versus="reactive_hiring", n=DRIVER_RUNS, seed=0)
    body = section(html, "drivers")
    rows = re.findall(r"<tr><td><strong>(.*?)</strong></td><td class=\"num\">(.*?)</td><td class=\"num\">(.*?)</td>", body)
    top = sens.ranking().head(3)
    assert [r[0] for r in rows] == list(top.index)
    first = top.iloc[0]
    assert unescape(rows[0][1]) == f"{_pct(first['S1'])} \u00b1 {_pct(first['S1_conf'])}"
    assert unescape(rows[0][2]) == f"{_pct(first['ST'])} \u00b1 {_pct(first['ST_conf'])}"
    assert "the difference in cumulative profit between Reward prevention and Hire 20% more agents" in body
    assert f"{sens.runs:,} sampled worlds" in section(html, "drivers")


def test_a_calibration_says_what_was_fitted_to_which_data_and_how_well(model, tmp_path):
    from cxsystems.analysis.calibrate import calibrate
    from cxsystems.model.loader import bundled_models_dir

    cal = calibrate(model, bundled_models_dir() / "data" / "acme_support_history.csv",
                    fit=["Reference Problem Contact Rate"], seed=0, popsize=6, maxiter=5)
    cal.save(tmp_path / "fit")
    out = write_report(model, tmp_path / "b.html", n_runs=0, calibration=tmp_path / "fit" / "calibration.toml")
    body = section(out.read_text(encoding="utf-8"), "calibration")
    est = cal.estimates["Reference Problem Contact Rate"]
    assert "fitted to the organisation's history in <code>acme_support_history.csv</code>" in body
    assert f"<strong>Reference Problem Contact Rate</strong></td><td class=\"num\">{short_number(est)}</td>" in body
    for series, st in cal.fit.iterrows():
        assert f"<strong>{series}</strong>: r\u00b2 {st['r2']:.2f}" in body


def test_which_loop_drove_the_backlog_phase_by_phase_is_dominances(html, model):
    """The why table: per phase, the loop of the diagram with the largest |loop score| most often
    (the workshop page's highlight), from cx.dominance's loop scores."""
    import numpy as np

    from cxsystems.analysis.dominance import dominance
    from cxsystems.plotting.diagrams import model_diagram

    body = section(html, "loops")
    table = re.search(r"Which loop drove ticket backlog, phase by phase</h3>.*?<tbody>(.*?)</tbody>", body, re.S)[1]
    rows = re.findall(r"<tr><td>Weeks ([\d.]+)\u2013([\d.]+)</td><td>(.*?)</td><td>(.*?)</td></tr>", table)
    assert [(a, b) for a, b, *_ in rows] == [("0", "39"), ("39", "78"), ("78", "117"), ("117", "156")]
    drawn = [m.name for m in model_diagram(model).markers]
    for col, scen in ((2, "baseline"), (3, "structural_prevention")):
        res = dominance(model, scenario=scen, outcome="Ticket Backlog")
        part = res.partition_of_outcome("Ticket Backlog")
        idx = [i for n in drawn for i, lp in enumerate(res.loop_list) if lp.name == n and res.partition[i] == part]
        assert len(idx) == 8  # word of mouth and customers leave included; 7,044 unnamed loops are not drawn
        a = np.nan_to_num(np.abs(res.loop_scores[idx]))
        lead = np.where(a.max(axis=0) > 0, np.argmax(a, axis=0), -1)  # at rest (before the launch) none leads
        for row in rows:
            sel = (res.times >= float(row[0])) & (res.times < float(row[1]))
            led = lead[sel]
            counts = np.bincount(led[led >= 0], minlength=len(idx))
            lp = res.loop_list[idx[int(np.argmax(counts))]]
            assert unescape(row[col]) == f"{lp.name} ({lp.description}), {_pct(counts.max() / sel.sum())}"
    # the structural policy hands the middle of the run to the fundamental loop
    assert rows[1][2].startswith("firefighting trap (R)") and rows[1][3].startswith("fix root causes (B), 85%")


# ------------------------------------------------------------------------------ self-contained
def _urls(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>)]+", text)


def test_everything_is_inline_and_nothing_points_outside(html, page):
    assert page.attrs("script") == [] and page.attrs("link") == [] and page.attrs("iframe") == []
    imgs = page.attrs("img")
    assert len(imgs) >= 4
    for a in imgs:
        assert a["src"].startswith("data:image/svg+xml;base64,"), a["src"][:40]
        assert a.get("alt")
        svg = base64.b64decode(a["src"].split(",", 1)[1]).decode("utf-8")
        assert svg.startswith("<svg") and "<script" not in svg and "<image" not in svg
        assert set(_urls(svg)) <= SVG_NAMESPACES
        assert not re.search(r'href="(?!#)', svg)          # only in-document references
    for tag, attrs in page.tags:
        for key in ("src", "href", "action", "poster", "data"):
            v = attrs.get(key)
            if v is not None and key != "src":
                assert v.startswith("#"), (tag, key, v)   # in-page anchors only
    assert set(_urls(html)) <= SVG_NAMESPACES               # the inline CLD's namespaces
    assert "url(" not in re.sub(r"url\(#[^)]*\)", "", html)  # CSS and SVG: local references only
    assert "@import" not in html


def test_model_text_is_escaped(tmp_path):
    """Hostile text in the model card, a loop description and a scenario description stays text."""
    for f in (ROOT / "models").glob("cx_service.*"):
        shutil.copy(f, tmp_path / f.name)
    card = tmp_path / "cx_service.md"
    card.write_text('# Model card\n\n## Purpose\nA <img src=x onerror="alert(1)"> model & "friends". '
                    "It has `code` too. Third sentence.\n", encoding="utf-8")
    loops = tmp_path / "cx_service.loops.toml"
    text = loops.read_text(encoding="utf-8")
    loops.write_text(text.replace('description = "Customers recommend the service and bring in new customers."',
                                  'description = "Customers <script>alert(2)</script> recommend."'),
                     encoding="utf-8")
    toml = tmp_path / "cx_service.scenarios.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        'description = "Reactive: raise the support headcount target by 20% from week 16."',
        'description = "Hire <b onmouseover=alert(3)>more</b> & faster."'), encoding="utf-8")
    model = cx.load_model(tmp_path / "cx_service.mdl")
    out = build_report(model, n_runs=0)
    p = Page(out)
    assert [t for t, _ in p.tags if t in ("script", "b")] == []
    assert all("onerror" not in a and "onmouseover" not in a for _, a in p.tags)
    assert "A &lt;img src=x onerror=&quot;alert(1)&quot;&gt; model &amp; &quot;friends&quot;." in out
    assert "<code>code</code>" in out and "Third sentence" not in out   # two sentences only
    assert "Customers &lt;script&gt;alert(2)&lt;/script&gt; recommend." in out
    assert "Hire &lt;b onmouseover=alert(3)&gt;more&lt;/b&gt; &amp; faster." in out


# ------------------------------------------------------------------------------ writing, CLI
def test_write_report_is_atomic(model, tmp_path):
    out = tmp_path / "briefing.html"
    out.write_text("old", encoding="utf-8")
    with pytest.raises(CxError):
        write_report(model, out, n_runs=-1)
    assert out.read_text(encoding="utf-8") == "old"         # a failed build leaves the old file
    assert [p.name for p in tmp_path.iterdir()] == ["briefing.html"]
    assert write_report(model, out, n_runs=0) == out
    text = out.read_text(encoding="utf-8")
    assert text.rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["briefing.html"]  # no temporary file left
    # no runs: the robustness section says it was skipped
    body = section(text, "robustness")
    assert 'id="robustness-unavailable"' in body and "Skipped" in body
    with pytest.raises(CxError, match="number of runs"):
        build_report(model, n_runs=-5)


def test_cli_writes_the_report(tmp_path, cli):
    out = tmp_path / "sub" / "r.html"
    r = cli("report", "--model", "cx_service", "--out", out, "--n", "0", "--quiet")
    assert r.code == 0
    stdout = r.out
    assert stdout.startswith(f"cx_service: wrote {out}") and len(stdout.strip().splitlines()) == 1
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]
    assert "<h1>Does structural prevention beat reactive hiring?</h1>" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, message", [
    (["--model", "no_such_model"], "unknown model 'no_such_model'"),
    (["--model", "missing/file.mdl"], "missing/file.mdl"),
    (["--n", "-3"], "--n must be 0 or more"),
    (["--n", "lots"], "invalid int value"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, cli, argv, message):
    out = tmp_path / "r.html"
    out.write_text("old", encoding="utf-8")
    r = cli("report", "--out", out, *argv)
    assert r.code == 2
    err = r.err
    assert err.startswith("cxsystems: error: ") and err.count("\n") == 1 and message in err
    assert out.read_text(encoding="utf-8") == "old" and [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_cli_refuses_a_directory(tmp_path, cli):
    r = cli("report", "--out", tmp_path, "--n", "0")
    assert r.code == 2
    assert "is a directory" in r.err


# ------------------------------------------------------------------------------ Chromium
@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, path: Path, width: int = 1200, height: int = 900):
    errors, requests = [], []
    pg = browser.new_page(viewport={"width": width, "height": height})
    pg.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(path.as_uri())
    pg.wait_for_load_state("load")
    return pg, errors, requests


#: Printable width and height of A4 and Letter with the page's 12 mm / 14 mm margins, in CSS px.
PAPER = {"A4": ((210 - 24) / 25.4 * 96, (297 - 28) / 25.4 * 96),
         "Letter": (8.5 * 96 - 24 / 25.4 * 96, 11 * 96 - 28 / 25.4 * 96)}

FIGURE_BOXES = """() => Array.from(document.querySelectorAll('figure img, figure svg')).map(e => {
    const r = e.getBoundingClientRect();
    return {tag: e.tagName, left: r.left, right: r.right, width: r.width, height: r.height,
            ok: e.tagName !== 'IMG' || (e.complete && e.naturalWidth > 0)}; })"""


def test_chromium_opens_the_page_without_errors(browser, report_file):
    pg, errors, requests = open_page(browser, report_file)
    try:
        assert errors == []
        assert requests == [report_file.as_uri()]           # nothing else fetched
        boxes = pg.evaluate(FIGURE_BOXES)
        assert len(boxes) >= 5 and all(b["ok"] for b in boxes)  # every SVG image decoded
        assert all(b["width"] > 300 and b["height"] > 150 for b in boxes)
        assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert pg.locator("section").count() == len(SECTIONS)
    finally:
        pg.close()


@pytest.mark.parametrize("paper", sorted(PAPER))
def test_prints_to_pdf_with_every_figure_within_the_page(browser, report_file, paper, tmp_path):
    width, height = PAPER[paper]
    pg, errors, _ = open_page(browser, report_file, width=int(width), height=int(height))
    try:
        pg.emulate_media(media="print")
        boxes = pg.evaluate(FIGURE_BOXES)
        content = pg.evaluate("document.documentElement.clientWidth")
        assert content <= width
        for b in boxes:
            assert b["left"] >= -0.5 and b["right"] <= content + 0.5, b
            assert b["height"] <= height, b                  # fits one page: break-inside can keep it whole
        # no table or text runs past the page either
        assert pg.evaluate("document.documentElement.scrollWidth") <= content
        pdf = pg.pdf(path=str(tmp_path / f"briefing-{paper}.pdf"), format=paper, print_background=True)
        assert pdf[:5] == b"%PDF-" and len(pdf) > 100_000
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        assert 4 <= pages <= 9, pages
        assert errors == []
    finally:
        pg.close()


def test_print_css_keeps_figures_whole(html):
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    media = css[css.index("@media print"):]
    assert re.search(r"figure[^{]*\{[^}]*break-inside:\s*avoid", media)
    assert re.search(r"img, svg \{ max-width: 100%", css)


def test_fresh_install_report_opens_in_chromium(browser, installed, tmp_path):
    """Run ``cxsystems report`` of the wheel installed into an empty folder."""
    _, site = installed
    work = tmp_path / "work"
    work.mkdir()
    where = subprocess.run([sys.executable, "-c", "import cxsystems.pages.report as r; print(r.__file__)"], cwd=work,
                           env=installed_env(site), check=True, capture_output=True, text=True,
                           timeout=120).stdout.strip()
    assert where.startswith(str(site))  # the installed copy, not the checkout
    proc = run_installed(site, work, "report", "--n", "100", "--quiet")
    assert proc.returncode == 0, proc.stderr
    out = work / "cxsystems-report.html"
    assert [p.name for p in work.iterdir()] == [out.name]
    pg, errors, requests = open_page(browser, out)
    try:
        assert pg.locator("figure").count() >= 5
        assert "of 100 runs" in pg.locator("#robustness").inner_text()
        assert "model card cx_service.md" in pg.locator("#method").inner_text()   # the card ships too
    finally:
        pg.close()
    assert errors == [] and requests == [out.as_uri()]
