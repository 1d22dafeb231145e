"""The one number and unit formatter, for terminal tables, chart labels and pages alike.

::

    short_number(3_790_000)        # '3.79M'
    short_number(-3.79e6, "$", million_decimals=1, minus="\u2212")   # '−$3.8M'
    signed(1487.2)                 # '+1,487'
    pretty_units("1/Year")         # 'per year'
    share(0.852)                   # '85.2%'
    percent_units("a year")        # '% a year'
    axis_title("Churn rate", "a year", percent=True)   # 'Churn rate (% a year)'
"""

from __future__ import annotations

import math
import re

#: Unit spellings shown differently to a reader (lower-cased key).
_UNITS = {"week": "weeks", "weeks": "weeks", "dmnl": "", "1": "", "1/year": "per year",
          "1/week": "per week", "year": "years", "month": "months"}


def is_missing(x) -> bool:
    """``None`` or NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def money_prefix(units: str) -> str:
    """``"$"`` when the units are money in dollars (``$``, ``$/Week``), else ``""``."""
    return "$" if (units or "").strip().startswith("$") else ""


def short_number(x: float | None, prefix: str = "", *, million_decimals: int = 2, minus: str = "-") -> str:
    """Short number for a table cell: ``3.79M``, ``92,578``, ``1.12``, ``0.201``; NaN/None -> ``-``.

    ``prefix`` goes between the sign and the digits (``-$3.79M``); ``million_decimals`` sets the
    decimals of millions; ``minus`` is the sign of negative numbers.
    """
    if is_missing(x):
        return "-"
    x = float(x)
    sign = minus if x < 0 else ""
    ax = abs(x)
    if ax >= 1e6:
        body = f"{ax / 1e6:,.{million_decimals}f}M"
    elif ax >= 100:
        body = f"{ax:,.0f}"
    elif ax >= 1:
        body = f"{ax:.2f}"
    elif ax == 0:
        return f"{prefix}0"
    else:
        body = f"{ax:.3g}"
    return f"{sign}{prefix}{body}"


def signed(x: float) -> str:
    """``+12,345`` / ``-0.52``: always a sign, precision suited to the magnitude."""
    ax = abs(x)
    if ax >= 100:
        body = f"{ax:,.0f}"
    elif ax >= 1:
        body = f"{ax:,.2f}".rstrip("0").rstrip(".")
    else:
        body = f"{ax:.3g}"
    return ("-" if x < 0 else "+") + body


def plain(x: float | None, missing: str = "?") -> str:
    """A value as written in a model (``0.125``, ``1e+06``): ``:g``; NaN/None -> ``missing``."""
    return missing if is_missing(x) else f"{x:g}"


def grouped(x: float | None, missing: str = "?") -> str:
    """A parameter value for a listing: six significant digits with thousands separators below a
    million (``12,345.7``), whole numbers above (``2,500,000``); NaN/None -> ``missing``."""
    if is_missing(x):
        return missing
    return f"{x:,.6g}" if abs(x) < 1e6 else f"{x:,.0f}"


def share(x: float, decimals: int = 1) -> str:
    """A fraction as a percentage: ``0.852`` -> ``'85.2%'``."""
    return f"{100 * x:.{decimals}f}%"


def share_rounded(x: float) -> str:
    """A fraction as a whole percentage that never rounds a rare event to 0% or a near-certain one
    to 100%: ``'<1%'``, ``'>99%'``; NaN -> ``'-'``."""
    if math.isnan(x):
        return "-"
    if x in (0.0, 1.0):
        return f"{100 * x:.0f}%"
    if x < 0.005:
        return "<1%"
    if x > 0.995:
        return ">99%"
    return f"{100 * x:.0f}%"


def pretty_units(units: str) -> str:
    """Readable units: ``Week`` -> ``weeks``, ``1/Year`` -> ``per year``, ``Dmnl`` -> ``""``."""
    u = (units or "").strip()
    if u.lower() in _UNITS:
        return _UNITS[u.lower()]
    return re.sub(r"/\s*week\b", "/week", u, flags=re.IGNORECASE)


def with_units(label: str, units: str) -> str:
    """``"Wait time (weeks)"``; the label alone when the units read as nothing."""
    u = pretty_units(units)
    return f"{label} ({u})" if u else label


def percent_units(units: str) -> str:
    """Units of a fraction shown times 100: ``"a year"`` -> ``"% a year"``, ``"1/Year"`` ->
    ``"% per year"``, ``"Dmnl"`` or ``""`` -> ``"%"``."""
    u = pretty_units(units)
    return f"% {u}" if u else "%"


def axis_title(label: str, units: str, *, percent: bool = False) -> str:
    """A chart title with units: ``"Wait time (weeks)"``; a fraction (``percent``) with ``%`` units,
    ``"Churn rate (% a year)"``; units that read as nothing (``Dmnl``) are left out."""
    return f"{label} ({percent_units(units)})" if percent else with_units(label, units)


def difference_title(label: str, reference: str, units: str, *, percent: bool = False) -> str:
    """The title of a chart of differences from a reference scenario:
    ``"Cumulative profit: difference from Status quo ($)"``; a fraction's differences are in
    percentage points: ``"Churn rate: difference from Status quo (percentage points a year)"``."""
    head = f"{label}: difference from {reference}"
    if not percent:
        return with_units(head, units)
    u = pretty_units(units)
    return f"{head} (percentage points{' ' + u if u else ''})"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 scenario"``, ``"3 scenarios"``, ``"2 policies"`` (``many``: the irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def time_words(unit: str) -> tuple[str, str]:
    """A model's time unit as words for prose and axes: ``("week", "weeks")`` from ``"Week"``,
    ``("minute", "minutes")`` from ``"Minutes"``; ``("time unit", "time units")`` when the unit is
    unstated or not one plain word (``"1/Month"``)."""
    word = str(unit or "").strip().lower()
    if not word.isalpha():
        return "time unit", "time units"
    one = word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word
    return one, one + "s"
