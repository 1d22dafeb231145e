"""Benchmark a Sobol' sensitivity analysis on cx_service (issue 13: 10 parameters, N = 1,024, within 2 minutes).

Runs :func:`cxsystems.analysis.sensitivity.sensitivity` with ``method="sobol"`` over the first
``--params`` (default 10) of the model's ``[uncertain]`` parameters, ``N`` base samples (default
1,024), so ``N x (parameters + 2)`` sampled worlds (12,288 for the defaults), each simulated by the
vectorised engine in chunks of 2,500 worlds, then SALib's analysis with bootstrap intervals. Prints
the wall time of the whole call (design, every engine pass, analysis), split into the engine's share
and the rest, the first-order sum and the top drivers. ``--params all`` uses every ``[uncertain]``
parameter (16 in cx_service); ``--versus S2`` times a head-to-head target (two engine passes per
chunk); ``--outcome VAR`` times indices at every saved time.

    python benchmarks/sensitivity.py
    python benchmarks/sensitivity.py --params all --n 1024
    python benchmarks/sensitivity.py --metric cumulative_profit --scenario structural_prevention --versus reactive_hiring
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cxsystems as cx  # noqa: E402
from cxsystems.analysis.sensitivity import sensitivity  # noqa: E402

#: The issue's target for 10 parameters and N = 1,024 on this machine (seconds).
TARGET_S = 120.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="cx_service")
    ap.add_argument("--params", default="10", help="how many [uncertain] parameters to vary (or 'all')")
    ap.add_argument("--n", type=int, default=1024, help="Sobol' base samples (a power of 2)")
    ap.add_argument("--metric", default=None)
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--versus", default=None)
    ap.add_argument("--outcome", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    model = cx.load_model(args.model)
    unc = [u.parameter for u in model.analysis.uncertain]
    k = len(unc) if args.params == "all" else int(args.params)
    if k > len(unc):
        print(f"note: {model.name} declares only {len(unc)} [uncertain] parameters; using all {len(unc)}")
        k = len(unc)
    factors = unc[:k]
    cx.compile_model(model)  # compile once, outside the timing (as any second analysis finds it)

    engine_s = 0.0
    from cxsystems.engine.plan import CompiledModel

    original = CompiledModel.run

    def timed_run(self, *a, **kw):
        nonlocal engine_s
        t = time.perf_counter()
        try:
            return original(self, *a, **kw)
        finally:
            engine_s += time.perf_counter() - t

    CompiledModel.run = timed_run
    try:
        t0 = time.perf_counter()
        res = sensitivity(model, "sobol", metric=args.metric, scenario=args.scenario, versus=args.versus,
                          n=args.n, seed=args.seed, outcome=None if args.outcome is None else args.outcome,
                          factors=factors)
        wall = time.perf_counter() - t0
    finally:
        CompiledModel.run = original

    passes = 2 if args.versus else 1
    print(f"{model.name}: Sobol' analysis of {res.target.describe()}")
    print(f"  {len(res.factors)} parameters (of {len(unc)} [uncertain]), N = {res.n:,}: "
          f"{res.runs:,} worlds x {passes} scenario(s) = {res.runs * passes:,} simulations "
          f"({os.cpu_count()} cores, one process)")
    print(f"  wall time {wall:.1f} s (engine {engine_s:.1f} s, design + analysis {wall - engine_s:.1f} s); "
          f"target {TARGET_S:.0f} s for 10 parameters at N = 1,024: "
          f"{'met' if wall <= TARGET_S else 'NOT met'}")
    if res.times is None:
        s = res.summary
        print(f"  first-order sum {s['S1'].sum():.3f} (total-index sum {s['ST'].sum():.3f})")
    for text in res.top(3)["text"]:
        print(f"  - {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
