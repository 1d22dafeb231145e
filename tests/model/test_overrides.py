"""New base values for a model's parameters (cxsystems.model.overrides) and calibration files
(cxsystems.model.calibration_file), on a tiny model whose numbers can be worked out by hand."""

import os

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.analysis.compare import compare
from cxsystems.analysis.ensemble import ensemble
from cxsystems.analysis.explore import explore
from cxsystems.errors import CxError
from cxsystems.model.calibration_file import read_calibration
from cxsystems.model.overrides import (
    assignments,
    parse_assignment,
    read_params_file,
    resolve_values,
    with_values,
)

# Stock grows by Rate * Scale per week from 0: at week 10 it is 10 * Rate * Scale (Euler, dt 1).
TINY_MODEL = """{UTF-8}
Stock= INTEG (
\tInflow,
\t\t0)
\t~\twidgets
\t~\tThe stock.
\t|

Inflow=
\tRate * Scale
\t~\twidgets/Week
\t~\tThe inflow.
\t|

Rate=
\t2
\t~\twidgets/Week [0,10]
\t~\tWidgets a week.
\t|

Scale=
\t1
\t~\tDmnl [0.5,3]
\t~\tA multiplier.
\t|

Cost=
\tStock * Unit Cost
\t~\tdollars
\t~\tWhat the stock costs.
\t|

Unit Cost=
\t1
\t~\tdollars/widget [0.5,2]
\t~\tPrice of a widget.
\t|

********************************************************
\t.Control
********************************************************~
\t\tSimulation Control Parameters
\t|

FINAL TIME  = 10
\t~\tWeek
\t~\tThe final time.
\t|

INITIAL TIME  = 0
\t~\tWeek
\t~\tThe initial time.
\t|

SAVEPER  = 1
\t~\tWeek [0,?]
\t~\tThe frequency with which output is stored.
\t|

TIME STEP  = 1
\t~\tWeek [0,?]
\t~\tThe time step for the simulation.
\t|
"""

TINY_SCENARIOS = """
[analysis]
baseline = "baseline"
classify = "Stock"
[scenarios.baseline]
label = "As is"
[scenarios.double_rate]
label = "Double rate"
set = { "Rate" = 4 }
[[outcomes]]
variable = "Stock"
better = "lower"
[metrics]
final_stock = { variable = "Stock", how = "final" }
final_cost = { variable = "Cost", how = "final" }
[uncertain]
"Scale" = { dist = "uniform", low = 0.5, high = 3 }
"Unit Cost" = { dist = "uniform", low = 0.5, high = 2 }
"""


def write_tiny(folder):
    (folder / "tiny.mdl").write_text(TINY_MODEL, encoding="utf-8")
    (folder / "tiny.scenarios.toml").write_text(TINY_SCENARIOS, encoding="utf-8")
    return folder / "tiny.mdl"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return cx.load_model(write_tiny(tmp_path_factory.mktemp("tiny")))


def write_calibration(folder, draws=None, sample="posterior.csv", model="tiny", estimates=None):
    """A calibration.toml (and its sample) as cxsystems calibrate writes them."""
    estimates = estimates or {"Scale": 1.5}
    lines = ["[calibration]", f'model = "{model}"', 'data = "history.csv"', 'method = "bayes"', "seed = 0"]
    if sample is not None:
        lines.append(f'sample = "{sample}"')
    lines += ["[estimates]"] + [f'"{k}" = {v}' for k, v in estimates.items()]
    lines += ["[intervals]", '"Scale" = [1.2, 1.8]', "[fit]", '"Stock" = { r2 = 0.9, mape = 0.05 }']
    (folder / "calibration.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if draws is not None:
        pd.DataFrame(draws).to_csv(folder / "posterior.csv", index=False)
    return folder / "calibration.toml"


def final(df, var="Stock"):
    return float(df[var].iloc[-1])


# ------------------------------------------------------------------------------ resolve_values


def test_resolve_values_matches_names_and_checks_ranges(tiny):
    assert resolve_values(tiny, {"rate": 3, " scale ": "2.5"}) == {"Rate": 3.0, "Scale": 2.5}
    with pytest.raises(CxError, match=r"^--set: unknown parameter 'Rat' in model tiny; closest: 'Rate'"):
        resolve_values(tiny, {"Rat": 3}, "--set")
    with pytest.raises(CxError, match=r"^f.toml: 'Rate' = 11 is outside its range \[0, 10\]"):
        resolve_values(tiny, {"Rate": 11}, "f.toml")
    with pytest.raises(CxError, match="must be a number"):
        resolve_values(tiny, {"Rate": True})
    with pytest.raises(CxError, match="given twice"):
        resolve_values(tiny, {"Rate": 1, "rate": 2})


def test_with_values_is_a_copy_the_engines_honour(tiny):
    mine = with_values(tiny, {"Rate": 3})
    assert tiny.parameters["Rate"].value == 2 and tiny.overrides == {}
    assert mine.parameters["Rate"].value == 3 and mine.overrides == {"Rate": 3.0}
    assert final(cx.simulate(tiny)) == pytest.approx(20.0)
    assert final(cx.simulate(mine)) == pytest.approx(30.0)  # 10 weeks x 3 x 1
    assert final(cx.simulate(mine, engine="pysd-fast")) == pytest.approx(30.0)
    # layered: the copy's own overrides stay, a later value wins
    both = with_values(mine, {"Scale": 2})
    assert both.overrides == {"Rate": 3.0, "Scale": 2.0}
    assert final(cx.simulate(both)) == pytest.approx(60.0)
    assert final(cx.simulate(tiny)) == pytest.approx(20.0)  # the original still runs as written
    assert with_values(tiny, {}) is tiny


def test_a_scenarios_own_change_wins_over_the_base_value(tiny):
    mine = with_values(tiny, {"Rate": 3, "Scale": 2})
    # double_rate sets Rate = 4; Scale = 2 stays: 10 x 4 x 2
    assert final(cx.simulate(mine, "double_rate")) == pytest.approx(80.0)
    assert final(cx.simulate(tiny, "double_rate", params={"Rate": 3, "Scale": 2})) == pytest.approx(80.0)
    cmp = compare(tiny, params={"Rate": 3, "Scale": 2})
    assert cmp.wide("Stock").iloc[-1].to_dict() == pytest.approx({"baseline": 60.0, "double_rate": 80.0})


def test_explore_starts_from_the_base_values(tiny):
    ex = explore(tiny, {"Scale": 3}, params={"Rate": 1})
    assert final(ex.baseline_run) == pytest.approx(10.0)
    assert final(ex.run) == pytest.approx(30.0)


def test_workshop_page_carries_the_new_base_value(tiny, tmp_path):
    from cxsystems.pages.workshop import write_workshop

    text = write_workshop(tiny, tmp_path / "w.html", params={"Scale": 2.5}).read_text(encoding="utf-8")
    plain = write_workshop(tiny, tmp_path / "p.html").read_text(encoding="utf-8")
    assert 'name: "Scale", slot: ' in text
    pick = lambda t: t.split('name: "Scale", slot: ', 1)[1].split("}", 1)[0]  # noqa: E731
    assert pick(text).startswith(pick(plain).split(",")[0])  # the same slot
    assert ", value: 2.5," in pick(text) and ", value: 1.0," in pick(plain)


# ------------------------------------------------------------------------------ --set and --params


def test_parse_assignment_and_repeated_sets(tiny):
    assert parse_assignment("Hiring Delay = 7.5") == ("Hiring Delay", "7.5")
    with pytest.raises(CxError, match=r"^--set 'Rate': write NAME=VALUE"):
        parse_assignment("Rate")
    assert assignments(tiny, ["Rate=3", "rate=4", "Scale=2"]) == {"Rate": 4.0, "Scale": 2.0}
    with pytest.raises(CxError, match=r"^--set 'Rate=x': 'Rate' must be a number, got 'x'"):
        assignments(tiny, ["Rate=x"])


def test_params_files_toml_and_csv(tiny, tmp_path):
    (tmp_path / "p.toml").write_text('Rate = 3\n"unit cost" = 1.5\n', encoding="utf-8")
    assert read_params_file(tmp_path / "p.toml", tiny) == {"Rate": 3.0, "Unit Cost": 1.5}
    (tmp_path / "p.csv").write_text("\ufeffName,Value,units\nRate,3,widgets/Week\nScale,2,\n", encoding="utf-8")
    assert read_params_file(tmp_path / "p.csv", tiny) == {"Rate": 3.0, "Scale": 2.0}
    (tmp_path / "bad.csv").write_text("name,value\nRate,3\nScale,9\n", encoding="utf-8")
    with pytest.raises(CxError, match=r"bad.csv row 3: 'Scale' = 9 is outside its range \[0.5, 3\]"):
        read_params_file(tmp_path / "bad.csv", tiny)
    (tmp_path / "twice.csv").write_text("name,value\nRate,3\nrate,4\n", encoding="utf-8")
    with pytest.raises(CxError, match=r"twice.csv row 3: 'Rate' is given twice \(rows 2 and 3\)"):
        read_params_file(tmp_path / "twice.csv", tiny)
    (tmp_path / "head.csv").write_text("parameter,value\nRate,3\n", encoding="utf-8")
    with pytest.raises(CxError, match="row 1: the header must start with name,value"):
        read_params_file(tmp_path / "head.csv", tiny)
    (tmp_path / "t.toml").write_text("[params]\nRate = 3\n", encoding="utf-8")
    with pytest.raises(CxError, match="'params' must be a number"):
        read_params_file(tmp_path / "t.toml", tiny)
    with pytest.raises(CxError, match="give a .toml file"):
        read_params_file(tmp_path / "p.txt", tiny)
    with pytest.raises(CxError, match="no such file"):
        read_params_file(tmp_path / "none.csv", tiny)


# ------------------------------------------------------------------------------ calibration files


def test_read_calibration_checks_against_the_model(tiny, tmp_path):
    path = write_calibration(tmp_path, {"scale": [1.2, 1.4, 1.9]})
    cal = read_calibration(path, tiny)
    assert (cal.model, cal.data, cal.method, cal.seed) == ("tiny", "history.csv", "bayes", 0)
    assert cal.estimates == {"Scale": 1.5} and cal.intervals == {"Scale": (1.2, 1.8)}
    assert cal.fit == {"Stock": {"r2": 0.9, "mape": 0.05}}
    assert list(cal.sample.columns) == ["Scale"] and cal.sample["Scale"].tolist() == [1.2, 1.4, 1.9]
    # estimates and sample values out of range, another model, no sample column: one line each
    write_calibration(tmp_path, {"Scale": [1.2, 5.0]})
    with pytest.raises(CxError, match=r"sample row 3: 'Scale' = 5 is outside its range"):
        read_calibration(path, tiny)
    write_calibration(tmp_path, {"Scale": [1.2]}, estimates={"Scale": 7})
    with pytest.raises(CxError, match=r"\[estimates\]: 'Scale' = 7 is outside its range"):
        read_calibration(path, tiny)
    write_calibration(tmp_path, {"Scale": [1.2]}, model="cx_service")
    with pytest.raises(CxError, match="fitted to model 'cx_service', not 'tiny'"):
        read_calibration(path, tiny)
    write_calibration(tmp_path, {"Rate": [1.2]})
    with pytest.raises(CxError, match="no column for the fitted parameter 'Scale'"):
        read_calibration(path, tiny)


@pytest.mark.parametrize("sample", ["../posterior.csv", "/etc/passwd", "sub/../../posterior.csv"])
def test_sample_must_stay_in_the_calibrations_folder(tiny, tmp_path, sample):
    inner = tmp_path / "cal"
    inner.mkdir()
    pd.DataFrame({"Scale": [1.0]}).to_csv(tmp_path / "posterior.csv", index=False)
    path = write_calibration(inner, None, sample=sample)
    with pytest.raises(CxError, match=r"sample .*must be a file in the calibration's own folder") as exc:
        read_calibration(path, tiny)
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_sample_symlink_out_of_the_folder_is_refused(tiny, tmp_path):
    inner = tmp_path / "cal"
    inner.mkdir()
    pd.DataFrame({"Scale": [1.0]}).to_csv(tmp_path / "outside.csv", index=False)
    (inner / "posterior.csv").symlink_to(tmp_path / "outside.csv")
    path = write_calibration(inner, None)
    with pytest.raises(CxError, match="leads out of the calibration's folder"):
        read_calibration(path, tiny)


# ------------------------------------------------------------------------------ ensembles


def test_fixed_parameters_are_not_sampled(tiny):
    res = ensemble(tiny, n=50, seed=1, params={"Scale": 2})
    assert [u.parameter for u in res.uncertain] == ["Unit Cost"] and set(res.samples) == {"Unit Cost"}
    assert res.fixed == {"Scale": 2.0}
    stock = res.metric("final_stock")
    np.testing.assert_allclose(stock["baseline"], 40.0)  # 10 x 2 x 2 in every world
    np.testing.assert_allclose(stock["double_rate"], 80.0)  # the scenario's Rate = 4 still wins
    with pytest.raises(CxError, match="every uncertain parameter of model 'tiny' is fixed"):
        ensemble(tiny, n=5, params={"Scale": 2, "Unit Cost": 1})


def test_calibration_sample_drives_the_ensemble(tiny, tmp_path):
    draws = [0.6, 1.1, 1.7, 2.9]
    path = write_calibration(tmp_path, {"Scale": draws})
    res = ensemble(tiny, n=10, seed=3, calibration=path)
    assert res.calibrated == ("Scale",) and "calibration.toml" in res.calibration
    assert [u.parameter for u in res.uncertain] == ["Unit Cost"]  # still by Latin hypercube
    scale = res.samples["Scale"]
    assert set(scale) <= set(draws) and set(scale) == set(draws)  # exactly rows, each used
    assert sorted(np.unique(scale, return_counts=True)[1]) == [2, 2, 3, 3]  # as evenly as possible
    np.testing.assert_allclose(res.metric("final_stock")["baseline"], 20.0 * scale)  # 10 x 2 x Scale
    np.testing.assert_allclose(ensemble(tiny, n=10, seed=3, calibration=path).samples["Scale"], scale)
    assert not np.array_equal(ensemble(tiny, n=10, seed=4, calibration=path).samples["Scale"], scale)
    assert "drawn from the calibration" in res.worlds
    # a parameter fixed by params is not drawn from the calibration either
    fixed = ensemble(tiny, n=10, seed=3, calibration=path, params={"Scale": 2})
    assert fixed.calibrated == () and "Scale" not in fixed.samples
    np.testing.assert_allclose(fixed.metric("final_stock")["baseline"], 40.0)


def test_calibration_without_sample_cannot_drive_an_ensemble(tiny, tmp_path):
    path = write_calibration(tmp_path, None, sample=None)
    assert read_calibration(path, tiny).sample is None
    with pytest.raises(CxError, match="no sample of the fitted parameters"):
        ensemble(tiny, n=5, calibration=path)
