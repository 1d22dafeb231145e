"""--set, --params and --calibration on every command that simulates, on a tiny model whose numbers
can be worked out by hand (Stock at week 10 = 10 x Rate x Scale)."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from test_overrides import write_calibration, write_tiny  # noqa: E402

from cxsystems.files import MANIFEST  # noqa: E402

SIMULATING = ("compare", "run", "robustness", "workshop", "report", "params")


def one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cxsystems: error: "), proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture()
def tiny(tmp_path):
    return write_tiny(tmp_path)


def final_stock(csv_path, scenario="baseline"):
    res = pd.read_csv(csv_path)
    rows = res[(res["scenario"] == scenario) & (res["variable"] == "Stock")]
    return float(rows.sort_values("time")["value"].iloc[-1])


@pytest.mark.parametrize("command", SIMULATING)
def test_help_promises_the_options(command):
    proc = run_cli(command, "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for option in ("--set", "--params", "--calibration", "--set wins over --params, which wins over --calibration"):
        assert option in text, (command, option)


def test_compare_with_set_changes_the_numbers(tiny, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("compare", "--model", tiny, "--out", out, "--set", "Rate=3", "--set", "scale=2")
    assert proc.returncode == 0, proc.stderr
    assert "your numbers: Rate = 3, Scale = 2" in proc.stdout
    assert final_stock(out / "results.csv") == pytest.approx(60.0)  # 10 x 3 x 2
    assert final_stock(out / "results.csv", "double_rate") == pytest.approx(80.0)  # the scenario's Rate = 4 wins
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["run"]["params"] == {"Rate": 3.0, "Scale": 2.0}


@pytest.mark.parametrize("args, fragments", [
    (["--set", "Rat=3"], ["--set 'Rat=3': unknown parameter 'Rat' in model tiny; closest: 'Rate'"]),
    (["--set", "Rate=11"], ["--set 'Rate=11': 'Rate' = 11 is outside its range [0, 10]"]),
    (["--set", "Rate"], ["--set 'Rate': write NAME=VALUE"]),
])
def test_bad_set_is_one_line_and_writes_nothing(tiny, tmp_path, args, fragments):
    out = tmp_path / "out"
    one_line_error(run_cli("compare", "--model", tiny, "--out", out, *args), *fragments)
    assert not out.exists()


def test_bad_params_file_names_the_file_and_row(tiny, tmp_path):
    bad = tmp_path / "mine.csv"
    bad.write_text("name,value\nRate,3\nScale,9\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    one_line_error(run_cli("run", "--model", tiny, "--scenario", "baseline", "--out", out, "--params", bad),
                   f"{bad} row 3: 'Scale' = 9 is outside its range [0.5, 3]")
    assert not out.exists()


def test_set_wins_over_params_over_calibration(tiny, tmp_path):
    cal = write_calibration(tmp_path, {"Scale": [1.2, 1.6], "Rate": [1, 1]}, estimates={"Scale": 1.5, "Rate": 1})
    # calibration: Rate 1, Scale 1.5; the file: Scale 2, Rate 3; --set: Rate 4 -> 10 x 4 x 2
    (tmp_path / "mine.toml").write_text("Scale = 2\nRate = 3\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    proc = run_cli("run", "--model", tiny, "--scenario", "baseline", "--out", out, "--calibration", cal,
                   "--params", tmp_path / "mine.toml", "--set", "Rate=4")
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(out)["Stock"].iloc[-1] == pytest.approx(80.0)
    assert "calibration: calibration.toml (bayes fit of Scale, Rate to history.csv; 2 draws)" in proc.stdout
    proc = run_cli("run", "--model", tiny, "--scenario", "baseline", "--out", out, "--calibration", cal)
    assert pd.read_csv(out)["Stock"].iloc[-1] == pytest.approx(15.0)  # the estimates: 10 x 1 x 1.5


def test_params_command_shows_the_values_a_run_starts_from(tiny, tmp_path):
    proc = run_cli("params", "--model", tiny, "--format", "csv", "--set", "Scale=2.5")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(__import__("io").StringIO(proc.stdout)).set_index("name")
    assert table.loc["Scale", "value"] == 2.5 and table.loc["Rate", "value"] == 2


def test_robustness_draws_the_fitted_parameters_from_the_calibration(tiny, tmp_path):
    draws = [0.7, 1.3, 2.2]
    cal = write_calibration(tmp_path, {"Scale": draws})
    out = tmp_path / "rob"
    proc = run_cli("robustness", "--model", tiny, "--n", "30", "--seed", "2", "--out", out, "--quiet",
                   "--calibration", cal)
    assert proc.returncode == 0, proc.stderr
    assert "worlds: Scale drawn from the calibration calibration.toml" in proc.stdout
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["Scale"]) == set(draws)  # exactly rows of the sample
    base = runs[runs["scenario"] == "baseline"]
    assert (base["final_stock"] - 20 * base["Scale"]).abs().max() < 1e-9
    assert base["Unit Cost"].nunique() == 30  # still by Latin hypercube
    manifest = json.loads((out / MANIFEST).read_text())["run"]
    assert manifest["calibrated"] == ["Scale"] and manifest["calibration"].endswith("calibration.toml")
    # --set fixes a parameter: neither sampled nor drawn
    proc = run_cli("robustness", "--model", tiny, "--n", "10", "--out", out, "--quiet", "--calibration", cal,
                   "--set", "Scale=2")
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_csv(out / "runs.csv")
    assert "Scale" not in runs.columns
    assert set(runs[runs["scenario"] == "baseline"]["final_stock"].round(9)) == {40.0}


def test_calibration_sample_outside_its_folder_is_refused(tiny, tmp_path):
    inner = tmp_path / "cal"
    inner.mkdir()
    pd.DataFrame({"Scale": [1.0]}).to_csv(tmp_path / "posterior.csv", index=False)
    cal = write_calibration(inner, None, sample="../posterior.csv")
    out = tmp_path / "rob"
    one_line_error(run_cli("robustness", "--model", tiny, "--n", "5", "--out", out, "--calibration", cal),
                   "--calibration", "must be a file in the calibration's own folder")
    assert not out.exists()


def test_workshop_and_report_take_the_options(tiny, tmp_path):
    page = tmp_path / "w.html"
    proc = run_cli("workshop", "--model", tiny, "--out", page, "--set", "Scale=2.5")
    assert proc.returncode == 0, proc.stderr
    assert ", value: 2.5," in page.read_text(encoding="utf-8").split('name: "Scale", slot: ', 1)[1][:60]
    cal = write_calibration(tmp_path, {"Scale": [0.9, 1.1]})
    report = tmp_path / "r.html"
    proc = run_cli("report", "--model", tiny, "--out", report, "--n", "20", "--quiet", "--calibration", cal,
                   "--set", "Unit Cost=1.5")
    assert proc.returncode == 0, proc.stderr
    text = report.read_text(encoding="utf-8")
    assert "drawn from the calibration" in text
    assert "--calibration" in text and "--set" in text and "Unit Cost=1.5" in text
