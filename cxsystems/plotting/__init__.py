"""Charts and diagrams: matplotlib figures built without pyplot, for slides and pages.

* :mod:`.charts`: the comparison dashboard, one outcome's chart, ensemble fan charts, colours and
  number formats on axes.
* :mod:`.cld`: drawing a causal loop diagram (layout, curved links, signs, loop markers).
* :mod:`.diagrams`: a model's or a hand-drawn CLD's diagram from its views, written as PNG, SVG,
  PDF, DOT or Mermaid.
"""

from .charts import (
           PALETTE,
           dashboard,
           fan_chart,
           outcome_chart,
           save_figure,
           scenario_colors,
)
from .diagrams import Diagram, cld_diagram, model_diagram, write_diagram

__all__ = ["PALETTE", "dashboard", "fan_chart", "outcome_chart", "save_figure", "scenario_colors",
           "Diagram", "cld_diagram", "model_diagram", "write_diagram"]
