"""Loop markers of a causal loop diagram never cover an arrow, a variable's label, a polarity sign or
another loop's marker, checked on the drawn figure with the renderer's own boxes and the arrows'
drawn paths (display coordinates)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.patches import FancyArrowPatch

from cxsystems.causal import find_loops
from cxsystems.causal.cld_format import load_cld, parse_cld
from cxsystems.plotting.cld import LINK, MARKER, NODE, SIGN, display_path, draw_cld
from cxsystems.plotting.diagrams import figure, model_diagram

CLD_DIR = Path(__file__).resolve().parents[2] / "models" / "cld"


def _box(text, renderer):
    patch = text.get_bbox_patch()
    return (patch if patch is not None else text).get_window_extent(renderer)


def marker_clashes(fig) -> list[tuple[str, str]]:
    """(marker part, what it touches) for every loop-marker text or circular arrow whose box meets a
    link's path, a variable label, a polarity sign or a part of another loop's marker."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    markers = [(f"{t.get_gid()} {t.get_text()!r}", t.get_gid(), _box(t, renderer))
               for t in ax.texts if (t.get_gid() or "").startswith(MARKER)]
    markers += [(f"{p.get_gid()} arrow", p.get_gid(), display_path(p).get_extents())
                for p in ax.patches if (p.get_gid() or "").startswith(MARKER) and isinstance(p, FancyArrowPatch)]
    labels = [(f"{t.get_gid()}", _box(t, renderer)) for t in ax.texts
              if (t.get_gid() or "").startswith((NODE, SIGN))]
    links = [(a.get_gid(), display_path(a)) for a in [*ax.patches, *ax.lines]
             if (a.get_gid() or "").startswith(LINK)]
    assert markers and labels and links, "the diagram's artists carry no gids"
    clashes = []
    for i, (what, loop, box) in enumerate(markers):
        clashes += [(what, name) for name, other in labels if box.overlaps(other)]
        clashes += [(what, name) for name, path in links if path.intersects_bbox(box, filled=False)]
        clashes += [(what, other_what) for other_what, other_loop, other in markers[i + 1:]
                    if other_loop != loop and box.overlaps(other)]
    return clashes


@pytest.mark.parametrize("name", sorted(p.stem for p in CLD_DIR.glob("*.cld")))
def test_bundled_diagrams_keep_loop_markers_clear(name):
    g = load_cld(CLD_DIR / f"{name}.cld")
    fig = draw_cld(g)
    assert marker_clashes(fig) == []
    shown = {t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith(MARKER)}
    assert {lp.id for lp in find_loops(g) if lp.name} <= shown


def test_cx_service_diagram_keeps_loop_markers_clear(cx_service):
    d = model_diagram(cx_service)
    fig = figure(d)
    assert marker_clashes(fig) == []
    shown = {t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith(MARKER)}
    assert {m.id for m in d.markers} <= shown


def test_a_crowded_diagram_keeps_loop_markers_clear():
    # a ring of nine with chords through the middle: the loops' centres are crossed by arrows
    text = "\n".join(f"v{i} -> v{(i + 1) % 9} : {'-' if i % 4 == 0 else '+'}" for i in range(9))
    text += "\nv0 -> v4 : +\nv4 -> v0 : +\nv2 -> v7 : - delay\nv1 -> v6 : +\nv6 -> v1 : -\n"
    fig = draw_cld(parse_cld(text))
    assert marker_clashes(fig) == []


def test_the_check_sees_a_marker_on_an_arrow():
    """The check itself: a marker moved onto an arrow is reported, with both names."""
    fig = draw_cld(load_cld(CLD_DIR / "cx_fixes_that_fail.cld"))
    ax = fig.axes[0]
    arrow = next(p for p in ax.patches if (p.get_gid() or "").startswith(LINK))
    mid = arrow.get_path().vertices[len(arrow.get_path().vertices) // 4]
    marker = next(t for t in ax.texts if (t.get_gid() or "").startswith(MARKER))
    marker.set_position(tuple(mid))
    clashes = marker_clashes(fig)
    assert any(what.startswith(marker.get_gid()) and name.startswith(LINK) for what, name in clashes)
