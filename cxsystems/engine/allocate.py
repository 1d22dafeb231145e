"""Vensim's allocation functions, ALLOCATE AVAILABLE and ALLOCATE BY PRIORITY, over arrays of worlds.

Both share a supply among requesters by *priority*: each requester ``i`` has a demand curve
``request[i] * fraction_i(x)`` that falls from its whole request to 0 as a priority level ``x``
rises, and the supply is shared out at the level ``x`` where the curves sum to the supply
(Vensim's "Allocation Overview"). When the supply covers every request, every request is filled;
when it is 0 (or less), nothing is allocated.

ALLOCATE AVAILABLE reads each curve from a priority profile ``(ptype, ppriority, pwidth, pextra)``;
the curve is the complementary integral of the named shape, centred on ``ppriority``:

* ``ptype 0``, fixed quantity: the whole request at every level (the other elements are ignored);
* ``ptype 1``, rectangular: falls linearly over a width ``pwidth``;
* ``ptype 2``, triangular: the integral of a triangle of full width ``pwidth``;
* ``ptype 3``, normal: ``pwidth`` is the standard deviation;
* ``ptype 4``, exponential: ``0.5 * exp(-|x - ppriority| / pwidth)`` integrated symmetrically.

``ptype 5`` (constant elasticity) and the integer allocations (``ptype`` 10 and above) are not
reproduced: they give NaN, as do a negative request, a width that is not positive for a
non-fixed curve, and a supply smaller than the fixed quantities it must cover (no level then
clears the supply). ALLOCATE BY PRIORITY is ALLOCATE AVAILABLE with rectangular curves of one
common ``width`` centred on each requester's priority: higher priorities are served first, a
lower one starts receiving once the priority gap to it is less than ``width``.

The level is exact for rectangular curves (their sum is piecewise linear: the segment between
two corners that crosses the supply) and found by bisection to machine precision otherwise, in
every world at once; the result is the blend of the curves' values at the two ends of the final
bracket that sums to the supply (to rounding): no root finder's tolerance reaches the numbers.
Arrays are ``(worlds, requesters)``; the supply is ``(worlds,)``.
"""

from __future__ import annotations

import math

import numpy as np

#: The ptype codes reproduced (Vensim's numbering).
PTYPES = {0: "fixed quantity", 1: "rectangular", 2: "triangular", 3: "normal", 4: "exponential"}

#: Half-widths (in ``pwidth``) beyond which each curve is exactly 1 or exactly 0 in doubles:
#: rectangular and triangular end at ``pwidth / 2``; ``erfc(40 / sqrt 2)`` and ``exp(-750)``
#: underflow to 0.
_REACH = {1: 0.5, 2: 0.5, 3: 40.0, 4: 750.0}
#: Bisection halvings at most (the bracket is exhausted long before: each halving is one bit).
_MAX_HALVINGS = 1100


def _erfc(z):
    from scipy.special import erfc

    return erfc(z)


def demand_fraction(ptype, x, priority, width):
    """The fraction of its request a requester's curve gives at priority level ``x`` (arrays
    broadcast): 1 well below ``priority``, 0 well above, ``ptype`` choosing the shape (NaN for a
    ptype not in :data:`PTYPES`)."""
    ptype = np.asarray(ptype)
    with np.errstate(all="ignore"):
        d = (np.asarray(x, dtype=float) - priority) / width
        out = np.where(ptype == 0, 1.0, np.nan) * np.ones_like(d)
        if (ptype == 1).any():
            out = np.where(ptype == 1, np.clip(0.5 - d, 0.0, 1.0), out)
        if (ptype == 2).any():
            tri = np.where(d <= 0, 1.0 - 2.0 * np.square(np.clip(d + 0.5, 0.0, 0.5)),
                           2.0 * np.square(np.clip(0.5 - d, 0.0, 0.5)))
            out = np.where(ptype == 2, tri, out)
        if (ptype == 3).any():
            out = np.where(ptype == 3, 0.5 * _erfc(d / math.sqrt(2.0)), out)
        if (ptype == 4).any():
            out = np.where(ptype == 4, np.where(d < 0, 1.0 - 0.5 * np.exp(d), 0.5 * np.exp(-d)), out)
    return out


def allocate_available(request, ptype, priority, width, supply):
    """ALLOCATE AVAILABLE in every world: ``(worlds, n)`` allocations of ``supply`` (``(worlds,)``)
    among ``request`` by the profiles ``ptype``, ``priority``, ``width`` (each ``(worlds, n)``)."""
    request, ptype, priority, width = (np.asarray(a, dtype=float) for a in (request, ptype, priority, width))
    supply = np.asarray(supply, dtype=float)
    with np.errstate(all="ignore"):
        total = request.sum(axis=1)
        active = (request > 0) & (ptype != 0)
        fixed = np.where(ptype == 0, request, 0.0).sum(axis=1)
        bad = (np.isnan(supply) | np.isnan(request).any(axis=1) | (request < 0).any(axis=1)
               | ~np.isin(ptype, list(PTYPES)).all(axis=1)
               | (active & ~((width > 0) & np.isfinite(priority))).any(axis=1)
               | ((supply > 0) & (supply < total) & (supply < fixed)))
        reach = np.select([ptype == k for k in _REACH], list(_REACH.values()), default=0.0) * width
        lo = np.where(active, priority - reach, np.inf).min(axis=1)
        hi = np.where(active, priority + reach, -np.inf).max(axis=1)
        solve = ~bad & (supply > 0) & (supply < total) & np.isfinite(lo) & np.isfinite(hi)
        out = np.where(supply[:, None] >= total[:, None], request, 0.0)
        if solve.any():
            out[solve] = _solve(request[solve], ptype[solve], priority[solve], width[solve],
                                supply[solve], lo[solve], hi[solve])
        out[bad] = np.nan
    return out


def _curves(request, ptype, priority, width, x):
    return np.where(request > 0, request * demand_fraction(ptype, x[:, None], priority, width), 0.0)


def _solve(request, ptype, priority, width, supply, lo, hi):
    """The allocations at the level where the curves sum to ``supply``: the bracket ``lo, hi``
    narrowed (the exact segment for rectangular curves, bisection otherwise), then the blend."""
    linear = ((ptype == 1) | (request <= 0) | (ptype == 0)).all(axis=1)
    lo, hi = lo.copy(), hi.copy()
    if linear.any():
        args = (request[linear], ptype[linear], priority[linear], width[linear], supply[linear])
        lo[linear], hi[linear] = _segment(*args)
    if not linear.all():
        bis = ~linear
        args = (request[bis], ptype[bis], priority[bis], width[bis], supply[bis])
        lo[bis], hi[bis] = _bisect(*args, lo[bis], hi[bis])
    return _blend(request, ptype, priority, width, supply, lo, hi)


def _segment(request, ptype, priority, width, supply):
    """Rectangular curves sum to a piecewise-linear curve: the two corners it crosses the
    supply between (every curve's corners, ``priority -+ width / 2``, sorted)."""
    active = (request > 0) & (ptype == 1)
    corners = np.where(np.concatenate([active, active], axis=1),
                       np.concatenate([priority - 0.5 * width, priority + 0.5 * width], axis=1), np.nan)
    corners = np.sort(corners, axis=1)  # NaN last
    with np.errstate(all="ignore"):  # every corner at once: (worlds, corners, requesters)
        each = request[:, None, :] * demand_fraction(ptype[:, None, :], corners[:, :, None],
                                                     priority[:, None, :], width[:, None, :])
    sums = np.where(request[:, None, :] > 0, each, 0.0).sum(axis=2)
    k = np.maximum((sums > supply[:, None]).sum(axis=1) - 1, 0)  # the last corner above the supply
    rows = np.arange(len(k))
    return corners[rows, k], corners[rows, np.minimum(k + 1, corners.shape[1] - 1)]


def _bisect(request, ptype, priority, width, supply, lo, hi):
    """Halve the bracket in every world until no double lies strictly between its ends."""
    for _ in range(_MAX_HALVINGS):
        mid = 0.5 * (lo + hi)
        open_ = (mid > lo) & (mid < hi)
        if not open_.any():
            break
        over = _curves(request, ptype, priority, width, mid).sum(axis=1) > supply
        lo = np.where(open_ & over, mid, lo)
        hi = np.where(open_ & ~over, mid, hi)
    return lo, hi


def _blend(request, ptype, priority, width, supply, lo, hi):
    """The curves' values at both ends of the bracket, blended so that they sum to ``supply``
    (exact where the curves are linear between the ends)."""
    a_lo = _curves(request, ptype, priority, width, lo)
    a_hi = _curves(request, ptype, priority, width, hi)
    s_lo, s_hi = a_lo.sum(axis=1), a_hi.sum(axis=1)
    gap = s_lo - s_hi
    w = np.where(gap > 0, (supply - s_hi) / np.where(gap > 0, gap, 1.0), 0.0)
    return a_hi + (a_lo - a_hi) * w[:, None]


def allocate_by_priority(request, priority, width, supply):
    """ALLOCATE BY PRIORITY in every world: rectangular curves of the common ``width``
    (``(worlds,)``) centred on each ``priority`` (``(worlds, n)``)."""
    request = np.asarray(request, dtype=float)
    width = np.broadcast_to(np.asarray(width, dtype=float)[:, None], request.shape)
    return allocate_available(request, np.ones_like(request), priority, width, supply)


# ------------------------------------------------------------------------------------- kernels


def _compute(kind: str, n: int, args) -> np.ndarray:
    """The ``(worlds, n)`` allocations from a kernel's flat arguments (see :func:`kernel`)."""
    cols = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=float)) for a in args))
    block = lambda k: np.stack(cols[k * n:(k + 1) * n], axis=1)  # noqa: E731
    if kind == "allocate_available":
        return allocate_available(block(0), block(1), block(2), block(3), cols[4 * n])
    return allocate_by_priority(block(0), block(1), cols[2 * n], cols[2 * n + 1])


def kernel(kind: str, vector: bool):
    """The engine kernel of ``kind`` (``allocate_available`` or ``allocate_by_priority``) in the
    scalar or vector flavour: ``f(i, n, *args)`` is requester ``i``'s allocation among ``n``.

    ``args`` are, for ALLOCATE AVAILABLE, the ``n`` requests, ``n`` ptypes, ``n`` priorities,
    ``n`` widths, then the supply; for ALLOCATE BY PRIORITY the ``n`` requests, ``n``
    priorities, the width and the supply. Every element of one allocation calls the kernel with
    the same arguments in turn, so the last arguments and their allocations are remembered (a
    copy, compared by value) and the level is solved once for them all.
    """
    memo: list = [None]

    def f(i, n, *args):
        n = int(n)
        key = tuple(np.array(a, dtype=float) for a in args) if vector else args
        hit = memo[0]
        if hit is not None and len(hit[0]) == len(key) and (
                all(np.array_equal(a, b) for a, b in zip(hit[0], key)) if vector else hit[0] == key):
            out = hit[1]
        else:
            out = _compute(kind, n, args)
            memo[0] = (key, out)
        col = out[:, int(i)]
        if vector and col.size > 1:
            return col.copy()
        return float(col[0])

    return f


# --------------------------------------------------------------------------------- JavaScript

#: The same allocations in JavaScript (:mod:`cxsystems.engine.jsgen` adds them to a model's code
#: when it allocates): ``allocAv(i, n, args)`` and ``allocBp(i, n, args)`` take the kernels'
#: arguments as an array, solve as above (curves, bracket, exact segment or bisection, blend),
#: remember the last arguments, and return requester ``i``'s share. ``aErfc`` is the
#: complementary error function (a series below 2, a continued fraction above; about 1e-15).
JAVASCRIPT = r"""
function aErfc(x) {
  if (x !== x) return NaN;
  if (x < 0) return 2 - aErfc(-x);
  var x2 = x * x;
  if (x < 2) {
    var term = x, sum = x;
    for (var k = 1; k < 300; k++) { term *= 2 * x2 / (2 * k + 1); sum += term; if (term < 1e-17 * sum) break; }
    return 1 - 2 / Math.sqrt(Math.PI) * Math.exp(-x2) * sum;
  }
  if (x > 27.3) return 0;
  var f = x;
  for (var j = 400; j >= 1; j--) f = x + (j / 2) / f;
  return Math.exp(-x2) / Math.sqrt(Math.PI) / f;
}
function aClip(v, lo, hi) { return v < lo ? lo : (v > hi ? hi : v); }
function aFrac(t, x, p, w) {
  if (t === 0) return 1;
  var d = (x - p) / w;
  if (t === 1) return aClip(0.5 - d, 0, 1);
  if (t === 2) {
    if (d <= 0) { var c = aClip(d + 0.5, 0, 0.5); return 1 - 2 * (c * c); }
    var e = aClip(0.5 - d, 0, 0.5); return 2 * (e * e);
  }
  if (t === 3) return 0.5 * aErfc(d / Math.SQRT2);
  if (t === 4) return d < 0 ? 1 - 0.5 * Math.exp(d) : 0.5 * Math.exp(-d);
  return NaN;
}
function aCurves(q, t, p, w, x) {
  var out = new Array(q.length);
  for (var i = 0; i < q.length; i++) out[i] = q[i] > 0 ? q[i] * aFrac(t[i], x, p[i], w[i]) : 0;
  return out;
}
function aSum(v) { var s = 0; for (var i = 0; i < v.length; i++) s += v[i]; return s; }
var A_REACH = [0, 0.5, 0.5, 40, 750];
function aAllocate(q, t, p, w, supply) {
  var n = q.length, total = aSum(q), fixed = 0, bad = supply !== supply, linear = true, i;
  var lo = Infinity, hi = -Infinity, corners = [];
  for (i = 0; i < n; i++) {
    if (t[i] === 0) fixed += q[i];
    if (q[i] !== q[i] || q[i] < 0 || !(t[i] === 0 || t[i] === 1 || t[i] === 2 || t[i] === 3 || t[i] === 4)) bad = true;
    if (q[i] > 0 && t[i] !== 0) {
      if (!(w[i] > 0 && isFinite(p[i]))) bad = true;
      lo = Math.min(lo, p[i] - A_REACH[t[i]] * w[i]);
      hi = Math.max(hi, p[i] + A_REACH[t[i]] * w[i]);
      if (t[i] !== 1) linear = false;
      corners.push(p[i] - 0.5 * w[i], p[i] + 0.5 * w[i]);
    }
  }
  if (supply > 0 && supply < total && supply < fixed) bad = true;
  if (bad) return q.map(function () { return NaN; });
  if (supply >= total) return q.slice();
  if (!(supply > 0) || !isFinite(lo) || !isFinite(hi)) return q.map(function () { return 0; });
  if (linear) {
    corners.sort(function (a, b) { return a - b; });
    var above = 0;
    for (i = 0; i < corners.length; i++) if (aSum(aCurves(q, t, p, w, corners[i])) > supply) above++;
    var k = Math.max(above - 1, 0);
    lo = corners[k]; hi = corners[Math.min(k + 1, corners.length - 1)];
  } else {
    for (var h = 0; h < 1100; h++) {
      var mid = 0.5 * (lo + hi);
      if (!(mid > lo && mid < hi)) break;
      if (aSum(aCurves(q, t, p, w, mid)) > supply) lo = mid; else hi = mid;
    }
  }
  var aLo = aCurves(q, t, p, w, lo), aHi = aCurves(q, t, p, w, hi);
  var gap = aSum(aLo) - aSum(aHi), f = gap > 0 ? (supply - aSum(aHi)) / gap : 0;
  return aHi.map(function (v, j) { return v + (aLo[j] - v) * f; });
}
var A_MEMO = {};
function aMemo(kind, args, solve) {
  var m = A_MEMO[kind];
  if (m && m.args.length === args.length && m.args.every(function (v, j) { return v === args[j]; })) return m.out;
  var out = solve();
  A_MEMO[kind] = {args: args, out: out};
  return out;
}
function allocAv(i, n, a) {
  return aMemo("av", a, function () {
    return aAllocate(a.slice(0, n), a.slice(n, 2 * n), a.slice(2 * n, 3 * n), a.slice(3 * n, 4 * n), a[4 * n]);
  })[i];
}
function allocBp(i, n, a) {
  return aMemo("bp", a, function () {
    var ones = [], ws = [];
    for (var j = 0; j < n; j++) { ones.push(1); ws.push(a[2 * n]); }
    return aAllocate(a.slice(0, n), ones, a.slice(n, 2 * n), ws, a[2 * n + 1]);
  })[i];
}
"""
