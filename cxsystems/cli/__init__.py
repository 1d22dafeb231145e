"""The ``cxsystems`` command line: a thin layer over the public API.

Usage::

    cxsystems compare [--model NAME|PATH] [--scenarios a,b] [--out DIR] [--format png|svg|pdf] [--outcome VAR]
    cxsystems scenarios [--model NAME|PATH]
    cxsystems params [--model NAME|PATH] [--format table|csv]
    cxsystems run [--model NAME|PATH] --scenario NAME --out FILE.csv [--variables A,B] [--allow-nonfinite]
    cxsystems robustness [--model NAME|PATH] [--scenarios a,b] [--n 10000] [--seed S] [--out DIR] [--workers K | --dask ADDRESS] [--allow-nonfinite] [--quiet]
    cxsystems workshop [--model NAME|PATH] [--out FILE.html]
    cxsystems report [--model NAME|PATH] [--out FILE.html] [--n RUNS] [--seed S] [--quiet]
    cxsystems loops | cld | archetypes | lint [--model NAME|PATH | --cld FILE] ...
    cxsystems init --model PATH [--force]
    cxsystems calibrate [--model NAME|PATH] --data FILE [--fit A,B] [--method optimize|bayes] [--seed S] [--out DIR]
    cxsystems sensitivity [--model NAME|PATH] [--method sobol|morris] [--metric M | --outcome VAR] [--n N] [--out DIR]
    cxsystems --version

Every command that runs the model also takes ``--set NAME=VALUE``, ``--params FILE``,
``--calibration FILE`` and ``--data-file FILE``.

Bad input of any kind ends with one line ``cxsystems: error: ...`` on stderr and exit code 2.

Adding a subcommand: write a module ``cxsystems/cli/<name>.py`` with a function
``register(subparsers)`` that calls ``add_command(subparsers, ...)`` (see
:mod:`cxsystems.cli.common`), then add its module name as one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Sequence

from . import common

#: Subcommand modules, imported in this order; each has ``register(subparsers)``.
COMMANDS: tuple[str, ...] = (
    "cxsystems.cli.compare",
    "cxsystems.cli.info",
    "cxsystems.cli.run",
    "cxsystems.cli.causal",
    "cxsystems.cli.robustness",
    "cxsystems.cli.workshop",
    "cxsystems.cli.report",
    "cxsystems.cli.init",
    "cxsystems.cli.calibrate",
    "cxsystems.cli.sensitivity",
    "cxsystems.cli.dominance",
)


def build_parser() -> common.CliParser:
    """The top-level parser with every subcommand of :data:`COMMANDS` registered."""
    from ..version import __version__

    parser = common.CliParser(
        prog="cxsystems",
        description="Systems thinking for customer experience: run a system-dynamics model's policy\n"
                    "scenarios, compare them with the baseline and chart the results.",
        epilog="Run 'cxsystems COMMAND --help' for the options of a command.",
        formatter_class=common.HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cxsystems {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 1 unexpected error)."""
    from ..errors import CxError

    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # --help, --version, usage errors (already reported)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    import warnings

    from ..errors import Notice

    def show(message, category, *rest, **kw):  # notices: one line, not a warning dump
        if issubclass(category, Notice):
            common.print_notice(str(message))
        else:
            original(message, category, *rest, **kw)

    original = warnings.showwarning
    warnings.showwarning = show
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:  # e.g. `cxsystems params | head`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except CxError as exc:
        common.print_error(str(exc))
        return 2
    except OSError as exc:
        common.print_error(common.os_error_message(exc))
        return 2
    except KeyboardInterrupt:
        common.print_error("interrupted")
        return 130
    except Exception as exc:  # a bug or a model that breaks at run time: still one line
        if getattr(args, "debug", False):
            raise
        common.print_error(f"unexpected {type(exc).__name__}: {common.one_line(str(exc))} "
                           "(rerun with --debug for the traceback)")
        return 1
    finally:
        warnings.showwarning = original
