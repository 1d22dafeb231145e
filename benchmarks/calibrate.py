"""Calibration speed: cx_service against the worked example's 104 weeks of 4 series.

    python benchmarks/calibrate.py [--method optimize|bayes|both] [--steps 600]

``optimize`` fits 6 parameters (target: within 60 s on a 2-core machine); ``bayes`` samples the same
6 with emcee, 64 walkers x 600 steps (target: within 5 minutes). Prints wall time, engine passes and runs, the estimates
against the values the synthetic history was made with (models/data/make_acme_history.py), and the
fit statistics. One timed call each (a calibration is long enough that one call is representative).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "models" / "data" / "acme_support_history.csv"
sys.path.insert(0, str(ROOT / "models" / "data"))

from make_acme_history import TRUTH  # noqa: E402

import cxsystems as cx  # noqa: E402
from cxsystems.analysis.calibrate import calibrate  # noqa: E402
from cxsystems.errors import Notice  # noqa: E402

TARGETS = {"optimize": 60.0, "bayes": 300.0}


def one(model, method: str, steps: int) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Notice)
        t = time.perf_counter()
        res = calibrate(model, DATA, fit=list(TRUTH), method=method, error="lognormal", steps=steps)
        wall = time.perf_counter() - t
    d = res.diagnostics
    verdict = "within" if wall <= TARGETS[method] else "OVER"
    print(f"{method}: {wall:.1f} s ({verdict} the {TARGETS[method]:.0f} s target), {d['runs']:,} runs in "
          f"{d['passes']:,} engine passes of cx_service, {len(TRUTH)} parameters, "
          f"{sum(s.n for s in res.history.series)} observations in {len(res.history.series)} series")
    if method == "bayes":
        print(f"  {d['walkers']} walkers x {d['steps']} steps, acceptance {d['acceptance']:.2f}, autocorrelation "
              f"time up to {max(d['autocorr_time'].values()):.0f} steps, split R-hat up to {max(d['rhat'].values()):.3f}")
    print(f"  {'parameter':32s} {'truth':>9s} {'estimate':>9s}  90% interval")
    for name, true in TRUTH.items():
        lo, hi = res.intervals[name]
        inside = "holds truth" if lo <= true <= hi else "misses truth"
        print(f"  {name:32s} {true:9.4g} {res.estimates[name]:9.4g}  {lo:.4g} to {hi:.4g} ({inside})")
    print("  fit: " + "; ".join(f"{s} r2 {r['r2']:.2f} MAPE {100 * r['mape']:.1f}%" for s, r in res.fit.iterrows()))
    for w in caught:
        print(f"  note: {w.message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="both", choices=("optimize", "bayes", "both"))
    parser.add_argument("--steps", type=int, default=600, help="bayes: steps per walker (default 600)")
    args = parser.parse_args()
    model = cx.load_model("cx_service")
    for method in (("optimize", "bayes") if args.method == "both" else (args.method,)):
        one(model, method, args.steps)


if __name__ == "__main__":
    main()
