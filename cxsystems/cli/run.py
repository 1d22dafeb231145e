"""``cxsystems run``: simulate one scenario and write its trajectories to CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_command, load, split_list

DESCRIPTION = """
Simulate one scenario of the model and write its trajectories to a CSV file: a column "time" in
weeks, then one column per variable named as in the model (every variable by default, or the ones
given with --variables). The file is written to a temporary name and moved into place, so it is
never left half-written. Use 'cxsystems scenarios' for the scenario names.
"""


def register(subparsers) -> None:
    p = add_command(subparsers, "run", run_scenario,
                    summary="simulate one scenario and write its trajectories to CSV",
                    description=DESCRIPTION)
    p.add_argument("--scenario", required=True, metavar="NAME", help="scenario to simulate")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="CSV file to write")
    p.add_argument("--variables", metavar="A,B", help="comma-separated variables to keep (default: all)")


def run_scenario(args: argparse.Namespace) -> int:
    from ..compare import write_csv
    from ..simulation import resolve_scenario, simulate

    model = load(args)
    scenario = resolve_scenario(model, args.scenario)
    out = Path(args.out)
    if out.is_dir():
        raise IsADirectoryError(21, "is a directory", str(out))
    df = simulate(model, scenario, variables=split_list(args.variables, "--variables"))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(df, out, index=True)
    print(f"{model.name}/{scenario.name}: wrote {out} ({len(df)} times x {df.shape[1]} variables, "
          f"weeks {df.index[0]:g}-{df.index[-1]:g})")
    return 0
