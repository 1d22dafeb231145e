"""A plain-text format for causal loop diagrams sketched in a workshop (no equations).

Example (``models/cld/*.cld``)::

    # Lines starting with '#' are comments.
    title: Shifting the burden in customer service
    # CAUSE -> EFFECT : SIGN [delay] [assumed]   SIGN is +, -, or ? (also s/o for same/opposite)
    Ticket backlog -> Hiring : +
    Hiring -> Agent capacity : + delay
    Agent capacity -> Ticket backlog : -
    # 'assumed': the room believes it; the model need not have it (lint lists it as information)
    Customer pain -> Leadership commitment : + delay assumed
    # optional: which variables are stocks (accumulations)
    stock: Ticket backlog, Agent capacity
    # optional: loop names, matched by the set of variables on the loop; (R) or (B) is checked
    loop hire to cover (B): Ticket backlog, Hiring, Agent capacity
    # optional: hand layout for drawings (x to the right, y up)
    position Ticket backlog: 0, 0
    # optional: the model variable a drawn name stands for, for lint (quotes are optional)
    alias: "Agent capacity" = "Service Capacity"

Names are matched case- and blank-insensitively and keep the spelling first used. Delay marks are
``delay``, ``//`` or ``||``. ``assumed`` marks a link as the room's assumption: :func:`cxsystems.causal.lint`
lists it as information when the model lacks it (its runs cannot test it) and still reports a
sign the model contradicts. An ``alias`` line names a variable the diagram draws (left) and the
model variable it stands for (right); :func:`cxsystems.causal.lint` matches the drawn name to that
variable (a mapping file does the same for many diagrams: :func:`load_aliases`). The text is only
split and compared; nothing in it is executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import CxError
from .graph import CausalGraph, _norm, graph_from_links
from .loops import LoopName

_SIGNS = {"+": "+", "-": "-", "\u2212": "-", "?": "?", "s": "+", "o": "-"}
_DELAYS = {"delay", "delayed", "//", "||"}
_ASSUMED = {"assumed", "assumption"}
_DIRECTIVE = re.compile(r"^(title|stock|stocks|loop|position|alias)\b\s*(.*)$", re.IGNORECASE)
_NAME_OK = re.compile(r"^[^\x00-\x1f]{1,80}$")


@dataclass(frozen=True)
class DrawnGraph(CausalGraph):
    """A hand-drawn diagram's graph with its ``alias`` lines: ``((drawn name, model variable), ...)``."""

    aliases: tuple[tuple[str, str], ...] = ()
    #: Links drawn ``assumed`` (the room's assumption): ``((cause, effect), ...)``.
    assumed: tuple[tuple[str, str], ...] = ()


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        raw = raw[1:-1]
    return raw


def load_aliases(path: str | Path) -> tuple[tuple[str, str], ...]:
    """Aliases from a TOML mapping file: ``"drawn name" = "Model Variable"`` lines, at the top or in
    an ``[aliases]`` table."""
    from ..files import read_toml

    p = Path(path).expanduser()
    if not p.is_file():
        raise CxError(f"alias file not found: {path}")
    data = read_toml(p)
    table = data.get("aliases", data) if isinstance(data.get("aliases"), dict) else data
    out = []
    for k, v in table.items():
        if not isinstance(v, str) or not v.strip():
            raise CxError(f"{p}: alias {k!r} must map to a model variable name (a string), got {v!r}")
        out.append((_name(k, str(p)), _name(v, str(p))))
    return tuple(out)


def _name(raw: str, where: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise CxError(f"{where}: empty variable name")
    if not _NAME_OK.match(name) or "->" in name:
        raise CxError(f"{where}: bad variable name {raw.strip()[:40]!r} (at most 80 printable characters)")
    return name


def parse_cld(text: str, source: str = "<text>") -> CausalGraph:
    """Parse CLD text into a :class:`CausalGraph` (``origin="cld"``); CxError names the line at fault."""
    if "\x00" in text:
        raise CxError(f"{source}: NUL byte in diagram text")
    spelling: dict[str, str] = {}

    def canon(raw: str, where: str) -> str:
        n = _name(raw, where)
        return spelling.setdefault(_norm(n), n)

    title = ""
    links: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
    kinds: dict[str, str] = {}
    loop_names: list[LoopName] = []
    layout: dict[str, tuple[float, float]] = {}
    aliases: dict[str, tuple[str, str]] = {}
    assumed: list[tuple[str, str]] = []
    for i, line in enumerate(text.splitlines(), 1):
        where = f"{source}:{i}"
        body = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not body:
            continue
        m = _DIRECTIVE.match(body)
        if m and "->" not in body:
            key, rest = m.group(1).lower(), m.group(2).strip()
            if key == "title":
                title = rest.lstrip(":").strip()
            elif key == "alias":
                am = re.match(r"^:?\s*(.+?)\s*=\s*(.+)$", rest)
                if not am:
                    raise CxError(f"{where}: write 'alias: DRAWN NAME = Model Variable'")
                drawn = canon(_unquote(am.group(1)), where)
                if drawn in aliases:
                    raise CxError(f"{where}: alias for {drawn!r} is given twice")
                aliases[drawn] = (where, _name(_unquote(am.group(2)), where))
            elif key in ("stock", "stocks"):
                for n in rest.lstrip(":").split(","):
                    if n.strip():
                        kinds[canon(n, where)] = "stock"
            elif key == "loop":
                lm = re.match(r"^(.*?)\s*(?:\((R|B)\))?\s*:\s*(.+)$", rest)
                if not lm or not lm.group(1).strip():
                    raise CxError(f"{where}: write 'loop NAME (R|B): variable, variable, ...'")
                vars_ = tuple(canon(n, where) for n in lm.group(3).split(",") if n.strip())
                if not vars_:
                    raise CxError(f"{where}: loop {lm.group(1).strip()!r} lists no variables")
                loop_names.append(LoopName(" ".join(lm.group(1).split()), vars_, lm.group(2) or ""))
            else:  # position
                pm = re.match(r"^(.*?)\s*:\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*$", rest)
                if not pm:
                    raise CxError(f"{where}: write 'position NAME: x, y'")
                try:
                    xy = (float(pm.group(2)), float(pm.group(3)))
                except ValueError:
                    raise CxError(f"{where}: position must be two numbers") from None
                layout[canon(pm.group(1), where)] = xy
            continue
        if "->" not in body:
            raise CxError(f"{where}: expected 'CAUSE -> EFFECT : SIGN' or a directive "
                          f"(title, stock, loop, position, alias), got {body[:40]!r}")
        left, _, right = body.partition("->")
        if ":" not in right:
            raise CxError(f"{where}: missing ': SIGN' after the effect (e.g. 'A -> B : +')")
        target_raw, _, tail = right.rpartition(":")
        tokens = tail.split()
        if not tokens or tokens[0].lower() not in _SIGNS:
            raise CxError(f"{where}: sign must be +, -, ? (or s/o), got {tail.strip()[:20]!r}")
        marks = [t.lower() for t in tokens[1:]]
        extra = [t for t, m in zip(tokens[1:], marks) if m not in _DELAYS and m not in _ASSUMED]
        if extra:
            raise CxError(f"{where}: unexpected {' '.join(extra)[:20]!r} after the sign "
                          "(only 'delay' and 'assumed' may follow)")
        a, b = canon(left, where), canon(target_raw, where)
        if (a, b) in links:
            raise CxError(f"{where}: link {a} -> {b} is given twice")
        links[(a, b)] = (a, b, _SIGNS[tokens[0].lower()], any(m in _DELAYS for m in marks))
        if any(m in _ASSUMED for m in marks):
            assumed.append((a, b))
    if not links:
        raise CxError(f"{source}: no links found (write 'CAUSE -> EFFECT : SIGN')")
    name = Path(source).stem if source != "<text>" else "diagram"
    g = graph_from_links(name, links.values(), kinds=kinds, loop_names=loop_names, title=title or name,
                         source_file=source if source != "<text>" else "", layout=tuple(layout.items()))
    known = set(g.nodes)
    for ln in loop_names:
        missing = [v for v in ln.variables if v not in known]
        if missing:
            raise CxError(f"{source}: loop {ln.name!r} names {missing[0]!r}, which no link uses")
    for v in layout:
        if v not in known:
            raise CxError(f"{source}: position given for {v!r}, which no link uses")
    for v, (where, _) in aliases.items():
        if v not in known:
            raise CxError(f"{where}: alias given for {v!r}, which no link uses")
    return DrawnGraph(**{f.name: getattr(g, f.name) for f in fields(g)},
                      aliases=tuple((v, m) for v, (_, m) in aliases.items()), assumed=tuple(assumed))


def load_cld(path: str | Path) -> CausalGraph:
    """Read a ``.cld`` file (see the module docstring)."""
    p = Path(path).expanduser()
    if not p.is_file():
        from ..model import loader as loading

        bundled = loading.bundled_models_dir() / "cld" / p.name
        cand = [bundled, bundled.with_suffix(".cld")]
        p = next((c for c in cand if c.is_file()), None)
        if p is None:
            raise CxError(f"diagram file not found: {path}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CxError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CxError(f"{p}: cannot read ({exc.strerror})") from None
    return parse_cld(text, str(p))


def format_cld(graph: CausalGraph) -> str:
    """CLD text for any graph's causal links (e.g. to start a diagram from a model view)."""
    lines = [f"title: {graph.title or graph.name}"]
    assumed = set(getattr(graph, "assumed", ()))
    for e in graph.causal_edges():
        sign = e.polarity if e.polarity in ("+", "-") else "?"
        mark = " assumed" if (e.source, e.target) in assumed else ""
        lines.append(f"{e.source} -> {e.target} : {sign}" + (" delay" if e.delayed else "") + mark)
    stocks = [n for n, node in graph.nodes.items() if node.kind == "stock"]
    if stocks:
        lines.append("stock: " + ", ".join(stocks))
    lines.extend(f'alias: "{a}" = "{m}"' for a, m in getattr(graph, "aliases", ()))
    return "\n".join(lines) + "\n"
