"""The compiled backend's virtual machine: numba source that runs :mod:`cxsystems.engine.bytecode`.

:data:`SOURCE` is the text of a small module (numba ``njit`` functions, no model in it) whose one
entry, ``kernel``, runs a range of blocks of worlds: for each block, the whole Euler loop
(initialisation, every time step, the saved values, the state update), each program (a list of
instructions) run by one dispatch loop. The frequent instructions (copy, + - * /, MIN, MAX, ZIDZ,
IF THEN ELSE's select, lookups, the Euler update) each loop over the block's worlds in a tight
loop of their own, so the dispatch is paid once per block; the other functions share one loop that
chooses the function per world (beside a libm call or a few branches the choice costs little).
The same machine runs every model: it is compiled once per installation and cached
(:mod:`cxsystems.engine.compiled`), and it releases the GIL, so that threads run blocks side by side.

Why one function, written this way (measured, numba 0.68 on 2 cores): numba optimises a callee's
machine code again inside every caller, and its ``parallel=True`` pass compiles another copy, so a
machine of ``_exec`` helpers, a block function and serial and parallel kernels took 25-45 s to
compile; the dispatch loop written once in the one entry point, threads from Python
(:func:`cxsystems.engine.compiled.run`) and one shared loop for the rare functions take 2.5-3 s,
with the same operations on the same doubles (and a faster one run and ensemble).

Every instruction reproduces the numpy engine's scalar kernels (:mod:`cxsystems.engine.kernels`)
operation for operation: ``numpy.minimum``'s NaN rule for MIN/MAX, Python's ``**`` turning
overflow and 0 to a negative power into +inf, INTEGER's truncation to +0.0, Python's ``%`` in
PULSE TRAIN, ``numpy.interp``'s formula for lookups. Error codes: 1 a counted division by zero,
2 a delay time shorter than the TIME STEP.
"""

from __future__ import annotations

import re
import textwrap

from .bytecode import OP

#: The dispatch loop: runs the program ``C`` over the ``nb`` worlds of the value table ``V``
#: (sets ``err`` and stops at the first error).
_DISPATCH = '''\
    for i in range(C.shape[0]):
        op = C[i, 0]
        d = C[i, 1]
        a = C[i, 2]
        b = C[i, 3]
        c = C[i, 4]
        e = C[i, 5]
        if op == @COPY@:
            for w in range(nb):
                V[d, w] = V[a, w]
        elif op == @ADD@:
            for w in range(nb):
                V[d, w] = V[a, w] + V[b, w]
        elif op == @SUB@:
            for w in range(nb):
                V[d, w] = V[a, w] - V[b, w]
        elif op == @MUL@:
            for w in range(nb):
                V[d, w] = V[a, w] * V[b, w]
        elif op == @DIV@:
            for w in range(nb):
                y = V[b, w]
                if y == 0.0 and (c < 0 or V[c, w] != 0.0):
                    err = 1
                V[d, w] = V[a, w] / y
        elif op == @SELECT@:
            for w in range(nb):
                V[d, w] = V[b, w] if V[a, w] != 0.0 else V[c, w]
        elif op == @MIN@:
            for w in range(nb):
                x = V[a, w]
                y = V[b, w]
                V[d, w] = y if (y < x or y != y) else x
        elif op == @MAX@:
            for w in range(nb):
                x = V[a, w]
                y = V[b, w]
                V[d, w] = y if (y > x or y != y) else x
        elif op == @ZIDZ@:
            for w in range(nb):
                y = V[b, w]
                V[d, w] = 0.0 if abs(y) < _SMALL else V[a, w] / y
        elif op == @LOOKUP@:  # numpy.interp's formula; written out here (a call would cost refcounts)
            xn = TX[c - 1]
            x0 = TX[b]
            for w in range(nb):
                x = V[a, w]
                if x < xn:
                    if x <= x0:
                        r = TY[b]
                    else:
                        if c - b <= 32:  # count the points at or below x: no unpredictable branches
                            j = b
                            for m in range(b + 1, c - 1):
                                j += 1 if TX[m] <= x else 0
                        else:
                            lo = b
                            hi = c
                            while lo < hi:  # bisect_right
                                m = (lo + hi) // 2
                                if x < TX[m]:
                                    hi = m
                                else:
                                    lo = m + 1
                            j = lo - 1
                        r = TS[j] * (x - TX[j]) + TY[j]
                elif x >= xn:
                    r = TY[c - 1]
                else:
                    r = _NAN
                V[d, w] = r
        elif op == @DLOW@:
            for w in range(nb):
                o = b
                T = V[a, w]
                while o * dt > T and o > 0:
                    o -= 1
                if o < 1:
                    err = 2
                V[d, w] = float(o)
        elif op == @EULER@:
            for w in range(nb):
                V[d, w] = V[d, w] + V[a, w] * dt
        elif op == @CLIP@:
            for w in range(nb):
                if V[d, w] < 0:
                    V[d, w] = 0.0
        else:  # the other functions: one loop, the function chosen per world (beside a libm call or a
            # few branches, the choice costs little; fewer loops make the machine quick to compile)
            for w in range(nb):
                x = V[a, w]
                y = V[b, w]  # b, c: rows, or -1 (then the last row, read but not used)
                z = V[c, w]
                if op == @NEG@:
                    r = -x
                elif op == @EQ@:
                    r = 1.0 * (x == y)
                elif op == @NE@:
                    r = 1.0 * (x != y)
                elif op == @LT@:
                    r = 1.0 * (x < y)
                elif op == @LE@:
                    r = 1.0 * (x <= y)
                elif op == @GT@:
                    r = 1.0 * (x > y)
                elif op == @GE@:
                    r = 1.0 * (x >= y)
                elif op == @AND@:
                    r = 1.0 * ((x != 0.0) & (y != 0.0))
                elif op == @OR@:
                    r = 1.0 * ((x != 0.0) | (y != 0.0))
                elif op == @NOT@:
                    r = 1.0 * (x == 0.0)
                elif op == @GUARDT@:  # a < 0: no outer guard
                    r = 1.0 * (((a < 0) | (x != 0.0)) & (y != 0.0))
                elif op == @GUARDF@:
                    r = 1.0 * (((a < 0) | (x != 0.0)) & (y == 0.0))
                elif op == @XIDZ@:
                    r = z if abs(y) < _SMALL else x / y
                elif op == @STEP@:
                    r = x * (1.0 * (t + dt / 2 > y))
                elif op == @PICK@:
                    r = V[a + int(y) - 1, w]
                elif op == @SPOW@:
                    r = x ** y
                    if math.isinf(r) and not math.isinf(x) and not math.isinf(y):
                        r = _INF
                elif op == @NPOW@:
                    r = x ** y
                elif op == @ABS@:
                    r = abs(x)
                elif op == @EXP@:
                    r = math.exp(x)
                elif op == @LN@:
                    r = math.log(x)
                elif op == @SQRT@:
                    r = math.sqrt(x)
                elif op == @SIN@:
                    r = math.sin(x)
                elif op == @COS@:
                    r = math.cos(x)
                elif op == @TAN@:
                    r = math.tan(x)
                elif op == @ASIN@:
                    r = math.asin(x)
                elif op == @ACOS@:
                    r = math.acos(x)
                elif op == @ATAN@:
                    r = math.atan(x)
                elif op == @SINH@:
                    r = math.sinh(x)
                elif op == @COSH@:
                    r = math.cosh(x)
                elif op == @TANH@:
                    r = math.tanh(x)
                elif op == @LOG@:
                    lq = math.log(y)
                    if lq == 0.0 and (c < 0 or z != 0.0):
                        err = 1
                    r = math.log(x) / lq
                elif op == @INT@:
                    r = _int(x)
                elif op == @QUANTUM@:
                    r = _quantum(x, y)
                elif op == @MODULO@:
                    r = x - _quantum(x, y)
                elif op == @RAMP2@:
                    r = 1.0 * (t + _SMALL > y) * x * (t - y)
                elif op == @RAMP3@:
                    fin = t if (t < z or t != t) else z
                    r = 1.0 * (t + _SMALL > y) * x * (fin - y)
                elif op == @PULSE@:
                    r = _pulse(t, x, y)
                elif op == @PULSE1@:
                    r = _pulse(t, x, 0.5 * dt)
                elif op == @PTRAIN@:
                    if y == 0:  # start x, repeat y, width z, end V[e]
                        r = _pulse(t, x, z)
                    elif x <= t and t < V[e, w]:
                        r = 1.0 * ((t - x + _SMALL) % y < z)
                    else:
                        r = 0.0
                else:
                    r = _NAN
                V[d, w] = r
        if err != 0:
            break
'''


_TEMPLATE = '''\
import math

import numpy as np
from numba import njit, types

_SMALL = 1e-06
_INF = math.inf
_NAN = math.nan


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _int(x):
    if math.isinf(x) or x != x:
        return x
    r = np.trunc(x)
    if r == 0.0:
        return 0.0
    return r


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _quantum(a, b):
    if b < _SMALL:
        return a
    return b * _int(a / b)


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _pulse(t, start, width):
    if start - _SMALL <= t and t < start + width:
        return 1.0
    return 0.0


_I1 = types.int64[::1]
_F1 = types.float64[::1]
_I2 = types.int64[:, ::1]
_F2 = types.float64[:, ::1]
_SIG = types.void(types.int64, types.int64, types.int64, types.int64, _F2, _I1, _I1, _I1, _F1, _F1, _I1,
                  _F1, types.int64, _I1, _F1, _I1, _F2, _F1, types.uint8[::1], _F1, _F1, _F1,
                  _I2, _I2, _I2, _I2, _I1, types.float64[:, :, ::1], _I1)


@njit(_SIG, cache=_CACHE, error_model="numpy", nogil=True)
def kernel(q0, q1, block, NV, PB, PSLOT, PSTEP, SP, SF, SV, CS, CV, TSLOT, CSLOT, CTL, DSLOT, DATA, TIMES,
           SAVED, TX, TY, TS, INIT, CRIT, SAVE, UPD, CAP, OUT, ERR):
    n = PB.shape[1]
    nt = TIMES.shape[0]
    dt = CTL[2]
    for q in range(q0, q1):
        w0 = q * block
        nb = min(block, n - w0)
        V = np.zeros((NV, nb))
        for i in range(CS.shape[0]):
            V[CS[i], :] = CV[i]
        for i in range(CSLOT.shape[0]):
            V[CSLOT[i], :] = CTL[i]
        for j in range(PSLOT.shape[0]):
            s = PSLOT[j]
            for w in range(nb):
                V[s, w] = PB[j, w0 + w]
        err = 0
        k = 0
        ks = 0
        phase = 0  # 0 the initialisation, 1 a step's critical values, 2 its saved values, 3 the update
        while True:
            if phase == 1 or phase == 0:
                t = TIMES[k]
                V[TSLOT, :] = t
                for i in range(DSLOT.shape[0]):
                    V[DSLOT[i], :] = DATA[i, k]
                for p in range(PSTEP.shape[0]):  # parameters that step in time: base, then the steps due
                    j = PSTEP[p]
                    s = PSLOT[j]
                    for w in range(nb):
                        V[s, w] = PB[j, w0 + w]
                    for i in range(SP.shape[0]):
                        if SP[i] == j and t >= SF[i]:
                            for w in range(nb):
                                V[s, w] = SV[i]
            if phase == 0:
                C = INIT
            elif phase == 1:
                C = CRIT
            elif phase == 2:
                C = SAVE
            else:
                C = UPD
@DISPATCH@
            if err != 0:
                break
            if phase == 0:
                phase = 1
            elif phase == 1:
                if SAVED[k]:
                    phase = 2
                elif k == nt - 1:
                    break
                else:
                    phase = 3
            elif phase == 2:
                for j in range(CAP.shape[0]):
                    for w in range(nb):
                        OUT[j, ks, w0 + w] = V[CAP[j], w]
                ks += 1
                if k == nt - 1:
                    break
                phase = 3
            else:
                k += 1
                phase = 1
        ERR[q] = err
'''


def _source() -> str:
    """The template with the dispatch loop and the opcodes filled in."""
    text = _TEMPLATE.replace("@DISPATCH@\n", textwrap.indent(_DISPATCH, " " * 8))
    for name, code in sorted(OP.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"@{name}@", str(code))
    if re.search(r"@[A-Z0-9]+@", text):  # pragma: no cover - an opcode the template lacks
        raise RuntimeError("vm: an opcode placeholder was not replaced")
    return text


#: The machine's source (static: it holds no model; executed by :func:`cxsystems.engine.compiled.load`).
SOURCE = _source()

__all__ = ["SOURCE"]
