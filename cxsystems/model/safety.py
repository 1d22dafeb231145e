"""Safe loading of untrusted Vensim models: nothing in a model file is ever executed.

PySD runs code found in model files (see ``shared/reference/pysd-notes.md``): it ``eval()``s lookup
ranges while parsing, pastes comments into triple-quoted docstrings, and pastes quoted names, macro
names, subscript-range names, data-function arguments and the model's file name raw into the Python
module it generates. cxsystems therefore guards every stage, and refuses a model with a one-line
:class:`~cxsystems.errors.UnsafeModelError` of the form
``path:line: refused <what> <snippet>: <why / how to fix>``.

1. :func:`read_model_text` reads the bytes and keeps only the model text, the part before the sketch
   marker (three backslashes and ``---///``; some tools write two): the sketch and the settings block
   after it, where Vensim saves a DEL byte, are drawing data PySD never translates, and cxsystems
   hands PySD the model text alone. On that text: size limit, no NUL or other control bytes, strict UTF-8
   (PySD itself silently drops undecodable bytes, which can *create* three quotes), and an encoding
   header ``{...}`` that PySD would otherwise obey (``{UTF-7}`` turns ``+ACIAIgAi-`` into ``\"\"\"``)
   must name a plain encoding. The translator is then always told the copy is UTF-8.
2. :func:`screen_vensim_text` splits the text exactly as PySD's grammar does (:func:`vensim_fields`:
   equation ~ units ~ comment | entries, macro sections, the sketch) and checks every equation with a
   conservative grammar: lookup ranges are plain numbers, no string literals except the plain-text
   arguments of ``GET XLS``/``GET DIRECT`` ``CONSTANTS``, ``DATA``, ``LOOKUPS`` and ``SUBSCRIPT``
   naming files inside the model's folder (:mod:`cxsystems.model.datafiles` checks and confines
   them; the loader copies them into its private folder), ``'`` or ``\\`` in a quoted name only
   where it names a plain variable (PySD writes those with ``repr``; range, element and data-variable
   names it pastes raw), names called like functions plain, bounded nesting, length and subscript ranges. Checks run on
   the text PySD really parses, i.e. after it glues the main model back together around a macro
   (which can join a ``(`` with a ``[`` or two quotes with a third). Comments may hold anything
   except three double quotes; units and names are kept inert by PySD (``repr``).
3. The module is translated in a private temporary directory under a safe file name (see
   :func:`safe_module_stem`), never next to the user's file.
4. :func:`audit_generated_code` parses the generated Python (without importing it) and refuses any
   name, attribute, import or statement that PySD's code generator never emits -- a backstop for
   translator routes nobody has found yet. PySD's data readers (``ExtData``, ``ExtLookup``,
   ``ExtConstant``) are accepted only as its builders write them: at the top of the module, with
   literal text arguments the screen would accept and literal coordinates.

cxsystems never passes user paths to PySD's ``initial_condition`` (which unpickles them).
Screening is purely textual and syntactic: nothing from the file is executed to decide.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import codecs
import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import CxError, UnsafeModelError
from .datafiles import DataFile, argument_problem, data_files, find_data_calls
from .datafiles import refusal as data_refusal

# --------------------------------------------------------------------------------------------
# Limits (generous for hand-built and Vensim-saved models; far below what crashes PySD)
# --------------------------------------------------------------------------------------------

#: Largest model file read, in bytes (PySD's parser takes minutes long before this).
MAX_FILE_BYTES = 8_000_000
#: Longest single equation, in characters (a lookup with several thousand points fits).
MAX_EQUATION_CHARS = 200_000
#: Deepest parenthesis nesting in one equation; PySD's recursive parser overflows near 40-55.
MAX_NESTING = 20
#: Most binary operators in one equation (the bundled models use at most 18). The engine builds
#: long chains as balanced trees (:mod:`cxsystems.model.arith`), so its limit is Python's: the
#: code PySD writes for a chain of about 3,000 operators no longer parses (measured; the loader
#: parses it for the audit).
MAX_OPERATORS = 2000
#: Most elements in a numeric subscript range such as ``(r1-r50)``.
MAX_SUBSCRIPT_RANGE = 10_000

#: Encoding headers accepted, as :func:`codecs.lookup` names them (``{latin-1}`` is ``iso8859-1``);
#: any other ``{...}`` header is refused because PySD would decode the file with it.
SAFE_ENCODINGS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252", "iso8859-15"})

_SKETCH_MARK = "\\\\\\---///"
_SNIPPET = 60


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for a burst of allocation that makes no cycles.

    Parsing a large generated module builds millions of AST nodes (and the screen thousands of
    fields); each automatic collection rescans every tracked object, so with the collector on
    the time grows faster than the model. Nothing freed here is cyclic: reference counting
    frees it all. The collector is turned back on only if it was on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, max(0, min(index, len(text)))) + 1


def _snip(s: str) -> str:
    s = " ".join(s.split())
    return repr(s if len(s) <= _SNIPPET else s[: _SNIPPET - 3] + "...")


def _refuse(source, line: int | None, what: str, snippet: str | None, why: str) -> UnsafeModelError:
    where = f"{source}:{line}" if line else f"{source}"
    snip = f" {_snip(snippet)}" if snippet is not None else ""
    return UnsafeModelError(f"{where}: refused {what}{snip}: {why}")


# --------------------------------------------------------------------------------------------
# Stage 1: bytes -> text
# --------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_HEADER = re.compile(r"\{([^}\n]*)\}")
#: Where the model text ends: PySD splits at the first ``\\\---///`` anywhere; Vensim files written
#: by some tools start the sketch with two backslashes at the start of a line.
_SKETCH_BYTES = re.compile(rb"\\\\\\---///|(?m:^\\\\---///)")


def model_part(data: bytes) -> bytes:
    """The bytes before the sketch marker (all of ``data`` if there is none)."""
    m = _SKETCH_BYTES.search(data)
    return data if m is None else data[:m.start()]


def read_model_text(path: str | Path) -> str:
    """Read a model file's model text (the part before the sketch, see :func:`model_part`) after
    byte-level safety checks; newlines become ``\\n``. The sketch and settings are dropped unread:
    PySD never translates them, and cxsystems translates this text only.

    Raises:
        UnsafeModelError: file too large, NUL or control bytes, bytes that are not valid in the
            declared encoding, or an encoding header other than UTF-8/ASCII/Latin-1/cp1252.
        CxError: the file cannot be read.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _refuse(path, None, "model file", f"{size:,} bytes",
                          f"larger than the {MAX_FILE_BYTES:,}-byte limit for model files")
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CxError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:  # grew while we looked
        raise _refuse(path, None, "model file", f"more than {MAX_FILE_BYTES:,} bytes",
                      "larger than the limit for model files")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    data = model_part(data)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _refuse(path, data.count(b"\n", 0, nul) + 1, "NUL byte", None,
                      "model files are text; remove the NUL byte (was the file saved as UTF-16?)")

    first_line = data.split(b"\n", 1)[0].decode("ascii", errors="replace")
    encoding = "utf-8"
    header = _HEADER.search(first_line)
    if header:
        declared = header.group(1).strip()
        try:
            encoding = codecs.lookup(declared).name
        except LookupError:
            encoding = None
        if encoding not in SAFE_ENCODINGS:
            raise _refuse(path, 1, "encoding header", "{" + declared + "}",
                          "PySD decodes the file with whatever codec the header names, which can "
                          "turn harmless bytes into code; re-save the model as {UTF-8}")
    try:
        text = data.decode(encoding, errors="strict")
    except UnicodeDecodeError as exc:
        raise _refuse(path, data.count(b"\n", 0, exc.start) + 1,
                      f"invalid byte 0x{data[exc.start]:02x}", None,
                      f"not valid {encoding} text (PySD would silently drop it, which can join "
                      "the characters around it); re-save the model as UTF-8") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = _CONTROL.search(text)
    if bad:
        raise _refuse(path, _line_at(text, bad.start()),
                      f"control character 0x{ord(bad.group()):02x}", None,
                      "model files are plain text; remove it")
    return text


def safe_module_stem(stem: str) -> str:
    """A file-name stem for PySD's translation that cannot carry code.

    PySD writes the model's file name into the generated module's docstring, so a model saved as
    ``x\"\"\"; code; \"\"\".mdl`` would run ``code``. Only letters, digits and underscores are kept.
    """
    clean = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")[:60]
    if not clean or not clean[0].isalpha():
        clean = "model_" + clean
    return clean


# --------------------------------------------------------------------------------------------
# Stage 2: split the text exactly as PySD's grammar does
# --------------------------------------------------------------------------------------------


class _Cleaned:
    """PySD's whitespace normalisation (``\\<newline><tab>`` and whitespace runs -> one space),
    keeping a map from positions in the cleaned text back to the original text."""

    _RUN = re.compile(r"(?:\\\n\t|\s)+")

    def __init__(self, raw: str):
        out, c_starts, o_starts = [], [], []
        c = o = 0
        for m in self._RUN.finditer(raw):
            if m.start() > o:
                c_starts.append(c)
                o_starts.append(o)
                out.append(raw[o:m.start()])
                c += m.start() - o
            c_starts.append(c)
            o_starts.append(-m.start() - 1)  # negative: a collapsed run, maps to its start
            out.append(" ")
            c += 1
            o = m.end()
        if o < len(raw):
            c_starts.append(c)
            o_starts.append(o)
            out.append(raw[o:])
        self.text = "".join(out)
        self._c, self._o = c_starts, o_starts

    def orig(self, c: int) -> int:
        i = bisect.bisect_right(self._c, c) - 1
        if i < 0:
            return 0
        o = self._o[i]
        return -o - 1 if o < 0 else o + (c - self._c[i])


@dataclass(frozen=True)
class Field:
    """One piece of the model text as PySD's grammar sees it.

    ``kind`` is ``"equation"``, ``"units"``, ``"comment"``, ``"extra"`` (the optional fourth
    field), ``"group"`` (a ``name ~ text |`` group header, ignored by PySD), ``"unparsed"`` (text
    PySD's grammar skips or cannot parse) or ``"macro"`` (a ``:MACRO:`` header). ``text`` is the
    stripped text PySD works on; ``start`` is the offset of its first character in the original text.
    """

    kind: str
    text: str
    start: int
    section: str
    _pos: tuple = ()  # original offset of every character run, for line numbers

    def offset(self, i: int) -> int:
        """Original-text offset of character ``i`` of :attr:`text`."""
        if not self._pos:
            return self.start + i
        mapper, base = self._pos
        return mapper(base + i)


# PySD's grammars (translators/vensim/parsing_grammars/*.peg) transcribed with atomic groups and
# possessive quantifiers so that Python's regex engine behaves like the PEG (no backtracking).
_W = r"[\s\\]*+"  # the grammar's "_" rule
_NAME = r"""(?>[\w][\w'$\s]*+|"(?>\\"|[^"])*+")"""
_MACRO_RE = re.compile(
    r":MACRO:" + _W + rf"(?P<name>{_NAME})" + _W + r"\(" + _W
    + rf"(?P<params>(?:{_NAME}{_W},?+{_W})++)" + _W + r":?+" + _W
    + rf"(?P<returns>(?:{_NAME}{_W},?+{_W})*+)" + _W + r"\)"
    + r"(?P<body>.+?(?=:END OF MACRO:)):END OF MACRO:"
)
_MAIN_PART = re.compile(r"(?!:MACRO:).+(?=:MACRO:)")
_MAIN_END = re.compile(r"(?!:MACRO:).+")
_ENCODING = re.compile(r"\{[^\}]*\}")
_SKIP = re.compile(_W)
_SPECIAL = re.compile(r'["~|]')
_CLOSING_QUOTE = re.compile(r'(?<!\\)"')
_DOC_END = re.compile(r"[~|]")


class _Content:
    """A section's text (concatenated, stripped pieces of the cleaned text) with a position map."""

    def __init__(self, cleaned: _Cleaned, spans: Iterable[tuple[int, int]]):
        parts, starts, c_starts = [], [], []
        n = 0
        for a, b in spans:
            piece = cleaned.text[a:b]
            lead = len(piece) - len(piece.lstrip())
            piece = piece.strip()
            starts.append(n)
            c_starts.append(a + lead)
            parts.append(piece)
            n += len(piece)
        self.text = "".join(parts)
        self._starts, self._c, self._cleaned = starts, c_starts, cleaned

    def orig(self, i: int) -> int:
        k = max(0, bisect.bisect_right(self._starts, i) - 1)
        return self._cleaned.orig(self._c[k] + i - self._starts[k])


def _element_end(s: str, pos: int, state: dict) -> int:
    """End of PySD's ``element`` rule from ``pos``: ``("..." with \\" escapes / [^~|])*``."""
    n = len(s)
    while True:
        m = _SPECIAL.search(s, pos)
        if m is None:
            return n
        j = m.start()
        if s[j] != '"':
            return j
        close = None
        if j >= state.get("no_close_after", n + 1):
            close = None
        else:
            mc = _CLOSING_QUOTE.search(s, j + 1)
            if mc is None:
                state["no_close_after"] = j
            else:
                close = mc.start()
        pos = j + 1 if close is None else close + 1


def _section_fields(content: _Content, section: str) -> list[Field]:
    """Split one section like PySD's ``section_elements`` grammar."""
    s = content.text
    fields: list[Field] = []
    state: dict = {}

    def add(kind, a, b):
        raw = s[a:b]
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        fields.append(Field(kind, text, content.orig(a + lead), section, (content.orig, a + lead)))

    pos, n = 0, len(s)
    while pos < n:
        e1 = _element_end(s, pos, state)
        if e1 >= n or s[e1] != "~":
            break
        e2 = _element_end(s, e1 + 1, state)
        if e2 >= n:
            break
        if s[e2] == "|":  # section: element ~ element |
            add("group", pos, e1)
            add("group", e1 + 1, e2)
            pos = e2 + 1
            continue
        m = _DOC_END.search(s, e2 + 1)  # s[e2] == "~": entry
        if m is None:
            break
        d = m.start()
        if s[d] == "|":
            add("equation", pos, e1)
            add("units", e1 + 1, e2)
            add("comment", e2 + 1, d)
            pos = d + 1
            continue
        e4 = _element_end(s, d + 1, state)
        if e4 < n and s[e4] == "|":
            add("equation", pos, e1)
            add("units", e1 + 1, e2)
            add("comment", e2 + 1, d)
            add("extra", d + 1, e4)
            pos = e4 + 1
            continue
        break
    if pos < n:
        add("unparsed", pos, n)
    return fields


def vensim_fields(text: str) -> list[Field]:
    """Split Vensim model text into the fields PySD's translator sees, in file order by section.

    Mirrors PySD 3.14's ``file_sections`` and ``section_elements`` grammars (macros, entries,
    group headers); the sketch after ``\\\\\\---///`` is left out because PySD never translates it.
    Text PySD cannot parse is returned as one ``"unparsed"`` field, so it is still screened.
    """
    body = text.split(_SKETCH_MARK, 1)[0]
    cleaned = _Cleaned(body)
    c = cleaned.text
    pos = 0
    m = _ENCODING.match(c)
    if m:
        pos = m.end()
    pos = _SKIP.match(c, pos).end()
    main_spans: list[tuple[int, int]] = []
    macros: list[tuple[re.Match, _Content]] = []
    while pos < len(c):
        m = _MACRO_RE.match(c, pos)
        if m:
            macros.append((m, _Content(cleaned, [(m.start("body"), m.end("body"))])))
        else:
            m = _MAIN_PART.match(c, pos) or _MAIN_END.match(c, pos)
            if m is None:  # PySD's file grammar fails here: nothing is translated
                whole = _Content(cleaned, [(0, len(c))])
                return [Field("unparsed", whole.text, whole.orig(0), "__main__", (whole.orig, 0))]
            main_spans.append((m.start(), m.end()))
        pos = _SKIP.match(c, m.end()).end()

    fields: list[Field] = []
    if main_spans:
        fields += _section_fields(_Content(cleaned, main_spans), "__main__")
    for m, content in macros:
        header = c[m.start():m.start("body")]
        start = cleaned.orig(m.start())
        fields.append(Field("macro", header, start, m.group("name").strip(),
                            (cleaned.orig, m.start())))
        fields += _section_fields(content, m.group("name").strip())
    return fields


# --------------------------------------------------------------------------------------------
# Stage 2: the screen
# --------------------------------------------------------------------------------------------

_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_POINT = rf"\(\s*{_NUM}\s*,\s*{_NUM}\s*\)"
#: ``[(x0,y0)-(x1,y1)]`` optionally followed by reference points ``,(x,y)``.
_RANGE_RE = re.compile(rf"\[\s*{_POINT}\s*-\s*{_POINT}(?:\s*,\s*{_POINT})*\s*\]")
#: A "(" followed by "[": where PySD's grammar accepts a lookup range (which it eval()s).
_RANGE_OPEN = re.compile(r"\([\s\\]*(\[)")
#: Whitespace, and Vensim's line continuation (a backslash at the end of a line), inside a range.
_RANGE_SPACE = re.compile(r"\\[ \t]*\n|\s+")
_SAFE_QUOTED_NAME = re.compile(r"""[^'\\\x00-\x1f\x7f]*""")
_SAFE_CALLED_NAME = re.compile(r"[\w \-/&]+")
_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f]")
#: An ``=`` that is not part of ``:=``, ``<=``, ``>=``, ``<>`` or ``<->``.
_ORDINARY_EQUALS = re.compile(r"(?<![:<>])=")
_CALL_AFTER = re.compile(r"[\s\\]*\(")
_BASIC_ID_TAIL = re.compile(r"[\w'$ ]+$")
_DATA_FUNCTION = re.compile(r"\bGET[\s_\\]+(?:XLS|DIRECT|123|VDF)\b[\w\s]*", re.IGNORECASE)
#: A DATA variable's keyword at the end of its left-hand side, and the keywords Vensim knows.
_DATA_KEYWORD = re.compile(r":[\s\\]*([^:\[\]]*?)[\s\\]*:[\s\\]*$")
_DATA_KEYWORDS = frozenset({"INTERPOLATE", "RAW", "HOLD BACKWARD", "LOOK FORWARD"})
_SUBSCRIPT_RANGE = re.compile(r"\(\s*([^\W\d]\w*?)(\d+)\s*-\s*\1(\d+)\s*\)")
_BINARY_OP = re.compile(r"(?<=[\w)\].\"])(?<![0-9][eE])\s*(?:[-+*/^<>=]|:AND:|:OR:)", re.IGNORECASE)
_PLAIN_MACRO_NAME = re.compile(r"[\w ]+")


def _mask_quoted(eq: str) -> tuple[str, list[tuple[int, int]]]:
    """Quoted names as PySD's escape groups find them, and ``eq`` with their insides blanked."""
    spans: list[tuple[int, int]] = []
    out, last, pos, no_close_after = [], 0, 0, len(eq) + 1
    while True:
        j = eq.find('"', pos)
        if j < 0:
            break
        mc = None if j >= no_close_after else _CLOSING_QUOTE.search(eq, j + 1)
        if mc is None:  # an unclosed quote is a plain character to PySD
            no_close_after = min(no_close_after, j)
            pos = j + 1
            continue
        k = mc.end()
        spans.append((j, k))
        out += [eq[last:j + 1], "_" * (k - j - 2)]
        last, pos = k - 1, k
    out.append(eq[last:])
    return "".join(out), spans


def _inside_brackets(s: str, i: int) -> bool:
    """True if ``s[i]`` lies between a ``[`` and its ``]`` (quoted names blanked in ``s``)."""
    return s.rfind("[", 0, i) > s.rfind("]", 0, i)


def _after_paren(s: str, i: int) -> bool:
    """True if the character before ``s[i]``, skipping spaces and backslashes, is ``(``."""
    j = i - 1
    while j >= 0 and s[j] in " \t\\":
        j -= 1
    return j >= 0 and s[j] == "("


def _starts_token(s: str, i: int) -> bool:
    """True if ``s[i]`` cannot continue a Vensim name (previous non-blank is not a name char)."""
    j = i - 1
    while j >= 0 and s[j] in " \t\\":
        j -= 1
    return j < 0 or not (s[j].isalnum() or s[j] in "_'$")


def _is_numeric_range(s: str) -> bool:
    return bool(_RANGE_RE.fullmatch(_RANGE_SPACE.sub("", s)))


def _screen_equation(f: Field, src, line) -> list[tuple[str, int]]:
    """Strict checks for text PySD parses as an equation (or might, if it cannot split it);
    returns the data files the equation names, with their lines."""
    eq = f.text
    where = "equation" if f.kind == "equation" else "text"

    def refuse(i, what, snippet, why):
        return _refuse(src, line(f.offset(i)), what, snippet, why)

    if len(eq) > MAX_EQUATION_CHARS:
        raise refuse(0, f"{where} of {len(eq):,} characters", eq[:40],
                     f"longer than the {MAX_EQUATION_CHARS:,}-character limit for one equation")
    masked, quoted = _mask_quoted(eq)

    # Lookup ranges: PySD eval()s the text from "[" to the next "]" when it follows a "(".
    # Checked with quoted names blanked and, in case a quote fooled the blanking, without.
    for text in (masked, eq):
        for m in re.finditer(r"\[[^\]]*\]?", text):
            a = m.start()
            b = a + len(m.group()) if text is eq else masked.find("]", a) + 1 or len(eq)
            if ("(" in m.group() or _after_paren(text, a)) and not _is_numeric_range(eq[a:b]):
                raise refuse(a, "lookup range", eq[a:b],
                             "only numbers are allowed in [(x0,y0)-(x1,y1)] "
                             "(PySD eval()s lookup ranges while translating)")

    # Data functions and string literals: they read files, and PySD pastes the strings raw.
    # GET XLS/DIRECT CONSTANTS, DATA, LOOKUPS and SUBSCRIPT may read a file inside the model's
    # folder when every argument is plain text (cxsystems.model.datafiles); nothing else may.
    named: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    for call in find_data_calls(masked, eq):
        if isinstance(call, tuple):
            raise refuse(call[0], "data function", eq[call[0]:call[0] + 40], call[1])
        for role, value in zip(call.roles, call.args):
            problem = argument_problem(role, value)
            if problem:  # the argument in full: the message names the path
                raise data_refusal(src, line(f.offset(call.start)), value, problem)
        if call.function.endswith("LOOKUPS") and ":=" in masked[:call.start]:
            raise refuse(call.start, "data function", eq[call.start:call.start + 40],
                         f"{call.function} defines a lookup table, not a DATA variable: write "
                         f"name({call.function}(...)) or name = {call.function}(...), not :=")
        named.append((call.args[0], line(f.offset(call.start))))
        spans.append((call.start, call.end))

    def in_call(i: int) -> bool:
        return any(a <= i < b for a, b in spans)

    # A DATA variable's keyword (``x :INTERPOLATE: := ...``) is pasted between quotes as well.
    head = masked.split(":=", 1)[0] if ":=" in masked else ("" if re.search(r"[=(]", masked) else masked)
    k = _DATA_KEYWORD.search(head)
    if k and " ".join(k.group(1).upper().split()) not in _DATA_KEYWORDS:
        raise refuse(k.start(), "data keyword", eq[k.start():k.end()],
                     "a DATA variable's keyword may only be :INTERPOLATE:, :RAW:, :HOLD BACKWARD: "
                     "or :LOOK FORWARD: (PySD pastes it into generated code)")

    for d in _DATA_FUNCTION.finditer(masked):
        if not in_call(d.start()):
            raise refuse(d.start(), "data function", eq[d.start():d.start() + 40],
                         "cxsystems lets models read files only through GET XLS/DIRECT CONSTANTS, "
                         "DATA, LOOKUPS and SUBSCRIPT; put the data in the model as constants or "
                         "lookups")
    for m in re.finditer("'", masked):
        if _starts_token(masked, m.start()) and not in_call(m.start()):
            raise refuse(m.start(), "string literal", eq[m.start():m.start() + 40],
                         "strings only feed the GET XLS/DIRECT functions that read data files")

    # Backslashes: in an equation only a line continuation.
    m = re.search(r"\\(?![\s\\]|$)", masked)
    if m:
        raise refuse(m.start(), "backslash", eq[max(0, m.start() - 10):m.start() + 20],
                     "in an equation a backslash may only end a line")

    # Quoted names: PySD pastes some (subscript ranges and elements, data variables without a
    # file, macros, unknown functions) between quotes. A variable's name it only writes with repr(),
    # so ' and \\ may appear in a quoted name exactly where it names a plain variable: in an
    # ordinary equation (``=``, never ``:=`` or a DATA, range or lookup definition), outside
    # [subscripts], not called like a function. Range and element names can then never hold them,
    # so no name with them can reach the code where PySD pastes range names raw.
    plain_equation = bool(_ORDINARY_EQUALS.search(masked)) and ":=" not in masked
    for a, b in quoted:
        name = eq[a + 1:b - 1]
        if _CALL_AFTER.match(eq, b) and not _SAFE_CALLED_NAME.fullmatch(name):
            raise refuse(a, "quoted name used as a function", eq[a:b] + "(",
                         "a name called like a function may only hold letters, digits, spaces, "
                         "'_', '-', '/' and '&' (PySD pastes it into generated code)")
        if _SAFE_QUOTED_NAME.fullmatch(name):
            continue
        if _CONTROL_CHAR.search(name) or not plain_equation or _inside_brackets(masked, a):
            raise refuse(a, "quoted name", eq[a:b],
                         "a quoted name with ' or \\ (or a control character) may only name a "
                         "variable of an ordinary equation, never a subscript range, element, "
                         "data variable or lookup (PySD pastes those between quotes in the code "
                         "it generates); rename it")

    # Unquoted names called like functions: no ' or $ (PySD would paste them raw too).
    for m in re.finditer(r"\(", masked):
        tail = _BASIC_ID_TAIL.search(masked[max(0, m.start() - 200):m.start()].rstrip(" \\"))
        if tail and re.search(r"['$]", tail.group()):
            name = tail.group().strip()
            raise refuse(masked.rfind(name, 0, m.start()), "function name", name + "(",
                         "a name called like a function may not contain ' or $")

    # Size of the parse: nesting, operator chains, numeric subscript ranges.
    depth = 0
    for m in re.finditer(r"[()]", masked):
        depth += 1 if m.group() == "(" else -1
        if depth > MAX_NESTING:
            raise refuse(m.start(), f"nesting deeper than {MAX_NESTING} parentheses",
                         eq[max(0, m.start() - 20):m.start() + 10],
                         "PySD's recursive parser would crash; split the equation into "
                         "intermediate variables")
    ops = len(_BINARY_OP.findall(masked))
    if ops > MAX_OPERATORS:
        raise refuse(0, f"equation with {ops:,} operators", eq[:40],
                     f"more than {MAX_OPERATORS:,} operators in one equation: Python cannot parse "
                     "the code PySD writes for it; split it into intermediate variables")
    for m in _SUBSCRIPT_RANGE.finditer(masked):
        count = int(m.group(3)) - int(m.group(2)) + 1
        if count > MAX_SUBSCRIPT_RANGE:
            raise refuse(m.start(), "subscript range", m.group(),
                         f"{count:,} elements is more than the limit of {MAX_SUBSCRIPT_RANGE:,}")
    return named


def _screen_macro_header(f: Field, src, line) -> None:
    m = _MACRO_RE.match(f.text + "x:END OF MACRO:")
    names = []
    if m:
        names.append(m.group("name"))
        for group in ("params", "returns"):
            names += [p for p in re.split(r"[\s\\]*,[\s\\]*", m.group(group).strip(" ,\\")) if p]
    for name in names:
        bare = name.strip()
        bare = bare[1:-1] if bare.startswith('"') and bare.endswith('"') else bare
        if not _PLAIN_MACRO_NAME.fullmatch(bare):
            raise _refuse(src, line(f.start), "macro name", name,
                          "macro names and arguments may only hold letters, digits, spaces and "
                          "'_' (PySD pastes them into generated code)")
    clean = re.sub(r"[\W]+", "", names[0].replace(" ", "_")).lstrip("0123456789") if names else ""
    if not clean:
        raise _refuse(src, line(f.start), "macro name", f.text[:40],
                      "the macro needs a name made of letters, digits and spaces")


def screen_vensim_text(text: str, source: str | Path) -> tuple[DataFile, ...]:
    """Refuse Vensim text that could make PySD execute code or read files outside the model's
    folder; return the data files it reads (empty for most models), confined to the folder of
    ``source``, for :func:`cxsystems.model.datafiles.stage_data_files`.

    Checks (see the module docstring): no NUL; no three double quotes before the sketch (comments
    become docstrings); every ``(`` ``[`` lookup range is plain numbers; in equations no string
    literals except the plain arguments of GET XLS/DIRECT CONSTANTS, DATA, LOOKUPS and SUBSCRIPT
    naming files inside the model's folder (:mod:`cxsystems.model.datafiles`), no other data
    function, no backslash except at a line end, ``'`` or ``\\`` in quoted names only where they
    name a plain variable, plain
    names where called like functions, nesting, operator and subscript-range limits; macro names
    and arguments plain.

    Raises:
        UnsafeModelError: ``path:line: refused <what> <snippet>: <why>``.
    """
    with gc_paused():  # the fields of a large model: no cycles, only allocation
        named = _screen_text(text, str(source))
    return data_files(named, source)


def _screen_text(text: str, src: str) -> list[tuple[str, int]]:

    def line(offset: int) -> int:
        return _line_at(text, offset)

    if "\x00" in text:
        raise _refuse(src, line(text.index("\x00")), "NUL byte", None, "model files are text")
    body = text.split(_SKETCH_MARK, 1)[0]
    i = body.find('"""')
    if i >= 0:
        raise _refuse(src, line(i), "triple quote", body[max(0, i - 10):i + 40],
                      "PySD pastes comments into a \"\"\"docstring\"\"\", so three double quotes "
                      "would end it and run the rest as code; use fewer quotes")
    # Anywhere before the sketch (comments included), "(" then "[" must open a numeric range.
    for m in _RANGE_OPEN.finditer(body):
        a = m.start(1)
        b = body.find("]", a)
        b = len(body) if b < 0 else b + 1
        if not _RANGE_RE.fullmatch(_RANGE_SPACE.sub("", body[a:b])):
            raise _refuse(src, line(a), "lookup range", body[a:b],
                          "only numbers are allowed in [(x0,y0)-(x1,y1)] (PySD eval()s lookup "
                          "ranges while translating)")
    named: list[tuple[str, int]] = []
    for f in sorted(vensim_fields(text), key=lambda f: f.start):
        # PySD glues the main text around a macro back together, which can join quotes.
        i = f.text.find('"""')
        if i >= 0:
            raise _refuse(src, line(f.offset(i)), "triple quote", f.text[max(0, i - 10):i + 40],
                          "three double quotes once PySD joins the text around a macro; PySD "
                          "pastes comments into a \"\"\"docstring\"\"\", so they would end it")
        if f.kind in ("equation", "unparsed"):
            named += _screen_equation(f, src, line)
        elif f.kind == "macro":
            _screen_macro_header(f, src, line)
    return named


# --------------------------------------------------------------------------------------------
# Stage 4: audit of the generated Python (parsed, never imported)
# --------------------------------------------------------------------------------------------

#: Modules and names PySD's code generator imports (``from module import name``); ``None`` = any.
_ALLOWED_FROM_IMPORTS = {
    "pathlib": {"Path"},
    "scipy": {"stats"},
    "pysd": {"Component"},
    "pysd.py_backend.functions": None,
    "pysd.py_backend.statefuls": None,
    "pysd.py_backend.lookups": None,
    "pysd.py_backend.data": None,
    "pysd.py_backend.allocation": None,
    "pysd.py_backend.model": {"Macro"},
    # PySD's data readers: only those the module calls as PySD writes them (_external_problem).
    "pysd.py_backend.external": set(),
}
_ALLOWED_IMPORTS = {"numpy": "np", "xarray": "xr"}
#: Builtins PySD's generated code may call.
_ALLOWED_BUILTINS = frozenset({
    "float", "int", "len", "sum", "abs", "min", "max", "range", "dict", "list", "tuple", "zip",
    "bool", "round", "isinstance", "enumerate", "True", "False", "None", "__file__",
})
#: Attribute names that appear in PySD's code templates (``np.maximum``, ``value.loc``, ...).
PYSD_ATTRIBUTES = frozenset({
    "DataArray", "abs", "add", "arange", "arccos", "arcsin", "arctan", "array", "cos", "cosh",
    "exp", "expand_dims", "final_time", "inf", "initial_time", "interp", "joinpath", "loc", "log",
    "logical_and", "logical_not", "logical_or", "maximum", "minimum", "nan", "ones_like",
    "parent", "pi", "power", "random", "rename", "reset_coords", "rvs", "saveper", "sin", "sinh",
    "sqrt", "stage", "tan", "tanh", "time_step", "transpose", "truncexpon", "truncnorm", "uniform",
    "values", "zeros_like",
})
_BUILTIN_NAMES = frozenset(dir(builtins))
_FORBIDDEN_NODES = (
    ast.ClassDef, ast.AsyncFunctionDef, ast.Global, ast.Nonlocal, ast.With, ast.AsyncWith,
    ast.Try, ast.Delete, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Raise,
    ast.While, ast.AsyncFor,
)


def _macro_parameters(tree: ast.Module) -> set[str]:
    """Names a macro module calls that PySD's ``Macro`` injects from ``_params = {...}``.

    PySD renames parameters that clash with builtins (``input`` -> ``input_1``), so a builtin's
    name here is not PySD's doing and is never accepted.
    """
    names: set[str] = set()
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "_params"
                and isinstance(node.value, ast.Dict)):
            for v in node.value.values:
                if (isinstance(v, ast.Constant) and isinstance(v.value, str)
                        and v.value.isidentifier() and v.value not in _BUILTIN_NAMES):
                    names.add(v.value)
    return names


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = _macro_parameters(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    return names


#: PySD's readers of data files (``pysd.py_backend.external``), as its builders call them at the
#: top of a module: ``_ext_x = ExtData(file, tab, time, cell, method, coords, _root, final_coords,
#: "_ext_x")`` and ``_ext_x.add(file, tab, time, cell, method, coords)``: the number of leading
#: text arguments (file, tab, cells), whether a method follows, and the number of arguments.
_EXTERNAL_CALLS = {"ExtData": (4, True, 9, 6), "ExtLookup": (4, False, 8, 5),
                   "ExtConstant": (3, False, 7, 4)}
#: Interpolation methods of DATA variables (Vensim's keywords as PySD writes them).
_DATA_METHODS = frozenset({None, "interpolate", "raw", "hold_backward", "look_forward"})


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _literal_coords(node: ast.AST) -> bool:
    """``{"dim": ["a", "b"], "dim2": _subscript_dict["dim2"]}``: PySD's coordinates, literals only."""
    if not isinstance(node, ast.Dict):
        return False
    for key, value in zip(node.keys, node.values):
        if key is None or not _is_text(key):
            return False
        if isinstance(value, ast.List) and all(_is_text(e) for e in value.elts):
            continue
        if (isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name)
                and value.value.id == "_subscript_dict" and _is_text(value.slice)):
            continue
        return False
    return True


def _external_call_problem(call: ast.Call, cls: str, add: bool, target: str | None) -> str | None:
    """Why a call of PySD's data readers is not one its builders write with literal arguments."""
    texts, method, n_new, n_add = _EXTERNAL_CALLS[cls]
    args = call.args
    if call.keywords or len(args) != (n_add if add else n_new):
        return f"a call of {cls} with other arguments than PySD writes"
    if not all(_is_text(a) for a in args[:texts]):
        return f"a call of {cls} whose file, sheet or cells are not literal text"
    roles = ("file", "tab") + ("cell",) * (texts - 2)
    for role, a in zip(roles, args[:texts]):
        if argument_problem(role, a.value):
            return f"a call of {cls} with a file, sheet or cell argument the screen refuses"
    rest = args[texts:]
    if method:
        if not (isinstance(rest[0], ast.Constant) and rest[0].value in _DATA_METHODS):
            return f"a call of {cls} with an unknown interpolation method"
        rest = rest[1:]
    if not _literal_coords(rest[0]):
        return f"a call of {cls} with computed coordinates"
    if add:
        return None
    if not (isinstance(rest[1], ast.Name) and rest[1].id == "_root" and _literal_coords(rest[2])
            and _is_text(rest[3]) and rest[3].value == target):
        return f"a call of {cls} with other arguments than PySD writes"
    return None


def _external_problem(tree: ast.Module) -> tuple[set[int], dict[str, str], tuple[ast.AST, str] | None]:
    """The data-reader calls PySD's builders write at the top of a module (ids of their ``func``
    nodes), the reader objects they make (name -> class), and the first such call that is not as
    PySD writes it."""
    approved: set[int] = set()
    readers: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Name) and call.func.id in _EXTERNAL_CALLS:
                target = node.targets[0] if len(node.targets) == 1 else None
                if not (isinstance(target, ast.Name) and target.id.startswith("_ext_")):
                    return approved, readers, (node, f"a {call.func.id} object PySD would not name so")
                why = _external_call_problem(call, call.func.id, False, target.id)
                if why:
                    return approved, readers, (call, why)
                readers[target.id] = call.func.id
                approved.add(id(call.func))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            func = call.func
            if (isinstance(func, ast.Attribute) and func.attr == "add"
                    and isinstance(func.value, ast.Name) and func.value.id in readers):
                why = _external_call_problem(call, readers[func.value.id], True, None)
                if why:
                    return approved, readers, (call, why)
                approved.add(id(func))
    return approved, readers, None


def _generated_problem(tree: ast.Module) -> tuple[ast.AST, str] | None:
    """The first node PySD's generator would never emit, and why; None if all is familiar."""
    defined = _defined_names(tree)
    top = set(map(id, tree.body))
    approved, readers, problem = _external_problem(tree)
    if problem is not None:
        return problem
    for node in ast.walk(tree):
        if isinstance(node, _FORBIDDEN_NODES):
            return node, f"a {type(node).__name__} statement"
        if isinstance(node, ast.Import):
            for a in node.names:
                if id(node) not in top or _ALLOWED_IMPORTS.get(a.name, ...) != a.asname:
                    return node, f"an import of {a.name}"
        elif isinstance(node, ast.ImportFrom):
            allowed = _ALLOWED_FROM_IMPORTS.get(node.module or "", ())
            if node.module == "pysd.py_backend.external":
                allowed = set(readers.values())
            if id(node) not in top or node.level or allowed == ():
                return node, f"an import from {node.module}"
            for a in node.names:
                if a.name == "*" or (allowed is not None and a.name not in allowed):
                    return node, f"an import of {a.name} from {node.module}"
        elif isinstance(node, ast.Attribute):
            if node.attr not in PYSD_ATTRIBUTES:
                return node, f"the attribute .{node.attr}"
            if (isinstance(node.value, ast.Name) and node.value.id in readers
                    and id(node) not in approved):
                return node, f"the attribute .{node.attr} of a data reader"
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in _EXTERNAL_CALLS and id(node) not in approved:
                return node, f"the name {node.id} outside a data reader PySD writes"
            if node.id.startswith("__") and node.id not in ("__data", "__file__"):
                return node, f"the name {node.id}"
            if node.id not in defined and node.id not in _ALLOWED_BUILTINS:
                return node, f"the name {node.id}"
    return None


def _enclosing_variable(tree: ast.Module, lineno: int) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.lineno <= lineno <= (node.end_lineno or 0):
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call):
                    for kw in dec.keywords:
                        if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                            return str(kw.value.value)
    return None


def _variable_line(text: str, name: str) -> int | None:
    """Line where ``name`` is defined (start of an equation), if it can be found."""
    body = text.split(_SKETCH_MARK, 1)[0]
    words = r"[\s_]+".join(re.escape(w) for w in re.split(r"[\s_]+", name.strip()) if w)
    pat = re.compile(r'(?:^|\|)[ \t]*(?P<name>"?' + words + r'"?)\s*[\[=(:]',
                     re.IGNORECASE | re.MULTILINE)
    m = pat.search(body)
    return _line_at(body, m.start("name")) if m else None


#: The left-hand side of an equation as PySD's ``element_object`` grammar reads it: a name, its
#: optional subscripts (and :EXCEPT: groups), then ``=``, ``==``, ``:=`` or a lookup's ``(``.
_DEFINITION = re.compile(
    r"""(?P<name>"(?:\\"|[^"])*"|\w[\w'$ ]*?)\s*(?:\[[^\]]*\]\s*(?::EXCEPT:[\s,]*(?:\[[^\]]*\][\s,]*)+)?)?"""
    r"(?:=|\(|:=)")


def merge_key(name: str) -> str:
    """The key under which PySD merges equations into one variable (case, spaces as ``_``)."""
    return name.strip().lower().replace(" ", "_")


def _section_key(name: str) -> str:
    return re.sub(r"\W+", "_", name.lower()).strip("_")


def definition_lines(text: str, name: str, section: str = "__main__") -> list[int]:
    """Lines (1-based, in file order) of the equations that define ``name`` in ``section``,
    found by the same split of the text that the screen uses (comments are never matched)."""
    key, where = merge_key(name), _section_key(section)
    newlines = [m.start() for m in re.finditer("\n", text)]
    lines = []
    for f in vensim_fields(text):
        if f.kind != "equation" or _section_key(f.section) != where:
            continue
        m = _DEFINITION.match(f.text)
        if m and merge_key(m.group("name")) == key:
            lines.append(bisect.bisect_left(newlines, f.start) + 1)
    return lines


def audit_generated_code(py_files: Iterable[str | Path], source: str | Path, text: str) -> None:
    """Refuse PySD output that contains anything PySD's code generator never writes.

    Each generated module is parsed with :mod:`ast` (never imported): imports must be PySD's own,
    every name must be defined in the module or be a harmless builtin, every attribute one that
    PySD's templates use, and no class, ``global``, ``with``, ``try``, ``while`` or ``del``.

    Raises:
        UnsafeModelError: naming the model line of the variable whose code is unexpected.
    """
    for py in py_files:
        code = Path(py).read_text(encoding="utf-8")
        # A module of 10,000 variables parses into millions of AST nodes (a tree: no cycles).
        # With the collector on, its full collections rescanned the growing tree again and
        # again (measured inside load_model: 1.0 s at 2,500 variables, 2.5 s at 5,000, most
        # of it collection), so it is paused, and the tree freed before it is turned back on.
        with gc_paused():
            refusal = _audit_module(code, source, text)
        if refusal is not None:
            raise refusal


def _audit_module(code: str, source: str | Path, text: str) -> UnsafeModelError | None:
    """The refusal for one generated module, or None if PySD's generator could have written it."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return _refuse(source, None, "translation", (exc.text or "").strip(),
                       f"PySD generated Python that does not parse ({exc.msg})")
    problem = _generated_problem(tree)
    if problem is None:
        return None
    node, what = problem
    variable = _enclosing_variable(tree, getattr(node, "lineno", 0))
    line = _variable_line(text, variable) if variable else None
    snippet = ast.get_source_segment(code, node) or what
    about = f" of {variable!r}" if variable else ""
    return _refuse(source, line, f"generated code{about}", snippet,
                   f"PySD's translation uses {what}, which its code generator never writes: "
                   "text in the model has been turned into code")
