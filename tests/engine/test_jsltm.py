"""Loops That Matter in JavaScript (cxsystems.engine.jsltm) equal the numpy path (cx.dominance).

The model's JavaScript, with the link-score functions generated from the same IR rate
expressions the numpy path evaluates, runs under Node (no browser); link scores, loop scores
and the leading loop of each interval are compared with :func:`cxsystems.dominance` within 1e-9
relative, on the papers' known-answer models and on cx_service (all 298 links, a spread of its
7,055 loops, a parameter setting and a change from a week on).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.causal import model_graph
from cxsystems.engine import compile_model
from cxsystems.engine.ir import Call, Const, Ref, norm_name
from cxsystems.engine.jsgen import _guard, model_to_js
from cxsystems.engine.jsltm import scorable
from cxsystems.engine.ltm import LtmLink, ltm_links
from cxsystems.errors import UnsupportedConstruct

NODE = shutil.which("node") or "/usr/bin/node"
assert Path(NODE).exists(), "Node.js is not installed (apt-get install nodejs)"

RTOL = 1e-9

CONTROLS = """
FINAL TIME = {final}
	~	~	|
INITIAL TIME = 0
	~	~	|
SAVEPER = {saveper}
	~	~	|
TIME STEP = {dt}
	~	~	|
"""

DRIVER = r"""
var RUNS = JSON.parse(require("fs").readFileSync(0, "utf8"));
function enc(a) { return Array.from(a, function (x) { return isFinite(x) ? x : String(x); }); }
var out = RUNS.map(function (run) {
  var d = CX_MODEL.ltm.dominance(run.params, run.changes, run.links, run.loops);
  return {times: d.times, links: d.linkScores.map(enc), loops: d.loopScores.map(enc), leading: Array.from(d.leading)};
});
process.stdout.write(JSON.stringify(out));
"""


def write_model(tmp_path, name: str, equations: dict[str, str], final: float = 1, dt: float = 1,
                saveper: float | None = None):
    text = "{UTF-8}\n" + "".join(f"{k} = {v}\n\t~\t~\t|\n" for k, v in equations.items())
    text += CONTROLS.format(final=final, dt=dt, saveper=dt if saveper is None else saveper)
    path = tmp_path / f"{name}.mdl"
    path.write_text(text)
    return cx.load_model(path)


def model_links(model) -> tuple[list[tuple[str, str]], list[LtmLink]]:
    """Every causal link of the model's graph with its slots and rate expression (engine.ltm: what
    the numpy path evaluates)."""
    ir = compile_model(model).ir
    edges = [(e.source, e.target) for e in model_graph(model).causal_edges()]
    return edges, list(ltm_links(ir, [(ir.by_name[norm_name(s)], ir.by_name[norm_name(t)]) for s, t in edges]))


def run_node(js: str, runs: list, tmp_path: Path) -> list:
    script = tmp_path / "ltm.js"
    script.write_text(js + "\n" + DRIVER, encoding="utf-8")
    proc = subprocess.run([NODE, str(script)], input=json.dumps(runs), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def decode(values) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=float)


def assert_same(got, want, what: str) -> None:
    """Equal within 1e-9 relative (NaN where the numpy path has NaN)."""
    got, want = decode(got), np.asarray(want, dtype=float)
    assert got.shape == want.shape, what
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaN differ"
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=RTOL, atol=0, err_msg=what)


def leading(scores: np.ndarray) -> list[int]:
    """The numpy side of the page's rule: the first loop with the largest |score| (NaN as 0), -1
    where all are 0."""
    a = np.nan_to_num(np.abs(scores))
    best = np.argmax(a, axis=0)
    return [int(b) if a[b, j] > 0 else -1 for j, b in enumerate(best)]


def js_with_ltm(model) -> tuple[str, list, list]:
    edges, links = model_links(model)
    js = model_to_js(model, ltm=links)
    return js, edges, links


# ------------------------------------------------------------------------ known answers
def test_table_2_link_scores_in_javascript(tmp_path):
    # z = (w + x) / y, w 7 -> 10, x 2 -> 4, y 3 -> 5: +5, +10/3, -6 (Schoenberg et al. 2020, table 2)
    m = write_model(tmp_path, "t2", {"w": "7 + 3 * Time", "x": "2 + 2 * Time", "y": "3 + 2 * Time",
                                     "z": "(w + x) / y"})
    js, edges, _ = js_with_ltm(m)
    (got,) = run_node(js, [dict(params={}, changes=[], links=list(range(len(edges))), loops=[])], tmp_path)
    score = {e: decode(v)[0] for e, v in zip(edges, got["links"])}
    assert score[("w", "z")] == pytest.approx(5.0, abs=1e-12)
    assert score[("x", "z")] == pytest.approx(10 / 3, abs=1e-12)
    assert score[("y", "z")] == pytest.approx(-6.0, abs=1e-12)
    assert got["times"] == [0.0]


def test_time_is_held_at_the_start_of_the_interval(tmp_path):
    # z = x + STEP(5, 1.5), x = TIME: over [1, 2] z goes 1 -> 7 while x alone moves it by 1 (TIME, and
    # with it the STEP, held at 1: ceteris paribus), so LS(x -> z) = 1/6 there and 1 elsewhere
    m = write_model(tmp_path, "tstep", {"x": "Time", "z": "x + STEP(5, 1.5)"}, final=3)
    js, edges, _ = js_with_ltm(m)
    (got,) = run_node(js, [dict(params={}, changes=[], links=list(range(len(edges))), loops=[])], tmp_path)
    want = cx.dominance(m).link_score("x", "z").to_numpy()
    np.testing.assert_allclose(want, [1.0, 1 / 6, 1.0], rtol=1e-12)
    assert_same(got["links"][edges.index(("x", "z"))], want, "x -> z")


def test_births_and_deaths_loops_in_javascript(tmp_path):
    m = write_model(tmp_path, "bd", {"Population": "INTEG(births - deaths, 100)",
                                     "births": "Population * birth rate", "birth rate": "0.1",
                                     "deaths": "Population / lifetime", "lifetime": "20"}, 10, 0.5, saveper=1)
    js, edges, _ = js_with_ltm(m)
    r = cx.dominance(m, outcome="Population")
    ids = [lp.id for lp in r.loop_list]
    loops = [[edges.index(link) for link in lp.links()] for lp in r.loop_list]
    (got,) = run_node(js, [dict(params={}, changes=[], links=list(range(len(edges))), loops=loops)], tmp_path)
    # the intervals [t, t + 0.5] starting at the SAVEPER times, as the numpy path scores them
    assert got["times"] == r.times.tolist() == [float(t) for t in range(10)]
    by_id = dict(zip(ids, got["loops"]))
    np.testing.assert_allclose(decode(by_id["R1"]), 2.0, rtol=RTOL)  # the paper's answer: births 2, deaths -1
    np.testing.assert_allclose(decode(by_id["B1"]), -1.0, rtol=RTOL)
    for k, lp in enumerate(r.loop_list):
        assert_same(got["loops"][k], r.loop_scores[k], lp.id)
    assert [ids[i] for i in got["leading"]] == ["R1"] * 10


def test_logistic_leading_loop_switches_at_half_capacity(tmp_path):
    # net = r (1 - P/K) P: the reinforcing loop scores 1 - P/K, the balancing one -P/K (at the start
    # of each interval), so the balancing loop leads once P passes K/2
    m = write_model(tmp_path, "logistic", {"P": "INTEG(net, 10)", "net": "r * (1 - ratio) * P",
                                           "ratio": "P / K", "r": "0.5", "K": "1000"}, 40, 0.25)
    js, edges, _ = js_with_ltm(m)
    r = cx.dominance(m, outcome="P")
    loops = [[edges.index(link) for link in lp.links()] for lp in r.loop_list]
    (got,) = run_node(js, [dict(params={}, changes=[], links=list(range(len(edges))), loops=loops)], tmp_path)
    for k, lp in enumerate(r.loop_list):
        assert_same(got["loops"][k], r.loop_scores[k], lp.id)
    assert got["leading"] == leading(r.loop_scores)
    ids = [r.loop_list[i].id for i in got["leading"]]
    half = int(np.argmax(r.run["P"].to_numpy()[:-1] > 500))  # first interval starting above K/2
    assert set(ids[:half - 1]) == {"R1"} and set(ids[half + 1:]) == {"B1"}


# ------------------------------------------------------------------------ cx_service
@pytest.fixture(scope="module")
def service(cx_service):
    js, edges, links = js_with_ltm(cx_service)
    return cx_service, js, edges, links


SETTINGS = {
    "baseline": dict(params={}, changes=[]),
    "slider": dict(params={"Handle Time Target Multiplier": 0.8}, changes=[]),
    "from week 20": dict(params={}, changes=[{"parameter": "Prevention Incentive", "value": 0.6,
                                              "from_week": 20}]),
}


def python_run(model, setting):
    scen = cx.Scenario("page", "", tuple(cx.Change(c["parameter"], c["value"], c["from_week"])
                                         for c in setting["changes"]))
    return cx.dominance(model, scen, outcome="Ticket Backlog", params=setting["params"] or None)


def test_cx_service_link_and_loop_scores_equal_numpy(service, tmp_path):
    model, js, edges, _ = service
    r0 = cx.dominance(model, outcome="Ticket Backlog")
    part = r0.partition_of_outcome("Ticket Backlog")
    members = [i for i in np.flatnonzero(r0.partition == part)]
    named = [i for i in members if r0.loop_list[i].name]
    spread = sorted(set(named) | set(members[::97]))  # the named loops and 73 others of all lengths
    runs = []
    for setting in SETTINGS.values():
        loops_py = python_run(model, setting)
        chosen = {}
        for i in spread:  # the same loops by their links (ids may differ with measured signs)
            links = tuple(r0.loop_list[i].links())
            j = next(k for k, lp in enumerate(loops_py.loop_list) if tuple(lp.links()) == links)
            chosen[i] = j
        runs.append((loops_py, chosen))
    loops = [[edges.index(link) for link in r0.loop_list[i].links()] for i in spread]
    got = run_node(js, [dict(params=s["params"], changes=s["changes"], links=list(range(len(edges))), loops=loops)
                        for s in SETTINGS.values()], tmp_path)
    assert len(edges) == 298 and len(spread) > 80
    for name, g, (py, chosen) in zip(SETTINGS, got, runs):
        np.testing.assert_array_equal(g["times"], py.times)
        for e, scores in zip(edges, g["links"]):
            assert_same(scores, py.link_scores[e], f"{name}: link {e}")
        for k, i in enumerate(spread):
            assert_same(g["loops"][k], py.loop_scores[chosen[i]], f"{name}: loop {r0.loop_list[i].id}")
        named_rows = [spread.index(i) for i in named]
        want = leading(np.vstack([py.loop_scores[chosen[i]] for i in named]))
        got_named = leading(np.vstack([decode(g["loops"][k]) for k in named_rows]))
        assert got_named == want, name
    # the settings move the scores: the comparison is not of one run three times
    assert not np.allclose(decode(got[0]["links"][0]), decode(got[1]["links"][0]), equal_nan=True) or \
        not np.allclose(decode(got[0]["loops"][0]), decode(got[1]["loops"][0]), equal_nan=True)


def test_generated_code_stays_safe_and_plain_path_unchanged(service, tmp_path):
    model, js, _, _ = service
    _guard(js, model.name)
    assert "Ticket Backlog" not in js.split("var LTM_TIMES")[1].split("function sgn")[0]  # slots, not names
    plain = model_to_js(model)
    assert "LTM" not in plain and "ltm:" not in plain
    script = tmp_path / "plain.js"
    script.write_text(plain + "\nvar r = CX_MODEL.simulate({}, [], {variables: ['Ticket Backlog'], trace: true});"
                      "\nprocess.stdout.write(JSON.stringify([r.trace.length, r.trace[0].length, r.values['Ticket Backlog'].length,"
                      " Object.keys(CX_MODEL.simulate({}, []))]));")
    out = json.loads(subprocess.run([NODE, str(script)], capture_output=True, text=True, check=True).stdout)
    assert out == [1249, compile_model(model).n_slots, 157, ["times", "values"]]


def test_links_the_numpy_path_leaves_unscored_are_nan():
    recorded = {1, 2}
    assert scorable(Ref(1), recorded) and not scorable(Ref(3), recorded)
    assert not scorable(None, recorded)
    assert not scorable(Call("allocate_available", (Ref(1), Ref(2), Const(1.0))), recorded)
    with pytest.raises(UnsupportedConstruct):
        scorable(Call("random_uniform", (Const(0.0), Const(1.0), Const(0.0))), recorded)


def test_capability_trap_scenario_equals_numpy(capability_trap, tmp_path):
    """A second model (a STEP inside a net flow; the scenario's changes from the start): every
    link and loop score and the leading loop."""
    model = capability_trap
    js, edges, _ = js_with_ltm(model)
    scen = model.scenarios["trap"]
    r = cx.dominance(model, scen, outcome="Capability")
    loops = [[edges.index(link) for link in lp.links()] for lp in r.loop_list]
    changes = [{"parameter": c.parameter, "value": c.value, "from_week": c.from_week} for c in scen.changes]
    (got,) = run_node(js, [dict(params={}, changes=changes, links=list(range(len(edges))), loops=loops)], tmp_path)
    for e, scores in zip(edges, got["links"]):
        assert_same(scores, r.link_scores[e], f"link {e}")
    for k, lp in enumerate(r.loop_list):
        assert_same(got["loops"][k], r.loop_scores[k], lp.id)
    assert got["leading"] == leading(r.loop_scores)
    assert len(set(got["leading"])) > 1 and np.nanmax(np.abs(r.loop_scores)) > 1  # the loops move and trade places
