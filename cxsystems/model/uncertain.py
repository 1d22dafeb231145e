"""Uncertain parameters and Latin-hypercube sampling of plausible worlds.

A scenario file may declare uncertain parameters in an ``[uncertain]`` table::

    [uncertain]
    "Hiring Delay" = { dist = "triangular", low = 4, mode = 8, high = 16 }
    "Incentive Prevention Boost" = { dist = "uniform", low = 1.5, high = 4.5 }
    "Normal Handle Time" = { dist = "normal", mean = 0.2, sd = 0.03, low = 0.12, high = 0.3 }
    "Reference Churn Rate" = { dist = "lognormal", median = 0.004, sigma = 0.3, low = 0.002, high = 0.008 }

Every distribution is bounded: ``low``/``high`` are required for ``uniform`` and ``triangular``;
for ``normal`` and ``lognormal`` they default to the parameter's declared range and the
distribution is truncated to them. Bounds must lie inside the declared range. An optional
``source`` (text) records where the range comes from.

:func:`sample` draws ``n`` worlds by Latin hypercube (:class:`scipy.stats.qmc.LatinHypercube`,
one stratum per run in every dimension) and maps each column through the inverse CDF of its
(truncated) distribution, so the same ``seed`` always gives the same worlds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..errors import CxError
from ..text import pretty_units

if TYPE_CHECKING:  # pragma: no cover
    from .loader import Model

#: Distribution name -> (required keys, optional keys) besides ``dist`` and ``source``.
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uniform": (("low", "high"), ()),
    "triangular": (("low", "mode", "high"), ()),
    "normal": (("mean", "sd"), ("low", "high")),
    "lognormal": (("median", "sigma"), ("low", "high")),
}


@dataclass(frozen=True)
class Uncertain:
    """One uncertain parameter: a bounded distribution of its value (in the parameter's units).

    ``args`` holds the distribution's own numbers (``mode``; ``mean``/``sd``; ``median``/``sigma``);
    ``low``/``high`` are the bounds every sample respects.
    """

    parameter: str
    dist: str
    low: float
    high: float
    args: tuple[tuple[str, float], ...] = ()
    units: str = ""
    source: str = ""

    def arg(self, key: str) -> float:
        """The value of one distribution argument (e.g. ``"mode"``)."""
        return dict(self.args)[key]

    def describe(self) -> str:
        """Short text such as ``triangular(4, 8, 16) weeks`` (units in words; none for Dmnl)."""
        a = dict(self.args)
        if self.dist == "uniform":
            inner = f"{self.low:g}, {self.high:g}"
        elif self.dist == "triangular":
            inner = f"{self.low:g}, {a['mode']:g}, {self.high:g}"
        elif self.dist == "normal":
            inner = f"mean {a['mean']:g}, sd {a['sd']:g}, in {self.low:g}..{self.high:g}"
        else:
            inner = f"median {a['median']:g}, sigma {a['sigma']:g}, in {self.low:g}..{self.high:g}"
        return f"{self.dist}({inner}) {pretty_units(self.units)}".strip()

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Map probabilities ``u`` in [0, 1) to values (inverse CDF, truncated to the bounds)."""
        from scipy import stats

        u = np.asarray(u, dtype=float)
        lo, hi = self.low, self.high
        if self.dist == "uniform":
            x = lo + u * (hi - lo)
        elif self.dist == "triangular":
            c = (self.arg("mode") - lo) / (hi - lo)
            x = stats.triang(c, loc=lo, scale=hi - lo).ppf(u)
        else:
            d = self._unbounded()
            f_lo, f_hi = d.cdf(lo), d.cdf(hi)
            x = d.ppf(f_lo + u * (f_hi - f_lo))
        return np.clip(x, lo, hi)

    def _unbounded(self):
        """The normal or lognormal distribution before truncation (a frozen scipy distribution)."""
        from scipy import stats

        if self.dist == "normal":
            return stats.norm(loc=self.arg("mean"), scale=self.arg("sd"))
        return stats.lognorm(s=self.arg("sigma"), scale=self.arg("median"))

    def mass_inside_bounds(self) -> float:
        """Probability the untruncated normal or lognormal puts inside ``[low, high]``."""
        d = self._unbounded()
        return float(d.cdf(self.high) - d.cdf(self.low))


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise CxError(f"{where}: {key} must be a finite number, got {v!r}")
    return float(v)


def parse_uncertain(model: "Model", name: str, raw: Any, where: str) -> Uncertain:
    """Validate one ``[uncertain]`` entry against the model's parameter and return it."""
    param = model.parameter(name, where)
    where = f"{where} {param.name!r}"
    if not isinstance(raw, Mapping):
        raise CxError(f"{where}: must be a table such as {{ dist = \"uniform\", low = 1, high = 2 }}")
    dist = raw.get("dist")
    if dist not in DISTRIBUTIONS:
        raise CxError(f"{where}: dist = {dist!r}; use {', '.join(DISTRIBUTIONS)}")
    required, optional = DISTRIBUTIONS[dist]
    unknown = set(raw) - set(required) - set(optional) - {"dist", "source"}
    if unknown:
        raise CxError(f"{where}: unknown key(s) {sorted(unknown)} for a {dist} distribution; "
                      f"use {', '.join(required + optional)}")
    missing = [k for k in required if k not in raw]
    if missing:
        raise CxError(f"{where}: a {dist} distribution needs {', '.join(missing)}")
    nums = {k: _number(raw, k, where) for k in required + optional if k in raw}
    lo = nums.pop("low", param.min)
    hi = nums.pop("high", param.max)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise CxError(f"{where}: give low and high (the parameter has no finite declared range)")
    if not lo < hi:
        raise CxError(f"{where}: low ({lo:g}) must be below high ({hi:g})")
    range_lo = param.min if math.isfinite(param.min) else -math.inf
    range_hi = param.max if math.isfinite(param.max) else math.inf
    if lo < range_lo or hi > range_hi:
        raise CxError(f"{where}: bounds [{lo:g}, {hi:g}] leave the declared range "
                      f"[{param.min:g}, {param.max:g}] {param.units}")
    if dist == "triangular" and not lo <= nums["mode"] <= hi:
        raise CxError(f"{where}: mode {nums['mode']:g} is outside [{lo:g}, {hi:g}]")
    if dist == "normal" and nums["sd"] <= 0:
        raise CxError(f"{where}: sd must be positive")
    if dist == "lognormal":
        if nums["sigma"] <= 0 or nums["median"] <= 0:
            raise CxError(f"{where}: median and sigma must be positive")
        if lo < 0:
            raise CxError(f"{where}: a lognormal value cannot be below 0 (low = {lo:g})")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise CxError(f"{where}: source must be text")
    u = Uncertain(param.name, dist, lo, hi, tuple(nums.items()), param.units, " ".join(source.split()))
    if dist in ("normal", "lognormal"):
        if not u.mass_inside_bounds() > 1e-9:
            raise CxError(f"{where}: the {dist} distribution puts no probability inside "
                          f"[{lo:g}, {hi:g}]")
    return u


def parse_uncertain_table(model: "Model", raw: Any, where: str) -> tuple[Uncertain, ...]:
    """Validate a whole ``[uncertain]`` table (parameter name -> distribution table)."""
    if not isinstance(raw, Mapping):
        raise CxError(f"{where}: must be a table of parameter = {{ dist = ..., ... }}")
    out = tuple(parse_uncertain(model, name, body, where) for name, body in raw.items())
    seen: set[str] = set()
    for u in out:
        if u.parameter in seen:
            raise CxError(f"{where}: {u.parameter!r} is declared twice")
        seen.add(u.parameter)
    return out


#: Largest seed numpy accepts.
MAX_SEED = 2**32 - 1


def check_seed(seed, option: str = "seed") -> int | None:
    """Return ``seed`` if it is ``None`` or a whole number from 0 to :data:`MAX_SEED`; else a
    one-line CxError naming ``option``."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise CxError(f"{option} must be a whole number from 0 to {MAX_SEED:,}, got {seed!r}")
    return int(seed)


def sample(uncertain: Sequence[Uncertain], n: int, seed: int | None = 0) -> dict[str, np.ndarray]:
    """Draw ``n`` worlds by Latin hypercube: ``{parameter: array of n values}``.

    Each dimension is split into ``n`` equal-probability strata with exactly one sample in each,
    and mapped through the inverse CDF of its bounded distribution. The same ``seed`` gives the
    same worlds; with no uncertain parameters the result is empty.
    """
    from scipy.stats import qmc

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise CxError(f"n must be a positive whole number of runs, got {n!r}")
    check_seed(seed)
    if not uncertain:
        return {}
    lhs = qmc.LatinHypercube(d=len(uncertain), rng=np.random.default_rng(seed))
    unit = lhs.random(int(n))
    return {u.parameter: u.ppf(unit[:, j]) for j, u in enumerate(uncertain)}


__all__ = ["DISTRIBUTIONS", "Uncertain", "parse_uncertain", "parse_uncertain_table", "sample"]
