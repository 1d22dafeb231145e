"""Causal-loop analysis: signed causal graphs, feedback loops, archetypes, CLDs and diagrams.

Typical use::

    import cxsystems as cx
    from cxsystems import causal

    model = cx.load_model("cx_service")
    graph = causal.model_graph(model)          # signed causal graph
    loops = causal.find_loops(graph)           # R1, B1, ... with names from cx_service.loops.toml

Nothing here imports matplotlib at import time; drawing lives in :mod:`cxsystems.causal.diagram`.
"""

from .graph import CausalGraph, Edge, Node, model_graph
from .loops import Loop, LoopName, LoopSet, find_loops, load_loop_names

__all__ = ["CausalGraph", "Edge", "Node", "model_graph", "Loop", "LoopName", "LoopSet", "find_loops",
           "load_loop_names"]
