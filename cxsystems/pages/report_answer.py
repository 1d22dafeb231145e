"""The briefing's first page: the answer to its question, the numbers behind it and a recommendation.

The answer rule (also stated on the page, :func:`rule_text`): the policy of the question (``a``)
against its rival (``b``) on the headline metric,

- **Yes** if ``a`` beats ``b`` in the model's best-estimate (nominal) run *and* in at least
  :data:`YES_SHARE` of the sampled worlds;
- **No** if ``a`` does not beat ``b`` in the nominal run *and* wins in at most :data:`NO_SHARE` of
  the worlds;
- **It depends** otherwise, naming the uncertain parameter that splits the worlds most (the win
  share below and above its median), when one splits them by at least :data:`SPLIT_MIN`.

Without sampled worlds (``--n 0`` or no ``[uncertain]`` table) the nominal run alone decides, and
the answer says so. All numbers come from :func:`cxsystems.compare`, the ensemble and
:func:`cxsystems.analysis.timing.start_week_sweep`; this module only chooses and words them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ..text import plural, pretty_units, short_number, time_words
from ..text import share_rounded as pct
from .html import esc

if TYPE_CHECKING:  # pragma: no cover
    from ..analysis.compare import Comparison
    from ..analysis.ensemble import EnsembleResult
    from ..analysis.timing import TimingSweep
    from ..model.specs import MetricSpec

#: "Yes" needs a nominal win and a win in at least this share of the sampled worlds.
YES_SHARE = 0.8
#: "No" needs a nominal loss and a win in at most this share of the sampled worlds.
NO_SHARE = 0.2
#: An uncertain parameter is named in "It depends on ..." only if the win shares below and above
#: its median differ by at least this much.
SPLIT_MIN = 0.2


# ------------------------------------------------------------------------------ words and numbers
def lower_first(text: str) -> str:
    """``"Cumulative profit"`` -> ``"cumulative profit"``; an acronym (``"CX cost"``) stays."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def fmt_value(x: float, units: str = "", percent: bool = False) -> str:
    """A metric value for text: ``$82.2M``, ``1,234``, ``22.5%`` (``percent``: a fraction shown
    as a percentage); NaN -> ``-``."""
    if percent and isinstance(x, (int, float)) and math.isfinite(x):
        return f"{100 * x:.1f}%".replace("-", "\u2212")
    prefix = "$" if (units or "").strip().startswith("$") else ""
    return short_number(x, prefix, million_decimals=1, minus="\u2212")


def weeks_text(start: float, end: float, time_unit: str = "Week") -> str:
    """``"week 20"`` or ``"weeks 18-23"`` (an en dash), in the model's ``time_unit``."""
    one, many = time_words(time_unit)
    return f"{one} {start:g}" if start == end else f"{many} {start:g}\u2013{end:g}"


def rule_text(n_worlds: int | None = None, time_unit: str = "Week") -> str:
    """The answer rule in one paragraph, for the method note (times in the model's ``time_unit``)."""
    one, many = time_words(time_unit)
    worlds = f"the {n_worlds:,} sampled worlds" if n_worlds else "the sampled worlds"
    return (f"How the answer is decided: <strong>Yes</strong> if the policy beats its rival on the headline "
            f"metric in the best-estimate run and in at least {pct(YES_SHARE)} of {worlds}; "
            f"<strong>No</strong> if it does not beat it in the best-estimate run and wins in at most "
            f"{pct(NO_SHARE)} of them; otherwise <strong>It depends</strong>, naming the uncertain parameter "
            f"that splits the worlds most (its win share below and above the parameter's median differ by at "
            f"least {pct(SPLIT_MIN)}), if one does. Without sampled worlds the best-estimate run alone decides. "
            f"The timing answer moves every timed change of the policy to each start {one} tried (every 4 {many} "
            f"from its planned start to the end of the run) and reports the latest {one} such that starting then, "
            f"or any earlier {one} tried, still beats the other policy.")


# ------------------------------------------------------------------------------ the facts
@dataclass(frozen=True)
class Split:
    """The uncertain parameter that splits the worlds most: win shares below and above its median."""

    parameter: str
    median: float
    share_low: float
    share_high: float

    @property
    def spread(self) -> float:
        return abs(self.share_low - self.share_high)


@dataclass(frozen=True)
class Worlds:
    """What the sampled worlds say about ``a`` against ``b`` on the headline metric."""

    n: int
    share_won: float
    split: Split | None = None


def verdict_of(nominal_wins: bool, share_won: float | None) -> str:
    """``"yes"``, ``"no"`` or ``"depends"`` by the module's rule (``share_won`` ``None``: no worlds)."""
    if share_won is None:
        return "yes" if nominal_wins else "no"
    if nominal_wins and share_won >= YES_SHARE:
        return "yes"
    if not nominal_wins and share_won <= NO_SHARE:
        return "no"
    return "depends"


def wins_per_world(res: "EnsembleResult", a: str, b: str, metric: str) -> np.ndarray:
    """Per sampled world: does ``a`` beat ``b`` on ``metric`` (ties are not wins, as in
    :func:`cxsystems.analysis.robustness.robustness`)."""
    from ..analysis.robustness import TIE_RTOL

    j = res.metric_index(metric)
    sign = 1.0 if res.metrics[j].better == "higher" else -1.0
    va = res.metric_values[res.scenarios.index(a), j]
    vb = res.metric_values[res.scenarios.index(b), j]
    diff = sign * (va - vb)
    return diff > TIE_RTOL * np.maximum(np.abs(va), np.abs(vb)) + 1e-300


def strongest_split(samples: Mapping[str, np.ndarray], wins: np.ndarray) -> Split | None:
    """The parameter whose median splits ``wins`` most (``None`` if none splits them by
    :data:`SPLIT_MIN`)."""
    best = None
    for name, values in samples.items():
        values = np.asarray(values, dtype=float)
        med = float(np.median(values))
        low, high = values <= med, values > med
        if not low.any() or not high.any():
            continue
        s = Split(name, med, float(wins[low].mean()), float(wins[high].mean()))
        if best is None or s.spread > best.spread:
            best = s
    return best if best is not None and best.spread >= SPLIT_MIN else None


def worlds_of(res: "EnsembleResult", a: str, b: str, metric: str) -> Worlds:
    """:class:`Worlds` of ``a`` against ``b``: the win share and the parameter that splits it."""
    wins = wins_per_world(res, a, b, metric)
    return Worlds(res.n, float(wins.mean()), strongest_split(res.samples, wins))


# ------------------------------------------------------------------------------ the sentences
@dataclass(frozen=True)
class Answer:
    """The first page's answer: its verdict and its HTML parts."""

    verdict: str
    sentence: str
    facts: tuple[tuple[str, str], ...]
    recommendation: str

    def html(self) -> str:
        items = "".join(f'<li id="fact-{esc(k)}">{v}</li>' for k, v in self.facts)
        return (f'<p id="answer" class="answer" data-verdict="{esc(self.verdict)}">{self.sentence}</p>'
                + (f'<ul id="key-numbers" class="key-numbers">{items}</ul>' if items else "")
                + f'<p id="recommendation" class="recommendation"><strong>Recommendation:</strong> '
                f"{self.recommendation}</p>")


@dataclass(frozen=True)
class Focus:
    """The head-to-head the question asks about, with the headline metric's values."""

    a: str
    b: str
    metric: "MetricSpec"
    units: str
    value_a: float
    value_b: float
    value_base: float


def _names(cmp: "Comparison", f: Focus) -> tuple[str, str, str]:
    return esc(cmp.title_of(f.a)), esc(cmp.title_of(f.b)), esc(cmp.title_of(cmp.baseline))


def answer_sentence(cmp: "Comparison", f: Focus, verdict: str, worlds: Worlds | None) -> str:
    """The answer sentence (HTML), starting with "Yes", "No" or "It depends"."""
    ta, tb, _ = _names(cmp, f)
    label = esc(lower_first(f.metric.label or f.metric.name))
    pc = getattr(f.metric, "percent", False)
    va, vb = fmt_value(f.value_a, f.units, pc), fmt_value(f.value_b, f.units, pc)
    diff = f.value_a - f.value_b
    more = "more" if diff > 0 else "less"
    gap = fmt_value(abs(diff), f.units, pc)
    if pc:
        gap = f"{100 * abs(diff):.1f} points"
    nominal = f"{label} {va} against {vb}, {gap} {more}"
    share = (f"{pct(worlds.share_won)} of {worlds.n:,} sampled worlds" if worlds else "")
    if verdict == "yes":
        tail = f" and in {share}" if worlds else " (best estimates only: no sampled worlds)"
        return f"Yes: {ta} beats {tb} on {label} in the best-estimate run ({nominal}){tail}."
    if verdict == "no":
        tail = f" and wins in only {share}" if worlds else " (best estimates only: no sampled worlds)"
        return f"No: {ta} does not beat {tb} on {label} in the best-estimate run ({nominal}){tail}."
    split = worlds.split if worlds else None
    how = "beats" if _beats(f) else "does not beat"
    base = f"{ta} {how} {tb} in the best-estimate run ({nominal}) but wins in {share}"
    if split is not None:
        where_more = "below" if split.share_low > split.share_high else "above"
        return (f"It depends on {esc(split.parameter)}: {base}, {pct(max(split.share_low, split.share_high))} "
                f"of those where {esc(split.parameter)} is {where_more} its median "
                f"({esc(fmt_value(split.median))}) and {pct(min(split.share_low, split.share_high))} of the others.")
    return f"It depends on the world: {base}, and no single uncertain parameter decides it."


def _beats(f: Focus) -> bool:
    from ..analysis.timing import beats

    return beats(f.value_a, f.value_b, f.metric.better)


def dip_fact(cmp: "Comparison", a: str) -> str:
    """The dip of ``a`` against the baseline on the classified outcome (HTML)."""
    r = cmp.reading(a)
    spec = cmp.outcome(cmp.classify)
    label = esc(lower_first(spec.label))
    tb = esc(cmp.title_of(cmp.baseline))
    ta = esc(cmp.title_of(a))
    worse = [p for p in r.phases if not p.better]
    if not worse or not (r.worst_shortfall < 0):
        return f"<strong>The dip:</strong> none; {ta} is never worse than {tb} on {label}."
    units = pretty_units(spec.units or cmp.units.get(cmp.classify, ""))
    pc = getattr(spec, "percent", False)
    worst = max(worse, key=lambda p: p.peak)
    depth = fmt_value(abs(r.worst_shortfall), units, pc)
    unit_txt = "" if pc or not units or units.startswith("$") else f" {esc(units)}"
    rel = f", {worst.peak_pct:.0f}%" if math.isfinite(worst.peak_pct) and not pc else ""
    first = worse[0]
    if len(worse) > 1:
        spans = ", ".join(weeks_text(p.start_week, p.end_week, cmp.time_unit) for p in worse)
        when = f"in {spans}"
    else:
        when = f"in {weeks_text(first.start_week, first.end_week, cmp.time_unit)}"
    more = "more" if spec.better == "lower" else "less"
    text = (f"<strong>The dip:</strong> {label} is worse under {ta} than under {tb} {when}, at worst "
            f"{esc(depth)}{unit_txt} {more} ({cmp.time_words[0]} {r.worst_shortfall_week:g}{rel})")
    if math.isfinite(r.stays_better_from_week):
        text += f"; better from {cmp.time_words[0]} {r.stays_better_from_week:g} to the end"
    return text + "."


def tails_fact(cmp: "Comparison", res: "EnsembleResult", names: tuple[str, ...]) -> str:
    """The share of worlds in each declared tail, for ``names`` (HTML; ``""`` if none declared)."""
    from ..analysis.robustness import tail_shares

    shares = tail_shares(res)
    if not len(shares.columns):
        return ""
    parts = []
    for risk in res.tail_risks:
        vals = ", ".join(f"{esc(cmp.title_of(n))} {pct(float(shares.loc[n, risk.name]))}" for n in names)
        parts.append(f"{esc(lower_first(risk.label))}: {vals}")
    return (f"<strong>Tail risks</strong> (share of the {res.n:,} worlds): " + "; ".join(parts) + ".")


def avoidable_fact(cmp: "Comparison", names: tuple[str, ...]) -> str:
    """The avoidable share of contacts for ``names`` (HTML; ``""`` without a contact mix)."""
    from ..analysis.compare import AVOIDABLE_COLUMN

    if not cmp.contact_mix or AVOIDABLE_COLUMN not in cmp.summary.columns:
        return ""
    vals = [f"{esc(cmp.title_of(n))} {pct(float(cmp.summary.loc[n, AVOIDABLE_COLUMN]))}" for n in names]
    return ("<strong>Avoidable contacts</strong> (failure demand, share of all contacts over the run): "
            + ", ".join(vals) + ".")


def timing_fact(cmp: "Comparison", sweep: "TimingSweep", b: str) -> str:
    """The timing answer: the latest start weeks that still beat the baseline and ``b`` (HTML)."""
    ta = esc(cmp.title_of(sweep.scenario))
    label = esc(lower_first(sweep.metric.label or sweep.metric.name))
    first, last = sweep.weeks[0], sweep.weeks[-1]
    one, many = cmp.time_words

    def clause(other: str, ref: str) -> str:
        latest = sweep.latest_start_beating(other)
        if latest is None:
            return f"it does not beat {ref} even when started in {one} {first:g}"
        if latest == last:
            return f"it beats {ref} whenever it starts, up to {one} {last:g}"
        return f"start it by {one} {latest:g} or it no longer beats {ref}"

    parts = [clause(sweep.baseline, esc(cmp.title_of(sweep.baseline)))]
    if b != sweep.baseline and b in sweep.references:
        parts.append(clause(b, esc(cmp.title_of(b))))
    step = sweep.weeks[1] - first if len(sweep.weeks) > 1 else 0
    tried = f"start {many} {first:g}\u2013{last:g} tried" + (f", every {step:g} {many}" if step else "")
    return (f'<strong>Timing</strong> ({label}; {ta} planned for {one} {sweep.own_start:g}): '
            f'<span id="timing">' + "; ".join(parts) + f"</span> ({tried}).")


def delay_cost(sweep: "TimingSweep") -> tuple[float, float] | None:
    """What the first delay tried costs on the sweep's metric: ``(weeks of delay, loss)``, the loss
    positive when starting later is worse (the metric's direction respected); ``None`` with fewer
    than two weeks tried or a non-finite value."""
    if len(sweep.weeks) < 2:
        return None
    a, b = float(sweep.values[0]), float(sweep.values[1])
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    loss = (a - b) if sweep.metric.better == "higher" else (b - a)
    return float(sweep.weeks[1] - sweep.weeks[0]), loss


def recommendation(cmp: "Comparison", f: Focus, verdict: str, worlds: Worlds | None,
                   sweep: "TimingSweep | None") -> str:
    """One sentence of advice that follows from the verdict and the timing (HTML)."""
    ta, tb, _ = _names(cmp, f)
    latest = sweep.latest_vs_baseline if sweep is not None else None
    one, many = cmp.time_words
    by = f", starting by {one} {latest:g} at the latest" if latest is not None and sweep is not None \
        and latest < sweep.weeks[-1] else ""
    if verdict == "yes":
        r = cmp.reading(f.a)
        dip = " and plan for the dip before it pays off" if any(not p.better for p in r.phases) else ""
        cost = delay_cost(sweep) if sweep is not None else None
        if cost is not None and cost[1] > 0:
            weeks, loss = cost
            label = esc(lower_first(sweep.metric.label or sweep.metric.name))
            units = cmp.units.get(sweep.metric.variable, "") or sweep.metric.units
            after = (f"; after {one} {latest:g} it no longer beats {esc(cmp.title_of(sweep.baseline))}"
                     if by else "")
            return (f"choose {ta} over {tb} and start as planned ({one} {sweep.own_start:g}): every "
                    f"{weeks:g} {one if weeks == 1 else many} of delay costs about {esc(fmt_value(loss, units))} of {label}{after}"
                    f"{';' if dip else ''}{dip}.")
        return f"choose {ta} over {tb}{by}{dip}."
    if verdict == "no":
        return f"do not choose {ta} over {tb} on this evidence; look at the other scenarios below."
    split = worlds.split if worlds else None
    if split is not None:
        return (f"before committing to {ta}, find out where {esc(split.parameter)} lies in your organisation: "
                f"it decides whether {ta} beats {tb}.")
    return f"treat {ta} against {tb} as a close call and weigh the dip and the tail risks below."


def build_answer(cmp: "Comparison", f: Focus, res: "EnsembleResult | None",
                 sweep: "TimingSweep | None") -> Answer:
    """The answer, its facts and the recommendation for the head-to-head ``f``."""
    worlds = worlds_of(res, f.a, f.b, f.metric.name) if res is not None else None
    verdict = verdict_of(_beats(f), worlds.share_won if worlds else None)
    sentence = answer_sentence(cmp, f, verdict, worlds)
    names = tuple(dict.fromkeys([f.a, f.b, cmp.baseline]))
    pc = getattr(f.metric, "percent", False)
    label = esc(f.metric.label or f.metric.name)
    values = ", ".join(f"{esc(cmp.title_of(n))} {esc(fmt_value(v, f.units, pc))}"
                       for n, v in zip(names, (f.value_a, f.value_b, f.value_base)))
    facts = [("headline", f"<strong>{label}</strong> over the run (best estimates): {values}.")]
    if worlds is not None:
        facts.append(("worlds", f"<strong>Worlds won:</strong> {esc(cmp.title_of(f.a))} beats "
                                f"{esc(cmp.title_of(f.b))} on {esc(lower_first(label))} in "
                                f"{pct(worlds.share_won)} of {worlds.n:,} sampled worlds."))
    facts.append(("dip", dip_fact(cmp, f.a)))
    if res is not None:
        tails = tails_fact(cmp, res, names)
        if tails:
            facts.append(("tails", tails))
    avoid = avoidable_fact(cmp, names)
    if avoid:
        facts.append(("avoidable", avoid))
    if sweep is not None:
        facts.append(("timing", timing_fact(cmp, sweep, f.b)))
    return Answer(verdict, sentence, tuple(facts), recommendation(cmp, f, verdict, worlds, sweep))


def no_policy_answer(cmp: "Comparison", scenario_file: str) -> Answer:
    """The answer for a model without a policy to compare (only its baseline)."""
    return Answer("depends",
                  "It depends on the policies you give it: this model has only its baseline, so there is "
                  "nothing to compare yet; the pages below show how the model behaves as written.",
                  (), f"declare policy scenarios in <code>{esc(scenario_file)}</code> beside the model "
                      "and build the briefing again.")


__all__ = ["YES_SHARE", "NO_SHARE", "SPLIT_MIN", "Answer", "Focus", "Worlds", "Split", "build_answer",
           "verdict_of", "worlds_of", "rule_text", "fmt_value", "plural", "lower_first", "no_policy_answer"]
