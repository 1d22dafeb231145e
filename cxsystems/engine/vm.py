"""The compiled backend's virtual machine: numba source that runs :mod:`cxsystems.engine.bytecode`.

:data:`SOURCE` is the text of a small module (numba ``njit`` functions, no model in it):
``_exec`` runs a list of instructions over a block of worlds (each instruction loops over the
block's worlds, so the per-instruction dispatch is paid once per block and the arithmetic runs in
tight loops), ``_block`` runs the whole Euler loop of one block (initialisation, every time step,
the saved values, the state update), and ``kernel_serial``/``kernel_parallel`` run every block
(the latter with numba's ``prange``, one block per thread at a time). The same machine runs every
model: it is compiled once per installation and cached (:mod:`cxsystems.engine.compiled`).

Every instruction reproduces the numpy engine's scalar kernels (:mod:`cxsystems.engine.kernels`)
operation for operation: ``numpy.minimum``'s NaN rule for MIN/MAX, Python's ``**`` turning
overflow and 0 to a negative power into +inf, INTEGER's truncation to +0.0, Python's ``%`` in
PULSE TRAIN, ``numpy.interp``'s formula for lookups. Error codes: 1 a counted division by zero,
2 a delay time shorter than the TIME STEP.
"""

from __future__ import annotations

import re

from .bytecode import OP

_EXEC = '''\
@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _exec(C, V, nb, t, dt, TX, TY, TS):
    err = 0
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
        elif op == @NEG@:
            for w in range(nb):
                V[d, w] = -V[a, w]
        elif op == @SPOW@:
            for w in range(nb):
                x = V[a, w]
                y = V[b, w]
                r = x ** y
                if math.isinf(r) and not math.isinf(x) and not math.isinf(y):
                    r = _INF
                V[d, w] = r
        elif op == @NPOW@:
            for w in range(nb):
                V[d, w] = V[a, w] ** V[b, w]
        elif op == @EQ@:
            for w in range(nb):
                V[d, w] = 1.0 if V[a, w] == V[b, w] else 0.0
        elif op == @NE@:
            for w in range(nb):
                V[d, w] = 1.0 if V[a, w] != V[b, w] else 0.0
        elif op == @LT@:
            for w in range(nb):
                V[d, w] = 1.0 if V[a, w] < V[b, w] else 0.0
        elif op == @LE@:
            for w in range(nb):
                V[d, w] = 1.0 if V[a, w] <= V[b, w] else 0.0
        elif op == @GT@:
            for w in range(nb):
                V[d, w] = 1.0 if V[a, w] > V[b, w] else 0.0
        elif op == @GE@:
            for w in range(nb):
                V[d, w] = 1.0 if V[a, w] >= V[b, w] else 0.0
        elif op == @AND@:
            for w in range(nb):
                V[d, w] = 1.0 if (V[a, w] != 0.0 and V[b, w] != 0.0) else 0.0
        elif op == @OR@:
            for w in range(nb):
                V[d, w] = 1.0 if (V[a, w] != 0.0 or V[b, w] != 0.0) else 0.0
        elif op == @NOT@:
            for w in range(nb):
                V[d, w] = 1.0 if V[a, w] == 0.0 else 0.0
        elif op == @SELECT@:
            for w in range(nb):
                V[d, w] = V[b, w] if V[a, w] != 0.0 else V[c, w]
        elif op == @GUARDT@:
            for w in range(nb):
                V[d, w] = 1.0 if ((a < 0 or V[a, w] != 0.0) and V[b, w] != 0.0) else 0.0
        elif op == @GUARDF@:
            for w in range(nb):
                V[d, w] = 1.0 if ((a < 0 or V[a, w] != 0.0) and V[b, w] == 0.0) else 0.0
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
        elif op == @ABS@:
            for w in range(nb):
                V[d, w] = abs(V[a, w])
        elif op == @EXP@:
            for w in range(nb):
                V[d, w] = math.exp(V[a, w])
        elif op == @LN@:
            for w in range(nb):
                V[d, w] = math.log(V[a, w])
        elif op == @SQRT@:
            for w in range(nb):
                V[d, w] = math.sqrt(V[a, w])
        elif op == @SIN@:
            for w in range(nb):
                V[d, w] = math.sin(V[a, w])
        elif op == @COS@:
            for w in range(nb):
                V[d, w] = math.cos(V[a, w])
        elif op == @TAN@:
            for w in range(nb):
                V[d, w] = math.tan(V[a, w])
        elif op == @ASIN@:
            for w in range(nb):
                V[d, w] = math.asin(V[a, w])
        elif op == @ACOS@:
            for w in range(nb):
                V[d, w] = math.acos(V[a, w])
        elif op == @ATAN@:
            for w in range(nb):
                V[d, w] = math.atan(V[a, w])
        elif op == @SINH@:
            for w in range(nb):
                V[d, w] = math.sinh(V[a, w])
        elif op == @COSH@:
            for w in range(nb):
                V[d, w] = math.cosh(V[a, w])
        elif op == @TANH@:
            for w in range(nb):
                V[d, w] = math.tanh(V[a, w])
        elif op == @LOG@:
            for w in range(nb):
                y = math.log(V[b, w])
                if y == 0.0 and (c < 0 or V[c, w] != 0.0):
                    err = 1
                V[d, w] = math.log(V[a, w]) / y
        elif op == @INT@:
            for w in range(nb):
                V[d, w] = _int(V[a, w])
        elif op == @QUANTUM@:
            for w in range(nb):
                V[d, w] = _quantum(V[a, w], V[b, w])
        elif op == @MODULO@:
            for w in range(nb):
                x = V[a, w]
                V[d, w] = x - _quantum(x, V[b, w])
        elif op == @XIDZ@:
            for w in range(nb):
                y = V[b, w]
                V[d, w] = V[c, w] if abs(y) < _SMALL else V[a, w] / y
        elif op == @ZIDZ@:
            for w in range(nb):
                y = V[b, w]
                V[d, w] = 0.0 if abs(y) < _SMALL else V[a, w] / y
        elif op == @STEP@:
            half = dt / 2
            for w in range(nb):
                V[d, w] = V[a, w] * (1.0 if t + half > V[b, w] else 0.0)
        elif op == @RAMP2@:
            for w in range(nb):
                s = V[b, w]
                V[d, w] = (1.0 if t + _SMALL > s else 0.0) * V[a, w] * (t - s)
        elif op == @RAMP3@:
            for w in range(nb):
                s = V[b, w]
                f = V[c, w]
                fin = t if (t < f or t != t) else f
                V[d, w] = (1.0 if t + _SMALL > s else 0.0) * V[a, w] * (fin - s)
        elif op == @PULSE@:
            for w in range(nb):
                V[d, w] = _pulse(t, V[a, w], V[b, w])
        elif op == @PULSE1@:
            width = 0.5 * dt
            for w in range(nb):
                V[d, w] = _pulse(t, V[a, w], width)
        elif op == @PTRAIN@:
            for w in range(nb):
                s = V[a, w]
                rep = V[b, w]
                wid = V[c, w]
                if rep == 0:
                    V[d, w] = _pulse(t, s, wid)
                elif s <= t and t < V[e, w]:
                    V[d, w] = 1.0 if (t - s + _SMALL) % rep < wid else 0.0
                else:
                    V[d, w] = 0.0
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
        elif op == @PICK@:
            for w in range(nb):
                V[d, w] = V[a + int(V[b, w]) - 1, w]
        elif op == @EULER@:
            for w in range(nb):
                V[d, w] = V[d, w] + V[a, w] * dt
        elif op == @CLIP@:
            for w in range(nb):
                if V[d, w] < 0:
                    V[d, w] = 0.0
        if err != 0:
            return err
    return err


'''

_TEMPLATE = '''\
import math

import numpy as np
from numba import njit, prange, types

_SMALL = 1e-06
_INF = math.inf
_NAN = math.nan


@njit(cache=_CACHE, error_model="numpy", nogil=True, inline="always")
def _int(x):
    if math.isinf(x) or x != x:
        return x
    r = np.trunc(x)
    if r == 0.0:
        return 0.0
    return r


@njit(cache=_CACHE, error_model="numpy", nogil=True, inline="always")
def _quantum(a, b):
    if b < _SMALL:
        return a
    return b * _int(a / b)


@njit(cache=_CACHE, error_model="numpy", nogil=True, inline="always")
def _pulse(t, start, width):
    if start - _SMALL <= t and t < start + width:
        return 1.0
    return 0.0


@EXEC@

@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _run(C, V, nb, t, dt, TX, TY, TS):
    if nb == 1:
        return _exec1(C, V, nb, t, dt, TX, TY, TS)
    return _execn(C, V, nb, t, dt, TX, TY, TS)


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _params(V, nb, w0, t, PB, PSLOT, PSTEP, SP, SF, SV):
    for q in range(PSTEP.shape[0]):
        j = PSTEP[q]
        s = PSLOT[j]
        for w in range(nb):
            V[s, w] = PB[j, w0 + w]
        for i in range(SP.shape[0]):
            if SP[i] == j and t >= SF[i]:
                for w in range(nb):
                    V[s, w] = SV[i]


@njit(cache=_CACHE, error_model="numpy", nogil=True)
def _block(w0, nb, NV, PB, PSLOT, PSTEP, SP, SF, SV, CS, CV, TSLOT, CSLOT, CTL, DSLOT, DATA, TIMES,
           SAVED, TX, TY, TS, INIT, CRIT, SAVE, UPD, CAP, OUT):
    V = np.zeros((NV, nb))
    for i in range(CS.shape[0]):
        V[CS[i], :] = CV[i]
    for i in range(CSLOT.shape[0]):
        V[CSLOT[i], :] = CTL[i]
    dt = CTL[2]
    t = TIMES[0]
    V[TSLOT, :] = t
    for i in range(DSLOT.shape[0]):
        V[DSLOT[i], :] = DATA[i, 0]
    for j in range(PSLOT.shape[0]):
        s = PSLOT[j]
        for w in range(nb):
            V[s, w] = PB[j, w0 + w]
    _params(V, nb, w0, t, PB, PSLOT, PSTEP, SP, SF, SV)
    err = _run(INIT, V, nb, t, dt, TX, TY, TS)
    if err != 0:
        return err
    ks = 0
    nt = TIMES.shape[0]
    for k in range(nt):
        t = TIMES[k]
        V[TSLOT, :] = t
        for i in range(DSLOT.shape[0]):
            V[DSLOT[i], :] = DATA[i, k]
        _params(V, nb, w0, t, PB, PSLOT, PSTEP, SP, SF, SV)
        err = _run(CRIT, V, nb, t, dt, TX, TY, TS)
        if err != 0:
            return err
        if SAVED[k]:
            err = _run(SAVE, V, nb, t, dt, TX, TY, TS)
            if err != 0:
                return err
            for j in range(CAP.shape[0]):
                for w in range(nb):
                    OUT[j, ks, w0 + w] = V[CAP[j], w]
            ks += 1
        if k == nt - 1:
            break
        err = _run(UPD, V, nb, t, dt, TX, TY, TS)
        if err != 0:
            return err
    return 0


_I1 = types.int64[:]
_F1 = types.float64[:]
_I2 = types.int64[:, :]
_SIG = types.void(types.int64, types.int64, types.float64[:, :], _I1, _I1, _I1, _F1, _F1, _I1, _F1,
                  types.int64, _I1, _F1, _I1, types.float64[:, :], _F1, types.uint8[:], _F1, _F1, _F1,
                  _I2, _I2, _I2, _I2, _I1, types.float64[:, :, :], _I1)


@njit(_SIG, cache=_CACHE, error_model="numpy", nogil=True)
def kernel_serial(block, NV, PB, PSLOT, PSTEP, SP, SF, SV, CS, CV, TSLOT, CSLOT, CTL, DSLOT, DATA, TIMES,
                  SAVED, TX, TY, TS, INIT, CRIT, SAVE, UPD, CAP, OUT, ERR):
    n = PB.shape[1]
    for q in range(ERR.shape[0]):
        w0 = q * block
        nb = min(block, n - w0)
        ERR[q] = _block(w0, nb, NV, PB, PSLOT, PSTEP, SP, SF, SV, CS, CV, TSLOT, CSLOT, CTL, DSLOT, DATA,
                        TIMES, SAVED, TX, TY, TS, INIT, CRIT, SAVE, UPD, CAP, OUT)


@njit(_SIG, cache=_CACHE, error_model="numpy", nogil=True, parallel=True)
def kernel_parallel(block, NV, PB, PSLOT, PSTEP, SP, SF, SV, CS, CV, TSLOT, CSLOT, CTL, DSLOT, DATA, TIMES,
                    SAVED, TX, TY, TS, INIT, CRIT, SAVE, UPD, CAP, OUT, ERR):
    n = PB.shape[1]
    for q in prange(ERR.shape[0]):
        w0 = q * block
        nb = min(block, n - w0)
        ERR[q] = _block(w0, nb, NV, PB, PSLOT, PSTEP, SP, SF, SV, CS, CV, TSLOT, CSLOT, CTL, DSLOT, DATA,
                        TIMES, SAVED, TX, TY, TS, INIT, CRIT, SAVE, UPD, CAP, OUT)
'''


def _source() -> str:
    """The template with opcodes filled in and two flavours of ``_exec``: ``_exec1`` indexes the
    table (one world: no row views to make), ``_execn`` reads rows (a block: tight loops)."""
    one = _EXEC.replace("def _exec(", "def _exec1(")
    rows = _EXEC.replace("def _exec(", "def _execn(")
    rows = rows.replace("        e = C[i, 5]\n", "        e = C[i, 5]\n" + "".join(
        f"        x{r} = V[{r}]\n" if r in "da" else f"        x{r} = V[{r}] if {r} < nv else V[0]\n"
        for r in "dabce"))  # b, c, e are table offsets or an order in LOOKUP and DLOW
    rows = rows.replace("    err = 0\n", "    err = 0\n    nv = V.shape[0]\n", 1)
    rows = re.sub(r"V\[([a-e]), w\]", r"x\1[w]", rows)
    text = _TEMPLATE.replace("@EXEC@", one + "\n\n" + rows)
    for name, code in sorted(OP.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"@{name}@", str(code))
    if re.search(r"@[A-Z0-9]+@", text):  # pragma: no cover - an opcode the template lacks
        raise RuntimeError("vm: an opcode placeholder was not replaced")
    return text


#: The machine's source (static: it holds no model; executed by :func:`cxsystems.engine.compiled.load`).
SOURCE = _source()

__all__ = ["SOURCE"]
