"""Floor plans' classes and palette, and the last step of drawing one: furnishing a divided
building.

``aekit.data.floorplans`` divides a footprint into rooms (``Layout``); ``furnish`` gives them their
types (one living room, kitchen, bathrooms, bedrooms, corridors), puts the entrance on an outer
wall into the entrance's room, doors along a random spanning tree of the rooms from there (a few
extra ones besides), and windows on outer walls. ``CLASSES`` and ``PALETTE`` are the one place the
plan classes are defined; ``aekit.data.floorplans`` offers them to its callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLASSES = (
    "outside",
    "wall",
    "door",
    "window",
    "entrance",
    "living",
    "bedroom",
    "kitchen",
    "bathroom",
    "hall",
)
OUTSIDE, WALL, DOOR, WINDOW, ENTRANCE, LIVING, BEDROOM, KITCHEN, BATHROOM, HALL = range(
    len(CLASSES)
)
ROOM_CLASSES = (LIVING, BEDROOM, KITCHEN, BATHROOM, HALL)
# Outside is black and every other class brighter than aekit's silhouette threshold (0.1), so the
# silhouette (``aekit.data.conditions``) of a plan's colours is its footprint, courtyards filled in.
PALETTE = np.array(
    [
        (0, 0, 0),  # outside
        (90, 90, 90),  # wall
        (230, 60, 40),  # door
        (40, 140, 240),  # window
        (250, 200, 0),  # entrance
        (250, 170, 120),  # living
        (150, 200, 120),  # bedroom
        (240, 120, 170),  # kitchen
        (120, 220, 230),  # bathroom
        (200, 200, 200),  # hall
    ],
    dtype=np.uint8,
)
SHAPES = ("rectangle", "L", "T", "U", "courtyard", "notched")
SHAPE_WEIGHTS = (0.3, 0.15, 0.15, 0.15, 0.1, 0.15)
STATISTICS = {
    "irregular_share": 0.7,  # expected share of non-rectangular footprints
    "rooms": (3, 10),  # rooms per plan (each corridor piece counts as one)
    "wall_px_at_64": 1,
    "min_room_side_px_at_64": 5,
    "opening_px_at_64": 3,  # width of every door, window and entrance
    "hall_from_rooms": 6,
}
MIN_SIZE, MAX_SIZE = 32, 1024
MAX_BYTES = 8 << 30  # plans + footprints held in memory at once
# 4-connected, as ndimage's structure of rank 1
CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


@dataclass(frozen=True)
class Scale:
    """Pixel sizes at one frame size (64 x 64 is the reference)."""

    size: int
    wall: int
    min_side: int
    opening: int
    hall: int

    @classmethod
    def of(cls, size: int) -> Scale:
        f = size / 64
        return cls(
            size, max(1, round(f)), max(3, round(5 * f)), max(2, round(3 * f)), max(3, round(4 * f))
        )


@dataclass
class Layout:
    """A plan being drawn: walls, room regions (bool masks) and which regions are corridor."""

    footprint: np.ndarray
    wall: np.ndarray
    regions: list[np.ndarray] = field(default_factory=list)
    halls: list[bool] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    spent: set[int] = field(default_factory=set)  # regions no cut could split


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components (the structure given: scipy builds it on every call otherwise)."""
    from scipy import ndimage

    return ndimage.label(mask, CROSS)


# --- doors, windows, entrance and room types ---------------------------------------------------
def _crossings(labels: np.ndarray, t: int, width: int) -> np.ndarray:
    """Every place an opening of ``width`` fits in a straight wall ``t`` thick: rows
    ``(axis, y, x, a, b)`` with the opening's first wall pixel ``(y, x)`` and the labels ``a``
    and ``b`` on its two sides (``labels``: 0 wall, > 0 rooms, < 0 outside)."""
    found = []
    for axis in (0, 1):
        grid = labels if axis == 0 else labels.T
        a, b = grid[: -t - 1], grid[t + 1 :]
        through = np.ones(a.shape, bool)
        for j in range(1, t + 1):
            through &= grid[j : grid.shape[0] - t - 1 + j] == 0
        code = (a.astype(np.int64) + 8) * 1024 + (b + 8)
        ok = through & (a != 0) & (b != 0) & (a != b) & ((a > 0) | (b > 0))
        run = ok[:, : ok.shape[1] - width + 1].copy()
        for j in range(1, width):
            run &= ok[:, j : ok.shape[1] - width + 1 + j] & (
                code[:, j : code.shape[1] - width + 1 + j] == code[:, : code.shape[1] - width + 1]
            )
        ys, xs = np.nonzero(run)
        rows = np.stack([np.full(len(ys), axis), ys + 1, xs, a[ys, xs], b[ys, xs]], axis=1)
        if axis == 1:
            rows[:, [1, 2]] = rows[:, [2, 1]]
        found.append(rows)
    return np.concatenate(found)


def _opening(crossing: np.ndarray, scale: Scale) -> tuple[slice, slice]:
    axis, y, x = (int(v) for v in crossing[:3])
    t, width = scale.wall, scale.opening
    if axis == 0:
        return slice(y, y + t), slice(x, x + width)
    return slice(y, y + width), slice(x, x + t)


def _free(plan: np.ndarray, crossing: np.ndarray, scale: Scale) -> bool:
    """The opening and one pixel along the wall on either side are still plain wall."""
    axis, y, x = (int(v) for v in crossing[:3])
    ys, xs = _opening(crossing, scale)
    if axis == 0:
        xs = slice(max(0, x - 1), x + scale.opening + 1)
    else:
        ys = slice(max(0, y - 1), y + scale.opening + 1)
    return bool((plan[ys, xs] == WALL).all())


def furnish(
    layout: Layout, rng: np.random.Generator, scale: Scale
) -> tuple[np.ndarray, np.ndarray] | None:
    """The pair ``(footprint, plan)`` of a divided building: room types, entrance, doors, windows;
    None when no entrance or door fits (the caller draws another building)."""
    s = scale.size
    labels = np.zeros((s, s), np.int32)
    for j, region in enumerate(layout.regions, start=1):
        labels[region] = j
    outside_labels, _ = label_regions(~layout.footprint)
    exterior = outside_labels == outside_labels[0, 0]
    labels[exterior] = -1
    labels[~layout.footprint & ~exterior] = -2  # courtyard
    crossings = _crossings(labels, scale.wall, scale.opening)
    room_side = np.maximum(crossings[:, 3], crossings[:, 4])
    outer_side = np.minimum(crossings[:, 3], crossings[:, 4])
    n = len(layout.regions)
    halls = [j + 1 for j in range(n) if layout.halls[j]]
    rooms = [j + 1 for j in range(n) if not layout.halls[j]]
    if len(rooms) < 3:
        return None
    areas = dict(enumerate(layout.areas, start=1))
    entrances = crossings[outer_side == -1]
    reachable_halls = [h for h in halls if (room_side[outer_side == -1] == h).any()]
    by_area = sorted(rooms, key=lambda j: -areas[j])
    if reachable_halls:
        entrance_room = int(rng.choice(reachable_halls))
        living = by_area[0]
    else:
        candidates = [j for j in by_area if (entrances[:, 3:].max(axis=1) == j).any()]
        if not candidates:
            return None
        entrance_room = living = candidates[0]
    types = dict.fromkeys(halls, HALL)
    types[living] = LIVING
    rest = [j for j in by_area if j != living]
    n_baths = 2 if len(rooms) >= 7 else 1
    for j in rest[len(rest) - n_baths :]:
        types[j] = BATHROOM
    others = rest[: len(rest) - n_baths]
    kitchen = others[int(rng.integers(len(others)))]
    for j in others:
        types[j] = KITCHEN if j == kitchen else BEDROOM

    # labels -2..n
    kind_of = np.array([OUTSIDE, OUTSIDE, WALL] + [types[j] for j in range(1, n + 1)], np.uint8)
    plan = kind_of[labels + 2]
    footprint = np.zeros((2, s, s), np.uint8)
    footprint[0] = layout.footprint

    # entrance: an opening between the entrance room and the street
    options = entrances[entrances[:, 3:].max(axis=1) == entrance_room]
    chosen = options[rng.integers(len(options))]
    ys, xs = _opening(chosen, scale)
    plan[ys, xs] = ENTRANCE
    footprint[1, ys, xs] = 1

    # doors: a random spanning tree of the rooms from the entrance room, and a few extra doors
    inner = crossings[outer_side > 0]
    keys = np.minimum(inner[:, 3], inner[:, 4]) * 1024 + np.maximum(inner[:, 3], inner[:, 4])
    unique, which = np.unique(keys, return_inverse=True)
    pairs = {
        (int(k) // 1024, int(k) % 1024): np.nonzero(which == i)[0] for i, k in enumerate(unique)
    }
    neighbours: dict[int, list[int]] = {j: [] for j in range(1, n + 1)}
    for a, b in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    reached, frontier, doors = {entrance_room}, [entrance_room], []
    while frontier:
        here = frontier.pop(int(rng.integers(len(frontier))))
        for there in rng.permutation(neighbours[here]).tolist():
            if there not in reached and not (types[here] == BATHROOM and types[there] != HALL):
                reached.add(there)
                frontier.append(there)
                doors.append((min(here, there), max(here, there)))
    if len(reached) < n:
        return None
    extra = [p for p in pairs if p not in doors and BATHROOM not in (types[p[0]], types[p[1]])]
    doors += [p for p in extra if rng.random() < 0.15]
    for pair in doors:
        rows = pairs[pair]
        for row in rng.permutation(rows):
            if _free(plan, inner[row], scale):
                plan[_opening(inner[row], scale)] = DOOR
                break
        else:
            return None

    # windows: on outer walls (street or courtyard), most rooms one, large rooms sometimes two
    outer = crossings[outer_side < 0]
    outer_room = room_side[outer_side < 0]
    for j in range(1, n + 1):
        wanted = {HALL: 0.3, BATHROOM: 0.6}.get(types[j], 0.95)
        count = int(rng.random() < wanted) + int(
            areas[j] > 8 * scale.min_side**2 and rng.random() < 0.4
        )
        for row in rng.permutation(np.nonzero(outer_room == j)[0]):
            if count == 0:
                break
            if _free(plan, outer[row], scale):
                plan[_opening(outer[row], scale)] = WINDOW
                count -= 1
    return footprint, plan
