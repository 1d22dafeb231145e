"""``cxsystems run``: simulate one scenario and write its trajectories to CSV."""

from __future__ import annotations

import argparse

from .common import (
    PARAMS_EPILOG,
    add_command,
    add_nonfinite_option,
    add_params_options,
    load_with_overrides,
    overrides_lines,
    split_list,
)

DESCRIPTION = """
Simulate one scenario of the model and write its trajectories to a CSV file: a column "time" in
weeks, then one column per variable named as in the model (every variable by default, or the ones
given with --variables). The file is written to a temporary name and moved into place, so it is
never left half-written. Use 'cxsystems scenarios' for the scenario names.
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    p = add_command(subparsers, "run", run_scenario,
                    summary="simulate one scenario and write its trajectories to CSV",
                    description=DESCRIPTION)
    p.add_argument("--scenario", required=True, metavar="NAME", help="scenario to simulate")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="CSV file to write")
    p.add_argument("--variables", metavar="A,B", help="comma-separated variables to keep (default: all)")
    add_nonfinite_option(p)
    add_params_options(p)


def run_scenario(args: argparse.Namespace) -> int:
    from ..files import check_output_file, make_parent, write_csv
    from ..model.scenarios import resolve_scenario
    from ..simulation import simulate

    out = check_output_file(args.out)
    model, explicit, cal = load_with_overrides(args)
    scenario = resolve_scenario(model, args.scenario)
    df = simulate(model, scenario, variables=split_list(args.variables, "--variables"),
                  allow_nonfinite=args.allow_nonfinite)
    write_csv(df, make_parent(out), index=True)
    print(f"{model.name}/{scenario.name}: wrote {out} ({len(df)} times x {df.shape[1]} variables, "
          f"weeks {df.index[0]:g}-{df.index[-1]:g})")
    for line in overrides_lines(explicit, cal):
        print(line)
    return 0
