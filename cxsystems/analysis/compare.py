"""Run several policy scenarios of one model and compare each against the baseline.

::

    import cxsystems as cx
    model = cx.load_model("cx_service")
    cmp = cx.compare(model)                         # every scenario, baseline first
    cmp.summary                                     # metrics + classification per scenario
    cmp.wide("Ticket Backlog")                      # time x scenario table
    cmp.plot()                                      # dashboard (matplotlib Figure)
    cmp.to_csv("out/")                              # results.csv and summary.csv

The baseline is the model's :attr:`~cxsystems.model.core.Model.baseline` (``"baseline"`` unless the
scenario file names another in ``[analysis] baseline``). It is
always simulated and is always the reference, even when ``scenarios`` does not list it; it comes
first in :attr:`Comparison.scenarios` and in every table.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import CxError, Notice
from ..files import check_format, outcome_stems, write_csv, write_figure, write_folder
from ..model.overrides import with_values
from ..model.scenarios import Scenario, select_scenarios
from ..model.specs import ContactPart, MetricSpec, OutcomeSpec
from ..names import find
from ..simulation import DEFAULT_ENGINE, simulate
from ..text import pretty_units, time_words
from .contacts import avoidable_share, mix_table
from .metrics import (
    DEFAULT_JUDGE,
    DEFAULT_RTOL,
    Reading,
    check_judge,
    read_trajectory,
    scenario_metrics,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..model.loader import Model

#: Columns of :attr:`Comparison.results` (tidy, long format).
RESULT_COLUMNS = ("scenario", "time", "variable", "value")
#: Columns describing the classified outcome in :attr:`Comparison.summary`, after the metrics
#: (:func:`cxsystems.analysis.metrics.against_baseline`; every advantage is positive when better).
BASELINE_COLUMNS = ("worst_shortfall", "worst_shortfall_week", "stays_better_from_week",
                    "final_advantage", "final_advantage_pct", "judge", "judged_advantage",
                    "judged_advantage_pct", "phases", "classification")
#: Summary column: share of all contacts over the run that were avoidable (0-1), when the model
#: declares a contact mix (:mod:`cxsystems.analysis.contacts`).
AVOIDABLE_COLUMN = "avoidable_share"
#: File stem of the contact-mix chart (written when the model declares a ``[contact_mix]``).
CONTACT_MIX_STEM = "contact_mix"
#: File stems a comparison's outcome charts never take (its other files).
RESERVED_STEMS = ("comparison", "results", "summary", CONTACT_MIX_STEM)
#: Prefix of the per-outcome classification columns of :attr:`Comparison.summary`.
CLASS_PREFIX = "class: "


@dataclass(frozen=True, eq=False)
class Comparison:
    """Trajectories, metrics and classifications of several scenarios against one baseline.

    Attributes:
        model_name: the model's name (file stem).
        baseline: name of the reference scenario (always ``scenarios[0]``).
        scenarios: the scenarios run, baseline first.
        outcomes: the key outcomes charted and classified.
        classify: the outcome variable whose detailed comparison fills the summary.
        results: tidy DataFrame with columns ``scenario, time, variable, value`` (time in weeks),
            for every outcome, metric and requested variable.
        summary: DataFrame indexed by scenario: one column per metric (the metric's name), then
            :data:`BASELINE_COLUMNS` for ``classify``, then one ``"class: <outcome label>"`` column
            per outcome; then :data:`AVOIDABLE_COLUMN` when the model declares a contact mix.
        policy_start_weeks: scenario name -> :attr:`Scenario.start_week` (``None`` if no change).
        metrics: the metric specs behind the summary's metric columns.
        units: variable -> units, for every variable in ``results``.
        classify_better: ``"lower"`` or ``"higher"`` for ``classify``.
        classify_judge: the metric that settles a mixed trajectory of ``classify`` (its outcome's
            ``judge``, else the ``how`` of a metric on it, else ``mean``).
        rtol: tolerance used for the classifications (fraction of max |baseline|).
        color_order: every scenario name of the model (then any others run), so that charts of a
            subset of scenarios give each scenario the same colour as charts of all of them.
        model_title: the model's name for people (:attr:`Model.title`).
        contact_mix: the parts contact volume is made of (empty: the model declares none).
        time_unit: the model's time unit as written (``"Week"``, ``"Month"``; ``""`` unstated), for
            axes and prose (:attr:`time_words`).
    """

    model_name: str
    baseline: str
    scenarios: tuple[Scenario, ...]
    outcomes: tuple[OutcomeSpec, ...]
    classify: str
    results: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    policy_start_weeks: Mapping[str, float | None] = field(default_factory=dict)
    metrics: tuple[MetricSpec, ...] = ()
    units: Mapping[str, str] = field(default_factory=dict, repr=False)
    classify_better: str = "lower"
    rtol: float = DEFAULT_RTOL
    color_order: tuple[str, ...] = ()
    disturbance: object = None
    classify_judge: str = DEFAULT_JUDGE
    model_title: str = ""
    contact_mix: tuple[ContactPart, ...] = ()
    time_unit: str = "Week"

    @property
    def time_words(self) -> tuple[str, str]:
        """The time unit as words: ``("week", "weeks")``, ``("month", "months")``."""
        return time_words(self.time_unit)

    @property
    def scenario_names(self) -> list[str]:
        """Scenario names in order, baseline first."""
        return [s.name for s in self.scenarios]

    @property
    def variables(self) -> list[str]:
        """Variables present in :attr:`results`, in order of first appearance."""
        return list(dict.fromkeys(self.results["variable"]))

    def variable(self, name: str) -> str:
        """The stored spelling of a variable (matched by :func:`cxsystems.names.match`)."""
        hit = find(name, self.variables)
        if hit is None:
            raise CxError(f"variable {name!r} is not in this comparison; available: {', '.join(self.variables)}")
        return hit

    def scenario(self, name: str) -> Scenario:
        """The :class:`Scenario` called ``name`` (one of :attr:`scenario_names`)."""
        for s in self.scenarios:
            if s.name == name:
                return s
        raise CxError(f"scenario {name!r} is not in this comparison; choose from {', '.join(self.scenario_names)}")

    def title_of(self, name: str) -> str:
        """A scenario's name for people: its ``label``, else its code name with spaces."""
        return self.scenario(name).title

    def mix(self, scenario: str) -> pd.DataFrame:
        """Contacts per week by kind for ``scenario`` (index time, one column per part label).

        Raises:
            CxError: the model declares no ``[contact_mix]``.
        """
        if not self.contact_mix:
            raise CxError(f"model {self.model_name!r} declares no [contact_mix] in its scenario file")
        self.scenario(scenario)
        vars_ = [p.variable for p in self.contact_mix]
        rows = self.results[(self.results["scenario"] == scenario) & self.results["variable"].isin(vars_)]
        run = rows.pivot(index="time", columns="variable", values="value")
        return mix_table(run, self.contact_mix)

    def outcome(self, variable: str) -> OutcomeSpec:
        """The :class:`OutcomeSpec` of ``variable`` (a plain one if it is not a key outcome)."""
        var = self.variable(variable)
        for o in self.outcomes:
            if o.variable == var:
                return o
        if var == self.classify:
            return OutcomeSpec(var, self.classify_better, var, self.units.get(var, ""), self.classify_judge)
        return OutcomeSpec(var, "lower", var, self.units.get(var, ""))

    def wide(self, variable: str) -> pd.DataFrame:
        """One variable as a table: index ``time`` (weeks), one column per scenario (baseline first)."""
        var = self.variable(variable)
        sub = self.results[self.results["variable"] == var]
        table = sub.pivot(index="time", columns="scenario", values="value")
        table = table[[s for s in self.scenario_names if s in table.columns]]
        table.columns.name = "scenario"
        return table

    def _check_scenario(self, scenario: str) -> str:
        if scenario not in self.scenario_names:
            raise CxError(f"scenario {scenario!r} is not in this comparison; "
                          f"choose from {', '.join(self.scenario_names)}")
        return scenario

    def describe(self, scenario: str) -> str:
        """One line on how ``scenario`` fares against baseline (see :func:`describe_row`)."""
        return describe_row(self, self._check_scenario(scenario))

    def run(self, scenario: str) -> pd.DataFrame:
        """One scenario's run: index ``time`` (weeks), one column per variable of :attr:`results`."""
        sub = self.results[self.results["scenario"] == self._check_scenario(scenario)]
        table = sub.pivot(index="time", columns="variable", values="value")[self.variables]
        table.columns.name = None
        return table

    def reading(self, scenario: str, variable: str | None = None) -> Reading:
        """How ``scenario`` fares against the baseline on ``variable``: phases, judged and final
        advantages and class (:func:`cxsystems.analysis.metrics.read_trajectory` with the outcome's
        direction and judge and this comparison's tolerance). Without ``variable``: the classified
        variable, with :attr:`classify_better` and :attr:`classify_judge` (the summary's columns)."""
        if variable is None:
            var, better, judge = self.classify, self.classify_better, self.classify_judge
        else:
            spec = self.outcome(variable)
            var, better, judge = spec.variable, spec.better, spec.judge
        self._check_scenario(scenario)
        table = self.wide(var)
        return read_trajectory(table.index.to_numpy(dtype=float), table[scenario].to_numpy(),
                               table[self.baseline].to_numpy(), better, judge, rtol=self.rtol)

    def classification(self, scenario: str, variable: str) -> str:
        """Class of ``scenario`` against the baseline on ``variable`` (see :meth:`reading`)."""
        return self.reading(scenario, variable).classification

    def with_color_order(self, order: Sequence[str]) -> "Comparison":
        """The same comparison with scenario colours assigned in ``order`` (then the others)."""
        import dataclasses

        return dataclasses.replace(self, color_order=tuple(dict.fromkeys([*order, *self.color_order])))

    def plot(self, outcome: str | None = None, *, contact_mix: bool = False, **kwargs) -> "Figure":
        """The dashboard of the key outcomes, with ``outcome`` one variable's chart, or with
        ``contact_mix=True`` the contact-mix chart (see :func:`cxsystems.plotting.dashboard`,
        :func:`cxsystems.plotting.outcome_chart` and
        :func:`cxsystems.plotting.charts.contact_mix_chart`)."""
        from ..plotting.charts import contact_mix_chart, dashboard, outcome_chart

        if contact_mix:
            return contact_mix_chart(self, **kwargs)
        if outcome is not None:
            return outcome_chart(self, outcome, **kwargs)
        return dashboard(self, **kwargs)

    def plot_outcome(self, variable: str, **kwargs) -> "Figure":
        """Chart of one variable, one line per scenario (same as ``plot(outcome=variable)``)."""
        return self.plot(outcome=variable, **kwargs)

    def chart_files(self, format: str = "png") -> dict[str, str | None]:
        """File name -> variable charted (``None`` for the dashboard and the contact-mix chart), as
        :meth:`save` writes them: ``comparison.FMT``, then ``<outcome>.FMT`` per key outcome and the
        classified variable (names from :func:`cxsystems.files.outcome_stems`), then
        ``contact_mix.FMT`` when the model declares a contact mix."""
        charted = list(dict.fromkeys([o.variable for o in self.outcomes] + [self.classify]))
        stems = outcome_stems(charted, reserved=RESERVED_STEMS)
        mix = {f"{CONTACT_MIX_STEM}.{format}": None} if self.contact_mix else {}
        return {f"comparison.{format}": None, **{f"{stems[v]}.{format}": v for v in charted}, **mix}

    def save(self, directory: str | os.PathLike, format: str = "png", *,
             run: Mapping[str, object] | None = None) -> list[Path]:
        """Write exactly what ``cxsystems compare`` writes into ``directory``: the dashboard, one
        chart per key outcome, the contact-mix chart when the model declares a contact mix,
        ``results.csv``, ``summary.csv`` and the manifest. The folder is
        written whole or not at all (:func:`cxsystems.files.write_folder`).

        Args:
            directory: the output folder: new, empty, or written by cxsystems before.
            format: chart format, ``png``, ``svg`` or ``pdf``.
            run: what to record in the manifest besides the model and scenarios.

        Returns:
            The files written, charts first.
        """
        check_format(format)
        writers: dict[str, object] = {}
        for name, var in self.chart_files(format).items():
            if name == f"{CONTACT_MIX_STEM}.{format}":
                writers[name] = lambda path: write_figure(self.plot(contact_mix=True), path)
            else:
                writers[name] = (lambda path, v=var: write_figure(self.plot(outcome=v), path))
        writers["results.csv"] = lambda path: write_csv(self.results, path, index=False)
        writers["summary.csv"] = lambda path: write_csv(self.summary, path, index=True)
        info = {"model": self.model_name, "scenarios": self.scenario_names, **dict(run or {})}
        return write_folder(directory, writers, run=info)

    def to_csv(self, directory: str | os.PathLike) -> dict[str, Path]:
        """Write ``results.csv`` and ``summary.csv`` into ``directory`` (created if needed).

        Returns:
            ``{"results": path, "summary": path}``.

        Raises:
            OSError: the directory cannot be created or written.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"results": out / "results.csv", "summary": out / "summary.csv"}
        write_csv(self.results, paths["results"], index=False)
        write_csv(self.summary, paths["summary"], index=True)
        return paths


def _classify_target(model: "Model", classify: str | None, outcomes: Sequence[OutcomeSpec],
                     better: str | None) -> tuple[str, str, str]:
    """Variable to classify, its direction (outcome's, else a metric's, else ``better`` or lower) and
    its judge (outcome's, else the ``how`` of a metric on it, else ``mean``)."""
    analysis = getattr(model, "analysis", None)
    if classify is None:
        classify = getattr(analysis, "classify", None)
    if classify is None:
        if not outcomes:
            raise CxError(f"model {model.name} has no outcomes or stocks to classify; pass classify=")
        classify = outcomes[0].variable
    var = model.variable(classify, "classify")
    if better is not None and better not in ("lower", "higher"):
        raise CxError(f"better = {better!r}; use lower or higher")
    for o in outcomes:
        if o.variable == var:
            return var, better or o.better, o.judge
    for m in getattr(analysis, "metrics", ()) or ():
        if m.variable == var:
            return var, better or m.better, m.how
    return var, better or "lower", DEFAULT_JUDGE


def compare(
    model: "Model",
    scenarios: Iterable[str | Scenario] | str | None = None,
    *,
    classify: str | None = None,
    better: str | None = None,
    engine: str = DEFAULT_ENGINE,
    variables: Iterable[str] | None = None,
    time_step: float | None = None,
    rtol: float | None = None,
    params: Mapping[str, float] | None = None,
) -> Comparison:
    """Simulate scenarios of ``model`` and compare each with the baseline.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        scenarios: scenario names and/or :class:`Scenario` objects; default every scenario of the
            model. The model's baseline (:attr:`Model.baseline`) is always run and is the
            reference, listed or not; it comes first.
        classify: the variable whose comparison with baseline fills the summary's
            worst_shortfall ... classification columns; default ``model.analysis.classify``, else
            the first outcome.
        better: ``"lower"``/``"higher"`` for ``classify``; default from the outcome or metric on
            the same variable, else ``"lower"``.
        engine: simulation engine (see :func:`cxsystems.simulate`).
        variables: extra variables to keep in :attr:`Comparison.results`.
        time_step: override the model's TIME STEP (weeks).
        rtol: classification tolerance as a fraction of max |baseline|; default the model's
            ``[analysis] rtol``, else 1%.
        params: new base values ``{parameter: value}`` (validated: name, declared range) every
            scenario starts from (:func:`cxsystems.model.overrides.with_values`); a scenario's own
            change to the same parameter still wins.

    Outcomes are ``model.analysis.outcomes``; a model without any uses all its stocks, lower
    is better.

    Raises:
        CxError: unknown scenario (the message lists the valid ones), variable or engine, or a
            run that produced non-finite values.
    """
    model = with_values(model, params)
    chosen = select_scenarios(model, scenarios)
    base_name = chosen[0].name
    if rtol is None:
        rtol = getattr(getattr(model, "analysis", None), "rtol", DEFAULT_RTOL)
    outcomes = model.outcomes
    target, target_better, target_judge = _classify_target(model, classify, outcomes, better)
    analysis = getattr(model, "analysis", None)
    metric_specs = tuple(getattr(analysis, "metrics", ()) or ())
    extra = [model.variable(v, "variables") for v in (variables or ())]
    mix = tuple(getattr(analysis, "contact_mix", ()) or ())
    keep = list(dict.fromkeys([o.variable for o in outcomes] + [target]
                              + [m.variable for m in metric_specs] + [p.variable for p in mix] + extra))
    keep = [v for v in keep if v not in model.lookups]

    runs: dict[str, pd.DataFrame] = {}
    for scen in chosen:
        runs[scen.name] = simulate(model, scen, engine=engine, time_step=time_step, variables=keep)
    columns = list(next(iter(runs.values())).columns)
    outcomes, target = expand_subscripted(outcomes, target, columns)
    for m in metric_specs:
        if m.variable not in columns:
            raise CxError(f"metric {m.name!r}: {m.variable!r} is subscripted (its run has "
                          f"{', '.join(elements_of(m.variable, columns)[:3])}, ...); metrics of subscripted "
                          "variables are not supported yet")
    units = {c: model.units.get(c.split("[", 1)[0], "") for c in columns}
    return build_comparison(
        runs,
        scenarios=chosen,
        outcomes=outcomes,
        classify=target,
        classify_better=target_better,
        classify_judge=target_judge,
        metrics=metric_specs,
        units=units,
        model_name=model.name,
        rtol=rtol,
        color_order=tuple(dict.fromkeys([base_name, *model.scenarios, *(s.name for s in chosen)])),
        disturbance=getattr(model.analysis, "disturbance", None),
        model_title=model.title,
        contact_mix=mix,
        time_unit=model.time_unit,
    )


def elements_of(variable: str, columns: Sequence[str]) -> list[str]:
    """The flattened columns of a subscripted ``variable`` in a run (``Stock[a]``, ``Stock[b]``)."""
    return [c for c in columns if c.startswith(variable + "[")]


#: At most this many elements of one subscripted outcome become outcomes (charts, classifications).
MAX_ELEMENTS = 12


def expand_subscripted(outcomes: Sequence[OutcomeSpec], classify: str,
                       columns: Sequence[str]) -> tuple[tuple[OutcomeSpec, ...], str]:
    """Outcomes on subscripted variables become one outcome per element, as the run names them
    (``Stock A[Entry 1]``, labelled ``<label>[Entry 1]``), the first :data:`MAX_ELEMENTS` of them
    (a :class:`~cxsystems.errors.Notice` says how many were left out and how to choose: name an element,
    ``variable = "Stock A[Entry 7]"``); ``classify`` on one becomes its first element. Runs of
    subscripted models come flattened, one column per element, like PySD's."""
    out: list[OutcomeSpec] = []
    for o in outcomes:
        elems = elements_of(o.variable, columns) if o.variable not in columns else []
        if not elems:
            out.append(o)
            continue
        if len(elems) > MAX_ELEMENTS:
            warnings.warn(Notice(f"outcome {o.variable!r} has {len(elems):,} elements; compared and charted: "
                                 f"the first {MAX_ELEMENTS} ({elems[0]} to {elems[MAX_ELEMENTS - 1]}); name "
                                 f"the ones you want in [[outcomes]], e.g. variable = {elems[-1]!r}"),
                          stacklevel=3)
            elems = elems[:MAX_ELEMENTS]
        out.extend(dataclasses.replace(o, variable=c, label=o.label + c[len(o.variable):]) for c in elems)
    if classify not in columns:
        elems = elements_of(classify, columns)
        if elems:
            classify = elems[0]
    return tuple(out), classify


def build_comparison(
    runs: Mapping[str, pd.DataFrame],
    *,
    scenarios: Sequence[Scenario],
    outcomes: Sequence[OutcomeSpec],
    classify: str,
    classify_better: str = "lower",
    classify_judge: str | None = None,
    metrics: Sequence[MetricSpec] = (),
    units: Mapping[str, str] | None = None,
    model_name: str = "model",
    rtol: float = DEFAULT_RTOL,
    color_order: Sequence[str] = (),
    disturbance: object = None,
    model_title: str = "",
    contact_mix: Sequence[ContactPart] = (),
    time_unit: str = "Week",
) -> Comparison:
    """Assemble a :class:`Comparison` from runs that are already simulated.

    :func:`compare` simulates and then calls this; it is public so that runs from any source (another
    engine, saved CSVs, synthetic data in tests) get the same metrics, classifications and charts.

    Args:
        runs: scenario name -> run (index = time in weeks, one column per variable), one per
            scenario, all on the same time grid.
        scenarios: the scenarios, the baseline (the reference) first.
        outcomes, classify, classify_better, metrics, rtol: as in :func:`compare`.
        classify_judge: the metric that settles a mixed trajectory of ``classify`` (default: its
            outcome's ``judge``, else ``mean``).
        units: variable -> units (default: none known).
        model_name, color_order, model_title, time_unit: copied to the :class:`Comparison`.
        contact_mix: the parts contact volume is made of; each run must hold their variables.

    Raises:
        CxError: a run is missing, on another time grid, lacks a needed variable or holds
            non-finite values.
    """
    scenarios = tuple(scenarios)
    if not scenarios:
        raise CxError("no scenarios to compare")
    base_name = scenarios[0].name
    names = [s.name for s in scenarios]
    missing = [n for n in names if n not in runs]
    if missing:
        raise CxError(f"no run for scenario(s) {', '.join(missing)}")
    outcomes = tuple(outcomes)
    metrics = tuple(metrics)
    if classify_judge is None:
        classify_judge = next((o.judge for o in outcomes if o.variable == classify), DEFAULT_JUDGE)
    check_judge(classify_judge)
    contact_mix = tuple(contact_mix)
    keep = list(dict.fromkeys([o.variable for o in outcomes] + [classify] + [m.variable for m in metrics]
                              + [p.variable for p in contact_mix] + [c for c in runs[base_name].columns]))
    base_df = runs[base_name]
    times = base_df.index.to_numpy(dtype=float)
    for name in names:
        df = runs[name]
        if len(df.index) != len(times) or not np.allclose(df.index.to_numpy(dtype=float), times):
            raise CxError(f"scenario {name!r}: its run is on another time grid than {base_name!r}")
        absent = [v for v in keep if v not in df.columns]
        if absent:
            raise CxError(f"scenario {name!r}: its run lacks {', '.join(repr(v) for v in absent)}")

    labels = _class_labels(outcomes)
    rows = []
    for name in names:
        df = runs[name]
        row: dict[str, object] = {"scenario": name}
        row.update(scenario_metrics(df, metrics))
        try:
            row.update(read_trajectory(times, df[classify].to_numpy(), base_df[classify].to_numpy(),
                                       classify_better, classify_judge, rtol=rtol).as_dict(time_unit))
            for o, label in zip(outcomes, labels):
                row[label] = read_trajectory(
                    times, df[o.variable].to_numpy(), base_df[o.variable].to_numpy(), o.better,
                    o.judge, rtol=rtol).classification
        except CxError as exc:
            raise CxError(f"scenario {name!r}: {exc}") from None
        if contact_mix:
            row[AVOIDABLE_COLUMN] = avoidable_share(df, contact_mix)
        rows.append(row)
    columns = (["scenario"] + [m.name for m in metrics] + list(BASELINE_COLUMNS) + labels
               + ([AVOIDABLE_COLUMN] if contact_mix else []))
    summary = pd.DataFrame(rows, columns=columns).set_index("scenario")
    units = dict(units or {})
    return Comparison(
        model_name=model_name,
        baseline=base_name,
        scenarios=scenarios,
        outcomes=outcomes,
        classify=classify,
        results=_tidy({n: runs[n] for n in names}, keep),
        summary=summary,
        policy_start_weeks={s.name: s.start_week for s in scenarios},
        metrics=metrics,
        units={v: units.get(v, "") for v in keep},
        classify_better=classify_better,
        rtol=rtol,
        color_order=tuple(dict.fromkeys([*color_order, *names])),
        disturbance=disturbance,
        classify_judge=classify_judge,
        model_title=model_title,
        contact_mix=contact_mix,
        time_unit=time_unit,
    )


def _class_labels(outcomes: Sequence[OutcomeSpec]) -> list[str]:
    """``"class: <label>"`` per outcome; a repeated label gets its variable name appended."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.label] = counts.get(o.label, 0) + 1
    labels = [CLASS_PREFIX + (o.label if counts[o.label] == 1 else f"{o.label} [{o.variable}]")
              for o in outcomes]
    if len(set(labels)) < len(labels):  # the same outcome listed twice
        labels = [f"{lab} #{i + 1}" for i, lab in enumerate(labels)]
    return labels


def _tidy(runs: Mapping[str, pd.DataFrame], variables: Sequence[str]) -> pd.DataFrame:
    """Stack runs into columns scenario, time, variable, value (scenario, variable, time order)."""
    parts = []
    for name, df in runs.items():
        t = df.index.to_numpy(dtype=float)
        for var in variables:
            parts.append(pd.DataFrame({"scenario": name, "time": t, "variable": var,
                                       "value": df[var].to_numpy(dtype=float)}))
    out = pd.concat(parts, ignore_index=True)
    return out[list(RESULT_COLUMNS)]


def describe_row(cmp: Comparison, scenario: str) -> str:
    """One line describing ``scenario`` against baseline on the classified outcome.

    Example: ``"structural_prevention: worse-before-better on Ticket backlog (judged on the mean:
    21.2% better; worse weeks 17-29, better weeks 30-156; ends 11.4% better)"``: the class, the
    judged advantage, the phases and where the run ends (:meth:`Reading.details`). "Better" and
    "worse" are for the organisation (a lower backlog is better), as every advantage of the summary.
    """
    if scenario == cmp.baseline:
        return f"{scenario}: the baseline (reference for every comparison)"
    out = cmp.outcome(cmp.classify)
    units = pretty_units(out.units or cmp.units.get(cmp.classify, ""))
    return f"{scenario}: {cmp.reading(scenario).line(out.label, units, cmp.time_unit)}"
