/* cxsystems workshop: plain-language reading of a run against the baseline (MIT, cxsystems).
 *
 * A port of cxsystems.analysis.metrics.classify_trajectory / against_baseline (same rule, same numbers):
 *   advantage a(t) = s * (values(t) - baseline(t)), s = +1 if higher is better, -1 if lower;
 *   tolerance tol = max(rtol * max|baseline|, atol); a point is significant when |a| > tol;
 *   class from the sign of the first significant point and of the final one (the last point if
 *   significant, else the last significant point).
 * No DOM here: the page and tests/test_workshop_page.py (through Node) both use it.
 */
var CXReading = (function () {
  "use strict";
  var DEFAULT_ATOL = 1e-12;
  var CLASSES = ["better", "worse", "better-before-worse", "worse-before-better", "no change"];

  function sign(better) {
    if (better === "higher") return 1;
    if (better === "lower") return -1;
    throw new Error("better = " + JSON.stringify(better) + "; use 'lower' or 'higher'");
  }

  function advantage(values, base, better) {
    var s = sign(better), n = values.length, a = new Array(n);
    for (var i = 0; i < n; i++) a[i] = s * (values[i] - base[i]);
    return a;
  }

  function tolerance(base, rtol, atol) {
    var scale = 0;
    for (var i = 0; i < base.length; i++) {
      var v = Math.abs(base[i]);
      if (v > scale) scale = v;
    }
    return Math.max(rtol * scale, atol === undefined ? DEFAULT_ATOL : atol);
  }

  function classOf(a, tol) {
    var first = -1, last = -1;
    for (var i = 0; i < a.length; i++) {
      if (Math.abs(a[i]) > tol) {
        if (first < 0) first = i;
        last = i;
      }
    }
    if (first < 0) return "no change";
    var f = a[first] > 0, l = a[last] > 0;
    if (f && l) return "better";
    if (!f && !l) return "worse";
    return f ? "better-before-worse" : "worse-before-better";
  }

  function allFinite(xs) {
    for (var i = 0; i < xs.length; i++) if (!isFinite(xs[i])) return false;
    return xs.length > 0;
  }

  function classify(values, base, better, rtol, atol) {
    if (!allFinite(values) || !allFinite(base) || values.length !== base.length) return "not finite";
    var a = advantage(values, base, better);
    return classOf(a, tolerance(base, rtol, atol));
  }

  /* Numbers behind the reading; the fields match metrics.against_baseline, plus
   * stays_worse_from_week (earliest week from which a < -tol to the end, NaN if it does not end worse),
   * final_change_pct (100 * (value - baseline) / |baseline| at the end: the variable's own change). */
  function againstBaseline(times, values, base, better, rtol, atol) {
    var n = times.length;
    if (!allFinite(values) || !allFinite(base) || values.length !== n || base.length !== n) {
      return {classification: "not finite"};
    }
    var a = advantage(values, base, better), tol = tolerance(base, rtol, atol);
    var iWorst = 0;
    for (var i = 1; i < n; i++) if (a[i] < a[iWorst]) iWorst = i;
    var worst = 0, worstWeek = NaN;
    if (a[iWorst] < -tol) { worst = a[iWorst]; worstWeek = times[iWorst]; }
    function staysFrom(test) {
      if (!test(a[n - 1])) return NaN;
      var j = n - 1;
      while (j > 0 && test(a[j - 1])) j--;
      return times[j];
    }
    // phases of the significant points, for the sentence (not in metrics.against_baseline)
    var lastSig = -1, lastPos = -1, lastNeg = -1, firstPos = -1, firstNeg = -1;
    for (var k = 0; k < n; k++) {
      if (a[k] > tol) { lastPos = k; if (firstPos < 0) firstPos = k; }
      else if (a[k] < -tol) { lastNeg = k; if (firstNeg < 0) firstNeg = k; }
    }
    lastSig = Math.max(lastPos, lastNeg);
    function firstAfter(from, positive) {
      for (var m = from + 1; m < n; m++) if (positive ? a[m] > tol : a[m] < -tol) return m;
      return -1;
    }
    var finalPositive = lastSig >= 0 && a[lastSig] > 0;
    var turn = lastSig < 0 ? -1 : finalPositive ? (lastNeg < 0 ? -1 : firstAfter(lastNeg, true))
                                                : (lastPos < 0 ? -1 : firstAfter(lastPos, false));
    var final = a[n - 1] + 0, baseFinal = Math.abs(base[n - 1]);
    return {
      worst_shortfall: worst,
      worst_shortfall_week: worstWeek,
      stays_better_from_week: staysFrom(function (x) { return x > tol; }),
      stays_worse_from_week: staysFrom(function (x) { return x < -tol; }),
      final_advantage: final,
      final_advantage_pct: baseFinal > 0 ? 100 * final / baseFinal + 0 : NaN,
      final_change_pct: baseFinal > 0 ? 100 * (values[n - 1] - base[n - 1]) / baseFinal : NaN,
      final_significant: lastSig === n - 1,
      last_significant_higher: lastSig >= 0 ? values[lastSig] > base[lastSig] : null,
      level_from_week: lastSig >= 0 && lastSig < n - 1 ? times[lastSig + 1] : NaN,
      turn_week: turn >= 0 ? times[turn] : NaN,
      better_weeks: firstPos >= 0 ? [times[firstPos], times[lastPos]] : null,
      worse_weeks: firstNeg >= 0 ? [times[firstNeg], times[lastNeg]] : null,
      classification: classOf(a, tol)
    };
  }

  function fmtWeek(w) {
    return "week " + fmtNum(w);
  }

  function fmtPct(p) {
    var x = Math.abs(p);
    return (x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toPrecision(1)) + "%";
  }

  /* One sentence for an outcome, e.g.
   * "worse before better (worse at first, better from week 30; ends 12% lower)". */
  function sentence(r, better, rtolPct) {
    var c = r.classification;
    if (c === "not finite") return "the run produced values that are not numbers";
    if (c === "no change") return "no change (stays within " + rtolPct + "% of the baseline's largest value)";
    var end;
    if (r.final_significant && isFinite(r.final_change_pct)) {
      end = "ends " + fmtPct(r.final_change_pct) + (r.final_change_pct < 0 ? " lower" : " higher");
    } else {
      end = "level with the baseline again from " + fmtWeek(r.level_from_week);
    }
    function span(w) {
      return w[0] === w[1] ? "around " + fmtWeek(w[0]) : "weeks " + fmtNum(w[0]) + " to " + fmtNum(w[1]);
    }
    var parts = [];
    if (c === "worse-before-better") {
      parts.push("worse at first" + (isFinite(r.turn_week) ? ", better from " + fmtWeek(r.turn_week) : ""));
    } else if (c === "better-before-worse") {
      parts.push("better at first" + (isFinite(r.turn_week) ? ", worse from " + fmtWeek(r.turn_week) : ""));
    } else if (c === "better" && r.worse_weeks) {
      parts.push("but worse for a while, " + span(r.worse_weeks));
    } else if (c === "worse" && r.better_weeks) {
      parts.push("but better for a while, " + span(r.better_weeks));
    }
    parts.push(end);
    return c.replace(/-/g, " ") + " (" + parts.join("; ") + ")";
  }

  function fmtNum(w) {
    return (Math.round(w * 100) / 100).toString();
  }

  return {
    CLASSES: CLASSES,
    DEFAULT_ATOL: DEFAULT_ATOL,
    advantage: advantage,
    tolerance: tolerance,
    classify: classify,
    againstBaseline: againstBaseline,
    sentence: sentence
  };
})();
if (typeof module !== "undefined" && module.exports) module.exports = CXReading;
