"""Text exports of a causal graph: Graphviz DOT and Mermaid flowcharts.

Both carry the link polarity as the edge label (``+``, ``-``; ``||`` marks a delay), stocks as boxes
and other variables as plain text, and list the marked loops as comments. Links a hand-drawn
diagram marks ``assumed`` are dashed (DOT ``style=dashed``, Mermaid ``-.->``).
"""

from __future__ import annotations

from typing import Sequence

from .graph import CausalGraph


def _dot_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: CausalGraph, markers: Sequence = (), positions: dict | None = None) -> str:
    """Graphviz DOT text (``dot -Tpng``); ``positions`` become fixed ``pos`` attributes (neato -n)."""
    lines = [f"digraph {_dot_str(graph.name)} {{",
             f"  label={_dot_str(graph.title or graph.name)}; labelloc=t; fontsize=18;",
             "  node [fontname=Helvetica, fontsize=12];",
             "  edge [fontname=Helvetica, fontsize=14, arrowsize=0.8];"]
    assumed = set(getattr(graph, "assumed", ()))
    for m in markers:
        name = f" {m.name}" if m.name else ""
        lines.append(f"  // loop {m.id} ({m.polarity}){name}: {' -> '.join(m.variables)}")
    for name, node in graph.nodes.items():
        shape = "box" if node.kind == "stock" else "plaintext"
        attrs = [f"shape={shape}"]
        if positions and name in positions:
            x, y = positions[name]
            attrs.append(f'pos="{x * 72:.0f},{y * 72:.0f}!"')
        lines.append(f"  {_dot_str(name)} [{', '.join(attrs)}];")
    for e in graph.causal_edges():
        label = {"-": "\u2212", "mixed": "\u00b1"}.get(e.polarity, e.polarity)
        if e.delayed:
            label += " ||"
        color = {"+": "#1f4e9c", "-": "#b2182b"}.get(e.polarity, "#555555")
        dashed = ", style=dashed" if (e.source, e.target) in assumed else ""
        lines.append(f"  {_dot_str(e.source)} -> {_dot_str(e.target)} "
                     f"[label={_dot_str(label)}, fontcolor={_dot_str(color)}{dashed}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(s: str) -> str:
    return s.replace('"', "#quot;").replace("\n", " ")


def to_mermaid(graph: CausalGraph, markers: Sequence = ()) -> str:
    """Mermaid flowchart text (renders on GitHub and in many wikis)."""
    ids = {name: f"v{i + 1}" for i, name in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    assumed = set(getattr(graph, "assumed", ()))
    title = graph.title or graph.name
    lines.append(f"  %% {_mermaid_label(title)}")
    for m in markers:
        name = f" {m.name}" if m.name else ""
        lines.append(f"  %% loop {m.id} ({m.polarity}){_mermaid_label(name)}: "
                     f"{_mermaid_label(' -> '.join(m.variables))}")
    for name, node in graph.nodes.items():
        label = _mermaid_label(name)
        lines.append(f'  {ids[name]}["{label}"]' if node.kind == "stock" else f'  {ids[name]}("{label}")')
    for e in graph.causal_edges():
        label = {"-": "\u2212", "mixed": "\u00b1"}.get(e.polarity, e.polarity)
        if e.delayed:
            label += " ||"
        arrow = "-.->" if (e.source, e.target) in assumed else "-->"
        lines.append(f'  {ids[e.source]} {arrow}|"{label}"| {ids[e.target]}')
    return "\n".join(lines) + "\n"
