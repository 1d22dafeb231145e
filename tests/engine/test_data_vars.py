"""The numpy engine runs external data (GET DIRECT/XLS CONSTANTS, LOOKUPS, DATA with every data
keyword) and non-negative stocks exactly as PySD does, and its JavaScript twin agrees with it.

Hand-written models and CSV files in ``tmp_path``: the numpy engine against real PySD
(``engine="pysd"``) to 1e-12 relative; JavaScript against the numpy engine (test_jsgen's driver);
the peer suite's data models against their canonical output (skipped when the suite is missing).
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine.data import data_series_at, staged_file
from cxsystems.engine.jsgen import model_to_js
from cxsystems.errors import UnsupportedConstruct

HERE = Path(__file__).resolve().parent


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(f"_cx_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTROL = """
FINAL TIME = 10
\t~\tWeek
\t~\t|
INITIAL TIME = 0
\t~\tWeek
\t~\t|
SAVEPER = 0.25
\t~\tWeek
\t~\t|
TIME STEP = 0.25
\t~\tWeek
\t~\t|
"""

#: times 1..7 (the run starts before and ends after them); column c has a missing cell
DATA_CSV = "time,a,c,d\n1,1,10,5\n2,3,,7\n4,2,30,6\n5.5,-1,20,2\n7,5,40,3\n"
CONSTS_CSV = "name,v,w\nk,0.5,1.5\n"

DATA_MODEL = """
interp := GET DIRECT DATA('data.csv', ',', 'A', 'B2')
\t~\tDmnl
\t~\t|
held :HOLD BACKWARD: := GET DIRECT DATA('data.csv', ',', 'A', 'B2')
\t~\tDmnl
\t~\t|
ahead :LOOK FORWARD: := GET DIRECT DATA('data.csv', ',', 'A', 'B2')
\t~\tDmnl
\t~\t|
raw :RAW: := GET DIRECT DATA('data.csv', ',', 'A', 'B2')
\t~\tDmnl
\t~\t|
gappy :INTERPOLATE: := GET DIRECT DATA('data.csv', ',', 'A', 'C2')
\t~\tDmnl
\t~\t|
gappy held :HOLD BACKWARD: := GET DIRECT DATA('data.csv', ',', 'A', 'C2')
\t~\tDmnl
\t~\t|
k := GET DIRECT CONSTANTS('consts.csv', ',', 'B2')
\t~\tDmnl
\t~\t|
table(GET DIRECT LOOKUPS('data.csv', ',', 'A', 'D2'))
\t~\tDmnl
\t~\t|
looked = table(Time * 0.8)
\t~\tDmnl
\t~\t|
raw twice = raw * 2
\t~\tDmnl
\t~\t|
Stock = INTEG(interp * k + held - ahead + gappy / 10 + gappy held / 10 + looked, 1)
\t~\tDmnl
\t~\t|
"""

ARRAY_MODEL = """
Region:
\tnorth, south
\t~\t~\t|
series[Region] :HOLD BACKWARD: := GET DIRECT DATA('data.csv', ',', 'A', 'B2')
\t~\tDmnl
\t~\t|
smooth series[Region] := GET DIRECT DATA('data.csv', ',', 'A', 'D2')
\t~\tDmnl
\t~\t|
weight[Region] := GET DIRECT CONSTANTS('consts.csv', ',', 'B2')
\t~\tDmnl
\t~\t|
table[Region](GET DIRECT LOOKUPS('data.csv', ',', 'A', 'B2'))
\t~\tDmnl
\t~\t|
looked[Region] = table[Region](Time * 0.8)
\t~\tDmnl
\t~\t|
Level[Region] = INTEG(series[Region] * weight[Region] + smooth series[Region] + looked[Region], 0)
\t~\tDmnl
\t~\t|
"""


def _write(tmp_path: Path, body: str, files: dict) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\n" + body + CONTROL, encoding="utf-8")
    return path


def _assert_equal_to_pysd(model, rtol=1e-12):
    ours = cx.simulate(model, engine="numpy", allow_nonfinite=True)
    ref = cx.simulate(model, engine="pysd", allow_nonfinite=True)
    assert list(ours.columns) == list(ref.columns)
    np.testing.assert_array_equal(ours.index.values, ref.index.values)
    for col in ours.columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), ref[col].to_numpy(float), rtol=rtol,
                                   atol=0, equal_nan=True, err_msg=col)
    return ours


@pytest.fixture
def data_model(tmp_path):
    return cx.load_model(_write(tmp_path, DATA_MODEL, {"data.csv": DATA_CSV, "consts.csv": CONSTS_CSV}))


def test_every_data_keyword_constants_and_lookups_equal_pysd(data_model):
    df = _assert_equal_to_pysd(data_model)
    at = df.loc  # spot values: Vensim's data rules, independent of PySD
    assert at[0.0, "interp"] == 1.0 and at[3.0, "interp"] == 2.5 and at[9.0, "interp"] == 5.0
    assert at[3.0, "held"] == 3.0 and at[3.0, "ahead"] == 2.0 and at[0.5, "ahead"] == 1.0
    assert at[4.0, "raw"] == 2.0 and math.isnan(at[3.0, "raw"]) and math.isnan(at[9.0, "raw"])
    # the missing cell at time 2 is interpolated between its neighbours (10 at 1, 30 at 4)
    assert at[2.0, "gappy"] == pytest.approx(10 + 20 / 3, rel=1e-15)
    assert at[2.5, "gappy held"] == 10.0  # ... or held backward, as the variable reads
    assert at[0.0, "k"] == 0.5
    assert at[5.0, "looked"] == 6.0  # table(4): the lookup read from column D


def test_subscripted_external_data_equal_pysd(tmp_path):
    csv = "time,n,s,n2,s2\n0,1,2,10,20\n3,4,8,40,80\n6,0,1,0,10\n"
    model = cx.load_model(_write(tmp_path, ARRAY_MODEL, {"data.csv": csv, "consts.csv": CONSTS_CSV}))
    df = _assert_equal_to_pysd(model)
    assert df.loc[4.0, "weight[south]"] == 1.5 and df.loc[4.0, "series[north]"] == 4.0
    assert df.loc[10.0, "looked[south]"] == 1.0  # table(8): clamped after the last x (6)
    assert df.loc[4.5, "series[south]"] == 8.0 and df.loc[1.5, "smooth series[north]"] == 25.0


def test_data_variable_without_a_file_is_refused(tmp_path):
    body = "given :INTERPOLATE:\n\t~\tDmnl\n\t~\t|\nout = given * 2\n\t~\tDmnl\n\t~\t|\n"
    model = cx.load_model(_write(tmp_path, body, {}))
    with pytest.raises(cx.CxError, match="'given' is a data variable without a data file"):
        compile_model(model)


def test_missing_values_of_raw_data_are_refused(tmp_path):
    body = "r :RAW: := GET DIRECT DATA('data.csv', ',', 'A', 'C2')\n\t~\tDmnl\n\t~\t|\n"
    model = cx.load_model(_write(tmp_path, body, {"data.csv": DATA_CSV}))
    with pytest.raises(cx.CxError, match="'r': the data has missing values"):
        compile_model(model)


def test_data_files_are_read_only_from_the_private_folder(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "x.csv").write_text("a\n1\n")
    (tmp_path / "outside.csv").write_text("a\n1\n")
    root = tmp_path / "inside"
    assert staged_file(root, "x.csv", "v") == (root / "x.csv").resolve()
    for name in ("../outside.csv", "?indirect", "nope.csv", "a\\b.csv"):
        with pytest.raises(UnsupportedConstruct):
            staged_file(root, name, "v")
    (root / "link.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(UnsupportedConstruct):
        staged_file(root, "link.csv", "v")
    with pytest.raises(UnsupportedConstruct, match="no private folder"):
        staged_file(None, "x.csv", "v")


def test_data_series_rules():
    xs, ys = (1.0, 2.0, 4.0), (10.0, 20.0, 40.0)
    held, ahead, raw = (data_series_at(xs, ys, m) for m in ("hold_backward", "look_forward", "raw"))
    assert [held(t) for t in (0.0, 1.0, 1.5, 2.0, 3.9, 4.0, 9.0)] == [10, 10, 10, 20, 20, 40, 40]
    assert [ahead(t) for t in (0.0, 1.0, 1.5, 2.0, 3.9, 4.0, 9.0)] == [10, 10, 20, 20, 40, 40, 40]
    assert [raw(t) for t in (1.0, 2.0, 4.0)] == [10, 20, 40]
    assert all(math.isnan(raw(t)) for t in (0.0, 1.5, 9.0))


# ------------------------------------------------------------------------ non-negative stocks

_xmile_text = None


def _xmile(tmp_path: Path, variables: str, method: str = "Euler") -> Path:
    global _xmile_text
    if _xmile_text is None:
        _xmile_text = _sibling_model("test_xmile").xmile_text
    path = tmp_path / "m.xmile"
    path.write_text(_xmile_text(variables, method=method), encoding="utf-8")
    return path


def _sibling_model(name: str):
    spec = importlib.util.spec_from_file_location(f"_cx_{name}", HERE.parent / "model" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NON_NEGATIVE = """
      <stock name="Tank"><eqn>5</eqn><inflow>Rain</inflow><outflow>Drain</outflow><non_negative/></stock>
      <flow name="Drain"><eqn>2 + TIME * 0.1</eqn></flow>
      <flow name="Rain"><eqn>IF TIME > 12 THEN 5 ELSE 0</eqn></flow>
      <stock name="Debt"><eqn>-1</eqn><inflow>Borrow</inflow><non_negative/></stock>
      <flow name="Borrow"><eqn>1 - TIME * 0.2</eqn><non_negative/></flow>
      <stock name="Free"><eqn>1</eqn><outflow>Leak</outflow></stock>
      <flow name="Leak"><eqn>0.3</eqn></flow>
"""


def test_non_negative_stocks_and_flows_equal_pysd(tmp_path):
    model = cx.load_model(_xmile(tmp_path, NON_NEGATIVE))
    df = _assert_equal_to_pysd(model)
    assert df["Tank"].min() == 0.0 and df.loc[20.0, "Tank"] > 0  # clipped, then refilled
    assert df.loc[0.0, "Debt"] == -1.0  # the initial value is not clipped (PySD's rule)
    assert df["Borrow"].min() == 0.0 and df["Free"].min() < 0  # a plain stock goes negative


def test_non_negative_stocks_in_an_ensemble_equal_single_runs(tmp_path):
    model = cx.load_model(_xmile(tmp_path, NON_NEGATIVE.replace("2 + TIME * 0.1", "drain_rate")
                                 + '<aux name="drain rate"><eqn>2</eqn></aux>'))
    cm = compile_model(model)
    rates = np.array([0.5, 2.0, 4.0])
    ens = cm.run(params={"drain rate": rates}, variables=["Tank"])
    for i, r in enumerate(rates):
        one = cm.run(params={"drain rate": float(r)}, variables=["Tank"])
        np.testing.assert_array_equal(ens.values[:, :, i], one.values[:, :, 0])
    assert ens.values[0, -1, 2] < ens.values[0, -1, 0]


def test_non_negative_stocks_refuse_rk4(tmp_path):
    model = cx.load_model(_xmile(tmp_path, NON_NEGATIVE))
    with pytest.raises(UnsupportedConstruct, match="'Tank': non-negative stocks run only with Euler"):
        compile_model(model).run(method="rk4")


# ----------------------------------------------------------------------------------- JavaScript

def test_javascript_runs_data_and_non_negative_stocks_as_the_engine(data_model, tmp_path):
    js_tests = _sibling("test_jsgen")
    for model in (data_model, cx.load_model(_xmile(tmp_path, NON_NEGATIVE))):
        got = js_tests.run_js(model_to_js(model), [{"params": {}, "changes": [], "opts": {}}], tmp_path)
        js_tests.assert_agrees(got["runs"][0], model, what=model.name)


# ----------------------------------------------------------------------------------- peer suite

SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", HERE.parents[2] / "shared" / "peer-models"
                            / "sdxorg-test-models"))
SUITE_MODELS = ["get_xls_cellrange/test_get_xls_cellrange.mdl",
                "get_lookups_subset/test_get_lookups_subset.mdl",
                "get_with_missing_values_xlsx/test_get_with_missing_values_xlsx.mdl",
                "get_constants_subranges/test_get_constants_subranges.mdl",
                "get_data_args_3d_xls/test_get_data_args_3d_xls.mdl",
                "get_mixed_definitions/test_get_mixed_definitions.mdl"]


@pytest.mark.parametrize("name", SUITE_MODELS)
def test_suite_data_models_match_their_canonical_output(name, peer_suite):
    path = SUITE / "tests" / name
    if not path.exists():
        pytest.skip("the peer suite is missing")
    suite = peer_suite
    output = suite.canonical_output(path)
    if output is None:
        pytest.skip("no canonical output")
    model = cx.load_model(path)
    run = cx.simulate(model, engine="numpy", allow_nonfinite=True)
    verdict = suite.compare(suite.with_controls(run, model), suite.read_canonical(output))
    assert not verdict, verdict

