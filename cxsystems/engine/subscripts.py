"""Vensim subscript ranges resolved for the engine: dimension -> ordered elements, subranges,
mappings and equivalences, and the element tuples a subscripted definition covers.

The engine unrolls subscripts when it translates a model (:mod:`cxsystems.engine.ir`): every
element of a subscripted variable is its own scalar slot, named as PySD names its flattened
output (``Stock[A1,B2]``: the variable's name, the elements' spelling from their range). This
module holds only the bookkeeping of names; it never evaluates anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from ..errors import CxError, UnsupportedConstruct

#: Most elements the engine unrolls: in one variable, in one SUM (or PROD, ...) and in a whole model.
#: Beyond, the model is left to PySD, whose arrays are numpy arrays.
MAX_ELEMENTS = 100_000


def check_size(n: int, what: str) -> None:
    """Refuse to unroll more than :data:`MAX_ELEMENTS` elements."""
    if n > MAX_ELEMENTS:
        raise UnsupportedConstruct(f"{what} has {n} elements; the engine unrolls at most {MAX_ELEMENTS}")


def key(name: str) -> str:
    """A range or element name compared as Vensim does: case, underscores and spaces do not matter."""
    text = str(name).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return " ".join(text.replace("_", " ").lower().split())


@dataclass(frozen=True)
class Ranges:
    """The subscript ranges of a model section.

    ``elements``: range key -> its element keys in order; ``spelling``: element or range key ->
    the spelling of its definition; ``mapping``: range key -> keys of the ranges it maps to
    (``->``) or is an equivalent copy of (``<->``); ``order``: range keys in definition order.
    """

    elements: dict
    spelling: dict
    mapping: dict
    order: tuple
    _index: dict = field(default_factory=dict, repr=False)  # range key -> {element key: 0-based}
    _mains: dict = field(default_factory=dict, repr=False)  # memo of main_of

    def __post_init__(self):
        for k, els in self.elements.items():
            self._index[k] = {e: i for i, e in enumerate(els)}
        self._index[None] = {e: 0 for els in self.elements.values() for e in els}  # every element

    def is_range(self, name: str) -> bool:
        return key(name) in self.elements

    def is_element(self, name: str) -> bool:
        return key(name) in self._index[None]

    def of(self, name: str) -> tuple:
        """Element keys of range ``name``."""
        return self.elements[key(name)]

    def index(self, rng: str, element: str) -> int:
        """0-based position of ``element`` in range ``rng``."""
        return self._index[key(rng)][key(element)]

    def main_of(self, rng: str | None, element: str) -> str | None:
        """The main range holding range ``rng`` (or, without one, ``element``): the one range no
        other range strictly contains (of equal ranges, the first by name, as PySD orders them);
        None if that is not one range."""
        memo = key(rng) if rng is not None else ("element", key(element))
        if memo not in self._mains:
            members = frozenset(self.of(rng)) if rng is not None else frozenset({key(element)})
            sets = {k: frozenset(els) for k, els in self.elements.items()}
            mains = [k for k, s in sets.items() if members <= s and not any(s < t for t in sets.values())]
            one = len({sets[k] for k in mains}) == 1
            self._mains[memo] = min(mains, key=lambda k: k.replace(" ", "_")) if one else None
        return self._mains[memo]

    def position(self, rng: str | None, element: str) -> int | None:
        """The 1-based position of ``element`` (of range ``rng``, if given) in the main range
        holding it (:meth:`main_of`); None if that is not one range."""
        main = self.main_of(rng, element)
        return None if main is None else self.index(main, element) + 1


def resolve_ranges(abstract_ranges, workdir=None) -> Ranges:
    """Resolve PySD's ``AbstractSubscriptRange`` list (subranges named inside a definition are
    expanded, copies ``<->`` take the elements of their original). A range defined by GET
    XLS/DIRECT SUBSCRIPT reads its elements from the copy staged in ``workdir``, the model's
    private folder (:func:`cxsystems.engine.data.read_subscript`); without one it is refused."""
    raw, spelling, mapping, order = {}, {}, {}, []
    for r in abstract_ranges:
        k = key(r.name)
        spelling[k] = str(r.name)
        order.append(k)
        maps = []
        if isinstance(r.subscripts, str):  # equivalence: DimB <-> DimA
            # (its ``mapping`` is not read: PySD's parser gives every copy one shared list, which
            # PySD's code builder then appends to)
            maps.append(key(r.subscripts))
            raw[k] = key(r.subscripts)
        elif isinstance(r.subscripts, list):
            for m in r.mapping or ():
                if not isinstance(m, str):
                    raise UnsupportedConstruct(f"subscript mapping of {r.name!r} lists elements")
                maps.append(key(m))
            raw[k] = list(r.subscripts)
        elif isinstance(r.subscripts, dict) and workdir is not None:  # GET XLS/DIRECT SUBSCRIPT
            from .data import read_subscript

            for m in r.mapping or ():
                if not isinstance(m, str):
                    raise UnsupportedConstruct(f"subscript mapping of {r.name!r} lists elements")
                maps.append(key(m))
            raw[k] = read_subscript(workdir, r.subscripts, str(r.name))
        else:
            raise UnsupportedConstruct(f"subscript range {r.name!r} is read from a file")
        mapping[k] = tuple(maps)

    elements: dict = {}

    def expand(k: str, seen: tuple) -> tuple:
        if k in elements:
            return elements[k]
        if k in seen:
            raise CxError(f"engine: subscript range {spelling.get(k, k)!r} is defined through itself")
        if k not in raw:
            raise CxError(f"engine: unknown subscript range {k!r}")
        d = raw[k]
        if isinstance(d, str):
            out = expand(d, (*seen, k))
        else:
            out = []
            for item in d:
                ik = key(item)
                if ik in raw and ik != k:
                    out.extend(expand(ik, (*seen, k)))
                else:
                    out.append(ik)
                    spelling.setdefault(ik, str(item))
        if len(set(out)) != len(out):
            raise CxError(f"engine: subscript range {spelling[k]!r} repeats an element")
        elements[k] = tuple(out)
        return elements[k]

    for k in order:
        expand(k, ())
    for k in order:  # an equivalence holds both ways (the same elements in the same order)
        if isinstance(raw[k], str) and k not in mapping[raw[k]]:
            mapping[raw[k]] += (k,)
    for k, maps in mapping.items():
        for m in maps:
            if m not in elements:
                raise CxError(f"engine: subscript range {spelling[k]!r} maps to unknown range {m!r}")
            if len(elements[m]) != len(elements[k]):
                raise CxError(f"engine: subscript range {spelling[k]!r} maps to {spelling[m]!r} "
                              "of another length")
    return Ranges(elements, spelling, mapping, tuple(order))


def lhs_positions(ranges: Ranges, subs: list, owner: str) -> list:
    """For each subscript on the left of a definition: ``(range key or None, element keys)``."""
    out = []
    for s in subs:
        k = key(s)
        if ranges.is_element(s):
            out.append((None, (k,)))
        elif ranges.is_range(s):
            out.append((k, ranges.of(s)))
        else:
            raise CxError(f"engine: {owner!r}: unknown subscript {s!r}")
    dims = [d for d, _ in out if d is not None]
    if len(set(dims)) != len(dims):
        raise UnsupportedConstruct(f"{owner!r} repeats a subscript range on its left side")
    return out


def except_tuples(ranges: Ranges, excepts, owner: str) -> set:
    """The element tuples ``:EXCEPT:`` removes from a definition."""
    gone = set()
    for ex in excepts or ():
        gone.update(product(*[els for _, els in lhs_positions(ranges, list(ex), owner)]))
    return gone


def component_tuples(ranges: Ranges, comp_subs, owner: str) -> list:
    """``[(element tuple, {range key: element key})]`` a component defines, ``:EXCEPT:`` removed."""
    subs, excepts = (list(comp_subs[0]), comp_subs[1]) if comp_subs else ([], [])
    pos = lhs_positions(ranges, subs, owner)
    n = 1
    for _, els in pos:
        n *= len(els)
    check_size(n, repr(owner))
    gone = except_tuples(ranges, excepts, owner)
    if gone and any(len(ex) != len(subs) for ex in excepts):
        raise CxError(f"engine: {owner!r}: :EXCEPT: has another number of subscripts")
    out = []
    for tup in product(*[els for _, els in pos]):
        if tup in gone:
            continue
        env = {d: e for (d, _), e in zip(pos, tup) if d is not None}
        out.append((tup, env))
    return out


def column_order(ranges: Ranges, components: list, defined: set, owner: str) -> list:
    """The defined element tuples of a variable in PySD's output order: for each position, the
    order of the range its elements make (the range named on the left if it covers them all, else
    the first range in definition order that does)."""
    n = len(next(iter(defined)))
    orders = []
    for i in range(n):
        union = {t[i] for t in defined}
        named = [key(c.subscripts[0][i]) for c in components if ranges.is_range(c.subscripts[0][i])]
        pick = next((r for r in named if set(ranges.of(r)) == union), None)
        if pick is None:
            pick = next((r for r in ranges.order if set(ranges.of(r)) == union), None)
        if pick is None:
            pick = next((r for r in ranges.order if union <= set(ranges.of(r))), None)
        if pick is None:
            raise CxError(f"engine: {owner!r}: its elements belong to no subscript range")
        orders.append([e for e in ranges.of(pick) if e in union])
    return [t for t in product(*orders) if t in defined]  # Vensim saves only defined elements


def column_name(ranges: Ranges, name: str, tup: tuple) -> str:
    """PySD's flattened column name: ``Name[Elem 1,Elem 2]``."""
    return f"{name}[{','.join(ranges.spelling[e] for e in tup)}]"
