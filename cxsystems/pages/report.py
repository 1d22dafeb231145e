"""A one-page briefing for leaders: one self-contained HTML file, printable to PDF from a browser.

::

    import cxsystems as cx
    from cxsystems.pages.report import build_report, write_report

    model = cx.load_model("cx_service")
    write_report(model, "briefing.html")          # 1,000 runs for the robustness section, seed 0
    html = build_report(model, n_runs=200)        # the same page as a string

The page holds, in order: the question; the model in two sentences (from its model card); the
scenarios; the comparison dashboard and one chart per key outcome; the summary table with each
scenario's classification against the baseline; the causal loop diagram with its named loops and
the archetypes found among them; and the robustness verdicts from an ensemble over the model's
uncertain parameters (:mod:`cxsystems.analysis.ensemble`).

Everything is inline (charts as SVG, no scripts, no external URLs), every text that comes from the
model or its files is HTML-escaped, and the print stylesheet keeps each figure on one page and
within the page width (A4 and Letter).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..errors import CxError
from ..files import atomic_write
from ..text import pretty_units, short_number
from ..text import share_rounded as _pct
from .html import esc, svg_img, svg_inline

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis.compare import Comparison
    from ..model.loader import Model

#: Runs (sampled worlds) of the robustness ensemble by default.
DEFAULT_RUNS = 1000
#: Archetype instances listed per kind.
ARCHETYPES_PER_KIND = 3
#: The question asked when the model's scenarios do not suggest one.
GENERIC_QUESTION = "Which policy works best, and what does it cost along the way?"
#: CSS class of each trajectory class (badges in the tables).
_BADGE = {"better": "better", "worse": "worse", "worse-before-better": "wbb",
          "better-before-worse": "bbw", "no change": "same"}

_CSS = """
:root { --ink: #1f2328; --muted: #57606a; --rule: #d0d7de; --soft: #f6f8fa; --accent: #0072B2; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0 auto; padding: 28px 32px 48px; max-width: 1000px; color: var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 18px; padding-bottom: 10px; }
h1 { font-size: 28px; line-height: 1.2; margin: 4px 0 6px; }
h2 { font-size: 21px; margin: 30px 0 8px; padding-top: 6px; border-top: 1px solid var(--rule); }
h3 { font-size: 16px; margin: 18px 0 6px; }
p, ul, ol { margin: 6px 0 10px; }
.kicker { text-transform: uppercase; letter-spacing: .06em; font-size: 12px; color: var(--muted); margin: 0; }
.meta, .note, figcaption { color: var(--muted); font-size: 13px; }
.lead { font-size: 17px; }
.bottom-line { background: var(--soft); border-left: 4px solid var(--accent); padding: 10px 14px; margin: 12px 0; }
.bottom-line ul { margin: 4px 0; padding-left: 20px; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; background: var(--soft);
       padding: 0 3px; border-radius: 3px; }
figure { margin: 14px 0 18px; }
figure img, figure svg { display: block; width: 100%; max-width: 100%; height: auto; }
img, svg { max-width: 100%; height: auto; }
figcaption { margin-top: 4px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--rule); padding: 5px 7px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; white-space: nowrap;
         border: 1px solid transparent; }
td .badge { white-space: normal; }
.badge.better { background: #dff3e4; color: #115c2b; border-color: #9fd5ae; }
.badge.worse { background: #fde2e1; color: #8a1c17; border-color: #f0a8a4; }
.badge.wbb { background: #fff1cc; color: #6b4a00; border-color: #e8c766; }
.badge.bbw { background: #fde7d4; color: #7a3a06; border-color: #f0b184; }
.badge.same, .badge.ref { background: #eef0f2; color: #444c56; border-color: #d0d7de; }
.legend span { margin-right: 10px; }
.unavailable { border: 2px dashed #c9a100; background: #fffbe6; padding: 10px 14px; }
footer { margin-top: 36px; border-top: 1px solid var(--rule); padding-top: 8px; color: var(--muted); font-size: 12px; }
@page { size: auto; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h1 { font-size: 20pt; }
  h2 { font-size: 15pt; }
  h2, h3, h2 + p, h3 + p, p.legend { break-after: avoid; page-break-after: avoid; }
  figure, table, .bottom-line, .keep { break-inside: avoid; page-break-inside: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  figure img, figure svg { max-height: 235mm; object-fit: contain; }
  table { font-size: 8.5pt; }
  th, td { padding: 3px 4px; }
  .badge { font-size: 7.5pt; padding: 0 4px; }
  a { color: inherit; text-decoration: none; }
  section.page-break { break-before: page; page-break-before: always; }
}
"""


# ------------------------------------------------------------------------------ small helpers
def _label(m) -> str:
    return m.label or m.name


def _arrow(m) -> str:
    """Down arrow if lower is better, up arrow if higher is better."""
    return "\u2193" if m.better == "lower" else "\u2191"


def fmt_number(x: float, units: str = "") -> str:
    """Short number for a table cell: ``$79.9M``, ``92,578``, ``1.12``, ``0.201``; NaN -> ``-``."""
    prefix = "$" if (units or "").strip().startswith("$") else ""
    return short_number(x, prefix, million_decimals=1, minus="\u2212")


def name_html(name: str) -> str:
    """An escaped scenario name that may break after each underscore in a narrow column."""
    return esc(name).replace("_", "_<wbr>")


def badge(cls: str) -> str:
    """A coloured label for a trajectory class."""
    return f'<span class="badge {_BADGE.get(cls, "same")}">{esc(cls)}</span>'


def _inline(text: str) -> str:
    """Escape model-card text, then render ``code`` spans, **bold** and *italics*."""
    out = esc(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<em>\1</em>", out)


def _figure(body: str, caption: str, fid: str = "") -> str:
    idattr = f' id="{esc(fid)}"' if fid else ""
    return f"<figure{idattr}>{body}<figcaption>{caption}</figcaption></figure>"


def _close(fig) -> None:
    # figures are built without pyplot; dropping references is enough, but clear big ones early
    try:
        fig.clear()
    except Exception:  # pragma: no cover - defensive
        pass


# ------------------------------------------------------------------------------ the question
def _pretty_name(name: str) -> str:
    return name.replace("_", " ")


def question_for(model: "Model") -> str:
    """The question the briefing answers.

    ``[analysis] question`` if the scenario file sets one; else "Does <a> beat <b>?" for the first
    ``[analysis] versus`` pair, or for the first ``structural*`` and ``reactive*`` scenarios (e.g.
    "Does structural prevention beat reactive hiring?"); else a generic question.
    """
    analysis = getattr(model, "analysis", None)
    extra = getattr(analysis, "extra", None) or {}
    q = extra.get("question") if hasattr(extra, "get") else None
    if isinstance(q, str) and q.strip():
        return " ".join(q.split())
    pair = _focus_pair(model)
    if pair:
        return f"Does {_pretty_name(pair[0])} beat {_pretty_name(pair[1])}?"
    return GENERIC_QUESTION


def _focus_pair(model: "Model") -> tuple[str, str] | None:
    """The head-to-head the briefing is about: the first ``[analysis] versus`` pair, else the first
    ``structural*`` and ``reactive*`` scenarios."""
    versus = tuple(getattr(getattr(model, "analysis", None), "versus", ()) or ())
    if versus:
        return tuple(versus[0])
    names = list(model.scenarios)
    structural = next((n for n in names if n.startswith("structural")), None)
    reactive = next((n for n in names if n.startswith("reactive")), None)
    return (structural, reactive) if structural and reactive else None


# ------------------------------------------------------------------------------ model summary
def model_card_path(model: "Model") -> Path | None:
    """``<model>.md`` beside the model file, if there is one."""
    p = Path(model.path).with_suffix(".md")
    return p if p.is_file() else None


def _first_paragraph(markdown: str) -> str:
    paras, cur = [], []
    for line in markdown.splitlines():
        s = line.strip()
        if not s or s.startswith("#") or s.startswith("|") or s.startswith("```"):
            if cur:
                paras.append(" ".join(cur))
                cur = []
            continue
        if s.startswith(("- ", "* ")) and not cur:
            continue
        cur.append(s)
    if cur:
        paras.append(" ".join(cur))
    return paras[0] if paras else ""


def _sentences(text: str, n: int) -> str:
    parts = re.split(r'(?<=[.!?])["\u201d]?\s+(?=[A-Z`"\u201c*])', text)
    out, used = [], 0
    for p in parts:
        out.append(p)
        used += len(p) + 1
        if len(out) >= n:
            break
    joined = " ".join(out).strip()
    # keep a closing quote that the split took off
    rest = text[len(joined):len(joined) + 1]
    return joined + (rest if rest in ('"', "\u201d") else "")


def model_summary(model: "Model", sentences: int = 2) -> str:
    """Plain text: the first ``sentences`` sentences of the model card's first paragraph, or the
    scenario descriptions when there is no model card."""
    card = model_card_path(model)
    if card is not None:
        try:
            para = _first_paragraph(card.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            para = ""
        if para:
            return _sentences(para, sentences)
    descs = [s.description for s in model.scenarios.values() if s.description]
    if descs:
        return (f"{model.name} compares {len(model.scenarios)} scenarios over "
                f"{model.final_time - model.initial_time:g} weeks. " + " ".join(descs[:1]))
    return f"{model.name}: {len(model.parameters)} parameters, {len(model.stocks)} stocks."


# ------------------------------------------------------------------------------ sections
@dataclass(frozen=True)
class Section:
    """One section of the page: its anchor id, heading and HTML body."""

    id: str
    title: str
    body: str
    page_break: bool = False

    def html(self) -> str:
        cls = ' class="page-break"' if self.page_break else ""
        return f'<section id="{esc(self.id)}"{cls}>\n<h2>{esc(self.title)}</h2>\n{self.body}\n</section>'


def _changes_text(scen) -> str:
    if not scen.changes:
        return "no change"
    parts = []
    for c in scen.changes:
        when = f" from week {c.from_week:g}" if c.from_week is not None else ""
        parts.append(f"{c.parameter} = {c.value:g}{when}")
    return "; ".join(parts)


def scenarios_section(model: "Model", cmp: "Comparison") -> Section:
    rows = []
    for s in cmp.scenarios:
        tag = " <span class=\"badge ref\">reference</span>" if s.name == cmp.baseline else ""
        rows.append(f"<tr><td><strong>{name_html(s.name)}</strong>{tag}</td><td>{esc(s.description)}</td>"
                    f"<td>{esc(_changes_text(s))}</td></tr>")
    body = ("<p>Every scenario runs the same model from the same starting point; only the policy levers "
            "differ. The baseline is the reference every other scenario is compared with.</p>"
            "<table class=\"scenarios\"><thead><tr><th style=\"width:19%\">Scenario</th><th>What it does</th>"
            "<th style=\"width:27%\">Levers in the model</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
    return Section("scenarios", "The scenarios", body)


def comparison_section(cmp: "Comparison") -> Section:
    """The dashboard of key outcomes."""
    dash = cmp.plot()
    d = cmp.disturbance
    marks = "" if d is None else f"; the red line marks the {esc(d.label)} (week {d.week:g})"
    fig = _figure(svg_img(dash, f"{cmp.model_name}: key outcomes by scenario"),
                  "Key outcomes over time, one line per scenario; the dashed line marks when the policies start"
                  + marks + ".", "fig-dashboard")
    _close(dash)
    body = ("<p>How each scenario plays out week by week. Reading tip: a policy can look worse for a while and "
            "still end far better (worse-before-better), or bring quick relief that later turns against it "
            "(better-before-worse).</p>" + fig)
    return Section("comparison", "How the scenarios compare", body)


def outcomes_section(cmp: "Comparison") -> Section:
    """One chart per key outcome (and the classified variable)."""
    figs = []
    charted = [o.variable for o in cmp.outcomes]
    if cmp.classify not in charted:
        charted.append(cmp.classify)
    for i, var in enumerate(charted):
        o = cmp.outcome(var)
        fig = cmp.plot_outcome(var)
        units = pretty_units(o.units or cmp.units.get(var, ""))
        better = "lower is better" if o.better == "lower" else "higher is better"
        figs.append(_figure(svg_img(fig, f"{o.label} by scenario"),
                            f"{esc(o.label)}" + (f" ({esc(units)})" if units else "") + f"; {better}.",
                            f"fig-outcome-{i + 1}"))
        _close(fig)
    return Section("outcomes", "Each outcome in detail", "".join(figs), page_break=True)


def summary_section(cmp: "Comparison", model: "Model") -> Section:
    from ..analysis.compare import CLASS_PREFIX

    summary = cmp.summary
    names = list(summary.index)
    # metrics table
    heads = ["<th>Scenario</th>"]
    for m in cmp.metrics:
        units = pretty_units(m.units or model.units.get(m.variable, ""))
        arrow = _arrow(m)
        unit_txt = f" ({esc(units)})" if units and not units.startswith("$") else ""
        heads.append(f'<th class="num" title="{esc(m.variable)}: {esc(m.how)}, {esc(m.better)} is better">'
                     f"{esc(_label(m))}{unit_txt} {arrow}</th>")
    rows = []
    for n in names:
        cells = [f"<td><strong>{name_html(n)}</strong></td>"]
        for m in cmp.metrics:
            units = m.units or model.units.get(m.variable, "")
            cells.append(f'<td class="num">{esc(fmt_number(summary.loc[n, m.name], units))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    metrics_table = ("<table class=\"metrics\"><thead><tr>" + "".join(heads) + "</tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>") if cmp.metrics else ""
    # classification table
    class_cols = [c for c in summary.columns if c.startswith(CLASS_PREFIX)]
    heads = ["<th>Scenario</th>"] + [f"<th>{esc(c[len(CLASS_PREFIX):])}</th>" for c in class_cols]
    rows, turns = [], []
    for n in names:
        if n == cmp.baseline:
            cells = ['<td><span class="badge ref">reference</span></td>' for _ in class_cols]
        else:
            cells = []
            for c, o in zip(class_cols, cmp.outcomes):
                units = pretty_units(o.units or cmp.units.get(o.variable, ""))
                reading = cmp.reading(n, o.variable)
                cells.append(f'<td data-class="{esc(summary.loc[n, c])}" title="{esc(reading.details(units))}">'
                             f"{badge(summary.loc[n, c])}</td>")
                if len(reading.phases) > 1 and o.variable != cmp.classify:  # the classified one: below
                    turns.append(f"<li>{esc(n)}: {esc(reading.line(o.label, units))}</li>")
        rows.append(f'<tr data-scenario="{esc(n)}"><td><strong>{name_html(n)}</strong></td>' + "".join(cells) + "</tr>")
    class_table = ("<table class=\"classifications\"><thead><tr>" + "".join(heads) + "</tr></thead><tbody>"
                   + "".join(rows) + "</tbody></table>")
    label = cmp.outcome(cmp.classify).label
    lines = []
    for n in names:
        if n != cmp.baseline:
            lines.append(f"<li>{esc(cmp.describe(n))}</li>")
    legend = class_legend(cmp.rtol)
    body = ("<p>Totals and end values over the whole run (\u2191 higher is better, \u2193 lower is better).</p>"
            + metrics_table
            + "<h3>Each outcome against the baseline</h3>"
            + legend + class_table
            + f"<h3>{esc(label)}: how each scenario gets there</h3><ul class=\"describe\">" + "".join(lines) + "</ul>"
            + ("<h3>Other outcomes that change sides</h3><p>Better than the baseline for a while and worse for a "
               "while: the weeks of each phase, the judged measure and how each run ends.</p>"
               "<ul class=\"turns note\">" + "".join(turns) + "</ul>" if turns else ""))
    return Section("summary", "Summary and classification", body, page_break=True)


def class_legend(rtol: float) -> str:
    """What each class means, in the words of the rule (:func:`cxsystems.analysis.metrics.read_trajectory`)."""
    tol = f"{100 * rtol:g}%"
    items = (
        ("better", "never worse than the baseline; or better first and at the end, with a worse phase in "
                   "between, and not worse on the judged measure"),
        ("worse", "never better than the baseline; or worse first and at the end, with a better phase in "
                  "between, and not better on the judged measure"),
        ("worse-before-better", "worse first, better at the end; or better first and at the end but worse on "
                                "the judged measure"),
        ("better-before-worse", "better first, worse at the end; or worse first and at the end but better on "
                                "the judged measure"),
        ("no change", f"within {tol} of the baseline's largest value throughout"),
    )
    return ('<p class="note legend">' + " ".join(f"{badge(c)} {esc(t)}." for c, t in items) + "</p>"
            '<p class="note">Better and worse are always for the organisation, whichever way an outcome points (a '
            "lower backlog is better, a higher profit is better), against the baseline in the same week; a gap "
            f"smaller than {tol} of the baseline's largest value does not count. The judged measure is the one "
            "each outcome declares (e.g. the mean for a rate or level, the final value for a cumulative total). "
            "Percentages are of the baseline's value. On screen, hover over a class to read its phases.</p>")


def loops_section(model: "Model") -> Section:
    from .. import causal
    from ..plotting.diagrams import figure as diagram_figure
    from ..plotting.diagrams import model_diagram

    graph = causal.model_graph(model)
    loops = causal.find_loops(graph)
    parts = ["<p>Why the scenarios behave as they do: the feedback loops of the model. A <strong>reinforcing "
             "(R)</strong> loop amplifies change (vicious or virtuous circles); a <strong>balancing (B)</strong> "
             "loop counteracts it. Arrows marked <strong>+</strong> move in the same direction, "
             "<strong>\u2212</strong> in the opposite direction; a double bar marks a delay.</p>"]
    try:
        diagram = model_diagram(model, graph, loops)
        fig = diagram_figure(diagram)
        parts.append(_figure(svg_inline(fig, diagram.title or f"{model.name} causal loop diagram"),
                             esc(diagram.title or model.name) + f": {len(diagram.graph.nodes)} key variables; "
                             "the other variables of the model are folded into the arrows between them.",
                             "fig-cld"))
        _close(fig)
    except CxError as exc:
        parts.append(f'<p class="note">No diagram: {esc(exc)}</p>')
    named = [lp for lp in loops if lp.name]
    meaning = {n.name: n.description for n in graph.loop_names}
    if named:
        rows = "".join(
            f"<tr><td>{esc(lp.id)}</td><td><strong>{esc(lp.name)}</strong></td>"
            f"<td>{'reinforcing' if lp.polarity == 'R' else 'balancing' if lp.polarity == 'B' else esc(lp.description)}"
            f"</td><td>{esc(meaning.get(lp.name, ''))}</td></tr>" for lp in named)
        parts.append("<h3>The named loops</h3><table class=\"loops\"><thead><tr><th style=\"width:7%\">Loop</th>"
                     "<th style=\"width:19%\">Name</th><th style=\"width:12%\">Type</th><th>What it does</th></tr>"
                     "</thead><tbody>" + rows + "</tbody></table>")
    counts = loops.counts()
    parts.append(f'<p class="note">The model has {len(loops):,} feedback loops in all ({counts["R"]:,} reinforcing, '
                 f'{counts["B"]:,} balancing); the named ones carry its story.</p>')
    rep = causal.find_archetypes(graph, loops, per_kind=ARCHETYPES_PER_KIND)
    names = {lp.id: lp.name for lp in loops}
    if len(rep):
        items = []
        for a in rep:
            loops_txt = ", ".join(f"{i}" + (f" {names[i]}" if names.get(i) else "") for i in a.loops)
            variant = f" <span class=\"note\">({esc(a.variant)})</span>" if a.variant else ""
            items.append(f"<li><strong>{esc(a.kind)}</strong>: {esc(loops_txt)}{variant}</li>")
        more = [n for n in rep.notes if "not shown" in n]
        parts.append("<h3>System archetypes</h3><p>Recurring structures (Senge, 1990) recognised in the named "
                     "loops. They are matched mechanically by how loops overlap: a match has the archetype's "
                     "shape, and judgement decides whether it tells the archetype's story.</p><ul class=\"archetypes\">"
                     + "".join(items) + "</ul>"
                     + (f'<p class="note">{esc("; ".join(more))}.</p>' if more else ""))
    else:
        parts.append("<h3>System archetypes</h3><p>None found among the named loops.</p>")
    return Section("loops", "Why: the feedback loops", "".join(parts), page_break=True)


def _unavailable(reason: str) -> str:
    return (f'<div class="unavailable" id="robustness-unavailable"><strong>Robustness not available.</strong> '
            f"{esc(reason)}</div>")


def robustness_section(model: "Model", n_runs: int, seed: int | None,
                       progress: Callable[[int, int], None] | None = None) -> Section:
    """Verdicts from an ensemble of ``n_runs`` sampled worlds (section marked unavailable otherwise)."""
    title = "How robust is the answer?"
    if not n_runs:
        return Section("robustness", title, _unavailable("Skipped: the report was built with 0 runs."))
    from ..analysis import ensemble as ens
    from ..analysis import robustness as rob_mod

    analysis = model.analysis
    if not getattr(analysis, "uncertain", ()) or not getattr(analysis, "metrics", ()):
        what = "uncertain parameters ([uncertain])" if not getattr(analysis, "uncertain", ()) else "metrics ([metrics])"
        return Section("robustness", title, _unavailable(
            f"Not available for model {model.name!r}: its scenario file declares no {what}."))
    # any other refusal (a bad seed, more runs than memory allows, a world in which the model breaks
    # down) is an error of the whole report, not a section quietly left out
    res = ens.ensemble(model, n=n_runs, seed=seed, progress=progress)
    parts = [f"<p>The numbers above assume the model's best estimates. Here every scenario was run again in the "
             f"same <strong>{res.n:,}</strong> sampled worlds (Latin hypercube over {len(res.uncertain)} uncertain "
             f"parameters, seed {esc(res.seed)}), so that differences between scenarios are differences of policy, "
             f"not of luck.</p>"]
    verdict_lines = rob_mod.verdicts(res)
    parts.append('<div class="bottom-line keep"><strong>Verdicts</strong><ul class="verdicts">'
                 + "".join(f"<li>{esc(v)}</li>" for v in verdict_lines) + "</ul></div>")
    shares = rob_mod.tail_shares(res)
    if len(shares.columns):  # how often each scenario ends in a declared tail (collapse, loss, ...)
        heads = "<th>Scenario</th>" + "".join(f'<th class="num">{esc(r.label)}</th>' for r in res.tail_risks)
        rows = []
        for s in res.scenarios:
            cells = "".join(f'<td class="num">{_pct(float(v))}</td>' for v in shares.loc[s])
            rows.append(f"<tr><td><strong>{name_html(s)}</strong></td>{cells}</tr>")
        parts.append(f'<h3 id="tail-risks">Tail risks: share of the {res.n:,} worlds that end badly</h3>'
                     '<table class="tail-risks keep"><thead><tr>' + heads + "</tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>")
    # share of runs each scenario beats the baseline, per metric
    rob = rob_mod.robustness(res)
    vs_base = rob[rob["other"] == res.baseline]
    metrics = list(res.metrics)
    heads = "<th>Scenario</th>" + "".join(
        f'<th class="num">{esc(_label(m))} {_arrow(m)}</th>' for m in metrics)
    rows = []
    for s in res.scenarios:
        if s == res.baseline:
            continue
        cells = []
        for m in metrics:
            hit = vs_base[(vs_base["scenario"] == s) & (vs_base["metric"] == m.name)]
            share = float(hit["share_better"].iloc[0]) if len(hit) else math.nan
            cells.append(f'<td class="num">{"-" if math.isnan(share) else _pct(share)}</td>')
        rows.append(f"<tr><td><strong>{name_html(s)}</strong></td>" + "".join(cells) + "</tr>")
    parts.append(f"<h3>Share of the {res.n:,} runs in which each scenario beats the baseline</h3>"
                 "<table class=\"robustness\"><thead><tr>" + heads + "</tr></thead><tbody>" + "".join(rows)
                 + "</tbody></table>")
    # headline metric: spread and regret
    head = res.headline or metrics[-1].name
    hm = next((m for m in metrics if head in (m.name, m.label)), metrics[-1])
    table = res.metric(hm.name)
    reg = rob_mod.regret(res)
    reg = reg[reg["metric"] == hm.name].set_index("scenario")
    units = hm.units or model.units.get(hm.variable, "")
    rows = []
    for s in res.scenarios:
        col = table[s]
        rows.append(f"<tr><td><strong>{name_html(s)}</strong></td>"
                    f'<td class="num">{esc(fmt_number(col.quantile(0.05), units))}</td>'
                    f'<td class="num">{esc(fmt_number(col.median(), units))}</td>'
                    f'<td class="num">{esc(fmt_number(col.quantile(0.95), units))}</td>'
                    f'<td class="num">{_pct(float(reg.loc[s, "share_best"]))}</td>'
                    f'<td class="num">{esc(fmt_number(reg.loc[s, "mean_regret"], units))}</td></tr>')
    parts.append(f"<h3>{esc(_label(hm))} across the runs</h3>"
                 "<table class=\"headline\"><thead><tr><th>Scenario</th><th class=\"num\">5th percentile</th>"
                 "<th class=\"num\">median</th><th class=\"num\">95th percentile</th><th class=\"num\">best in</th>"
                 "<th class=\"num\">mean shortfall from the best</th></tr></thead><tbody>" + "".join(rows)
                 + "</tbody></table>")
    # fan chart of the headline metric's variable (or the first banded one)
    var = hm.variable if hm.variable in res.variables else (res.variables[0] if res.variables else None)
    if var is not None:
        from ..plotting.charts import fan_chart

        fig = fan_chart(res, var)
        parts.append(_figure(svg_img(fig, f"{var}: range across {res.n} runs"),
                             f"{esc(var)} in every scenario: median line, 50% band and 90% band across the runs; "
                             "the grey dashed line is the baseline's median.", "fig-fan"))
        _close(fig)
    rows = "".join(f"<tr><td>{esc(u.parameter)}</td><td>{esc(u.describe())}</td><td>{esc(u.source)}</td></tr>"
                   for u in res.uncertain)
    parts.append("<h3>What was varied</h3><table class=\"uncertain\"><thead><tr><th style=\"width:26%\">Parameter"
                 "</th><th style=\"width:28%\">Range</th><th>Why this range</th></tr></thead><tbody>" + rows
                 + "</tbody></table>")
    return Section("robustness", title, "".join(parts), page_break=True)


def _bottom_line(model: "Model", cmp: "Comparison") -> str:
    """A few data-driven bullets for the top of the page."""
    items = []
    summary = cmp.summary
    metrics = list(cmp.metrics)
    head_name = getattr(getattr(model, "analysis", None), "headline", None)
    hm = next((m for m in metrics if m.name == head_name), metrics[-1] if metrics else None)
    if hm is not None:
        ascending = hm.better == "lower"
        order = summary[hm.name].sort_values(ascending=ascending)
        units = hm.units or model.units.get(hm.variable, "")
        best, worst = order.index[0], order.index[-1]
        items.append(f"On <strong>{esc(_label(hm).lower())}</strong>, <strong>{esc(best)}</strong> does best "
                     f"({esc(fmt_number(order.iloc[0], units))}) and {esc(worst)} worst "
                     f"({esc(fmt_number(order.iloc[-1], units))}); the baseline gives "
                     f"{esc(fmt_number(summary.loc[cmp.baseline, hm.name], units))}.")
    pair = _focus_pair(model)
    label = cmp.outcome(cmp.classify).label
    if pair and all(p in summary.index for p in pair):
        for p in pair:
            r = cmp.reading(p)
            end = r.end_text(pretty_units(cmp.outcome(cmp.classify).units or cmp.units.get(cmp.classify, "")))
            items.append(f"{esc(p)}: {esc(label.lower())} is {badge(summary.loc[p, 'classification'])} "
                         f"against the baseline ({esc(end)}).")
    return ('<div class="bottom-line"><strong>In short</strong> (best estimates; robustness below)<ul>'
            + "".join(f"<li>{i}</li>" for i in items) + "</ul></div>") if items else ""


# ------------------------------------------------------------------------------ the page
def build_report(model: "Model", *, n_runs: int = DEFAULT_RUNS, seed: int | None = 0,
                 question: str | None = None, scenarios: Iterable[str] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> str:
    """The briefing page as one self-contained HTML string.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        n_runs: sampled worlds for the robustness section (0 skips it, marked on the page).
        seed: seed of the robustness ensemble (same seed, same numbers).
        question: the question in the title (default :func:`question_for`).
        scenarios: scenario names to include (default all; the baseline always).
        progress: passed to :func:`cxsystems.analysis.ensemble.ensemble` (``progress(done, total)``).

    Raises:
        CxError: bad ``n_runs``, an unknown scenario, or a simulation that fails.
    """
    from ..analysis.compare import compare
    from ..version import __version__

    if isinstance(n_runs, bool) or not isinstance(n_runs, int) or n_runs < 0:
        raise CxError(f"number of runs must be a whole number >= 0, got {n_runs!r}")
    question = question or question_for(model)
    cmp = compare(model, list(scenarios) if scenarios is not None else None)
    card = model_card_path(model)
    summary_text = model_summary(model)
    src = f"model card <code>{esc(card.name)}</code>" if card else "the scenario descriptions"
    horizon = f"{model.initial_time:g} to {model.final_time:g} weeks"
    sections = [
        Section("question", "The question",
                f'<p class="lead">{esc(question)}</p>' + _bottom_line(model, cmp)),
        Section("model", "The model in two sentences",
                f"<p>{_inline(summary_text)}</p><p class=\"meta\">From the {src}; {len(model.stocks)} stocks, "
                f"{len(model.parameters)} parameters, simulated from {esc(horizon)} (time step "
                f"{model.time_step:g} week). Use it to compare policies and understand their trade-offs, not to "
                "forecast a number.</p>"),
        scenarios_section(model, cmp),
        comparison_section(cmp),
        summary_section(cmp, model),
        outcomes_section(cmp),
        loops_section(model),
        robustness_section(model, n_runs, seed, progress),
    ]
    nav = " \u00b7 ".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    title = f"{model.name}: {question}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><p class=\"kicker\">Policy briefing \u00b7 model {esc(model.name)}</p>"
        f"<h1>{esc(question)}</h1>"
        f"<p class=\"meta\">{len(cmp.scenarios)} scenarios compared with {esc(cmp.baseline)} over "
        f"{esc(horizon)} \u00b7 generated {date.today().isoformat()} by cxsystems {esc(__version__)}</p>"
        f"<nav class=\"meta\">{nav}</nav></header>\n<main>\n"
        + "\n".join(s.html() for s in sections)
        + "\n</main>\n<footer>Reproduce with <code>cxsystems report --model "
        + esc(model.name) + f" --n {n_runs} --seed {esc(seed)}</code>. Charts and diagram are embedded; "
        "the page loads nothing from the network.</footer>\n</body>\n</html>\n"
    )


def write_report(model: "Model", path: str | os.PathLike, **kwargs) -> Path:
    """Build the page (see :func:`build_report`) and write it to ``path`` atomically.

    The page is built first, then written to a temporary file beside ``path`` and moved into
    place, so ``path`` is never half-written and an error leaves any old file untouched.

    Raises:
        CxError: as :func:`build_report`.
        OSError: the directory does not exist or is not writable.
    """
    path = Path(path)
    text = build_report(model, **kwargs)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


__all__ = ["DEFAULT_RUNS", "build_report", "write_report", "question_for", "model_summary"]
