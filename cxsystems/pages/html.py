"""HTML and SVG helpers shared by the workshop page and the report: escaping, JSON and scripts
inside a page, and figures as SVG.

Every text that comes from a model or its files reaches a page only through :func:`esc` (HTML) or
:func:`json_for_html` (a JSON block); inline scripts and styles pass through :func:`script_safe`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re

_SVG_HEAD = re.compile(r"\A.*?(?=<svg\b)", re.S)
_SVG_META = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_SVG_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_SVG_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SVG_SIZE = re.compile(r'\A<svg\b([^>]*?)\swidth="[^"]*"\s+height="[^"]*"')


def esc(text) -> str:
    """HTML-escape any value (quotes too)."""
    return html.escape(str(text), quote=True)


def script_safe(text: str) -> str:
    """JavaScript or CSS text safe to paste inside ``<script>``/``<style>``: ``</script``,
    ``</style`` and ``<!--`` cannot end the element or open an HTML comment."""
    text = re.sub(r"</(?=(script|style)\b)", r"<\\/", text, flags=re.I)
    return text.replace("<!--", "<\\!--")


def json_for_html(data) -> str:
    """``json.dumps`` with ``<``, ``>``, ``&`` and the JS line separators escaped as ``\\uXXXX``."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text


def svg_document(fig, *, text_as_paths: bool = False, salt: str | None = None) -> str:
    """A matplotlib figure as a standalone SVG document without XML prolog, DOCTYPE, metadata or
    comments, and with no date in it (the same figure gives the same text).

    Args:
        text_as_paths: draw text as paths (no fonts needed where the page is shown).
        salt: fixed ``svg.hashsalt`` so that element ids are the same on every run.
    """
    import matplotlib

    rc = {"svg.fonttype": "path"} if text_as_paths else {}
    if salt is not None:
        rc["svg.hashsalt"] = salt
    buf = io.BytesIO()
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", facecolor="white",
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = _SVG_HEAD.sub("", buf.getvalue().decode("utf-8"))
    return _SVG_COMMENT.sub("", _SVG_META.sub("", text))


def svg_img(fig, alt: str) -> str:
    """``<img>`` holding the figure as an SVG data URI (vector in print, no id clashes)."""
    data = base64.b64encode(svg_document(fig).encode("utf-8")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="{esc(alt)}">'


def svg_inline(fig, label: str, *, text_as_paths: bool = False, salt: str | None = None) -> str:
    """The figure as an inline ``<svg>`` element (no namespace URLs, no fixed size: CSS sizes it
    to the column, the viewBox keeps its shape), labelled for screen readers."""
    text = _SVG_XMLNS.sub("", svg_document(fig, text_as_paths=text_as_paths, salt=salt))
    text = _SVG_SIZE.sub(r"<svg\1", text, count=1)
    return text.replace("<svg", f'<svg role="img" aria-label="{esc(label)}" preserveAspectRatio="xMidYMid meet"', 1)
