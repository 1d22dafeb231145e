"""Stella / XMILE models (``.xmile``, ``.stmx``, ``.itmx``): the safety screen and PySD's translation.

PySD's XMILE translator (``pysd/translators/xmile``) has its own routes from file text into the
Python module it writes, or into ``eval()``, and cxsystems guards each one before PySD sees anything:

* **XML.** PySD parses the file itself with lxml's default parser (``recover=True``), which
  expands the entities a ``<!DOCTYPE>`` declares (so an entity can spell the three quotes that end
  a docstring, and nested ones expand a billionfold) and, with lxml before 5.0, loads external
  entities (any file on the machine). :func:`read_xmile_text` refuses any DOCTYPE, ENTITY, ``<!`` declaration other than
  comments and CDATA, processing instruction (the ``<?xml?>`` declaration aside, which must say
  UTF-8) and XInclude; :func:`parse_xmile` then parses the bytes with entities, DTDs and the network
  off, and PySD is handed that tree (it never opens the file itself).
* **Expressions** (``<eqn>``, ``<inflow>``, ``<outflow>``, ``<start>``, ``<stop>``, ``<dt>``): PySD's
  equation visitor ``eval()``s the text it takes for numbers and array literals, pastes the names of
  functions it does not know raw between quotes (``not_implemented_function('<name>', ...)``) and
  quoted subscript names between quotes. :func:`screen_expression` admits only the tokens of PySD's
  equation grammar: numbers, names (plain ``\\w`` words, or double-quoted without quotes, backslashes
  or line breaks), the operators and brackets, and calls only of functions PySD translates
  (:data:`FUNCTIONS`) or of the model's own graphical functions; nesting, operators and length are
  bounded as for Vensim equations.
* **Text fields.** ``<doc>`` is pasted into a triple-quoted docstring unescaped (PySD turns
  backslashes into line breaks), so three double quotes are refused there and in ``<units>``
  (which PySD writes with ``repr``). Variable, dimension and element names may not hold quotes,
  backslashes or line breaks (dimension names are pasted raw between quotes).
* **Graphical functions** (``<gf>``): points, scales and separators are plain numbers (PySD reads
  them with ``np.fromstring``, which silently stops at the first bad number); the type is one PySD knows.
* **Files.** Nothing is read: ``resource`` attributes (external modules, data), ``<data>`` imports,
  modules (``<module>``, several ``<model>``\\ s) and macros (``<macro>``) are refused. PySD's header
  fields (``<header>``) are never read by PySD and reach no code; the model is translated as a copy
  under a safe file name (:func:`cxsystems.model.safety.safe_module_stem`) in a private folder.
* **Constructs PySD would run wrongly** are refused too (a wrong number is worse than a refusal):
  an integration ``method`` other than Euler (PySD runs Euler whatever the file asks) unless the
  method cannot change a number (:func:`euler_is_exact`: no stock's flow moves within a step), conveyors,
  queues and ovens (PySD reads them as plain stocks), graphical functions inside a stock or per
  array element (PySD ignores them).

Every refusal is one line: ``path:line: refused <what> <snippet>: <why>``
(:class:`~cxsystems.errors.UnsafeModelError`; plain :class:`~cxsystems.errors.CxError` for what is
merely not supported). After translation the generated code goes through the same audit as
Vensim's (:func:`cxsystems.model.safety.audit_generated_code`).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from ..errors import CxError, UnsafeModelError
from .safety import (
    MAX_EQUATION_CHARS,
    MAX_FILE_BYTES,
    MAX_NESTING,
    MAX_OPERATORS,
    audit_generated_code,
    safe_module_stem,
)

#: File suffixes read as XMILE (Stella saves ``.stmx``, iThink ``.itmx``).
XMILE_SUFFIXES = (".xmile", ".stmx", ".itmx")

#: Functions an XMILE equation may call, as PySD's XMILE translator names them (lower case,
#: spaces as ``_``): its own structures (``xmile_structures.structures``) and the deterministic
#: functions of PySD's ``functionspace`` that XMILE spells the same. Anything else PySD pastes
#: raw into ``not_implemented_function('<name>', ...)``.
FUNCTIONS = frozenset({
    # xmile_structures.structures
    "init", "delay", "delay1", "delay3", "delayn", "smth1", "smth3", "smthn", "trend", "forcst",
    "safediv", "ramp", "pulse", "max", "min", "int",
    # pysd.builders.python.python_functions.functionspace
    "abs", "exp", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "sqrt", "ln", "step", "xidz", "zidz", "integer", "modulo", "quantum", "active_initial", "pi",
    "sum", "prod", "vmax", "vmin", "elmcount",
})
#: Words of PySD's equation grammar that may stand before ``(`` without being a call.
KEYWORDS = frozenset({"if", "then", "else", "and", "or", "not", "mod"})
#: ``<gf type="...">`` values PySD knows.
GF_TYPES = frozenset({"continuous", "extrapolate", "discrete"})
#: Integration methods PySD runs (it runs Euler whatever the file says).
EULER = "euler"

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"""
    (?P<ws>\s+)
  | (?P<num>{_NUMBER})
  | (?P<name>\w+)
  | (?P<quoted>"[^"\\'\n\r]*")
  | (?P<op><>|<=|>=|[-+*/^(),\[\]<>=!;])
""", re.VERBOSE)
_BINARY = {"+", "-", "*", "/", "^", "<", ">", "=", "<>", "<=", ">="}
_SIGNED_NUMBER = re.compile(rf"\s*[-+]?{_NUMBER}\s*")
_MAX_NUMBER_CHARS = 64
_MAX_NAME_CHARS = 300
#: Characters no name may hold: PySD pastes some names raw between quotes.
_BAD_NAME_CHARS = re.compile(r"""['"\\\n\r]""")
_DOCTYPE = re.compile(r"<!(?!--|\[CDATA\[)")
_PI = re.compile(r"<\?")
_XML_DECL = re.compile(r"<\?xml\s[^?<>]*\?>")
_DECL_ENCODING = re.compile(r"""encoding\s*=\s*["']([^"']*)["']""")
_XINCLUDE = re.compile(r"www\.w3\.org/\d+/XInclude", re.IGNORECASE)
_SNIPPET = 60


def is_xmile(path: str | Path) -> bool:
    """Whether ``path`` has an XMILE suffix (``.xmile``, ``.stmx``, ``.itmx``; any case)."""
    return Path(path).suffix.lower() in XMILE_SUFFIXES


def _snip(s: str) -> str:
    s = " ".join(str(s).split())
    return repr(s if len(s) <= _SNIPPET else s[: _SNIPPET - 3] + "...")


def _refuse(src, line: int | None, what: str, snippet: str | None, why: str) -> UnsafeModelError:
    where = f"{src}:{line}" if line else f"{src}"
    snip = f" {_snip(snippet)}" if snippet is not None else ""
    return UnsafeModelError(f"{where}: refused {what}{snip}: {why}")


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# --------------------------------------------------------------------------------------------
# Stage 1: bytes -> text, and the XML features that read files or expand without bound
# --------------------------------------------------------------------------------------------


def read_xmile_text(path: str | Path) -> str:
    """Read an XMILE file as UTF-8 text after the byte- and XML-level checks.

    Refused: more than :data:`~cxsystems.model.safety.MAX_FILE_BYTES`, NUL bytes, bytes that are
    not UTF-8, an XML declaration naming another encoding, any ``<!DOCTYPE``/``<!ENTITY``/other
    ``<!`` declaration (comments and CDATA are fine), processing instructions and XInclude.

    Raises:
        UnsafeModelError: ``path:line: refused <what> <snippet>: <why>``.
        CxError: the file cannot be read.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CxError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise _refuse(path, None, "model file", f"more than {MAX_FILE_BYTES:,} bytes",
                      "larger than the limit for model files")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _refuse(path, data.count(b"\n", 0, nul) + 1, "NUL byte", None,
                      "XMILE files are UTF-8 text (was the file saved as UTF-16?)")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise _refuse(path, data.count(b"\n", 0, exc.start) + 1, f"invalid byte 0x{data[exc.start]:02x}",
                      None, "not valid UTF-8 text; re-save the model as UTF-8") from None
    screen_xml_text(text, path)
    return text


def screen_xml_text(text: str, src: str | Path) -> None:
    """Refuse the XML features that make a parser read files, fetch URLs, expand entities or run
    instructions: DOCTYPE/ENTITY (and any ``<!`` but comments and CDATA), processing instructions
    other than a UTF-8 ``<?xml?>`` declaration at the very start, and XInclude."""
    m = _DOCTYPE.search(text)
    if m:
        raise _refuse(src, _line(text, m.start()), "XML declaration", text[m.start():m.start() + 40],
                      "DOCTYPE and ENTITY declarations make the XML parser read other files or "
                      "expand text without bound; XMILE files need none")
    decl = _XML_DECL.match(text.lstrip())
    skip = (len(text) - len(text.lstrip()) + decl.end()) if decl else 0
    if decl:
        enc = _DECL_ENCODING.search(decl.group())
        if enc and enc.group(1).strip().lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise _refuse(src, 1, "XML encoding", enc.group(1),
                          "the XML parser would decode the file with another codec; re-save as UTF-8")
    m = _PI.search(text, skip)
    if m:
        raise _refuse(src, _line(text, m.start()), "processing instruction", text[m.start():m.start() + 40],
                      "XMILE files need no processing instructions")
    m = _XINCLUDE.search(text)
    if m:
        raise _refuse(src, _line(text, m.start()), "XInclude", text[max(0, m.start() - 20):m.start() + 30],
                      "XInclude makes the XML parser read other files")


def parse_xmile(text: str, src: str | Path):
    """The XML tree of screened XMILE text, parsed with entities, DTDs and the network off and
    without a base path (nothing beside the file is ever opened). Returns the root element."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_pis=False,
                             recover=True, encoding="utf-8")
    try:  # recover=True as PySD parses (Stella files use undeclared prefixes such as isee:)
        root = etree.fromstring(text.encode("utf-8"), parser=parser)
        if root is None:
            raise etree.XMLSyntaxError("no XML element", None, 1, 1)
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None) or (exc.position[0] if getattr(exc, "position", None) else None)
        msg = str(exc).splitlines()[0] if str(exc) else "not well-formed XML"
        raise CxError(f"{src}:{line}: not a well-formed XMILE file ({msg})" if line
                      else f"{src}: not a well-formed XMILE file ({msg})") from None
    for node in root.iter():
        if not isinstance(node.tag, str) and node.tag is not etree.Comment:
            what = "processing instruction" if node.tag is etree.PI else "XML entity"
            raise _refuse(src, node.sourceline, what, str(node)[:40], "XMILE files need none")
    return root


# --------------------------------------------------------------------------------------------
# Stage 2: the tree, element by element (what PySD's XMILE translator reads)
# --------------------------------------------------------------------------------------------


def _local(node) -> str:
    tag = node.tag if isinstance(node.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _children(node, ns: str, name: str) -> list:
    return [c for c in node if isinstance(c.tag, str) and c.tag == f"{{{ns}}}{name}"]


def screen_name(name: str | None, src, line: int | None, what: str) -> None:
    """A variable, dimension or element name: present, bounded, no quotes, backslashes or breaks."""
    if name is None or not name.strip():
        raise CxError(f"{src}:{line}: {what} without a name" if line else f"{src}: {what} without a name")
    m = _BAD_NAME_CHARS.search(name)
    if m or len(name) > _MAX_NAME_CHARS:
        raise _refuse(src, line, f"{what} name", name,
                      f"names may not hold quotes, backslashes or line breaks and may be at most "
                      f"{_MAX_NAME_CHARS} characters (PySD pastes some names between quotes); rename it")


def screen_text_field(text: str, src, line: int | None, what: str) -> None:
    """``<doc>``/``<units>`` text: no three double quotes (PySD pastes docs into a docstring)."""
    i = text.find('"""')
    if i >= 0:
        raise _refuse(src, line, what, text[max(0, i - 10):i + 40],
                      "PySD pastes it into a \"\"\"docstring\"\"\", so three double quotes would end it "
                      "and run the rest as code; use fewer quotes")


def screen_expression(text: str | None, src, line: int | None, owner: str,
                      callables: frozenset[str] = frozenset(),
                      applied: frozenset[str] = frozenset()) -> None:
    """Refuse an equation holding anything but the tokens of PySD's XMILE equation grammar.

    Admitted: numbers, plain names (``\\w`` words), double-quoted names without quotes,
    backslashes or line breaks, the operators ``+ - * / ^ = <> < <= > >=``, ``( ) [ ] , ; !``,
    and calls only of :data:`FUNCTIONS`, the grammar's keywords, or ``callables`` (the model's
    standalone graphical functions, which PySD calls through its namespace). A call of a name in
    ``applied`` (an aux or flow applying a graphical function to its own equation) is refused:
    PySD would ignore the argument. Nesting, operator count and length are bounded as for Vensim
    equations.
    """
    if text is None or not text.strip():
        raise CxError(f"{src}:{line}: {owner!r} has no equation" if line else f"{src}: {owner!r} has no equation")

    def refuse(what: str, snippet: str, why: str):
        return _refuse(src, line, f"{what} in the equation of {owner!r}", snippet, why)

    if len(text) > MAX_EQUATION_CHARS:
        raise refuse("equation", text[:40], f"longer than {MAX_EQUATION_CHARS:,} characters")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None and text[pos] == '"':
            end = text.find('"', pos + 1)
            raise refuse("quoted name", text[pos:end + 1 if end > 0 else pos + 40],
                         "quoted names may not hold ' or \\ or line breaks (PySD pastes some names "
                         "between quotes in the code it generates); rename the variable")
        if m is None:
            raise refuse(f"character {text[pos]!r}", text[max(0, pos - 20):pos + 20],
                         "XMILE equations may hold only numbers, names, operators and calls of known "
                         "functions (PySD evaluates or pastes anything else)")
        kind = m.lastgroup
        if kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    depth = ops = 0
    for i, (kind, tok) in enumerate(tokens):
        if kind == "num" and len(tok) > _MAX_NUMBER_CHARS:
            raise refuse("number", tok, f"numbers may have at most {_MAX_NUMBER_CHARS} characters")
        if kind in ("name", "quoted") and len(tok) > _MAX_NAME_CHARS:
            raise refuse("name", tok, f"names may have at most {_MAX_NAME_CHARS} characters")
        if tok in ("(", "["):
            depth += 1
            if depth > MAX_NESTING:
                raise refuse(f"nesting deeper than {MAX_NESTING} brackets", text[:40],
                             "PySD's recursive parser would crash; split the equation")
        elif tok in (")", "]"):
            depth -= 1
        elif kind == "op" and tok in _BINARY:
            ops += 1
        if kind in ("name", "quoted") and i + 1 < len(tokens) and tokens[i + 1][1] == "(":
            fn = tok.strip('"').lower().replace(" ", "_")
            if fn in applied and fn not in callables:
                raise CxError(f"{src}{f':{line}' if line else ''}: {owner!r} calls the graphical function "
                              f"of {tok} ({tok}(...) or LOOKUP({tok}, ...)), a variable that applies it "
                              "to its own equation: PySD's translation would ignore the argument; make "
                              "the table a standalone graphical function")
            if fn not in FUNCTIONS and fn not in KEYWORDS and fn not in callables:
                raise refuse("call", tok + "(", "only the functions PySD translates for XMILE and the "
                             "model's own graphical functions may be called")
    if ops > MAX_OPERATORS:
        raise refuse(f"equation with {ops:,} operators", text[:40],
                     f"more than {MAX_OPERATORS:,} operators would crash PySD; split the equation")


def _number_list(text: str | None, sep: str | None) -> list[str]:
    sep = sep if sep is not None else ","
    if text is None:
        return []
    return [p for p in (text.split(sep) if sep.strip() else text.split()) if p.strip()]


def screen_gf(gf, ns: str, src, owner: str) -> None:
    """A graphical function: numbers only (points, scales, separators) and a type PySD knows."""
    line = gf.sourceline

    def refuse(what, snippet, why="graphical functions hold plain numbers only"):
        return _refuse(src, line, f"{what} in the graphical function of {owner!r}", snippet, why)

    kind = gf.attrib.get("type", "continuous")
    if kind not in GF_TYPES:
        raise refuse("type", kind, f"PySD knows {', '.join(sorted(GF_TYPES))}")
    counts = []
    for tag in ("xpts", "ypts"):
        nodes = _children(gf, ns, tag)
        if not nodes:
            continue
        node = nodes[0]
        sep = node.attrib.get("sep")
        if sep is not None and (len(sep) != 1 or re.fullmatch(r"[\w.+\-]", sep)):
            raise refuse("separator", sep, "the separator must be one character that is not part of a number")
        pts = _number_list(node.text, sep)
        bad = next((p for p in pts if not _SIGNED_NUMBER.fullmatch(p)), None)
        if bad is not None or not pts:
            raise refuse(f"<{tag}> value", bad if bad is not None else (node.text or ""))
        counts.append(len(pts))
    if not _children(gf, ns, "ypts"):
        raise refuse("<ypts>", "", "a graphical function needs its y points")
    scale = _children(gf, ns, "xscale")
    if scale:
        for key in ("min", "max"):
            if not _SIGNED_NUMBER.fullmatch(scale[0].attrib.get(key, "")):
                raise refuse(f"<xscale> {key}", scale[0].attrib.get(key, ""))
    elif len(counts) != 2:
        raise refuse("<xpts>", "", "a graphical function needs <xpts> or <xscale>")
    elif counts[0] != counts[1]:
        raise refuse("point count", f"{counts[0]} x, {counts[1]} y", "as many x points as y points")
    for tag in ("yscale", "range"):  # PySD float()s these bounds
        for node in _children(gf, ns, tag):
            for key in ("min", "max"):
                if key in node.attrib and not _SIGNED_NUMBER.fullmatch(node.attrib[key]):
                    raise refuse(f"<{tag}> {key}", node.attrib[key])


def _screen_variable(var, ns: str, src, callables: frozenset[str],
                     applied: frozenset[str] = frozenset()) -> None:
    kind = _local(var)
    line = var.sourceline
    name = var.attrib.get("name")
    screen_name(name and name.replace("\\n", " "), src, line, kind)  # PySD reads "\\n" as a space
    owner = name.replace("\\n", " ")
    for node in var.iter():
        if not isinstance(node.tag, str) or node is var:
            continue
        tag, nline = _local(node), node.sourceline
        if tag == "doc":
            screen_text_field("".join(node.itertext()), src, nline, f"<doc> of {owner!r}")
        elif tag == "units":
            screen_text_field("".join(node.itertext()), src, nline, f"<units> of {owner!r}")
        elif tag in ("conveyor", "queue", "oven", "leak"):
            raise CxError(f"{src}:{nline}: {owner!r} is a {tag} (Stella), which PySD runs as a plain "
                          "stock or flow: the numbers would be wrong")
        elif tag == "gf" and (kind == "stock" or _local(node.getparent()) == "element"):
            where = "a stock" if kind == "stock" else "an array element"
            raise CxError(f"{src}:{nline}: {owner!r} has a graphical function on {where}, which PySD "
                          "ignores: the numbers would be wrong")
        elif tag == "range":
            for key in ("min", "max"):
                if key in node.attrib and not _SIGNED_NUMBER.fullmatch(node.attrib[key]):
                    raise _refuse(src, nline, f"<range> {key} of {owner!r}", node.attrib[key],
                                  "ranges are plain numbers")
        elif tag == "dim":
            screen_name(node.attrib.get("name"), src, nline, "dimension")
        elif tag == "element":
            for sub in node.attrib.get("subscript", "").split(","):
                screen_name(sub, src, nline, "subscript")
    for tag in ("eqn", "inflow", "outflow"):
        for node in var.iter(f"{{{ns}}}{tag}"):
            if node.getparent() is var or _local(node.getparent()) == "element":
                screen_expression(node.text, src, node.sourceline, owner, callables, applied)
    if kind in ("aux", "flow") and not _children(var, ns, "eqn") and not any(
            _children(e, ns, "eqn") for e in _children(var, ns, "element")):
        raise CxError(f"{src}:{line}: {owner!r} has no equation")
    if kind == "stock" and _children(var, ns, "element"):
        raise CxError(f"{src}:{line}: stock {owner!r} is defined element by element, but PySD reads only "
                      "the stock's own <eqn> and flows for every element: the numbers would be wrong")
    if kind == "stock" and not _children(var, ns, "eqn"):
        raise CxError(f"{src}:{line}: stock {owner!r} has no initial value (<eqn>)")
    gfs = [var] if kind == "gf" else _children(var, ns, "gf")
    for gf in gfs:
        screen_gf(gf, ns, src, owner)


def _screen_sim_specs(root, ns: str, src) -> tuple[str, int]:
    """Screen ``<sim_specs>``; return the integration method it asks for and its line."""
    specs = _children(root, ns, "sim_specs")
    if not specs:
        raise CxError(f"{src}: no <sim_specs> (start, stop and dt of the run)")
    spec = specs[0]
    method = spec.attrib.get("method", EULER).strip() or EULER
    screen_text_field(spec.attrib.get("time_units", ""), src, spec.sourceline, "time units")
    for tag in ("start", "stop", "dt"):
        nodes = _children(spec, ns, tag)
        if not nodes:
            raise CxError(f"{src}:{spec.sourceline}: <sim_specs> has no <{tag}>")
        screen_expression(nodes[0].text, src, nodes[0].sourceline, f"<{tag}>")
    return method, spec.sourceline


def adopt_early_layout(root):
    """An early XMILE draft (as old Stella versions saved it) puts the variables directly under
    ``<model>``; XMILE 1.0, and PySD, read them from ``<model><variables>``. Move them there, in
    order, when the model has no ``<variables>`` of its own (a model with both is left for the
    screen to refuse). Returns ``root``, changed in place."""
    ns = root.nsmap.get(None)
    for model in _children(root, ns, "model") if ns else ():
        loose = [c for c in model if _local(c) in ("aux", "flow", "stock", "gf", "module", "group")]
        if loose and not _children(model, ns, "variables"):
            holder = model.makeelement(f"{{{ns}}}variables", {})
            holder.sourceline = loose[0].sourceline
            model.insert(model.index(loose[0]), holder)
            for var in loose:
                holder.append(var)
    return root


#: XMILE's ``LOOKUP(<graphical function>, <input>)``, up to the input.
_LOOKUP_CALL = re.compile(r'\bLOOKUP\s*\(\s*("[^"\\]*"|[^\W\d]\w*)\s*,', re.IGNORECASE)


def adopt_lookup_calls(root):
    """XMILE's ``LOOKUP(table, x)`` reads a graphical function at ``x``; PySD's XMILE translation
    knows only the other spelling, ``table(x)``. Rewrite each call whose first argument names a
    graphical function of the model (anything else is left for the screen to refuse). Returns
    ``root``, changed in place."""
    ns = root.nsmap.get(None)
    if not ns:
        return root
    tables = {_gf_key(v.attrib.get("name", "")) for v in root.iter(f"{{{ns}}}gf", f"{{{ns}}}aux", f"{{{ns}}}flow")
              if _local(v) == "gf" or _children(v, ns, "gf")}  # the screen refuses calls of the latter

    def rewrite(m):
        return f"{m.group(1)}(" if _gf_key(m.group(1).strip('"')) in tables else m.group(0)

    for node in root.iter(f"{{{ns}}}eqn"):
        if node.text and "(" in node.text:
            node.text = _LOOKUP_CALL.sub(rewrite, node.text)
    return root


def _gf_key(name: str) -> str:
    return "_".join(name.replace("\\n", " ").replace("_", " ").lower().split())


def screen_xmile_tree(root, src: str | Path) -> tuple[str, int]:
    """Refuse an XMILE tree with anything PySD could turn into code or read a file for, or run wrongly.
    Returns the integration method ``<sim_specs>`` asks for and its line (see :func:`check_method`).

    Raises:
        UnsafeModelError: a route into code (one line naming file, line and element).
        CxError: a construct PySD's XMILE translation does not run correctly.
    """
    ns = root.nsmap.get(None)
    if _local(root) != "xmile" or not ns or root.tag != f"{{{ns}}}xmile":
        raise CxError(f"{src}: not an XMILE file (the root element must be <xmile> in the XMILE namespace)")
    for node in root.iter():
        if isinstance(node.tag, str) and "resource" in node.attrib:
            raise _refuse(src, node.sourceline, f"<{_local(node)} resource>", node.attrib["resource"],
                          "models may not name other files to read")
    for tag, what in (("macro", "macros"), ("data", "data imports")):
        found = _children(root, ns, tag)
        if found:
            raise CxError(f"{src}:{found[0].sourceline}: <{tag}>: {what} are not supported by PySD's "
                          "XMILE translation")
    models = _children(root, ns, "model")
    if len(models) != 1:
        raise CxError(f"{src}: {len(models)} <model> elements: modules are not supported "
                      "(PySD's XMILE translation reads one model)" if models else f"{src}: no <model>")
    loose = [c for c in models[0] if _local(c) in ("aux", "flow", "stock", "gf")]
    if loose:
        raise CxError(f"{src}:{loose[0].sourceline}: variables both directly under <model> (an early "
                      "XMILE draft's layout) and in <model><variables>: re-save the model with a "
                      "current Stella")
    method = _screen_sim_specs(root, ns, src)
    for dims_node in _children(root, ns, "dimensions"):
        for dim in _children(dims_node, ns, "dim"):
            screen_name(dim.attrib.get("name"), src, dim.sourceline, "dimension")
            for elem in _children(dim, ns, "elem"):
                screen_name(elem.attrib.get("name"), src, elem.sourceline, "dimension element")
    variables = [v for vs in _children(models[0], ns, "variables") for v in vs if isinstance(v.tag, str)]
    for var in variables:
        if _local(var) == "module":
            raise CxError(f"{src}:{var.sourceline}: <module>: modules are not supported "
                          "(PySD's XMILE translation reads one model)")
    # Only a standalone <gf> may be called: PySD translates an aux or flow with a <gf> of its own
    # as that gf applied to its <eqn>, and a call x(...) of it silently ignores the argument.
    callables = frozenset(
        v.attrib.get("name", "").replace("\\n", " ").lower().replace(" ", "_") for v in variables
        if _local(v) == "gf")
    applied = frozenset(
        v.attrib.get("name", "").replace("\\n", " ").lower().replace(" ", "_") for v in variables
        if _local(v) in ("aux", "flow") and _children(v, ns, "gf"))
    for var in variables:
        if _local(var) in ("aux", "flow", "stock", "gf"):
            _screen_variable(var, ns, src, callables, applied)
    return method


# --------------------------------------------------------------------------------------------
# The integration method: PySD runs Euler whatever <sim_specs method> says
# --------------------------------------------------------------------------------------------

#: Functions whose value changes with time by itself (PySD's names after translation).
TIME_FUNCTIONS = frozenset({"step", "ramp", "Xramp", "pulse", "Xpulse", "pulse_train", "Xpulse_train",
                            "get_time_value", "random_0_1", "random_uniform", "random_normal",
                            "random_exponential"})


def _nodes(ast):
    """Every node of a PySD abstract syntax tree (dataclasses, tuples, lists), depth first."""
    from dataclasses import fields, is_dataclass

    stack = [ast]
    while stack:
        node = stack.pop()
        yield node
        if is_dataclass(node) and not isinstance(node, type):
            stack.extend(getattr(node, f.name) for f in fields(node))
        elif isinstance(node, (tuple, list)):
            stack.extend(node)


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def euler_is_exact(abstract) -> bool:
    """Whether Euler and any Runge-Kutta method give the same run: every stateful element is a
    plain stock whose flows depend neither on time nor, through any chain of variables, on a
    stock (then each step's derivative is the same at every stage of the step; sums differ only
    by rounding). A model with no stocks qualifies trivially."""
    from pysd.translators.structures import abstract_expressions as ae

    stateful = (ae.IntegStructure, ae.DelayStructure, ae.DelayNStructure, ae.DelayFixedStructure,
                ae.SmoothStructure, ae.SmoothNStructure, ae.TrendStructure, ae.ForecastStructure,
                ae.SampleIfTrueStructure)
    asts = {_key(el.name): [c.ast for c in el.components]
            for section in abstract.sections for el in section.elements}
    varying: dict[str, bool] = {}

    def moves(ast, seen: frozenset) -> bool:
        for node in _nodes(ast):
            if isinstance(node, stateful):
                return True
            if isinstance(node, ae.CallStructure) and getattr(node.function, "reference", "") in TIME_FUNCTIONS:
                return True
            if isinstance(node, ae.ReferenceStructure):
                ref = _key(node.reference)
                if ref == "time" or (ref in asts and ref not in seen and name_moves(ref, seen)):
                    return True
        return False

    def name_moves(name: str, seen: frozenset) -> bool:
        if name not in varying:
            varying[name] = any(moves(a, seen | {name}) for a in asts[name])
        return varying[name]

    for trees in asts.values():
        for ast in trees:
            for node in _nodes(ast):
                if isinstance(node, stateful) and not isinstance(node, ae.IntegStructure):
                    return False
                if isinstance(node, ae.IntegStructure) and moves(node.flow, frozenset()):
                    return False
    return True


def check_method(abstract, method: str, line: int, src) -> str:
    """The integration the engine runs for ``<sim_specs method>``: ``"euler"``, or ``"rk4"`` for
    RK4 where it changes the numbers (PySD's XMILE translation runs Euler whatever the file asks, so
    such a model runs on the numpy engine only). Other methods (RK2, RK45, Gear) are refused unless
    the method cannot change a number (:func:`euler_is_exact`)."""
    asked = method.strip().lower()
    if asked == EULER or euler_is_exact(abstract):
        return EULER
    if asked == "rk4":
        return "rk4"
    raise CxError(f"{src}:{line}: the model asks for {method} integration (<sim_specs method>); cxsystems "
                  "integrates with Euler or RK4: save the model with one of them to load it")


# --------------------------------------------------------------------------------------------
# Stage 3: PySD's translation of the screened tree, in a private folder
# --------------------------------------------------------------------------------------------


def definitions_text(root, text: str) -> str:
    """Text with the same lines as ``text`` in which each variable's line reads ``<name> =``, so that
    the generated-code audit (which finds a variable's line the Vensim way) names the right line."""
    lines = [""] * (text.count("\n") + 1)
    for node in root.iter():
        if isinstance(node.tag, str) and _local(node) in ("aux", "flow", "stock", "gf") and node.sourceline:
            name = node.attrib.get("name", "").replace("\\n", " ")
            if 0 < node.sourceline <= len(lines) and name and not lines[node.sourceline - 1]:
                lines[node.sourceline - 1] = f"{name} ="
    return "\n".join(lines)


def translate_xmile(src: Path, workdir: Path) -> tuple[object, Path, str, str]:
    """Read, screen and translate an XMILE model in ``workdir``; return PySD's ``AbstractModel``,
    the generated module's path, the model text (for messages) and the integration the engine
    runs (:func:`check_method`).

    PySD is handed the screened tree (it never opens a file), the copy lives in ``workdir`` under a
    safe name, and every generated module is audited (:func:`audit_generated_code`) without being
    imported.

    Raises:
        UnsafeModelError, CxError: one line naming the file (and line and element where known).
    """
    text = read_xmile_text(src)
    root = adopt_lookup_calls(adopt_early_layout(parse_xmile(text, src)))
    method, method_line = screen_xmile_tree(root, src)
    copy = workdir / f"{safe_module_stem(src.stem)}.xmile"
    copy.write_text(text, encoding="utf-8")
    try:
        from pysd.builders.python.python_model_builder import ModelBuilder
        from pysd.translators.xmile.xmile_file import XmileFile

        class _ScreenedXmile(XmileFile):
            """PySD's XmileFile on the tree parsed here (PySD's own parse resolves entities)."""

            def _get_root(self):
                return root

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xfile = _ScreenedXmile(copy)
            xfile.parse()
            abstract = xfile.get_abstract_model()
            integration = check_method(abstract, method, method_line, src)
            py_file = Path(ModelBuilder(abstract).build_model())
        audit_generated_code(sorted(workdir.rglob("*.py")), src, definitions_text(root, text))
    except CxError:
        raise
    except Exception as exc:  # PySD's parser raises many types; report one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CxError(f"{src}: cannot translate model: {first}") from None
    return abstract, py_file, text, integration
