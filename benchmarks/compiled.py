"""Benchmark the compiled backend against the numpy engine (and pysimlin when installed) on cx_service.

Prints, from one run on this machine: the numpy engine's one run; the compiled backend's cold
compile of its virtual machine (a fresh process with an empty cache folder), its cached load (a
second fresh process), a model's assembly into instructions, the first run in this process
(load included) and a warm run; a 10,000-world engine ensemble and a 10,000-world ``ensemble()``
(one scenario, metrics and bands included) on both backends; pysimlin's one run if ``pysimlin`` is
installed (an optional comparison, never a dependency); PySD's one run (pysd-fast, as
``cx.simulate(engine="pysd-fast")`` runs it; ``--stock`` adds stock PySD, 20-35 s); then the same
for a subscripted model of the peer suite (default the 351-town Population sample, found as
``benchmarks/subscripted.py`` finds it; skipped when the suite is missing): one run on each
engine and a ``--sub-n``-world engine ensemble on both backends; and the ratios.

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
from subscripted import DEFAULT_MODEL, draw_params, peer_suite  # noqa: E402  (benchmarks/)

import cxsystems as cx  # noqa: E402
from cxsystems.engine import compile_model  # noqa: E402
from cxsystems.engine import compiled as C  # noqa: E402
from cxsystems.engine.bytecode import assemble  # noqa: E402

SAMPLED = ["Hiring Delay", "Reference Churn Rate", "Normal Handle Time", "Time to Recontact",
           "Reference First Contact Resolution", "Normal Problem Creation"]
RECORDED = ["Customers", "Ticket Backlog", "Wait Time", "Contact Volume", "Cumulative Profit",
            "Cost to Serve", "Annual Churn Rate"]
_PROBE = ("import json, sys, time; t = time.perf_counter(); from cxsystems.engine import compiled as C; "
          "t1 = time.perf_counter(); g = C.load(); t3 = time.perf_counter(); "
          "print(json.dumps({'how': g['how'], 'path': g['path'], 'seconds': t3 - t1, 'engine': t1 - t, "
          "'numba_imported': 'numba' in sys.modules}))")


def _load_in_fresh_process(cache: Path) -> dict:
    """``{"how", "path", "seconds", "engine", "numba_imported"}`` of loading the machine in a new
    Python process using ``cache``: how and by which path it came (``native``: its cached object
    code linked by llvmlite alone; ``numba``: compiled or loaded by numba), the load's seconds (what
    the compiled backend adds; numba's import included when it is used), the import of this
    package's engine before it (numpy's engine pays it too), and whether numba was imported."""
    env = dict(os.environ, CXSYSTEMS_CACHE_DIR=str(cache))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pysimlin_one_run(path: Path, repeat: int):
    """pysimlin's best time for one run, ``None`` when it is not installed, or the one-line reason
    it cannot run the model (a string)."""
    try:
        import simlin
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = simlin.load(str(path))
            return best_of(lambda: m.simulate().run_to_end(), repeat)[0]
        except Exception as exc:  # noqa: BLE001 - an optional peer; its own error types
            return " ".join(str(exc).split())[:160]


def _pysd_one_run(model, scenario, stock: bool, repeat: int) -> float:
    """PySD's time for one run as :func:`cxsystems.simulate` does it (module loading included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return best_of(lambda: cx.simulate(model, scenario, engine="pysd" if stock else "pysd-fast"), repeat)[0]


def _subscripted(path: Path, n: int, seed: int, repeat: int, row) -> dict:
    """One run on every engine and an ``n``-world engine ensemble on both backends of a subscripted
    model; ``{name: seconds}``."""
    model = cx.load_model(path)
    cm = compile_model(model)
    print(f"model {model.name} (peer suite, subscripted): {cm.n_slots:,} slots, "
          f"{(model.final_time - model.initial_time) / model.time_step:g} steps")
    cm.run(backend="compiled")
    out = {}
    out["numpy"], a = best_of(lambda: cm.run(backend="numpy"), 5)
    out["compiled"], b = best_of(lambda: cm.run(backend="compiled"), 20)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-12, atol=1e-300)
    row("  numpy: one run", out["numpy"])
    row("  compiled: one run (warm)", out["compiled"])
    simlin = _pysimlin_one_run(path, 5)
    if isinstance(simlin, str):
        print(f"    pysimlin: cannot run this model ({simlin})")
    elif simlin is not None:
        out["pysimlin"] = simlin
        row("  pysimlin: one run", simlin)
    out["pysd-fast"] = _pysd_one_run(model, None, False, 3)
    row("  PySD (pysd-fast): one run", out["pysd-fast"], "(module load included, as cx.simulate runs it)")
    varied = [k for k, p in model.parameters.items() if p.value != 0]
    params = draw_params(model, varied, n, seed)
    out["ens numpy"], en = best_of(lambda: cm.run(params=params, backend="numpy"), repeat)
    out["ens compiled"], ec = best_of(lambda: cm.run(params=params, backend="compiled"), repeat)
    np.testing.assert_allclose(ec.values, en.values, rtol=1e-12, atol=1e-300)
    row(f"  numpy: {n:,}-world engine ensemble", out["ens numpy"])
    row(f"  compiled: {n:,}-world engine ensemble", out["ens compiled"])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cx_service")
    ap.add_argument("--n", type=int, default=10_000, help="worlds of the ensembles (default 10,000)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the ensemble timings (best is shown)")
    ap.add_argument("--skip-cold", action="store_true", help="do not time the cold compile (~3 s)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--stock", action="store_true", help="also time stock PySD's one run (20-35 s)")
    ap.add_argument("--subscripted", type=Path, default=None, metavar="PATH",
                    help="the subscripted model (default: the peer suite's 351-town Population sample)")
    ap.add_argument("--sub-n", type=int, default=1000, help="worlds of the subscripted model's ensembles")
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
            row("compiled: cached load (another new process)", got["seconds"],
                f"({got['how']} by the {got['path']} path, numba imported: {got['numba_imported']}; target 0.3 s)")
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
    elif isinstance(t_simlin, str):
        print(f"  pysimlin: cannot run this model ({t_simlin})")
        t_simlin = None
    else:
        row("pysimlin: one run (simulate + run_to_end)", t_simlin)
    t_pysd = _pysd_one_run(model, scenario.name, False, 3)
    row("PySD (pysd-fast): one run", t_pysd, "(module load included, as cx.simulate runs it)")
    t_stock = _pysd_one_run(model, scenario.name, True, 1) if args.stock else None
    if t_stock is not None:
        row("PySD (stock): one run", t_stock)

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
            # one scenario: the baseline alone (asking for another adds the baseline to it)
            return ensemble(model, [model.baseline], n=args.n, seed=args.seed, trajectories=False)
        finally:
            os.environ.pop("CXSYSTEMS_BACKEND", None)

    t_api_n, rn = best_of(lambda: api("numpy"), 1)
    t_api_c, rc = best_of(lambda: api("compiled"), args.repeat)
    np.testing.assert_allclose(rc.metric_values, rn.metric_values, rtol=1e-12, atol=1e-300)
    row(f"numpy: ensemble() of {args.n:,} worlds, one scenario", t_api_n, "(metrics and bands included)")
    row(f"compiled: ensemble() of {args.n:,} worlds, one scenario", t_api_c, "(target 1 s for 10,000)")

    sub_path = args.subscripted or peer_suite() / DEFAULT_MODEL
    sub = _subscripted(sub_path, args.sub_n, args.seed, args.repeat, row) if sub_path.is_file() else None
    if sub is None:
        print(f"  subscripted model: {sub_path} not found (the peer suite is missing); skipped")

    print("ratios:")
    print(f"  numpy / compiled, one run                {t_numpy / t_comp:8.1f}x")
    if t_simlin is not None:
        print(f"  pysimlin / compiled, one run             {t_simlin / t_comp:8.2f}x")
        print(f"  pysimlin x {args.n:,} serial / compiled ensemble {t_simlin * args.n / t_ens_c:8.1f}x")
    print(f"  numpy / compiled, engine ensemble        {t_ens_n / t_ens_c:8.1f}x")
    print(f"  numpy / compiled, ensemble()             {t_api_n / t_api_c:8.1f}x")
    print(f"  PySD (pysd-fast) / compiled, one run     {t_pysd / t_comp:8.1f}x")
    if t_stock is not None:
        print(f"  PySD (stock) / compiled, one run         {t_stock / t_comp:8.0f}x")
    if sub is not None:
        print(f"  subscripted: numpy / compiled, one run   {sub['numpy'] / sub['compiled']:8.1f}x")
        if "pysimlin" in sub:
            print(f"  subscripted: pysimlin / compiled, one run {sub['pysimlin'] / sub['compiled']:7.2f}x")
        print(f"  subscripted: pysd-fast / compiled, one run {sub['pysd-fast'] / sub['compiled']:6.1f}x")
        print(f"  subscripted: numpy / compiled, {args.sub_n:,}-world ensemble {sub['ens numpy'] / sub['ens compiled']:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
