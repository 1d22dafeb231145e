"""Lint: compare the polarities drawn in a causal loop diagram with what a model's equations do.

The diagram's variables are matched to model variables by name (case- and blank-insensitive). The
model graph is collapsed onto the matched variables (paths through variables the diagram leaves
out become single links whose sign is the product along the path), then every pair is compared:

``mismatch``        drawn ``+`` where the model gives ``-`` (or the reverse);
``only in diagram`` drawn, but the model has no such influence (not even through left-out variables);
``only in model``   the model has the influence, the diagram does not draw it (influences that pass
                    through a stock the diagram leaves out are indirect and not required);
``ambiguous``       the model's most direct paths between the two variables disagree in sign, or a
                    sign changes during the run, so a single drawn sign cannot be checked;
``unchecked``       drawn with ``?``; the model's sign is reported;
``delay``           drawn with a delay mark the model does not have, or the reverse;
``unknown variable`` a diagram variable with no model counterpart (closest names suggested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..names import closest
from .graph import CausalGraph, _norm
from .views import collapse, through_stock

#: Finding kinds that make a diagram disagree with the model.
ERRORS = ("mismatch", "only in diagram", "only in model", "unknown variable")


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

    @property
    def ok(self) -> bool:
        """True when no finding is an error (mismatch, one-sided link, unknown variable)."""
        return not any(f.kind in ERRORS for f in self.findings)

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def text(self) -> str:
        lines = [f"{f.kind}: {f.message}" for f in self.findings]
        n_err = sum(f.kind in ERRORS for f in self.findings)
        lines.append(f"{self.diagram} vs {self.model}: {self.checked} drawn link(s) checked, "
                     f"{n_err} problem(s), {len(self.findings) - n_err} note(s)")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(dict(model=self.model, diagram=self.diagram, ok=self.ok, checked=self.checked,
                               findings=[f.as_dict() for f in self.findings]), indent=2)


def lint(model: CausalGraph, diagram: CausalGraph) -> LintReport:
    """Compare ``diagram`` (a CLD graph) with ``model`` (a model graph); see the module docstring."""
    index = {_norm(n): n for n in model.nodes}
    findings: list[Finding] = []
    match: dict[str, str] = {}
    for v in diagram.nodes:
        m = index.get(_norm(v))
        if m is None:
            close = closest(v, model.nodes)
            hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
            findings.append(Finding("unknown variable", v, "", f"{v!r} is not a variable of {model.name}{hint}"))
        else:
            match[v] = m
    inverse = {m: v for v, m in match.items()}
    view = collapse(model, list(match.values())) if len(match) >= 1 else None
    checked = 0
    drawn_pairs = set()
    for e in diagram.causal_edges():
        if e.source not in match or e.target not in match:
            continue
        a, b = match[e.source], match[e.target]
        drawn_pairs.add((a, b))
        checked += 1
        me = view.edges.get((a, b)) if view is not None else None
        link = f"{e.source} -> {e.target}"
        if me is None:
            findings.append(Finding("only in diagram", e.source, e.target,
                                    f"{link} is drawn {e.polarity}, but in {model.name} {e.source!r} does not "
                                    f"influence {e.target!r} (not even through variables the diagram leaves out)",
                                    e.polarity, ""))
            continue
        how = _how(me)
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
            findings.append(Finding("only in model", src, dst,
                                    f"{src} -> {dst} ({me.polarity}, {_how(me)}) is in {model.name} but not drawn",
                                    "", me.polarity))
    order = {k: i for i, k in enumerate(("mismatch", "only in diagram", "only in model", "unknown variable",
                                         "ambiguous", "delay", "unchecked"))}
    findings.sort(key=lambda f: (order[f.kind], f.source, f.target))
    return LintReport(model.name, diagram.name, tuple(findings), checked)


def _how(e) -> str:
    if e.method == "collapsed" and e.via:
        path = e.via[0]
        more = f" and {len(e.via) - 1} more path(s)" if len(e.via) > 1 else ""
        return f"via {', '.join(path)}{more}" if path else "direct"
    return e.reason or e.method
