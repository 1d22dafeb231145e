"""The signed causal graph of a model (or of a hand-drawn causal loop diagram).

Nodes are the model's variables, each with a kind (``stock``, ``flow``, ``auxiliary``, ``constant``,
``lookup``). Edges carry a polarity:

``"+"`` / ``"-"``
    the partial derivative of the target's equation with respect to the source never changes sign
    (decided by the equation's structure, or measured along the simulated run);
``"mixed"``
    the measured derivative changes sign during the run; ``Edge.segments`` says when;
``"0"``
    the source has no measurable effect anywhere along the run (and structure does not decide);
``"?"``
    undecided (an equation construct neither the sign algebra nor the evaluator handles).

Edges into a stock (inflows ``+``, outflows ``-``) and into SMOOTH/DELAY outputs are ``delayed``.
Dependencies used only for initial values (``INTEG(..., init)``, ``SMOOTHI``'s initial, ``INITIAL()``)
are kept as edges of kind ``initial``; calls of lookup tables are edges of kind ``table``; only
edges of kind ``causal`` take part in loops, diagrams and lint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from ..errors import CxError
from ..names import match, norm

KINDS = ("stock", "flow", "auxiliary", "constant", "lookup")
POLARITIES = ("+", "-", "mixed", "0", "?")
EDGE_KINDS = ("causal", "initial", "table")


@dataclass(frozen=True)
class Node:
    """A variable: name, kind, units and comment; ``function`` names a stock's built-in
    (``INTEG``, ``SMOOTH``, ``DELAY3``...)."""

    name: str
    kind: str = "auxiliary"
    units: str = ""
    comment: str = ""
    function: str = ""


@dataclass(frozen=True)
class Edge:
    """A signed causal link ``source -> target``.

    Attributes:
        polarity: ``"+"``, ``"-"``, ``"mixed"``, ``"0"`` or ``"?"`` (see the module docstring).
        reason: why (e.g. ``"outflow of the stock"``, ``"decreasing lookup 'Effect of ...'"``,
            ``"measured along the baseline run"``).
        delayed: the link goes through a stock, SMOOTH or DELAY.
        kind: ``"causal"``, ``"initial"`` (initial value only) or ``"table"`` (lookup table call).
        method: ``"structure"``, ``"simulation"``, ``"drawn"`` (CLD) or ``"collapsed"`` (view).
        segments: for signs measured along a run, ``((t_start, t_end, "+"|"-"), ...)`` in weeks.
        via: for collapsed links, the hidden paths they stand for.
    """

    source: str
    target: str
    polarity: str
    reason: str = ""
    delayed: bool = False
    kind: str = "causal"
    method: str = "structure"
    segments: tuple[tuple[float, float, str], ...] = ()
    via: tuple[tuple[str, ...], ...] = ()

    def sign_at(self, t: float) -> str:
        """Polarity at time ``t`` (weeks): the segment's sign for ``mixed`` links, else the polarity."""
        if self.polarity != "mixed" or not self.segments:
            return self.polarity
        for t0, t1, s in self.segments:
            if t < t1:
                return s
        return self.segments[-1][2]

    @property
    def label(self) -> str:
        """Short label for drawings: ``+``, ``-``, ``±`` (mixed) or ``?``."""
        return {"mixed": "\u00b1", "0": "0"}.get(self.polarity, self.polarity)


@dataclass(frozen=True)
class CausalGraph:
    """A signed causal graph. Treat ``nodes`` and ``edges`` as read-only.

    Attributes:
        name: the model or diagram name.
        nodes: name -> :class:`Node`, in model order.
        edges: ``(source, target)`` -> :class:`Edge`.
        origin: ``"model"`` or ``"cld"``.
        times: saved times (weeks) along which measured signs were evaluated (empty if none).
        loop_names: named loops (:class:`cxsystems.causal.loops.LoopName`) for this graph.
        title: a human title (CLDs).
        source_file: the model or CLD file.
    """

    name: str
    nodes: Mapping[str, Node]
    edges: Mapping[tuple[str, str], Edge]
    origin: str = "model"
    times: tuple[float, ...] = ()
    loop_names: tuple = ()
    title: str = ""
    source_file: str = ""
    notes: tuple[str, ...] = field(default=())
    layout: tuple[tuple[str, tuple[float, float]], ...] = ()

    def causal_edges(self) -> list[Edge]:
        """Edges of kind ``causal`` (the ones loops, diagrams and lint use)."""
        return [e for e in self.edges.values() if e.kind == "causal"]

    def digraph(self):
        """``networkx.DiGraph`` of the causal edges (edge attribute ``edge`` holds the :class:`Edge`)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for e in self.causal_edges():
            g.add_edge(e.source, e.target, edge=e)
        return g

    def node_name(self, name: str, where: str = "") -> str:
        """This graph's spelling of a variable name (:func:`cxsystems.names.match`)."""
        return match(name, self.nodes, what="variable", where=where, owner=self.name)

    def edge(self, source: str, target: str) -> Edge | None:
        """The edge ``source -> target`` or ``None``."""
        return self.edges.get((source, target))

    def polarity_summary(self) -> dict[str, int]:
        """Count of causal edges per polarity."""
        out = {p: 0 for p in POLARITIES}
        for e in self.causal_edges():
            out[e.polarity] += 1
        return out

    def edges_table(self):
        """Causal edges as a DataFrame (source, target, polarity, delayed, method, reason)."""
        import pandas as pd

        rows = [dict(source=e.source, target=e.target, polarity=e.polarity, delayed=e.delayed,
                     method=e.method, reason=e.reason) for e in self.causal_edges()]
        return pd.DataFrame(rows, columns=["source", "target", "polarity", "delayed", "method", "reason"])


#: The one name normaliser (:func:`cxsystems.names.norm`), under the name the causal modules use.
_norm = norm


def segments_text(segments: Iterable[tuple[float, float, str]], words: Mapping[str, str] | None = None) -> str:
    """``"+ until week 40, then -"`` for a list of sign segments."""
    segs = list(segments)
    words = words or {}
    parts = []
    for i, (t0, t1, s) in enumerate(segs):
        w = words.get(s, s)
        if i == 0:
            parts.append(f"{w} until week {t1:g}" if len(segs) > 1 else w)
        elif i == len(segs) - 1:
            parts.append(f"then {w}")
        else:
            parts.append(f"then {w} until week {t1:g}")
    return ", ".join(parts)


def sign_segments(times: np.ndarray, signs: np.ndarray) -> tuple[tuple[float, float, str], ...]:
    """Runs of constant sign (``+1``/``-1``; zeros take the sign around them) as segments."""
    s = np.asarray(signs, dtype=float).copy()
    t = np.asarray(times, dtype=float)
    nz = np.flatnonzero(s)
    if nz.size == 0:
        return ()
    # fill zeros forward, then the leading zeros backward
    last = s[nz[0]]
    for i in range(len(s)):
        if s[i] == 0:
            s[i] = last
        else:
            last = s[i]
    segs = []
    start = 0
    for i in range(1, len(s) + 1):
        if i == len(s) or s[i] != s[start]:
            t_end = t[i] if i < len(s) else t[-1]
            segs.append((float(t[start]), float(t_end), "+" if s[start] > 0 else "-"))
            start = i
    return tuple(segs)


def graph_from_links(name: str, links, *, kinds: Mapping[str, str] | None = None, loop_names=(),
                     title: str = "", source_file: str = "", layout=()) -> CausalGraph:
    """A :class:`CausalGraph` from ``(source, target, polarity, delayed)`` tuples (a drawn diagram).

    Variables appear in order of first mention; ``kinds`` may mark some as ``stock`` etc.
    """
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], Edge] = {}
    kinds = dict(kinds or {})
    for src, dst, pol, delayed in links:
        if pol not in ("+", "-", "?"):
            raise CxError(f"{name}: link {src} -> {dst}: polarity must be +, - or ?, got {pol!r}")
        for v in (src, dst):
            if v not in nodes:
                nodes[v] = Node(v, kinds.get(v, "auxiliary"))
        edges[(src, dst)] = Edge(src, dst, pol, "drawn", bool(delayed), "causal", "drawn")
    for v, k in kinds.items():
        if v not in nodes:
            nodes[v] = Node(v, k)
    return CausalGraph(name=name, nodes=nodes, edges=edges, origin="cld", loop_names=tuple(loop_names),
                       title=title or name, source_file=source_file, layout=tuple(layout))
