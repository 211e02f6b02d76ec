"""Floor plans as vectors: rooms as polygons, doors, windows and entrances as segments, and SVG.

``plan_vectors`` parses a plan (``aekit.plans.parse_plan``) and traces each room's pixels into an
exact rectilinear polygon (``trace``), in pixels or, given metres per pixel, in metres;
``plan_svg`` draws those vectors. ``aekit sample --vector`` writes both for every plan.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from aekit.data.floorplans import CLASSES, DOOR, ENTRANCE, OUTSIDE, PALETTE, WINDOW
from aekit.errors import AekitError
from aekit.plans import as_plans, parse_plan


def trace(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """The boundary loops of a pixel mask as rectilinear polygons of pixel-corner points ``(x, y)``
    (pixel ``(row, col)`` covers ``[col, col + 1] x [row, row + 1]``), collinear points removed;
    outer boundaries run one way, holes the other. Exact: every edge is a pixel edge."""
    m = np.pad(np.asarray(mask, bool), 1)
    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    # horizontal edges between rows y - 1 and y, vertical edges between columns x - 1 and x (padded)
    ys, xs = np.nonzero(m[1:, :] != m[:-1, :])
    for y, x in zip((ys + 1).tolist(), xs.tolist()):
        a, b = ((x, y), (x + 1, y)) if m[y, x] else ((x + 1, y), (x, y))
        edges.setdefault(a, []).append(b)
    ys, xs = np.nonzero(m[:, 1:] != m[:, :-1])
    for y, x in zip(ys.tolist(), (xs + 1).tolist()):
        a, b = ((x, y + 1), (x, y)) if m[y, x] else ((x, y), (x, y + 1))
        edges.setdefault(a, []).append(b)
    loops = []
    while edges:
        start = next(iter(edges))
        loop, point = [start], start
        while True:
            ends = edges[point]
            nxt = ends.pop()
            if not ends:
                del edges[point]
            if nxt == start:
                break
            loop.append(nxt)
            point = nxt
        corners = [
            p
            for k, p in enumerate(loop)
            if not (
                loop[k - 1][0] == p[0] == loop[(k + 1) % len(loop)][0]
                or loop[k - 1][1] == p[1] == loop[(k + 1) % len(loop)][1]
            )
        ]
        loops.append([(x - 1, y - 1) for x, y in corners])
    return loops


def _shoelace(points: list[tuple[float, float]]) -> float:
    x, y = np.array(points, np.float64).T
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _segments(labels: np.ndarray, unit: float) -> list[dict[str, object]]:
    """Each component as a segment along its long side through its middle: start, end, width
    (along the wall) and thickness (across it)."""
    found = []
    for sl in ndimage.find_objects(labels):
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        if x1 - x0 >= y1 - y0:
            start, end, width, thickness = (
                (x0, (y0 + y1) / 2),
                (x1, (y0 + y1) / 2),
                x1 - x0,
                y1 - y0,
            )
        else:
            start, end, width, thickness = (
                ((x0 + x1) / 2, y0),
                ((x0 + x1) / 2, y1),
                y1 - y0,
                x1 - x0,
            )
        found.append(
            {
                "start": [start[0] * unit, start[1] * unit],
                "end": [end[0] * unit, end[1] * unit],
                "width": width * unit,
                "thickness": thickness * unit,
            }
        )
    return found


def plan_vectors(plan: np.ndarray | torch.Tensor, scale: float | None = None) -> dict[str, object]:
    """A plan as vectors: rooms (class name, outline polygon, holes, area), doors, windows and
    entrances (segments along the wall with their width), the building's outline. Coordinates are
    pixel corners ``(x, y)`` from the top left; with ``scale`` (metres per pixel) they are metres
    and areas square metres."""
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise AekitError(f"scale must be metres per pixel > 0, got {scale!r}")
    plan = as_plans(plan, "plan")[0]
    unit = 1.0 if scale is None else float(scale)
    parsed = parse_plan(plan)

    def polygons(mask: np.ndarray) -> tuple[list[list[float]], list[list[list[float]]]]:
        loops = sorted(trace(mask), key=lambda loop: -abs(_shoelace(loop)))
        scaled = [[[x * unit, y * unit] for x, y in loop] for loop in loops]
        return scaled[0], scaled[1:]

    rooms = []
    for room in parsed.rooms:
        outline, holes = polygons(parsed.rooms_map == room.label)
        rooms.append(
            {
                "type": CLASSES[room.kind],
                "polygon": outline,
                "holes": holes,
                "area": room.area * unit**2,
            }
        )
    building = plan != OUTSIDE
    outline, holes = polygons(building) if building.any() else ([], [])
    return {
        "units": "px" if scale is None else "m",
        "size": [plan.shape[1] * unit, plan.shape[0] * unit],
        "outline": outline,
        "courtyards": holes,
        "rooms": rooms,
        "doors": _segments(parsed.doors, unit),
        "windows": _segments(parsed.windows, unit),
        "entrances": _segments(parsed.entrances, unit),
    }


def _hex(kind: int) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in PALETTE[kind])


def plan_svg(
    plan: np.ndarray | torch.Tensor, scale: float | None = None, pixel: float = 8.0
) -> str:
    """The plan as an SVG drawing: the building black (its walls), rooms in palette colours on top,
    doors, windows and entrances as strokes across the wall. ``pixel`` is the drawing's size of one
    plan pixel; coordinates inside are those of ``plan_vectors`` (pixels, or metres with
    ``scale``)."""
    vectors = plan_vectors(plan, scale)
    unit = 1.0 if scale is None else float(scale)
    width, height = vectors["size"]

    def path(loops: list[list[list[float]]]) -> str:
        return " ".join("M " + " L ".join(f"{x:g} {y:g}" for x, y in loop) + " Z" for loop in loops)

    names = {name: kind for kind, name in enumerate(CLASSES)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width / unit * pixel:g}" height="{height / unit * pixel:g}">',
        f'<rect width="{width:g}" height="{height:g}" fill="{_hex(OUTSIDE)}"/>',
    ]
    if vectors["outline"]:
        parts.append(
            f'<path d="{path([vectors["outline"], *vectors["courtyards"]])}" fill="{_hex(1)}" '
            'fill-rule="evenodd"/>'
        )
    for room in vectors["rooms"]:
        parts.append(
            f'<path d="{path([room["polygon"], *room["holes"]])}" '
            f'fill="{_hex(names[room["type"]])}" '
            f'fill-rule="evenodd"><title>{room["type"]} {room["area"]:g}</title></path>'
        )
    for key, kind in (("doors", DOOR), ("windows", WINDOW), ("entrances", ENTRANCE)):
        for seg in vectors[key]:
            (x0, y0), (x1, y1) = seg["start"], seg["end"]
            parts.append(
                f'<line x1="{x0:g}" y1="{y0:g}" x2="{x1:g}" y2="{y1:g}" stroke="{_hex(kind)}" '
                f'stroke-width="{seg["thickness"]:g}"/>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
