"""Loading Vensim models: locate, screen, translate (PySD), and describe.

Pipeline: model file -> :func:`cxsystems.model.safety.screen_vensim_text` -> PySD's Vensim translator
(``AbstractModel``) -> PySD's Python builder, writing into a private temporary directory, never
next to the user's file -> :class:`Model`, which carries the parameters, stocks, time settings and
the scenarios found beside the model file.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import warnings
import weakref
from importlib import resources
from pathlib import Path

from ..errors import CxError
from ..files import remove_stale
from ..names import match, norm
from .arith import PRECEDENCE, fold
from .core import DEFAULT_BASELINE, Model, Parameter
from .datafiles import runtime_data_files, stage_data_files, stage_runtime_data_files
from .safety import screen_vensim_text
from .scenarios import AnalysisSpec, Scenario, load_scenarios
from .xmile import XMILE_SUFFIXES, is_xmile, translate_xmile

#: Name of the model used when none is given.
DEFAULT_MODEL = "cx_service"

#: Translation folders in the temp dir: ``cxsystems-<pid>-<random>`` (``tempfile.mkdtemp``'s
#: eight random characters), so a folder whose process no longer runs can be recognised.
WORKDIR_PREFIX = "cxsystems-"
_WORKDIR = re.compile(r"^cxsystems-(?P<pid>\d+)-[a-z0-9_]{8}$")


def _make_workdir() -> Path:
    """A private translation folder ``<tmp>/cxsystems-<pid>-<random>``, after removing those of
    processes that were killed before their ``weakref.finalize`` could run."""
    remove_stale_workdirs()
    return Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))


def remove_stale_workdirs(tmp: str | os.PathLike | None = None) -> list[Path]:
    """Remove translation folders (``cxsystems-<pid>-<random>``) in ``tmp`` (default: the temp
    dir) whose process no longer runs and that belong to this user (:func:`cxsystems.files.remove_stale`).
    Returns what was removed.

    Folders of running processes (this one included), other users' folders, symlinks and the
    old ``cxsystems-<random>`` folders (no pid: their owner cannot be told) are left alone; outside
    POSIX nothing is removed (no process can be probed harmlessly there).
    """
    return remove_stale(tmp if tmp is not None else tempfile.gettempdir(), (_WORKDIR,), dirs_only=True)


def bundled_models_dir() -> Path:
    """Directory holding the bundled models (``models/`` in a checkout, package data when installed)."""
    checkout = Path(__file__).resolve().parents[2] / "models"
    if (checkout / f"{DEFAULT_MODEL}.mdl").is_file():
        return checkout
    installed = Path(str(resources.files("cxsystems") / "_bundled_models"))
    if (installed / f"{DEFAULT_MODEL}.mdl").is_file():
        return installed
    raise CxError("bundled models not found: reinstall cxsystems (pip install .)")


def bundled_model_names() -> list[str]:
    """Names of the bundled models, e.g. ``['capability_trap', 'cx_service']``."""
    return sorted(p.stem for p in bundled_models_dir().glob("*.mdl"))


def resolve_model_path(name_or_path: str | Path) -> Path:
    """Return the model file (Vensim ``.mdl``, XMILE ``.xmile``/``.stmx``/``.itmx``) for a bundled
    model name or a path; raise CxError if missing."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    suffixes = (".mdl", *XMILE_SUFFIXES)
    if path.suffix.lower() in suffixes or path.exists() or "/" in text or "\\" in text:
        if not path.is_file():
            raise CxError(f"model file not found: {path}")
        if path.suffix.lower() not in suffixes:
            raise CxError(f"{path}: not a Vensim .mdl or XMILE (.xmile, .stmx, .itmx) file")
        return path.resolve()
    name = match(text, bundled_model_names(), what="model", listing=True)
    return bundled_models_dir() / f"{name}.mdl"


def _as_float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _stock_types(ae) -> tuple:
    """PySD's abstract structures that hold state (stocks, smooths, delays, trends)."""
    return (ae.IntegStructure, ae.SmoothStructure, ae.DelayStructure, ae.DelayNStructure,
            ae.DelayFixedStructure, ae.TrendStructure, ae.SmoothNStructure)


def _describe(abstract_model) -> dict:
    """Extract constants, stocks, lookups, units and comments from PySD's AbstractModel."""
    from pysd.translators.structures import abstract_expressions as ae

    params, stocks, lookups, variables, units, comments = {}, [], [], [], {}, {}
    subscripted: list[str] = []
    control = {}
    for section in abstract_model.sections:
        if not section.split and section.name != "__main__":
            continue
        for el in section.elements:
            name = el.name
            comp = el.components[0]
            ast = comp.ast
            if len(el.components) != 1 or (comp.subscripts and comp.subscripts[0]):
                # Subscripted: a variable (the numpy engine unrolls it, one column per element),
                # never a scalar parameter a scenario could set (its elements are not levers).
                if control_key(name) in CONTROL_NAMES:
                    raise CxError(f"{name!r}: a control variable cannot be subscripted")
                variables.append(name)
                subscripted.append(name)
                units[name] = el.units or ""
                comments[name] = " ".join((el.documentation or "").split())
                asts = [c.ast for c in el.components]
                if any(isinstance(a, _stock_types(ae)) for a in asts):
                    stocks.append(name)
                elif any(isinstance(a, (ae.LookupsStructure, ae.GetLookupsStructure)) for a in asts):
                    lookups.append(name)
                continue
            u = el.units or ""
            lims = tuple(el.limits) if el.limits else (None, None)
            lo, hi = (_as_float(lims[0]), _as_float(lims[1])) if len(lims) >= 2 else (math.nan, math.nan)
            doc = " ".join((el.documentation or "").split())
            if control_key(name) in CONTROL_NAMES:
                control[control_key(name)] = ast
                continue
            variables.append(name)
            units[name] = u
            comments[name] = doc
            if isinstance(ast, (int, float)) and not isinstance(ast, bool):
                params[name] = Parameter(name, _py_name(name), float(ast), u, lo, hi, doc)
            elif isinstance(ast, _stock_types(ae)):
                stocks.append(name)
            elif isinstance(ast, (ae.LookupsStructure, ae.GetLookupsStructure)):  # GET ... LOOKUPS
                lookups.append(name)
    return dict(params=params, stocks=stocks, lookups=lookups, variables=variables,
                units=units, comments=comments, control=control, subscripted=subscripted)


#: ``(-2)^x``: a parenthesised negative number raised to a power.
_NEGATIVE_BASE = re.compile(r"\(\s*-\s*(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*\)\s*\^")


def _check_parenthesised_negative_powers(text: str, src: Path) -> None:
    """Refuse ``(-2)^2``: PySD's parser drops the parentheses around a negative number, so it would
    compute -(2^2) = -4 where Vensim computes 4. A wrong number is worse than a refusal."""
    from .safety import vensim_fields

    for f in vensim_fields(text):
        if f.kind != "equation":
            continue
        m = _NEGATIVE_BASE.search(f.text)
        if m:
            line = text.count("\n", 0, f.offset(m.start())) + 1
            raise CxError(f"{src}:{line}: {m.group(0).rstrip('^').strip()}^... is read as a negative "
                          "power by the parser (-(2^2) instead of (-2)^2); write it as (0-2)^... or "
                          "as the positive power with its sign, e.g. 2^2")


def _check_single_definitions(abstract_model, text: str, src: Path) -> None:
    """Refuse a variable defined twice (same name, same subscripts) with a plain one-line error.

    PySD merges the two equations into one variable and writes code for it that does not run
    (a subscripted-array template with no subscripts, using ``xr`` it never imports); the audit of
    the generated code would then refuse it as if text had been turned into code.
    """
    from .safety import definition_lines

    for section in abstract_model.sections:
        for el in section.elements:
            if len(el.components) < 2:
                continue
            seen: dict[str, int] = {}
            for i, comp in enumerate(el.components):
                key = repr(comp.subscripts)
                if key not in seen:
                    seen[key] = i
                    continue
                first, second = seen[key], i
                lines = definition_lines(text, el.name, section.name)
                if len(lines) != len(el.components):  # cannot tell which is which: first two
                    first, second = 0, 1
                subs = comp.subscripts[0] if comp.subscripts else []
                what = f"{el.name}[{', '.join(subs)}]" if subs else el.name
                if len(lines) > second:
                    raise CxError(f"{src}:{lines[second]}: {what!r} is defined twice "
                                  f"(first at line {lines[first]})")
                raise CxError(f"{src}: {what!r} is defined twice")


#: Vensim's control variables (spelled with spaces; ``FINAL_TIME`` and ``final time`` are the same).
CONTROL_NAMES = ("INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER")


def control_key(name: str) -> str:
    """``FINAL_TIME``, ``final time`` -> ``FINAL TIME`` (:func:`cxsystems.names.norm`, upper case)."""
    return norm(name).upper()


class _ChangesInTime(CxError):
    """A control variable's equation is not a fixed number (it may change during the run)."""


def _constant_value(ast, control: dict, params: dict, key: str, src: Path, seen: tuple = ()) -> float:
    """The number a control variable's equation stands for: a number, another control variable or
    constant, or arithmetic on those (``SAVEPER = 2 * TIME STEP``). Anything else (``IF THEN
    ELSE(Time < 5, ...)``, functions, other variables) raises :class:`_ChangesInTime`."""
    from pysd.translators.structures import abstract_expressions as ae

    def value(node) -> float:
        if isinstance(node, bool):
            raise CxError(f"{src}: {key} must be a number, got {node!r}")
        if isinstance(node, (int, float)):
            return float(node)
        if isinstance(node, ae.ReferenceStructure) and node.subscripts is None:
            ref = control_key(node.reference)
            if ref in control:
                if ref in seen or ref == key:
                    raise CxError(f"{src}: {key} is defined through itself")
                return _constant_value(control[ref], control, params, ref, src, (*seen, key))
            hit = next((p for p in params.values() if control_key(p.name) == ref), None)
            if hit is not None:
                return hit.value
        if isinstance(node, ae.ArithmeticStructure):
            ops, args = list(node.operators), list(node.arguments)
            if ops == ["negative"]:
                return -value(args[0])
            return _arith_value(ops, args, value)
        raise _ChangesInTime(f"{src}: {key} must be a number, a constant or arithmetic on them (the "
                             "time grid is fixed for a run); it changes in time")

    return value(ast)


def _arith_value(ops: list, args: list, value) -> float:
    """``a0 op0 a1 op1 ...`` with Vensim's precedence (:func:`cxsystems.model.arith.fold`); a
    negative literal base of ``^`` keeps its sign outside, as Vensim reads ``-2^2``."""
    if any(op not in PRECEDENCE for op in ops):
        raise CxError(f"unsupported operator in {ops}")

    def combine(op: str, a, b) -> float:
        if op == "^" and isinstance(a, (int, float)) and not isinstance(a, bool) and a < 0:
            return -(float(-a) ** value(b))
        x, y = value(a), value(b)
        return {"^": lambda: x ** y, "*": lambda: x * y, "/": lambda: x / y,
                "+": lambda: x + y, "-": lambda: x - y}[op]()

    return value(fold(ops, args, combine))


def _py_name(name: str) -> str:
    return "_".join(name.lower().split())


def _control_value(control: dict, key: str, src: Path, params: dict, default: float | None = None) -> float:
    """The control variable's fixed value, or NaN when its equation changes in time (Vensim then
    evaluates it as an ordinary variable each step: the engine runs it from its equation)."""
    v = control.get(key, default)
    if v is None:
        raise CxError(f"{src}: {key} is missing (spelled {key!r} or {key.replace(' ', '_')!r})")
    try:
        return _constant_value(v, control, params, key, src)
    except _ChangesInTime:
        return math.nan


def load_model(name_or_path: str | Path = DEFAULT_MODEL, data_files=None) -> Model:
    """Load a bundled model by name (``"cx_service"``) or a Vensim ``.mdl`` or Stella/XMILE
    (``.xmile``, ``.stmx``, ``.itmx``) file by path.

    The file is screened for text that could run code, translated by PySD in a private temporary
    directory (nothing is written beside the model), and its scenarios are read from
    ``<model>.scenarios.toml`` beside it if present.

    ``data_files``: a name or a list of names of ``.tab``/``.csv``/``.tsv`` files, relative to the
    model's folder, holding the values of its data variables that have no equation (``x :RAW:``), as
    Vensim and PySD take them at run time: time in the first row or column, the variables (and
    elements, ``x[A]``) named in the other; the first file naming a variable gives its values and
    names that are no data variable are ignored. Confined like the files a model names itself
    (:mod:`cxsystems.model.datafiles`); ``Model.data_files`` records the names.

    Raises:
        CxError: unknown model, unreadable or unsafe file, or a translation error (one line).
    """
    from .safety import audit_generated_code, read_model_text, safe_module_stem

    src = resolve_model_path(name_or_path)
    if is_xmile(src) and data_files:
        raise CxError(f"{src}: data_files= gives the values of Vensim data variables; this is an XMILE model")
    if is_xmile(src):  # Stella/XMILE: its own screen (cxsystems.model.xmile)
        return _load_xmile(src)
    runtime = runtime_data_files(data_files, src)  # confined like the model's own data files
    # Safety (cxsystems.model.safety): size, NUL/control bytes, strict decoding and the encoding
    # header are checked on the bytes; then the text is screened before PySD parses anything.
    text = read_model_text(src)
    # The screen also confines the data files the model reads (GET XLS/DIRECT) to its folder.
    data_files = screen_vensim_text(text, src) or ()

    workdir = _make_workdir()
    # Safety: PySD pastes the file name into the generated module, so translate a copy saved
    # under a name made only of letters, digits and underscores (Model.name keeps the real stem).
    copy = workdir / f"{safe_module_stem(src.stem)}.mdl"
    copy.write_text(text, encoding="utf-8")
    try:
        # PySD reads data files beside the copy it translates: copy the confined ones there
        # (cxsystems.model.datafiles); nothing outside the model's folder is read.
        stage_data_files(data_files, workdir)
        stage_runtime_data_files(runtime, workdir)
        from pysd.builders.python.python_model_builder import ModelBuilder
        from pysd.translators.vensim.vensim_file import VensimFile

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Safety: the copy is UTF-8; never let PySD pick a codec from the file's {header}.
            vfile = VensimFile(copy, encoding="utf-8")
            vfile.parse()
            abstract = vfile.get_abstract_model()
            # A variable defined twice: a plain error, before PySD writes code that cannot run.
            _check_single_definitions(abstract, text, src)
            _check_parenthesised_negative_powers(text, src)
            py_file = Path(ModelBuilder(abstract).build_model())
            # Safety: parse (never import) every generated module, macros included, and refuse
            # anything PySD's code generator never writes.
            audit_generated_code(sorted(workdir.rglob("*.py")), src, text)
    except CxError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    except Exception as exc:  # PySD's parser raises many types; report one line
        shutil.rmtree(workdir, ignore_errors=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CxError(f"{src}: cannot translate model: {first}") from None
    model = _model_from_abstract(src, abstract, py_file, workdir)
    model.data_files = tuple(f.name for f in runtime)  # what the run's data variables read
    return model


def _load_xmile(src: Path) -> Model:
    """Load a Stella/XMILE model: screened, translated and audited by :mod:`cxsystems.model.xmile`
    in a private folder, then described like a Vensim model."""
    workdir = _make_workdir()
    try:
        abstract, py_file, _text, integration = translate_xmile(src, workdir)
    except Exception:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    model = _model_from_abstract(src, abstract, py_file, workdir)
    model.integration = integration
    return model


def _model_from_abstract(src: Path, abstract, py_file: Path, workdir: Path) -> Model:
    """The :class:`Model` of a translated model (Vensim or XMILE): PySD's abstract model described,
    its time settings read, its scenarios loaded from beside the file; ``workdir`` goes with the model."""
    try:
        info = _describe(abstract)
    except CxError as exc:  # name the file the construct is in
        shutil.rmtree(workdir, ignore_errors=True)
        raise CxError(f"{src}: {exc}") from None
    ctl = info["control"]
    times = {key: _control_value(ctl, key, src, info["params"], default)
             for key, default in (("INITIAL TIME", 0.0), ("FINAL TIME", None), ("TIME STEP", None),
                                  ("SAVEPER", ctl.get("TIME STEP")))}
    # a control variable that changes in time (NaN) is also an output variable, as in Vensim's
    for key in CONTROL_NAMES:
        if math.isnan(times[key]) and key in ctl:
            info["variables"].append(key)
            info["units"].setdefault(key, "")
            info["comments"].setdefault(key, "")
    model = Model(
        name=src.stem,
        path=src,
        parameters=info["params"],
        variables=info["variables"],
        stocks=info["stocks"],
        lookups=info["lookups"],
        units=info["units"],
        comments=info["comments"],
        initial_time=times["INITIAL TIME"],
        final_time=times["FINAL TIME"],
        time_step=times["TIME STEP"],
        saveper=times["SAVEPER"],
        abstract_model=abstract,
        py_file=py_file,
        subscripted=tuple(info["subscripted"]),
        _workdir=workdir,
    )
    weakref.finalize(model, shutil.rmtree, str(workdir), True)

    scen_file = src.with_name(f"{src.stem}.scenarios.toml")
    if scen_file.is_file():
        model.scenarios = load_scenarios(scen_file, model)
        model.scenario_file = scen_file
    else:
        model.scenarios = {DEFAULT_BASELINE: Scenario(DEFAULT_BASELINE, "The model as written.", ())}
        model.analysis = AnalysisSpec()
    return model
