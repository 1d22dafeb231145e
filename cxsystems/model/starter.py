"""Starter files for a user's own model: ``<model>.scenarios.toml`` and ``<model>.views.toml``.

``cxsystems init --model PATH`` writes them beside the model so that every command (compare,
robustness, workshop, report, cld) works on it in one step. Every guess is marked in the file for
the user to check: which way is better for each outcome, the example policy, the uncertain ranges.

The guesses:

- outcomes: the model's stocks that are not subscripted, then the first :data:`ELEMENTS_PER_STOCK`
  elements of each subscripted stock (``Population[Boston]``; at most :data:`MAX_OUTCOMES` in all),
  lower is better, judged on their mean; the first is the one classified;
- metrics: each outcome's final value, and its mean;
- levers: the constants with a declared range ``[min, max]`` that holds their value, then the
  non-zero constants without a range (range guessed as +-25%), listed as comments; the first
  becomes an example policy (moved a quarter of the way towards the farther end of a declared
  range, or to the end of a guessed one, from a tenth of the run on);
- ``[uncertain]``: up to :data:`MAX_UNCERTAIN` of those constants, uniform over the middle of
  their range around the model's value (a placeholder, marked as such);
- views: the outcomes and the variables one link away from them (at most :data:`MAX_VIEW`).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .core import Model, Parameter

MAX_OUTCOMES = 6
ELEMENTS_PER_STOCK = 2
MAX_UNCERTAIN = 5
MAX_LEVERS_LISTED = 25
MAX_VIEW = 14


def _q(text: str) -> str:
    """A TOML basic string (JSON's escaping is TOML's for these characters)."""
    return json.dumps(str(text), ensure_ascii=False)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "var"


def _ranged(p: "Parameter") -> bool:
    return all(math.isfinite(x) for x in (p.min, p.max, p.value)) and p.min <= p.value <= p.max and p.max > p.min


def candidate_levers(model: "Model") -> list["Parameter"]:
    """Constants that can move: those with a declared range that holds their value and has room,
    then those without a range whose value is not zero (their range is guessed as +-25%)."""
    params = list(model.parameters.values())
    ranged = [p for p in params if _ranged(p)]
    free = [p for p in params if not _ranged(p) and math.isfinite(p.value) and p.value != 0]
    return ranged + free


def _bounds(p: "Parameter") -> tuple[float, float]:
    """The declared range, else +-25% around the value (inside any bound that is declared)."""
    if _ranged(p):
        return p.min, p.max
    a, b = sorted((0.75 * p.value, 1.25 * p.value))
    if math.isfinite(p.min):  # a half-open declared range such as [0, ?] still binds
        a = max(a, p.min)
    if math.isfinite(p.max):
        b = min(b, p.max)
    return float(f"{a:.6g}"), float(f"{b:.6g}")


def guessed_outcomes(model: "Model", elements: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The stocks that are not subscripted, in model order, then the first elements of each
    subscripted stock as ``elements`` names them (stock -> its element columns, ``Stock[a]``, from
    the engine); at most :data:`MAX_OUTCOMES`."""
    sub = set(model.subscripted)
    chosen = [s for s in model.stocks if s not in sub]
    for s in model.stocks:
        if s in sub:
            chosen += list((elements or {}).get(s, ()))[:ELEMENTS_PER_STOCK]
    return chosen[:MAX_OUTCOMES]


def _example_value(p: "Parameter") -> float:
    """A quarter of the way from the value towards the farther end of its declared range, or that
    end of a guessed (+-25%) range."""
    lo, hi = _bounds(p)
    end = hi if (hi - p.value) >= (p.value - lo) else lo
    v = p.value + (0.25 if _ranged(p) else 1.0) * (end - p.value)
    return float(f"{v:.6g}")


def starter_scenarios(model: "Model", elements: Mapping[str, Sequence[str]] | None = None) -> str:
    """The text of a starter ``<model>.scenarios.toml`` for ``model`` (see the module docstring;
    ``elements`` as for :func:`guessed_outcomes`)."""
    from ..text import time_words

    outcomes = guessed_outcomes(model, elements)
    levers = candidate_levers(model)
    run = model.final_time - model.initial_time  # NaN: a FINAL TIME that changes in time
    start = float(f"{model.initial_time + 0.1 * run:.6g}") if run == run else float(model.initial_time)
    start = start if start == start else 0.0  # an INITIAL TIME that changes in time: week 0
    lines = [f"# Starter scenario file for {model.name}, written by `cxsystems init`. Every guess below is",
             "# marked CHECK: read it, change it, delete what does not fit. Format: README, \"Adding a scenario\".",
             "",
             f"title = {_q(model.name.replace('_', ' '))}",
             "",
             "[analysis]",
             'baseline = "baseline"']
    if outcomes:
        lines.append(f"classify = {_q(outcomes[0])}")
        lines.append(f'headline = "mean_{_slug(outcomes[0])}"')
    lines += ["", "[scenarios.baseline]", 'label = "As written"', 'family = "baseline"',
              'description = "The model as written, no policy change."', ""]
    if levers:
        p = levers[0]
        value = _example_value(p)
        lines += ["# CHECK: an example policy, so that compare, workshop and report have something to show;",
                  "# replace it with your own (family = \"reactive\" or \"structural\" sets its colours).",
                  "[scenarios.example_policy]",
                  f"label = {_q(f'{p.name} to {value:g}')}",
                  f"description = {_q(f'Example: {p.name} from {p.value:g} to {value:g} from {time_words(model.time_unit)[0]} {start:g}.')}",
                  "[scenarios.example_policy.set]",
                  f"{_q(p.name)} = {{ value = {value!r}, from_week = {start!r} }}", ""]
    lines.append("# Candidate levers: the constants with a declared [min, max] range (set them in a scenario's")
    lines.append("# .set table; `cxsystems params` lists every constant).")
    for p in levers[:MAX_LEVERS_LISTED]:
        lo, hi = _bounds(p)
        how = "" if _ranged(p) else "  (no range declared: +-25% guessed, CHECK)"
        lines.append(f"#   {_q(p.name)} = {p.value:g}   range [{lo:g}, {hi:g}] {p.units}{how}".rstrip())
    if len(levers) > MAX_LEVERS_LISTED:
        lines.append(f"#   ... and {len(levers) - MAX_LEVERS_LISTED} more")
    if not levers:
        lines.append("#   (none: every constant is zero or fixed; give constants a range in the model,")
        lines.append("#   e.g. `~ Widgets [0,100] ~`)")
    lines.append("")
    if outcomes:
        lines += ["# CHECK: which way is better for each outcome (lower is a guess).", "[metrics]"]
        for v in outcomes:
            lines.append(f"final_{_slug(v)} = {{ variable = {_q(v)}, how = \"final\", better = \"lower\", "
                         f"label = {_q('Final ' + v)} }}")
            lines.append(f"mean_{_slug(v)} = {{ variable = {_q(v)}, how = \"mean\", better = \"lower\", "
                         f"label = {_q('Mean ' + v)} }}")
        lines.append("")
        for v in outcomes:
            lines += ["[[outcomes]]", f"variable = {_q(v)}", 'better = "lower"  # CHECK',
                      f"label = {_q(v)}", 'judge = "mean"', ""]
    else:
        lines += ["# No stock to guess outcomes from: add [[outcomes]] and [metrics] by hand.", ""]
    unc = levers[:MAX_UNCERTAIN]
    if unc:
        lines += ["# CHECK: placeholders for `cxsystems robustness`: uniform over the middle of each range",
                  "# around the model's value. Replace them with what you know (see README, robustness).",
                  "[uncertain]"]
        for p in unc:
            a, b = _bounds(p)
            lo = float(f"{p.value - 0.25 * (p.value - a):.6g}")
            hi = float(f"{p.value + 0.25 * (b - p.value):.6g}")
            if not lo < hi:
                lo, hi = a, b
            lines.append(f"{_q(p.name)} = {{ dist = \"uniform\", low = {lo!r}, high = {hi!r}, "
                         f"source = \"placeholder written by cxsystems init\" }}")
        lines.append("")
    return "\n".join(lines)


def starter_views(model: "Model", graph=None, elements: Mapping[str, Sequence[str]] | None = None) -> str:
    """The text of a starter ``<model>.views.toml``: the outcomes and their neighbours in the causal
    graph ``graph`` (:func:`cxsystems.causal.api.causal_graph`; without it, the stocks alone)."""
    chosen = list(guessed_outcomes(model, elements)) or [s for s in model.stocks][:MAX_OUTCOMES]
    if graph is not None:
        for v in list(chosen):
            for a, b in graph.edges:
                other = b if a == v else a if b == v else None
                if other is not None and other not in chosen and len(chosen) < MAX_VIEW:
                    chosen.append(other)
    lines = [f"# Starter views of {model.name} for `cxsystems cld --model ... --view main`, written by",
             "# `cxsystems init`: the outcomes and the variables one link away. Edit freely.", "",
             "[view.main]", f"title = {_q(model.name.replace('_', ' '))}",
             "variables = [" + ", ".join(_q(v) for v in chosen) + "]", ""]
    return "\n".join(lines)
