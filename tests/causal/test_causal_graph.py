"""Signed causal graph: kinds, structural polarity, measured polarity, initial-only links."""

from pathlib import Path

import numpy as np
import pytest
from pysd.translators.structures import abstract_expressions as ae

import cxsystems as cx
from cxsystems.causal import expr as X
from cxsystems.causal import model_graph
from cxsystems.simulation import simulate

MODELS = Path(__file__).resolve().parents[1] / "models"


def ref(name):
    return ae.ReferenceStructure(X.ref_key(name))


def arith(ops, *args):
    return ae.ArithmeticStructure(list(ops), tuple(args))


def call(f, *args):
    return ae.CallStructure(ae.ReferenceStructure(f), tuple(args))


def ctx(signs=None, lookups=None):
    signs = signs or {}
    return X.SignContext(value_sign=lambda k: (signs.get(k, "?"), ""), lookups=lookups or {})


@pytest.fixture(scope="module")
def logistic():
    return cx.load_model(MODELS / "causal_logistic.mdl")


def test_logistic_nodes_and_edges(logistic):
    g = model_graph(logistic)
    kinds = {n: node.kind for n, node in g.nodes.items()}
    assert kinds == {"Population": "stock", "Net Growth": "flow", "Room to Grow": "auxiliary",
                     "Growth Rate": "constant", "Carrying Capacity": "constant"}
    pol = {(e.source, e.target): (e.polarity, e.delayed) for e in g.causal_edges()}
    assert pol[("Net Growth", "Population")] == ("+", True)
    assert pol[("Population", "Net Growth")] == ("+", False)
    assert pol[("Population", "Room to Grow")] == ("-", False)
    assert pol[("Room to Grow", "Net Growth")] == ("+", False)
    assert pol[("Carrying Capacity", "Room to Grow")] == ("+", False)
    assert g.edge("Net Growth", "Population").reason == "inflow of the stock"
    assert all(e.method == "structure" for e in g.causal_edges())
    # the initial value 10 is a number: no initial-only edge; no unknown polarity anywhere
    assert g.polarity_summary()["?"] == 0


def test_mixed_link_measured_with_the_week_it_changes_sign():
    m = cx.load_model(MODELS / "causal_logistic_onestock.mdl")
    df = simulate(m)
    g = model_graph(m, trajectories=df)
    e = g.edge("Population", "Net Growth")
    assert e.polarity == "mixed" and e.method == "simulation"
    # d/dP of r P (1 - P/K) = r (1 - 2P/K): + while P < K/2, then -
    first_above = float(df.index[np.argmax(df["Population"].to_numpy() > 500)])
    assert e.segments[0][2] == "+" and e.segments[-1][2] == "-"
    assert e.segments[0][1] == pytest.approx(first_above)
    assert e.sign_at(first_above - 1) == "+" and e.sign_at(first_above + 1) == "-"


def test_outflow_negative_and_initial_only_links_are_not_causal():
    m = cx.load_model(MODELS / "causal_arms_race.mdl")
    g = model_graph(m)
    assert g.edge("Change in A", "Arms A").polarity == "+"
    assert g.edge("Arms A", "Change in A").polarity == "-"
    assert g.nodes["Arms A"].function == "INTEG"
    assert g.nodes["Change in A"].kind == "flow"


def test_structural_signs_of_constructs():
    a, b, c = ref("a"), ref("b"), ref("c")
    pos = ctx({"a": "+", "b": "+", "c": "+"})
    assert X.derivative_sign(arith("-", a, b), "b", pos) == "-"
    assert X.derivative_sign(arith("/", a, b), "b", pos) == "-"
    assert X.derivative_sign(arith("*/", a, b, c), "c", pos) == "-"
    # a quotient by a factor of unknown sign is undecided
    assert X.derivative_sign(arith("/", a, b), "b", ctx({"a": "?", "b": "+"})) == "?"
    assert X.derivative_sign(call("min", a, arith(["negative"], b)), "b", pos) == "-"
    assert X.derivative_sign(call("max", 0, arith("-", a, b)), "a", pos) == "+"
    # IF THEN ELSE: branches agree -> decided; variable in the condition -> undecided
    ite = call("if_then_else", ae.LogicStructure([">"], (c, 1)), arith("*", 2, a), a)
    assert X.derivative_sign(ite, "a", pos) == "+"
    assert X.derivative_sign(ite, "c", pos) == "?"
    # lookup tables: decreasing flips the sign, non-monotone is undecided
    luts = {"down": ((0, 1, 2), (3, 2, 1)), "hump": ((0, 1, 2), (0, 1, 0))}
    lctx = ctx({"a": "+"}, luts)
    assert X.derivative_sign(call("down", a), "a", lctx) == "-"
    assert X.derivative_sign(call("down", arith(["negative"], a)), "a", lctx) == "+"
    assert X.derivative_sign(call("hump", a), "a", lctx) == "?"
    assert X.derivative_sign(call("xidz", a, b, 5), "b", pos) == "-"
    assert X.derivative_sign(arith("^", a, 2), "a", pos) == "+"
    assert X.derivative_sign(arith("^", a, -1), "a", pos) == "-"


def test_dependencies_separate_initial_and_table_uses():
    names = {"s": "S", "f": "F", "i": "I", "t": "T", "x": "X"}
    integ = ae.IntegStructure(arith("-", ref("f"), call("t", ref("x"))), ref("i"))
    deps = X.dependencies(integ, names)
    assert deps == {"f": {"causal"}, "t": {"table"}, "x": {"causal"}, "i": {"initial"}}
    init = arith("+", ref("x"), ae.InitialStructure(ref("i")))
    assert X.dependencies(init, names) == {"x": {"causal"}, "i": {"initial"}}


def test_evaluator_functions():
    t = np.arange(0.0, 5.0)
    c = X.EvalContext({"a": t * 1.0, "b": np.array([0.0, 1, 2, 0, 4])}, {"l": ((0, 4), (0, 8))}, t, 0.5)
    np.testing.assert_allclose(X.evaluate(call("xidz", ref("a"), ref("b"), 7), c), [7, 1, 1, 7, 1])
    np.testing.assert_allclose(X.evaluate(call("zidz", ref("a"), ref("b")), c), [0, 1, 1, 0, 1])
    np.testing.assert_allclose(X.evaluate(call("step", 2, 2), c), [0, 0, 2, 2, 2])
    np.testing.assert_allclose(X.evaluate(call("pulse", 1, 2), c), [0, 1, 1, 0, 0])
    np.testing.assert_allclose(X.evaluate(call("ramp", 1, 1, 3), c), [0, 0, 1, 2, 2])
    np.testing.assert_allclose(X.evaluate(call("l", ref("a")), c), [0, 2, 4, 6, 8])
    cond = ae.LogicStructure([">", ":AND:"], (ref("a"), 1, 1))
    np.testing.assert_allclose(X.evaluate(call("if_then_else", cond, 1, -1), c), [-1, -1, 1, 1, 1])
    with pytest.raises(X.Unsupported):
        X.evaluate(call("random_uniform", 0, 1, 0), c)


def test_graph_building_never_runs_eval_or_exec(logistic, monkeypatch):
    import builtins

    def refuse(*a, **k):
        raise AssertionError("eval/exec called")

    df = simulate(logistic)
    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    g = model_graph(logistic, trajectories=df)
    assert len(g.causal_edges()) == 6


def test_unknown_variable_names_get_suggestions(logistic):
    g = model_graph(logistic)
    assert g.node_name("room_to_grow") == "Room to Grow"
    with pytest.raises(cx.CxError, match="closest: 'Population'"):
        g.node_name("Populaton")
