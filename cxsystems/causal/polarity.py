"""Link polarity: from the equation's structure where it decides, else measured along a run.

Both read the engine's IR (see :mod:`cxsystems.engine.equations`). :func:`structural_polarity` applies
the sign algebra of :mod:`cxsystems.causal.signs` to the target's equation; :func:`measured_polarity`
perturbs one input of the equation at every saved time of a simulated trajectory and re-evaluates
the equation with the engine's vector closures (:class:`cxsystems.engine.equations.Evaluator`: central
differences, no model re-run): the sign of the change at each time gives ``+``, ``-`` or ``mixed``
with the weeks where the sign changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import equations as E
from . import signs as S
from .graph import segments_text, sign_segments

#: Relative perturbations tried in turn until the input has a visible effect.
STEPS = (1e-6, 1e-3, 0.05)


@dataclass(frozen=True)
class Measured:
    """Result of a measurement: polarity, segments (weeks) and a one-line reason."""

    polarity: str
    segments: tuple[tuple[float, float, str], ...]
    reason: str


def structural_polarity(expr, var: str, ctx: S.SignContext) -> tuple[str, str]:
    """``(sign, notes)`` for d(expr)/d(var) from structure (``var`` a variable name); sign is
    ``"?"`` when undecided."""
    notes: set[str] = set()
    s = S.derivative_sign(expr, var, ctx, notes)
    return s, "; ".join(sorted(notes))


def measured_polarity(expr, var_slot: int, ectx: E.EvalContext) -> Measured:
    """Measure the sign of d(expr)/d(variable in slot ``var_slot``) at every saved time by
    central differences."""
    x = np.asarray(ectx.env[var_slot], dtype=float)
    try:
        f = E.Evaluator(expr, ectx)
        base = f()
    except E.Unsupported as exc:
        return Measured("?", (), f"not measurable: {exc}")
    fscale = float(np.nanmax(np.abs(base))) if np.any(np.isfinite(base)) else 1.0
    xscale = float(np.nanmax(np.abs(x))) if x.size else 1.0
    xscale = xscale if xscale > 0 else 1.0
    for rel in STEPS:
        h = rel * np.maximum(np.abs(x), 1e-3 * xscale)
        try:
            d = f({var_slot: x + h}) - f({var_slot: x - h})
        except E.Unsupported as exc:
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
