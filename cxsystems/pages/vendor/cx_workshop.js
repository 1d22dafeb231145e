/* cxsystems workshop page (MIT, cxsystems): levers -> CX_MODEL.simulate -> uPlot charts + reading.
 *
 * Needs, defined before it: uPlot (vendored), CXReading (cx_reading.js), CX_MODEL (the model
 * compiled to JavaScript) and the JSON block #cx-config written by cxsystems.pages.workshop.
 * Exposes window.CX_WORKSHOP = {config, charts, baseline, lastRun, runs, pressScenario, ...}.
 */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("cx-config").textContent);
  var model = window.CX_MODEL;
  var t0 = cfg.initial_time;
  var outcomeVars = cfg.outcomes.map(function (o) { return o.variable; });
  var COLORS = {base: "#8a8a8a", run: "#1f5fbf", start: "#b0b0b0", disturbance: "#9b2226"};

  // ------------------------------------------------------------------ helpers
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function fmtNum(x) {
    if (x === null || x === undefined || !isFinite(x)) return "-";
    var ax = Math.abs(x);
    if (ax >= 1e6) return (x / 1e6).toLocaleString("en-US", {maximumFractionDigits: 2}) + "M";
    if (ax >= 1000) return x.toLocaleString("en-US", {maximumFractionDigits: 0});
    if (ax >= 1) return x.toLocaleString("en-US", {maximumFractionDigits: 2});
    if (ax === 0) return "0";
    return Number(x.toPrecision(3)).toString();
  }

  function fmtAxis(x) {
    var ax = Math.abs(x);
    if (ax >= 1e9) return +(x / 1e9).toFixed(2) + "B";
    if (ax >= 1e6) return +(x / 1e6).toFixed(2) + "M";
    if (ax >= 1e4) return +(x / 1e3).toFixed(1) + "k";
    if (ax >= 100) return x.toFixed(0);
    return +x.toPrecision(3) + "";
  }

  function unitsText(units, pretty) {
    return pretty || units || "";
  }

  function weekText(w) {
    return w <= t0 ? "from the start" : "from week " + fmtNum(w);
  }

  function scenarioLabel(name) {
    return name.replace(/_/g, " ");
  }

  // ------------------------------------------------------------------ state
  var params = {};
  Object.keys(model.parameters).forEach(function (p) { params[p] = model.parameters[p].value; });
  var levers = cfg.levers;
  var state = {values: {}, start: cfg.start_week.default, verbatim: null, active: null};
  levers.forEach(function (lv) { state.values[lv.name] = lv.base; });
  var scenarios = {};
  cfg.scenarios.forEach(function (s) { scenarios[s.name] = s; });

  function leverChanges() {
    var from = state.start <= t0 ? null : state.start;
    var out = [];
    levers.forEach(function (lv) {
      var v = state.values[lv.name];
      if (v !== lv.base) out.push({parameter: lv.name, value: v, from_week: from});
    });
    return out;
  }

  function currentChanges() {
    return state.verbatim ? state.verbatim.changes.slice() : leverChanges();
  }

  function simulate(changes) {
    var r = model.simulate(params, changes, {variables: outcomeVars});
    var values = {};
    outcomeVars.forEach(function (v) { values[v] = Array.prototype.slice.call(r.values[v]); });
    return {times: Array.prototype.slice.call(r.times), values: values};
  }

  // which scenario (if any) the levers reproduce
  function matchingScenario() {
    if (state.verbatim) return state.verbatim.name;
    var found = null;
    cfg.scenarios.forEach(function (s) {
      if (found || !s.uniform) return;
      var want = {};
      s.changes.forEach(function (c) { want[c.parameter] = c.value; });
      var ok = levers.every(function (lv) {
        var w = Object.prototype.hasOwnProperty.call(want, lv.name) ? want[lv.name] : lv.base;
        return state.values[lv.name] === w;
      });
      var anyMoved = levers.some(function (lv) { return state.values[lv.name] !== lv.base; });
      if (ok && (!anyMoved || s.start === state.start)) found = s.name;
    });
    return found;
  }

  // ------------------------------------------------------------------ controls
  var leverInputs = {}, leverOutputs = {}, startInput, startOutput;

  function buildControls() {
    var box = document.getElementById("levers");
    var sw = cfg.start_week, box2 = document.getElementById("start-week");
    var wrap2 = el("div", {"class": "lever start"});
    var head2 = el("div", {"class": "lever-head"});
    head2.appendChild(el("label", {"for": "start-week-input"}, "Policy start week"));
    startOutput = el("output", {"for": "start-week-input", "class": "value"});
    head2.appendChild(startOutput);
    wrap2.appendChild(head2);
    startInput = el("input", {type: "range", id: "start-week-input", min: String(sw.lo), max: String(sw.hi),
                              step: sw.step > 0 ? String(sw.step) : "any", value: String(sw.default)});
    startInput.addEventListener("input", function () {
      state.start = parseFloat(startInput.value);
      state.verbatim = null;
      update();
    });
    wrap2.appendChild(startInput);
    var r2 = el("div", {"class": "range"});
    r2.appendChild(el("span", null, "week " + fmtNum(sw.lo) + " to " + fmtNum(sw.hi)));
    r2.appendChild(el("span", {"class": "units"}, "weeks"));
    wrap2.appendChild(r2);
    wrap2.appendChild(el("div", {"class": "comment"}, "Levers moved away from the model value apply from this week on."));
    box2.appendChild(wrap2);

    levers.forEach(function (lv, i) {
      var id = "lever-" + i;
      var wrap = el("div", {"class": "lever", "data-parameter": lv.name});
      var head = el("div", {"class": "lever-head"});
      head.appendChild(el("label", {"for": id}, lv.name));
      var out = el("output", {"for": id, "class": "value"});
      head.appendChild(out);
      wrap.appendChild(head);
      var input = el("input", {type: "range", id: id, min: String(lv.lo), max: String(lv.hi),
                               step: lv.step > 0 ? String(lv.step) : "any", value: String(lv.base),
                               "data-parameter": lv.name});
      input.addEventListener("input", function () {
        state.values[lv.name] = parseFloat(input.value);
        state.verbatim = null;
        update();
      });
      wrap.appendChild(input);
      var range = el("div", {"class": "range"});
      range.appendChild(el("span", null, fmtNum(lv.lo) + " to " + fmtNum(lv.hi)));
      // units as words ("weeks", "per year"); a dimensionless lever (Dmnl) shows none
      range.appendChild(el("span", {"class": "units"}, lv.pretty_units || ""));
      range.appendChild(el("span", null, "model value " + fmtNum(lv.base)));
      wrap.appendChild(range);
      if (lv.range_note) wrap.appendChild(el("div", {"class": "note"}, lv.range_note));
      if (lv.comment) wrap.appendChild(el("div", {"class": "comment"}, lv.comment));
      box.appendChild(wrap);
      leverInputs[lv.name] = input;
      leverOutputs[lv.name] = out;
    });
    var bbox = document.getElementById("scenario-buttons");
    cfg.scenarios.forEach(function (s) {
      var b = el("button", {type: "button", "data-scenario": s.name, title: s.description,
                            "aria-pressed": "false"}, scenarioLabel(s.name));
      if (s.name === cfg.baseline) b.classList.add("baseline");
      b.addEventListener("click", function () { pressScenario(s.name); });
      bbox.appendChild(b);
    });
  }

  function pressScenario(name) {
    applyScenario(name);
    update();
  }

  function applyScenario(name) {
    var s = scenarios[name];
    if (!s) throw new Error("no scenario " + name);
    levers.forEach(function (lv) { state.values[lv.name] = lv.base; });
    s.changes.forEach(function (c) { state.values[c.parameter] = c.value; });
    if (s.uniform) {
      state.verbatim = null;
      state.start = s.start === null ? cfg.start_week.default : s.start;
    } else {
      state.verbatim = s;
    }
  }

  function syncControls() {
    levers.forEach(function (lv) {
      var v = state.values[lv.name];
      var input = leverInputs[lv.name];
      if (parseFloat(input.value) !== v) input.value = String(v);
      leverOutputs[lv.name].textContent = fmtNum(v) + (lv.pretty_units ? " " + lv.pretty_units : "");
      input.parentNode.classList.toggle("moved", v !== lv.base);
    });
    if (parseFloat(startInput.value) !== state.start) startInput.value = String(state.start);
    startOutput.textContent = state.verbatim ? "as the scenario says" : weekText(state.start);
    startInput.disabled = false;
    var active = matchingScenario();
    state.active = active;
    Array.prototype.forEach.call(document.querySelectorAll("#scenario-buttons button"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-scenario") === active ? "true" : "false");
    });
    var note = document.getElementById("scenario-note");
    note.textContent = "";
    if (state.verbatim) {
      var s = state.verbatim;
      note.appendChild(el("b", null, scenarioLabel(s.name) + ": "));
      note.appendChild(document.createTextNode(s.description + " Its changes start in different weeks, so they run as written: "
        + s.changes.map(function (c) { return c.parameter + " = " + fmtNum(c.value) + " " + weekText(c.from_week === null ? t0 : c.from_week); }).join("; ")
        + ". Moving a lever switches back to one common start week."));
    } else if (active) {
      var d = scenarios[active].description || "";
      if (d.toLowerCase().indexOf(scenarioLabel(active).toLowerCase()) !== 0) note.appendChild(el("b", null, scenarioLabel(active) + ": "));
      note.appendChild(document.createTextNode(d));
    } else {
      note.textContent = "Your own setting (no named scenario).";
    }
  }

  // ------------------------------------------------------------------ charts
  var charts = [], chartCards = [], baseline = null, lastRun = null, runs = 0;

  function startWeekDrawn() {
    if (state.verbatim) {
      var ws = state.verbatim.changes.map(function (c) { return c.from_week === null ? t0 : c.from_week; });
      return ws.length ? Math.min.apply(null, ws) : null;
    }
    return leverChanges().length ? state.start : null;
  }

  function drawDisturbance(u) {
    // the event every scenario faces (e.g. the product launch), a thin solid line
    var d = cfg.disturbance;
    if (!d) return;
    var x = Math.round(u.valToPos(d.week, "x", true)) + 0.5, ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = COLORS.disturbance;
    ctx.lineWidth = Math.max(1, window.devicePixelRatio || 1);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  function drawStart(u) {
    drawDisturbance(u);
    var w = startWeekDrawn();
    if (w === null || w <= t0) return;
    var x = Math.round(u.valToPos(w, "x", true)) + 0.5, ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = COLORS.start;
    ctx.lineWidth = Math.max(1, window.devicePixelRatio || 1);
    ctx.setLineDash([6, 5]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  function fontPx() {
    return Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.85);
  }

  function plotSize(holder, u) {
    var legend = u ? u.root.querySelector(".u-legend") : null;
    var lh = legend ? legend.offsetHeight : 28;
    return {width: Math.max(160, Math.floor(holder.clientWidth)),
            height: Math.max(120, Math.floor(holder.clientHeight - lh - 4))};
  }

  function buildCharts(run) {
    var grid = document.getElementById("charts"), reading = document.getElementById("reading");
    var fs = fontPx(), font = fs + "px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    cfg.outcomes.forEach(function (o, i) {
      var card = el("section", {"class": "card chart", "data-variable": o.variable});
      var h = el("h3");
      h.appendChild(el("span", {"class": "label"}, o.label));
      var u = unitsText(o.units, o.pretty_units);
      if (u) h.appendChild(el("span", {"class": "units"}, " (" + u + ")"));
      card.appendChild(h);
      var sub = el("div", {"class": "better"});
      sub.appendChild(el("span", null, o.better + " is better"));
      var badge = el("span", {"class": "badge"});
      sub.appendChild(badge);
      card.appendChild(sub);
      var holder = el("div", {"class": "plot"});
      card.appendChild(holder);
      grid.insertBefore(card, reading);
      var opts = {
        width: 300, height: 150,
        scales: {x: {time: false}},
        series: [
          {label: "week", value: function (self, v) { return v === null ? "-" : "week " + fmtNum(v); }},
          {label: "Baseline", stroke: COLORS.base, width: 2, dash: [7, 5],
           value: function (self, v) { return fmtNum(v); }},
          {label: "This setting", stroke: COLORS.run, width: 3,
           value: function (self, v) { return fmtNum(v); }}
        ],
        axes: [
          {font: font, size: fs * 2.2, stroke: "#333", grid: {stroke: "#e6e6e6"}, ticks: {stroke: "#ccc"},
           values: function (self, splits) { return splits.map(function (w) { return fmtNum(w); }); }},
          {font: font, size: fs * 4.6, space: fs * 2, stroke: "#333", grid: {stroke: "#e6e6e6"}, ticks: {stroke: "#ccc"},
           values: function (self, splits) { return splits.map(fmtAxis); }}
        ],
        legend: {show: true, live: true},
        cursor: {drag: {x: false, y: false}},
        hooks: {draw: [drawStart]}
      };
      var data = [run.times, baseline.values[o.variable], run.values[o.variable]];
      var plot = new uPlot(opts, data, holder);
      plot.setSize(plotSize(holder, plot));
      charts.push(plot);
      chartCards.push({card: card, badge: badge, holder: holder});
    });
    placeReading();
    if (window.ResizeObserver) {
      var ro = new ResizeObserver(function () {
        placeReading();
        charts.forEach(function (c, i) {
          var s = plotSize(chartCards[i].holder, c);
          if (s.width !== c.width || s.height !== c.height) c.setSize(s);
        });
      });
      chartCards.forEach(function (cc) { ro.observe(cc.holder); });
    }
  }

  // the reading card fills the empty cells of the last chart row (or a whole row of its own)
  function placeReading() {
    var grid = document.getElementById("charts"), reading = document.getElementById("reading");
    var cols = getComputedStyle(grid).gridTemplateColumns.split(" ").filter(Boolean).length || 1;
    var empty = (cols - (cfg.outcomes.length % cols)) % cols;
    reading.style.gridColumn = "span " + (empty || cols);
  }

  // ------------------------------------------------------------------ reading
  var BADGE = {"better": "better", "worse": "worse", "better-before-worse": "better before worse",
               "worse-before-better": "worse before better", "no change": "no change", "not finite": "not a number"};

  // text whose week ranges ("weeks 30-156") never break across lines
  function appendUnbroken(parent, text) {
    var re = /weeks? [0-9.]+(?:-[0-9.]+)?/g, at = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
      parent.appendChild(el("span", {style: "white-space: nowrap"}, m[0]));
      at = m.index + m[0].length;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }

  function updateReading(run, changes) {
    var list = document.getElementById("reading-list"), summary = document.getElementById("reading-summary");
    list.textContent = "";
    var rtolPct = +(cfg.rtol * 100).toPrecision(3);
    var counts = {}, groups = {};
    var results = cfg.outcomes.map(function (o, i) {
      var r = CXReading.againstBaseline(run.times, run.values[o.variable], baseline.values[o.variable],
                                        o.better, cfg.rtol, undefined, o.judge);
      var c = r.classification;
      counts[c] = (counts[c] || 0) + 1;
      (groups[c] = groups[c] || []).push(o.label);
      var li = el("li", {"class": "cls-" + c.replace(/ /g, "-"), "data-variable": o.variable, "data-class": c});
      li.appendChild(el("b", null, o.label + ": "));
      appendUnbroken(li, CXReading.sentence(r, o.pretty_units));
      list.appendChild(li);
      var badge = chartCards[i].badge;
      badge.textContent = BADGE[c] || c;
      badge.className = "badge cls-" + c.replace(/ /g, "-");
      return r;
    });
    var n = cfg.outcomes.length;
    if (changes.length === 0 || (counts["no change"] || 0) === n) {
      summary.textContent = changes.length === 0
        ? "This is the model with no policy change. Move a lever or press a scenario to compare it with the baseline."
        : "No outcome moves by more than " + rtolPct + "% of the baseline's largest value.";
      return results;
    }
    var order = ["better", "worse-before-better", "better-before-worse", "worse", "no change", "not finite"];
    var counted = order.filter(function (c) { return counts[c]; }).map(function (c) {
      return counts[c] + " " + (BADGE[c] || c);
    });
    var parts = ["Against the baseline, of " + n + " outcomes: " + counted.join(", ") + "."];
    if (groups["worse-before-better"]) parts.push("Worse before better: " + groups["worse-before-better"].join(", ") + ".");
    if (groups["better-before-worse"]) parts.push("Better before worse: " + groups["better-before-worse"].join(", ") + ".");
    summary.textContent = parts.join(" ");
    return results;
  }

  // ------------------------------------------------------------------ update
  function update() {
    syncControls();
    var changes = currentChanges();
    var t = performance.now();
    var run = simulate(changes);
    var ms = performance.now() - t;
    runs += 1;
    charts.forEach(function (c, i) {
      var v = cfg.outcomes[i].variable;
      c.setData([run.times, baseline.values[v], run.values[v]]);
    });
    var reading = updateReading(run, changes);
    lastRun = {changes: changes, times: run.times, values: run.values, ms: ms, reading: reading,
               scenario: state.active};
    api.lastRun = lastRun;
    api.runs = runs;
  }

  var api = {
    config: cfg, charts: charts, baseline: null, lastRun: null, runs: 0, state: state,
    pressScenario: function (name) { pressScenario(name); },
    changes: currentChanges
  };
  window.CX_WORKSHOP = api;

  function init() {
    buildControls();
    var b = scenarios[cfg.baseline];
    baseline = simulate(b ? b.changes : []);
    api.baseline = baseline;
    if (b) applyScenario(cfg.baseline);
    buildCharts(simulate(currentChanges()));
    update();
    document.body.setAttribute("data-ready", "true");
  }

  init();
})();
