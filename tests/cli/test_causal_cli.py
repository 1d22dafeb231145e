"""``cxsystems loops | cld | archetypes | lint``: a few real subprocess runs, the rest in-process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxsystems.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "models"
CLD = ROOT / "models" / "cld"


def run(*args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_loops_of_a_diagram_in_every_format(capsys):
    code, out, err = run("loops", "--cld", CLD / "cx_fixes_that_fail.cld", capsys=capsys)
    assert code == 0 and err == ""
    assert "B1    B" in out and "[rework spiral]" in out and "2 loop(s): 1 R, 1 B" in out
    code, out, _ = run("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--format", "json", capsys=capsys)
    data = json.loads(out)
    assert [lp["id"] for lp in data["loops"]] == ["B1", "R1"] and data["loops"][1]["name"] == "rework spiral"
    code, out, _ = run("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--format", "csv", capsys=capsys)
    assert out.splitlines()[0] == "id,name,polarity,length,delays,variables,signs" and len(out.splitlines()) == 3


def test_loops_of_a_model_with_selection(capsys):
    code, out, _ = run("loops", "--model", MODELS / "causal_arms_race.mdl", "--through", "arms b",
                       "--max-length", "6", capsys=capsys)
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines()[1:-1] if not line.startswith(" ")]
    assert ids == ["B2", "R1", "R3"] and "3 loop(s) of 8: 2 R, 1 B" in out


def test_cld_writes_each_format(tmp_path, capsys):
    for suffix in ("png", "svg", "pdf", "dot", "mmd"):
        out_file = tmp_path / "sub" / f"d.{suffix}"
        code, out, err = run("cld", "--cld", CLD / "cx_shifting_the_burden.cld", "--out", out_file, capsys=capsys)
        assert code == 0, err
        assert out_file.stat().st_size > 100
        assert "7 variables, 9 links, 3 loops marked" in out
    code, out, _ = run("cld", "--model", MODELS / "causal_arms_race.mdl", "--out", tmp_path / "a.mmd", capsys=capsys)
    assert code == 0 and (tmp_path / "a.mmd").read_text().count("-->") == 15


def test_archetypes_of_a_diagram(capsys):
    code, out, _ = run("archetypes", "--cld", CLD / "cx_shifting_the_burden.cld", capsys=capsys)
    assert code == 0 and out.startswith("shifting the burden: B1 symptomatic fix (B), B2 fundamental solution (B)")
    assert "side effect: Headcount share of budget" in out and "loop names: B1 hire to cover" in out
    code, out, _ = run("archetypes", "--cld", CLD / "cx_fixes_that_fail.cld", "--format", "json", capsys=capsys)
    (a,) = json.loads(out)["archetypes"]
    assert a["kind"] == "fixes that fail" and a["loop_names"] == ["close faster", "rework spiral"]
    code, out, _ = run("archetypes", "--cld", CLD / "cx_reactive_vs_organisational.cld",
                       "--kind", "Fixes that fail", "--per-kind", "1", capsys=capsys)
    assert out.count("fixes that fail:") == 1 and "more instance(s) of fixes that fail not shown" in out


@pytest.mark.parametrize("args, fragment", [
    (("loops", "--cld", "nope.cld"), "diagram file not found: nope.cld"),
    (("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--max-length", "0"), "--max-length must be a positive"),
    (("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--through", "Backlg"), "unknown variable 'Backlg'"),
    (("cld", "--cld", CLD / "cx_fixes_that_fail.cld", "--out", "x.gif"), "unsupported diagram format '.gif'"),
    (("cld", "--cld", CLD / "cx_fixes_that_fail.cld", "--view", "main", "--out", "x.png"), "--view applies to --model"),
    (("archetypes", "--cld", CLD / "cx_fixes_that_fail.cld", "--kind", "flop"), "unknown archetype 'flop'"),
    (("loops", "--cld", MODELS / "causal_logistic.mdl"), "expected 'CAUSE -> EFFECT"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment, capsys):
    code, out, err = run(*args, capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("cxsystems: error: ") and fragment in err


def test_lint_exit_codes_as_a_real_command(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "cxsystems.cli", "lint", "--cld", str(MODELS / "causal_cx_wrong.cld")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "mismatch: Work Pressure -> Handle Time is drawn +, the model gives -" in proc.stdout
    assert "unknown variable: 'Customrs'" in proc.stdout
    proc = subprocess.run(cmd[:-1] + [str(MODELS / "causal_cx_right.cld"), "--format", "json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
