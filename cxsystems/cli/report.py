"""``cxsystems report``: write a one-page HTML briefing for a leadership audience."""

from __future__ import annotations

import argparse
import time

from .common import PARAMS_EPILOG, add_command, add_params_options, check_count, load, overrides_lines, read_overrides

DEFAULT_OUT = "cxsystems-report.html"

DESCRIPTION = """
Write one self-contained HTML page that briefs a leadership audience: the question (e.g. does
structural prevention beat reactive hiring?), the model in two sentences, the scenarios, the
comparison dashboard and a chart per key outcome, the summary table with each scenario's
classification against the baseline (better, worse, worse-before-better, ...), the causal loop
diagram with its named loops and the archetypes found among them, and the robustness verdicts from
running every scenario in --n sampled worlds (--n 0 skips them). Charts are embedded as SVG; the page
loads nothing from the network and prints to PDF from a browser without cut-off charts (A4 or
Letter). The file is written to a temporary name and moved into place, never left half-written.
With --calibration the robustness worlds draw the fitted parameters from the calibration's sample.
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    p = add_command(subparsers, "report", run_report,
                    summary="write a self-contained HTML briefing: comparison, loops, robustness",
                    description=DESCRIPTION)
    p.add_argument("--out", default=DEFAULT_OUT, metavar="FILE.html",
                   help=f"HTML file to write (default: {DEFAULT_OUT})")
    p.add_argument("--n", type=int, default=1000, metavar="RUNS",
                   help="sampled worlds for the robustness verdicts; 0 skips them (default: 1000)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the sampled worlds, 0 to 2**32-1 (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_params_options(p, sampled=True)


def run_report(args: argparse.Namespace) -> int:
    from ..files import check_output_file, make_parent
    from ..model.uncertain import check_seed

    check_count(args.n, "--n", 0)
    check_seed(args.seed, "--seed")
    from ..pages.report import write_report
    from .robustness import ProgressBar

    out = check_output_file(args.out)  # fail before the minute of work, not after it
    model = load(args)
    explicit, cal = read_overrides(args, model)
    bar = None if args.quiet or args.n == 0 else ProgressBar(f"{model.name} robustness")
    t0 = time.perf_counter()
    write_report(model, make_parent(out), n_runs=args.n, seed=args.seed, progress=bar, params=explicit,
                 calibration=cal)
    size_kb = out.stat().st_size / 1024
    print(f"{model.name}: wrote {out} ({size_kb:,.0f} KB) in {time.perf_counter() - t0:.1f} s; "
          "open it in a web browser, print to PDF from there")
    for line in overrides_lines(explicit, cal):
        print(line)
    return 0
