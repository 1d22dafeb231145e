"""The engine's numeric kernels agree with PySD's functions and numpy.interp, value by value."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pysd.py_backend import functions as pf

from cxsystems.engine import kernels as K


class _Time:
    """Just enough of PySD's Time object for its functions."""

    def __init__(self, t, dt):
        self.t, self.dt = t, dt

    def __call__(self):
        return self.t

    def time_step(self):
        return self.dt


TIMES = np.round(np.arange(0, 12, 0.25), 10)


def test_step_ramp_pulse_match_pysd_scalar_and_vector():
    dt = 0.25
    starts = np.array([0.0, 1.0, 2.6, 3.0, 5.125])
    for t in TIMES:
        tm = _Time(float(t), dt)
        for start in starts:
            assert K.s_step(t, dt / 2, 2.5, start) == pf.step(tm, 2.5, start)
            assert K.s_ramp(t, 0.5, start, start + 3) == pf.ramp(tm, 0.5, start, start + 3)
            assert K.s_ramp(t, -0.5, start) == pf.ramp(tm, -0.5, start)
            assert K.s_pulse(t, start, 1.5) == pf.pulse(tm, start, width=1.5)
            for repeat, width, end in [(0, 1.0, 9), (3, 0.5, 10), (2.5, 1.25, 7)]:
                assert K.s_pulse_train(t, start, repeat, width, end) == \
                    pf.pulse(tm, start, repeat_time=repeat, width=width, end=end)
        # vector flavour: arrays of starts give the scalar answers element by element
        np.testing.assert_array_equal(K.v_step(t, dt / 2, 2.5, starts),
                                      [K.s_step(t, dt / 2, 2.5, s) for s in starts])
        np.testing.assert_array_equal(K.v_pulse(t, starts, np.full(5, 1.5)),
                                      [K.s_pulse(t, s, 1.5) for s in starts])
        reps = np.array([0, 3, 2.5, 0, 1.0])
        np.testing.assert_array_equal(
            K.v_pulse_train(t, starts, reps, 0.5, 10.0),
            [K.s_pulse_train(t, s, r, 0.5, 10.0) for s, r in zip(starts, reps)])
        np.testing.assert_array_equal(K.v_ramp(t, 0.5, starts, starts + 3),
                                      [K.s_ramp(t, 0.5, s, s + 3) for s in starts])


@pytest.mark.parametrize("a, b", list(itertools.product([-7.5, -1.0, 0.0, 3.0, 12.25],
                                                          [-2.0, 0.0, 1e-7, 0.5, 4.0])))
def test_safe_division_and_integer_functions_match_pysd(a, b):
    assert K.s_xidz(a, b, 9.0) == pf.xidz(a, b, 9.0)
    assert K.s_zidz(a, b) == pf.zidz(a, b)
    assert K.s_quantum(a, b) == pf.quantum(a, b)
    assert K.s_modulo(a, b) == pf.modulo(a, b)
    assert K.s_integer(a / 3) == pf.integer(a / 3)
    va, vb = np.array([a, a + 1]), np.array([b, b])
    with np.errstate(all="ignore"):  # the engine runs with numpy warnings silenced
        _check_vector_division(va, vb, b)


def _check_vector_division(va, vb, b):
    np.testing.assert_array_equal(K.v_xidz(va, vb, 9.0), [K.s_xidz(x, b, 9.0) for x in va])
    np.testing.assert_array_equal(K.v_zidz(va, vb), [K.s_zidz(x, b) for x in va])
    np.testing.assert_array_equal(K.v_quantum(va, vb), [K.s_quantum(x, b) for x in va])


def test_min_max_follow_numpy_including_nan():
    vals = [-1.0, 0.0, 2.0, np.nan]
    for a, b in itertools.product(vals, vals):
        np.testing.assert_equal(K.s_min(a, b), np.minimum(a, b))
        np.testing.assert_equal(K.s_max(a, b), np.maximum(a, b))


def test_lookup_tables_equal_numpy_interp_bit_for_bit():
    xs, ys = [0, 0.5, 1, 2, 4, 9, 20], [0, 0.55, 1, 1.7, 2.6, 3.6, 4]
    scalar = K.ScalarTable(xs, ys)
    vector = K.VectorTable(xs, ys)
    axs, ays = np.array(xs, float), np.array(ys, float)
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 25, 2000)
    x[:7] = xs  # exactly on the breakpoints
    with np.errstate(invalid="ignore"):
        for k in range(40):  # inputs drift, jump, and pass through inf and NaN
            if k == 10:
                x[7:10] = [np.inf, -np.inf, np.nan]
            if k == 11:
                x[7:10] = [1.0, 2.0, 3.0]
            got = vector(x)
            want = np.interp(x, axs, ays)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal([scalar(v) for v in x[:50]], want[:50])
            x = x + rng.normal(0, 0.3, x.size)
    for v in [-1.0, 0.0, 0.25, 0.5, 3.3, 20.0, 25.0]:
        assert scalar(v) == float(np.interp(v, axs, ays)) == vector(v)
    assert np.isnan(scalar(np.nan))
