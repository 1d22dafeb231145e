"""Lint: compare the polarities drawn in a causal loop diagram with what a model's equations do.

The diagram's variables are matched to model variables by name (case-, blank- and
hyphen-insensitive: "First-contact resolution" is First Contact Resolution), or
through an alias: a room's wording rarely matches the model's names, so ``alias: "Agent capacity" =
"Service Capacity"`` lines in the ``.cld`` file, or a mapping file (``aliases=``, read with
:func:`cxsystems.causal.cld_format.load_aliases`; it wins over the file's lines), say which model
variable a drawn name stands for; ``= "opposite of Handle Time"`` says the drawn name rises when the
variable falls (a room draws "fast closing", the model has a handle time), so the model's signs at
that name are read reversed. The model graph is collapsed onto the matched variables (paths through variables the diagram leaves
out become single links whose sign is the product along the path), then every pair is compared:

``mismatch``        drawn ``+`` where the model gives ``-`` (or the reverse);
``only in diagram`` drawn, but the model has no such influence (not even through left-out variables);
``only in model``   the model has the influence, the diagram does not draw it (influences that pass
                    through a stock the diagram leaves out are indirect and not required); by
                    default lint checks the drawn links only and lists these as information (a
                    sketch tells one story, not the whole model); ``strict=True`` counts them as
                    disagreements;
``ambiguous``       the model's most direct paths between the two variables disagree in sign, or a
                    sign changes during the run, so a single drawn sign cannot be checked;
``unchecked``       drawn with ``?``; the model's sign is reported;
``assumed``         drawn ``assumed`` (the room's assumption) and the model has no such influence:
                    information, since the model's runs cannot test it (``strict=True`` counts it as
                    ``only in diagram``); an assumed link whose sign the model contradicts is still a
                    ``mismatch``;
``delay``           drawn with a delay mark the model does not have, or the reverse;
``unknown variable`` a diagram variable with no model counterpart (closest names suggested).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from ..names import closest
from .graph import CausalGraph, _norm
from .views import collapse, through_stock

#: An alias to the opposite of a model variable: ``alias: "Fast closing" = "opposite of Handle Time"``.
_OPPOSITE = re.compile(r"^\s*opposite\s+of\s+", re.IGNORECASE)
_FLIP = {"+": "-", "-": "+"}

#: Finding kinds that make a diagram disagree with the model (``only in model`` only when strict).
ERRORS = ("mismatch", "only in diagram", "only in model", "unknown variable")
#: The same when only the drawn links are checked (the default).
DRAWN_ERRORS = ("mismatch", "only in diagram", "unknown variable")


@dataclass(frozen=True)
class Finding:
    """One lint finding: its kind, the link or variable, and a one-line message."""

    kind: str
    source: str
    target: str
    message: str
    drawn: str = ""
    model: str = ""

    def as_dict(self) -> dict:
        return dict(kind=self.kind, source=self.source, target=self.target, drawn=self.drawn,
                    model=self.model, message=self.message)


@dataclass(frozen=True)
class LintReport:
    """All findings for one diagram against one model."""

    model: str
    diagram: str
    findings: tuple[Finding, ...]
    checked: int
    strict: bool = False
    aliases: tuple[tuple[str, str], ...] = ()

    @property
    def errors(self) -> tuple[str, ...]:
        """The finding kinds that count as disagreements in this report."""
        return ERRORS if self.strict else DRAWN_ERRORS

    @property
    def ok(self) -> bool:
        """True when no finding is an error (mismatch, link drawn that the model lacks, unknown
        variable; with ``strict`` also a model link the diagram leaves out)."""
        return not any(f.kind in self.errors for f in self.findings)

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def text(self) -> str:
        errors = self.errors
        lines = [f"info, {f.kind}: {f.message}" if f.kind == "assumed" or (f.kind == "only in model" and not self.strict)
                 else f"{f.kind}: {f.message}" for f in self.findings]
        n_err = sum(f.kind in errors for f in self.findings)
        n_model = len(self.of("only in model"))
        tail = ""
        if n_model and not self.strict:
            tail = (f"; {n_model} model link(s) not drawn, listed as information "
                    "(drawn links only; --strict counts them)")
        used = f", {len(self.aliases)} alias(es)" if self.aliases else ""
        lines.append(f"{self.diagram} vs {self.model}: {self.checked} drawn link(s) checked{used}, "
                     f"{n_err} problem(s), {len(self.findings) - n_err} note(s){tail}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(dict(model=self.model, diagram=self.diagram, ok=self.ok, checked=self.checked,
                               strict=self.strict, aliases=[list(a) for a in self.aliases],
                               findings=[f.as_dict() for f in self.findings]), indent=2)


def lint(model: CausalGraph, diagram: CausalGraph, *, aliases=None, strict: bool = False) -> LintReport:
    """Compare ``diagram`` (a CLD graph) with ``model`` (a model graph); see the module docstring.

    Args:
        aliases: ``{drawn name: model variable}`` (or pairs), on top of the diagram's ``alias`` lines.
        strict: count model links the diagram does not draw as disagreements (default: information).
    """
    from ..errors import CxError

    index = {_norm(n): n for n in model.nodes}
    table = {_norm(a): m for a, m in getattr(diagram, "aliases", ())}
    extra = dict(aliases.items() if isinstance(aliases, dict) else (aliases or ()))
    table.update({_norm(a): m for a, m in extra.items()})
    drawn = {_norm(v) for v in diagram.nodes}
    findings: list[Finding] = []
    for a in extra:
        if _norm(a) not in drawn:
            findings.append(Finding("unused alias", a, "", f"alias {a!r} names no variable of {diagram.name}"))
    match: dict[str, str] = {}
    used: list[tuple[str, str]] = []
    opposite: set[str] = set()
    for v in diagram.nodes:
        target = table.get(_norm(v))
        name = target if target is not None else v
        if target is not None and _OPPOSITE.match(target):
            name = _OPPOSITE.sub("", target)
            opposite.add(v)
        m = index.get(_norm(name)) or index.get(_norm(name.replace("-", " ")))
        if m is None:
            close = closest(name, model.nodes)
            hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
            what = f"{v!r} (alias of {target!r})" if target is not None else f"{v!r}"
            how = "" if target is not None else "; give an alias (alias: DRAWN = MODEL) if it stands for one"
            findings.append(Finding("unknown variable", v, "",
                                    f"{what} is not a variable of {model.name}{hint}{how}"))
        else:
            match[v] = m
            if target is not None:
                used.append((v, m))
    inverse: dict[str, str] = {}
    for v, m in match.items():
        if m in inverse:
            raise CxError(f"{diagram.name}: {inverse[m]!r} and {v!r} both stand for {model.name}'s {m!r}; "
                          "a model variable may be drawn once")
        inverse[m] = v
    view = collapse(model, list(match.values())) if len(match) >= 1 else None
    checked = 0
    drawn_pairs = set()
    assumed = set(getattr(diagram, "assumed", ()))
    for e in diagram.causal_edges():
        if e.source not in match or e.target not in match:
            continue
        a, b = match[e.source], match[e.target]
        drawn_pairs.add((a, b))
        checked += 1
        me = view.edges.get((a, b)) if view is not None else None
        if me is not None and (e.source in opposite) != (e.target in opposite):
            me = replace(me, polarity=_FLIP.get(me.polarity, me.polarity))
        link = f"{e.source} -> {e.target}"
        if me is None and (e.source, e.target) in assumed and not strict:
            findings.append(Finding("assumed", e.source, e.target,
                                    f"{link} is drawn {e.polarity} as the room's assumption; {model.name} has no "
                                    "such influence, so its runs cannot test it", e.polarity, ""))
            continue
        if me is None:
            findings.append(Finding("only in diagram", e.source, e.target,
                                    f"{link} is drawn {e.polarity}, but in {model.name} {e.source!r} does not "
                                    f"influence {e.target!r} (not even through variables the diagram leaves out)",
                                    e.polarity, ""))
            continue
        how = _how(me) + _read(e.source, e.target, opposite, match)
        if me.polarity == "?" or me.polarity == "mixed" or me.polarity == "0":
            findings.append(Finding("ambiguous", e.source, e.target,
                                    f"{link} is drawn {e.polarity}; the model's sign is not single: {me.reason}",
                                    e.polarity, me.polarity))
        elif e.polarity == "?":
            findings.append(Finding("unchecked", e.source, e.target,
                                    f"{link} is drawn ?; the model gives {me.polarity} ({how})", "?", me.polarity))
        elif e.polarity != me.polarity:
            findings.append(Finding("mismatch", e.source, e.target,
                                    f"{link} is drawn {e.polarity}, the model gives {me.polarity} ({how})",
                                    e.polarity, me.polarity))
        if me.polarity in "+-" and e.delayed != me.delayed:
            what = "drawn with a delay the model does not have" if e.delayed else \
                "drawn without delay, but the model's influence goes through a stock, SMOOTH or DELAY"
            findings.append(Finding("delay", e.source, e.target, f"{link} is {what}", e.polarity, me.polarity))
    if view is not None:
        for (a, b), me in sorted(view.edges.items()):
            if (a, b) in drawn_pairs or a == b or through_stock(model, me):
                continue
            src, dst = inverse[a], inverse[b]
            pol = _FLIP.get(me.polarity, me.polarity) if (src in opposite) != (dst in opposite) else me.polarity
            findings.append(Finding("only in model", src, dst,
                                    f"{src} -> {dst} ({pol}, {_how(me)}{_read(src, dst, opposite, match)}) is in "
                                    f"{model.name} but not drawn", "", pol))
    kinds = ("mismatch", "only in diagram", "only in model", "unknown variable", "ambiguous", "delay", "unchecked",
             "unused alias", "assumed")
    if not strict:  # model-only links are information: listed last
        kinds = tuple(k for k in kinds if k != "only in model") + ("only in model",)
    order = {k: i for i, k in enumerate(kinds)}
    findings.sort(key=lambda f: (order[f.kind], f.source, f.target))
    return LintReport(model.name, diagram.name, tuple(findings), checked, strict, tuple(used))


def _read(src: str, dst: str, opposite: set[str], match: dict[str, str]) -> str:
    """``'; Fast closing is the opposite of Handle Time'`` when a link's end is an opposite alias."""
    notes = [f"{v} is the opposite of {match[v]}" for v in (src, dst) if v in opposite]
    return "".join(f"; {n}" for n in notes)


def _how(e) -> str:
    if e.method == "collapsed" and e.via:
        path = e.via[0]
        more = f" and {len(e.via) - 1} more path(s)" if len(e.via) > 1 else ""
        return f"via {', '.join(path)}{more}" if path else "direct"
    return e.reason or e.method
