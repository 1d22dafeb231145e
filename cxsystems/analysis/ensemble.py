"""Monte Carlo ensembles: run every scenario in the same sampled worlds, and judge robustness.

::

    from cxsystems import load_model
    from cxsystems.analysis.ensemble import ensemble, robustness, regret, verdicts

    model = load_model("cx_service")
    res = ensemble(model, n=2000, seed=0)     # 2,000 worlds x 7 scenarios
    res.runs                                  # one row per scenario and run: sampled parameters, metrics
    res.bands                                 # xarray: (scenario, quantile, time) per outcome
    res.trajectories                          # xarray: (scenario, run, time), when asked or free
    robustness(res)                           # share of runs each scenario beats each other one
    regret(res)                               # how far each scenario falls short of the best, per run
    verdicts(res)                             # "structural_prevention beats reactive_hiring on ..."

The worlds are drawn once by Latin hypercube from the model's ``[uncertain]`` parameters
(:mod:`cxsystems.model.uncertain`); every scenario then runs on exactly those worlds, so differences
between scenarios are differences of policy, not of luck. Runs are split into fixed chunks of
``chunk_size`` worlds, each simulated for every scenario in one vectorised engine pass and written
straight into arrays allocated once; only the per-run metrics, the trajectories of the band runs
and (when asked, or when they cost nothing) all trajectories are kept, so memory stays bounded for
100,000 runs and the time stays close to the engine's own. Chunks run in this process, over
``workers`` processes, or on any executor with ``submit`` (a :class:`concurrent.futures.Executor`
or a ``dask.distributed.Client``); chunk boundaries never depend on how chunks are run, so the same
seed gives identical numbers every way.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import CxError, UnsupportedConstruct
from ..files import check_format, outcome_stems, write_csv, write_figure, write_folder
from ..limits import check_memory
from ..model.overrides import resolve_values, with_values
from ..model.scenarios import Scenario, select_scenarios
from ..model.specs import MetricSpec
from ..model.uncertain import Uncertain, check_seed, sample
from ..names import match
from .metrics import metric_table

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from ..model.loader import Model

#: File stems an ensemble's fan charts never take (its other files).
RESERVED_STEMS = ("robustness", "regret", "runs")
#: Quantiles of the fan-chart bands: 90% band, 50% band and the median.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Worlds per chunk: one vectorised engine pass per scenario.
DEFAULT_CHUNK = 2500
#: At most this many runs (evenly spread) feed the quantile bands.
DEFAULT_BAND_RUNS = 5000
#: ``trajectories=None`` keeps every trajectory when they take at most this many bytes.
AUTO_TRAJECTORY_BYTES = 256 * 2**20

# ------------------------------------------------------------------------------------ result


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """What :func:`ensemble` returns.

    Attributes:
        model_name: the model's name.
        scenarios: scenario names, in run order; ``baseline`` is the model's baseline scenario.
        uncertain: the sampled parameters and their distributions.
        samples: ``{parameter: array of n values}``, the sampled worlds (run ``i`` = index ``i``).
        metrics: the metric specs; ``metric_values`` is an array (scenario, metric, run).
        times: saved times (weeks).
        bands: :class:`xarray.Dataset`, one variable per recorded outcome, dims
            (scenario, quantile, time); ``attrs["band_runs"]`` says how many runs it summarises.
        trajectories: :class:`xarray.Dataset` with dims (scenario, run, time) per recorded
            variable (views of the runs as the engine wrote them), or ``None`` when not kept
            (see :func:`ensemble`'s ``trajectories``).
        seed, n: the seed and the number of runs (worlds).
        headline, versus: the model's headline metric and head-to-head pairs (for verdicts).
        tail_risks: the model's tail risks (:class:`~cxsystems.model.specs.TailRisk`).
        units, labels: units of every variable; plain labels of the key outcomes.
        model_title, scenario_titles, families: names for people (the model's ``title``, each
            scenario's ``label``) and each scenario's colour family, for charts.
        outcomes: the key outcome specs (percent, view), for charts.
        time_unit: the model's time unit as written (``"Week"``), for charts.
        calibration: ``""``, or the calibration the worlds come from, in words
            (:meth:`cxsystems.model.calibration_file.Calibration.describe`).
        calibrated: the parameters drawn from the calibration's sample (resampled rows), in
            :attr:`samples` with the Latin-hypercube draws of :attr:`uncertain`.
        fixed: the parameters fixed by an override (``params=`` or the model's own overrides),
            with their values: never sampled.
    """

    model_name: str
    scenarios: tuple[str, ...]
    baseline: str
    uncertain: tuple[Uncertain, ...]
    samples: Mapping[str, np.ndarray]
    metrics: tuple[MetricSpec, ...]
    metric_values: np.ndarray
    times: np.ndarray
    bands: "xr.Dataset"
    trajectories: "xr.Dataset | None"
    seed: int | None
    n: int
    headline: str | None = None
    versus: tuple[tuple[str, str], ...] = ()
    tail_risks: tuple = ()
    disturbance: object = None
    units: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    model_title: str = ""
    scenario_titles: Mapping[str, str] = field(default_factory=dict)
    families: Mapping[str, str] = field(default_factory=dict)
    outcomes: tuple = ()
    time_unit: str = "Week"
    calibration: str = ""
    calibrated: tuple[str, ...] = ()
    fixed: Mapping[str, float] = field(default_factory=dict)

    @property
    def worlds(self) -> str:
        """Where the worlds come from, in words: the priors (Latin hypercube of ``[uncertain]``)
        and, with a calibration, the fitted parameters' sample; the fixed parameters."""
        from ..text import plural

        parts = []
        if self.calibrated:
            parts.append(f"{', '.join(self.calibrated)} drawn from the calibration {self.calibration}")
        if self.uncertain:
            others = "the other " if self.calibrated else ""
            parts.append(f"{others}{plural(len(self.uncertain), 'uncertain parameter')} by Latin hypercube")
        if self.fixed:
            from ..model.overrides import describe

            parts.append(f"fixed: {describe(self.fixed)}")
        return "; ".join(parts)

    @property
    def variables(self) -> list[str]:
        """Variables with bands (and trajectories, when kept)."""
        return list(self.bands.data_vars)

    @property
    def runs(self) -> pd.DataFrame:
        """One row per scenario and run: ``scenario``, ``run``, the sampled parameters, the metrics."""
        n_s = len(self.scenarios)
        cols: dict[str, Any] = {
            "scenario": np.repeat(np.array(self.scenarios, dtype=object), self.n),
            "run": np.tile(np.arange(self.n), n_s),
        }
        for p, values in self.samples.items():
            cols[p] = np.tile(values, n_s)
        for j, m in enumerate(self.metrics):
            cols[m.name] = self.metric_values[:, j, :].reshape(-1)
        return pd.DataFrame(cols)

    def metric_index(self, name: str) -> int:
        """Position of a metric (by name or label) in :attr:`metrics`; unknown names are refused."""
        for j, m in enumerate(self.metrics):
            if name in (m.name, m.label):
                return j
        return [m.name for m in self.metrics].index(
            match(name, [m.name for m in self.metrics], what="metric", owner="the ensemble", listing=True))

    def metric(self, name: str) -> pd.DataFrame:
        """One metric as a table: rows = runs, columns = scenarios."""
        j = self.metric_index(name)
        return pd.DataFrame(self.metric_values[:, j, :].T, columns=list(self.scenarios),
                            index=pd.RangeIndex(self.n, name="run"))

    @property
    def summary(self) -> pd.DataFrame:
        """One row per scenario and metric: the metric's 5th percentile, median, mean and 95th
        percentile over the runs, the share of runs in which the scenario is best (ties share),
        and its mean regret (see :func:`cxsystems.analysis.robustness.regret`)."""
        from .robustness import regret

        g = regret(self).set_index(["scenario", "metric"])
        rows = []
        for s, name in enumerate(self.scenarios):
            for j, m in enumerate(self.metrics):
                v = self.metric_values[s, j]
                rows.append(dict(scenario=name, metric=m.name, label=m.label, units=m.units, better=m.better,
                                 p05=float(np.quantile(v, 0.05)), median=float(np.median(v)),
                                 mean=float(v.mean()), p95=float(np.quantile(v, 0.95)),
                                 share_best=float(g.loc[(name, m.name), "share_best"]),
                                 mean_regret=float(g.loc[(name, m.name), "mean_regret"])))
        return pd.DataFrame(rows)

    def plot(self, variable: str | None = None, **kwargs):
        """Fan chart of one variable (default the first key outcome; see
        :func:`cxsystems.plotting.fan_chart`)."""
        from ..plotting.charts import fan_chart

        return fan_chart(self, self.variables[0] if variable is None else variable, **kwargs)

    def chart_files(self, format: str = "png") -> dict[str, str]:
        """File name -> variable of each fan chart :meth:`save` writes: ``fan_<outcome>.FMT``
        (names from :func:`cxsystems.files.outcome_stems`, as ``compare`` names its charts)."""
        stems = outcome_stems(self.variables, prefix="fan_", reserved=RESERVED_STEMS)
        return {f"{stems[v]}.{format}": v for v in self.variables}

    def save(self, directory: str | os.PathLike, format: str = "png", *,
             run: Mapping[str, Any] | None = None) -> list[Path]:
        """Write exactly what ``cxsystems robustness`` writes into ``directory``: a fan chart per
        recorded outcome, ``robustness.csv``, ``regret.csv``, ``runs.csv`` and the manifest (model,
        seed, runs). The folder is written whole or not at all (:func:`cxsystems.files.write_folder`).
        """
        from .robustness import regret, robustness

        check_format(format)
        writers: dict[str, Any] = {}
        for name, var in self.chart_files(format).items():
            writers[name] = (lambda path, v=var: write_figure(self.plot(v), path))
        writers["robustness.csv"] = lambda path: write_csv(robustness(self), path, index=False)
        writers["regret.csv"] = lambda path: write_csv(regret(self), path, index=False)
        writers["runs.csv"] = lambda path: write_csv(self.runs, path, index=False)
        info = {"model": self.model_name, "scenarios": list(self.scenarios), "n": self.n, "seed": self.seed,
                **({"calibration": self.calibration, "calibrated": list(self.calibrated)} if self.calibrated else {}),
                **({"fixed": dict(self.fixed)} if self.fixed else {}), **dict(run or {})}
        return write_folder(directory, writers, run=info)


# ------------------------------------------------------------------------------------ chunks


@dataclass(frozen=True)
class _Chunk:
    """One chunk of worlds: runs ``start`` to ``stop`` (exclusive)."""

    index: int
    start: int
    stop: int
    params: Mapping[str, np.ndarray]
    band_local: np.ndarray  # indices (within the chunk) of runs that feed the bands
    band_start: int = 0  # how many band runs come before this chunk


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs besides the compiled model (small and picklable)."""

    changes: tuple[tuple, ...]  # per scenario: its Change objects
    metric_vars: tuple[tuple[str, str], ...]  # (variable, how) per metric
    recorded: tuple[str, ...]  # variables the engine records: the band variables first
    band_vars: tuple[str, ...]
    keep_all: bool
    seed: int = 0  # the random functions' seed; world i of the ensemble draws its own stream


class _Store:
    """Where chunks write their results, allocated once: the per-run metrics (scenario, metric,
    run) and the trajectories (scenario, variable, time, run) of every run (``keep_all``) or of the
    band runs only; the trajectories' array waits for the first chunk's saved times."""

    def __init__(self, n_scenarios: int, n_metrics: int, n_band_vars: int, n_runs: int, n_band_runs: int,
                 keep_all: bool):
        self.metrics = np.empty((n_scenarios, n_metrics, n_runs))
        self.lead = (n_scenarios, n_band_vars)
        self.width = n_runs if keep_all else n_band_runs
        self.times: np.ndarray | None = None
        self.traj: np.ndarray | None = None

    def trajectories(self, times: np.ndarray) -> np.ndarray:
        """The trajectories' array, allocated for ``times`` on the first call."""
        if self.times is None:
            self.times = times
            self.traj = np.empty((*self.lead, len(times), self.width))
        elif len(times) != len(self.times):
            raise CxError(f"the worlds of this ensemble save different times ({len(self.times)} and "
                          f"{len(times)} points): an ensemble needs one time grid for every world")
        return self.traj


def _picker(index: np.ndarray):
    """``index`` (increasing positions) as a slice when evenly spaced (a view, no copy), else itself."""
    if len(index) == 0:
        return slice(0, 0)
    first = int(index[0])
    step = int(index[1] - first) if len(index) > 1 else 1
    if step > 0 and np.array_equal(index, first + step * np.arange(len(index))):
        return slice(first, int(index[-1]) + 1, step)
    return index


def _fill(cm, job: _Job, chunk: _Chunk, store: _Store, at: int, band_at: int) -> None:
    """Simulate one chunk for every scenario, writing its metrics to runs ``at`` onwards of ``store``
    and its trajectories to runs ``at`` (every run kept) or band runs ``band_at`` onwards."""
    n_c, n_b = chunk.stop - chunk.start, len(job.band_vars)
    pos = {name: j for j, name in enumerate(job.recorded)}
    groups: dict[str, list[int]] = {}  # variable -> its metrics, so a variable is transposed once
    for k, (var, _) in enumerate(job.metric_vars):
        groups.setdefault(var, []).append(k)
    pick, n_band = _picker(chunk.band_local), len(chunk.band_local)
    for s, changes in enumerate(job.changes):
        # Every scenario sees the same random draws in world i (common random numbers), whatever the chunks.
        res = cm.run(changes, params=dict(chunk.params), variables=list(job.recorded), vector=True,
                     seed=job.seed, first_world=chunk.start)
        values = res.values  # (variable, time, run); the band variables come first
        traj = store.trajectories(res.times)
        for var, ks in groups.items():
            table = metric_table(res.times, values[pos[var]], [job.metric_vars[k][1] for k in ks])
            for row, k in zip(table, ks):
                store.metrics[s, k, at:at + n_c] = row
        if job.keep_all:
            traj[s, :, :, at:at + n_c] = values[:n_b]
        elif n_band:
            traj[s, :, :, band_at:band_at + n_band] = values[:n_b, :, pick]


def _run_chunk(cm, job: _Job, chunk: _Chunk):
    """One chunk on its own (in a worker): ``(index, metrics, trajectories, times)`` of its runs."""
    store = _Store(len(job.changes), len(job.metric_vars), len(job.band_vars), chunk.stop - chunk.start,
                   len(chunk.band_local), job.keep_all)
    _fill(cm, job, chunk, store, 0, 0)
    return chunk.index, store.metrics, store.traj, store.times


_WORKER_MODEL = None


def _init_worker(cm) -> None:
    global _WORKER_MODEL  # one compiled model per worker process, set once by the pool
    _WORKER_MODEL = cm


def _run_chunk_in_worker(job: _Job, chunk: _Chunk):
    return _run_chunk(_WORKER_MODEL, job, chunk)


# ---------------------------------------------------------------------------------- ensemble


def _band_runs(n: int, band_runs: int) -> np.ndarray:
    """Indices of the runs that feed the bands: all, or ``band_runs`` evenly spread."""
    if n <= band_runs:
        return np.arange(n)
    return np.unique(np.floor(np.arange(band_runs) * (n / band_runs)).astype(int))


def ensemble(model: "Model", scenarios: Iterable[str | Scenario] | str | None = None, n: int = 1000,
             seed: int | None = 0, *, variables: Sequence[str] | None = None,
             uncertain: Sequence[Uncertain] | None = None, trajectories: bool | None = None,
             workers: int | None = None, executor: Any = None, chunk_size: int = DEFAULT_CHUNK,
             band_runs: int = DEFAULT_BAND_RUNS,
             progress: Callable[[int, int], None] | None = None,
             allow_nonfinite: bool = False, params: Mapping[str, float] | None = None,
             calibration: Any = None) -> EnsembleResult:
    """Run ``scenarios`` in ``n`` sampled worlds and summarise them.

    Args:
        model: a loaded model; its scenario file declares ``[uncertain]`` parameters and metrics.
        scenarios: names or :class:`Scenario` objects (default: every scenario of the model).
        n: number of worlds (runs per scenario).
        seed: seed of the Latin hypercube; the same seed gives the same worlds and numbers.
        variables: variables to keep bands (and trajectories) of; default the key outcomes.
        uncertain: override the model's ``[uncertain]`` parameters.
        trajectories: keep every trajectory (scenario x run x time per variable): ``True`` keeps
            them, ``False`` streams (each chunk's runs are reduced to metrics and band runs, then
            dropped). ``None`` (the default) keeps them only when that costs nothing: every run
            already feeds the bands (``n <= band_runs``) and they take at most 256 MiB. Nothing in
            cxsystems reads them (robustness, regret, tail risks, verdicts, charts and reports use
            the metrics and bands), so pass ``True`` to look at individual runs of a large ensemble.
        workers: split the chunks over this many processes (``None``/1: in this process).
        executor: run chunks with ``executor.submit`` (a ``concurrent.futures`` executor or a
            ``dask.distributed.Client``); excludes ``workers``.
        chunk_size: worlds per chunk (fixed chunks keep results identical however they run).
        band_runs: at most this many runs, evenly spread, feed the quantile bands.
        progress: called as ``progress(runs_done, runs_total)`` after each chunk.
        allow_nonfinite: keep runs whose metrics are NaN or infinite (a world in which the model
            breaks down); they then count as neither better nor worse in every head-to-head. By
            default such a run is refused, naming the scenario, the run and its sampled values.
        params: new base values ``{parameter: value}`` (validated: name, declared range): every
            world starts from them and they are not sampled; a scenario's own change still wins.
        calibration: a :class:`~cxsystems.model.calibration_file.Calibration` or the path of a
            ``calibration.toml``: its fitted parameters (those not fixed by ``params`` or the model's
            overrides) are drawn by resampling rows of its sample (seeded by ``seed``), every other
            ``[uncertain]`` parameter keeps its Latin-hypercube draw.

    Raises:
        CxError: nothing to sample (no uncertain parameters, all of them fixed), bad ``n``/``seed``/``workers``, unknown scenario or
            variable, a plan over the memory limit (:mod:`cxsystems.limits`), or a non-finite
            metric (see ``allow_nonfinite``).
    """
    from ..engine import compile_model

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise CxError(f"n must be a positive whole number of runs, got {n!r}")
    n = int(n)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise CxError(f"workers must be a positive whole number, got {workers!r}")
    if workers not in (None, 1) and executor is not None:
        raise CxError("give either workers or executor, not both")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise CxError(f"chunk_size must be a positive whole number, got {chunk_size!r}")
    if not isinstance(band_runs, int) or band_runs < 1:
        raise CxError(f"band_runs must be a positive whole number, got {band_runs!r}")
    analysis = model.analysis
    cal = _calibration(model, calibration)
    explicit = resolve_values(model, params, "params")
    fixed_names = set(model.overrides or {}) | set(explicit)
    drawn = tuple(p for p in (cal.parameters if cal is not None else ()) if p not in fixed_names)
    model = with_values(model, {**({p: cal.estimates[p] for p in drawn} if cal is not None else {}), **explicit})
    unc = tuple(analysis.uncertain if uncertain is None else uncertain)
    if not unc and not drawn:
        raise CxError(f"model {model.name!r} declares no uncertain parameters: add an [uncertain] "
                      f"table to its scenario file (see cxsystems.model.uncertain){model.init_hint}")
    for u in unc:
        model.parameter(u.parameter, "uncertain")
    unc = tuple(u for u in unc if model.parameter(u.parameter).name not in fixed_names | set(drawn))
    if not unc and not drawn:
        raise CxError(f"every uncertain parameter of model {model.name!r} is fixed by an override "
                      f"({', '.join(sorted(fixed_names))}): nothing varies between worlds")
    fixed = {k: v for k, v in (model.overrides or {}).items() if k not in drawn}
    chosen = select_scenarios(model, scenarios)
    names = tuple(s.name for s in chosen)
    metric_specs = tuple(analysis.metrics)
    if not metric_specs:
        raise CxError(f"model {model.name!r} declares no [metrics]: nothing to compare runs on{model.init_hint}")
    if variables is None:
        band_vars = tuple(dict.fromkeys(o.variable for o in analysis.outcomes)) or \
            tuple(dict.fromkeys(m.variable for m in metric_specs))
    else:
        band_vars = tuple(dict.fromkeys(model.variable(v, "variables") for v in variables))
    recorded = tuple(dict.fromkeys([*band_vars, *(m.variable for m in metric_specs)]))
    try:
        cm = compile_model(model)
    except UnsupportedConstruct as exc:
        raise CxError(f"{model.path}: ensembles run every world at once on the numpy engine, which does "
                      f"not run this model yet ({exc.reason}); single runs (compare, run, report) fall "
                      "back to PySD") from None
    n_t = _saved_times(cm, model, recorded[0])
    if trajectories is None:
        trajectories = n <= band_runs and len(names) * len(band_vars) * n_t * n * 8 <= AUTO_TRAJECTORY_BYTES
    check_seed(seed)
    check_memory(memory_estimate(n, len(names), len(unc) + len(drawn), len(metric_specs), len(recorded), len(band_vars),
                                 n_t, bool(trajectories), chunk_size, band_runs),
                 f"n = {n:,} runs x {len(names)} scenarios",
                 "lower n (--n) or run fewer scenarios (--scenarios); several runs with different seeds "
                 "can be pooled afterwards")

    samples = sample(unc, n, seed)
    if drawn:
        samples.update(cal.draw(n, seed, drawn))
    band_idx = _band_runs(n, band_runs)
    job = _Job(tuple(tuple(s.changes) for s in chosen), tuple((m.variable, m.how) for m in metric_specs),
               recorded, band_vars, bool(trajectories),
               int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**31))
    chunks = []
    for i, start in enumerate(range(0, n, chunk_size)):
        stop = min(start + chunk_size, n)
        inside = (band_idx >= start) & (band_idx < stop)
        chunks.append(_Chunk(i, start, stop, {p: v[start:stop] for p, v in samples.items()},
                             band_idx[inside] - start, int(np.count_nonzero(band_idx < start))))
    store = _Store(len(names), len(metric_specs), len(band_vars), n, len(band_idx), bool(trajectories))

    _execute(cm, job, chunks, workers, executor, progress, n, store)

    per_run = store.metrics
    if not allow_nonfinite:
        _refuse_nonfinite(per_run, names, metric_specs, samples, model)
    times, kept = store.times, store.traj
    band_data = kept if not trajectories or len(band_idx) == n else kept[..., band_idx]
    # sorted in place unless the band runs are the kept trajectories themselves
    bands = _bands(band_data, names, band_vars, times, len(band_idx), model, band_data is not kept or not trajectories)
    traj = _trajectory_dataset(kept, names, band_vars, times, model) if trajectories else None
    return EnsembleResult(model.name, names, model.baseline if model.baseline in names else names[0],
                          unc, samples, metric_specs, per_run, times, bands, traj, seed, n,
                          analysis.headline, tuple(p for p in analysis.versus if p[0] in names and p[1] in names),
                          tuple(getattr(analysis, "tail_risks", ())), getattr(analysis, "disturbance", None),
                          dict(model.units), {o.variable: o.label for o in analysis.outcomes},
                          model.title, {s.name: s.title for s in chosen},
                          {s.name: s.family or ("baseline" if s.name == model.baseline else "") for s in chosen},
                          tuple(analysis.outcomes), model.time_unit,
                          cal.describe() if drawn else "", drawn, fixed)


def _calibration(model: "Model", calibration: Any):
    """``None``, or the calibration checked against ``model`` (read first when given as a path)."""
    from ..model.calibration_file import Calibration, check_calibration, read_calibration

    if calibration is None:
        return None
    if isinstance(calibration, Calibration):
        cal = check_calibration(calibration, model)
    else:
        cal = read_calibration(calibration, model)
    if cal.sample is None:
        raise CxError(f"{cal.path}: has no sample of the fitted parameters ([calibration] sample), so worlds "
                      "cannot be drawn from it; run from its estimates instead (params=cal.estimates)")
    return cal


def _saved_times(cm, model: "Model", probe: str) -> int:
    """How many times a run of ``model`` saves: counted on its time grid when the time settings are
    numbers (no run needed), else from one run (time settings that change in time)."""
    from ..engine.run import check_time_grid, time_grid

    if cm.control_slots:
        return len(cm.run(variables=[probe]).times)
    ctl = dict(initial_time=float(model.initial_time), final_time=float(model.final_time),
               time_step=float(model.time_step), saveper=float(model.saveper))
    check_time_grid(ctl, where=str(getattr(model, "path", model.name)))
    return len(time_grid(ctl)[2])


def memory_estimate(n: int, n_scenarios: int, n_uncertain: int, n_metrics: int, n_recorded: int,
                    n_band_vars: int, n_times: int, trajectories: bool, chunk_size: int = DEFAULT_CHUNK,
                    band_runs: int = DEFAULT_BAND_RUNS) -> float:
    """Bytes an ensemble plans to hold at its peak: the sampled worlds, the per-run metrics and the
    table of runs built from them (written as ``runs.csv``), the trajectories held (every run's when
    ``trajectories`` is set, else the band runs', which the quantiles then sort in place), with
    ``trajectories`` the band runs' copy that the quantiles sort, the quantiles, and one chunk's
    engine output and its copies."""
    band_n = min(n, band_runs)
    per_run = n * n_uncertain + n_scenarios * n_metrics * n
    runs_table = n * n_scenarios * (3 + n_uncertain + n_metrics) * 2
    held = n if trajectories else band_n
    sorted_copy = band_n if trajectories else 0
    bands = n_scenarios * n_band_vars * n_times * (held + sorted_copy + len(QUANTILES))
    chunk = min(n, chunk_size) * n_recorded * n_times * 2
    return 8.0 * (per_run + runs_table + bands + chunk)


def _refuse_nonfinite(values: np.ndarray, names, metrics, samples, model) -> None:
    """Refuse the first run whose metric is NaN or infinite, naming where and in which world."""
    bad = ~np.isfinite(values)  # (scenario, metric, run)
    if not bad.any():
        return
    s, j, r = (int(i) for i in np.argwhere(bad)[0])
    count = int(bad.any(axis=(0, 1)).sum())
    world = ", ".join(f"{p} = {v[r]:.4g}" for p, v in samples.items())
    raise CxError(f"{model.path}: metric {metrics[j].name!r} is {values[s, j, r]} in run {r} of scenario "
                  f"{names[s]!r} ({count:,} runs have such values; run {r}'s world: {world}); the model "
                  "breaks down there: check its equations and [uncertain] ranges, or keep such runs "
                  "(allow_nonfinite=True, --allow-nonfinite), which then count as neither better nor worse")


def _execute(cm, job: _Job, chunks: list[_Chunk], workers, executor, progress, n: int, store: _Store) -> None:
    """Run every chunk, its results written into ``store`` (in this process, straight into it; from
    workers, copied in as they arrive), however the chunks are run."""
    done = 0

    def collect(chunk: _Chunk, result=None) -> None:
        nonlocal done
        if result is not None:  # a worker's chunk: copy it to its place
            _, metrics, traj, times = result
            store.metrics[:, :, chunk.start:chunk.stop] = metrics
            if job.keep_all:
                store.trajectories(times)[..., chunk.start:chunk.stop] = traj
            else:
                store.trajectories(times)[..., chunk.band_start:chunk.band_start + len(chunk.band_local)] = traj
        done += chunk.stop - chunk.start
        if progress is not None:
            progress(done, n)

    if executor is not None:
        cm_ref = cm
        if hasattr(executor, "scatter"):  # dask: ship the compiled model once to every worker
            cm_ref = executor.scatter(cm, broadcast=True)
        futures = [executor.submit(_run_chunk, cm_ref, job, c) for c in chunks]
        for f in _as_completed(executor, futures):
            result = f.result()
            collect(chunks[result[0]], result)
    elif workers and workers > 1:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # safe in notebooks and threaded programs
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx,
                                 initializer=_init_worker, initargs=(cm,)) as pool:
            futures = [pool.submit(_run_chunk_in_worker, job, c) for c in chunks]
            from concurrent.futures import as_completed

            for f in as_completed(futures):
                result = f.result()
                collect(chunks[result[0]], result)
    else:
        for c in chunks:
            _fill(cm, job, c, store, c.start, c.band_start)
            collect(c)


_DASK_ADDRESS = re.compile(r"^(?:(?:tcp|tls)://)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})/?$")


def connect_dask(address: str, *, deadline_s: float = 10.0, option: str = "address"):
    """A ``dask.distributed.Client`` for the scheduler at ``address`` (``tcp://host:port`` or
    ``host:port``), to pass as ``ensemble(..., executor=client)``.

    The whole connection (connect and handshake) has ``deadline_s`` seconds: an address where
    something accepts TCP but is not a Dask scheduler (a web server, say) gets a one-line error
    instead of a wait without end.

    Raises:
        CxError: malformed address, Dask not installed, nothing reachable, or no answer in time;
            the message starts with ``option`` and the address.
    """
    import threading

    m = _DASK_ADDRESS.match(str(address))
    if not m or not 0 < int(m.group(1)) < 65536:
        raise CxError(f"{option} {address!r}: not a scheduler address; write tcp://HOST:PORT "
                      "(for example tcp://127.0.0.1:8786)")
    try:
        from dask.distributed import Client
    except ImportError:
        raise CxError(f"{option} needs Dask: pip install 'cxsystems[distributed]'") from None
    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = Client(address, timeout=f"{deadline_s}s")
        except BaseException as exc:  # reported below, in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=connect, name="cxsystems-dask-connect", daemon=True)
    worker.start()
    worker.join(deadline_s + 1.0)
    if worker.is_alive() or not box:
        raise CxError(f"{option} {address}: no Dask scheduler answered within {deadline_s:g} s "
                      "(is this the address of a Dask scheduler?)")
    if "error" in box:
        exc = box["error"]
        raise CxError(f"{option} {address}: cannot reach the scheduler "
                      f"({' '.join(str(exc).split()) or type(exc).__name__})") from None
    return box["client"]


def _as_completed(executor, futures):
    """``as_completed`` for dask futures or ``concurrent.futures`` futures."""
    if hasattr(executor, "scatter"):
        from distributed import as_completed as dask_as_completed

        return dask_as_completed(futures)
    from concurrent.futures import as_completed

    return as_completed(futures)


def quantiles(data: np.ndarray, qs: Sequence[float], *, overwrite: bool = False) -> np.ndarray:
    """``np.quantile(data, qs, axis=-1)`` (the default linear method), equal to it bit for bit, from
    one sort of the last axis (several times faster than numpy's selection of every quantile's two
    neighbours for thousands of runs); slices holding NaN go to ``np.quantile`` itself. With
    ``overwrite``, ``data`` is sorted in place (no copy; it is left sorted along its last axis)."""
    if data.shape[-1] == 0 or np.isnan(data).any():
        return np.quantile(data, qs, axis=-1)
    if overwrite:
        data.sort(axis=-1)
        ordered = data
    else:
        ordered = np.sort(data, axis=-1)
    n = ordered.shape[-1]
    out = np.empty((len(qs),) + ordered.shape[:-1])
    for k, q in enumerate(qs):
        virtual = (n - 1) * float(q)  # numpy's linear method: lerp between the two neighbours
        lo = int(np.floor(virtual))
        hi = min(lo + 1, n - 1)
        gamma = virtual - lo
        a, b = ordered[..., lo], ordered[..., hi]
        diff = b - a
        out[k] = b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma
    return out


def _bands(data: np.ndarray, names, band_vars, times, band_n: int, model, overwrite: bool) -> "xr.Dataset":
    """Quantile bands from band trajectories ``data`` (scenario, variable, time, run); with
    ``overwrite`` the quantiles sort ``data`` in place."""
    import xarray as xr

    q = quantiles(data, QUANTILES, overwrite=overwrite)  # (quantile, scenario, variable, time)
    q = np.moveaxis(q, 0, 2)  # (scenario, variable, quantile, time)
    coords = {"scenario": list(names), "quantile": list(QUANTILES), "time": times}
    ds = xr.Dataset({v: (("scenario", "quantile", "time"), q[:, j]) for j, v in enumerate(band_vars)},
                    coords=coords)
    for v in band_vars:
        ds[v].attrs["units"] = model.units.get(v, "")
    ds.attrs.update(band_runs=int(band_n), model=model.name)
    return ds


def _trajectory_dataset(full: np.ndarray, names, band_vars, times, model) -> "xr.Dataset":
    """Every trajectory ``full`` (scenario, variable, time, run) as a dataset (scenario, run, time)."""
    import xarray as xr

    coords = {"scenario": list(names), "run": np.arange(full.shape[3]), "time": times}
    # (scenario, run, time) views of the runs as the engine wrote them: no copy
    ds = xr.Dataset({v: (("scenario", "run", "time"), np.swapaxes(full[:, j], 1, 2))
                     for j, v in enumerate(band_vars)}, coords=coords)
    for v in band_vars:
        ds[v].attrs["units"] = model.units.get(v, "")
    ds.attrs["model"] = model.name
    return ds


__all__ = ["QUANTILES", "EnsembleResult", "ensemble"]
