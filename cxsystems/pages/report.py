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

import os
import re
import shlex
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from ..errors import CxError
from ..files import atomic_write
from ..text import plural, pretty_units, short_number, time_words
from ..text import share_rounded as _pct
from .html import esc, svg_img, svg_inline
from .report_answer import Answer, Focus, fmt_value, lower_first, rule_text

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis.compare import Comparison
    from ..analysis.ensemble import EnsembleResult
    from ..analysis.timing import TimingSweep
    from ..model.loader import Model
    from ..model.specs import MetricSpec

#: Runs (sampled worlds) of the robustness ensemble by default.
DEFAULT_RUNS = 1000
#: Sobol base samples of the "which assumptions decide the answer" section (n * (d + 2) worlds per
#: policy; skipped with ``n_runs=0``).
DRIVER_RUNS = 256
#: Archetype instances listed per kind.
ARCHETYPES_PER_KIND = 3
#: At most this many archetype matches in the briefing, most plausible first.
ARCHETYPES_SHOWN = 3
#: The question asked when the model's scenarios do not suggest one.
GENERIC_QUESTION = "Which policy works best, and what does it cost along the way?"
#: Figure sizes (inches) in the page: charts are drawn at these sizes and scaled to the column.
DASHBOARD_SIZE = (16.0, 9.0)
OUTCOME_SIZE = (16.0, 5.2)
MIX_SIZE = (16.0, 5.5)
FAN_SIZE = (16.0, 5.2)
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
.answer { font-size: 18px; line-height: 1.45; font-weight: 600; margin: 4px 0 12px; padding: 10px 14px;
          background: var(--soft); border-left: 5px solid var(--accent); }
.key-numbers { padding-left: 20px; }
.key-numbers li { margin: 4px 0; }
.recommendation { font-size: 16px; border-top: 1px solid var(--rule); padding-top: 8px; }
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
ul.uncertain { columns: 2; column-gap: 24px; padding-left: 16px; font-size: 13px; }
ul.uncertain li { break-inside: avoid; margin-bottom: 3px; }
ul.uncertain .note { font-size: inherit; }
.unavailable { border: 2px dashed #c9a100; background: #fffbe6; padding: 10px 14px; }
footer { margin-top: 36px; border-top: 1px solid var(--rule); padding-top: 8px; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  h1 { font-size: 20pt; }
  h2 { font-size: 15pt; }
  h2, h3, h2 + p, h3 + p, p.legend { break-after: avoid; page-break-after: avoid; }
  figure, .bottom-line, .keep { break-inside: avoid; page-break-inside: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  body > footer { display: none; }  /* about the web page (nothing loaded from the network), not the print */
  thead { display: table-header-group; }
  figure img, figure svg { max-height: 235mm; object-fit: contain; }
  h2 { margin-top: 16px; }
  figure { margin: 8px 0 10px; }
  .answer { font-size: 13.5pt; }
  .recommendation { font-size: 12pt; }
  section#model { break-before: avoid; }
  table { font-size: 8.5pt; }
  th, td { padding: 3px 4px; }
  .badge { font-size: 6.5pt; padding: 0 3px; }
  ul.uncertain { font-size: 8pt; }
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

    ``[analysis] question`` if the scenario file sets one; else "Does <a> beat <b>?" for the head to
    head of :func:`focus_pair` (e.g. "Does structural prevention beat reactive hiring?" for the first
    ``[analysis] versus`` pair); else (a model with only its baseline) a generic question.
    """
    analysis = getattr(model, "analysis", None)
    extra = getattr(analysis, "extra", None) or {}
    q = extra.get("question") if hasattr(extra, "get") else None
    if isinstance(q, str) and q.strip():
        return " ".join(q.split())
    pair = focus_pair(model)
    if pair:
        return f"Does {_pretty_name(pair[0])} beat {_pretty_name(pair[1])}?"
    return GENERIC_QUESTION


def focus_pair(model: "Model") -> tuple[str, str] | None:
    """The head-to-head the briefing is about: the first ``[analysis] versus`` pair, else the first
    ``structural*`` and ``reactive*`` scenarios, else the first scenario that is not the baseline
    against the baseline; ``None`` for a model with only its baseline."""
    versus = tuple(getattr(getattr(model, "analysis", None), "versus", ()) or ())
    if versus:
        return tuple(versus[0])
    names = list(model.scenarios)
    structural = next((n for n in names if n.startswith("structural")), None)
    reactive = next((n for n in names if n.startswith("reactive")), None)
    if structural and reactive:
        return structural, reactive
    policy = next((n for n in names if n != model.baseline), None)
    return (policy, model.baseline) if policy else None



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
    """The first ``n`` sentences of ``text``. A sentence ends at ``.``, ``!`` or ``?``, with any
    closing quotation mark after it kept (``asks: "why?" Then`` splits after the quote)."""
    parts = re.split(r'(?:(?<=[.!?])|(?<=[.!?]["\u201d\u2019]))\s+(?=[A-Z`"\u201c*])', text)
    return " ".join(parts[:n]).strip()


def model_summary(model: "Model", sentences: int = 2) -> str:
    """Plain text: the first ``sentences`` sentences of the model card's first paragraph, or a
    sentence built from the model's size and its policy scenarios when there is no model card."""
    card = model_card_path(model)
    if card is not None:
        try:
            para = _first_paragraph(card.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            para = ""
        if para:
            return _sentences(para, sentences)
    title = model.title[:1].upper() + model.title[1:]
    size = (f"{title} has {plural(len(model.stocks), 'stock')} and {plural(len(model.parameters), 'parameter')}, "
            f"simulated over {model.final_time - model.initial_time:g} {time_words(model.time_unit)[1]}.")
    policies = [s for s in model.scenarios.values() if s.name != model.baseline]
    if not policies:
        return size + " It has no policy scenarios yet: only the model as written."
    first = policies[0].description or f"{policies[0].title} sets {_changes_text(policies[0], model.time_unit)}."
    return f"{size} It compares {plural(len(policies), 'policy', 'policies')} with the baseline. {first}"


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


def _changes_text(scen, time_unit: str = "Week") -> str:
    if not scen.changes:
        return "no change"
    parts = []
    one, _ = time_words(time_unit)
    for c in scen.changes:
        when = f" from {one} {c.from_week:g}" if c.from_week is not None else ""
        parts.append(f"{c.parameter} = {c.value:g}{when}")
    return "; ".join(parts)


def scenarios_section(cmp: "Comparison") -> Section:
    """Each scenario by its title: what it does and the levers it moves."""
    rows = []
    for s in cmp.scenarios:
        tag = " <span class=\"badge ref\">reference</span>" if s.name == cmp.baseline else ""
        rows.append(f"<tr data-scenario=\"{esc(s.name)}\"><td><strong>{esc(s.title)}</strong>{tag}</td>"
                    f"<td>{esc(s.description)}</td><td>{esc(_changes_text(s, cmp.time_unit))}</td></tr>")
    many = len(cmp.scenarios) > 1
    body = (("<p>Every scenario runs the same model from the same starting point; only the policy levers "
             "differ. The baseline is the reference every other scenario is compared with.</p>" if many else
             "<p>The model has only its baseline: the model as written, with no policy change.</p>")
            + "<table class=\"scenarios\"><thead><tr><th style=\"width:21%\">Scenario</th><th>What it does</th>"
            "<th style=\"width:27%\">Levers in the model</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
    return Section("scenarios", "The scenarios" if many else "The scenario", body)


def comparison_section(cmp: "Comparison") -> Section:
    """The dashboard of key outcomes."""
    size = DASHBOARD_SIZE if len(cmp.outcomes) > 3 else (DASHBOARD_SIZE[0], DASHBOARD_SIZE[1] * 0.6)
    dash = cmp.plot(size=size)
    d = cmp.disturbance
    one, _ = cmp.time_words
    marks = "" if d is None else f"; the red line marks the {esc(d.label)} ({one} {d.week:g})"
    start = "; the dashed line marks when the policies start" if len(cmp.scenarios) > 1 else ""
    fig = _figure(svg_img(dash, f"{cmp.model_title}: key outcomes by scenario"),
                  "Key outcomes over time, one line per scenario" + start + marks + ".", "fig-dashboard")
    _close(dash)
    tip = (f"<p>How each scenario plays out {one} by {one}. Reading tip: a policy can look worse for a while and "
           "still end far better (worse-before-better), or bring quick relief that later turns against it "
           "(better-before-worse).</p>" if len(cmp.scenarios) > 1 else
           f"<p>How the model behaves {one} by {one}, as written.</p>")
    return Section("comparison", "How the scenarios compare" if len(cmp.scenarios) > 1 else "How the model behaves",
                   tip + fig)


def detail_variables(cmp: "Comparison", headline: "MetricSpec | None") -> list[str]:
    """The outcomes charted on their own: the classified one, whose dip the answer states (every key
    outcome, the headline metric's included, is on the dashboard)."""
    return [cmp.classify]


def outcomes_section(cmp: "Comparison", headline: "MetricSpec | None",
                     focus: tuple[str, ...] = ()) -> Section | None:
    """The contact mix (when the model declares one) and the outcomes the answer rests on, one
    chart each; ``None`` for a model with only its baseline."""
    if len(cmp.scenarios) < 2:
        return None
    figs = []
    if cmp.contact_mix:
        from ..plotting.charts import contact_mix_chart

        names = [n for n in dict.fromkeys([cmp.baseline, *focus]) if n in cmp.scenario_names]
        fig = contact_mix_chart(cmp, names, size=MIX_SIZE)
        figs.append(_figure(svg_img(fig, f"{cmp.model_title}: what contact volume is made of"),
                            "What contact volume is made of, week by week: avoidable contacts (failure demand) "
                            "in orange, the others in grey; each panel gives the avoidable share over the run.",
                            "fig-contact-mix"))
        _close(fig)
    for i, var in enumerate(detail_variables(cmp, headline)):
        o = cmp.outcome(var)
        fig = cmp.plot_outcome(var, size=OUTCOME_SIZE)
        units = pretty_units(o.units or cmp.units.get(var, ""))
        better = "lower is better" if o.better == "lower" else "higher is better"
        view = f", as the difference from {esc(cmp.title_of(cmp.baseline))}" if o.view == "difference" else ""
        figs.append(_figure(svg_img(fig, f"{o.label} by scenario"),
                            f"{esc(o.label)}" + (f" ({esc(units)})" if units else "") + f"{view}; {better}.",
                            f"fig-outcome-{i + 1}"))
        _close(fig)
    return Section("outcomes", "The outcomes the answer rests on", "".join(figs))


def _metric_cell(x: float, m, model: "Model") -> str:
    units = m.units or model.units.get(m.variable, "")
    return fmt_value(x, units, getattr(m, "percent", False))


def summary_section(cmp: "Comparison", model: "Model", focus: tuple[str, ...] = ()) -> Section:
    """Metrics of every scenario and each outcome's class against the baseline, by scenario title;
    the phases of the other outcomes that change sides for the ``focus`` scenarios."""
    from ..analysis.compare import CLASS_PREFIX

    summary = cmp.summary
    names = list(summary.index)
    heads = ["<th>Scenario</th>"]
    for m in cmp.metrics:
        units = pretty_units(m.units or model.units.get(m.variable, ""))
        unit_txt = f" ({esc(units)})" if units and not units.startswith("$") and not m.percent else ""
        heads.append(f'<th class="num" title="{esc(m.variable)}: {esc(m.how)}, {esc(m.better)} is better">'
                     f"{esc(_label(m))}{unit_txt} {_arrow(m)}</th>")
    rows = []
    for n in names:
        cells = [f"<td><strong>{esc(cmp.title_of(n))}</strong></td>"]
        for m in cmp.metrics:
            cells.append(f'<td class="num">{esc(_metric_cell(summary.loc[n, m.name], m, model))}</td>')
        rows.append(f'<tr data-scenario="{esc(n)}">' + "".join(cells) + "</tr>")
    metrics_table = ("<p>Totals and end values over the whole run (\u2191 higher is better, \u2193 lower is "
                     "better).</p><table class=\"metrics\"><thead><tr>" + "".join(heads) + "</tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>") if cmp.metrics else ""
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
                cells.append(f'<td data-class="{esc(summary.loc[n, c])}" title="{esc(reading.details(units, cmp.time_unit))}">'
                             f"{badge(summary.loc[n, c])}</td>")
                if len(reading.phases) > 1 and o.variable != cmp.classify and n in focus:  # classified: below
                    turns.append(f"<li>{esc(cmp.title_of(n))}: {esc(reading.line(o.label, units, cmp.time_unit))}</li>")
        rows.append(f'<tr data-scenario="{esc(n)}"><td><strong>{esc(cmp.title_of(n))}</strong></td>'
                    + "".join(cells) + "</tr>")
    class_table = ("<table class=\"classifications\"><thead><tr>" + "".join(heads) + "</tr></thead><tbody>"
                   + "".join(rows) + "</tbody></table>")
    out = cmp.outcome(cmp.classify)
    units = pretty_units(out.units or cmp.units.get(cmp.classify, ""))
    lines = [f"<li>{esc(cmp.title_of(n))}: {esc(cmp.reading(n).line(out.label, units, cmp.time_unit))}</li>"
             for n in names if n != cmp.baseline]
    body = (metrics_table
            + "<h3>Each outcome against the baseline</h3>"
            + class_legend(cmp.rtol, cmp.time_unit) + class_table
            + f"<h3>{esc(out.label)}: how each scenario gets there</h3><ul class=\"describe\">" + "".join(lines)
            + "</ul>"
            + (f"<h3>Other outcomes that change sides under {' and '.join(esc(cmp.title_of(n)) for n in focus)}</h3>"
               "<p>Better than the baseline for a while and worse for a while: the weeks of each phase, the judged "
               "measure and how each run ends.</p>"
               "<ul class=\"turns note\">" + "".join(turns) + "</ul>" if turns else ""))
    return Section("summary", "Summary and classification", body)


def class_legend(rtol: float, time_unit: str = "Week") -> str:
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
            "lower backlog is better, a higher profit is better), against the baseline in the same "
            f"{time_words(time_unit)[0]}; a gap "
            f"smaller than {tol} of the baseline's largest value does not count. The judged measure is the one "
            "each outcome declares (e.g. the mean for a rate or level, the final value for a cumulative total). "
            "Percentages are of the baseline's value. On screen, hover over a class to read its phases.</p>")


def _titled(text: str, model: "Model") -> str:
    """``text`` with the model's scenario names replaced by their titles, as everywhere on the page."""
    for name in sorted(model.scenarios, key=len, reverse=True):
        title = getattr(model.scenarios[name], "title", "") or name
        text = re.sub(rf"\b{re.escape(name)}\b", title, text)
    return text


#: Phases of the "which loop drove it" table: the run cut into this many equal parts.
WHY_PHASES = 4


def dominance_table(model: "Model", scenarios: list[str], titles: Mapping[str, str], drawn: list[str]) -> str:
    """Which loop of the causal loop diagram (``drawn``: the names of its marked loops) drove the first
    stock outcome in each phase of the run, per scenario (Loops That Matter,
    :meth:`cxsystems.analysis.dominance.DominanceResult.leading`): the drawn loop with the largest
    loop score most often, with that share of the phase: the reading the workshop page highlights
    live. ``""`` when the model has no stock outcome, no drawn loop through it, or the engine cannot
    score it."""
    from ..analysis.dominance import dominance
    from ..errors import UnsupportedConstruct

    outcome = next((o.variable for o in model.outcomes if o.variable in model.stocks), None)
    if outcome is None:
        return ""
    t0, t1 = float(model.initial_time), float(model.final_time)
    edges = [t0 + (t1 - t0) * k / WHY_PHASES for k in range(WHY_PHASES + 1)]
    phases = list(zip(edges[:-1], edges[1:]))
    cells: dict[str, list[str]] = {}
    for scen in scenarios:
        try:
            res = dominance(model, scenario=scen, outcome=outcome)
            part = res.partition_of_outcome(outcome)  # refused for an outcome on no loop
        except (CxError, UnsupportedConstruct):
            return ""
        part_of = {lp.name: res.partition[i] for i, lp in enumerate(res.loop_list) if lp.name}
        loops = [n for n in drawn if part_of.get(n) == part]
        if not loops:
            return ""
        cells[scen] = [f"{esc(r.name)} ({esc(r.polarity)}), {_pct(r.share)}" if r.loop else "none of the drawn loops"
                       for r in res.leading(phases, loops).itertuples()]
    one, many = time_words(model.time_unit)
    head = "".join(f"<th>{esc(titles.get(s, s))}</th>" for s in scenarios)
    body = "".join(f"<tr><td>{esc(many.capitalize())} {a:g}\u2013{b:g}</td>"
                   + "".join(f"<td>{cells[s][i]}</td>" for s in scenarios) + "</tr>"
                   for i, (a, b) in enumerate(phases))
    return (f"<h3>Which loop drove {esc(outcome.lower())}, phase by phase</h3><p>Of the loops in the diagram, "
            f"the one moving {esc(outcome.lower())} most (the largest loop score, Loops That Matter) most often "
            "in each phase, with that share of the phase; the workshop page highlights the same loop as its "
            "sliders move (<code>cxsystems dominance</code> gives every loop's share).</p>"
            f"<table class=\"keep\"><thead><tr><th>Phase</th>{head}</tr></thead><tbody>{body}</tbody></table>")


def loops_section(model: "Model", why_scenarios: list[str] = (), titles: Mapping[str, str] | None = None) -> Section:
    """The feedback loops: the main view's diagram, the named loops, and for ``why_scenarios`` (none:
    no table) which drawn loop drove the first stock outcome, phase by phase (:func:`dominance_table`)."""
    from .. import causal
    from ..plotting.diagrams import figure as diagram_figure
    from ..plotting.diagrams import model_diagram

    graph = causal.model_graph(model)
    loops = causal.find_loops(graph)
    drawn: list[str] = []
    parts = ["<p>Why the scenarios behave as they do: the feedback loops of the model. A <strong>reinforcing "
             "(R)</strong> loop amplifies change (vicious or virtuous circles); a <strong>balancing (B)</strong> "
             "loop counteracts it. Arrows marked <strong>+</strong> move in the same direction, "
             "<strong>\u2212</strong> in the opposite direction; a double bar marks a delay.</p>"]
    try:
        diagram = model_diagram(model, graph, loops)
        drawn = [m.name for m in diagram.markers if m.name]
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
    why = dominance_table(model, list(why_scenarios), titles or {}, drawn) if why_scenarios and drawn else ""
    if why:
        parts.append(why)
    counts = loops.counts()
    parts.append(f'<p class="note">The model has {len(loops):,} feedback loops in all ({counts["R"]:,} reinforcing, '
                 f'{counts["B"]:,} balancing); the named ones carry its story.</p>')
    rep = causal.find_archetypes(graph, loops, per_kind=ARCHETYPES_PER_KIND, model=model)
    names = {lp.id: lp.name for lp in loops}
    if len(rep):
        items = []
        for a in rep:
            loops_txt = ", ".join(f"{i}" + (f" {names[i]}" if names.get(i) else "") for i in a.loops)
            variant = f" <span class=\"note\">({esc(a.variant)})</span>" if a.variant else ""
            # the behaviour that confirms a match, in a line; other verdicts in a word (the CLI says why)
            judged = (f" \u2014 {esc(a.plausibility)}"
                      + (f": {esc(_titled(a.reasons[-1], model))}" if a.reasons and a.plausibility == "confirmed" else "")
                      if a.plausibility else "")
            items.append(f"<li><strong>{esc(a.kind)}</strong>: {esc(loops_txt)}{variant}{judged}</li>")
        more = [re.sub(r"; show them with .*$", "", n) for n in rep.notes if "not shown" in n or "hidden" in n]
        if len(items) > ARCHETYPES_SHOWN:  # the briefing keeps the most plausible; the CLI lists them all
            more.insert(0, f"{len(items) - ARCHETYPES_SHOWN} more plausible match(es) in `cxsystems archetypes`")
            items = items[:ARCHETYPES_SHOWN]
        parts.append("<h3>System archetypes</h3><p>Recurring structures (Senge, 1990) recognised in the named "
                     "loops, most plausible first: a match has the archetype's shape; it is plausible when its "
                     "decision roles are things management can act on, and confirmed when the scenarios behave "
                     "as the archetype says. Implausible matches are not shown.</p><ul class=\"archetypes\">"
                     + "".join(items) + "</ul>"
                     + (f'<p class="note">{esc("; ".join(more))}.</p>' if more else ""))
    else:
        parts.append("<h3>System archetypes</h3><p>None found among the named loops.</p>")
    return Section("loops", "Why: the feedback loops", "".join(parts))


def _unavailable(reason: str) -> str:
    return (f'<div class="unavailable" id="robustness-unavailable"><strong>Robustness not available.</strong> '
            f"{esc(reason)}</div>")


def run_ensemble(model: "Model", n_runs: int, seed: int | None,
                 progress: Callable[[int, int], None] | None = None,
                 calibration=None) -> tuple["EnsembleResult | None", str]:
    """The robustness ensemble, or ``None`` and the reason there is none (0 runs, or a model without
    ``[uncertain]`` parameters or metrics). Any other refusal (a bad seed, more runs than memory allows,
    a world in which the model breaks down) is an error of the whole report."""
    if not n_runs:
        return None, "Skipped: the report was built with 0 runs."
    analysis = model.analysis
    if (not getattr(analysis, "uncertain", ()) and calibration is None) or not getattr(analysis, "metrics", ()):
        what = "uncertain parameters ([uncertain])" if not getattr(analysis, "uncertain", ()) else "metrics ([metrics])"
        return None, f"Not available for model {model.title!r}: its scenario file declares no {what}."
    from ..analysis.ensemble import ensemble

    return ensemble(model, n=n_runs, seed=seed, progress=progress, calibration=calibration), ""


def verdict_lines(res: "EnsembleResult", titles: Mapping[str, str]) -> list[str]:
    """The head-to-head verdicts on the headline metric, by scenario title: "<a> beats <b> on <metric>
    in <share> of <n> runs" (the pairs and shares of :func:`cxsystems.analysis.robustness.verdicts`)."""
    from ..analysis.robustness import robustness
    from ..text import share

    metric = res.headline or res.metrics[-1].name
    m = res.metrics[res.metric_index(metric)]
    pairs = res.versus or tuple((s, res.baseline) for s in res.scenarios if s != res.baseline)
    rob = robustness(res).set_index(["metric", "scenario", "other"])
    out = []
    for a, b in pairs:
        row = rob.loc[(m.name, a, b)]
        text = (f"{titles.get(a, a)} beats {titles.get(b, b)} on {lower_first(m.label or m.name)} in "
                f"{share(float(row['share_better']))} of {res.n:,} runs")
        if row["share_better"] < 0.5:
            text += f" ({titles.get(b, b)} does better in {share(float(row['share_worse']))})"
        if row["share_tied"] > 0:
            text += f"; tied in {share(float(row['share_tied']))}"
        out.append(text)
    return out


def robustness_section(model: "Model", res: "EnsembleResult | None", reason: str,
                       titles: Mapping[str, str], focus: tuple[str, ...] = (),
                       families: Mapping[str, str] | None = None) -> Section:
    """Verdicts from the ensemble of sampled worlds (section marked unavailable without one); the
    fan chart shows the baseline and the ``focus`` scenarios."""
    title = "How robust is the answer?"
    if res is None:
        return Section("robustness", title, _unavailable(reason))
    from ..analysis import robustness as rob_mod

    t = lambda s: esc(titles.get(s, s))  # noqa: E731
    parts = [f"<p>The numbers above assume the model's best estimates. Here every scenario was run again in the "
             f"same <strong>{res.n:,}</strong> sampled worlds (Latin hypercube over "
             f"{plural(len(res.uncertain), 'uncertain parameter')}, seed {esc(res.seed)}"
             + (f"; {esc(', '.join(res.calibrated))} drawn from the calibration {esc(res.calibration)}"
                if res.calibrated else "") + "), so that differences "
             "between scenarios are differences of policy, not of luck.</p>"]
    parts.append('<div class="bottom-line keep"><strong>Verdicts</strong><ul class="verdicts">'
                 + "".join(f"<li>{esc(v)}</li>" for v in verdict_lines(res, titles)) + "</ul></div>")
    shares = rob_mod.tail_shares(res)
    metrics = list(res.metrics)
    head = res.headline or metrics[-1].name
    hm = metrics[res.metric_index(head)]
    table = res.metric(hm.name)
    reg = rob_mod.regret(res)
    reg = reg[reg["metric"] == hm.name].set_index("scenario")
    units = hm.units or model.units.get(hm.variable, "")
    pc = getattr(hm, "percent", False)
    rob = rob_mod.robustness(res)
    vs_base = rob[(rob["other"] == res.baseline) & (rob["metric"] == hm.name)].set_index("scenario")
    tail_heads = "".join(f'<th class="num">{esc(r.label)}</th>' for r in res.tail_risks)
    rows = []
    for s in res.scenarios:
        col = table[s]
        beats_base = "\u2014" if s == res.baseline else _pct(float(vs_base.loc[s, "share_better"]))
        tails = "".join(f'<td class="num">{_pct(float(v))}</td>' for v in shares.loc[s]) if len(shares.columns) else ""
        rows.append(f'<tr data-scenario="{esc(s)}"><td><strong>{t(s)}</strong></td>'
                    f'<td class="num">{esc(fmt_value(col.quantile(0.05), units, pc))}</td>'
                    f'<td class="num">{esc(fmt_value(col.median(), units, pc))}</td>'
                    f'<td class="num">{esc(fmt_value(col.quantile(0.95), units, pc))}</td>'
                    f'<td class="num">{beats_base}</td>'
                    f'<td class="num">{_pct(float(reg.loc[s, "share_best"]))}</td>'
                    f'<td class="num">{esc(fmt_value(reg.loc[s, "mean_regret"], units, pc))}</td>{tails}</tr>')
    parts.append(f"<h3 id=\"tail-risks\">{esc(_label(hm))} and tail risks across the {res.n:,} worlds</h3>"
                 "<table class=\"headline keep\"><thead><tr><th>Scenario</th><th class=\"num\">5th percentile</th>"
                 "<th class=\"num\">median</th><th class=\"num\">95th percentile</th>"
                 f"<th class=\"num\">beats {t(res.baseline)} in</th><th class=\"num\">best in</th>"
                 "<th class=\"num\">mean shortfall from the best</th>" + tail_heads + "</tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table>")
    var = hm.variable if hm.variable in res.variables else (res.variables[0] if res.variables else None)
    if var is not None:
        from ..plotting.charts import fan_chart

        shown = [n for n in dict.fromkeys([res.baseline, *focus]) if n in res.scenarios]
        fig = fan_chart(res, var, scenarios=shown, size=FAN_SIZE, titles=dict(titles), families=families,
                        model_title=model.title)
        parts.append(_figure(svg_img(fig, f"{var}: range across {res.n} runs"),
                             f"{esc(res.labels.get(var, var))}: median line, 50% band and 90% band across the runs; "
                             "the grey dashed line is the baseline's median.", "fig-fan"))
        _close(fig)
    items = "".join(f"<li><strong>{esc(u.parameter)}</strong>: {esc(u.describe())}"
                    + (f' <span class="note">({esc(u.source)})</span>' if u.source else "") + "</li>"
                    for u in res.uncertain)
    items += "".join(f"<li><strong>{esc(p)}</strong>: drawn from the calibration's sample</li>" for p in res.calibrated)
    parts.append(f'<h3>What was varied</h3><ul class="uncertain">{items}</ul>')
    return Section("robustness", title, "".join(parts))


def calibration_section(cal) -> Section:
    """What was fitted to which history, with what result, and how well the model reproduces it."""
    rows = "".join(
        f"<tr><td><strong>{esc(p)}</strong></td><td class=\"num\">{esc(short_number(v))}</td>"
        f"<td class=\"num\">{esc(' to '.join(short_number(x) for x in cal.intervals[p]) if p in cal.intervals else '')}"
        "</td></tr>" for p, v in cal.estimates.items())
    fits = []
    for series, st in (cal.fit or {}).items():
        uc = st.get("theil_uc")
        mostly = ("the remaining error is mostly noise" if uc is not None and uc >= 0.7 else
                  "part of the remaining error is systematic (bias or a different swing)")
        fits.append(f"<li><strong>{esc(series)}</strong>: r\u00b2 {st.get('r2', float('nan')):.2f}, average error "
                    f"{_pct(st.get('mape', float('nan')))} of the observed value; {mostly} (Theil UM/US/UC "
                    f"{st.get('theil_um', float('nan')):.2f}/{st.get('theil_us', float('nan')):.2f}/"
                    f"{st.get('theil_uc', float('nan')):.2f})</li>")
    method = {"optimize": "a global search and polish (intervals from the curvature)",
              "bayes": "Bayesian sampling (MCMC; intervals from the posterior)"}.get(cal.method, esc(cal.method))
    body = (f"<p>{plural(len(cal.estimates), 'parameter')} of the model {'was' if len(cal.estimates) == 1 else 'were'} "
            f"fitted to the organisation's history in <code>{esc(cal.data)}</code> by {method}; the best estimates "
            "below replace the model's values in every run of this briefing"
            + (", and the sampled worlds draw them from the fit's sample" if cal.sample is not None else "")
            + ".</p><table class=\"keep\"><thead><tr><th>Fitted parameter</th><th class=\"num\">estimate</th>"
            "<th class=\"num\">90% interval</th></tr></thead><tbody>" + rows + "</tbody></table>"
            + (f"<p>How well the fitted model reproduces the history:</p><ul>{''.join(fits)}</ul>" if fits else ""))
    return Section("calibration", "Fitted to your history", body)


def drivers_section(model: "Model", hm: "MetricSpec | None", focus: "Focus | None", n: int,
                    seed: int | None, titles: Mapping[str, str] = {}) -> Section | None:
    """Which uncertain assumptions decide the answer: Sobol indices of the focus pair's difference
    in the headline metric (:func:`cxsystems.analysis.sensitivity.sensitivity`): the top three."""
    if hm is None or focus is None or n <= 0 or not getattr(model.analysis, "uncertain", ()):
        return None
    from ..analysis.sensitivity import sensitivity

    try:
        sens = sensitivity(model, "sobol", metric=hm.name, scenario=focus.a, versus=focus.b, n=n,
                           seed=0 if seed is None else seed, params=dict(model.overrides) or None)
    except CxError as exc:
        return Section("drivers", "Which assumptions decide the answer", f'<p class="note">Not computed: {esc(exc)}</p>')

    def titled(text: str) -> str:  # scenarios by their titles, as everywhere on the page
        for name in sorted((focus.a, focus.b), key=len, reverse=True):
            text = re.sub(rf"\b{re.escape(name)}\b", titles.get(name, name), text)
        return text

    what = titled(sens.target.describe())
    top = sens.ranking().head(3)
    rows = "".join(
        f"<tr><td><strong>{esc(p)}</strong></td><td class=\"num\">{_pct(float(r['S1']))} "
        f"\u00b1 {_pct(float(r['S1_conf']))}</td><td class=\"num\">{_pct(float(r['ST']))} "
        f"\u00b1 {_pct(float(r['ST_conf']))}</td></tr>" for p, r in top.iterrows())
    body = (f"<p>Of {sens.summary.shape[0]} uncertain assumptions, these explain most of the spread of "
            f"{esc(what)} across {sens.runs:,} sampled worlds (Sobol indices, <code>cxsystems sensitivity</code>): "
            "better data on them is worth most.</p>"
            "<table class=\"keep\"><thead><tr><th>Assumption</th><th class=\"num\">share of the variance on "
            "its own</th><th class=\"num\">with its interactions</th></tr></thead><tbody>" + rows
            + "</tbody></table>")
    return Section("drivers", "Which assumptions decide the answer", body)


def method_section(model: "Model", cmp: "Comparison", res: "EnsembleResult | None", command: str) -> Section:
    """How the answer was reached: the rule, the sources and the command that rebuilds the page."""
    from ..model.overrides import describe

    card = model_card_path(model)
    src = f"the model card <code>{esc(card.name)}</code>" if card else "the scenario file and the model"
    body = (f"<p>{rule_text(res.n if res is not None else None, cmp.time_unit)}</p>"
            f"<p>Best estimates are one run of each scenario with the model's parameters as written; better and "
            f"worse are for the organisation, against {esc(cmp.title_of(cmp.baseline))} in the same {cmp.time_words[0]}. "
            + (f"For this briefing these values replace the model's: {esc(describe(model.overrides))}. "
               if model.overrides else "")
            + (f"The sampled worlds: {esc(res.worlds)}. " if res is not None and res.calibrated else "") +
            f"The model's description comes from {src}. The model is for comparing policies and understanding "
            "their trade-offs, not for forecasting a number.</p>"
            f'<p id="reproduce">Reproduce with <code>{esc(command)}</code></p>')
    return Section("method", "How this briefing was made", body)


def model_reference(model: "Model") -> str:
    """How a command names ``model``: a bundled model by its name, any other by its absolute path,
    shell-quoted (so that the command works when pasted in any folder)."""
    from ..model.loader import bundled_models_dir

    path = Path(model.path).resolve()
    try:
        if path == (bundled_models_dir() / f"{model.name}.mdl").resolve():
            return model.name
    except CxError:  # pragma: no cover - no bundled models at all
        pass
    return shlex.quote(str(path))


def reproduce_command(model: "Model", n_runs: int, seed: int | None, calibration=None) -> str:
    """The ``cxsystems report`` command that builds the same page again (with a ``--set`` for each
    value the model overrides, and the ``--calibration`` file)."""
    from ..model.calibration_file import Calibration
    from ..text import plain

    cal = calibration.path if isinstance(calibration, Calibration) else calibration
    fitted = dict(calibration.estimates) if isinstance(calibration, Calibration) else {}
    sets = "".join(f" --set {shlex.quote(f'{k}={plain(v)}')}" for k, v in (model.overrides or {}).items()
                   if fitted.get(k) != v)
    cal_opt = f" --calibration {shlex.quote(str(Path(cal).resolve()))}" if cal is not None else ""
    return f"cxsystems report --model {model_reference(model)} --n {n_runs} --seed {seed}{cal_opt}{sets}"


def _headline(model: "Model", cmp: "Comparison") -> "MetricSpec | None":
    metrics = list(cmp.metrics)
    name = getattr(getattr(model, "analysis", None), "headline", None)
    return next((m for m in metrics if m.name == name), metrics[-1] if metrics else None)


def _focus(model: "Model", cmp: "Comparison", hm: "MetricSpec | None") -> "Focus | None":
    """The head-to-head of the question with the headline metric's best-estimate values (the
    classified outcome's judged measure when the model declares no metric)."""
    from ..analysis.metrics import scenario_metrics
    from ..model.specs import MetricSpec

    pair = focus_pair(model)
    if pair is None or not all(p in cmp.scenario_names for p in pair):
        return None
    if hm is None:
        o = cmp.outcome(cmp.classify)
        hm = MetricSpec(o.variable, o.variable, o.judge, o.better, o.units, o.label,
                        getattr(o, "percent", False))
        values = {n: scenario_metrics(cmp.run(n), [hm])[hm.name] for n in (*pair, cmp.baseline)}
    else:
        values = {n: float(cmp.summary.loc[n, hm.name]) for n in (*pair, cmp.baseline)}
    units = hm.units or model.units.get(hm.variable, "")
    return Focus(pair[0], pair[1], hm, units, values[pair[0]], values[pair[1]], values[cmp.baseline])


def _sweep(model: "Model", focus: "Focus") -> "TimingSweep | None":
    """The start-week sweep of the question's policy against the baseline and its rival (``None``
    when the policy has no timed change or the model declares no metric)."""
    from ..analysis.timing import start_week_sweep

    scen = model.scenarios.get(focus.a)
    if scen is None or not any(c.from_week is not None for c in scen.changes) or not model.analysis.metrics:
        return None
    against = [focus.b] if focus.b != model.baseline else []
    return start_week_sweep(model, focus.a, against=against, metric=focus.metric.name)


def answer_section(question: str, answer: "Answer") -> Section:
    """The first page: the question and its answer, the numbers and the recommendation."""
    return Section("question", "The answer", answer.html()
                   + '<p class="note">Best estimates unless a line says otherwise; how the answer is decided, '
                   "and the evidence, on the following pages.</p>")


# ------------------------------------------------------------------------------ the page
def build_report(model: "Model", *, n_runs: int = DEFAULT_RUNS, seed: int | None = 0,
                 question: str | None = None, scenarios: Iterable[str] | None = None,
                 progress: Callable[[int, int], None] | None = None, params: Mapping[str, float] | None = None,
                 calibration=None) -> str:
    """The briefing page as one self-contained HTML string: the answer first, the evidence after.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        n_runs: sampled worlds for the answer's share of worlds won and the robustness section
            (0 skips them, marked on the page).
        seed: seed of the robustness ensemble (same seed, same numbers).
        question: the question in the title (default :func:`question_for`).
        scenarios: scenario names to include (default all; the baseline always).
        progress: passed to :func:`cxsystems.analysis.ensemble.ensemble` (``progress(done, total)``).
        params: new base values ``{parameter: value}`` (validated) every scenario starts from; a
            scenario's own change still wins, and the robustness worlds do not vary them.
        calibration: a :class:`~cxsystems.model.calibration_file.Calibration` or the path of a
            ``calibration.toml``: the best estimates run from its fitted values (``params`` win over
            them) and, when it has a sample, the robustness worlds draw the fitted parameters from it.

    Raises:
        CxError: bad ``n_runs``, an unknown scenario, or a simulation that fails.
    """
    from ..analysis.compare import compare
    from ..plotting.charts import comparison_colors  # noqa: F401 - one colour rule for every chart
    from ..version import __version__
    from .report_answer import build_answer, no_policy_answer

    if isinstance(n_runs, bool) or not isinstance(n_runs, int) or n_runs < 0:
        raise CxError(f"number of runs must be a whole number >= 0, got {n_runs!r}")
    from ..model.calibration_file import check_calibration, read_calibration
    from ..model.overrides import resolve_values, with_values

    cal = None
    if calibration is not None:
        cal = read_calibration(calibration, model) if isinstance(calibration, (str, os.PathLike)) \
            else check_calibration(calibration, model)
    explicit = resolve_values(model, params, "params")
    ens_model = with_values(model, explicit)
    model = with_values(model, {**(dict(cal.estimates) if cal is not None else {}), **explicit})
    question = question or question_for(model)
    cmp = compare(model, list(scenarios) if scenarios is not None else None)
    titles = {s.name: s.title for s in cmp.scenarios}
    families = {s.name: s.family for s in cmp.scenarios}
    hm = _headline(model, cmp)
    focus = _focus(model, cmp, hm)
    ens_cal = cal if cal is not None and cal.sample is not None else None
    res, reason = run_ensemble(model if ens_cal is None else ens_model, n_runs, seed, progress,
                               ens_cal) if len(cmp.scenarios) > 1 else (
        None, "Nothing to compare: the model has only its baseline.")
    if res is not None and focus is not None and not all(p in res.scenarios for p in (focus.a, focus.b)):
        res_focus = None
    else:
        res_focus = res
    if focus is None:
        answer = no_policy_answer(cmp, f"{Path(model.path).stem}.scenarios.toml")
    else:
        answer = build_answer(cmp, focus, res_focus, _sweep(model, focus))
    pair = (focus.a, focus.b) if focus is not None else ()
    one, many = time_words(model.time_unit)
    horizon = f"{model.initial_time:g} to {model.final_time:g} {many}"
    command = reproduce_command(model, n_runs, seed, cal)
    sections = [
        answer_section(question, answer),
        Section("model", "The model in two sentences",
                f"<p>{_inline(model_summary(model))}</p><p class=\"meta\">{plural(len(model.stocks), 'stock')}, "
                f"{plural(len(model.parameters), 'parameter')}, simulated from {esc(horizon)} (time step "
                f"{model.time_step:g} {one if model.time_step == 1 else many}).</p>"),
        scenarios_section(cmp),
        comparison_section(cmp),
        outcomes_section(cmp, hm, pair),
        summary_section(cmp, model, pair) if len(cmp.scenarios) > 1 else None,
        loops_section(model, [cmp.baseline, *([focus.a] if focus is not None else [])] if len(cmp.scenarios) > 1
                      else [], titles),
        robustness_section(model, res, reason, titles, pair, families),
        drivers_section(model, hm, focus, DRIVER_RUNS if n_runs > 0 else 0, seed, titles),
        calibration_section(cal) if cal is not None else None,
        method_section(model, cmp, res, command),
    ]
    sections = [s for s in sections if s is not None]
    others = len(cmp.scenarios) - 1
    compared = (f"{plural(others, 'policy', 'policies')} compared with {esc(cmp.title_of(cmp.baseline))}"
                if others else "the model as written")
    title = f"{model.title}: {question}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><p class=\"kicker\">Policy briefing \u00b7 {esc(model.title)}</p>"
        f"<h1>{esc(question)}</h1>"
        f"<p class=\"meta\">{compared} over {esc(horizon)} \u00b7 generated {date.today().isoformat()} by "
        f"cxsystems {esc(__version__)}</p></header>\n<main>\n"
        + "\n".join(s.html() for s in sections)
        + "\n</main>\n<footer>Charts and diagram are embedded; the page loads nothing from the network.</footer>"
        "\n</body>\n</html>\n"
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


__all__ = ["DEFAULT_RUNS", "build_report", "write_report", "question_for", "model_summary", "focus_pair",
           "reproduce_command"]
