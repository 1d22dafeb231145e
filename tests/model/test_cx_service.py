"""Reference behaviours of the flagship model (shared/reference/cx-model-facts.md, section 5).

Each test states the behaviour in words and asserts it with numbers measured on the bundled model.
"""

from __future__ import annotations

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.analysis.metrics import classify_trajectory

POLICY_WEEK = 16.0
#: Variables that are signed by nature (profit can be a loss); everything else must stay >= 0.
SIGNED = {"Profit", "Cumulative Profit"}
#: Stocks that accumulate a flow by design: in equilibrium their inflow is constant, not the stock.
ACCUMULATORS = {"Cumulative Profit": "Profit", "Cumulative Cost to Serve": "Cost to Serve"}


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture(scope="module")
def runs(model):
    return {name: cx.simulate(model, name) for name in model.scenarios}


def test_scenarios_are_the_seven_named_policies(model):
    assert list(model.scenarios) == [
        "baseline", "reactive_hiring", "reactive_fast_close", "structural_prevention",
        "structural_data", "structural_kpi", "bridge",
    ]
    assert model.final_time >= 156 and model.units["FINAL TIME"] if "FINAL TIME" in model.units else True


def test_every_constant_has_units_range_and_comment(model):
    for p in model.parameters.values():
        assert p.units, p.name
        assert not np.isnan(p.min) and not np.isnan(p.max), p.name
        assert p.min <= p.value <= p.max, p.name
        assert len(p.comment) > 10, p.name
    for v in model.variables:
        assert model.units[v], v


def test_equilibrium_without_disturbance(model):
    """Disturbance off: every stock stays within 0.1% of its start (it is in fact exact)."""
    df = cx.simulate(model, "baseline", params={"Disturbance Switch": 0})
    for stock in model.stocks:
        if stock in ACCUMULATORS:
            flow = df[ACCUMULATORS[stock]]
            assert np.allclose(flow, flow.iloc[0], rtol=1e-9), stock
            continue
        x = df[stock].to_numpy()
        scale = max(abs(x[0]), 1e-12)
        assert np.max(np.abs(x - x[0])) / scale < 1e-3, stock
        assert np.max(np.abs(x - x[0])) / scale < 1e-9, f"{stock} drifts (not exact)"


def test_reactive_hiring_is_symptomatic(runs):
    """Wait falls within 13 weeks of the start; ticket inflow and problem sources never fall below baseline."""
    base, hire = runs["baseline"], runs["reactive_hiring"]
    window = (base.index > POLICY_WEEK) & (base.index <= POLICY_WEEK + 13)
    assert (hire["Wait Time"][window] < base["Wait Time"][window]).any()
    # measured: at week 29 wait 1.02 weeks vs 1.12 in baseline; with spare agents it ends below the
    # 1-week target (0.87), which the wait-time formula allows (no floor at the target)
    assert hire["Wait Time"].loc[29] < 0.95 * base["Wait Time"].loc[29]
    assert hire["Wait Time"].iloc[-1] < 0.9 * model_target(hire)
    for var in ("New Tickets", "Problem Sources"):
        shortfall = (hire[var] - base[var]).min()
        assert shortfall >= -1e-6 * base[var].abs().max(), (var, shortfall)
    # and the source of the problem is still there at the end: more problem sources than baseline
    assert hire["Problem Sources"].iloc[-1] > 1.2 * base["Problem Sources"].iloc[-1]  # measured: +26%


def model_target(run) -> float:
    """The target resolution time of a run (weeks)."""
    return float(run["Target Resolution Time"].iloc[0])


def test_structural_prevention_is_worse_before_better(runs):
    base, prev, hire = runs["baseline"], runs["structural_prevention"], runs["reactive_hiring"]
    t = base.index.to_numpy()
    assert classify_trajectory(t, prev["Ticket Backlog"], base["Ticket Backlog"], better="lower") == "worse-before-better"
    dip = (prev["Ticket Backlog"] - base["Ticket Backlog"])
    assert dip.max() > 500 and 16 < dip.idxmax() < 40  # measured: +876 tickets at week 20
    # ends with ticket inflow at least 20% below baseline (measured: 33% below)
    assert prev["New Tickets"].iloc[-1] <= 0.8 * base["New Tickets"].iloc[-1]
    # churn and cumulative profit better than both baseline and reactive hiring (measured: churn
    # 20.4% a year vs 22.5% and 22.6%; profit $82.2M vs $76.5M and $67.6M)
    for other in (base, hire):
        assert prev["Annual Churn Rate"].iloc[-1] < other["Annual Churn Rate"].iloc[-1] - 0.01
        assert prev["Cumulative Profit"].iloc[-1] > other["Cumulative Profit"].iloc[-1] * 1.05


def test_fast_closing_is_better_before_worse_on_ticket_volume(runs):
    base, fast = runs["baseline"], runs["reactive_fast_close"]
    t = base.index.to_numpy()
    assert classify_trajectory(t, fast["Contact Volume"], base["Contact Volume"], better="lower") == "better-before-worse"
    # throughput rises at once: the backlog falls below baseline within 4 weeks of the push
    assert fast["Ticket Backlog"].loc[20] < 0.9 * base["Ticket Backlog"].loc[20]
    # FCR falls, repeat contacts return (measured: +24% at the end) and ticket volume ends above
    # where it would have been (measured: +0.5%; lower waits spare it chasers and retries)
    assert fast["First Contact Resolution"].loc[20] < base["First Contact Resolution"].loc[20] - 0.03
    assert fast["Repeat Contacts"].iloc[-1] > 1.15 * base["Repeat Contacts"].iloc[-1]
    assert fast["Contact Volume"].iloc[-1] > base["Contact Volume"].iloc[-1]


def test_bridge_has_a_shallower_dip_than_prevention_alone(runs):
    base = runs["baseline"]["Ticket Backlog"]
    dip_prev = (runs["structural_prevention"]["Ticket Backlog"] - base).max()
    dip_bridge = (runs["bridge"]["Ticket Backlog"] - base).max()
    assert dip_bridge < 0.5 * dip_prev
    assert runs["bridge"]["New Tickets"].iloc[-1] < 0.9 * runs["baseline"]["New Tickets"].iloc[-1]


@pytest.mark.parametrize("params", [{"Agent Availability": 0}, {"Initial Customers": 0}])
def test_extreme_conditions_stay_finite_and_non_negative(model, params):
    df = cx.simulate(model, "baseline", params=params)
    assert np.isfinite(df.to_numpy()).all()
    unsigned = df[[c for c in df.columns if c not in SIGNED]]
    assert (unsigned.to_numpy() >= -1e-9).all(), unsigned.columns[(unsigned < -1e-9).any()].tolist()
    if params.get("Agent Availability") == 0:
        # nothing is resolved; customers give up on their tickets or never contact, and leave
        # (measured: backlog peaks near 75,000 then falls; 5% of customers remain)
        assert df["Resolutions"].abs().max() == 0.0
        assert df["Ticket Backlog"].max() > 3 * df["Ticket Backlog"].iloc[0]
        assert df["Customers"].iloc[-1] < 0.1 * df["Customers"].iloc[0]
    else:
        assert df["New Tickets"].abs().max() == 0.0 and df["Contact Volume"].abs().max() == 0.0


def test_no_agents_and_no_balancing_responses_backlog_grows_without_bound(model):
    """With abandonment and balking switched off, nothing drains the queue: it only grows."""
    df = cx.simulate(model, "baseline", params={"Agent Availability": 0, "Maximum Abandonment Rate": 0,
                                                "Maximum Balking Fraction": 0})
    backlog = df["Ticket Backlog"].to_numpy()
    assert np.isfinite(backlog).all() and np.all(np.diff(backlog) >= 0)
    assert backlog[-1] > 50 * backlog[0]  # measured: 100 times


OFF = {"Maximum Abandonment Rate": 0, "Maximum Balking Fraction": 0, "Maximum Overtime Fraction": 0}


def test_balancing_responses_hold_the_service_in_a_harsh_world(model):
    """A launch twice the size (inside the sampled range): abandonment, balking and overtime keep the
    peak wait near the target; without them the service collapses and the run makes a loss."""
    harsh = {"Launch Problem Sources": 40}
    with_ = cx.simulate(model, "baseline", params=harsh)
    without = cx.simulate(model, "baseline", params={**harsh, **OFF})
    assert with_["Wait Time"].max() < 2  # measured: 1.19 weeks
    assert without["Wait Time"].max() > 8  # measured: 13.7 weeks
    assert with_["Cumulative Profit"].iloc[-1] > without["Cumulative Profit"].iloc[-1] + 50e6  # $73.8M vs -$0.1M


def test_overtime_is_used_under_pressure_at_a_price(model, runs):
    """Overtime rises with the post-launch pressure, adds strain and is paid at a premium."""
    base = runs["baseline"]
    assert base["Overtime Fraction"].iloc[0] == 0.0
    assert 0.03 < base["Overtime Fraction"].max() <= 0.2  # measured: 0.063
    peak = base["Overtime Fraction"].idxmax()
    assert base["Overtime Cost"].loc[peak] > 0
    no_ot = cx.simulate(model, "baseline", params={"Maximum Overtime Fraction": 0})
    assert base["Wait Time"].max() < no_ot["Wait Time"].max()  # the extra hours shorten the worst wait
    free = cx.simulate(model, "baseline", params={"Overtime Fatigue Sensitivity": 0})
    assert base["Fatigue"].max() > free["Fatigue"].max() + 0.01  # and add strain (measured: 1.32 vs 1.29)


def test_time_to_resolution_counts_repeat_contacts(model, runs):
    """What customers live through: the wait, plus the repeat contacts when the first closure did not
    fix it (3.14 weeks at the start: 1 / 0.7 + (1 / 0.7 - 1) x 4)."""
    base = runs["baseline"]
    assert base["Time to Resolution"].iloc[0] == pytest.approx(1 / 0.7 + (1 / 0.7 - 1) * 4, rel=1e-9)
    assert (base["Time to Resolution"] > base["Wait Time"]).all()


KEY = ["Ticket Backlog", "Wait Time", "Time to Resolution", "Contact Volume", "New Tickets", "Customers",
       "Annual Churn Rate", "Cumulative Cost to Serve", "Cumulative Profit"]


@pytest.mark.parametrize("scenario", ["baseline", "structural_prevention", "reactive_fast_close"])
def test_halving_time_step_changes_key_outcomes_by_less_than_1pct(model, runs, scenario):
    fine = cx.simulate(model, scenario, time_step=model.time_step / 2, saveper=model.saveper)
    coarse = runs[scenario]
    for var in KEY:
        for stat in (lambda s: s.iloc[-1], lambda s: s.max(), lambda s: s.mean()):
            a, b = stat(coarse[var]), stat(fine[var])
            assert abs(a - b) <= 0.01 * max(abs(b), 1e-9), (scenario, var, a, b)


def test_default_engine_equals_stock_pysd(model, runs):
    """The fast lookup path must not change results: stock PySD agrees within 1e-9 relative."""
    for scenario in ("baseline", "bridge"):
        ref = cx.simulate(model, scenario, engine="pysd")
        got = runs[scenario]
        assert list(ref.columns) == list(got.columns)
        np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-12)
