"""Calibration: fit a model's uncertain parameters to an organisation's history.

``calibrate(model, data, fit=None, method="optimize")`` reads the history
(:func:`cxsystems.model.history.read_history`), runs the model for whole populations of parameter
sets in one vectorised engine pass (``compile_model(model).run(params={name: array})``) and
returns a :class:`CalibrationResult`.

The statistical model
---------------------
* Parameters to fit default to the model's ``[uncertain]`` parameters; their bounds are the
  declared ``low``/``high`` and their priors the declared distributions. A fitted parameter that is
  not ``[uncertain]`` gets a uniform prior over its declared range (which must then be finite).
* The model is compared with the data at the data's times by linear interpolation between the
  run's saved times (exact where the data's times are saved times, as weekly data on a weekly model).
* Measurement error, per series: ``normal`` (``y = m + e``) or ``lognormal`` (``log y = log m + e``),
  ``e ~ N(0, sigma_s^2)`` with an unknown scale ``sigma_s`` for every series. The scale is
  profiled out for ``optimize`` and marginalised (Jeffreys prior ``1/sigma``) for ``bayes``; both
  give the log-likelihood ``sum_s -n_s/2 * log(SSR_s)`` (plus constants), so a series in thousands
  and a series in fractions weigh by their number of points and fit quality, not by their size.

Methods
-------
* ``optimize``: maximum likelihood inside the bounds: a differential-evolution global search
  (:func:`scipy.optimize.differential_evolution`, ``vectorized=True``: every generation is one
  engine pass), then a bounded quasi-Newton polish (L-BFGS-B) whose gradient is a central
  difference computed in one pass. 90% intervals come from the curvature of the negative
  log-likelihood at the optimum: its Gauss-Newton (Fisher information) form from a central-difference
  Jacobian of the residuals (one pass; see :func:`_curvature`), inverted (a Laplace approximation),
  truncated to the bounds; the posterior sample is drawn from that normal, truncated to the bounds.
  Where the likelihood is far from quadratic (weakly identified, non-linear directions) this interval
  is only a guide, wider or narrower than the posterior's: ``bayes`` gives the real one.
* ``bayes``: draws from the optimum's Laplace approximation start an :class:`emcee.EnsembleSampler`
  (``vectorize=True``: every batch of walkers emcee moves together, half the ensemble, is one
  engine pass) on likelihood times prior. Estimates are posterior medians, intervals the
  5% and 95% quantiles; the integrated autocorrelation time and the split R-hat over walkers are
  reported, with a :class:`ConvergenceNotice` when the chain is shorter than 50 autocorrelation
  times or R-hat exceeds 1.1.
* Both warn with an :class:`IdentifiabilityNotice` when the data cannot tell parameters apart: a
  posterior correlation beyond 0.9 in size, a near-singular curvature (a flat direction), or a
  posterior barely narrower than the prior (``bayes``).

Fit statistics per series (at the estimates): ``r2`` (squared correlation of model and data),
``mape`` (mean absolute percentage error, as a fraction; zero observations left out) and Theil's
inequality statistics (Sterman 1984): the mean-squared error split into bias ``theil_um``,
unequal variance ``theil_us`` and unequal covariation ``theil_uc``, summing to 1.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import CxError, Notice, require_extra
from ..files import check_format, outcome_stems, write_csv, write_figure, write_folder
from ..model.history import History, read_history
from ..model.scenarios import resolve_scenario
from ..model.uncertain import Uncertain, check_seed

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..model.core import Model

METHODS = ("optimize", "bayes")
ERRORS = ("normal", "lognormal")
#: Level of the reported intervals.
LEVEL = 0.90
_Z = 1.6448536269514722  # standard normal quantile at 0.95
#: Posterior correlation beyond which two parameters are reported as not separately identified.
CORRELATION_LIMIT = 0.9
#: A posterior sd above this share of the prior sd counts as "barely narrower than the prior".
FLAT_SHARE = 0.7
#: Draws kept in the posterior sample (``posterior.csv``).
SAMPLE_ROWS = 1000
#: Draws run for the fit charts' bands.
BAND_RUNS = 200
_BAD = 1e30  # objective value of a run that went non-finite
#: The global search stops when the population's log-likelihoods spread less than this (sd), as
#: the polish then finishes the job; the constants dropped from the likelihood make a relative
#: tolerance meaningless.
DE_ATOL = 0.5


class IdentifiabilityNotice(Notice):
    """The history cannot pin some parameters down (flat or strongly correlated directions)."""


class ConvergenceNotice(Notice):
    """The MCMC chain may be too short to trust its intervals."""


# ------------------------------------------------------------------------------ priors


@dataclass(frozen=True)
class Prior:
    """A fitted parameter: its bounds and prior (the ``[uncertain]`` distribution, or uniform
    over the declared range)."""

    name: str
    low: float
    high: float
    units: str = ""
    uncertain: Uncertain | None = None

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log prior density (up to a constant) of values ``x``; ``-inf`` outside the bounds."""
        from scipy import stats

        x = np.asarray(x, dtype=float)
        inside = (x >= self.low) & (x <= self.high)
        out = np.full(x.shape, -np.inf)
        u = self.uncertain
        if u is None or u.dist == "uniform":
            out[inside] = 0.0
            return out
        if u.dist == "triangular":
            c = (u.arg("mode") - u.low) / (u.high - u.low)
            d = stats.triang(c, loc=u.low, scale=u.high - u.low)
        elif u.dist == "normal":
            d = stats.norm(loc=u.arg("mean"), scale=u.arg("sd"))
        else:
            d = stats.lognorm(s=u.arg("sigma"), scale=u.arg("median"))
        with np.errstate(divide="ignore"):
            out[inside] = d.logpdf(x[inside])
        return out

    def describe(self) -> str:
        """``triangular(4, 8, 16) weeks``, or ``uniform(a, b)`` for a declared range."""
        if self.uncertain is not None:
            return self.uncertain.describe()
        return f"uniform({self.low:g}, {self.high:g}) (declared range)"

    def sd(self) -> float:
        """Standard deviation of the prior (numerically, from its quantiles)."""
        q = (np.arange(2000) + 0.5) / 2000
        vals = self.uncertain.ppf(q) if self.uncertain is not None else self.low + q * (self.high - self.low)
        return float(np.std(vals))


def fit_priors(model: "Model", fit: Any = None) -> tuple[Prior, ...]:
    """The parameters to fit (names, default: every ``[uncertain]`` parameter) with bounds and priors."""
    declared = {u.parameter: u for u in (getattr(model.analysis, "uncertain", ()) or ())}
    if fit is None:
        names = list(declared)
        if not names:
            raise CxError(f"model {model.name}: it declares no [uncertain] parameters; name the parameters "
                          "to fit (fit=[...], --fit \"A,B\")")
    else:
        if isinstance(fit, str):
            fit = [s for s in (p.strip() for p in fit.split(",")) if s]
        names = [model.parameter(n, "fit").name for n in fit]
        if not names:
            raise CxError("fit: name at least one parameter")
    seen = set()
    out = []
    for name in names:
        if name in seen:
            raise CxError(f"fit: {name!r} is named twice")
        seen.add(name)
        p = model.parameters[name]
        u = declared.get(name)
        if u is not None:
            out.append(Prior(name, float(u.low), float(u.high), p.units, u))
            continue
        if not (math.isfinite(p.min) and math.isfinite(p.max)) or not p.min < p.max:
            raise CxError(f"fit: {name!r} is not [uncertain] and has no finite declared range "
                          f"[{p.min:g}, {p.max:g}]; declare it in [uncertain] with low and high")
        out.append(Prior(name, float(p.min), float(p.max), p.units, None))
    return tuple(out)


# ------------------------------------------------------------------------------ the objective


def _error_kinds(history: History, error: Any) -> dict[str, str]:
    if isinstance(error, str):
        if error not in ERRORS:
            raise CxError(f"error = {error!r}: use {' or '.join(ERRORS)}")
        kinds = {v: error for v in history.variables}
    elif isinstance(error, Mapping):
        from ..names import match

        kinds = {v: "normal" for v in history.variables}
        for key, kind in error.items():
            var = match(key, history.variables, what="series", where="error", owner=history.name)
            if kind not in ERRORS:
                raise CxError(f"error: {var!r} = {kind!r}: use {' or '.join(ERRORS)}")
            kinds[var] = kind
    else:
        raise CxError(f"error must be 'normal', 'lognormal' or a dict of series to those, got {error!r}")
    for s in history.series:
        if kinds[s.variable] == "lognormal" and np.any(s.values <= 0):
            bad = float(s.values[s.values <= 0][0])
            raise CxError(f"{history.name}: column {s.column!r} has {bad:g}; a lognormal error needs positive values")
        if s.n < 3:
            raise CxError(f"{history.name}: column {s.column!r} has {s.n} values; a fit needs at least 3")
    return kinds


class Objective:
    """The model against the history: runs populations of parameter sets in one engine pass and
    returns their log-likelihoods (see the module docstring)."""

    def __init__(self, model: "Model", history: History, priors: Sequence[Prior], changes=(),
                 errors: Mapping[str, str] | None = None):
        from ..engine import compile_model

        self.model, self.history, self.priors = model, history, tuple(priors)
        self.changes = tuple(changes)
        self.errors = dict(errors or {v: "normal" for v in history.variables})
        self.compiled = compile_model(model)
        self.low = np.array([p.low for p in self.priors])
        self.high = np.array([p.high for p in self.priors])
        t_max = history.horizon[1]
        sp = float(model.saveper)
        last = model.initial_time + math.ceil((t_max - model.initial_time) / sp - 1e-9) * sp
        self.final_time = float(min(model.final_time, max(last, model.initial_time + sp)))
        self.runs = 0
        self.passes = 0
        probe = self._run(np.array([[p.value for p in (model.parameters[q.name] for q in self.priors)]]))
        self.times = np.asarray(probe.times, dtype=float)
        self._interp = [self._weights(s.times) for s in history.series]
        self.logy = [np.log(s.values) if self.errors[s.variable] == "lognormal" else None for s in history.series]

    def _weights(self, t: np.ndarray):
        grid = self.times
        j = np.clip(np.searchsorted(grid, t, side="right") - 1, 0, grid.size - 1)
        j1 = np.minimum(j + 1, grid.size - 1)
        span = grid[j1] - grid[j]
        w = np.where(span > 0, (t - grid[j]) / np.where(span > 0, span, 1.0), 0.0)
        return j, j1, w

    def _run(self, X: np.ndarray):
        params = {p.name: X[:, i].copy() for i, p in enumerate(self.priors)}
        with np.errstate(all="ignore"):
            res = self.compiled.run(self.changes, params=params, final_time=self.final_time,
                                    variables=list(self.history.variables), vector=True)
        self.runs += X.shape[0]
        self.passes += 1
        return res

    def trajectories(self, X: np.ndarray) -> np.ndarray:
        """Model values (series, saved times, runs) for parameter sets ``X`` (runs, parameters)."""
        return self._run(np.atleast_2d(np.asarray(X, dtype=float))).values

    def at_data(self, values: np.ndarray) -> list[np.ndarray]:
        """Per series: the model at the data's times, (observations, runs)."""
        out = []
        for k, (j, j1, w) in enumerate(self._interp):
            v = values[k]
            out.append(v[j] * (1 - w)[:, None] + v[j1] * w[:, None])
        return out

    def residuals(self, X: np.ndarray) -> list[np.ndarray]:
        """Per series: data minus model (of the logs for a lognormal series), (observations, runs);
        NaN where the model went non-finite or, for a lognormal series, not positive."""
        sim = self.at_data(self.trajectories(X))
        out = []
        for k, (s, m) in enumerate(zip(self.history.series, sim)):
            with np.errstate(all="ignore"):
                if self.logy[k] is not None:
                    out.append(self.logy[k][:, None] - np.log(np.where(m > 0, m, np.nan)))
                else:
                    out.append(s.values[:, None] - m)
        return out

    def ssr(self, X: np.ndarray) -> np.ndarray:
        """Sum of squared residuals, (series, runs); ``inf`` for runs that went non-finite or,
        for a lognormal series, not positive."""
        res = self.residuals(X)
        out = np.empty((len(res), res[0].shape[1]))
        for k, r in enumerate(res):
            with np.errstate(all="ignore"):
                v = np.sum(r * r, axis=0)
            out[k] = np.where(np.isfinite(v), v, np.inf)
        return out

    def loglik(self, X: np.ndarray) -> np.ndarray:
        """Log-likelihood (scales profiled or marginalised, constants dropped) of each row of ``X``."""
        ssr = self.ssr(X)
        n = np.array([s.n for s in self.history.series], dtype=float)[:, None]
        tiny = 1e-300
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * n * np.log(np.maximum(ssr / n, tiny))
        ll = np.sum(ll, axis=0)
        return np.where(np.isfinite(ll), ll, -np.inf)

    # unit cube <-> model units
    def to_x(self, U: np.ndarray) -> np.ndarray:
        return self.low + np.asarray(U) * (self.high - self.low)

    def to_u(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X) - self.low) / (self.high - self.low)

    def nll_unit(self, U: np.ndarray) -> np.ndarray:
        """Negative log-likelihood of rows of unit-cube points (non-finite -> a large number)."""
        ll = self.loglik(self.to_x(np.clip(U, 0.0, 1.0)))
        return np.where(np.isfinite(ll), -ll, _BAD)


# ------------------------------------------------------------------------------ statistics


def fit_statistics(data: np.ndarray, model: np.ndarray) -> dict[str, float]:
    """r2 (squared correlation), mape (fraction) and Theil's UM, US, UC (Sterman 1984) of one series.

    With ``MSE = mean((m - y)^2)``, population standard deviations ``s_m``, ``s_y`` and correlation
    ``r``: ``UM = (mean m - mean y)^2 / MSE``, ``US = (s_m - s_y)^2 / MSE``,
    ``UC = 2 (1 - r) s_m s_y / MSE``; they sum to 1. A perfect fit (MSE 0) has NaN shares.
    """
    y = np.asarray(data, dtype=float)
    m = np.asarray(model, dtype=float)
    sy, sm = float(np.std(y)), float(np.std(m))
    r = float(np.corrcoef(y, m)[0, 1]) if sy > 0 and sm > 0 else float("nan")
    nz = y != 0
    mape = float(np.mean(np.abs((m[nz] - y[nz]) / y[nz]))) if nz.any() else float("nan")
    mse = float(np.mean((m - y) ** 2))
    if mse > 0:
        um = (float(np.mean(m)) - float(np.mean(y))) ** 2 / mse
        us = (sm - sy) ** 2 / mse
        uc = 2 * (1 - (r if math.isfinite(r) else 0.0)) * sm * sy / mse
    else:
        um = us = uc = float("nan")
    return {"r2": r * r if math.isfinite(r) else float("nan"), "mape": mape,
            "theil_um": um, "theil_us": us, "theil_uc": uc}


def _split_rhat(chain: np.ndarray) -> np.ndarray:
    """Split R-hat per parameter of a chain (steps, walkers, parameters), walkers as chains."""
    steps = chain.shape[0] // 2 * 2
    if steps < 4:
        return np.full(chain.shape[2], np.nan)
    half = steps // 2
    parts = np.concatenate([chain[:half], chain[half:steps]], axis=1)  # (half, 2W, k)
    means = parts.mean(axis=0)
    within = parts.var(axis=0, ddof=1).mean(axis=0)
    between = half * means.var(axis=0, ddof=1)
    var = (half - 1) / half * within + between / half
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var / within)


# ------------------------------------------------------------------------------ result


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """What :func:`calibrate` found.

    Attributes:
        model: the model's name.  data: the history file's name.  method, seed: as asked.
        parameters: the fitted parameters' names.  priors: their bounds and priors.
        estimates: parameter -> estimate (optimize: the maximum-likelihood point; bayes: the
            posterior median).  intervals: parameter -> (low, high), a 90% interval.
        sample: the posterior sample (one column per parameter; ``posterior.csv``).
        fit: per series (index) r2, mape, theil_um, theil_us, theil_uc at the estimates.
        errors: series -> error model; sigma: series -> estimated error scale (in the series'
            units for normal, of the log for lognormal).
        history: the data.  times, line, band, observed_band: the fit charts' content (the model
            at the estimates at saved times; 5-95% of the model over the sample; the same with
            measurement error added).
        diagnostics: run counts, seconds, log-likelihood, and (bayes) autocorrelation times,
            R-hat and the acceptance fraction.  notices: the warnings issued.
    """

    model: str
    data: str
    method: str
    seed: int
    parameters: tuple[str, ...]
    priors: tuple[Prior, ...]
    estimates: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    sample: pd.DataFrame
    fit: pd.DataFrame
    errors: dict[str, str]
    sigma: dict[str, float]
    history: History = field(repr=False)
    times: np.ndarray = field(repr=False)
    line: dict[str, np.ndarray] = field(repr=False)
    band: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    observed_band: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    time_unit: str = ""
    units: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per fitted parameter: estimate, 90% interval, prior bounds, units, prior."""
        rows = [dict(parameter=p.name, estimate=self.estimates[p.name], low=self.intervals[p.name][0],
                     high=self.intervals[p.name][1], prior_low=p.low, prior_high=p.high, units=p.units,
                     prior=p.describe()) for p in self.priors]
        return pd.DataFrame(rows, columns=["parameter", "estimate", "low", "high", "prior_low", "prior_high",
                                           "units", "prior"])

    def plot(self, series: str | None = None, **kwargs) -> "Figure":
        """The fit chart of one series, or of every series (see :mod:`cxsystems.plotting.calibration`)."""
        from ..plotting.calibration import fit_chart, fit_charts

        if series is not None:
            return fit_chart(self, series, **kwargs)
        return fit_charts(self, **kwargs)

    def plot_pairs(self, **kwargs) -> "Figure":
        """Pair plot of the posterior sample (histograms and scatter plots)."""
        from ..plotting.calibration import pair_plot

        return pair_plot(self, **kwargs)

    def chart_files(self, format: str = "png") -> dict[str, str | None]:
        """File name -> series charted (``None`` for the pair plot), as :meth:`save` writes them."""
        stems = outcome_stems(self.history.variables, prefix="fit_")
        files = {f"{stems[v]}.{format}": v for v in self.history.variables}
        if self.method == "bayes":
            files[f"pairs.{format}"] = None
        return files

    def toml_text(self) -> str:
        """The text of ``calibration.toml`` (the format :mod:`cxsystems.model.calibration_file` reads)."""
        lines = ["# written by cxsystems calibrate; values in the model's units", "[calibration]",
                 f"model = {_toml_str(self.model)}", f"data = {_toml_str(self.data)}",
                 f"method = {_toml_str(self.method)}", f"seed = {int(self.seed)}",
                 f"sample = {_toml_str('posterior.csv')}", "", "[estimates]"]
        lines += [f"{_toml_str(p)} = {_toml_num(self.estimates[p])}" for p in self.parameters]
        lines += ["", "[intervals]"]
        lines += [f"{_toml_str(p)} = [{_toml_num(self.intervals[p][0])}, {_toml_num(self.intervals[p][1])}]"
                  for p in self.parameters]
        lines += ["", "[fit]"]
        for s, row in self.fit.iterrows():
            inner = ", ".join(f"{c} = {_toml_num(row[c])}" for c in self.fit.columns)
            lines.append(f"{_toml_str(s)} = {{ {inner} }}")
        return "\n".join(lines) + "\n"

    def save(self, folder: str | Path, *, format: str = "png", run: Mapping[str, Any] | None = None) -> list[Path]:
        """Write ``calibration.toml``, ``posterior.csv``, ``parameters.csv``
        (parameter,estimate,low,high), ``fit.csv`` (series,r2,mape,theil_um,theil_us,theil_uc), a
        fit chart per series (``fit_<series>.FORMAT``) and, for ``bayes``, ``pairs.FORMAT``, as one
        folder written whole (:func:`cxsystems.files.write_folder`)."""
        check_format(format)
        params = self.summary[["parameter", "estimate", "low", "high"]]
        fit = self.fit.reset_index().rename(columns={"index": "series"})
        writers = {
            "calibration.toml": lambda p: _write_text(p, self.toml_text()),
            "posterior.csv": lambda p: write_csv(self.sample, p, index=False),
            "parameters.csv": lambda p: write_csv(params, p, index=False),
            "fit.csv": lambda p: write_csv(fit, p, index=False),
        }
        for name, series in self.chart_files(format).items():
            writers[name] = (lambda p, s=series: write_figure(self.plot(s) if s is not None else self.plot_pairs(), p))
        info = {"command": "calibrate", "model": self.model, "data": self.data, "method": self.method,
                "seed": self.seed, "errors": self.errors,
                "sigma": {k: float(v) for k, v in self.sigma.items()},
                "diagnostics": {k: v for k, v in self.diagnostics.items() if not isinstance(v, np.ndarray)}}
        info.update(run or {})
        return write_folder(folder, writers, run=info)


def _write_text(path: Path, text: str) -> Path:
    from ..files import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _toml_str(s: str) -> str:
    import json

    return json.dumps(str(s), ensure_ascii=False)


def _toml_num(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


# ------------------------------------------------------------------------------ the searches


def _optimize(obj: Objective, rng: np.random.Generator, x0: np.ndarray, popsize: int, maxiter: int):
    """Global search (vectorised differential evolution) then a bounded polish; returns (u, nll)."""
    from scipy.optimize import differential_evolution, minimize

    k = len(obj.priors)

    def population(U):  # scipy passes (parameters, members)
        return obj.nll_unit(np.asarray(U).T)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        options = dict(vectorized=True, updating="deferred", popsize=popsize, maxiter=maxiter, tol=0.0,
                       atol=DE_ATOL, polish=False, init="latinhypercube", x0=np.clip(x0, 0, 1))
        import inspect

        # scipy 1.15 renamed seed to rng
        key = "rng" if "rng" in inspect.signature(differential_evolution).parameters else "seed"
        de = differential_evolution(population, [(0.0, 1.0)] * k, **{key: rng}, **options)
    h = 1e-5

    def value_and_grad(u):
        u = np.clip(u, 0.0, 1.0)
        plus = np.minimum(u + h, 1.0)
        minus = np.maximum(u - h, 0.0)
        pts = [u] + [np.where(np.arange(k) == i, plus, u) for i in range(k)] + \
              [np.where(np.arange(k) == i, minus, u) for i in range(k)]
        f = obj.nll_unit(np.array(pts))
        grad = (f[1:k + 1] - f[k + 1:]) / np.maximum(plus - minus, 1e-300)
        return float(f[0]), grad

    best_u, best_f = np.asarray(de.x), float(de.fun)

    def shifted(u):  # the objective near 0, so that the polish's tolerance is absolute (log-likelihood units)
        f, g = value_and_grad(u)
        return f - best_f, g

    res = minimize(shifted, best_u, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * k,
                   options={"maxiter": 100, "ftol": 1e-6})
    res.fun = float(res.fun) + best_f
    if float(res.fun) < best_f:
        best_u, best_f = np.clip(res.x, 0.0, 1.0), float(res.fun)
    return best_u, best_f, int(de.nit)


def _curvature(obj: Objective, u: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Curvature of the negative log-likelihood in the unit cube at ``u``: the Gauss-Newton (Fisher
    information) matrix ``sum_s (n_s / SSR_s) J_s' J_s``, with the residuals' Jacobians ``J_s`` from
    central differences computed in one batch of ``2k + 1`` runs. It is the Hessian at the optimum
    less the residuals' own curvature, which vanishes on average; unlike a second-difference Hessian
    it stays accurate where the model has kinks (lookups, MIN, MAX) and is exactly singular along a
    direction the data cannot see (two parameters entering only as a product)."""
    k = u.size
    c = np.clip(u, h, 1.0 - h)
    e = np.eye(k) * h
    pts = [c] + [c + e[i] for i in range(k)] + [c - e[i] for i in range(k)]
    res = obj.residuals(obj.to_x(np.array(pts)))
    info = np.zeros((k, k))
    for r in res:
        r0 = r[:, 0]
        ssr = float(np.sum(r0 * r0))
        J = (r[:, 1:k + 1] - r[:, k + 1:]) / (2 * h)
        if not (np.all(np.isfinite(J)) and ssr > 0):
            return np.full((k, k), np.nan)
        info += r0.size / ssr * (J.T @ J)
    return info


def _laplace(H: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariance (unit cube) from the Hessian, with flat directions capped; also eigen-pairs."""
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        k = H.shape[0]
        return np.eye(k) * 1e6, np.zeros(k), np.eye(k)
    lam, vec = np.linalg.eigh(H)
    top = max(float(np.max(np.abs(lam))), 1e-300)
    floor = max(top * 1e-12, 1e-12)
    cov = (vec / np.maximum(lam, floor)) @ vec.T
    return cov, lam, vec


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.maximum(np.diag(cov), 1e-300))
    return cov / np.outer(sd, sd)


def _truncated_normal(rng, mean, cov, lo, hi, n) -> np.ndarray:
    """``n`` draws of N(mean, cov) inside [lo, hi] by rejection; when the normal puts almost no mass
    inside (a direction the data leave flat), the rest are drawn uniformly inside the bounds."""
    k = mean.size
    out = np.empty((0, k))
    for _ in range(50):
        d = rng.multivariate_normal(mean, cov, size=4 * n, method="eigh")
        d = d[np.all((d >= lo) & (d <= hi), axis=1)]
        out = np.vstack([out, d])
        if len(out) >= n:
            return out[:n]
    d = lo + rng.random((n - len(out), k)) * (hi - lo)
    return np.vstack([out, d])


def _notice(message: str, kind=IdentifiabilityNotice, sink: list | None = None) -> None:
    if sink is not None:
        sink.append(message)
    warnings.warn(message, kind, stacklevel=3)


def _identifiability(names: Sequence[str], corr: np.ndarray, sink: list, how: str) -> None:
    """One notice listing every pair of parameters correlated beyond :data:`CORRELATION_LIMIT`."""
    k = len(names)
    pairs = [(abs(corr[i, j]), f"{names[i]!r} and {names[j]!r} ({corr[i, j]:+.2f})")
             for i in range(k) for j in range(i + 1, k)
             if math.isfinite(corr[i, j]) and abs(corr[i, j]) > CORRELATION_LIMIT]
    if pairs:
        listed = "; ".join(text for _, text in sorted(pairs, reverse=True))
        _notice(f"the data do not tell these parameters apart ({how} correlation beyond {CORRELATION_LIMIT:g} in "
                f"size): {listed}; fix one of each pair or add data that separates them", sink=sink)


def _flat_directions(names: Sequence[str], lam: np.ndarray, vec: np.ndarray, sink: list) -> None:
    """One notice for the near-flat directions of the curvature (eigenvalues below 1e-6 of the largest)."""
    top = float(np.max(np.abs(lam))) if lam.size else 0.0
    flat = [i for i in range(lam.size) if top > 0 and lam[i] < 1e-6 * top]
    if not flat:
        return
    weight = np.sum(vec[:, flat] ** 2, axis=1)
    who = [names[c] for c in np.argsort(-weight) if weight[c] > 0.1][:4]
    _notice(f"the likelihood is flat along {len(flat)} direction{'s' if len(flat) > 1 else ''} (near-singular "
            f"curvature), mostly {', '.join(repr(w) for w in who)}: the data barely constrain "
            f"{'them' if len(who) > 1 else 'it'}, and the intervals span the bounds", sink=sink)


# ------------------------------------------------------------------------------ calibrate


def calibrate(model: "Model", data: Any, fit: Any = None, *, method: str = "optimize", seed: int = 0,
              scenario: Any = None, error: Any = "normal", mapping: Any = None, start_date: Any = None,
              popsize: int = 15, maxiter: int | None = None, walkers: int | None = None, steps: int = 1000,
              burn: int | None = None) -> CalibrationResult:
    """Fit a model's parameters to history data.

    Args:
        model: a loaded model (:func:`cxsystems.load_model`).
        data: a history file (CSV or Excel), a DataFrame, or a :class:`~cxsystems.model.history.History`.
        fit: parameter names (list or ``"A,B"``); default: the model's ``[uncertain]`` parameters.
        method: ``"optimize"`` (maximum likelihood, curvature intervals) or ``"bayes"`` (MCMC).
        seed: seed of the searches and draws (same seed, same numbers).
        scenario: the scenario the history was lived under (default: the model's baseline).
        error: ``"normal"`` or ``"lognormal"`` measurement error, for all series or per series (dict).
        mapping, start_date: passed to :func:`~cxsystems.model.history.read_history`.
        popsize: differential evolution's population per parameter (population = popsize x parameters).
        maxiter: most generations of the global search (default: 60 + 10 per parameter).
        walkers, steps, burn: the MCMC ensemble (default walkers: max(64, 8 x parameters), even; emcee
            moves half the walkers per engine pass, and a pass costs about the same for 16 or 64
            runs), steps per walker, and steps dropped as burn-in (default: a third).

    Returns:
        A :class:`CalibrationResult`.

    Raises:
        CxError: bad data, names, options (one line).
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise CxError(f"method = {method!r}: use {' or '.join(METHODS)}")
    if method == "bayes":  # before any work: say at once what is missing
        require_extra("emcee", "calibrate(method='bayes')")
    seed = check_seed(seed, "seed")
    seed = 0 if seed is None else seed
    for name, v, least in (("popsize", popsize, 4), ("steps", steps, 50)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise CxError(f"{name} must be a whole number of at least {least}, got {v!r}")
    history = read_history(model, data, mapping=mapping, start_date=start_date)
    priors = fit_priors(model, fit)
    kinds = _error_kinds(history, error)
    changes = resolve_scenario(model, scenario).changes
    obj = Objective(model, history, priors, changes, kinds)
    rng = np.random.default_rng(seed)
    names = tuple(p.name for p in priors)
    k = len(priors)
    lo, hi = obj.low, obj.high
    notices: list[str] = []
    diag: dict[str, Any] = {}

    x_default = np.array([model.parameters[n].value for n in names])
    maxiter = int(maxiter) if maxiter is not None else 60 + 10 * k
    u_best, nll, generations = _optimize(obj, rng, obj.to_u(np.clip(x_default, lo, hi)), popsize, maxiter)
    x_best = obj.to_x(u_best)
    H = _curvature(obj, u_best)
    cov_u, lam, vec = _laplace(H)
    scale = hi - lo
    cov_x = cov_u * np.outer(scale, scale)
    diag.update(log_likelihood=-nll, generations=generations)

    if method == "optimize":
        _flat_directions(names, lam, vec, notices)
        _identifiability(names, _correlation(cov_u), notices, "curvature")
        sd = np.sqrt(np.diag(cov_x))
        estimates = {n: float(x_best[i]) for i, n in enumerate(names)}
        intervals = {n: (float(max(lo[i], x_best[i] - _Z * sd[i])), float(min(hi[i], x_best[i] + _Z * sd[i])))
                     for i, n in enumerate(names)}
        sample = _truncated_normal(rng, x_best, cov_x, lo, hi, SAMPLE_ROWS)
    else:
        sample, estimates, intervals = _bayes(obj, rng, x_best, cov_x, walkers, steps, burn, diag, notices)

    sample_df = pd.DataFrame(sample, columns=list(names))
    # the model at the estimates and over (part of) the sample: fit statistics and chart bands
    x_est = np.array([estimates[n] for n in names])
    pick = sample[rng.choice(len(sample), size=min(BAND_RUNS, len(sample)), replace=False)]
    values = obj.trajectories(np.vstack([x_est, pick]))
    at = obj.at_data(values)
    fit_rows, sigma, line, band, oband = {}, {}, {}, {}, {}
    for s_i, s in enumerate(history.series):
        m = at[s_i][:, 0]
        fit_rows[s.variable] = fit_statistics(s.values, m)
        if kinds[s.variable] == "lognormal":
            with np.errstate(all="ignore"):
                r = np.log(s.values) - np.log(np.where(m > 0, m, np.nan))
        else:
            r = s.values - m
        sg = float(np.sqrt(np.nanmean(r * r)))
        sigma[s.variable] = sg
        traj = values[s_i]  # (times, runs)
        line[s.variable] = traj[:, 0]
        draws = traj[:, 1:]
        with np.errstate(all="ignore"):
            band[s.variable] = (np.nanquantile(draws, 0.05, axis=1), np.nanquantile(draws, 0.95, axis=1))
            noise = rng.standard_normal(draws.shape) * sg
            noisy = draws * np.exp(noise) if kinds[s.variable] == "lognormal" else draws + noise
            oband[s.variable] = (np.nanquantile(noisy, 0.05, axis=1), np.nanquantile(noisy, 0.95, axis=1))
    fit_df = pd.DataFrame.from_dict(fit_rows, orient="index",
                                    columns=["r2", "mape", "theil_um", "theil_us", "theil_uc"])
    fit_df.index.name = "series"
    diag.update(runs=obj.runs, passes=obj.passes, seconds=round(time.perf_counter() - t0, 3))
    return CalibrationResult(
        model=model.name, data=history.name, method=method, seed=seed, parameters=names, priors=priors,
        estimates=estimates, intervals=intervals, sample=sample_df, fit=fit_df, errors=kinds, sigma=sigma,
        history=history, times=obj.times, line=line, band=band, observed_band=oband, diagnostics=diag,
        notices=tuple(notices), time_unit=model.time_unit,
        units={v: model.units.get(v, "") for v in history.variables})


def _bayes(obj: Objective, rng, x_best, cov_x, walkers, steps, burn, diag, notices):
    """emcee on likelihood x prior, started from the optimum's Laplace approximation."""
    emcee = require_extra("emcee", "calibrate(method='bayes')")

    priors, lo, hi = obj.priors, obj.low, obj.high
    names = [p.name for p in priors]
    k = len(priors)
    nw = walkers if walkers is not None else max(64, 8 * k)
    if isinstance(nw, bool) or not isinstance(nw, (int, np.integer)) or nw < 2 * k + 2:
        raise CxError(f"walkers must be a whole number of at least {2 * k + 2} (2 x parameters + 2), got {walkers!r}")
    nw += nw % 2
    burn = steps // 3 if burn is None else int(burn)
    if not 0 <= burn < steps - 10:
        raise CxError(f"burn must be a whole number from 0 to {steps - 11}, got {burn!r}")

    def log_prob(X):
        X = np.atleast_2d(X)
        inside = np.all((X >= lo) & (X <= hi), axis=1)
        out = np.full(X.shape[0], -np.inf)
        if inside.any():
            Xi = X[inside]
            lp = sum(p.logpdf(Xi[:, i]) for i, p in enumerate(priors))
            ok = np.isfinite(lp)
            vals = np.full(Xi.shape[0], -np.inf)
            if ok.any():
                vals[ok] = obj.loglik(Xi[ok]) + lp[ok]
            out[inside] = vals
        return out

    # start: the Laplace approximation around the optimum, widened a little, inside the bounds
    eps = 1e-6 * (hi - lo)
    p0 = _truncated_normal(rng, x_best, cov_x, lo + eps, hi - eps, nw)
    lp0 = log_prob(p0)
    bad = ~np.isfinite(lp0)
    if bad.any():  # e.g. a prior density of 0 at a triangular end: start near the optimum
        p0[bad] = np.clip(x_best + 1e-3 * (hi - lo) * rng.standard_normal((int(bad.sum()), k)), lo + eps, hi - eps)
    sampler = emcee.EnsembleSampler(nw, k, log_prob, vectorize=True,
                                    moves=[(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)])
    state = np.random.RandomState(int(rng.integers(2**31 - 1)))
    sampler.random_state = state.get_state()
    sampler.run_mcmc(p0, steps, progress=False)
    chain = sampler.get_chain()  # (steps, walkers, k)
    kept = chain[burn:]
    tau = np.asarray(emcee.autocorr.integrated_time(kept, quiet=True, tol=0), dtype=float)
    rhat = _split_rhat(kept)
    acc = float(np.mean(sampler.acceptance_fraction))
    diag.update(walkers=nw, steps=steps, burn=burn, autocorr_time=dict(zip(names, map(float, tau))),
                rhat=dict(zip(names, map(float, rhat))), acceptance=acc)
    tmax = float(np.nanmax(tau)) if tau.size else 0.0
    if not math.isfinite(tmax) or steps - burn < 50 * tmax:
        _notice(f"the MCMC chain may be too short: {steps - burn} steps kept, autocorrelation time up to "
                f"{tmax:.0f} steps (50 times that is advised); raise steps", ConvergenceNotice, notices)
    worst = float(np.nanmax(rhat)) if rhat.size else float("nan")
    if math.isfinite(worst) and worst > 1.1:
        _notice(f"the MCMC walkers disagree (split R-hat up to {worst:.2f} > 1.1); raise steps",
                ConvergenceNotice, notices)
    thin = max(1, int(tmax / 2)) if math.isfinite(tmax) else 1
    flat = kept[::thin].reshape(-1, k)
    if len(flat) > SAMPLE_ROWS:
        flat = flat[np.sort(rng.choice(len(flat), size=SAMPLE_ROWS, replace=False))]
    estimates = {n: float(np.median(flat[:, i])) for i, n in enumerate(names)}
    intervals = {n: (float(np.quantile(flat[:, i], 0.05)), float(np.quantile(flat[:, i], 0.95)))
                 for i, n in enumerate(names)}
    corr = np.corrcoef(flat.T) if k > 1 else np.ones((1, 1))
    _identifiability(names, np.atleast_2d(corr), notices, "posterior")
    weak = []
    for i, p in enumerate(priors):
        ratio = float(np.std(flat[:, i])) / max(p.sd(), 1e-300)
        if ratio > FLAT_SHARE:
            weak.append(f"{p.name!r} ({100 * (1 - ratio):.0f}% narrower)")
    if weak:
        _notice("the data barely inform these parameters, whose posterior is hardly narrower than their prior: "
                + ", ".join(weak), sink=notices)
    return flat, estimates, intervals


__all__ = ["CalibrationResult", "ConvergenceNotice", "IdentifiabilityNotice", "Objective", "Prior", "calibrate",
           "fit_priors", "fit_statistics"]
