"""VECTOR SORT ORDER, VECTOR RANK, VECTOR REORDER, VECTOR ELM MAP, INVERT MATRIX, GET TIME VALUE relative to the
start of the run and subscript ranges read from a file (GET DIRECT SUBSCRIPT) in the numpy
engine: hand-computed cases, ensembles (one value per world), the JavaScript backend against the
numpy engine, and the peer suite's models against Vensim's own output (skipped without the suite).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import js_equals_numpy

import cxsystems as cx
from cxsystems.engine import compile_model
from cxsystems.engine.vectors import s_inverse, s_pick, s_rank, s_sort_order, v_inverse, v_rank, v_sort_order
from cxsystems.errors import CxError, UnsupportedConstruct

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))

CONTROL = """
FINAL TIME = {final} ~ Week ~ |
INITIAL TIME = {start} ~ Week ~ |
SAVEPER = 1 ~ Week ~ |
TIME STEP = 0.5 ~ Week ~ |
"""


def write(folder: Path, body: str, start: float = 0) -> Path:
    path = folder / "m.mdl"
    path.write_text("{UTF-8}\n" + body + CONTROL.format(start=start, final=start + 4), encoding="utf-8")
    return path


def numpy_run(model):
    return cx.simulate(model, engine="numpy")


def suite_model(folder: str, name: str) -> Path:
    path = SUITE / "tests" / folder / name
    if not path.is_file():
        pytest.skip(f"peer suite not found at {SUITE}")
    return path


def matches_vensim(path: Path, peer_suite) -> None:
    """The numpy engine alone against the folder's output.tab by PySD's rule."""
    model = cx.load_model(path)
    run = cx.simulate(model, engine="numpy")
    ref = peer_suite.read_canonical(peer_suite.canonical_output(path))
    verdict = peer_suite.compare(peer_suite.with_controls(run, model), ref)
    assert not verdict, verdict


# --------------------------------------------------------------------------------- the kernels


def test_sort_order_and_rank_of_a_small_vector():
    v = (3.0, 1.0, 2.0)
    assert [s_sort_order(1, k, *v) for k in range(3)] == [1.0, 2.0, 0.0]  # 0-based positions
    assert [s_sort_order(0, k, *v) for k in range(3)] == [0.0, 2.0, 1.0]
    assert [s_sort_order(-1, k, *v) for k in range(3)] == [0.0, 2.0, 1.0]  # not above 0: descending
    assert [s_rank(1, i, *v) for i in range(3)] == [3.0, 1.0, 2.0]  # 1-based ranks
    assert [s_rank(0, i, *v) for i in range(3)] == [1.0, 3.0, 2.0]
    # ties keep element order ascending, and descending is the ascending order reversed
    assert [s_sort_order(1, k, 5.0, 5.0, 1.0) for k in range(3)] == [2.0, 0.0, 1.0]
    assert [s_sort_order(0, k, 5.0, 5.0, 1.0) for k in range(3)] == [1.0, 0.0, 2.0]
    assert [s_rank(1, i, 2.0, float("nan"), 1.0) for i in range(3)] == [2.0, 3.0, 1.0]  # NaN last


def test_vector_kernels_give_each_world_its_own_order():
    a = np.array([3.0, 0.0, 2.0, 7.0])
    b = np.array([1.0, 1.0, 2.0, 7.0])
    c = 2.0
    direction = np.array([1.0, 1.0, 0.0, -1.0])
    for k in range(3):
        got = v_sort_order(direction, k, a, b, c)
        want = [s_sort_order(d, k, x, y, c) for d, x, y in zip(direction, a, b)]
        np.testing.assert_array_equal(got, want)
        got = v_rank(direction, k, a, b, c)
        np.testing.assert_array_equal(got, [s_rank(d, k, x, y, c) for d, x, y in zip(direction, a, b)])


def test_pick_reads_the_element_at_a_position_and_nan_outside():
    assert s_pick(2.0, 10.0, 20.0, 30.0) == 30.0
    assert s_pick(1.7, 10.0, 20.0, 30.0) == 20.0  # truncated, as PySD's VECTOR REORDER
    assert np.isnan(s_pick(3.0, 10.0, 20.0, 30.0)) and np.isnan(s_pick(-1.0, 10.0, 20.0))


def test_inverse_of_a_2x2_matrix_and_of_singular_ones():
    m = (4.0, 7.0, 2.0, 6.0)  # det 10: inverse [[0.6, -0.7], [-0.2, 0.4]]
    got = [s_inverse(2, i, j, *m) for i in range(2) for j in range(2)]
    np.testing.assert_allclose(got, [0.6, -0.7, -0.2, 0.4], rtol=1e-15)
    assert np.isnan(s_inverse(2, 0, 0, 1.0, 2.0, 2.0, 4.0))
    # three worlds: the matrix above, a singular one (2 * 14 = 7 * 4), another one
    worlds = v_inverse(2, 0, 1, np.array([4.0, 2.0, 1.0]), 7.0, np.array([2.0, 4.0, 3.5]), np.array([6.0, 14.0, 6.0]))
    assert worlds[0] == s_inverse(2, 0, 1, *m) and np.isnan(worlds[1])
    assert worlds[2] == s_inverse(2, 0, 1, 1.0, 7.0, 3.5, 6.0) == pytest.approx(7 / 18.5, rel=1e-15)


# ----------------------------------------------------------------------------- in a model

VECTORS = """
item : (i1-i3) -> sitem ~ ~ |
sitem : (s1-s3) -> item ~ ~ |
pair : p1, p2 ~ ~ |
Shift = 0 ~ Dmnl ~ |
Direction = 1 ~ Dmnl ~ |
value[i1] = 3 + Shift * Time ~~|
value[i2] = 1 ~~|
value[i3] = 2 ~ Dmnl ~ |
order[sitem] = VECTOR SORT ORDER(value[item], Direction) ~ Dmnl ~ |
order down[sitem] = VECTOR SORT ORDER(value[item], 0) ~ Dmnl ~ |
rank[item] = VECTOR RANK(value[item], Direction) ~ Dmnl ~ |
sorted[sitem] = VECTOR REORDER(value[item], order[sitem]) ~ Dmnl ~ |
"""


def test_sort_order_rank_and_reorder_in_a_model(tmp_path):
    model = cx.load_model(write(tmp_path, VECTORS))
    run = numpy_run(model)
    row = run.iloc[0]
    assert [row[f"order[s{k}]"] for k in (1, 2, 3)] == [1, 2, 0]
    assert [row[f"order down[s{k}]"] for k in (1, 2, 3)] == [0, 2, 1]
    assert [row[f"rank[i{k}]"] for k in (1, 2, 3)] == [3, 1, 2]
    assert [row[f"sorted[s{k}]"] for k in (1, 2, 3)] == [1, 2, 3]


def test_vector_functions_in_an_ensemble_follow_each_world(tmp_path):
    """Shift moves the first value down through the others; Direction flips the order."""
    model = cx.load_model(write(tmp_path, VECTORS))
    cm = compile_model(model)
    shifts, directions = np.array([0.0, -0.6, -1.0, 0.5]), np.array([1.0, 1.0, 0.0, -2.0])
    ens = cm.run(params={"Shift": shifts, "Direction": directions})
    for w, (s, d) in enumerate(zip(shifts, directions)):
        one = cm.run(params={"Shift": s, "Direction": d})
        np.testing.assert_array_equal(ens.values[:, :, w], one.values[:, :, 0])
    # at time 4 with Shift -0.6 the first value is 0.6: smallest
    run = cm.run(params={"Shift": -0.6})
    k = list(run.names).index("rank[i1]")
    assert run.values[k, -1, 0] == 1.0 and run.values[k, 0, 0] == 3.0


def test_vector_functions_in_javascript(tmp_path):
    model = cx.load_model(write(tmp_path, VECTORS))
    js_equals_numpy(model, tmp_path, [{}, {"Shift": -0.6}, {"Direction": 0}, {"Shift": -1.0, "Direction": -1}])


ELM_MAP = """
sub : s1, s2, s3 ~ ~ |
tub : t1, t2 ~ ~ |
person : joe, jen ~ ~ |
Pick = 1 ~ Dmnl ~ |
v[sub, tub] = 1, 2; 3, 4; 5, 6 ~ Dmnl ~ |
v again[sub, tub] = VECTOR ELM MAP(v[s1, t1], (sub - 1) * ELMCOUNT(tub) + (tub - 1)) ~ Dmnl ~ |
previous[sub] = IF THEN ELSE(sub = s1, 0, VECTOR ELM MAP(v[sub, t2], -2)) ~ Dmnl ~ |
quality[joe] = 0.25 * Time ~~|
quality[jen] = 0.5 ~ Dmnl ~ |
chosen = VECTOR ELM MAP(quality[joe], Pick) ~ Dmnl ~ |
"""


def test_vector_elm_map_moves_over_all_elements_row_by_row(tmp_path):
    model = cx.load_model(write(tmp_path, ELM_MAP))
    run = numpy_run(model)
    for s in (1, 2, 3):
        for t in (1, 2):
            assert (run[f"v again[s{s},t{t}]"] == run[f"v[s{s},t{t}]"]).all()
    # v[s2, t2] is the 4th element: two back is v[s1, t2]
    assert run["previous[s2]"].iloc[0] == 2 and run["previous[s3]"].iloc[0] == 4
    assert (run["chosen"] == 0.5).all()  # jen
    cm = compile_model(model)
    ens = cm.run(params={"Pick": np.array([0.0, 1.0, 2.0, -1.0])}, variables=["chosen"])
    np.testing.assert_array_equal(ens.values[0, :, 0], 0.25 * ens.times)
    assert (ens.values[0, :, 1] == 0.5).all() and np.isnan(ens.values[0, :, 2:]).all()  # outside: :NA:
    js_equals_numpy(model, tmp_path, [{}, {"Pick": 0.0}])


@pytest.mark.parametrize("equation, culprit", [
    ("x[item] = VECTOR RANK(value[item] * 2, 1)", "VECTOR RANK"),
    ("x[item] = VECTOR SORT ORDER(value[i1], 1)", "VECTOR SORT ORDER"),
    ("x = VECTOR RANK(value[item], 1)", "VECTOR RANK"),
    # the vector's range is not the last on the left: Vensim (storage order) and PySD (names) differ
    ("two[pair, item] = 1 ~~|\nx[item, pair] = VECTOR RANK(two[pair, item], 1)", "VECTOR RANK"),
    ("trio : u1, u2, u3 ~~|\nm[item, trio] = 1 ~~|\nx[trio, item] = INVERT MATRIX(m[item, trio], 3)",
     "INVERT MATRIX"),
])
def test_vector_functions_refuse_what_they_cannot_reproduce(tmp_path, equation, culprit):
    model = cx.load_model(write(tmp_path, VECTORS + equation + " ~ Dmnl ~ |\n"))
    with pytest.raises(UnsupportedConstruct, match=culprit):
        compile_model(model)


MATRIX = """
row : r1, r2 ~ ~ |
col : c1, c2 ~ ~ |
Scale = 1 ~ Dmnl ~ |
base[row, col] = 4, 7; 2, 6 ~ Dmnl ~ |
m[row, col] = IF THEN ELSE(row = 1 :AND: col = 1, Scale, 1) * base[row, col] ~ Dmnl ~ |
m inv[row, col] = INVERT MATRIX(m[row, col], 2) ~ Dmnl ~ |
three : t1, t2, t3 ~ ~ |
three b <-> three ~ ~ |
q[three, three b] = 3, 0, 2; 2, 0, -2; 0, 1, 1 ~ Dmnl ~ |
q inv[three, three b] = INVERT MATRIX(q[three, three b], 3) ~ Dmnl ~ |
"""


def test_invert_matrix_in_a_model(tmp_path):
    model = cx.load_model(write(tmp_path, MATRIX))
    row = numpy_run(model).iloc[0]
    np.testing.assert_allclose([row["m inv[r1,c1]"], row["m inv[r1,c2]"], row["m inv[r2,c1]"], row["m inv[r2,c2]"]],
                               [0.6, -0.7, -0.2, 0.4], rtol=1e-14)
    q = np.array([[3, 0, 2], [2, 0, -2], [0, 1, 1]], dtype=float)
    got = np.array([[row[f"q inv[t{i},t{j}]"] for j in (1, 2, 3)] for i in (1, 2, 3)])
    np.testing.assert_allclose(got @ q, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(got, [[0.2, 0.2, 0], [-0.2, 0.3, 1], [0.2, -0.3, 0]], atol=1e-15)


def test_invert_matrix_in_an_ensemble_and_in_javascript(tmp_path):
    model = cx.load_model(write(tmp_path, MATRIX))
    cm = compile_model(model)
    scales = np.array([1.0, 2.0, 0.5833333333333334])  # 4 * 7/12 * 6 = 7 * 2: singular
    ens = cm.run(params={"Scale": scales})
    k = list(ens.names).index("m inv[r1,c1]")
    np.testing.assert_allclose(ens.values[k, 0, :2], [0.6, 6 / 34], rtol=1e-14)  # 6 / det
    assert np.isnan(ens.values[k, 0, 2])  # singular in that world only
    for w in range(2):
        np.testing.assert_array_equal(ens.values[:, :, w], cm.run(params={"Scale": scales[w]}).values[:, :, 0])
    js_equals_numpy(model, tmp_path, [{}, {"Scale": 2.0}])


def test_invert_matrix_needs_a_square_matrix_of_n_by_n(tmp_path):
    body = MATRIX.replace("INVERT MATRIX(m[row, col], 2)", "INVERT MATRIX(m[row, col], 3)")
    with pytest.raises(CxError, match="INVERT MATRIX"):
        compile_model(cx.load_model(write(tmp_path, body)))
    body = "one : o1 ~~|\nfour : f1, f2, f3, f4 ~~|\nw[one, four] = 1, 2, 3, 4 ~~|\n" \
           "w inv[one, four] = INVERT MATRIX(w[one, four], 2) ~~|\n"  # 1 x 4: four cells, not 2 x 2
    with pytest.raises(CxError, match="INVERT MATRIX"):
        compile_model(cx.load_model(write(tmp_path, body)))


# ------------------------------------------------------------------------ GET TIME VALUE

def test_get_time_value_relative_to_the_start_is_refused(tmp_path):
    """Vensim's documentation says GET TIME VALUE(1, ...) is the initial time; Vensim 7.3.4 was
    reported to return the current time (SDXorg/pysd#332). Ambiguous: refused, not guessed."""
    body = "Start = GET TIME VALUE(1, 0, 0) ~ Week ~ |\n"
    with pytest.raises(UnsupportedConstruct, match=r"GET TIME VALUE\(1, \.\.\., 0\).*relativeto 1 is ambiguous"):
        compile_model(cx.load_model(write(tmp_path, body, start=5)))


def test_get_time_value_still_refuses_the_clock_and_calendar(tmp_path):
    for args in ("2, 0, 0", "1, 0, 1", "0, 0, 10"):
        body = f"Clock = GET TIME VALUE({args}) ~ Week ~ |\n"
        with pytest.raises(UnsupportedConstruct, match="GET TIME VALUE"):
            compile_model(cx.load_model(write(tmp_path, body)))


# ------------------------------------------------------------------------- ranges from a file

FROM_FILE = """
region : GET DIRECT SUBSCRIPT('names.csv', ',', 'A1', 'C1', '') ~ ~ |
size[region] = GET DIRECT CONSTANTS('sizes.csv', ',', 'A1') ~ Dmnl ~ |
total = SUM(size[region!]) ~ Dmnl ~ |
"""


def test_a_subscript_range_read_from_a_file(tmp_path):
    (tmp_path / "names.csv").write_text("North,South,East\n", encoding="utf-8")
    (tmp_path / "sizes.csv").write_text("1,20,300\n", encoding="utf-8")
    model = cx.load_model(write(tmp_path, FROM_FILE))
    run = numpy_run(model)
    assert [run[f"size[{r}]"].iloc[0] for r in ("North", "South", "East")] == [1, 20, 300]
    assert (run["total"] == 321).all()


def test_a_subscript_range_is_read_from_the_staged_copy_only(tmp_path):
    """Once loaded, the model's range comes from the copy staged at load time: the user's file
    changing afterwards changes nothing."""
    (tmp_path / "names.csv").write_text("North,South,East\n", encoding="utf-8")
    (tmp_path / "sizes.csv").write_text("1,20,300\n", encoding="utf-8")
    model = cx.load_model(write(tmp_path, FROM_FILE))
    (tmp_path / "names.csv").write_text("West,Other,Elsewhere\n", encoding="utf-8")
    run = numpy_run(model)
    assert "size[North]" in run.columns and "size[West]" not in run.columns


def test_a_subscript_range_outside_the_model_folder_is_refused(tmp_path):
    inner = tmp_path / "model"
    inner.mkdir()
    (tmp_path / "names.csv").write_text("North,South,East\n", encoding="utf-8")
    body = "region : GET DIRECT SUBSCRIPT('../names.csv', ',', 'A1', 'C1', '') ~ ~ |\nx[region] = 1 ~ ~ |\n"
    with pytest.raises(CxError):
        cx.load_model(write(inner, body))


# ------------------------------------------------------------------------- the peer suite


@pytest.mark.parametrize("folder, name", [
    ("vector_order", "test_vector_order.mdl"),
    ("invert_matrix", "test_invert_matrix.mdl"),
    ("get_time_value", "test_get_time_value_simple.mdl"),
    ("get_subscript_3d_arrays_xls", "test_get_subscript_3d_arrays_xls.mdl"),
])
def test_suite_models_match_vensim_on_the_numpy_engine(folder, name, peer_suite):
    matches_vensim(suite_model(folder, name), peer_suite)
