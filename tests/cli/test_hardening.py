"""Hardening: every bad input a one-line refusal (exit 2), no run that eats the machine, no output
half-written. One test per probe of the hostile review, a fuzz test over scenario files and option
values, and a kill test of an output folder."""

from __future__ import annotations

import csv
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxsystems as cx
from cxsystems.files import MANIFEST

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
CX_TOML = (MODELS / "cx_service.scenarios.toml").read_text()

TINY = """{UTF-8}
x = INTEG(%(flow)s, 1)
\t~\tThing
\t~\t\t|
k = %(k)s
\t~\tThing/Week
\t~\t\t|
FINAL TIME  = %(final)s
\t~\tWeek
\t~\t\t|
INITIAL TIME  = %(initial)s
\t~\tWeek
\t~\t\t|
SAVEPER  = TIME STEP
\t~\tWeek
\t~\t\t|
TIME STEP  = %(dt)s
\t~\tWeek
\t~\t\t|
"""


def tiny(tmp_path: Path, name: str = "tiny", **kw) -> Path:
    values = dict(flow="k", k="1", final="10", initial="0", dt="0.5") | kw
    path = tmp_path / f"{name}.mdl"
    path.write_text(TINY % values, encoding="utf-8")
    return path


def cx_copy(tmp_path: Path, toml: str) -> Path:
    """cx_service with the given scenario file, in its own folder."""
    shutil.copy(MODELS / "cx_service.mdl", tmp_path / "m.mdl")
    (tmp_path / "m.scenarios.toml").write_text(toml, encoding="utf-8")
    return tmp_path / "m.mdl"


def refused(run, *fragments) -> str:
    assert run.code == 2, (run.code, run.out, run.err)
    line = run.error
    for f in fragments:
        assert f in line, (f, line)
    return line


# ---------------------------------------------------------------------- options: exit 1 before


@pytest.mark.parametrize("cmd", ["robustness", "report"])
def test_negative_seed_names_the_option(cmd, tmp_path):
    refused(run_cli(cmd, "--seed", "-1", cwd=tmp_path), "--seed must be a whole number", "-1", "4,294,967,295")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", ["robustness", "report"])
def test_a_billion_runs_are_refused_before_allocating(cmd, tmp_path):
    t0 = time.perf_counter()
    line = refused(run_cli(cmd, "--n", "1000000000", "--out", tmp_path / "out", cwd=tmp_path),
                   "1,000,000,000 runs", "GiB", "limit", "--n")
    assert time.perf_counter() - t0 < 30
    # the estimate is of the right size: 7 scenarios x 7 metrics x 11 parameters, 8 bytes each, far
    # over any machine's memory
    estimate = float(line.split("needs about ")[1].split(" GiB")[0].replace(",", ""))
    assert 1000 < estimate < 10000
    assert not (tmp_path / "out").exists()


def test_the_memory_limit_can_be_set(tmp_path, monkeypatch, capability_trap):
    model = capability_trap
    monkeypatch.setenv("CXSYSTEMS_MEMORY_LIMIT_MB", "1")
    with pytest.raises(cx.CxError, match=r"n = 20,000 runs x 4 scenarios needs about .* limit of 1 MiB"):
        cx.ensemble(model, n=20000, seed=0)
    monkeypatch.setenv("CXSYSTEMS_MEMORY_LIMIT_MB", "lots")
    with pytest.raises(cx.CxError, match="CXSYSTEMS_MEMORY_LIMIT_MB='lots'"):
        cx.ensemble(model, n=10, seed=0)


def test_dask_address_that_is_not_one(tmp_path):
    refused(run_cli("robustness", "--n", "10", "--dask", "not-an-address", "--out", tmp_path / "o"),
            "--dask", "'not-an-address'", "tcp://HOST:PORT")


def test_dask_address_of_a_web_server_times_out_with_one_line(tmp_path):
    """Something accepts TCP there but never speaks Dask: a total deadline, then one line."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        t0 = time.perf_counter()
        run = run_cli("robustness", "--model", "capability_trap", "--n", "10", "--dask",
                      f"tcp://127.0.0.1:{port}", "--out", tmp_path / "o", real=True, timeout=120)
        took = time.perf_counter() - t0
    finally:
        server.shutdown()
    refused(run, "--dask", f"127.0.0.1:{port}", "no Dask scheduler answered within 10 s")
    assert took < 60
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------- scenario-file schema


def _without_analysis(text: str) -> str:
    start = text.index("[analysis]")
    end = text.index("[scenarios.", start)
    return text[:start] + text[end:]


BAD_FILES = [
    ('analysis = "x"\n' + _without_analysis(CX_TOML), ["analysis must be written [analysis]", "got str 'x'"]),
    ("metrics = 5\n[scenarios.baseline]\n", ["metrics must be written [metrics]", "got int 5"]),
    ('[scenarios.baseline]\n[outcomes]\nvariable = "Ticket Backlog"\n',
     ["outcomes must be written [[outcomes]] (two brackets)", "got a table"]),
    (CX_TOML.replace('headline = "cumulative_profit"', 'headline = "cumulative_profit"\nrtoll = 0.02'),
     ["[analysis]", "unknown key 'rtoll'", "did you mean 'rtol'?"]),
    (CX_TOML.replace('label = "Total contacts"', 'lable = "Total contacts"'), ["[metrics.total_contacts]", "unknown key 'lable'",
                                                                    "did you mean 'label'?"]),
    ('[scenarios.baseline]\n[[outcomes]]\nvariable = "Ticket Backlog"\nbeter = "higher"\n',
     ["[outcomes.0]", "unknown key 'beter'", "did you mean 'better'?"]),
    ('[scenarios.baseline]\n[scenarios.x.set]\n"Prevention Incentive" = 1\n"prevention  INCENTIVE" = 0.5\n',
     ["[scenarios.x.set]", "'Prevention Incentive' is set twice", "keep one"]),
    ('[scenarios.baseline]\n[uncertain]\n"Hiring Delay" = { dist = "uniform", low = 4, high = 9 }\n'
     '"hiring_delay" = { dist = "uniform", low = 5, high = 8 }\n', ["[uncertain]", "'Hiring Delay' is set twice"]),
]


@pytest.mark.parametrize("toml, fragments", BAD_FILES)
def test_scenario_files_are_validated_against_a_schema(tmp_path, toml, fragments):
    path = cx_copy(tmp_path, toml)
    refused(run_cli("scenarios", "--model", path), "m.scenarios.toml", *fragments)


# ---------------------------------------------------------------------- runs that eat the machine


@pytest.mark.parametrize("cmd", [["run", "--scenario", "baseline", "--out", "x.csv"], ["compare", "--out", "o"]])
def test_a_billion_steps_are_refused_at_once(tmp_path, cmd):
    path = tiny(tmp_path, final="1e9", dt="1e-6")
    t0 = time.perf_counter()
    refused(run_cli(cmd[0], "--model", path, *cmd[1:], cwd=tmp_path), "tiny.mdl",
            "1,000,000,000,000,001 time steps", "limit of 20,000,000", "larger TIME STEP")
    assert time.perf_counter() - t0 < 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.mdl"]


def test_a_time_step_that_cannot_advance_time_is_refused(tmp_path):
    path = tiny(tmp_path, initial="1e17", final="1e17+100", dt="1")
    refused(run_cli("run", "--model", path, "--scenario", "baseline", "--out", tmp_path / "x.csv"),
            "tiny.mdl", "TIME STEP 1 cannot advance the time at 1e+17")


def test_saved_values_over_the_memory_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CXSYSTEMS_MEMORY_LIMIT_MB", "1")
    model = cx.load_model(tiny(tmp_path, final="1e6", dt="1"))  # a million saved steps
    with pytest.raises(cx.CxError, match=r"saving 1,000,00\d times x 2 values needs about 15 MiB.*SAVEPER"):
        cx.simulate(model)
    assert len(cx.simulate(model, saveper=1000)) == 1001  # a larger SAVEPER fits


# ---------------------------------------------------------------------- silent garbage


def test_na_constant_is_refused_naming_the_variable_and_week(tmp_path):
    path = tiny(tmp_path, name="na", k=":NA:")
    refused(run_cli("run", "--model", path, "--scenario", "baseline", "--out", tmp_path / "x.csv"),
            "na.mdl", "'k' is NaN", "at week 0", "--allow-nonfinite")
    assert not (tmp_path / "x.csv").exists()


def test_runaway_model_is_refused_unless_allowed(tmp_path):
    path = tiny(tmp_path, name="runaway", flow="x*x", k="1")
    line = refused(run_cli("run", "--model", path, "--scenario", "baseline", "--out", tmp_path / "x.csv"),
                   "runaway.mdl", "'x' is inf (infinite) at week ")
    assert not (tmp_path / "x.csv").exists()
    ok = run_cli("run", "--model", path, "--scenario", "baseline", "--out", tmp_path / "x.csv",
                 "--allow-nonfinite")
    assert ok.code == 0, ok.err
    rows = list(csv.DictReader((tmp_path / "x.csv").open()))
    first_inf = next(r["time"] for r in rows if r["x"] == "inf")  # kept as asked
    assert f"at week {float(first_inf):g} in scenario 'baseline'" in line
    assert float(rows[0]["x"]) == 1.0 and float(rows[2]["x"]) == 1 + 0.5 + 0.5 * 1.5 ** 2


def test_nonfinite_metrics_in_an_ensemble_name_the_run_and_its_world(tmp_path):
    path = tiny(tmp_path, name="wild", flow="x*x*k", k="0.1")
    (tmp_path / "wild.scenarios.toml").write_text(
        '[scenarios.baseline]\n[metrics]\nend = { variable = "x", how = "final" }\n'
        '[uncertain]\n"k" = { dist = "uniform", low = 0, high = 0.5 }\n')
    model = cx.load_model(path)
    with pytest.raises(cx.CxError, match=r"metric 'end' is (inf|nan) in run \d+ of scenario 'baseline'.*k = "):
        cx.ensemble(model, n=200, seed=0)
    res = cx.ensemble(model, n=200, seed=0, allow_nonfinite=True)
    finite = np.isfinite(res.metric("end")["baseline"].to_numpy())
    assert 0 < finite.sum() < 200  # small k stays finite, large k blows up


def test_formula_like_scenario_names_are_escaped_in_every_csv(tmp_path):
    evil = '=HYPERLINK("http://x","y")'
    toml = CX_TOML.replace("[scenarios.bridge]", f"[scenarios.'{evil}']").replace(
        "[scenarios.bridge.set]", f"[scenarios.'{evil}'.set]")
    toml = toml.replace('["bridge", "reactive_hiring"]', f"['{evil}', \"reactive_hiring\"]")
    path = cx_copy(tmp_path, toml)
    assert run_cli("compare", "--model", path, "--out", tmp_path / "c").code == 0
    assert run_cli("robustness", "--model", path, "--n", "20", "--out", tmp_path / "r", "--quiet").code == 0
    for f in [tmp_path / "c" / "summary.csv", tmp_path / "c" / "results.csv", tmp_path / "r" / "runs.csv",
              tmp_path / "r" / "robustness.csv"]:
        cells = [c for row in csv.reader(f.open()) for c in row]
        assert "'" + evil in cells, f
        assert not any(c.startswith(("=", "+", "@")) for c in cells), f
        # numbers stay numbers, negative ones included
        assert not any(c.startswith("'-") and c[2:3].isdigit() for c in cells), f


def test_quoted_vensim_names_are_matched_without_their_quotes(tmp_path):
    path = tmp_path / "q.mdl"
    path.write_text((TINY % dict(flow='"demand/factor"', k="1", final="4", initial="0", dt="1"))
                    .replace("k = 1\n", '"demand/factor" = 1\n'), encoding="utf-8")
    (tmp_path / "q.scenarios.toml").write_text(
        '[scenarios.baseline]\n[scenarios.more.set]\n"demand/factor" = 3\n')
    model = cx.load_model(path)
    assert model.parameter("demand/factor").value == 1
    assert cx.simulate(model, "more")["x"].iloc[-1] == 1 + 3 * 4
    assert cx.simulate(model, params={"Demand/Factor": 2})["x"].iloc[-1] == 1 + 2 * 4


# ---------------------------------------------------------------------- output places


def test_missing_parents_are_not_created(tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.csv"
    refused(run_cli("run", "--scenario", "baseline", "--out", target), "--out", "does not exist")
    assert not (tmp_path / "nonexistent").exists()
    refused(run_cli("compare", "--out", tmp_path / "a" / "b"), "--out", "does not exist")
    assert not (tmp_path / "a").exists()
    # the last folder of a path is created
    ok = run_cli("run", "--model", tiny(tmp_path), "--scenario", "baseline", "--out", tmp_path / "new" / "x.csv")
    assert ok.code == 0 and (tmp_path / "new" / "x.csv").is_file()


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused(run_cli("compare", "--model", "capability_trap", "--out", out), "--out", "notes.txt",
            "did not write")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_write_error_names_the_users_file_not_a_hidden_one(tmp_path):
    """A file-size limit makes writes fail with EFBIG ([Errno 27]) the way a full disk fails with
    ENOSPC: the message names the output, and nothing is left behind."""
    limit = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))")
    proc = run_cli("compare", "--model", "capability_trap", "--out", tmp_path / "out", prelude=limit,
                   timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(tmp_path / "out") in lines[0] and "File too large" in lines[0]
    assert ".tmp" not in lines[0] and "cxtmp" not in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_stale_temporary_files_of_dead_runs_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = [tmp_path / f".summary.csv.{dead}.0123abcd.tmp", tmp_path / f".out.cxtmp-{dead}-0123abcd",
             tmp_path / f".out.cxold-{dead}-4567cdef"]
    stale[0].write_text("half")
    for d in stale[1:]:
        d.mkdir()
        (d / "runs.csv").write_text("half")
    mine = tmp_path / f".keep.csv.{os.getpid()}.89abcdef.tmp"  # a live process's file stays
    mine.write_text("busy")
    assert run_cli("compare", "--model", "capability_trap", "--out", tmp_path / "out").code == 0
    assert not any(p.exists() for p in stale)
    assert mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "out"]


# ---------------------------------------------------------------------- kill test


def _manifest_consistent(folder: Path) -> list[str]:
    files = json.loads((folder / MANIFEST).read_text())["files"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(files + [MANIFEST])
    return files


def _kill_while_writing(out: Path, seed: int) -> None:
    """Start ``robustness`` and SIGKILL it once it has begun writing its files."""

    def writing() -> bool:
        return any(any(p.iterdir()) for p in out.parent.glob(f".{out.name}.cxtmp-*"))

    try:
        run = run_cli("robustness", "--model", "capability_trap", "--n", "3000", "--seed", seed, "--out", out,
                      "--quiet", real=True, kill_when=writing, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("the run never started writing")
    if run.code != -signal.SIGKILL:
        pytest.fail(f"the run ended before it was killed (exit {run.code}): {run.err}")
    assert run.code == -signal.SIGKILL


def test_a_killed_run_leaves_no_stray_and_no_mixed_folder(tmp_path):
    out = tmp_path / "out"
    _kill_while_writing(out, seed=1)
    assert not out.exists()  # killed before the swap: no folder at all, not half of one
    strays = [p.name for p in tmp_path.iterdir()]
    assert strays and all(".cxtmp-" in s for s in strays)  # only the hidden folder of the dead run

    first = run_cli("robustness", "--model", "capability_trap", "--n", "200", "--seed", "2", "--out", out,
                    "--quiet", real=True)
    assert first.code == 0, first.err
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the dead run's folder is gone
    files = _manifest_consistent(out)
    runs_before = (out / "runs.csv").read_bytes()

    _kill_while_writing(out, seed=3)  # a new run killed mid-write leaves the old folder whole
    assert _manifest_consistent(out) == files
    assert (out / "runs.csv").read_bytes() == runs_before
    assert json.loads((out / MANIFEST).read_text())["run"]["seed"] == 2

    again = run_cli("robustness", "--model", "capability_trap", "--n", "200", "--seed", "4", "--out", out,
                    "--quiet", real=True)
    assert again.code == 0, again.err
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    _manifest_consistent(out)
    assert json.loads((out / MANIFEST).read_text())["run"]["seed"] == 4


# ---------------------------------------------------------------------- fuzz


KEYS = ["scenarios", "metrics", "outcomes", "analysis", "uncertain", "set", "description", "value",
        "from_week", "variable", "how", "better", "label", "units", "baseline", "classify", "rtol",
        "headline", "versus", "question", "dist", "low", "high", "mode", "mean", "sd", "Pressure Step",
        "Performance Step", "Capability", "Performance", "baseline", "trap", "bogus", "Pressure  step"]
SCALARS = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans(), st.text(max_size=12), st.sampled_from(["final", "mean", "lower", "higher",
                                                                         "uniform", "normal", "baseline"]))
TREES = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                       st.dictionaries(st.sampled_from(KEYS), kids, max_size=4)),
                     max_leaves=12)


def _toml(value, path=()) -> str:
    """A TOML document for a top-level table (tomllib reads it back as the same structure)."""
    import math

    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {scalar(x)}" for k, x in v.items()) + "}"

    return "\n".join(f"{json.dumps(k)} = {scalar(v)}" for k, v in value.items()) + "\n"


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    shutil.copy(MODELS / "capability_trap.mdl", d / "m.mdl")
    return d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), TREES, max_size=5))
def test_fuzz_scenario_files_give_exit_0_or_one_line_exit_2(fuzz_dir, doc):
    (fuzz_dir / "m.scenarios.toml").write_text(_toml(doc), encoding="utf-8")
    run = run_cli("scenarios", "--model", fuzz_dir / "m.mdl")
    assert run.code in (0, 2), (run.code, run.err, doc)
    if run.code == 2:
        run.error  # exactly one line, no traceback


OPTION_VALUES = st.one_of(st.integers(-5, 60).map(str), st.sampled_from(
    ["", "-1", "0", "1e3", "nan", "inf", "4294967296", "a,b", "baseline", "trap,,baseline", "png", "gif", " ",
     "../x", "tcp://", "--n"]), st.text(max_size=8))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(cmd=st.sampled_from(["robustness", "compare", "run", "params", "scenarios", "loops"]),
       opts=st.lists(st.tuples(st.sampled_from(["--n", "--seed", "--scenarios", "--format", "--workers",
                                                 "--scenario", "--variables", "--outcome", "--max-length",
                                                 "--through"]), OPTION_VALUES), max_size=3))
def test_fuzz_option_values_give_exit_0_or_one_line_exit_2(tmp_path_factory, cmd, opts):
    work = tmp_path_factory.mktemp("opts")
    argv = [cmd, "--model", "capability_trap"]
    for name, value in opts:
        argv += [name, value]
    if cmd in ("robustness", "compare"):
        argv += ["--out", str(work / "out")]
        if cmd == "robustness":
            argv += ["--quiet"] + (["--n", "20"] if "--n" not in dict(opts) else [])
    if cmd == "run":
        argv += ["--out", str(work / "x.csv")] + ([] if "--scenario" in dict(opts) else ["--scenario", "trap"])
    run = run_cli(*argv, cwd=work)
    assert run.code in (0, 2), (run.code, run.err, argv)
    if run.code == 2:
        run.error
