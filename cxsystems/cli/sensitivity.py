"""``cxsystems sensitivity``: which uncertain assumptions drive a metric, a verdict or an outcome."""

from __future__ import annotations

import argparse
import time

from .common import (
    PARAMS_EPILOG,
    add_command,
    add_params_options,
    load_with_overrides,
    overrides_lines,
    overrides_manifest,
    table,
    truncate,
)

DEFAULT_OUT = "cxsystems-sensitivity"
FORMATS = ("png", "svg", "pdf")
#: Drivers printed in words under the table.
TOP = 3

DESCRIPTION = """
Global sensitivity analysis over the uncertain parameters declared in the model's scenario file
([uncertain]), with SALib, every sampled world run by the vectorised engine. --method sobol (default)
apportions the variance of the target: first-order index S1 (the parameter alone) and total index ST
(with its interactions), each with a 95% confidence half-width; N base samples, a power of 2, give
N x (parameters + 2) runs. --method morris screens: mu* (the mean absolute change of the target when
a parameter moves across its range, in the target's units) and sigma (how much that change varies:
non-linearity or interactions); N trajectories give N x (parameters + 1) runs. The target is a
metric (--metric; default the headline metric) of a scenario (--scenario; default the baseline), the
head-to-head difference of that metric between --scenario and --versus in the same worlds (what
decides the verdict), or with --outcome a variable at every saved time. Prints the indices and the
top drivers in words, and writes sensitivity.FORMAT (the chart), sensitivity.csv and the manifest
into the output folder. A progress bar shows on stderr when the runs take more than a second (--quiet
silences it). With --calibration the fitted parameters are fixed at their estimates and
only the other uncertain parameters vary; parameters given with --set or --params are fixed too.
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    p = add_command(subparsers, "sensitivity", run_sensitivity,
                    summary="which uncertain assumptions drive a metric or verdict (Sobol, Morris)",
                    description=DESCRIPTION)
    p.add_argument("--method", default="sobol", choices=("sobol", "morris"),
                   help="sobol: variance shares S1, ST; morris: screening mu*, sigma (default: sobol)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--metric", metavar="M", help="a metric of the scenario file (default: the headline metric)")
    what.add_argument("--outcome", metavar="VAR", help="a variable: indices at every saved time")
    p.add_argument("--scenario", metavar="S", help="the scenario (default: the baseline)")
    p.add_argument("--versus", metavar="S2",
                   help="a second scenario: the target is the scenario's value minus this one's, same worlds")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="Sobol base samples, a power of 2 (default 512); Morris trajectories (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the design and intervals, 0 to 2**32-1 (default: 0)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder: new, empty or written by cxsystems before; replaced whole "
                        f"(default: ./{DEFAULT_OUT})")
    p.add_argument("--format", default="png", choices=FORMATS, help="chart format (default: png)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_params_options(p)


def _cell(x: float) -> str:
    from ..text import short_number

    return short_number(x) if abs(x) >= 1000 or x != x else f"{x:.3f}"


def run_sensitivity(args: argparse.Namespace) -> int:
    from ..analysis.sensitivity import COLUMNS, DEFAULT_N, check_n, sensitivity
    from ..files import check_output_folder
    from ..model.uncertain import check_seed
    from .robustness import ProgressBar

    n = check_n(args.method, DEFAULT_N[args.method] if args.n is None else args.n, "--n")
    check_seed(args.seed, "--seed")
    out = check_output_folder(args.out)
    model, explicit, cal = load_with_overrides(args)
    t0 = time.perf_counter()
    res = sensitivity(model, args.method, metric=args.metric, scenario=args.scenario, versus=args.versus,
                      n=n, seed=args.seed, outcome=args.outcome,
                      progress=None if args.quiet else ProgressBar(model.name))
    elapsed = time.perf_counter() - t0
    written = res.save(out, format=args.format, run={"command": "sensitivity", **overrides_manifest(explicit, cal)})

    d = len(res.factors)
    print(f"{model.name}: {args.method} sensitivity of {res.target.describe()}: {d} uncertain "
          f"parameter{'' if d == 1 else 's'}, {res.runs:,} sampled worlds per scenario (n = {res.n:,}, seed {res.seed}) in {elapsed:.1f} s")
    for line in overrides_lines(explicit, cal):
        print(line)
    held = [u.parameter for u in model.analysis.uncertain if u.parameter in res.fixed]
    if held:
        print(f"not varied (fixed): {', '.join(held)}")
    print()
    cols = list(COLUMNS[args.method][1:])
    rank = res.ranking()
    if res.times is not None:
        print(f"Indices over weeks {res.times[0]:g}-{res.times[-1]:g}, weighted by the variance at each time "
              f"(per saved time in sensitivity.csv):")
    rows = [[truncate(str(p), 40)] + [_cell(float(r[c])) for c in cols] for p, r in rank.iterrows()]
    print(table(["parameter", *cols], rows, ["<"] + [">"] * len(cols)))
    print()
    print("Top drivers:")
    for text in res.top(min(TOP, len(res.factors)))["text"]:
        print(f"  {text}")
    print()
    print(f"wrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))
    return 0
