"""Conformance on the SDXorg test models (PySD's public suite, MIT): how many Vensim files load as
published, and how many simulate to their canonical output (Vensim's ``output.csv``/``output.tab``).

    python benchmarks/conformance.py                          # ../shared/peer-models/sdxorg-test-models
    python benchmarks/conformance.py --allow-nonfinite -v     # keep NaN (Vensim's :NA:), list each model
    python benchmarks/conformance.py --engine numpy           # the numpy engine alone (no PySD fallback)

A model matches when every canonical column that names a model variable agrees at the common times
within ``rtol`` (default 1e-3, absolute 1e-6). Models are read as published, in place (loading
never writes beside a model). The failures are counted by cause.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("CXSYSTEMS_PATH", str(ROOT)))

import cxsystems as cx  # noqa: E402


def norm(name) -> str:
    """A column name compared case-, space-, underscore- and quote-insensitively."""
    return " ".join(str(name).replace("_", " ").replace('"', " ").lower().split())


def _matches(model_file: Path, output: Path, rtol: float, allow_nonfinite: bool, engine: str = "auto") -> bool:
    extra = {"allow_nonfinite": True} if allow_nonfinite else {}
    if engine != "auto":
        extra["engine"] = engine
    run = cx.simulate(cx.load_model(model_file), **extra)
    sep = "\t" if output.suffix == ".tab" else ","
    try:
        ref = pd.read_csv(output, sep=sep)
    except UnicodeDecodeError:  # some canonical outputs were saved as Latin-1
        ref = pd.read_csv(output, sep=sep, encoding="latin-1")
    ref.columns = [str(c).strip().strip('"') for c in ref.columns]
    ref = ref.set_index(next(c for c in ref.columns if c.lower() == "time"))
    ours = {norm(c): c for c in run.columns}
    compared = 0
    for col in ref.columns:
        if norm(col) not in ours:
            continue
        want = pd.to_numeric(ref[col], errors="coerce")
        got = run[ours[norm(col)]].reindex(want.index.astype(float))
        both = want.notna() & got.notna()
        if not both.any():
            continue
        compared += 1
        if not np.allclose(got[both].to_numpy(), want[both].to_numpy(), rtol=rtol, atol=1e-6):
            return False
    return compared > 0


#: Causes of failure, matched in the error message, in order (first match wins).
CAUSES = (
    (r"refused (data function|string literal)", "refused: reads files named in the model (GET XLS/DIRECT, DATA)"),
    (r"refused quoted name", "refused: a quoted name with a quote or backslash"),
    (r"refused ([a-z ]+)", r"refused: \1"),
    (r"must be a number, a constant or arithmetic", "control variables that change in time"),
    (r"is NaN \(not a number\)", "NaN in the run (Vensim's :NA:; --allow-nonfinite keeps it)"),
    (r"PySD \([a-z-]+\) could not run this model: (\w+)", r"PySD cannot run it (\1)"),
    (r"subscript", "numpy engine: subscripts"),
    (r"macros are not supported", "numpy engine: macros"),
    (r"calls ([A-Z][A-Z ]+),", r"numpy engine: \1"),
    (r"uses ([A-Z][A-Za-z ]+), which", r"numpy engine: \1"),
)


def cause(message: str) -> str:
    """A short name for why a model failed, from its error message."""
    import re

    for pattern, name in CAUSES:
        m = re.search(pattern, message)
        if m:
            return m.expand(name)
    return " ".join(message.split()[:8])


def run_suite(suite: str | Path, *, engine: str = "auto", rtol: float = 1e-3, allow_nonfinite: bool = False,
              verbose: bool = False) -> dict:
    """Load every ``.mdl`` of ``suite`` as published and simulate each that has a canonical output.

    Returns ``{"files", "loaded", "with_output", "matched", "causes": {cause: count}}``.
    """
    from collections import Counter

    suite = Path(suite)
    files = sorted(suite.rglob("*.mdl"))
    loaded = matched = with_output = 0
    causes: Counter = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mdl in files:
            try:
                cx.load_model(mdl)
                loaded += 1
            except Exception:  # noqa: BLE001 - counted, not raised (the simulate below says why)
                pass
            output = next((p for p in (mdl.parent / "output.csv", mdl.parent / "output.tab") if p.exists()), None)
            if output is None:
                continue
            with_output += 1
            try:
                ok = _matches(mdl, output, rtol, allow_nonfinite, engine)
                why = "" if ok else "differs from the canonical output"
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                ok, why = False, cause(f"{type(exc).__name__}: {exc}")
            matched += ok
            if not ok:
                causes[why] += 1
            if verbose:
                print(f"{'PASS' if ok else 'FAIL'} {mdl.relative_to(suite)} {why}")
    return {"files": len(files), "loaded": loaded, "with_output": with_output, "matched": matched,
            "causes": dict(causes.most_common())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="?", default=str(ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--allow-nonfinite", action="store_true", help="keep NaN/inf (Vensim's :NA:)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per model")
    ap.add_argument("--engine", default="auto", help="simulate's engine: auto (default: numpy, falling back "
                    "to PySD for constructs numpy lacks), numpy (numpy alone), pysd-fast or pysd")
    args = ap.parse_args(argv)
    r = run_suite(args.suite, engine=args.engine, rtol=args.rtol, allow_nonfinite=args.allow_nonfinite,
                  verbose=args.verbose)
    print(f"{r['files']} .mdl files: {r['loaded']} load as published; {r['matched']} of {r['with_output']} with "
          f"a canonical output match it (engine {args.engine}, rtol {args.rtol:g}"
          f"{', NaN/inf allowed' if args.allow_nonfinite else ''})")
    for why, n in r["causes"].items():
        print(f"  {n:4d}  {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
