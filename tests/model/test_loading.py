"""Loading: bundled names and paths, metadata, one-line errors, screening of untrusted text."""

from __future__ import annotations

import pytest

import cxsystems as cx


def test_bundled_models_and_metadata(cx_service):
    assert {"cx_service", "capability_trap"} <= set(cx.bundled_model_names())
    m = cx_service
    assert m.final_time == 156 and m.time_step == 0.125 and m.saveper == 1
    p = m.parameters["Reference First Contact Resolution"]
    assert (p.value, p.units, p.min, p.max) == (0.7, "Dmnl", 0.4, 0.9) and "SQM" in p.comment
    assert {"Customers", "Ticket Backlog", "Problem Sources", "New Agents", "Experienced Agents",
            "Prevention Capability", "Data Integration", "KPI Alignment", "Cumulative Profit"} <= set(m.stocks)
    table = m.parameters_table()
    assert list(table.columns) == ["name", "value", "units", "min", "max", "comment"] and len(table) == len(m.parameters)


@pytest.mark.parametrize("arg, fragment", [
    ("cx_servise", "unknown model 'cx_servise'"),
    ("nowhere/model.mdl", "model file not found"),
])
def test_bad_model_names(arg, fragment):
    with pytest.raises(cx.CxError) as err:
        cx.load_model(arg)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_unknown_names_suggest_close_ones(cx_service):
    m = cx_service
    with pytest.raises(cx.CxError, match="closest: 'Ticket Backlog'"):
        m.variable("Ticket Backlogg")


def _mdl(tmp_path, body):
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\n" + body + "\nFINAL TIME = 10 ~ Week ~ |\nINITIAL TIME = 0 ~ Week ~ |\n"
                    "SAVEPER = 1 ~ Week ~ |\nTIME STEP = 1 ~ Week ~ |\n")
    return path


@pytest.mark.parametrize("body, fragment", [
    ("f( [(0,0)-(__import__('os').system('touch MARKER'),1)],(0,0),(1,1))\n~ Dmnl ~ |\nx = f(Time) ~ Dmnl ~ |",
     "refused lookup range"),
    ('x = 1\n~ Dmnl ~ """ + open("MARKER","w") + """ |', "refused triple quote"),
    ('x = "os.system"(1) ~ Dmnl ~ |', "refused quoted name"),
])
def test_hostile_text_is_refused_before_pysd_sees_it(tmp_path, body, fragment):
    path = _mdl(tmp_path, body)
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert fragment in str(err.value) and f"{path}:" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mdl"]  # nothing written, no marker


def test_translation_writes_nothing_beside_the_model(tmp_path):
    path = _mdl(tmp_path, "x = 2 ~ Dmnl [0,5] ~ a constant |\ny = INTEG(x, 0) ~ Dmnl ~ a stock |")
    m = cx.load_model(path)
    assert m.stocks == ["y"] and m.parameters["x"].value == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mdl"]
    assert cx.simulate(m)["y"].iloc[-1] == 20


def test_broken_model_gives_one_line_error(tmp_path):
    path = _mdl(tmp_path, "x = = 2 ~ Dmnl ~ |")
    with pytest.raises(cx.CxError) as err:
        cx.load_model(path)
    assert str(err.value).startswith(f"{path}: cannot translate model") and "\n" not in str(err.value)


def _control_model(tmp_path, control: str, name: str = "c.mdl"):
    path = tmp_path / name
    path.write_text("{UTF-8}\nx = INTEG(1, 0) ~ Dmnl ~ |\nk = 2 ~ Dmnl ~ |\n" + control, encoding="utf-8")
    return path


def test_control_variables_spelled_with_underscores_and_defined_by_arithmetic(tmp_path):
    """``FINAL_TIME`` is FINAL TIME; ``SAVEPER = 2 * TIME STEP`` saves every second step (it was
    silently replaced by TIME STEP); a constant may feed a control variable."""
    path = _control_model(tmp_path, "FINAL_TIME = 3 * k ~ Week ~ |\nINITIAL_TIME = 0 ~ Week ~ |\n"
                                    "SAVEPER = 2 * TIME_STEP ~ Week ~ |\nTIME STEP = 0.5 ~ Week ~ |\n")
    model = cx.load_model(path)
    assert (model.initial_time, model.final_time, model.time_step, model.saveper) == (0.0, 6.0, 0.5, 1.0)
    for engine in ("numpy", "pysd"):
        run = cx.simulate(model, engine=engine)
        assert run.index.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], engine
        assert run["x"].iloc[-1] == pytest.approx(6.0)


# (control variables that change in time load and run: tests/engine/test_dynamic_controls.py)
@pytest.mark.parametrize("control, message", [
    ("FINAL TIME = 10 ~ Week ~ |\nINITIAL TIME = 0 ~ Week ~ |\nSAVEPER = 2 * SAVEPER ~ Week ~ |\n"
     "TIME STEP = 1 ~ Week ~ |\n", "SAVEPER is defined through itself"),
    ("INITIAL TIME = 0 ~ Week ~ |\nSAVEPER = 1 ~ Week ~ |\nTIME STEP = 1 ~ Week ~ |\n",
     "FINAL TIME is missing (spelled 'FINAL TIME' or 'FINAL_TIME')"),
])
def test_control_variables_that_cannot_fix_the_time_grid_are_refused(tmp_path, control, message):
    with pytest.raises(cx.CxError) as err:
        cx.load_model(_control_model(tmp_path, control))
    assert message in str(err.value) and "\n" not in str(err.value)
