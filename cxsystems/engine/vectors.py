"""Kernels of Vensim's vector and matrix builtins over unrolled elements: VECTOR SORT ORDER,
VECTOR RANK, an element picked by position (VECTOR REORDER, VECTOR ELM MAP) and INVERT MATRIX.

The engine unrolls subscripts (:mod:`cxsystems.engine.ir`): each element of a result is its own
slot, so each kernel returns one element of the result and takes the whole vector (or matrix,
row by row) as its last arguments. Each comes in a scalar flavour (``s_``: floats, one run) and a
vector flavour (``v_``: numpy arrays with one entry per world of an ensemble, or floats).

The order of a vector is the ascending order of its values, ties in element order and NaN last
(numpy's stable ``argsort``); the descending order (a direction not above 0) is that order
reversed, as PySD computes it. Vensim's documentation leaves the order of equal values open
("arbitrarily assigned contiguous ranks"). A position outside the vector, or a singular matrix,
gives NaN (Vensim's :NA:; the run refuses non-finite values unless told to keep them).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# ------------------------------------------------------------------------------------- scalar


@lru_cache(maxsize=256)
def _order(values: tuple) -> tuple:
    """Positions of ``values`` in ascending order (stable, NaN last)."""
    return tuple(sorted(range(len(values)),
                        key=lambda i: (values[i] != values[i], 0.0 if values[i] != values[i] else values[i], i)))


def s_sort_order(direction, k, *values):
    """VECTOR SORT ORDER: the 0-based position of the vector's ``k``-th element in sorted order."""
    order = _order(values)
    return float(order[int(k)] if direction > 0 else order[len(values) - 1 - int(k)])


def s_rank(direction, i, *values):
    """VECTOR RANK: the 1-based rank of element ``i`` of the vector."""
    pos = _order(values).index(int(i))
    return float(pos + 1 if direction > 0 else len(values) - pos)


def s_pick(position, *values):
    """The element at 0-based ``position`` (truncated to a whole number); NaN outside the vector."""
    if not -1 < position < len(values):  # also NaN
        return math.nan
    return values[int(position)]


@lru_cache(maxsize=64)
def _inverse(n: int, values: tuple) -> tuple:
    """The inverse of the n x n matrix ``values`` (row by row), NaN when singular."""
    try:
        inv = np.linalg.inv(np.array(values, dtype=float).reshape(n, n))
    except np.linalg.LinAlgError:
        return (math.nan,) * (n * n)
    return tuple(float(x) for x in inv.ravel())


def s_inverse(n, i, j, *values):
    """INVERT MATRIX: element (``i``, ``j``) of the inverse of the n x n matrix ``values``."""
    n = int(n)
    return _inverse(n, values)[int(i) * n + int(j)]


# ------------------------------------------------------------------------------------- vector


def _stack(values):
    """``values`` as one array (elements x worlds), or None when all are floats."""
    if not any(isinstance(v, np.ndarray) for v in values):
        return None
    return np.stack(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values)))


def _choose(direction, up, down):
    if isinstance(direction, np.ndarray):
        return np.where(direction > 0, up, down)
    return up if direction > 0 else down


def v_sort_order(direction, k, *values):
    stack = _stack((*values, direction))
    if stack is None:
        return s_sort_order(direction, k, *values)
    order = np.argsort(stack[:-1], axis=0, kind="stable")
    n = len(values)
    return _choose(direction, order[int(k)].astype(float), order[n - 1 - int(k)].astype(float))


def v_rank(direction, i, *values):
    stack = _stack((*values, direction))
    if stack is None:
        return s_rank(direction, i, *values)
    order = np.argsort(stack[:-1], axis=0, kind="stable")
    pos = np.argmax(order == int(i), axis=0).astype(float)
    return _choose(direction, pos + 1, len(values) - pos)


def v_pick(position, *values):
    stack = _stack((*values, position))
    if stack is None:
        return s_pick(position, *values)
    pos, n = stack[-1], len(values)
    ok = (pos > -1) & (pos < n)
    idx = np.where(ok, pos, 0).astype(int)
    return np.where(ok, np.take_along_axis(stack[:-1], idx[None, :], axis=0)[0], np.nan)


def v_inverse(n, i, j, *values):
    stack = _stack(values)
    if stack is None:
        return s_inverse(n, i, j, *values)
    n = int(n)
    mats = np.moveaxis(stack.reshape(n, n, -1), -1, 0)
    out = np.full(mats.shape[0], np.nan)
    try:
        out[:] = np.linalg.inv(mats)[:, int(i), int(j)]
    except np.linalg.LinAlgError:  # some worlds' matrices are singular: invert one by one
        for w, m in enumerate(mats):
            out[w] = _inverse(n, tuple(m.ravel().tolist()))[int(i) * n + int(j)]
    return out


#: IR call name -> (scalar kernel, vector kernel).
KERNELS = {
    "vector_sort_order": (s_sort_order, v_sort_order),
    "vector_rank": (s_rank, v_rank),
    "vector_pick": (s_pick, v_pick),
    "invert_matrix": (s_inverse, v_inverse),
}
