"""Benchmark the engine on cx_service against PySD.

Prints, from one run on this machine: stock PySD's time for one run, the pysd-fast time, the
engine's time for one run, its time for a 10,000-run ensemble (random parameter sets inside the
declared ranges of a handful of parameters), and the ratios.

    python benchmarks/engine.py                 # full benchmark (stock PySD takes ~20-35 s)
    python benchmarks/engine.py --skip-stock    # engine and pysd-fast only
    python benchmarks/engine.py --n 2000 --repeat 5
    python benchmarks/engine.py --workers 2     # also time the ensemble split over 2 processes
    python benchmarks/engine.py --memory 100000 # also time and peak memory of a 100,000-world ensemble()

It also times the public :func:`cxsystems.analysis.ensemble.ensemble` (Latin hypercube over the model's
``[uncertain]`` parameters, chunks of 2,500 worlds, per-run metrics and quantile bands) for the
baseline alone and for the baseline plus the benchmark scenario, ``n`` worlds each. ``--memory N``
runs the baseline alone in N worlds with the default ``trajectories`` (streamed: not kept beyond
5,000 worlds): its wall time, then in a second run its peak traced memory (tracemalloc), set
against the estimate that :func:`~cxsystems.analysis.ensemble.memory_estimate` gives the memory
check; the process's peak resident size is printed too. The backend is the engine's default
(``CXSYSTEMS_BACKEND=numpy`` or ``compiled`` forces one).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import best_of as _timed  # noqa: E402  (benchmarks/, the script's own folder)

import cxsystems as cx  # noqa: E402
from cxsystems.engine import compile_model  # noqa: E402

#: Parameters sampled for the ensemble (uniform within their declared ranges).
SAMPLED = ["Hiring Delay", "Reference Churn Rate", "Normal Handle Time", "Time to Recontact",
           "Reference First Contact Resolution", "Normal Problem Creation"]
#: Variables recorded by the ensemble (the key outcomes).
RECORDED = ["Customers", "Ticket Backlog", "Wait Time", "Contact Volume", "Cumulative Profit",
            "Cost to Serve", "Annual Churn Rate"]


def _run_chunk(job):
    """Worker: run one slice of the ensemble (the compiled model arrives pickled)."""
    cm, changes, params, recorded = job
    return cm.run(changes, params=params, variables=recorded).values


def _ensemble_in_workers(cm, changes, params, recorded, workers: int):
    """The ensemble split into ``workers`` slices run by as many processes (fork)."""
    n = len(next(iter(params.values())))
    slices = np.array_split(np.arange(n), workers)
    jobs = [(cm, changes, {k: v[s] for k, v in params.items()}, recorded) for s in slices]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        parts = pool.map(_run_chunk, jobs)
    return np.concatenate(parts, axis=2)


def _big_ensemble(model, n: int, seed: int):
    """``(seconds, result, peak traced bytes, estimated bytes, peak resident bytes)`` of an
    ``n``-world ``ensemble()`` of the baseline alone: timed first, then traced in a second run."""
    import resource
    import tracemalloc

    from cxsystems.analysis.ensemble import ensemble, memory_estimate

    scenarios = [model.analysis.baseline]
    t = time.perf_counter()
    res = ensemble(model, scenarios, n=n, seed=seed)
    seconds = time.perf_counter() - t
    del res
    tracemalloc.start()
    res = ensemble(model, scenarios, n=n, seed=seed)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    recorded = dict.fromkeys([*res.variables, *(m.variable for m in res.metrics)])
    estimate = memory_estimate(n, len(res.scenarios), len(res.samples), len(res.metrics), len(recorded),
                               len(res.variables), len(res.times), res.trajectories is not None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return seconds, res, peak, estimate, rss


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cx_service")
    ap.add_argument("--n", type=int, default=10_000, help="ensemble size (default 10,000)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the fast timings (best is shown)")
    ap.add_argument("--skip-stock", action="store_true", help="do not time stock PySD")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--workers", type=int, default=0,
                    help="also time the ensemble split over this many processes (0: skip)")
    ap.add_argument("--memory", type=int, default=0, metavar="N",
                    help="also time an N-world ensemble() and measure its peak memory (0: skip)")
    args = ap.parse_args(argv)

    model = cx.load_model(args.model)
    scenario = model.scenarios.get("bridge") or next(iter(model.scenarios.values()))
    print(f"model {model.name}: {len(model.variables)} variables, {len(model.stocks)} stocks, "
          f"{len(model.lookups)} lookups; TIME STEP {model.time_step:g}, "
          f"{model.final_time - model.initial_time:g} weeks; scenario {scenario.name!r}; "
          f"{os.cpu_count()} cores")

    t = time.perf_counter()
    cm = compile_model(model)
    t_compile = time.perf_counter() - t

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_stock = None
        if not args.skip_stock:
            t_stock, _ = _timed(lambda: cx.simulate(model, scenario, engine="pysd"), 1)
        t_fast, _ = _timed(lambda: cx.simulate(model, scenario, engine="pysd-fast"), args.repeat)
    t_one, _ = _timed(lambda: cm.run(scenario.changes), max(args.repeat, 5))
    t_frame, _ = _timed(lambda: cm.run(scenario.changes).to_frame(), max(args.repeat, 5))

    rng = np.random.default_rng(args.seed)
    present = [p for p in SAMPLED if p in model.parameters]
    params = {p: rng.uniform(model.parameters[p].min, model.parameters[p].max, args.n) for p in present}
    recorded = [v for v in RECORDED if v in model.variables] or None
    t_ens, res = _timed(lambda: cm.run(scenario.changes, params=params, variables=recorded), args.repeat)
    assert res.values.shape[2] == args.n
    backend = cm.backend_note.split(":")[0]
    t_workers = None
    if args.workers > 1:
        t_workers, values = _timed(lambda: _ensemble_in_workers(cm, scenario.changes, params, recorded,
                                                                args.workers), args.repeat)
        np.testing.assert_array_equal(values, res.values)  # same numbers however it is run

    from cxsystems.analysis.ensemble import ensemble

    pair = [model.analysis.baseline, scenario.name]
    t_one_api, one_api = _timed(lambda: ensemble(model, [model.analysis.baseline], n=args.n, seed=args.seed),
                                args.repeat)
    t_api, api = _timed(lambda: ensemble(model, pair, n=args.n, seed=args.seed, trajectories=False), 1)
    t_api_workers = None
    if args.workers > 1:
        t_api_workers, api_w = _timed(lambda: ensemble(model, pair, n=args.n, seed=args.seed,
                                                       trajectories=False, workers=args.workers), 1)
        np.testing.assert_array_equal(api.metric_values, api_w.metric_values)
    big = _big_ensemble(model, args.memory, args.seed) if args.memory else None

    def row(label, seconds, note=""):
        print(f"  {label:<44s} {seconds * 1000:10.1f} ms  {note}")

    print("timings (best of repeats; wall clock):")
    row("engine: compile (once per model)", t_compile)
    if t_stock is not None:
        row("stock PySD: one run", t_stock)
    row("pysd-fast: one run", t_fast)
    row("engine: one run", t_one, "(target <= 30 ms)")
    row("engine: one run + DataFrame", t_frame)
    row(f"engine: {args.n:,}-run ensemble ({len(present)} params sampled)", t_ens,
        f"(target <= 3000 ms for 10,000); {t_ens / args.n * 1e6:.0f} us/run; {backend} backend")
    if t_workers is not None:
        row(f"engine: same ensemble over {args.workers} processes", t_workers,
            f"{t_ens / t_workers:.1f}x the in-process speed")
    row(f"ensemble(): baseline alone x {args.n:,} worlds", t_one_api,
        f"{t_one_api / t_ens:.2f}x the engine ensemble; trajectories "
        f"{'kept' if one_api.trajectories is not None else 'streamed'}")
    n_api = len(api.scenarios) * args.n
    row(f"ensemble(): {len(api.scenarios)} scenarios x {args.n:,} worlds", t_api,
        f"{t_api / n_api * 1e6:.0f} us/run, metrics + bands included")
    if t_api_workers is not None:
        row(f"ensemble(): same over {args.workers} processes", t_api_workers,
            f"{t_api / t_api_workers:.1f}x the in-process speed")
    if big is not None:
        seconds, res, peak, estimate, rss = big
        row(f"ensemble(): baseline alone x {args.memory:,} worlds", seconds,
            f"(target <= 10,000 ms for 100,000); {seconds / args.memory * 1e6:.0f} us/world")
        every = len(res.scenarios) * args.memory * len(res.variables) * len(res.times) * 8
        print(f"  ensemble(): baseline alone x {args.memory:,} worlds: peak traced memory {peak / 2**20:,.0f} MiB, "
              f"{'within' if peak <= estimate else 'OVER'} the memory check's estimate of {estimate / 2**20:,.0f} MiB "
              f"(every trajectory would take {every / 2**20:,.0f} MiB; trajectories "
              f"{'kept' if res.trajectories is not None else 'streamed'}); process peak resident {rss / 2**20:,.0f} MiB")
    print("ratios:")
    if t_stock is not None:
        print(f"  stock PySD / engine one run         {t_stock / t_one:10.0f}x")
        print(f"  stock PySD x {args.n:,} / engine ensemble {t_stock * args.n / t_ens:10.0f}x")
    print(f"  pysd-fast / engine one run          {t_fast / t_one:10.1f}x")
    print(f"  pysd-fast x {args.n:,} / engine ensemble {t_fast * args.n / t_ens:10.0f}x")
    print(f"  engine one run x {args.n:,} / ensemble   {t_one * args.n / t_ens:10.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
