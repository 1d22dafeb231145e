"""Which assumptions drive the verdict: global sensitivity analysis over the ``[uncertain]`` parameters.

::

    import cxsystems as cx
    model = cx.load_model("cx_service")
    res = cx.sensitivity(model, method="sobol", metric="cumulative_profit", n=512)
    res.summary        # parameter, S1, S1_conf, ST, ST_conf (95% confidence half-widths)
    res.top(3)         # the three strongest drivers, with a sentence each
    res.plot()         # bars with confidence whiskers
    cx.sensitivity(model, metric="cumulative_profit", scenario="structural_prevention",
                   versus="reactive_hiring")             # what drives a head-to-head verdict
    cx.sensitivity(model, outcome="Ticket Backlog")       # indices at every saved time

SALib's pattern, in three steps that :func:`analyse` chains: a *design* in the unit hypercube
(:func:`design`: Saltelli's extension of a scrambled Sobol' sequence, ``n * (d + 2)`` rows, or
``n`` Morris trajectories of ``d + 1`` rows), mapped through each factor's bounded distribution
(:meth:`cxsystems.model.uncertain.Uncertain.ppf`, the inverse CDF the ensembles use, so the indices
are over the declared distributions, not over uniform ranges); an *evaluation* of every row; and
the *analysis* of the outputs (:func:`indices`: :func:`SALib.analyze.sobol.analyze` for first-order
and total indices, :func:`SALib.analyze.morris.analyze` for ``mu*`` and ``sigma``, each with
bootstrap confidence intervals). The evaluation is a parameter: :func:`sensitivity` evaluates the
model, every row in one vectorised engine pass per scenario and chunk of worlds
(:meth:`cxsystems.engine.plan.CompiledModel.run` with arrays of parameter values); tests pass a
plain function (SALib's Ishigami function) through the same path.

The target is a metric of a scenario (the scenario file's ``[metrics]``), a head-to-head verdict
(scenario A's metric minus scenario B's, in the same worlds) or an outcome variable at every saved
time (indices per time; scenario A's value minus B's with ``versus``).

Morris' elementary effects are taken in the unit hypercube: ``mu*`` is in the target's units and
reads as "moving this assumption across its whole distribution changes the target by about this
much", comparable between parameters of different units.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import CxError, UnsupportedConstruct, require_extra
from ..files import check_format, write_csv, write_figure, write_folder
from ..limits import check_memory
from ..model.overrides import with_values
from ..model.uncertain import MAX_SEED, Uncertain, check_seed
from ..names import match
from ..text import money_prefix, pretty_units, short_number, time_words
from .metrics import metric_values

if TYPE_CHECKING:  # pragma: no cover
    from ..model.loader import Model

#: Sensitivity methods.
METHODS = ("sobol", "morris")
#: Default ``n``: base samples of the Sobol' design (a power of 2), trajectories of the Morris design.
DEFAULT_N = {"sobol": 512, "morris": 50}
#: Grid levels of the Morris design (even; the elementary effect steps two thirds of the range).
MORRIS_LEVELS = 4
#: Confidence level of every interval (bootstrap over the runs).
CONF_LEVEL = 0.95
#: Bootstrap resamples of the confidence intervals.
NUM_RESAMPLES = 100
#: Worlds per engine pass (one pass per scenario and chunk).
CHUNK = 2500
#: File names :meth:`SensitivityResult.save` writes besides the manifest.
CSV_NAME = "sensitivity.csv"
CHART_STEM = "sensitivity"
#: Columns of :attr:`SensitivityResult.summary` per method (a ``time`` column comes first when
#: the target is an outcome over time).
COLUMNS = {"sobol": ("parameter", "S1", "S1_conf", "ST", "ST_conf"),
           "morris": ("parameter", "mu_star", "mu_star_conf", "sigma", "mu")}
#: The column each method ranks drivers by.
RANK_BY = {"sobol": "ST", "morris": "mu_star"}


# ------------------------------------------------------------------------------------ target


@dataclass(frozen=True)
class Target:
    """What the indices apportion.

    ``kind`` is ``"metric"`` (one number per world: ``name`` is the metric, ``how`` its summary of
    ``variable``) or ``"outcome"`` (``variable`` at every saved time). With ``versus``, the target
    is ``scenario``'s value minus ``versus``'s in the same world. ``units`` are the variable's (for a
    metric, the metric's own); ``percent``: a fraction shown times 100.
    """

    kind: str
    name: str
    label: str
    variable: str
    scenario: str
    versus: str | None = None
    how: str | None = None
    units: str = ""
    better: str = "lower"
    percent: bool = False

    @property
    def label_lower(self) -> str:
        """The label with a lower-case first letter (``'cumulative profit'``), unless it starts an
        acronym."""
        return self.label[:1].lower() + self.label[1:] if self.label[1:2].islower() else self.label

    def describe(self) -> str:
        """``'cumulative profit in baseline'`` or ``'the difference in cumulative profit between
        structural_prevention and reactive_hiring'`` (the first's value minus the second's)."""
        if self.versus is None:
            return f"{self.label_lower} in {self.scenario}"
        return f"the difference in {self.label_lower} between {self.scenario} and {self.versus}"

    def amount(self, x: float) -> str:
        """A value in the target's units as text: ``'$1.2M'``, ``'0.8 weeks'``, ``'1.5 points'``."""
        if self.percent:
            return f"{short_number(100 * x)} points"
        units = pretty_units(self.units)
        prefix = money_prefix(self.units)
        body = short_number(x, prefix)
        return f"{body} {units}" if units and not prefix else body


# ------------------------------------------------------------------------------ the SALib path


def _problem(names: Sequence[str]) -> dict:
    """SALib's problem of ``names`` over the unit hypercube."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def check_n(method: str, n, option: str = "n") -> int:
    """``n`` if it suits ``method`` (Sobol: a power of 2, at least 2; Morris: at least 2
    trajectories), else a one-line CxError naming ``option``."""
    if method not in METHODS:
        raise CxError(f"method {method!r}: use {' or '.join(METHODS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise CxError(f"{option} must be a whole number of at least 2, got {n!r}")
    n = int(n)
    if method == "sobol" and n & (n - 1):
        lo = 1 << (n.bit_length() - 1)
        raise CxError(f"{option} {n:,}: a Sobol' design needs a power of 2 (for example {lo:,} or {2 * lo:,})")
    return n


def design(method: str, d: int, n: int, seed: int = 0) -> np.ndarray:
    """The unit-hypercube design of ``method`` for ``d`` factors: ``(rows, d)``.

    Sobol: Saltelli's scheme on a scrambled Sobol' sequence without second-order terms,
    ``n * (d + 2)`` rows (:func:`SALib.sample.sobol.sample`). Morris: ``n`` trajectories of
    ``d + 1`` rows on a grid of :data:`MORRIS_LEVELS` levels (:func:`SALib.sample.morris.sample`).
    The same ``seed`` gives the same design.
    """
    n = check_n(method, n)
    seed = check_seed(seed)
    if d < 1:
        raise CxError("no factors to vary")
    names = [f"x{i}" for i in range(d)]
    if method == "sobol":
        sobol_sample = require_extra("SALib.sample.sobol", "sensitivity analysis")

        return sobol_sample.sample(_problem(names), n, calc_second_order=False, scramble=True, seed=seed)
    morris_sample = require_extra("SALib.sample.morris", "sensitivity analysis")

    return morris_sample.sample(_problem(names), n, num_levels=MORRIS_LEVELS, seed=seed)


def to_values(factors: Sequence[Uncertain], unit: np.ndarray) -> dict[str, np.ndarray]:
    """Map a unit-hypercube design (rows, factors) through each factor's bounded inverse CDF:
    ``{parameter: values}``."""
    return {u.parameter: u.ppf(unit[:, j]) for j, u in enumerate(factors)}


def varies(y: np.ndarray) -> bool:
    """Whether outputs ``y`` vary by more than rounding: a spread above ``1e-12`` of their largest
    magnitude (a Sobol' index of an output that does not vary is undefined, of rounding noise
    meaningless)."""
    y = np.asarray(y, dtype=float)
    return bool(np.ptp(y) > 1e-12 * np.max(np.abs(y))) if y.size else False


def _analyse_column(method: str, names: Sequence[str], unit: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """SALib's indices of one output column (NaN Sobol indices for an output with no variance)."""
    problem = _problem(names)
    d = len(names)
    if method == "sobol":
        if not varies(y):
            nan = np.full(d, np.nan)
            return {"S1": nan, "S1_conf": nan, "ST": nan, "ST_conf": nan}
        sobol_analyze = require_extra("SALib.analyze.sobol", "sensitivity analysis")

        # a Generator, not an int: SALib draws its bootstrap from the global state for seed 0
        si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=NUM_RESAMPLES,
                                   conf_level=CONF_LEVEL, seed=np.random.default_rng(seed))
        return {k: np.asarray(si[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    morris_analyze = require_extra("SALib.analyze.morris", "sensitivity analysis")

    si = morris_analyze.analyze(problem, unit, y, num_resamples=NUM_RESAMPLES, conf_level=CONF_LEVEL,
                                num_levels=MORRIS_LEVELS, seed=np.random.default_rng(seed))
    return {k: np.asarray(si[k], dtype=float) for k in ("mu_star", "mu_star_conf", "sigma", "mu")}


def indices(method: str, names: Sequence[str], unit: np.ndarray, y: np.ndarray, seed: int = 0,
            times: np.ndarray | None = None) -> pd.DataFrame:
    """The sensitivity indices of outputs ``y`` of the design ``unit``, as a tidy table.

    Args:
        method: ``"sobol"`` or ``"morris"`` (as the design was made).
        names: the factors' names, in the design's column order.
        unit: the unit-hypercube design (rows, factors) from :func:`design`.
        y: the outputs, ``(rows,)`` or ``(rows, times)`` for indices per time.
        seed: seed of the bootstrap confidence intervals.
        times: the times of ``y``'s columns (required when ``y`` is two-dimensional).

    Returns:
        One row per parameter (and time): the columns of :data:`COLUMNS` (``time`` first when
        ``y`` has times). Sobol indices of an output that does not vary (:func:`varies`) are NaN.
    """
    y = np.asarray(y, dtype=float)
    cols = COLUMNS[method]
    if y.ndim == 1:
        res = _analyse_column(method, names, unit, y, seed)
        return pd.DataFrame({"parameter": list(names), **{k: res[k] for k in cols[1:]}}, columns=list(cols))
    if times is None or len(times) != y.shape[1]:
        raise CxError("indices per time need one time per output column")
    frames = []
    for k, t in enumerate(times):
        res = _analyse_column(method, names, unit, np.ascontiguousarray(y[:, k]), seed)
        frames.append(pd.DataFrame({"time": float(t), "parameter": list(names), **{c: res[c] for c in cols[1:]}}))
    return pd.concat(frames, ignore_index=True)[["time", *cols]]


def analyse(factors: Sequence[Uncertain], evaluate: Callable[[Mapping[str, np.ndarray]], np.ndarray],
            method: str = "sobol", n: int | None = None, seed: int = 0,
            times: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, pd.DataFrame]:
    """Sample, evaluate, analyse: the whole SALib path with the evaluation as a parameter.

    Args:
        factors: the uncertain parameters to vary (their distributions map the design).
        evaluate: ``evaluate({parameter: values})`` returns the output of every row: ``(rows,)``,
            or ``(rows, times)`` for indices per time. It is called once, with every row.
        method, n, seed: as :func:`design` (``n`` defaults to :data:`DEFAULT_N`).
        times: the times of the output's columns when it has some.

    Returns:
        ``(unit design, values per parameter, outputs, indices table)``.

    Raises:
        CxError: bad method, ``n`` or seed; outputs of the wrong shape or not finite.
    """
    n = DEFAULT_N.get(method, 0) if n is None else n
    unit = design(method, len(factors), n, seed)
    values = to_values(factors, unit)
    y = np.asarray(evaluate(values), dtype=float)
    if y.shape[:1] != (len(unit),) or y.ndim > 2:
        raise CxError(f"the evaluation returned shape {y.shape}; expected ({len(unit)},) or ({len(unit)}, times)")
    bad = ~np.isfinite(y)
    if bad.any():
        r = int(np.argwhere(bad)[0][0])
        world = ", ".join(f"{p} = {v[r]:.4g}" for p, v in values.items())
        raise CxError(f"the target is {y[np.unravel_index(np.argmax(bad), y.shape)]} in "
                      f"{int(bad.reshape(len(y), -1).any(axis=1).sum()):,} of {len(y):,} sampled worlds "
                      f"(first: {world}); the model breaks down there: check its equations and [uncertain] ranges")
    seed = 0 if seed is None else seed
    table = indices(method, [u.parameter for u in factors], unit, y, seed, times)
    return unit, values, y, table


# ------------------------------------------------------------------------------------ result


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """What :func:`sensitivity` returns.

    Attributes:
        model_name, model_title: the model's file name and its name for people.
        method: ``"sobol"`` or ``"morris"``.
        target: what the indices apportion (:class:`Target`).
        factors: the varied parameters and their distributions.
        table: the indices (see :attr:`summary`).
        n: Sobol base samples or Morris trajectories; ``runs`` the worlds simulated per scenario.
        seed: the seed of the design and of the bootstrap.
        samples: ``{parameter: values}`` of every simulated world; ``outputs`` the target in each
            (``(runs,)`` or ``(runs, times)``).
        times: the saved times of an outcome target, else ``None``.
        fixed: parameters held at a value (``params=`` or the model's overrides) instead of sampled.
        time_unit: the model's time unit as written (``"Week"``).
    """

    model_name: str
    method: str
    target: Target
    factors: tuple[Uncertain, ...]
    table: pd.DataFrame
    n: int
    runs: int
    seed: int
    samples: Mapping[str, np.ndarray]
    outputs: np.ndarray
    times: np.ndarray | None = None
    fixed: Mapping[str, float] = field(default_factory=dict)
    model_title: str = ""
    time_unit: str = "Week"

    @property
    def rank_by(self) -> str:
        """The column drivers are ranked by: ``ST`` (Sobol) or ``mu_star`` (Morris)."""
        return RANK_BY[self.method]

    @property
    def summary(self) -> pd.DataFrame:
        """The indices as a tidy table, one row per parameter, strongest driver first: ``parameter,
        S1, S1_conf, ST, ST_conf`` (Sobol; ``*_conf`` are half-widths of 95% intervals) or
        ``parameter, mu_star, mu_star_conf, sigma, mu`` (Morris, in the target's units). For an
        outcome over time, one row per time and parameter (``time`` first), parameters in the order
        of :meth:`top`."""
        if self.times is None:
            return self.table.sort_values(self.rank_by, ascending=False, kind="stable",
                                          na_position="last").reset_index(drop=True)
        order = {p: i for i, p in enumerate(self.ranking().index)}
        df = self.table.assign(_o=self.table["parameter"].map(order))
        return df.sort_values(["time", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)

    def ranking(self) -> pd.DataFrame:
        """One row per parameter (index), strongest first, with the columns of :attr:`summary`.

        For an outcome over time, each column is averaged over the saved times weighted by the
        target's variance at each time (Sobol: the share of the variance summed over the whole run,
        so times where the outcome hardly varies, and its indices are mostly noise, count little;
        Morris: the same weights)."""
        cols = list(COLUMNS[self.method][1:])
        if self.times is None:
            df = self.table.set_index("parameter")[cols]
        else:
            w = self.outputs.var(axis=0)
            w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
            names = [u.parameter for u in self.factors]
            vals = self.table[cols].to_numpy().reshape(len(self.times), len(names), len(cols))
            avg = np.einsum("t,tpc->pc", w, np.nan_to_num(vals))
            df = pd.DataFrame(avg, index=pd.Index(names, name="parameter"), columns=cols)
        return df.sort_values(self.rank_by, ascending=False, kind="stable", na_position="last")

    def top(self, k: int = 3) -> pd.DataFrame:
        """The ``k`` strongest drivers: ``parameter``, ``measure`` (``ST`` or ``mu_star``), ``value``,
        ``conf`` and ``text``, a sentence in plain words for a report."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise CxError(f"k must be a positive whole number, got {k!r}")
        rows = []
        for p, r in self.ranking().head(int(k)).iterrows():
            rows.append(dict(parameter=p, measure=self.rank_by, value=float(r[self.rank_by]),
                             conf=float(r[f"{self.rank_by}_conf"]), text=self._driver_text(p, r)))
        return pd.DataFrame(rows, columns=["parameter", "measure", "value", "conf", "text"])

    def _over(self) -> str:
        if self.times is None:
            return ""
        _, many = time_words(self.time_unit)
        return f", over {many} {self.times[0]:g}-{self.times[-1]:g} (weighted by the variance at each time)"

    def _driver_text(self, p: str, r: pd.Series) -> str:
        what = self.target.describe()
        if self.method == "sobol":
            s1, st = float(r["S1"]), float(r["ST"])
            if not math.isfinite(st):
                return f"{p}: {what} does not vary across the sampled worlds"
            if st - float(r["ST_conf"]) <= 0.005:
                return (f"{p} has no measurable effect on {what} (total index {_pct(st)} "
                        f"± {_pct(float(r['ST_conf']))}){self._over()}")
            text = (f"{p} explains {_pct(s1)} (±{_pct(float(r['S1_conf']))}) of the variance of {what} "
                    f"on its own and {_pct(st)} (±{_pct(float(r['ST_conf']))}) with its interactions")
            return text + self._over()
        mu_star, sigma, conf = float(r["mu_star"]), float(r["sigma"]), float(r["mu_star_conf"])
        conf = conf if conf > 1e-9 * abs(mu_star) else 0.0  # bootstrap rounding of identical effects
        text = (f"moving {p} across its whole range changes {what} by {self.target.amount(mu_star)} "
                f"on average (±{self.target.amount(conf)}){self._over()}")
        if mu_star > 0 and sigma > 0.5 * mu_star:
            text += (f"; its effect varies from world to world (sigma {self.target.amount(sigma)}): "
                     "non-linear or interacting with other assumptions")
        return text[0].upper() + text[1:]

    def plot(self, **kwargs):
        """The chart :meth:`save` writes (see :func:`cxsystems.plotting.sensitivity.sensitivity_chart`):
        bars with confidence whiskers (Sobol), ``mu*`` bars and a ``mu*``-``sigma`` map (Morris), or
        the indices over time for an outcome."""
        from ..plotting.sensitivity import sensitivity_chart

        return sensitivity_chart(self, **kwargs)

    def save(self, directory: str | os.PathLike, format: str = "png", *,
             run: Mapping[str, Any] | None = None) -> list[Path]:
        """Write exactly what ``cxsystems sensitivity`` writes into ``directory``: the chart
        (``sensitivity.FORMAT``), ``sensitivity.csv`` (:attr:`summary`) and the manifest (model,
        method, target, n, runs, seed, factors). The folder is written whole or not at all
        (:func:`cxsystems.files.write_folder`)."""
        check_format(format)
        writers: dict[str, Any] = {
            f"{CHART_STEM}.{format}": lambda path: write_figure(self.plot(), path),
            CSV_NAME: lambda path: write_csv(self.summary, path, index=False),
        }
        t = self.target
        info = {"model": self.model_name, "method": self.method,
                "target": {"kind": t.kind, "name": t.name, "scenario": t.scenario, "versus": t.versus},
                "n": self.n, "runs": self.runs, "seed": self.seed,
                "factors": [u.parameter for u in self.factors], "fixed": dict(self.fixed), **dict(run or {})}
        return write_folder(directory, writers, run=info)


def _pct(x: float) -> str:
    """An index as a percentage: ``0.423`` -> ``'42%'``, small ones with a decimal."""
    if not math.isfinite(x):
        return "-"
    v = 100 * x
    return f"{v:.0f}%" if abs(v) >= 10 else f"{v:.1f}%"


# ------------------------------------------------------------------------------- the model


def _metric_target(model: "Model", metric: str | None) -> tuple[Any, str]:
    specs = tuple(model.analysis.metrics)
    if not specs:
        raise CxError(f"model {model.name!r} declares no [metrics]: give an outcome variable, or add "
                      f"[metrics] to its scenario file{model.init_hint}")
    if metric is None:
        metric = model.analysis.headline or specs[-1].name
    for m in specs:
        if metric in (m.name, m.label):
            return m, m.name
    name = match(metric, [m.name for m in specs], what="metric", where="metric",
                 owner=f"model {model.name}", listing=True)
    return next(m for m in specs if m.name == name), name


def _target(model: "Model", metric, outcome, scenario: str, versus: str | None) -> Target:
    if outcome is not None:
        if metric is not None:
            raise CxError("give a metric or an outcome, not both")
        var = model.variable(outcome, "outcome")
        spec = next((o for o in model.analysis.outcomes if o.variable == var), None)
        return Target("outcome", var, spec.label if spec else var, var, scenario, versus, None,
                      (spec.units if spec and spec.units else model.units.get(var, "")),
                      spec.better if spec else "lower", bool(spec and spec.percent))
    m, name = _metric_target(model, metric)
    return Target("metric", name, m.label or name, m.variable, scenario, versus, m.how,
                  m.units or model.units.get(m.variable, ""), m.better, bool(m.percent))


def _factors(model: "Model", names: Sequence[str] | None, fixed: Mapping[str, float]) -> tuple[Uncertain, ...]:
    unc = tuple(model.analysis.uncertain)
    if not unc:
        raise CxError(f"model {model.name!r} declares no uncertain parameters: add an [uncertain] "
                      f"table to its scenario file (see cxsystems.model.uncertain){model.init_hint}")
    by_name = {u.parameter: u for u in unc}
    if names is None:
        chosen = tuple(u for u in unc if u.parameter not in fixed)
    else:
        if isinstance(names, str):
            names = [names]
        picked = []
        for raw in names:
            p = model.parameter(raw, "factors").name
            if p not in by_name:
                raise CxError(f"factors: {p!r} is not an [uncertain] parameter of model {model.name}; "
                              f"declare its distribution there to vary it")
            if p in fixed:
                raise CxError(f"factors: {p!r} is fixed at {fixed[p]:g} (params or the model's overrides); "
                              "vary it or fix it, not both")
            picked.append(by_name[p])
        chosen = tuple(dict.fromkeys(picked))
    if not chosen:
        raise CxError(f"every uncertain parameter of model {model.name!r} is fixed by an override "
                      f"({', '.join(sorted(fixed))}): nothing is left to vary")
    return chosen


def _model_evaluator(cm, target: Target, changes: Sequence[tuple], seed: int, chunk: int, progress):
    """``evaluate(values)``: the target in every world, one engine pass per scenario and chunk."""

    def evaluate(values: Mapping[str, np.ndarray]) -> np.ndarray:
        rows = len(next(iter(values.values())))
        out = None
        for start in range(0, rows, chunk):
            stop = min(start + chunk, rows)
            params = {p: v[start:stop] for p, v in values.items()}
            parts = []
            for ch in changes:
                # the same world index draws the same random numbers in every scenario
                res = cm.run(ch, params=params, variables=[target.variable], vector=True, seed=seed,
                             first_world=start)
                v = res.values[0]  # (time, run)
                parts.append(metric_values(res.times, v, target.how) if target.kind == "metric"
                             else np.ascontiguousarray(v.T))
            y = parts[0] - parts[1] if len(parts) == 2 else parts[0]
            if out is None:
                out = np.empty((rows, *y.shape[1:]))
            out[start:stop] = y
            if progress is not None:
                progress(stop, rows)
        return out

    return evaluate


def sensitivity(model: "Model", method: str = "sobol", metric: str | None = None, scenario: str | None = None,
                versus: str | None = None, n: int | None = None, seed: int | None = 0, outcome: str | None = None,
                params: Mapping[str, float] | None = None, *, factors: Sequence[str] | None = None,
                chunk_size: int = CHUNK, progress: Callable[[int, int], None] | None = None) -> SensitivityResult:
    """Which of the model's ``[uncertain]`` assumptions drive a metric, a verdict or an outcome.

    Args:
        model: a loaded model whose scenario file declares ``[uncertain]`` parameters.
        method: ``"sobol"`` (first-order and total variance shares with 95% intervals; ``n``
            base samples, a power of 2, ``n * (d + 2)`` runs) or ``"morris"`` (screening: ``mu*``
            and ``sigma`` of elementary effects; ``n`` trajectories, ``n * (d + 1)`` runs).
        metric: a metric of the scenario file's ``[metrics]`` (name or label; default the headline
            metric, else the last one).
        scenario: the scenario whose metric is the target (default the baseline).
        versus: a second scenario: the target becomes ``scenario``'s metric minus ``versus``'s in
            the same worlds (what decides the head-to-head verdict).
        n: Sobol base samples or Morris trajectories (default :data:`DEFAULT_N`).
        seed: seed of the design and of the bootstrap intervals; the same seed gives the same numbers.
        outcome: a variable: indices at every saved time instead of a metric (not with ``metric``).
        params: new base values ``{name: value}`` (validated: name, declared range; see
            :func:`cxsystems.model.overrides.with_values`): every world starts from them, a
            scenario's own change still wins; an ``[uncertain]`` parameter among them (or among
            the model's own overrides) is fixed, not varied.
        factors: vary only these ``[uncertain]`` parameters (default every one not in ``params``).
        chunk_size: worlds per engine pass.
        progress: called as ``progress(worlds_done, worlds_total)`` after each chunk.

    Raises:
        CxError: bad method, ``n`` or seed; unknown metric, scenario, variable or parameter; no
            ``[uncertain]`` parameters; a model the numpy engine does not run; a plan over the
            memory limit; a target that does not vary (Sobol) or is not finite in some world.
    """
    from ..engine import compile_model
    from ..model.scenarios import resolve_scenario

    if method not in METHODS:
        raise CxError(f"method {method!r}: use {' or '.join(METHODS)}")
    require_extra("SALib", "sensitivity analysis")  # before any run: say at once what is missing
    n = check_n(method, DEFAULT_N[method] if n is None else n)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (MAX_SEED + 1))
    seed = check_seed(seed)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise CxError(f"chunk_size must be a positive whole number, got {chunk_size!r}")
    scen = resolve_scenario(model, scenario)
    other = resolve_scenario(model, versus) if versus is not None else None
    if other is not None and other.name == scen.name:
        raise CxError(f"versus: {other.name!r} is the scenario itself; name a different scenario")
    target = _target(model, metric, outcome, scen.name, other.name if other else None)
    model = with_values(model, params, "params")  # the base world; the model's own overrides stay
    fixed = dict(model.overrides or {})
    chosen = _factors(model, factors, fixed)
    try:
        cm = compile_model(model)
    except UnsupportedConstruct as exc:
        raise CxError(f"{model.path}: sensitivity runs every world at once on the numpy engine, which does "
                      f"not run this model yet ({exc.reason})") from None
    d = len(chosen)
    runs = n * (d + 2) if method == "sobol" else n * (d + 1)
    n_t = int(round((model.final_time - model.initial_time) / model.saveper)) + 1
    per_world = n_t if target.kind == "outcome" else 1
    check_memory(8.0 * (runs * (d * 2 + per_world * 2) + min(runs, chunk_size) * n_t * 4),
                 f"a {method} analysis of {d} parameters with n = {n:,} ({runs:,} runs per scenario)",
                 "lower n (--n) or vary fewer parameters")
    changes = [tuple(scen.changes)] + ([tuple(other.changes)] if other else [])
    evaluate = _model_evaluator(cm, target, changes, seed, chunk_size, progress)

    def evaluate_checked(values):
        y = evaluate(values)
        if target.kind == "metric" and method == "sobol" and np.isfinite(y).all() and not varies(y):
            raise CxError(f"{target.describe()} is {y[0]:g} in every sampled world: no variance for "
                          "the uncertain parameters to explain (pick another metric or scenario)")
        return y

    if target.kind == "outcome":
        times = np.asarray(cm.run(variables=[target.variable]).times, dtype=float)
    else:
        times = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SALib on constant columns; refused or NaN here
        unit, values, y, table = analyse(chosen, evaluate_checked, method, n, seed, times)
    return SensitivityResult(model.name, method, target, chosen, table, n, len(unit), seed, values, y,
                             times, fixed, model.title, model.time_unit)


__all__ = ["METHODS", "SensitivityResult", "Target", "analyse", "design", "indices", "sensitivity"]
