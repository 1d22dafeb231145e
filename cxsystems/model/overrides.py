"""Your numbers: new base values for a model's parameters, validated like scenario values.

One mechanism serves ``--set "Name=value"``, ``--params FILE``, a calibration's estimates and the
``params=`` keyword of the public API::

    values = resolve_values(model, {"hiring delay": 6}, "--set")   # {"Hiring Delay": 6.0}
    mine = with_values(model, values)                              # a copy; `model` is untouched
    cx.compare(mine)                                               # every scenario starts from it

:func:`resolve_values` is pure: it matches each name (:meth:`Model.parameter`, "did you mean") and
checks each value against the declared range (:meth:`Parameter.check`), naming where the value came
from. :func:`with_values` returns a copy of the model whose base values are the new ones: its
:attr:`Model.parameters` show them, its :attr:`Model.overrides` lists them, and every engine honours
them (the numpy engine and the workshop's JavaScript compile them in, PySD runs set them). A
scenario's own change to the same parameter still wins; an ensemble no longer samples a parameter
the model overrides.

:func:`parse_assignment` and :func:`read_params_file` read the command line's ``--set`` text and a
``--params`` file (TOML ``name = value`` or CSV with header ``name,value``); :func:`layered` merges
layers of values, the later layer winning (``--set`` over ``--params`` over a calibration).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from ..errors import CxError

if TYPE_CHECKING:  # pragma: no cover
    from .core import Model

#: The largest ``--params`` file read (bytes): a table of parameter values is a few KB.
MAX_PARAMS_BYTES = 2 * 2**20
#: File types :func:`read_params_file` reads.
PARAMS_SUFFIXES = (".toml", ".csv")


def resolve_values(model: "Model", values: Mapping[str, object] | None, where: str = "params") -> dict[str, float]:
    """Validate ``{parameter name: value}`` against ``model``; return ``{model's spelling: float}``.

    Names are matched as scenario files match them (case, spaces, underscores and quotes do not
    matter; an unknown name gets the closest ones); each value must be a finite number inside the
    parameter's declared range. Two spellings of one parameter are refused.

    Raises:
        CxError: one line starting with ``where``: an unknown name, a value that is not a number or
            lies outside the declared range, or a parameter given twice.
    """
    out: dict[str, float] = {}
    given: dict[str, str] = {}
    for name, value in (values or {}).items():
        p = model.parameter(str(name), where)
        if p.name in out:
            raise CxError(f"{where}: {p.name!r} is given twice ({given[p.name]!r} and {str(name)!r})")
        if isinstance(value, bool):
            raise CxError(f"{where}: {p.name!r} must be a number, got {value!r}")
        out[p.name] = p.check(value, where)
        given[p.name] = str(name)
    return out


def with_values(model: "Model", values: Mapping[str, object] | None, where: str = "params") -> "Model":
    """A copy of ``model`` whose base values are ``values`` (validated by :func:`resolve_values`).

    The copy's :attr:`~cxsystems.model.core.Model.parameters` hold the new values and its
    :attr:`~cxsystems.model.core.Model.overrides` every value set so far (the model's own overrides,
    then ``values``, which win). The caller's model is never changed. No values: ``model`` itself.
    """
    resolved = resolve_values(model, values, where)
    if not resolved:
        return model
    params = dict(model.parameters)
    for name, v in resolved.items():
        params[name] = dataclasses.replace(params[name], value=v)
    copy = dataclasses.replace(model, parameters=params, overrides={**dict(model.overrides or {}), **resolved})
    # the private translation folder is removed when the loaded model is collected: keep it alive
    copy._origin = getattr(model, "_origin", model)
    return copy


def layered(*layers: Mapping[str, float] | None) -> dict[str, float]:
    """Merge resolved layers of values (model spellings); a later layer wins parameter by parameter."""
    out: dict[str, float] = {}
    for layer in layers:
        out.update(layer or {})
    return out


def parse_assignment(text: str, where: str = "--set") -> tuple[str, str]:
    """``"Hiring Delay=7.5"`` -> ``("Hiring Delay", "7.5")`` (split at the first ``=``).

    Raises:
        CxError: no ``=``, or an empty name or value.
    """
    name, sep, value = str(text).partition("=")
    if not sep or not name.strip() or not value.strip():
        raise CxError(f"{where} {text!r}: write NAME=VALUE, e.g. {where} \"Hiring Delay=6\"")
    return name.strip(), value.strip()


def assignments(model: "Model", texts: Iterable[str] | None, where: str = "--set") -> dict[str, float]:
    """Resolve repeated ``--set NAME=VALUE`` texts (a later one for the same parameter wins)."""
    out: dict[str, float] = {}
    for text in texts or ():
        name, value = parse_assignment(text, where)
        out.update(resolve_values(model, {name: value}, f"{where} {text!r}"))
    return out


def read_params_file(path: str | Path, model: "Model", option: str = "--params") -> dict[str, float]:
    """Read and validate a file of parameter values: TOML (``"Hiring Delay" = 6`` at the top level)
    or CSV with a header whose first two columns are ``name,value`` (further columns, such as those
    ``cxsystems params --format csv`` writes, are ignored). Errors name the file and the row.

    Raises:
        CxError: a missing, oversized or unreadable file, another file type, a malformed table or
            row, an unknown parameter, a value outside its range, or a parameter given twice.
    """
    p = Path(path)
    shown = f"{option} {p}"
    if p.suffix.lower() not in PARAMS_SUFFIXES:
        raise CxError(f"{shown}: give a .toml file (name = value) or a .csv file (header name,value)")
    try:
        if not p.is_file():
            raise CxError(f"{shown}: no such file")
        if p.stat().st_size > MAX_PARAMS_BYTES:
            raise CxError(f"{shown}: larger than {MAX_PARAMS_BYTES // 2**20} MB; a table of parameter values is a few KB")
        raw = p.read_bytes()
    except OSError as exc:
        raise CxError(f"{shown}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CxError(f"{shown}: not UTF-8 text") from None
    if p.suffix.lower() == ".toml":
        return _toml_values(text, model, p)
    return _csv_values(text, model, p)


def _toml_values(text: str, model: "Model", path: Path) -> dict[str, float]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CxError(f"{path}: not valid TOML ({exc})") from None
    if "estimates" in data and "calibration" in data:
        raise CxError(f"{path}: this is a calibration file; give it with --calibration")
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            raise CxError(f"{path}: {key!r} must be a number (write \"Parameter Name\" = value at the top "
                          "of the file, no tables)")
    return resolve_values(model, data, str(path))


def _csv_values(text: str, model: "Model", path: Path) -> dict[str, float]:
    rows = list(csv.reader(io.StringIO(text)))
    rows = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not rows:
        raise CxError(f"{path}: empty; write a header name,value and one row per parameter")
    head_line, header = rows[0]
    if [c.strip().lower() for c in header[:2]] != ["name", "value"]:
        raise CxError(f"{path} row {head_line}: the header must start with name,value, got "
                      f"{','.join(c.strip() for c in header[:2])!r}")
    out: dict[str, float] = {}
    seen: dict[str, int] = {}
    for line, row in rows[1:]:
        where = f"{path} row {line}"
        if len(row) < 2 or not row[0].strip():
            raise CxError(f"{where}: give a name and a value")
        value = row[1].strip()
        if not value:
            raise CxError(f"{where}: {row[0].strip()!r} has no value")
        hit = resolve_values(model, {row[0].strip(): value}, where)
        (name, v), = hit.items()
        if name in seen:
            raise CxError(f"{where}: {name!r} is given twice (rows {seen[name]} and {line})")
        seen[name] = line
        out[name] = v
    if not out:
        raise CxError(f"{path}: no rows after the header name,value")
    return out


def describe(values: Mapping[str, float]) -> str:
    """``"Hiring Delay = 6, Normal Handle Time = 0.25"`` (for output lines and manifests)."""
    from ..text import plain

    return ", ".join(f"{k} = {plain(v) if math.isfinite(v) else v}" for k, v in values.items())


__all__ = ["resolve_values", "with_values", "layered", "parse_assignment", "assignments",
           "read_params_file", "describe"]
