"""Synthetic floor plans: a building's footprint paired with a plan of rooms, walls, doors and windows.

The exercise behind it: draw a floor plan for a building of any shape. Each pair is generated
from a seed by rules an architect would recognise, so a model's plans can be checked
(``aekit.plans``): the footprint (outline mask and entrance mark) is the condition, the plan the
target. A plan is made by recursive splitting: the footprint's outer wall, then (in larger
buildings) a corridor across the long side, then straight interior walls cutting the largest
room until the building has its number of rooms; doors follow a random spanning tree of the
rooms from the entrance, windows sit on outer walls.

Fixed statistics (``STATISTICS``, each tested in ``tests/data/test_floorplans.py``):

* about 70% of the footprints are irregular (L, T, U, courtyard with a hole, notched rectangle),
  the rest rectangles; sizes 45-92% of the frame on each side, anywhere in the frame;
* walls one pixel wide at 64 x 64 (``round(size / 64)`` pixels at other sizes);
* 3 to 10 rooms, more in larger buildings; no room narrower than 5 pixels at 64 x 64;
* every room reachable from the entrance through doors; windows only on outer walls;
* one living room, one kitchen, one bathroom (two from 7 rooms besides the corridor), the rest
  bedrooms, and a corridor (hall) in most buildings of 6 rooms or more.

Pair ``i`` of seed ``s`` depends only on ``(s, i, size)``. 20,000 pairs at 64 x 64 take 37 s of
one core (1.9 ms a pair: CPU time of ``make_floorplans(20000)`` on this project's 2-core machine
while other jobs ran; ``python benchmarks/floorplans.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aekit.errors import AekitError

CLASSES = ("outside", "wall", "door", "window", "entrance", "living", "bedroom", "kitchen", "bathroom", "hall")
OUTSIDE, WALL, DOOR, WINDOW, ENTRANCE, LIVING, BEDROOM, KITCHEN, BATHROOM, HALL = range(len(CLASSES))
ROOM_CLASSES = (LIVING, BEDROOM, KITCHEN, BATHROOM, HALL)
# Outside is black and every other class brighter than aekit's silhouette threshold (0.1), so the
# silhouette (``aekit.data.conditions``) of a plan's colours is its footprint, courtyards filled in.
PALETTE = np.array([
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
], dtype=np.uint8)
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
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)  # 4-connected, as ndimage's structure of rank 1


@dataclass(frozen=True)
class _Scale:
    """Pixel sizes at one frame size (64 x 64 is the reference)."""

    size: int
    wall: int
    min_side: int
    opening: int
    hall: int

    @classmethod
    def of(cls, size: int) -> _Scale:
        f = size / 64
        return cls(size, max(1, round(f)), max(3, round(5 * f)), max(2, round(3 * f)), max(3, round(4 * f)))


def check_request(n: object, size: object, seed: object) -> None:
    """One-line errors for a bad count, size or seed, before anything is allocated."""
    for name, value in (("n", n), ("size", size), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise AekitError(f"floor plans: {name} must be an integer, got {value!r}")
    if n < 1:
        raise AekitError(f"floor plans: n must be at least 1, got {n}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise AekitError(f"floor plans: size must be {MIN_SIZE}..{MAX_SIZE} pixels, got {size}")
    if seed < 0:
        raise AekitError(f"floor plans: seed must be >= 0, got {seed}")
    if 3 * int(n) * int(size) ** 2 > MAX_BYTES:
        raise AekitError(f"floor plans: {n} pairs of {size}x{size} need {3 * n * size**2 / 2**30:.1f} GiB; "
                         f"at most {MAX_BYTES >> 30} GiB at once")


def make_floorplans(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs ``(footprints uint8 n x 2 x S x S, plans uint8 n x S x S)``.

    Footprint channel 0 is the building's outline mask (1 inside), channel 1 the entrance mark
    (the entrance door's pixels on the outer wall); plans hold class indices (``CLASSES``).
    """
    check_request(n, size, seed)
    scale = _Scale.of(int(size))
    footprints = np.zeros((n, 2, size, size), np.uint8)
    plans = np.zeros((n, size, size), np.uint8)
    for i in range(int(n)):
        footprints[i], plans[i] = _make_pair(np.random.default_rng([int(seed), i]), scale)
    return footprints, plans


def _make_pair(rng: np.random.Generator, scale: _Scale) -> tuple[np.ndarray, np.ndarray]:
    """One pair; a draw that does not fit the rules (rare) is replaced by the next draw."""
    while True:
        footprint = _footprint(rng, scale)
        pair = _plan(footprint, rng, scale)
        if pair is not None:
            return pair


# --- footprints --------------------------------------------------------------------------------
def _footprint(rng: np.random.Generator, scale: _Scale) -> np.ndarray:
    """A building outline inside the frame (at least one pixel of outside all round)."""
    s = scale.size
    kind = SHAPES[rng.choice(len(SHAPES), p=SHAPE_WEIGHTS)]
    low = 0.7 if kind == "courtyard" else 0.45
    h, w = (int(round(rng.uniform(low, 0.92) * s)) for _ in range(2))
    arm = 12 * s / 64  # thinnest wing: two walls and a room
    local = np.ones((h, w), bool)

    def part(extent: int, lo: float, hi: float) -> int:
        return int(round(rng.uniform(lo, hi) * extent))

    if kind == "L":
        ch, cw = min(part(h, 0.3, 0.6), int(h - arm)), min(part(w, 0.3, 0.6), int(w - arm))
        local[:ch, :cw] = False
    elif kind == "T":
        ch = min(part(h, 0.3, 0.6), int(h - arm))
        side = min(part(w, 0.2, 0.38), int((w - arm) / 2))
        local[:ch, :side] = False
        local[:ch, w - side:] = False
    elif kind == "U":
        ch, cw = min(part(h, 0.3, 0.6), int(h - arm)), min(part(w, 0.25, 0.45), int(w - 2 * arm))
        left = int(rng.integers(int(arm), w - int(arm) - cw + 1))
        local[:ch, left:left + cw] = False
    elif kind == "courtyard":
        ch, cw = part(h, 0.2, 0.35), part(w, 0.2, 0.35)
        top = int(rng.integers(int(arm) + 1, h - int(arm) - ch))
        left = int(rng.integers(int(arm) + 1, w - int(arm) - cw))
        local[top:top + ch, left:left + cw] = False
    elif kind == "notched":
        for _ in range(int(rng.integers(1, 4))):
            ch, cw = part(h, 0.12, 0.25), part(w, 0.12, 0.25)
            top = 0 if rng.random() < 0.5 else h - ch
            left = int(rng.integers(0, w - cw + 1))
            local[top:top + ch, left:left + cw] = False
    local = np.rot90(local, int(rng.integers(4)))
    if rng.random() < 0.5:
        local = local[:, ::-1]
    h, w = local.shape
    y0, x0 = int(rng.integers(1, s - h)), int(rng.integers(1, s - w))
    mask = np.zeros((s, s), bool)
    mask[y0:y0 + h, x0:x0 + w] = local
    return mask


def is_irregular(footprint_mask: np.ndarray) -> bool:
    """Whether an outline is anything but a filled rectangle (courtyards count: they have a hole)."""
    ys, xs = np.nonzero(footprint_mask)
    return bool(len(ys)) and (int(np.ptp(ys)) + 1) * (int(np.ptp(xs)) + 1) != len(ys)


# --- plans -------------------------------------------------------------------------------------
@dataclass
class _Layout:
    """A plan being drawn: walls, room regions (bool masks) and which regions are corridor."""

    footprint: np.ndarray
    wall: np.ndarray
    regions: list[np.ndarray] = field(default_factory=list)
    halls: list[bool] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    spent: set[int] = field(default_factory=set)  # regions no cut could split


def _plan(mask: np.ndarray, rng: np.random.Generator, scale: _Scale) -> tuple[np.ndarray, np.ndarray] | None:
    """The outer wall, a corridor, rooms cut until the building has its number of rooms (growing
    with the area), then openings and room types; None when this outline does not work out."""
    from scipy import ndimage  # drawing plans only: every command that reads data imports this module

    t = scale.wall
    outside = ~mask
    wall = mask & ndimage.binary_dilation(outside, np.ones((2 * t + 1,) * 2, bool), border_value=1)
    interior = mask & ~wall
    if _label(interior)[1] != 1 or not _thick(interior, scale) or _too_thick(wall, scale):
        return None
    area = mask.sum() * (64 / scale.size) ** 2
    target = int(np.clip(round(2 + area / 400 + rng.normal(0, 0.6)), *STATISTICS["rooms"]))
    layout = _Layout(mask, wall, [interior], [False], [int(interior.sum())])
    if target >= STATISTICS["hall_from_rooms"] and rng.random() < 0.85:
        _carve_hall(layout, rng, scale)
    while len(layout.regions) < target:
        open_rows = [i for i in range(len(layout.regions)) if not layout.halls[i] and i not in layout.spent]
        if not open_rows:
            break
        largest = max(open_rows, key=lambda i: layout.areas[i])
        if not _split(layout, largest, rng, scale, room_left=target - len(layout.regions)):
            layout.spent.add(largest)
    if len(layout.regions) < STATISTICS["rooms"][0]:
        return None
    return _furnish(layout, rng, scale)


def _window_sums(mask: np.ndarray, k: int) -> np.ndarray:
    """Sum of ``mask`` over every ``k x k`` window (top-left corner indexing), from an integral image."""
    c = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int32)
    c[1:, 1:] = mask.cumsum(0, dtype=np.int32).cumsum(1)
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components (the structure given: scipy builds it on every call otherwise)."""
    from scipy import ndimage

    return ndimage.label(mask, _CROSS)


def _padded(mask: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((mask.shape[0] + 2 * width, mask.shape[1] + 2 * width), bool)
    out[width:width + mask.shape[0], width:width + mask.shape[1]] = mask
    return out


def _thick(region: np.ndarray, scale: _Scale) -> bool:
    """No part of ``region`` narrower than the smallest room side: its opening by a square of
    that side (the union of the squares that fit inside) is the whole region."""
    k = scale.min_side
    fits = _padded(_window_sums(region, k) == k * k, k - 1)
    return bool(np.array_equal(_window_sums(fits, k) > 0, region))


def _too_thick(wall: np.ndarray, scale: _Scale) -> bool:
    """Some wall is thicker than ``scale.wall`` (a square one pixel wider is all wall)."""
    t = scale.wall + 1
    return bool((_window_sums(wall, t) == t * t).any())


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _divide(layout: _Layout, region: np.ndarray, box: tuple[int, int, int, int], axis: int, span: tuple[int, int],
            hall: bool, scale: _Scale) -> tuple[np.ndarray, list[np.ndarray], list[bool]] | None:
    """Wall ``region`` across rows (axis 0) or columns ``span``; with ``hall`` the span is a
    corridor between two walls; ``box`` is the region's bounding box. Returns the new walls, the pieces and which are corridor, or None
    when a room would be too small or thin or a wall too thick. Works on the region's bounding box,
    and checks thickness only within two room sides of the cut (the rest was checked before)."""
    y0, y1, x0, x1 = box
    window = (slice(y0 - 1, y1 + 1), slice(x0 - 1, x1 + 1))
    inside = region[window] if axis == 0 else region[window].T
    walls = layout.wall[window] if axis == 0 else layout.wall[window].T
    origin = (y0 if axis == 0 else x0) - 1
    a, b = span[0] - origin, span[1] - origin
    t, k = scale.wall, scale.min_side
    new_walls = walls.copy()
    new_walls[a:b] |= inside[a:b]
    if hall:
        new_walls[a + t: b - t] = walls[a + t: b - t]
    lo, hi = max(0, a - 2 * k), b + 2 * k
    near = inside[lo:hi].copy()
    near[a - lo: b - lo] = False
    fits = _padded(_window_sums(near, k) == k * k, k - 1)
    checked = slice(min(a - lo, k), (b - lo) + k)  # rows at least k from the edges of the near window
    if not np.array_equal((_window_sums(fits, k) > 0)[checked], near[checked]):
        return None
    if _too_thick(new_walls[lo:hi], scale):
        return None
    labels, n = _label(inside & ~new_walls)
    if n < 2:
        return None
    pieces, halls = [], []
    for j in range(1, n + 1):
        piece = labels == j
        is_hall = hall and bool(piece[a + t: b - t].any())
        if piece.sum() < (4 * scale.hall ** 2 if is_hall else 2 * k ** 2):
            return None
        full = np.zeros_like(region)
        full[window] = piece if axis == 0 else piece.T
        pieces.append(full)
        halls.append(is_hall)
    wall = layout.wall.copy()
    wall[window] = new_walls if axis == 0 else new_walls.T
    return wall, pieces, halls


def _split(layout: _Layout, row: int, rng: np.random.Generator, scale: _Scale, room_left: int) -> bool:
    region = layout.regions[row]
    y0, y1, x0, x1 = _bbox(region)
    k, t = scale.min_side, scale.wall
    h, w = y1 - y0, x1 - x0
    for _ in range(12):
        axis = 0 if rng.random() < h * h / (h * h + w * w) else 1
        lo, hi = (y0, y1) if axis == 0 else (x0, x1)
        if hi - lo < 2 * k + t:
            continue
        start = min(max(round(lo + rng.uniform(0.2, 0.8) * (hi - lo)), lo + k), hi - k - t)
        result = _divide(layout, region, (y0, y1, x0, x1), axis, (start, start + t), False, scale)
        if result is None or len(result[1]) - 1 > room_left:
            continue
        layout.wall, pieces, _ = result
        layout.regions[row:row + 1] = pieces
        layout.areas[row:row + 1] = [int(p.sum()) for p in pieces]
        layout.halls[row:row + 1] = [False] * len(pieces)
        layout.spent = {i if i < row else i + len(pieces) - 1 for i in layout.spent}
        return True
    return False


def _carve_hall(layout: _Layout, rng: np.random.Generator, scale: _Scale) -> None:
    """A corridor along the building's long side, near the middle, walled on both sides."""
    region = layout.regions[0]
    y0, y1, x0, x1 = _bbox(region)
    axis = 0 if x1 - x0 >= y1 - y0 else 1  # a horizontal corridor in a wide building
    lo, hi = (y0, y1) if axis == 0 else (x0, x1)
    t, width = scale.wall, scale.hall
    for _ in range(10):
        start = int(round(lo + rng.uniform(0.3, 0.7) * (hi - lo) - width / 2 - t))
        result = _divide(layout, region, (y0, y1, x0, x1), axis, (start, start + 2 * t + width), True, scale)
        if result is not None:
            layout.wall, pieces, halls = result
            layout.regions, layout.halls, layout.areas = pieces, halls, [int(p.sum()) for p in pieces]
            return


# --- doors, windows, entrance and room types ---------------------------------------------------
def _crossings(labels: np.ndarray, t: int, width: int) -> np.ndarray:
    """Every place an opening of ``width`` fits in a straight wall ``t`` thick: rows
    ``(axis, y, x, a, b)`` with the opening's first wall pixel ``(y, x)`` and the labels ``a``
    and ``b`` on its two sides (``labels``: 0 wall, > 0 rooms, < 0 outside)."""
    found = []
    for axis in (0, 1):
        grid = labels if axis == 0 else labels.T
        a, b = grid[: -t - 1], grid[t + 1:]
        through = np.ones(a.shape, bool)
        for j in range(1, t + 1):
            through &= grid[j: grid.shape[0] - t - 1 + j] == 0
        code = (a.astype(np.int64) + 8) * 1024 + (b + 8)
        ok = through & (a != 0) & (b != 0) & (a != b) & ((a > 0) | (b > 0))
        run = ok[:, : ok.shape[1] - width + 1].copy()
        for j in range(1, width):
            run &= ok[:, j: ok.shape[1] - width + 1 + j] & (code[:, j: code.shape[1] - width + 1 + j]
                                                            == code[:, : code.shape[1] - width + 1])
        ys, xs = np.nonzero(run)
        rows = np.stack([np.full(len(ys), axis), ys + 1, xs, a[ys, xs], b[ys, xs]], axis=1)
        if axis == 1:
            rows[:, [1, 2]] = rows[:, [2, 1]]
        found.append(rows)
    return np.concatenate(found)


def _opening(crossing: np.ndarray, scale: _Scale) -> tuple[slice, slice]:
    axis, y, x = (int(v) for v in crossing[:3])
    t, width = scale.wall, scale.opening
    if axis == 0:
        return slice(y, y + t), slice(x, x + width)
    return slice(y, y + width), slice(x, x + t)


def _free(plan: np.ndarray, crossing: np.ndarray, scale: _Scale) -> bool:
    """The opening and one pixel along the wall on either side are still plain wall."""
    axis, y, x = (int(v) for v in crossing[:3])
    ys, xs = _opening(crossing, scale)
    if axis == 0:
        xs = slice(max(0, x - 1), x + scale.opening + 1)
    else:
        ys = slice(max(0, y - 1), y + scale.opening + 1)
    return bool((plan[ys, xs] == WALL).all())


def _furnish(layout: _Layout, rng: np.random.Generator, scale: _Scale) -> tuple[np.ndarray, np.ndarray] | None:
    s = scale.size
    labels = np.zeros((s, s), np.int32)
    for j, region in enumerate(layout.regions, start=1):
        labels[region] = j
    outside_labels, _ = _label(~layout.footprint)
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
    for j in rest[len(rest) - n_baths:]:
        types[j] = BATHROOM
    others = rest[: len(rest) - n_baths]
    kitchen = others[int(rng.integers(len(others)))]
    for j in others:
        types[j] = KITCHEN if j == kitchen else BEDROOM

    kind_of = np.array([OUTSIDE, OUTSIDE, WALL] + [types[j] for j in range(1, n + 1)], np.uint8)  # labels -2..n
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
    pairs = {(int(k) // 1024, int(k) % 1024): np.nonzero(which == i)[0] for i, k in enumerate(unique)}
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
        count = int(rng.random() < wanted) + int(areas[j] > 8 * scale.min_side ** 2 and rng.random() < 0.4)
        for row in rng.permutation(np.nonzero(outer_room == j)[0]):
            if count == 0:
                break
            if _free(plan, outer[row], scale):
                plan[_opening(outer[row], scale)] = WINDOW
                count -= 1
    return footprint, plan
