"""Hostile models: loading through cxsystems never runs code from a model file.

Every file in ``tests/hostile/`` carries a payload that would create a marker file under
``tmp_path`` if it ever ran (see ``tests/hostile/README.md``). For each route these tests prove:

* through :func:`cxsystems.load_model` (and :func:`cxsystems.simulate` where the model loads) the
  marker never appears and the directory holding the model is byte-for-byte unchanged;
* the model is either refused with a one-line ``path:line: refused <what> <snippet>: <why>``
  :class:`cxsystems.UnsafeModelError`, or loaded with the hostile text kept as inert data;
* control: stock PySD on the same file *does* run the payload (or read the file), so the screen is
  what stops it. Control payloads only ever touch ``tmp_path``.
"""

from __future__ import annotations

import ast
import hashlib
import pickle
import random
import re
import warnings
from pathlib import Path

import pytest

import cxsystems as cx
from cxsystems.model import safety

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parents[1] / "hostile"


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def instantiate(template: str, folder: Path, marker: Path, name: str | None = None) -> Path:
    """Copy a corpus template into ``folder`` with the real marker path filled in."""
    folder.mkdir(parents=True, exist_ok=True)
    spelled = "+".join(f"chr({ord(c)})" for c in str(marker))
    data = (HOSTILE / template).read_bytes()
    data = data.replace(b"__MARKER_CHR__", spelled.encode()).replace(b"__MARKER__", str(marker).encode())
    path = folder / (name or template)
    path.write_bytes(data)
    return path


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder`` with its content hash and modification time."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def stock_pysd(path: Path, *, run: bool = True) -> str:
    """Translate, load and run ``path`` with stock PySD; return the last stage reached."""
    import pysd

    stage = "translate"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = pysd.read_vensim(str(path))
            stage = "run"
            if run:
                model.run(final_time=1)
                stage = "done"
        except Exception:  # the payload may break the generated module after it has run
            pass
    return stage


def assert_refusal(err: cx.UnsafeModelError, path: Path, line: int | None, what: str) -> None:
    msg = str(err)
    assert isinstance(err, cx.CxError) and "\n" not in msg
    prefix = f"{path}:{line}: refused {what}" if line else f"{path}: refused {what}"
    assert msg.startswith(prefix), msg
    assert msg.count(": ") >= 2, msg  # ... refused <what> <snippet>: <why / how to fix>


# ------------------------------------------------------------------------------------------------
# refused routes
# ------------------------------------------------------------------------------------------------

#: file, model line, what is refused, where stock PySD runs the payload ("translate" = while
#: read_vensim parses/builds/imports, "run" = only once the model runs, None = no code payload).
REFUSED = [
    ("lookup_range.mdl", 3, "lookup range", "translate"),
    ("lookup_range_bare.mdl", 3, "lookup range", "translate"),
    ("with_lookup_range.mdl", 3, "lookup range", "translate"),
    ("macro_body.mdl", 3, "lookup range", "translate"),
    ("macro_join.mdl", 11, "lookup range", "translate"),
    ("comment_docstring.mdl", 4, "triple quote", "run"),
    ("encoding_utf7.mdl", 1, "encoding header '{UTF-7}'", "run"),
    ("non_utf8.mdl", 4, "invalid byte 0xff", "run"),
    ("quoted_call.mdl", 2, "quoted name used as a function", "run"),
    ("macro_name.mdl", 2, "macro name", "translate"),
    ("subscript_name.mdl", 2, "quoted name", "run"),
    ("quoted_data_name.mdl", 2, "quoted name", "translate"),
    ("get_xls_data.mdl", 2, "data function", "translate"),
    ("get_direct_subscript.mdl", 3, "data function", None),
    ("nul_byte.mdl", 4, "NUL byte", None),
    ("deep_nesting.mdl", 2, "nesting deeper than 20 parentheses", None),
    ("many_operators.mdl", 2, "equation with 4,000 operators", None),
    ("subscript_range_dos.mdl", 3, "subscript range", None),
]


@pytest.mark.parametrize("template, line, what, stage", REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_model_is_refused(tmp_path, template, line, what, stage):
    marker = tmp_path / "marker"
    folder = tmp_path / "models"
    path = instantiate(template, folder, marker)
    before = snapshot(folder)
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert_refusal(err.value, path, line, what)
    assert not marker.exists()
    assert snapshot(folder) == before  # nothing written or touched beside the model


CODE_ROUTES = [r for r in REFUSED if r[3] is not None]


@pytest.mark.parametrize("template, line, what, stage", CODE_ROUTES, ids=[r[0] for r in CODE_ROUTES])
def test_control_stock_pysd_runs_the_payload(tmp_path, template, line, what, stage):
    """Without cxsystems' screen, stock PySD runs every one of these payloads."""
    marker = tmp_path / "marker"
    path = instantiate(template, tmp_path / "stock", marker)
    reached = stock_pysd(path, run=False)
    assert marker.exists() == (stage == "translate"), reached
    if stage == "run":
        stock_pysd(path)
        assert marker.exists()


def test_control_stock_pysd_reads_files_named_in_the_model(tmp_path):
    path = instantiate("get_direct_subscript.mdl", tmp_path / "stock", tmp_path / "marker")
    (path.parent / "regions.csv").write_text("north\nsouth\neast\n")
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pysd.read_vensim(str(path))
    assert model.subscripts == {"region": ["north", "south", "east"]}  # read while translating


def test_control_stock_pysd_crashes_on_deep_nesting(tmp_path):
    from pysd.translators.vensim.vensim_file import VensimFile

    path = instantiate("deep_nesting.mdl", tmp_path / "stock", tmp_path / "marker")
    with pytest.raises(RecursionError):
        VensimFile(path).parse()


def test_the_audit_alone_stops_build_time_routes(tmp_path, monkeypatch):
    """Defence in depth: with the text screen switched off, the audit of the generated Python
    refuses every route whose payload PySD writes into the module (parse-time eval routes are
    not tried: without the screen they would really run)."""
    import cxsystems.model.loader as loading

    monkeypatch.setattr(loading, "screen_vensim_text", lambda text, source: None)
    for template in ["comment_docstring.mdl", "quoted_call.mdl", "macro_name.mdl",
                     "subscript_name.mdl", "get_xls_data.mdl"]:
        marker = tmp_path / template / "marker"
        folder = tmp_path / template / "models"
        path = instantiate(template, folder, marker)
        before = snapshot(folder)
        with pytest.raises(cx.UnsafeModelError) as err:
            cx.load_model(path)
        assert f"{path}" in str(err.value) and "refused generated code" in str(err.value), template
        assert not marker.exists() and snapshot(folder) == before


# ------------------------------------------------------------------------------------------------
# inert routes: the model loads and runs, the hostile text stays data
# ------------------------------------------------------------------------------------------------


def load_and_run(path: Path, engines=None):
    """Load ``path`` and simulate it with every engine (default: all); they must agree."""
    model = cx.load_model(path)
    runs = [cx.simulate(model, engine=e) for e in engines or cx.simulation.ENGINES]
    for r in runs[1:]:
        assert list(r.columns) == list(runs[0].columns)
        assert r.to_numpy() == pytest.approx(runs[0].to_numpy(), rel=1e-12, abs=1e-12)
    return model, runs[0]


def test_comment_escapes_stay_text(tmp_path):
    marker = tmp_path / "marker"
    path = instantiate("comment_escapes.mdl", tmp_path / "models", marker)
    before = snapshot(path.parent)
    model, run = load_and_run(path)
    assert not marker.exists() and snapshot(path.parent) == before
    assert model.comments["a"].endswith('quote \\"')
    assert model.comments["b"].count("\\u0022") == 6 and str(marker) in model.comments["b"]
    assert model.comments["c"].count("\\N{QUOTATION MARK}") == 6
    assert model.comments["d"].count("\\x22") == 6 and model.comments["d"].count('\\"') == 6
    assert model.comments["e"].count("'''") == 2
    assert run["e"].tolist() == [10.0, 10.0, 10.0]


def test_control_comment_escapes_are_pasted_into_docstrings(tmp_path):
    """Stock PySD copies these comments into docstrings (so the route is real) -- as text only."""
    from pysd.builders.python.python_model_builder import ModelBuilder
    from pysd.translators.vensim.vensim_file import VensimFile

    marker = tmp_path / "marker"
    path = instantiate("comment_escapes.mdl", tmp_path / "stock", marker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vf = VensimFile(path)
        vf.parse()
        py = Path(ModelBuilder(vf.get_abstract_model()).build_model())
    tree = ast.parse(py.read_text())
    docs = {f.name: ast.get_docstring(f) for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert "u0022" in docs["b"] and "N{QUOTATION MARK}" in docs["c"] and str(marker) in docs["d"]
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "open" not in calls


def test_units_and_names_stay_text(tmp_path):
    marker = tmp_path / "marker"
    path = instantiate("units_and_names.mdl", tmp_path / "models", marker)
    before = snapshot(path.parent)
    model, run = load_and_run(path)
    assert not marker.exists() and snapshot(path.parent) == before
    quoted = next(v for v in model.variables if v.startswith('"x), open('))
    stock = next(v for v in model.variables if v.startswith('"stock; open('))
    assert model.units[quoted] == f"Dmnl'), open('{marker}','w').close(), ('"
    assert model.units["customer's $ value"].startswith("Dollar\\N{APOSTROPHE}), open(")
    assert model.stocks == [stock]
    assert run[quoted].tolist() == [3.0] * 3 and run["customer's $ value"].tolist() == [6.0] * 3
    assert run[stock].tolist() == [0.0, 6.0, 12.0]


def test_quotes_and_backslashes_in_variable_names_stay_text(tmp_path):
    """A quoted variable name may hold ' and \\ (Vensim allows it; PySD writes variable names with
    repr): code spelled in such names stays part of the name in every engine and the page."""
    marker = tmp_path / "marker"
    path = instantiate("quoted_variable_names.mdl", tmp_path / "models", marker)
    before = snapshot(path.parent)
    model, run = load_and_run(path)
    rate = next(v for v in model.variables if v.startswith('"rate'))
    stock = next(v for v in model.variables if v.startswith('"stock'))
    assert rate.endswith("\\\" \\\\ \\'\"") and f"open('{marker}','w')" in rate
    assert run[rate].tolist() == [3.0] * 3 and run[stock].tolist() == [1.0, 4.0, 7.0]
    assert not marker.exists() and snapshot(path.parent) == before
    # The browser's engine: the names stay JSON strings, the numbers equal the numpy engine's.
    import json
    import shutil
    import subprocess

    from cxsystems.engine.jsgen import model_to_js

    (tmp_path / "model.js").write_text(model_to_js(model), encoding="utf-8")
    code = ("var m = require(process.argv[1]); var r = m.simulate({}, [], {});"
            "var o = {}; for (var k in r.values) o[k] = Array.from(r.values[k]);"
            "process.stdout.write(JSON.stringify(o));")
    proc = subprocess.run([shutil.which("node") or "/usr/bin/node", "-e", code, str(tmp_path / "model.js")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    values = json.loads(proc.stdout)
    assert values[stock] == [1.0, 4.0, 7.0] and values[rate] == [3.0] * 3
    assert not marker.exists()


def test_sketch_is_never_translated(tmp_path):
    marker = tmp_path / "marker"
    path = instantiate("sketch_payload.mdl", tmp_path / "models", marker)
    before = snapshot(path.parent)
    model, run = load_and_run(path)
    assert model.variables == ["backlog"] and run["backlog"].tolist() == [10.0] * 3
    assert not marker.exists() and snapshot(path.parent) == before


def test_sketch_with_two_backslashes_is_never_translated(tmp_path):
    marker = tmp_path / "marker"
    path = instantiate("sketch_two_backslashes.mdl", tmp_path / "models", marker)
    model, run = load_and_run(path)
    assert model.variables == ["backlog"] and run["backlog"].tolist() == [10.0] * 3
    assert not marker.exists()


#: What Vensim writes after the sketch: the end marker and a settings block with a DEL byte (0x7f).
VENSIM_SETTINGS = "///---\\\\\\\n:L\x7f<%^E!@\n1:Current.vdf\n9:Current\n15:0,0,0,0,0,0\n"


def test_a_file_as_vensim_saves_it_loads(tmp_path):
    """The DEL byte and the settings block after the sketch are drawing data PySD never reads."""
    body = "x = 1 ~ Dmnl ~ |\ny = INTEG(x, 0) ~ Dmnl ~ |"
    text = "{UTF-8}\n" + body + "\n" + CONTROL + "\n\\\\\\---/// Sketch information\nV300\n" + VENSIM_SETTINGS
    path = tmp_path / "saved.mdl"
    path.write_bytes(text.encode("utf-8"))
    assert b"\x7f" in path.read_bytes()
    model, run = load_and_run(path)
    assert run["y"].iloc[-1] == pytest.approx(model.final_time - model.initial_time)


def test_a_del_byte_in_the_model_text_is_still_refused(tmp_path):
    path = write_model(tmp_path, "x = 1 ~ Dmnl ~ a \x7f here |")
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert_refusal(err.value, path, 2, "control character 0x7f")


HOSTILE_NAME = 'm"""; open(__import__(\'os\').environ[\'CX_MARKER\'],\'w\').close() ;""".mdl'


def test_hostile_file_name_is_inert(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("CX_MARKER", str(marker))
    path = instantiate("file_name.mdl", tmp_path / "models", marker, name=HOSTILE_NAME)
    before = snapshot(path.parent)
    model, run = load_and_run(path)
    assert model.name == HOSTILE_NAME[:-4]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*\.py", model.py_file.name)
    assert run["workload"].tolist() == [20.0] * 3
    assert not marker.exists() and snapshot(path.parent) == before


def test_control_stock_pysd_runs_code_from_the_file_name(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("CX_MARKER", str(marker))
    path = instantiate("file_name.mdl", tmp_path / "stock", marker, name=HOSTILE_NAME)
    stock_pysd(path, run=False)
    assert marker.exists()


def test_translation_never_writes_beside_the_model(tmp_path):
    """Existing <model>.py and <macro>.py beside the model stay untouched; no file appears."""
    folder = tmp_path / "models"
    path = instantiate("writes_beside.mdl", folder, tmp_path / "marker")
    (folder / "writes_beside.py").write_text("# the user's own file\n")
    (folder / "scale.py").write_text("# another file of the user's\n")
    before = snapshot(folder)
    model, run = load_and_run(path, engines=("pysd-fast", "pysd"))  # the numpy engine has no macros
    assert run["workload"].tolist() == [20.0] * 3
    assert snapshot(folder) == before
    assert model.py_file.parent != folder and {p.name for p in model.py_file.parent.iterdir()} >= {
        "writes_beside.py", "scale.py"}


def test_control_stock_read_vensim_overwrites_files_beside_the_model(tmp_path):
    folder = tmp_path / "stock"
    path = instantiate("writes_beside.mdl", folder, tmp_path / "marker")
    (folder / "writes_beside.py").write_text("# the user's own file\n")
    (folder / "scale.py").write_text("# another file of the user's\n")
    stock_pysd(path)
    assert "Translated using PySD" in (folder / "writes_beside.py").read_text()
    assert "Translated using PySD" in (folder / "scale.py").read_text()


def test_xmile_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = instantiate("doc_breakout.xmile", tmp_path / "models", marker)
    before = snapshot(path.parent)
    with pytest.raises(cx.UnsafeModelError) as err:  # XMILE's own screen (tests/model/test_xmile.py)
        cx.load_model(path)
    assert_refusal(err.value, path, 9, "<doc> of 'backlog'")
    assert not marker.exists() and snapshot(path.parent) == before


def test_control_stock_pysd_runs_xmile_doc_text(tmp_path):
    import pysd

    marker = tmp_path / "marker"
    path = instantiate("doc_breakout.xmile", tmp_path / "stock", marker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pysd.read_xmile(str(path))
        assert not marker.exists()
        model.run()
    assert marker.exists()


# ------------------------------------------------------------------------------------------------
# initial_condition: PySD unpickles that path; cxsystems never passes one
# ------------------------------------------------------------------------------------------------


def test_no_cxsystems_code_reaches_pysd_unpickling():
    """No call in the package passes ``initial_condition`` or reaches PySD's pickle loaders."""
    offenders = []
    for py in sorted((ROOT / "cxsystems").rglob("*.py")):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "initial_condition":
                offenders.append(f"{py.name}:{node.value.lineno} initial_condition=")
            elif isinstance(node, ast.Attribute) and node.attr in (
                    "set_initial_condition", "import_pickle", "load", "loads", "Unpickler"):
                base = node.value
                if node.attr in ("load", "loads", "Unpickler") and not (
                        isinstance(base, ast.Name) and base.id in ("pickle", "cloudpickle", "dill")):
                    continue
                offenders.append(f"{py.name}:{node.lineno} .{node.attr}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] in ("pickle", "cloudpickle", "dill") for n in names):
                    offenders.append(f"{py.name}:{node.lineno} import pickle")
    assert offenders == []


def test_control_stock_pysd_unpickles_initial_condition(tmp_path):
    import pysd

    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "state.pic"
    bad.write_bytes(pickle.dumps(Payload()))
    model = cx.load_model(ROOT / "tests" / "models" / "engine_logistic.mdl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stock = pysd.load(str(model.py_file))
        with pytest.raises(Exception):
            stock.set_initial_condition(str(bad))
    assert marker.exists()


# ------------------------------------------------------------------------------------------------
# precision: real models, tricky-but-legal text, limits
# ------------------------------------------------------------------------------------------------

ALL_MODELS = sorted((ROOT / "models").glob("*.mdl")) + sorted((ROOT / "tests" / "models").glob("*.mdl"))


@pytest.mark.parametrize("path", ALL_MODELS, ids=[p.name for p in ALL_MODELS])
def test_every_bundled_and_reference_model_loads(path):
    model = cx.load_model(path)
    assert model.variables and model.final_time > model.initial_time


CONTROL = """
FINAL TIME = 2 ~ Week ~ |
INITIAL TIME = 0 ~ Week ~ |
SAVEPER = 1 ~ Week [0,?] ~ |
TIME STEP = 1 ~ Week [0,?] ~ |
"""


def write_model(folder: Path, body: str, name: str = "m.mdl", header: str = "{UTF-8}",
                encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes((header + "\n" + body + "\n" + CONTROL).encode(encoding))
    return path


TRICKY_BUT_LEGAL = r"""
"Net Promoter Score (%)" = 40
	~	Dmnl [0,100]
	~	Survey score [1] (see "NPS" notes); C:\data\nps.xls, \n and ''' quotes are fine here.
	|

customer's $ value = "Net Promoter Score (%)" * 2
	~	Dollar
	~	Apostrophes and dollar signs are legal in names.
	|

"effect of price/quality"(
	[(0,0)-(10,1),(5,0.5)],(0,0),(5,0.5),(10,1))
	~	Dmnl
	~	A lookup with a range and a reference point.
	|

perceived = "effect of price/quality"(Time) + WITH LOOKUP(Time, ([(0,0)-(2,2)],(0,0),(2,2)))
	~	Dmnl
	~	Calls the lookup, plus an inline lookup.
	|

total = customer's $ value + \
		"Net Promoter Score (%)" * 1e-05
	~	Dollar
	~	A line continuation and an exponent.
	|
"""


def test_tricky_but_legal_model_loads(tmp_path):
    path = write_model(tmp_path, TRICKY_BUT_LEGAL)
    model, run = load_and_run(path)
    assert model.parameters["\"Net Promoter Score (%)\""].value == 40
    assert run["perceived"].tolist() == pytest.approx([0.0, 1.1, 2.2])
    assert run["total"].iloc[-1] == pytest.approx(80.0004)
    assert "C:\\data\\nps.xls" in model.comments['"Net Promoter Score (%)"']


@pytest.mark.parametrize("header, encoding", [("{windows-1252}", "cp1252"), ("{latin-1}", "latin-1"),
                                               ("{UTF-8}", "utf-8-sig"), ("", "utf-8")])
def test_plain_encodings_load(tmp_path, header, encoding):
    path = write_model(tmp_path, "x = 1 ~ Dmnl ~ Café crème. |", header=header, encoding=encoding)
    assert cx.load_model(path).comments["x"] == "Café crème."


def test_nesting_limit(tmp_path):
    def nested(n):
        return "IF THEN ELSE(Time > 0, " * n + "1" + ", 0)" * n

    ok = write_model(tmp_path / "ok", f"x = {nested(safety.MAX_NESTING)} ~ Dmnl ~ |")
    model = cx.load_model(ok)
    for engine in cx.simulation.ENGINES:
        assert cx.simulate(model, engine=engine)["x"].tolist() == [0.0, 1.0, 1.0], engine
    bad = write_model(tmp_path / "bad", f"x = {nested(safety.MAX_NESTING + 1)} ~ Dmnl ~ |")
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(bad)
    assert_refusal(err.value, bad, 2, f"nesting deeper than {safety.MAX_NESTING} parentheses")


def test_operator_limit(tmp_path):
    terms = safety.MAX_OPERATORS  # the "=" counts as one operator
    ok = write_model(tmp_path / "ok", "x = " + "+".join(["Time"] * terms) + " ~ Dmnl ~ |")
    model = cx.load_model(ok)
    for engine in cx.simulation.ENGINES:  # at the limit every engine still copes
        assert cx.simulate(model, engine=engine)["x"].tolist() == [0.0, terms, 2.0 * terms], engine
    bad = write_model(tmp_path / "bad", "x = " + "+".join(["Time"] * (terms + 1)) + " ~ Dmnl ~ |")
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(bad)
    assert_refusal(err.value, bad, 2, f"equation with {terms + 1:,} operators")


def test_long_mixed_chain_keeps_vensim_signs(tmp_path):
    """A chain far past the engine's pairwise threshold, with + - * mixed: exact integer results in
    every engine (the balanced tree flips signs inside ``L - (b + c)`` correctly)."""
    coeffs = [(i % 5) + 1 for i in range(600)]
    signs = ["+" if i % 3 else "-" for i in range(1, 600)]
    body = f"{coeffs[0]}*Time" + "".join(f" {s} {c}*Time" for s, c in zip(signs, coeffs[1:]))
    want = coeffs[0] + sum(c if s == "+" else -c for s, c in zip(signs, coeffs[1:]))
    path = write_model(tmp_path, f"x = {body} ~ Dmnl ~ |")
    model = cx.load_model(path)
    for engine in cx.simulation.ENGINES:
        assert cx.simulate(model, engine=engine)["x"].tolist() == [0.0, want, 2.0 * want], engine


@pytest.mark.parametrize("definition, refused", [
    ("tbl(GET DIRECT LOOKUPS('t.csv', ',', '1', 'B2'))", False),
    ('"my table" (GET DIRECT LOOKUPS(\'t.csv\', \',\', \'1\', \'B2\'))', False),
    ("tbl := GET DIRECT LOOKUPS('t.csv', ',', '1', 'B2')", True),
    ("tbl = GET DIRECT LOOKUPS('t.csv', ',', '1', 'B2')", False),
])
def test_lookups_from_a_file_not_as_a_data_variable(tmp_path, definition, refused):
    """PySD mistranslates ``tbl := GET ... LOOKUPS`` (into code naming an undefined ``x``): one
    line saying how to write it, not the audit's "text turned into code"."""
    name = definition.split("(")[0].split(":")[0].split("=")[0].strip()
    path = write_model(tmp_path, f"{definition} ~ Dmnl ~ |\ny = {name}(Time) ~ Dmnl ~ |")
    (tmp_path / "t.csv").write_text("x,0,1,2\ny,0,10,20\n")
    if not refused:
        assert cx.simulate(cx.load_model(path), engine="numpy")["y"].tolist() == [0.0, 10.0, 20.0]
        return
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert_refusal(err.value, path, 2, "data function")
    assert "GET DIRECT LOOKUPS defines a lookup table, not a DATA variable" in str(err.value)


def test_file_size_limit(tmp_path):
    path = write_model(tmp_path, "x = 1 ~ Dmnl ~ |")
    with path.open("ab") as fh:
        fh.write(b" " * (safety.MAX_FILE_BYTES + 1 - path.stat().st_size))
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert_refusal(err.value, path, None, "model file")
    assert f"{safety.MAX_FILE_BYTES:,}-byte limit" in str(err.value)


@pytest.mark.parametrize("body, line, what", [
    ("x = 1 ~ Dmnl ~ a bell \x07 |", 2, "control character 0x07"),
    ("x = 1 ~ Dmnl ~ |\ny = MAX(x, 'a') ~ Dmnl ~ |", 3, "string literal"),
    ("x = 1 ~ Dmnl ~ |\ny = x \\t 2 ~ Dmnl ~ |", 3, "backslash"),
    ("x = 1 ~ Dmnl ~ |\ny = f's(x) ~ Dmnl ~ |", 3, "function name"),
    ("x = 1 ~ Dmnl ~ see ([x]) |", 2, "lookup range"),
    (':MACRO: M(a, "b\'c")\nM = a ~ a ~ |\n:END OF MACRO:\nx = 1 ~ Dmnl ~ |', 2, "macro name"),
    ('x = 1 ~ Dmnl ~ two quotes ""\n:MACRO: M(a)\nM = a ~ a ~ |\n:END OF MACRO:\n" and one |',
     2, "triple quote"),
])
def test_more_refusals(tmp_path, body, line, what):
    path = write_model(tmp_path, body)
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    assert_refusal(err.value, path, line, what)


# ------------------------------------------------------------------------------------------------
# the splitter agrees with PySD's grammar; the audit knows PySD's vocabulary
# ------------------------------------------------------------------------------------------------


def pysd_entries(text: str):
    """(equation, units, comment) of every entry as PySD's own grammars split them; None if
    PySD's file grammar fails (then it translates nothing)."""
    from pysd.translators.vensim import vensim_utils as vu
    from pysd.translators.vensim.vensim_file import FileSectionsVisitor
    from pysd.translators.vensim.vensim_section import SectionElementsVisitor

    class Entries(SectionElementsVisitor):
        def visit_entry(self, n, vc):
            self.entries.append((vc[0].strip(), vc[2].strip(), vc[4].strip()))

    body = text.split("\\\\\\---///", 1)[0]
    clean = re.sub(r"[\n\t\s]+", " ", re.sub(r"\\\n\t", " ", body))
    try:
        sections = FileSectionsVisitor(vu.Grammar.get("file_sections").parse(clean)).entries
    except Exception:
        return None
    out = []
    for section in sections:
        if section is None:
            continue
        try:
            out += Entries(vu.Grammar.get("section_elements").parse(section.content)).entries
        except Exception:
            out.append("FAIL")
    return out


def my_entries(text: str):
    out, fields = [], safety.vensim_fields(text)
    for i, f in enumerate(fields):
        if f.kind == "equation":
            out.append((f.text, fields[i + 1].text, fields[i + 2].text))
    return out, any(f.kind == "unparsed" for f in fields)


SPLIT_TEXTS = [p.read_text(encoding="utf-8", errors="ignore") for p in ALL_MODELS + sorted(HOSTILE.glob("*.mdl"))]
TOKENS = ['"', '\\"', "\\", "~", "|", " ", "\n", "\t", "\\\n\t", "a", "x = 1", "b c", "'", "é", '""',
          '"a"', ",", "[", "]", "(", ")", "x = 1 ~ u ~ d |", " ~ ", ' q"~"| ', ":MACRO: m(x)",
          ':MACRO: "q r"(x, y : z)', ":END OF MACRO:", "{UTF-8}"]


def test_splitter_matches_pysd_grammar():
    rng = random.Random(3)
    no_macros = [t for t in TOKENS if "MACRO" not in t]
    fuzz = ["".join(rng.choice(tokens) for _ in range(rng.randint(1, 30)))
            for tokens in (TOKENS, no_macros) for _ in range(400)]
    compared = strict = 0
    for text in SPLIT_TEXTS + fuzz:
        theirs = pysd_entries(text)
        if theirs is None:
            continue
        mine, unparsed = my_entries(text)
        if "FAIL" in theirs:  # PySD stops at a section it cannot split: we screen it strictly
            assert unparsed, repr(text)
            strict += 1
            continue
        assert mine == theirs, repr(text)
        compared += 1
    assert compared > 200 and strict > 200


def test_audit_vocabulary_covers_pysd_templates():
    """Every attribute PySD's code templates can write is in the audit's allowlist."""
    import pysd

    found = set()
    for py in (Path(pysd.__file__).parent / "builders" / "python").glob("*.py"):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                found |= set(re.findall(r"(?<![0-9])\.([A-Za-z_]\w*)", n.value))
    prose = {"Model", "model", "py_backend", "py", "json"}  # from messages and file suffixes
    assert found - prose <= safety.PYSD_ATTRIBUTES


@pytest.mark.parametrize("code, what", [
    ("import os\n", "an import of os"),
    ("from pysd.py_backend.external import ExtData\n", "pysd.py_backend.external"),
    ("import numpy as np\nnp.save('x', 1)\n", "the attribute .save"),
    ("x = open('m', 'w')\n", "the name open"),
    ("x = __import__('os')\n", "the name __import__"),
    ("x = ().__class__\n", "the attribute .__class__"),
    ("_params = {'a': 'eval'}\nx = eval('1')\n", "the name eval"),
    ("class A:\n    pass\n", "a ClassDef statement"),
    ("def f():\n    global g\n", "a Global statement"),
])
def test_audit_refuses_code_pysd_never_writes(tmp_path, code, what):
    py = tmp_path / "generated.py"
    py.write_text(code)
    with pytest.raises(cx.UnsafeModelError) as err:
        safety.audit_generated_code([py], "m.mdl", "")
    assert str(err.value).startswith("m.mdl: refused generated code") and what in str(err.value)


def test_audit_accepts_generated_code_of_every_model():
    for path in ALL_MODELS + [HOSTILE / "writes_beside.mdl"]:
        model = cx.load_model(path)
        files = sorted(model.py_file.parent.glob("*.py"))
        safety.audit_generated_code(files, path, path.read_text())
        assert files


def test_a_lookup_range_with_reference_points_over_continued_lines_loads(tmp_path):
    """Vensim saves a graph's reference-line points inside the range and breaks long lines with a
    backslash: all plain numbers, so it loads (it was refused); a backslash elsewhere still is not."""
    body = ("y = WITH LOOKUP(Time, ([(0,0)-(2,10),(-1,10),(0.5,\\\n\t\t3)],(0,0),(10,20)))\n"
            "\t~\tDmnl\n\t~\t|")
    model, run = load_and_run(write_model(tmp_path, body))
    assert run["y"].tolist()[:3] == [0.0, 2.0, 4.0]
    bad = write_model(tmp_path, body.replace(",\\\n\t\t3)", ",\\ 3)"), name="bad.mdl")
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(bad)
    assert_refusal(err.value, bad, 2, "lookup range")
