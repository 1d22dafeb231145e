"""Loops That Matter as an augmentation of the engine's IR: what each causal link's score evaluates.

A link ``x -> z`` is scored from the *rate expression* of ``z`` (:func:`rate_expression`): the IR
expression that the link changes (an auxiliary's or flow's equation, a stock's net flow, a
first-order SMOOTH's internal flow, a DELAY's or higher-order SMOOTH's input), evaluated at ``t``,
at ``t + dt`` and ceteris paribus (only ``x`` at ``t + dt``): the one source from which the numpy
path (:func:`cxsystems.analysis.dominance.dominance`, over one run or an ensemble's worlds, per
target) and the JavaScript backend (:mod:`cxsystems.engine.jsltm`, the workshop page) compute the
same link scores. :func:`ltm_links` gives them per causal link as :class:`LtmLink` records (slots
and IR expressions, no graph and no names), as the JavaScript backend takes them; :func:`scored_steps`
says which intervals of a run saved at every TIME STEP both paths score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .equations import StatefulExpr, equation
from .ir import ModelIR, Op, Ref
from .run import time_grid


@dataclass(frozen=True)
class LtmLink:
    """One causal link to score: ``source`` and ``target`` slots and the target's rate expression
    (``None``: the link is not scored; ``how`` says why or what the expression is)."""

    source: int
    target: int
    rate: object | None
    how: str = ""


def rate_expression(ir: ModelIR, slot: int):
    """``(expression, how)``: what a link into ``slot`` changes: the equation of an auxiliary or
    flow (``"auxiliary"``), a stock's net flow (``"stock"``), a first-order SMOOTH's internal flow
    ``(input - output) / time`` (``"smooth"``), a DELAY's or higher-order SMOOTH's input
    (``"composite"``); ``(None, why)`` for INITIAL and constructs that hold no link."""
    e = equation(ir, slot)
    if not isinstance(e, StatefulExpr):
        return e, "auxiliary"
    if e.kind == "integ":
        return e.arg("flow"), "stock"
    if e.kind == "smooth" and e.order == 1:
        return Op("/", (Op("-", (e.arg("input"), Ref(slot))), e.arg("time"))), "smooth"
    if e.kind in ("smooth", "delay", "delayn", "delay_fixed", "trend", "forecast"):
        return e.arg("input"), "composite"
    return None, f"{e.kind} holds no causal link"


def ltm_links(ir: ModelIR, links: Iterable[tuple[int | None, int | None]]) -> tuple[LtmLink, ...]:
    """The :class:`LtmLink` of each ``(source slot, target slot)`` pair, in order; a pair with a
    missing slot (``None``) gets no rate expression (it is not scored)."""
    rates: dict[int, tuple] = {}
    out = []
    for s, t in links:
        if s is None or t is None:
            out.append(LtmLink(-1 if s is None else s, -1 if t is None else t, None, "no slot"))
            continue
        if t not in rates:
            rates[t] = rate_expression(ir, t)
        rate, how = rates[t]
        out.append(LtmLink(s, t, rate, how))
    return tuple(out)


def saved_steps(ctl: dict) -> np.ndarray:
    """Indices of the steps, in a run saved at every TIME STEP, that a run with the time settings
    ``ctl`` (``initial_time``, ``final_time``, ``time_step``, ``saveper``) saves: its SAVEPER times."""
    _, saved, _ = time_grid(ctl)
    return np.flatnonzero(np.asarray(saved, dtype=bool))


def scored_steps(ctl: dict, every_step: bool = False) -> np.ndarray:
    """Indices ``k`` of the steps, in a run saved at every TIME STEP, whose interval
    ``[t_k, t_k + dt]`` loop dominance scores: the SAVEPER times (:func:`saved_steps`), or every step
    with ``every_step``; never the final time, which starts no interval."""
    times, saved, _ = time_grid(ctl)
    last = len(times) - 1
    if every_step:
        return np.arange(last)
    return np.flatnonzero(np.asarray(saved[:last], dtype=bool))


__all__ = ["LtmLink", "ltm_links", "rate_expression", "saved_steps", "scored_steps"]
