"""The fixed part of the generated JavaScript: numeric helpers and the simulation loop.

Nothing here depends on a model. :mod:`cxsystems.engine.jsgen` fills the model-specific
parts (constants, lookup tables and the generated ``init``/``crit``/``save``/``deriv``/``discIn``/
``discUp`` functions) around it. Every helper reproduces the engine's scalar kernel of the same
name (:mod:`cxsystems.engine.kernels`) operation by operation, including Python's float semantics
where JavaScript differs (``%``, ``**``, truthiness of NaN, the sign of ``int()``'s zero).
Values are always JavaScript numbers: comparisons yield 1 or 0, and truth is ``x !== 0`` (NaN is
true, as in Python).
"""

from __future__ import annotations

#: Helpers shared by every model (plain ES2017, no model text).
HELPERS = r"""
var SMALL = 1e-6;
function mn(a, b) { return (b < a || b !== b) ? b : a; }
function mx(a, b) { return (b > a || b !== b) ? b : a; }
function spow(a, b) {
  if (a === 1 || b === 0) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  var r = Math.pow(a, b);
  if ((r === Infinity || r === -Infinity) && isFinite(a) && isFinite(b)) return Infinity;
  return r;
}
function npow(a, b) {
  if (a === 1 || b === 0) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  return Math.pow(a, b);
}
function itrunc(x) { return Math.trunc(x) + 0; }
function pymod(a, b) {
  var r = a % b;
  if (r !== 0) { if ((b < 0) !== (r < 0)) r += b; } else { r = b < 0 ? -0 : 0; }
  return r;
}
function quantum(a, b) { return b < SMALL ? a : b * itrunc(a / b); }
function modulo(x, m) { return x - quantum(x, m); }
function xidz(a, b, x) { return Math.abs(b) < SMALL ? x : a / b; }
function zidz(a, b) { return Math.abs(b) < SMALL ? 0 : a / b; }
function step(t, half, v, s) { return v * (t + half > s ? 1 : 0); }
function ramp2(t, slope, start) { return (t + SMALL > start ? 1 : 0) * slope * (t - start); }
function ramp3(t, slope, start, finish) {
  return (t + SMALL > start ? 1 : 0) * slope * (mn(finish, t) - start);
}
function pulse(t, start, width) { return (start - SMALL <= t && t < start + width) ? 1 : 0; }
function ptrain(t, start, repeat, width, end) {
  if (repeat === 0) return (start - SMALL <= t && t < start + width) ? 1 : 0;
  if (start <= t && t < end) return pymod(t - start + SMALL, repeat) < width ? 1 : 0;
  return 0;
}
function mkTable(xs, ys, sl) {
  var n = xs.length, x0 = xs[0], xn = xs[n - 1], y0 = ys[0], yn = ys[n - 1];
  return function (x) {
    if (x < xn) {
      if (x <= x0) return y0;
      var j = 0;
      while (xs[j + 1] <= x) j++;
      return sl[j] * (x - xs[j]) + ys[j];
    }
    if (x >= xn) return yn;
    return NaN;
  };
}
function mkData(xs, ys, mode) {
  // a data series at time t (cxsystems.engine.data.data_series_at): hold_backward (1),
  // look_forward (2) or raw (3)
  var n = xs.length;
  return function (t) {
    var j = 0;
    while (j < n && xs[j] < t) j++;
    if (j < n && xs[j] === t) return ys[j];
    if (mode === 3) return NaN;
    if (j === n) return ys[n - 1];
    if (j === 0) return ys[0];
    return mode === 1 ? ys[j - 1] : ys[j];
  };
}
function norm(name) {
  return String(name).replace(/_/g, " ").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
}
function fail(msg) { throw new Error(msg); }
function ordv(x, owner) {
  if (!(x === Math.trunc(x)) || x < 1) {
    fail("engine: " + JSON.stringify(owner) + ": order must be a whole number >= 1, got " + x);
  }
  return x;
}
function dlow(order, tmin, owner) {
  var o = order;
  while (o * DT > tmin && o > 0) o -= 1;
  if (o < 1) fail("engine: " + JSON.stringify(owner) + ": delay time shorter than TIME STEP");
  return o;
}
function rhe(x) {
  var f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
function dfo(T) { return rhe(mx(T / DT, 1) + SMALL); }
function alloc(S, TM, n) {
  var o = S.length;
  for (var i = 0; i < n; i++) { S.push(0); TM.push(0); }
  return o;
}
// Random draws: the numpy engine's counter-based generator (SplitMix64's mixing function over
// (key, step, draw), kernels.uniforms) for world 0, in 32-bit halves (hi, lo) of 64-bit words.
var STEP = 0, TWO32 = 4294967296;
function mul64(ah, al, bh, bl) {
  var a = [al % 65536, Math.floor(al / 65536), ah % 65536, Math.floor(ah / 65536)];
  var b = [bl % 65536, Math.floor(bl / 65536), bh % 65536, Math.floor(bh / 65536)];
  var c = [0, 0, 0, 0], i, j, carry = 0;
  for (i = 0; i < 4; i++) for (j = 0; i + j < 4; j++) c[i + j] += a[i] * b[j];
  for (i = 0; i < 4; i++) { c[i] += carry; carry = Math.floor(c[i] / 65536); c[i] = c[i] % 65536; }
  return [c[3] * 65536 + c[2], c[1] * 65536 + c[0]];
}
function shr64(h, l, s) { return [h >>> s, ((l >>> s) | (h << (32 - s))) >>> 0]; }
function xor64(a, b) { return [(a[0] ^ b[0]) >>> 0, (a[1] ^ b[1]) >>> 0]; }
function add64(a, b) {
  var lo = a[1] + b[1], carry = lo >= TWO32 ? 1 : 0;
  return [(a[0] + b[0] + carry) % TWO32, lo % TWO32];
}
var GOLDEN = [0x9E3779B9, 0x7F4A7C15], MIX1 = [0xBF58476D, 0x1CE4E5B9], MIX2 = [0x94D049BB, 0x133111EB];
function mix64(x) {
  x = xor64(x, shr64(x[0], x[1], 30)); x = mul64(x[0], x[1], MIX1[0], MIX1[1]);
  x = xor64(x, shr64(x[0], x[1], 27)); x = mul64(x[0], x[1], MIX2[0], MIX2[1]);
  return xor64(x, shr64(x[0], x[1], 31));
}
function rdraw(kh, kl, step) {
  var h = GOLDEN, parts = [[kh, kl], [Math.floor(step / TWO32), step % TWO32], [0, 0]];
  for (var i = 0; i < 3; i++) h = add64(mix64(xor64(h, parts[i])), GOLDEN);
  var x = mix64(h);
  return (x[0] * 2097152 + (x[1] >>> 11) + 0.5) * (1 / 9007199254740992);
}
function rfail(owner, msg) { fail("engine: " + msg + " (in " + JSON.stringify(owner) + ")"); }
function r01(u, owner) { return u; }
function runif(u, lo, hi, owner) {
  if (!(lo <= hi)) rfail(owner, "RANDOM UNIFORM: min is greater than max");
  return lo + (hi - lo) * u;
}
function rexpo(u, lo, hi, shift, stretch, owner) {
  if (!(lo <= hi)) rfail(owner, "RANDOM EXPONENTIAL: min is greater than max");
  if (!(stretch > 0)) rfail(owner, "RANDOM EXPONENTIAL: stretch must be positive");
  var a = mx((lo - shift) / stretch, 0), b = (hi - shift) / stretch;
  if (!(b >= a)) rfail(owner, "RANDOM EXPONENTIAL: [min, max] lies below the shift");
  var x = a - Math.log1p(u * Math.expm1(-(b - a)));
  return shift + stretch * mn(mx(x, a), b);
}
function rtri(u, lo, hi, a, c, b, owner) {
  if (!(a <= c && c <= b && a < b)) rfail(owner, "RANDOM TRIANGULAR: needs start <= peak <= finish, start < finish");
  var width = b > a ? b - a : 1;
  function cdf(x) {
    x = mn(mx(x, a), b);
    if (x <= c) return c > a ? (x - a) * (x - a) / (width * (c - a)) : 0;
    return 1 - (b - x) * (b - x) / (width * (b > c ? b - c : 1));
  }
  var lo2 = mx(lo, a), hi2 = mn(hi, b);
  if (!(lo2 <= hi2)) rfail(owner, "RANDOM TRIANGULAR: [min, max] misses [start, finish]");
  var p = cdf(lo2) + u * (cdf(hi2) - cdf(lo2)), fc = (c - a) / width;
  var x = p < fc ? a + Math.sqrt(p * width * (c - a)) : b - Math.sqrt((1 - p) * width * (b - c));
  return mn(mx(x, lo2), hi2);
}
function pval(s, t) {
  for (var i = s.steps.length - 1; i >= 0; i--) {
    if (t >= s.steps[i][0]) return s.steps[i][1];
  }
  return s.base;
}
// Vector and matrix functions (cxsystems.engine.vectors): ascending order, ties in element
// order, NaN last; descending is that order reversed.
function vorder(v) {
  var idx = [], i;
  for (i = 0; i < v.length; i++) idx.push(i);
  return idx.sort(function (a, b) {
    var x = v[a], y = v[b], nx = x !== x, ny = y !== y;
    if (nx !== ny) return nx ? 1 : -1;
    if (!nx && x < y) return -1;
    if (!nx && x > y) return 1;
    return a - b;
  });
}
function vsort(dir, k, v) { var o = vorder(v); return dir > 0 ? o[k] : o[v.length - 1 - k]; }
function vrank(dir, i, v) { var p = vorder(v).indexOf(i); return dir > 0 ? p + 1 : v.length - p; }
function vpick(p, v) { return (p > -1 && p < v.length) ? v[Math.trunc(p)] : NaN; }
function minv(n, i, j, v) {
  // Gauss-Jordan elimination with partial pivoting on [A | I]; NaN when a pivot is 0
  var a = [], r, c, k;
  for (r = 0; r < n; r++) {
    a.push([]);
    for (c = 0; c < 2 * n; c++) a[r].push(c < n ? v[r * n + c] : (c - n === r ? 1 : 0));
  }
  for (c = 0; c < n; c++) {
    var p = c;
    for (r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    if (!(a[p][c] !== 0)) return NaN;
    var tmp = a[p]; a[p] = a[c]; a[c] = tmp;
    var d = a[c][c];
    for (k = 0; k < 2 * n; k++) a[c][k] /= d;
    for (r = 0; r < n; r++) {
      if (r === c || a[r][c] === 0) continue;
      var f = a[r][c];
      for (k = 0; k < 2 * n; k++) a[r][k] -= f * a[c][k];
    }
  }
  return a[i][n + j];
}
"""

#: Parameter resolution and the integration loop (PySD's Euler, as the engine runs it).
SIMULATE = r"""
var PBYNAME = new Map(), PBYNORM = new Map(), VBYNAME = new Map(), VBYNORM = new Map();
PLIST.forEach(function (p) { PBYNAME.set(p.name, p); PBYNORM.set(norm(p.name), p); });
VARIABLES.forEach(function (v, j) { VBYNAME.set(v, j); VBYNORM.set(norm(v), j); });
function put(obj, key, value) {
  Object.defineProperty(obj, key, {value: value, enumerable: true, writable: true, configurable: true});
}
var PARAMETERS = {};
PLIST.forEach(function (p) { put(PARAMETERS, p.name, {value: p.value, units: p.units, min: p.min, max: p.max}); });
var SAVEDF = new Uint8Array(NT);
SAVED.forEach(function (k) { SAVEDF[k] = 1; });
function fmt(x) { return x === null || x !== x ? "?" : String(x); }
function findParam(name, where) {
  var p = PBYNAME.get(name);
  if (p === undefined) p = PBYNORM.get(norm(name));
  if (p === undefined) fail(where + ": unknown parameter " + JSON.stringify(String(name)) + " in model " + NAME);
  return p;
}
function number(v) {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "") return Number(v);
  return NaN;
}
function checkParam(p, v) {
  var x = number(v);
  if (x !== x) fail("params: " + JSON.stringify(p.name) + " must be a number, got " + String(v));
  if (!isFinite(x)) fail("params: " + JSON.stringify(p.name) + " must be finite, got " + String(v));
  if ((p.min !== null && x < p.min) || (p.max !== null && x > p.max)) {
    fail("params: " + JSON.stringify(p.name) + " = " + x + " is outside its range [" + fmt(p.min) + ", " +
         fmt(p.max) + "] " + p.units);
  }
  return x;
}
function resolve(params, changes) {
  var set = {};
  if (params) {
    Object.keys(params).forEach(function (key) {
      var p = findParam(key, "params");
      set[p.slot] = {base: checkParam(p, params[key]), steps: []};
    });
  }
  (changes || []).forEach(function (ch) {
    var p = findParam(ch.parameter, "changes");
    var value = number(ch.value);
    if (value !== value && ch.value === ch.value) {
      fail("changes: " + JSON.stringify(p.name) + " must be a number, got " + String(ch.value));
    }
    var fw = ch.from_week;
    if (fw !== null && fw !== undefined && number(fw) !== number(fw)) {
      fail("changes: from_week of " + JSON.stringify(p.name) + " must be a number of weeks, got " + String(fw));
    }
    if (fw === null || fw === undefined) {
      set[p.slot] = {base: value, steps: []};
    } else {
      var prev = set[p.slot];
      var base = prev ? prev.base : p.value;
      var steps = prev ? prev.steps.slice() : [];
      steps.push([number(fw), value]);
      set[p.slot] = {base: base, steps: steps};
    }
  });
  return set;
}
function recorded(opts) {
  if (!opts || opts.variables === undefined || opts.variables === null) return VARIABLES.map(function (v, j) { return j; });
  var names = typeof opts.variables === "string" ? [opts.variables] : opts.variables;
  return Array.prototype.map.call(names, function (name) {
    var j = VBYNAME.get(name);
    if (j === undefined) j = VBYNORM.get(norm(name));
    if (j === undefined) fail("variables: unknown variable " + JSON.stringify(String(name)) + " in model " + NAME);
    return j;
  });
}
function simulate(params, changes, opts) {
  var set = resolve(params, changes);
  var which = recorded(opts);
  var V = new Float64Array(NSLOTS), RI = new Int32Array(NRI + 1), RF = new Float64Array(NRF + 1);
  var B = new Array(NB), X = new Float64Array(NX + 1);
  var S0 = [], TM0 = [], i, j, k;
  for (i = 0; i < NFIX; i++) { S0.push(0); TM0.push(0); }
  var dps = [], dpv = [];
  for (i = 0; i < PLIST.length; i++) {
    var p = PLIST[i], s = set[p.slot];
    if (s === undefined) { V[p.slot] = p.value; continue; }
    V[p.slot] = pval(s, T0);
    if (s.steps.length) { dps.push(p.slot); dpv.push(s); }
  }
  STEP = 0;
  init(V, S0, TM0, RI, RF, B, T0);
  var S = Float64Array.from(S0), TM = Float64Array.from(TM0);
  var D = new Float64Array(S.length), PD = new Float64Array(S.length);
  var nrec = which.length, rslots = new Int32Array(nrec + 1), outs = [];
  for (j = 0; j < nrec; j++) { rslots[j] = VAR_SLOTS[which[j]]; outs.push(new Float64Array(TIMES.length)); }
  var t = T0, ks = 0, ns = S.length, ndp = dps.length, last = NT - 1;
  var trace = opts && opts.trace ? [] : null;  // every TIME STEP's value table (loop dominance)
  for (k = 0; k < NT; k++) {
    STEP = k;
    if (k > 0) t = t + DT;
    for (j = 0; j < ndp; j++) V[dps[j]] = pval(dpv[j], t);
    crit(V, S, TM, RI, RF, t);
    if (SAVEDF[k] === 1) {
      save(V, S, TM, RI, RF, t);
      for (j = 0; j < nrec; j++) outs[j][ks] = V[rslots[j]];
      ks++;
    } else if (trace !== null) {
      save(V, S, TM, RI, RF, t);
    }
    if (trace !== null) trace.push(V.slice());
    if (k === last) break;
    discIn(V, X, RF, t);
    deriv(V, S, D, TM, PD, RI, t);
    for (i = 0; i < ns; i++) S[i] = S[i] + D[i] * DT;
    clip(S);
    discUp(V, RI, RF, B, X, TM, PD);
  }
  var values = {};
  for (j = 0; j < nrec; j++) put(values, VARIABLES[which[j]], outs[j]);
  var out = {times: TIMES.slice(), values: values};
  if (trace !== null) out.trace = trace;
  return out;
}
"""
