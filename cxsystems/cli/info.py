"""``cxsystems scenarios`` and ``cxsystems params``: describe a model's scenarios and parameters."""

from __future__ import annotations

import argparse
import math
import sys
import textwrap

from ..text import grouped as _num
from ..text import pretty_units
from .common import (
    PARAMS_EPILOG,
    WIDTH,
    add_command,
    add_params_options,
    load,
    load_with_overrides,
    overrides_lines,
    table,
    truncate,
)

SCENARIOS_DESCRIPTION = """
List the model's policy scenarios, read from <model>.scenarios.toml beside the model file: each
scenario's name, its description and its parameter changes (the new value and the week it takes
effect, or "from the start"). The baseline, the reference of every comparison, is marked.
"""

PARAMS_DESCRIPTION = """
List the model's parameters (constants): name, value, units, declared range [min, max] and the
comment from the model file. These are the names scenario files use, and the names and ranges that
--set "NAME=VALUE", --params FILE and --calibration FILE check on every command that simulates
(compare, run, robustness, workshop, report). Given here, they show the values a run would start
from, so a file of values can be checked before a long run. The table fits a 100-column terminal
(long comments are trimmed); --format csv prints every field in full (name,value,units,min,max,comment)
for a spreadsheet.
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    add_command(subparsers, "scenarios", run_scenarios,
                summary="list the model's scenarios and their parameter changes",
                description=SCENARIOS_DESCRIPTION)
    p = add_command(subparsers, "params", run_params,
                    summary="list the model's parameters with units and ranges",
                    description=PARAMS_DESCRIPTION)
    p.add_argument("--format", default="table", choices=("table", "csv"),
                   help="output format (default: table)")
    add_params_options(p)


def scenario_lines(model) -> list[str]:
    """Text describing every scenario of ``model``, wrapped to the terminal width."""
    baseline = model.baseline
    lines = [f"{model.name}: {len(model.scenarios)} scenarios", ""]
    for s in model.scenarios.values():
        lines.append(s.name + ("  (baseline)" if s.name == baseline else ""))
        if s.description:
            lines += textwrap.wrap(s.description, WIDTH, initial_indent="    ", subsequent_indent="    ")
        if not s.changes:
            lines.append("    changes: none (the model as written)")
        for ch in s.changes:
            p = model.parameters.get(ch.parameter)
            base = f" (model value {_num(p.value)})" if p is not None else ""
            u = pretty_units(p.units) if p is not None else ""
            units = f" {u}" if u else ""
            when = "from the start" if ch.from_week is None else f"from week {ch.from_week:g}"
            lines.append("    - " + truncate(f"{ch.parameter} = {_num(ch.value)}{units} {when}{base}", WIDTH - 6))
        lines.append("")
    return lines[:-1]


def run_scenarios(args: argparse.Namespace) -> int:
    model = load(args)
    print("\n".join(scenario_lines(model)))
    return 0


def params_table(model, width: int = WIDTH, min_comment: int = 30) -> str:
    """Parameters as an aligned text table fitting ``width``.

    The comment is the last column, trimmed to the room left; when less than ``min_comment``
    characters are left it goes on its own indented line under each parameter instead.
    """
    rows = []
    for p in model.parameters.values():
        rng = f"[{_num(p.min)}, {_num(p.max)}]" if not (math.isnan(p.min) and math.isnan(p.max)) else ""
        rows.append([p.name, _num(p.value), p.units, rng, p.comment])
    headers = ["name", "value", "units", "range", "comment"]
    align = ["<", ">", "<", "<", "<"]
    fixed = len(table(headers[:4], [r[:4] for r in rows]).splitlines()[1])
    room = width - fixed - 2
    if room >= min_comment:
        return table(headers, [r[:4] + [truncate(r[4], room)] for r in rows], align)
    lines = table(headers[:4], [r[:4] for r in rows], align[:4]).splitlines()
    out = lines[:2]
    for line, r in zip(lines[2:], rows):
        out.append(line)
        if r[4]:
            out.append("    " + truncate(r[4], width - 4))
    return "\n".join(out)


def run_params(args: argparse.Namespace) -> int:
    model, explicit, cal = load_with_overrides(args)
    if args.format == "csv":
        model.parameters_table().to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        print(params_table(model))
        lines = overrides_lines(explicit, cal)
        if lines:
            print()
            print("\n".join(lines))
    return 0
