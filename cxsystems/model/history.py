"""History data: an organisation's observed series, read from a CSV or an Excel workbook.

A history file has one row per observation time and one column per observed variable::

    time,Contact Volume,Ticket Backlog
    1,5120,830
    2,5090,
    4,5230,845

* Time: a ``time`` column in the model's time units (weeks for a weekly model), or a ``date``
  column (``YYYY-MM-DD``, or date cells in a workbook) with a declared ``start_date``: the date at
  the model's INITIAL TIME; dates are converted with the model's time unit (Day, Week, Month,
  Quarter, Year, Hour: a month is 365.25/12 days, a year 365.25 days).
* Variables: every other column names a model variable (case, spaces and underscores do not
  matter: :meth:`cxsystems.Model.variable`), or is mapped to one by a small TOML file
  (``"Weekly tickets" = "Contact Volume"``; ``"Notes" = false`` ignores a column).
* Gaps (empty cells) and irregular sampling are allowed; each series keeps its own times.
* Refused with a one-line :class:`~cxsystems.errors.CxError` naming the file, row (as a spreadsheet
  numbers it: the header is row 1) and column: unknown columns, non-numeric or non-finite cells,
  times outside the model's horizon, repeated times, a column with no values.

:func:`read_history` returns a frozen :class:`History`: per-series arrays of (time, value) and a
long (tidy) DataFrame view.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..errors import CxError
from ..names import find, norm

if TYPE_CHECKING:  # pragma: no cover
    from .core import Model

#: Days in one model time unit, by the unit's normalised name (singular).
DAYS_PER_UNIT: dict[str, float] = {
    "hour": 1 / 24, "day": 1.0, "week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25,
}
_UNIT_ALIASES = {"hr": "hour", "hours": "hour", "days": "day", "weeks": "week", "wk": "week", "months": "month",
                 "mo": "month", "quarters": "quarter", "years": "year", "yr": "year", "yrs": "year"}

#: Most rows a history file may have (a guard against reading a huge file by mistake).
MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class Series:
    """One observed variable: the model's name for it, the file's column, and its observations
    (times in model time units, ascending; no gaps: empty cells are left out)."""

    variable: str
    column: str
    times: np.ndarray
    values: np.ndarray

    @property
    def n(self) -> int:
        """Number of observations."""
        return int(self.times.size)


@dataclass(frozen=True)
class History:
    """Observed series of one history file (see :func:`read_history`)."""

    name: str
    series: tuple[Series, ...]
    path: Path | None = None
    start_date: _dt.date | None = None
    time_unit: str = ""

    @property
    def variables(self) -> tuple[str, ...]:
        """The model variables observed, in the file's column order."""
        return tuple(s.variable for s in self.series)

    def get(self, variable: str) -> Series:
        """The series of one model variable (names matched as everywhere)."""
        hit = find(variable, self.variables)
        if hit is None:
            raise CxError(f"{self.name}: no series for {variable!r}; it has {', '.join(self.variables)}")
        return self.series[self.variables.index(hit)]

    @property
    def frame(self):
        """The history as a long (tidy) DataFrame: columns ``variable, time, value``."""
        import pandas as pd

        parts = [pd.DataFrame({"variable": s.variable, "time": s.times, "value": s.values}) for s in self.series]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["variable", "time", "value"])

    @property
    def horizon(self) -> tuple[float, float]:
        """Earliest and latest observation time over all series."""
        t = np.concatenate([s.times for s in self.series])
        return float(t.min()), float(t.max())


# ------------------------------------------------------------------------------ reading


def read_history(model: "Model", data: Any, *, mapping: Any = None, start_date: Any = None,
                 sheet: str | None = None) -> History:
    """Read a history file (``.csv``, ``.xlsx``/``.xlsm``) or a pandas DataFrame for ``model``.

    Args:
        model: the model whose variables the columns name and whose horizon the times must fit.
        data: a path, a :class:`History` (returned as is), or a DataFrame (columns as in a file).
        mapping: column name -> model variable (a dict, or a path to a TOML file of
            ``"Column" = "Variable"`` lines; ``false`` ignores a column).
        start_date: the calendar date at the model's INITIAL TIME (``"2024-01-01"`` or a date);
            needed with a ``date`` column, refused with a ``time`` column.
        sheet: the workbook sheet (default: the first).

    Raises:
        CxError: one line naming the file, row and column at fault.
    """
    if isinstance(data, History):
        return data
    where_map, mapping = _read_mapping(mapping)
    start = _parse_start(start_date)
    try:
        import pandas as pd

        is_frame = isinstance(data, pd.DataFrame)
    except ImportError:  # pragma: no cover - pandas is a dependency
        is_frame = False
    if is_frame:
        header = [str(c) for c in data.columns]
        rows = [list(r) for r in data.itertuples(index=False, name=None)]
        return _build(model, "data", None, header, rows, mapping, where_map, start)
    if not isinstance(data, (str, os.PathLike)):
        raise CxError(f"data must be a CSV or Excel file path or a DataFrame, got {type(data).__name__}")
    path = Path(data)
    if not path.is_file():
        raise CxError(f"{path}: no such history file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        header, rows = _read_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        header, rows = _read_xlsx(path, sheet)
    else:
        raise CxError(f"{path}: unsupported history file {path.suffix or '(no suffix)'!r}; use .csv or .xlsx")
    return _build(model, path.name, path, header, rows, mapping, where_map, start)


def _read_csv(path: Path) -> tuple[list[str], list[list[Any]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = []
            for row in reader:
                rows.append(row)
                if len(rows) > MAX_ROWS:
                    raise CxError(f"{path.name}: more than {MAX_ROWS:,} rows")
    except UnicodeDecodeError:
        raise CxError(f"{path.name}: not a UTF-8 text CSV file") from None
    except csv.Error as exc:
        raise CxError(f"{path.name}: not a readable CSV file ({exc})") from None
    if header is None:
        raise CxError(f"{path.name}: the file is empty (it needs a header row: time or date, then variables)")
    return [h.strip() for h in header], rows


def _read_xlsx(path: Path, sheet: str | None) -> tuple[list[str], list[list[Any]]]:
    import zipfile

    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise CxError(f"{path.name}: not a readable Excel workbook ({' '.join(str(exc).split())})") from None
    try:
        if sheet is None:
            ws = book.worksheets[0]
        elif sheet in book.sheetnames:
            ws = book[sheet]
        else:
            raise CxError(f"{path.name}: no sheet {sheet!r}; it has {', '.join(book.sheetnames)}")
        it = ws.iter_rows(values_only=True)
        first = next(it, None)
        if first is None:
            raise CxError(f"{path.name}: the sheet {ws.title!r} is empty")
        header = ["" if c is None else str(c).strip() for c in first]
        rows = []
        for row in it:
            rows.append(list(row))
            if len(rows) > MAX_ROWS:
                raise CxError(f"{path.name}: more than {MAX_ROWS:,} rows")
    finally:
        book.close()
    while header and header[-1] == "":  # trailing empty header cells of a sheet
        header.pop()
    return header, rows


def _read_mapping(mapping: Any) -> tuple[str, dict[str, Any]]:
    """``(where, {column: variable or False})`` from a dict or a TOML file."""
    if mapping is None:
        return "", {}
    if isinstance(mapping, Mapping):
        where, raw = "mapping", dict(mapping)
    else:
        from ..files import read_toml

        path = Path(mapping)
        if not path.is_file():
            raise CxError(f"{path}: no such column map file")
        where = path.name
        try:
            raw = read_toml(path)
        except CxError:
            raise
        except Exception as exc:  # tomllib.TOMLDecodeError and friends
            raise CxError(f"{path.name}: not a valid TOML column map ({' '.join(str(exc).split())})") from None
    for col, var in raw.items():
        if not (isinstance(var, str) or var is False):
            raise CxError(f"{where}: column {col!r} must map to a model variable name (text) or false, got {var!r}")
    return where, raw


def _parse_start(start_date: Any) -> _dt.date | None:
    if start_date is None or start_date == "":
        return None
    if isinstance(start_date, _dt.datetime):
        return start_date.date()
    if isinstance(start_date, _dt.date):
        return start_date
    try:
        return _dt.date.fromisoformat(str(start_date).strip())
    except ValueError:
        raise CxError(f"start date {start_date!r} is not a date: write YYYY-MM-DD") from None


def days_per_unit(model: "Model") -> float:
    """Days in one unit of the model's clock (``Week`` -> 7); a CxError if the unit is not a calendar unit."""
    unit = norm(model.time_unit)
    unit = _UNIT_ALIASES.get(unit, unit)
    if unit not in DAYS_PER_UNIT:
        raise CxError(f"model {model.name}: its time unit {model.time_unit or '(none)'!r} is not a calendar unit "
                      f"({', '.join(DAYS_PER_UNIT)}); give a time column instead of dates")
    return DAYS_PER_UNIT[unit]


def _is_empty(cell: Any) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float) and math.isnan(cell):
        return True
    return isinstance(cell, str) and cell.strip() == ""


def _number(cell: Any, where: str) -> float:
    if isinstance(cell, bool):
        raise CxError(f"{where}: {cell!r} is not a number")
    if isinstance(cell, (int, float, np.integer, np.floating)):
        v = float(cell)
    else:
        text = str(cell).strip()
        try:
            v = float(text.replace(",", "")) if _grouped(text) else float(text)
        except ValueError:
            raise CxError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise CxError(f"{where}: {cell!r} is not a finite number")
    return v


def _grouped(text: str) -> bool:
    """``1,234`` or ``12,345.5``: thousands separators (a quoted CSV cell)."""
    import re

    return re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", text) is not None


def _date(cell: Any, where: str) -> _dt.date:
    if isinstance(cell, _dt.datetime):
        return cell.date()
    if isinstance(cell, _dt.date):
        return cell
    try:
        import pandas as pd

        if isinstance(cell, pd.Timestamp):
            return cell.date()
    except ImportError:  # pragma: no cover
        pass
    text = str(cell).strip()
    try:
        return _dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise CxError(f"{where}: {text!r} is not a date: write YYYY-MM-DD") from None


def _build(model: "Model", name: str, path: Path | None, header: Sequence[str], rows: Sequence[Sequence[Any]],
           mapping: Mapping[str, Any], where_map: str, start: _dt.date | None) -> History:
    cols = [str(h).strip() for h in header]
    if not cols or all(c == "" for c in cols):
        raise CxError(f"{name}: no header row (it needs time or date, then one column per variable)")
    for j, c in enumerate(cols):
        if c == "":
            raise CxError(f"{name}: column {j + 1} has no name in the header row")
    seen: dict[str, str] = {}
    for c in cols:
        if norm(c) in seen:
            raise CxError(f"{name}: column {c!r} appears twice (as {seen[norm(c)]!r})")
        seen[norm(c)] = c
    for key in mapping:
        if find(key, cols) is None:
            raise CxError(f"{where_map}: maps column {key!r}, which {name} does not have; its columns are "
                          f"{', '.join(cols)}")
    time_col = find("time", cols)
    date_col = find("date", cols)
    if time_col is not None and date_col is not None:
        raise CxError(f"{name}: has both a time and a date column; keep one")
    if time_col is None and date_col is None:
        raise CxError(f"{name}: needs a 'time' column (in model time units) or a 'date' column with a start date")
    if date_col is not None and start is None:
        raise CxError(f"{name}: column {date_col!r} holds dates; give the date at the model's initial time "
                      "(start_date=, --start-date YYYY-MM-DD)")
    if time_col is not None and start is not None:
        raise CxError(f"{name}: a start date is given but the file has a time column, not dates")
    tcol = time_col if time_col is not None else date_col
    tj = cols.index(tcol)
    unit_days = days_per_unit(model) if date_col is not None else 1.0

    variables: list[tuple[int, str, str]] = []  # (column index, column, model variable)
    for j, c in enumerate(cols):
        if j == tj:
            continue
        key = find(c, mapping)
        if key is not None:
            target = mapping[key]
            if target is False:
                continue
            var = model.variable(target, where=f"{where_map}: column {c!r}")
        else:
            var = model.variable(c, where=f"{name}, row 1, column {c!r}")
        variables.append((j, c, var))
    if not variables:
        raise CxError(f"{name}: no variable columns besides {tcol!r}")
    dup: dict[str, str] = {}
    for _, c, var in variables:
        if var in dup:
            raise CxError(f"{name}: columns {dup[var]!r} and {c!r} both hold {var!r}")
        dup[var] = c

    lo, hi = float(model.initial_time), float(model.final_time)
    times: list[float] = []
    row_of: list[int] = []
    cells: list[Sequence[Any]] = []
    for i, row in enumerate(rows):
        rowno = i + 2
        row = list(row)
        if all(_is_empty(x) for x in row):
            continue  # blank line
        if len(row) > len(cols) and any(not _is_empty(x) for x in row[len(cols):]):
            raise CxError(f"{name}, row {rowno}: has more cells than the header has columns")
        row += [None] * (len(cols) - len(row))
        cell = row[tj]
        where = f"{name}, row {rowno}, column {tcol!r}"
        if _is_empty(cell):
            raise CxError(f"{where}: the {tcol} is empty")
        if date_col is not None:
            t = lo + (_date(cell, where) - start).days / unit_days
        else:
            t = _number(cell, where)
        if not (lo - 1e-9 <= t <= hi + 1e-9):
            shown = f"{cell} (time {t:g})" if date_col is not None else f"{t:g}"
            raise CxError(f"{where}: {shown} is outside the model's horizon [{lo:g}, {hi:g}]"
                          f"{' ' + model.time_unit if model.time_unit else ''}")
        times.append(t)
        row_of.append(rowno)
        cells.append(row)
    if not times:
        raise CxError(f"{name}: no data rows")
    order = np.argsort(np.asarray(times), kind="stable")
    ts = np.asarray(times)[order]
    same = np.nonzero(np.diff(ts) <= 1e-9)[0]
    if same.size:
        a, b = order[same[0]], order[same[0] + 1]
        raise CxError(f"{name}, row {row_of[b]}, column {tcol!r}: time {ts[same[0] + 1]:g} repeats row {row_of[a]}")

    series = []
    for j, c, var in variables:
        tt, vv = [], []
        for k in order:
            cell = cells[k][j]
            if _is_empty(cell):
                continue
            vv.append(_number(cell, f"{name}, row {row_of[k]}, column {c!r}"))
            tt.append(times[k])
        if not vv:
            raise CxError(f"{name}: column {c!r} has no values")
        series.append(Series(var, c, np.asarray(tt, dtype=float), np.asarray(vv, dtype=float)))
    return History(name, tuple(series), path, start, model.time_unit)


__all__ = ["DAYS_PER_UNIT", "History", "Series", "days_per_unit", "read_history"]
