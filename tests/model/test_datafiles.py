"""Data files (GET XLS/DIRECT CONSTANTS, DATA, LOOKUPS, SUBSCRIPT) read only from the model's folder.

A model may read CSV and spreadsheet files inside its own folder: the screen confines each name
(:mod:`cxsystems.model.datafiles`), the loader copies the files into its private translation folder
and PySD reads them there. Every escape is refused with one line naming the model file, the line and
the path; nothing is ever written beside the model. Controls show stock PySD reading (or running)
what cxsystems refuses.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxsystems as cx
from cxsystems.model import datafiles, safety

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(os.environ.get("CXSYSTEMS_PEER_SUITE", ROOT.parent / "shared" / "peer-models" / "sdxorg-test-models"))

CONTROL = """
FINAL TIME  = 4
\t~\tWeek
\t~\t|

INITIAL TIME  = 0
\t~\tWeek
\t~\t|

SAVEPER  = 1
\t~\tWeek [0,?]
\t~\t|

TIME STEP  = 0.5
\t~\tWeek [0,?]
\t~\t|
"""

DATA_MODEL = """{UTF-8}
k = GET DIRECT CONSTANTS('data/consts.csv', ',', 'B2')
\t~\tDmnl
\t~\t|

tbl( GET DIRECT LOOKUPS('data/series.csv', ',', 'A', 'B2'))
\t~\tDmnl
\t~\t|

d := GET DIRECT DATA('data/series.csv', ',', 'A', 'C2')
\t~\tDmnl
\t~\t|

y = k * tbl(Time) + d
\t~\tDmnl
\t~\t|

s = INTEG(y, 0)
\t~\tDmnl
\t~\t|
""" + CONTROL


def write_data(folder: Path) -> None:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "consts.csv").write_text("name,value\nk,2.5\n")
    (folder / "data" / "series.csv").write_text("time,lk,dt\n0,1,10\n1,2,11\n2,4,13\n3,8,16\n4,16,20\n")


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def model_with(folder: Path, equation: str, name: str = "m.mdl") -> Path:
    """A model whose second line is ``equation`` (line 2 is where refusals must point)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("{UTF-8}\n" + equation + "\n\t~\tDmnl\n\t~\t|\n" + CONTROL, encoding="utf-8")
    return path


def stock_pysd_run(path: Path) -> pd.DataFrame:
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(path)).run()


def refused(path: Path, line: int, name: str) -> str:
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: refused data function {name!r}: "), msg
    return msg


# ------------------------------------------------------------------------------------------------
# what loads: files inside the model's folder
# ------------------------------------------------------------------------------------------------


def test_constants_lookups_and_data_from_csv_in_the_models_folder(tmp_path):
    folder = tmp_path / "models"
    write_data(folder)
    path = folder / "m.mdl"
    path.write_text(DATA_MODEL)
    before = snapshot(folder)
    model = cx.load_model(path)
    assert model.lookups == ["tbl"]
    run = cx.simulate(model, engine="numpy")  # the numpy engine reads the staged copies itself
    assert snapshot(folder) == before  # nothing written or touched beside the model
    # By hand: k = 2.5, tbl(t) = 2^t, d(t) = the third column, s = Euler integral at dt = 0.5.
    assert run["k"].tolist() == [2.5] * 5
    assert run["d"].tolist() == [10, 11, 13, 16, 20]
    assert run["y"].tolist() == [12.5, 16, 23, 36, 60]
    assert run["s"].iloc[-1] == pytest.approx(99.375)
    # Stock PySD pointed at the same files (in another folder: it writes beside the model).
    other = tmp_path / "stock"
    shutil.copytree(folder, other)
    ref = stock_pysd_run(other / "m.mdl")
    for col in ["k", "d", "y", "s"]:
        assert np.allclose(run[col].to_numpy(), ref[col].to_numpy(), rtol=1e-12, atol=0), col
    # The copies live in the private translation folder, at the same relative paths.
    assert (model._workdir / "data" / "series.csv").read_bytes() == (folder / "data" / "series.csv").read_bytes()


def test_subscripts_from_a_csv_in_the_models_folder(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "regions.csv").write_text("north\nsouth\neast\n")
    path = model_with(folder, "region:\n\tGET DIRECT SUBSCRIPT('regions.csv', ',', 'A1', 'A3', 'r ')\n\t~\t\n"
                      "\t~\t|\nq[region] = 2\n\t~\tDmnl\n\t~\t|\nz = SUM(q[region!])")
    before = snapshot(folder)
    model = cx.load_model(path)
    run = cx.simulate(model, variables=["z", "q"], engine="numpy")  # read from the staged copy
    assert run["z"].tolist() == [6.0] * 5
    assert sorted(c for c in run.columns if c.startswith("q[")) == ["q[r east]", "q[r north]", "q[r south]"]
    assert snapshot(folder) == before


def test_subscript_elements_read_from_a_file_stay_data(tmp_path):
    """Elements read by GET DIRECT SUBSCRIPT are never screened as text: PySD writes them with
    repr(), so quotes and backslashes in a CSV cell stay part of the element's name."""
    folder = tmp_path / "models"
    folder.mkdir()
    marker = tmp_path / "marker"
    (folder / "regions.csv").write_text(f"north\na'];open('{marker}','w')#\nb\"];open(\"{marker}\",\"w\")#\nc\\\n")
    path = model_with(folder, "region:\n\tGET DIRECT SUBSCRIPT('regions.csv', ',', 'A1', 'A4', '')\n\t~\t\n"
                      "\t~\t|\nq[region] = 2\n\t~\tDmnl\n\t~\t|\nz = SUM(q[region!])")
    run = cx.simulate(cx.load_model(path), engine="numpy")
    assert run["z"].tolist() == [8.0] * 5
    assert "q[a'];open('" + str(marker) + "']" in run.columns and "q[c\\]" in run.columns
    assert not marker.exists()


def test_a_symlink_inside_the_folder_is_followed(tmp_path):
    folder = tmp_path / "models"
    write_data(folder)
    (folder / "alias.csv").symlink_to(folder / "data" / "consts.csv")
    path = model_with(folder, "k = GET DIRECT CONSTANTS('alias.csv', ',', 'B2')")
    assert cx.simulate(cx.load_model(path), engine="numpy")["k"].tolist() == [2.5] * 5


# ------------------------------------------------------------------------------------------------
# what is refused: every escape, with one line naming the model file, its line and the path
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, why", [
    ("../secret.csv", "'..' leaves the model's folder"),
    ("data/../../secret.csv", "'..' leaves the model's folder"),
    ("C:/secret.csv", "a drive"),
    ("http://example.org/x.csv", "a URL"),
    ("file:secret.csv", "a URL"),
    ("/secret.csv", "an absolute path"),
    ("?data", "an indirect file reference"),
    (".hidden/secret.csv", "hidden"),
    ("data/consts.py", "a .py file"),
    ("secret", "a suffix-less file"),
    ("missing.csv", "no such file in the model's folder"),
])
def test_escapes_are_refused(tmp_path, name, why):
    folder = tmp_path / "models"
    write_data(folder)
    (tmp_path / "secret.csv").write_text("name,value\nk,7\n")
    path = model_with(folder, f"k = GET DIRECT CONSTANTS('{name}', ',', 'B2')")
    before = snapshot(folder)
    assert why in refused(path, 2, name)
    assert snapshot(folder) == before


def test_an_absolute_path_is_refused_though_the_file_exists(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("name,value\nk,7\n")
    path = model_with(tmp_path / "models", f"k = GET DIRECT CONSTANTS('{secret}', ',', 'B2')")
    assert "an absolute path" in refused(path, 2, str(secret))


@pytest.mark.parametrize("arg, shown", [
    ("a\"b.csv", 'a"b.csv'),
    ("a\\\\b.csv", "a\\\\b.csv"),
    ("data\\\\consts.csv", "data\\\\consts.csv"),
])
def test_quotes_and_backslashes_in_the_path_are_refused(tmp_path, arg, shown):
    write_data(tmp_path / "models")
    path = model_with(tmp_path / "models", f"k = GET DIRECT CONSTANTS('{arg}', ',', 'B2')")
    msg = refused(path, 2, shown)
    assert "quote, backslash or control character" in msg


@pytest.mark.parametrize("args", [
    "'data/consts.csv', 'Sheet\\x27', 'B2'",
    "'data/consts.csv', ',', 'B2+1'",
    "'data/consts.csv', ',', '=HYPERLINK(1)'",
])
def test_sheet_and_cell_arguments_are_plain_text(tmp_path, args):
    write_data(tmp_path / "models")
    path = model_with(tmp_path / "models", f"k = GET DIRECT CONSTANTS({args})")
    with pytest.raises(cx.UnsafeModelError, match=r"m\.mdl:2: refused data function "):
        cx.load_model(path)


@pytest.mark.parametrize("equation, why", [
    ("k = GET DIRECT CONSTANTS('data/consts.csv', ',')", "takes 3 arguments, got 2"),
    ("k = GET DIRECT CONSTANTS('data/consts.csv', ',', x)", "must be a 'quoted' text"),
    ("k = GET 123 CONSTANTS('data/consts.csv', ',', 'B2')", "only through GET XLS/DIRECT"),
    ("k = GET VDF DATA('run.vdf', 'k')", "only through GET XLS/DIRECT"),
    ("k = MAX(1, 'data/consts.csv')", "strings only feed"),
])
def test_other_data_calls_and_strings_are_refused(tmp_path, equation, why):
    write_data(tmp_path / "models")
    path = model_with(tmp_path / "models", equation)
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert str(err.value).startswith(f"{path}:2: refused ") and why in str(err.value)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    folder = tmp_path / "models"
    write_data(folder)
    (tmp_path / "secret.csv").write_text("name,value\nk,7\n")
    (folder / "link.csv").symlink_to(tmp_path / "secret.csv")
    (folder / "data" / "deeper").symlink_to(tmp_path)  # a folder link out, too
    path = model_with(folder, "k = GET DIRECT CONSTANTS('link.csv', ',', 'B2')")
    assert "a symlink to a file outside the model's folder" in refused(path, 2, "link.csv")
    path = model_with(folder, "k = GET DIRECT CONSTANTS('data/deeper/secret.csv', ',', 'B2')")
    refused(path, 2, "data/deeper/secret.csv")


def test_a_fifo_a_folder_and_a_large_file_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    write_data(folder)
    os.mkfifo(folder / "pipe.csv")
    (folder / "dir.csv").mkdir()
    path = model_with(folder, "k = GET DIRECT CONSTANTS('pipe.csv', ',', 'B2')")
    assert "not a regular file" in refused(path, 2, "pipe.csv")  # and did not block on the FIFO
    path = model_with(folder, "k = GET DIRECT CONSTANTS('dir.csv', ',', 'B2')")
    assert "not a regular file" in refused(path, 2, "dir.csv")
    monkeypatch.setattr(datafiles, "MAX_DATA_FILE_BYTES", 10)
    path = model_with(folder, "k = GET DIRECT CONSTANTS('data/consts.csv', ',', 'B2')")
    assert "more than the 10-byte limit" in refused(path, 2, "data/consts.csv")


def test_content_must_match_the_suffix(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "nul.csv").write_bytes(b"name,value\nk,\x002\n")
    (folder / "text.xlsx").write_text("name,value\nk,2\n")
    (folder / "zip.xls").write_bytes((folder / "text.xlsx").read_bytes())
    with zipfile.ZipFile(folder / "linked.xlsx", "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/externalLinks/externalLink1.xml", "<externalLink/>")
    with zipfile.ZipFile(folder / "big.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>" + " " * 5000)
    cases = [("nul.csv", "a NUL byte"), ("text.xlsx", "not a spreadsheet archive"),
             ("zip.xls", "not an Excel 97-2003"), ("linked.xlsx", "links to other workbooks")]
    for name, why in cases:
        path = model_with(folder, f"k = GET DIRECT CONSTANTS('{name}', 'Sheet1', 'B2')")
        assert why in refused(path, 2, name), name
    monkeypatch.setattr(datafiles, "MAX_UNPACKED_BYTES", 1000)  # a zip bomb, in miniature
    path = model_with(folder, "k = GET DIRECT CONSTANTS('big.xlsx', 'Sheet1', 'B2')")
    assert "unpacks to 5,011 bytes" in refused(path, 2, "big.xlsx")
    assert [p.name for p in folder.iterdir() if p.suffix == ".py"] == []


def test_a_file_swapped_after_the_screen_is_not_copied(tmp_path):
    folder = tmp_path / "models"
    write_data(folder)
    path = folder / "m.mdl"
    path.write_text(DATA_MODEL)
    files = safety.screen_vensim_text(path.read_text(), path)
    assert [f.name for f in files] == ["data/consts.csv", "data/series.csv"]
    assert [f.line for f in files] == [2, 6]
    (tmp_path / "secret.csv").write_text("name,value\nk,7\n")
    os.replace(tmp_path / "secret.csv", folder / "data" / "consts.csv")  # same name, another file
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(cx.UnsafeModelError, match=r"m\.mdl:2: refused data function 'data/consts\.csv': the file "
                       "changed after it was checked"):
        datafiles.stage_data_files(files, work)
    assert not (work / "data" / "consts.csv").exists()


def test_the_refusal_points_at_the_line_of_the_call(tmp_path):
    folder = tmp_path / "models"
    write_data(folder)
    path = folder / "m.mdl"
    path.write_text(DATA_MODEL.replace("'data/series.csv', ',', 'A', 'C2'", "'data/nothere.csv', ',', 'A', 'C2'"))
    refused(path, 10, "data/nothere.csv")


# ------------------------------------------------------------------------------------------------
# the hostile corpus: data_*.mdl (controls: stock PySD reads or runs what cxsystems refuses)
# ------------------------------------------------------------------------------------------------


def instantiate(template: str, folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / template
    path.write_bytes((HOSTILE / template).read_bytes().replace(b"__MARKER__", str(marker).encode()))
    return path


def hostile_setup(tmp_path: Path, template: str, where: str) -> tuple[Path, Path]:
    """The hostile model in ``tmp_path/where/models`` with its bait: a secret CSV outside the
    model's folder (k = 7), the symlink to it, regions, a readable demand file."""
    base = tmp_path / where
    marker = base / "marker"
    folder = base / "models"
    path = instantiate(template, folder, marker)
    (base / "secret.csv").write_text("name,value\nk,7\n")
    Path(f"{marker}.csv").write_text("name,value\nk,7\n")
    (base / "regions.csv").write_text("north\nsouth\neast\n")
    (folder / "link.csv").symlink_to(base / "secret.csv")
    (folder / "demand.csv").write_text("time,demand\n0,1\n1,2\n2,3\n")
    return path, marker


HOSTILE_DATA = [
    ("data_parent.mdl", 2, "../secret.csv"),
    ("data_absolute.mdl", 2, "{marker}.csv"),
    ("data_symlink.mdl", 2, "link.csv"),
    ("data_subscript_parent.mdl", 3, "../regions.csv"),
    ("data_escape_sheet.mdl", 2, "\\x27,open(\\x27{marker}\\x27,\\x27w\\x27).close(),\\x27"),
]


def test_the_corpus_lists_every_data_route():
    assert sorted(p.name for p in HOSTILE.glob("data_*.mdl")) == sorted(t for t, _, _ in HOSTILE_DATA)
    readme = (HOSTILE / "README.md").read_text()
    assert all(f"`{t}`" in readme for t, _, _ in HOSTILE_DATA)


@pytest.mark.parametrize("template, line, shown", HOSTILE_DATA, ids=[t for t, _, _ in HOSTILE_DATA])
def test_hostile_data_routes_are_refused(tmp_path, template, line, shown):
    path, marker = hostile_setup(tmp_path, template, "ours")
    before = snapshot(path.parent)
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: refused data function {shown.format(marker=marker)!r}: "), msg
    assert not marker.exists() and snapshot(path.parent) == before


@pytest.mark.parametrize("template", ["data_parent.mdl", "data_absolute.mdl", "data_symlink.mdl"])
def test_control_stock_pysd_reads_the_file_outside(tmp_path, template):
    path, _ = hostile_setup(tmp_path, template, "stock")
    assert stock_pysd_run(path)["secret"].tolist() == [7.0, 7.0, 7.0]


def test_control_stock_pysd_reads_subscripts_outside_while_translating(tmp_path):
    import pysd

    path, _ = hostile_setup(tmp_path, "data_subscript_parent.mdl", "stock")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pysd.read_vensim(str(path))
    assert model.subscripts == {"region": ["north", "south", "east"]}


def test_control_stock_pysd_runs_the_escaped_sheet(tmp_path):
    path, marker = hostile_setup(tmp_path, "data_escape_sheet.mdl", "stock")
    with pytest.raises(Exception):
        stock_pysd_run(path)  # the payload runs while the module is imported, then the call fails
    assert marker.exists()


# ------------------------------------------------------------------------------------------------
# the audit of generated code: PySD's data readers with literal arguments, and nothing else
# ------------------------------------------------------------------------------------------------

READER = ('from pysd.py_backend.external import ExtData\n'
          '_root = 1\n_subscript_dict = {}\n'
          '_ext_data_d = ExtData(r"data/series.csv", ",", "A", "C2", None, {}, _root, {}, "_ext_data_d")\n')


def audit(tmp_path: Path, code: str) -> None:
    py = tmp_path / "generated.py"
    py.write_text(code)
    safety.audit_generated_code([py], "m.mdl", "")


def test_the_audit_accepts_the_readers_pysd_writes(tmp_path):
    audit(tmp_path, READER + '_ext_data_d.add(r"b.csv", ",", "A", "C2", "interpolate", {"dim": ["a"]})\n'
          'x = _ext_data_d(1)\n')


@pytest.mark.parametrize("code, what", [
    (READER.replace('r"data/series.csv"', 'r"../secret.csv"'), "the screen refuses"),
    (READER.replace('r"data/series.csv"', 'r"/etc/passwd.csv"'), "the screen refuses"),
    (READER.replace('r"data/series.csv"', "_root"), "not literal text"),
    (READER.replace('"C2"', '"C" + "2"'), "not literal text"),
    (READER.replace("None", "'a' or ''"), "unknown interpolation method"),
    (READER.replace("None, {}", "None, {'d': list()}"), "computed coordinates"),
    (READER.replace('"_ext_data_d")', '"_ext_data_d", x=1)'), "other arguments"),
    (READER.replace("_ext_data_d = ", "data = "), "would not name so"),
    (READER + "y = ExtData\n", "the name ExtData outside a data reader"),
    (READER + "def f():\n    return ExtData(r'a.csv', ',', 'A', 'B2', None, {}, _root, {}, 'f')\n",
     "the name ExtData outside"),
    (READER + "_ext_data_d.add(r'../a.csv', ',', 'A', 'B2', None, {})\n", "the screen refuses"),
    (READER + "z = [_ext_data_d.add(r'a.csv', ',', 'A', 'B2', None, {})]\n", "of a data reader"),
    ("from pysd.py_backend.external import ExtSubscript\n", "an import of ExtSubscript"),
    (READER.replace("import ExtData", "import ExtData, ExtLookup"), "an import of ExtLookup"),
])
def test_the_audit_refuses_other_reader_code(tmp_path, code, what):
    with pytest.raises(cx.UnsafeModelError) as err:
        audit(tmp_path, code)
    assert str(err.value).startswith("m.mdl: refused generated code") and what in str(err.value), str(err.value)


def test_a_data_keyword_is_one_vensim_knows(tmp_path):
    """A DATA variable's keyword is pasted between quotes (``:a'or':`` would become ``'a'or''``):
    the screen accepts Vensim's four keywords only; the audit refuses any other method too."""
    folder = tmp_path / "models"
    write_data(folder)
    path = model_with(folder, "d :a'or': := GET DIRECT DATA('data/series.csv', ',', 'A', 'C2')")
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert str(err.value).startswith(f"{path}:2: refused data keyword ")
    path = model_with(folder, "d :HOLD BACKWARD: := GET DIRECT DATA('data/series.csv', ',', 'A', 'C2')")
    run = cx.simulate(cx.load_model(path), saveper=0.5, engine="numpy")
    assert run["d"].tolist() == [10, 10, 11, 11, 13, 13, 16, 16, 20]  # held, not interpolated
    other = tmp_path / "stock"
    shutil.copytree(folder, other)
    assert stock_pysd_run(other / "m.mdl")["d"].tolist() == [10, 11, 13, 16, 20]


# ------------------------------------------------------------------------------------------------
# the peer suite: its models with data files load in place and match Vensim's output
# ------------------------------------------------------------------------------------------------

SUITE_DATA_MODELS = [
    "get_constants_subranges/test_get_constants_subranges.mdl",
    "get_data_args_3d_xls/test_get_data_args_3d_xls.mdl",
    "get_lookups_data_3d_xls/test_get_lookups_data_3d_xls.mdl",
    "get_lookups_subscripted_args/test_get_lookups_subscripted_args.mdl",
    "get_lookups_subset/test_get_lookups_subset.mdl",
    "get_mixed_definitions/test_get_mixed_definitions.mdl",
    "get_subscript_3d_arrays_xls/test_get_subscript_3d_arrays_xls.mdl",
    "get_values_order/test_get_values_order.mdl",
    "get_with_missing_values_xlsx/test_get_with_missing_values_xlsx.mdl",
    "get_xls_cellrange/test_get_xls_cellrange.mdl",
    "vector_order/test_vector_order.mdl",
    "with_lookup/test_with_lookup.mdl",
]


@pytest.mark.skipif(not (SUITE / "tests").is_dir(), reason=f"peer suite not found at {SUITE}")
@pytest.mark.parametrize("rel", SUITE_DATA_MODELS)
def test_suite_models_with_data_files_match_vensim(rel, peer_suite):
    path = SUITE / "tests" / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in this copy of the suite")
    before = snapshot(path.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cx.load_model(path)
        run = cx.simulate(model)
    assert snapshot(path.parent) == before
    verdict = peer_suite.compare(peer_suite.with_controls(run, model),
                                 peer_suite.read_canonical(peer_suite.canonical_output(path)))
    assert not verdict, verdict
