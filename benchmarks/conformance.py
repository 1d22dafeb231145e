"""Conformance on the SDXorg test models (PySD's public suite, MIT): how many Vensim files load as
published, and how many simulate to their canonical output (Vensim's ``output.csv``/``output.tab``).

    python benchmarks/conformance.py                          # ../shared/peer-models/sdxorg-test-models
    python benchmarks/conformance.py --allow-nonfinite -v     # keep NaN (Vensim's :NA:), list each model
    python benchmarks/conformance.py --engine numpy           # the numpy engine alone (no PySD fallback)

A model matches when every canonical column that names a model variable agrees at the common times
within ``rtol`` (default 1e-3). Each model is copied with its folder into a temporary directory and
its DEL bytes (0x7f, written by Vensim after the sketch) removed, so the count measures the engine
rather than the byte check (issue 12 makes files load as published).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", nargs="?", default=str(ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))
    ap.add_argument("--rtol", type=float, default=1e-3)
    ap.add_argument("--allow-nonfinite", action="store_true", help="keep NaN/inf (Vensim's :NA:)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per model")
    ap.add_argument("--engine", default="auto", help="simulate's engine: auto (default: numpy, falling back "
                    "to PySD for constructs numpy lacks), numpy (numpy alone), pysd-fast or pysd")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    files = sorted(Path(args.suite).rglob("*.mdl"))
    loaded = matched = with_output = 0
    for mdl in files:
        try:
            cx.load_model(mdl)
            loaded += 1
        except Exception:  # noqa: BLE001 - counted, not raised
            pass
        output = next((p for p in (mdl.parent / "output.csv", mdl.parent / "output.tab") if p.exists()), None)
        if output is None:
            continue
        with_output += 1
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / mdl.parent.name
            shutil.copytree(mdl.parent, copy)
            target = copy / mdl.name
            target.write_bytes(target.read_bytes().replace(b"\x7f", b""))
            try:
                ok = _matches(target, output, args.rtol, args.allow_nonfinite, args.engine)
                why = "" if ok else "differs from the canonical output"
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                ok, why = False, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        matched += ok
        if args.verbose:
            print(f"{'PASS' if ok else 'FAIL'} {mdl.relative_to(args.suite)} {why}")
    print(f"{len(files)} .mdl files: {loaded} load as published; {matched} of {with_output} with a canonical "
          f"output match it (engine {args.engine}, rtol {args.rtol:g}"
          f"{', NaN/inf allowed' if args.allow_nonfinite else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
