"""The compiled backend's virtual machine: numba source that runs :mod:`cxsystems.engine.bytecode`.

:data:`SOURCE` is the text of a small module (numba ``njit`` functions, no model in it) whose one
entry, ``kernel``, runs a range of blocks of worlds: for each block, the whole Euler loop
(initialisation, every time step, the saved values, the state update), each program (a list of
instructions) run by one dispatch loop. The frequent instructions (copy, + - * /, MIN, MAX, ZIDZ
and XIDZ, IF THEN ELSE's select, lookups, a delay's last stage, the Euler update) each loop over
the block's worlds in a tight loop of their own, so the dispatch is paid once per block; the other
functions share one loop that chooses the function per world (beside a libm call or a few
branches the choice costs little).

The tight loops have no branch per world, so that LLVM vectorises them (measured per world and
instruction: 0.15-0.2 ns for + - * MIN MAX and a select, 0.5 ns for a division, about 1 ns for a
lookup of a few points, against 1 ns for a division that branched per world to count zero
divisors and 4 ns for a lookup that searched its segment per world): a division counts its zero
divisors in an integer; ZIDZ and XIDZ divide in every world and select; a lookup computes each
segment's line over the block in turn, kept where the segment starts at or below x (the last such
segment is numpy.interp's, as a table's x rise strictly), then selects the ends (a table of more
than 32 points, or a block of fewer than 8 worlds, bisects per world instead). Selecting between
two doubles computed by the same operations changes no bit. Comparisons stay in the shared loop
(0.8 ns): a vectorised loop of their own (0.2 ns) added 0.25 s to the compilation. A non-negative
stock's clip is a MAX with 0 (it keeps NaN and -0.0 as the clip did).

The same machine runs every model: it is compiled once per installation and cached
(:mod:`cxsystems.engine.compiled`), and it releases the GIL, so that threads run blocks side by side.
It is a plain C function (no Python wrapper): its arguments are integers and pointers to the
caller's C-contiguous buffers (their shapes in ``D``), viewed as arrays inside; it allocates no
memory (each thread passes its own scratch: a block's value table ``V``, zeroed per block, and a
lookup's values ``R``), so its object code needs nothing but the C library and can be loaded
without numba (:mod:`cxsystems.engine.native`).

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
        elif op == @DIV@:  # a zero divisor counts (in the worlds of its guard c, if any): error 1
            zero = 0
            for w in range(nb):
                y = V[b, w]
                zero += 1 if (y == 0.0) & ((c < 0) | (V[c, w] != 0.0)) else 0  # c < 0: the last row, unused
                V[d, w] = V[a, w] / y
            if zero != 0:
                err = 1
        elif op == @SELECT@:
            for w in range(nb):
                x = V[b, w]  # both read first: a select, not a branch
                y = V[c, w]
                V[d, w] = x if V[a, w] != 0.0 else y
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
        elif op == @ZIDZ@ or op == @XIDZ@:  # XIDZ's c: the value when y is about 0 (ZIDZ's: 0)
            for w in range(nb):
                y = V[b, w]
                r = V[a, w] / y  # computed in every world: a select, not a branch
                z = V[c, w]  # c < 0: the last row, read but not used
                V[d, w] = (z if c >= 0 else 0.0) if abs(y) < _SMALL else r
        elif op == @PICK@:  # a delay's last stage: row a + order - 1 (the order in row b)
            for w in range(nb):
                V[d, w] = V[a + int(V[b, w]) - 1, w]
        elif op == @LOOKUP@:  # numpy.interp's formula: the line of the last segment starting at or
            # below x (the table's x rise strictly; R holds it, left stale where x <= x0 or NaN: not read)
            if c - b <= 32 and nb >= 8:  # each segment's line in turn over the block: vectorised,
                # no branches (a bisection per world is quicker for a few worlds or many points)
                for m in range(b, c - 2):
                    xm = TX[m]
                    sm = TS[m]
                    ym = TY[m]
                    for w in range(nb):
                        x = V[a, w]
                        R[w] = sm * (x - xm) + ym if xm <= x else R[w]
            else:
                for w in range(nb):
                    x = V[a, w]
                    lo = b
                    hi = c - 2
                    while lo < hi:  # bisect_right over the segments' starts before the last
                        m = (lo + hi) // 2
                        if x < TX[m]:
                            hi = m
                        else:
                            lo = m + 1
                    j = max(lo - 1, b)
                    R[w] = TS[j] * (x - TX[j]) + TY[j]
            m = max(c - 2, b)  # the last segment, with the table's ends
            xm = TX[m]
            sm = TS[m]
            ym = TY[m]
            x0 = TX[b]
            xn = TX[c - 1]
            y0 = TY[b]
            yn = TY[c - 1]
            for w in range(nb):
                x = V[a, w]
                r = sm * (x - xm) + ym if xm <= x else R[w]
                V[d, w] = (y0 if x <= x0 else r) if x < xn else (yn if x >= xn else _NAN)
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
                elif op == @STEP@:
                    r = x * (1.0 * (t + dt / 2 > y))
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

try:  # numba's carray without its overload's wrapper: no small function compiled per pointer type
    from numba.np.arrayobj import get_cfarray_intrinsic

    carray = get_cfarray_intrinsic("C", None)
except ImportError:  # pragma: no cover - another numba: its public carray (the same arrays)
    from numba import carray

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


_P = types.CPointer
_I = types.int64
_F = types.float64
_SIG = types.void(_I, _I, _I, _I, _I, _P(_I), _P(_F), _P(_I), _P(_I), _P(_I), _P(_F), _P(_F), _P(_I), _P(_F),
                  _P(_I), _P(_F), _P(_I), _P(_F), _P(_F), _P(types.uint8), _P(_F), _P(_F), _P(_F), _P(_I),
                  _P(_I), _P(_I), _P(_I), _P(_I), _P(_F), _P(_I), _P(_F), _P(_F))


@njit(_SIG, cache=_CACHE, error_model="numpy", nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def kernel(q0, q1, block, NV, TSLOT, D, pPB, pPSLOT, pPSTEP, pSP, pSF, pSV, pCS, pCV, pCSLOT, pCTL, pDSLOT,
           pDATA, pTIMES, pSAVED, pTX, pTY, pTS, pINIT, pCRIT, pSAVE, pUPD, pCAP, pOUT, pERR, pV, pR):
    PB = carray(pPB, (D[0], D[1]))  # views of the caller's C-contiguous buffers (D: their shapes)
    PSLOT = carray(pPSLOT, D[2])
    PSTEP = carray(pPSTEP, D[3])
    SP = carray(pSP, D[4])
    SF = carray(pSF, D[5])
    SV = carray(pSV, D[6])
    CS = carray(pCS, D[7])
    CV = carray(pCV, D[8])
    CSLOT = carray(pCSLOT, D[9])
    CTL = carray(pCTL, D[10])
    DSLOT = carray(pDSLOT, D[11])
    DATA = carray(pDATA, (D[12], D[13]))
    TIMES = carray(pTIMES, D[14])
    SAVED = carray(pSAVED, D[15])
    TX = carray(pTX, D[16])
    TY = carray(pTY, D[17])
    TS = carray(pTS, D[18])
    INIT = carray(pINIT, (D[19], 6))
    CRIT = carray(pCRIT, (D[20], 6))
    SAVE = carray(pSAVE, (D[21], 6))
    UPD = carray(pUPD, (D[22], 6))
    CAP = carray(pCAP, D[23])
    OUT = carray(pOUT, (D[24], D[25], D[26]))
    ERR = carray(pERR, D[27])
    V = carray(pV, (NV, block))  # the calling thread's scratch: the value table of a block
    R = carray(pR, block)  # and a lookup's values in a block's worlds
    n = PB.shape[1]
    nt = TIMES.shape[0]
    dt = CTL[2]
    for q in range(q0, q1):
        w0 = q * block
        nb = min(block, n - w0)
        for r in range(NV):
            for w in range(nb):
                V[r, w] = 0.0
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
