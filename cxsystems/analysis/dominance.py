"""Loop dominance of one run: Loops That Matter (LTM).

Follows Schoenberg, Davidsen & Eberlein (2020, *System Dynamics Review* 36(2)) with the corrected
flow-to-stock link score of Schoenberg, Hayward & Eberlein (2023, SDR 39(2)). The model is read
through the engine's IR (``compile_model(model).ir``: each variable's whole equation, see
:mod:`cxsystems.engine.equations`; the expression each link's score evaluates is the IR's LTM
augmentation, :mod:`cxsystems.engine.ltm`, which the workshop's JavaScript reads too) and simulated by
the engine, saving every TIME STEP. Scores are computed for the intervals ``[t, t+dt]`` that start at
the model's SAVEPER times, the times at which every other output of a run is reported (as Stella
reports loop scores); ``every_step=True`` scores the interval starting at every TIME STEP. For the
interval ``[t, t+dt]``:

* **Link score** of a link ``x -> z`` into an auxiliary or flow ``z``::

      LS(x -> z) = |Δx z / Δz| * sign(Δx z / Δx)

  where ``Δx z`` is the change of ``z``'s equation when only ``x`` moves from its value at ``t`` to
  its value at ``t+dt`` (every other input, and the time, held at ``t``: ceteris paribus) and
  ``Δz`` the total change of ``z``; 0 when ``Δz`` or ``Δx`` is 0. Every link is scored at once
  for all the intervals of the run (the times are the array axis of the engine's vector closures).
* **Flow to stock** (2023 form): a stock ``S = INTEG(F, ...)`` is scored through its net flow
  ``F``: ``LS(x -> S) = |Δx F / ΔF| * sign(Δx F / Δx)``. For a flow ``i`` that is a plain term of
  ``F`` this is ``+|Δi / ΔF|`` for an inflow and ``-|Δo / ΔF|`` for an outflow (``ΔF`` is the change
  of the net flow, the stock's second difference over dt).
* **SMOOTH / DELAY** (composite links): the engine keeps their state inside the construct; the
  visible link ``input -> output`` is scored as the path ``input -> internal flow -> output``. A
  first-order SMOOTH is exactly a stock with net flow ``(input - output) / time`` and is scored as
  one (the path's flow-to-stock link scores 1); for DELAYs and higher-order SMOOTHs the composite
  score is the ceteris-paribus score of the variable into the construct's input (the internal
  pipeline passes it with score 1 in the first-order view). The internal balancing loop of a
  SMOOTH is not a visible loop and is not scored.
* **Loop score**: the product of the link scores around the loop. **Relative loop score**: the
  loop score over the sum of the absolute loop scores of the loops in the same cycle partition
  (strongly connected component of the causal graph); 0 where that sum is 0.
* **Dominance**: at each interval, the dominant set of a partition is the smallest set of loops,
  strongest first, whose absolute relative scores reach 50 %; consecutive intervals with the same
  set form a dominant period.

**Across worlds** (``n=``, ``seed=``): the worlds are drawn by Latin hypercube from the model's
``[uncertain]`` parameters and simulated by the vectorised engine; every world is scored like one
run over the loops of the outcome's partition, at the model's SAVEPER times, and
:class:`DominanceEnsemble` gives, per named and strongest loop and time, the share of worlds in
which it belongs to the dominant set or is the strongest loop, and its mean relative score.

**Time label**: as in Stella, the score of the interval ``[t, t+dt]`` is labelled ``t``; the final
time has no score. The scored times are the model's SAVEPER times (every ``round(SAVEPER / dt)``-th
TIME STEP from the initial time, the grid of the ensembles too) or, with ``every_step=True``, every
TIME STEP; a dominant period runs from its first scored time to the next scored time after its last.
The causal graph whose links are scored (and its measured polarities) is read along the run at the
SAVEPER times, as :func:`cxsystems.causal.model_graph` reads it for ``cxsystems loops``.

Loops come from :func:`cxsystems.causal.find_loops` (stable ids, names from ``<model>.loops.toml``).
Every loop is scored when there are at most ``max_loops`` (``method = "all loops"``); beyond that
only the named loops and the strongest others by a cheap bound (the product of the peak absolute
scores of their links) are scored, ``max_loops`` in all (``method = "named and strongest by
bound"``): relative scores are then shares of the scored loops only. Loops are enumerated by
:func:`~cxsystems.causal.find_loops`; beyond its own limit of 20,000 loops (or with
``strongest_paths=True``) they are found by strongest-path search after Eberlein & Schoenberg 2020
(:func:`strongest_path_loops`, ``method = "strongest paths"``), and ``notes`` say which method ran.

**Speed**: what depends only on the model's structure is memoised by that structure: the cycles
of the causal graph (keyed by its edge set and stocks, in :mod:`cxsystems.causal.loops`; the loops'
polarities, ids and names are reused only for the same cycles with the same link signs) and the
plan for multiplying the loops' link scores with shared work (:class:`_LoopProducts`, keyed by the
loops' variables). Every number (run, link, loop and relative scores) is computed anew for every
run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd

from ..causal.build import model_graph
from ..causal.loops import Loop, find_loops
from ..engine import compile_model
from ..engine import equations as E
from ..engine.ir import norm_name
from ..engine.ltm import rate_expression, saved_steps, scored_steps
from ..errors import CxError, UnsupportedConstruct

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..model.core import Model

#: Score every loop up to this many; beyond it, the named and strongest by a bound.
DEFAULT_MAX_LOOPS = 20000

#: Share of a partition's absolute loop scores a dominant set reaches.
DOMINANCE_SHARE = 0.5

SCORE_COLUMNS = ["time", "loop", "name", "polarity", "score", "relative_score"]


# --------------------------------------------------------------------------- link scores
def link_score(delta_x_z: np.ndarray, delta_z: np.ndarray, delta_x: np.ndarray) -> np.ndarray:
    """``|Δx z / Δz| * sign(Δx z / Δx)``, 0 where ``Δz`` or ``Δx`` is 0 (element-wise)."""
    with np.errstate(all="ignore"):
        ls = np.abs(delta_x_z / delta_z) * np.sign(delta_x_z) * np.sign(delta_x)
    return np.where((delta_z == 0) | (delta_x == 0), 0.0, ls)


def _link_scores(ir, now: Mapping[int, np.ndarray], nxt: Mapping[int, np.ndarray], times: np.ndarray,
                 dt: float, controls: Mapping[str, float], edges, slot_of: Mapping[str, int]) -> tuple[dict, list[str]]:
    """Link scores ``{(source, target): array over the intervals}`` of the causal ``edges``, and
    notes on links that could not be scored (their score is NaN).

    ``now`` and ``nxt`` hold each variable's values at the starts ``times`` of the intervals and at
    their ends (``times + dt``); the arrays may stack the intervals of many runs."""
    names = E.Names.of(ir)
    n = len(times)
    by_target: dict[str, list[str]] = {}
    for src, tgt in edges:
        by_target.setdefault(tgt, []).append(src)
    # the IR's LTM augmentation (engine.ltm): one rate expression per target, as the JavaScript backend reads it
    rates = {tgt: rate_expression(ir, slot_of[tgt]) if tgt in slot_of else (None, "no slot") for tgt in by_target}
    out: dict[tuple[str, str], np.ndarray] = {}
    notes: list[str] = []
    for tgt, sources in by_target.items():
        rate, how = rates[tgt]
        ev = None
        if rate is not None:
            try:
                ev = E.Evaluator(rate, E.EvalContext(now, times, controls, dict(names.variables)))
                base = ev()
                after = E.Evaluator(rate, E.EvalContext(nxt, times + dt, controls, dict(names.variables)))()
            except E.Unsupported as exc:
                notes.append(f"links into {tgt!r} not scored: {exc}")
                ev = None
        for src in sources:
            sx = slot_of.get(src)
            if ev is None or sx not in now:
                out[(src, tgt)] = np.full(n, np.nan)
                continue
            try:
                dxz = ev({sx: nxt[sx]}) - base
            except E.Unsupported as exc:
                notes.append(f"link {src!r} -> {tgt!r} not scored: {exc}")
                out[(src, tgt)] = np.full(n, np.nan)
                continue
            out[(src, tgt)] = link_score(dxz, after - base, nxt[sx] - now[sx])
    return out, notes


# --------------------------------------------------------------------------- dominance
def dominant_sets(relative: np.ndarray, share: float = DOMINANCE_SHARE) -> list[tuple[int, ...]]:
    """For each interval (column of ``relative``, loops x intervals), the indices (rows) of the
    smallest set of loops, strongest first (ties: the lower index first), whose absolute relative
    scores reach ``share``; an empty set where no loop has a score.

    The strongest :data:`_TOP_SORTED` loops of each interval are selected and sorted (a block of
    intervals at a time, transposed into contiguous memory); an interval whose set they do not
    settle (the share not reached, or the set's weakest loop tied with the last one selected) is
    done by a full sort (:func:`_dominant_sets_sorted`). The sets are those of the full sort."""
    loops, cols = relative.shape
    if loops == 0:
        return [()] * cols
    k = min(_TOP_SORTED, loops)
    out: list[tuple[int, ...]] = [()] * cols
    unsettled: list[int] = []
    for c0 in range(0, cols, 64):
        b = _abs_scores(np.ascontiguousarray(relative[:, c0:c0 + 64].T))
        idx = np.argpartition(b, loops - k, axis=1)[:, loops - k:] if k < loops else \
            np.broadcast_to(np.arange(loops), b.shape).copy()
        vals = np.take_along_axis(b, idx, axis=1)
        order = np.lexsort((idx, -vals), axis=1)  # strongest first, then the lower index
        idx, vals = np.take_along_axis(idx, order, axis=1), np.take_along_axis(vals, order, axis=1)
        reach = np.cumsum(vals, axis=1) >= share - 1e-12
        need = np.argmax(reach, axis=1) + 1
        edge = np.take_along_axis(vals, (need - 1)[:, None], axis=1)[:, 0]
        settled = reach.any(axis=1) & ((k == loops) | (edge > vals[:, -1]))
        for r in range(b.shape[0]):
            if vals[r, 0] <= 0:
                continue  # no loop has a score: the empty set
            if settled[r]:
                out[c0 + r] = tuple(sorted(idx[r, :need[r]].tolist()))
            else:
                unsettled.append(c0 + r)
    if unsettled:
        for j, s in zip(unsettled, _dominant_sets_sorted(_abs_scores(relative[:, unsettled]), share)):
            out[j] = s
    return out


def _abs_scores(x: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(np.abs(x))`` in place (``x`` a fresh array): NaN as 0, infinity as the
    largest float."""
    np.abs(x, out=x)
    np.fmax(x, 0.0, out=x)
    np.fmin(x, np.finfo(float).max, out=x)
    return x


def _dominant_sets_sorted(a: np.ndarray, share: float) -> list[tuple[int, ...]]:
    """:func:`dominant_sets` of absolute relative scores ``a`` (no NaN) by a full stable sort of
    each column."""
    order = np.argsort(-a, axis=0, kind="stable")
    sorted_a = np.take_along_axis(a, order, axis=0)
    cum = np.cumsum(sorted_a, axis=0)
    need = np.argmax(cum >= share - 1e-12, axis=0) + 1
    total = cum[-1]
    return [() if total[j] <= 0 else tuple(sorted(order[: need[j], j].tolist())) for j in range(a.shape[1])]


def _periods(times: np.ndarray, spacing: float, sets: list[tuple[int, ...]], relative: np.ndarray) -> list[tuple]:
    """``(start, end, set, mean share)`` of runs of equal dominant sets (``end``: the last time of
    the run plus ``spacing``, the next scored time)."""
    out = []
    i = 0
    n = len(sets)
    while i < n:
        j = i
        while j + 1 < n and sets[j + 1] == sets[i]:
            j += 1
        s = sets[i]
        share = float(np.mean(np.abs(relative[list(s), i:j + 1]).sum(axis=0))) if s else 0.0
        out.append((float(times[i]), float(times[j] + spacing), s, share))
        i = j + 1
    return out


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class DominanceResult:
    """Loop dominance of one run (see the module docstring for the definitions).

    Attributes:
        model: the model's name.
        scenario: the scenario's name.
        outcome: the outcome whose partition :attr:`dominant_periods` reports (``None``: every
            partition).
        method: ``"all loops"`` or ``"named and strongest by bound"``.
        times: the scored interval start times (the SAVEPER times, or every TIME STEP, but the
            final time).
        dt: the TIME STEP (each scored interval is ``[t, t+dt]``).
        saveper: the model's SAVEPER (the times :meth:`save` writes).
        loop_list: the scored loops.
        partition: the cycle partition (1, 2, ...) of each loop.
        loop_scores: loops x intervals.
        relative: loops x intervals, relative loop scores.
        link_scores: ``{(source, target): scores over the intervals}``.
        run: the run at the SAVEPER times (every TIME STEP with ``every_step``; index ``time``).
        partition_of: variable name -> its partition, for variables on a loop.
        notes: what the reader should know (links not scored, the method...).
        every: the spacing of the scored times (SAVEPER, or dt with ``every_step=True``;
            ``None``: dt).
    """

    model: str
    scenario: str
    outcome: str | None
    method: str
    times: np.ndarray
    dt: float
    saveper: float
    loop_list: tuple[Loop, ...]
    partition: np.ndarray
    loop_scores: np.ndarray
    relative: np.ndarray
    link_scores: Mapping[tuple[str, str], np.ndarray]
    run: pd.DataFrame
    partition_of: Mapping[str, int]
    notes: tuple[str, ...] = field(default=())
    every: float | None = None

    @property
    def spacing(self) -> float:
        """The time between two scored intervals' starts (:attr:`every`, default the TIME STEP)."""
        return self.dt if self.every is None else float(self.every)

    # ---------------------------------------------------------------- tables
    @cached_property
    def loops(self) -> pd.DataFrame:
        """One row per scored loop: ``loop`` (id), ``name``, ``polarity``, ``partition``,
        ``length``, ``variables`` (in causal order, ``" -> "``) and ``mean_share`` (mean absolute
        relative score over the run)."""
        if self.times.size and self.loop_list:
            with np.errstate(invalid="ignore"):
                shares = np.nanmean(np.abs(self.relative), axis=1).tolist()
        else:
            shares = [0.0] * len(self.loop_list)
        rows = [dict(loop=lp.id, name=lp.name, polarity=lp.description, partition=int(self.partition[i]),
                     length=lp.length, variables=" -> ".join(lp.variables), mean_share=shares[i])
                for i, lp in enumerate(self.loop_list)]
        return pd.DataFrame(rows, columns=["loop", "name", "polarity", "partition", "length", "variables",
                                           "mean_share"])

    @cached_property
    def scores(self) -> pd.DataFrame:
        """Tidy scores of every loop at every scored interval: ``time, loop, name, polarity, score,
        relative_score`` (time = the start of the interval ``[t, t+dt]``)."""
        return self.scores_for(None)

    def scores_for(self, loops=None, *, every: float | None = None) -> pd.DataFrame:
        """Tidy scores (:attr:`scores`) of ``loops`` (ids or names; ``None``: all), at every
        scored interval or, with ``every`` (weeks), at the times on that grid."""
        idx = self._indices(loops)
        cols = np.arange(self.times.size)
        if every is not None and every > self.spacing:
            k = max(1, int(round(every / self.spacing)))
            cols = cols[::k]
        nl, nt = len(idx), cols.size
        ids = [self.loop_list[i].id for i in idx]
        names = [self.loop_list[i].name for i in idx]
        pols = [self.loop_list[i].description for i in idx]
        return pd.DataFrame({
            "time": np.tile(self.times[cols], nl),
            "loop": np.repeat(np.array(ids, dtype=object), nt),
            "name": np.repeat(np.array(names, dtype=object), nt),
            "polarity": np.repeat(np.array(pols, dtype=object), nt),
            "score": self.loop_scores[idx][:, cols].reshape(-1) if nl else np.zeros(0),
            "relative_score": self.relative[idx][:, cols].reshape(-1) if nl else np.zeros(0),
        }, columns=SCORE_COLUMNS)

    @cached_property
    def links(self) -> pd.DataFrame:
        """Tidy link scores: ``time, source, target, score``."""
        keys = list(self.link_scores)
        nt = self.times.size
        return pd.DataFrame({
            "time": np.tile(self.times, len(keys)),
            "source": np.repeat(np.array([k[0] for k in keys], dtype=object), nt),
            "target": np.repeat(np.array([k[1] for k in keys], dtype=object), nt),
            "score": np.concatenate([self.link_scores[k] for k in keys]) if keys else np.zeros(0),
        })

    def link_score(self, source: str, target: str) -> pd.Series:
        """The score of the link ``source -> target`` over the intervals (index ``time``)."""
        key = (source, target)
        if key not in self.link_scores:
            matches = [k for k in self.link_scores if norm_name(k[0]) == norm_name(source)
                       and norm_name(k[1]) == norm_name(target)]
            if not matches:
                raise CxError(f"no causal link {source!r} -> {target!r} in {self.model}")
            key = matches[0]
        return pd.Series(self.link_scores[key], index=pd.Index(self.times, name="time"), name=f"{key[0]} -> {key[1]}")

    def _indices(self, loops) -> list[int]:
        if loops is None:
            return list(range(len(self.loop_list)))
        out = []
        for key in ([loops] if isinstance(loops, str) else loops):
            for i, lp in enumerate(self.loop_list):
                if lp.id == key or (lp.name and norm_name(lp.name) == norm_name(key)):
                    out.append(i)
                    break
            else:
                raise CxError(f"no loop {key!r} among the scored loops of {self.model}")
        return out

    def partition_of_outcome(self, outcome: str) -> int:
        """The cycle partition holding ``outcome``; refused for a variable on no loop."""
        for name, p in self.partition_of.items():
            if norm_name(name) == norm_name(outcome):
                return p
        known = [c for c in self.run.columns if norm_name(c) == norm_name(outcome)]
        if not known:
            raise CxError(f"{self.model}: no variable {outcome!r}")
        raise CxError(f"{self.model}: {outcome!r} is on no feedback loop: no loop dominates it")

    def top(self, k: int = 8, outcome: str | None = None) -> list[str]:
        """Ids of the named loops and then the ``k`` strongest others (by mean share) of the
        outcome's partition (default :attr:`outcome`; ``None``: every partition)."""
        outcome = outcome if outcome is not None else self.outcome
        part = self.partition_of_outcome(outcome) if outcome is not None else None
        t = self.loops
        if part is not None:
            t = t[t["partition"] == part]
        named = t[t["name"] != ""].sort_values("mean_share", ascending=False, kind="stable")
        rest = t[t["name"] == ""].sort_values("mean_share", ascending=False, kind="stable").head(k)
        return list(named["loop"]) + list(rest["loop"])

    @cached_property
    def dominant_periods(self) -> pd.DataFrame:
        """Dominant periods of the outcome's partition (or of every partition): ``partition,
        start, end, loops`` (ids, ``" + "``), ``names``, ``polarity`` (of the set: ``R``, ``B`` or
        ``R+B``) and ``share`` (mean absolute relative score of the set over the period)."""
        parts = sorted(set(self.partition.tolist()))
        if self.outcome is not None:
            parts = [self.partition_of_outcome(self.outcome)]
        rows = []
        for p in parts:
            idx = np.flatnonzero(self.partition == p)
            rel = self.relative[idx]
            sets = dominant_sets(rel)
            for start, end, s, share in _periods(self.times, self.spacing, sets, rel):
                lps = [self.loop_list[idx[i]] for i in s]
                pols = sorted({lp.id[0] for lp in lps})
                rows.append(dict(partition=p, start=start, end=end, loops=" + ".join(lp.id for lp in lps),
                                 names=" + ".join(lp.name or lp.id for lp in lps), polarity="+".join(pols),
                                 share=share))
        return pd.DataFrame(rows, columns=["partition", "start", "end", "loops", "names", "polarity", "share"])

    def leading(self, bounds, loops) -> pd.DataFrame:
        """Which of ``loops`` (ids or names, in that order: the loops on a diagram) drives most, per
        phase ``[a, b)`` of ``bounds`` (weeks of the interval starts). At each interval the loop with
        the largest absolute loop score *leads* (the first on a tie; none where every score is 0 or
        not scored): dividing by its partition's total would not change that order, so no share of
        every loop is needed (the workshop page computes the same live). Per phase, the loop leading
        most often (the first on a tie) and ``share``, the fraction of the phase's intervals it leads.
        Columns ``start, end, loop, name, polarity, share`` (``loop`` ``""`` when none leads)."""
        idx = self._indices(loops)
        a = np.nan_to_num(np.abs(self.loop_scores[idx]))
        best = np.argmax(a, axis=0)
        lead = np.where(a[best, np.arange(a.shape[1])] > 0, best, -1)
        rows = []
        for lo, hi in bounds:
            sel = (self.times >= lo) & (self.times < hi)
            if not sel.any():
                raise CxError(f"phase [{lo:g}, {hi:g}) holds no time of the run")
            led = lead[sel]
            counts = np.bincount(led[led >= 0], minlength=len(idx))
            k = int(np.argmax(counts))
            lp = self.loop_list[idx[k]] if counts[k] > 0 else None
            rows.append(dict(start=float(lo), end=float(hi), loop=lp.id if lp else "", name=lp.name if lp else "",
                             polarity=lp.description if lp else "",
                             share=float(counts[k] / sel.sum()) if lp else 0.0))
        return pd.DataFrame(rows, columns=["start", "end", "loop", "name", "polarity", "share"])

    def phases(self, bounds, loops=None) -> pd.DataFrame:
        """Per loop (ids or names; default: :meth:`top`) and phase ``[a, b)`` of ``bounds``
        (``[(a, b), ...]`` in weeks of the interval starts): ``mean_relative`` (the loop's mean
        relative score) and ``dominant_share`` (the share of the phase's intervals in which it is
        in its partition's dominant set). Columns: ``loop, name, polarity, start, end`` and those."""
        idx = self._indices(loops if loops is not None else self.top())
        member = np.zeros(self.relative.shape, dtype=bool)
        for p in sorted(set(self.partition[idx].tolist())):
            rows = np.flatnonzero(self.partition == p)
            for j, s in enumerate(dominant_sets(self.relative[rows])):
                member[rows[list(s)], j] = True
        out = []
        for a, b in bounds:
            sel = (self.times >= a) & (self.times < b)
            if not sel.any():
                raise CxError(f"phase [{a:g}, {b:g}) holds no time of the run")
            for i in idx:
                lp = self.loop_list[i]
                out.append(dict(loop=lp.id, name=lp.name, polarity=lp.description, start=float(a), end=float(b),
                                mean_relative=float(np.mean(self.relative[i, sel])),
                                dominant_share=float(np.mean(member[i, sel]))))
        return pd.DataFrame(out, columns=["loop", "name", "polarity", "start", "end", "mean_relative",
                                          "dominant_share"])

    @property
    def summary(self) -> pd.DataFrame:
        """One row per loop, strongest first (named loops first): ``loop, name, polarity,
        partition, mean_share`` and ``dominant_share`` (share of the intervals the loop belongs
        to its partition's dominant set)."""
        t = self.loops.copy()
        dom = np.zeros(len(self.loop_list))
        for p in sorted(set(self.partition.tolist())):
            idx = np.flatnonzero(self.partition == p)
            for s in dominant_sets(self.relative[idx]):
                for i in s:
                    dom[idx[i]] += 1
        t["dominant_share"] = dom / max(1, self.times.size)
        t["_named"] = t["name"] == ""
        t = t.sort_values(["_named", "mean_share"], ascending=[True, False], kind="stable").drop(columns="_named")
        return t[["loop", "name", "polarity", "partition", "mean_share", "dominant_share"]].reset_index(drop=True)

    # ---------------------------------------------------------------- views
    def plot(self, outcome: str | None = None, *, loops=None, top: int = 6, **kwargs) -> "Figure":
        """Stella-style chart: ``outcome`` on top, the relative scores of its partition's named
        (and ``top`` strongest) loops stacked below, reinforcing and balancing loops coloured apart
        (see :func:`cxsystems.plotting.dominance.dominance_chart`)."""
        from ..plotting.dominance import dominance_chart

        return dominance_chart(self, self._outcome(outcome), loops=loops, top=top, **kwargs)

    def _outcome(self, outcome: str | None) -> str:
        outcome = outcome if outcome is not None else self.outcome
        if outcome is None:
            for p in self.partition_of:
                return p
            raise CxError(f"{self.model}: no feedback loop to chart")
        return outcome

    def save(self, directory: str | os.PathLike, format: str = "png", *, outcome: str | None = None) -> list[Path]:
        """Write ``scores.csv`` (every loop at the model's SAVEPER times), ``loops.csv``,
        ``dominant_periods.csv`` and the chart ``dominance_<outcome>.<format>``, with the manifest."""
        from ..files import check_format, outcome_stems, write_csv, write_figure, write_folder

        check_format(format)
        out = self._outcome(outcome)
        stem = outcome_stems([out], prefix="dominance_")[out]
        fig = self.plot(out)

        def chart(path: Path) -> None:
            import matplotlib.pyplot as plt

            try:
                write_figure(fig, path)
            finally:
                plt.close(fig)

        writers = {
            "scores.csv": lambda p: write_csv(self.scores_for(None, every=self.saveper), p, index=False),
            "loops.csv": lambda p: write_csv(self.loops, p, index=False),
            "dominant_periods.csv": lambda p: write_csv(self.dominant_periods, p, index=False),
            f"{stem}.{format}": chart,
        }
        run = dict(command="dominance", model=self.model, scenario=self.scenario, outcome=out,
                   method=self.method, loops=len(self.loop_list), time_label="start of [t, t+dt]")
        return write_folder(directory, writers, run=run)


# --------------------------------------------------------------------------- entry point
def strongest_path_loops(graph, link_scores, every: int = 1) -> list[Loop]:
    """Loops found by strongest-path search (after Eberlein & Schoenberg 2020), without
    enumerating every loop: at every ``every``-th interval, from each stock, a depth-first search
    along the links weighted by their absolute link scores that extends a path to a variable only
    if it reaches it with a larger product than any path before (so each variable is passed on by
    its strongest path); a path back to the stock closes a loop. The union over the intervals,
    numbered R1, B1, ... by length and names (within these loops), named from the loop-name file.
    """
    import sys

    from ..causal.loops import _canonical, _loop_polarity
    from ..names import norm

    dg = graph.digraph()
    stocks = sorted(n for n, node in graph.nodes.items() if node.kind == "stock" and n in dg)
    succ = {u: [v for v in dg.successors(u) if (u, v) in link_scores] for u in dg.nodes}
    n = len(next(iter(link_scores.values()))) if link_scores else 0
    found: set[tuple[str, ...]] = set()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(dg) + 100))
    try:
        for j in range(0, n, max(1, every)):
            w = {k: abs(float(v[j])) for k, v in link_scores.items()}
            for s in stocks:
                best: dict[str, float] = {}

                def visit(node, score, path, on_path, s=s, best=best, w=w):
                    for v in succ.get(node, ()):
                        sc = score * w[(node, v)]
                        if not sc > 0:
                            continue
                        if v == s:
                            found.add(tuple(path))
                        elif v not in on_path and sc > best.get(v, 0.0):
                            best[v] = sc
                            on_path.add(v)
                            visit(v, sc, path + [v], on_path)
                            on_path.discard(v)

                visit(s, 1.0, [s], {s})
    finally:
        sys.setrecursionlimit(limit)
    stock_set = set(stocks)
    canon = sorted({_canonical(list(c), stock_set) for c in found},
                   key=lambda c: (len(c), tuple(v.lower() for v in c)))
    names = {ln.key: ln for ln in graph.loop_names}
    counter = {"R": 0, "B": 0, "U": 0}
    out = []
    for cyc in canon:
        links = [(cyc[i], cyc[(i + 1) % len(cyc)]) for i in range(len(cyc))]
        pol, desc, segs = _loop_polarity(graph, links)
        letter = pol if pol in ("R", "B") else ("U" if pol == "?" else "R")
        counter[letter] += 1
        ln = names.get(frozenset(norm(v) for v in cyc))
        out.append(Loop(f"{letter}{counter[letter]}", pol, desc, cyc, tuple(graph.edges[k].polarity for k in links),
                        sum(graph.edges[k].delayed for k in links), ln.name if ln else "",
                        ln.polarity if ln else "", segs))
    return out


def _strongest(loops: list[Loop], link_scores, max_loops: int) -> list[Loop]:
    """Named loops, then loops by the product of their links' peak absolute scores (a cheap
    bound on the loop score), up to ``max_loops``."""
    prod = _products(tuple(lp.variables for lp in loops))
    peaks = np.array([float(np.nanmax(np.abs(s))) if (s := link_scores.get(k)) is not None and s.size else 0.0
                      for k in prod.keys])
    bound = np.multiply.reduceat(peaks[prod.flat], prod.starts[:-1]).tolist() if loops else []
    named = [lp for lp in loops if lp.name]
    rest = [lp for _, lp in sorted(((b, lp) for b, lp in zip(bound, loops) if not lp.name),
                                   key=lambda pair: pair[0], reverse=True)]
    return named + rest[: max(0, max_loops - len(named))]


#: A product of link scores is formed directly while no partial product can leave the range
#: ``exp(±_SAFE_LOG)``; an interval where one could is scored as ``exp(sum of logs)`` instead.
_SAFE_LOG = 700.0

#: Partial products held at once (trie nodes x intervals; 8 MB): bounds the memory.
_PRODUCT_CELLS = 1_000_000

#: Loop structures (:class:`_LoopProducts`) memoised by their loops' variables.
PRODUCTS_MEMO_SIZE = 8


@dataclass(frozen=True, eq=False)
class _LoopProducts:
    """How to multiply the link scores around many loops with shared work.

    Each loop's links are cut in two halves, the first ``length // 2`` links and the rest. The
    products of the first halves are the nodes of a prefix trie (loops that start with the same
    links share them), those of the second halves the nodes of a suffix trie (built from the last
    link back); a loop's score is its head node times its tail node. For cx_service's 7,055 loops
    (198,865 links) the tries hold 4,642 nodes: 11,697 multiplications per interval instead of
    191,810. Nodes are numbered level by level, a level holding the nodes of both tries at one
    depth (``levels``: node ranges whose parents all come before them; node 0 is the empty
    product, 1), so a block of intervals takes one gather-and-multiply per level (21 for
    cx_service) and one for the loops.

    Attributes:
        keys: the loops' links ``(source, target)``, sorted: the rows of a link table.
        flat, starts: each loop's links as indices into ``keys``, in order around the loop
            (loop ``i`` at ``flat[starts[i]:starts[i + 1]]``).
        parent, link: each node's parent node and the link (index into ``keys``) it multiplies in.
        levels: node ranges ``levels[j]:levels[j + 1]``, computed in turn.
        head, tail: each loop's two nodes.
        longest: the most links of a loop.
        variables: the variables on the loops, in order of first appearance.
    """

    keys: tuple[tuple[str, str], ...]
    flat: np.ndarray
    starts: np.ndarray
    parent: np.ndarray
    link: np.ndarray
    levels: tuple[int, ...]
    head: np.ndarray
    tail: np.ndarray
    longest: int
    variables: tuple[str, ...]

    @classmethod
    def of(cls, variables: tuple[tuple[str, ...], ...]) -> "_LoopProducts":
        """The structure of the loops whose variables (in causal order) are ``variables``."""
        names = sorted({v for c in variables for v in c})
        n_names = max(1, len(names))
        pos = {v: i for i, v in enumerate(names)}
        lengths = np.fromiter(map(len, variables), dtype=np.int64, count=len(variables))
        starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        src = np.fromiter(map(pos.__getitem__, chain.from_iterable(variables)), dtype=np.int64,
                          count=int(starts[-1]))
        tgt = np.roll(src, -1)  # the next variable; the last of a loop goes back to its first
        tgt[starts[1:] - 1] = src[starts[:-1]]
        codes, flat = np.unique(src * n_names + tgt, return_inverse=True)
        flat = flat.reshape(-1).astype(np.int64)
        keys = tuple((names[c // n_names], names[c % n_names]) for c in codes.tolist())
        # the two tries grow together, one level per depth: the first halves from their first
        # link on, the second halves from their last link back; a node is its (parent, link)
        half = lengths // 2
        walks = ((half, lambda sel, d: starts[sel] + d - 1),
                 (lengths - half, lambda sel, d: starts[sel] + lengths[sel] - d))
        n_keys = max(1, len(keys))
        parent, link, levels = [np.zeros(1, np.int64)], [np.full(1, -1, np.int64)], [0, 1]
        head, tail = np.zeros(len(variables), np.int64), np.zeros(len(variables), np.int64)
        for d in range(1, int(np.max(lengths - half, initial=0)) + 1):
            sels = [np.flatnonzero(depth >= d) for depth, _ in walks]
            codes = np.concatenate([node[sel] * n_keys + flat[at(sel, d)]
                                    for node, sel, (_, at) in zip((head, tail), sels, walks)])
            uniq, inv = np.unique(codes, return_inverse=True)
            parent.append(uniq // n_keys)
            link.append(uniq % n_keys)
            inv = levels[-1] + inv.reshape(-1)
            head[sels[0]] = inv[:sels[0].size]
            tail[sels[1]] = inv[sels[0].size:]
            levels.append(levels[-1] + uniq.size)
        arrays = [flat, starts, np.concatenate(parent), np.concatenate(link), head, tail]
        for a in arrays:
            a.setflags(write=False)
        return cls(keys, arrays[0], arrays[1], arrays[2], arrays[3], tuple(levels), arrays[4], arrays[5],
                   int(lengths.max(initial=0)), tuple(dict.fromkeys(chain.from_iterable(variables))))

    @property
    def size(self) -> int:
        """How many loops."""
        return self.head.size

    def table(self, link_scores: Mapping[tuple[str, str], np.ndarray], n: int) -> np.ndarray:
        """The link scores as rows in :attr:`keys` order (NaN for a link not scored); -0 as +0, so
        that a product with a zero has the sign of its count of negative links."""
        nan = np.full(n, np.nan)
        table = np.vstack([link_scores.get(k, nan) for k in self.keys]) if self.keys else np.zeros((0, n))
        table += 0.0
        return table

    def products(self, table: np.ndarray) -> np.ndarray:
        """Loops x columns: the product of each loop's link scores (rows of ``table``, see
        :meth:`table`; :meth:`blocks`)."""
        out = np.empty((self.size, table.shape[1]))
        for _ in self.blocks(table, out):
            pass
        return out

    def blocks(self, table: np.ndarray, out: np.ndarray | None = None):
        """The products of each loop's link scores (rows of ``table``, see :meth:`table`) a block
        of columns at a time: yields ``(columns, loops x columns)``, the array reused by the next
        block (or a view of ``out``, loops x all columns, when given). NaN where a link is NaN.
        Direct products keep the sign and are exact to a few rounding errors; columns where a
        partial product could overflow or underflow are computed as ``sign * exp(sum of log
        |score|)`` (:meth:`log_products`)."""
        n = table.shape[1]
        if self.size == 0 or n == 0:
            yield slice(0, n), np.empty((self.size, n))
            return
        nodes = self.parent.size
        step = max(16, min(n, _PRODUCT_CELLS // nodes))
        pairs = list(zip(self.levels[1:-1], self.levels[2:]))
        risky = self._risky(table)
        vals = heads = tails = np.empty((0, 0))
        for c0 in range(0, n, step):
            cols = slice(c0, min(n, c0 + step))
            t = table[:, cols]
            w = cols.stop - c0
            if vals.shape[1] != w:  # buffers, reused by the blocks of this width
                vals, heads, tails = np.empty((nodes, w)), np.empty((self.size, w)), np.empty((self.size, w))
                vals[0] = 1.0
            with np.errstate(all="ignore"):  # overflow: such columns are done again below
                for lo, hi in pairs:
                    np.multiply(vals[self.parent[lo:hi]], t[self.link[lo:hi]], out=vals[lo:hi])
                np.take(vals, self.head, axis=0, out=heads, mode="clip")
                np.take(vals, self.tail, axis=0, out=tails, mode="clip")
                block = np.multiply(heads, tails, out=heads if out is None else out[:, cols])
            if risky[cols].any():
                block[:, risky[cols]] = self.log_products(t[:, risky[cols]])
            yield cols, block

    def log_products(self, table: np.ndarray) -> np.ndarray:
        """The products as ``sign * exp(sum of log |score|)`` (the sign: the parity of the
        negative links); no intermediate overflow."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            logs = np.log(np.abs(table))
            out = np.add.reduceat(logs[self.flat], self.starts[:-1], axis=0)
            np.exp(out, out=out)
        odd = np.add.reduceat((table < 0)[self.flat].astype(np.int64), self.starts[:-1], axis=0) % 2 == 1
        np.negative(out, out=out, where=odd)
        return out

    def negative_parity(self, table: np.ndarray, rows) -> np.ndarray:
        """Loops ``rows`` x columns: whether the loop has an odd number of negative links."""
        out = np.zeros((len(rows), table.shape[1]), dtype=bool)
        for k, i in enumerate(rows):
            out[k] = np.count_nonzero(table[self.flat[self.starts[i]:self.starts[i + 1]]] < 0, axis=0) % 2 == 1
        return out

    def _risky(self, table: np.ndarray) -> np.ndarray:
        """Columns where a partial product could leave the range ``exp(±_SAFE_LOG)``. A loop goes
        through a link at most once, so every partial product lies between the products of the
        :attr:`longest` smallest and largest non-zero finite magnitudes of its column (zero, NaN
        and infinite scores make a product 0, NaN or infinite whichever way it is formed)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(np.abs(table))
        logs[~np.isfinite(logs)] = 0.0
        rows = logs.shape[0]
        k = min(self.longest, rows)
        if k == 0:
            return np.zeros(table.shape[1], dtype=bool)
        up = np.partition(np.maximum(logs, 0.0), rows - k, axis=0)[rows - k:].sum(axis=0)
        down = np.partition(np.minimum(logs, 0.0), k - 1, axis=0)[:k].sum(axis=0)
        return (up > _SAFE_LOG) | (down < -_SAFE_LOG)


@lru_cache(maxsize=PRODUCTS_MEMO_SIZE)
def _products(variables: tuple[tuple[str, ...], ...]) -> _LoopProducts:
    """The :class:`_LoopProducts` of loops with these variables, memoised: it depends only on the
    (immutable) variable tuples, not on any run, parameter or link polarity, so every run of a
    model's structure shares it (at most :data:`PRODUCTS_MEMO_SIZE` structures are kept)."""
    return _LoopProducts.of(variables)


def _loop_scores(loops: list[Loop], link_scores, n: int) -> np.ndarray:
    """Loops x intervals: the product of each loop's link scores (NaN for a link not scored),
    multiplied along the loops' shared halves (:class:`_LoopProducts`)."""
    if not loops:
        return np.zeros((0, n))
    prod = _products(tuple(lp.variables for lp in loops))
    return prod.products(prod.table(link_scores, n))


def _relative(scores: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Relative loop scores: each loop's score over the sum of the absolute scores of its
    partition's loops at the same interval (NaN scores count as 0); 0 where that sum is 0.

    Few passes over the loops x intervals array: the absolute scores (NaN as 0) are summed per
    partition, the largest partition's last (the other partitions' rows zeroed once summed), and
    every row is divided by its sums, then the other partitions' rows by theirs."""
    if scores.shape[0] == 0:
        return scores.copy()
    labels, inv = np.unique(part, return_inverse=True)
    inv = inv.reshape(-1)
    big = int(np.argmax(np.bincount(inv)))
    out = np.abs(scores)
    np.fmax(out, 0.0, out=out)  # NaN as 0
    others = []
    for k in range(labels.size):
        if k != big:
            rows = np.flatnonzero(inv == k)
            others.append((rows, out[rows].sum(axis=0)))
            out[rows] = 0.0
    den = out.sum(axis=0)
    for d in [den] + [d for _, d in others]:
        d[d == 0] = np.inf  # a partition with no change: every relative score is 0
    np.divide(scores, den, out=out)
    for rows, d in others:
        out[rows] = scores[rows] / d
    return out


def _time_settings(model, dt: float) -> dict:
    """The fixed time settings of ``model`` (TIME STEP ``dt``), as :func:`scored_steps` takes them."""
    return dict(initial_time=float(model.initial_time), final_time=float(model.final_time),
                time_step=dt, saveper=float(model.saveper))


def dominance(model: "Model", scenario=None, outcome: str | None = None, *,
              params: Mapping[str, float] | None = None, max_loops: int = DEFAULT_MAX_LOOPS,
              n: int | None = None, seed: int = 0, top: int = 8,
              strongest_paths: bool = False, every_step: bool = False,
              backend: str | None = None) -> "DominanceResult | DominanceEnsemble":
    """Loop dominance (Loops That Matter) of one run of ``model`` under ``scenario``.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        scenario: a scenario name or :class:`~cxsystems.model.scenarios.Scenario` (default: baseline).
        outcome: a variable whose cycle partition :attr:`DominanceResult.dominant_periods` and the
            chart report (default: every partition).
        params: new base values ``{parameter: value}`` for the run.
        max_loops: score every loop up to this many, else the named and strongest ones (by a bound).
        n: a number of worlds: an ensemble (:class:`DominanceEnsemble`) over ``n`` worlds drawn
            by Latin hypercube (``seed``) from the model's ``[uncertain]`` parameters; needs
            ``outcome``. ``top``: besides the named loops, how many of the strongest loops of the
            one run (the model's own values) an ensemble reports.
        strongest_paths: find the loops by strongest-path search (:func:`strongest_path_loops`)
            instead of enumerating them all; used anyway when there are too many to enumerate.
        every_step: score the interval starting at every TIME STEP, not only at the model's
            SAVEPER times (one run only: an ensemble scores the SAVEPER times).
        backend: the engine backend of the runs (``"auto"``, ``"compiled"`` or ``"numpy"``;
            default ``CXSYSTEMS_BACKEND`` or ``"auto"``, see :mod:`cxsystems.engine.compiled`):
            the numbers are the same, only the time differs.

    Raises:
        CxError: unknown scenario or outcome, a model the engine cannot run
            (:class:`~cxsystems.errors.UnsupportedConstruct`: dominance reads the engine's IR).
    """
    from ..model.overrides import with_values
    from ..model.scenarios import resolve_scenario

    if isinstance(max_loops, bool) or not isinstance(max_loops, int) or max_loops < 1:
        raise CxError(f"max_loops must be a positive whole number, got {max_loops!r}")
    model = with_values(model, params)
    scen = resolve_scenario(model, scenario)
    if outcome is not None:
        outcome = model.variable(outcome, "outcome")
    if n is not None:
        if outcome is None:
            raise CxError("a dominance ensemble (n=) needs an outcome")
        if every_step:
            raise CxError("a dominance ensemble scores the SAVEPER times: every_step is for one run")
        one = dominance(model, scen, outcome, max_loops=max_loops, strongest_paths=strongest_paths,
                        backend=backend)
        return _ensemble(model, scen, one, n, seed, top, backend)
    try:
        cm = compile_model(model)
    except UnsupportedConstruct as exc:
        raise UnsupportedConstruct(f"{model.name}: loop dominance needs the numpy engine: {exc.reason}") from None
    ir = cm.ir
    dt = float(model.time_step)
    if not np.isfinite(dt) or cm.control_slots:
        raise UnsupportedConstruct(f"{model.name}: loop dominance needs fixed time settings (TIME STEP, "
                                   "SAVEPER and FINAL TIME that do not change in time)")
    controls = _time_settings(model, dt)
    starts = scored_steps(controls, every_step)
    if starts.size == 0:
        raise CxError(f"{model.name}: the run has a single time: nothing changes")
    saved = saved_steps(controls)
    # the run keeps the two ends of every scored interval and the SAVEPER times
    keep = np.union1d(np.union1d(starts, starts + 1), saved)
    res = cm.run(changes=scen.changes, backend=backend, save_steps=keep)
    times_kept = np.asarray(res.times, dtype=float)
    at, shown = np.searchsorted(keep, starts), np.searchsorted(keep, saved)
    frame = res.to_frame()
    run = frame if every_step else frame.iloc[shown]
    slot_of = {ir.elements[ir.by_name[norm_name(n)]].name: ir.by_name[norm_name(n)] for n in res.names}
    now = {slot_of[n]: res.values[j, at, 0] for j, n in enumerate(res.names) if n in slot_of}
    nxt = {slot_of[n]: res.values[j, at + 1, 0] for j, n in enumerate(res.names) if n in slot_of}

    # the graph's measured polarities along the run at the SAVEPER times, as model_graph reads them itself
    graph = model_graph(model, trajectories=frame.iloc[shown], scenario=scen)
    edges = [(e.source, e.target) for e in graph.causal_edges()]
    link_scores, notes = _link_scores(ir, now, nxt, times_kept[at], dt, controls, edges, slot_of)

    loop_notes: tuple = ()
    try:
        loopset = None if strongest_paths else find_loops(graph)
    except CxError:
        loopset = None  # too many loops to enumerate
    if loopset is None:
        loops = strongest_path_loops(graph, link_scores, max(1, int(round(float(model.saveper) / dt))) if every_step else 1)
        method = "strongest paths"
        notes.append(f"loops found by strongest-path search at the SAVEPER times ({len(loops)} loops; "
                     "ids numbered within them); relative scores are shares of these")
    else:
        loop_notes = loopset.notes
        loops = list(loopset.loops)
        method = "all loops"
        if len(loops) > max_loops:
            loops = _strongest(loops, link_scores, max_loops)
            method = "named and strongest by bound"
            notes.append(f"{len(loopset.loops)} loops: scored the {len(loops)} named and strongest ones; "
                         "relative scores are shares of these")

    import networkx as nx

    dg = graph.digraph()
    comps = sorted(nx.strongly_connected_components(dg), key=lambda c: (-len(c), min(c)))
    comp_of: dict[str, int] = {}
    for k, comp in enumerate(c for c in comps if len(c) > 1 or any(dg.has_edge(v, v) for v in c)):
        for v in comp:
            comp_of[v] = k + 1
    scores = _loop_scores(loops, link_scores, starts.size)
    part = np.array([comp_of.get(lp.variables[0], 0) for lp in loops], dtype=int)
    relative = _relative(scores, part)
    on_loops = _products(tuple(lp.variables for lp in loops)).variables if loops else ()
    partition_of = {v: comp_of[v] for v in on_loops if v in comp_of}
    return DominanceResult(model.name, scen.name, outcome, method, times_kept[at], dt, float(model.saveper),
                           tuple(loops), part, scores, relative, link_scores, run, partition_of,
                           tuple(list(loop_notes) + notes),
                           every=dt if every_step else float(model.saveper))


# --------------------------------------------------------------------------- across worlds
#: Worlds whose link scores are computed together (their loop scores then block by block of
#: :meth:`_LoopProducts.blocks`; the summing order of the mean relative scores depends on it).
ENSEMBLE_CHUNK = 10

#: Worlds simulated by one engine call (the vector flavour; scored ENSEMBLE_CHUNK at a time).
ENSEMBLE_RUN = 100

#: Loops whose relative scores are sorted to find each dominant set (the strongest ones).
_TOP_SORTED = 64


@dataclass(frozen=True, eq=False)
class DominanceEnsemble:
    """Loop dominance of one outcome across ``n`` sampled worlds.

    Every world is scored as one run is (:class:`DominanceResult`), over the loops of the
    outcome's partition found in the model's own run, at the model's SAVEPER times (the score of
    ``[t, t+dt]`` labelled ``t``). For the reported loops (named, then the strongest of the one run):

    Attributes:
        one: the single run with the model's own values.
        n, seed: the worlds.
        sampled: the parameters drawn.
        times: interval starts.
        reported: indices (into ``one.loop_list``) of the reported loops.
        dominant: reported x times: share of worlds in which the loop belongs to the dominant set.
        strongest: reported x times: share of worlds in which it has the largest absolute share.
        mean_relative: reported x times: its relative score averaged over the worlds.
        notes: what the reader should know.
    """

    one: DominanceResult
    n: int
    seed: int
    sampled: tuple[str, ...]
    times: np.ndarray
    reported: tuple[int, ...]
    dominant: np.ndarray
    strongest: np.ndarray
    mean_relative: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def shares(self) -> pd.DataFrame:
        """Tidy: ``time, loop, name, polarity, dominant_share, strongest_share, mean_relative``."""
        nt = self.times.size
        lps = [self.one.loop_list[i] for i in self.reported]
        return pd.DataFrame({
            "time": np.tile(self.times, len(lps)),
            "loop": np.repeat(np.array([lp.id for lp in lps], dtype=object), nt),
            "name": np.repeat(np.array([lp.name for lp in lps], dtype=object), nt),
            "polarity": np.repeat(np.array([lp.description for lp in lps], dtype=object), nt),
            "dominant_share": self.dominant.reshape(-1),
            "strongest_share": self.strongest.reshape(-1),
            "mean_relative": self.mean_relative.reshape(-1),
        })

    @property
    def summary(self) -> pd.DataFrame:
        """One row per reported loop: the share of worlds x times in which it dominates (is in the
        dominant set), is the strongest, and its mean relative score."""
        rows = [dict(loop=self.one.loop_list[i].id, name=self.one.loop_list[i].name,
                     polarity=self.one.loop_list[i].description,
                     dominant_share=float(self.dominant[k].mean()), strongest_share=float(self.strongest[k].mean()),
                     mean_relative=float(self.mean_relative[k].mean()))
                for k, i in enumerate(self.reported)]
        return pd.DataFrame(rows)

    def plot(self, **kwargs) -> "Figure":
        """The share of worlds in which each reported loop dominates, over time."""
        from ..plotting.dominance import ensemble_dominance_chart

        return ensemble_dominance_chart(self, **kwargs)

    def save(self, directory: str | os.PathLike, format: str = "png") -> list[Path]:
        """Write ``shares.csv``, ``summary.csv`` and ``dominance_worlds_<outcome>.<format>``."""
        from ..files import check_format, outcome_stems, write_csv, write_figure, write_folder

        check_format(format)
        stem = outcome_stems([self.one.outcome], prefix="dominance_worlds_")[self.one.outcome]
        fig = self.plot()

        def chart(path: Path) -> None:
            import matplotlib.pyplot as plt

            try:
                write_figure(fig, path)
            finally:
                plt.close(fig)

        writers = {"shares.csv": lambda p: write_csv(self.shares, p, index=False),
                   "summary.csv": lambda p: write_csv(self.summary, p, index=False),
                   f"{stem}.{format}": chart}
        run = dict(command="dominance", model=self.one.model, scenario=self.one.scenario,
                   outcome=self.one.outcome, n=self.n, seed=self.seed, sampled=list(self.sampled))
        return write_folder(directory, writers, run=run)


def _top_sorted(a: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """The ``k`` largest values of each column of ``a`` (rows x columns), largest first (k x
    columns); the columns are taken ``block`` at a time, transposed so that each is selected in
    contiguous memory."""
    rows, cols = a.shape
    if k >= rows:
        return np.sort(a, axis=0)[::-1]
    out = np.empty((k, cols))
    for c0 in range(0, cols, block):
        b = np.ascontiguousarray(a[:, c0:c0 + block].T)
        b = np.partition(b, rows - k, axis=1)[:, rows - k:]
        b.sort(axis=1)
        out[:, c0:c0 + block] = b[:, ::-1].T
    return out


def _dominant_members(top: np.ndarray, total: np.ndarray, mine: np.ndarray, share: float = DOMINANCE_SHARE):
    """From the largest absolute loop scores at each point (``top``, largest first, k x points),
    the sum of all of them (``total``) and the absolute scores of some loops (``mine``, rows x
    points; no NaN): whether each of those belongs to the dominant set at each point (the
    strongest loops whose scores reach ``share`` of the point's total), whether it is the
    strongest loop there (ties count for each), and how many points needed more than the ``k``
    strongest loops (their set is cut there)."""
    k = top.shape[0]
    cum = np.cumsum(top, axis=0)
    reach = cum >= (share - 1e-12) * total
    pos = np.where(reach.any(axis=0), np.argmax(reach, axis=0), k - 1)
    theta = np.take_along_axis(top, pos[None, :], axis=0)[0]
    moving = total > 0
    members = (mine >= theta[None, :]) & moving[None, :] & (mine > 0)
    strongest = (mine >= top[0][None, :]) & moving[None, :]
    return members, strongest, int(np.sum(~reach.any(axis=0) & moving))


def _world_summary(prod: _LoopProducts, link_scores, n: int, rows: list[int]):
    """What an ensemble keeps of the loop scores at ``n`` points, block by block of
    :meth:`_LoopProducts.blocks` (never all loops x points at once): the :data:`_TOP_SORTED`
    largest absolute scores at each point (largest first), their sum over every loop (NaN as 0),
    the absolute scores of the loops ``rows`` and their signs (-1 for an odd number of negative
    links)."""
    table = prod.table(link_scores, n)
    k = min(_TOP_SORTED, prod.size)
    top, total, mine = np.empty((k, n)), np.empty(n), np.empty((len(rows), n))
    for cols, block in prod.blocks(table):
        np.abs(block, out=block)
        np.fmax(block, 0.0, out=block)  # NaN as 0
        total[cols] = block.sum(axis=0)
        top[:, cols] = _top_sorted(block, k)
        mine[:, cols] = block[rows]
    return top, total, mine, np.where(prod.negative_parity(table, rows), -1.0, 1.0)


def _ensemble(model, scen, one: DominanceResult, n: int, seed: int, top: int,
              backend: str | None = None) -> DominanceEnsemble:
    from ..model.uncertain import check_seed, sample

    check_seed(seed)
    uncertain = tuple(getattr(model.analysis, "uncertain", ()) or ())
    if not uncertain:
        raise CxError(f"{model.name}: no [uncertain] parameters to sample worlds from")
    worlds = sample(uncertain, n, seed)
    cm = compile_model(model)
    ir = cm.ir
    dt = one.dt
    part = one.partition_of_outcome(one.outcome)
    members = np.flatnonzero(one.partition == part)
    loops = [one.loop_list[i] for i in members]
    ids = one.top(top)
    reported = tuple(one._indices(ids))
    local = {int(i): k for k, i in enumerate(members)}
    rows = [local[i] for i in reported]
    prod = _products(tuple(lp.variables for lp in loops))
    edges = list(prod.keys)
    cut = 0
    notes: list[str] = []
    controls = _time_settings(model, dt)
    starts = scored_steps(controls)
    keep = np.union1d(starts, starts + 1)  # the runs keep the two ends of every scored interval
    at = np.searchsorted(keep, starts)
    shape = (len(rows), starts.size)
    dominant, strongest, mean_rel = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    slot_of = None
    for begin in range(0, n, ENSEMBLE_RUN):
        end = min(n, begin + ENSEMBLE_RUN)
        params = {p: v[begin:end] for p, v in worlds.items()}
        res = cm.run(changes=scen.changes, params=params, vector=True, first_world=begin, backend=backend,
                     save_steps=keep)
        if slot_of is None:
            t_all = np.asarray(res.times, dtype=float)[at]
            slot_of = {ir.elements[ir.by_name[norm_name(nm)]].name: ir.by_name[norm_name(nm)] for nm in res.names}
        at_start, at_end = res.values[:, at, :], res.values[:, at + 1, :]
        for start in range(0, end - begin, ENSEMBLE_CHUNK):
            stop = min(end - begin, start + ENSEMBLE_CHUNK)
            w = stop - start
            now = {slot_of[nm]: at_start[j, :, start:stop].T.reshape(-1) for j, nm in enumerate(res.names)}
            nxt = {slot_of[nm]: at_end[j, :, start:stop].T.reshape(-1) for j, nm in enumerate(res.names)}
            tt = np.tile(t_all, w)
            links, link_notes = _link_scores(ir, now, nxt, tt, dt, controls, edges, slot_of)
            notes.extend(x for x in link_notes if x not in notes)
            top_a, total, mine, signs = _world_summary(prod, links, tt.size, rows)
            dom, best, c = _dominant_members(top_a, total, mine)
            cut += c
            moving = total > 0
            with np.errstate(all="ignore"):
                rel_rows = np.where(moving, signs * mine / total, 0.0)
            for r_i in range(len(rows)):
                dominant[r_i] += dom[r_i].reshape(w, -1).sum(axis=0)
                strongest[r_i] += best[r_i].reshape(w, -1).sum(axis=0)
                mean_rel[r_i] += rel_rows[r_i].reshape(w, -1).sum(axis=0)
    if cut:
        notes.append(f"{cut:,} world-times needed more than the {_TOP_SORTED} strongest loops to reach 50%: "
                     "their dominant set is cut at the strongest 64")
    return DominanceEnsemble(one, n, seed, tuple(worlds), t_all, reported, dominant / n, strongest / n,
                             mean_rel / n, tuple(notes))
