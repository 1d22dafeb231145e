"""From a model or a CLD to a diagram file: choose what to draw, then write PNG/SVG/PDF/DOT/Mermaid.

:func:`model_diagram` picks a view of the model (``<model>.views.toml``; ``main`` by default) and the
loops to mark; :func:`cld_diagram` does the same for a hand-drawn CLD; :func:`write_diagram` writes
the result, choosing the format from the file suffix. Matplotlib is imported only for the image
formats.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..causal.graph import CausalGraph
from ..causal.loops import LoopMarker, LoopSet, find_loops, markers_for
from ..causal.views import (
    collapse,
    loop_view,
    project_loop,
    resolve_view,
    views_for_model,
)
from ..errors import CxError
from ..files import atomic_write

IMAGE_FORMATS = ("png", "svg", "pdf")
TEXT_FORMATS = ("dot", "mmd")
#: Largest number of variables drawn without a view.
MAX_UNVIEWED = 30


@dataclass(frozen=True)
class Diagram:
    """What to draw: the graph, loop markers, positions and title."""

    graph: CausalGraph
    markers: tuple[LoopMarker, ...]
    positions: tuple[tuple[str, tuple[float, float]], ...]
    title: str


def model_diagram(model, graph: CausalGraph | None = None, loops: LoopSet | None = None,
                  view: str | None = None) -> Diagram:
    """The diagram of a model: its view ``view`` (default ``main`` if the model has views).

    ``graph`` (default: the model's signed causal graph) and ``loops`` (default: its loops) may be
    passed when already at hand.

    Without any view, a model with at most :data:`MAX_UNVIEWED` non-constant variables is drawn whole;
    a larger one is refused with a message saying how to add a view.
    """
    if graph is None:
        from ..causal.build import model_graph

        graph = model_graph(model)
    views = views_for_model(model)
    loops = loops if loops is not None else find_loops(graph)
    if view is None and "main" in views:
        view = "main"
    if view is not None:
        if view not in views:
            where = f"{Path(model.path).stem}.views.toml"
            have = f"views are {', '.join(views)}" if views else f"the model has no {where}"
            raise CxError(f"unknown view {view!r} for model {model.name}: {have}")
        v = resolve_view(graph, views[view])
        chosen = [loops[n] for n in v.loops] if v.loops else [lp for lp in loops if lp.name]
        if chosen:
            g = loop_view(graph, chosen, v.variables, name=f"{model.name}:{v.name}", title=v.title or model.name)
            markers = tuple(LoopMarker(lp.id, lp.id[0] if lp.polarity not in ("R", "B") else lp.polarity,
                                       lp.name, project_loop(lp, v.variables)) for lp in chosen)
        else:
            g = collapse(graph, v.variables, name=f"{model.name}:{v.name}", title=v.title or model.name)
            markers = tuple(markers_for(find_loops(g)))
        return Diagram(g, markers, v.positions, g.title)
    keep = [n for n, node in graph.nodes.items() if node.kind not in ("constant", "lookup")]
    if len(keep) > MAX_UNVIEWED:
        raise CxError(f"{model.name} has {len(keep)} variables, too many for one readable diagram: add a view "
                      f"to {Path(model.path).stem}.views.toml ([view.NAME] variables = [...]) and pass --view NAME")
    g = collapse(graph, keep, name=model.name, title=model.name)
    named = [lp for lp in loops if lp.name]
    return Diagram(g, tuple(markers_for(named if named else loops)), (), model.name)


def cld_diagram(graph: CausalGraph, loops: LoopSet | None = None) -> Diagram:
    """The diagram of a hand-drawn CLD (its named loops are marked, else up to 12 loops)."""
    loops = loops if loops is not None else find_loops(graph)
    named = [lp for lp in loops if lp.name]
    return Diagram(graph, tuple(markers_for(named if named else loops)), graph.layout, graph.title)


def render_text(diagram: Diagram, fmt: str) -> str:
    """DOT (``dot``) or Mermaid (``mmd``) text of a diagram."""
    from ..causal.export import to_dot, to_mermaid

    if fmt == "dot":
        return to_dot(diagram.graph, diagram.markers, dict(diagram.positions) or None)
    if fmt == "mmd":
        return to_mermaid(diagram.graph, diagram.markers)
    raise CxError(f"unknown text format {fmt!r}")


def figure(diagram: Diagram):
    """The matplotlib Figure of a diagram."""
    from .cld import draw_cld

    return draw_cld(diagram.graph, markers=diagram.markers, positions=dict(diagram.positions) or None,
                    title=diagram.title)


def write_diagram(diagram: Diagram, path: str | os.PathLike) -> Path:
    """Write ``diagram`` to ``path``: ``.png``/``.svg``/``.pdf`` drawn, ``.dot``/``.mmd`` as text.

    The file is written under a temporary name and moved into place (never half-written).
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in IMAGE_FORMATS + TEXT_FORMATS:
        raise CxError(f"{path}: unsupported diagram format {path.suffix or '(none)'!r}; use "
                      + ", ".join("." + f for f in IMAGE_FORMATS + TEXT_FORMATS))
    if not path.parent.exists():
        raise CxError(f"{path}: directory {path.parent} does not exist")
    if fmt in IMAGE_FORMATS:
        from .cld import save_cld

        save_cld(figure(diagram), path)
        return path
    text = render_text(diagram, fmt)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
