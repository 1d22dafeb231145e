"""A model whose clock runs in months (or minutes) is described in months everywhere people read
time: chart axes, phases, the report and the workshop. The unit is the one the file writes on its
time settings; an unstated unit reads "time unit"."""

from __future__ import annotations

import re

import pytest

import cxsystems as cx
from cxsystems.text import time_words

MONTHLY = """{UTF-8}
Backlog = INTEG(Arrivals - Completions, 100) ~ orders ~ |
Arrivals = 50 ~ orders/Month ~ |
Completions = Backlog / Processing Time ~ orders/Month ~ |
Processing Time = 2 ~ Month ~ |
INITIAL TIME = 0 ~ Month ~ |
FINAL TIME = 24 ~ Month ~ |
TIME STEP = 0.25 ~ Month [0,?] ~ |
SAVEPER = 1 ~ Month ~ |
"""

SCENARIOS = """
title = "Order backlog"
[analysis]
baseline = "baseline"
classify = "Backlog"
[scenarios.baseline]
label = "As is"
[scenarios.faster]
label = "Faster processing"
[scenarios.faster.set]
"Processing Time" = { value = 1.5, from_week = 6 }
[[outcomes]]
variable = "Backlog"
better = "lower"
label = "Order backlog"
"""


@pytest.mark.parametrize("unit, words", [
    ("Week", ("week", "weeks")), ("Month", ("month", "months")), ("Minutes", ("minute", "minutes")),
    ("days", ("day", "days")), ("Hours", ("hour", "hours")), ("", ("time unit", "time units")),
    ("1/Month", ("time unit", "time units")), ("Year", ("year", "years")),
])
def test_time_words(unit, words):
    assert time_words(unit) == words


@pytest.fixture()
def monthly(tmp_path):
    (tmp_path / "orders.mdl").write_text(MONTHLY, encoding="utf-8")
    (tmp_path / "orders.scenarios.toml").write_text(SCENARIOS, encoding="utf-8")
    return cx.load_model(tmp_path / "orders.mdl")


def test_the_model_says_its_clock_runs_in_months(monthly):
    assert monthly.time_unit == "Month"
    assert cx.load_model("cx_service").time_unit == "Week"


def test_phases_charts_and_report_speak_months(monthly, tmp_path):
    from cxsystems.analysis.compare import describe_row
    from cxsystems.pages.report import build_report

    cmp = cx.compare(monthly)
    assert cmp.time_words == ("month", "months")
    line = describe_row(cmp, "faster")
    # Faster processing from month 6 lowers the backlog from then on: one better phase, in months.
    assert re.search(r"better months 7-24", line), line
    assert "week" not in line
    assert "months 7-24" in cmp.summary.loc["faster", "phases"]
    fig = cmp.plot()
    assert {ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()} == {"Month"}
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "Policy start (month 6)" in labels
    text = " ".join(re.sub(r"<[^>]+>", " ", build_report(monthly, n_runs=20, seed=1)).split())
    assert "simulated from 0 to 24 months (time step 0.25 months)" in text
    assert "month by month" in text and not re.search(r"\bweeks?\b", text)


def test_the_workshop_speaks_months(monthly):
    from cxsystems.pages.workshop import workshop_spec

    spec = workshop_spec(monthly)
    assert spec["time_words"] == ["month", "months"]
