"""Ensembles: same worlds for every scenario, per-run metrics, bands, robustness, regret, and
identical numbers in-process, over worker processes and on a real local Dask cluster."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems import CxError
from cxsystems.analysis import ensemble as ensemble_module
from cxsystems.analysis.ensemble import QUANTILES, ensemble, memory_estimate, quantiles
from cxsystems.analysis.metrics import METRIC_KINDS, metric_table, metric_values, scenario_metrics
from cxsystems.analysis.robustness import (
    most_often_best,
    regret,
    robustness,
    verdict,
    verdicts,
)
from cxsystems.limits import MEMORY_ENV

SCEN = ["baseline", "reactive_hiring", "structural_prevention"]


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


@pytest.fixture(scope="module")
def res(model):
    return ensemble(model, SCEN, n=240, seed=11, chunk_size=100)


def test_result_shapes_and_labels(res, model):
    assert res.scenarios == tuple(SCEN) and res.baseline == "baseline" and res.n == 240
    outcomes = [o.variable for o in model.analysis.outcomes]
    assert res.variables == outcomes
    assert res.metric_values.shape == (3, len(model.analysis.metrics), 240)
    tr = res.trajectories
    assert tr is not None and tr["Ticket Backlog"].dims == ("scenario", "run", "time")
    assert tr["Ticket Backlog"].shape == (3, 240, 157)
    assert res.bands["Wait Time"].dims == ("scenario", "quantile", "time")
    assert list(res.bands["quantile"].values) == list(QUANTILES)
    runs = res.runs
    assert len(runs) == 3 * 240
    assert list(runs.columns[:2]) == ["scenario", "run"]
    assert [c for c in runs.columns if c in model.parameters] == [u.parameter for u in res.uncertain]


def test_every_scenario_runs_in_the_same_worlds(res):
    runs = res.runs
    p = [u.parameter for u in res.uncertain]
    base = runs[runs.scenario == "baseline"][p].to_numpy()
    for s in SCEN[1:]:
        assert np.array_equal(runs[runs.scenario == s][p].to_numpy(), base)
    assert len(np.unique(base[:, 0])) == 240  # and the worlds differ from each other


@pytest.mark.parametrize("run", [0, 137, 239])
def test_per_run_metrics_equal_a_single_simulation_of_that_world(res, model, run):
    world = {p: float(v[run]) for p, v in res.samples.items()}
    for i, s in enumerate(SCEN):
        df = cx.simulate(model, s, params=world)
        expected = scenario_metrics(df, model.analysis.metrics)
        got = res.metric_values[i, :, run]
        np.testing.assert_allclose(got, list(expected.values()), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.trajectories["Wait Time"].values[i, run], df["Wait Time"].to_numpy(),
                                   rtol=1e-12, atol=1e-12)


def test_bands_are_the_quantiles_of_the_runs(res):
    tr = res.trajectories["Ticket Backlog"].values  # (scenario, run, time)
    q = np.quantile(tr, QUANTILES, axis=1)  # (quantile, scenario, time)
    np.testing.assert_array_equal(res.bands["Ticket Backlog"].values, np.moveaxis(q, 0, 1))
    b = res.bands["Cumulative Profit"].values
    assert np.all(np.diff(b, axis=1) >= 0)  # 5% <= 25% <= 50% <= 75% <= 95%
    assert res.bands.attrs["band_runs"] == 240


def test_robustness_shares_are_consistent(res):
    rb = robustness(res)
    assert len(rb) == len(res.metrics) * 3 * 2
    total = rb.share_better + rb.share_tied + rb.share_worse
    np.testing.assert_allclose(total, 1.0)
    key = rb.set_index(["metric", "scenario", "other"])
    for m in res.metrics:
        for a in SCEN:
            for b in SCEN:
                if a != b:
                    assert key.loc[(m.name, a, b), "share_better"] == key.loc[(m.name, b, a), "share_worse"]
    # recount one by hand: profit is better when higher
    prof = res.metric("cumulative_profit")
    share = float((prof["structural_prevention"] > prof["reactive_hiring"]).mean())
    assert key.loc[("cumulative_profit", "structural_prevention", "reactive_hiring"), "share_better"] == share
    wait = res.metric("peak_wait")  # lower is better
    share = float((wait["reactive_hiring"] < wait["baseline"]).mean())
    assert key.loc[("peak_wait", "reactive_hiring", "baseline"), "share_better"] == share
    assert share > 0.9  # hiring cuts the peak wait in nearly every world


def test_regret_is_the_shortfall_from_the_best_in_each_world(res):
    g = regret(res).set_index(["metric", "scenario"])
    prof = res.metric("cumulative_profit").to_numpy()
    best = prof.max(axis=1)
    for i, s in enumerate(SCEN):
        r = best - prof[:, i]
        assert g.loc[("cumulative_profit", s), "mean_regret"] == pytest.approx(r.mean(), rel=1e-12)
        assert g.loc[("cumulative_profit", s), "max_regret"] == pytest.approx(r.max(), rel=1e-12)
        assert g.loc[("cumulative_profit", s), "share_best"] == pytest.approx((r == 0).mean())
    assert (regret(res).mean_regret >= 0).all()
    shares = g.xs("cumulative_profit", level="metric").share_best
    assert shares.sum() == pytest.approx(1.0)  # no ties: exactly one best per world
    top = most_often_best(res).set_index("metric").loc["cumulative_profit", "scenario"]
    assert top == shares.idxmax()


def test_verdict_sentences(res):
    prof = res.metric("cumulative_profit")
    share = (prof["structural_prevention"] > prof["reactive_hiring"]).mean()
    text = verdict(res, "structural_prevention", "reactive_hiring", "cumulative_profit")
    assert text == f"structural_prevention beats reactive_hiring on cumulative profit in {100 * share:.1f}% of 240 runs"
    lines = verdicts(res)  # the model's versus pairs present in the ensemble, on the headline metric
    assert lines == [text]
    other = verdict(res, "reactive_hiring", "structural_prevention", "cumulative_profit")
    assert f"(structural_prevention does better in {100 * share:.1f}%)" in other
    with pytest.raises(CxError, match="unknown metric 'profit'"):
        verdict(res, "baseline", "reactive_hiring", "profit")


def test_prevention_beats_hiring_on_profit_in_most_worlds(model):
    # the question the issue asks, answered on a larger sample (numbers also in the closing note)
    r = ensemble(model, ["reactive_hiring", "structural_prevention"], n=1000, seed=0, trajectories=False)
    prof = r.metric("cumulative_profit")
    share = (prof["structural_prevention"] > prof["reactive_hiring"]).mean()
    assert share >= 0.8  # the report's "yes" threshold (measured: all 1,000 worlds)
    assert r.trajectories is None


def _assert_identical(a, b):
    """Same metrics, bands and trajectories, bit for bit (signed zeros and NaN payloads included)."""
    assert a.metric_values.tobytes() == b.metric_values.tobytes()
    assert a.bands.identical(b.bands)
    for v in a.bands.data_vars:
        assert a.bands[v].values.tobytes() == b.bands[v].values.tobytes()
    assert a.runs.equals(b.runs)
    assert (a.trajectories is None) == (b.trajectories is None)
    if a.trajectories is not None:
        assert a.trajectories.identical(b.trajectories)


def test_same_numbers_in_process_over_two_workers_and_on_dask(model):
    from dask.distributed import Client, LocalCluster

    # 120 band runs out of 300, unevenly spaced, crossing the chunks' boundaries
    kw = dict(scenarios=["reactive_hiring"], n=300, seed=5, chunk_size=75, band_runs=120, trajectories=False)
    here = ensemble(model, **kw)
    assert here.scenarios == ("baseline", "reactive_hiring")  # the baseline always runs
    assert here.bands.attrs["band_runs"] == 120 and here.trajectories is None
    two = ensemble(model, workers=2, **{**kw, "trajectories": True})
    assert two.trajectories["Wait Time"].shape == (2, 300, 157)
    _assert_identical(ensemble(model, **{**kw, "trajectories": True}), two)
    _assert_identical(here, replace(two, trajectories=None))  # kept or streamed: the same numbers
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        on_dask = ensemble(model, executor=client, **kw)
        assert len(client.scheduler_info()["workers"]) == 2
    _assert_identical(here, on_dask)
    other_seed = ensemble(model, **{**kw, "seed": 6})
    assert not np.array_equal(here.metric_values, other_seed.metric_values)


def test_chunk_size_does_not_change_the_numbers(model):
    a = ensemble(model, ["baseline"], n=90, seed=2, chunk_size=90)
    b = ensemble(model, ["baseline"], n=90, seed=2, chunk_size=40)
    # each run's arithmetic is elementwise, so chunking changes nothing
    _assert_identical(a, b)


def test_memory_stays_bounded_as_runs_grow(capability_trap):
    trap = capability_trap

    def peak(n):
        tracemalloc.start()
        r = ensemble(trap, ["baseline"], n=n, seed=0, chunk_size=1000, band_runs=500, trajectories=False)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert r.bands.attrs["band_runs"] == 500 and r.trajectories is None
        return top

    small, big = peak(2000), peak(16000)
    from cxsystems.engine import compile_model

    n_t = compile_model(trap).run(variables=["Performance"]).times.size
    all_kept = 16000 * n_t * 8 * len(trap.analysis.outcomes)  # bytes to keep every trajectory
    assert big < small + 0.25 * all_kept  # growth is per-run metrics, not trajectories
    assert big < 1.5 * small


def test_streaming_and_keeping_give_the_same_numbers(model):
    """Trajectories kept or streamed, bands from every run or from a spread subset (evenly spaced
    or not), in chunks or whole: the same metrics and bands, bit for bit, and the bands are the
    quantiles of the kept trajectories' band runs."""
    for band_runs, chunk, spread in ((45, 40, "even"), (40, 25, "uneven"), (500, 40, "all")):
        kw = dict(n=90, seed=4, band_runs=band_runs, chunk_size=chunk)
        kept = ensemble(model, ["reactive_hiring"], trajectories=True, **kw)
        streamed = ensemble(model, ["reactive_hiring"], trajectories=False, **kw)
        whole = ensemble(model, ["reactive_hiring"], trajectories=False, **{**kw, "chunk_size": 90})
        assert kept.trajectories["Wait Time"].shape == (2, 90, 157) and streamed.trajectories is None
        _assert_identical(replace(kept, trajectories=None), streamed)
        _assert_identical(streamed, whole)
        idx = np.unique(np.floor(np.arange(min(band_runs, 90)) * (90 / min(band_runs, 90))).astype(int))
        assert {"even": len(set(np.diff(idx))) == 1 and len(idx) < 90, "uneven": len(set(np.diff(idx))) > 1,
                "all": len(idx) == 90}[spread]
        assert kept.bands.attrs["band_runs"] == len(idx)
        for v in kept.variables:
            runs = kept.trajectories[v].values[:, idx]  # (scenario, band run, time)
            np.testing.assert_array_equal(kept.bands[v].values, np.moveaxis(np.quantile(runs, QUANTILES, axis=1), 0, 1))


def test_trajectories_are_kept_by_default_only_when_they_cost_nothing(model, monkeypatch):
    """``trajectories=None`` keeps them when every run feeds the bands anyway (``n <= band_runs``)
    and they fit in 256 MiB; otherwise the ensemble streams (nothing in cxsystems reads them);
    ``True`` keeps them whatever the size."""
    every = ensemble(model, ["baseline"], n=50, seed=1, band_runs=50)
    assert every.trajectories["Wait Time"].shape == (1, 50, 157)
    spread = ensemble(model, ["baseline"], n=50, seed=1, band_runs=20)  # bands from 20 of the 50 runs
    assert spread.trajectories is None and spread.bands.attrs["band_runs"] == 20
    asked = ensemble(model, ["baseline"], n=50, seed=1, band_runs=20, trajectories=True)
    for v in asked.variables:  # every run, the same numbers as when every run fed the bands
        assert asked.trajectories[v].values.tobytes() == every.trajectories[v].values.tobytes()
    _assert_identical(replace(asked, trajectories=None), spread)
    assert robustness(spread).equals(robustness(asked)) and regret(spread).equals(regret(asked))
    assert ensemble(model, ["baseline"], n=50, seed=1, trajectories=False).trajectories is None
    size = 50 * len(every.variables) * 157 * 8  # bytes of every trajectory
    monkeypatch.setattr(ensemble_module, "AUTO_TRAJECTORY_BYTES", size)
    assert ensemble(model, ["baseline"], n=50, seed=1).trajectories is not None
    monkeypatch.setattr(ensemble_module, "AUTO_TRAJECTORY_BYTES", size - 1)
    assert ensemble(model, ["baseline"], n=50, seed=1).trajectories is None


def test_metric_table_equals_each_run_on_its_own_bit_for_bit():
    """The metrics of many runs at once (one transposed copy per variable) are each run's own
    numbers, bit for bit: NaN, infinities, ties, zeros of both signs and one saved time too."""
    rng = np.random.default_rng(7)
    for n_t in (157, 9, 1):
        times = np.cumsum(rng.uniform(0.5, 1.5, n_t))
        values = rng.standard_normal((n_t, 40)) * 1e4
        values[:, 3] = values[:, 4]  # a tie
        values[0, 5] = np.nan
        values[-1, 6] = np.inf
        values[:, 7] = -0.0
        for r in range(8, 30):  # the largest value is a zero, of either sign, here and there
            values[:, r] = -np.abs(values[:, r])
            at = rng.choice(n_t, min(n_t, 5), replace=False)
            values[at, r] = rng.choice([0.0, -0.0], len(at))
        table = metric_table(times, values, METRIC_KINDS)
        assert table.shape == (len(METRIC_KINDS), 40)
        for k, how in enumerate(METRIC_KINDS):
            alone = np.concatenate([metric_values(times, values[:, [r]], how) for r in range(40)])
            rows = np.ascontiguousarray(values.T)  # each run contiguous: the rule metric_values states
            expected = {"final": rows[:, -1], "mean": rows.mean(axis=1), "max": rows.max(axis=1),
                        "min": rows.min(axis=1),
                        "integral": np.trapezoid(rows, times, axis=1) if n_t > 1 else np.zeros(40)}[how]
            assert table[k].tobytes() == alone.tobytes() == expected.tobytes(), how
            assert metric_values(times, values, how).tobytes() == table[k].tobytes()


def _traced_peak(fn):
    """``(fn(), peak traced bytes)``; call ``fn`` once untraced first, so that one-time costs (the
    model's compilation, the compiled machine's load) are not counted as the ensemble's."""
    fn()
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _ensemble_and_runs(*args, **kw):
    """An ensemble and its table of runs (what ``.save`` writes): what the memory estimate covers."""
    res = ensemble(*args, **kw)
    assert len(res.runs) == len(res.scenarios) * res.n
    return res


def test_memory_estimate_is_honest_for_100000_worlds(tmp_path, monkeypatch):
    """The estimate the memory check uses covers the measured peak of a 100,000-world ensemble and
    its table of runs (and is not inflated: the peak reaches half of it), and the check refuses the
    same ensemble, before running it, under a limit below the estimate."""
    (tmp_path / "small.mdl").write_text(RANDOM_MODEL.replace("RANDOM UNIFORM(0, Ceiling, 0)", "Ceiling"),
                                        encoding="utf-8")
    (tmp_path / "small.scenarios.toml").write_text(RANDOM_SCENARIOS, encoding="utf-8")
    small = cx.load_model(tmp_path / "small.mdl")
    n = 100_000
    res, peak = _traced_peak(lambda: _ensemble_and_runs(small, n=n, seed=0))
    assert res.trajectories is None and res.bands.attrs["band_runs"] == 5000
    estimate = memory_estimate(n, 1, len(res.samples), len(res.metrics), 1, 1, len(res.times), False)
    assert 0.5 * estimate <= peak <= estimate
    monkeypatch.setenv(MEMORY_ENV, str(estimate / 2**20 * 0.9))
    with pytest.raises(CxError, match=r"n = 100,000 runs x 1 scenarios needs about .* more than the limit"):
        ensemble(small, n=n, seed=0)


def test_memory_estimate_covers_kept_trajectories(model):
    """With every trajectory kept (and the bands' runs taken from them) the estimate still covers
    the measured peak of the ensemble and its table of runs."""
    kw = dict(n=3000, seed=0, chunk_size=1000, band_runs=1000, trajectories=True)
    res, peak = _traced_peak(lambda: _ensemble_and_runs(model, ["reactive_hiring"], **kw))
    assert res.trajectories["Wait Time"].shape == (2, 3000, 157)
    recorded = dict.fromkeys([*res.variables, *(m.variable for m in res.metrics)])
    estimate = memory_estimate(3000, 2, len(res.samples), len(res.metrics), len(recorded), len(res.variables),
                               157, True, 1000, 1000)
    assert 0.5 * estimate <= peak <= estimate


def test_bad_requests_are_refused(model):
    with pytest.raises(CxError, match="n must be a positive whole number"):
        ensemble(model, n=0)
    with pytest.raises(CxError, match="workers must be a positive whole number"):
        ensemble(model, n=10, workers=0)
    with pytest.raises(CxError, match="unknown scenario"):
        ensemble(model, ["no_such_policy"], n=10)
    with pytest.raises(CxError, match="no such variable|not a variable|Did you mean|unknown variable"):
        ensemble(model, ["baseline"], n=10, variables=["Tiket Backlog"])
    bare = cx.load_model(Path(__file__).resolve().parents[1] / "models" / "engine_logistic.mdl")
    with pytest.raises(CxError, match="declares no uncertain parameters"):
        ensemble(bare, n=10)


def test_fan_chart_has_a_panel_per_scenario_and_shared_scale(res):
    from cxsystems.plotting.charts import fan_chart

    fig = fan_chart(res, "Ticket Backlog")
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title(loc="left") for ax in axes] == [res.scenario_titles[s] for s in SCEN]
    assert res.scenario_titles["baseline"] == "Status quo"  # labels from the scenario file
    assert len({ax.get_ylim() for ax in axes}) == 1
    # baseline median drawn in the other panels as the reference (the launch marker aside)
    from matplotlib.colors import to_hex

    from cxsystems.plotting.charts import DISTURBANCE_COLOR

    curves = [[ln for ln in ax.lines if to_hex(ln.get_color()) != DISTURBANCE_COLOR] for ax in axes]
    assert len(curves[1]) == 2 and len(curves[0]) == 1
    assert all(len(ax.lines) - len(c) == 1 for ax, c in zip(axes, curves))  # one launch marker each
    np.testing.assert_array_equal(curves[1][1].get_ydata(),
                                  res.bands["Ticket Backlog"].sel(scenario="baseline", quantile=0.5).values)
    assert "240 runs" in fig._suptitle.get_text()
    with pytest.raises(CxError, match="no bands for 'Customers'"):
        fan_chart(res, "Customers")


RANDOM_MODEL = """{UTF-8}
Level = INTEG(Noise - Level / Adjustment Time, 10) ~ units ~ |
Noise = RANDOM UNIFORM(0, Ceiling, 0) ~ units/Week ~ |
Ceiling = 2 ~ units/Week [0.5, 4] ~ |
Adjustment Time = 4 ~ Week [1, 8] ~ |
FINAL TIME = 20 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 0.5 ~ Week ~ |
"""

RANDOM_SCENARIOS = """
[analysis]
baseline = "baseline"
classify = "Level"
[scenarios.baseline]
label = "As is"
[[outcomes]]
variable = "Level"
better = "lower"
[metrics]
final_level = { variable = "Level", how = "final" }
[uncertain]
"Adjustment Time" = { dist = "uniform", low = 2, high = 6 }
"""


def test_random_draws_do_not_depend_on_chunks_and_follow_the_seed(tmp_path):
    """A model with RANDOM UNIFORM: world i draws its own stream, the same however the worlds are
    split into chunks; another seed gives other worlds and other draws."""
    (tmp_path / "noisy.mdl").write_text(RANDOM_MODEL, encoding="utf-8")
    (tmp_path / "noisy.scenarios.toml").write_text(RANDOM_SCENARIOS, encoding="utf-8")
    model = cx.load_model(tmp_path / "noisy.mdl")
    whole = ensemble(model, n=60, seed=3, chunk_size=60)
    split = ensemble(model, n=60, seed=3, chunk_size=7)
    np.testing.assert_array_equal(whole.metric_values, split.metric_values)
    finals = whole.metric_values[0, 0]
    # 60 distinct worlds; the draws make Level differ from the noise-free level (Ceiling/2 * T)
    assert len(np.unique(np.round(finals, 12))) == 60
    other = ensemble(model, n=60, seed=4, chunk_size=60).metric_values[0, 0]
    assert not np.allclose(np.sort(finals), np.sort(other))


@pytest.mark.parametrize("shape", [(1, 4, 157, 5000), (2, 3, 10, 1), (1, 1, 5, 2), (3, 2, 7, 10), (1, 1, 3, 4999)])
def test_band_quantiles_equal_numpy_bit_for_bit(shape):
    """The bands' quantiles come from one sort of the runs; they equal np.quantile's default linear
    method exactly, ties and odd counts included, and a slice with NaN is numpy's own answer."""
    rng = np.random.default_rng(1)
    data = rng.standard_normal(shape) * 1e3
    if shape[-1] > 4:
        data[..., ::7] = data[..., 3:4]  # ties
    for qs in (QUANTILES, (0.0, 0.1, 0.333, 0.5, 0.999, 1.0)):
        np.testing.assert_array_equal(quantiles(data, qs), np.quantile(data, qs, axis=-1))
        scratch = data.copy()  # sorted in place: the same quantiles, and the data left sorted
        np.testing.assert_array_equal(quantiles(scratch, qs, overwrite=True), np.quantile(data, qs, axis=-1))
        np.testing.assert_array_equal(scratch, np.sort(data, axis=-1))
    data[..., 0, 0] = np.nan
    np.testing.assert_array_equal(quantiles(data, QUANTILES), np.quantile(data, QUANTILES, axis=-1))
