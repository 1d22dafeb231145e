"""``cxsystems loops | cld | archetypes | lint``: a real process for lint's exit codes, the rest in-process."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "models"
CLD = ROOT / "models" / "cld"


def test_loops_of_a_diagram_in_every_format(cli):
    r = cli("loops", "--cld", CLD / "cx_fixes_that_fail.cld")
    assert r.code == 0 and r.err == ""
    assert "B1    B" in r.out and "[rework spiral]" in r.out and "2 loop(s): 1 R, 1 B" in r.out
    r = cli("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--format", "json")
    data = json.loads(r.out)
    assert [lp["id"] for lp in data["loops"]] == ["B1", "R1"] and data["loops"][1]["name"] == "rework spiral"
    r = cli("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--format", "csv")
    assert r.out.splitlines()[0] == "id,name,polarity,length,delays,variables,signs" and len(r.out.splitlines()) == 3


def test_loops_of_a_model_with_selection(cli):
    r = cli("loops", "--model", MODELS / "causal_arms_race.mdl", "--through", "arms b", "--max-length", "6")
    assert r.code == 0
    ids = [line.split()[0] for line in r.out.splitlines()[1:-1] if not line.startswith(" ")]
    assert ids == ["B2", "R1", "R3"] and "3 loop(s) of 8: 2 R, 1 B" in r.out


def test_cld_writes_each_format(tmp_path, cli):
    for suffix in ("png", "svg", "pdf", "dot", "mmd"):
        out_file = tmp_path / "sub" / f"d.{suffix}"
        r = cli("cld", "--cld", CLD / "cx_shifting_the_burden.cld", "--out", out_file)
        assert r.code == 0, r.err
        assert out_file.stat().st_size > 100
        assert "7 variables, 9 links, 3 loops marked" in r.out
    r = cli("cld", "--model", MODELS / "causal_arms_race.mdl", "--out", tmp_path / "a.mmd")
    assert r.code == 0 and (tmp_path / "a.mmd").read_text().count("-->") == 15


def test_archetypes_of_a_diagram(cli):
    r = cli("archetypes", "--cld", CLD / "cx_shifting_the_burden.cld")
    assert r.code == 0 and r.out.startswith("shifting the burden: B1 symptomatic fix (B), B2 fundamental solution (B)")
    assert "side effect: Headcount share of budget" in r.out and "loop names: B1 hire to cover" in r.out
    r = cli("archetypes", "--cld", CLD / "cx_fixes_that_fail.cld", "--format", "json")
    (a,) = json.loads(r.out)["archetypes"]
    assert a["kind"] == "fixes that fail" and a["loop_names"] == ["close faster", "rework spiral"]
    r = cli("archetypes", "--cld", CLD / "cx_reactive_vs_organisational.cld", "--kind", "Fixes that fail",
            "--per-kind", "1")
    assert r.out.count("fixes that fail:") == 1 and "more instance(s) of fixes that fail not shown" in r.out


@pytest.mark.parametrize("args, fragment", [
    (("loops", "--cld", "nope.cld"), "diagram file not found: nope.cld"),
    (("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--max-length", "0"), "--max-length must be a positive"),
    (("loops", "--cld", CLD / "cx_fixes_that_fail.cld", "--through", "Backlg"), "unknown variable 'Backlg'"),
    (("cld", "--cld", CLD / "cx_fixes_that_fail.cld", "--out", "x.gif"), "unsupported diagram format '.gif'"),
    (("cld", "--cld", CLD / "cx_fixes_that_fail.cld", "--view", "main", "--out", "x.png"), "--view applies to --model"),
    (("archetypes", "--cld", CLD / "cx_fixes_that_fail.cld", "--kind", "flop"), "unknown archetype 'flop'"),
    (("loops", "--cld", MODELS / "causal_logistic.mdl"), "expected 'CAUSE -> EFFECT"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment, cli, tmp_path):
    r = cli(*args, cwd=tmp_path)
    assert r.code == 2
    assert r.err.count("\n") == 1 and r.err.startswith("cxsystems: error: ") and fragment in r.err
    assert list(tmp_path.iterdir()) == []


def test_lint_exit_codes_as_a_real_command(tmp_path, cli):
    wrong = cli("lint", "--cld", MODELS / "causal_cx_wrong.cld", cwd=tmp_path, real=True, timeout=300)
    assert wrong.returncode == 1, wrong.stderr
    assert "mismatch: Work Pressure -> Handle Time is drawn +, the model gives -" in wrong.stdout
    assert "unknown variable: 'Customrs'" in wrong.stdout
    right = cli("lint", "--cld", MODELS / "causal_cx_right.cld", "--format", "json", cwd=tmp_path, real=True,
                timeout=300)
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["ok"] is True


SIGN_BY_PARAMETER = """{UTF-8}
S = INTEG(f, 1) ~ Things ~ |
f = S * k ~ Things/Week ~ |
k = 0.1 ~ 1/Week [-1,1] ~ |
FINAL TIME = 10 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 1 ~ Week ~ |
"""


def test_your_numbers_reach_the_measured_signs(tmp_path, cli):
    """Link signs are measured along the baseline run, so --set (and --params, --calibration) on
    the causal commands change them: f = S * k is a reinforcing loop for k > 0, balancing for k < 0."""
    path = tmp_path / "k.mdl"
    path.write_text(SIGN_BY_PARAMETER)
    assert "1 loop(s): 1 R, 0 B" in cli("loops", "--model", path).out
    r = cli("loops", "--model", path, "--set", "k=-0.1")
    assert r.code == 0 and "B1    B          2   1  S -> f -> S" in r.out and "1 loop(s): 0 R, 1 B" in r.out
    r = cli("archetypes", "--model", path, "--set", "k=5")
    assert r.code == 2 and r.err.count("\n") == 1 and "'k' = 5 is outside its range [-1, 1]" in r.err
    r = cli("cld", "--cld", CLD / "cx_fixes_that_fail.cld", "--set", "k=1", "--out", tmp_path / "d.png")
    assert r.code == 2 and "apply to a model (--model), not to --cld" in r.err and not (tmp_path / "d.png").exists()
