"""The start-week sweep: a policy's timed changes moved week by week, measured against the baseline
and its rivals. Expected numbers come from :func:`cxsystems.compare` (never typed in: the model changes)."""

from __future__ import annotations

import math

import pytest

from cxsystems.analysis.compare import compare
from cxsystems.analysis.timing import (
    TimingSweep,
    beats,
    default_weeks,
    shifted,
    start_week_sweep,
    timed_start,
)
from cxsystems.errors import CxError
from cxsystems.model.scenarios import Change, Scenario
from cxsystems.model.specs import MetricSpec

POLICY = "structural_prevention"


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture(scope="module")
def sweep(model):
    return start_week_sweep(model, POLICY)


def _metric(model, scenario, name="cumulative_profit") -> float:
    return float(compare(model, [scenario]).summary.loc[scenario.name if isinstance(scenario, Scenario)
                                                         else scenario, name])


def test_default_sweep_runs_from_the_own_start_to_the_end_of_the_run(model, sweep):
    own = model.scenarios[POLICY].start_week
    assert sweep.own_start == own
    assert sweep.weeks[0] == own and sweep.weeks[-1] <= model.final_time < sweep.weeks[-1] + 4
    assert all(b - a == 4 for a, b in zip(sweep.weeks, sweep.weeks[1:]))
    assert len(sweep.values) == len(sweep.weeks)
    assert sweep.metric.name == model.analysis.headline
    # the baseline first, then the rivals of the versus pairs
    rivals = [b for a, b in model.analysis.versus if a == POLICY]
    assert list(sweep.references) == [model.baseline, *rivals]


def test_the_own_start_week_reproduces_compare_exactly(model, sweep):
    cmp = compare(model)
    assert sweep.values[0] == cmp.summary.loc[POLICY, "cumulative_profit"]
    for name, value in sweep.references.items():
        assert value == cmp.summary.loc[name, "cumulative_profit"], name


def test_a_shifted_run_is_compares_run_of_the_shifted_scenario(model, sweep):
    i = len(sweep.weeks) // 2
    moved = shifted(model.scenarios[POLICY], sweep.weeks[i])
    assert [c.from_week for c in moved.changes] == [sweep.weeks[i]]
    assert sweep.values[i] == pytest.approx(_metric(model, moved), rel=1e-12)


@pytest.mark.parametrize("other", ["baseline", "reactive_hiring"])
def test_the_latest_week_beats_and_the_next_week_tried_does_not(model, sweep, other):
    latest = sweep.latest_start_beating(other)
    ref = _metric(model, other)
    scen = model.scenarios[POLICY]
    if latest is None:  # then even starting in the first week tried does not beat it
        assert _metric(model, shifted(scen, sweep.weeks[0])) <= ref
        return
    # every start up to the latest beats it ...
    for w, v in zip(sweep.weeks, sweep.values):
        if w <= latest:
            assert v > ref, (w, v, ref)
    assert _metric(model, shifted(scen, latest)) > ref
    # ... and the next week tried (if any) does not
    nxt = sweep.next_week_tried(latest)
    if nxt is None:
        assert latest == sweep.weeks[-1]
    else:
        assert nxt > latest and _metric(model, shifted(scen, nxt)) <= ref


def test_the_bundled_policy_must_start_before_the_end_to_beat_the_status_quo(model, sweep):
    """Starting in the last week is (nearly) not acting at all: it cannot beat the baseline, so the
    timing answer is a real week inside the sweep, not its end."""
    latest = sweep.latest_vs_baseline
    assert latest is not None and latest < sweep.weeks[-1]
    assert sweep.summary.loc[latest, "beats baseline"]
    assert not sweep.summary.loc[sweep.next_week_tried(latest), "beats baseline"]


def test_weeks_given_are_sorted_and_deduplicated(model):
    s = start_week_sweep(model, POLICY, weeks=[40, 16, 40], against=["reactive_hiring"])
    assert s.weeks == (16.0, 40.0)
    assert list(s.references) == ["baseline", "reactive_hiring"]
    assert s.values[0] == _metric(model, POLICY)


def test_constant_changes_stay_put():
    scen = Scenario("mixed", "d", (Change("A", 1.0, None), Change("B", 2.0, 16.0), Change("C", 3.0, 30.0)))
    moved = shifted(scen, 50)
    assert [c.from_week for c in moved.changes] == [None, 50.0, 50.0]
    assert [c.value for c in moved.changes] == [1.0, 2.0, 3.0] and moved.name == "mixed"
    assert timed_start(scen) == 16.0
    assert default_weeks(16, 30) == (16.0, 20.0, 24.0, 28.0)
    assert default_weeks(16, 28) == (16.0, 20.0, 24.0, 28.0)


def test_latest_start_stops_at_the_first_loss():
    spec = MetricSpec("profit", "P", "final", "higher")
    s = TimingSweep("m", "p", 10.0, spec, (10.0, 20.0, 30.0, 40.0), (5.0, 4.0, 2.0, 6.0),
                    {"baseline": 3.0, "rival": 1.0, "strong": 9.0}, "baseline")
    assert s.wins("baseline") == (True, True, False, True)
    assert s.latest_start_beating("baseline") == 20.0    # week 40 wins again, but "start by" stops at 30
    assert s.latest_vs_baseline == 20.0
    assert s.latest_start_beating("rival") == 40.0 and s.next_week_tried(40.0) is None
    assert s.latest_start_beating("strong") is None
    with pytest.raises(CxError, match="'nobody' was not in the sweep"):
        s.latest_start_beating("nobody")
    lower = TimingSweep("m", "p", 10.0, MetricSpec("cost", "C", "final", "lower"), (10.0, 20.0), (1.0, 5.0),
                        {"baseline": 3.0}, "baseline")
    assert lower.wins("baseline") == (True, False)


def test_a_tie_is_not_a_win():
    assert beats(2.0, 1.0, "higher") and not beats(1.0, 2.0, "higher")
    assert beats(1.0, 2.0, "lower") and not beats(2.0, 1.0, "lower")
    assert not beats(1e8, 1e8 * (1 + 1e-14), "lower") and not beats(1e8 * (1 + 1e-14), 1e8, "higher")
    assert not beats(0.0, 0.0, "higher")


@pytest.mark.parametrize("kwargs, message", [
    (dict(scenario="structural_prevetion"), "structural_prevention"),           # closest name offered
    (dict(scenario=POLICY, weeks=[200]), "start week 200 is outside the run [0, 156]"),
    (dict(scenario=POLICY, weeks=[-1]), "outside the run"),
    (dict(scenario=POLICY, weeks=[math.nan]), "not a number"),
    (dict(scenario=POLICY, weeks=[]), "no start weeks"),
    (dict(scenario=POLICY, step=0), "step must be a positive"),
    (dict(scenario=POLICY, metric="profitt"), "cumulative_profit"),
    (dict(scenario=POLICY, against=["no_such"]), "no_such"),
    (dict(scenario="baseline"), "'baseline' has no change with a from_week"),
])
def test_bad_input_is_refused(model, kwargs, message):
    scenario = kwargs.pop("scenario")
    with pytest.raises(CxError, match=message.replace("[", r"\[").replace("]", r"\]")):
        start_week_sweep(model, scenario, **kwargs)


def test_a_scenario_with_only_constant_changes_has_nothing_to_move(model):
    scen = Scenario("constant", "d", (Change("Prevention Incentive", 1.0, None),))
    with pytest.raises(CxError, match="'constant' has no change with a from_week"):
        start_week_sweep(model, scen)
