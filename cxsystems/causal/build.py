"""Build the signed causal graph of a loaded model from the engine's IR (see
:mod:`cxsystems.causal.graph` for what the graph holds and how polarity is decided).

The model is read through ``compile_model(model).ir``, the representation the engine simulates:
each variable's whole equation (:func:`cxsystems.engine.equations.equation`, hidden slots put back in
place), its kind (stock, flow, auxiliary, constant, lookup) and its dependencies. Nodes are the
model's variables, in model order, with their units and comments; edges are signed by structure
first, then measured along a simulated run where structure does not decide.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..engine import compile_model
from ..engine import equations as E
from ..engine.ir import Op, Ref, norm_name
from ..errors import CxError, UnsupportedConstruct
from . import signs as S
from .graph import CausalGraph, Edge, Node
from .loops import loop_names_for_model
from .polarity import measured_polarity, structural_polarity


def _stock_function(st: E.StatefulExpr) -> str:
    """The Vensim name of a stock's built-in: ``INTEG``, ``SMOOTH``, ``SMOOTH3``, ``DELAY N``..."""
    if st.kind == "smooth":
        if st.order is None:
            return "SMOOTH N"
        return "SMOOTH" if st.order == 1 else f"SMOOTH{st.order:g}"
    if st.kind == "delay":
        return f"DELAY{st.order:g}"
    return {"integ": "INTEG", "delayn": "DELAY N", "delay_fixed": "DELAY FIXED"}.get(st.kind, st.kind.upper())


def _flow_terms(flow, names: E.Names) -> dict[str, str]:
    """Variables that are plain additive terms of a stock's net flow: name -> ``+``/``-``."""
    out: dict[str, str] = {}

    def walk(node, sign: str) -> None:
        other = "-" if sign == "+" else "+"
        if isinstance(node, Ref):
            if node.slot in names.variables:
                out.setdefault(names.variables[node.slot], sign)
        elif isinstance(node, Op) and node.op == "neg":
            walk(node.args[0], other)
        elif isinstance(node, Op) and node.op in ("+", "-"):
            walk(node.args[0], sign)
            walk(node.args[1], sign if node.op == "+" else other)

    walk(flow, "+")
    return out


def _rate_expression(st: E.StatefulExpr):
    """The expression whose sensitivity gives the polarity of links into a stateful variable."""
    if st.kind == "integ":
        return st.arg("flow")
    if st.kind == "smooth":
        # first-order equivalent: d(out)/dt = (input - out) / smooth time
        return Op("/", (Op("-", (st.arg("input"), Ref(st.slot))), st.arg("time")))
    if st.kind in ("delay", "delayn", "trend"):
        # outflow of the delay pipeline ~ input / delay time (TREND: input / average time)
        return Op("/", (st.arg("input"), st.arg("time")))
    return st.arg("input")


def _model_ir(model):
    """The engine's IR of ``model``; constructs the engine cannot read are refused by name."""
    try:
        return compile_model(model).ir
    except CxError as exc:
        text = exc.reason if isinstance(exc, UnsupportedConstruct) else str(exc).removeprefix("engine: ")
        raise CxError(f"{model.name}: cannot analyse: {text}") from None


@dataclass(frozen=True, eq=False)
class _Structure:
    """What the graph reads from the IR alone: each variable's whole equation (``None`` for a
    lookup table), slot, kind, stock function, constant value, dependencies and flow terms."""

    ir: object
    names: E.Names
    exprs: dict
    slot_of: dict
    kind: dict
    function: dict
    consts: dict
    deps: dict
    flows: dict


#: IR structures and their signed edges kept for reuse (see :func:`_decided`).
STRUCTURE_MEMO_SIZE = 8
_STRUCTURE_MEMO: OrderedDict = OrderedDict()


def _held(e) -> bool:
    return isinstance(e, E.StatefulExpr) and e.kind in E.STOCK_KINDS


def _integ(e) -> bool:
    return isinstance(e, E.StatefulExpr) and e.kind == "integ"


def _structure(model, ir) -> _Structure:
    """The :class:`_Structure` of ``model``'s IR."""
    names = E.Names.of(ir)
    slot_of: dict[str, int] = {}
    exprs: dict[str, object] = {}  # name -> whole equation; None for a lookup table
    for name in (c for v in model.variables for c in ir.arrays.get(norm_name(v), [v])):  # per element
        key = norm_name(name)
        if key in ir.by_name:
            slot = ir.by_name[key]
            slot_of[ir.elements[slot].name] = slot
            exprs[ir.elements[slot].name] = E.equation(ir, slot)
        elif key in ir.tables:
            exprs[ir.tables[key].name] = None

    # kinds
    kind: dict[str, str] = {}
    function: dict[str, str] = {}
    consts: dict[str, float] = {}
    for name, e in exprs.items():
        if e is None:
            kind[name] = "lookup"
        elif ir.elements[slot_of[name]].is_param:
            kind[name] = "constant"
            consts[name] = float(e.value)
        elif _held(e):
            kind[name] = "stock"
            function[name] = _stock_function(e)
        else:
            kind[name] = "auxiliary"
    deps = {name: (S.dependencies(e, names) if e is not None else {}) for name, e in exprs.items()}
    flows: dict[str, dict[str, str]] = {}
    for name, e in exprs.items():
        if _integ(e):
            terms = {k: s for k, s in _flow_terms(e.arg("flow"), names).items() if k in exprs}
            flows[name] = terms
            for k in terms:
                if kind.get(k) == "auxiliary":
                    kind[k] = "flow"
    # auxiliaries computed from constants only (and not from time) are constants
    changed = True
    while changed:
        changed = False
        for name, e in exprs.items():
            if kind[name] != "auxiliary":
                continue
            causal = [k for k, how in deps[name].items() if "causal" in how or "table" in how]
            if S.uses_time(e):
                continue
            if all(kind[k] in ("constant", "lookup") for k in causal):
                kind[name] = "constant"
                changed = True
    # values of constants computed from constants only, in dependency order
    pending = [k for k in exprs if kind[k] == "constant" and k not in consts]
    while pending:
        done = [k for k in pending if (v := S.constant_value(exprs[k], consts, names)) is not None
                and not consts.update({k: v})]
        if not done:
            break
        pending = [k for k in pending if k not in consts]
    return _Structure(ir, names, exprs, slot_of, kind, function, consts, deps, flows)


def _decide(st: _Structure, observe) -> tuple[list, dict]:
    """The edges in order, signed by structure where it decides (an :class:`Edge`) or to be
    measured along the run (``(source, target, rate expression, delayed)``), and the answers of
    ``observe(name) -> (sign, reason)`` (a value sign observed along the run) the signs used."""
    exprs, kind, consts, deps, flows, names = st.exprs, st.kind, st.consts, st.deps, st.flows, st.names
    observed: dict[str, tuple[str, str]] = {}
    vs_memo: dict[str, tuple[str, str]] = {}
    in_progress: set[str] = set()

    def value_sign(name: str) -> tuple[str, str]:
        # structure first, then the observed range along the run
        if name in vs_memo:
            return vs_memo[name]
        if name not in exprs or name in in_progress:
            return ("?", "")
        e = exprs[name]
        in_progress.add(name)
        try:
            if kind[name] == "lookup":
                res = ("?", "")
            elif name in consts:
                res = ("+" if consts[name] >= 0 else "-", "")
            elif _integ(e):
                res = ("?", "")
            else:
                res = (S.value_sign(e, sctx), "")
        finally:
            in_progress.discard(name)
        if res[0] == "?" and kind[name] != "lookup":
            got = observe(name)
            observed[name] = got
            if got[0] != "?":
                res = got
        vs_memo[name] = res
        return res

    sctx = S.SignContext(value_sign=value_sign, names=names, constants=consts)
    edges: list = []
    for target, e in exprs.items():
        stateful = _held(e)
        rate = _rate_expression(e) if stateful else e
        for source, how in deps[target].items():
            if source == target and not _integ(e):
                continue  # a SMOOTH/DELAY's own state is not a visible link
            if "causal" in how:
                ekind = "causal"
            elif "table" in how:
                edges.append(Edge(source, target, "?", "lookup table called as a function", False, "table", "structure"))
                continue
            else:
                ekind = "initial"
            if ekind == "initial":
                edges.append(Edge(source, target, "?", "initial value only (not a causal link)", stateful, "initial",
                                  "structure"))
                continue
            delayed = stateful
            if _integ(e) and source in flows.get(target, {}):
                sign = flows[target][source]
                # a plain flow term: inflow + / outflow -, unless it also appears elsewhere
                s, notes = structural_polarity(rate, source, sctx)
                if s == sign:
                    edges.append(Edge(source, target, sign,
                                      "inflow of the stock" if sign == "+" else "outflow of the stock",
                                      True, "causal", "structure"))
                    continue
            if stateful and not _integ(e) and source in S.reads(e.arg("input"), names):
                s, notes = structural_polarity(e.arg("input"), source, sctx)
                if s in "+-":
                    what = _stock_function(e)
                    edges.append(Edge(source, target, s, f"input of {what}" + (f"; {notes}" if notes else ""),
                                      True, "causal", "structure"))
                    continue
            if rate is None:
                edges.append(Edge(source, target, "?", "construct not analysed", delayed))
                continue
            s, notes = structural_polarity(rate, source, sctx)
            if s in "+-":
                prefix = "rate of change: " if _integ(e) else ""
                reason = prefix + ("structure" + (f": {notes}" if notes else ""))
                edges.append(Edge(source, target, s, reason, delayed, "causal", "structure"))
                continue
            edges.append((source, target, rate, delayed))
    return edges, observed


def _decided(model, ir, observe) -> tuple[_Structure, list]:
    """:func:`_structure` and :func:`_decide`, memoised: the edges a structure's signs decide are
    reused while every value sign they observed along the run is observed again the same (the
    derivation is a pure function of the IR and of those answers); at most
    :data:`STRUCTURE_MEMO_SIZE` structures are kept."""
    key = (id(ir), tuple(model.variables))
    entry = _STRUCTURE_MEMO.get(key)
    if entry is not None and entry[0].ir is ir:
        _STRUCTURE_MEMO.move_to_end(key)
        st, edges, observed = entry
        if all(observe(name) == got for name, got in observed.items()):
            return st, edges
    else:
        st = _structure(model, ir)
    edges, observed = _decide(st, observe)
    _STRUCTURE_MEMO[key] = (st, edges, observed)
    while len(_STRUCTURE_MEMO) > STRUCTURE_MEMO_SIZE:
        _STRUCTURE_MEMO.popitem(last=False)
    return st, edges


def model_graph(model, *, trajectories=None, scenario=None) -> CausalGraph:
    """The signed causal graph of a loaded :class:`cxsystems.Model`.

    Polarity comes from the equation's structure where that decides it; otherwise the partial
    derivative is measured along the simulated run of ``scenario`` (default baseline), given as
    ``trajectories`` (a :func:`cxsystems.simulate` DataFrame) or simulated once here with the fast
    engine. Nothing from the model text is executed: the engine's IR is read as data. What the
    structure decides is memoised per IR (:func:`_decided`); what is measured is measured anew.

    Raises:
        CxError: the model uses subscripts or constructs that cannot be analysed.
    """
    ir = _model_ir(model)

    # trajectories, only if some sign needs measuring
    state = {"traj": trajectories}

    def traj():
        if state["traj"] is None:
            from ..simulation import simulate

            state["traj"] = simulate(model, scenario)
        return state["traj"]

    def observe(name: str) -> tuple[str, str]:
        df = traj()
        if name in df.columns:
            v = df[name].to_numpy(dtype=float)
            if np.all(v >= 0):
                return ("+", f"{name!r} observed >= 0 along the run")
            if np.all(v <= 0):
                return ("-", f"{name!r} observed <= 0 along the run")
        return ("?", "")

    st, decided = _decided(model, ir, observe)
    slot_of, names = st.slot_of, st.names

    def env_ctx():
        df = traj()
        env = {slot: df[name].to_numpy(dtype=float) for name, slot in slot_of.items() if name in df.columns}
        controls = dict(initial_time=float(model.initial_time), final_time=float(model.final_time),
                        time_step=float(model.time_step), saveper=float(model.saveper))
        return E.EvalContext(env, df.index.to_numpy(dtype=float), controls, dict(names.variables))

    nodes = {name: Node(name, st.kind[name], (model.units.get(name) or "").strip(),
                        " ".join((model.comments.get(name) or "").split()), st.function.get(name, ""))
             for name in st.exprs}

    edges: dict[tuple[str, str], Edge] = {}
    ectx = None
    for item in decided:
        if isinstance(item, Edge):
            edges[(item.source, item.target)] = item
            continue
        source, target, rate, delayed = item
        if ectx is None:
            ectx = env_ctx()
        if slot_of.get(source) not in ectx.env:
            edges[(source, target)] = Edge(source, target, "?", "no trajectory to measure along", delayed)
            continue
        m = measured_polarity(rate, slot_of[source], ectx)
        edges[(source, target)] = Edge(source, target, m.polarity, m.reason, delayed, "causal",
                                       "simulation", m.segments)

    times = tuple(float(t) for t in traj().index) if state["traj"] is not None else ()
    return CausalGraph(name=model.name, nodes=nodes, edges=edges, origin="model", times=times,
                       loop_names=loop_names_for_model(model), title=model.name,
                       source_file=str(model.path))
