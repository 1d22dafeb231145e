"""Calibration: parameter recovery with known truth, identifiability warnings, Theil statistics, outputs."""

from __future__ import annotations

import shutil
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.analysis.calibrate import (
    ConvergenceNotice,
    IdentifiabilityNotice,
    calibrate,
    fit_priors,
    fit_statistics,
)
from cxsystems.engine import compile_model
from cxsystems.errors import CxError

MODELS = Path(__file__).resolve().parents[1] / "models"

SCENARIOS = """
[scenarios.baseline]
description = "as written"

[uncertain]
"Growth Rate" = { dist = "uniform", low = 0.2, high = 1.5 }
"Carrying Capacity" = { dist = "triangular", low = 500, mode = 1000, high = 5000 }
"""

PRODUCT = """{UTF-8}
Level = INTEG(A * B - Level / Tau, 0)
	~	units
	~	Fed by A times B only: A and B cannot be told apart.
	|
A = 2
	~	units/Week [0.5,5]
	~	|
B = 3
	~	Dmnl [0.5,5]
	~	|
Tau = 4
	~	Week [1,10]
	~	|
********************************************************
	.Control
********************************************************~
	|
FINAL TIME = 30
	~	Week
	~	|
INITIAL TIME = 0
	~	Week
	~	|
SAVEPER = 1
	~	Week [0,?]
	~	|
TIME STEP = 0.25
	~	Week [0,?]
	~	|
"""


@pytest.fixture(scope="module")
def logistic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logistic")
    shutil.copy(MODELS / "engine_logistic.mdl", folder / "logistic.mdl")
    (folder / "logistic.scenarios.toml").write_text(SCENARIOS, encoding="utf-8")
    return cx.load_model(folder / "logistic.mdl")


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    folder = tmp_path_factory.mktemp("product")
    (folder / "product.mdl").write_text(PRODUCT, encoding="utf-8")
    return cx.load_model(folder / "product.mdl")


def synthetic(model, truth, variables, sd, seed, times=None):
    """History from the model under ``truth`` with lognormal noise of size ``sd`` (a DataFrame)."""
    run = compile_model(model).run(params=truth, variables=variables)
    times = run.times[1:] if times is None else np.asarray(times, dtype=float)
    rng = np.random.default_rng(seed)
    data = {"time": times}
    for v in variables:
        clean = np.interp(times, run.times, run.variable(v)[:, 0])
        data[v] = clean * np.exp(sd * rng.standard_normal(times.size))
    return pd.DataFrame(data)


TRUTH = {"Growth Rate": 0.7, "Carrying Capacity": 2500.0}


def test_small_model_recovery_over_ten_noisy_histories(logistic):
    """Estimates within 10% of the truth every time; the 90% intervals hold the truth about 9 times in 10."""
    covered = {p: 0 for p in TRUTH}
    for seed in range(10):
        data = synthetic(logistic, TRUTH, ["Population"], 0.05, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("error", IdentifiabilityNotice)
            res = calibrate(logistic, data, error="lognormal", seed=seed)
        assert res.parameters == ("Growth Rate", "Carrying Capacity")  # the [uncertain] ones by default
        for p, true in TRUTH.items():
            assert abs(res.estimates[p] / true - 1) < 0.10, (seed, p, res.estimates[p])
            lo, hi = res.intervals[p]
            assert lo < res.estimates[p] < hi
            covered[p] += lo <= true <= hi
    assert all(c >= 7 for c in covered.values()), covered


def test_small_model_bayes_recovers_and_reports_diagnostics(logistic):
    data = synthetic(logistic, TRUTH, ["Population"], 0.05, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceNotice)
        res = calibrate(logistic, data, method="bayes", error="lognormal", steps=600, seed=1)
    for p, true in TRUTH.items():
        assert abs(res.estimates[p] / true - 1) < 0.10
        lo, hi = res.intervals[p]
        assert lo <= true <= hi
    d = res.diagnostics
    assert d["walkers"] == 64 and d["steps"] == 600 and d["burn"] == 200
    assert all(1 < t < 100 for t in d["autocorr_time"].values())
    assert all(r < 1.1 for r in d["rhat"].values())
    assert 0.1 < d["acceptance"] < 0.9
    assert res.sample.shape == (1000, 2)
    again = calibrate(logistic, data, method="bayes", error="lognormal", steps=600, seed=1)
    assert again.estimates == res.estimates  # the same seed, the same numbers


def test_product_pair_is_flagged_unidentifiable(product):
    data = synthetic(product, {"A": 2.0, "B": 3.0}, ["Level"], 0.03, 0)
    with pytest.warns(IdentifiabilityNotice, match=r"'A'.*'B'|'B'.*'A'"):
        res = calibrate(product, data, fit=["A", "B", "Tau"])
    # the product is pinned down, the factors are not
    assert abs(res.estimates["A"] * res.estimates["B"] / 6 - 1) < 0.05
    assert abs(res.estimates["Tau"] / 4 - 1) < 0.10
    assert any("A" in n and "B" in n for n in res.notices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceNotice)
        with pytest.warns(IdentifiabilityNotice, match=r"posterior correlation.*'A' and 'B' \(-0\.9"):
            calibrate(product, data, fit=["A", "B"], method="bayes", steps=300)


def test_theil_statistics_match_a_hand_computation_and_sum_to_one():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = np.array([2.0, 2.0, 5.0, 3.0])
    got = fit_statistics(y, m)
    # by hand: mean y 2.5, mean m 3, MSE (1+0+4+1)/4 = 1.5; s_y^2 = 1.25, s_m^2 = 1.5
    # cov = mean((y-2.5)(m-3)) = ((-1.5)(-1) + (-0.5)(-1) + (0.5)(2) + (1.5)(0)) / 4 = 0.75
    sy, sm = np.sqrt(1.25), np.sqrt(1.5)
    r = 0.75 / (sy * sm)
    assert got["theil_um"] == pytest.approx(0.25 / 1.5)
    assert got["theil_us"] == pytest.approx((sm - sy) ** 2 / 1.5)
    assert got["theil_uc"] == pytest.approx(2 * (1 - r) * sm * sy / 1.5)
    assert got["theil_um"] + got["theil_us"] + got["theil_uc"] == pytest.approx(1.0)
    assert got["r2"] == pytest.approx(r * r)
    assert got["mape"] == pytest.approx((1 + 0 + 2 / 3 + 1 / 4) / 4)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=30), rng.normal(size=30) * 3 + 1
        s = fit_statistics(a, b)
        assert s["theil_um"] + s["theil_us"] + s["theil_uc"] == pytest.approx(1.0)


def test_save_writes_the_contract_files(logistic, tmp_path):
    data = synthetic(logistic, TRUTH, ["Population"], 0.05, 0)
    res = calibrate(logistic, data, error="lognormal")
    written = res.save(tmp_path / "out")
    assert [p.name for p in written] == ["calibration.toml", "posterior.csv", "parameters.csv", "fit.csv",
                                         "fit_population.png"]
    toml = tomllib.loads((tmp_path / "out" / "calibration.toml").read_text())
    assert toml["calibration"] == {"model": "logistic", "data": "data", "method": "optimize", "seed": 0,
                                   "sample": "posterior.csv"}
    assert toml["estimates"]["Growth Rate"] == pytest.approx(res.estimates["Growth Rate"])
    assert toml["intervals"]["Carrying Capacity"] == pytest.approx(list(res.intervals["Carrying Capacity"]))
    assert set(toml["fit"]["Population"]) == {"r2", "mape", "theil_um", "theil_us", "theil_uc"}
    params = pd.read_csv(tmp_path / "out" / "parameters.csv")
    assert list(params.columns) == ["parameter", "estimate", "low", "high"]
    assert (params["low"] <= params["estimate"]).all() and (params["estimate"] <= params["high"]).all()
    fit = pd.read_csv(tmp_path / "out" / "fit.csv")
    assert list(fit.columns) == ["series", "r2", "mape", "theil_um", "theil_us", "theil_uc"]
    assert fit.loc[0, "r2"] > 0.99
    sample = pd.read_csv(tmp_path / "out" / "posterior.csv")
    assert list(sample.columns) == ["Growth Rate", "Carrying Capacity"] and len(sample) == 1000
    assert sample["Growth Rate"].between(0.2, 1.5).all()
    assert (tmp_path / "out" / "fit_population.png").read_bytes()[:4] == b"\x89PNG"
    try:  # the reader the other commands use (--calibration) loads what calibrate writes
        from cxsystems.model.calibration_file import read_calibration
    except ImportError:  # pragma: no cover
        return
    cal = read_calibration(tmp_path / "out" / "calibration.toml", logistic)
    assert cal.estimates["Growth Rate"] == pytest.approx(res.estimates["Growth Rate"])
    assert cal.sample.shape == (1000, 2)


def test_bad_options_are_one_line_errors(logistic, product):
    data = synthetic(logistic, TRUTH, ["Population"], 0.05, 0)
    with pytest.raises(CxError, match="method = 'mcmc': use optimize or bayes"):
        calibrate(logistic, data, method="mcmc")
    with pytest.raises(CxError, match=r"fit: unknown parameter 'Growth Rat'.*'Growth Rate'"):
        calibrate(logistic, data, fit=["Growth Rat"])
    with pytest.raises(CxError, match="error = 'poisson'"):
        calibrate(logistic, data, error="poisson")
    with pytest.raises(CxError, match="declares no \\[uncertain\\] parameters"):
        fit_priors(product)
    neg = data.assign(Population=-data["Population"])
    with pytest.raises(CxError, match="a lognormal error needs positive values"):
        calibrate(logistic, neg, error="lognormal")


@pytest.fixture(scope="module")
def cx_service():
    return cx.load_model("cx_service")


CX_TRUTH = {"Launch Problem Sources": 28.0, "Reference Problem Contact Rate": 0.12, "Reference Churn Rate": 0.005}
CX_SERIES = ["Contact Volume", "Ticket Backlog", "Wait Time", "Customers"]


def test_cx_service_recovery_of_three_parameters(cx_service):
    data = synthetic(cx_service, CX_TRUTH, CX_SERIES, 0.03, 0, times=np.arange(1, 105))
    res = calibrate(cx_service, data, fit=list(CX_TRUTH), error="lognormal", popsize=8)
    for p, true in CX_TRUTH.items():
        assert abs(res.estimates[p] / true - 1) < 0.10, (p, res.estimates[p])
        lo, hi = res.intervals[p]
        assert lo <= true <= hi, (p, lo, hi)
    assert (res.fit.loc[["Contact Volume", "Ticket Backlog", "Wait Time"], "r2"] > 0.8).all()
    assert res.fit[["theil_um", "theil_us", "theil_uc"]].sum(axis=1).to_numpy() == pytest.approx(1.0)
    assert res.sigma["Contact Volume"] == pytest.approx(0.03, rel=0.3)
    assert res.diagnostics["passes"] < 200  # populations, gradients and the Hessian are batches
