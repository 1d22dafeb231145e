"""Metrics and classification against baseline, on synthetic trajectories with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from cxsystems.analysis.metrics import (
    CLASSES,
    against_baseline,
    classify_trajectory,
    metric_value,
    scenario_metrics,
    tolerance,
)
from cxsystems.errors import CxError
from cxsystems.model.scenarios import MetricSpec

T = np.arange(0.0, 11.0)  # weeks 0..10
BASE = np.full(11, 100.0)  # tolerance at rtol=0.01 is 1.0


def bumped(*pairs):
    """BASE plus the given (week, delta) offsets."""
    v = BASE.copy()
    for week, delta in pairs:
        v[int(week)] += delta
    return v


# ---- metric_value -------------------------------------------------------------------------------

def test_metric_value_each_kind():
    t = np.array([0.0, 1.0, 3.0])
    v = np.array([2.0, 4.0, 0.0])
    assert metric_value(t, v, "final") == 0.0
    assert metric_value(t, v, "mean") == pytest.approx(2.0)
    assert metric_value(t, v, "max") == 4.0
    assert metric_value(t, v, "min") == 0.0
    # trapezoid: (2+4)/2*1 + (4+0)/2*2 = 3 + 4
    assert metric_value(t, v, "integral") == pytest.approx(7.0)


def test_metric_value_integral_of_constant_rate_is_rate_times_weeks():
    t = np.linspace(0, 52, 105)
    assert metric_value(t, np.full_like(t, 250.0), "integral") == pytest.approx(250.0 * 52)
    assert metric_value([5.0], [3.0], "integral") == 0.0


@pytest.mark.parametrize("how,vals,msg", [
    ("median", [1.0, 2.0], "how = 'median'"),
    ("final", [1.0], "values has 1 points"),
    ("mean", [1.0, float("nan")], "non-finite"),
])
def test_metric_value_rejects_bad_input(how, vals, msg):
    with pytest.raises(CxError, match=msg):
        metric_value([0.0, 1.0], vals, how)


def test_scenario_metrics_names_and_values():
    df = pd.DataFrame({"Backlog": [10.0, 30.0, 20.0], "Profit": [0.0, 5.0, 10.0]},
                      index=pd.Index([0.0, 1.0, 2.0], name="time"))
    specs = [MetricSpec("peak_backlog", "Backlog", "max", "lower"),
             MetricSpec("profit_end", "Profit", "final", "higher"),
             MetricSpec("backlog_weeks", "Backlog", "integral", "lower")]
    out = scenario_metrics(df, specs)
    assert list(out) == ["peak_backlog", "profit_end", "backlog_weeks"]
    assert out == {"peak_backlog": 30.0, "profit_end": 10.0, "backlog_weeks": pytest.approx(45.0)}
    with pytest.raises(CxError, match="'missing'.*'Nope'"):
        scenario_metrics(df, [MetricSpec("missing", "Nope", "final", "lower")])


# ---- classify_trajectory ------------------------------------------------------------------------

def test_each_class_lower_is_better():
    assert classify_trajectory(T, BASE, BASE) == "no change"
    assert classify_trajectory(T, BASE - np.linspace(0, 20, 11), BASE) == "better"
    assert classify_trajectory(T, BASE + np.linspace(0, 20, 11), BASE) == "worse"
    # dips below baseline first (better when lower), ends above
    assert classify_trajectory(T, bumped((2, -10), (9, 5), (10, 5)), BASE) == "better-before-worse"
    assert classify_trajectory(T, bumped((2, 10), (9, -5), (10, -5)), BASE) == "worse-before-better"


def test_higher_is_better_flips_the_sign():
    up_then_down = bumped((2, 10), (10, -5))
    assert classify_trajectory(T, up_then_down, BASE, better="higher") == "better-before-worse"
    assert classify_trajectory(T, up_then_down, BASE, better="lower") == "worse-before-better"
    assert classify_trajectory(T, BASE + 5, BASE, better="higher") == "better"


def test_tolerance_edge_is_strict():
    assert tolerance(BASE) == pytest.approx(1.0)
    # exactly at the tolerance does not count; just above it does
    assert classify_trajectory(T, bumped((5, 1.0)), BASE) == "no change"
    assert classify_trajectory(T, bumped((5, 1.0 + 1e-9)), BASE) == "worse"
    # tolerance scales with max |baseline|, including negative baselines
    neg = -BASE
    assert tolerance(neg, rtol=0.05) == pytest.approx(5.0)
    assert classify_trajectory(T, neg + 4.9, neg, rtol=0.05) == "no change"
    assert classify_trajectory(T, neg + 5.1, neg, rtol=0.05) == "worse"


def test_zero_baseline_uses_tiny_absolute_floor():
    zeros = np.zeros(11)
    assert classify_trajectory(T, zeros, zeros) == "no change"
    assert classify_trajectory(T, zeros + 1e-6, zeros, better="higher") == "better"


def test_final_sign_falls_back_to_last_significant_point():
    # worse at week 3, better at week 6, back inside tolerance at the end: worse-before-better
    v = bumped((3, 4), (6, -4), (10, 0.5))
    assert classify_trajectory(T, v, BASE) == "worse-before-better"
    # a dip in the middle does not change a better/better trajectory
    v = bumped((1, -3), (5, 8), (10, -3))
    assert classify_trajectory(T, v, BASE) == "better"


def test_classify_rejects_bad_input():
    with pytest.raises(CxError, match="better = 'up'"):
        classify_trajectory(T, BASE, BASE, better="up")
    with pytest.raises(CxError, match="baseline_values has 3 points"):
        classify_trajectory(T, BASE, BASE[:3])
    with pytest.raises(CxError, match="values has a non-finite value.*week 4"):
        classify_trajectory(T, bumped((4, math.inf)), BASE)


# ---- against_baseline ---------------------------------------------------------------------------

def test_against_baseline_worse_before_better_numbers():
    # lower is better: +12 at week 3 (worst), crosses over, ends 30 below baseline
    v = BASE + np.array([0, 4, 8, 12, 6, 0.5, -2, -10, -20, -25, -30.0])
    out = against_baseline(T, v, BASE, better="lower")
    assert out["classification"] == "worse-before-better"
    assert out["worst_shortfall"] == pytest.approx(-12.0)
    assert out["worst_shortfall_week"] == 3.0
    assert out["stays_better_from_week"] == 6.0  # week 5 is within tolerance (0.5 < 1)
    assert out["final_advantage"] == pytest.approx(30.0)
    assert out["final_advantage_pct"] == pytest.approx(30.0)  # 30 / 100


def test_against_baseline_better_then_worse_higher_is_better():
    base = np.full(11, 200.0)  # tol = 2
    v = base + np.array([0, 10, 10, 5, 0, -1, -3, -6, -9, -9, -8.0])
    out = against_baseline(T, v, base, better="higher")
    assert out["classification"] == "better-before-worse"
    assert out["worst_shortfall"] == pytest.approx(-9.0)
    assert out["worst_shortfall_week"] == 8.0  # first of the tied minima
    assert math.isnan(out["stays_better_from_week"])
    assert out["final_advantage"] == pytest.approx(-8.0)
    assert out["final_advantage_pct"] == pytest.approx(-4.0)


def test_against_baseline_never_worse_and_no_change():
    out = against_baseline(T, BASE - 5, BASE)
    assert out["worst_shortfall"] == 0.0 and math.isnan(out["worst_shortfall_week"])
    assert out["stays_better_from_week"] == 0.0
    assert out["classification"] == "better"
    same = against_baseline(T, BASE + 0.5, BASE)  # inside tolerance throughout
    assert same["classification"] == "no change"
    assert same["worst_shortfall"] == 0.0 and math.isnan(same["stays_better_from_week"])
    assert same["final_advantage"] == pytest.approx(-0.5)
    assert set(CLASSES) >= {out["classification"], same["classification"]}


def test_against_baseline_pct_nan_when_baseline_ends_at_zero():
    base = np.linspace(10, 0, 11)
    out = against_baseline(T, base + 1, base, better="higher")
    assert out["final_advantage"] == pytest.approx(1.0)
    assert math.isnan(out["final_advantage_pct"])
