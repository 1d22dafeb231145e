/* cxsystems workshop page (MIT, cxsystems): levers -> CX_MODEL.simulate -> uPlot charts + reading.
 *
 * Needs, defined before it: uPlot (vendored), CXReading (cx_reading.js), CX_MODEL (the model
 * compiled to JavaScript) and the JSON block #cx-config written by cxsystems.pages.workshop.
 * Exposes window.CX_WORKSHOP = {config, charts, baseline, lastRun, runs, mix, dominance, pressScenario, ...}.
 * With the settings on #ltm (data-settings), every run also scores the drawn loops (CX_MODEL.ltm)
 * and highlights the one that drives the focus outcome most (see "loop dominance" below).
 *
 * Scenarios appear under their titles (labels), in their colours (the same as every chart of the
 * model: baseline near-black, reactive warm, structural cool, mixed purple); code names stay in
 * data attributes and tooltips. An outcome with percent = true is a fraction shown x100 with "%"
 * (the chart keeps the model's numbers, its axis and read-outs show percentages); one with
 * view = "difference" is charted as the difference from the baseline (the baseline at zero).
 * The contact-mix card (only when the model declares [contact_mix]) stacks the parts of contact
 * volume for the current setting and states the avoidable share of all contacts over the run.
 */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("cx-config").textContent);
  var model = window.CX_MODEL;
  var t0 = cfg.initial_time;
  var outcomeVars = cfg.outcomes.map(function (o) { return o.variable; });
  var mixCfg = cfg.contact_mix || null;
  var mixVars = mixCfg ? mixCfg.parts.map(function (p) { return p.variable; }) : [];
  var simVars = outcomeVars.concat(mixVars.filter(function (v) { return outcomeVars.indexOf(v) < 0; }));
  var COLORS = {base: cfg.baseline_color || "#1a1a1a", own: cfg.own_color || "#8C564B", start: "#b0b0b0",
                disturbance: "#9b2226"};
  var OWN_TITLE = "Your setting";

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

  /* The time unit in short phrases ("from month 3"); an unstated unit reads "time" ("from time 3"). */
  function unitWord() {
    return cfg.time_words[0] === "time unit" ? "time" : cfg.time_words[0];
  }

  function weekText(w) {
    return w <= t0 ? "from the start" : "from " + unitWord() + " " + fmtNum(w);
  }

  // a scenario's name for people (its label); the code name only when it has none
  function scenarioLabel(name) {
    var s = scenarios[name];
    return s && s.title ? s.title : name.replace(/_/g, " ");
  }

  // an outcome's value as people read it: a fraction x100 with "%", differences signed
  function fmtValue(o, x, diff) {
    if (x === null || x === undefined || !isFinite(x)) return "-";
    var v = o.percent ? 100 * x : x;
    var s = fmtNum(v);
    if (diff && v > 0) s = "+" + s;
    if (o.percent) s += diff ? " pp" : "%";
    return s;
  }

  function fmtTick(o, x) {
    var v = o.percent ? 100 * x : x;
    var s = fmtAxis(v);
    if (o.view === "difference" && v > 0) s = "+" + s;
    return o.percent && o.view !== "difference" ? s + "%" : s;
  }

  // ------------------------------------------------------------------ state
  var scenarios = {};
  cfg.scenarios.forEach(function (s) { scenarios[s.name] = s; });
  var params = {};
  Object.keys(model.parameters).forEach(function (p) { params[p] = model.parameters[p].value; });
  var levers = cfg.levers;
  var state = {values: {}, start: cfg.start_week.default, verbatim: null, active: null};
  levers.forEach(function (lv) { state.values[lv.name] = lv.base; });

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
    var r = model.simulate(params, changes, {variables: simVars});
    var values = {};
    simVars.forEach(function (v) { values[v] = Array.prototype.slice.call(r.values[v]); });
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
    head2.appendChild(el("label", {"for": "start-week-input"}, "Policy start " + unitWord()));
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
    r2.appendChild(el("span", null, unitWord() + " " + fmtNum(sw.lo) + " to " + fmtNum(sw.hi)));
    r2.appendChild(el("span", {"class": "units"}, cfg.time_words[1]));
    wrap2.appendChild(r2);
    wrap2.appendChild(el("div", {"class": "comment"}, "Levers moved away from the model value apply from this " + unitWord() + " on."));
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
      var b = el("button", {type: "button", "data-scenario": s.name, "data-family": s.family || "",
                            title: s.description + " (" + s.name + ")", "aria-pressed": "false"});
      var sw = el("span", {"class": "swatch", "aria-hidden": "true"});
      sw.style.background = s.color || COLORS.own;
      b.appendChild(sw);
      b.appendChild(document.createTextNode(scenarioLabel(s.name)));
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
      note.appendChild(document.createTextNode(s.description + " Its changes start in different " + cfg.time_words[1] + ", so they run as written: "
        + s.changes.map(function (c) { return c.parameter + " = " + fmtNum(c.value) + " " + weekText(c.from_week === null ? t0 : c.from_week); }).join("; ")
        + ". Moving a lever switches back to one common start " + unitWord() + "."));
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

  // the run line's colour and name: the scenario the levers reproduce, else "Your setting"
  function runStyle() {
    var s = state.active ? scenarios[state.active] : null;
    return s ? {color: s.color || COLORS.own, title: scenarioLabel(s.name)} : {color: COLORS.own, title: OWN_TITLE};
  }

  // what an outcome's chart shows: the levels, or (view = "difference") the differences from the baseline
  function chartData(o, times, run) {
    var b = baseline.values[o.variable], v = run.values[o.variable];
    if (o.view !== "difference") return [times, b, v];
    return [times, b.map(function () { return 0; }), v.map(function (x, i) { return x - b[i]; })];
  }

  function axisOpts(fs, font, fmtY) {
    return [
      {font: font, size: fs * 2.2, stroke: "#333", grid: {stroke: "#e6e6e6"}, ticks: {stroke: "#ccc"},
       values: function (self, splits) { return splits.map(function (w) { return fmtNum(w); }); }},
      {font: font, size: fs * 4.6, space: fs * 2, stroke: "#333", grid: {stroke: "#e6e6e6"}, ticks: {stroke: "#ccc"},
       values: function (self, splits) { return splits.map(fmtY); }}
    ];
  }

  function weekSeries() {
    return {label: "week", value: function (self, v) { return v === null ? "-" : "week " + fmtNum(v); }};
  }

  function heading(text, units, label) {
    var h = el("h3");
    if (label && text.indexOf(label) === 0 && text !== label) {
      h.appendChild(el("span", {"class": "label"}, label));
      h.appendChild(el("span", {"class": "ref"}, text.slice(label.length)));
    } else {
      h.appendChild(el("span", {"class": "label"}, text));
    }
    if (units) h.appendChild(el("span", {"class": "units"}, " (" + units + ")"));
    return h;
  }

  function buildCharts(run) {
    var grid = document.getElementById("charts"), reading = document.getElementById("reading");
    var fs = fontPx(), font = fs + "px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    var style = runStyle();
    cfg.outcomes.forEach(function (o) {
      var diff = o.view === "difference";
      var card = el("section", {"class": "card chart", "data-variable": o.variable, "data-view": o.view || "level"});
      card.appendChild(heading(o.heading || o.label,
                               o.heading === undefined ? unitsText(o.units, o.pretty_units) : o.heading_units,
                               o.label));
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
          weekSeries(),
          {label: cfg.baseline_title || "Baseline", stroke: COLORS.base, width: 2, dash: [7, 5],
           value: function (self, v) { return fmtValue(o, v, diff); }},
          {label: style.title, stroke: function () { return runStyle().color; }, width: 3,
           value: function (self, v) { return fmtValue(o, v, diff); }}
        ],
        axes: axisOpts(fs, font, function (v) { return fmtTick(o, v); }),
        legend: {show: true, live: true},
        cursor: {drag: {x: false, y: false}},
        hooks: {draw: [drawStart]}
      };
      var plot = new uPlot(opts, chartData(o, run.times, run), holder);
      plot.setSize(plotSize(holder, plot));
      charts.push(plot);
      chartCards.push({card: card, badge: badge, holder: holder});
    });
    if (mixCfg) buildMix(run, grid, reading, fs, font);
    placeReading();
    if (window.ResizeObserver) {
      var ro = new ResizeObserver(function () {
        placeReading();
        allPlots().forEach(function (p) {
          var s = plotSize(p.holder, p.plot);
          if (s.width !== p.plot.width || s.height !== p.plot.height) p.plot.setSize(s);
        });
      });
      allPlots().forEach(function (p) { ro.observe(p.holder); });
    }
  }

  function allPlots() {
    var out = charts.map(function (c, i) { return {plot: c, holder: chartCards[i].holder}; });
    if (mix.chart) out.push({plot: mix.chart, holder: mix.holder});
    return out;
  }

  // the series legends (read-outs under the pointer) name the run after the scenario it reproduces
  function restyleLegends() {
    var style = runStyle();
    var el1 = document.getElementById("key-run"), el2 = document.getElementById("key-run-label");
    if (el1) el1.style.borderTopColor = style.color;
    if (el2) el2.textContent = style.title;
    charts.forEach(function (c) {
      var row = c.root.querySelectorAll(".u-legend .u-series")[2];
      if (!row) return;
      var label = row.querySelector(".u-label"), marker = row.querySelector(".u-marker");
      if (label) label.textContent = style.title;
      if (marker) marker.style.borderColor = style.color;
    });
  }

  // ------------------------------------------------------------------ contact mix
  // parts stacked in the declared order (the first at the bottom): the chart holds the running
  // totals, top first (the total), each filled down to zero over the ones drawn before it
  var mix = {chart: null, holder: null, parts: mixCfg ? mixCfg.parts : [], share: null, baseline_share: null,
             values: null, keyValues: {}};

  // under the pointer, the key shows each kind's contacts that week (the chart's own legend is off)
  function mixReadout(u) {
    var i = u.cursor.idx;
    mix.parts.forEach(function (p) {
      var span = mix.keyValues[p.variable];
      span.textContent = i === null || i === undefined || !mix.values ? "" : " " + fmtNum(mix.values[p.variable][i]);
    });
    if (mix.weekEl) mix.weekEl.textContent = i === null || i === undefined ? "" : "week " + fmtNum(u.data[0][i]);
  }

  function mixTotal(times, values, parts) {
    var all = 0, avoid = 0;
    parts.forEach(function (p) {
      var t = CXReading.metric(times, values[p.variable], "integral");
      all += t;
      if (p.avoidable) avoid += t;
    });
    return isFinite(all) && all > 0 ? avoid / all : NaN;
  }

  function mixData(run) {
    var parts = mix.parts, n = run.times.length, cum = [], acc = new Array(n), i, k;
    for (i = 0; i < n; i++) acc[i] = 0;
    for (k = 0; k < parts.length; k++) {
      var v = run.values[parts[k].variable];
      acc = acc.map(function (a, j) { return a + v[j]; });
      cum.push(acc);
    }
    return [run.times].concat(cum.reverse());
  }

  function shareText(x) {
    return isFinite(x) ? CXReading.format.share(x) : "-";
  }

  function buildMix(run, grid, reading, fs, font) {
    var parts = mix.parts, n = parts.length;
    var card = el("section", {"class": "card mix", id: "contact-mix"});
    card.appendChild(heading("What contacts are made of", mixCfg.units));
    var line = el("div", {"class": "mix-share"});
    mix.shareEl = el("b", {"class": "mix-share-value"});
    mix.baseEl = el("span", {"class": "mix-base"});
    line.appendChild(mix.shareEl);
    line.appendChild(document.createTextNode(" of contacts avoidable over the run ("));
    line.appendChild(mix.baseEl);
    line.appendChild(document.createTextNode(")"));
    card.appendChild(line);
    var body = el("div", {"class": "mix-body"});
    var holder = el("div", {"class": "plot mix-plot"});
    body.appendChild(holder);
    var key = el("ul", {"class": "mix-key", "aria-label": "kinds of contact, top of the stack first"});
    parts.slice().reverse().forEach(function (p) {
      var li = el("li", {"data-variable": p.variable, "class": p.avoidable ? "avoidable" : "plain",
                         title: p.avoidable ? "avoidable" : "not avoidable"});
      var sw = el("span", {"class": "swatch", "aria-hidden": "true"});
      sw.style.background = p.color;
      li.appendChild(sw);
      li.appendChild(document.createTextNode(p.label));
      var val = el("span", {"class": "mix-value"});
      li.appendChild(val);
      mix.keyValues[p.variable] = val;
      key.appendChild(li);
    });
    mix.weekEl = el("li", {"class": "mix-week"});
    key.appendChild(mix.weekEl);
    body.appendChild(key);
    card.appendChild(body);
    grid.insertBefore(card, reading);
    var series = [weekSeries()];
    for (var j = n - 1; j >= 0; j--) {
      (function (p, k) {
        series.push({label: p.label, stroke: p.color, fill: p.color, width: 1,
                     fillTo: function () { return 0; },
                     // the read-out shows the part's own contacts, not the running total
                     value: function (self, v, si, di) {
                       if (di === null || di === undefined || !mix.values) return "-";
                       return fmtNum(mix.values[p.variable][di]);
                     }});
      })(parts[j], j);
    }
    var opts = {
      width: 300, height: 150,
      scales: {x: {time: false}, y: {range: function (self, lo, hi) { return [0, hi > 0 ? hi * 1.05 : 1]; }}},
      series: series,
      axes: axisOpts(fs, font, fmtAxis),
      legend: {show: false},
      cursor: {drag: {x: false, y: false}},
      hooks: {draw: [drawStart], setCursor: [mixReadout]}
    };
    mix.values = run.values;
    mix.chart = new uPlot(opts, mixData(run), holder);
    mix.holder = holder;
    mix.card = card;
    mix.chart.setSize(plotSize(holder, mix.chart));
    mix.baseline_share = mixTotal(baseline.times, baseline.values, parts);
    mix.baseEl.textContent = (cfg.baseline_title || "baseline") + ": " + shareText(mix.baseline_share);
    api.mix = mix;
  }

  function updateMix(run) {
    if (!mix.chart) return;
    mix.values = run.values;
    mix.chart.setData(mixData(run));
    mix.share = mixTotal(run.times, run.values, mix.parts);
    mix.shareEl.textContent = shareText(mix.share);
  }

  // the reading card fills the empty cells of the last chart row when they hold its lines (about
  // four outcomes a cell), else it takes a whole row of its own
  function placeReading() {
    var grid = document.getElementById("charts"), reading = document.getElementById("reading");
    var cols = getComputedStyle(grid).gridTemplateColumns.split(" ").filter(Boolean).length || 1;
    var cards = cfg.outcomes.length + (mixCfg ? 1 : 0);
    var empty = (cols - (cards % cols)) % cols;
    var beside = empty && empty * 4 >= cfg.outcomes.length;
    reading.style.gridColumn = "span " + (beside ? empty : cols);
    // the contact mix alone in the last row (the reading below it) takes the whole row
    if (mix.card) mix.card.style.gridColumn = !beside && cfg.outcomes.length % cols === 0 ? "span " + cols : "";
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
      appendUnbroken(li, CXReading.sentence(r, o.pretty_units, cfg.time_words));
      list.appendChild(li);
      var badge = chartCards[i].badge;
      badge.textContent = BADGE[c] || c;
      badge.className = "badge cls-" + c.replace(/ /g, "-");
      return r;
    });
    var n = cfg.outcomes.length, base = cfg.baseline_title || "the baseline", who = runStyle().title;
    if (changes.length === 0 || (counts["no change"] || 0) === n) {
      summary.textContent = changes.length === 0
        ? (state.active === cfg.baseline ? who + " is the baseline: no policy change."
                                         : "No policy change: the same as " + base + ".")
          + " Move a lever or press a scenario to compare a policy with it."
        : who + ": no outcome moves by more than " + rtolPct + "% of the largest value of " + base + ".";
      return results;
    }
    var order = ["better", "worse-before-better", "better-before-worse", "worse", "no change", "not finite"];
    var counted = order.filter(function (c) { return counts[c]; }).map(function (c) {
      return counts[c] + " " + (BADGE[c] || c);
    });
    var parts = [who + " against " + base + ", of " + n + " outcomes: " + counted.join(", ") + "."];
    if (groups["worse-before-better"]) parts.push("Worse before better: " + groups["worse-before-better"].join(", ") + ".");
    if (groups["better-before-worse"]) parts.push("Better before worse: " + groups["better-before-worse"].join(", ") + ".");
    summary.textContent = parts.join(" ");
    return results;
  }

  // ------------------------------------------------------------------ loop dominance
  // The drawn loops of the focus outcome's cycle partition, scored live by CX_MODEL.ltm (Loops
  // That Matter computed from the engine's IR: the numpy figures of cx.dominance). At each time
  // step the drawn loop with the largest absolute loop score leads (the drawn loops compared with
  // each other: no denominator over all the model's loops is needed for that ranking); the loop
  // leading most often over the run is highlighted on the diagram, and each quarter's is named.
  var ltmBox = document.getElementById("ltm");
  var ltmCfg = ltmBox && window.CX_MODEL.ltm ? JSON.parse(ltmBox.getAttribute("data-settings")) : null;
  var ltm = {parts: null, shown: null, overall: null}, opening = false;
  var POL = {R: "reinforcing", B: "balancing"};

  function ltmParts() {
    // loop id -> the diagram's elements: its arrows (and delay marks), its marker, its legend entry
    if (ltm.parts) return ltm.parts;
    var groups = new Map(), svg = document.querySelector(".cld-svg svg");  // ids hold model names: a Map
    if (svg) {
      Array.prototype.forEach.call(svg.querySelectorAll("g[id]"), function (g) {
        var id = g.getAttribute("id");
        if (!groups.has(id)) groups.set(id, []);
        groups.get(id).push(g);
      });
    }
    function get(id) { return groups.get(id) || []; }
    var legend = {};
    Array.prototype.forEach.call(document.querySelectorAll(".loops li[data-loop]"), function (li) {
      legend[li.getAttribute("data-loop")] = li;
    });
    ltm.parts = {};
    ltmCfg.loops.forEach(function (lp) {
      var vs = lp.drawn, links = [];
      vs.forEach(function (v, i) {
        var key = "link:" + v + "->" + vs[(i + 1) % vs.length];
        links = links.concat(get(key), get(key + " delay"));
      });
      ltm.parts[lp.id] = {links: links, marker: get("marker:" + lp.id), legend: legend[lp.id] || null};
    });
    return ltm.parts;
  }

  // highlight one loop (id) on the diagram and in its legend, or none (null)
  function showLoop(id) {
    var parts = ltmParts();
    ltm.shown = id;
    Array.prototype.forEach.call(document.querySelectorAll(".ltm-hot, .ltm-hot-marker"), function (e) {
      e.classList.remove("ltm-hot", "ltm-hot-marker");
    });
    var pt = id === null ? null : parts[id];
    if (pt) {  // loops share links: clear every highlight first, then mark this loop's parts
      pt.links.forEach(function (g) { g.classList.add("ltm-hot"); });
      pt.marker.forEach(function (g) { g.classList.add("ltm-hot-marker"); });
      if (pt.legend) pt.legend.classList.add("ltm-hot");
    }
    var svgBox = document.querySelector(".cld-svg");
    if (svgBox) svgBox.setAttribute("data-highlighted", id === null ? "" : id);
  }

  // the loop most often leading among the intervals [from, to), the first drawn one on ties
  function mostOften(leading, from, to) {
    var counts = ltmCfg.loops.map(function () { return 0; }), j;
    for (j = from; j < to; j++) if (leading[j] >= 0) counts[leading[j]] += 1;
    var best = -1;
    counts.forEach(function (c, i) { if (c > 0 && (best < 0 || c > counts[best])) best = i; });
    var n = to - from;
    return best < 0 ? {id: null, share: 0, n: n} : {id: ltmCfg.loops[best].id, share: counts[best] / n, n: n};
  }

  function loopWords(id) {
    var lp = ltmCfg.loops.filter(function (l) { return l.id === id; })[0];
    return {name: lp.name, pol: POL[lp.polarity] || "changes polarity", letter: lp.polarity};
  }

  function pct(x) { return Math.round(100 * x) + "%"; }

  function updateDominance(changes) {
    if (!ltmCfg) return null;
    var t = performance.now();
    var d = model.ltm.dominance(params, changes, ltmCfg.links, ltmCfg.loops.map(function (l) { return l.links; }));
    var times = d.times, n = times.length, leading = d.leading;
    var overall = mostOften(leading, 0, n);
    var phases = ltmCfg.phases.map(function (ph) {
      var from = 0, to;
      while (from < n && times[from] < ph[0]) from++;
      to = from;
      while (to < n && times[to] < ph[1]) to++;
      var m = mostOften(leading, from, to);
      return {start: ph[0], end: ph[1], id: m.id, share: m.share};
    });
    var ms = performance.now() - t;
    ltm.overall = overall.id;
    showLoop(overall.id);
    renderDominance(overall, phases, n);
    return {ms: ms, times: Array.prototype.slice.call(times),
            leading: Array.prototype.map.call(leading, function (i) { return i < 0 ? null : ltmCfg.loops[i].id; }),
            loopScores: d.loopScores.map(function (a) { return Array.prototype.slice.call(a); }),
            overall: overall, phases: phases};
  }

  function renderDominance(overall, phases, n) {
    var box = document.getElementById("ltm");
    if (!box) return;
    box.textContent = "";
    var what = ltmCfg.label.toLowerCase(), many = cfg.time_words[1];
    var lead = el("p", {"class": "ltm-lead"});
    lead.appendChild(el("span", {"class": "ltm-swatch", "aria-hidden": "true"}));
    if (overall.id === null) {
      lead.appendChild(document.createTextNode("No drawn loop moves " + what + " in this setting."));
    } else {
      var w = loopWords(overall.id);
      lead.appendChild(document.createTextNode("Driving " + what + " most: "));
      lead.appendChild(el("b", {"class": "ltm-name", "data-loop": overall.id}, w.name));
      lead.appendChild(document.createTextNode(" (" + w.pol + "), the strongest drawn loop in " + pct(overall.share)
        + " of the run. Highlighted in orange."));
    }
    box.appendChild(lead);
    var list = el("ol", {"class": "ltm-phases", "aria-label": "strongest drawn loop in each quarter of the run"});
    phases.forEach(function (ph) {
      var li = el("li", {"data-loop": ph.id === null ? "" : ph.id, "data-start": String(ph.start)});
      li.appendChild(el("span", {"class": "ltm-when"}, many.charAt(0).toUpperCase() + many.slice(1) + " "
        + fmtNum(ph.start) + "\u2013" + fmtNum(ph.end) + ": "));
      if (ph.id === null) {
        li.appendChild(document.createTextNode("no drawn loop moves it"));
      } else {
        var w = loopWords(ph.id);
        li.appendChild(el("b", null, w.name));
        li.appendChild(document.createTextNode(" (" + w.letter + "), " + pct(ph.share) + " of the phase"));
        li.addEventListener("mouseenter", function () { showLoop(ph.id); li.classList.add("ltm-now"); });
        li.addEventListener("mouseleave", function () { showLoop(ltm.overall); li.classList.remove("ltm-now"); });
      }
      list.appendChild(li);
    });
    box.appendChild(list);
    box.appendChild(el("p", {"class": "ltm-note"},
      "How this is measured (Loops That Matter): at each of the " + n.toLocaleString("en-US") + " saved times of the run, over the "
      + "next time step, a link scores the part of its target's change that its source's change explains, and a loop scores "
      + "the product of its links' scores. "
      + "The strongest drawn loop is the one of the " + ltmCfg.loops.length + " drawn loops with the largest score"
      + (ltmCfg.loops_in_partition > ltmCfg.loops.length
         ? "; they are compared with each other only (the model has " + ltmCfg.loops_in_partition.toLocaleString("en-US")
           + " loops through " + what + "), so it need not explain half of the change."
         : " (they are all the model's loops through " + what + ").")
      + " Point at a phase to highlight its loop."));
  }

  // ------------------------------------------------------------------ update
  function update() {
    syncControls();
    var changes = currentChanges();
    var t = performance.now();
    var run = simulate(changes);
    var ms = performance.now() - t;
    runs += 1;
    restyleLegends();
    charts.forEach(function (c, i) { c.setData(chartData(cfg.outcomes[i], run.times, run)); });
    updateMix(run);
    var reading = updateReading(run, changes);
    lastRun = {changes: changes, times: run.times, values: run.values, ms: ms, reading: reading,
               scenario: state.active};
    if (opening) {  // the first run's loop scores come just after the page shows (it opens as fast as before)
      var at = runs;
      setTimeout(function () {
        if (runs === at) api.dominance = updateDominance(changes);  // not when a newer run has scored
        document.body.setAttribute("data-ltm-ready", "true");
      }, 0);
    } else {
      api.dominance = updateDominance(changes);
    }
    api.lastRun = lastRun;
    api.runs = runs;
  }

  var api = {
    config: cfg, ltm: ltmCfg, charts: charts, baseline: null, lastRun: null, runs: 0, state: state, mix: null,
    dominance: null,
    showLoop: function (id) { showLoop(id); },
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
    opening = true;
    update();
    opening = false;
    document.body.setAttribute("data-ready", "true");
  }

  init();
})();
