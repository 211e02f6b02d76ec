"""The deterministic part of drawing a floor plan: a room layout in, a usable plan out.

A floor-plan model's network gives a layout, the most likely class at every pixel: where the
building is, which room type each part of it is, where it draws walls. ``render_plan`` turns that
into a plan by rules, as published plan generators do (a learned layout, walls and doors by rule):

1. the building: every pixel the network draws as anything but outside, less pieces of it too
   small to hold a room (a stray pixel off the outline);
2. the network's rooms: the connected regions of each room type, parted by the network's walls,
   doors and windows: the pixels it draws as such, and where it gives them at least
   ``WALL_PROBABILITY`` (``wall_prob``; two rooms of one type meet only at a one-pixel wall, which
   the network, unsure of its exact place, rarely draws as the likeliest class). Pixels of no room
   join the nearest room; rooms smaller than ``min_room`` pixels (a model's training plans'
   smallest room: ``room_areas``) are merged into their neighbours;
3. straight walls (``aekit.plan_partition.straight_rooms``): the building cut into rooms with
   straight walls as the training plans are, each cut across the largest room where it parts the
   network's rooms best, as many rooms as training plans of that built area have (the network's
   number brought into that range) and of the types they have, given to the rooms where the
   network drew them (``room_rules``: ``RoomRules``, recorded from the training plans);
4. walls: one pixel along the building's outline (every built pixel with outside among its eight
   neighbours, as in the real plans) and on the line of each cut; a room that walls leave smaller
   than ``min_room`` or cut apart joins the neighbour it shares most border with and step 4 runs
   again;
5. the entrance: on the outer wall at the footprint's entrance mark (the condition says where the
   entrance is), or nearest it; without a footprint, where the network drew it;
6. doors: a spanning tree over the rooms that share a wall, grown from the entrance's room along the
   longest shared walls; a door is up to three pixels in the middle of the longest straight stretch
   of wall two rooms share; a room no door can reach is merged into a neighbour;
7. windows: in the middle of the longest straight outer wall of every room but a corridor, and
   where the network drew them on an outer wall.

Apart from step 1's specks, the renderer never adds or removes building: a pixel is outside in the
plan exactly when the network drew it outside, so footprint fidelity is the network's. Where rooms
are and their types come from the network; their walls, number and mix from the training plans.
"""

from __future__ import annotations

import numpy as np

from aekit.data.floorplans import DOOR, ENTRANCE, HALL, OUTSIDE, ROOM_CLASSES, WALL, WINDOW
from aekit.plan_partition import RoomRules, straight_rooms

ROUNDS = 12  # merge-and-redraw rounds at most; a layout not settled by then is drawn as it stands
# wall probability that parts two rooms of one type: on the gmm draws of a 30-minute plan-layout
# run, with the training plans' smallest room, 0.05 gives realism 0.34 (0.1: 0.38) where the
# likeliest classes alone give 0.63 (benchmarks/README.md)
WALL_PROBABILITY = 0.05
DOOR_PX = 3  # the widest door, as in the generated plans at 64 x 64
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
_EIGHT = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def default_min_room(size: int) -> int:
    """The smallest room, for the renderer and for validity (``aekit.plans.plan_validity``): 16
    pixels at 64 x 64 (about 2 x 2 m inside the walls), scaled with the area."""
    return max(1, round(16 * (size / 64) ** 2))


def room_areas(plans: np.ndarray) -> np.ndarray:
    """The area in pixels of every room (a connected region of room pixels, as
    ``aekit.plans.parse_plan`` finds them) of ``N x H x W`` plans (class indices)."""
    from scipy import ndimage

    rooms = np.isin(np.asarray(plans), ROOM_CLASSES)
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = _CROSS  # never across plans
    labels, _ = ndimage.label(rooms, structure)
    return np.bincount(labels.ravel())[1:]


def render_plans(
    raw: np.ndarray,
    footprints: np.ndarray | None = None,
    min_room: int | None = None,
    wall_prob: np.ndarray | None = None,
    room_rules: RoomRules | None = None,
) -> np.ndarray:
    """``render_plan`` for each of ``N x H x W`` layouts (class indices), with its footprint
    (``N x 2 x H x W``: mask and entrance mark) and wall probabilities (``N x H x W``) when given.
    ``N x H x W`` uint8."""
    raw = np.asarray(raw)
    out = np.empty(raw.shape, np.uint8)
    for i, layout in enumerate(raw):
        out[i] = render_plan(
            layout,
            None if footprints is None else np.asarray(footprints[i]),
            min_room,
            None if wall_prob is None else np.asarray(wall_prob[i]),
            room_rules,
        )
    return out


def _shift(a: np.ndarray, dy: int, dx: int, fill: int = 0) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]``, ``fill`` beyond the frame."""
    out = np.full_like(a, fill)
    h, w = a.shape
    out[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)] = a[
        max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)
    ]
    return out


def _regions(raw: np.ndarray, parted: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Label map of the connected regions of each room type outside ``parted`` (0 elsewhere) and
    each label's type."""
    from scipy import ndimage

    labels = np.zeros(raw.shape, np.int32)
    kinds = [OUTSIDE]
    for kind in ROOM_CLASSES:
        found, n = ndimage.label((raw == kind) & ~parted, _CROSS)
        labels[found > 0] = found[found > 0] + len(kinds) - 1
        kinds += [kind] * n
    return labels, kinds


def _fill(labels: np.ndarray, built: np.ndarray) -> np.ndarray:
    """Every built pixel without a room takes the label of the nearest room pixel."""
    from scipy import ndimage

    if not (labels > 0).any():
        return labels
    _, (ys, xs) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    return np.where(built & (labels == 0), labels[ys, xs], labels).astype(np.int32)


def _split(labels: np.ndarray, kinds: list[int]) -> np.ndarray:
    """Each label's pieces (4-connected) as labels of their own, of the same type (appended to
    ``kinds``)."""
    from scipy import ndimage

    out = labels.copy()
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        pieces, n = ndimage.label(labels[box] == label, _CROSS)
        for piece in range(2, n + 1):
            out[box][pieces == piece] = len(kinds)
            kinds.append(kinds[label])
    return out


def _walls(labels: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """The outer wall (built pixels with outside or the frame among their eight neighbours) and
    the walls between rooms: where the network drew wall (``drawn``), each such pixel next to
    another room; elsewhere one pixel on the lower label's side of two rooms that touch."""
    wall = np.zeros(labels.shape, bool)
    built = labels > 0
    for dy, dx in _EIGHT:
        other = _shift(labels, dy, dx)
        other_drawn = _shift(drawn.astype(np.int8), dy, dx).astype(bool)
        wall |= built & (other == 0)
        wall |= drawn & (other > 0) & (other != labels)
        wall |= built & ~drawn & ~other_drawn & (other > labels)
    return wall


def _merge_away(labels: np.ndarray, gone: np.ndarray, built: np.ndarray) -> np.ndarray:
    """The pixels of the labels in ``gone`` join their nearest neighbours."""
    return _fill(np.where(np.isin(labels, gone), 0, labels).astype(np.int32), built)


def render_plan(
    raw: np.ndarray,
    footprint: np.ndarray | None = None,
    min_room: int | None = None,
    wall_prob: np.ndarray | None = None,
    room_rules: RoomRules | None = None,
) -> np.ndarray:
    """A plan (class indices, uint8) from a layout ``raw`` (``H x W`` class indices), the steps in
    the module's docstring; ``footprint`` (``2 x H x W``: mask, entrance mark) places the
    entrance; ``wall_prob`` (``H x W``) is the network's probability of wall, door, window or
    entrance at each pixel; ``min_room`` defaults to ``default_min_room``, ``room_rules`` (the
    training plans' rooms: how many for the built area, of which types) to those of runs without
    them, ``RoomRules.from_record((), size)``."""
    from scipy import ndimage

    raw = np.asarray(raw)
    min_room = default_min_room(raw.shape[0]) if min_room is None else min_room
    rules = RoomRules.from_record((), raw.shape[0]) if room_rules is None else room_rules
    built = _without_specks(raw != OUTSIDE, min_room)
    drawn = built & ~np.isin(raw, ROOM_CLASSES)  # the network's walls, doors, windows, entrances
    parted = drawn if wall_prob is None else drawn | (built & (wall_prob >= WALL_PROBABILITY))
    if not (built & ~parted).any():  # a network unsure of every pixel: its drawing alone
        parted = drawn
    labels, kinds = _regions(np.where(built, raw, OUTSIDE), parted)
    labels = _fill(labels, built)
    small = [
        j
        for j, n in enumerate(np.bincount(labels.ravel(), minlength=len(kinds)))
        if j and n < min_room
    ]
    if len(small) < len(kinds) - 1:  # a layout of fragments only keeps them all
        labels = _merge_away(labels, np.array(small), built)
    if labels.any():
        likely_wall = drawn.astype(float) if wall_prob is None else wall_prob
        labels, kinds, drawn = straight_rooms(labels, raw, rules, min_room, likely_wall)
    for round_ in range(ROUNDS):
        labels = _split(labels, kinds)
        wall = _walls(labels, drawn)
        rooms = np.where(wall, 0, labels)
        crossings = _crossings(rooms, wall)
        entrance = _entrance(raw, crossings, footprint)
        doors, unreached = _doors(rooms, crossings, entrance)
        gone = _failing_rooms(labels, rooms, min_room) or unreached
        if not gone or len(gone) >= len(np.unique(labels[labels > 0])) or round_ == ROUNDS - 1:
            break  # settled, or nothing would be left: drawn as it stands
        labels = _merge_into_neighbours(labels, gone, built)
    plan = np.where(built, WALL, OUTSIDE).astype(np.uint8)
    kind_of = np.array(kinds, np.uint8)
    plan[rooms > 0] = kind_of[rooms[rooms > 0]]
    plan[doors] = DOOR
    outer = wall & ndimage.binary_dilation(~built, _CROSS, border_value=1)
    windows = _windows(crossings, kinds, entrance) | ((raw == WINDOW) & outer)
    plan[windows & ~entrance & ~doors] = WINDOW
    plan[entrance] = ENTRANCE
    return plan


def _without_specks(built: np.ndarray, min_room: int) -> np.ndarray:
    """The built area less its pieces (8-connected) too small to hold a room: a pixel or two the
    network draws off the building's outline (a stray wall outside it once rendered)."""
    from scipy import ndimage

    found, n = ndimage.label(built, np.ones((3, 3), bool))
    sizes = np.bincount(found.ravel(), minlength=n + 1)
    keep = sizes >= min_room
    keep[0] = False
    return keep[found] if keep.any() else built


def _merge_into_neighbours(labels: np.ndarray, gone: list[int], built: np.ndarray) -> np.ndarray:
    """Each room of ``gone`` joins the room it shares the longest border with, whole (rooms stay
    rectangles where they were); one with no neighbour joins its nearest rooms."""
    from scipy import ndimage

    out = labels.copy()
    for label in gone:
        mine = out == label
        ring = ndimage.binary_dilation(mine, _CROSS) & ~mine & (out > 0)
        if ring.any():
            out[mine] = np.bincount(out[ring]).argmax()
    return _merge_away(out, np.array(gone), built)


def _failing_rooms(labels: np.ndarray, rooms: np.ndarray, min_room: int) -> list[int]:
    """Labels whose room (what the walls leave of them) is under ``min_room`` pixels or in
    pieces."""
    from scipy import ndimage

    failing = []
    boxes = ndimage.find_objects(labels)
    for label, box in enumerate(boxes, start=1):
        if box is None:
            continue
        mine = rooms[box] == label
        if mine.sum() < min_room or ndimage.label(mine, _CROSS)[1] != 1:
            failing.append(label)
    return failing


Crossing = tuple[
    int, int, int, int, int, int
]  # room before, room after, axis, wall thickness, y, x


def _crossings(rooms: np.ndarray, wall: np.ndarray) -> list[Crossing]:
    """Straight passages through a wall one or two pixels thick: ``(a, b, axis, thickness, y, x)``
    for every wall pixel ``(y, x)`` with room ``a`` before it and room ``b`` after the wall along
    ``axis`` (0: down, 1: right), ``a != b``, one of them possibly outside (-1)."""
    found = []
    sided = np.where(wall, 0, np.where(rooms > 0, rooms, -1))  # -1 outside, 0 wall, > 0 rooms
    for axis, (dy, dx) in enumerate(((1, 0), (0, 1))):
        for thickness in (1, 2):
            before = _shift(sided, -dy, -dx, fill=-1)
            after = _shift(sided, dy * thickness, dx * thickness, fill=-1)
            through = wall.copy()
            if thickness == 2:
                through &= _shift(wall.astype(np.int8), dy, dx).astype(bool)
            ok = (
                through
                & (before != 0)
                & (after != 0)
                & (before != after)
                & ((before > 0) | (after > 0))
            )
            ys, xs = np.nonzero(ok)
            found += [
                (int(before[y, x]), int(after[y, x]), axis, thickness, y, x)
                for y, x in zip(ys.tolist(), xs.tolist())
            ]
    return found


def _runs(points: list[tuple[int, int]], axis: int) -> list[list[tuple[int, int]]]:
    """Points ``(y, x)`` of one wall grouped into straight runs of neighbours across ``axis``."""
    along = 1 - axis  # a passage downwards (axis 0) sits in a wall running along x
    ordered = sorted(points, key=lambda p: (p[axis], p[along]))
    runs: list[list[tuple[int, int]]] = []
    for p in ordered:
        if runs and runs[-1][-1][axis] == p[axis] and p[along] - runs[-1][-1][along] == 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def _opening(run: list[tuple[int, int]], axis: int, thickness: int) -> list[tuple[int, int]]:
    """Up to DOOR_PX pixels in the middle of a run (leaving wall at its ends when it is long
    enough), with the second pixel of a two-pixel wall."""
    width = min(DOOR_PX, max(1, len(run) - 2))
    start = (len(run) - width) // 2
    step = (1, 0) if axis == 0 else (0, 1)
    return [
        (y + k * step[0], x + k * step[1])
        for y, x in run[start : start + width]
        for k in range(thickness)
    ]


def _passages(crossings: list[Crossing]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """For each pair of rooms ``(a, b)`` (``a < b``, both rooms) the widest straight passage between
    them (a one-pixel wall counts double): its opening's pixels."""
    groups: dict[tuple[int, int, int, int], list[tuple[int, int]]] = {}
    for a, b, axis, thickness, y, x in crossings:
        if min(a, b) < 0:
            continue
        groups.setdefault((min(a, b), max(a, b), axis, thickness), []).append((y, x))
    best: dict[tuple[int, int], tuple[int, list[tuple[int, int]]]] = {}
    for (a, b, axis, thickness), points in groups.items():
        run = max(_runs(points, axis), key=len)
        score = len(run) * (2 if thickness == 1 else 1)
        if (a, b) not in best or score > best[(a, b)][0]:
            best[(a, b)] = (score, _opening(run, axis, thickness))
    return {pair: opening for pair, (_, opening) in best.items()}


def _entrance(
    raw: np.ndarray, crossings: list[Crossing], footprint: np.ndarray | None
) -> np.ndarray:
    """The entrance's pixels: up to DOOR_PX pixels of a one-pixel outer wall between outside and a
    room, around the point nearest the centre of the footprint's entrance mark (where the user asked
    for it), else of the network's entrance pixels, else of the building; none when no room touches
    an outer wall."""
    entrance = np.zeros(raw.shape, bool)
    outer = [
        (axis, y, x)
        for a, b, axis, thickness, y, x in crossings
        if min(a, b) == -1 and thickness == 1
    ]
    if not outer:
        return entrance
    target = np.argwhere(footprint[1] > 0) if footprint is not None else np.zeros((0, 2))
    if not len(target):
        target = np.argwhere(raw == ENTRANCE)
    if not len(target):
        target = np.argwhere(raw != OUTSIDE)
    points = np.array([(y, x) for _, y, x in outer])
    axis, y, x = outer[int(((points - target.mean(0)) ** 2).sum(1).argmin())]
    line = [(py, px) for a, py, px in outer if a == axis and (py, px)[axis] == (y, x)[axis]]
    run = next(r for r in _runs(line, axis) if (y, x) in r)
    k = run.index((y, x))
    start = min(max(0, k - DOOR_PX // 2), max(0, len(run) - DOOR_PX))
    for py, px in run[start : start + DOOR_PX]:
        entrance[py, px] = True
    return entrance


def _doors(
    rooms: np.ndarray, crossings: list[Crossing], entrance: np.ndarray
) -> tuple[np.ndarray, list[int]]:
    """Doors along a spanning tree of the rooms from the entrance's rooms (widest shared walls
    first), and the rooms no door reaches."""
    doors = np.zeros(rooms.shape, bool)
    labels = [int(j) for j in np.unique(rooms[rooms > 0])]
    start = set()
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        start |= set(np.unique(_shift(rooms, dy, dx)[entrance]).tolist()) - {0}
    passages = _passages(crossings)
    reached, frontier = set(start), sorted(start)
    while frontier:
        here = frontier.pop(0)
        options = sorted(
            ((len(o), pair) for pair, o in passages.items() if here in pair), reverse=True
        )
        for _, (a, b) in options:
            there = b if a == here else a
            if there not in reached:
                reached.add(there)
                frontier.append(there)
                for y, x in passages[(a, b)]:
                    doors[y, x] = True
    return doors, [j for j in labels if j not in reached]


def _windows(crossings: list[Crossing], kinds: list[int], entrance: np.ndarray) -> np.ndarray:
    """A window of up to DOOR_PX pixels in the middle of each room's longest straight stretch of
    one-pixel outer wall (beside the entrance, not on it); corridors get none."""
    stretches: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for a, b, axis, thickness, y, x in crossings:
        if thickness == 1 and min(a, b) == -1 and not entrance[y, x]:
            stretches.setdefault((max(a, b), axis), []).append((y, x))
    best: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    for (room, axis), points in stretches.items():
        run = max(_runs(points, axis), key=len)
        longer = len(run) > len(best.get(room, (0, []))[1])
        if kinds[room] != HALL and len(run) >= DOOR_PX and longer:
            best[room] = (axis, run)
    windows = np.zeros(entrance.shape, bool)
    for axis, run in best.values():
        for y, x in _opening(run, axis, 1):
            windows[y, x] = True
    return windows
