"""The one name matcher: how a user's spelling of a model name is matched, and "did you mean".

Vensim names are case-insensitive and treat spaces and underscores alike; a quoted Vensim name
(``"demand/factor"``) is the same name without its quotes. Every lookup of a parameter,
variable, scenario, model, metric or diagram node goes through :func:`match`, so a name that works
in one place works everywhere, and every refusal reads the same way::

    match("hiring  delay", model.parameters, what="parameter", where="--set")
    # -> 'Hiring Delay'
    match("Hirng Delay", ...)
    # CxError: --set: unknown parameter 'Hirng Delay'; closest: 'Hiring Delay'
"""

from __future__ import annotations

import difflib
from typing import Iterable

from .errors import CxError


def norm(name: object) -> str:
    """Canonical form of a name: lower case, underscores as spaces, runs of white space as one
    space, surrounding double quotes dropped (``'"Demand/Factor"'`` -> ``'demand/factor'``)."""
    text = " ".join(str(name).replace("_", " ").split())
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = " ".join(text[1:-1].split())
    return text.lower()


def closest(name: object, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates that look like ``name`` (close in spelling), best first."""
    cands = list(dict.fromkeys(candidates))
    by_norm: dict[str, str] = {}
    for c in cands:
        by_norm.setdefault(norm(c), c)
    hits = difflib.get_close_matches(norm(name), list(by_norm), n=n, cutoff=0.5)
    if not hits:  # short or heavily misspelt names: a looser cut-off still helps
        hits = difflib.get_close_matches(norm(name), list(by_norm), n=n, cutoff=0.3)
    return [by_norm[h] for h in hits]


def find(name: object, candidates: Iterable[str]) -> str | None:
    """The candidate that is ``name`` under :func:`norm`, or ``None``."""
    key = norm(name)
    for c in candidates:
        if norm(c) == key:
            return c
    return None


def match(name: object, candidates: Iterable[str], *, what: str = "name", where: str = "",
          owner: str = "", listing: bool = False) -> str:
    """Return the candidate that is ``name`` (see :func:`norm`); else raise a one-line CxError.

    Args:
        name: the user's spelling.
        candidates: the valid names, in the order to list them.
        what: the kind of thing, for the message (``"parameter"``, ``"scenario"``, ...).
        where: the file, table or option the name came from (the message starts with it).
        owner: what the candidates belong to (``"model cx_service"``).
        listing: name every valid candidate in the message (for short lists such as scenarios).

    Raises:
        CxError: ``"<where>: unknown <what> 'x' in <owner>; closest: 'a', 'b'"`` (with
            ``listing``: ``"...; choose from a, b, c; did you mean a?"``).
    """
    cands = list(dict.fromkeys(candidates))
    hit = find(name, cands)
    if hit is not None:
        return hit
    raise CxError(unknown_message(name, cands, what=what, where=where, owner=owner, listing=listing))


def unknown_message(name: object, candidates: Iterable[str], *, what: str = "name", where: str = "",
                    owner: str = "", listing: bool = False) -> str:
    """The one-line refusal :func:`match` raises (for callers that collect findings instead)."""
    cands = list(dict.fromkeys(candidates))
    near = closest(name, cands)
    prefix = f"{where}: " if where else ""
    text = f"{prefix}unknown {what} {str(name)!r}" + (f" in {owner}" if owner else "")
    if listing:
        text += f": choose from {', '.join(cands) or '(none)'}"
        if near:
            text += f"; did you mean {', '.join(near)}?"
    elif near:
        text += "; closest: " + ", ".join(repr(c) for c in near)
    return text
