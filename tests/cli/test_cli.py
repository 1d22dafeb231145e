"""The ``cxsystems`` command line, through the shared ``run_cli``: in-process, and as a real process
(``python -m cxsystems.cli`` and the ``cxsystems`` console script) where the process itself matters."""

import csv
import io
import re
import shutil
import sys
import tomllib
import types
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

import cxsystems
from cxsystems import cli
from cxsystems.analysis.compare import RESERVED_STEMS
from cxsystems.files import MANIFEST, outcome_stems

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILE = ROOT / "models" / "cx_service.scenarios.toml"


def scenario_names():
    return list(tomllib.loads(SCENARIO_FILE.read_text())["scenarios"])


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    line = proc.error  # exactly one line, "cxsystems: error: ...", no traceback
    for f in fragments:
        assert f in line


def test_compare_writes_every_file(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("compare", "--out", out)
    assert proc.returncode == 0, proc.stderr
    names = scenario_names()
    outcomes = tomllib.loads(SCENARIO_FILE.read_text())["outcomes"]
    charts = {f"{s}.png" for s in outcome_stems([o["variable"] for o in outcomes], reserved=RESERVED_STEMS).values()}
    expected = {"comparison.png", "contact_mix.png", "results.csv", "summary.csv", MANIFEST} | charts
    assert {p.name for p in out.iterdir()} == expected
    for name in expected - {"results.csv", "summary.csv", MANIFEST}:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    res = pd.read_csv(out / "results.csv")
    assert list(res.columns) == ["scenario", "time", "variable", "value"]
    assert set(res["scenario"]) == set(names)
    summ = pd.read_csv(out / "summary.csv", index_col="scenario")
    assert sorted(summ.index) == sorted(names)
    assert "classification" in summ.columns
    # printed: a table that fits 100 columns, then one line per non-baseline scenario
    table_lines = proc.stdout.split("\n\n")[1].splitlines()
    assert table_lines[0].startswith("scenario")
    assert all(len(line) <= 100 for line in table_lines)
    # the avoidable share of contacts, as summary.csv has it (a fraction there, a percent here)
    assert re.split(r"\s{2,}", table_lines[0])[1] == "Avoidable contacts"
    for ln in table_lines[2:]:
        name, pct = ln.split()[0], ln.split()[1]
        assert pct == f"{100 * summ.loc[name, 'avoidable_share']:.1f}%"
    assert 0 < summ["avoidable_share"].min() <= summ["avoidable_share"].max() < 1
    for name in names[1:]:
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"{name}: "))
        cls = summ.loc[name, "classification"]
        assert line.startswith(f"{name}: {cls} on Ticket backlog (")
        # how it ends, in words that agree with the sign of summary.csv (positive = better)
        end = re.search(r"; ends (\d+\.\d)% (better|worse)(, within tolerance)?\)$", line)
        assert end, line
        pct = summ.loc[name, "final_advantage_pct"]
        assert end[2] == ("better" if pct > 0 else "worse") and float(end[1]) == pytest.approx(abs(pct), abs=0.05)


def test_compare_subset_svg_and_outcome(tmp_path):
    names = scenario_names()
    out = tmp_path / "svg"
    proc = run_cli("compare", "--scenarios", names[-1], "--format", "svg", "--out", out,
                   "--outcome", "customers")
    assert proc.returncode == 0, proc.stderr
    files = {p.name for p in out.iterdir()}
    assert "comparison.svg" in files and "customers.svg" in files  # classified variable charted too
    assert not any(f.endswith(".png") for f in files)
    assert (out / "comparison.svg").read_text()[:5] == "<?xml"
    res = pd.read_csv(out / "results.csv")
    assert list(dict.fromkeys(res["scenario"])) == [names[0], names[-1]]  # baseline always included
    assert f"{names[-1]}: " in proc.stdout and " on Customers (" in proc.stdout


def test_bad_scenario_exits_2_with_one_line(tmp_path):
    out = tmp_path / "never"
    proc = run_cli("compare", "--scenarios", "no_such_policy", "--out", out)
    assert_one_line_error(proc, "no_such_policy", "reactive_hiring")
    assert not out.exists()


def main_error(*args):
    """Run the CLI in-process (fast paths that never load a model); return its one error line."""
    proc = run_cli(*args)
    assert proc.code == 2, proc.err
    return proc.error  # exactly one line, "cxsystems: error: ...", no traceback


def test_usage_and_output_errors_are_one_line(tmp_path):
    assert "--format" in main_error("compare", "--format", "gif")
    assert "COMMAND" in main_error()
    assert "invalid choice: 'bogus'" in main_error("bogus")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    msg = main_error("compare", "--out", blocker / "sub")
    assert str(blocker) in msg and "not a directory" in msg
    assert "model file not found" in main_error("compare", "--model", tmp_path / "missing.mdl")
    assert "unknown model 'nosuch'" in main_error("scenarios", "--model", "nosuch")
    assert "--scenarios" in main_error("compare", "--scenarios", " , ", "--out", tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_bad_model_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.mdl"
    bad.write_text("Stock = INTEG(Flow, \n garbage ~ ~ |\n", encoding="utf-8")
    assert str(bad) in main_error("params", "--model", bad)
    assert str(bad) in main_error("compare", "--model", bad, "--out", tmp_path / "o")


def test_run_writes_csv(tmp_path):
    out = tmp_path / "sub" / "run.csv"
    name = scenario_names()[-1]
    proc = run_cli("run", "--scenario", name, "--out", out, "--variables", "Ticket Backlog,Wait Time")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["time", "Ticket Backlog", "Wait Time"]
    assert df["time"].iloc[0] == 0 and df["time"].is_monotonic_increasing
    assert str(out) in proc.stdout


def test_run_bad_scenario_writes_nothing(tmp_path):
    proc = run_cli("run", "--scenario", "bogus", "--out", tmp_path / "x.csv")
    assert proc.code == 2
    err = proc.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cxsystems: error: unknown scenario 'bogus'")
    assert not list(tmp_path.iterdir())


def test_params_csv_and_table():
    proc = run_cli("params", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(rows[0]) == ["name", "value", "units", "min", "max", "comment"]
    assert len(rows) > 10
    for r in rows:
        value, lo, hi = float(r["value"]), float(r["min"] or "nan"), float(r["max"] or "nan")
        assert not (lo > value) and not (value > hi), r  # NaN bounds pass
    changed = {c for s in tomllib.loads(SCENARIO_FILE.read_text())["scenarios"].values()
               for c in s.get("set", {})}
    assert changed <= {r["name"] for r in rows}
    # the table
    proc = run_cli("params")
    assert proc.code == 0
    lines = proc.out.splitlines()
    assert lines[0].split()[:4] == ["name", "value", "units", "range"]
    assert all(len(line) <= 100 for line in lines)
    for r in rows:
        assert any(line.startswith(r["name"] + " ") for line in lines)


def test_scenarios_lists_names_descriptions_changes():
    proc = run_cli("scenarios")
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads(SCENARIO_FILE.read_text())["scenarios"]
    text = proc.stdout
    for name, body in data.items():
        assert f"\n{name}" in text
        assert body["description"].split()[0] in text
        for param, spec in body.get("set", {}).items():
            week = spec["from_week"] if isinstance(spec, dict) else None
            expect = f"- {param} = {spec['value'] if isinstance(spec, dict) else spec:g}"
            line = next(ln for ln in text.splitlines() if expect in ln)
            assert (f"from week {week:g}" if week is not None else "from the start") in line
    assert all(len(line) <= 100 for line in text.splitlines())


def test_version_and_help():
    proc = run_cli("--version", real=True)  # exit code and output of `python -m cxsystems.cli`
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"cxsystems {cxsystems.__version__}"


def test_help():
    proc = run_cli("--help")
    assert proc.code == 0
    text = proc.out
    listed = [line.split()[0] for line in text.splitlines() if line.startswith("    ") and line.split()]
    assert {"compare", "scenarios", "params", "run"} <= set(listed)


def test_help_of_every_subcommand_has_a_description():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"compare", "scenarios", "params", "run"}
    for name, p in sub.choices.items():
        assert len(p.description.split()) >= 20, name


def test_commands_registry_accepts_a_new_module(monkeypatch):
    from cxsystems.cli.common import add_command

    mod = types.ModuleType("cxsystems_test_plugin")

    def handler(args):
        print(f"hello {args.who}")
        return 0

    def register(subparsers):
        add_command(subparsers, "hello", handler, summary="say hello",
                    description="Say hello. " * 5, model_option=False).add_argument("--who")

    mod.register = register
    monkeypatch.setitem(sys.modules, "cxsystems_test_plugin", mod)
    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + ("cxsystems_test_plugin",))
    proc = run_cli("hello", "--who", "board")
    assert proc.code == 0
    assert proc.out == "hello board\n"
    proc = run_cli("hello", "--bogus")
    assert proc.code == 2
    err = proc.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cxsystems: error: unrecognized arguments: --bogus")


def test_installed_console_script():
    # pip install -e . puts the console script next to the interpreter (the test command does that)
    exe = shutil.which("cxsystems") or str(Path(sys.executable).with_name("cxsystems"))
    assert Path(exe).is_file(), "the cxsystems console script is not installed: pip install -e ."
    proc = run_cli("--version", exe=exe)
    assert proc.returncode == 0
    assert proc.stdout.startswith("cxsystems ")
    proc = run_cli("compare", "--format", "gif", exe=exe)
    assert_one_line_error(proc, "gif")
