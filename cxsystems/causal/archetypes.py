"""System archetypes found in a signed causal graph by matching loop patterns.

Archetypes are recognised from how feedback loops overlap, so intermediate variables between the
archetype's roles are allowed (a role is a path, not a single link). The building block is a *pair*
of loops that share exactly one contiguous stretch of variables, the *shared segment*, traversed in
the same direction; outside it the two loops are disjoint. The segment's first variable is the
*entry* (where both loops come back together), its last the *exit* (where they part). Definitions
(Senge 1990; Braun 2002), with ``B`` balancing and ``R`` reinforcing loops:

fixes that fail
    a ``B`` and an ``R`` loop whose shared segment runs from the problem symptom (entry) to the fix
    (exit, distinct from the entry); the ``R`` loop's own path back to the problem holds more delayed
    links than the ``B`` loop's (the unintended consequence arrives later).
limits to success
    an ``R`` and a ``B`` loop sharing a segment, not fixes that fail: the reinforcing engine meets
    a balancing limit.
eroding goals
    two ``B`` loops sharing a segment whose entry (the gap) is not a stock and is reached by the two
    loops through links of opposite sign: one loop corrects the actual state (``-`` into the gap),
    the other moves the goal (``+`` into the gap).
success to the successful
    two ``R`` loops sharing a segment that splits at its exit into a ``+`` branch and a ``-`` branch
    (resources allocated to one party are denied to the other).
shifting the burden
    a ``B`` loop through the symptomatic fix, a loop through the fundamental solution, and an ``R``
    loop symptom -> fix -> side effect -> fundamental solution -> symptom that shares a segment
    with each (the fix undermines the fundamental solution). The fundamental solution, as named,
    reduces the symptom (the shared path from it into the symptom is ``-``) and the symptomatic
    loop has no more delayed links than the fundamental one. The fundamental loop is ``B`` in the
    classic form; if it is ``R`` (the symptom itself squeezes the fundamental solution, as in the
    capability trap) the instance is reported with that variant.
growth and underinvestment
    limits to success (``R`` engine, ``B`` limit) plus a second ``B`` loop that shares a segment
    with the limit, not with the engine, and has a delayed link of its own (capacity investment).
escalation
    an ``R`` loop whose links are all ``+`` (each side's activity raises the other's) and two or more
    node-disjoint ``B`` loops each sharing one segment with it (each side's own goal seeking).
tragedy of the commons
    two node-disjoint ``R`` loops (each actor's gains drive its activity), each sharing a segment
    with its own ``B`` loop, and the two ``B`` loops sharing a segment (the commons: total activity,
    gain per unit of activity); each ``B`` loop avoids the other actor's ``R`` loop.
accidental adversaries
    an all-``+`` ``R`` loop (the partnership) sharing a segment with each of two node-disjoint ``R``
    loops (each party's own fix), and a ``B`` loop meeting all three (one party's fix obstructs the
    other's success).

Archetypes are built from *principal loops* (:func:`principal_loops`): every loop of a hand-drawn
diagram; for a model, the loops named in its loop-name file, or else the shortest loop through each
feedback link. The side-effect loop of shifting the burden may be any loop.

The generic patterns (fixes that fail, limits to success, eroding goals, success to the
successful, growth and underinvestment) are not reported when all their variables belong to an
instance of a richer archetype that contains them (e.g. the fixes-that-fail pair inside shifting
the burden). Instances built from the same principal loops are merged, keeping the one with the
shortest loops; shifting the burden lists the most direct side effect first.

Given the model, each instance is judged for plausibility (:mod:`cxsystems.causal.plausibility`:
do the roles that stand for a decision hold a variable a policy lever acts on, and do the
scenarios show the story?) and the report is ranked by that judgement; implausible matches are
left out unless asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .graph import CausalGraph
from .loops import Loop, LoopSet, find_loops

if TYPE_CHECKING:  # pragma: no cover
    from ..model.core import Model
    from .plausibility import Dominance

ARCHETYPES = ("shifting the burden", "fixes that fail", "limits to success", "eroding goals",
              "escalation", "success to the successful", "tragedy of the commons",
              "growth and underinvestment", "accidental adversaries")

#: Generic patterns, and the richer archetypes built from them.
_GENERIC = ("fixes that fail", "limits to success", "eroding goals", "success to the successful")
_RICH = ("shifting the burden", "growth and underinvestment", "escalation", "tragedy of the commons",
         "accidental adversaries")
#: Richer archetypes that may also contain one another.
_CONTAINED_IN = {"growth and underinvestment": ("tragedy of the commons", "accidental adversaries",
                                                "shifting the burden")}


@dataclass(frozen=True)
class Archetype:
    """One archetype instance: its kind, the loops that form it and the role of each variable.

    Attributes:
        kind: one of :data:`ARCHETYPES`.
        loops: loop ids (as in :func:`cxsystems.causal.find_loops`), in role order.
        loop_roles: what each loop is (e.g. ``"symptomatic fix (B)"``), parallel to ``loops``.
        roles: role name -> variables playing it, in causal order.
        variant: a note when the instance departs from the textbook form, else ``""``.
        similar: number of other loop combinations merged into this instance (same key roles).
        plausibility: ``confirmed``, ``plausible``, ``unchecked`` or ``implausible`` when judged
            against a model (:mod:`cxsystems.causal.plausibility`), else ``""``.
        reasons: why, one line each.
    """

    kind: str
    loops: tuple[str, ...]
    loop_roles: tuple[str, ...]
    roles: tuple[tuple[str, tuple[str, ...]], ...]
    variant: str = ""
    similar: int = 0
    key: tuple = field(default=(), repr=False, compare=False)
    plausibility: str = ""
    reasons: tuple[str, ...] = ()

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(v for _, vs in self.roles for v in vs)

    def role(self, name: str) -> tuple[str, ...]:
        """Variables playing role ``name``."""
        return dict(self.roles)[name]

    def as_dict(self) -> dict:
        return dict(kind=self.kind, loops=list(self.loops), loop_roles=list(self.loop_roles),
                    roles={k: list(v) for k, v in self.roles}, variant=self.variant, similar=self.similar,
                    plausibility=self.plausibility, reasons=list(self.reasons))

    def describe(self) -> str:
        """Several lines: kind, loops with their roles, then each role's variables."""
        head = f"{self.kind}: " + ", ".join(f"{i} {r}" for i, r in zip(self.loops, self.loop_roles))
        lines = [head]
        if self.variant:
            lines.append(f"  variant: {self.variant}")
        for role, vs in self.roles:
            if vs:
                lines.append(f"  {role}: {', '.join(vs)}")
        if self.similar:
            lines.append(f"  (+{self.similar} similar combination(s) of longer loops)")
        if self.plausibility:
            lines.append(f"  plausibility: {self.plausibility}")
            lines.extend(f"    - {r}" for r in self.reasons)
        return "\n".join(lines)


# --------------------------------------------------------------------------- internals
@dataclass
class _Loop:
    idx: int
    loop: Loop
    seq: tuple[str, ...]
    nodes: frozenset[str]
    pol: str

    @property
    def id(self) -> str:
        return self.loop.id


@dataclass(frozen=True)
class _Pair:
    segment: tuple[str, ...]
    priv: dict  # loop idx -> path from exit to entry, endpoints included


def _segment_in(seq: tuple[str, ...], shared: frozenset[str]) -> tuple[int, int] | None:
    """(start index, length) of the single cyclic run of ``shared`` nodes in ``seq``, else None."""
    n = len(seq)
    starts = [i for i in range(n) if seq[i] in shared and seq[i - 1] not in shared]
    if len(starts) != 1:
        return None
    return starts[0], len(shared)


def _one_segment(a: _Loop, b: _Loop) -> _Pair | None:
    shared = a.nodes & b.nodes
    if not shared or len(shared) >= len(a.seq) and len(shared) >= len(b.seq):
        return None
    sa = _segment_in(a.seq, shared) if len(shared) < len(a.seq) else (a.seq.index(_first_of(a, b)), len(shared))
    sb = _segment_in(b.seq, shared) if len(shared) < len(b.seq) else (b.seq.index(_first_of(b, a)), len(shared))
    if sa is None or sb is None:
        return None
    seg_a = tuple(a.seq[(sa[0] + i) % len(a.seq)] for i in range(sa[1]))
    seg_b = tuple(b.seq[(sb[0] + i) % len(b.seq)] for i in range(sb[1]))
    if seg_a != seg_b:
        return None

    def private(lp: _Loop, start: int) -> tuple[str, ...]:
        n = len(lp.seq)
        k = len(shared)
        rest = tuple(lp.seq[(start + k + i) % n] for i in range(n - k))
        return (seg_a[-1],) + rest + (seg_a[0],)

    return _Pair(seg_a, {a.idx: private(a, sa[0]), b.idx: private(b, sb[0])})


def _first_of(whole: _Loop, other: _Loop) -> str:
    """Entry of the segment when every node of ``whole`` is shared: the node whose predecessor
    in ``other`` lies outside ``whole``."""
    seq = other.seq
    for i, v in enumerate(seq):
        if v in whole.nodes and seq[i - 1] not in whole.nodes:
            return v
    return whole.seq[0]


class _Ctx:
    def __init__(self, graph: CausalGraph, principal: list[Loop], every: list[Loop]):
        self.graph = graph
        usable = [l for l in every if l.polarity in ("R", "B")]
        ids = {l.id for l in principal}
        self.all = [_Loop(i, lp, lp.variables, frozenset(lp.variables), lp.polarity)
                    for i, lp in enumerate(usable)]
        self.loops = [l for l in self.all if l.id in ids]
        self.by_node: dict[str, set[int]] = {}
        for lp in self.all:
            for v in lp.nodes:
                self.by_node.setdefault(v, set()).add(lp.idx)
        self.pairs: dict[tuple[int, int], _Pair] = {}
        self.lazy: dict[tuple[int, int], _Pair | None] = {}
        self.partners: dict[int, dict[int, _Pair]] = {lp.idx: {} for lp in self.all}
        principal_idx = {lp.idx for lp in self.loops}
        for lp in self.loops:
            for j in sorted(principal_idx):
                if j <= lp.idx:
                    continue
                other = self.all[j]
                if not (lp.nodes & other.nodes):
                    continue
                p = _one_segment(lp, other)
                if p is not None:
                    self.pairs[(lp.idx, j)] = p
                    self.partners[lp.idx][j] = p
                    self.partners[j][lp.idx] = p

    def pair(self, a: "_Loop", b: "_Loop") -> "_Pair | None":
        key = (min(a.idx, b.idx), max(a.idx, b.idx))
        if key in self.pairs:
            return self.pairs[key]
        if key not in self.lazy:
            self.lazy[key] = _one_segment(a, b) if a.nodes & b.nodes else None
        return self.lazy[key]

    def sign(self, path) -> str:
        neg = 0
        for a, b in zip(path, path[1:]):
            p = self.graph.edges[(a, b)].polarity
            if p not in "+-":
                return "?"
            neg += p == "-"
        return "-" if neg % 2 else "+"

    def delays(self, path) -> int:
        return sum(self.graph.edges[(a, b)].delayed for a, b in zip(path, path[1:]))

    def all_positive(self, lp: _Loop) -> bool:
        return all(s == "+" for s in lp.loop.signs)

    def size(self, *idx: int) -> int:
        return sum(len(self.all[i].seq) for i in idx)


def _inner(path: tuple[str, ...]) -> tuple[str, ...]:
    return path[1:-1]


def _make(kind, loops, loop_roles, roles, key, variant="") -> Archetype:
    return Archetype(kind, tuple(l.id for l in loops), tuple(loop_roles),
                     tuple((r, tuple(v)) for r, v in roles), variant, 0, key)


def _pairs_and_triples(c: _Ctx) -> list[tuple[int, Archetype]]:
    out: list[tuple[int, Archetype]] = []
    L = c.all
    for (i, j), p in list(c.pairs.items()):
        if p is None:
            continue
        a, b = L[i], L[j]
        pols = {a.pol, b.pol}
        if pols == {"R", "B"}:
            r, bl = (a, b) if a.pol == "R" else (b, a)
            pr, pb = p.priv[r.idx], p.priv[bl.idx]
            if len(p.segment) >= 2 and c.delays(pr) > c.delays(pb):
                roles = [("problem symptom", p.segment[:1]), ("symptom to fix", p.segment[1:-1]),
                         ("fix", p.segment[-1:]), ("intended effect", _inner(pb)),
                         ("unintended consequence", _inner(pr))]
                out.append((c.size(i, j), _make("fixes that fail", (bl, r), ("fix (B)", "side effect (R)"),
                                                roles, (bl.id, r.id))))
            else:
                roles = [("growing action", _inner(pr)), ("performance", p.segment),
                         ("slowing action", _inner(pb))]
                out.append((c.size(i, j), _make("limits to success", (r, bl), ("engine (R)", "limit (B)"),
                                                roles, (r.id, bl.id))))
        elif pols == {"B"}:
            pa, pb = p.priv[i], p.priv[j]
            gap = p.segment[0]
            if c.graph.nodes[gap].kind == "stock" or len(pa) < 3 or len(pb) < 3:
                continue
            sa, sb = c.sign(pa[-2:]), c.sign(pb[-2:])
            if {sa, sb} != {"+", "-"}:
                continue
            (gl, pg), (sl, ps) = ((a, pa), (b, pb)) if sa == "+" else ((b, pb), (a, pa))
            roles = [("gap", p.segment[:1]), ("corrective action", ps[1:-2]), ("actual state", ps[-2:-1]),
                     ("pressure to lower the goal", pg[1:-2]), ("goal", pg[-2:-1]),
                     ("shared", p.segment[1:])]
            out.append((c.size(i, j), _make("eroding goals", (sl, gl), ("corrective action (B)", "goal erosion (B)"),
                                            roles, (sl.id, gl.id))))
        elif pols == {"R"}:
            pa, pb = p.priv[i], p.priv[j]
            sa, sb = c.sign(pa[:2]), c.sign(pb[:2])
            if {sa, sb} != {"+", "-"}:
                continue
            (wa, qa), (wb, qb) = ((a, pa), (b, pb)) if sa == "+" else ((b, pb), (a, pa))
            roles = [("allocation", p.segment), ("A: resources and success", _inner(qa)),
                     ("B: resources and success", _inner(qb))]
            out.append((c.size(i, j), _make("success to the successful", (wa, wb), ("A wins (R)", "B loses (R)"),
                                            roles, (wa.id, wb.id))))
    return out


def _shifting_the_burden(c: _Ctx) -> list[tuple[int, Archetype]]:
    """B1 and L2 among the principal loops; the side-effect loop R3 may be any loop."""
    out = []
    for b1 in c.loops:
        if b1.pol != "B":
            continue
        for l2 in c.loops:
            if l2.idx == b1.idx or not (b1.nodes & l2.nodes):
                continue
            near = set()
            for v in b1.nodes & l2.nodes:
                near |= c.by_node[v]
            for k in sorted(near):
                r3 = c.all[k]
                if r3.pol != "R" or k in (b1.idx, l2.idx):
                    continue
                p1, p2 = c.pair(b1, r3), c.pair(l2, r3)
                if p1 is None or p2 is None or len(p1.segment) < 2 or len(p2.segment) < 2:
                    continue
                s = p1.segment[0]
                if p2.segment[-1] != s or set(p1.segment) & set(p2.segment) != {s}:
                    continue
                x, f = p1.segment[-1], p2.segment[0]
                # the fundamental solution (as named) reduces the symptom; the fix acts faster
                if c.sign(p2.segment) != "-" or c.delays(b1.seq + b1.seq[:1]) > c.delays(l2.seq + l2.seq[:1]):
                    continue
                i = r3.seq.index(x)
                side = []
                k2 = i + 1
                while r3.seq[k2 % len(r3.seq)] != f:
                    side.append(r3.seq[k2 % len(r3.seq)])
                    k2 += 1
                roles = [("problem symptom", (s,)), ("symptomatic fix", p1.segment[1:] + _inner(p1.priv[b1.idx])),
                         ("side effect", tuple(side)),
                         ("fundamental solution", p2.segment[:-1] + _inner(p2.priv[l2.idx]))]
                variant = "" if l2.pol == "B" else (
                    "the fundamental-solution loop is reinforcing: the symptom squeezes the fundamental "
                    "solution (capability trap)")
                # most direct side effect first, then the shortest loops
                out.append((1000 * len(side) + c.size(b1.idx, l2.idx, r3.idx),
                            _make("shifting the burden", (b1, l2, r3),
                                  ("symptomatic fix (B)", f"fundamental solution ({l2.pol})",
                                   "side effect undermines the fundamental solution (R)"),
                                  roles, (b1.id, l2.id), variant)))
    return out


def _growth_and_underinvestment(c: _Ctx) -> list[tuple[int, Archetype]]:
    out = []
    L = c.all
    for (i, j), p in list(c.pairs.items()):
        if p is None or {L[i].pol, L[j].pol} != {"R", "B"}:
            continue
        r, b2 = (L[i], L[j]) if L[i].pol == "R" else (L[j], L[i])
        for k, q in c.partners[b2.idx].items():
            b3 = L[k]
            if b3.pol != "B" or b3.nodes & r.nodes:
                continue
            inv = q.priv[b3.idx]
            if c.delays(inv) < 1:
                continue
            limit = _inner(p.priv[b2.idx])
            roles = [("growth engine", _inner(p.priv[r.idx])), ("demand", p.segment),
                     ("performance limit", limit + tuple(v for v in q.segment if v not in limit)),
                     ("capacity investment", _inner(inv))]
            out.append((c.size(r.idx, b2.idx, b3.idx),
                        _make("growth and underinvestment", (r, b2, b3),
                              ("growth engine (R)", "limit (B)", "capacity investment (B)"),
                              roles, (r.id, b2.id, b3.id))))
    return out


def _disjoint_set(c: _Ctx, cands: list[_Loop]) -> list[_Loop]:
    chosen: list[_Loop] = []
    for lp in sorted(cands, key=lambda l: (len(l.seq), l.seq)):
        if all(not (lp.nodes & o.nodes) for o in chosen):
            chosen.append(lp)
    return chosen


def _escalation(c: _Ctx) -> list[tuple[int, Archetype]]:
    out = []
    L = c.all
    for r in c.loops:
        if r.pol != "R" or not c.all_positive(r):
            continue
        bs = _disjoint_set(c, [L[j] for j in c.partners[r.idx] if L[j].pol == "B"])
        if len(bs) < 2:
            continue
        roles = []
        for n, b in enumerate(bs):
            p = c.partners[r.idx][b.idx]
            roles.append((f"party {chr(65 + n)}", p.segment + _inner(p.priv[b.idx])))
        inside = set().union(*(set(v) for _, v in roles))
        roles.append(("threat", tuple(v for v in r.seq if v not in inside)))
        out.append((c.size(r.idx, *(b.idx for b in bs)),
                    _make("escalation", (r, *bs), ("race (R)",) + tuple(f"party {chr(65 + n)} (B)" for n in range(len(bs))),
                          roles, (frozenset(r.nodes),))))
    return out


def _tragedy(c: _Ctx) -> list[tuple[int, Archetype]]:
    out = []
    L = c.all
    for (i, j), p in list(c.pairs.items()):
        if p is None:
            continue
        ba, bb = L[i], L[j]
        if ba.pol != "B" or bb.pol != "B":
            continue
        for x, y in ((ba, bb), (bb, ba)):
            ras = sorted((L[k] for k in c.partners[x.idx] if L[k].pol == "R" and not (L[k].nodes & y.nodes)),
                         key=lambda l: (len(l.seq), l.seq))
            rbs = sorted((L[k] for k in c.partners[y.idx] if L[k].pol == "R" and not (L[k].nodes & x.nodes)),
                         key=lambda l: (len(l.seq), l.seq))
            found = next(((ra, rb) for ra in ras for rb in rbs if not (ra.nodes & rb.nodes)), None)
            if found is None:
                continue
            ra, rb = found
            if x is bb:
                break  # symmetric: already reported with (ba, bb) or not at all
            commons = p.segment
            exogenous = {n for n in c.graph.nodes} - {e.target for e in c.graph.causal_edges()}
            limits = tuple(sorted({e.source for e in c.graph.causal_edges()
                                   if e.target in commons and e.source in exogenous}))
            roles = [("A's activity and gain", ra.seq), ("B's activity and gain", rb.seq),
                     ("commons", commons), ("resource limit", limits)]
            out.append((c.size(ra.idx, rb.idx, ba.idx, bb.idx),
                        _make("tragedy of the commons", (ra, rb, x, y),
                              ("A's gain (R)", "B's gain (R)", "A's limit (B)", "B's limit (B)"),
                              roles, (commons,))))
            break
    return out


def _adversaries(c: _Ctx) -> list[tuple[int, Archetype]]:
    out = []
    L = c.all
    for ro in c.loops:
        if ro.pol != "R" or not c.all_positive(ro):
            continue
        rs = [L[j] for j in c.partners[ro.idx] if L[j].pol == "R"]
        rs.sort(key=lambda l: (len(l.seq), l.seq))
        done = False
        for n, ra in enumerate(rs):
            for rb in rs[n + 1:]:
                if ra.nodes & rb.nodes:
                    continue
                bx = [b for b in c.loops if b.pol == "B" and b.nodes & ro.nodes and b.nodes & ra.nodes
                      and b.nodes & rb.nodes]
                if not bx:
                    continue
                bx.sort(key=lambda l: (len(l.seq), l.seq))
                pa, pb = c.partners[ro.idx][ra.idx], c.partners[ro.idx][rb.idx]
                roles = [("A's success", pa.segment), ("A's own fix", _inner(pa.priv[ra.idx])),
                         ("B's success", pb.segment), ("B's own fix", _inner(pb.priv[rb.idx])),
                         ("partnership", tuple(v for v in ro.seq if v not in pa.segment and v not in pb.segment))]
                out.append((c.size(ro.idx, ra.idx, rb.idx, bx[0].idx),
                            _make("accidental adversaries", (ro, ra, rb, bx[0]),
                                  ("partnership (R)", "A's own fix (R)", "B's own fix (R)",
                                   "a fix obstructs the partner (B)"), roles, (frozenset(ro.nodes),))))
                done = True
                break
            if done:
                break
    return out


@dataclass(frozen=True)
class ArchetypeReport:
    """Archetype instances of a graph, ordered by plausibility when judged against a model (see
    :func:`find_archetypes`), then by kind, then simplicity."""

    graph: str
    instances: tuple[Archetype, ...]
    notes: tuple[str, ...] = ()

    def __iter__(self):
        return iter(self.instances)

    def __len__(self) -> int:
        return len(self.instances)

    def kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.instances:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out

    def of(self, kind: str) -> list[Archetype]:
        return [a for a in self.instances if a.kind == kind]

    def text(self, loop_names: dict[str, str] | None = None) -> str:
        """Every instance described, then the notes; with ``loop_names`` (loop id -> name) a last
        line names the loops."""
        if not self.instances:
            return f"no archetypes found in {self.graph}" + "".join(f"\nnote: {n}" for n in self.notes)
        parts = [a.describe() for a in self.instances]
        parts += [f"note: {n}" for n in self.notes]
        named = {i: n for i, n in (loop_names or {}).items() if n}
        if named:
            parts.append("loop names: " + ", ".join(f"{i} {n}" for i, n in named.items()))
        return "\n\n".join(parts)

    def to_json(self, loop_names: dict[str, str] | None = None) -> str:
        """The report as JSON; with ``loop_names`` each instance also lists its loops' names."""
        items = []
        for a in self.instances:
            d = a.as_dict()
            if loop_names is not None:
                d["loop_names"] = [loop_names.get(i, "") for i in d["loops"]]
            items.append(d)
        return json.dumps(dict(graph=self.graph, notes=list(self.notes), archetypes=items), indent=2)


def principal_loops(graph: CausalGraph, loops: LoopSet) -> tuple[list[Loop], str]:
    """The loops archetypes are built from, and a note saying which they are.

    A hand-drawn diagram uses all its loops. A model uses the loops named in its loop-name file
    if it names any (the loops the analyst cares about); otherwise the shortest loop through each
    link that lies on a loop (a small set that still covers every feedback link).
    """
    usable = [lp for lp in loops if lp.polarity in ("R", "B")]
    named = [lp for lp in usable if lp.name]
    if graph.origin == "cld" and not named:
        return usable, ""
    if named:
        return named, f"archetypes are built from the {len(named)} named loops (plus any side-effect loop)"
    best: dict[tuple[str, str], Loop] = {}
    for lp in usable:
        for link in lp.links():
            if link not in best or lp.length < best[link].length:
                best[link] = lp
    chosen = sorted({lp.id: lp for lp in best.values()}.values(), key=lambda l: (l.length, l.variables))
    return chosen, (f"archetypes are built from {len(chosen)} principal loops (the shortest loop through "
                    "each feedback link); name loops to choose them")


def find_archetypes(graph: CausalGraph, loops: LoopSet | None = None, *,
                    principal: list[Loop] | None = None, kinds: tuple[str, ...] | None = None,
                    per_kind: int | None = None, model: "Model | None" = None,
                    implausible: bool = False, levers: tuple[str, ...] | None = None,
                    behaviour: bool = True, dominance: "Dominance | bool | None" = None) -> ArchetypeReport:
    """Detect system archetypes in ``graph`` (see the module docstring for the definitions).

    With ``model`` every instance is judged for plausibility (:mod:`cxsystems.causal.plausibility`:
    decision roles that a policy lever acts on, confirmed by the scenarios' behaviour where that
    is cheap) and the report is ranked: confirmed, plausible, unchecked, then implausible; within
    each, by archetype (the order of :data:`ARCHETYPES`) and simplicity. Implausible instances
    are left out (a note counts them) unless ``implausible=True``. Without ``model`` nothing is
    judged and the order is by archetype, then simplicity.

    Args:
        graph: a model or CLD graph.
        loops: its loops (found here if not given); loops of changing or unknown polarity are skipped.
        principal: the loops archetypes are built from (default :func:`principal_loops`); the
            side-effect loop of shifting the burden may be any loop of ``loops``.
        kinds: restrict to these archetypes (names from :data:`ARCHETYPES`).
        per_kind: report at most this many instances per archetype (simplest first); ``None`` = all.
        model: the model ``graph`` was built from, to judge plausibility (see above).
        implausible: keep the implausible instances (marked as such).
        levers: the decision parameters (default: those the model's scenarios set).
        behaviour: run the model's scenarios to confirm fixes that fail and shifting the burden.
        dominance: the check that the side-effect loop of fixes that fail gains dominance after
            the fix: ``None`` computes it by Loops That Matter (see
            :mod:`cxsystems.causal.plausibility`); a callable ``dominance(archetype, scenario) ->
            bool | None`` replaces it (``False`` withholds the confirmation); ``False`` skips it.
    """
    from ..errors import CxError

    if kinds is not None:
        bad = [k for k in kinds if k not in ARCHETYPES]
        if bad:
            raise CxError(f"unknown archetype {bad[0]!r}: choose from {', '.join(ARCHETYPES)}")
    loops = loops if loops is not None else find_loops(graph)
    notes = []
    if principal is None:
        principal, note = principal_loops(graph, loops)
        if note:
            notes.append(note)
    c = _Ctx(graph, list(principal), list(loops))
    found: list[tuple[int, Archetype]] = []
    found += _pairs_and_triples(c)
    found += _shifting_the_burden(c)
    found += _growth_and_underinvestment(c)
    found += _escalation(c)
    found += _tragedy(c)
    found += _adversaries(c)
    # merge instances with the same key roles, keeping the simplest
    best: dict[tuple, tuple[int, Archetype, int]] = {}
    for size, a in found:
        k = (a.kind, a.key)
        if k not in best:
            best[k] = (size, a, 0)
        else:
            s0, a0, n0 = best[k]
            if (size, a.loops) < (s0, a0.loops):
                best[k] = (size, a, n0 + 1)
            else:
                best[k] = (s0, a0, n0 + 1)
    merged = [(s, Archetype(a.kind, a.loops, a.loop_roles, a.roles, a.variant, n, a.key))
              for s, a, n in best.values()]
    # drop generic patterns contained in a richer instance
    keep = []
    for s, a in merged:
        richer = _RICH if a.kind in _GENERIC else _CONTAINED_IN.get(a.kind, ())
        if any(b.kind in richer and a.variables <= b.variables for _, b in merged):
            continue
        keep.append((s, a))
    if kinds is not None:
        keep = [(s, a) for s, a in keep if a.kind in kinds]
    rank = {}
    hidden = 0
    if model is not None:
        from .plausibility import PLAUSIBILITY, Judge

        judge = Judge(graph, {v for lp in loops for v in lp.variables}, model, levers=levers,
                      behaviour=behaviour, dominance=dominance, loops=loops)
        judged = []
        for s, a in keep:
            j = judge(a)
            judged.append((s, replace(a, plausibility=j.plausibility, reasons=j.reasons)))
        keep = judged
        rank = {p: i for i, p in enumerate(PLAUSIBILITY)}
        if not implausible:
            hidden = sum(a.plausibility == "implausible" for _, a in keep)
            keep = [(s, a) for s, a in keep if a.plausibility != "implausible"]
    keep.sort(key=lambda sa: (rank.get(sa[1].plausibility, 0), ARCHETYPES.index(sa[1].kind), sa[0], sa[1].loops))
    if per_kind is not None:
        out, count = [], {}
        for s, a in keep:
            count[a.kind] = count.get(a.kind, 0) + 1
            if count[a.kind] <= per_kind:
                out.append((s, a))
        dropped = {k: n - per_kind for k, n in count.items() if n > per_kind}
        for k, n in dropped.items():
            notes.append(f"{n} more instance(s) of {k} not shown")
        keep = out
    if hidden:
        notes.append(f"{hidden} implausible match(es) hidden (a decision role nobody takes, or a vicious circle "
                     "as the success engine); show them with --all (implausible=True)")
    skipped = sum(1 for lp in loops if lp.polarity not in ("R", "B"))
    if skipped:
        notes.append(f"{skipped} loop(s) of changing or unknown polarity were not used")
    return ArchetypeReport(graph.name, tuple(a for _, a in keep), tuple(notes))
