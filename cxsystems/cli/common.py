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
    add_data_file_option(parser)


def add_data_file_option(parser: argparse.ArgumentParser) -> None:
    """``--data-file FILE`` (repeatable): the values of a Vensim model's DATA variables."""
    parser.add_argument("--data-file", action="append", dest="data_files", metavar="FILE",
                        help="a .tab, .csv or .tsv file in the model's folder giving the values of its DATA "
                             "variables that have no data of their own, as Vensim loads data at run time "
                             "(repeatable; the first file naming a variable wins)")


def load(args: argparse.Namespace):
    """Load the model named by ``args.model``, with ``--data-file`` (raises CxError on bad input)."""
    from ..model.loader import load_model

    return load_model(args.model, data_files=getattr(args, "data_files", None))


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


PARAMS_EPILOG = """
Your numbers: --set "NAME=VALUE" (repeatable) and --params FILE (TOML: "Name" = value lines; CSV:
header name,value) give parameters new base values, checked like scenario values (name, declared
range); --calibration FILE runs from the estimates of a calibration.toml written by cxsystems
calibrate. Precedence: --set wins over --params, which wins over the calibration; a scenario's own
change to a parameter wins over all three. 'cxsystems params' lists the names and ranges.
"""


def add_params_options(parser: argparse.ArgumentParser, *, sampled: bool = False) -> None:
    """``--set NAME=VALUE`` (repeatable), ``--params FILE`` and ``--calibration FILE``.

    ``sampled``: the command runs sampled worlds (robustness), so the help says that set parameters
    are not sampled and the calibration's fitted parameters are drawn from its sample.
    """
    import textwrap

    group = parser.add_argument_group(
        "your numbers",
        textwrap.fill("new base values for the model's parameters; --set wins over --params, which wins over "
                      "--calibration; a scenario's own change to a parameter wins over all three", WIDTH - 2))
    group.add_argument("--set", action="append", dest="set_values", metavar='"NAME=VALUE"',
                       help="give parameter NAME the value VALUE (repeat for more; checked against its "
                            "declared range)" + ("; a set parameter is not sampled" if sampled else ""))
    group.add_argument("--params", dest="params_file", metavar="FILE",
                       help="parameter values from a file: TOML (\"Name\" = value) or CSV with header "
                            "name,value")
    group.add_argument("--calibration", metavar="FILE",
                       help="run from the fitted estimates of a calibration.toml (cxsystems calibrate)"
                            + ("; the worlds draw the fitted parameters from its sample (resampled "
                               "rows, seeded), the other uncertain parameters by Latin hypercube"
                               if sampled else ""))


def read_overrides(args: argparse.Namespace, model):
    """``(explicit values, calibration or None)`` from ``--params`` then ``--set`` (which wins) and
    ``--calibration``, each checked against ``model`` (raises a one-line CxError naming the option,
    the file and the row)."""
    from ..model.calibration_file import read_calibration
    from ..model.overrides import assignments, layered, read_params_file

    cal = None
    if getattr(args, "calibration", None):
        cal = read_calibration(args.calibration, model, "--calibration")
    from_file = read_params_file(args.params_file, model) if getattr(args, "params_file", None) else {}
    explicit = layered(from_file, assignments(model, getattr(args, "set_values", None)))
    return explicit, cal


def load_with_overrides(args: argparse.Namespace):
    """``(model with the values of --calibration, --params and --set, explicit values, calibration)``."""
    from ..model.overrides import layered, with_values

    model = load(args)
    explicit, cal = read_overrides(args, model)
    values = layered(dict(cal.estimates) if cal is not None else {}, explicit)
    return with_values(model, values), explicit, cal


def overrides_lines(explicit, cal) -> list[str]:
    """What the run starts from, for the output: ``calibration: ...`` and ``your numbers: ...``."""
    from ..model.overrides import describe

    lines = []
    if cal is not None:
        lines.append(f"calibration: {cal.describe()}")
    if explicit:
        lines.append(f"your numbers: {describe(explicit)}")
    return lines


def overrides_manifest(explicit, cal) -> dict:
    """What the manifest records about the values a run started from."""
    out: dict = {}
    if cal is not None:
        out["calibration"] = str(cal.path)
        out["estimates"] = dict(cal.estimates)
    if explicit:
        out["params"] = dict(explicit)
    return out
