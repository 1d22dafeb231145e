"""Screening of untrusted Vensim text before PySD sees it.

PySD's translator ``eval``s lookup ranges at parse time, pastes comments into docstrings and quoted
names into generated source (see ``shared/reference/pysd-notes.md``). cxsystems therefore screens the
raw model text first and refuses anything outside a conservative grammar, naming the line and what
was refused. Screening is purely textual: nothing from the file is executed.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import UnsafeModelError

#: A number as Vensim writes it in lookup ranges and points.
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: ``[(x0,y0)-(x1,y1)]`` optionally followed by reference points ``,(x,y)``.
_RANGE_RE = re.compile(
    rf"^\[\(\s*{_NUM}\s*,\s*{_NUM}\s*\)\s*-\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\)"
    rf"(?:\s*,\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\))*\s*\]$"
)
_SKETCH_MARK = "\\\\\\---///"
#: Characters allowed in a quoted variable name (PySD turns names into identifiers safely).
_SAFE_QUOTED_NAME = re.compile(r"^[A-Za-z0-9 _\-.,&%$/()]*$")
#: A quoted name called like a function is pasted raw into PySD's generated source: letters only.
_SAFE_CALLED_NAME = re.compile(r"^[A-Za-z0-9 _]+$")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _find_lookup_ranges(text: str):
    """Yield (start, end) of every ``[( ... )]`` lookup range in the text."""
    for m in re.finditer(r"\[\s*\(", text):
        depth = 0
        for j in range(m.start(), len(text)):
            ch = text[j]
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    yield m.start(), j + 1
                    break
        else:
            yield m.start(), len(text)


def screen_vensim_text(text: str, source: str | Path) -> None:
    """Refuse Vensim text that could make PySD execute code; return None if it is safe.

    Checks: lookup ranges must be plain numbers; no triple quotes anywhere (comments are pasted
    into docstrings); a backslash may only continue a line; quoted names may only contain ordinary
    characters, and a quoted name called like a function only letters, digits, spaces, underscores.

    Raises:
        UnsafeModelError: naming the file, line and the refused text.
    """
    src = str(source)
    if "\x00" in text:
        raise UnsafeModelError(f"{src}: refused: NUL byte in model text")
    for start, end in _find_lookup_ranges(text):
        snippet = re.sub(r"\s+", "", text[start:end])
        if not _RANGE_RE.match(snippet):
            raise UnsafeModelError(
                f"{src}:{_line_of(text, start)}: refused lookup range {snippet[:60]!r}: "
                "only numbers are allowed in [(x0,y0)-(x1,y1)]"
            )
    if '"""' in text or "'''" in text:
        i = text.find('"""') if '"""' in text else text.find("'''")
        raise UnsafeModelError(f"{src}:{_line_of(text, i)}: refused triple quote in model text")
    body = text.split(_SKETCH_MARK, 1)[0]
    for m in re.finditer(r"\\", body):
        # In the equations a backslash only continues a line.
        if not re.match(r"[ \t]*(\r?\n|$)", body[m.end():m.end() + 40]):
            raise UnsafeModelError(
                f"{src}:{_line_of(body, m.start())}: refused backslash that does not end a line"
            )
    for m in re.finditer(r'"([^"\n]*)"(\s*\()?', body):
        name, is_call = m.group(1), bool(m.group(2))
        pattern = _SAFE_CALLED_NAME if is_call else _SAFE_QUOTED_NAME
        if not pattern.match(name):
            what = "quoted name used as a function" if is_call else "quoted name"
            raise UnsafeModelError(
                f"{src}:{_line_of(body, m.start())}: refused {what} {m.group(0)[:60]!r}"
            )
