"""Uncertain parameters: parsing the [uncertain] table and Latin-hypercube sampling."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy import stats

import cxsystems as cx
from cxsystems import CxError
from cxsystems.model.uncertain import (
    Uncertain,
    parse_uncertain,
    parse_uncertain_table,
    sample,
)


@pytest.fixture(scope="module")
def model(cx_service):
    return cx_service


def test_cx_service_declares_every_distribution_with_a_source(model):
    unc = model.analysis.uncertain
    assert len(unc) == 16
    assert {u.dist for u in unc} == {"uniform", "triangular", "normal", "lognormal"}
    assert all(u.source for u in unc)
    for u in unc:  # inside the declared range, around the model's value
        p = model.parameters[u.parameter]
        assert p.min <= u.low < p.value < u.high <= p.max


def test_latin_hypercube_puts_one_sample_in_every_stratum(model):
    n = 200
    s = sample(model.analysis.uncertain, n, seed=4)
    for u in model.analysis.uncertain:
        x = s[u.parameter]
        assert x.shape == (n,)
        assert x.min() >= u.low and x.max() <= u.high
        # back to probabilities of the bounded distribution: exactly one value per 1/n stratum
        if u.dist == "uniform":
            p = (x - u.low) / (u.high - u.low)
        elif u.dist == "triangular":
            c = (u.arg("mode") - u.low) / (u.high - u.low)
            p = stats.triang(c, loc=u.low, scale=u.high - u.low).cdf(x)
        else:
            d = (stats.norm(u.arg("mean"), u.arg("sd")) if u.dist == "normal"
                 else stats.lognorm(s=u.arg("sigma"), scale=u.arg("median")))
            p = (d.cdf(x) - d.cdf(u.low)) / (d.cdf(u.high) - d.cdf(u.low))
        strata = np.floor(np.clip(p, 0, 1 - 1e-12) * n).astype(int)
        assert sorted(strata) == list(range(n)), u.parameter


def test_same_seed_same_worlds_other_seed_other_worlds(model):
    a = sample(model.analysis.uncertain, 50, seed=7)
    b = sample(model.analysis.uncertain, 50, seed=7)
    c = sample(model.analysis.uncertain, 50, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["Hiring Delay"], c["Hiring Delay"])


def test_truncated_distributions_have_their_moments():
    n = 20000
    normal = Uncertain("x", "normal", -10.0, 10.0, (("mean", 1.0), ("sd", 2.0)))
    logn = Uncertain("y", "lognormal", 0.0, 1e6, (("median", 3.0), ("sigma", 0.5)))
    tri = Uncertain("z", "triangular", 0.0, 3.0, (("mode", 1.0),))
    s = sample([normal, logn, tri], n, seed=1)
    assert abs(s["x"].mean() - 1.0) < 0.01 and abs(s["x"].std() - 2.0) < 0.01
    assert abs(np.median(s["y"]) - 3.0) < 0.01
    assert abs(s["z"].mean() - 4.0 / 3.0) < 0.005  # (low + mode + high) / 3
    # tight bounds truncate: every value inside, and the mass piles up near the mean
    tight = Uncertain("x", "normal", 0.5, 1.5, (("mean", 1.0), ("sd", 2.0)))
    v = sample([tight], 1000, seed=1)["x"]
    assert v.min() >= 0.5 and v.max() <= 1.5 and abs(v.mean() - 1.0) < 0.01


@pytest.mark.parametrize("raw, message", [
    ({"dist": "beta", "low": 1, "high": 2}, "dist = 'beta'; use uniform, triangular, normal, lognormal"),
    ({"dist": "uniform", "low": 1}, "a uniform distribution needs high"),
    ({"dist": "uniform", "low": 1, "high": 2, "mode": 1.5}, "unknown key(s) ['mode']"),
    ({"dist": "uniform", "low": 1, "high": 40}, "bounds [1, 40] leave the declared range [2, 26] Week"),
    ({"dist": "triangular", "low": 4, "mode": 20, "high": 16}, "mode 20 is outside [4, 16]"),
    ({"dist": "normal", "mean": 8, "sd": 0}, "sd must be positive"),
    ({"dist": "normal", "mean": 8, "sd": "2"}, "sd must be a finite number"),
    ({"dist": "uniform", "low": 9, "high": 5}, "low (9) must be below high (5)"),
    ({"dist": "normal", "mean": 1000, "sd": 1}, "puts no probability inside [2, 26]"),
    ("8", "must be a table"),
])
def test_bad_distributions_are_refused_naming_the_parameter(model, raw, message):
    with pytest.raises(CxError) as err:
        parse_uncertain(model, "Hiring Delay", raw, "f.toml: [uncertain]")
    text = str(err.value)
    assert text.startswith("f.toml: [uncertain] 'Hiring Delay'") and message in text
    assert "\n" not in text


def test_normal_defaults_to_the_declared_range(model):
    u = parse_uncertain(model, "hiring delay", {"dist": "normal", "mean": 8, "sd": 3}, "w")
    assert (u.parameter, u.low, u.high) == ("Hiring Delay", 2.0, 26.0)


def test_unknown_parameter_and_duplicates_are_refused(model):
    with pytest.raises(CxError, match="Hiring Dealy"):
        parse_uncertain_table(model, {"Hiring Dealy": {"dist": "uniform", "low": 4, "high": 8}}, "w")
    with pytest.raises(CxError, match="declared twice"):
        parse_uncertain_table(model, {"Hiring Delay": {"dist": "uniform", "low": 4, "high": 8},
                                      "hiring delay": {"dist": "uniform", "low": 4, "high": 9}}, "w")


def test_scenario_file_errors_name_the_file(tmp_path, capability_trap):
    src = capability_trap
    mdl = tmp_path / "trap.mdl"
    shutil.copy(src.path, mdl)
    (tmp_path / "trap.scenarios.toml").write_text(
        '[scenarios.baseline]\n[uncertain]\n"Capability Erosion Time" = { dist = "uniform", low = 5, high = 500 }\n')
    with pytest.raises(CxError) as err:
        cx.load_model(mdl)
    assert "trap.scenarios.toml: [uncertain] 'Capability Erosion Time'" in str(err.value)
    assert "[5, 500] leave the declared range [1, 200] Week" in str(err.value)


def test_sample_checks_n():
    u = Uncertain("x", "uniform", 0.0, 1.0)
    with pytest.raises(CxError, match="positive whole number"):
        sample([u], 0)
    assert sample([], 5) == {}
