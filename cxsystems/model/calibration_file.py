"""Reading ``calibration.toml``: what ``cxsystems calibrate`` fitted, to run every command from it.

The format (values in the model's units)::

    [calibration]
    model = "cx_service"               # the model's name
    data = "acme_support_history.csv"  # the history file's name
    method = "optimize"                # or "bayes"
    seed = 0
    sample = "posterior.csv"           # optional: a file next to this one, one column per fitted
                                       # parameter, one row per draw
    [estimates]
    "Hiring Delay" = 7.6
    [intervals]                        # 90% intervals
    "Hiring Delay" = [6.9, 8.4]
    [fit]                              # per series
    "Ticket Backlog" = { r2 = 0.93, mape = 0.061, theil_um = 0.01, theil_us = 0.05, theil_uc = 0.94 }

:func:`read_calibration` returns a :class:`Calibration`; with a model it also checks every name and
value against the model (names matched, values inside the declared ranges). The sample file must lie
in the calibration file's own folder: an absolute path, ``..`` or a symlink leading out is refused.
:meth:`Calibration.draw` resamples rows of the sample for an ensemble's worlds.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..errors import CxError
from ..names import norm

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .core import Model

#: Methods a calibration file may name.
METHODS = ("optimize", "bayes")
#: The largest calibration file read (bytes).
MAX_TOML_BYTES = 2 * 2**20
#: The largest sample file read (bytes).
MAX_SAMPLE_BYTES = 200 * 2**20


@dataclass(frozen=True, eq=False)
class Calibration:
    """A calibration read from ``calibration.toml``.

    Attributes:
        model: the name of the model it was fitted to.
        data: the name of the history file it was fitted to.
        method: ``"optimize"`` or ``"bayes"``.
        seed: the seed of the fit (``None`` if not recorded).
        estimates: fitted parameter -> estimate (the model's spelling once checked against a model).
        intervals: fitted parameter -> (low, high), the 90% interval.
        fit: series -> {statistic: value} (r2, mape, theil_um, theil_us, theil_uc).
        sample: draws of the fitted parameters (one column each, one row per draw), or ``None``.
        path: the calibration file.
    """

    model: str
    data: str
    method: str
    seed: int | None
    estimates: Mapping[str, float]
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    fit: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    sample: "pd.DataFrame | None" = None
    path: Path = Path("calibration.toml")

    @property
    def parameters(self) -> tuple[str, ...]:
        """The fitted parameters, in the file's order."""
        return tuple(self.estimates)

    def describe(self) -> str:
        """One line: ``calibration.toml (optimize fit of Hiring Delay, ... to acme.csv)``."""
        names = ", ".join(self.parameters[:4]) + (", ..." if len(self.parameters) > 4 else "")
        draws = f"; {len(self.sample):,} draws" if self.sample is not None else ""
        return f"{self.path.name} ({self.method} fit of {names} to {self.data}{draws})"

    def draw(self, n: int, seed: int | None = 0, parameters=None) -> dict[str, np.ndarray]:
        """``n`` worlds of the fitted ``parameters`` (default all): whole rows of :attr:`sample`,
        resampled with a seeded generator so that rows are used as evenly as possible (each row
        ``n // rows`` or one more times, in random order). The parameters keep their joint draws.

        Raises:
            CxError: the calibration has no sample, or a parameter is not fitted.
        """
        if self.sample is None:
            raise CxError(f"{self.path}: no sample of the fitted parameters ([calibration] sample); "
                          "worlds cannot be drawn from it")
        names = list(self.parameters if parameters is None else parameters)
        for p in names:
            if p not in self.sample.columns:
                raise CxError(f"{self.path}: {p!r} is not a fitted parameter with a sample column")
        rows = len(self.sample)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(17,)) if seed is not None else None)
        idx = np.concatenate([rng.permutation(rows) for _ in range(-(-int(n) // rows))])[: int(n)]
        return {p: self.sample[p].to_numpy(dtype=float)[idx] for p in names}


def _table(data: Mapping[str, Any], key: str, path: Path, required: bool = True) -> dict:
    value = data.get(key)
    if value is None:
        if required:
            raise CxError(f"{path}: no [{key}] table")
        return {}
    if not isinstance(value, dict):
        raise CxError(f"{path}: [{key}] must be a table")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CxError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _read_bytes(path: Path, limit: int, what: str) -> bytes:
    try:
        if not path.is_file():
            raise CxError(f"{path}: no such {what}")
        if path.stat().st_size > limit:
            raise CxError(f"{path}: larger than {limit // 2**20} MB")
        return path.read_bytes()
    except OSError as exc:
        raise CxError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def sample_path(path: Path, name: Any, option: str = "") -> Path:
    """The sample file ``name`` next to the calibration file ``path``, refused unless it stays in
    that folder (no absolute path, no ``..``, no symlink leading out)."""
    where = f"{option + ' ' if option else ''}{path}: [calibration] sample"
    if not isinstance(name, str) or not name.strip():
        raise CxError(f"{where} must be a file name, got {name!r}")
    rel = Path(name.strip())
    if not rel.parts or rel.is_absolute() or name.strip().startswith(("/", "\\")) or ":" in rel.parts[0] \
            or any(part == ".." for part in rel.parts) or "\\" in name:
        raise CxError(f"{where} {name!r}: must be a file in the calibration's own folder")
    folder = path.parent.resolve()
    target = (path.parent / rel)
    resolved = target.resolve()
    try:
        resolved.relative_to(folder)
    except ValueError:
        raise CxError(f"{where} {name!r}: leads out of the calibration's folder (a symlink?)") from None
    return target


def _read_sample(path: Path, name: Any, fitted: list[str], option: str = "") -> "pd.DataFrame":
    import io

    import pandas as pd

    target = sample_path(path, name, option)
    raw = _read_bytes(target, MAX_SAMPLE_BYTES, "sample file")
    target = Path(f"{option} {target}") if option else target  # for messages
    try:
        df = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CxError(f"{target}: not a CSV table ({' '.join(str(exc).split())[:160]})") from None
    by_norm = {norm(c): c for c in df.columns}
    cols = {}
    for p in fitted:
        c = by_norm.get(norm(p))
        if c is None:
            raise CxError(f"{target}: no column for the fitted parameter {p!r}")
        cols[p] = c
    if df.empty:
        raise CxError(f"{target}: no rows (draws)")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for p, c in cols.items():
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            raise CxError(f"{target} row {row + 2}, column {c!r}: not a finite number ({df[c].iloc[row]!r})")
        out[p] = values
    return out


def read_calibration(path: str | Path, model: "Model | None" = None, option: str = "") -> Calibration:
    """Read ``calibration.toml`` (and its sample); with ``model``, check it against the model.

    Args:
        path: the calibration file.
        model: when given, the file must name this model, every fitted parameter is matched to the
            model's spelling and every estimate, interval end and drawn value must lie in the
            parameter's declared range.
        option: prefix of messages (e.g. ``"--calibration"``).

    Raises:
        CxError: one line naming the file (and the row and column of a bad sample value).
    """
    p = Path(path)
    shown = Path(f"{option} {p}") if option else p
    raw = _read_bytes(p, MAX_TOML_BYTES, "calibration file")
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise CxError(f"{shown}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise CxError(f"{shown}: not valid TOML ({exc})") from None
    head = _table(data, "calibration", shown)
    for key in ("model", "method"):
        if not isinstance(head.get(key), str) or not head[key].strip():
            raise CxError(f"{shown}: [calibration] {key} must be text")
    method = head["method"].strip()
    if method not in METHODS:
        raise CxError(f"{shown}: [calibration] method = {method!r}; use {' or '.join(METHODS)}")
    seed = head.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise CxError(f"{shown}: [calibration] seed must be a whole number >= 0, got {seed!r}")
    data_name = head.get("data", "")
    if not isinstance(data_name, str):
        raise CxError(f"{shown}: [calibration] data must be text")

    estimates = {str(k): _number(v, f"{shown}: [estimates] {k!r}") for k, v in _table(data, "estimates", shown).items()}
    if not estimates:
        raise CxError(f"{shown}: [estimates] is empty")
    intervals: dict[str, tuple[float, float]] = {}
    for k, v in _table(data, "intervals", shown, required=False).items():
        where = f"{shown}: [intervals] {k!r}"
        if not isinstance(v, list) or len(v) != 2:
            raise CxError(f"{where}: must be [low, high]")
        lo, hi = _number(v[0], where), _number(v[1], where)
        if lo > hi:
            raise CxError(f"{where}: low {lo:g} is above high {hi:g}")
        intervals[str(k)] = (lo, hi)
    fit: dict[str, dict[str, float]] = {}
    for k, v in _table(data, "fit", shown, required=False).items():
        if not isinstance(v, dict):
            raise CxError(f"{shown}: [fit] {k!r} must be a table such as {{ r2 = 0.9, mape = 0.05 }}")
        fit[str(k)] = {str(s): _number(x, f"{shown}: [fit] {k!r} {s}") for s, x in v.items()}
    sample = None
    if head.get("sample") is not None:
        sample = _read_sample(p, head["sample"], list(estimates), option)
    cal = Calibration(head["model"].strip(), data_name, method, seed, estimates, intervals, fit, sample, p)
    return cal if model is None else check_calibration(cal, model, option)


def check_calibration(cal: Calibration, model: "Model", option: str = "") -> Calibration:
    """``cal`` with every fitted parameter in the model's spelling, checked against ``model``: the
    file names this model, the parameters exist and every value lies in its declared range.

    Raises:
        CxError: one line naming the file.
    """
    shown = f"{option} {cal.path}" if option else str(cal.path)
    if norm(cal.model) != norm(model.name):
        raise CxError(f"{shown}: fitted to model {cal.model!r}, not {model.name!r} (if it is the same model "
                      "under another name, edit model = in the file)")
    names = {k: model.parameter(k, f"{shown}: [estimates]").name for k in cal.estimates}
    if len(set(names.values())) < len(names):
        raise CxError(f"{shown}: [estimates] names one parameter twice")
    estimates = {}
    for k, v in cal.estimates.items():
        estimates[names[k]] = model.parameters[names[k]].check(v, f"{shown}: [estimates]")
    intervals = {}
    for k, (lo, hi) in cal.intervals.items():
        name = model.parameter(k, f"{shown}: [intervals]").name
        intervals[name] = (lo, hi)
    sample = cal.sample
    if sample is not None:
        sample = sample.rename(columns=names)
        for name in names.values():
            prm = model.parameters[name]
            values = sample[name].to_numpy(dtype=float)
            bad = np.zeros(values.shape, bool)
            if not math.isnan(prm.min):
                bad |= values < prm.min
            if not math.isnan(prm.max):
                bad |= values > prm.max
            if bad.any():
                row = int(np.argmax(bad))
                prm.check(values[row], f"{shown}: sample row {row + 2}")
    import dataclasses

    return dataclasses.replace(cal, estimates=estimates, intervals=intervals, sample=sample)


__all__ = ["Calibration", "METHODS", "read_calibration", "check_calibration", "sample_path"]
