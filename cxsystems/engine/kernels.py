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

from .allocate import kernel as _allocation_kernel

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


# ------------------------------------------------------------------------------------- random
#
# Vensim's RANDOM functions draw from Vensim's own generator, which cannot be reproduced: the
# engine's numbers follow the same distributions but are never Vensim's (nor PySD's) numbers.
# Each draw is a pure function of (run seed, call site, Vensim seed argument, time step index,
# world index): a counter-based generator (SplitMix64's mixing function chained over the key),
# so a run with the same seed gives the same numbers whatever is recorded or how the worlds of
# an ensemble are split into chunks, and every world and call site gets its own stream.

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix_int(x: int) -> int:
    """SplitMix64's finaliser on a Python int (mod 2**64)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * _M1) & _MASK
    x = ((x ^ (x >> 27)) * _M2) & _MASK
    return x ^ (x >> 31)


def _mix_arr(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (numpy wraps array products mod 2**64)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(_M1)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(_M2)
    return x ^ (x >> np.uint64(31))


def float_key(value) -> int:
    """An integer key for a float (its IEEE-754 bits): Vensim's seed arguments are numbers."""
    return int(np.array(float(value), dtype=np.float64).view(np.uint64))


def stream_key(*parts: int) -> int:
    """One 64-bit key from integers (run seed, call site, seed argument), order-sensitive."""
    h = _GOLDEN
    for p in parts:
        h = _mix_int(h ^ (int(p) & _MASK))
        h = (h + _GOLDEN) & _MASK
    return h


def uniforms(key: int, step: int, worlds: np.ndarray, draw: int = 0) -> np.ndarray:
    """Uniform numbers in the open interval (0, 1), one per entry of ``worlds`` (uint64 world
    indices), a pure function of (key, step, world, draw)."""
    h = stream_key(key, step, draw)
    x = _mix_arr(worlds * np.uint64(_GOLDEN) + np.uint64(h))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def _check(ok, message: str):
    if not np.all(ok):
        from ..errors import CxError

        raise CxError(f"engine: {message}")


def rand_uniform(u, lo, hi):
    """RANDOM UNIFORM(min, max): uniform between min and max."""
    _check(np.asarray(lo) <= np.asarray(hi), "RANDOM UNIFORM: min is greater than max")
    return lo + (hi - lo) * u


def rand_normal(u, lo, hi, mean, sd):
    """RANDOM NORMAL(min, max, mean, sd): normal of ``mean`` and ``sd`` truncated to [min, max]
    (the distribution conditional on lying in the range, drawn by inverting its CDF)."""
    from scipy.special import ndtr, ndtri

    lo, hi, mean, sd, u = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lo, hi, mean, sd, u)))
    _check(lo <= hi, "RANDOM NORMAL: min is greater than max")
    _check(sd >= 0, "RANDOM NORMAL: the standard deviation is negative")
    safe = np.where(sd > 0, sd, 1.0)
    a, b = (lo - mean) / safe, (hi - mean) / safe
    flip = a > 0  # sample the far tail on the near side, where the CDF keeps its precision
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    pa, pb = ndtr(a), ndtr(b)
    z = ndtri(pa + u * (pb - pa))
    z = np.clip(np.where(flip, -z, z), np.where(flip, -b, a), np.where(flip, -a, b))
    return np.where(sd > 0, mean + safe * z, np.clip(mean, lo, hi))


def rand_exponential(u, lo, hi, shift, stretch):
    """RANDOM EXPONENTIAL(min, max, shift, stretch): ``shift + stretch * X`` with X exponential
    of mean 1, truncated to [min, max]."""
    lo, hi, shift, stretch, u = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                                      for v in (lo, hi, shift, stretch, u)))
    _check(lo <= hi, "RANDOM EXPONENTIAL: min is greater than max")
    _check(stretch > 0, "RANDOM EXPONENTIAL: stretch must be positive")
    a = np.maximum((lo - shift) / stretch, 0.0)
    b = (hi - shift) / stretch
    _check(b >= a, "RANDOM EXPONENTIAL: [min, max] lies below the shift")
    x = a - np.log1p(u * np.expm1(-(b - a)))
    return shift + stretch * np.clip(x, a, b)


def rand_poisson(u, lo, hi, mean, shift, stretch):
    """RANDOM POISSON(min, max, mean, shift, stretch): ``shift + stretch * K`` with K Poisson of
    ``mean``, truncated to [min, max] (inverse CDF of the truncated distribution)."""
    from scipy.stats import poisson

    lo, hi, mean, shift, stretch, u = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                                            for v in (lo, hi, mean, shift, stretch, u)))
    _check(lo <= hi, "RANDOM POISSON: min is greater than max")
    _check(stretch > 0, "RANDOM POISSON: stretch must be positive")
    _check(mean >= 0, "RANDOM POISSON: the mean is negative")
    kmin = np.maximum(np.ceil((lo - shift) / stretch), 0.0)
    kmax = np.floor((hi - shift) / stretch)
    _check(kmax >= kmin, "RANDOM POISSON: [min, max] holds no value shift + stretch * k")
    fa, fb = poisson.cdf(kmin - 1, mean), poisson.cdf(kmax, mean)
    k = poisson.ppf(fa + u * (fb - fa), mean)
    return shift + stretch * np.clip(k, kmin, kmax)


def rand_triangular(u, lo, hi, start, peak, finish):
    """RANDOM TRIANGULAR(min, max, start, peak, finish): triangular from ``start`` to ``finish``
    with its mode at ``peak``, truncated to [min, max]."""
    lo, hi, a, c, b, u = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                               for v in (lo, hi, start, peak, finish, u)))
    _check((a <= c) & (c <= b) & (a < b), "RANDOM TRIANGULAR: needs start <= peak <= finish, start < finish")
    width = np.where(b > a, b - a, 1.0)

    def cdf(x):
        x = np.clip(x, a, b)
        left = (x - a) ** 2 / (width * np.where(c > a, c - a, 1.0))
        right = 1 - (b - x) ** 2 / (width * np.where(b > c, b - c, 1.0))
        return np.where(x <= c, np.where(c > a, left, 0.0), right)

    lo2, hi2 = np.maximum(lo, a), np.minimum(hi, b)
    _check(lo2 <= hi2, "RANDOM TRIANGULAR: [min, max] misses [start, finish]")
    p = cdf(lo2) + u * (cdf(hi2) - cdf(lo2))
    fc = (c - a) / width
    x = np.where(p < fc, a + np.sqrt(p * width * (c - a)), b - np.sqrt((1 - p) * width * (b - c)))
    return np.clip(x, lo2, hi2)


#: Random builtin -> (kernel taking the uniforms first, number of distribution arguments).
RANDOM_KERNELS = {
    "random_0_1": (lambda u: u, 0),
    "random_uniform": (rand_uniform, 2),
    "random_normal": (rand_normal, 4),
    "random_exponential": (rand_exponential, 4),
    "random_poisson": (rand_poisson, 5),
    "random_triangular": (rand_triangular, 5),
}

#: ALLOCATE AVAILABLE and ALLOCATE BY PRIORITY, ``f(i, n, *args)`` (:mod:`cxsystems.engine.allocate`).
s_allocate_available = _allocation_kernel("allocate_available", vector=False)
s_allocate_by_priority = _allocation_kernel("allocate_by_priority", vector=False)
v_allocate_available = _allocation_kernel("allocate_available", vector=True)
v_allocate_by_priority = _allocation_kernel("allocate_by_priority", vector=True)
