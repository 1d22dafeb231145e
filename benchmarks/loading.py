"""Benchmark model loading: load time must grow about linearly with the model's size.

Builds chain models (``x0 = 1``, ``x1 = x0 + 1``, ..., two stocks, the four control variables) of
``--sizes`` variables, loads each with :func:`cxsystems.load_model` and prints the CPU time of this
process per size and the ratio between successive sizes (2.0 for linear growth, 4.0 for quadratic).
Exits 1 when a doubling costs more than ``--max-ratio`` (default 3).

    python benchmarks/loading.py                       # 2,000 and 4,000 variables (about 30 s)
    python benchmarks/loading.py --sizes 2500 5000 10000

About 80% of the time is PySD formatting its generated module with black (its own cost, which
grows a little faster than linearly); cxsystems' own screen, audit and description are linear.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "model"))

from test_loading_hardening import chain_mdl  # noqa: E402

import cxsystems as cx  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000])
    ap.add_argument("--max-ratio", type=float, default=3.0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm.mdl"
        warm.write_text(chain_mdl(10))
        cx.load_model(warm)  # import PySD, black, ... before timing
        times = {}
        for n in args.sizes:
            path = Path(tmp) / f"chain{n}.mdl"
            path.write_text(chain_mdl(n))
            start = time.process_time()
            model = cx.load_model(path)
            times[n] = time.process_time() - start
            assert len(model.variables) == n + 2
            del model
            print(f"{n:>7,} variables: {times[n]:6.1f} s CPU")
    worst = 0.0
    sizes = sorted(times)
    for a, b in zip(sizes, sizes[1:]):
        ratio = (times[b] / times[a]) / (b / a) * 2  # per doubling
        worst = max(worst, ratio)
        print(f"{a:,} -> {b:,}: x{times[b] / times[a]:.2f} (x{ratio:.2f} per doubling; 2 = linear, 4 = quadratic)")
    if worst > args.max_ratio:
        print(f"FAIL: a doubling costs x{worst:.2f}, more than x{args.max_ratio:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
