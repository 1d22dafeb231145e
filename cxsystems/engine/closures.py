"""Turn IR expressions into Python closures over a run's value table.

A built node is one of ``("c", value)`` (a constant, folded at build time), ``("v", slot)``
(read the value table) or ``("f", fn)`` (call ``fn()``). Closures for the four arithmetic
operators are specialised on their operands' kinds so that reading a slot or a constant costs
no extra function call: this is what keeps a single scalar run fast without generating code.
The same closures serve both flavours: Python operators work on floats and numpy arrays alike,
and the builtins come from :mod:`cxsystems.engine.kernels` in the matching flavour.
"""

from __future__ import annotations

import operator

from ..errors import UnsupportedConstruct
from . import kernels as K
from .data import data_series_at
from .ir import RANDOM_BUILTINS, VENSIM_NAMES, Call, Const, Control, DataAt, Lookup, Op, Ref, TimeRef
from .vectors import KERNELS as VECTOR_KERNELS


def _mk_add(kind):
    return {
        ("v", "v"): lambda V, a, b: (lambda: V[a] + V[b]),
        ("v", "c"): lambda V, a, b: (lambda: V[a] + b),
        ("c", "v"): lambda V, a, b: (lambda: a + V[b]),
        ("f", "f"): lambda V, a, b: (lambda: a() + b()),
        ("f", "v"): lambda V, a, b: (lambda: a() + V[b]),
        ("v", "f"): lambda V, a, b: (lambda: V[a] + b()),
        ("f", "c"): lambda V, a, b: (lambda: a() + b),
        ("c", "f"): lambda V, a, b: (lambda: a + b()),
    }[kind]


def _mk_sub(kind):
    return {
        ("v", "v"): lambda V, a, b: (lambda: V[a] - V[b]),
        ("v", "c"): lambda V, a, b: (lambda: V[a] - b),
        ("c", "v"): lambda V, a, b: (lambda: a - V[b]),
        ("f", "f"): lambda V, a, b: (lambda: a() - b()),
        ("f", "v"): lambda V, a, b: (lambda: a() - V[b]),
        ("v", "f"): lambda V, a, b: (lambda: V[a] - b()),
        ("f", "c"): lambda V, a, b: (lambda: a() - b),
        ("c", "f"): lambda V, a, b: (lambda: a - b()),
    }[kind]


def _mk_mul(kind):
    return {
        ("v", "v"): lambda V, a, b: (lambda: V[a] * V[b]),
        ("v", "c"): lambda V, a, b: (lambda: V[a] * b),
        ("c", "v"): lambda V, a, b: (lambda: a * V[b]),
        ("f", "f"): lambda V, a, b: (lambda: a() * b()),
        ("f", "v"): lambda V, a, b: (lambda: a() * V[b]),
        ("v", "f"): lambda V, a, b: (lambda: V[a] * b()),
        ("f", "c"): lambda V, a, b: (lambda: a() * b),
        ("c", "f"): lambda V, a, b: (lambda: a * b()),
    }[kind]


def _mk_div(kind):
    return {
        ("v", "v"): lambda V, a, b: (lambda: V[a] / V[b]),
        ("v", "c"): lambda V, a, b: (lambda: V[a] / b),
        ("c", "v"): lambda V, a, b: (lambda: a / V[b]),
        ("f", "f"): lambda V, a, b: (lambda: a() / b()),
        ("f", "v"): lambda V, a, b: (lambda: a() / V[b]),
        ("v", "f"): lambda V, a, b: (lambda: V[a] / b()),
        ("f", "c"): lambda V, a, b: (lambda: a() / b),
        ("c", "f"): lambda V, a, b: (lambda: a / b()),
    }[kind]


#: Two-argument calls ``fn(a, b)`` specialised on the operands' kinds.
_CALL2 = {
    ("v", "v"): lambda V, fn, a, b: (lambda: fn(V[a], V[b])),
    ("v", "c"): lambda V, fn, a, b: (lambda: fn(V[a], b)),
    ("c", "v"): lambda V, fn, a, b: (lambda: fn(a, V[b])),
    ("f", "f"): lambda V, fn, a, b: (lambda: fn(a(), b())),
    ("f", "v"): lambda V, fn, a, b: (lambda: fn(a(), V[b])),
    ("v", "f"): lambda V, fn, a, b: (lambda: fn(V[a], b())),
    ("f", "c"): lambda V, fn, a, b: (lambda: fn(a(), b)),
    ("c", "f"): lambda V, fn, a, b: (lambda: fn(a, b())),
}

_ARITH = {"+": (_mk_add, operator.add), "-": (_mk_sub, operator.sub),
          "*": (_mk_mul, operator.mul), "/": (_mk_div, operator.truediv)}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def _minmax_const(name, V, first, second):
    """Scalar MIN/MAX with one constant operand, inlined (same result as numpy.minimum/maximum).

    ``numpy.maximum(a, b)`` is ``b if (b > a or b != b) else a``; with a constant, non-NaN
    operand that simplifies to one comparison.
    """
    (ka, a), (_kb, b) = first, second
    const_first = ka == "c"
    c = a if const_first else b
    node = second if const_first else first
    y = as_fn(V, node)
    if name == "max":
        if const_first:  # max(c, y) = y if (y > c or y is NaN) else c
            def f():
                v = y()
                return v if (v > c or v != v) else c
        else:  # max(y, c) = c if c > y else y
            def f():
                v = y()
                return c if c > v else v
    else:
        if const_first:  # min(c, y) = y if (y < c or y is NaN) else c
            def f():
                v = y()
                return v if (v < c or v != v) else c
        else:  # min(y, c) = c if c < y else y
            def f():
                v = y()
                return c if c < v else v
    if c != c:  # a NaN constant: keep the general kernel
        from .kernels import s_max, s_min
        k = s_max if name == "max" else s_min
        fa, fb = as_fn(V, first), as_fn(V, second)
        return lambda: k(fa(), fb())
    return f


class Flavour:
    """The builtin kernels of one flavour (scalar or vector)."""

    def __init__(self, vector: bool):
        self.vector = vector
        if vector:
            self.math = K.V_MATH
            self.fns = dict(min=K.v_min, max=K.v_max, power=K.v_power, log=K.v_log,
                            integer=K.v_integer, modulo=K.v_modulo, quantum=K.v_quantum,
                            xidz=K.v_xidz, zidz=K.v_zidz, step=K.v_step, ramp=K.v_ramp,
                            pulse=K.v_pulse, pulse_train=K.v_pulse_train,
                            allocate_available=K.v_allocate_available,
                            allocate_by_priority=K.v_allocate_by_priority)
            self.pow, self.table = K.v_pow, K.VectorTable
            self.and_, self.or_, self.not_ = K.v_and, K.v_or, K.v_not
        else:
            self.math = K.S_MATH
            self.fns = dict(min=K.s_min, max=K.s_max, power=K.s_power, log=K.s_log,
                            integer=K.s_integer, modulo=K.s_modulo, quantum=K.s_quantum,
                            xidz=K.s_xidz, zidz=K.s_zidz, step=K.s_step, ramp=K.s_ramp,
                            pulse=K.s_pulse, pulse_train=K.s_pulse_train,
                            allocate_available=K.s_allocate_available,
                            allocate_by_priority=K.s_allocate_by_priority)
            self.pow = K.s_pow
            self.table = lambda xs, ys: K.ScalarTable(xs, ys).call
            self.and_ = lambda a, b: bool(a and b)
            self.or_ = lambda a, b: bool(a or b)
            self.not_ = lambda a: not a
        self.fns.update({name: pair[vector] for name, pair in VECTOR_KERNELS.items()})


def as_fn(V, node):
    """A zero-argument callable for a built node."""
    kind, x = node
    if kind == "c":
        return lambda: x
    if kind == "v":
        return lambda: V[x]
    return x


class ClosureBuilder:
    """Build closures for IR expressions of one run.

    Args:
        V: the run's value table (list indexed by slot).
        T: one-element list holding the current time.
        controls: control values (``initial_time``, ``final_time``, ``time_step``, ``saveper``).
        flavour: :class:`Flavour`.
        known: slots whose values are constant for the run (folded into the closures).
        random: ``random(call, arg_fns)`` -> closure drawing a random builtin's value (the
            run's generator); None refuses random builtins.
    """

    def __init__(self, V, T, controls, flavour: Flavour, known=None, random=None):
        self.V, self.T, self.ctl, self.fl = V, T, controls, flavour
        self.known = known or {}
        self.random = random
        self._tables = {}

    def table(self, tab):
        if tab not in self._tables:
            self._tables[tab] = self.fl.table(tab.x, tab.y)
        return self._tables[tab]

    def fn(self, expr):
        """A zero-argument callable evaluating ``expr``."""
        return as_fn(self.V, self.build(expr))

    def build(self, e):
        V, T = self.V, self.T
        if isinstance(e, Const):
            return ("c", e.value)
        if isinstance(e, Ref):
            if e.slot in self.known:
                return ("c", self.known[e.slot])
            return ("v", e.slot)
        if isinstance(e, TimeRef):
            return ("f", lambda: T[0])
        if isinstance(e, DataAt):  # the same value in every run: a float
            at = data_series_at(e.table.x, e.table.y, e.mode)
            return ("f", lambda: at(T[0]))
        if isinstance(e, Control):
            return ("c", self.ctl[e.name])
        if isinstance(e, Op):
            return self._op(e)
        if isinstance(e, Call):
            return self._call(e)
        if isinstance(e, Lookup):
            tab = self.table(e.table)
            a = self.build(e.arg)
            if a[0] == "c":
                return ("c", tab(a[1]))
            if not self.fl.vector:  # one closure: read the argument and interpolate
                st = K.ScalarTable(e.table.x, e.table.y)
                if a[0] == "v":
                    return ("f", K.scalar_table_at(st.xs, st.ys, st.slopes, V, a[1]))
                return ("f", K.scalar_table_of(st.xs, st.ys, st.slopes, a[1]))
            if a[0] == "v":
                i = a[1]
                return ("f", lambda: tab(V[i]))
            f = a[1]
            return ("f", lambda: tab(f()))
        raise TypeError(f"unknown IR node {e!r}")  # pragma: no cover - translator guarantees

    def _op(self, e: Op):
        V, fl = self.V, self.fl
        args = [self.build(a) for a in e.args]
        op = e.op
        if op in _ARITH:
            mk, pyop = _ARITH[op]
            (ka, a), (kb, b) = args
            if ka == "c" and kb == "c":
                return ("c", pyop(a, b))
            return ("f", mk((ka, kb))(V, a, b))
        if op == "neg":
            (ka, a), = args
            if ka == "c":
                return ("c", -a)
            if ka == "v":
                return ("f", lambda: -V[a])
            return ("f", lambda: -a())
        if op == "^":
            pw = fl.pow
            if all(k == "c" for k, _ in args):
                return ("c", pw(args[0][1], args[1][1]))
            fa, fb = (as_fn(V, n) for n in args)
            return ("f", lambda: pw(fa(), fb()))
        if op in _COMPARE:
            cmp = _COMPARE[op]
            (ka, a), (kb, b) = args
            if ka == "c" and kb == "c":
                return ("c", cmp(a, b))
            return ("f", _CALL2[(ka, kb)](V, cmp, a, b))
        if op in ("and", "or"):
            f2 = fl.and_ if op == "and" else fl.or_
            if all(k == "c" for k, _ in args):
                return ("c", f2(args[0][1], args[1][1]))
            fa, fb = (as_fn(V, n) for n in args)
            return ("f", lambda: f2(fa(), fb()))
        if op == "not":
            nf = fl.not_
            if args[0][0] == "c":
                return ("c", nf(args[0][1]))
            fa = as_fn(V, args[0])
            return ("f", lambda: nf(fa()))
        raise TypeError(f"unknown operator {op!r}")  # pragma: no cover

    def _call(self, e: Call):
        V, T, fl = self.V, self.T, self.fl
        name = e.fn
        args = [self.build(a) for a in e.args]
        if name in RANDOM_BUILTINS:
            if self.random is None:
                raise UnsupportedConstruct(f"{VENSIM_NAMES[name]} needs a run's random generator")
            return ("f", self.random(e, [as_fn(V, n) for n in args]))
        consts = all(k == "c" for k, _ in args)
        if name == "if_then_else":
            (kc, c), a, b = args
            if kc == "c":
                if fl.vector and K._is_arr(c):
                    fa, fb = as_fn(V, a), as_fn(V, b)
                    if c.all():
                        return a
                    if not c.any():
                        return b
                    return ("f", lambda: K.np.where(c, fa(), fb()))
                return a if c else b
            fc, fa, fb = as_fn(V, (kc, c)), as_fn(V, a), as_fn(V, b)
            if fl.vector:
                return ("f", lambda: K.v_if(fc(), fa, fb))
            return ("f", lambda: fa() if fc() else fb())
        if name == "pi":
            return ("c", K.math.pi)
        if name in fl.math:
            f1 = fl.math[name]
            (ka, a), = args
            if ka == "c":
                return ("c", f1(a))
            if ka == "v":
                return ("f", lambda: f1(V[a]))
            return ("f", lambda: f1(a()))
        kern = fl.fns[name]
        if name == "step":
            half = self.ctl["time_step"] / 2
            fv, fs = (as_fn(V, n) for n in args)
            if consts:
                v, s = args[0][1], args[1][1]
                return ("f", lambda: kern(T[0], half, v, s))
            return ("f", lambda: kern(T[0], half, fv(), fs()))
        if name == "ramp":
            fns = [as_fn(V, n) for n in args]
            if len(fns) == 2:
                f1, f2 = fns
                return ("f", lambda: kern(T[0], f1(), f2()))
            f1, f2, f3 = fns
            return ("f", lambda: kern(T[0], f1(), f2(), f3()))
        if name == "pulse":
            fs = as_fn(V, args[0])
            if len(args) == 1:
                width = 0.5 * self.ctl["time_step"]
                return ("f", lambda: kern(T[0], fs(), width))
            fw = as_fn(V, args[1])
            if consts:
                s, w = args[0][1], args[1][1]
                return ("f", lambda: kern(T[0], s, w))
            return ("f", lambda: kern(T[0], fs(), fw()))
        if name == "pulse_train":
            f1, f2, f3, f4 = (as_fn(V, n) for n in args)
            return ("f", lambda: kern(T[0], f1(), f2(), f3(), f4()))
        if consts:
            return ("c", kern(*(x for _, x in args)))
        if len(args) == 2:
            (ka, a), (kb, b) = args
            if not fl.vector and name in ("min", "max") and "c" in (ka, kb) and ka != kb:
                return ("f", _minmax_const(name, V, (ka, a), (kb, b)))
            return ("f", _CALL2[(ka, kb)](V, kern, a, b))
        if len(args) == 3 and args[2][0] == "c":
            (ka, a), (kb, b), (_, c) = args
            fa, fb = as_fn(V, (ka, a)), as_fn(V, (kb, b))
            return ("f", lambda: kern(fa(), fb(), c))
        fns = [as_fn(V, n) for n in args]
        return ("f", lambda: kern(*(f() for f in fns)))
