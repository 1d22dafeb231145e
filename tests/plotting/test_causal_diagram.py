"""Diagrams: collapse of hidden variables, drawing inside the canvas, DOT and Mermaid export."""

from pathlib import Path

import pytest

import cxsystems as cx
from cxsystems.causal import find_loops
from cxsystems.causal.cld_format import load_cld, parse_cld
from cxsystems.causal.graph import graph_from_links
from cxsystems.causal.views import collapse, load_views, loop_view
from cxsystems.plotting.cld import draw_cld, labels_outside, overlapping_labels
from cxsystems.plotting.diagrams import cld_diagram, write_diagram

CLD_DIR = Path(__file__).resolve().parents[2] / "models" / "cld"


def test_collapse_multiplies_signs_along_hidden_variables():
    g = graph_from_links("g", [("a", "h1", "+", False), ("h1", "h2", "-", True), ("h2", "b", "+", False),
                               ("b", "a", "+", False), ("a", "k", "-", False), ("k", "c", "-", False),
                               ("c", "b", "+", False), ("c", "k2", "-", False), ("k2", "b", "-", False)])
    v = collapse(g, ["a", "b", "c"])
    assert set(v.nodes) == {"a", "b", "c"}
    ab = v.edge("a", "b")
    assert (ab.polarity, ab.delayed, ab.method, ab.via) == ("-", True, "collapsed", (("h1", "h2"),))
    assert v.edge("a", "c").polarity == "+"           # - times -
    assert v.edge("b", "a").method == "drawn"          # a direct link is kept as it is
    # c -> b directly (+) is the shortest path; the longer path via k2 (+) agrees
    assert v.edge("c", "b").polarity == "+"
    # equal-length paths of opposite sign: undecided, with the reason
    g2 = graph_from_links("g2", [("a", "x", "+", False), ("x", "b", "+", False),
                                 ("a", "y", "+", False), ("y", "b", "-", False)])
    e = collapse(g2, ["a", "b"]).edge("a", "b")
    assert e.polarity == "?" and "opposite sign" in e.reason


def test_loop_view_keeps_each_loop_polarity():
    g = load_cld(CLD_DIR / "cx_reactive_vs_organisational.cld")
    loops = find_loops(g)
    keep = ["Ticket backlog", "Work pressure", "Problem sources", "Leadership commitment"]
    named = [loops[n] for n in ("hire and work overtime", "firefighting trap", "align the organisation",
                                "headcount crowds out change")]
    v = loop_view(g, named, keep)
    for lp in named:
        proj = [x for x in lp.variables if x in keep]
        pols = [v.edge(proj[i], proj[(i + 1) % len(proj)]).polarity for i in range(len(proj))]
        assert "?" not in pols, (lp, pols)
        assert ("B" if pols.count("-") % 2 else "R") == lp.polarity, lp
    # two loops passing between the same shown variables with opposite signs give an undecided link
    both = loop_view(g, list(loops), keep)
    assert "?" in {e.polarity for e in both.causal_edges()}
    bad = [e for e in both.causal_edges() if e.polarity == "?"][0]
    assert "opposite signs" in bad.reason and len(bad.via) >= 2


@pytest.mark.parametrize("name", ["cx_shifting_the_burden", "cx_fixes_that_fail", "cx_reactive_vs_organisational"])
def test_bundled_diagrams_fit_the_canvas_without_overlaps(name):
    g = load_cld(CLD_DIR / f"{name}.cld")
    fig = draw_cld(g)
    assert labels_outside(fig) == []
    assert overlapping_labels(fig) == []
    texts = {t.get_text().replace("\n", " ") for t in fig.axes[0].texts}
    assert set(g.nodes) <= texts
    # one loop marker per named loop, with the loop's id
    loops = find_loops(g)
    assert {lp.id for lp in loops if lp.name} <= texts


def test_auto_layout_of_a_diagram_without_positions():
    g = parse_cld("\n".join(f"v{i} -> v{(i + 1) % 9} : {'-' if i % 4 == 0 else '+'}" for i in range(9))
                  + "\nv0 -> v4 : +\nv4 -> v0 : +\nv2 -> v7 : - delay\n")
    fig = draw_cld(g)
    assert labels_outside(fig) == [] and overlapping_labels(fig) == []


def test_text_exports_and_formats(tmp_path):
    d = cld_diagram(load_cld(CLD_DIR / "cx_fixes_that_fail.cld"))
    dot = write_diagram(d, tmp_path / "ftf.dot").read_text()
    assert '"Pressure to close fast" -> "First-contact resolution" [label="\u2212"' in dot
    assert '"Unresolved issues" -> "Repeat contacts" [label="+ ||"' in dot
    assert dot.count("->") - dot.count("// loop") * 0 >= 7
    mmd = write_diagram(d, tmp_path / "ftf.mmd").read_text()
    assert mmd.startswith("flowchart LR") and mmd.count("-->|") == 7
    assert '["Ticket backlog"]' in mmd  # stocks are boxes
    svg = write_diagram(d, tmp_path / "ftf.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    png = write_diagram(d, tmp_path / "ftf.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))
    with pytest.raises(cx.CxError, match="unsupported diagram format"):
        write_diagram(d, tmp_path / "ftf.jpg")
    with pytest.raises(cx.CxError, match="does not exist"):
        write_diagram(d, tmp_path / "nope" / "ftf.png")


def test_view_file_errors(tmp_path):
    p = tmp_path / "m.views.toml"
    p.write_text('[view.main]\nvariables = ["a"]\n')
    with pytest.raises(cx.CxError, match="at least two"):
        load_views(p)
    p.write_text('[view.main]\nvariables = ["a", "b"]\npositions = { a = [1] }\n')
    with pytest.raises(cx.CxError, match="position of 'a' must be"):
        load_views(p)
    p.write_text('[view.main]\nvariables = ["a", "b"]\ncolour = "red"\n')
    with pytest.raises(cx.CxError, match="unknown key"):
        load_views(p)


def test_every_diagram_has_a_legend_inside_the_figure(cx_service):
    """How to read the signs, delay marks, boxes and loop letters, on one line below the diagram."""
    import cxsystems as cx
    from cxsystems.plotting.cld import LEGEND, LEGEND_HEIGHT, labels_outside
    from cxsystems.plotting.diagrams import figure

    fig = figure(cx.model_diagram(cx_service))
    texts = {t.get_text(): t for t in fig.texts}
    for symbol, meaning, _ in LEGEND:
        assert symbol in texts and meaning in texts
    assert [m for _, m, _ in LEGEND] == ["same direction", "opposite direction", "delay", "stock",
                                         "reinforcing loop", "balancing loop"]
    assert labels_outside(fig) == []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [texts[m].get_window_extent(renderer) for _, m, _ in LEGEND]
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(b.y1 <= LEGEND_HEIGHT * fig.bbox.height + 1 for b in boxes)  # below the diagram's axes
    assert fig.axes[0].get_position().y0 == pytest.approx(LEGEND_HEIGHT)


def test_links_drawn_assumed_are_dashed_and_the_legend_says_so():
    """The organisational-change sketch marks three links 'assumed' (the room's belief, not in the
    model): exactly those are drawn dashed, and the legend explains the dash; a sketch without
    assumptions has no such entry."""
    from cxsystems.plotting.cld import ASSUMED_DASH, LINK

    g = load_cld(CLD_DIR / "cx_reactive_vs_organisational.cld")
    fig = draw_cld(g, title=g.title)
    links = [p for p in fig.axes[0].patches if str(p.get_gid() or "").startswith(LINK)]
    dashed = sorted(p.get_gid()[len(LINK):] for p in links if p.get_linestyle() != "-")
    assert dashed == ["Customer pain seen by leaders->Leadership commitment",
                      "Hiring and overtime->Leadership commitment", "Leadership commitment->Data integration"]
    assert len(links) == 22 and ASSUMED_DASH[1] == (4, 3)
    assert "assumed" in [t.get_text() for t in fig.texts]
    plain = draw_cld(load_cld(CLD_DIR / "cx_fixes_that_fail.cld"))
    assert "assumed" not in [t.get_text() for t in plain.texts]
    # the text exports dash the same three links
    from cxsystems.causal.export import to_dot, to_mermaid

    assert to_mermaid(g).count("-.->|") == 3 and to_mermaid(g).count("-->|") == 19
    dot = to_dot(g)
    assert dot.count("style=dashed") == 3
    assert '"Leadership commitment" -> "Data integration" [label="+ ||", fontcolor="#1f4e9c", style=dashed];' in dot
