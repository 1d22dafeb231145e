"""``cxsystems workshop``: write a self-contained HTML page that simulates the model in the browser."""

from __future__ import annotations

import argparse

from .common import PARAMS_EPILOG, add_command, add_params_options, load_with_overrides, overrides_lines

DESCRIPTION = """
Write one self-contained HTML file for a leadership workshop: a slider for each policy lever the
model's scenarios set (with units and range) and the policy start week, a button for each named
scenario, the key outcomes over time against the baseline (redrawn as a slider moves: the model runs
in the browser), a plain-language reading of the run (which outcomes get better, worse, worse before
better) and the causal loop diagram of the model's main view. The file needs no server, no network
and no Python: open it in a browser (on the projector, full screen). It is written to a temporary
name and moved into place, so it is never left half-written.
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    p = add_command(subparsers, "workshop", run_workshop,
                    summary="write a self-contained HTML policy simulator for a workshop",
                    description=DESCRIPTION)
    p.add_argument("--out", default="cxsystems-workshop.html", metavar="FILE.html",
                   help="HTML file to write (default: cxsystems-workshop.html)")
    add_params_options(p)


def run_workshop(args: argparse.Namespace) -> int:
    from ..files import check_output_file, make_parent
    from ..pages.workshop import write_workshop

    out = check_output_file(args.out)
    model, explicit, cal = load_with_overrides(args)
    write_workshop(model, make_parent(out))
    size_kb = out.stat().st_size / 1024
    print(f"{model.name}: wrote {out} ({size_kb:,.0f} KB); open it in a web browser (no network needed)")
    for line in overrides_lines(explicit, cal):
        print(line)
    return 0
