"""The causal-loop entry points of the public face: one call from a model to its graph, its loops
and its archetypes (``cx.causal_graph``, ``cx.loops``, ``cx.archetypes``).

Each takes a loaded :class:`cxsystems.Model` or a :class:`~cxsystems.causal.graph.CausalGraph`
(a model's, or a hand-drawn diagram from :func:`cxsystems.load_cld`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .archetypes import ArchetypeReport, find_archetypes
from .build import model_graph
from .graph import CausalGraph
from .loops import LoopSet, find_loops

if TYPE_CHECKING:  # pragma: no cover
    from ..model.core import Model
    from .plausibility import Dominance


def causal_graph(model: "Model | CausalGraph") -> CausalGraph:
    """The signed causal graph of ``model`` (see :func:`cxsystems.causal.model_graph`); a graph is
    returned as it is."""
    return model if isinstance(model, CausalGraph) else model_graph(model)


def loops(model: "Model | CausalGraph", *, through: str | None = None, max_length: int | None = None,
          named: bool = False) -> LoopSet:
    """Every feedback loop of a model or diagram, with polarity (R/B), stable id and name (see
    :func:`cxsystems.causal.find_loops`), named loops first; ``through`` keeps the loops through one
    variable, ``named`` only the loops with a name (``<model>.loops.toml`` or a diagram's ``loop``
    lines)."""
    return find_loops(causal_graph(model), through=through, max_length=max_length, named=named)


def archetypes(model: "Model | CausalGraph", *, kinds: tuple[str, ...] | None = None,
               per_kind: int | None = None, implausible: bool = False,
               dominance: "Dominance | bool | None" = None) -> ArchetypeReport:
    """The system archetypes found among the loops of a model or diagram (see
    :func:`cxsystems.causal.find_archetypes`). For a model they are ranked by plausibility (roles a
    policy lever acts on, confirmed by the scenarios' behaviour where that is cheap; see
    :mod:`cxsystems.causal.plausibility`), implausible matches left out unless ``implausible=True``;
    fixes that fail is confirmed only when its side-effect loop gains dominance after the fix (Loops
    That Matter); ``dominance`` replaces that check (a callable) or skips it (``False``)."""
    graph = causal_graph(model)
    judged = None if isinstance(model, CausalGraph) else model
    return find_archetypes(graph, find_loops(graph), kinds=kinds, per_kind=per_kind, model=judged,
                           implausible=implausible, dominance=dominance)
