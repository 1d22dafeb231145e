"""``cxsystems calibrate``: fit the model's uncertain parameters to a history file; print the
estimates and the fit, write calibration.toml and friends."""

from __future__ import annotations

import argparse
import time

from .common import add_command, compact, load, split_list, table

DEFAULT_OUT = "cxsystems-calibration"
FORMATS = ("png", "svg", "pdf")

DESCRIPTION = """
Fit the model's parameters (default: every [uncertain] parameter of its scenario file, within their
declared bounds) to an organisation's history: a CSV or Excel file with a 'time' column in model time
units (or a 'date' column and --start-date) and one column per observed model variable (or mapped by
--map FILE.toml: "Weekly tickets" = "Contact Volume"). Gaps and irregular weeks are fine. --method
optimize (default) searches globally, then polishes, and gives 90% intervals from the curvature;
--method bayes samples the posterior with emcee (priors: the [uncertain] distributions). Writes to the
output folder: calibration.toml (for --calibration on other commands), posterior.csv, parameters.csv
(parameter,estimate,low,high), fit.csv (series,r2,mape,theil_um,theil_us,theil_uc) and a fit chart per
series (fit_<variable>.FORMAT), plus pairs.FORMAT for bayes.
"""


def register(subparsers) -> None:
    p = add_command(subparsers, "calibrate", run_calibrate,
                    summary="fit uncertain parameters to your history; estimates, intervals, fit statistics",
                    description=DESCRIPTION)
    p.add_argument("--data", required=True, metavar="FILE", help="history file (.csv or .xlsx)")
    p.add_argument("--map", metavar="FILE.toml", help='column map: "Column" = "Model Variable" per line')
    p.add_argument("--start-date", metavar="YYYY-MM-DD",
                   help="date at the model's initial time (for a history file with a date column)")
    p.add_argument("--fit", metavar="A,B", help="parameters to fit (default: the model's [uncertain] parameters)")
    p.add_argument("--method", default="optimize", choices=("optimize", "bayes"),
                   help="optimize: global search and polish (default); bayes: MCMC posterior")
    p.add_argument("--error", default="normal", choices=("normal", "lognormal"),
                   help="measurement error of every series (default: normal; lognormal for positive series "
                        "with errors in proportion)")
    p.add_argument("--scenario", help="scenario the history was lived under (default: the baseline)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search and the draws (default: 0)")
    p.add_argument("--steps", type=int, default=1000, help="bayes: MCMC steps per walker (default: 1000)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder: new, empty or written by cxsystems before (default: ./{DEFAULT_OUT})")
    p.add_argument("--format", default="png", choices=FORMATS, help="chart format (default: png)")


def run_calibrate(args: argparse.Namespace) -> int:
    from ..analysis.calibrate import calibrate
    from ..files import check_output_folder
    from ..model.uncertain import check_seed

    check_seed(args.seed, "--seed")
    out = check_output_folder(args.out)
    fit = split_list(args.fit, "--fit")
    model = load(args)
    t0 = time.perf_counter()
    res = calibrate(model, args.data, fit, method=args.method, seed=args.seed, scenario=args.scenario,
                    error=args.error, mapping=args.map, start_date=args.start_date, steps=args.steps)
    elapsed = time.perf_counter() - t0
    written = res.save(out, format=args.format)

    series = ", ".join(f"{s.variable} ({s.n})" for s in res.history.series)
    d = res.diagnostics
    print(f"{model.name} calibrated to {res.data} by {res.method} in {elapsed:.1f} s "
          f"({d['runs']:,} runs in {d['passes']:,} engine passes, seed {res.seed})")
    print(f"series (observations): {series}; {res.errors[res.history.variables[0]]} measurement error")
    print()
    rows = []
    for _, r in res.summary.iterrows():
        rows.append([r["parameter"], compact(r["estimate"]), f"{compact(r['low'])} to {compact(r['high'])}",
                     f"{compact(r['prior_low'])} to {compact(r['prior_high'])}", r["units"]])
    print(table(["parameter", "estimate", "90% interval", "bounds", "units"], rows, ["<", ">", ">", ">", "<"]))
    print()
    rows = [[s, f"{r['r2']:.2f}", f"{100 * r['mape']:.1f}%", f"{r['theil_um']:.2f}", f"{r['theil_us']:.2f}",
             f"{r['theil_uc']:.2f}"] for s, r in res.fit.iterrows()]
    print("Fit at the estimates (Theil: share of the squared error from bias UM, unequal variance US, "
          "unequal covariation UC):")
    print(table(["series", "r2", "MAPE", "UM", "US", "UC"], rows, ["<", ">", ">", ">", ">", ">"]))
    if res.method == "bayes":
        tau = max(d["autocorr_time"].values())
        rhat = max(d["rhat"].values())
        print()
        print(f"MCMC: {d['walkers']} walkers x {d['steps']} steps ({d['burn']} burn-in), acceptance "
              f"{d['acceptance']:.2f}, autocorrelation time up to {tau:.0f} steps, split R-hat up to {rhat:.3f}")
    print()
    print(f"wrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))
    return 0
