"""External data for the engine: GET XLS/DIRECT CONSTANTS, LOOKUPS and DATA, read once.

The values are read with PySD's own readers (``pysd.py_backend.external``: ``ExtConstant``,
``ExtLookup``, ``ExtData``), pointed only at the copies the loader staged in the model's private
folder (:mod:`cxsystems.model.datafiles`); a file name that leaves that folder, or a model without
one, is refused. PySD's reader fills missing cells of data and lookups the way its runs do
(interpolated with the variable's own method; ``:RAW:`` keeps them); whatever is still missing
afterwards is refused, as are non-numeric or repeated times.

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
