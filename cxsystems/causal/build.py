"""Build the signed causal graph of a loaded model (see :mod:`cxsystems.causal.graph` for what the
graph holds and how polarity is decided)."""

from __future__ import annotations

import numpy as np

from ..errors import CxError
from . import expr as X
from .graph import CausalGraph, Edge, Node
from .loops import loop_names_for_model
from .polarity import measured_polarity, structural_polarity

_CONTROL = ("initial_time", "final_time", "time_step", "saveper")


def _stock_function(ast) -> str:
    from pysd.translators.structures import abstract_expressions as ae

    if isinstance(ast, ae.IntegStructure):
        return "INTEG"
    if isinstance(ast, ae.SmoothStructure):
        return "SMOOTH" if ast.order == 1 else f"SMOOTH{ast.order:g}"
    if isinstance(ast, ae.SmoothNStructure):
        return "SMOOTH N"
    if isinstance(ast, ae.DelayStructure):
        return f"DELAY{ast.order:g}"
    if isinstance(ast, ae.DelayNStructure):
        return "DELAY N"
    if isinstance(ast, ae.DelayFixedStructure):
        return "DELAY FIXED"
    return type(ast).__name__.replace("Structure", "").upper()


def _flow_terms(flow) -> dict[str, str]:
    """Reference keys that are plain additive terms of a stock's net flow: key -> ``+``/``-``."""
    from pysd.translators.structures import abstract_expressions as ae

    out: dict[str, str] = {}

    def walk(node, sign: str) -> None:
        if isinstance(node, ae.ReferenceStructure):
            out.setdefault(node.reference, sign)
        elif isinstance(node, ae.ArithmeticStructure):
            ops = list(node.operators)
            if ops == ["negative"]:
                walk(node.arguments[0], "-" if sign == "+" else "+")
            elif ops and ops[0] in "+-":
                walk(node.arguments[0], sign)
                for op, a in zip(ops, node.arguments[1:]):
                    walk(a, sign if op == "+" else ("-" if sign == "+" else "+"))

    walk(flow, "+")
    return out


def _rate_expression(ast, self_key: str):
    """The expression whose sensitivity gives the polarity of links into a stateful variable."""
    from pysd.translators.structures import abstract_expressions as ae

    if isinstance(ast, ae.IntegStructure):
        return ast.flow
    if isinstance(ast, (ae.SmoothStructure, ae.SmoothNStructure)):
        # first-order equivalent: d(out)/dt = (input - out) / smooth time
        return ae.ArithmeticStructure(["/"], (
            ae.ArithmeticStructure(["-"], (ast.input, ae.ReferenceStructure(self_key))),
            ast.smooth_time))
    if isinstance(ast, (ae.DelayStructure, ae.DelayNStructure)):
        # outflow of the delay pipeline ~ input / delay time
        return ae.ArithmeticStructure(["/"], (ast.input, ast.delay_time))
    if isinstance(ast, ae.TrendStructure):
        return ae.ArithmeticStructure(["/"], (ast.input, ast.average_time))
    return getattr(ast, "input", None)


def model_graph(model, *, trajectories=None, scenario=None) -> CausalGraph:
    """The signed causal graph of a loaded :class:`cxsystems.Model`.

    Polarity comes from the equation's structure where that decides it; otherwise the partial
    derivative is measured along the simulated run of ``scenario`` (default baseline), given as
    ``trajectories`` (a :func:`cxsystems.simulate` DataFrame) or simulated once here with the fast
    engine. Nothing from the model text is executed: PySD's parsed expression trees are read as data.

    Raises:
        CxError: the model uses subscripts or constructs that cannot be analysed.
    """
    from pysd.translators.structures import abstract_expressions as ae


    elements = []
    for section in model.abstract_model.sections:
        if not section.split and section.name != "__main__":
            continue
        for el in section.elements:
            if X.ref_key(el.name) in _CONTROL:
                continue
            if len(el.components) != 1:
                raise CxError(f"{model.name}: {el.name!r} has subscripts or several equations; not supported")
            elements.append(el)
    names = {X.ref_key(el.name): el.name for el in elements}
    asts = {X.ref_key(el.name): el.components[0].ast for el in elements}

    # kinds
    kind: dict[str, str] = {}
    function: dict[str, str] = {}
    lookups: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for key, ast in asts.items():
        if isinstance(ast, ae.LookupsStructure):
            kind[key] = "lookup"
            lookups[key] = (tuple(float(v) for v in ast.x), tuple(float(v) for v in ast.y))
        elif X._is_number(ast):
            kind[key] = "constant"
        elif isinstance(ast, X.STATEFUL):
            kind[key] = "stock"
            function[key] = _stock_function(ast)
        elif isinstance(ast, (ae.DataStructure, ae.GetDataStructure, ae.GetLookupsStructure,
                              ae.GetConstantsStructure)):
            raise CxError(f"{model.name}: {names[key]!r} reads external data; not supported")
        else:
            kind[key] = "auxiliary"
    deps = {key: X.dependencies(ast, names) for key, ast in asts.items()}
    flows: dict[str, dict[str, str]] = {}
    for key, ast in asts.items():
        if isinstance(ast, ae.IntegStructure):
            terms = {k: s for k, s in _flow_terms(ast.flow).items() if k in names}
            flows[key] = terms
            for k in terms:
                if kind.get(k) == "auxiliary":
                    kind[k] = "flow"
    # auxiliaries computed from constants only (and not from time) are constants
    changed = True
    while changed:
        changed = False
        for key, ast in asts.items():
            if kind[key] != "auxiliary":
                continue
            causal = [k for k, how in deps[key].items() if "causal" in how or "table" in how]
            if X.TIME_FUNCTIONS & X.references(ast):
                continue
            if all(kind[k] in ("constant", "lookup") for k in causal):
                kind[key] = "constant"
                changed = True

    # trajectories, only if some sign needs measuring
    state = {"traj": trajectories}

    def traj():
        if state["traj"] is None:
            from ..simulation import simulate

            state["traj"] = simulate(model, scenario)
        return state["traj"]

    def env_ctx():
        df = traj()
        env = {}
        for key, name in names.items():
            if name in df.columns:
                env[key] = df[name].to_numpy(dtype=float)
        return X.EvalContext(env, lookups, df.index.to_numpy(dtype=float), float(model.time_step))

    # value signs: structure first, then the observed range along the run
    vs_memo: dict[str, tuple[str, str]] = {}
    in_progress: set[str] = set()

    def value_sign(key: str) -> tuple[str, str]:
        if key in vs_memo:
            return vs_memo[key]
        if key not in asts or key in in_progress:
            return ("?", "")
        ast = asts[key]
        in_progress.add(key)
        try:
            if kind[key] == "lookup":
                res = ("?", "")
            elif key in consts:
                res = ("+" if consts[key] >= 0 else "-", "")
            elif isinstance(ast, ae.IntegStructure):
                res = ("?", "")
            else:
                res = (X.value_sign(ast, sctx), "")
        finally:
            in_progress.discard(key)
        if res[0] == "?" and kind[key] != "lookup" and state.get("allow_observed", True):
            df = traj()
            name = names[key]
            if name in df.columns:
                v = df[name].to_numpy(dtype=float)
                if np.all(v >= 0):
                    res = ("+", f"{name!r} observed >= 0 along the run")
                elif np.all(v <= 0):
                    res = ("-", f"{name!r} observed <= 0 along the run")
        vs_memo[key] = res
        return res

    # values of constants (literal and computed from constants only), in dependency order
    consts: dict[str, float] = {k: float(a) for k, a in asts.items() if X._is_number(a)}
    pending = [k for k in asts if kind[k] == "constant" and k not in consts]
    while pending:
        done = [k for k in pending if (v := X.constant_value(asts[k], consts, lookups)) is not None
                and not consts.update({k: v})]
        if not done:
            break
        pending = [k for k in pending if k not in consts]
    sctx = X.SignContext(value_sign=value_sign, lookups=lookups, names=names, constants=consts)

    nodes = {}
    for el in elements:
        key = X.ref_key(el.name)
        nodes[el.name] = Node(el.name, kind[key], (el.units or "").strip(),
                              " ".join((el.documentation or "").split()), function.get(key, ""))

    edges: dict[tuple[str, str], Edge] = {}
    ectx = None
    for tkey, ast in asts.items():
        target = names[tkey]
        stateful = isinstance(ast, X.STATEFUL)
        rate = _rate_expression(ast, tkey) if stateful else ast
        for skey, how in deps[tkey].items():
            source = names[skey]
            if skey == tkey and not isinstance(ast, ae.IntegStructure):
                continue  # a SMOOTH/DELAY's own state is not a visible link
            if "causal" in how:
                ekind = "causal"
            elif "table" in how:
                edges[(source, target)] = Edge(source, target, "?", "lookup table called as a function",
                                               False, "table", "structure")
                continue
            else:
                ekind = "initial"
            if ekind == "initial":
                edges[(source, target)] = Edge(source, target, "?", "initial value only (not a causal link)",
                                               stateful, "initial", "structure")
                continue
            delayed = stateful
            if isinstance(ast, ae.IntegStructure) and skey in flows.get(tkey, {}):
                sign = flows[tkey][skey]
                # a plain flow term: inflow + / outflow -, unless it also appears elsewhere
                s, notes = structural_polarity(rate, skey, sctx)
                if s == sign:
                    edges[(source, target)] = Edge(source, target, sign,
                                                   "inflow of the stock" if sign == "+" else "outflow of the stock",
                                                   True, "causal", "structure")
                    continue
            if stateful and not isinstance(ast, ae.IntegStructure) and skey in X.references(ast.input) \
                    and not isinstance(ast, ae.SampleIfTrueStructure):
                s, notes = structural_polarity(ast.input, skey, sctx)
                if s in "+-":
                    what = _stock_function(ast)
                    edges[(source, target)] = Edge(source, target, s, f"input of {what}" + (f"; {notes}" if notes else ""),
                                                   True, "causal", "structure")
                    continue
            if rate is None:
                edges[(source, target)] = Edge(source, target, "?", "construct not analysed", delayed)
                continue
            s, notes = structural_polarity(rate, skey, sctx)
            if s in "+-":
                prefix = "rate of change: " if isinstance(ast, ae.IntegStructure) else ""
                reason = prefix + ("structure" + (f": {notes}" if notes else ""))
                edges[(source, target)] = Edge(source, target, s, reason, delayed, "causal", "structure")
                continue
            if ectx is None:
                ectx = env_ctx()
            if skey not in ectx.env:
                edges[(source, target)] = Edge(source, target, "?", "no trajectory to measure along", delayed)
                continue
            m = measured_polarity(rate, skey, ectx)
            edges[(source, target)] = Edge(source, target, m.polarity, m.reason, delayed, "causal",
                                           "simulation", m.segments)

    times = tuple(float(t) for t in traj().index) if state["traj"] is not None else ()
    return CausalGraph(name=model.name, nodes=nodes, edges=edges, origin="model", times=times,
                       loop_names=loop_names_for_model(model), title=model.name,
                       source_file=str(model.path))
