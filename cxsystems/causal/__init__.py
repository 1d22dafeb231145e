"""Causal-loop analysis: signed causal graphs, feedback loops, archetypes, CLDs, lint and diagrams.

Typical use::

    import cxsystems as cx
    from cxsystems import causal

    model = cx.load_model("cx_service")
    graph = causal.model_graph(model)            # signed causal graph (structure, then measured signs)
    loops = causal.find_loops(graph)             # R1, B1, ... named from cx_service.loops.toml
    print(causal.find_archetypes(graph, loops).text())
    cld = causal.load_cld("cx_fixes_that_fail")  # a bundled hand-drawn diagram (models/cld/)
    print(causal.lint(graph, cld).text())        # drawn polarities vs the equations
    cx.write_diagram(cx.model_diagram(model, graph, loops), "main.png")   # drawing: cxsystems.plotting

Importing this package imports neither matplotlib nor PySD. Drawing lives one layer up, in
:mod:`cxsystems.plotting` (``model_diagram``, ``cld_diagram``, ``write_diagram``).
"""

from .archetypes import ARCHETYPES, Archetype, ArchetypeReport, find_archetypes
from .build import model_graph
from .cld_format import format_cld, load_cld, parse_cld
from .graph import CausalGraph, Edge, Node, graph_from_links
from .linter import LintReport, lint
from .loops import Loop, LoopMarker, LoopName, LoopSet, find_loops, load_loop_names
from .views import View, collapse, load_views, loop_view

__all__ = [
    "ARCHETYPES", "Archetype", "ArchetypeReport", "find_archetypes",
    "format_cld", "load_cld", "parse_cld",
    "CausalGraph", "Edge", "Node", "graph_from_links", "model_graph",
    "LintReport", "lint",
    "Loop", "LoopMarker", "LoopName", "LoopSet", "find_loops", "load_loop_names",
    "View", "collapse", "load_views", "loop_view",
]
