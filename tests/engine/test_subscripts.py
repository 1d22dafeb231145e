"""Subscripts on the numpy engine (unrolled into one slot per element at translation time).

Each construct family is a small model written here and run on the numpy engine and on stock
PySD: the same columns (PySD's flattened names, ``Stock[A1,B2]``) and the same numbers within
1e-12 relative. Suite models run against Vensim's canonical output; the JavaScript backend runs
a subscripted model to the numpy engine's numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine.jsgen import model_to_js
from cxsystems.errors import UnsupportedConstruct

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))

CONTROL = """
FINAL TIME = 8
	~	Week
	~	|
INITIAL TIME = 0
	~	Week
	~	|
SAVEPER = 1
	~	Week
	~	|
TIME STEP = 0.25
	~	Week
	~	|
"""


def _model(tmp_path, body: str, name: str = "m.mdl", final: int = 8):
    path = tmp_path / name
    path.write_text("{UTF-8}\n" + body + CONTROL.replace("FINAL TIME = 8", f"FINAL TIME = {final}"),
                    encoding="utf-8")
    return cx.load_model(path)


def _both(model, atol: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The numpy engine's run and stock PySD's, asserted equal in names, order and numbers."""
    ours = cx.simulate(model, engine="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cx.simulate(model, engine="pysd")
    assert list(ours.columns) == list(ref.columns)
    np.testing.assert_array_equal(ours.index.to_numpy(), ref.index.to_numpy())
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=1e-12, atol=atol)
    return ours, ref


def _eq(name: str, rhs: str) -> str:
    return f"{name} =\n\t{rhs}\n\t~\tDmnl\n\t~\t|\n"


def test_ranges_array_constants_and_subscripted_stocks(tmp_path):
    body = ("Region: (r1-r3)\n\t~\t\n\t~\t|\n"
            "Kind: young, old\n\t~\t\n\t~\t|\n"
            + _eq("Rate[Region, Kind]", "0.01, 0.02; 0.03, 0.04; 0.05, 0.06;")
            + _eq("Start[Region]", "10, 20, 30")
            + _eq("Stock[Region, Kind]", "INTEG(Rate[Region, Kind] * Stock[Region, Kind], Start[Region])")
            + _eq("Total", "Stock[r2, old] + 1"))
    m = _model(tmp_path, body)
    ours, _ = _both(m)
    assert "Stock[r3,young]" in ours.columns and ours["Stock[r1,old]"].iloc[0] == 10
    # Stock[r3,young] grows at 5% a week from 30 (Euler, dt 0.25, 8 weeks)
    assert ours["Stock[r3,young]"].iloc[-1] == pytest.approx(30 * (1 + 0.05 * 0.25) ** 32, rel=1e-12)
    assert ours["Total"].iloc[-1] == ours["Stock[r2,old]"].iloc[-1] + 1
    # a subscripted variable asked for by name gives every element; element constants are no levers
    sel = cx.simulate(m, engine="numpy", variables=["Stock"])
    assert list(sel.columns) == [f"Stock[r{i},{k}]" for i in (1, 2, 3) for k in ("young", "old")]
    assert not any(p.startswith(("Rate", "Start")) for p in m.parameters)


def test_subranges_mappings_and_equivalences(tmp_path):
    body = ("Age: infant, child, teen, adult\n\t~\t\n\t~\t|\n"
            "Older: child, teen, adult\n\t~\t\n\t~\t|\n"
            "Younger: infant, child, teen -> Older\n\t~\t\n\t~\t|\n"
            "Skill: mach, assm -> Product\n\t~\t\n\t~\t|\n"
            "Product: parts, systems\n\t~\t\n\t~\t|\n"
            "Place <-> Product\n\t~\t\n\t~\t|\n"
            + _eq("Aging[Age]", "5, 4, 3, 1")
            + _eq("Pop[infant]", "INTEG(10 - Aging[infant], 100)")
            + _eq("Pop[Older]", "INTEG(Aging[Younger] - Aging[Older], 50)")
            + _eq("Force[Skill]", "2, 3")
            + _eq("Flow[Product]", "Force[Skill] * 10")
            + _eq("Copy[Place]", "Flow[Place] + Pop[teen]")
            + _eq("Back[Product]", "Copy[Place] * 2")
            + _eq("Teen share[Older]", "Pop[Older] / SUM(Pop[Age!])"))
    ours, _ = _both(_model(tmp_path, body))
    assert ours["Flow[systems]"].iloc[0] == 30
    assert ours["Pop[child]"].iloc[-1] == pytest.approx(50 + (5 - 4) * 8)


def test_element_wise_definitions_and_except(tmp_path):
    body = ("Store: s1, s2, s3\n\t~\t\n\t~\t|\n"
            "Item: p1, p2\n\t~\t\n\t~\t|\n"
            "Near: s1, s2\n\t~\t\n\t~\t|\n"
            + _eq("Price[Store, p1]", "1, 2, 3")
            + _eq("Price[Store, p2]", "10 + Time")
            + _eq("Stock[Store, Item] :EXCEPT: [s3, p2]", "INTEG(Price[Store, Item], 1)")
            + _eq("Stock[s3, p2]", "INTEG(-1, 7)")
            + _eq("Extra[Near]", "Price[Near, p1] * 2")
            + _eq("Extra[s3]", "-1"))
    ours, _ = _both(_model(tmp_path, body))
    assert ours["Stock[s3,p2]"].iloc[-1] == pytest.approx(7 - 8)
    assert list(ours.filter(like="Extra").columns) == ["Extra[s1]", "Extra[s2]", "Extra[s3]"]


def test_element_names_transposition_updimensioning_and_positions(tmp_path):
    body = ("Row: a, b, c\n\t~\t\n\t~\t|\n"
            "Col: d, e\n\t~\t\n\t~\t|\n"
            + _eq("M[Row, Col]", "1, 2; 3, 4; 5, 6;")
            + _eq("T[Col, Row]", "M[Row, Col]")
            + _eq("Up[Row, Col]", "V[Row] * Time")
            + _eq("V[Row]", "7, 8, 9")
            + _eq("Pick[Col]", "M[b, Col]")
            + _eq("Pos[Row]", "Row * 10 + IF THEN ELSE(Row = b, 1, 0)"))
    ours, _ = _both(_model(tmp_path, body))
    assert ours["T[e,c]"].iloc[0] == 6 and ours["Pick[d]"].iloc[0] == 3
    assert list(ours.filter(like="Pos[").iloc[0]) == [10, 21, 30]


def test_sum_prod_vmin_vmax_and_elmcount(tmp_path):
    body = ("Row: a, b, c\n\t~\t\n\t~\t|\n"
            "Col: d, e\n\t~\t\n\t~\t|\n"
            "Sub: a, b\n\t~\t\n\t~\t|\n"
            + _eq("M[Row, Col]", "1.5, -2; 3, 4.25; 5, 6;")
            + _eq("Row sum[Row]", "SUM(M[Row, Col!] * Time)")
            + _eq("All sum", "SUM(M[Row!, Col!])")
            + _eq("Sub sum[Col]", "SUM(M[Sub!, Col])")
            + _eq("Col prod[Col]", "PROD(M[Row!, Col] + Time)")
            + _eq("Low", "VMIN(M[Row!, Col!] - Time)")
            + _eq("High[Row]", "VMAX(IF THEN ELSE(Time > 3, M[Row, Col!], 0))")
            + _eq("Count", "ELMCOUNT(Row) + ELMCOUNT(Sub)"))
    ours, _ = _both(_model(tmp_path, body))
    assert ours["All sum"].iloc[0] == pytest.approx(17.75) and ours["Count"].iloc[0] == 5
    assert ours["Sub sum[e]"].iloc[0] == pytest.approx(2.25)
    assert ours["Low"].iloc[-1] == pytest.approx(-2 - 8)


def test_vector_select_every_numerical_action(tmp_path):
    """Constant actions and one that changes in the run (Time: actions 0 to 10); the selection
    skips zeros; all zeros give the missing value. (Sums that cancel to 0 may differ by 1e-16:
    numpy sums in another order.)"""
    body = ("Row: a, b, c, d\n\t~\t\n\t~\t|\n"
            "Col: e, f\n\t~\t\n\t~\t|\n"
            + _eq("Sel[Row, Col]", "1, 0; 0.5, 2; 0, 0; -1, 3;")
            + _eq("Val[Row]", "-0.5, 1.25, 3, 2")
            + _eq("Zero[Row]", "0")
            + _eq("By time[Col]", "VECTOR SELECT(Sel[Row!, Col], Val[Row!], -99, Time, 0)")
            + _eq("Weighted max", "VECTOR SELECT(Sel[Row!, e], Val[Row!], -99, 3, 0)")
            + _eq("Power", "VECTOR SELECT(Sel[Row!, f], Val[Row!], -99, 5, 0)")
            + _eq("Mean", "VECTOR SELECT(Sel[Row!, f], Val[Row!], -99, 10, 0)")
            + _eq("None", "VECTOR SELECT(Zero[Row!], Val[Row!], -99, 0, 0)"))
    m = _model(tmp_path, body, final=10)
    ours, _ = _both(m, atol=1e-14)
    assert ours["None"].iloc[0] == -99 and ours["Power"].iloc[0] == pytest.approx(1.25 ** 2 * 2 ** 3)
    assert ours["Mean"].iloc[0] == pytest.approx((1.25 + 2) / 2)


def test_subscripted_smooth_delay_trend_and_lookups(tmp_path):
    body = ("Line: x, y\n\t~\t\n\t~\t|\n"
            + _eq("Input[x]", "STEP(5, 2)")
            + _eq("Input[y]", "RAMP(1, 1, 6)")
            + _eq("Time const[Line]", "2, 3")
            + _eq("Smoothed[Line]", "SMOOTH(Input[Line], Time const[Line])")
            + _eq("Delayed[Line]", "DELAY3(Input[Line], Time const[Line])")
            + _eq("Fixed[Line]", "DELAY FIXED(Input[Line], 1, 0)")
            + _eq("Trended[Line]", "TREND(Input[Line], Time const[Line], 0)")
            + "Table[x](\n\t(0,0),(4,1),(10,3))\n\t~\tDmnl\n\t~\t|\n"
            + "Table[y](\n\t(0,5),(10,-5))\n\t~\tDmnl\n\t~\t|\n"
            + "Shared(\n\t(0,1),(10,2))\n\t~\tDmnl\n\t~\t|\n"
            + _eq("Looked[Line]", "Table[Line](Time + Input[Line])")
            + _eq("Shared use[Line]", "Shared(Input[Line])"))
    m = _model(tmp_path, body)
    ours, _ = _both(m)
    assert ours["Looked[y]"].iloc[0] == 5 and ours["Shared use[x]"].iloc[-1] == pytest.approx(1.5)
    assert sum(st.kind == "smooth" for st in compile_model(m).ir.statefuls) == 2


def test_worlds_run_together_as_they_run_alone(tmp_path):
    """N parameter sets in one vector pass: each world gets its lone run's numbers, element by element."""
    body = ("Row: a, b, c\n\t~\t\n\t~\t|\n"
            + _eq("Growth", "0.1")
            + _eq("Weight[Row]", "1, 2, 3")
            + _eq("Stock[Row]", "INTEG(Growth * Weight[Row] * Stock[Row] - Out[Row], 10)")
            + _eq("Out[Row]", "DELAY1(Stock[Row] * 0.05, 2)")
            + _eq("Total", "SUM(Stock[Row!])"))
    m = _model(tmp_path, body)
    assert list(m.parameters) == ["Growth"]  # element constants are not levers
    cm = compile_model(m)
    growth = np.array([0.02, 0.1, 0.3])
    together = cm.run(params={"Growth": growth})
    for i, g in enumerate(growth):
        alone = cm.run(params={"Growth": float(g)}).to_frame()
        np.testing.assert_array_equal(together.to_frame(run=i).to_numpy(), alone.to_numpy())
    assert together.to_frame(run=2)["Total"].iloc[-1] > together.to_frame(run=0)["Total"].iloc[-1]


def test_long_ranges_sum_without_deep_trees_and_huge_ones_are_left_to_pysd(tmp_path):
    body = ("Big: (b1-b300)\n\t~\t\n\t~\t|\n"
            + _eq("V[Big]", "Big * 0.001 + Time") + _eq("S", "SUM(V[Big!])") + _eq("P", "PROD(V[Big!] / 300 + 1)")
            + _eq("Hi", "VMAX(V[Big!])"))
    ours, _ = _both(_model(tmp_path, body))
    assert ours["S"].iloc[0] == pytest.approx(0.001 * 300 * 301 / 2) and ours["Hi"].iloc[-1] == pytest.approx(8.3)
    body = ("Wide: (w1-w400)\n\t~\t\n\t~\t|\n" "Deep: (d1-d400)\n\t~\t\n\t~\t|\n"
            + _eq("M[Wide, Deep]", "1"))
    with pytest.raises(UnsupportedConstruct, match="160000 elements; the engine unrolls at most 100000"):
        compile_model(_model(tmp_path, body, "huge.mdl"))


def test_causal_loops_go_per_element(tmp_path):
    body = ("Row: a, b\n\t~\t\n\t~\t|\n" + _eq("Rate[Row]", "0.1, 0.2")
            + _eq("Stock[Row]", "INTEG(Rate[Row] * Stock[Row] - Out[Row], 10)")
            + _eq("Out[Row]", "Stock[Row] / 4") + _eq("Total", "SUM(Stock[Row!])"))
    found = {(lp.polarity, tuple(lp.variables)) for lp in cx.loops(_model(tmp_path, body)).loops}
    assert found == {("R", ("Stock[a]",)), ("R", ("Stock[b]",)),
                     ("B", ("Stock[a]", "Out[a]")), ("B", ("Stock[b]", "Out[b]"))}


def test_constructs_not_reproduced_are_refused(tmp_path):
    body = ("Line: x, y\n\t~\t\n\t~\t|\n"
            + _eq("V[Line]", "1, 2")
            + _eq("W", "VECTOR SELECT(V[Line!], V[Line!], 0, 0, 1)"))
    m = _model(tmp_path, body)
    with pytest.raises(UnsupportedConstruct, match="VECTOR SELECT with an error action"):
        cx.simulate(m, engine="numpy")
    with pytest.warns(cx.errors.EngineNotice):
        assert "V[x]" in cx.simulate(m).columns  # the default engine falls back to PySD
    # a range on the right that is neither on the left nor mapped there (PySD makes the result
    # two-dimensional; Vensim's reading is not documented): refused, not guessed
    body = ("Dim: a, b, c\n\t~\t\n\t~\t|\n" "Sub: b, c\n\t~\t\n\t~\t|\n"
            + _eq("Y[Dim]", "1, 2, 3") + _eq("X[Sub]", "Y[Dim] * 10"))
    with pytest.raises(UnsupportedConstruct, match="'Dim' of 'y' is not on the left side"):
        compile_model(_model(tmp_path, body, "n.mdl"))
    # a reference to an element a variable does not define
    body = ("Dim: a, b, c\n\t~\t\n\t~\t|\n" "Sub: b, c\n\t~\t\n\t~\t|\n"
            + _eq("Y[Sub]", "1, 2") + _eq("X", "Y[a]"))
    with pytest.raises(cx.CxError, match=r"refers to y\[a\], which is not defined"):
        compile_model(_model(tmp_path, body, "o.mdl"))


def test_javascript_runs_a_subscripted_model_like_numpy(tmp_path):
    node = shutil.which("node") or "/usr/bin/node"
    body = ("Row: a, b, c\n\t~\t\n\t~\t|\n"
            + _eq("Rate[Row]", "0.1, 0.2, 0.3")
            + _eq("Stock[Row]", "INTEG(Rate[Row] * Stock[Row] - Out[Row], 10)")
            + _eq("Out[Row]", "SMOOTH(Stock[Row] / ELMCOUNT(Row), 2)")
            + _eq("Total", "SUM(Stock[Row!])"))
    m = _model(tmp_path, body)
    (tmp_path / "run.js").write_text(model_to_js(m) + "\nvar r = CX_MODEL.simulate({}, [], {});\n"
                                     "var v = {}; Object.keys(r.values).forEach(function (k) { v[k] = Array.from(r.values[k]); });\n"
                                     "process.stdout.write(JSON.stringify(v));\n", encoding="utf-8")
    out = subprocess.run([node, str(tmp_path / "run.js")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    js = json.loads(out.stdout)
    ours = cx.simulate(m, engine="numpy")
    assert set(js) == set(ours.columns)
    for col in ours.columns:
        np.testing.assert_allclose(js[col], ours[col].to_numpy(), rtol=1e-12, atol=1e-12)


SUITE_MODELS = ("subscript_2d_arrays", "vector_select", "subscript_aggregation", "subscript_mapping_vensim", "except",
                "subscript_subranges", "subscript_transposition", "subscript_copy",
                "subscripted_lookups", "conditional_subscripts", "elm_count", "smaller_range")


@pytest.mark.skipif(not SUITE.is_dir(), reason=f"peer suite not found at {SUITE} (set CXSYSTEMS_PEER_SUITE)")
@pytest.mark.parametrize("name", SUITE_MODELS)
def test_suite_models_match_vensim_on_the_numpy_engine(name, peer_suite):
    mdl = sorted((SUITE / "tests" / name).glob("*.mdl"))[0]
    ref = peer_suite.read_canonical(peer_suite.canonical_output(mdl))
    assert len(ref.columns) >= 3
    model = cx.load_model(mdl)
    ours = cx.simulate(model, engine="numpy")
    verdict = peer_suite.compare(peer_suite.with_controls(ours, model), ref)
    assert not verdict, verdict
