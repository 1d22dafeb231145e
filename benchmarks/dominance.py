"""Benchmark loop dominance (Loops That Matter) of cx_service against a plain run (issue 14: a
dominance run at most 3 times a plain run).

Times, best of ``--repeat``: a plain run of the compiled model (the model's SAVEPER), the same run
saving every TIME STEP (what dominance simulates), the causal graph and loop enumeration alone
(``model_graph`` + ``find_loops``: the structure, the same for every run of the model), and a whole
``cx.dominance`` call (run, graph, loops, every link score, every loop score, relative scores). Prints
each time, the scoring part (dominance minus the structure) and the ratios to the plain run; then
times a dominance ensemble of ``--worlds`` worlds (default 1,000; the issue's target is 60 s).

    python benchmarks/dominance.py
    python benchmarks/dominance.py --scenario structural_prevention --worlds 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import best_of  # noqa: E402

import cxsystems as cx  # noqa: E402
from cxsystems.causal.build import model_graph  # noqa: E402
from cxsystems.causal.loops import find_loops  # noqa: E402

#: The issue's target: a dominance run at most this many times a plain run.
TARGET_RATIO = 3.0
#: The issue's target for a 1,000-world dominance ensemble (seconds).
ENSEMBLE_TARGET_S = 60.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="cx_service")
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worlds", type=int, default=1000,
                    help="also time a dominance ensemble of this many worlds (0: skip; target 60 s for 1,000)")
    args = ap.parse_args(argv)

    model = cx.load_model(args.model)
    cm = cx.compile_model(model)  # compiled once, outside the timing
    scen = cx.model.scenarios.resolve_scenario(model, args.scenario)
    plain, _ = best_of(lambda: cm.run(changes=scen.changes), args.repeat)
    every, res = best_of(lambda: cm.run(changes=scen.changes, saveper=model.time_step), args.repeat)
    run = res.to_frame()
    structure, loops = best_of(lambda: find_loops(model_graph(model, trajectories=run, scenario=scen)),
                               args.repeat)
    total, dom = best_of(lambda: cx.dominance(model, args.scenario), args.repeat)
    scoring = max(0.0, total - structure)
    steps = dom.times.size
    print(f"{model.name} / {dom.scenario}: {len(dom.loop_list):,} loops scored ({dom.method}), "
          f"{len(dom.link_scores):,} links, {steps:,} intervals of {dom.dt:g}")
    print(f"plain run (SAVEPER {model.saveper:g})        {plain * 1000:8.1f} ms")
    print(f"run saving every TIME STEP       {every * 1000:8.1f} ms")
    print(f"graph + loop enumeration         {structure * 1000:8.1f} ms  (structure; {len(loops):,} loops)")
    print(f"dominance (whole call)           {total * 1000:8.1f} ms")
    print(f"  of which scoring               {scoring * 1000:8.1f} ms")
    print(f"ratio dominance / plain run      {total / plain:8.1f}x  (target {TARGET_RATIO:g}x)")
    print(f"ratio scoring / plain run        {scoring / plain:8.1f}x")
    if args.worlds > 0:
        outcome = model.outcomes[0].variable
        t = time.perf_counter()
        ens = cx.dominance(model, args.scenario, outcome, n=args.worlds, seed=0)
        took = time.perf_counter() - t
        print(f"dominance ensemble, {ens.n:,} worlds   {took:8.1f} s   ({took / ens.n * 1000:.0f} ms per world; "
              f"target {ENSEMBLE_TARGET_S:g} s for 1,000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
