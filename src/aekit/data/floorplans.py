"""Synthetic floor plans: a building's footprint paired with a plan of rooms, walls, doors and
windows.

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

import numpy as np

from aekit.data.floorplan_rooms import (
    BATHROOM,
    BEDROOM,
    CLASSES,
    DOOR,
    ENTRANCE,
    HALL,
    KITCHEN,
    LIVING,
    MAX_BYTES,
    MAX_SIZE,
    MIN_SIZE,
    OUTSIDE,
    PALETTE,
    ROOM_CLASSES,
    SHAPE_WEIGHTS,
    SHAPES,
    STATISTICS,
    WALL,
    WINDOW,
    Layout,
    Scale,
    furnish,
    label_regions,
)
from aekit.errors import AekitError

# the classes and palette are defined with the furnishing (``floorplan_rooms``) and offered here too
__all__ = [
    "BATHROOM",
    "BEDROOM",
    "CLASSES",
    "DOOR",
    "ENTRANCE",
    "HALL",
    "KITCHEN",
    "LIVING",
    "OUTSIDE",
    "PALETTE",
    "ROOM_CLASSES",
    "SHAPES",
    "STATISTICS",
    "WALL",
    "WINDOW",
    "check_request",
    "is_irregular",
    "make_floorplans",
]


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
        raise AekitError(
            f"floor plans: {n} pairs of {size}x{size} need {3 * n * size**2 / 2**30:.1f} GiB; "
            f"at most {MAX_BYTES >> 30} GiB at once"
        )


def make_floorplans(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs ``(footprints uint8 n x 2 x S x S, plans uint8 n x S x S)``.

    Footprint channel 0 is the building's outline mask (1 inside), channel 1 the entrance mark
    (the entrance door's pixels on the outer wall); plans hold class indices (``CLASSES``).
    """
    check_request(n, size, seed)
    scale = Scale.of(int(size))
    footprints = np.zeros((n, 2, size, size), np.uint8)
    plans = np.zeros((n, size, size), np.uint8)
    for i in range(int(n)):
        footprints[i], plans[i] = _make_pair(np.random.default_rng([int(seed), i]), scale)
    return footprints, plans


def _make_pair(rng: np.random.Generator, scale: Scale) -> tuple[np.ndarray, np.ndarray]:
    """One pair; a draw that does not fit the rules (rare) is replaced by the next draw."""
    while True:
        footprint = _footprint(rng, scale)
        pair = _plan(footprint, rng, scale)
        if pair is not None:
            return pair


# --- footprints --------------------------------------------------------------------------------
def _footprint(rng: np.random.Generator, scale: Scale) -> np.ndarray:
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
        local[:ch, w - side :] = False
    elif kind == "U":
        ch, cw = min(part(h, 0.3, 0.6), int(h - arm)), min(part(w, 0.25, 0.45), int(w - 2 * arm))
        left = int(rng.integers(int(arm), w - int(arm) - cw + 1))
        local[:ch, left : left + cw] = False
    elif kind == "courtyard":
        ch, cw = part(h, 0.2, 0.35), part(w, 0.2, 0.35)
        top = int(rng.integers(int(arm) + 1, h - int(arm) - ch))
        left = int(rng.integers(int(arm) + 1, w - int(arm) - cw))
        local[top : top + ch, left : left + cw] = False
    elif kind == "notched":
        for _ in range(int(rng.integers(1, 4))):
            ch, cw = part(h, 0.12, 0.25), part(w, 0.12, 0.25)
            top = 0 if rng.random() < 0.5 else h - ch
            left = int(rng.integers(0, w - cw + 1))
            local[top : top + ch, left : left + cw] = False
    local = np.rot90(local, int(rng.integers(4)))
    if rng.random() < 0.5:
        local = local[:, ::-1]
    h, w = local.shape
    y0, x0 = int(rng.integers(1, s - h)), int(rng.integers(1, s - w))
    mask = np.zeros((s, s), bool)
    mask[y0 : y0 + h, x0 : x0 + w] = local
    return mask


def is_irregular(footprint_mask: np.ndarray) -> bool:
    """Whether an outline is anything but a filled rectangle (courtyards count: they have a
    hole)."""
    ys, xs = np.nonzero(footprint_mask)
    return bool(len(ys)) and (int(np.ptp(ys)) + 1) * (int(np.ptp(xs)) + 1) != len(ys)


# --- plans -------------------------------------------------------------------------------------
def _plan(
    mask: np.ndarray, rng: np.random.Generator, scale: Scale
) -> tuple[np.ndarray, np.ndarray] | None:
    """The outer wall, a corridor, rooms cut until the building has its number of rooms (growing
    with the area), then openings and room types; None when this outline does not work out."""
    # drawing plans only: every command that reads data imports this module
    from scipy import ndimage

    t = scale.wall
    outside = ~mask
    wall = mask & ndimage.binary_dilation(outside, np.ones((2 * t + 1,) * 2, bool), border_value=1)
    interior = mask & ~wall
    if label_regions(interior)[1] != 1 or not _thick(interior, scale) or _too_thick(wall, scale):
        return None
    area = mask.sum() * (64 / scale.size) ** 2
    target = int(np.clip(round(2 + area / 400 + rng.normal(0, 0.6)), *STATISTICS["rooms"]))
    layout = Layout(mask, wall, [interior], [False], [int(interior.sum())])
    if target >= STATISTICS["hall_from_rooms"] and rng.random() < 0.85:
        _carve_hall(layout, rng, scale)
    while len(layout.regions) < target:
        open_rows = [
            i for i in range(len(layout.regions)) if not layout.halls[i] and i not in layout.spent
        ]
        if not open_rows:
            break
        largest = max(open_rows, key=lambda i: layout.areas[i])
        if not _split(layout, largest, rng, scale, room_left=target - len(layout.regions)):
            layout.spent.add(largest)
    if len(layout.regions) < STATISTICS["rooms"][0]:
        return None
    return furnish(layout, rng, scale)


def _window_sums(mask: np.ndarray, k: int) -> np.ndarray:
    """Sum of ``mask`` over every ``k x k`` window (top-left corner indexing), from an integral
    image."""
    c = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int32)
    c[1:, 1:] = mask.cumsum(0, dtype=np.int32).cumsum(1)
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def _padded(mask: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((mask.shape[0] + 2 * width, mask.shape[1] + 2 * width), bool)
    out[width : width + mask.shape[0], width : width + mask.shape[1]] = mask
    return out


def _thick(region: np.ndarray, scale: Scale) -> bool:
    """No part of ``region`` narrower than the smallest room side: its opening by a square of
    that side (the union of the squares that fit inside) is the whole region."""
    k = scale.min_side
    fits = _padded(_window_sums(region, k) == k * k, k - 1)
    return bool(np.array_equal(_window_sums(fits, k) > 0, region))


def _too_thick(wall: np.ndarray, scale: Scale) -> bool:
    """Some wall is thicker than ``scale.wall`` (a square one pixel wider is all wall)."""
    t = scale.wall + 1
    return bool((_window_sums(wall, t) == t * t).any())


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _divide(
    layout: Layout,
    region: np.ndarray,
    box: tuple[int, int, int, int],
    axis: int,
    span: tuple[int, int],
    hall: bool,
    scale: Scale,
) -> tuple[np.ndarray, list[np.ndarray], list[bool]] | None:
    """Wall ``region`` across rows (axis 0) or columns ``span``; with ``hall`` the span is a
    corridor between two walls; ``box`` is the region's bounding box. Returns the new walls, the
    pieces and which are corridor, or None when a room would be too small or thin or a wall too
    thick. Works on the region's bounding box, and checks thickness only within two room sides of
    the cut (the rest was checked before)."""
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
        new_walls[a + t : b - t] = walls[a + t : b - t]
    lo, hi = max(0, a - 2 * k), b + 2 * k
    near = inside[lo:hi].copy()
    near[a - lo : b - lo] = False
    fits = _padded(_window_sums(near, k) == k * k, k - 1)
    # rows at least k from the edges of the near window
    checked = slice(min(a - lo, k), (b - lo) + k)
    if not np.array_equal((_window_sums(fits, k) > 0)[checked], near[checked]):
        return None
    if _too_thick(new_walls[lo:hi], scale):
        return None
    labels, n = label_regions(inside & ~new_walls)
    if n < 2:
        return None
    pieces, halls = [], []
    for j in range(1, n + 1):
        piece = labels == j
        is_hall = hall and bool(piece[a + t : b - t].any())
        if piece.sum() < (4 * scale.hall**2 if is_hall else 2 * k**2):
            return None
        full = np.zeros_like(region)
        full[window] = piece if axis == 0 else piece.T
        pieces.append(full)
        halls.append(is_hall)
    wall = layout.wall.copy()
    wall[window] = new_walls if axis == 0 else new_walls.T
    return wall, pieces, halls


def _split(
    layout: Layout, row: int, rng: np.random.Generator, scale: Scale, room_left: int
) -> bool:
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
        layout.regions[row : row + 1] = pieces
        layout.areas[row : row + 1] = [int(p.sum()) for p in pieces]
        layout.halls[row : row + 1] = [False] * len(pieces)
        layout.spent = {i if i < row else i + len(pieces) - 1 for i in layout.spent}
        return True
    return False


def _carve_hall(layout: Layout, rng: np.random.Generator, scale: Scale) -> None:
    """A corridor along the building's long side, near the middle, walled on both sides."""
    region = layout.regions[0]
    y0, y1, x0, x1 = _bbox(region)
    axis = 0 if x1 - x0 >= y1 - y0 else 1  # a horizontal corridor in a wide building
    lo, hi = (y0, y1) if axis == 0 else (x0, x1)
    t, width = scale.wall, scale.hall
    for _ in range(10):
        start = int(round(lo + rng.uniform(0.3, 0.7) * (hi - lo) - width / 2 - t))
        result = _divide(
            layout, region, (y0, y1, x0, x1), axis, (start, start + 2 * t + width), True, scale
        )
        if result is not None:
            layout.wall, pieces, halls = result
            layout.regions, layout.halls, layout.areas = (
                pieces,
                halls,
                [int(p.sum()) for p in pieces],
            )
            return
