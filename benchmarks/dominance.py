"""Benchmark loop dominance (Loops That Matter) of cx_service against a plain run (issue 14: a
dominance run at most 3 times a plain run).

Both are timed on the same engine backend (``--backend``, default both in turn: ``numpy``, the
reference engine a fresh process uses for a single run, and ``compiled``), best of ``--repeat``
(wall clock, and the process's CPU time: the machine may be shared): a plain run of the compiled
model (the model's SAVEPER), the run dominance simulates (saving the two ends of every scored
interval, ``[t, t+dt]`` for each SAVEPER time ``t``), the causal graph, the loop enumeration, the
loop scores and the relative scores alone, a whole ``cx.dominance`` call (run, graph, loops, every
link score, every loop score, relative scores), twice, and the dominant periods (computed on first
use of ``.dominant_periods``); ``--every-step`` scores every TIME STEP instead:

* **cold**: the first call for the model's structure. The structure memos are emptied before each
  timed call: the signs the structure decides (``causal.build._STRUCTURE_MEMO``), the cycles of a
  causal structure (``causal.loops._all_cycles``), the loops built from them
  (``causal.loops._LOOPS_MEMO``, keyed by the cycles and every link's sign) and the shared products
  of the loops' link scores (``analysis.dominance._products``).
* **warm**: a later call (the same call again; another scenario or other parameters reuse the
  cycles and products, the signs while the values they observed keep their signs, and the loops if
  no measured link sign differs): every number is computed anew (run, measured polarities, link
  scores, loop scores, relative scores).

Prints each time and the ratios to the plain run; then times a dominance ensemble of ``--worlds``
worlds (default 1,000; the issue's target is 60 s), structure memoised, wall clock and the process's
CPU time (the machine may be shared).

    python benchmarks/dominance.py
    python benchmarks/dominance.py --backend numpy --scenario structural_prevention --worlds 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cxsystems as cx  # noqa: E402
from cxsystems.analysis import dominance as D  # noqa: E402
from cxsystems.causal import build as B  # noqa: E402
from cxsystems.causal import loops as L  # noqa: E402
from cxsystems.causal.build import model_graph  # noqa: E402
from cxsystems.engine.ltm import saved_steps, scored_steps  # noqa: E402
from cxsystems.engine.run import time_grid  # noqa: E402

#: The issue's target: a dominance run at most this many times a plain run.
TARGET_RATIO = 3.0
#: The issue's target for a 1,000-world dominance ensemble (seconds).
ENSEMBLE_TARGET_S = 60.0


def best_of(fn, repeat: int) -> tuple[tuple[float, float], object]:
    """``((best wall time, best CPU time), last result)`` of ``repeat`` calls (seconds)."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return (min(walls), min(cpus)), out


def forget_structure() -> None:
    """Empty the structure memos, so that the next call is a first (cold) one."""
    B._STRUCTURE_MEMO.clear()
    L._all_cycles.cache_clear()
    L._LOOPS_MEMO.clear()
    D._products.cache_clear()


def cold(fn):
    """``fn`` after emptying the structure memos (for :func:`best_of`)."""
    def call():
        forget_structure()
        return fn()
    return call


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="cx_service")
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", choices=["numpy", "compiled", "both"], default="both",
                    help="the engine backend of both the plain and the dominance runs (default: both in turn)")
    ap.add_argument("--every-step", action="store_true", help="score every TIME STEP, not the SAVEPER times")
    ap.add_argument("--worlds", type=int, default=1000,
                    help="also time a dominance ensemble of this many worlds (0: skip; target 60 s for 1,000)")
    args = ap.parse_args(argv)

    model = cx.load_model(args.model)
    cm = cx.compile_model(model)  # compiled once, outside the timing
    scen = cx.model.scenarios.resolve_scenario(model, args.scenario)
    ctl = dict(initial_time=float(model.initial_time), final_time=float(model.final_time),
               time_step=float(model.time_step), saveper=float(model.saveper))
    starts = scored_steps(ctl, args.every_step)
    keep = np.union1d(np.union1d(starts, starts + 1), saved_steps(ctl))
    shown = np.searchsorted(keep, saved_steps(ctl))
    n_steps = len(time_grid(ctl)[0])
    for backend in (["numpy", "compiled"] if args.backend == "both" else [args.backend]):
        def dom(backend=backend):
            return cx.dominance(model, args.scenario, every_step=args.every_step, backend=backend)

        plain, _ = best_of(lambda: cm.run(changes=scen.changes, backend=backend), args.repeat)
        kept, res = best_of(lambda: cm.run(changes=scen.changes, save_steps=keep, backend=backend), args.repeat)
        run = res.to_frame().iloc[shown]
        graph_cold, _ = best_of(cold(lambda: model_graph(model, trajectories=run, scenario=scen)), args.repeat)
        graph_warm, graph = best_of(lambda: model_graph(model, trajectories=run, scenario=scen), args.repeat)
        loops_cold, _ = best_of(cold(lambda: L.find_loops(graph)), args.repeat)
        loops_warm, loopset = best_of(lambda: L.find_loops(graph), args.repeat)

        dom_cold, _ = best_of(cold(dom), args.repeat)
        dom_warm, res = best_of(dom, args.repeat)
        loops = list(res.loop_list)
        steps = res.times.size
        scores_cold, _ = best_of(cold(lambda: D._loop_scores(loops, res.link_scores, steps)), args.repeat)
        scores_warm, scores = best_of(lambda: D._loop_scores(loops, res.link_scores, steps), args.repeat)
        relative, _ = best_of(lambda: D._relative(scores, res.partition), args.repeat)
        rest = tuple(d - a - b - c for d, a, b, c in zip(dom_warm, loops_warm, scores_warm, relative))
        periods, _ = best_of(lambda: type(res).dominant_periods.func(res), args.repeat)

        print(f"{model.name} / {res.scenario}, {backend} backend: {len(loops):,} loops scored ({res.method}), "
              f"{len(res.link_scores):,} links, {steps:,} intervals of {res.dt:g} every {res.spacing:g}; "
              f"best of {args.repeat}, wall clock (CPU time)")
        rows = [
            (f"plain run (SAVEPER {model.saveper:g})", plain, ""),
            ("run keeping the intervals' ends", kept, f"{keep.size:,} of the {n_steps:,} steps saved"),
            ("causal graph (model_graph), cold", graph_cold, "signs the structure decides"),
            ("causal graph (model_graph), warm", graph_warm, "measured polarities: every call"),
            ("loop enumeration, cold", loops_cold, f"{len(loopset):,} loops"),
            ("loop enumeration, warm", loops_warm, "cycles memoised; loops too while the link signs agree"),
            ("loop scores, cold", scores_cold, "with the products' structure"),
            ("loop scores, warm", scores_warm, ""),
            ("relative scores", relative, ""),
            ("dominance (whole call), cold", dom_cold, "first call for this structure"),
            ("dominance (whole call), warm", dom_warm, "structure memoised"),
            ("  of which run, graph, link scores", rest, "warm call minus loops and scores"),
            ("dominant periods (every partition)", periods, "on first use of .dominant_periods"),
        ]
        for label, (wall, cpu), note in rows:
            print(f"{label:<36} {wall * 1000:8.1f} ms ({cpu * 1000:6.1f})" + (f"  {note}" if note else ""))
        for which, t in (("cold", dom_cold), ("warm", dom_warm)):
            print(f"{'ratio dominance / plain run, ' + which:<36} {t[0] / plain[0]:8.1f}x    ({t[1] / plain[1]:5.1f}x)"
                  f"  target {TARGET_RATIO:g}x ({backend})")
        print()
    if args.worlds > 0:
        outcome = model.outcomes[0].variable
        t, cpu = time.perf_counter(), time.process_time()
        ens = cx.dominance(model, args.scenario, outcome, n=args.worlds, seed=0)
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        print(f"dominance ensemble, {ens.n:,} worlds {took:8.1f} s   ({took / ens.n * 1000:.0f} ms per world; "
              f"CPU {cpu:.1f} s; target {ENSEMBLE_TARGET_S:g} s for 1,000; backend auto)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
