"""Signed causal graph: kinds, structural polarity, measured polarity, initial-only links.

The unit tests of :mod:`cxsystems.causal.signs` and :mod:`cxsystems.engine.equations` feed them the engine's IR nodes, as the graph builder does.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
from conftest import write_mdl

import cxsystems as cx
from cxsystems.causal import model_graph
from cxsystems.causal import signs as S
from cxsystems.engine import compile_model
from cxsystems.engine import equations as E
from cxsystems.engine.ir import Call, Const, Lookup, LookupTable, Op, Ref
from cxsystems.simulation import simulate

MODELS = Path(__file__).resolve().parents[1] / "models"
CAUSAL = Path(S.__file__).resolve().parent

#: Slots of the variables the unit tests name.
SLOTS = {"a": 0, "b": 1, "c": 2, "s": 3, "f": 4, "i": 5, "x": 6}


def ref(name):
    return Ref(SLOTS[name])


def num(x):
    return Const(float(x))


def names(*tables):
    return E.Names({slot: name for name, slot in SLOTS.items()}, {t.name: t for t in tables})


def ctx(signs=None, tables=()):
    signs = signs or {}
    return S.SignContext(value_sign=lambda k: (signs.get(k, "?"), ""), names=names(*tables))


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
    assert S.derivative_sign(Op("-", (a, b)), "b", pos) == "-"
    assert S.derivative_sign(Op("/", (a, b)), "b", pos) == "-"
    assert S.derivative_sign(Op("/", (Op("*", (a, b)), c)), "c", pos) == "-"
    # a quotient by a factor of unknown sign is undecided
    assert S.derivative_sign(Op("/", (a, b)), "b", ctx({"a": "?", "b": "+"})) == "?"
    assert S.derivative_sign(Call("min", (a, Op("neg", (b,)))), "b", pos) == "-"
    assert S.derivative_sign(Call("max", (num(0), Op("-", (a, b)))), "a", pos) == "+"
    # IF THEN ELSE: branches agree -> decided; variable in the condition -> undecided
    ite = Call("if_then_else", (Op(">", (c, num(1))), Op("*", (num(2), a)), a))
    assert S.derivative_sign(ite, "a", pos) == "+"
    assert S.derivative_sign(ite, "c", pos) == "?"
    # lookup tables: decreasing flips the sign, non-monotone is undecided
    down = LookupTable("down", (0.0, 1.0, 2.0), (3.0, 2.0, 1.0))
    hump = LookupTable("hump", (0.0, 1.0, 2.0), (0.0, 1.0, 0.0))
    lctx = ctx({"a": "+"}, (down, hump))
    assert S.derivative_sign(Lookup(down, a), "a", lctx) == "-"
    assert S.derivative_sign(Lookup(down, Op("neg", (a,))), "a", lctx) == "+"
    assert S.derivative_sign(Lookup(hump, a), "a", lctx) == "?"
    assert S.derivative_sign(Call("xidz", (a, b, num(5))), "b", pos) == "-"
    assert S.derivative_sign(Op("^", (a, num(2))), "a", pos) == "+"
    assert S.derivative_sign(Op("^", (a, num(-1))), "a", pos) == "-"


def test_dependencies_separate_initial_and_table_uses():
    t = LookupTable("t", (0.0, 1.0), (0.0, 1.0))
    integ = E.StatefulExpr("integ", (("flow", Op("-", (ref("f"), Lookup(t, ref("x"))))), ("initial", ref("i"))),
                           None, SLOTS["s"])
    deps = S.dependencies(integ, names(t))
    assert deps == {"f": {"causal"}, "t": {"table"}, "x": {"causal"}, "i": {"initial"}}
    init = Op("+", (ref("x"), E.StatefulExpr("initial", (("initial", ref("i")),), None, 99)))
    assert S.dependencies(init, names(t)) == {"x": {"causal"}, "i": {"initial"}}


def test_hidden_slots_map_back_to_model_variables():
    """The engine lifts stateful arguments and nested statefuls into hidden slots; the graph sees
    whole equations over the model's variables only."""
    m = cx.load_model(MODELS / "engine_statefuls.mdl")
    ir = compile_model(m).ir
    assert any(el.hidden for el in ir.elements)

    def refs(e):
        if isinstance(e, Ref):
            yield e.slot
        subs = {Op: lambda n: n.args, Call: lambda n: n.args, Lookup: lambda n: (n.arg,),
                E.StatefulExpr: lambda n: [sub for _, sub in n.args]}.get(type(e), lambda n: ())(e)
        for c in subs:
            yield from refs(c)

    for el in ir.elements:
        if not el.hidden:
            assert all(not ir.elements[s].hidden for s in refs(E.equation(ir, el.slot))), el.name
    g = model_graph(m)
    assert list(g.nodes) == [v for v in m.variables]
    assert {e.source for e in g.edges.values()} | {e.target for e in g.edges.values()} <= set(m.variables)
    assert {(e.source, e.polarity) for e in g.edges.values() if e.target == "Nested"} == {
        ("Input", "+"), ("Outflow", "+")}
    assert {(e.source, e.reason) for e in g.edges.values() if e.target == "Smooth Chain"} == {
        ("Smooth3", "input of SMOOTH"), ("Nested", "input of SMOOTH")}
    assert g.edge("Input", "Initial Input").kind == "initial"
    assert g.nodes["Smoothn"].function == "SMOOTH N" and g.nodes["Delay3i"].function == "DELAY3"


def test_evaluator_functions():
    t = np.arange(0.0, 5.0)
    c = E.EvalContext({SLOTS["a"]: t * 1.0, SLOTS["b"]: np.array([0.0, 1, 2, 0, 4])}, t, {"time_step": 0.5})
    a, b = ref("a"), ref("b")
    np.testing.assert_allclose(E.evaluate(Call("xidz", (a, b, num(7))), c), [7, 1, 1, 7, 1])
    np.testing.assert_allclose(E.evaluate(Call("zidz", (a, b)), c), [0, 1, 1, 0, 1])
    np.testing.assert_allclose(E.evaluate(Call("step", (num(2), num(2))), c), [0, 0, 2, 2, 2])
    np.testing.assert_allclose(E.evaluate(Call("pulse", (num(1), num(2))), c), [0, 1, 1, 0, 0])
    np.testing.assert_allclose(E.evaluate(Call("ramp", (num(1), num(1), num(3))), c), [0, 0, 1, 2, 2])
    np.testing.assert_allclose(E.evaluate(Lookup(LookupTable("l", (0.0, 4.0), (0.0, 8.0)), a), c), [0, 2, 4, 6, 8])
    cond = Op("and", (Op(">", (a, num(1))), num(1)))
    np.testing.assert_allclose(E.evaluate(Call("if_then_else", (cond, num(1), num(-1))), c), [-1, -1, 1, 1, 1])
    with pytest.raises(E.Unsupported):
        E.evaluate(Call("random_uniform", (num(0), num(1), num(0))), c)


def test_no_causal_module_imports_pysd():
    """Causal analysis reads the engine's IR only: no module of cxsystems.causal imports PySD,
    not even inside a function."""
    files = sorted(CAUSAL.rglob("*.py"))
    assert {"build.py", "signs.py", "polarity.py"} <= {f.name for f in files}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                mods = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            else:
                continue
            assert not [m for m in mods if m.split(".")[0] == "pysd"], f"{path.name} imports {mods}"


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


def test_signs_the_structure_decides_are_reused_only_while_the_observed_signs_agree(tmp_path):
    # d(a * b)/db has the sign of a, which the structure leaves open and the run decides: a second
    # graph reuses the structure's signs (memo) only if a keeps its observed sign
    from cxsystems.causal import build as B

    path = write_mdl(tmp_path, "a = Time - 5\n\t~\t~\t|\nb = INTEG(z, 1)\n\t~\t~\t|\nz = a * b\n\t~\t~\t|\n",
                     final=4)
    m = cx.load_model(path)
    run = simulate(m)
    flipped = run.copy()
    flipped["a"] = -flipped["a"]

    def signs(g):
        return {k: (e.polarity, e.reason) for k, e in g.edges.items()}

    B._STRUCTURE_MEMO.clear()
    first = signs(model_graph(m, trajectories=run))
    assert first[("b", "z")] == ("-", "structure: 'a' observed <= 0 along the run")
    again = signs(model_graph(m, trajectories=run))  # a memo hit
    assert again == first and len(B._STRUCTURE_MEMO) == 1
    other = signs(model_graph(m, trajectories=flipped))
    assert other[("b", "z")] == ("+", "structure: 'a' observed >= 0 along the run")
    B._STRUCTURE_MEMO.clear()
    assert signs(model_graph(m, trajectories=flipped)) == other  # as without the memo
