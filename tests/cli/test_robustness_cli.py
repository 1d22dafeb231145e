"""``cxsystems robustness``: files, verdicts, progress bar, workers, Dask, and one-line errors."""

from __future__ import annotations

import csv
import io
import re
import socket
from pathlib import Path

import pytest
from conftest import run_cli

from cxsystems.cli.robustness import ProgressBar
from cxsystems.files import MANIFEST

MODELS = Path(__file__).resolve().parents[1] / "models"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_capability_trap_files_verdicts_and_progress(tmp_path, cli):
    r = cli("robustness", "--model", "capability_trap", "--n", "1500", "--seed", "3",
            "--out", tmp_path, "--format", "svg")
    code, out, err = r.code, r.out, r.err
    assert code == 0, err
    assert {p.name for p in tmp_path.iterdir()} == {
        "fan_performance.svg", "fan_capability.svg", "fan_time_spent_on_improvement.svg",
        "fan_time_spent_working.svg", "robustness.csv", "regret.csv", "runs.csv", MANIFEST}
    assert "<svg" in (tmp_path / "fan_capability.svg").read_text()[:400]
    runs = _rows(tmp_path / "runs.csv")
    assert len(runs) == 4 * 1500
    assert {r["scenario"] for r in runs} == {"baseline", "work_smarter", "trap", "higher_target"}
    assert "Capability Erosion Time" in runs[0] and "total_output" in runs[0]
    rob = _rows(tmp_path / "robustness.csv")
    assert len(rob) == 5 * 4 * 3  # metrics x ordered pairs
    for r in rob:
        total = float(r["share_better"]) + float(r["share_tied"]) + float(r["share_worse"])
        assert abs(total - 1) < 1e-12
    assert "capability_trap: 1,500 sampled worlds x 4 scenarios (4 uncertain parameters sampled, seed 3)" in out
    lines = [l.strip() for l in out.splitlines() if " beats " in l]
    assert len(lines) == 3  # no versus pairs declared: every scenario against the baseline
    m = re.fullmatch(r"work_smarter beats baseline on total output in (\d+\.\d)% of 1,500 runs", lines[0])
    assert m, lines[0]
    # the verdict's figure is the share recounted from runs.csv
    base = {r["run"]: float(r["total_output"]) for r in runs if r["scenario"] == "baseline"}
    smart = [float(r["total_output"]) > base[r["run"]] for r in runs if r["scenario"] == "work_smarter"]
    assert float(m.group(1)) == round(100 * sum(smart) / len(smart), 1)
    # the trap loses output against baseline in every world
    assert re.fullmatch(r"trap beats baseline on total output in 0\.0% of 1,500 runs "
                        r"\(baseline does better in 100\.0%\)", lines[1])
    assert "Most often best, per metric:" in out


def test_progress_bar_only_after_a_second_and_quiet_silences_it():
    stream = io.StringIO()
    bar = ProgressBar("m", stream=stream, delay_s=1.0)
    bar(10, 100)
    bar(100, 100)  # done within the delay: nothing at all
    assert stream.getvalue() == ""
    slow = ProgressBar("m", stream=stream, delay_s=0.0)
    slow(50, 100)
    slow(100, 100)
    text = stream.getvalue()
    assert "50.0% 50/100 runs" in text and "100.0% 100/100 runs" in text and text.endswith("\n")


def test_quiet_run_writes_nothing_on_stderr(tmp_path, cli):
    r = cli("robustness", "--model", "capability_trap", "--scenarios", "trap", "--n", "40",
            "--out", tmp_path, "--quiet")
    code, out, err = r.code, r.out, r.err
    assert code == 0 and err == ""
    assert "trap beats baseline" in out


def _runs_csv(tmp_path: Path, name: str, *extra: str) -> str:
    out = tmp_path / name
    r = run_cli("robustness", "--model", "capability_trap", "--scenarios", "work_smarter", "--n", "2500",
                "--seed", "9", "--out", out, "--quiet", *extra)
    assert r.code == 0, r.err
    return (out / "runs.csv").read_text() + (out / "robustness.csv").read_text()


def test_workers_and_dask_give_identical_files(tmp_path):
    from dask.distributed import LocalCluster

    here = _runs_csv(tmp_path, "here")
    assert _runs_csv(tmp_path, "workers", "--workers", "2") == here
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert _runs_csv(tmp_path, "dask", "--dask", cluster.scheduler_address) == here


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n must be at least 1, got 0"),
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--scenarios", "nope"], "unknown scenario 'nope'"),
    (["--model", str(MODELS / "engine_logistic.mdl")], "declares no uncertain parameters"),
    (["--workers", "2", "--dask", "tcp://127.0.0.1:1"], "not allowed with argument"),
    (["--format", "gif"], "invalid choice: 'gif'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, cli, args, message):
    r = cli("robustness", "--out", tmp_path / "o", "--quiet", *args)
    code, err = r.code, r.err
    assert code == 2
    assert err.startswith("cxsystems: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "o").exists()


def test_unreachable_dask_scheduler_is_one_line(tmp_path, cli):
    r = cli("robustness", "--model", "capability_trap", "--n", "10", "--out", tmp_path / "o",
            "--dask", f"tcp://127.0.0.1:{_free_port()}")
    code, err = r.code, r.err
    assert code == 2 and err.count("\n") == 1
    assert "--dask tcp://127.0.0.1:" in err and "cannot reach the scheduler" in err
