"""The contact mix: what contact volume is made of, and the share that could have been avoided.

A model declares its mix in the scenario file (``[contact_mix] parts``, read into
:class:`~cxsystems.model.specs.ContactPart`): one variable per kind of contact (new issues, repeat
contacts, chasers, abandoned contacts trying again ...), each marked avoidable or not. These pure
functions read one run (index = time in weeks, one column per variable).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import CxError
from ..model.specs import ContactPart
from .metrics import metric_value


def mix_table(run: pd.DataFrame, parts: Sequence[ContactPart]) -> pd.DataFrame:
    """Contacts per week by kind: index time (weeks), one column per part, labelled, in order.

    Raises:
        CxError: the run lacks a part's variable.
    """
    missing = [p.variable for p in parts if p.variable not in run.columns]
    if missing:
        raise CxError(f"the run lacks the contact-mix variable(s) {', '.join(repr(v) for v in missing)}")
    table = pd.DataFrame({p.label: run[p.variable].to_numpy(dtype=float) for p in parts}, index=run.index)
    table.index.name = "time"
    return table


def mix_totals(run: pd.DataFrame, parts: Sequence[ContactPart]) -> pd.Series:
    """Contacts over the whole run by kind (trapezoid integral of each part, in contacts)."""
    table = mix_table(run, parts)
    t = table.index.to_numpy(dtype=float)
    return pd.Series({c: metric_value(t, table[c].to_numpy(), "integral") for c in table.columns})


def avoidable_share(run: pd.DataFrame, parts: Sequence[ContactPart]) -> float:
    """Share of all contacts over the run (0-1) that are of an avoidable kind; NaN if none at all."""
    totals = mix_totals(run, parts)
    total = float(totals.sum())
    if not np.isfinite(total) or total <= 0:
        return float("nan")
    avoidable = sum(float(totals[p.label]) for p in parts if p.avoidable)
    return avoidable / total
