"""Scenario files: parsing, validation against the model, and how changes apply over time."""

from __future__ import annotations

import shutil

import pytest

import cxsystems as cx
from cxsystems.model.scenarios import Change, load_scenarios


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


def _write(tmp_path, body: str):
    path = tmp_path / "s.scenarios.toml"
    path.write_text(body)
    return path


def test_bundled_scenarios_parse_with_changes(model):
    hire = model.scenarios["reactive_hiring"]
    assert hire.changes == (Change("Extra Headcount Fraction", 0.2, 16.0),)
    assert hire.start_week == 16.0
    assert model.scenarios["baseline"].changes == ()
    assert model.analysis.baseline == "baseline" and model.analysis.classify == "Ticket Backlog"
    assert {m.name for m in model.analysis.metrics} >= {"total_contacts", "mean_wait", "peak_wait",
                                                        "final_churn_rate", "customers_end",
                                                        "total_cost_to_serve", "cumulative_profit"}


def test_unknown_parameter_is_refused_with_closest_names(model, tmp_path):
    path = _write(tmp_path, '[scenarios.x]\ndescription = "d"\n[scenarios.x.set]\n"Extra Headcount" = 0.2\n')
    with pytest.raises(cx.CxError) as err:
        load_scenarios(path, model)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "[scenarios.x.set]" in msg
    assert "'Extra Headcount'" in msg and "'Extra Headcount Fraction'" in msg


def test_value_outside_declared_range_is_refused(model, tmp_path):
    path = _write(tmp_path, '[scenarios.x]\n[scenarios.x.set]\n"Prevention Incentive" = { value = 1.5, from_week = 16 }\n')
    with pytest.raises(cx.CxError, match=r"'Prevention Incentive' = 1.5 is outside its range \[0, 1\]"):
        load_scenarios(path, model)


@pytest.mark.parametrize("body, fragment", [
    ('[scenarios.x]\ncolour = "red"\n', "unknown key(s) ['colour']"),
    ('[scenarios.x.set]\n"Prevention Incentive" = { value = 1, from = 3 }\n', "unknown key(s) ['from']"),
    ('[scenarios.x.set]\n"Prevention Incentive" = { value = 1, from_week = 400 }\n', "outside the run"),
    ('[scenarios.x.set]\n"Prevention Incentive" = "high"\n', "must be a number"),
    ('[scenario.x]\n', "unknown table(s) ['scenario']"),
    ('[scenarios.x\n', "invalid TOML"),
])
def test_malformed_files_give_one_line_errors(model, tmp_path, body, fragment):
    path = _write(tmp_path, body)
    with pytest.raises(cx.CxError) as err:
        load_scenarios(path, model)
    assert fragment in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)


def test_step_change_applies_from_its_week(model):
    df = cx.simulate(model, "reactive_fast_close", variables=["Handle Time Target Multiplier"])
    s = df["Handle Time Target Multiplier"]
    assert (s[s.index < 16] == 1.0).all() and (s[s.index >= 16] == 0.8).all()


def test_constant_change_and_params_override(model):
    df = cx.simulate(model, "baseline", params={"Prevention Incentive": 1}, variables=["Prevention Incentive"])
    assert (df["Prevention Incentive"] == 1.0).all()
    with pytest.raises(cx.CxError, match="outside its range"):
        cx.simulate(model, "baseline", params={"Prevention Incentive": 2})
    with pytest.raises(cx.CxError, match="unknown scenario 'reactive_hire'.*did you mean reactive_hiring"):
        cx.simulate(model, "reactive_hire")


def test_user_model_reads_scenarios_beside_it(tmp_path):
    src = cx.model.loader.bundled_models_dir()
    shutil.copy(src / "cx_service.mdl", tmp_path / "mine.mdl")
    (tmp_path / "mine.scenarios.toml").write_text(
        '[scenarios.baseline]\n[scenarios.more_agents]\ndescription = "x"\n'
        '[scenarios.more_agents.set]\n"Extra Headcount Fraction" = { value = 0.1, from_week = 10 }\n')
    m = cx.load_model(tmp_path / "mine.mdl")
    assert list(m.scenarios) == ["baseline", "more_agents"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.mdl", "mine.scenarios.toml"]
