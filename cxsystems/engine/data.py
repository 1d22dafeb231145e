"""External data for the engine: GET XLS/DIRECT CONSTANTS, LOOKUPS, DATA and SUBSCRIPT, read once.

The values are read with PySD's own readers (``pysd.py_backend.external``: ``ExtConstant``,
``ExtLookup``, ``ExtData``), pointed only at the copies the loader staged in the model's private
folder (:mod:`cxsystems.model.datafiles`); a file name that leaves that folder, or a model without
one, is refused. PySD's reader fills missing cells of data and lookups the way its runs do
(interpolated with the variable's own method; ``:RAW:`` keeps them); whatever is still missing
afterwards is refused, as are non-numeric or repeated times.

Data variables without an equation (``x :RAW:``) read the files given at run time
(``load_model(path, data_files=...)``), staged beside the others: :func:`read_runtime_data`.

:func:`data_series_at` is Vensim's (and PySD's ``Data``) rule for reading a data series at a time.
"""

from __future__ import annotations

import bisect
import math
import warnings
from pathlib import Path

from ..errors import UnsupportedConstruct

#: Data keywords (``:INTERPOLATE:`` ...) as PySD spells them; None means interpolate.
DATA_MODES = ("interpolate", "raw", "hold_backward", "look_forward")


def staged_file(workdir, name: str, owner: str) -> Path:
    """The staged copy of data file ``name`` inside ``workdir``; refused unless it is a regular
    file inside that folder (never the user's folder, never a path leaving it)."""
    if workdir is None:
        raise UnsupportedConstruct(f"{owner!r} reads external data, but the model has no private folder")
    text = str(name)
    if not text or text.startswith("?") or "\\" in text:
        raise UnsupportedConstruct(f"{owner!r} reads data file {text!r}, which the engine does not resolve")
    root = Path(workdir).resolve()
    path = root.joinpath(*text.split("/"))
    if path.is_symlink():
        raise UnsupportedConstruct(f"{owner!r}: data file {text!r} is not a staged copy")
    path = path.resolve()
    if root not in path.parents or not path.is_file():
        raise UnsupportedConstruct(f"{owner!r}: data file {text!r} is not a staged copy")
    return path


def _numbers(values, owner: str, what: str) -> list:
    out = [float(v) for v in values]
    if any(math.isnan(v) for v in out):
        raise UnsupportedConstruct(f"{owner!r}: {what} has missing values")
    return out


def _read(ext, owner: str):
    """Run a PySD reader's ``initialize``; its errors become one-line refusals."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ext.initialize()
    except Exception as exc:  # PySD raises ValueError, KeyError, FileNotFoundError, ...
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]  # PySD: name, then why
        raise UnsupportedConstruct(f"{owner!r}: cannot read its external data ({last})") from None
    return ext.data


def _cells(data, coords: dict, tuples) -> dict:
    """Element tuple (one label per dimension of ``coords``) -> the data read for it."""
    return {tup: data.sel(dict(zip(coords, tup))) for tup in tuples}


def read_constant(workdir, ast, owner: str, coords=None) -> object:
    """The value of a GET XLS/DIRECT CONSTANTS (``ast``: PySD's GetConstantsStructure): a float,
    or with ``coords`` (``{dimension: element labels}``, the left side's elements in order) a dict
    element tuple -> float."""
    from pysd.py_backend.external import ExtConstant

    path = staged_file(workdir, ast.file, owner)
    data = _read(ExtConstant(str(path), ast.tab, ast.cell, dict(coords or {}), path.parent,
                             dict(coords or {}), owner), owner)
    if not coords:
        return _numbers([float(data)], owner, "the constant")[0]
    return {tup: _numbers([float(v)], owner, "the constant")[0]
            for tup, v in _cells(data, coords, _tuples(coords)).items()}


def _tuples(coords: dict) -> list:
    from itertools import product

    return list(product(*coords.values()))


def _series(data, dim: str, owner: str, what: str) -> tuple:
    xs = _numbers(data.coords[dim].values, owner, what)
    ys = _numbers(data.values.ravel(), owner, what)
    if data.ndim != 1 or len(xs) != len(ys) or not xs:
        raise UnsupportedConstruct(f"{owner!r}: {what} is not one series")
    if any(b <= a for a, b in zip(xs, xs[1:])):
        raise UnsupportedConstruct(f"{owner!r}: {what} has repeated or unsorted {dim.split('_')[0]} values")
    return tuple(xs), tuple(ys)


def read_lookup(workdir, ast, owner: str, coords=None) -> object:
    """``(xs, ys)`` of a GET XLS/DIRECT LOOKUPS (PySD's GetLookupsStructure); with ``coords``
    a dict element tuple -> ``(xs, ys)``."""
    from pysd.py_backend.external import ExtLookup

    path = staged_file(workdir, ast.file, owner)
    data = _read(ExtLookup(str(path), ast.tab, ast.x_row_or_col, ast.cell, dict(coords or {}),
                           path.parent, dict(coords or {}), owner), owner)
    if not coords:
        return _series(data, "lookup_dim", owner, "the lookup")
    return {tup: _series(d, "lookup_dim", owner, "the lookup")
            for tup, d in _cells(data, coords, _tuples(coords)).items()}


def read_data(workdir, ast, mode: str | None, owner: str, coords=None) -> tuple:
    """``(series, mode)`` of a GET XLS/DIRECT DATA (PySD's GetDataStructure) read with data
    keyword ``mode`` (None: interpolate): ``series`` is ``(times, values)``, or with ``coords`` a
    dict element tuple -> ``(times, values)``."""
    from pysd.py_backend.external import ExtData

    mode = (mode or "interpolate").replace(" ", "_")
    if mode not in DATA_MODES:
        raise UnsupportedConstruct(f"{owner!r}: data keyword {mode!r} is not supported")
    path = staged_file(workdir, ast.file, owner)
    ext = ExtData(str(path), ast.tab, ast.time_row_or_col, ast.cell, mode, dict(coords or {}),
                  path.parent, dict(coords or {}), owner)
    data = _read(ext, owner)
    if not coords:
        return _series(data, "time", owner, "the data"), mode
    return {tup: _series(d, "time", owner, "the data")
            for tup, d in _cells(data, coords, _tuples(coords)).items()}, mode


def read_subscript(workdir, spec: dict, owner: str) -> list:
    """The element names of a subscript range defined by GET XLS/DIRECT SUBSCRIPT (``spec``: PySD's
    ``{file, tab, firstcell, lastcell, prefix}``), read with PySD's reader from the staged copy."""
    from pysd.py_backend.external import ExtSubscript

    path = staged_file(workdir, spec["file"], owner)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = ExtSubscript(str(path), spec["tab"], spec["firstcell"], spec["lastcell"],
                                 spec["prefix"], path.parent).subscript
    except Exception as exc:  # PySD raises ValueError, KeyError, FileNotFoundError, ...
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise UnsupportedConstruct(f"subscript range {owner!r}: cannot read its elements ({last})") from None
    if not names:
        raise UnsupportedConstruct(f"subscript range {owner!r}: its cells hold no element names")
    return [str(n) for n in names]


def no_data_message(name: str, files) -> str:
    """Why data variable ``name`` has no values: no ``data_files=`` given, or none of ``files``
    (the staged copies) names it; says how to supply them."""
    if not files:
        return (f"{name!r} is a data variable without a data file: give its values with "
                "load_model(path, data_files=[...]) (.tab, .csv or .tsv files in the model's folder, "
                "time in the first row or column, the variables named in the other)")
    shown = ", ".join(Path(f).name for f in files)
    return (f"{name!r} is a data variable without a data file: no column {name!r} (or "
            f"{name + '[...]'!r}) in the data files given ({shown})")


def data_variables(abstract_model) -> list[str]:
    """The data variables of PySD's abstract model that have no equation of their own (Vensim's
    ``x :INTERPOLATE:``, read from data files given at run time), in order."""
    from pysd.translators.structures import abstract_expressions as ae

    return [el.name for section in abstract_model.sections[:1] for el in section.elements
            if any(isinstance(c.ast, ae.DataStructure) for c in el.components)]


def read_runtime_data(files, name: str, mode: str | None, coords=None) -> tuple:
    """``(series, mode)`` of data variable ``name`` read from ``files`` (the staged copies of
    ``data_files=``, :func:`cxsystems.model.datafiles.staged_runtime_data_files`) as PySD reads
    them (its ``TabData``: the first file with a column ``name`` or ``name[...]``, time in the
    first row or column); ``series`` is ``(times, values)``, or with ``coords`` (``{dimension:
    element spellings}``) a dict element tuple -> ``(times, values)``.

    Raises:
        CxError: no file names the variable (:func:`no_data_message`) or one of its elements, or
            the files cannot be read (PySD's reader fails on them too).
        UnsupportedConstruct: a value is missing (PySD reads it as NaN).
    """
    import random

    from pysd.py_backend.data import TabData

    from ..errors import CxError

    mode = (mode or "interpolate").replace(" ", "_")
    if mode not in DATA_MODES:
        raise UnsupportedConstruct(f"{name!r}: data keyword {mode!r} is not supported")
    if not files:
        raise CxError(no_data_message(name, files))
    tab = TabData(name, "_".join(name.lower().split()), dict(coords or {}), mode)
    state = random.getstate()  # PySD samples column names with the global random generator
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab.load_data([str(f) for f in files])
    except ValueError as exc:
        if f"Data for {name} not found" in str(exc):
            raise CxError(no_data_message(name, files)) from None
        raise CxError(_unreadable(name, exc)) from None
    except Exception as exc:  # pandas and xarray raise KeyError (an unknown element), ...
        raise CxError(_unreadable(name, exc)) from None
    finally:
        random.setstate(state)
    if not coords:
        return _series(tab.data, "time", name, "the data"), mode
    out = {}
    for tup, d in _cells(tab.data, coords, _tuples(coords)).items():
        if all(math.isnan(float(v)) for v in d.values.ravel()):
            raise CxError(f"{name}[{','.join(tup)}] is a data variable's element without data: no "
                          f"column for it in the data files given ({', '.join(Path(f).name for f in files)})")
        out[tup] = _series(d, "time", f"{name}[{','.join(tup)}]", "the data")
    return out, mode


def _unreadable(name: str, exc: Exception) -> str:
    """Why the data files given cannot be read for ``name`` (PySD's reader, which both engines
    use, would fail the same way): one line."""
    last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
    return (f"{name!r}: cannot read its values from the data files given ({last}); they need a "
            "'Time' column (or first row) and columns named like the variables, 'x' or 'x[A]'")


def data_series_at(xs, ys, mode: str):
    """A closure ``f(t)``: the data series (``xs`` times ascending, ``ys`` values) at time ``t``
    as PySD's ``Data`` reads it for ``mode`` ``hold_backward``, ``look_forward`` or ``raw``: the
    value at a listed time; between times the previous value (hold backward), the next one (look
    forward) or NaN (raw); before the first time the first value, after the last the last one
    (raw: NaN)."""
    exact = dict(zip(xs, ys))
    first_x, last_x, first_y, last_y = xs[0], xs[-1], ys[0], ys[-1]
    nan = float("nan")
    if mode == "raw":
        return lambda t: exact.get(t, nan)
    if mode not in ("hold_backward", "look_forward"):
        raise ValueError(f"unknown data mode {mode!r}")  # pragma: no cover - the translator checks
    # t lies strictly between two listed times (an exact one returned above), where bisect_right is
    # the next one's index: hold backward reads the previous value, look forward the next
    offset = -1 if mode == "hold_backward" else 0

    def at(t):
        v = exact.get(t)
        if v is not None:
            return v
        if t > last_x:
            return last_y
        if t < first_x:
            return first_y
        return ys[bisect.bisect_right(xs, t) + offset]
    return at
