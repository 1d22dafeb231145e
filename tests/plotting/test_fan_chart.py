"""Fan charts stay readable when a few extreme worlds stretch the axis: a log y-axis then, and the
title says so."""

from __future__ import annotations

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.plotting.charts import LOG_SPREAD, log_scale_needed

Q = [0.05, 0.25, 0.5, 0.75, 0.95]


def bands(median, top, low=1.0):
    """(scenario=1, quantile=5, time=3) with the given median and 95th percentile."""
    return np.array([[[low] * 3, [low] * 3, [median] * 3, [median] * 3, [top] * 3]])


@pytest.mark.parametrize("median, top, low, expected", [
    (10.0, 10.0 * LOG_SPREAD * 1.01, 1.0, True),    # the tail reaches far beyond the medians
    (10.0, 10.0 * LOG_SPREAD * 0.99, 1.0, False),   # a narrow spread stays linear
    (10.0, 1000.0, 0.0, False),                     # zero cannot go on a log axis
    (10.0, 1000.0, -5.0, False),                    # nor a loss
])
def test_when_the_axis_turns_logarithmic(median, top, low, expected):
    assert log_scale_needed(bands(median, top, low), Q) is expected


def test_cx_service_fan_charts(cx_service):
    """Without collapsed worlds (the model's balancing responses) the bands stay within a few times
    the medians: a linear axis on which the median is not squeezed against the bottom."""
    res = cx.ensemble(cx_service, n=300, seed=0)
    backlog = res.plot("Ticket Backlog")
    assert all(ax.get_yscale() == "linear" for ax in backlog.axes if ax.axison)
    assert "log scale" not in backlog._suptitle.get_text()
    base = res.bands["Ticket Backlog"].sel(scenario="baseline")
    lo, hi = backlog.axes[0].get_ylim()
    peak = float(base.sel(quantile=0.5).max())
    assert (peak - lo) / (hi - lo) > 0.3
    profit = res.plot("Cumulative Profit")
    assert all(ax.get_yscale() == "linear" for ax in profit.axes if ax.axison)
