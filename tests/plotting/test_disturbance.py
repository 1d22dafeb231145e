"""The event every scenario faces (cx_service: the product launch in week 8) is marked on every
chart, in the workshop and in the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from matplotlib.colors import to_hex

import cxsystems as cx
from cxsystems.pages.workshop import render_page, workshop_spec
from cxsystems.plotting.charts import DISTURBANCE_COLOR

ROOT = Path(__file__).resolve().parents[2]


def _marker_lines(fig):
    return [ln for ax in fig.axes for ln in ax.lines
            if to_hex(ln.get_color()) == DISTURBANCE_COLOR and len(ln.get_xdata()) == 2
            and np.allclose(ln.get_xdata(), 8.0)]


def test_cx_service_declares_the_launch(cx_service):
    d = cx_service.analysis.disturbance
    assert (d.week, d.label) == (8.0, "product launch")


def test_every_chart_marks_the_launch(cx_service):
    cmp = cx.compare(cx_service, ["structural_prevention"])
    dash = cmp.plot()
    assert len(_marker_lines(dash)) == len(cmp.outcomes)  # one line in every panel
    labels = [h.get_text() for lg in dash.legends for h in lg.get_texts()]
    labels += [t.get_text() for ax in dash.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "Product launch (week 8)" in labels
    assert any(t.get_text() == "product launch" for ax in dash.axes for t in ax.texts)
    assert len(_marker_lines(cmp.plot("Wait Time"))) == 1
    fan = cx.ensemble(cx_service, ["structural_prevention"], n=40, seed=0).plot("Ticket Backlog")
    assert len(_marker_lines(fan)) == 2  # baseline and prevention panels


def test_a_model_without_one_marks_nothing(capability_trap):
    assert capability_trap.analysis.disturbance is None
    assert _marker_lines(cx.compare(capability_trap).plot()) == []


def test_workshop_and_report_say_what_the_red_line_is(cx_service):
    assert workshop_spec(cx_service)["disturbance"] == {"week": 8.0, "label": "product launch"}
    page = render_page(cx_service)
    assert "red: product launch (week 8)" in page
    from cxsystems.pages.report import comparison_section

    body = comparison_section(cx.compare(cx_service)).body
    assert "the red line marks the product launch (week 8)" in body


@pytest.mark.parametrize("spec, message", [
    ('{ week = 8 }', "give the disturbance a label"),
    ('{ week = 400, label = "x" }', "disturbance week 400 is outside the run [0, 156]"),
    ('{ week = "soon", label = "x" }', "disturbance week must be a number"),
    ('{ week = 8, label = "x", colour = "red" }', "unknown key 'colour' in the disturbance"),
    ('8', "disturbance must be written"),
])
def test_bad_disturbance_is_a_one_line_error(tmp_path, spec, message):
    shutil.copy(ROOT / "models" / "cx_service.mdl", tmp_path / "m.mdl")
    text = (ROOT / "models" / "cx_service.scenarios.toml").read_text()
    text = text.replace('disturbance = { week = 8, label = "product launch" }', f"disturbance = {spec}")
    (tmp_path / "m.scenarios.toml").write_text(text)
    run = run_cli("scenarios", "--model", tmp_path / "m.mdl")
    assert run.code == 2 and message in run.error and "m.scenarios.toml" in run.error
