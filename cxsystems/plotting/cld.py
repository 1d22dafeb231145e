"""Causal loop diagrams drawn with matplotlib, sized for a slide.

Variables are text labels (stocks in a box), links are curved arrows with the polarity next to the
arrowhead, delayed links carry a ``||`` mark across their middle, and each marked loop gets a
circular arrow with its id (``R1``, ``B2``) and name inside the loop. The layout comes from given
positions (a view file or ``position`` lines of a CLD) or is computed (Kamada-Kawai, then labels are
pushed apart); the axes limits are then fitted so every label lies inside the canvas.

This module imports matplotlib; the rest of :mod:`cxsystems.causal` does not import it.
"""

from __future__ import annotations

import math
import textwrap
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox

from ..causal.graph import CausalGraph
from ..causal.loops import LoopMarker, markers_for  # noqa: F401 (re-exported)

#: Slide size in inches (16:9).
SLIDE = (13.33, 7.5)
_NODE_PT = 12
_SIGN_PT = 14
_MARK_PT = 11
_NAME_PT = 9.5
_WRAP = 16
_COLORS = {"+": "#1f4e9c", "-": "#b2182b", "\u00b1": "#7b3294", "?": "#555555", "0": "#555555"}
_EDGE_COLOR = "#333333"


# --------------------------------------------------------------------------- layout
def auto_layout(graph: CausalGraph, fixed: Mapping[str, tuple[float, float]] | None = None) -> dict:
    """Positions for every variable: Kamada-Kawai on the undirected graph (given ones kept)."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(graph.nodes)
    g.add_edges_from((e.source, e.target) for e in graph.causal_edges() if e.source != e.target)
    fixed = dict(fixed or {})
    if len(g) == 0:
        return {}
    if len(g) == 1:
        return {n: (0.0, 0.0) for n in g}
    if fixed and len(fixed) < len(g):
        pos = nx.spring_layout(g, pos={k: np.array(v, float) for k, v in fixed.items()},
                               fixed=list(fixed), seed=7, k=1.5)
    elif fixed:
        pos = {k: np.array(v, float) for k, v in fixed.items()}
    else:
        pos = nx.kamada_kawai_layout(g)
        pos = {k: np.array([v[0] * 1.7, v[1]]) for k, v in pos.items()}  # use the slide's width
    return {k: (float(v[0]), float(v[1])) for k, v in pos.items()}


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, _WRAP, break_long_words=False)) or text


# --------------------------------------------------------------------------- geometry
def _bezier(p, c, q, n=160):
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p + 2 * (1 - t) * t * c + t ** 2 * q


def _inside(pts, box):
    (x0, y0), (x1, y1) = box
    return (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)


def _grow(box, dx, dy):
    (x0, y0), (x1, y1) = box
    return (x0 - dx, y0 - dy), (x1 + dx, y1 + dy)


def _overlap(a, b) -> bool:
    return not (a[1][0] <= b[0][0] or b[1][0] <= a[0][0] or a[1][1] <= b[0][1] or b[1][1] <= a[0][1])


# --------------------------------------------------------------------------- free space
#: ``gid`` prefixes of a diagram's artists, so that checks can tell them apart: variable labels,
#: links (arrows, self-loops and delay marks), polarity signs and loop markers (circular arrow,
#: background, id and name all carry ``marker:<id>``).
NODE, LINK, SIGN, MARKER = "node:", "link:", "sign:", "marker:"
#: Clearance (pixels) kept between a loop marker and anything else.
MARKER_CLEARANCE = 3.0


def display_path(artist) -> MplPath:
    """An arrow patch's or a line's drawn path in display coordinates (pixels), as plain polylines
    (curves flattened; a closing vertex, whose coordinates mean nothing, replaced by the first)."""
    path = artist.get_transform().transform_path(artist.get_path())
    return MplPath.make_compound_path(*[MplPath(p) for p in path.to_polygons(closed_only=False) if len(p)])


def _grow_bbox(box: Bbox, d: float) -> Bbox:
    return Bbox.from_extents(box.x0 - d, box.y0 - d, box.x1 + d, box.y1 + d)


def _contains(outer: Bbox, box: Bbox) -> bool:
    return outer.x0 <= box.x0 and outer.y0 <= box.y0 and box.x1 <= outer.x1 and box.y1 <= outer.y1


def _text_size(text, renderer) -> tuple[float, float, float]:
    """Width and height (pixels) of a text with its ``bbox`` pad, as the renderer draws it, and the pad."""
    ext = text.get_window_extent(renderer)
    patch = text.get_bbox_patch()
    pad = 0.0
    if patch is not None:
        pad = float(getattr(patch.get_boxstyle(), "pad", 0.0)) * text.get_fontsize() * text.figure.dpi / 72.0
    return ext.width + 2 * pad, ext.height + 2 * pad, pad


class _Obstacles:
    """What a loop marker must keep clear of: boxes (labels, signs, markers) and link paths, all
    in display coordinates."""

    def __init__(self, boxes: Sequence[Bbox], paths: Sequence[MplPath]):
        self.boxes = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], float).reshape(-1, 4)
        self.paths = list(paths)
        self.extents = np.array([[e.x0, e.y0, e.x1, e.y1] for e in (p.get_extents() for p in self.paths)],
                                float).reshape(-1, 4)

    def add(self, box: Bbox) -> None:
        self.boxes = np.vstack([self.boxes, [box.x0, box.y0, box.x1, box.y1]])

    def hits(self, parts: Sequence[Bbox], *, first: bool = False) -> int:
        """How many obstacles the boxes ``parts`` (grown by :data:`MARKER_CLEARANCE`) touch; with
        ``first``, stop at the first one (0 or 1: is the spot taken?)."""
        n = 0
        for part in parts:
            g = _grow_bbox(part, MARKER_CLEARANCE)
            b = self.boxes
            n += int(np.sum((b[:, 0] < g.x1) & (g.x0 < b[:, 2]) & (b[:, 1] < g.y1) & (g.y0 < b[:, 3])))
            if first and n:
                return n
            e = self.extents
            near = np.nonzero((e[:, 0] <= g.x1) & (g.x0 <= e[:, 2]) & (e[:, 1] <= g.y1) & (g.y0 <= e[:, 3]))[0]
            for i in near:
                if self.paths[i].intersects_bbox(g, filled=False):
                    n += 1
                    if first:
                        return n
        return n


def _ring(start: np.ndarray, ring: int, step: float):
    """Points on the ``ring``-th ring around ``start`` (8 per ring number; the start itself first)."""
    n = max(1, 8 * ring)
    for k in range(n):
        a = 2 * math.pi * k / n
        yield start + ring * step * np.array([math.cos(a), math.sin(a)])


def _nearest_free(start, layout, obstacles: _Obstacles, within: Bbox, poly=None,
                  step: float = 5.0, rings: int = 70) -> np.ndarray:
    """The centre (pixels) nearest ``start``, on rings of ``step`` pixels, whose marker parts
    (``layout(centre)``) lie ``within`` and touch no obstacle: inside the polygon ``poly`` when
    such a spot exists, else anywhere; when none is free, the one touching the fewest obstacles."""
    start = np.asarray(start, float)
    reach = float(np.max(np.hypot(*(poly - start).T))) if poly is not None else 0.0
    shape = MplPath(np.vstack([poly, poly[:1]]), closed=True) if poly is not None else None
    outside = None
    for ring in range(rings):
        for c in _ring(start, ring, step):
            inside = shape is None or shape.contains_point(c)
            if not inside and outside is not None:
                continue  # a free spot outside the loop is known; only one inside would be better
            parts = layout(c)
            if not all(_contains(within, p) for p in parts) or obstacles.hits(parts, first=True):
                continue
            if inside:
                return c
            outside = c
        if outside is not None and ring * step > reach:
            return outside
    if outside is not None:
        return outside
    # nowhere free: the least crowded spot on a coarser grid
    spots = [c for ring in range(0, rings, 4) for c in _ring(start, ring, step)]
    spots = [c for c in spots if all(_contains(within, p) for p in layout(c))] or [start]
    return min(spots, key=lambda c: obstacles.hits(layout(c)))

class _Drawing:
    def __init__(self, graph: CausalGraph, pos: dict, markers: Sequence[LoopMarker], title: str,
                 figsize: tuple[float, float]):
        self.graph = graph
        self.pos = {k: np.array(v, float) for k, v in pos.items()}
        self.markers = list(markers)
        self.title = title
        self.fig = Figure(figsize=figsize)
        FigureCanvasAgg(self.fig)
        # the bottom strip holds the legend (LEGEND), the top one the title
        self.ax = self.fig.add_axes((0.0, LEGEND_HEIGHT, 1.0, (0.92 if title else 1.0) - LEGEND_HEIGHT))
        self.ax.set_axis_off()

    # data units per point, along x and y
    def units_per_pt(self) -> tuple[float, float]:
        inv = self.ax.transData.inverted()
        p0 = inv.transform((0, 0))
        d = self.fig.dpi / 72.0
        p1 = inv.transform((d, d))
        return abs(p1[0] - p0[0]), abs(p1[1] - p0[1])

    def set_limits(self, pad: float) -> None:
        xs = np.array([p[0] for p in self.pos.values()])
        ys = np.array([p[1] for p in self.pos.values()])
        w, h = self.ax.bbox.width, self.ax.bbox.height
        cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
        span_x = max(xs.max() - xs.min(), 1e-9) + 2 * pad
        span_y = max(ys.max() - ys.min(), 1e-9) + 2 * pad
        scale = max(span_x / w, span_y / h)  # data units per pixel, same on both axes
        self.ax.set_xlim(cx - scale * w / 2, cx + scale * w / 2)
        self.ax.set_ylim(cy - scale * h / 2, cy + scale * h / 2)

    def draw_nodes(self) -> dict:
        boxes = {}
        self.node_text = {}
        for name, node in self.graph.nodes.items():
            x, y = self.pos[name]
            stock = node.kind == "stock"
            t = self.ax.text(x, y, _wrap(name), ha="center", va="center", fontsize=_NODE_PT, zorder=5,
                             fontweight="bold" if stock else "normal", color="#111111", gid=f"node:{name}",
                             bbox=dict(boxstyle="square,pad=0.35" if stock else "round,pad=0.3",
                                       fc="white", ec="#333333" if stock else "none", lw=1.2))
            self.node_text[name] = t
        self.fig.canvas.draw()  # text boxes get their size at draw time
        renderer = self.fig.canvas.get_renderer()
        inv = self.ax.transData.inverted()
        for name, t in self.node_text.items():
            bb = t.get_bbox_patch().get_window_extent(renderer)
            (x0, y0), (x1, y1) = inv.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
            boxes[name] = ((x0, y0), (x1, y1))
        return boxes

    def separate(self, boxes: dict, gap_pt: float = 10.0, iters: int = 200) -> bool:
        """Push overlapping label boxes apart (moves positions); True if anything moved."""
        ux, uy = self.units_per_pt()
        names = list(boxes)
        moved = False
        half = {n: ((b[1][0] - b[0][0]) / 2, (b[1][1] - b[0][1]) / 2) for n, b in boxes.items()}
        for _ in range(iters):
            changed = False
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    pa, pb = self.pos[a], self.pos[b]
                    dx, dy = pb - pa
                    ox = half[a][0] + half[b][0] + gap_pt * ux - abs(dx)
                    oy = half[a][1] + half[b][1] + gap_pt * uy - abs(dy)
                    if ox > 0 and oy > 0:
                        if ox / (half[a][0] + half[b][0]) < oy / (half[a][1] + half[b][1]):
                            s = (ox / 2 + 1e-9) * (1 if dx >= 0 else -1)
                            self.pos[a] = pa - (s, 0)
                            self.pos[b] = pb + (s, 0)
                        else:
                            s = (oy / 2 + 1e-9) * (1 if dy >= 0 else -1)
                            self.pos[a] = pa - (0, s)
                            self.pos[b] = pb + (0, s)
                        changed = moved = True
            if not changed:
                break
        return moved

    def draw_edges(self, boxes: dict) -> None:
        ux, uy = self.units_per_pt()
        pairs = {(e.source, e.target) for e in self.graph.causal_edges()}
        self.sign_texts = []
        self.sign_boxes = []
        self.curves = []
        self.arrows = []  # every drawn link: arrow patches and delay strokes
        selfs = [e for e in self.graph.causal_edges() if e.source == e.target]
        assumed = set(getattr(self.graph, "assumed", ()))
        for e in self.graph.causal_edges():
            if e.source == e.target:
                continue
            p, q = self.pos[e.source], self.pos[e.target]
            d = q - p
            dist = float(np.hypot(*d)) or 1.0
            normal = np.array([-d[1], d[0]]) / dist
            rad = 0.22 if (e.target, e.source) in pairs else 0.14
            c = (p + q) / 2 + rad * dist * normal
            pts = _bezier(p, c, q)
            pad_a = _grow(boxes[e.source], 3 * ux, 3 * uy)
            pad_b = _grow(boxes[e.target], 3 * ux, 3 * uy)
            out_a = ~_inside(pts, pad_a)
            out_b = ~_inside(pts, pad_b)
            i0 = int(np.argmax(out_a))
            i1 = len(pts) - 1 - int(np.argmax(out_b[::-1]))
            if i1 - i0 < 3:
                continue
            seg = pts[i0:i1 + 1]
            color = _EDGE_COLOR
            link = f"{e.source}->{e.target}"
            arrow = FancyArrowPatch(path=MplPath(seg), arrowstyle="-|>", mutation_scale=16, lw=1.5,
                                    color=color, zorder=3, shrinkA=0, shrinkB=0, gid=f"{LINK}{link}",
                                    linestyle=ASSUMED_DASH if (e.source, e.target) in assumed else "-")
            self.ax.add_patch(arrow)
            self.arrows.append(arrow)
            self.curves.append(seg)
            # polarity beside the arrowhead, on the outer side of the curve, clear of labels
            label = e.label if e.label != "-" else "\u2212"
            half = np.array([6 * ux, 7 * uy])
            placed = None
            for back in range(5, len(seg) - 2, 3):
                k = len(seg) - 1 - back
                tangent = seg[min(k + 3, len(seg) - 1)] - seg[max(k - 3, 0)]
                tn = tangent / (np.hypot(*tangent) or 1.0)
                side = np.array([-tn[1], tn[0]])
                if np.dot(side, normal) < 0:
                    side = -side
                at = seg[k] + side * np.array([10 * ux, 10 * uy])
                sbox = ((at[0] - half[0], at[1] - half[1]), (at[0] + half[0], at[1] + half[1]))
                if not any(_overlap(sbox, b) for b in boxes.values()) and \
                        not any(_overlap(sbox, o) for o in self.sign_boxes):
                    placed = (at, sbox)
                    break
            if placed is None:
                k = len(seg) // 2
                at = seg[k]
                placed = (at, ((at[0] - half[0], at[1] - half[1]), (at[0] + half[0], at[1] + half[1])))
            self.sign_boxes.append(placed[1])
            t = self.ax.text(placed[0][0], placed[0][1], label, ha="center", va="center", fontsize=_SIGN_PT,
                             fontweight="bold", color=_COLORS.get(e.label, _EDGE_COLOR), zorder=6,
                             gid=f"{SIGN}{link}")
            self.sign_texts.append(t)
            if e.delayed:
                self._delay_mark(seg, ux, uy, color, link)
        for e in selfs:
            self._self_loop(e, boxes, ux, uy)

    def _delay_mark(self, seg, ux, uy, color, link: str) -> None:
        """Two short strokes across the middle of a curve (a delay)."""
        m = len(seg) // 2
        tg = seg[min(m + 3, len(seg) - 1)] - seg[max(m - 3, 0)]
        tg = tg / (np.hypot(tg[0] / ux, tg[1] / uy) or 1.0)  # 1 pt long in display
        nm = np.array([-tg[1] * ux / uy, tg[0] * uy / ux])
        nm = nm / (np.hypot(nm[0] / ux, nm[1] / uy) or 1.0)
        for off in (-2.2, 2.2):
            centre = seg[m] + tg * off
            a, b = centre - nm * 6.5, centre + nm * 6.5
            (stroke,) = self.ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=1.6, zorder=4,
                                     solid_capstyle="butt", gid=f"{LINK}{link} delay")
            self.arrows.append(stroke)

    def _self_loop(self, e, boxes, ux, uy) -> None:
        """A circular arrow beside the label (the freest corner); the loop's marker goes inside it."""
        (x0, y0), (x1, y1) = boxes[e.source]
        r = 17.0
        curve_pts = np.vstack(self.curves) if self.curves else np.zeros((0, 2))
        others = [b for n, b in boxes.items() if n != e.source] + self.sign_boxes
        best, best_score = None, None
        for cx_, cy_, name_right in ((x1 - 6 * ux, y1 + (r + 1) * uy, True), (x0 + 6 * ux, y0 - (r + 1) * uy, False),
                                     (x0 + 6 * ux, y1 + (r + 1) * uy, False), (x1 - 6 * ux, y0 - (r + 1) * uy, True),
                                     (x1 + (r + 2) * ux, (y0 + y1) / 2, True), (x0 - (r + 2) * ux, (y0 + y1) / 2, False)):
            centre = np.array([cx_, cy_])
            w = 110 * ux
            area = ((centre[0] - (r + 30) * ux, centre[1] - (r + 4) * uy),
                    (centre[0] + r * ux + (w if name_right else 0), centre[1] + (r + 4) * uy))
            if not name_right:
                area = ((centre[0] - r * ux - w, area[0][1]), (centre[0] + (r + 30) * ux, area[1][1]))
            score = sum(_overlap(area, b) for b in others) * 10
            if len(curve_pts):
                score += int(_inside(curve_pts, area).sum() > 0) * 3
            if best_score is None or score < best_score:
                best, best_score = (centre, name_right), score
        centre, name_right = best
        ang = np.linspace(math.radians(250), math.radians(250 - 320), 80)
        if centre[1] < y0:
            ang = ang + math.pi
        pts = np.column_stack([centre[0] + r * ux * np.cos(ang), centre[1] + r * uy * np.sin(ang)])
        link = f"{e.source}->{e.target}"
        arrow = FancyArrowPatch(path=MplPath(pts), arrowstyle="-|>", mutation_scale=13, lw=1.5,
                                color=_EDGE_COLOR, zorder=3, shrinkA=0, shrinkB=0, gid=f"{LINK}{link}")
        self.ax.add_patch(arrow)
        self.arrows.append(arrow)
        label = e.label if e.label != "-" else "\u2212"
        at = centre + np.array([(-(r + 9) if name_right else (r + 9)) * ux, 0])
        t = self.ax.text(at[0], at[1], label, ha="center", va="center", fontsize=_SIGN_PT - 1,
                         fontweight="bold", color=_COLORS.get(e.label, _EDGE_COLOR), zorder=6,
                         gid=f"{SIGN}{link}")
        self.sign_texts.append(t)
        self.sign_boxes.append(((at[0] - 6 * ux, at[1] - 7 * uy), (at[0] + 6 * ux, at[1] + 7 * uy)))
        self.sign_boxes.append(((centre[0] - r * ux, centre[1] - r * uy), (centre[0] + r * ux, centre[1] + r * uy)))
        self.self_loop_at = getattr(self, "self_loop_at", {})
        self.self_loop_at[e.source] = (centre, r, name_right)

    def draw_markers(self, boxes: dict) -> None:
        """Each loop's marker (circular arrow, id, name) at the free spot nearest the loop's centre,
        inside the loop when there is room: clear of every variable label, polarity sign, link
        (arrow or delay mark) and other marker, checked in display coordinates against the
        renderer's text boxes and the arrows' drawn paths. A self-loop's marker sits in its circle,
        its name on the first free side. Only when no spot is free is the least crowded one taken."""
        renderer = self.fig.canvas.get_renderer()
        ux, uy = self.units_per_pt()
        pt = self.fig.dpi / 72.0
        to_px = self.ax.transData.transform
        self.marker_texts = []
        label_boxes = [Bbox(to_px(np.array(b))) for b in boxes.values()]
        label_boxes += [t.get_window_extent(renderer) for t in getattr(self, "sign_texts", [])]
        obstacles = _Obstacles(label_boxes, [display_path(a) for a in getattr(self, "arrows", [])])
        within = _grow_bbox(self.ax.bbox, -2.0)
        selfs = getattr(self, "self_loop_at", {})
        order = sorted(self.markers, key=lambda m: not (len([v for v in m.variables if v in self.pos]) == 1
                                                        and m.variables[0] in selfs))
        for m in order:
            vars_ = [v for v in m.variables if v in self.pos]
            if not vars_:
                continue
            color = _COLORS["-"] if m.polarity == "B" else (_COLORS["+"] if m.polarity == "R" else "#555555")
            gid = f"{MARKER}{m.id}"
            if len(vars_) == 1 and vars_[0] in selfs:
                self._self_loop_marker(m, selfs[vars_[0]], color, gid, obstacles, within, renderer)
                continue
            r = 15.0
            name = "\n".join(textwrap.wrap(m.name, 14)) if m.name else ""
            centroid = np.mean([self.pos[v] for v in vars_], axis=0)
            name_text = None
            if name:
                name_text = self.ax.text(centroid[0], centroid[1], name, ha="center", va="top",
                                         fontsize=_NAME_PT, style="italic", color=color, zorder=6, gid=gid,
                                         bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
            size = _text_size(name_text, renderer) if name_text is not None else (0.0, 0.0, 0.0)
            half = (r + 3) * pt

            def layout(c, size=size, half=half, r=r):
                parts = [Bbox.from_extents(c[0] - half, c[1] - half, c[0] + half, c[1] + half)]
                if size[0]:
                    top = c[1] - (r + 4) * pt + size[2]  # the text's top, then its pad
                    parts.append(Bbox.from_extents(c[0] - size[0] / 2, top - size[1], c[0] + size[0] / 2, top))
                return parts

            poly = to_px(np.array([self.pos[v] for v in vars_])) if len(vars_) >= 3 else None
            start = to_px(centroid)
            best = _nearest_free(start, layout, obstacles, within, poly)
            for part in layout(best):
                obstacles.add(part)
            best = self.ax.transData.inverted().transform(best)
            self._loop_marker(m, vars_, best, r, color, gid, ux, uy)
            if name_text is not None:
                name_text.set_position((best[0], best[1] - (r + 4) * uy))
                self.marker_texts.append(name_text)

    def _loop_marker(self, m, vars_, at, r, color, gid, ux, uy) -> None:
        """The circular arrow (turning as the loop runs in the drawing) and the id at ``at``."""
        from matplotlib.patches import Ellipse

        pts = np.array([self.pos[v] for v in vars_])
        area = sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
                   for i in range(len(pts)))
        ang = np.linspace(math.radians(120), math.radians(120 + 290), 50)
        if area < 0:
            ang = ang[::-1]
        arc = np.column_stack([at[0] + r * ux * np.cos(ang), at[1] + r * uy * np.sin(ang)])
        self.ax.add_patch(Ellipse(tuple(at), 2 * (r + 3) * ux, 2 * (r + 3) * uy, fc="white", ec="none",
                                  alpha=0.9, zorder=4, gid=gid))
        self.ax.add_patch(FancyArrowPatch(path=MplPath(arc), arrowstyle="-|>", mutation_scale=11, lw=1.4,
                                          color=color, zorder=4.5, shrinkA=0, shrinkB=0, gid=gid))
        t = self.ax.text(at[0], at[1], m.id, ha="center", va="center", fontsize=_MARK_PT,
                         fontweight="bold", color=color, zorder=6, gid=gid)
        self.marker_texts.append(t)

    def _self_loop_marker(self, m, loop_at, color, gid, obstacles, within, renderer) -> None:
        """A self-loop's id inside its circle and its name beside the circle, on the first free side
        (the side away from the variable first)."""
        centre, rr, right = loop_at
        pt = self.fig.dpi / 72.0
        t = self.ax.text(centre[0], centre[1], m.id, ha="center", va="center", fontsize=_MARK_PT - 1,
                         fontweight="bold", color=color, zorder=6, gid=gid)
        self.marker_texts.append(t)
        obstacles.add(t.get_window_extent(renderer))
        if not m.name:
            return
        t2 = self.ax.text(centre[0], centre[1], "\n".join(textwrap.wrap(m.name, 14)), fontsize=_NAME_PT,
                          style="italic", color=color, zorder=6, gid=gid,
                          bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
        w, h, pad = _text_size(t2, renderer)
        c = self.ax.transData.transform(centre)
        gap = (rr + 4) * pt
        sides = [("left", "center", (gap, 0.0)), ("right", "center", (-gap, 0.0)),
                 ("center", "top", (0.0, -gap)), ("center", "bottom", (0.0, gap))]
        if not right:
            sides[0], sides[1] = sides[1], sides[0]
        options = []
        for ha, va, (dx, dy) in sides:
            anchor = c + (dx, dy)
            x0 = anchor[0] - {"left": 0.0, "center": w / 2 - pad, "right": w - 2 * pad}[ha] - pad
            y0 = anchor[1] - {"bottom": 0.0, "center": h / 2 - pad, "top": h - 2 * pad}[va] - pad
            box = Bbox.from_extents(x0, y0, x0 + w, y0 + h)
            hits = obstacles.hits([box]) + (0 if _contains(within, box) else 100)
            options.append((hits, ha, va, anchor, box))
        hits, ha, va, anchor, box = min(options, key=lambda o: o[0])  # first of the least crowded
        t2.set_horizontalalignment(ha)
        t2.set_verticalalignment(va)
        t2.set_position(self.ax.transData.inverted().transform(anchor))
        obstacles.add(box)
        self.marker_texts.append(t2)

    def content_extent(self) -> Bbox:
        renderer = self.fig.canvas.get_renderer()
        boxes = []
        for art in list(self.ax.texts) + list(self.ax.patches) + list(self.ax.lines):
            try:
                boxes.append(art.get_window_extent(renderer))
            except Exception:  # pragma: no cover - artists without extent
                continue
        return Bbox.union(boxes)


def draw_cld(graph: CausalGraph, *, markers: Sequence[LoopMarker] | None = None,
             positions: Mapping[str, tuple[float, float]] | None = None, title: str | None = None,
             figsize: tuple[float, float] = SLIDE) -> Figure:
    """Draw ``graph`` as a causal loop diagram and return the matplotlib Figure.

    Args:
        graph: a CLD graph or a collapsed view of a model.
        markers: loops to mark (default: the named loops, else up to 12 loops of the graph).
        positions: variable -> (x, y); missing ones are laid out automatically.
        title: figure title (default: the graph's title).
        figsize: inches (default 16:9 slide).
    """
    from ..causal.loops import find_loops

    if not graph.nodes:
        from ..errors import CxError

        raise CxError(f"{graph.name}: nothing to draw (no variables)")
    if markers is None:
        loops = find_loops(graph)
        named = [lp for lp in loops if lp.name]
        markers = markers_for(named if named else loops)
    given = dict(positions if positions is not None else graph.layout)
    pos = auto_layout(graph, given) if len(given) < len(graph.nodes) else given
    title = graph.title if title is None else title
    d = _Drawing(graph, pos, markers, title, figsize)
    # fit: place, measure, separate labels, re-fit until nothing moves and everything is inside
    for _ in range(4):
        d.ax.cla()
        d.ax.set_axis_off()
        d.set_limits(pad=0.0)
        boxes = d.draw_nodes()
        half_w = max(b[1][0] - b[0][0] for b in boxes.values()) / 2
        half_h = max(b[1][1] - b[0][1] for b in boxes.values()) / 2
        d.ax.cla()
        d.ax.set_axis_off()
        span = max(np.ptp([p[0] for p in d.pos.values()]), np.ptp([p[1] for p in d.pos.values()]), 1e-9)
        d.set_limits(pad=max(half_w, half_h) + 0.03 * span)
        boxes = d.draw_nodes()
        if not d.separate(boxes):
            break
    d.draw_edges(boxes)
    d.draw_markers(boxes)
    if title:
        d.fig.suptitle(title, fontsize=16, fontweight="bold", x=0.5, y=0.975)
    _shrink_to_fit(d)
    _legend(d.fig, assumed=bool(getattr(graph, "assumed", ())))
    return d.fig


#: Share of the figure's height kept for the legend at the bottom.
LEGEND_HEIGHT = 0.05
#: How to read a diagram: (symbol, meaning, colour).
LEGEND = (("+", "same direction", _COLORS["+"]), ("\u2212", "opposite direction", _COLORS["-"]),
          ("\u2016", "delay", _EDGE_COLOR), ("\u25ad", "stock", _EDGE_COLOR),
          ("R", "reinforcing loop", _COLORS["+"]), ("B", "balancing loop", _COLORS["-"]))


#: The dash of a link drawn ``assumed`` (the room's assumption, not in the model), and its legend entry.
ASSUMED_DASH = (0, (4, 3))
ASSUMED_LEGEND = ("\u2013 \u2013", "assumed", _EDGE_COLOR)


def _legend(fig: Figure, assumed: bool = False) -> None:
    """One line at the bottom of the figure saying how to read the signs, marks and boxes (and dashed
    links, when the diagram has links drawn ``assumed``)."""
    entries = LEGEND + ((ASSUMED_LEGEND,) if assumed else ())
    n = len(entries)
    for i, (symbol, meaning, color) in enumerate(entries):
        x = 0.05 + 0.92 * i / n
        fig.text(x - 0.006, LEGEND_HEIGHT / 2, symbol, ha="right", va="center", fontsize=_NODE_PT,
                 fontweight="bold", color=color)
        fig.text(x, LEGEND_HEIGHT / 2, meaning, ha="left", va="center", fontsize=_NAME_PT + 1, color="#444444")


def _shrink_to_fit(d: _Drawing) -> None:
    """If anything sticks out of the axes, zoom out (keeping the aspect) until it fits."""
    for _ in range(6):
        ext = d.content_extent()
        ab = d.ax.bbox
        over = max(ab.x0 - ext.x0, ext.x1 - ab.x1, ab.y0 - ext.y0, ext.y1 - ab.y1)
        if over <= 2:
            return
        x0, x1 = d.ax.get_xlim()
        y0, y1 = d.ax.get_ylim()
        f = 1 + 2.2 * over / min(ab.width, ab.height)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        # zooming out moves everything drawn in data units; redraw edges and markers at the new scale
        d.ax.cla()
        d.ax.set_axis_off()
        d.ax.set_xlim(cx - (x1 - x0) * f / 2, cx + (x1 - x0) * f / 2)
        d.ax.set_ylim(cy - (y1 - y0) * f / 2, cy + (y1 - y0) * f / 2)
        boxes = d.draw_nodes()
        d.draw_edges(boxes)
        d.draw_markers(boxes)


def labels_outside(fig: Figure) -> list[str]:
    """Texts of ``fig`` whose extent is not entirely inside the figure (empty list = all inside)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fb = fig.bbox
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if not t.get_text() or not t.get_visible():
            continue
        bb = t.get_window_extent(renderer)
        if bb.x0 < fb.x0 - 0.5 or bb.y0 < fb.y0 - 0.5 or bb.x1 > fb.x1 + 0.5 or bb.y1 > fb.y1 + 0.5:
            out.append(t.get_text())
    return out


def overlapping_labels(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of variable labels and loop markers whose boxes overlap (empty list = none)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    items = []
    for ax in fig.axes:
        for t in ax.texts:
            if not t.get_text() or len(t.get_text()) <= 1:  # polarity signs are checked separately
                continue
            bp = t.get_bbox_patch()
            bb = bp.get_window_extent(renderer) if bp is not None else t.get_window_extent(renderer)
            items.append((t.get_text(), bb))
    out = []
    for i, (a, ba) in enumerate(items):
        for b, bb in items[i + 1:]:
            if ba.overlaps(bb):
                out.append((a, b))
    return out


def save_cld(fig: Figure, path) -> None:
    """Write the figure (``.png``, ``.svg`` or ``.pdf``) atomically."""
    from .charts import save_figure

    save_figure(fig, path)
