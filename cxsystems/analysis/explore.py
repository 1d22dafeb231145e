"""One-call re-simulation for interactive exploration (notebook sliders, the workshop's twin).

Moving the policy levers (:mod:`cxsystems.model.levers`) and choosing the week the policy starts
defines a new scenario, ``"explored"``; :func:`explore` simulates it and the baseline and compares
them exactly as :func:`cxsystems.compare` does (the function ``cx.compare``)::

    import cxsystems as cx

    model = cx.load_model("cx_service")
    for lv in cx.levers(model):                    # Extra Headcount Fraction, ...
        print(lv.parameter, lv.min, lv.max, lv.default, lv.step)
    ex = cx.explore(model, {"Prevention Incentive": 1}, start_week=16)
    ex.classifications["Ticket Backlog"]          # 'worse-before-better'
    ex.summary                                    # one row per key outcome
    ex.plot()                                     # the dashboard, explored against baseline

The widgets live in the notebook (``notebooks/06_explorer.ipynb``); this module imports neither
ipywidgets nor matplotlib. One exploration costs two engine runs (about 25 ms each for
``cx_service``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import pandas as pd

from ..model.levers import EXPLORED, explored_scenario
from ..model.scenarios import Scenario
from .compare import Comparison, compare

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..model.core import Model


@dataclass(frozen=True, eq=False)
class Exploration:
    """What :func:`explore` returns: the explored policy against the baseline.

    Attributes:
        scenario: the explored scenario (levers moved away from their defaults, from the start week).
        comparison: the :class:`~cxsystems.analysis.compare.Comparison` of baseline and explored.
        classifications: ``{outcome variable: class}`` (classes of
            :func:`cxsystems.analysis.metrics.read_trajectory`, each outcome's judge, the
            comparison's tolerance).
    """

    scenario: Scenario
    comparison: Comparison
    classifications: Mapping[str, str]

    @property
    def run(self) -> pd.DataFrame:
        """The explored run: index ``time`` (weeks), one column per kept variable."""
        return self.comparison.run(EXPLORED)

    @property
    def baseline_run(self) -> pd.DataFrame:
        """The baseline run, same shape as :attr:`run`."""
        return self.comparison.run(self.comparison.baseline)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per key outcome: ``label``, ``better``, ``classification``, ``final``,
        ``baseline_final``, ``final_advantage_pct``, ``judge``, ``judged_advantage_pct`` and ``phases``
        (explored against baseline; advantages in percent of the baseline, positive = better, as in
        :attr:`Comparison.summary`)."""
        run, base = self.run, self.baseline_run
        rows = []
        for o in self.comparison.outcomes:
            reading = self.comparison.reading(EXPLORED, o.variable)
            rows.append(dict(outcome=o.variable, label=o.label, better=o.better,
                             classification=self.classifications[o.variable],
                             final=float(run[o.variable].iloc[-1]), baseline_final=float(base[o.variable].iloc[-1]),
                             final_advantage_pct=reading.final_advantage_pct, judge=reading.judge,
                             judged_advantage_pct=reading.judged_advantage_pct,
                             phases=reading.phases_text(self.comparison.time_unit)))
        return pd.DataFrame(rows).set_index("outcome")

    def line(self) -> str:
        """One line: each key outcome's label and its class, e.g. ``Ticket backlog: worse-before-better``."""
        labels = {o.variable: o.label for o in self.comparison.outcomes}
        return "; ".join(f"{labels.get(v, v)}: {c}" for v, c in self.classifications.items())

    def plot(self, **kwargs) -> "Figure":
        """The dashboard of the key outcomes, explored against baseline."""
        return self.comparison.plot(**kwargs)

    def save(self, directory: str | os.PathLike, format: str = "png") -> list[Path]:
        """Write what ``cxsystems compare`` writes for the two scenarios (see :meth:`Comparison.save`)."""
        return self.comparison.save(directory, format=format)


def explore(model: "Model", lever_values: Mapping[str, float], start_week: float | None = None, *,
            params: Mapping[str, float] | None = None) -> Exploration:
    """Simulate the levers at ``lever_values`` from ``start_week`` and compare with the baseline.

    Args:
        model: a model from :func:`cxsystems.load_model`.
        lever_values: ``{parameter name: value}``; levers left out (or at their default) stay as
            the model has them. Any model parameter is accepted, not only the levers.
        start_week: week the moved levers take effect (``None``: from the start).
        params: new base values ``{parameter: value}`` for the baseline and the explored policy
            (:func:`cxsystems.model.overrides.with_values`); the moved levers win over them.

    Raises:
        CxError: an unknown parameter, a value outside its range (naming the lever), or a start
            week outside the run.
    """
    from ..model.overrides import with_values

    model = with_values(model, params)
    scen = explored_scenario(model, lever_values, start_week)
    cmp = compare(model, [scen])
    # the explored policy takes the first scenario colour, not the one after all the model's scenarios
    cmp = cmp.with_color_order((cmp.baseline, EXPLORED))
    classes = {o.variable: cmp.classification(EXPLORED, o.variable) for o in cmp.outcomes}
    return Exploration(scen, cmp, classes)
