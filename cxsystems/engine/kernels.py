"""Numeric kernels for the engine's builtins, in a scalar flavour (Python floats, one run) and a
vector flavour (numpy arrays with one entry per run of an ensemble).

Both flavours reproduce PySD 3.14's ``pysd.py_backend.functions`` formulas operation by
operation (e.g. ``STEP`` is ``value * (time + dt/2 > start)``), so results agree to rounding.
Lookups follow ``numpy.interp``'s formula exactly (``slope * (x - x_j) + y_j``, clamped outside
the table), in both flavours.
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

#: What Vensim considers zero (PySD's SMALL_VENSIM).
SMALL_VENSIM = 1e-6

# ------------------------------------------------------------------------------------- scalar


def s_min(a, b):
    """``numpy.minimum`` for floats (NaN propagates)."""
    return b if (b < a or b != b) else a


def s_max(a, b):
    """``numpy.maximum`` for floats (NaN propagates)."""
    return b if (b > a or b != b) else a


def _math1(fast, slow):
    def f(x):
        try:
            return fast(x)
        except (ValueError, OverflowError):
            with np.errstate(all="ignore"):
                return float(slow(x))

    return f


S_MATH = {
    "abs": abs,
    "exp": _math1(math.exp, np.exp),
    "ln": _math1(math.log, np.log),
    "sqrt": _math1(math.sqrt, np.sqrt),
    "sin": _math1(math.sin, np.sin),
    "cos": _math1(math.cos, np.cos),
    "tan": _math1(math.tan, np.tan),
    "arcsin": _math1(math.asin, np.arcsin),
    "arccos": _math1(math.acos, np.arccos),
    "arctan": _math1(math.atan, np.arctan),
    "sinh": _math1(math.sinh, np.sinh),
    "cosh": _math1(math.cosh, np.cosh),
    "tanh": _math1(math.tanh, np.tanh),
}


def s_pow(a, b):
    """Python's ``a ** b`` as PySD writes it, but NaN instead of complex/overflow errors."""
    try:
        r = a ** b
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf
    return r if isinstance(r, float) else (float(r) if isinstance(r, int) else math.nan)


def s_power(a, b):
    with np.errstate(all="ignore"):
        return float(np.power(a, b))


def s_log(x, base):
    ln = S_MATH["ln"]
    return ln(x) / ln(base)


def s_integer(x):
    try:
        return float(int(x))
    except (ValueError, OverflowError):
        return x


def s_quantum(a, b):
    return a if b < SMALL_VENSIM else b * s_integer(a / b)


def s_modulo(x, m):
    return x - s_quantum(x, m)


def s_xidz(a, b, x):
    return x if abs(b) < SMALL_VENSIM else a / b


def s_zidz(a, b):
    return 0.0 if abs(b) < SMALL_VENSIM else a / b


def s_step(t, half_dt, value, start):
    return value * (t + half_dt > start)


def s_ramp(t, slope, start, finish=None):
    final = t if finish is None else s_min(finish, t)
    return (t + SMALL_VENSIM > start) * slope * (final - start)


def s_pulse(t, start, width):
    return 1 if start - SMALL_VENSIM <= t < start + width else 0


def s_pulse_train(t, start, repeat, width, end):
    if repeat == 0:
        return 1 if start - SMALL_VENSIM <= t < start + width else 0
    if start <= t and t < end:
        return 1 if (t - start + SMALL_VENSIM) % repeat < width else 0
    return 0


class ScalarTable:
    """A lookup table evaluated on one float, bit-identical to ``numpy.interp``."""

    __slots__ = ("xs", "ys", "slopes", "call")

    def __init__(self, xs, ys):
        self.xs = xs = list(map(float, xs))
        self.ys = ys = list(map(float, ys))
        self.slopes = slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
        self.call = scalar_table(xs, ys, slopes)

    def __call__(self, x):
        return self.call(x)


def scalar_table_of(xs, ys, slopes, source):
    """Like :func:`scalar_table` but a zero-argument closure reading ``source()``."""
    x0, xn, y0, yn = xs[0], xs[-1], ys[0], ys[-1]
    nan = math.nan

    def f():
        x = source()
        if x < xn:
            if x <= x0:
                return y0
            j = bisect_right(xs, x) - 1
            return slopes[j] * (x - xs[j]) + ys[j]
        if x >= xn:
            return yn
        return nan

    return f


def scalar_table_at(xs, ys, slopes, V, i):
    """Like :func:`scalar_table` but a zero-argument closure reading slot ``i`` of ``V``."""
    x0, xn, y0, yn = xs[0], xs[-1], ys[0], ys[-1]
    nan = math.nan

    def f():
        x = V[i]
        if x < xn:
            if x <= x0:
                return y0
            j = bisect_right(xs, x) - 1
            return slopes[j] * (x - xs[j]) + ys[j]
        if x >= xn:
            return yn
        return nan

    return f


def scalar_table(xs, ys, slopes):
    """A closure ``f(x)``: linear interpolation in (xs, ys), clamped to the end values.

    Same formula as ``numpy.interp`` (``slope_j * (x - x_j) + y_j``), hence the same bits.
    """
    x0, xn, y0, yn = xs[0], xs[-1], ys[0], ys[-1]
    nan = math.nan

    def f(x):
        if x < xn:
            if x <= x0:
                return y0
            j = bisect_right(xs, x) - 1
            return slopes[j] * (x - xs[j]) + ys[j]
        if x >= xn:
            return yn
        return nan

    return f


# ------------------------------------------------------------------------------------- vector


def _is_arr(x) -> bool:
    return isinstance(x, np.ndarray)


def v_min(a, b):
    return np.minimum(a, b) if (_is_arr(a) or _is_arr(b)) else s_min(a, b)


def v_max(a, b):
    return np.maximum(a, b) if (_is_arr(a) or _is_arr(b)) else s_max(a, b)


def _vmath1(npf, name):
    sf = S_MATH[name]

    def f(x):
        if _is_arr(x):
            return npf(x)
        return sf(x)

    return f


V_MATH = {name: _vmath1(npf, name) for name, npf in [
    ("abs", np.abs), ("exp", np.exp), ("ln", np.log), ("sqrt", np.sqrt), ("sin", np.sin),
    ("cos", np.cos), ("tan", np.tan), ("arcsin", np.arcsin), ("arccos", np.arccos),
    ("arctan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh), ("tanh", np.tanh)]}


def v_pow(a, b):
    if _is_arr(a) or _is_arr(b):
        return np.power(a, b)
    return s_pow(a, b)


def v_power(a, b):
    return np.power(a, b) if (_is_arr(a) or _is_arr(b)) else s_power(a, b)


def v_log(x, base):
    if _is_arr(x) or _is_arr(base):
        return np.log(x) / np.log(base)
    return s_log(x, base)


def v_integer(x):
    return np.trunc(x) if _is_arr(x) else s_integer(x)


def v_quantum(a, b):
    if _is_arr(a) or _is_arr(b):
        return np.where(b < SMALL_VENSIM, a, b * np.trunc(a / b))
    return s_quantum(a, b)


def v_modulo(x, m):
    return x - v_quantum(x, m)


def v_xidz(a, b, x):
    if _is_arr(b):
        return np.where(np.abs(b) < SMALL_VENSIM, x, a / b)
    return x if abs(b) < SMALL_VENSIM else a / b


def v_zidz(a, b):
    if _is_arr(b):
        return np.where(np.abs(b) < SMALL_VENSIM, 0.0, a / b)
    return 0.0 if abs(b) < SMALL_VENSIM else a / b


#: STEP is the same expression for floats and arrays.
v_step = s_step


def v_ramp(t, slope, start, finish=None):
    final = t if finish is None else v_min(finish, t)
    return (t + SMALL_VENSIM > start) * slope * (final - start)


def v_pulse(t, start, width):
    if _is_arr(start) or _is_arr(width):
        return ((start - SMALL_VENSIM <= t) & (t < start + width)).astype(float)
    return s_pulse(t, start, width)


def v_pulse_train(t, start, repeat, width, end):
    if not any(_is_arr(v) for v in (start, repeat, width, end)):
        return s_pulse_train(t, start, repeat, width, end)
    start, repeat, width, end = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                                      for v in (start, repeat, width, end)))
    single = (start - SMALL_VENSIM <= t) & (t < start + width)
    safe = np.where(repeat == 0, 1.0, repeat)
    train = (start <= t) & (t < end) & (np.mod(t - start + SMALL_VENSIM, safe) < width)
    return np.where(repeat == 0, single, train).astype(float)


class VectorTable(ScalarTable):
    """A lookup table evaluated on an array of N runs (``numpy.interp``) or on a float.

    ``numpy.interp`` is fastest here: ensemble inputs cluster, so its search from the previous
    element's segment mostly hits at once (a segment cache per run measured slower).
    """

    __slots__ = ("axs", "ays")

    def __init__(self, xs, ys):
        super().__init__(xs, ys)
        self.axs = np.asarray(self.xs, dtype=float)
        self.ays = np.asarray(self.ys, dtype=float)

    def __call__(self, x):
        if _is_arr(x):
            return np.interp(x, self.axs, self.ays)
        return self.call(x)


def v_if(cond, a, b):
    """IF THEN ELSE with lazily evaluated branches ``a``/``b`` (callables)."""
    if _is_arr(cond):
        if cond.all():
            return a()
        if not cond.any():
            return b()
        return np.where(cond, a(), b())
    return a() if cond else b()


def v_and(a, b):
    return np.logical_and(a, b) if (_is_arr(a) or _is_arr(b)) else bool(a and b)


def v_or(a, b):
    return np.logical_or(a, b) if (_is_arr(a) or _is_arr(b)) else bool(a or b)


def v_not(a):
    return np.logical_not(a) if _is_arr(a) else (not a)
