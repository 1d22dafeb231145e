"""The briefing answers its question on its first page: the answer sentence, its numbers, the
timing answer and the recommendation, checked against the library's own numbers (never typed in:
the model changes); the printed page count and fill; own models' grammar and "Reproduce with" line."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from cxsystems.analysis.compare import AVOIDABLE_COLUMN, compare
from cxsystems.analysis.ensemble import ensemble
from cxsystems.analysis.robustness import robustness, tail_shares
from cxsystems.analysis.timing import start_week_sweep
from cxsystems.pages.report import _sentences, model_summary, write_report
from cxsystems.pages.report_answer import (
    NO_SHARE,
    SPLIT_MIN,
    YES_SHARE,
    fmt_value,
    strongest_split,
    verdict_of,
)
from cxsystems.text import pretty_units
from cxsystems.text import share_rounded as pct

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PDFTOPPM = shutil.which("pdftoppm") or "/usr/bin/pdftoppm"
N_RUNS = 60
A, B = "structural_prevention", "reactive_hiring"
#: Printed pages at most, and the least fill of any page (content height / printable height).
MAX_PAGES, MIN_FILL = 8, 0.5
#: The page's @page margins (mm) and A4's height (mm), to measure fill within the printable area.
MARGIN_MM, A4_MM = 14, 297

# poppler's pdftoppm renders the printed pages (apt-get install poppler-utils); no skipping
assert Path(PDFTOPPM).is_file(), "poppler-utils is not installed (apt-get install poppler-utils)"


def text_of(fragment: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def element(html: str, eid: str, tag: str = "p") -> str:
    m = re.search(rf'<{tag} id="{eid}"[^>]*>(.*?)</{tag}>', html, re.S)
    assert m, f"no <{tag} id={eid}>"
    return text_of(m.group(1))


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture(scope="module")
def report(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("answer") / "briefing.html"
    write_report(model, out, n_runs=N_RUNS, seed=0)
    return out


@pytest.fixture(scope="module")
def html(report):
    return report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cmp(model):
    return compare(model)


@pytest.fixture(scope="module")
def res(model):
    return ensemble(model, n=N_RUNS, seed=0)


# ------------------------------------------------------------------------------ the rule
@pytest.mark.parametrize("nominal, share, want", [
    (True, 1.0, "yes"), (True, YES_SHARE, "yes"), (True, YES_SHARE - 0.01, "depends"),
    (False, 0.0, "no"), (False, NO_SHARE, "no"), (False, NO_SHARE + 0.01, "depends"),
    (True, 0.1, "depends"), (False, 0.9, "depends"),
    (True, None, "yes"), (False, None, "no"),            # no sampled worlds: the nominal run decides
])
def test_the_answer_rule(nominal, share, want):
    assert verdict_of(nominal, share) == want


def test_it_depends_names_the_parameter_that_splits_the_worlds():
    rng = np.random.default_rng(0)
    x, noise = rng.uniform(0, 1, 400), rng.uniform(0, 1, 400)
    wins = x <= np.median(x)                         # wins exactly where x is at or below its median
    split = strongest_split({"noise": noise, "x": x}, wins)
    assert split.parameter == "x" and split.share_low == 1.0 and split.share_high == 0.0
    assert split.median == pytest.approx(np.median(x))
    assert strongest_split({"noise": noise}, wins) is None     # no parameter splits them: none named
    x10 = np.arange(10.0)                            # median 4.5: five worlds below, five above
    even = np.array([1, 1, 1, 0, 0, 1, 1, 1, 0, 0], bool)
    assert strongest_split({"x": x10}, even) is None          # 60% on both sides: x decides nothing
    lopsided = np.array([1, 1, 1, 1, 0, 1, 1, 0, 0, 0], bool)
    s = strongest_split({"x": x10}, lopsided)
    assert (s.share_low, s.share_high) == (0.8, 0.4) and s.spread >= SPLIT_MIN


# ------------------------------------------------------------------------------ the first page
def test_the_answer_sentence_states_the_librarys_numbers(html, cmp, res, model):
    answer = element(html, "answer")
    m = next(m for m in cmp.metrics if m.name == model.analysis.headline)
    va, vb = cmp.summary.loc[A, m.name], cmp.summary.loc[B, m.name]
    rob = robustness(res).set_index(["metric", "scenario", "other"])
    share = float(rob.loc[(m.name, A, B), "share_better"])
    want = verdict_of(va > vb, share)
    start = {"yes": "Yes:", "no": "No:", "depends": "It depends on"}[want]
    assert answer.startswith(start), (answer, va, vb, share)
    assert re.search(rf'data-verdict="{want}"', html)
    ta, tb = cmp.title_of(A), cmp.title_of(B)
    assert f"{ta} " in answer and f" {tb} " in answer
    assert f"{fmt_value(va, '$')} against {fmt_value(vb, '$')}" in answer
    gap = f"{fmt_value(abs(va - vb), '$')} {'more' if va > vb else 'less'}"
    assert gap in answer
    assert f"{pct(share)} of {N_RUNS} sampled worlds" in answer


def test_the_key_numbers_are_the_librarys(html, cmp, res, model):
    head = element(html, "fact-headline", "li")
    m = next(m for m in cmp.metrics if m.name == model.analysis.headline)
    for name in (A, B, cmp.baseline):
        assert f"{cmp.title_of(name)} {fmt_value(cmp.summary.loc[name, m.name], '$')}" in head
    # the dip on the classified outcome, from the summary's columns
    dip = element(html, "fact-dip", "li")
    row = cmp.summary.loc[A]
    units = pretty_units(cmp.outcome(cmp.classify).units or cmp.units.get(cmp.classify, ""))
    assert row["worst_shortfall"] < 0
    assert f"at worst {fmt_value(abs(row['worst_shortfall']))} {units} more (week {row['worst_shortfall_week']:g}" in dip
    assert f"better from week {row['stays_better_from_week']:g} to the end" in dip
    first_worse = next(p for p in cmp.reading(A).phases if not p.better)
    assert f"weeks {first_worse.start_week:g}\u2013{first_worse.end_week:g}" in dip
    # tail risks of both policies, from the ensemble
    tails = element(html, "fact-tails", "li")
    shares = tail_shares(res)
    for risk in res.tail_risks:
        for name in (A, B):
            assert f"{cmp.title_of(name)} {pct(float(shares.loc[name, risk.name]))}" in tails
    # the avoidable share of contacts
    avoid = element(html, "fact-avoidable", "li")
    for name in (A, B, cmp.baseline):
        assert f"{cmp.title_of(name)} {pct(float(cmp.summary.loc[name, AVOIDABLE_COLUMN]))}" in avoid
    # and the recommendation follows the verdict
    rec = element(html, "recommendation")
    verdict = re.search(r'data-verdict="(\w+)"', html).group(1)
    if verdict == "yes":
        assert rec.startswith(f"Recommendation: choose {cmp.title_of(A)} over {cmp.title_of(B)}")


def test_the_timing_answer_is_the_sweeps(html, model, cmp):
    sweep = start_week_sweep(model, A, against=[B])
    timing = element(html, "timing", "span")
    latest = sweep.latest_start_beating(cmp.baseline)
    if latest is not None and latest < sweep.weeks[-1]:
        assert f"start it by week {latest:g} or it no longer beats {cmp.title_of(cmp.baseline)}" in timing
    rival = sweep.latest_start_beating(B)
    if rival is None:
        assert f"does not beat {cmp.title_of(B)}" in timing
    elif rival == sweep.weeks[-1]:
        assert f"beats {cmp.title_of(B)} whenever it starts, up to week {rival:g}" in timing
    else:
        assert f"start it by week {rival:g} or it no longer beats {cmp.title_of(B)}" in timing


def test_the_recommendation_states_what_waiting_costs(html, model, cmp):
    """A yes comes with the price of delay: the sweep's first two start weeks, in the metric's units."""
    sweep = start_week_sweep(model, A, against=[B])
    rec = element(html, "recommendation")
    assert element(html, "answer").startswith("Yes")  # the delay clause belongs to a yes
    step = sweep.weeks[1] - sweep.weeks[0]
    loss = sweep.values[0] - sweep.values[1]  # cumulative profit: higher is better
    assert loss > 0
    units = cmp.units.get(sweep.metric.variable, "")
    assert f"every {step:g} weeks of delay costs about {fmt_value(loss, units)} of cumulative profit" in rec


def test_the_method_note_states_the_rule(html):
    method = text_of(re.search(r'<section id="method".*?</section>', html, re.S).group(0))
    assert f"at least {pct(YES_SHARE)}" in method and f"at most {pct(NO_SHARE)}" in method
    assert "It depends" in method
    assert element(html, "reproduce") == f"Reproduce with cxsystems report --model cx_service --n {N_RUNS} --seed 0"


def test_the_model_cards_closing_quotation_mark_survives(model, html):
    summary = model_summary(model)
    assert summary.count('"') % 2 == 0 and summary.count("\u201c") == summary.count("\u201d")
    assert 'three years?" ' in summary                       # the quote in the bundled card closes
    assert "three years?&quot; <code>cx_service</code>" in html
    assert _sentences('He asks: "why?" Then he goes. Third.', 1) == 'He asks: "why?"'
    assert _sentences("She said \u201cno.\u201d Then left. Third.", 2) == "She said \u201cno.\u201d Then left."


# ------------------------------------------------------------------------------ printed
def print_pdf(html_file: Path, pdf: Path) -> Path:
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                    html_file.as_uri()], check=True, capture_output=True, timeout=180)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    return pdf


def page_fills(pdf: Path, dpi: int = 30) -> list[float]:
    """Per printed page: how far down its printable area the content reaches (0 empty, 1 full).

    Each page is rendered to a grey image by poppler's ``pdftoppm``; the lowest row with any ink
    (a pixel darker than 240 of 255) marks the bottom of the content, measured from the top margin
    and divided by the printable height. Rendering the page measures what a reader sees (text,
    tables and vector charts alike), independent of how Chromium laid the PDF out."""
    from PIL import Image

    out_dir = pdf.parent / f"{pdf.stem}-pages"
    out_dir.mkdir(exist_ok=True)
    subprocess.run([PDFTOPPM, "-r", str(dpi), "-gray", "-png", str(pdf), str(out_dir / "p")], check=True,
                   timeout=120)
    fills = []
    for png in sorted(out_dir.glob("p-*.png"), key=lambda p: int(p.stem.split("-")[-1])):
        ink = np.asarray(Image.open(png).convert("L")) < 240
        h = ink.shape[0]
        top, bottom = MARGIN_MM / A4_MM * h, h - MARGIN_MM / A4_MM * h
        rows = np.flatnonzero(ink.any(axis=1))
        fills.append(float((rows.max() - top) / (bottom - top)) if rows.size else 0.0)
    return fills


@pytest.fixture(scope="module")
def printed(report):
    return print_pdf(report, report.with_suffix(".pdf"))


def test_the_printed_report_has_at_most_8_a4_pages_none_under_half_full(printed):
    info = subprocess.run(["pdfinfo", str(printed)], capture_output=True, text=True, check=True).stdout
    assert "(A4)" in info
    fills = page_fills(printed)
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == len(fills)
    assert 2 <= len(fills) <= MAX_PAGES, fills
    assert min(fills) >= MIN_FILL, fills


def test_the_answer_is_on_the_first_printed_page(printed, html):
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(printed), "-"], capture_output=True,
                           text=True, check=True).stdout
    words = " ".join(first.split())
    answer = element(html, "answer")
    assert answer.split(":")[0] + ":" in words                 # "Yes:" / "No:" / "It depends on ..."
    assert "Recommendation:" in words and "Timing" in words


# ------------------------------------------------------------------------------ own models
ONE_STOCK = """{UTF-8}
Savings= INTEG (Deposits - Spending, 100)
	~	dollars
	~	Money in the account.
	|
Deposits= Income * Saving Fraction
	~	dollars/Week
	~	What goes in.
	|
Spending= Savings * Spending Rate
	~	dollars/Week
	~	What goes out.
	|
Income= 50
	~	dollars/Week [0,1000]
	~	Weekly income.
	|
Saving Fraction= 0.2
	~	Dmnl [0,1]
	~	Share of income saved.
	|
Spending Rate= 0.05
	~	1/Week [0,1]
	~	Share of savings spent each week.
	|
FINAL TIME  = 52
	~	Week
	~	The final time.
	|
INITIAL TIME  = 0
	~	Week
	~	The initial time.
	|
SAVEPER  = 1
	~	Week [0,?]
	~	The output interval.
	|
TIME STEP  = 0.25
	~	Week [0,?]
	~	The time step.
	|
"""

ONE_POLICY = """
[scenarios.baseline]
description = "Save a fifth of income."

[scenarios.save_more]
description = "Save 40% of income from week 10."
[scenarios.save_more.set]
"Saving Fraction" = { value = 0.4, from_week = 10 }

[[outcomes]]
variable = "Savings"
better = "higher"
label = "Savings"
"""


@pytest.mark.parametrize("scenarios", [None, ONE_POLICY], ids=["no scenario file", "one policy"])
def test_an_own_model_reads_well_and_its_reproduce_command_works(tmp_path, scenarios):
    folder = tmp_path / "my models"                          # a space: the command must quote it
    folder.mkdir()
    mdl = folder / "savings.mdl"
    mdl.write_text(ONE_STOCK, encoding="utf-8")
    if scenarios:
        (folder / "savings.scenarios.toml").write_text(scenarios, encoding="utf-8")
    out = tmp_path / "r.html"
    r = run_cli("report", "--model", mdl, "--out", out, "--n", "0", "--quiet", cwd=folder)
    assert r.code == 0, r.err
    html = out.read_text(encoding="utf-8")
    text = text_of(html[html.index("<body>"):])
    assert not re.search(r"\b(\w+) \1\b", text, re.I), re.search(r"\b(\w+) \1\b", text, re.I).group(0)
    assert not re.search(r"\b1 (scenarios|policies|stocks|parameters|weeks)\b", text)
    answer = element(html, "answer")
    assert re.match(r"(Yes|No|It depends)\b", answer), answer
    if scenarios:
        assert answer.startswith(("Yes: save more beats baseline", "No: save more does not beat baseline"))
        assert "<h1>Does save more beat baseline?</h1>" in html
    else:
        assert "only its baseline" in answer
    command = element(html, "reproduce").removeprefix("Reproduce with ")
    argv = shlex.split(command)
    assert argv[0] == "cxsystems" and argv[argv.index("--model") + 1] == str(mdl.resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = run_cli(*argv[1:], "--quiet", cwd=elsewhere, real=True)
    assert again.code == 0, again.err
    rebuilt = (elsewhere / "cxsystems-report.html").read_text(encoding="utf-8")
    assert element(rebuilt, "answer") == answer
