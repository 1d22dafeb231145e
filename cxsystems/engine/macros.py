"""Expand Vensim macros (``:MACRO:`` ... ``:END OF MACRO:``) into the main section of a model.

PySD's ``AbstractModel`` keeps one section per macro. :func:`expand` returns a model with a single
section in which every macro call is replaced by a reference to a private copy of the macro's
variables: one copy per call site, its variables named ``<caller> [<MACRO> <variable>]`` (a
second call of the same macro in the same equation gets ``<MACRO> 2``, and so on). The macro's
parameters become copies too, defined by the call's arguments (evaluated once, as in Vensim),
and the call's value is the copy of the variable named like the macro. Stocks and other stateful
functions inside a macro therefore get their own state at each call site. Macros may call other
macros (expanded recursively; a macro that calls itself is refused).

Only the tree is rewritten: no model text is evaluated. Macros with additional outputs
(``:MACRO: NAME(inputs : outputs)``) are refused with :class:`UnsupportedConstruct`.
"""

from __future__ import annotations

import dataclasses

from ..errors import CxError, UnsupportedConstruct


def _norm(name: str) -> str:
    text = str(name).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return " ".join(text.replace("_", " ").lower().split())


#: Names a macro body may use without defining them (Vensim's time and control variables).
_GLOBAL = {"time", "initial time", "final time", "time step", "saveper"}

#: Deepest chain of macro calls expanded (a guard against runaway expansion).
MAX_DEPTH = 20


@dataclasses.dataclass(frozen=True)
class Expansion:
    """The result of :func:`expand`: the rewritten model and the names of the created variables."""

    model: object
    hidden: frozenset  # normalised names of the variables created for macro calls


class _Expander:
    def __init__(self, am, main, macros):
        from pysd.translators.structures import abstract_expressions as ae

        self.ae = ae
        self.am, self.main, self.macros = am, main, macros
        self.taken = {_norm(el.name) for el in main.elements}
        self.counts: dict = {}
        self.new_elements: list = []
        self.hidden: set = set()

    # -- tree rewriting
    def rewrite(self, node, renames: dict, caller: str, depth: int):
        """``node`` with references renamed (``renames``: normalised name -> new name) and macro
        calls expanded, for the equation of ``caller``."""
        ae = self.ae
        if isinstance(node, ae.ReferenceStructure):
            new = renames.get(_norm(node.reference))
            subs = node.subscripts
            if subs is not None:
                subs = self.rewrite(subs, renames, caller, depth)
            if new is None:
                return node if subs is node.subscripts else dataclasses.replace(node, subscripts=subs)
            return dataclasses.replace(node, reference=new, subscripts=subs)
        if isinstance(node, ae.CallStructure) and isinstance(node.function, ae.ReferenceStructure):
            key = _norm(node.function.reference)
            args = tuple(self.rewrite(a, renames, caller, depth) for a in node.arguments)
            if key in self.macros:  # a call named like a macro is that macro (also in its own body)
                out = self.instantiate(key, args, caller, depth + 1)
                return ae.ReferenceStructure(reference=out, subscripts=None)
            fn = node.function
            if key in renames:  # a lookup defined inside the macro
                fn = dataclasses.replace(fn, reference=renames[key])
            return dataclasses.replace(node, function=fn, arguments=args)
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            changes = {}
            for f in dataclasses.fields(node):
                value = getattr(node, f.name)
                new = self.rewrite(value, renames, caller, depth)
                if new is not value:
                    changes[f.name] = new
            return dataclasses.replace(node, **changes) if changes else node
        if isinstance(node, tuple):
            items = tuple(self.rewrite(x, renames, caller, depth) for x in node)
            return node if all(a is b for a, b in zip(items, node)) else items
        if isinstance(node, list):
            return [self.rewrite(x, renames, caller, depth) for x in node]
        return node

    # -- one call site
    def _fresh(self, name: str) -> str:
        key = _norm(name)
        if key in self.taken:
            raise CxError(f"engine: macro expansion would create {name!r}, which the model already defines")
        self.taken.add(key)
        self.hidden.add(key)
        return name

    def instantiate(self, key: str, args: tuple, caller: str, depth: int) -> str:
        """Add a private copy of macro ``key`` called with ``args``; return its output's name."""
        section = self.macros[key]
        label = section.name.replace("_", " ").upper()
        if depth > MAX_DEPTH:
            raise UnsupportedConstruct(f"{caller!r}: macro {label} calls itself (directly or through "
                                       "other macros)")
        if len(args) != len(section.params):
            raise CxError(f"engine: {caller!r}: macro {label} takes {len(section.params)} arguments, "
                          f"got {len(args)}")
        n = self.counts[(caller, key)] = self.counts.get((caller, key), 0) + 1
        tag = label if n == 1 else f"{label} {n}"
        renames = {}
        for p in section.params:
            renames[_norm(p)] = self._fresh(f"{caller} [{tag} {p}]")
        for el in section.elements:
            k = _norm(el.name)
            if k in _GLOBAL:
                raise UnsupportedConstruct(f"macro {label} redefines {el.name!r}")
            if k in renames:
                raise CxError(f"engine: macro {label} defines its parameter {el.name!r}")
            renames[k] = self._fresh(f"{caller} [{tag} {el.name}]")
        if key not in renames:
            raise CxError(f"engine: macro {label} does not define its output {label!r}")
        for p, arg in zip(section.params, args):
            comp = self._component(arg)
            self.new_elements.append(self._element(renames[_norm(p)], [comp]))
        for el in section.elements:
            name = renames[_norm(el.name)]
            comps = [dataclasses.replace(c, ast=self.rewrite(c.ast, renames, name, depth))
                     for c in el.components]
            self.new_elements.append(dataclasses.replace(el, name=name, components=comps))
        return renames[key]

    def _component(self, ast):
        from pysd.translators.structures.abstract_model import AbstractComponent

        return AbstractComponent(subscripts=([], []), ast=ast)

    def _element(self, name: str, comps: list):
        from pysd.translators.structures.abstract_model import AbstractElement

        return AbstractElement(name=name, components=comps)

    # -- the main section
    def run(self):
        main_elements = []
        for el in self.main.elements:
            comps = []
            for c in el.components:
                ast = self.rewrite(c.ast, {}, el.name, 0)
                if ast is not c.ast and c.subscripts and c.subscripts[0]:
                    raise UnsupportedConstruct(f"{el.name!r} calls a macro in a subscripted equation")
                comps.append(dataclasses.replace(c, ast=ast))
            main_elements.append(dataclasses.replace(el, components=comps))
        section = dataclasses.replace(self.main, elements=tuple(main_elements + self.new_elements))
        return dataclasses.replace(self.am, sections=(section,))


def expand(abstract_model) -> Expansion:
    """Expand every macro call of ``abstract_model`` (PySD's ``AbstractModel``) into its main
    section. A model without macros is returned unchanged."""
    sections = list(abstract_model.sections)
    if len(sections) == 1:
        return Expansion(abstract_model, frozenset())
    mains = [s for s in sections if s.type == "main"]
    if len(mains) != 1:
        raise UnsupportedConstruct(f"model has {len(mains)} main sections")
    macros = {}
    for s in sections:
        if s.type == "main":
            continue
        if s.type != "macro":
            raise UnsupportedConstruct(f"section {s.name!r} of type {s.type!r} is not supported")
        if s.returns:
            raise UnsupportedConstruct(f"macro {s.name!r} has additional outputs "
                                       f"({', '.join(map(str, s.returns))}), which the engine does not support")
        if s.subscripts:
            raise UnsupportedConstruct(f"macro {s.name!r} defines subscript ranges")
        macros[_norm(s.name)] = s
    expander = _Expander(abstract_model, mains[0], macros)
    return Expansion(expander.run(), frozenset(expander.hidden))
