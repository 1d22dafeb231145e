"""``cxsystems compare``: run scenarios, write charts and tables, print the summary."""

from __future__ import annotations

import argparse

from ..text import plural, share
from .common import (
    PARAMS_EPILOG,
    WIDTH,
    add_command,
    add_params_options,
    compact,
    load_with_overrides,
    overrides_lines,
    overrides_manifest,
    split_list,
    table,
)

FORMATS = ("png", "svg", "pdf")
DEFAULT_OUT = "cxsystems-out"

DESCRIPTION = """
Simulate the model's policy scenarios (all of them by default; the baseline is always run and is
the reference), compare each with the baseline and write into the output directory: the dashboard
of key outcomes (comparison.FORMAT), one chart per key outcome (<outcome>.FORMAT), the trajectories
(results.csv: scenario,time,variable,value), the metrics and classifications (summary.csv) and, when
the model declares what its contacts are made of, the contact mix (contact_mix.FORMAT; summary.csv's
avoidable_share is the share of all contacts over the run that were avoidable). The
summary table and one line per scenario are printed: how the scenario fares on the classified
outcome (better, worse, better-before-worse, worse-before-better or no change), the outcome's judged
measure against the baseline, the weeks in which it is better or worse, and how it ends. Better and
worse are always for the organisation (a lower backlog, a higher profit), as are the advantages in
summary.csv (positive = better); a gap within the tolerance does not count.
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    p = add_command(subparsers, "compare", run_compare,
                    summary="compare policy scenarios with the baseline; write charts and CSVs",
                    description=DESCRIPTION)
    p.add_argument("--scenarios", metavar="A,B",
                   help="comma-separated scenario names (default: all; baseline always included)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder: new, empty or written by cxsystems before; replaced whole "
                        f"(default: ./{DEFAULT_OUT})")
    p.add_argument("--format", default="png", choices=FORMATS, help="chart format (default: png)")
    p.add_argument("--outcome", metavar="VAR",
                   help="variable to classify against baseline (default: the model's classify setting)")
    add_params_options(p)


def summary_table(cmp, width: int = WIDTH) -> str:
    """Scenario, the avoidable share of contacts (when the model declares a contact mix), as many
    headline metrics as fit in ``width`` (fractions as percent), and the classification."""
    from ..analysis.compare import AVOIDABLE_COLUMN

    summary = cmp.summary
    label = cmp.outcome(cmp.classify).label
    names = list(summary.index)
    first = ["scenario"], [[n] for n in names]
    cls_header = f"{label} vs baseline"
    cls_cells = [summary.loc[n, "classification"] if n != cmp.baseline else "(reference)" for n in names]
    headers, rows, align = list(first[0]), [list(r) for r in first[1]], ["<"]

    def width_of(hs, rs):
        return len(table(hs + [cls_header], [r + [c] for r, c in zip(rs, cls_cells)]).splitlines()[1])

    columns = []
    if AVOIDABLE_COLUMN in summary.columns:
        columns.append(("Avoidable contacts", [share(summary.loc[n, AVOIDABLE_COLUMN]) for n in names]))
    for m in cmp.metrics:
        prefix = "$" if (m.units or "").strip().startswith("$") else ""
        if m.percent:
            cells = [share(summary.loc[n, m.name]) for n in names]
        else:
            cells = [compact(summary.loc[n, m.name], prefix) for n in names]
        columns.append((m.label or m.name, cells))
    for h, cells in columns:
        if width_of(headers + [h], [r + [c] for r, c in zip(rows, cells)]) > width:
            break
        headers.append(h)
        align.append(">")
        rows = [r + [c] for r, c in zip(rows, cells)]
    return table(headers + [cls_header], [r + [c] for r, c in zip(rows, cls_cells)], align + ["<"])


def run_compare(args: argparse.Namespace) -> int:
    from ..analysis.compare import compare
    from ..files import check_output_folder

    scenarios = split_list(args.scenarios, "--scenarios")
    out = check_output_folder(args.out)
    model, explicit, cal = load_with_overrides(args)
    outcome = None if args.outcome is None else model.variable(args.outcome, "--outcome")
    cmp = compare(model, scenarios, classify=outcome)
    written = cmp.save(out, format=args.format, run={"command": "compare", "outcome": cmp.classify,
                                                     **overrides_manifest(explicit, cal)})

    n = len(cmp.scenarios)
    print(f"{cmp.model_name}: {plural(n, 'scenario')} compared with {cmp.baseline}"
          + (" (only the baseline: add scenarios to the model's .scenarios.toml)" if n == 1 else ""))
    for line in overrides_lines(explicit, cal):
        print(line)
    print()
    print(summary_table(cmp))
    print()
    for name in cmp.scenario_names:
        if name != cmp.baseline:
            print(cmp.describe(name))
    print()
    print(f"wrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))
    return 0
