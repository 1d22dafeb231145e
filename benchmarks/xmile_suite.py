"""Count how many XMILE models of a corpus cxsystems loads and runs to their canonical output.

    python benchmarks/xmile_suite.py            # ../shared/peer-models/sdxorg-test-models (or $CXSYSTEMS_PEER_SUITE)
    python benchmarks/xmile_suite.py -v         # one line per file
    python benchmarks/xmile_suite.py --no-pysd  # skip the stock-PySD comparison (faster)

Every ``.xmile``/``.stmx``/``.itmx`` file is loaded with :func:`cxsystems.load_model` (in place:
loading never writes beside a model). Where an ``output.csv``/``output.tab`` sits beside it, the
model is run with ``cx.simulate(model)`` (the default engine) and with ``engine="numpy"``, and each
run is compared with PySD's rule (``pysd.tools.benchmarking.assert_allclose``):
``|a - b| <= 1e-5 + 1e-5 * |b|``, NaN equals NaN, every canonical column must be in the run.
Stock PySD (``pysd.read_xmile`` on a copy of the folder in a temp dir, then ``run()``) is compared
the same way, as the figure to match.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cxsystems as cx  # noqa: E402

XMILE_SUFFIXES = (".xmile", ".stmx", ".itmx")
RTOL = ATOL = 1e-5


def default_corpus() -> Path:
    """``$CXSYSTEMS_PEER_SUITE`` or ``../shared/peer-models/sdxorg-test-models`` beside the repo."""
    env = os.environ.get("CXSYSTEMS_PEER_SUITE")
    return Path(env) if env else ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"


def xmile_files(corpus: Path) -> list[Path]:
    """Every XMILE model file under ``corpus``, sorted."""
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in XMILE_SUFFIXES)


def canonical_output(model_file: Path) -> Path | None:
    """``output.csv`` (else ``output.tab``) beside the model, if any."""
    return next((p for p in (model_file.parent / "output.csv", model_file.parent / "output.tab") if p.exists()),
                None)


def _key(name) -> str:
    return " ".join(str(name).replace("_", " ").replace('"', " ").replace("\\n", " ").lower().split())


def read_canonical(path: Path) -> pd.DataFrame:
    """The canonical output indexed by time (PySD's ``load_outputs``; constants filled down)."""
    sep = "\t" if path.suffix == ".tab" else ","
    try:
        ref = pd.read_csv(path, sep=sep)
    except UnicodeDecodeError:
        ref = pd.read_csv(path, sep=sep, encoding="latin-1")
    ref.columns = [str(c).strip().strip('"') for c in ref.columns]
    time_col = next(c for c in ref.columns if c.lower() == "time")
    ref = ref.set_index(time_col).apply(pd.to_numeric, errors="coerce")
    ref.index = ref.index.astype(float)
    ref = ref[~np.isnan(ref.index)]
    if len(ref) > 1:
        const = ref.iloc[1:].isna().all()
        for col in ref.columns[const.to_numpy()]:
            ref[col] = ref[col].iloc[0]
    return ref


def matches(run: pd.DataFrame, ref: pd.DataFrame) -> bool:
    """PySD's rule: every canonical column present, ``|a-b| <= atol + rtol*|b|``, NaN == NaN."""
    ours = {_key(c): c for c in run.columns}
    if any(_key(c) not in ours for c in ref.columns):
        return False
    got = run.reindex(ref.index.to_numpy(dtype=float))
    if got.index.size == 0:
        return False
    for col in ref.columns:
        want = ref[col].to_numpy(dtype=float)
        have = got[ours[_key(col)]].to_numpy(dtype=float)
        close = (np.abs(have - want) <= ATOL + RTOL * np.abs(want)) | (np.isnan(have) & np.isnan(want))
        if not close.all():
            return False
    return True


def with_controls(run: pd.DataFrame, model) -> pd.DataFrame:
    """The run plus the time settings as constant columns (``INITIAL TIME``, ``FINAL TIME``,
    ``TIME STEP``, ``SAVEPER``), which canonical outputs (and PySD's runs) list like variables."""
    extra = {"INITIAL TIME": model.initial_time, "FINAL TIME": model.final_time,
             "TIME STEP": model.time_step, "SAVEPER": model.saveper}
    return run.assign(**{k: v for k, v in extra.items() if k not in run.columns})


def run_stock_pysd(model_file: Path) -> pd.DataFrame:
    """Stock PySD on a copy of the model's folder in a temp dir (PySD writes beside the model)."""
    import pysd

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "m"
        shutil.copytree(model_file.parent, folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pysd.read_xmile(str(folder / model_file.name)).run()


@dataclass(frozen=True)
class Outcome:
    """One file's result: loaded, has an output, matched by each engine and by stock PySD."""

    path: Path
    loaded: bool
    with_output: bool
    default: bool
    numpy: bool
    pysd: bool | None
    note: str


def check(model_file: Path, stock: bool = True) -> Outcome:
    """Load, run and compare one file (see the module docstring)."""
    out = canonical_output(model_file)
    ref = read_canonical(out) if out else None
    pysd_ok = None
    if stock and ref is not None:
        try:
            pysd_ok = matches(run_stock_pysd(model_file), ref)
        except Exception:  # stock PySD fails on many files; that counts as no match
            pysd_ok = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cx.load_model(model_file)
    except cx.CxError as exc:
        return Outcome(model_file, False, ref is not None, False, False, pysd_ok, str(exc))
    if ref is None:
        return Outcome(model_file, True, False, False, False, pysd_ok, "")
    results, notes = {}, []
    for engine in ("auto", "numpy"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = cx.simulate(model, engine=engine, allow_nonfinite=True)
            results[engine] = matches(with_controls(run, model), ref)
        except cx.CxError as exc:
            results[engine] = False
            notes.append(f"{engine}: {exc}")
    return Outcome(model_file, True, True, results["auto"], results["numpy"], pysd_ok, "; ".join(notes))


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    """The counts the report prints."""
    return {
        "files": len(outcomes),
        "loaded": sum(o.loaded for o in outcomes),
        "with output": sum(o.with_output for o in outcomes),
        "matched (default engine)": sum(o.default for o in outcomes),
        "matched (engine=numpy)": sum(o.numpy for o in outcomes),
        "matched (stock PySD)": sum(bool(o.pysd) for o in outcomes),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=default_corpus())
    ap.add_argument("--no-pysd", action="store_true", help="skip stock PySD")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}")
        return 2
    outcomes = []
    for f in xmile_files(args.corpus):
        o = check(f, stock=not args.no_pysd)
        outcomes.append(o)
        if args.verbose:
            flags = (f"loaded={int(o.loaded)} out={int(o.with_output)} default={int(o.default)} "
                     f"numpy={int(o.numpy)} pysd={'-' if o.pysd is None else int(o.pysd)}")
            note = " ".join(o.note.replace(str(args.corpus) + "/", "").split())[:160]
            print(f"{f.relative_to(args.corpus)}: {flags} {note}")
    for k, v in summary(outcomes).items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
