"""``cxsystems robustness``: run every scenario in thousands of sampled worlds; print verdicts."""

from __future__ import annotations

import argparse
import sys
import time

from ..text import money_prefix, share
from .common import (
    PARAMS_EPILOG,
    WIDTH,
    add_command,
    add_nonfinite_option,
    add_params_options,
    check_count,
    compact,
    load,
    overrides_manifest,
    read_overrides,
    split_list,
    table,
)

DEFAULT_OUT = "cxsystems-robustness"
FORMATS = ("png", "svg", "pdf")

DESCRIPTION = """
Sample N plausible worlds from the uncertain parameters declared in the model's scenario file
([uncertain]: uniform, triangular, normal or lognormal, bounded) by Latin hypercube, run every
scenario in the same worlds, and write into the output directory: a fan chart per key outcome
(fan_<variable>.FORMAT, named like compare's charts: median, 50% and 90% bands per scenario), robustness.csv (for each metric and
each ordered pair of scenarios, the share of runs in which one beats the other), regret.csv (how far
each scenario falls short of the best one in the same world) and runs.csv (one row per run and
scenario: the sampled parameters and the metrics). Prints head-to-head verdicts on the headline
metric and the scenario most often best on each metric. The same --seed gives identical numbers
in-process, over --workers processes and on a Dask cluster (--dask). A progress bar shows on stderr
when the run takes more than a second (--quiet silences it). With --calibration the worlds draw the
fitted parameters from the calibration's sample (given your history); parameters given with --set or
--params are fixed, not sampled.
""" + PARAMS_EPILOG


def register(subparsers) -> None:
    p = add_command(subparsers, "robustness", run_robustness,
                    summary="run every scenario in N sampled worlds; verdicts, fan charts, CSVs",
                    description=DESCRIPTION)
    p.add_argument("--scenarios", metavar="A,B",
                   help="comma-separated scenario names (default: all; baseline always included)")
    p.add_argument("--n", type=int, default=10000, metavar="RUNS",
                   help="number of sampled worlds (default: 10000; checked against the memory limit)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Latin hypercube, 0 to 2**32-1 (default: 0)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder: new, empty or written by cxsystems before; replaced whole "
                        f"(default: ./{DEFAULT_OUT})")
    p.add_argument("--format", default="png", choices=FORMATS, help="chart format (default: png)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, metavar="K",
                       help="split the runs over K processes (default: 1, in this process)")
    where.add_argument("--dask", metavar="ADDRESS",
                       help="run on the Dask cluster at ADDRESS (e.g. tcp://host:8786); "
                            "needs the [distributed] extra")
    add_nonfinite_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_params_options(p, sampled=True)


class ProgressBar:
    """A one-line progress bar on a stream, shown only once the work has taken ``delay_s``."""

    def __init__(self, label: str, stream=None, delay_s: float = 1.0, width: int = 30):
        self.label, self.stream, self.delay_s, self.width = label, stream or sys.stderr, delay_s, width
        self.start = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.start
        if elapsed < self.delay_s and done < total:
            return
        if not self.shown and done >= total and elapsed < self.delay_s:
            return  # finished within the delay: no bar at all
        self.shown = True
        frac = done / total if total else 1.0
        fill = int(round(frac * self.width))
        eta = "" if done >= total or done == 0 else f", {elapsed * (total - done) / done:.0f} s left"
        line = (f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {100 * frac:5.1f}% "
                f"{done:,}/{total:,} runs, {elapsed:.1f} s{eta}")
        self.stream.write(line.ljust(WIDTH))
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


#: Seconds a connection to a Dask scheduler may take in all (connect and handshake).
DASK_DEADLINE_S = 10.0


def _executor(args):
    if args.dask is None:
        return None
    from ..analysis.ensemble import connect_dask

    return connect_dask(args.dask, deadline_s=DASK_DEADLINE_S, option="--dask")


def run_robustness(args: argparse.Namespace) -> int:
    from ..analysis.ensemble import ensemble
    from ..analysis.robustness import most_often_best, tail_shares, verdicts
    from ..files import check_output_folder
    from ..model.uncertain import check_seed

    check_count(args.n, "--n", 1)
    check_count(args.workers, "--workers", 1)
    check_seed(args.seed, "--seed")
    scenarios = split_list(args.scenarios, "--scenarios")
    out = check_output_folder(args.out)
    model = load(args)
    explicit, cal = read_overrides(args, model)
    if cal is not None and cal.sample is None:  # no sample: run from the estimates, fixed
        from ..model.overrides import layered

        explicit = layered(dict(cal.estimates), explicit)
    bar = None if args.quiet else ProgressBar(f"{model.name}")
    executor = _executor(args)
    t0 = time.perf_counter()
    try:
        res = ensemble(model, scenarios, n=args.n, seed=args.seed, trajectories=False,
                       workers=args.workers if args.workers > 1 else None, executor=executor,
                       progress=bar, allow_nonfinite=args.allow_nonfinite, params=explicit,
                       calibration=cal if cal is not None and cal.sample is not None else None)
    finally:
        if executor is not None:
            executor.close()
    elapsed = time.perf_counter() - t0
    written = res.save(out, format=args.format, run={"command": "robustness", **overrides_manifest(explicit, cal)})

    drawn = [f"{len(res.uncertain)} uncertain parameters sampled"] if res.uncertain or not res.calibrated else []
    drawn += [f"{len(res.calibrated)} drawn from the calibration"] if res.calibrated else []
    print(f"{model.name}: {res.n:,} sampled worlds x {len(res.scenarios)} scenarios "
          f"({' and '.join(drawn)}, seed {res.seed}) in {elapsed:.1f} s")
    if res.calibrated or res.fixed:
        import textwrap

        print("\n".join(textwrap.wrap(f"worlds: {res.worlds}", WIDTH, subsequent_indent="  ")))
    if cal is not None and cal.sample is None:
        print(f"calibration: {cal.describe()} has no sample: its estimates are fixed, not sampled")
    print()
    headline = res.headline or res.metrics[-1].name
    label = next(m.label for m in res.metrics if m.name == headline)
    print(f"Head to head on {label.lower()}:")
    for line in verdicts(res):
        print(f"  {line}")
    print()
    print("Most often best, per metric:")
    best = most_often_best(res)
    rows = []
    percent = {m.name for m in res.metrics if getattr(m, "percent", False)}
    for _, r in best.iterrows():
        regret = (f"{100 * r['mean_regret']:.2f} pts" if r["metric"] in percent
                  else compact(r["mean_regret"], money_prefix(str(r["units"]))))
        rows.append([r["label"], r["scenario"], share(r["share_best"]), regret])
    print(table(["metric", "best scenario", "share of runs", "its mean regret"], rows,
                ["<", "<", ">", ">"]))
    shares = tail_shares(res)
    if len(shares.columns):
        print()
        print(f"Tail risks: share of the {res.n:,} worlds")
        risks = list(shares.columns)
        rows = [[name] + [share(float(v)) for v in shares.loc[name]] for name in res.scenarios]
        print(table(["scenario", *risks], rows, ["<"] + [">"] * len(risks)))
        for r in res.tail_risks:
            print(f"  {r.name}: {r.label}")
    print()
    print(f"wrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))
    return 0
