"""Run a corpus of Vensim and XMILE models the way PySD's integration tests do, and count the results.

    python benchmarks/peer_suite.py                                # ../shared/peer-models/sdxorg-test-models
    python benchmarks/peer_suite.py --corpus DIR -v                # another corpus, one line per model
    python benchmarks/peer_suite.py --engine numpy                 # the numpy engine alone (no PySD fallback)
    python benchmarks/peer_suite.py --pysd                         # stock PySD on the same files, for comparison

Every model file (``.mdl``, ``.xmile``, ``.stmx``, ``.itmx``) is loaded as published, in place (loading
never writes beside a model). A model with a canonical output beside it (``output.csv`` or
``output.tab``, Vensim's or Stella's own run) is simulated and compared the way PySD's integration tests
compare (``pysd.tools.benchmarking``): every canonical column must be in the run; values agree when
``|ours - theirs| <= atol + rtol * |theirs|`` with PySD's defaults ``rtol = atol = 1e-5`` and PySD's own
per-model tolerances (:data:`TOLERANCES`); NaN equals NaN (Vensim's ``:NA:``, so runs keep non-finite
values here); a constant's column that Vensim fills only in its first row counts as constant.

Each model is a *pass*, *refused* (the product declined it: unsafe or unsupported, with the reason) or
a *mismatch* (it ran and differs, or the run failed); the counts are printed by cause.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("CXSYSTEMS_PATH", str(ROOT)))

import cxsystems as cx  # noqa: E402
from cxsystems.errors import CxError  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"
VENSIM_SUFFIXES = (".mdl",)
XMILE_SUFFIXES = (".xmile", ".stmx", ".itmx")

#: PySD's default comparison tolerances (``pysd.tools.benchmarking.assert_allclose``).
RTOL = ATOL = 1e-5
#: PySD's per-model tolerances in its integration tests (folder/file -> overrides); the one model
#: PySD loosens is ``arguments`` ("TODO test why it is failing with smaller tolerance").
TOLERANCES = {"tests/arguments/test_arguments.mdl": {"rtol": 1e-2}}
#: Run-time data files of models whose data variables have no equation (model file -> the names,
#: relative to its folder, passed as ``load_model(path, data_files=...)``), as PySD's integration
#: tests pass them (their ``"data_files"`` entry for the model).
DATA_FILES = {"tests/data_from_other_model/test_data_from_other_model.mdl": ("data.tab",)}


def norm(name) -> str:
    """A column name compared case-, space-, underscore- and quote-insensitively."""
    text = " ".join(str(name).replace("_", " ").replace('"', " ").lower().split())
    return text.replace("[ ", "[").replace(" ]", "]").replace(" ,", ",").replace(", ", ",")


def canonical_output(model_file: Path) -> Path | None:
    """The canonical output beside a model (``output.csv`` before ``output.tab``), if any."""
    return next((p for p in (model_file.parent / "output.csv", model_file.parent / "output.tab") if p.exists()), None)


def read_canonical(output: Path) -> pd.DataFrame:
    """The canonical output as a frame indexed by time, constants filled down from their first row."""
    sep = "\t" if output.suffix == ".tab" else ","
    try:
        ref = pd.read_csv(output, sep=sep)
    except UnicodeDecodeError:  # some canonical outputs were saved as Latin-1
        ref = pd.read_csv(output, sep=sep, encoding="latin-1")
    ref.columns = [str(c).strip().strip('"') for c in ref.columns]
    time_col = next((c for c in ref.columns if c.lower() == "time"), None)
    if time_col is None:  # transposed (one variable per row), as Vensim can save a .tab
        ref = ref.set_index(ref.columns[0]).T
        ref.index = pd.to_numeric(ref.index)
    else:
        ref = ref.set_index(time_col)
    ref = ref.apply(pd.to_numeric, errors="coerce")
    ref.index = ref.index.astype(float)
    if len(ref) > 1:  # PySD's _remove_constant_nan: Vensim writes a constant in the first row only
        const = ref.iloc[1:].isna().all()
        for col in ref.columns[const.to_numpy()]:
            ref[col] = ref[col].iloc[0]
    return ref


def with_controls(run: pd.DataFrame, model) -> pd.DataFrame:
    """The run with the model's time settings as constant columns, as Vensim and PySD output them."""
    run = run.copy()
    for name, value in (("INITIAL TIME", model.initial_time), ("FINAL TIME", model.final_time),
                        ("TIME STEP", model.time_step), ("SAVEPER", model.saveper)):
        if norm(name) not in {norm(c) for c in run.columns}:
            run[name] = float(value)
    return run


def compare(run: pd.DataFrame, ref: pd.DataFrame, rtol: float = RTOL, atol: float = ATOL) -> str:
    """``""`` when ``run`` matches ``ref`` by PySD's rule, else why not (a short cause)."""
    ours = {norm(c): c for c in run.columns}
    missing = [c for c in ref.columns if norm(c) not in ours]
    if missing:
        return "the run lacks canonical columns"
    times = run.index.to_numpy(dtype=float)
    # Canonical outputs print times rounded (99.9688 for 99.96875): align to the nearest saved time.
    step = float(np.diff(times).min()) if times.size > 1 else 1.0
    got = run.reindex(ref.index.to_numpy(dtype=float), method="nearest", tolerance=step / 4)
    if got.index.size == 0 or got.isna().all().all():
        return "the run's times differ from the canonical output's"
    for col in ref.columns:
        want = ref[col].to_numpy(dtype=float)
        have = got[ours[norm(col)]].to_numpy(dtype=float)
        close = (np.abs(have - want) <= atol + rtol * np.abs(want)) | (np.isnan(have) & np.isnan(want))
        if not close.all():
            return "differs from the canonical output"
    return ""


#: Causes of failure, matched in the error message, in order (first match wins); refusals first.
CAUSES = (
    (r"refused character '(.)' in the equation", "refused", r"character '\1' in an equation (Stella's ??? placeholder)"),
    (r"refused call in the equation of .*? '([\w ]+)\(", "refused", r"calls \1, which PySD does not translate for XMILE"),
    (r"modules are not supported", "refused", "XMILE modules"),
    (r"variables both directly under <model>", "refused", "an early XMILE layout mixed with <variables>"),
    (r"a variable that applies it to its own equation", "refused",
     "calls a variable's own graphical function (PySD would ignore the argument)"),
    (r"asks for RK4", "refused", "RK4 integration where it changes the numbers (PySD runs Euler)"),
    (r"refused (data function|string literal)", "refused", "reads files named in the model"),
    (r"refused quoted name", "refused", "a quoted name with a quote or backslash"),
    (r"refused ([a-z ]+)", "refused", r"\1"),
    (r"must be a number, a constant or arithmetic", "refused", "control variables that change in time"),
    (r"engine: (.*?); use engine=", "refused", r"numpy engine: \1"),
    (r"PySD \([a-z-]+\) could not run this model: (\w+)", "mismatch", r"PySD cannot run it (\1)"),
    (r"cannot translate model", "refused", "PySD cannot translate it"),
)


def cause(message: str) -> tuple[str, str]:
    """(``refused`` or ``mismatch``, a short cause) from an error message."""
    for pattern, kind, name in CAUSES:
        m = re.search(pattern, message)
        if m:
            return kind, " ".join(m.expand(name).split()[:14])
    message = re.sub(r"^\S+\.(?:mdl|xmile|stmx|itmx)(?::\d+)?:\s*", "", message, flags=re.IGNORECASE)
    return "mismatch", " ".join(message.split()[:10])


def _run_ours(model, engine: str) -> tuple[pd.DataFrame, str | None]:
    """The run, and why the numpy engine does not run the model (``None`` when it does: then the
    default engine's run *is* the numpy engine's, so one pass gives both figures)."""
    from cxsystems.simulation import unsupported_reason

    extra = {"allow_nonfinite": True}
    if engine != "auto":
        extra["engine"] = engine
    return with_controls(cx.simulate(model, **extra), model), unsupported_reason(model)


def _run_pysd(model_file: Path) -> pd.DataFrame:
    """Stock PySD on a copy of the model's folder (PySD writes its module beside the model)."""
    import pysd

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "m"
        shutil.copytree(model_file.parent, folder)
        copy = folder / model_file.name
        read = pysd.read_vensim if model_file.suffix.lower() in VENSIM_SUFFIXES else pysd.read_xmile
        return read(str(copy)).run()


def model_files(corpus: Path, kinds: str = "all") -> list[Path]:
    """The corpus's model files of ``kinds`` (``vensim``, ``xmile`` or ``all``), sorted."""
    suffixes = {"vensim": VENSIM_SUFFIXES, "xmile": XMILE_SUFFIXES}.get(kinds, VENSIM_SUFFIXES + XMILE_SUFFIXES)
    return sorted(p for p in Path(corpus).rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def run_suite(corpus: str | Path = DEFAULT_CORPUS, *, kinds: str = "vensim", engine: str = "auto",
              stock_pysd: bool = False, verbose: bool = False) -> dict:
    """Load every model file of ``kinds`` in ``corpus`` and simulate each with a canonical output.

    ``engine``: simulate's engine (``auto``, ``numpy``, ...); ``stock_pysd=True`` runs stock PySD
    instead (on a temporary copy), for the comparison figure.

    Returns ``{"files", "loaded", "with_output", "passed", "passed_numpy", "refused": {cause: n},
    "mismatch": {cause: n}, "results": {relative path: (status, cause)}}``; ``passed_numpy`` counts the
    passes the numpy engine alone gives (with ``engine="auto"``, the models it runs without fallback).
    """
    corpus = Path(corpus)
    loaded = with_output = passed = passed_numpy = 0
    refused: Counter = Counter()
    mismatch: Counter = Counter()
    results = {}
    files = model_files(corpus, kinds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            rel = path.relative_to(corpus).as_posix()
            model, load_error = None, None
            if not stock_pysd:
                try:
                    model = cx.load_model(path, data_files=DATA_FILES.get(rel))
                    loaded += 1
                except Exception as exc:  # noqa: BLE001 - counted: the product declined the file
                    load_error = exc
            output = canonical_output(path)
            if output is None:
                continue
            with_output += 1
            tol = TOLERANCES.get(rel, {})
            numpy_refused = "stock PySD"
            try:
                if stock_pysd:
                    run = _run_pysd(path)
                elif load_error is not None:
                    raise load_error
                else:
                    run, numpy_refused = _run_ours(model, engine)
                kind, why = ("mismatch", compare(run, read_canonical(output), **tol))
            except CxError as exc:
                kind, why = cause(str(exc))
                kind = "refused" if load_error is not None else kind
            except Exception as exc:  # noqa: BLE001 - a failure is counted, not raised
                kind, why = "mismatch", f"{type(exc).__name__}: {' '.join(str(exc).split()[:8])}"
            if not why:
                passed += 1
                passed_numpy += numpy_refused is None and engine in ("auto", "numpy")
                results[rel] = ("pass", "")
            else:
                (refused if kind == "refused" else mismatch)[why] += 1
                results[rel] = (kind, why)
            if verbose:
                status, why = results[rel]
                print(f"{status.upper():8s} {rel} {why}", flush=True)
    return {"files": len(files), "loaded": loaded, "with_output": with_output, "passed": passed,
            "passed_numpy": passed_numpy,
            "refused": dict(refused.most_common()), "mismatch": dict(mismatch.most_common()),
            "results": results}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="folder searched for model files "
                    "(default: ../shared/peer-models/sdxorg-test-models)")
    ap.add_argument("--kinds", choices=("vensim", "xmile", "all"), default="all",
                    help="which model files to run (default: all)")
    ap.add_argument("--engine", default="auto", help="simulate's engine: auto (default: numpy, falling back "
                    "to PySD for constructs numpy lacks), numpy (numpy alone), pysd-fast or pysd")
    ap.add_argument("--pysd", action="store_true", help="run stock PySD instead, for the comparison figure")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per model")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        print(f"peer_suite: --corpus {corpus}: no such folder", file=sys.stderr)
        return 2
    kinds = ("vensim", "xmile") if args.kinds == "all" else (args.kinds,)
    who = "stock PySD" if args.pysd else f"cxsystems, engine {args.engine}"
    for k in kinds:
        r = run_suite(corpus, kinds=k, engine=args.engine, stock_pysd=args.pysd, verbose=args.verbose)
        label = {"vensim": "Vensim (.mdl)", "xmile": "XMILE (.xmile/.stmx/.itmx)"}[k]
        if not args.pysd:
            print(f"{label}: {r['files']} files, {r['loaded']} load as published")
        print(f"{label}: {r['passed']} of {r['with_output']} with a canonical output pass ({who}); "
              f"{sum(r['refused'].values())} refused, {sum(r['mismatch'].values())} mismatch"
              + (f"; {r['passed_numpy']} of them on the numpy engine alone" if args.engine == "auto" and not args.pysd
                 else ""))
        for title, counts in (("refused", r["refused"]), ("mismatch", r["mismatch"])):
            for why, n in counts.items():
                print(f"  {n:4d}  {title}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
