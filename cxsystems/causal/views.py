"""Views: the variables of a model worth showing, with hidden ones collapsed into signed links.

A view file ``<model>.views.toml`` beside the model names views::

    [view.main]
    title = "Why reactive fixes fail"
    variables = ["Ticket Backlog", "Work Pressure", "Handle Time", ...]
    # optional: which named loops (or loop ids) to draw; default every named loop
    loops = ["hire to cover", "cut corners"]
    # optional hand layout, any units (x to the right, y up); unlisted variables are placed automatically
    positions = { "Ticket Backlog" = [0, 0], "Work Pressure" = [2, 1] }

:func:`collapse` keeps the named variables; every path between two kept variables whose inner
variables are all hidden becomes one link whose polarity is the product of the signs along it
decided by the shortest hidden paths (``"?"`` with a reason when those disagree in sign). The link is
delayed when every shortest hidden path has a delayed link.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import CxError
from ..files import read_toml
from .graph import CausalGraph, Edge

#: At most this many hidden paths are followed per pair of kept variables.
MAX_PATHS = 200
#: Hidden paths longer than this many variables are not followed.
MAX_HIDDEN = 14


@dataclass(frozen=True)
class View:
    """A named selection of variables (and optional positions and loops) for diagrams.

    ``loops`` names the model loops (by name or id) drawn in the view; empty = every named loop,
    or every link between the variables (:func:`collapse`) if the model names no loop.
    """

    name: str
    variables: tuple[str, ...]
    title: str = ""
    positions: tuple[tuple[str, tuple[float, float]], ...] = ()
    loops: tuple[str, ...] = ()


def load_views(path: str | Path) -> dict[str, View]:
    """Read ``[view.NAME]`` tables from a TOML file."""
    p = Path(path)
    data = read_toml(p)
    views = {}
    for name, v in (data.get("view") or {}).items():
        where = f"{p}: view {name!r}"
        if not isinstance(v, dict):
            raise CxError(f"{where}: must be a table")
        unknown = set(v) - {"title", "variables", "positions", "loops"}
        if unknown:
            raise CxError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        vars_ = v.get("variables")
        if not isinstance(vars_, list) or len(vars_) < 2 or not all(isinstance(x, str) for x in vars_):
            raise CxError(f"{where}: 'variables' must list at least two variable names")
        pos = v.get("positions", {})
        if not isinstance(pos, dict):
            raise CxError(f"{where}: 'positions' must be a table of name = [x, y]")
        positions = []
        for k, xy in pos.items():
            if (not isinstance(xy, list) or len(xy) != 2
                    or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in xy)):
                raise CxError(f"{where}: position of {k!r} must be [x, y] numbers")
            positions.append((k, (float(xy[0]), float(xy[1]))))
        loops = v.get("loops", [])
        if not isinstance(loops, list) or not all(isinstance(x, str) for x in loops):
            raise CxError(f"{where}: 'loops' must list loop names or ids")
        views[name] = View(name, tuple(vars_), str(v.get("title", "")), tuple(positions), tuple(loops))
    return views


def views_for_model(model) -> dict[str, View]:
    """Views from ``<model>.views.toml`` beside the model file (empty if there is none)."""
    path = Path(model.path).with_name(f"{Path(model.path).stem}.views.toml")
    return load_views(path) if path.is_file() else {}


def resolve_view(graph: CausalGraph, view: View) -> View:
    """The view with variable names spelled as in ``graph`` (CxError naming unknown ones)."""
    names = tuple(graph.node_name(v, f"view {view.name!r}") for v in view.variables)
    pos = tuple((graph.node_name(k, f"view {view.name!r} positions"), xy) for k, xy in view.positions)
    missing = [k for k, _ in pos if k not in names]
    if missing:
        raise CxError(f"view {view.name!r}: position given for {missing[0]!r}, which is not in 'variables'")
    return View(view.name, names, view.title, pos, view.loops)


def _path_polarity(graph: CausalGraph, path: tuple[str, ...]) -> str:
    neg = 0
    for a, b in zip(path, path[1:]):
        p = graph.edges[(a, b)].polarity
        if p in ("?", "0"):
            return "?"
        if p == "mixed":
            return "mixed"
        neg += p == "-"
    return "-" if neg % 2 else "+"


def hidden_paths(graph: CausalGraph, keep: set[str], *, max_paths: int = MAX_PATHS,
                 max_hidden: int = MAX_HIDDEN) -> dict[tuple[str, str], list[tuple[str, ...]]]:
    """``(u, v) -> [paths u, h1, ..., hk, v]`` for kept u, v (u may equal v) whose inner nodes are hidden."""
    succ: dict[str, list[str]] = {}
    for e in graph.causal_edges():
        succ.setdefault(e.source, []).append(e.target)
    out: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for u in keep:
        stack: list[tuple[str, tuple[str, ...]]] = [(u, (u,))]
        while stack:
            node, path = stack.pop()
            for w in succ.get(node, ()):
                if w in keep:
                    lst = out.setdefault((u, w), [])
                    if len(lst) < max_paths:
                        lst.append(path + (w,))
                    continue
                if w in path or len(path) > max_hidden:
                    continue
                stack.append((w, path + (w,)))
    return out


def collapse(graph: CausalGraph, variables: Iterable[str], *, name: str | None = None,
             title: str = "") -> CausalGraph:
    """The graph restricted to ``variables``, hidden variables collapsed into signed links.

    A link's sign is decided by its shortest hidden paths (the most direct influence); if those
    disagree the link is ``"?"``. Longer paths of the other sign are named in the reason. The link
    is delayed when every shortest path has a delayed link; ``via`` lists the hidden variables of
    each path, shortest first.
    """
    keep_list = [graph.node_name(v, "view") for v in variables]
    keep = set(keep_list)
    edges: dict[tuple[str, str], Edge] = {}
    for (u, v), paths in sorted(hidden_paths(graph, keep).items()):
        paths = sorted(set(paths), key=lambda p: (len(p), p))
        if len(paths) == 1 and len(paths[0]) == 2:
            edges[(u, v)] = graph.edges[(u, v)]
            continue
        shortest = [p for p in paths if len(p) == len(paths[0])]
        pols = {_path_polarity(graph, p) for p in shortest}
        delayed = all(any(graph.edges[(a, b)].delayed for a, b in zip(p, p[1:])) for p in shortest)
        via = tuple(p[1:-1] for p in paths)
        if pols <= {"+"} or pols <= {"-"}:
            pol = pols.pop()
            reason = "direct link" if len(paths[0]) == 2 else "product along hidden variables"
            others = [p for p in paths if _path_polarity(graph, p) not in (pol, "?", "mixed")]
            if others:
                reason += (f"; {len(others)} longer path(s) of the other sign, e.g. via "
                           f"{', '.join(others[0][1:-1])}")
        elif "mixed" in pols and pols <= {"mixed", "+", "-"} and len(pols) <= 2 and not {"+", "-"} <= pols:
            pol, reason = "?", "a hidden link changes sign during the run"
        else:
            pol = "?"
            reason = "paths of opposite sign: " + "; ".join(
                f"{_path_polarity(graph, p)} via {', '.join(p[1:-1]) or 'direct link'}" for p in shortest[:4])
        edges[(u, v)] = Edge(u, v, pol, reason, delayed, "causal", "collapsed", (), via)
    nodes = {v: graph.nodes[v] for v in keep_list}
    return CausalGraph(name=name or graph.name, nodes=nodes, edges=edges, origin=graph.origin,
                       times=graph.times, loop_names=graph.loop_names, title=title or graph.title,
                       source_file=graph.source_file)


def through_stock(graph: CausalGraph, edge: Edge) -> bool:
    """True if a collapsed link's shortest hidden path passes through a hidden stock."""
    if edge.method != "collapsed" or not edge.via:
        return False
    return any(graph.nodes[v].kind == "stock" for v in edge.via[0])


def loop_view(graph: CausalGraph, loops, variables: Iterable[str], *, name: str | None = None,
              title: str = "") -> CausalGraph:
    """The given loops drawn on ``variables`` only: each loop's stretch through hidden variables
    becomes one link whose polarity is the product along that stretch.

    Every loop keeps its polarity in the view. If two loops pass between the same two kept
    variables through stretches of opposite sign, the link is ``"?"`` (the reason names both).
    """
    keep_list = [graph.node_name(v, "view") for v in variables]
    keep = set(keep_list)
    edges: dict[tuple[str, str], Edge] = {}
    for lp in loops:
        seq = list(lp.variables)
        idx = [i for i, v in enumerate(seq) if v in keep]
        if not idx:
            continue
        for k, i in enumerate(idx):
            j = idx[(k + 1) % len(idx)]
            hidden = tuple(seq[(i + 1 + n) % len(seq)] for n in range((j - i - 1) % len(seq)))
            u, v = seq[i], seq[j]
            path = (u,) + hidden + (v,)
            pol = _path_polarity(graph, path)
            delayed = any(graph.edges[(a, b)].delayed for a, b in zip(path, path[1:]))
            old = edges.get((u, v))
            if old is None:
                reason = graph.edges[(u, v)].reason if not hidden else \
                    f"product along {', '.join(hidden)}"
                edges[(u, v)] = Edge(u, v, pol, reason, delayed, "causal",
                                     "collapsed" if hidden else graph.edges[(u, v)].method, (), (hidden,))
            elif hidden not in old.via:
                if old.polarity != pol:
                    edges[(u, v)] = Edge(u, v, "?", f"loops pass from {u} to {v} with opposite signs",
                                         old.delayed and delayed, "causal", "collapsed", (), old.via + (hidden,))
                else:
                    edges[(u, v)] = Edge(u, v, pol, old.reason, old.delayed and delayed, "causal", "collapsed",
                                         (), old.via + (hidden,))
    nodes = {v: graph.nodes[v] for v in keep_list}
    return CausalGraph(name=name or graph.name, nodes=nodes, edges=edges, origin=graph.origin,
                       times=graph.times, loop_names=(), title=title or graph.title,
                       source_file=graph.source_file)


def project_loop(loop, variables: Iterable[str]) -> tuple[str, ...]:
    """The loop's variables that a view keeps, in loop order."""
    keep = set(variables)
    return tuple(v for v in loop.variables if v in keep)
