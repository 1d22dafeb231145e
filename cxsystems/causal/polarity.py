"""Link polarity: from the equation's structure where it decides, else measured along a run.

:func:`structural_polarity` applies the sign algebra of :mod:`cxsystems.causal.expr`;
:func:`measured_polarity` perturbs one input of an equation at every saved time of a simulated
trajectory and re-evaluates the equation with the numpy evaluator (central differences, no model
re-run): the sign of the change at each time gives ``+``, ``-`` or ``mixed`` with the weeks where the
sign changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import expr as X
from .graph import segments_text, sign_segments

#: Relative perturbations tried in turn until the input has a visible effect.
STEPS = (1e-6, 1e-3, 0.05)


@dataclass(frozen=True)
class Measured:
    """Result of a measurement: polarity, segments (weeks) and a one-line reason."""

    polarity: str
    segments: tuple[tuple[float, float, str], ...]
    reason: str


def structural_polarity(ast, var_key: str, ctx: X.SignContext) -> tuple[str, str]:
    """``(sign, notes)`` for d(ast)/d(var) from structure; sign is ``"?"`` when undecided."""
    notes: set[str] = set()
    s = X.derivative_sign(ast, var_key, ctx, notes)
    return s, "; ".join(sorted(notes))


def measured_polarity(ast, var_key: str, ectx: X.EvalContext) -> Measured:
    """Measure the sign of d(ast)/d(var) at every saved time by central differences."""
    env = dict(ectx.env)
    x = np.asarray(env[var_key], dtype=float)
    try:
        base = X.evaluate(ast, ectx)
    except X.Unsupported as exc:
        return Measured("?", (), f"not measurable: {exc}")
    fscale = float(np.nanmax(np.abs(base))) if np.any(np.isfinite(base)) else 1.0
    xscale = float(np.nanmax(np.abs(x))) if x.size else 1.0
    xscale = xscale if xscale > 0 else 1.0
    for rel in STEPS:
        h = rel * np.maximum(np.abs(x), 1e-3 * xscale)
        plus = X.EvalContext({**env, var_key: x + h}, ectx.lookups, ectx.time, ectx.time_step)
        minus = X.EvalContext({**env, var_key: x - h}, ectx.lookups, ectx.time, ectx.time_step)
        try:
            d = X.evaluate(ast, plus) - X.evaluate(ast, minus)
        except X.Unsupported as exc:
            return Measured("?", (), f"not measurable: {exc}")
        d = np.where(np.isfinite(d), d, 0.0)
        tol = 1e-11 * max(fscale, 1e-300)
        signs = np.where(d > tol, 1, np.where(d < -tol, -1, 0))
        if np.any(signs):
            segs = sign_segments(ectx.time, signs)
            kinds = {s for _, _, s in segs}
            how = "measured along the baseline run"
            if rel > STEPS[0]:
                how += f" (perturbation {rel:g} of the value)"
            if len(kinds) == 1:
                return Measured(kinds.pop(), (), how)
            return Measured("mixed", segs, f"{how}: {segments_text(segs)}")
    return Measured("0", (), "no effect measured along the baseline run")
