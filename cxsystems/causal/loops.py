"""Feedback loops of a signed causal graph.

Every elementary cycle of the causal edges is enumerated per strongly connected component
(``networkx.simple_cycles``). A loop's polarity is the product of its link signs: ``R``
(reinforcing, even number of ``-`` links) or ``B`` (balancing). A loop with a ``mixed`` link gets the
product at every saved time of the run, e.g. ``"R until week 40, then B"`` (polarity ``mixed``; its id
letter is the polarity it holds longest). Loops are numbered R1, R2, ... and B1, B2, ... sorted by
length, then by their variable names, so ids are deterministic. Human names come from
``<model>.loops.toml`` (or ``loop`` lines of a CLD), matched by the set of variables on the loop::

    [[loop]]
    name = "hire to cover"
    polarity = "B"            # optional: the expected polarity, checked
    variables = ["Ticket Backlog", "Staffing Workload", "Required Agents", ...]

The cycles of a causal structure (its edge set and stocks) are enumerated once and memoised, and
so are the loops built from them for the same link signs and names (a few structures are kept).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

from ..errors import CxError
from ..files import read_toml
from .graph import CausalGraph, _norm, segments_text

#: Default cap on the number of loops listed.
DEFAULT_LIMIT = 20000


@dataclass(frozen=True)
class LoopName:
    """A human name for the loop whose variable set is ``variables``."""

    name: str
    variables: tuple[str, ...]
    polarity: str = ""
    description: str = ""

    @property
    def key(self) -> frozenset[str]:
        return frozenset(_norm(v) for v in self.variables)


@dataclass(frozen=True)
class Loop:
    """One feedback loop.

    Attributes:
        id: ``R1``, ``B3``... (see the module docstring).
        polarity: ``"R"``, ``"B"``, ``"mixed"`` (changes during the run) or ``"?"``.
        description: ``"R"``, ``"B"`` or e.g. ``"R until week 40, then B"``; for ``"?"`` the link at fault.
        variables: the variables in causal order (the link from the last goes back to the first).
        signs: polarity of each link ``variables[i] -> variables[i+1]`` (the last closes the loop).
        delays: number of delayed links (through stocks, SMOOTH, DELAY).
        name: human name from the loop-name file, or ``""``.
        expected: polarity the loop-name file expects, or ``""``.
        segments: for ``mixed`` loops, ``((t_start, t_end, "R"|"B"), ...)`` in weeks.
    """

    id: str
    polarity: str
    description: str
    variables: tuple[str, ...]
    signs: tuple[str, ...]
    delays: int
    name: str = ""
    expected: str = ""
    segments: tuple[tuple[float, float, str], ...] = ()

    @property
    def length(self) -> int:
        return len(self.variables)

    def links(self) -> list[tuple[str, str]]:
        """The loop's links as ``(source, target)`` pairs."""
        v = self.variables
        return [(v[i], v[(i + 1) % len(v)]) for i in range(len(v))]

    def as_dict(self) -> dict:
        return dict(id=self.id, name=self.name, polarity=self.polarity, description=self.description,
                    length=self.length, delays=self.delays, variables=list(self.variables),
                    signs=list(self.signs), expected=self.expected,
                    segments=[list(s) for s in self.segments])


@dataclass(frozen=True)
class LoopSet:
    """The loops of a graph (possibly a selection) with notes for the reader."""

    graph: str
    loops: tuple[Loop, ...]
    total: int
    notes: tuple[str, ...] = ()

    def __iter__(self):
        return iter(self.loops)

    def __len__(self) -> int:
        return len(self.loops)

    def __getitem__(self, key: str | int) -> Loop:
        if isinstance(key, int):
            return self.loops[key]
        for lp in self.loops:
            if lp.id == key or (lp.name and _norm(lp.name) == _norm(key)):
                return lp
        raise CxError(f"no loop {key!r} in {self.graph}")

    def counts(self) -> dict[str, int]:
        """Number of loops per polarity."""
        out = {"R": 0, "B": 0, "mixed": 0, "?": 0}
        for lp in self.loops:
            out[lp.polarity] += 1
        return out

    def table(self):
        """Loops as a DataFrame: id, name, polarity, length, delays, variables."""
        import pandas as pd

        rows = [dict(id=lp.id, name=lp.name, polarity=lp.description, length=lp.length, delays=lp.delays,
                     variables=" -> ".join(lp.variables)) for lp in self.loops]
        return pd.DataFrame(rows, columns=["id", "name", "polarity", "length", "delays", "variables"])

    def to_json(self) -> str:
        return json.dumps(dict(graph=self.graph, total=self.total, notes=list(self.notes),
                               loops=[lp.as_dict() for lp in self.loops]), indent=2)


# --------------------------------------------------------------------------- loop names
def load_loop_names(path: str | Path) -> tuple[LoopName, ...]:
    """Read ``[[loop]]`` entries (name, variables, optional polarity and description) from TOML."""
    p = Path(path)
    data = read_toml(p)
    out = []
    for i, entry in enumerate(data.get("loop", [])):
        where = f"{p}: loop {i + 1}"
        if not isinstance(entry, dict):
            raise CxError(f"{where}: must be a table")
        name = entry.get("name")
        vars_ = entry.get("variables")
        if not isinstance(name, str) or not name.strip():
            raise CxError(f"{where}: 'name' must be a non-empty string")
        if not isinstance(vars_, list) or len(vars_) < 1 or not all(isinstance(v, str) for v in vars_):
            raise CxError(f"{where} ({name!r}): 'variables' must be a list of variable names")
        pol = entry.get("polarity", "")
        if pol not in ("", "R", "B"):
            raise CxError(f"{where} ({name!r}): polarity must be 'R' or 'B', got {pol!r}")
        unknown = set(entry) - {"name", "variables", "polarity", "description"}
        if unknown:
            raise CxError(f"{where} ({name!r}): unknown key(s) {', '.join(sorted(unknown))}")
        out.append(LoopName(name.strip(), tuple(vars_), pol, str(entry.get("description", ""))))
    return tuple(out)


def loop_names_for_model(model) -> tuple[LoopName, ...]:
    """Loop names from ``<model>.loops.toml`` beside the model file (empty if there is none)."""
    path = Path(model.path).with_name(f"{Path(model.path).stem}.loops.toml")
    return load_loop_names(path) if path.is_file() else ()


# --------------------------------------------------------------------------- enumeration
#: Cycle sets memoised by :func:`_all_cycles` (keyed by the graph's causal edges, stocks and limit).
CYCLES_MEMO_SIZE = 8


def _name_key(v: str) -> tuple[str, str]:
    """The alphabetical order of variable names (case-insensitive, then exact)."""
    return (v.lower(), v)


def _canonical(cycle: list[str], stocks: set[str] | frozenset[str]) -> tuple[str, ...]:
    """Rotate a cycle to start at its alphabetically first stock (or first variable)."""
    pool = [v for v in cycle if v in stocks] or cycle
    first = min(pool, key=_name_key)
    i = cycle.index(first)
    return tuple(cycle[i:] + cycle[:i])


def _id_order(cycles) -> list[tuple[str, ...]]:
    """Canonical cycles in id order: by length, then by their variable names (case-insensitive;
    the exact names break ties). The names are compared by their ranks in those two orders."""
    names = {v for c in cycles for v in c}
    lowers = sorted({v.lower() for v in names})
    lower = dict(zip(lowers, range(len(lowers))))
    by_lower = {v: lower[v.lower()] for v in names}
    exact = {v: i for i, v in enumerate(sorted(names))}
    return sorted(cycles, key=lambda c: (len(c), tuple(map(by_lower.__getitem__, c)), tuple(map(exact.__getitem__, c))))


def _canonical_order(cycles, stocks: frozenset[str]) -> list[tuple[str, ...]]:
    """The distinct cycles, each rotated as :func:`_canonical` rotates it, in id order
    (:func:`_id_order`): the first variable is found by its rank (stocks before the others, each
    alphabetically)."""
    names = sorted({v for c in cycles for v in c}, key=_name_key)
    rank = {v: i + (0 if v in stocks else len(names)) for i, v in enumerate(names)}
    canon = set()
    for c in cycles:
        i = c.index(min(c, key=rank.__getitem__))
        canon.add(tuple(c[i:]) + tuple(c[:i]))
    return _id_order(canon)


def _enumerate(g, max_length: int | None, limit: int, through: str | None) -> list[list[str]] | None:
    """Elementary cycles per strongly connected component; ``None`` if more than ``limit``."""
    import networkx as nx

    out: list[list[str]] = []
    for comp in nx.strongly_connected_components(g):
        if len(comp) == 1:
            v = next(iter(comp))
            if g.has_edge(v, v) and (through is None or v == through):
                out.append([v])
                if len(out) > limit:
                    return None
            continue
        if through is not None and through not in comp:
            continue
        sub = g.subgraph(comp)
        if through is not None:
            # cycles through one node: simple paths from its successors back to it
            for s in sub.successors(through):
                if s == through:
                    out.append([through])
                    continue
                cutoff = None if max_length is None else max_length - 1
                for path in nx.all_simple_paths(sub, s, through, cutoff=cutoff):
                    if through in path[:-1]:
                        continue
                    out.append([through] + path[:-1])
                    if len(out) > limit:
                        return None
            continue
        for cyc in nx.simple_cycles(sub, length_bound=max_length):
            out.append(list(cyc))
            if len(out) > limit:
                return None
    return out


@dataclass(frozen=True, eq=False)
class _Cycles:
    """The feedback loops of a causal structure, independent of link polarities: the cycles
    (canonical, in id order), the structure's links (``edges``, sorted), each cycle's links as
    indices into ``edges`` (``flat``, the cycle ``i`` at ``flat[starts[i]:starts[i + 1]]``), and
    the cycles by their set of normalised variable names (how loop names match)."""

    cycles: tuple[tuple[str, ...], ...]
    edges: tuple[tuple[str, str], ...]
    flat: np.ndarray
    starts: np.ndarray
    by_key: Mapping[frozenset[str], tuple[int, ...]]

    @classmethod
    def of(cls, canon: list[tuple[str, ...]]) -> "_Cycles":
        names = sorted({v for c in canon for v in c})
        pos = {v: i for i, v in enumerate(names)}
        lengths = np.fromiter(map(len, canon), dtype=np.int64, count=len(canon))
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        src = np.fromiter(map(pos.__getitem__, chain.from_iterable(canon)), dtype=np.int64, count=int(starts[-1]))
        tgt = np.roll(src, -1)  # the next variable; the last of each cycle goes back to its first
        tgt[starts[1:] - 1] = src[starts[:-1]]
        codes, flat = np.unique(src * max(1, len(names)) + tgt, return_inverse=True)
        edges = tuple((names[c // len(names)], names[c % len(names)]) for c in codes.tolist())
        normed = {v: _norm(v) for v in names}
        by_key: dict[frozenset[str], tuple[int, ...]] = {}
        for i, c in enumerate(canon):
            key = frozenset(map(normed.__getitem__, c))
            by_key[key] = by_key.get(key, ()) + (i,)
        flat = flat.reshape(-1).astype(np.int64)
        for a in (flat, starts):
            a.setflags(write=False)
        return cls(tuple(canon), edges, flat, starts, MappingProxyType(by_key))

    def counts(self, per_edge: np.ndarray) -> np.ndarray:
        """For a number per edge (of :attr:`edges`), its sum over each cycle's links."""
        if not self.cycles:
            return np.zeros(0, dtype=per_edge.dtype)
        return np.add.reduceat(per_edge[self.flat], self.starts[:-1])


@lru_cache(maxsize=CYCLES_MEMO_SIZE)
def _all_cycles(edges: frozenset[tuple[str, str]], stocks: frozenset[str], limit: int) -> _Cycles | None:
    """Every feedback loop of the digraph with these causal ``edges`` (:class:`_Cycles`: the
    cycles canonical by :func:`_canonical`, in id order by :func:`_id_order`); ``None`` if there
    are more than ``limit``.

    The answer depends on nothing but the arguments (the edge set, the stocks, the limit), all
    immutable: it is memoised (at most :data:`CYCLES_MEMO_SIZE` structures), so a model's loops are
    enumerated once however many runs (scenarios, parameters) are analysed. Link polarities,
    which may be measured along a run, are not part of it."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from(sorted(edges))
    cycles = _enumerate(g, None, limit, None)
    if cycles is None:
        return None
    return _Cycles.of(_canonical_order(cycles, stocks))


class _Polarity:
    """A loop's polarity from its links' signs (see :func:`_loop_polarity`), remembering each
    ``mixed`` link's sign at the run's times (``graph.times``) across the loops of one graph."""

    def __init__(self, graph: CausalGraph):
        self.graph = graph
        self._times: np.ndarray | None = None
        self._signs: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, links) -> tuple[str, str, tuple]:
        edges = self.graph.edges
        pols = [edges[link].polarity for link in links]
        if "?" in pols or "0" in pols:
            e = next(edges[link] for link, p in zip(links, pols) if p in ("?", "0"))
            what = "has no measured effect" if e.polarity == "0" else "has unknown polarity"
            return "?", f"unknown: link {e.source} -> {e.target} {what}", ()
        if "mixed" not in pols:
            p = "B" if pols.count("-") % 2 else "R"
            return p, p, ()
        if self._times is None:
            self._times = np.asarray(self.graph.times, dtype=float)
        times = self._times
        if times.size == 0:
            return "?", "unknown: a link changes sign and no run times are known", ()
        signs = np.full(times.size, -1.0 if pols.count("-") % 2 else 1.0)
        for link, p in zip(links, pols):
            if p == "mixed":
                signs = signs * self._mixed(link, times)
        from .graph import sign_segments

        segs = sign_segments(times, signs)
        segs = tuple((a, b, "R" if s == "+" else "B") for a, b, s in segs)
        kinds = {s for _, _, s in segs}
        if len(kinds) == 1:
            k = kinds.pop()
            return k, k, ()
        return "mixed", segments_text(segs), segs

    def _mixed(self, link: tuple[str, str], times: np.ndarray) -> np.ndarray:
        """The sign (+1/-1) of a ``mixed`` link at each of ``times``."""
        out = self._signs.get(link)
        if out is None:
            e = self.graph.edges[link]
            out = np.array([1.0 if e.sign_at(t) == "+" else -1.0 for t in times])
            self._signs[link] = out
        return out


def _loop_polarity(graph: CausalGraph, links: list[tuple[str, str]]) -> tuple[str, str, tuple]:
    """``(polarity, description, segments)`` of a loop from its link signs: ``R`` for an even
    number of ``-`` links, else ``B``; with a ``mixed`` link, the product at every time of the run
    (``mixed`` and its segments if it changes); ``?`` (naming the link) for a link of unknown
    polarity or no measured effect."""
    return _Polarity(graph)(links)


def _loops(graph: CausalGraph, cycles: _Cycles) -> list[Loop]:
    """The :class:`Loop` of each cycle, in order: polarity from the graph's link signs, id
    (``R1``, ``B1``, ``U1``... numbered in cycle order), delays and name."""
    edges = [graph.edges[k] for k in cycles.edges]
    pols = [e.polarity for e in edges]
    odd = cycles.counts(np.array([p == "-" for p in pols], dtype=np.int64)) % 2 == 1
    special = cycles.counts(np.array([p in ("?", "0", "mixed") for p in pols], dtype=np.int64)) > 0
    delays = cycles.counts(np.array([bool(e.delayed) for e in edges], dtype=np.int64)).tolist()
    named: dict[int, LoopName] = {}
    for ln in {ln.key: ln for ln in graph.loop_names}.values():
        for i in cycles.by_key.get(ln.key, ()):
            named[i] = ln
    polarity = _Polarity(graph)
    counter = {"R": 0, "B": 0}
    out = []
    signs = list(map(pols.__getitem__, cycles.flat.tolist()))
    bounds = cycles.starts.tolist()
    for i, cyc in enumerate(cycles.cycles):
        segs: tuple = ()
        if special[i]:
            pol, desc, segs = polarity(tuple(zip(cyc, cyc[1:] + cyc[:1])))
        else:
            pol = desc = "B" if odd[i] else "R"
        if pol == "mixed":
            dur = {"R": 0.0, "B": 0.0}
            for a, b, s in segs:
                dur[s] += b - a
            letter = "R" if dur["R"] >= dur["B"] else "B"
        elif pol == "?":
            letter = "U"
            counter.setdefault("U", 0)
        else:
            letter = pol
        counter[letter] += 1
        ln = named.get(i)
        out.append(Loop(f"{letter}{counter[letter]}", pol, desc, cyc, tuple(signs[bounds[i]:bounds[i + 1]]), delays[i],
                        ln.name if ln else "", ln.polarity if ln else "", segs))
    return out


#: Loop lists memoised by :func:`_loops_memoised`.
LOOPS_MEMO_SIZE = 8
_LOOPS_MEMO: OrderedDict = OrderedDict()
_LOOPS_LOCK = threading.Lock()


def _loops_memoised(graph: CausalGraph, cycles: _Cycles) -> list[Loop]:
    """:func:`_loops`, memoised by everything it reads: the cycles, each of their links'
    polarity, delay and sign segments, the run's times when a link's sign changes, and the loop
    names. Two graphs that agree on all of these get the same (immutable) loops; any difference
    (a link measured with another sign along another run) gives new ones. At most
    :data:`LOOPS_MEMO_SIZE` lists are kept."""
    edges = [graph.edges[k] for k in cycles.edges]
    states = tuple((e.polarity, bool(e.delayed), e.segments) for e in edges)
    times = tuple(graph.times) if any(e.polarity == "mixed" for e in edges) else None
    key = (cycles, states, times, tuple(graph.loop_names))
    try:
        hash(key)
    except TypeError:  # loop names of another kind: not memoised
        return _loops(graph, cycles)
    with _LOOPS_LOCK:
        loops = _LOOPS_MEMO.get(key)
        if loops is not None:
            _LOOPS_MEMO.move_to_end(key)
    if loops is None:
        loops = tuple(_loops(graph, cycles))
        with _LOOPS_LOCK:
            _LOOPS_MEMO[key] = loops
            while len(_LOOPS_MEMO) > LOOPS_MEMO_SIZE:
                _LOOPS_MEMO.popitem(last=False)
    return list(loops)


def find_loops(
    graph: CausalGraph,
    *,
    through: str | None = None,
    max_length: int | None = None,
    limit: int = DEFAULT_LIMIT,
    named: bool = False,
    named_first: bool = True,
) -> LoopSet:
    """Every feedback loop of ``graph`` (optionally only those through ``through``, no longer
    than ``max_length`` variables, or, with ``named``, only those with a name from the loop-name
    file or the diagram's ``loop`` lines), with polarity, deterministic id and human name.

    With ``named_first`` (the default) named loops are listed first, in id order, then the others
    in id order (by length, then variable names); ``named_first=False`` keeps plain id order.

    Ids are numbered over all loops of the graph, so ``R3`` names the same loop whatever the
    selection. If the graph has more than ``limit`` loops, ids are numbered within the selection
    (a note says so), and if even the selection exceeds ``limit`` a :class:`CxError` says how to
    narrow it.
    """
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise CxError(f"--max-length must be a positive whole number, got {max_length!r}")
    if not isinstance(limit, int) or limit < 1:
        raise CxError(f"loop limit must be a positive whole number, got {limit!r}")
    if through is not None:
        through = graph.node_name(through, "--through")
    notes: list[str] = []
    stocks = frozenset(n for n, node in graph.nodes.items() if node.kind == "stock")
    structure = _all_cycles(frozenset((e.source, e.target) for e in graph.causal_edges()), stocks, limit)
    local = False
    if structure is None:
        if through is None and max_length is None:
            raise CxError(
                f"{graph.name} has more than {limit} feedback loops: too many to list; "
                "select with --through VAR and/or --max-length N (or raise the limit)")
        cycles = _enumerate(graph.digraph(), max_length, limit, through)
        if cycles is None:
            raise CxError(
                f"{graph.name}: more than {limit} feedback loops even in this selection; "
                "use a smaller --max-length or another --through variable")
        local = True
        notes.append(f"{graph.name} has more than {limit} loops; ids are numbered within this selection")
        structure = _Cycles.of(_canonical_order(cycles, stocks))
    loops = _loops_memoised(graph, structure)
    total = len(loops)
    if not local:
        sel = loops
        if through is not None:
            sel = [lp for lp in sel if through in lp.variables]
        if max_length is not None:
            sel = [lp for lp in sel if lp.length <= max_length]
    else:
        sel = loops
    if named:
        sel = [lp for lp in sel if lp.name]
        if not graph.loop_names:
            notes.append(f"{graph.name} names no loops (name them in <model>.loops.toml or with 'loop' lines)")
    if named_first:
        sel = [lp for lp in sel if lp.name] + [lp for lp in sel if not lp.name]
    found = {_norm(lp.name) for lp in loops if lp.name}
    for ln in graph.loop_names:
        if _norm(ln.name) not in found and not local:
            notes.append(f"named loop {ln.name!r} matches no loop of {graph.name}")
    for lp in loops:
        if lp.expected and lp.polarity != lp.expected:
            notes.append(f"loop {lp.id} {lp.name!r} is {lp.description}, named as {lp.expected}")
    unknown = [lp.id for lp in loops if lp.polarity == "?"]
    if unknown:
        notes.append(f"{len(unknown)} loop(s) of unknown polarity: {', '.join(unknown[:10])}")
    return LoopSet(graph.name, tuple(sel), total if not local else len(loops), tuple(notes))


def format_table(loops: LoopSet, width: int = 100) -> str:
    """Plain-text table of loops (id, polarity, length, delays, name and variables), wrapped to ``width``."""
    import textwrap

    lines = [f"{'id':<5} {'polarity':<8} {'len':>3} {'dly':>3}  name: variables"]
    for lp in loops:
        pol = lp.description if lp.polarity in ("R", "B") else lp.polarity
        head = f"{lp.id:<5} {pol:<8} {lp.length:>3} {lp.delays:>3}  "
        name = f"[{lp.name}] " if lp.name else ""
        body = name + " -> ".join(lp.variables) + f" -> {lp.variables[0]}"
        wrapped = textwrap.wrap(body, max(30, width - len(head)), break_on_hyphens=False) or [""]
        lines.append(head + wrapped[0])
        lines.extend(" " * len(head) + w for w in wrapped[1:])
        if lp.polarity in ("mixed", "?"):
            lines.append(" " * len(head) + f"({lp.description})")
    c = loops.counts()
    summary = f"{len(loops)} loop(s)"
    if len(loops) != loops.total:
        summary += f" of {loops.total}"
    summary += f": {c['R']} R, {c['B']} B" + (f", {c['mixed']} changing" if c["mixed"] else "") + \
        (f", {c['?']} unknown" if c["?"] else "")
    lines.append(summary)
    lines.extend(f"note: {n}" for n in loops.notes)
    return "\n".join(lines)


def loops_csv(loops: LoopSet) -> str:
    """Loops as CSV text."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "polarity", "length", "delays", "variables", "signs"])
    for lp in loops:
        w.writerow([lp.id, lp.name, lp.description, lp.length, lp.delays, " -> ".join(lp.variables),
                    " ".join(lp.signs)])
    return buf.getvalue()


@dataclass(frozen=True)
class LoopMarker:
    """A loop to mark in a diagram: its id, polarity letter, name and (shown) variables in order."""

    id: str
    polarity: str
    name: str
    variables: tuple[str, ...]


def markers_for(loops: Iterable[Loop], *, named_only: bool = False, limit: int = 12) -> list[LoopMarker]:
    """Loop markers for :class:`Loop` objects (named loops first, at most ``limit``)."""
    out = []
    for lp in loops:
        if named_only and not lp.name:
            continue
        letter = lp.id[0] if lp.polarity == "mixed" else ("?" if lp.polarity == "?" else lp.polarity)
        out.append(LoopMarker(lp.id, letter, lp.name, tuple(lp.variables)))
    out.sort(key=lambda m: (not m.name, len(m.variables)))
    return out[:limit]
