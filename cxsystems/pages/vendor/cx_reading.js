/* cxsystems workshop: plain-language reading of a run against the baseline (MIT, cxsystems).
 *
 * A port of cxsystems.analysis.metrics.read_trajectory (same rule, same numbers, same words):
 *   advantage a(t) = s * (values(t) - baseline(t)), s = +1 if higher is better, -1 if lower, so
 *   a > 0 is better for the organisation; tolerance tol = max(rtol * max|baseline|, atol); a point
 *   is significant when |a| > tol.
 *   Phases: maximal runs of significant points of one sign (insignificant points between two runs
 *   of the same sign do not split them).
 *   Judged advantage: s * (M(values) - M(baseline)), M the outcome's judge (final, mean, integral,
 *   max, min; numpy's pairwise sums), significant beyond tol (tol x the run's length for integral).
 *   Class: no significant point -> "no change"; only better -> "better"; only worse -> "worse";
 *   else first = sign of the first phase, final = sign of the last phase (the last point's when it
 *   is significant): first != final -> "worse-before-better" if final is better, else
 *   "better-before-worse"; first == final -> the judged sign (final's when not significant)
 *   equal to final gives final's class, else "better-before-worse" (judged better, ends worse)
 *   or "worse-before-better" (judged worse, ends better).
 * Numbers are formatted as cxsystems.text formats them (share, short_number, plain), so that the
 * description is the same text as in the CLI, summary.csv and the report.
 * No DOM here: the page and tests/pages/test_workshop_page.py (through Node) both use it.
 */
var CXReading = (function () {
  "use strict";
  var DEFAULT_ATOL = 1e-12;
  var DEFAULT_JUDGE = "mean";
  var CLASSES = ["better", "worse", "better-before-worse", "worse-before-better", "no change"];
  var JUDGES = ["final", "mean", "max", "min", "integral"];
  var JUDGE_WORDS = {"final": "the final value", "mean": "the mean", "integral": "the total",
                     "max": "the maximum", "min": "the minimum"};

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

  // ------------------------------------------------------------------ metrics (as numpy computes them)
  // numpy's pairwise summation of a contiguous float64 run (blocks of 128, eight accumulators)
  function pairwiseSum(a, lo, n) {
    var i, res;
    if (n < 8) {
      res = -0;
      for (i = 0; i < n; i++) res += a[lo + i];
      return res;
    }
    if (n <= 128) {
      var r = [a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]];
      for (i = 8; i < n - (n % 8); i += 8) {
        for (var j = 0; j < 8; j++) r[j] += a[lo + i + j];
      }
      res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[lo + i];
      return res;
    }
    var n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
  }

  function sum(a) {
    return pairwiseSum(a, 0, a.length);
  }

  /* One number summarising a trajectory: metrics.metric_value (final, mean, max, min, integral). */
  function metric(times, values, how) {
    var n = values.length, i, m;
    if (how === "final") return values[n - 1];
    if (how === "mean") return sum(values) / n;
    if (how === "max" || how === "min") {
      m = values[0];
      for (i = 1; i < n; i++) {
        if (how === "max" ? values[i] > m : values[i] < m) m = values[i];
      }
      return m;
    }
    if (how === "integral") {
      if (n < 2) return 0;
      var terms = new Array(n - 1);
      for (i = 0; i < n - 1; i++) terms[i] = (times[i + 1] - times[i]) * (values[i + 1] + values[i]) / 2;
      return sum(terms);
    }
    throw new Error("judge = " + JSON.stringify(how) + "; use " + JUDGES.join(", "));
  }

  // ------------------------------------------------------------------ the rule
  function phasesOf(times, a, base, tol) {
    var out = [], cur = null;
    for (var i = 0; i < a.length; i++) {
      if (!(Math.abs(a[i]) > tol)) continue;
      var pos = a[i] > 0;
      if (cur && cur.better === pos) {
        cur.last = i;
        if (Math.abs(a[i]) > Math.abs(a[cur.peak])) cur.peak = i;
      } else {
        cur = {better: pos, first: i, last: i, peak: i};
        out.push(cur);
      }
    }
    return out.map(function (p) {
      var peak = Math.abs(a[p.peak]), b = Math.abs(base[p.peak]);
      return {better: p.better, start_week: times[p.first], end_week: times[p.last], peak: peak,
              peak_week: times[p.peak], peak_pct: b > 0 ? 100 * peak / b : NaN};
    });
  }

  function classOf(phases, judgedBetter) {
    if (phases.length === 0) return "no change";
    var anyBetter = phases.some(function (p) { return p.better; });
    var anyWorse = phases.some(function (p) { return !p.better; });
    if (!anyWorse) return "better";
    if (!anyBetter) return "worse";
    var first = phases[0].better, final = phases[phases.length - 1].better;
    if (first !== final) return final ? "worse-before-better" : "better-before-worse";
    var judged = judgedBetter === null ? final : judgedBetter;
    if (judged === final) return final ? "better" : "worse";
    return judged ? "better-before-worse" : "worse-before-better";
  }

  function allFinite(xs) {
    for (var i = 0; i < xs.length; i++) if (!isFinite(xs[i])) return false;
    return xs.length > 0;
  }

  /* The reading of metrics.read_trajectory: the fields of Reading (and of against_baseline), with
   * phases as a list of {better, start_week, end_week, peak, peak_week, peak_pct}. */
  function againstBaseline(times, values, base, better, rtol, atol, judge) {
    var n = times.length;
    judge = judge === undefined || judge === null ? DEFAULT_JUDGE : judge;
    if (JUDGES.indexOf(judge) < 0) throw new Error("judge = " + JSON.stringify(judge) + "; use " + JUDGES.join(", "));
    if (!allFinite(times) || !allFinite(values) || !allFinite(base) || values.length !== n || base.length !== n) {
      return {classification: "not finite"};
    }
    var s = sign(better), a = advantage(values, base, better), tol = tolerance(base, rtol, atol);
    var phases = phasesOf(times, a, base, tol);
    var mv = metric(times, values, judge), mb = metric(times, base, judge);
    var judged = s * (mv - mb) + 0;
    var judgedTol = judge === "integral" ? tol * (times[n - 1] - times[0]) : tol;
    var judgedBetter = Math.abs(judged) <= judgedTol ? null : judged > 0;
    var iWorst = 0;
    for (var i = 1; i < n; i++) if (a[i] < a[iWorst]) iWorst = i;
    var worst = 0, worstWeek = NaN;
    if (a[iWorst] < -tol) { worst = a[iWorst]; worstWeek = times[iWorst]; }
    var betterFrom = NaN;
    if (a[n - 1] > tol) {
      var j = n - 1;
      while (j > 0 && a[j - 1] > tol) j--;
      betterFrom = times[j];
    }
    var final = a[n - 1] + 0, baseFinal = Math.abs(base[n - 1]);
    return {
      classification: classOf(phases, judgedBetter),
      phases: phases,
      tolerance: tol,
      rtol: rtol,
      judge: judge,
      judged_advantage: judged,
      judged_advantage_pct: mb !== 0 ? 100 * judged / Math.abs(mb) + 0 : NaN,
      judged_tolerance: judgedTol,
      judged_significant: judgedBetter !== null,
      final_advantage: final,
      final_advantage_pct: baseFinal > 0 ? 100 * final / baseFinal + 0 : NaN,
      final_significant: Math.abs(final) > tol,
      worst_shortfall: worst,
      worst_shortfall_week: worstWeek,
      stays_better_from_week: betterFrom
    };
  }

  function classify(times, values, base, better, rtol, atol, judge) {
    return againstBaseline(times, values, base, better, rtol, atol, judge).classification;
  }

  // ------------------------------------------------------------------ numbers as cxsystems.text writes them
  // Python's f"{x:.{d}f}": JavaScript's toFixed, except that an exact tie rounds to even
  function pyFixed(x, d) {
    var s = x.toFixed(d), exact = Math.abs(x).toFixed(Math.min(100, d + 60));
    var dot = exact.indexOf(".");
    var at = dot < 0 ? exact.length : dot + 1 + d;  // first digit dropped
    if (exact.charAt(at) === "5" && /^0*$/.test(exact.slice(at + 1))) {
      var kept = exact.slice(0, d > 0 ? at : dot);
      var last = kept.charAt(kept.length - 1);
      if (last === ".") last = kept.charAt(kept.length - 2);
      if (parseInt(last, 10) % 2 === 0) s = (x < 0 ? "-" : "") + kept;
    }
    return s;
  }

  function grouped(intText) {
    return intText.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // Python's f"{x:,.{d}f}" for x >= 0
  function pyFixedGrouped(x, d) {
    var s = pyFixed(x, d), dot = s.indexOf(".");
    return dot < 0 ? grouped(s) : grouped(s.slice(0, dot)) + s.slice(dot);
  }

  // Python's f"{x:.{p}g}" for finite x
  function pyGeneral(x, p) {
    if (x === 0) return (1 / x < 0 ? "-" : "") + "0";
    var neg = x < 0, ax = Math.abs(x);
    var e = ax.toExponential(p - 1), exact = ax.toExponential(Math.min(100, p - 1 + 60));
    var digits = exact.slice(0, exact.indexOf("e")).replace(".", "");
    if (digits.charAt(p) === "5" && /^0*$/.test(digits.slice(p + 1)) && parseInt(digits.charAt(p - 1), 10) % 2 === 0) {
      var kept = digits.slice(0, p);
      e = kept.charAt(0) + (p > 1 ? "." + kept.slice(1) : "") + exact.slice(exact.indexOf("e"));
    }
    var mant = e.slice(0, e.indexOf("e")), exp = parseInt(e.slice(e.indexOf("e") + 1), 10);
    var out;
    if (exp >= -4 && exp < p) {
      var ds = mant.replace(".", "");
      if (exp >= 0) {
        out = ds.slice(0, exp + 1) + (ds.length > exp + 1 ? "." + ds.slice(exp + 1) : "");
        if (ds.length < exp + 1) out = ds + new Array(exp + 2 - ds.length).join("0");
      } else {
        out = "0." + new Array(-exp).join("0") + ds;
      }
      if (out.indexOf(".") >= 0) out = out.replace(/0+$/, "").replace(/\.$/, "");
    } else {
      if (mant.indexOf(".") >= 0) mant = mant.replace(/0+$/, "").replace(/\.$/, "");
      out = mant + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
    }
    return (neg ? "-" : "") + out;
  }

  /* cxsystems.text.plain: f"{x:g}". */
  function plain(x) {
    return pyGeneral(x, 6);
  }

  /* cxsystems.text.share: a fraction as a percentage with one decimal. */
  function share(x) {
    return pyFixed(100 * x, 1) + "%";
  }

  /* cxsystems.text.short_number (no prefix, "-" as the minus sign). */
  function shortNumber(x) {
    if (x === null || x === undefined || x !== x) return "-";
    var sgn = x < 0 ? "-" : "", ax = Math.abs(x), body;
    if (ax >= 1e6) body = pyFixedGrouped(ax / 1e6, 2) + "M";
    else if (ax >= 100) body = pyFixedGrouped(ax, 0);
    else if (ax >= 1) body = pyFixed(ax, 2);
    else if (ax === 0) return "0";
    else body = pyGeneral(ax, 3);
    return sgn + body;
  }

  // ------------------------------------------------------------------ the description (Reading.details)
  function amount(adv, pct, units) {
    if (adv === 0) return "level with the baseline";
    var word = adv > 0 ? "better" : "worse";
    if (isFinite(pct)) return share(Math.abs(pct) / 100) + " " + word;
    return shortNumber(Math.abs(adv)) + (units ? " " + units : "") + " " + word;
  }

  function integralUnits(units) {
    var u = (units || "").trim();
    if (u.toLowerCase().slice(-5) === "/week") return u.slice(0, -5).trim();
    return u ? u + " x weeks" : "weeks";
  }

  /* words: the model's time unit as [one, many] (Python's text.time_words), default weeks. */
  function phaseText(p, words) {
    var word = p.better ? "better" : "worse", w = words || ["week", "weeks"];
    if (p.start_week === p.end_week) return word + " " + w[0] + " " + plain(p.start_week);
    return word + " " + w[1] + " " + plain(p.start_week) + "-" + plain(p.end_week);
  }

  function phasesText(r, words) {
    return (r.phases || []).map(function (p) { return phaseText(p, words); }).join(", ");
  }

  /* The text inside the brackets, e.g. "judged on the mean: 4.5% better; worse weeks 17-32,
   * better weeks 34-75, worse weeks 144-156; ends 9.1% worse" (units: readable units, used only
   * where a percentage is undefined). */
  function details(r, units, words) {
    var c = r.classification;
    if (c === "not finite") return "the run produced values that are not numbers";
    if (c === "no change") return "within " + plain(100 * r.rtol) + "% of the baseline's largest value throughout";
    var judgedAmount = amount(r.judged_advantage, r.judged_advantage_pct,
                              r.judge === "integral" ? integralUnits(units) : units);
    var judged = "judged on " + JUDGE_WORDS[r.judge] + ": " + judgedAmount;
    if (judgedAmount !== "level with the baseline" && !r.judged_significant) judged += ", within tolerance";
    var fin = amount(r.final_advantage, r.final_advantage_pct, units), end;
    if (fin === "level with the baseline") end = "ends level with the baseline";
    else end = "ends " + fin + (r.final_significant ? "" : ", within tolerance");
    return judged + "; " + phasesText(r, words) + "; " + end;
  }

  /* "better-before-worse on Wait time (judged on ...)": Reading.line. */
  function line(r, label, units, words) {
    return r.classification + " on " + label + " (" + details(r, units, words) + ")";
  }

  /* For the page: "better before worse (judged on ...)". */
  function sentence(r, units, words) {
    return r.classification.replace(/-/g, " ") + " (" + details(r, units, words) + ")";
  }

  return {
    CLASSES: CLASSES,
    JUDGES: JUDGES,
    DEFAULT_ATOL: DEFAULT_ATOL,
    DEFAULT_JUDGE: DEFAULT_JUDGE,
    advantage: advantage,
    tolerance: tolerance,
    metric: metric,
    classify: classify,
    againstBaseline: againstBaseline,
    phasesText: phasesText,
    details: details,
    line: line,
    sentence: sentence,
    format: {pyFixed: pyFixed, pyGeneral: pyGeneral, plain: plain, share: share, shortNumber: shortNumber}
  };
})();
if (typeof module !== "undefined" && module.exports) module.exports = CXReading;
