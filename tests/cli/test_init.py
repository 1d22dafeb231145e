"""``cxsystems init``: a user's own model works with every command in one step."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pytest

import cxsystems as cx

#: A model as users bring them: constants without declared ranges (one with a half-open one), two
#: stocks, a lookup; no scenario file.
OWN = """{UTF-8}
Backlog = INTEG(Arrivals - Completions, 100)
	~	Tasks
	~	|
Staff = INTEG(Hiring, 10)
	~	People
	~	|
Arrivals = 50
	~	Tasks/Week
	~	|
Productivity = 4
	~	Tasks/(People*Week) [0,?]
	~	|
Completions = MIN(Backlog, Staff * Productivity * Effect of Backlog(Backlog / 100))
	~	Tasks/Week
	~	|
Effect of Backlog(
	(0,0.8),(1,1),(3,1.3))
	~	Dmnl
	~	|
Hiring = (Backlog / 100 - 1) * 0.5
	~	People/Week
	~	|
FINAL TIME = 52 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 0.25 ~ Week ~ |
"""


@pytest.fixture
def own(tmp_path):
    folder = tmp_path / "my models"
    folder.mkdir()
    path = folder / "ops.mdl"
    path.write_text(OWN, encoding="utf-8")
    return path


def test_without_a_scenario_file_commands_say_to_run_init(own, cli, tmp_path):
    r = cli("workshop", "--model", own, "--out", tmp_path / "w.html")
    assert r.code == 2 and f"`cxsystems init --model {own}` writes a starter one" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_init_then_every_command_works(own, cli, tmp_path):
    r = cli("init", "--model", own)
    assert r.code == 0, r.err
    assert "2 scenarios, 2 outcomes, 2 uncertain parameters" in r.out
    spec = tomllib.loads(own.with_name("ops.scenarios.toml").read_text(encoding="utf-8"))
    assert [o["variable"] for o in spec["outcomes"]] == ["Backlog", "Staff"]
    # the example policy moves the first unranged constant to +25%; the uncertain ranges straddle it
    assert spec["scenarios"]["example_policy"]["set"] == {"Arrivals": {"value": 62.5, "from_week": 5.2}}
    assert spec["uncertain"]["Productivity"]["low"] < 4 < spec["uncertain"]["Productivity"]["high"]
    views = tomllib.loads(own.with_name("ops.views.toml").read_text(encoding="utf-8"))
    assert {"Backlog", "Staff", "Completions"} <= set(views["view"]["main"]["variables"])
    model = cx.load_model(own)
    assert model.scenarios["example_policy"].changes[0].value == 62.5
    out = tmp_path / "results"
    out.mkdir()
    for args in (("compare", "--out", out / "cmp"), ("robustness", "--n", "40", "--out", out / "rob", "--quiet"),
                 ("workshop", "--out", out / "w.html"), ("report", "--n", "20", "--out", out / "r.html"),
                 ("cld", "--out", out / "cld.png"), ("loops",)):
        r = cli(*args, "--model", own)
        assert r.code == 0, (args[0], r.err)
    assert (out / "cmp" / "comparison.png").stat().st_size > 10_000
    assert "Backlog" in (out / "r.html").read_text(encoding="utf-8")


def test_init_never_overwrites_without_force(own, cli):
    assert cli("init", "--model", own).code == 0
    scen = own.with_name("ops.scenarios.toml")
    scen.write_text(scen.read_text(encoding="utf-8") + "\n# my edits\n", encoding="utf-8")
    r = cli("init", "--model", own)
    assert r.code == 2 and "never overwrites" in r.err and "--force" in r.err
    assert scen.read_text(encoding="utf-8").endswith("# my edits\n")
    assert cli("init", "--model", own, "--force").code == 0
    assert "# my edits" not in scen.read_text(encoding="utf-8")


def test_declared_ranges_bound_the_guesses(tmp_path, cli):
    path = tmp_path / "ranged.mdl"
    path.write_text(OWN.replace("Arrivals = 50\n\t~\tTasks/Week", "Arrivals = 50\n\t~\tTasks/Week [40,60]"),
                    encoding="utf-8")
    assert cli("init", "--model", path).code == 0
    spec = tomllib.loads(path.with_name("ranged.scenarios.toml").read_text(encoding="utf-8"))
    # a quarter of the way to the farther end of the declared range; uncertain inside it
    assert spec["scenarios"]["example_policy"]["set"]["Arrivals"]["value"] == 52.5
    assert 40 <= spec["uncertain"]["Arrivals"]["low"] < 50 < spec["uncertain"]["Arrivals"]["high"] <= 60


SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE",
                           Path(__file__).resolve().parents[2].parent / "shared" / "peer-models" / "sdxorg-test-models"))
POPULATION = SUITE / "samples" / "Population" / "Subscripted Population Model.mdl"


@pytest.mark.skipif(not POPULATION.is_file(), reason="peer suite not found (../shared or CXSYSTEMS_PEER_SUITE)")
def test_init_on_a_copy_of_a_subscripted_suite_model_then_every_command(tmp_path, cli):
    """A subscripted model from PySD's suite (351 towns, a month clock): init guesses outcomes from the
    first elements of its subscripted stocks, then compare, robustness, workshop, report and loops
    all run on the numpy engine."""
    own = tmp_path / "population.mdl"
    shutil.copy(POPULATION, own)
    r = cli("init", "--model", own)
    assert r.code == 0, r.err
    spec = tomllib.loads(own.with_name("population.scenarios.toml").read_text(encoding="utf-8"))
    assert [o["variable"] for o in spec["outcomes"]] == ["Deaths[Abington]", "Deaths[Acton]",
                                                         "Population[Abington]", "Population[Acton]"]
    assert "from month 2" in spec["scenarios"]["example_policy"]["description"]
    out = tmp_path / "results"
    out.mkdir()
    for args in (("compare", "--out", out / "cmp"), ("robustness", "--n", "30", "--out", out / "rob", "--quiet"),
                 ("workshop", "--out", out / "w.html"), ("report", "--n", "20", "--out", out / "r.html")):
        r = cli(*args, "--model", own)
        assert r.code == 0, (args[0], r.err)
        assert "note:" not in r.err  # no fallback to PySD: the numpy engine runs it
    assert (out / "cmp" / "population_abington.png").stat().st_size > 10_000
    assert "Population[Abington]" in (out / "r.html").read_text(encoding="utf-8")
    r = cli("loops", "--model", own)
    assert r.code == 0 and "702 loop(s): 351 R, 351 B" in r.out  # one loop pair per town
