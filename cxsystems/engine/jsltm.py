"""Loops That Matter in JavaScript: link and loop scores computed by the model's JavaScript twin.

The numpy path (:mod:`cxsystems.analysis.dominance`) scores a link ``x -> z`` from the *rate
expression* of ``z`` (:mod:`cxsystems.engine.ltm`, the IR's LTM augmentation: the IR expression the
link changes, an auxiliary's or flow's equation, a stock's net flow, a SMOOTH's internal flow, a
DELAY's input), evaluated for the intervals ``[t, t+dt]`` that start at the model's SAVEPER times
(:func:`cxsystems.engine.ltm.scored_steps`): at ``t`` (every input at ``t``), at ``t + dt`` (every
input at ``t + dt``) and ceteris paribus (only ``x`` at ``t + dt``, every other input and TIME at
``t``); then::

    LS(x -> z) = |Δx z / Δz| * sign(Δx z) * sign(Δx),   0 where Δz or Δx is 0

and a loop's score is the product of its link scores. :func:`ltm_functions` writes the same rate
expressions with the JavaScript backend's own expression writer (:class:`~cxsystems.engine.jsgen`'s
``_ExprWriter``: only slot indices, numbers and helper names reach the code, never model text),
one function ``(V, t)`` per target, and :data:`RUNTIME` (model-independent) runs the model keeping
every TIME STEP's value table (``simulate``'s ``trace`` option) and scores the links and loops the
caller asks for. The engine layer knows nothing of loops or graphs: the caller (the workshop page)
hands down the :class:`~cxsystems.engine.ltm.LtmLink` records of :func:`cxsystems.engine.ltm.ltm_links`
(the same ones the numpy path evaluates) and loops as lists of link indices.

A link is *not scored* (NaN, as the numpy path leaves it) when its rate expression is ``None`` or
holds what the numpy evaluator refuses: a stateful construct inside the equation, a data series, a
function outside the engine's builtins, or a variable the engine does not record. A rate
expression with a random draw is refused (:class:`~cxsystems.errors.UnsupportedConstruct`): the
numpy evaluator's draws are not the JavaScript engine's.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import CxError, UnsupportedConstruct
from .equations import StatefulExpr, children
from .ir import BUILTINS, RANDOM_BUILTINS, Call, Const, Control, Lookup, Op, Ref, TimeRef
from .ltm import LtmLink, scored_steps
from .run import check_time_grid, time_grid


def scorable(rate, recorded) -> bool:
    """Whether the numpy evaluator scores links into a target with this rate expression: only
    numbers, TIME, control values, operators, engine builtins, lookups and recorded variables
    (slots in ``recorded``). Raises :class:`UnsupportedConstruct` for a random draw."""
    if rate is None:
        return False
    if isinstance(rate, Ref):
        return rate.slot in recorded
    if isinstance(rate, StatefulExpr):
        return False
    if isinstance(rate, Call):
        if rate.fn in RANDOM_BUILTINS:
            raise UnsupportedConstruct(f"a link score reads {rate.fn.upper()}: the JavaScript engine cannot "
                                       "reproduce the numpy evaluator's draws")
        if rate.fn not in BUILTINS:
            return False
    elif not isinstance(rate, (Const, TimeRef, Control, Op, Lookup)):
        return False
    return all(scorable(c, recorded) for c in children(rate))


def ltm_functions(writer, ctl: dict, links: Sequence[LtmLink], recorded) -> str:
    """JavaScript constants and rate functions for ``links`` (see the module docstring).

    Args:
        writer: the model's JavaScript expression writer (its lookup tables are shared with the
            model's code, so call this before the model's constants are written).
        ctl: the fixed time settings (``initial_time``, ``final_time``, ``time_step``, ``saveper``).
        links: the links to score, in the order the caller will refer to them.
        recorded: slots of the variables the engine records (the numpy path's values).

    Defines ``LTM_TIMES`` (every step's time as the numpy run saved at every TIME STEP labels
    it), ``LTM_AT`` (the steps whose interval is scored: the SAVEPER times but the final time, as
    the numpy path scores them), ``LTM_SRC``, ``LTM_TGT`` (slots), ``LTM_FN`` (index into
    ``LTM_RATES`` per link, -1 for a link not scored) and ``LTM_RATES`` (one function ``(V, t)`` per
    target).

    Raises:
        UnsupportedConstruct: a rate expression the JavaScript engine cannot write, or a time grid
            on which not every step is a saved time.
    """
    every = dict(ctl, saveper=ctl["time_step"])
    check_time_grid(every, 1, where="loop dominance")
    times, saved, rounded = time_grid(every)
    if not all(saved):
        raise UnsupportedConstruct("loop dominance in JavaScript: the time grid misses some TIME STEPs")
    recorded = set(recorded)
    fn_of: dict[int, int] = {}
    bodies: list[str] = []
    idx = []
    for ln in links:
        if not scorable(ln.rate, recorded) or ln.source not in recorded:
            idx.append(-1)
            continue
        if ln.target not in fn_of:
            try:
                code = writer.js(ln.rate, f"slot {int(ln.target)}")
            except CxError as exc:
                raise UnsupportedConstruct(f"loop dominance in JavaScript: {exc}") from None
            fn_of[ln.target] = len(bodies)
            bodies.append(f"function (V, t) {{ return {code}; }}")
        idx.append(fn_of[ln.target])
    ints = lambda xs: "[" + ", ".join(str(int(x)) for x in xs) + "]"  # noqa: E731
    return "\n".join([
        "var LTM_TIMES = [" + ", ".join(repr(float(x)) for x in rounded) + "];",  # finite: repr round-trips
        "var LTM_AT = " + ints(scored_steps(ctl)) + ";",
        "var LTM_SRC = " + ints(ln.source for ln in links) + ";",
        "var LTM_TGT = " + ints(ln.target for ln in links) + ";",
        "var LTM_FN = " + ints(idx) + ";",
        "var LTM_RATES = [\n" + ",\n".join("  " + b for b in bodies) + "\n];",
    ])


#: Link scores, loop scores and the leading loop per interval, over ``simulate``'s trace.
RUNTIME = r"""
function sgn(x) { return x > 0 ? 1 : (x < 0 ? -1 : (x === 0 ? 0 : NaN)); }
function ltmRun(params, changes) {
  var r = simulate(params, changes, {variables: [], trace: true});
  if (r.trace.length !== LTM_TIMES.length) fail("loop dominance: the run has " + r.trace.length + " steps, expected " + LTM_TIMES.length);
  return r.trace;
}
// Link scores over the intervals [t, t+dt] (labelled t) starting at the steps LTM_AT, of the links
// `which` (indices; default all).
function linkScores(trace, which) {
  var n = LTM_AT.length, out = [], base = new Map(), after = new Map(), j, l, k, i;
  if (which === undefined || which === null) { which = []; for (l = 0; l < LTM_SRC.length; l++) which.push(l); }
  for (k = 0; k < which.length; k++) {
    l = which[k];
    if (!(l >= 0 && l < LTM_SRC.length)) fail("loop dominance: no link " + String(l));
    var f = LTM_FN[l], ls = new Float64Array(n);
    out.push(ls);
    if (f < 0) { ls.fill(NaN); continue; }
    var R = LTM_RATES[f], s = LTM_SRC[l];
    if (!base.has(f)) {
      var b = new Float64Array(n), a = new Float64Array(n);
      for (j = 0; j < n; j++) { i = LTM_AT[j]; b[j] = R(trace[i], LTM_TIMES[i]); a[j] = R(trace[i + 1], LTM_TIMES[i] + DT); }
      base.set(f, b); after.set(f, a);
    }
    var B = base.get(f), A = after.get(f);
    for (j = 0; j < n; j++) {
      i = LTM_AT[j];
      var V = trace[i], W = trace[i + 1], keep = V[s], dx = W[s] - keep, dz = A[j] - B[j];
      V[s] = W[s];
      var dxz = R(V, LTM_TIMES[i]) - B[j];
      V[s] = keep;
      ls[j] = (dz === 0 || dx === 0) ? 0 : Math.abs(dxz / dz) * sgn(dxz) * sgn(dx);
    }
  }
  return out;
}
// Loop scores: the product of each loop's link scores (a loop: indices into `scores`).
function loopScores(scores, loops) {
  var n = LTM_AT.length;
  return loops.map(function (links) {
    var out = new Float64Array(n), j, k;
    for (j = 0; j < n; j++) {
      var p = 1;
      for (k = 0; k < links.length; k++) p *= scores[links[k]][j];
      out[j] = p;
    }
    return out;
  });
}
// The leading loop of each interval: the first of `loops` with the largest |loop score| (NaN
// counts as 0); -1 where every score is 0.
function leading(scores) {
  var n = LTM_AT.length, out = new Int32Array(n), j, i;
  for (j = 0; j < n; j++) {
    var best = -1, top = 0;
    for (i = 0; i < scores.length; i++) {
      var a = Math.abs(scores[i][j]);
      if (a > top) { top = a; best = i; }
    }
    out[j] = best;
  }
  return out;
}
// One call for the page: the run's link scores of `links` ([source, target] link indices used by
// `loops`), loop scores of `loops` (arrays of positions in `links`) and the leading loop.
function dominance(params, changes, links, loops) {
  var trace = ltmRun(params, changes);
  var ls = linkScores(trace, links);
  var sc = loopScores(ls, loops);
  return {times: LTM.times.slice(), linkScores: ls, loopScores: sc, leading: leading(sc)};
}
var LTM = {links: LTM_SRC.length, times: LTM_AT.map(function (i) { return LTM_TIMES[i]; }), run: ltmRun,
           linkScores: linkScores, loopScores: loopScores, leading: leading, dominance: dominance};
"""
