"""Benchmark the engine's vectorised ensemble on a subscripted model from the peer suite.

The default model is the suite's ``samples/Population/Subscripted Population Model.mdl``: 351
towns, a population stock per town fed by births and drained by an 8th-order DELAY N of births
(so 351 x 9 = 3,159 state elements, 2,461 element slots after unrolling), 20 months at one-month
steps. The model is loaded in place (never copied) from the suite found as
``tests/test_conformance.py`` finds it (env ``CXSYSTEMS_PEER_SUITE``, else
``../shared/peer-models/sdxorg-test-models`` beside the repository).

Prints, from one run on this machine: stock PySD's time for one run (``--skip-stock`` to skip),
pysd-fast's time for one run as :func:`cxsystems.simulate` does it (loading PySD's module
included), PySD's ``run`` alone on a module loaded once, the engine's time for one run and for an
N-world ensemble (default 1,000) in one vectorised pass, and the ratios. The ensemble draws every
varied scalar constant uniformly within +-20% of its value (clipped to a declared range); by
default it varies every scalar constant of the model with a non-zero value (``--vary NAME`` picks
them). Subscripted constants cannot be varied: ``params=`` accepts the model's scalar parameters
only. It also checks that world 0 of the ensemble equals a single run with world 0's values.

    python benchmarks/subscripted.py                        # full benchmark
    python benchmarks/subscripted.py --skip-stock --n 10000 --repeat 3
    python benchmarks/subscripted.py --model PATH/TO/model.mdl --vary "Some Constant"
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import best_of as _timed  # noqa: E402  (benchmarks/, the script's own folder)

import cxsystems as cx  # noqa: E402
from cxsystems.engine import compile_model  # noqa: E402
from cxsystems.engine.plan import CompiledModel  # noqa: E402
from cxsystems.simulation import unsupported_reason  # noqa: E402

#: The default model, relative to the peer suite.
DEFAULT_MODEL = "samples/Population/Subscripted Population Model.mdl"
#: Half-width of the uniform draw around each varied constant's value (a fraction of the value).
SPREAD = 0.2


def peer_suite() -> Path:
    """The peer suite's folder (it may be missing)."""
    env = os.environ.get("CXSYSTEMS_PEER_SUITE")
    return Path(env) if env else ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"


def draw_params(model, names: list[str], n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` values of each named scalar constant, uniform within +-SPREAD of its value,
    clipped to its declared range where it has one."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        p = model.parameter(name, "--vary")
        lo, hi = sorted((p.value * (1 - SPREAD), p.value * (1 + SPREAD)))
        if not math.isnan(p.min):
            lo = max(lo, p.min)
        if not math.isnan(p.max):
            hi = min(hi, p.max)
        out[p.name] = rng.uniform(lo, hi, n)
    return out


def _pysd_module(model):
    """PySD's module for ``model``, loaded once, with pysd-fast's numpy lookups."""
    import pysd

    from cxsystems.simulation import _speed_up_lookups

    m = pysd.load(str(model.py_file))
    _speed_up_lookups(m.components)
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help=f"model file (default: the peer suite's {DEFAULT_MODEL})")
    ap.add_argument("--n", type=int, default=1_000, help="ensemble size (default 1,000)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the fast timings (best is shown)")
    ap.add_argument("--skip-stock", action="store_true", help="do not time stock PySD")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--vary", action="append", default=None, metavar="NAME",
                    help="a scalar constant to vary (repeatable; default: every non-zero one)")
    ap.add_argument("--record", action="append", default=None, metavar="NAME",
                    help="a variable the ensemble records, every element of it (repeatable; default: "
                         "the stocks)")
    args = ap.parse_args(argv)
    if args.n < 2:
        ap.error("--n must be at least 2")

    path = Path(args.model) if args.model else peer_suite() / DEFAULT_MODEL
    if not path.is_file():
        print(f"no model at {path} (give --model, or set CXSYSTEMS_PEER_SUITE)", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cx.load_model(path)
    reason = unsupported_reason(model)
    if reason is not None:
        print(f"{path}: the numpy engine does not run this model ({reason})", file=sys.stderr)
        return 2
    varied = args.vary or [n for n, p in model.parameters.items() if p.value != 0]
    if not varied:
        print(f"{path}: the model has no non-zero scalar constant to vary (params= takes scalar "
              f"parameters only); give --vary or another --model", file=sys.stderr)
        return 2

    t_compile, _ = _timed(lambda: CompiledModel(model), 1)  # compile_model's cache already holds one
    cm = compile_model(model)
    recorded = args.record or list(model.stocks) or None
    n_rec = len(cm.run(variables=recorded, final_time=model.initial_time + model.time_step).names)
    print(f"model {model.name}: {len(model.variables)} variables ({len(cm.ir.arrays)} subscripted), "
          f"{len(cm.variables)} element columns, {cm.n_slots} element slots, {len(model.stocks)} stocks; "
          f"TIME STEP {model.time_step:g}, {model.final_time - model.initial_time:g} time units; "
          f"{os.cpu_count()} cores")
    params = draw_params(model, varied, args.n, args.seed)
    print("varied uniformly within +-20%: " + ", ".join(
        f"{k} ({model.parameters[k].value:g}: {v.min():g}..{v.max():g})" for k, v in params.items()))
    print(f"ensemble records {', '.join(recorded) if recorded else 'every variable'} ({n_rec} element "
          f"columns x {args.n:,} worlds)")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_stock = None
        if not args.skip_stock:
            t_stock, _ = _timed(lambda: cx.simulate(model, engine="pysd"), 1)
        t_fast, fast = _timed(lambda: cx.simulate(model, engine="pysd-fast"), args.repeat)
        pm = _pysd_module(model)
        py_params = {model.parameters[k].py_name: float(v[0]) for k, v in params.items()}
        t_pysd_run, _ = _timed(lambda: pm.run(params=py_params, return_columns=recorded), args.repeat)
    t_one, one = _timed(lambda: cm.run(), max(args.repeat, 5))

    # the engine's baseline run against pysd-fast's (every element column)
    ref = fast[list(one.names)].to_numpy()
    mine = one.values[:, :, 0].T
    rel = float(np.max(np.abs(mine - ref) / np.maximum(np.abs(ref), 1.0)))

    t_ens, ens = _timed(lambda: cm.run(params=params, variables=recorded), args.repeat)
    assert ens.values.shape[2] == args.n, ens.values.shape
    world0 = {k: float(v[0]) for k, v in params.items()}
    t_single, single = _timed(lambda: cm.run(params=world0, variables=recorded), max(args.repeat, 5))
    assert list(single.names) == list(ens.names)
    diff = float(np.max(np.abs(ens.values[:, :, 0] - single.values[:, :, 0])))
    scale = float(np.max(np.abs(single.values)))
    assert diff <= 1e-12 * max(scale, 1.0), f"world 0 differs from its single run by {diff:g}"
    spread = ens.values[:, -1, :]
    assert np.all(np.isfinite(spread)) and np.ptp(spread, axis=1).max() > 0, "the worlds do not differ"

    def row(label, seconds, note=""):
        print(f"  {label:<52s} {seconds * 1000:10.1f} ms  {note}")

    print("timings (best of repeats; wall clock):")
    row("engine: compile (once per model)", t_compile)
    if t_stock is not None:
        row("stock PySD: one run (cx.simulate, module load included)", t_stock)
    row("pysd-fast: one run (cx.simulate, module load included)", t_fast)
    row("PySD: run only (module loaded once, world 0's values)", t_pysd_run)
    row("engine: one run (every element)", t_one)
    row(f"engine: one run, world 0's values ({n_rec} columns)", t_single)
    row(f"engine: {args.n:,}-world ensemble ({len(params)} varied)", t_ens,
        f"{t_ens / args.n * 1e6:.0f} us/world")
    print("checks:")
    print(f"  engine one run vs pysd-fast: max difference {rel:.1e} (relative to max(|value|, 1)) "
          f"over {mine.size:,} values")
    print(f"  ensemble world 0 vs a single run with its values: max |difference| {diff:.1e} (<= 1e-12 "
          f"x {max(scale, 1.0):.3g})")
    print("ratios:")
    if t_stock is not None:
        print(f"  stock PySD x {args.n:,} / engine ensemble     {t_stock * args.n / t_ens:10.0f}x")
    print(f"  pysd-fast / engine one run               {t_fast / t_one:10.1f}x")
    print(f"  pysd-fast x {args.n:,} / engine ensemble      {t_fast * args.n / t_ens:10.0f}x")
    print(f"  PySD run only x {args.n:,} / engine ensemble  {t_pysd_run * args.n / t_ens:10.0f}x")
    print(f"  engine one run x {args.n:,} / ensemble        {t_single * args.n / t_ens:10.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
