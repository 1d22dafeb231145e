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
    assert r.code == 0 and r.out.startswith("shifting the burden: B1 symptomatic fix (B), R1 fundamental solution (R), "
                                            "R2 side effect undermines the fundamental solution (R)")
    assert "side effect: Rookie share" in r.out and "loop names: B1 hire to cover" in r.out
    assert "variant: the fundamental-solution loop is reinforcing" in r.out  # as cx_service has it
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


def test_loops_named_lists_exactly_the_named_loops(cli):
    r = cli("loops", "--model", "cx_service", "--named")
    assert r.code == 0, r.err
    rows = [line.split()[0] for line in r.out.splitlines()[1:-1] if not line.startswith(" ")]
    assert len(rows) == 13 and "13 loop(s) of 7055: 6 R, 7 B" in r.out
    assert r.out.count("[") == 13  # every row carries its [name]
    r = cli("loops", "--model", "cx_service", "--named", "--format", "csv", "--through", "Customers")
    names = [line.split(",")[1] for line in r.out.splitlines()[1:]]
    assert names == ["word of mouth", "customers leave"]
    # by default the named loops come first, then the rest
    r = cli("loops", "--model", "cx_service", "--format", "json")
    data = json.loads(r.out)
    assert [bool(lp["name"]) for lp in data["loops"][:14]] == [True] * 13 + [False] and data["total"] == 7055


def test_archetypes_of_cx_service_ranked_with_implausible_hidden(cli):
    r = cli("archetypes", "--model", "cx_service")
    assert r.code == 0, r.err
    blocks = r.out.split("\n\n")
    assert blocks[0].startswith("shifting the burden: B55 symptomatic fix (B), R88 fundamental solution (R)")
    assert "plausibility: confirmed" in blocks[0]
    assert blocks[1].startswith("fixes that fail: B22 fix (B), R22 side effect (R)")
    assert "note: 35 implausible match(es) hidden" in r.out and "plausibility: implausible" not in r.out
    assert r.out.count("plausibility: ") == 6
    r = cli("archetypes", "--model", "cx_service", "--all", "--format", "json")
    data = json.loads(r.out)
    kinds = [a["plausibility"] for a in data["archetypes"]]
    assert len(kinds) == 41 and kinds.count("implausible") == 35 and kinds[-1] == "implausible"
    assert not any("hidden" in n for n in data["notes"])


def test_lint_of_the_bundled_sketches(cli, tmp_path):
    """With their alias lines, the sketches' wording matches the model, and all three pass: every drawn
    link agrees with cx_service, except the organisational-change links the room assumes (drawn
    'assumed'), which are listed as information."""
    r = cli("lint", "--cld", CLD / "cx_fixes_that_fail.cld")
    assert r.code == 0, r.out
    assert "7 drawn link(s) checked, 3 alias(es), 0 problem(s)" in r.out
    assert "info, only in model: Ticket backlog -> Tickets closed per hour" in r.out
    r = cli("lint", "--cld", CLD / "cx_shifting_the_burden.cld")
    assert r.code == 0, r.out
    assert "9 drawn link(s) checked, 5 alias(es), 0 problem(s)" in r.out
    # the textbook draws the fundamental loop balancing; cx_service's work pressure crowds prevention out
    textbook = tmp_path / "textbook.cld"
    textbook.write_text((CLD / "cx_shifting_the_burden.cld").read_text().replace(
        "Ticket backlog -> Time for prevention : - delay", "Ticket backlog -> Time for prevention : + delay"))
    r = cli("lint", "--cld", textbook)
    assert r.code == 1
    problems = [line for line in r.out.splitlines() if line.startswith(("mismatch", "only in diagram", "unknown"))]
    assert problems == ["mismatch: Ticket backlog -> Time for prevention is drawn +, the model gives - "
                        "(via Desired Resolution Rate, Work Pressure, Indicated Prevention Share and 5 more path(s))"]
    r = cli("lint", "--cld", CLD / "cx_reactive_vs_organisational.cld", "--format", "json")
    data = json.loads(r.out)
    assert r.code == 0 and data["ok"] and data["checked"] == 22 and len(data["aliases"]) == 6
    assumed = [(f["kind"], f["source"], f["target"]) for f in data["findings"]
               if f["kind"] in ("mismatch", "only in diagram", "unknown variable", "assumed")]
    assert assumed == [("assumed", "Customer pain seen by leaders", "Leadership commitment"),
                       ("assumed", "Hiring and overtime", "Leadership commitment"),
                       ("assumed", "Leadership commitment", "Data integration")]
    # --strict: an assumption the model lacks is a disagreement again
    r = cli("lint", "--cld", CLD / "cx_reactive_vs_organisational.cld", "--strict")
    assert r.code == 1 and r.out.count("only in diagram: ") == 3 and "info, assumed" not in r.out
    # "Fast closing" is the opposite of Handle Time: its three links agree once read reversed
    assert not any(f["kind"] == "mismatch" for f in data["findings"])


def test_lint_aliases_from_a_file_and_strict_mode(tmp_path, cli):
    sketch = tmp_path / "room.cld"
    sketch.write_text("Ticket backlog -> Pressure to close fast : +\n"
                      "Pressure to close fast -> Tickets closed per hour : +\n"
                      "Tickets closed per hour -> Ticket backlog : - delay\n")
    r = cli("lint", "--cld", sketch)
    assert r.code == 1 and r.out.count("unknown variable:") == 2
    assert "unknown variable: 'Pressure to close fast' is not a variable of cx_service" in r.out
    aliases = tmp_path / "aliases.toml"
    aliases.write_text('[aliases]\n"Pressure to close fast" = "Work Pressure"\n'
                       '"tickets closed per hour" = "Resolution Capacity"\n')
    r = cli("lint", "--cld", sketch, "--aliases", aliases)
    assert r.code == 0, r.out
    assert "3 drawn link(s) checked, 2 alias(es), 0 problem(s)" in r.out
    # the same with an alias line in the diagram, and the reverse wording through "opposite of"
    sketch.write_text(sketch.read_text() + 'alias: "Pressure to close fast" = "Work Pressure"\n'
                      'alias: Tickets closed per hour = opposite of Handle Time\n')
    r = cli("lint", "--cld", sketch)
    assert r.code == 0 and "3 drawn link(s) checked, 2 alias(es), 0 problem(s)" in r.out, r.out
    # without "opposite of" the two links at Handle Time are read as drawn, and both contradict the model
    sketch.write_text(sketch.read_text().replace("opposite of Handle Time", "Handle Time"))
    r = cli("lint", "--cld", sketch)
    assert r.code == 1 and r.out.count("mismatch:") == 2
    assert "mismatch: Pressure to close fast -> Tickets closed per hour is drawn +, the model gives -" in r.out
    # --strict counts the model's links the diagram leaves out as disagreements
    sketch.write_text("Ticket Backlog -> Work Pressure : +\nFatigue -> Work Pressure : +\n")
    r = cli("lint", "--cld", sketch)
    assert r.code == 0 and "info, only in model: Work Pressure -> Fatigue (+, direct)" in r.out
    assert "2 drawn link(s) checked, 0 problem(s), 3 note(s); 3 model link(s) not drawn" in r.out
    r = cli("lint", "--cld", sketch, "--strict")
    assert r.code == 1 and "only in model: Work Pressure -> Fatigue (+, direct)" in r.out and "info," not in r.out
    assert "2 drawn link(s) checked, 3 problem(s), 0 note(s)" in r.out
    bad = tmp_path / "bad.toml"
    bad.write_text('"Pressure" = 3\n')
    r = cli("lint", "--cld", sketch, "--aliases", bad)
    assert r.code == 2 and "alias 'Pressure' must map to a model variable name" in r.err


@pytest.mark.parametrize("line, fragment", [
    ('alias: "Nobody" = "Work Pressure"', "alias given for 'Nobody', which no link uses"),
    ("alias: A", "write 'alias: DRAWN NAME = Model Variable'"),
    ('alias: A = Work Pressure\nalias: a = Fatigue', "alias for 'A' is given twice"),
])
def test_bad_alias_lines_are_one_line_errors(line, fragment, cli, tmp_path):
    sketch = tmp_path / "s.cld"
    sketch.write_text(f"A -> B : +\n{line}\n")
    r = cli("lint", "--cld", sketch)
    assert r.code == 2 and r.err.count("\n") == 1 and fragment in r.err


def test_two_drawn_names_for_one_model_variable_are_refused(cli, tmp_path):
    sketch = tmp_path / "s.cld"
    sketch.write_text('Backlog -> Work pressure : +\nWork pressure -> Backlog : -\nalias: Backlog = Work Pressure\n')
    r = cli("lint", "--cld", sketch)
    assert r.code == 2 and r.err.count("\n") == 1
    assert "'Backlog' and 'Work pressure' both stand for cx_service's 'Work Pressure'" in r.err
