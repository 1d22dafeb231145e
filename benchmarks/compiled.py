"""Benchmark the compiled backend against the numpy engine (and pysimlin when installed) on cx_service.

Prints, from one run on this machine: the numpy engine's one run; the compiled backend's cold
compile of its virtual machine (a fresh process with an empty cache folder), its cached load (a
second fresh process), a model's assembly into instructions, the first run in this process
(load included) and a warm run; a 10,000-world engine ensemble and a 10,000-world ``ensemble()``
(one scenario, metrics and bands included) on both backends; pysimlin's one run if ``pysimlin`` is
installed (an optional comparison, never a dependency); and the ratios.

    python benchmarks/compiled.py                  # everything (the cold compile takes ~3 s)
    python benchmarks/compiled.py --skip-cold      # no cold compile
    python benchmarks/compiled.py --n 2000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import best_of  # noqa: E402  (benchmarks/, the script's own folder)

import cxsystems as cx  # noqa: E402
from cxsystems.engine import compile_model  # noqa: E402
from cxsystems.engine import compiled as C  # noqa: E402
from cxsystems.engine.bytecode import assemble  # noqa: E402

SAMPLED = ["Hiring Delay", "Reference Churn Rate", "Normal Handle Time", "Time to Recontact",
           "Reference First Contact Resolution", "Normal Problem Creation"]
RECORDED = ["Customers", "Ticket Backlog", "Wait Time", "Contact Volume", "Cumulative Profit",
            "Cost to Serve", "Annual Churn Rate"]
_PROBE = ("import json, time; t = time.perf_counter(); from cxsystems.engine import compiled as C; "
          "t1 = time.perf_counter(); import numba; from numba.core.registry import cpu_target; "
          "cpu_target.target_context.refresh(); t2 = time.perf_counter(); "
          "g = C.load(); t3 = time.perf_counter(); print(json.dumps({'how': g['how'], 'seconds': t3 - t1, "
          "'engine': t1 - t, 'numba': t2 - t1, 'ours': t3 - t2}))")


def _load_in_fresh_process(cache: Path) -> dict:
    """``{"how", "seconds", "engine", "numba", "ours"}`` of loading the machine in a new Python
    process using ``cache``: the load (numba imported and set up, the machine compiled or read:
    what the compiled backend adds), the import of this package's engine before it (numpy's engine
    pays it too), numba's import and set-up alone, and the rest."""
    env = dict(os.environ, CXSYSTEMS_CACHE_DIR=str(cache))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pysimlin_one_run(path: Path, repeat: int):
    try:
        import simlin
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = simlin.load(str(path))
        return best_of(lambda: m.simulate().run_to_end(), repeat)[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cx_service")
    ap.add_argument("--n", type=int, default=10_000, help="worlds of the ensembles (default 10,000)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the ensemble timings (best is shown)")
    ap.add_argument("--skip-cold", action="store_true", help="do not time the cold compile (~3 s)")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)

    model = cx.load_model(args.model)
    scenario = model.scenarios.get("bridge") or next(iter(model.scenarios.values()))
    print(f"model {model.name}: {len(model.variables)} variables, TIME STEP {model.time_step:g}, "
          f"{model.final_time - model.initial_time:g} weeks; scenario {scenario.name!r}; {os.cpu_count()} cores")
    rows = []

    def row(label, seconds, note=""):
        rows.append((label, seconds, note))
        print(f"  {label:<52s} {seconds * 1000:10.1f} ms  {note}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir(mode=0o700)
        if not args.skip_cold:
            got = _load_in_fresh_process(cache)
            row("compiled: cold compile of the machine (new process)", got["seconds"],
                f"({got['how']}; once per installation, every model shares it; target 3 s)")
            got = _load_in_fresh_process(cache)
            row("compiled: cached load (another new process)", got["seconds"], f"({got['how']}; target 0.3 s)")
            row("  of which numba's import and set-up", got["numba"])
            row("  of which reading the verified cached machine", got["ours"])
            row("  not counted: importing cxsystems.engine first", got["engine"], "(the numpy engine's cost too)")

    cm = compile_model(model)
    t_asm, _ = best_of(lambda: assemble(cm), 5)
    row("compiled: the model's assembly into instructions", t_asm, "(per model, per process)")
    t0 = time.perf_counter()
    loaded = C.load()
    cm.run(scenario.changes, backend="compiled")
    row("compiled: first run in this process, load included", time.perf_counter() - t0,
        f"(machine from {loaded['how']})")
    t_numpy, a = best_of(lambda: cm.run(scenario.changes, backend="numpy"), 5)
    t_comp, b = best_of(lambda: cm.run(scenario.changes, backend="compiled"), 20)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-12, atol=1e-300)
    row("numpy: one run", t_numpy)
    row("compiled: one run (warm)", t_comp)
    t_simlin = _pysimlin_one_run(model.path, 20)
    if t_simlin is None:
        print("  pysimlin: not installed (pip install pysimlin to compare); skipped")
    else:
        row("pysimlin: one run (simulate + run_to_end)", t_simlin)

    rng = np.random.default_rng(args.seed)
    present = [p for p in SAMPLED if p in model.parameters]
    params = {p: rng.uniform(model.parameters[p].min, model.parameters[p].max, args.n) for p in present}
    recorded = [v for v in RECORDED if v in model.variables] or None
    t_ens_n, en = best_of(lambda: cm.run(scenario.changes, params=params, variables=recorded, backend="numpy"),
                          args.repeat)
    t_ens_c, ec = best_of(lambda: cm.run(scenario.changes, params=params, variables=recorded, backend="compiled"),
                          args.repeat)
    np.testing.assert_allclose(ec.values, en.values, rtol=1e-12, atol=1e-300)
    row(f"numpy: {args.n:,}-world engine ensemble", t_ens_n)
    row(f"compiled: {args.n:,}-world engine ensemble", t_ens_c, f"({t_ens_c / args.n * 1e6:.0f} us/world)")

    from cxsystems.analysis.ensemble import ensemble

    def api(backend):
        os.environ["CXSYSTEMS_BACKEND"] = backend
        try:
            return ensemble(model, [scenario.name], n=args.n, seed=args.seed, trajectories=False)
        finally:
            os.environ.pop("CXSYSTEMS_BACKEND", None)

    t_api_n, rn = best_of(lambda: api("numpy"), 1)
    t_api_c, rc = best_of(lambda: api("compiled"), args.repeat)
    np.testing.assert_allclose(rc.metric_values, rn.metric_values, rtol=1e-12, atol=1e-300)
    row(f"numpy: ensemble() of {args.n:,} worlds, one scenario", t_api_n, "(metrics and bands included)")
    row(f"compiled: ensemble() of {args.n:,} worlds, one scenario", t_api_c, "(target 1 s for 10,000)")

    print("ratios:")
    print(f"  numpy / compiled, one run                {t_numpy / t_comp:8.1f}x")
    if t_simlin is not None:
        print(f"  pysimlin / compiled, one run             {t_simlin / t_comp:8.2f}x")
        print(f"  pysimlin x {args.n:,} serial / compiled ensemble {t_simlin * args.n / t_ens_c:8.1f}x")
    print(f"  numpy / compiled, engine ensemble        {t_ens_n / t_ens_c:8.1f}x")
    print(f"  numpy / compiled, ensemble()             {t_api_n / t_api_c:8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
