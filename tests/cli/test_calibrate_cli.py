"""``cxsystems calibrate``: the printed estimates and fit, the files, and one-line errors that write nothing."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.files import MANIFEST

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

SCENARIOS = """
[scenarios.baseline]
description = "as written"

[uncertain]
"Growth Rate" = { dist = "uniform", low = 0.2, high = 1.5 }
"Carrying Capacity" = { dist = "triangular", low = 500, mode = 1000, high = 5000 }
"""


@pytest.fixture(scope="module")
def logistic(tmp_path_factory):
    """A logistic model with two [uncertain] parameters and a noisy weekly history (dates) of it."""
    folder = tmp_path_factory.mktemp("logistic")
    shutil.copy(TESTS / "models" / "engine_logistic.mdl", folder / "logistic.mdl")
    (folder / "logistic.scenarios.toml").write_text(SCENARIOS, encoding="utf-8")
    model = cx.load_model(folder / "logistic.mdl")
    run = compile_model(model).run(params={"Growth Rate": 0.7, "Carrying Capacity": 2500}, variables=["Population"])
    rng = np.random.default_rng(0)
    y = run.variable("Population")[1:, 0] * np.exp(0.05 * rng.standard_normal(20))
    dates = pd.date_range("2024-01-08", periods=20, freq="7D").strftime("%Y-%m-%d")
    pd.DataFrame({"date": dates, "Heads": y}).to_csv(folder / "history.csv", index=False)
    (folder / "map.toml").write_text('"Heads" = "Population"\n', encoding="utf-8")
    return folder


def test_calibrate_prints_estimates_and_fit_and_writes_the_folder(logistic, tmp_path, cli):
    out = tmp_path / "cal"
    r = cli("calibrate", "--model", logistic / "logistic.mdl", "--data", logistic / "history.csv",
            "--map", logistic / "map.toml", "--start-date", "2024-01-01", "--error", "lognormal", "--out", out)
    assert r.code == 0, r.err
    assert "logistic calibrated to history.csv by optimize" in r.out
    line = next(x for x in r.out.splitlines() if x.startswith("Growth Rate"))
    estimate = float(line.split()[2])
    assert abs(estimate / 0.7 - 1) < 0.1
    assert "Population" in r.out and "UC" in r.out
    assert {p.name for p in out.iterdir()} == {"calibration.toml", "posterior.csv", "parameters.csv", "fit.csv",
                                               "fit_population.png", MANIFEST}
    toml = tomllib.loads((out / "calibration.toml").read_text())
    assert toml["calibration"]["data"] == "history.csv" and toml["calibration"]["method"] == "optimize"
    assert toml["estimates"]["Growth Rate"] == pytest.approx(estimate, rel=0.01)
    params = pd.read_csv(out / "parameters.csv")
    assert params["parameter"].tolist() == ["Growth Rate", "Carrying Capacity"]


def test_calibrate_bayes_writes_a_pair_plot(logistic, tmp_path, cli):
    out = tmp_path / "bayes"
    r = cli("calibrate", "--model", logistic / "logistic.mdl", "--data", logistic / "history.csv",
            "--map", logistic / "map.toml", "--start-date", "2024-01-01", "--method", "bayes", "--steps", "400",
            "--fit", "growth rate", "--out", out, "--format", "svg")
    assert r.code == 0, r.err
    assert "MCMC: 64 walkers x 400 steps" in r.out
    assert (out / "pairs.svg").is_file() and (out / "fit_population.svg").is_file()
    assert pd.read_csv(out / "posterior.csv").columns.tolist() == ["Growth Rate"]


@pytest.mark.parametrize("extra, message", [
    (["--fit", "Growth Rat", "--start-date", "2024-01-01"], r"fit: unknown parameter 'Growth Rat'.*closest: 'Growth Rate'"),
    (["--start-date", "2024-13-01"], r"start date '2024-13-01' is not a date"),
    ([], r"history.csv: column 'date' holds dates"),
    (["--start-date", "2024-03-01"], r"history.csv, row 2, column 'date': 2024-01-08 \(time -7.57143\) is outside"),
    (["--seed", "-1"], r"--seed must be a whole number"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(logistic, tmp_path, cli, extra, message):
    import re

    out = tmp_path / "never"
    args = ["calibrate", "--model", logistic / "logistic.mdl", "--data", logistic / "history.csv",
            "--map", logistic / "map.toml", "--out", out]
    r = cli(*args, *extra)
    assert r.code == 2
    assert re.search(message, r.error), r.error
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_unknown_column_names_file_row_and_column(tmp_path, cli):
    bad = tmp_path / "h.csv"
    bad.write_text("time,Ticket Backlog,Tickts\n1,10,3\n", encoding="utf-8")
    r = cli("calibrate", "--data", bad, "--out", tmp_path / "o")
    assert r.code == 2
    assert r.error.startswith("cxsystems: error: h.csv, row 1, column 'Tickts': unknown variable 'Tickts' in model "
                              "cx_service")
    assert not (tmp_path / "o").exists()


def test_the_acme_example_reads_against_cx_service():
    """The bundled worked example: 104 weeks of 4 series, named as cx_service's variables."""
    from cxsystems.model.history import read_history

    h = read_history(cx.load_model("cx_service"), ROOT / "models" / "data" / "acme_support_history.csv")
    assert h.variables == ("Contact Volume", "Ticket Backlog", "Wait Time", "Customers")
    assert h.horizon == (1.0, 104.0)
    assert all(90 <= s.n <= 104 for s in h.series)  # a few weeks missing
