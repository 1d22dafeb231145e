"""The workshop page: one self-contained HTML file that simulates a model live in the browser.

:func:`write_workshop` writes the page; :func:`render_page` returns its text; :func:`workshop_spec`
is the plain data the page is built from (levers, scenarios, outcomes, loops), handy for tests.

What the page holds, all inline (no server, no network, no Python needed to use it):

* the model compiled to JavaScript (:func:`cxsystems.engine.jsgen.model_to_js`, global
  ``CX_MODEL``), which the page runs on every slider move;
* the charting library uPlot (``vendor/uPlot.iife.min.js``, MIT, see ``vendor/README.md``);
* the page's own script and style (``vendor/cx_reading.js``, ``vendor/cx_workshop.js``,
  ``vendor/cx_workshop.css``);
* the causal loop diagram of the model's main view as inline SVG (drawn by
  :mod:`cxsystems.causal`), with a legend of its named loops;
* the live loop highlight: the model's JavaScript also scores links and loops (Loops That Matter,
  :mod:`cxsystems.engine.jsltm`, from the same IR rate expressions as
  :func:`cxsystems.analysis.dominance.dominance`). After every run the page scores the drawn loops of
  the focus outcome's cycle partition (:func:`focus_outcome`: the first stock among the key outcomes),
  and at each time step the drawn loop with the largest absolute loop score *leads* (the drawn loops
  compared with each other: dividing by the partition's total, as relative scores do, would not
  change that ranking). The loop leading most often over the run is highlighted on the diagram and
  in the legend, and the one leading most often in each quarter of the run is named
  (:func:`dominance_parts`; settings in the ``data-settings`` JSON of ``#ltm``). A model too large
  to keep every time step in the browser (:data:`LTM_MAX_VALUES`), whose focus outcome is on no
  loop, or whose link scores the JavaScript engine cannot reproduce gets the page without it;
* the workshop settings as JSON in a ``<script type="application/json">`` block.

Policy levers are the parameters the model's scenarios set (union over ``model.scenarios``, in
first-seen order). A lever's slider runs over the parameter's declared ``[min, max]`` range; where
the model declares no bound the page uses a fallback, widened to include every scenario value, and
says so next to the slider (:func:`cxsystems.model.levers.lever_range`):

* no bounds: ``0 .. 2 x value`` for a positive value, ``2 x value .. 0`` for a negative one,
  ``-1 .. 1`` for zero;
* only ``min``: ``max = min + 2 x max(|value - min|, |min|, 1)``; only ``max``: mirrored.

Levers moved away from their base value apply from the *policy start week* (one slider, from the
initial to the final time, default the earliest ``from_week`` among the scenarios, or the initial
time if none has one); at the initial time the changes apply from the start (``from_week`` =
``None``). A scenario button sets every lever and the start week to that scenario's values when all
its changes start in the same week; otherwise (changes starting in different weeks) the page runs
the scenario's changes verbatim and lists them until a slider is moved. The baseline reference
(dashed near-black in every chart) is the model's baseline scenario (:attr:`cxsystems.Model.baseline`).

People read names, not code names: the model's ``title``, each scenario's ``title`` (its label)
in the buttons, legends, key and reading; code names stay in data attributes and tooltips. Scenario
lines take the colours of every chart of the model (:func:`cxsystems.plotting.charts.scenario_colors`
with the scenarios' families: baseline near-black, reactive warm, structural cool, mixed purple; a
setting of no named scenario :data:`OWN_COLOR`). An outcome declared ``percent`` is shown x100 with
``%``; one with ``view = "difference"`` is charted as each run's difference from the baseline. A
model with a ``[contact_mix]`` gets one more card: the parts of contact volume stacked for the current
setting, with the avoidable share of all contacts over the run (the rule of
:func:`cxsystems.analysis.contacts.avoidable_share`) and the baseline's.

Model text (names, units, descriptions, comments) reaches the page only through ``json.dumps`` in
a JSON block (with ``<``, ``>`` and ``&`` escaped) or :func:`.html.esc`; ``</script`` and ``<!--``
are neutralised in every inline script.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

from ..errors import CxError, UnsupportedConstruct
from ..files import atomic_write
from ..model.levers import default_start_week, levers, on_grid
from ..text import percent_units, pretty_units, time_words
from .html import esc, json_for_html, script_safe, svg_inline

#: Files of ``vendor/`` pasted into the page, in order.
VENDOR_CSS = ("uPlot.min.css", "cx_workshop.css")
VENDOR_JS = ("uPlot.iife.min.js", "cx_reading.js")
APP_JS = "cx_workshop.js"
#: Largest number of steps a slider is divided into before its step is refined to hit scenario values.
SLIDER_STEPS = 200


#: Colour of the run line when the levers match no named scenario (no family: none of the family
#: shades of :data:`cxsystems.plotting.charts.FAMILY_PALETTES`).
OWN_COLOR = "#8C564B"
#: Colours of the contact-mix parts: kinds that are not avoidable in cool greys-blues, avoidable
#: ones (failure demand) in warm shades, darker up the stack.
MIX_PLAIN = ("#9DB4CF", "#C5D3E3", "#7F97B5")
MIX_AVOIDABLE = ("#F4B183", "#E8804F", "#CF4B2E", "#9E2A1F", "#6E1A14", "#F7CBA8")


def _scenario_entry(sc, initial_time: float, color: str = "") -> dict:
    weeks = {ch.from_week for ch in sc.changes}
    uniform = len(weeks) <= 1
    start = None
    if uniform and weeks:
        w = weeks.pop()
        start = float(initial_time) if w is None else float(w)
    return dict(name=sc.name, title=sc.title, family=getattr(sc, "family", ""), color=color,
                description=sc.description, uniform=uniform, start=start,
                changes=[dict(parameter=ch.parameter, value=float(ch.value), from_week=ch.from_week)
                         for ch in sc.changes])


def _colors(model) -> dict[str, str]:
    """Scenario name -> colour, the same as every chart of the model (baseline near-black,
    reactive warm, structural cool, mixed purple)."""
    from ..plotting.charts import scenario_colors

    names = list(model.scenarios)
    families = {n: getattr(sc, "family", "") for n, sc in model.scenarios.items()}
    return scenario_colors(names, model.baseline, names, families=families)


def _outcome_entry(o, baseline_title: str) -> dict:
    percent = bool(getattr(o, "percent", False))
    view = getattr(o, "view", "level") or "level"
    if view == "difference":
        heading = f"{o.label}: difference from {baseline_title}"
        u = pretty_units(o.units)
        heading_units = ("percentage points" + (" " + u if u else "")) if percent else u
    else:
        heading = o.label
        heading_units = percent_units(o.units) if percent else pretty_units(o.units)
    return dict(variable=o.variable, label=o.label, units=o.units, pretty_units=pretty_units(o.units),
                better=o.better, judge=o.judge, percent=percent, view=view,
                heading=heading, heading_units=heading_units)


def _contact_mix(model) -> dict | None:
    """The contact-mix chart's settings, or ``None`` when the model declares no ``[contact_mix]``
    (the scenario file's reader has checked that every part is a variable of the model)."""
    analysis = model.analysis
    parts = tuple(getattr(analysis, "contact_mix", ()) or ()) if analysis is not None else ()
    if not parts:
        return None
    plain = avoidable = 0
    out = []
    for p in parts:
        if p.avoidable:
            color = MIX_AVOIDABLE[avoidable % len(MIX_AVOIDABLE)]
            avoidable += 1
        else:
            color = MIX_PLAIN[plain % len(MIX_PLAIN)]
            plain += 1
        out.append(dict(variable=p.variable, label=p.label, avoidable=bool(p.avoidable), color=color))
    units = {pretty_units(model.units.get(p.variable, "")) for p in parts}
    return dict(parts=out, units=units.pop() if len(units) == 1 else "")


def _outcomes(model):
    analysis = model.analysis
    outs = tuple(analysis.outcomes) if analysis is not None else ()
    if not outs:
        raise CxError(f"model {model.name}: the workshop needs key outcomes: add [[outcomes]] tables "
                      "(variable, better, label) to its .scenarios.toml")
    return outs


def workshop_spec(model) -> dict:
    """Everything the page needs except the compiled model and the diagram, as JSON-ready data.

    Raises:
        CxError: the model has no scenario setting a parameter, or no key outcomes.
    """
    lev = levers(model)
    if not lev:
        raise CxError(f"model {model.name}: no policy levers: the workshop shows the parameters its "
                      f"scenarios set, and no scenario in its .scenarios.toml sets one{model.init_hint}")
    outs = _outcomes(model)
    analysis = model.analysis
    if any(v != v for v in (model.initial_time, model.final_time, model.time_step, model.saveper)):
        raise CxError(f"workshop: {model.name!r}: its time settings change in time (NaN on the model); "
                      "the JavaScript engine runs fixed ones only")
    t0, t1 = float(model.initial_time), float(model.final_time)
    span = t1 - t0
    week_step = 1.0 if span >= 20 else float(model.saveper)
    start = default_start_week(model)
    if not on_grid(start, t0, week_step):
        week_step = 0.0
    colors = _colors(model)
    base_sc = model.scenarios.get(model.baseline)
    baseline_title = base_sc.title if base_sc is not None else model.baseline.replace("_", " ")
    return dict(
        model=model.name,
        title=model.title,
        initial_time=t0,
        final_time=t1,
        time_step=float(model.time_step),
        saveper=float(model.saveper),
        time_words=list(time_words(model.time_unit)),
        levers=[dict(name=lv.parameter, units=lv.units, base=lv.default, lo=lv.min, hi=lv.max, step=lv.step,
                     comment=lv.comment, range_note=lv.range_note, pretty_units=pretty_units(lv.units))
                for lv in lev],
        start_week=dict(lo=t0, hi=t1, step=week_step, default=start),
        scenarios=[_scenario_entry(sc, t0, colors.get(sc.name, "")) for sc in model.scenarios.values()],
        baseline=model.baseline,
        baseline_title=baseline_title,
        baseline_color=colors.get(model.baseline, "#1a1a1a"),
        own_color=OWN_COLOR,
        outcomes=[_outcome_entry(o, baseline_title) for o in outs],
        contact_mix=_contact_mix(model),
        rtol=float(analysis.rtol),
        disturbance=(None if getattr(analysis, "disturbance", None) is None else
                     dict(week=float(analysis.disturbance.week), label=analysis.disturbance.label)),
    )


# --------------------------------------------------------------------------- diagram
def diagram_svg(model) -> tuple[str, str, list[dict]]:
    """``(svg, title, loops)``: the model's main-view causal loop diagram as inline SVG (no XML
    header, metadata or namespace URLs), its title, and one dict per marked loop (id, polarity,
    name, description, variables, ``drawn``: its variables on the diagram). A model the causal
    code cannot draw gives ``("", message, [])``.
    """
    svg, title, out, _ = _diagram(model)
    return svg, title, out


def _diagram(model):
    """:func:`diagram_svg` and, for the loop-dominance part, ``(graph, loops, markers)`` (``None``
    when there is no diagram)."""
    from ..causal import find_loops, model_graph
    from ..plotting.diagrams import figure, model_diagram

    try:
        graph = model_graph(model)
        loops = find_loops(graph)
        diagram = model_diagram(model, graph, loops)
    except CxError as exc:
        return "", f"No causal loop diagram: {exc}", [], None
    if diagram.title == model.name:  # a model without a titled view: its name for people, not its file name
        diagram = replace(diagram, title=model.title)
    svg = svg_inline(figure(diagram), "causal loop diagram", text_as_paths=True, salt="cxsystems-workshop")
    descr = {ln.name: ln.description for ln in graph.loop_names}
    by_id = {lp.id: lp for lp in loops}
    out = []
    for mk in diagram.markers:
        lp = by_id.get(mk.id)
        out.append(dict(id=mk.id, polarity=mk.polarity, name=mk.name,
                        description=descr.get(mk.name, "") if mk.name else "",
                        variables=list(lp.variables) if lp is not None else list(mk.variables),
                        drawn=list(mk.variables)))
    return svg, diagram.title, out, (graph, loops, diagram.markers)


# --------------------------------------------------------------------------- loop dominance
#: Most values (time steps x slots) a run may keep for the live loop highlight (memory per slider move).
LTM_MAX_VALUES = 4_000_000
#: The run is cut into this many equal phases for the words on the leading loop (as the report's
#: "which loop drove it" table, :data:`cxsystems.pages.report.WHY_PHASES`).
DOMINANCE_PHASES = 4


def focus_outcome(model) -> str | None:
    """The outcome whose loops the page follows: the first key outcome that is a stock (the
    report's rule), else ``None``."""
    return next((o.variable for o in model.outcomes if o.variable in model.stocks), None)


def dominance_parts(model, graph, loops, markers) -> tuple[list | None, dict | None]:
    """What the page needs to score the drawn loops live (Loops That Matter, in JavaScript):
    ``(links, settings)`` or ``(None, None)`` when there is nothing to follow.

    ``links`` are :class:`~cxsystems.engine.ltm.LtmLink` for every causal link of ``graph``
    (:func:`cxsystems.engine.ltm.ltm_links`: source and target slots and the target's rate
    expression, the ones the numpy path evaluates). ``settings``
    name the focus outcome (:func:`focus_outcome`) and the drawn loops of its cycle partition (id,
    name, polarity, variables in causal order, ``drawn``: those on the diagram, ``links``: positions
    in the settings' ``links``, the indices of the links the page scores), and the phases of the run."""
    import networkx as nx

    from ..engine import compile_model
    from ..engine.ir import norm_name
    from ..engine.ltm import ltm_links

    outcome = focus_outcome(model)
    if outcome is None:
        return None, None
    dg = graph.digraph()
    comp = next((c for c in nx.strongly_connected_components(dg) if outcome in c), set())
    if len(comp) < 2:
        return None, None
    cm = compile_model(model)
    steps = (float(model.final_time) - float(model.initial_time)) / float(model.time_step) + 1
    if not steps * cm.n_slots <= LTM_MAX_VALUES:  # too big to keep every step in the browser
        return None, None
    ir = cm.ir
    edges = [(e.source, e.target) for e in graph.causal_edges()]
    links = list(ltm_links(ir, [(ir.by_name.get(norm_name(s)), ir.by_name.get(norm_name(t))) for s, t in edges]))
    index = {e: i for i, e in enumerate(edges)}
    by_id = {lp.id: lp for lp in loops}
    drawn, used = [], []
    for mk in markers:
        lp = by_id.get(mk.id)
        if lp is None or lp.variables[0] not in comp or not set(mk.variables) <= set(lp.variables):
            continue
        pos = []
        for link in lp.links():
            if index[link] not in used:
                used.append(index[link])
            pos.append(used.index(index[link]))
        drawn.append(dict(id=mk.id, name=mk.name or " \u2192 ".join(lp.variables), polarity=mk.polarity,
                          variables=list(lp.variables), drawn=list(mk.variables), links=pos))
    if not drawn:
        return None, None
    t0, t1 = float(model.initial_time), float(model.final_time)
    cuts = [t0 + (t1 - t0) * k / DOMINANCE_PHASES for k in range(DOMINANCE_PHASES + 1)]
    label = next((o.label for o in model.outcomes if o.variable == outcome), outcome)
    in_part = sum(1 for lp in loops if lp.variables[0] in comp)
    return links, dict(outcome=outcome, label=label, links=used, loops=drawn, loops_in_partition=in_part,
                       phases=[[a, b] for a, b in zip(cuts[:-1], cuts[1:])])


# --------------------------------------------------------------------------- page
def _vendor(name: str) -> str:
    return (resources.files(__package__) / "vendor" / name).read_text(encoding="utf-8")


def _loops_html(loops: list[dict]) -> str:
    kind = {"R": "reinforcing", "B": "balancing"}
    items = []
    for lp in loops:
        pol = kind.get(lp["polarity"], "changes polarity")
        name = lp["name"] or " \u2192 ".join(lp["variables"])
        desc = f' <span class="loop-desc">{esc(lp["description"])}</span>' if lp["description"] else ""
        items.append(f'<li data-loop="{esc(lp["id"])}"><span class="loop-id loop-{esc(lp["polarity"])}">{esc(lp["id"])}</span>'
                     f' <b>{esc(name)}</b> <span class="loop-pol">({pol})</span>{desc}</li>')
    return "<ul class=\"loops\">" + "".join(items) + "</ul>" if items else ""


def render_page(model, model_js: str | None = None) -> str:
    """The workshop page of ``model`` as HTML text (see the module docstring).

    Args:
        model: a loaded :class:`cxsystems.Model` with scenarios and ``[[outcomes]]``.
        model_js: JavaScript defining ``CX_MODEL`` (default: :func:`model_to_js` of ``model``).
    """
    from ..engine.jsgen import model_to_js

    spec = workshop_spec(model)
    given = model_js
    if model_js is None:
        try:
            model_js = model_to_js(model)
        except UnsupportedConstruct as exc:
            raise CxError(f"{model.path}: the workshop page runs the model in the browser on the numpy "
                          f"engine's JavaScript twin, which does not run this model yet ({exc.reason})") from None
    svg, title, loops, parts = _diagram(model)
    spec["diagram_title"] = title
    ltm = None
    if parts is not None and given is None:
        try:
            links, settings = dominance_parts(model, *parts)
            if links is not None:
                model_js, ltm = model_to_js(model, ltm=links), settings
        except CxError:  # UnsupportedConstruct too: the page runs without the live loop highlight
            pass
    css = "\n".join(_vendor(n) for n in VENDOR_CSS)
    libs = "\n".join(f"<script>\n{script_safe(_vendor(n))}\n</script>" for n in VENDOR_JS)
    if svg:
        # the settings of the live loop highlight ride on its element (JSON, HTML-escaped)
        lead = ("" if ltm is None else
                f'<div id="ltm" class="ltm" aria-live="polite" data-settings="{esc(json_for_html(ltm))}"></div>')
        cld = f'{lead}<div class="cld-svg">{svg}</div>{_loops_html(loops)}'
    else:  # the reason (a modeller's message, naming files and options) only as a tooltip
        cld = (f'<p class="muted" title="{esc(title)}">The causal loop diagram of this model could not be '
               'drawn for the page.</p>')
    base = esc(spec["baseline_title"])
    return _TEMPLATE.format(
        title=esc(spec["title"]),
        name=esc(model.name),
        baseline=base,
        baseline_color=esc(spec["baseline_color"]),
        css=script_safe(css),
        libs=libs,
        model_js=script_safe(model_js),
        config=json_for_html(spec),
        app_js=script_safe(_vendor(APP_JS)),
        cld=cld,
        disturbance=("" if spec.get("disturbance") is None else
                     f"; red: {esc(spec['disturbance']['label'])} "
                     f"({esc(spec['time_words'][0])} {spec['disturbance']['week']:g})"),
        time_axis=esc(spec["time_words"][1].capitalize()),
    )


def write_workshop(model, path: str | Path, *, params=None) -> Path:
    """Write the workshop page of ``model`` to ``path`` (via a temporary file; never half-written).

    ``params`` (``{parameter: value}``, validated) are new base values: the baseline, the scenarios
    and the sliders' resting positions start from them (:func:`cxsystems.model.overrides.with_values`).

    Returns:
        The path written.

    Raises:
        CxError: the model has no policy levers or no key outcomes (see :func:`workshop_spec`).
    """
    from ..model.overrides import with_values

    path = Path(path)
    text = render_page(with_values(model, params))
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return path


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cxsystems workshop">
<title>{title}: policy workshop</title>
<style>
{css}
</style>
</head>
<body>
<header class="top">
  <h1><span class="brand">cxsystems workshop</span> <span class="model-name" title="{name}">{title}</span></h1>
  <p class="hint">Move a lever or press a scenario.
  <span class="chip"><span class="key key-base" style="border-top-color: {baseline_color}"></span>{baseline}
  (baseline)</span>
  <span class="chip"><span class="key key-run" id="key-run"></span><span id="key-run-label">this setting</span></span>
  Reactive policies warm, structural cool, mixed purple. {time_axis}; grey dashes: policy start{disturbance}.</p>
</header>
<div class="layout">
  <aside class="controls" aria-label="policy levers">
    <section>
      <h2>Scenarios</h2>
      <div id="scenario-buttons" class="buttons"></div>
      <p id="scenario-note" class="note"></p>
    </section>
    <section>
      <h2>Policy levers</h2>
      <div id="start-week"></div>
      <div id="levers"></div>
    </section>
  </aside>
  <main>
    <div id="charts" class="charts">
      <section id="reading" class="card reading" aria-live="polite">
        <h2>What happens, compared with {baseline}</h2>
        <p id="reading-summary" class="summary"></p>
        <ul id="reading-list"></ul>
      </section>
    </div>
    <section class="card cld">
      <h2>How the system behaves: its feedback loops</h2>
      {cld}
    </section>
  </main>
</div>
<noscript><p>This page needs JavaScript to simulate the model.</p></noscript>
<script type="application/json" id="cx-config">{config}</script>
{libs}
<script>
{model_js}
</script>
<script>
{app_js}
</script>
</body>
</html>
"""
