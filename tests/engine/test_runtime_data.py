"""Data variables without an equation (``x :RAW:``) read the data files given at run time:
``cx.load_model(path, data_files=[...])``, as Vensim and PySD take them.

Hand-written models and small .tab/.csv/.tsv files in ``tmp_path``: values and the four data
keywords checked by hand, the numpy engine equal to PySD (``engine="pysd"``, which gets the same
staged copies); the files confined to the model's folder like the files a model names itself; the
peer suite's model against Vensim's output (skipped when the suite is missing).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.errors import UnsafeModelError

HERE = Path(__file__).resolve().parent

MODEL = """{UTF-8}
region:
\tnorth, south
\t~\t
\t~\t|
level :INTERPOLATE:
\t~\tDmnl
\t~\t|
held[region] :HOLD BACKWARD:
\t~\tDmnl
\t~\t|
ahead :LOOK FORWARD:
\t~\tDmnl
\t~\t|
raw :RAW:
\t~\tDmnl
\t~\t|
out = level * 2 + held[north]
\t~\tDmnl
\t~\t|
stock = INTEG(level, 0)
\t~\tDmnl
\t~\t|
FINAL TIME = 10
\t~\tWeek
\t~\t|
INITIAL TIME = 0
\t~\tWeek
\t~\t|
SAVEPER = 0.5
\t~\tWeek
\t~\t|
TIME STEP = 0.5
\t~\tWeek
\t~\t|
"""

#: one column per variable; "extra" names no data variable (ignored, as PySD ignores it)
TAB = ("Time\tlevel\theld[north]\theld[south]\textra\n"
       "0\t1\t10\t1\t9\n2\t3\t20\t2\t9\n5\t0\t30\t3\t9\n10\t4\t40\t4\t9\n")
#: transposed: one row per variable; "level" is also in the .tab, which comes first and wins
CSV = "Time,1,4,8\nahead,5,6,7\nraw,0.5,1.5,2.5\nlevel,99,99,99\n"


def _model_dir(tmp_path: Path, files: dict) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    path = tmp_path / "m.mdl"
    path.write_text(MODEL, encoding="utf-8")
    return path


def _equal_to_pysd(model):
    ours = cx.simulate(model, engine="numpy", allow_nonfinite=True)
    ref = cx.simulate(model, engine="pysd", allow_nonfinite=True)
    assert list(ours.columns) == list(ref.columns)
    np.testing.assert_array_equal(ours.index.values, ref.index.values)
    for col in ours.columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-12,
                                   atol=0, equal_nan=True, err_msg=col)
    return ours


@pytest.mark.parametrize("tab_name", ["data.tab", "data.tsv"])
def test_data_variables_read_the_files_given(tmp_path, tab_name):
    path = _model_dir(tmp_path, {tab_name: TAB, "data.csv": CSV})
    model = cx.load_model(path, data_files=[tab_name, "data.csv"])
    assert model.data_files == (tab_name, "data.csv")
    at = _equal_to_pysd(model).loc
    # :INTERPOLATE: between (2, 3) and (5, 0); clamped after the last time
    assert at[1.0, "level"] == 2.0 and at[3.0, "level"] == pytest.approx(2.0, rel=1e-15)
    assert at[7.5, "level"] == 2.0 and at[10.0, "level"] == 4.0
    # :HOLD BACKWARD: per element, by the element's column
    assert at[4.5, "held[north]"] == 20.0 and at[5.0, "held[north]"] == 30.0
    assert at[9.5, "held[south]"] == 3.0
    # :LOOK FORWARD: the next listed value; the first before the first time, the last after
    assert at[0.0, "ahead"] == 5.0 and at[1.5, "ahead"] == 6.0 and at[4.5, "ahead"] == 7.0
    assert at[9.0, "ahead"] == 7.0
    # :RAW: only at listed times
    assert at[4.0, "raw"] == 1.5 and math.isnan(at[1.5, "raw"]) and math.isnan(at[0.0, "raw"])
    assert at[1.0, "out"] == 2.0 * 2 + 10
    assert at[1.0, "stock"] == 0.5 * (1.0 + 1.5)  # Euler on level(0) = 1, level(0.5) = 1.5


def test_the_staged_copy_is_read_not_the_file_later(tmp_path):
    path = _model_dir(tmp_path, {"data.tab": TAB, "data.csv": CSV})
    model = cx.load_model(path, data_files=("data.tab", "data.csv"))
    (tmp_path / "data.tab").write_text(TAB.replace("\t3\t20", "\t300\t20"), encoding="utf-8")
    assert cx.simulate(model, engine="numpy", allow_nonfinite=True).loc[2.0, "level"] == 3.0


def test_a_data_variable_without_data_is_one_line_saying_how_to_give_it(tmp_path):
    model = cx.load_model(_model_dir(tmp_path, {}))
    assert getattr(model, "data_files", ()) == ()
    for engine in ("auto", "numpy", "pysd"):
        with pytest.raises(cx.CxError, match=r"'level' is a data variable without a data file: "
                                             r"give its values with load_model\(path, data_files="):
            cx.simulate(model, engine=engine)


def test_a_variable_or_element_the_files_miss_is_named(tmp_path):
    path = _model_dir(tmp_path, {"data.tab": TAB, "data.csv": CSV.replace("ahead", "behind")})
    model = cx.load_model(path, data_files=["data.tab", "data.csv"])
    with pytest.raises(cx.CxError, match=r"'ahead' is a data variable without a data file: no "
                                         r"column 'ahead' .* \(data.tab, data.csv\)"):
        cx.simulate(model)
    north = "Time\tlevel\theld[north]\n0\t1\t10\n10\t4\t40\n"  # no column for held[south]
    model = cx.load_model(_model_dir(tmp_path, {"north.tab": north}), data_files=["north.tab", "data.csv"])
    with pytest.raises(cx.CxError, match=r"held\[south\] is a data variable's element without data"):
        cx.simulate(model, engine="numpy")
    lower = _model_dir(tmp_path, {"lower.tab": TAB.replace("Time", "time")})
    model = cx.load_model(lower, data_files="lower.tab")
    for engine in ("auto", "numpy"):  # PySD's reader, which both engines use, needs "Time"
        with pytest.raises(cx.CxError, match=r"^'level': cannot read its values .* need a 'Time' column"):
            cx.simulate(model, engine=engine)


def test_data_files_are_confined_to_the_models_folder(tmp_path):
    inside = tmp_path / "inside"
    inside.mkdir()
    path = _model_dir(inside, {"data.tab": TAB})
    (tmp_path / "outside.tab").write_text(TAB, encoding="utf-8")
    (inside / "link.tab").symlink_to(tmp_path / "outside.tab")
    (inside / "book.xlsx").write_bytes(b"PK")
    refusals = {"../outside.tab": "'..' leaves the model's folder",
                str(tmp_path / "outside.tab"): "an absolute path",
                "link.tab": "a symlink to a file outside the model's folder",
                "book.xlsx": "a .xlsx file",
                "nope.tab": "no such file"}
    for name, why in refusals.items():
        with pytest.raises(UnsafeModelError) as err:
            cx.load_model(path, data_files=["data.tab", name])
        message = str(err.value)
        assert "\n" not in message and f"refused data file (data_files=) {name!r}: {why}" in message


SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", HERE.parents[2] / "shared" / "peer-models"
                            / "sdxorg-test-models"))


def test_suite_model_with_data_files_matches_vensim(peer_suite):
    rel = "tests/data_from_other_model/test_data_from_other_model.mdl"
    path = SUITE / rel
    if not path.exists():
        pytest.skip("the peer suite is missing")
    model = cx.load_model(path, data_files=peer_suite.DATA_FILES[rel])
    ref = peer_suite.read_canonical(peer_suite.canonical_output(path))
    for engine in ("numpy", "pysd"):
        run = cx.simulate(model, engine=engine, allow_nonfinite=True)
        verdict = peer_suite.compare(peer_suite.with_controls(run, model), ref)
        assert not verdict, f"{engine}: {verdict}"
