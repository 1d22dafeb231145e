"""Stella / XMILE models (``.xmile``, ``.stmx``, ``.itmx``): loading, running, and the safety screen.

A hand-written XMILE model loads through :func:`cxsystems.load_model` and runs equal to PySD's own
translation of the same file (to 1e-12 relative); ``<sim_specs>`` become the model's time settings;
every hostile XMILE file in ``tests/hostile/`` is refused with one line, runs nothing, reads nothing
and writes nothing beside the model, while stock PySD does run the payloads marked with a stage.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import cxsystems as cx
from cxsystems.errors import EngineNotice
from cxsystems.model import xmile

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile"


def _load_sibling(name: str):
    spec = importlib.util.spec_from_file_location(f"_h2_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_safety_tests = _load_sibling("test_safety")
instantiate, snapshot, assert_refusal = (_safety_tests.instantiate, _safety_tests.snapshot,
                                         _safety_tests.assert_refusal)

NS = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"


def xmile_text(variables: str, *, specs: str = "<start>0</start><stop>20</stop><dt>0.25</dt>",
               method: str = "Euler", extra: str = "") -> str:
    """A complete XMILE document around ``variables`` (the body of ``<variables>``)."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="{NS}" xmlns:isee="http://iseesystems.com/XMILE">
  <header><vendor>cxsystems tests</vendor><product version="1.0">hand written</product></header>
  <sim_specs method="{method}" time_units="Weeks">{specs}</sim_specs>
  {extra}
  <model>
    <variables>
{variables}
    </variables>
  </model>
</xmile>
"""


#: Stocks, flows, a table function (<gf> of its own, called), an inline graphical function,
#: SMTH1, STEP, MIN, IF THEN ELSE, a declared range and documentation.
OPS = """
      <stock name="Backlog"><eqn>100</eqn><inflow>Arrivals</inflow><outflow>Completions</outflow>
        <units>Tasks</units><doc>Tasks waiting. Quotes "like this" and a backslash \\ stay text.</doc></stock>
      <stock name="Staff"><eqn>10</eqn><inflow>Hiring</inflow></stock>
      <flow name="Arrivals"><eqn>50 + STEP(10, 5)</eqn></flow>
      <aux name="Productivity"><eqn>4</eqn><range min="0" max="10"/></aux>
      <flow name="Completions"><eqn>MIN(Backlog, Staff * Productivity * Effect_of_Backlog(Backlog / 100))</eqn></flow>
      <gf name="Effect of Backlog"><xpts>0,1,3</xpts><ypts>0.8,1,1.3</ypts></gf>
      <flow name="Hiring"><eqn>(Backlog / 100 - 1) * 0.5</eqn></flow>
      <aux name="Smoothed Completions"><eqn>SMTH1(Completions, 2)</eqn></aux>
      <aux name="Overloaded"><eqn>IF Backlog > 120 AND NOT (Staff > 20) THEN 1 ELSE 0</eqn></aux>
      <aux name="Pressure"><eqn>Backlog / 100</eqn>
        <gf><xscale min="0" max="3"/><ypts>0, 0.5, 1.5, 2</ypts></gf></aux>
"""

#: Non-negative stocks and flows (the numpy engine does not run them: PySD does).
NON_NEGATIVE = """
      <stock name="Tank"><eqn>5</eqn><outflow>Drain</outflow><non_negative/></stock>
      <flow name="Drain"><eqn>2 - Tank * 0</eqn><non_negative/></flow>
      <flow name="Refill"><eqn>-1</eqn><non_negative/></flow>
      <stock name="Other"><eqn>0</eqn><inflow>Refill</inflow></stock>
"""


def write(tmp_path: Path, text: str, name: str = "ops.xmile") -> Path:
    folder = tmp_path / "models"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def pysd_run(path: Path, tmp_path: Path):
    """Stock PySD's own run of the same file, translated in a copy (PySD writes beside it)."""
    import pysd

    folder = tmp_path / "pysd_copy"
    folder.mkdir(exist_ok=True)
    copy = folder / f"{path.stem}.xmile"  # stock PySD refuses the .itmx suffix
    shutil.copy(path, copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_xmile(str(copy)).run()


def assert_same_run(ours, theirs, columns) -> None:
    assert np.allclose(ours.index.to_numpy(float), theirs.index.to_numpy(float), rtol=0, atol=1e-12)
    for col in columns:
        a, b = ours[col].to_numpy(float), theirs[col].to_numpy(float)
        assert np.allclose(a, b, rtol=1e-12, atol=0), (col, a[:5], b[:5])


# ------------------------------------------------------------------------------------------------
# loading and running
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".xmile", ".stmx", ".itmx"])
def test_xmile_model_runs_equal_to_pysd(tmp_path, suffix):
    path = write(tmp_path, xmile_text(OPS), f"ops{suffix}")
    before = snapshot(path.parent)
    model = cx.load_model(path)
    assert snapshot(path.parent) == before  # nothing written beside the model
    assert model.name == "ops" and model.path == path.resolve()
    assert set(model.stocks) >= {"Backlog", "Staff"} and "Effect of Backlog" in model.lookups
    assert model.parameters["Productivity"].value == 4.0
    assert (model.parameters["Productivity"].min, model.parameters["Productivity"].max) == (0.0, 10.0)
    assert model.units["Backlog"] == "Tasks"
    assert model.comments["Backlog"].startswith('Tasks waiting. Quotes "like this"')
    theirs = pysd_run(path, tmp_path)
    columns = ["Backlog", "Staff", "Arrivals", "Completions", "Hiring", "Smoothed Completions",
               "Overloaded", "Pressure"]
    default = cx.simulate(model)
    numpy_run = cx.simulate(model, engine="numpy")  # the numpy engine runs all of it
    assert_same_run(default, theirs, columns)
    assert_same_run(numpy_run, theirs, columns)
    assert default["Arrivals"].iloc[0] == 50 and default["Arrivals"].iloc[-1] == 60
    assert default["Overloaded"].max() == 1.0  # the condition does switch on


def test_xmile_non_negative_runs_on_the_numpy_engine(tmp_path):
    path = write(tmp_path, xmile_text(NON_NEGATIVE))
    model = cx.load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineNotice)  # no fallback: the numpy engine clips stocks
        ours = cx.simulate(model)
    theirs = pysd_run(path, tmp_path)
    assert_same_run(ours, theirs, ["Tank", "Drain", "Refill", "Other"])
    assert ours["Tank"].min() == 0.0 and ours["Refill"].max() == 0.0  # the clamps hold


def test_a_model_with_scenarios_and_cli_init(tmp_path, cli):
    path = write(tmp_path, xmile_text(OPS))
    r = cli("init", "--model", path)
    assert r.code == 0, r.err
    assert path.with_name("ops.scenarios.toml").is_file() and path.with_name("ops.views.toml").is_file()
    model = cx.load_model(path)
    assert model.scenario_file == path.with_name("ops.scenarios.toml") and len(model.scenarios) == 2
    r = cli("compare", "--model", path, "--out", tmp_path / "cmp")
    assert r.code == 0, r.err


def test_resolve_model_path_accepts_xmile_suffixes(tmp_path):
    from cxsystems.model.loader import resolve_model_path

    for suffix in (".xmile", ".STMX", ".itmx", ".mdl"):
        p = tmp_path / f"m{suffix}"
        p.write_text("x")
        assert resolve_model_path(p) == p.resolve()
    other = tmp_path / "m.xml"
    other.write_text("x")
    with pytest.raises(cx.CxError, match=re.escape(f"{other}: not a Vensim .mdl or XMILE")):
        resolve_model_path(other)
    with pytest.raises(cx.CxError, match="model file not found"):
        resolve_model_path(tmp_path / "missing.stmx")


# ------------------------------------------------------------------------------------------------
# <sim_specs>
# ------------------------------------------------------------------------------------------------

STOCK = """
      <stock name="Level"><eqn>1</eqn><inflow>Growth</inflow></stock>
      <flow name="Growth"><eqn>2</eqn></flow>
"""


def test_sim_specs_become_the_time_settings(tmp_path):
    model = cx.load_model(write(tmp_path, xmile_text(STOCK, specs="<start>2</start><stop>12</stop><dt>0.5</dt>")))
    assert (model.initial_time, model.final_time, model.time_step, model.saveper) == (2.0, 12.0, 0.5, 0.5)
    run = cx.simulate(model)
    assert run.index[0] == 2.0 and run.index[-1] == 12.0 and len(run) == 21
    assert run["Level"].iloc[-1] == pytest.approx(1 + 2 * 10, rel=1e-12)


def test_reciprocal_dt(tmp_path):
    specs = '<start>0</start><stop>3</stop><dt reciprocal="true">4</dt>'
    path = write(tmp_path, xmile_text(STOCK, specs=specs))
    model = cx.load_model(path)
    assert model.time_step == 0.25 and model.saveper == 0.25
    assert_same_run(cx.simulate(model), pysd_run(path, tmp_path), ["Level"])


def test_rk4_runs_on_the_numpy_engine_where_it_changes_the_numbers(tmp_path):
    """<sim_specs method="RK4"> with a stock fed back: every run integrates with RK4 (PySD's XMILE
    translation would silently run Euler), so PySD's engines and the JavaScript engine refuse."""
    feedback = """
      <stock name="Level"><eqn>1</eqn><inflow>Growth</inflow></stock>
      <flow name="Growth"><eqn>Level * 0.5</eqn></flow>
"""
    model = cx.load_model(write(tmp_path, xmile_text(feedback, method="RK4")))
    assert model.integration == "rk4"
    run = cx.simulate(model)  # dt 0.25: RK4's factor per step is the Taylor series of e^0.125 to 4th order
    step = 1 + 0.125 + 0.125 ** 2 / 2 + 0.125 ** 3 / 6 + 0.125 ** 4 / 24
    np.testing.assert_allclose(run["Level"].to_numpy(), step ** np.arange(81), rtol=1e-12)
    assert abs(run["Level"].iloc[-1] / np.exp(10) - 1) < 2e-5  # Euler: 44% short
    euler = cx.simulate(model, method="euler")["Level"].iloc[-1]
    assert euler == pytest.approx(1.125 ** 80, rel=1e-12)
    for engine in ("pysd", "pysd-fast"):
        with pytest.raises(cx.CxError, match="needs engine='numpy'"):
            cx.simulate(model, engine=engine)
    from cxsystems.engine.jsgen import model_to_js

    with pytest.raises(cx.CxError, match="integrates with RK4 .* Euler only"):  # the workshop's engine
        model_to_js(model)
    for eqn in ("TIME", "STEP(1, 3)", "SMTH1(2, 3)"):  # time, or another stateful element
        text = xmile_text(STOCK.replace("<eqn>2</eqn>", f"<eqn>{eqn}</eqn>"), method="RK4")
        assert cx.load_model(write(tmp_path, text, "t.xmile")).integration == "rk4"


def test_other_integration_methods_are_refused(tmp_path):
    feedback = '<stock name="L"><eqn>1</eqn><inflow>G</inflow></stock><flow name="G"><eqn>L * 0.5</eqn></flow>'
    path = write(tmp_path, xmile_text(feedback, method="RK2"))
    with pytest.raises(cx.CxError) as err:
        cx.load_model(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:4: the model asks for RK2 integration") and "Euler or RK4" in msg
    assert "\n" not in msg


def test_rk4_loads_when_every_derivative_is_constant_within_a_step(tmp_path):
    """No stock, or stocks whose flows depend on neither time nor a stock: Euler is exact."""
    model = cx.load_model(write(tmp_path, xmile_text(STOCK, method="RK4")))
    assert cx.simulate(model)["Level"].iloc[-1] == pytest.approx(1 + 2 * 20, rel=1e-12)
    no_stock = '<aux name="a"><eqn>3</eqn></aux><aux name="b"><eqn>a * TIME</eqn></aux>'
    model = cx.load_model(write(tmp_path, xmile_text(no_stock, method="RK4"), "n.xmile"))
    assert cx.simulate(model)["b"].iloc[-1] == 60.0


# ------------------------------------------------------------------------------------------------
# the screen, one construct at a time
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eqn", [
    "a + b * (c - 1) / 2 ^ 3", "-3.5e-2 + .5", 'MAX("Quoted name with $ and !", 0)', "IF a >= 1 OR b <> 2 THEN 1 ELSE 0",
    "a[Dim1, x!]", "1, 2; 3, 4", "SMTH3(a, 2, 0) MOD 3", "my_table(a)", "DELAYN(a, 2, 3, 0)",
])
def test_screen_admits_the_equation_grammar(eqn):
    xmile.screen_expression(eqn, "m.xmile", 3, "x", frozenset({"my_table"}))


@pytest.mark.parametrize("eqn, what", [
    ("a.b", "character '.'"),
    ("lambda: 0", "character ':'"),
    ("{comment} 1", "character '{'"),
    ("'os'", "character \"'\""),
    ("a # b", "character '#'"),
    ('"x\'y" + 1', "quoted name"),
    ('"x\\\\y" + 1', "quoted name"),
    ("__import__(a)", "call"),
    ("eval(a)", "call"),
    ('"open"(a)', "call"),
    ("LOOKUP(a, 1)", "call"),
    ("1" * 80, "number"),
    ("(" * 21 + "1" + ")" * 21, "nesting deeper than 20"),
    ("+".join(["a"] * (xmile.MAX_OPERATORS + 2)), f"equation with {xmile.MAX_OPERATORS + 1:,} operators"),
])
def test_screen_refuses_everything_else(eqn, what):
    with pytest.raises(cx.UnsafeModelError) as err:
        xmile.screen_expression(eqn, "m.xmile", 3, "x")
    msg = str(err.value)
    assert msg.startswith(f"m.xmile:3: refused {what}"), msg
    assert "\n" not in msg


@pytest.mark.parametrize("variables, message", [
    ('<aux name="a"><eqn>1</eqn></aux><module name="sub"/>', r"<module>: modules are not supported"),
    ('<stock name="s"><eqn>1</eqn><conveyor><len>2</len></conveyor></stock>', r"'s' is a conveyor"),
    ('<stock name="s"><eqn>1</eqn><gf><xscale min="0" max="1"/><ypts>0,1</ypts></gf></stock>',
     r"graphical function on a stock"),
    ('<aux name="a"><eqn/></aux>', r"'a' has no equation"),
    ('<stock name="s"><dimensions><dim name="D"/></dimensions><element subscript="x"><eqn>1</eqn></element>'
     '</stock>', r"stock 's' is defined element by element"),
    ('<gf name="g"><xscale min="0" max="1"/><ypts sep="e">1e2e3</ypts></gf>', r"refused separator"),
    ('<gf name="g" type="wild"><xscale min="0" max="1"/><ypts>0,1</ypts></gf>', r"refused type in the graphical function of 'g' 'wild'"),
    ('<gf name="g"><xpts>0,1,2</xpts><ypts>0,1</ypts></gf>', r"refused point count"),
    ('<aux name="a"><eqn>1</eqn><range min="0" max="1+1"/></aux>', r"refused <range> max of 'a'"),
    ('<aux name="a"><eqn>1</eqn><units>x"""y</units></aux>', r"refused <units> of 'a'"),
])
def test_tree_refusals(tmp_path, variables, message):
    path = write(tmp_path, xmile_text(variables))
    with pytest.raises(cx.CxError, match=message) as err:
        cx.load_model(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(path))


def test_file_references_are_refused(tmp_path):
    text = xmile_text('<aux name="a"><eqn>1</eqn></aux>', extra='<data><import resource="in.csv"/></data>')
    with pytest.raises(cx.UnsafeModelError, match=r":5: refused <import resource> 'in.csv'"):
        cx.load_model(write(tmp_path, text))
    text = xmile_text('<aux name="a"><eqn>1</eqn></aux>', extra='<macro name="m"><eqn>1</eqn></macro>')
    with pytest.raises(cx.CxError, match=r":5: <macro>: macros are not supported"):
        cx.load_model(write(tmp_path, text, "m.xmile"))


def test_not_utf8_and_legacy_layout(tmp_path):
    path = tmp_path / "bad.xmile"
    path.write_bytes(xmile_text('<aux name="a"><eqn>1</eqn></aux>').encode("utf-8").replace(b"hand", b"h\xffnd"))
    with pytest.raises(cx.UnsafeModelError, match=r"bad.xmile:3: refused invalid byte 0xff"):
        cx.load_model(path)
    # An early draft's layout (variables directly under <model>) is read as XMILE 1.0's.
    legacy = xmile_text("").replace("<variables>\n\n    </variables>",
                                    '<aux name="a"><eqn>2</eqn></aux><stock name="s"><eqn>1</eqn>'
                                    '<inflow>f</inflow></stock><flow name="f"><eqn>a * s</eqn></flow>')
    run = cx.simulate(cx.load_model(write(tmp_path, legacy, "legacy.xmile")), engine="numpy")
    assert run["s"].iloc[:3].tolist() == [1.0, 1.5, 2.25]  # dt 0.25: s *= 1 + 2 * 0.25
    mixed = xmile_text('<aux name="b"><eqn>1</eqn></aux>').replace("<variables>", '<aux name="a"><eqn>1</eqn></aux><variables>')
    with pytest.raises(cx.CxError, match="variables both directly under <model>"):
        cx.load_model(write(tmp_path, mixed, "mixed.xmile"))


def test_lookup_calls_of_standalone_tables_only(tmp_path):
    """XMILE's LOOKUP(table, x) reads a standalone graphical function; an aux applying a gf to its
    own equation cannot be called (PySD would silently ignore the argument: refused)."""
    table = '<gf name="T"><xpts>0,10</xpts><ypts>0,100</ypts></gf>'
    text = xmile_text(table + '<aux name="y"><eqn>LOOKUP(T, TIME) + T(TIME)</eqn></aux>')
    run = cx.simulate(cx.load_model(write(tmp_path, text, "lookup.xmile")), engine="numpy")
    assert run["y"].iloc[[0, 4, 8]].tolist() == [0.0, 20.0, 40.0]  # 2 * 10 * t at t = 0, 1, 2
    applied = '<aux name="A"><eqn>5</eqn><gf><xpts>0,10</xpts><ypts>0,100</ypts></gf></aux>'
    for call in ("LOOKUP(A, TIME)", "A(TIME)"):
        text = xmile_text(applied + f'<aux name="y"><eqn>{call}</eqn></aux>')
        with pytest.raises(cx.CxError, match=r"calls the graphical function of A \(A\(\.\.\.\) or "
                                             r"LOOKUP\(A, \.\.\.\)\), a variable that applies it") as err:
            cx.load_model(write(tmp_path, text, "applied.xmile"))
        assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------------
# hostile files (tests/hostile/README.md)
# ------------------------------------------------------------------------------------------------

#: file, model line, what is refused, where stock PySD runs the payload ("run" = once the model
#: runs; None = no code route in stock PySD with this lxml, refused all the same).
HOSTILE_XMILE = [
    ("doc_breakout.xmile", 9, "<doc> of 'backlog'", "run"),
    ("xmile_entity_docstring.xmile", 2, "XML declaration", "run"),
    ("xmile_quoted_call.xmile", 8, "quoted name in the equation of 'backlog'", "run"),
    ("xmile_stop_call.xmile", 4, "quoted name in the equation of '<stop>'", "run"),
    ("xmile_dim_name.xmile", 5, "dimension name", "run"),
    ("xmile_external_entity.xmile", 2, "XML declaration", None),
    ("xmile_billion_laughs.xmile", 2, "XML declaration", None),
    ("xmile_processing_instruction.xmile", 5, "processing instruction", None),
    ("xmile_xinclude.xmile", 9, "XInclude", None),
    ("xmile_eqn_import.xmile", 8, "character '.' in the equation of 'backlog'", None),
    ("xmile_eqn_lambda.xmile", 8, "character ':' in the equation of 'backlog'", None),
    ("xmile_name_quotes.xmile", 7, "aux name", None),
    ("xmile_gf_points.xmile", 7, "<ypts> value in the graphical function of 'effect'", None),
]


def test_every_hostile_xmile_file_is_listed():
    listed = {t for t, *_ in HOSTILE_XMILE} | {"xmile_rk4.xmile"}
    assert listed == {p.name for p in HOSTILE.glob("*.xmile")}
    readme = (HOSTILE / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in listed)


@pytest.mark.parametrize("template, line, what, stage", HOSTILE_XMILE, ids=[h[0] for h in HOSTILE_XMILE])
def test_hostile_xmile_is_refused(tmp_path, monkeypatch, template, line, what, stage):
    marker = tmp_path / "marker"
    path = instantiate(template, tmp_path / "models", marker)
    before = snapshot(path.parent)
    opened: list[str] = []
    real_open = open

    def watch(file, *args, **kwargs):  # every file Python opens while loading
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watch)
    with pytest.raises(cx.UnsafeModelError) as err:
        cx.load_model(path)
    monkeypatch.undo()
    assert_refusal(err.value, path, line, what)
    assert not marker.exists() and snapshot(path.parent) == before
    assert not any("passwd" in f for f in opened)


@pytest.mark.parametrize("template", [h[0] for h in HOSTILE_XMILE if h[3] == "run"])
def test_control_stock_pysd_runs_the_xmile_payload(tmp_path, template):
    """Without cxsystems' screen, stock PySD runs each of these payloads when the model runs."""
    import pysd

    marker = tmp_path / "marker"
    path = instantiate(template, tmp_path / "stock", marker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pysd.read_xmile(str(path)).run()
        except Exception:  # the payload may break the module after it has run
            pass
    assert marker.exists()


def test_parser_never_expands_entities_even_past_the_text_screen(tmp_path):
    """Defence in depth: handed a DOCTYPE directly, the parser reads no file and expands nothing."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET42")
    text = (f'<?xml version="1.0"?><!DOCTYPE xmile [<!ENTITY s SYSTEM "file://{secret}"><!ENTITY i "inner">]>'
            f'<xmile xmlns="{NS}"><model><variables><aux name="a"><eqn>&s;</eqn><doc>&i;</doc></aux>'
            '</variables></model></xmile>')
    with pytest.raises(cx.UnsafeModelError, match=r"m.xmile:1: refused XML entity '&s;'"):
        xmile.parse_xmile(text, "m.xmile")
    with pytest.raises(cx.UnsafeModelError, match=r"m.xmile:1: refused XML declaration '<!DOCTYPE"):
        xmile.screen_xml_text(text, "m.xmile")


def test_hostile_rk4_runs_rk4_not_euler(tmp_path):
    """Stock PySD runs this RK4 model with Euler, silently (2.25 at week 2); cxsystems runs RK4."""
    path = instantiate("xmile_rk4.xmile", tmp_path / "models", tmp_path / "marker")
    run = cx.simulate(cx.load_model(path))
    assert run["backlog"].tolist() == pytest.approx([1.0, 1.6484375, 1.6484375 ** 2], rel=1e-12)
    with pytest.raises(cx.CxError, match="needs engine='numpy'"):
        cx.simulate(cx.load_model(path), engine="pysd")


def test_audit_runs_on_xmile_generated_code(tmp_path, monkeypatch):
    """The generated-code audit is the backstop for XMILE too: code it does not expect is refused."""
    from cxsystems.model import safety

    seen = []
    real = safety.audit_generated_code

    def spy(files, source, text):
        files = list(files)
        seen.append(files)
        for f in files:  # as if a route nobody found had put a call into the module
            Path(f).write_text(Path(f).read_text(encoding="utf-8") + "\n__import__('os')\n", encoding="utf-8")
        return real(files, source, text)

    monkeypatch.setattr(xmile, "audit_generated_code", spy)
    path = write(tmp_path, xmile_text(STOCK))
    with pytest.raises(cx.UnsafeModelError, match="refused generated code"):
        cx.load_model(path)
    assert seen and all(str(f).endswith(".py") for f in seen[0])


def test_audit_names_the_line_of_the_variable(tmp_path):
    """The audit's message points at the XMILE line that defines the variable whose code is odd."""
    from cxsystems.model import safety

    text = xmile_text(STOCK)
    root = xmile.parse_xmile(text, "m.xmile")
    lines = xmile.definitions_text(root, text)
    assert lines.count("\n") == text.count("\n")
    growth = next(i for i, t in enumerate(text.splitlines(), 1) if 'name="Growth"' in t)
    assert safety._variable_line(lines, "Growth") == growth
