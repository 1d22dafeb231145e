"""Shared pieces of the command line: parser class, ``--model`` option, errors and text tables."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

#: Width the printed tables are made to fit (characters).
WIDTH = 100


def one_line(text: str) -> str:
    """Collapse whitespace so a message is a single line."""
    return " ".join(str(text).split())


def print_error(message: str) -> None:
    """Print ``cxsystems: error: <message>`` as one line on stderr."""
    print(f"cxsystems: error: {one_line(message)}", file=sys.stderr)


def print_notice(message: str) -> None:
    """Print ``cxsystems: note: <message>`` as one line on stderr."""
    print(f"cxsystems: note: {one_line(message)}", file=sys.stderr)


def os_error_message(exc: OSError) -> str:
    """``<file>: Permission denied`` style text for an OSError."""
    from ..files import os_error_text

    return os_error_text(exc)


class CliParser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr (exit code 2)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        print_error(f"{message} (see '{self.prog} --help')")
        raise SystemExit(2)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text wrapped to :data:`WIDTH` columns; descriptions keep their own line breaks."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32, width=WIDTH)


def add_command(subparsers, name: str, handler: Callable[[argparse.Namespace], int | None], *,
                summary: str, description: str, model_option: bool = True) -> argparse.ArgumentParser:
    """Add subcommand ``name`` running ``handler(args)``; returns its parser to add options to.

    Args:
        subparsers: the object returned by ``add_subparsers`` (passed to ``register``).
        handler: called with the parsed arguments; returns the exit code (``None`` = 0).
        summary: one line for ``cxsystems --help``.
        description: one paragraph for ``cxsystems <name> --help``.
        model_option: add the common ``--model NAME|PATH`` option.
    """
    import textwrap

    parser = subparsers.add_parser(name, help=summary, formatter_class=HelpFormatter,
                                   description=textwrap.fill(one_line(description), WIDTH))
    if model_option:
        add_model_option(parser)
    parser.set_defaults(handler=handler)
    return parser


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model NAME|PATH`` (default: the bundled default model)."""
    from ..model.loader import DEFAULT_MODEL

    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH",
                        help=f"bundled model name or path to a Vensim .mdl or XMILE (.xmile, .stmx, .itmx) file (default: {DEFAULT_MODEL})")


def load(args: argparse.Namespace):
    """Load the model named by ``args.model`` (raises CxError on bad input)."""
    from ..model.loader import load_model

    return load_model(args.model)


def check_count(value: int, option: str, minimum: int) -> int:
    """Return ``value`` if it is at least ``minimum``; else a one-line CxError naming ``option``."""
    from ..errors import CxError

    if value < minimum:
        bound = "0 or more" if minimum == 0 else f"at least {minimum}"
        raise CxError(f"{option} must be {bound}, got {value}")
    return value


def add_nonfinite_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-nonfinite``: keep NaN and infinite values instead of refusing the run."""
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="keep NaN or infinite values (by default a run producing one is refused, "
                             "naming the variable and the week)")


def split_list(text: str | None, option: str) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; ``None`` stays ``None``; an empty list is an error."""
    from ..errors import CxError

    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise CxError(f"{option}: give at least one name (comma-separated)")
    return items


def compact(x: float, prefix: str = "") -> str:
    """Short number for tables: ``3.79M``, ``92,578``, ``1.12``, ``0.201``; NaN -> ``-``."""
    from ..text import short_number

    return short_number(x, prefix)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None,
          gap: int = 2) -> str:
    """Plain-text table; ``align`` holds ``"<"`` or ``">"`` per column (default left)."""
    align = list(align or ["<"] * len(headers))
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    sep = " " * gap

    def fmt(cells):
        return sep.join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    lines = [fmt(headers), sep.join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def truncate(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, ending with ``...`` when cut."""
    text = one_line(text)
    return text if len(text) <= width else text[: max(0, width - 3)].rstrip() + "..."
