"""Causal analysis of the bundled cx_service model (loaded once for the whole module)."""

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.causal import find_loops, model_graph
from cxsystems.engine import compile_model
from cxsystems.engine import equations as E
from cxsystems.engine.ir import Const
from cxsystems.simulation import simulate

INTENDED = {"hire to cover": "B", "cut corners": "B", "rework spiral": "R", "burnout": "R",
            "fix root causes": "B", "firefighting trap": "R", "customers leave": "B", "word of mouth": "R"}


@pytest.fixture(scope="module")
def model():
    return cx.load_model("cx_service")


@pytest.fixture(scope="module")
def run(model):
    return simulate(model)


@pytest.fixture(scope="module")
def graph(model, run):
    return model_graph(model, trajectories=run)


@pytest.fixture(scope="module")
def loops(graph):
    return find_loops(graph)


def test_every_loop_has_a_definite_polarity(loops):
    assert len(loops) > 100
    for lp in loops:
        assert lp.polarity in ("R", "B") or (lp.polarity == "mixed" and "until week" in lp.description), lp


def test_intended_loops_are_named_with_their_polarity(loops):
    named = {lp.name: lp for lp in loops if lp.name}
    for name, pol in INTENDED.items():
        assert name in named, f"loop {name!r} not found: {loops.notes}"
        assert named[name].polarity == pol, (name, named[name])
    assert not [n for n in loops.notes if "matches no loop" in n or "named as" in n]


def test_stock_links_are_delayed_and_flows_signed(graph):
    assert graph.edge("Resolutions", "Ticket Backlog").polarity == "-"
    assert graph.edge("Ticket Inflow", "Ticket Backlog").polarity == "+"
    assert all(e.delayed for e in graph.causal_edges() if graph.nodes[e.target].kind == "stock")
    assert graph.nodes["Fatigue"].function == "SMOOTH"
    # initial values are not causal links
    e = graph.edge("Initial Problem Sources", "Problem Sources")
    assert e.kind == "initial" and not graph.digraph().has_edge(e.source, e.target)


def test_evaluator_reproduces_every_equation_along_the_run(model, run):
    """The evaluator used for measured polarities (the engine's closures over the run's saved
    times) reproduces every auxiliary along the run, from the IR's whole equations."""
    ir = compile_model(model).ir
    visible = [el for el in ir.elements if not el.hidden]
    env = {el.slot: run[el.name].to_numpy() for el in visible if el.name in run.columns}
    controls = dict(initial_time=model.initial_time, final_time=model.final_time,
                    time_step=model.time_step, saveper=model.saveper)
    ctx = E.EvalContext(env, run.index.to_numpy(), controls)
    checked = 0
    for el in visible:
        e = E.equation(ir, el.slot)
        if isinstance(e, (E.StatefulExpr, Const)) or el.name not in run:
            continue
        ref = run[el.name].to_numpy()
        np.testing.assert_allclose(E.evaluate(e, ctx), ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max(),
                                   err_msg=el.name)
        checked += 1
    assert checked > 50


def test_archetypes_include_shifting_the_burden_and_fixes_that_fail(graph, loops):
    from cxsystems.causal.archetypes import find_archetypes

    rep = find_archetypes(graph, loops)
    by_name = {lp.id: lp.name for lp in loops}
    sb = [a for a in rep.of("shifting the burden")
          if [by_name[i] for i in a.loops[:2]] == ["hire to cover", "firefighting trap"]]
    assert sb, rep.text()
    assert sb[0].role("problem symptom") == ("Ticket Backlog",)
    assert "Prevention Effort" in sb[0].role("fundamental solution")
    assert "capability trap" in sb[0].variant  # pressure squeezes prevention: the loop is R
    ftf = [a for a in rep.of("fixes that fail")
           if [by_name[i] for i in a.loops] == ["cut corners", "rework spiral"]]
    assert ftf, rep.text()
    assert ftf[0].role("fix") == ("Handle Time",)
    assert "Repeat Contacts" in ftf[0].role("unintended consequence")


def test_lint_flags_a_diagram_that_contradicts_the_equations(graph):
    from pathlib import Path

    from cxsystems.causal.cld_format import load_cld
    from cxsystems.causal.linter import lint

    here = Path(__file__).resolve().parents[1] / "models"
    rep = lint(graph, load_cld(here / "causal_cx_wrong.cld"))
    assert not rep.ok
    assert {(f.source, f.target, f.drawn, f.model) for f in rep.of("mismatch")} == {
        ("Work Pressure", "Handle Time", "+", "-"), ("First Contact Resolution", "Repeat Contacts", "+", "-")}
    assert {(f.source, f.target) for f in rep.of("only in diagram")} == {
        ("Customers", "Work Pressure"), ("Hiring", "Fatigue")}
    assert ("Work Pressure", "Fatigue") in {(f.source, f.target) for f in rep.of("only in model")}
    assert [f.source for f in rep.of("unknown variable")] == ["Customrs"]
    assert "closest: 'Customers'" in rep.of("unknown variable")[0].message
    good = lint(graph, load_cld(here / "causal_cx_right.cld"))
    assert good.ok and good.checked == 9 and not good.findings, good.text()


def test_main_view_renders_on_a_slide(model, graph, loops, tmp_path):
    from cxsystems.plotting.cld import labels_outside, overlapping_labels
    from cxsystems.plotting.diagrams import figure, model_diagram, write_diagram

    d = model_diagram(model, graph, loops)  # the "main" view of cx_service.views.toml
    assert d.title.startswith("Customer service")
    assert {m.name for m in d.markers} == set(INTENDED)
    # each drawn loop keeps the model loop's polarity
    for m in d.markers:
        v = m.variables
        neg = sum(d.graph.edge(v[i], v[(i + 1) % len(v)]).polarity == "-" for i in range(len(v)))
        assert ("B" if neg % 2 else "R") == m.polarity == INTENDED[m.name]
    fig = figure(d)
    assert labels_outside(fig) == []
    assert overlapping_labels(fig) == []
    assert write_diagram(d, tmp_path / "main.png").stat().st_size > 20_000
    assert "<svg" in write_diagram(d, tmp_path / "main.svg").read_text()


def test_lint_lists_the_rooms_assumptions_as_information_but_not_a_contradicted_sign(graph):
    """``assumed`` marks a link the room believes: when the model lacks it, lint lists it as
    information (not a disagreement, unless strict); when the model contradicts its sign, it stays a
    mismatch. The mark survives the text round trip."""
    from cxsystems.causal.cld_format import format_cld, parse_cld
    from cxsystems.causal.linter import lint

    text = ("Ticket Backlog -> Work Pressure : +\n"
            "Hiring -> Fatigue : + assumed\n"                    # not in cx_service: information
            "Work Pressure -> Handle Time : + assumed\n")        # cx_service gives -: still a mismatch
    sketch = parse_cld(text, "room")
    assert sketch.assumed == (("Hiring", "Fatigue"), ("Work Pressure", "Handle Time"))
    assert not sketch.edges[("Hiring", "Fatigue")].delayed
    rep = lint(graph, sketch)
    assert [(f.kind, f.source, f.target) for f in rep.findings if f.kind in ("assumed", "mismatch", "only in diagram")] \
        == [("mismatch", "Work Pressure", "Handle Time"), ("assumed", "Hiring", "Fatigue")]
    assert not rep.ok
    assert "info, assumed: Hiring -> Fatigue is drawn + as the room's assumption; cx_service has no such " \
           "influence, so its runs cannot test it" in rep.text()
    fixed = parse_cld(text.replace("Handle Time : +", "Handle Time : -"), "room")
    assert lint(graph, fixed).ok
    assert not lint(graph, fixed, strict=True).ok  # strict: the assumption the model lacks is a disagreement
    assert [f.kind for f in lint(graph, fixed, strict=True).findings if f.source == "Hiring"] == ["only in diagram"]
    again = parse_cld(format_cld(sketch), "room")
    assert again.assumed == sketch.assumed
    with pytest.raises(cx.CxError, match="only 'delay' and 'assumed' may follow"):
        parse_cld("A -> B : + maybe\n", "room")
