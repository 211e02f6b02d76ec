"""Straight-walled rooms for a floor plan, as many and of the types real plans of its size have.

A floor-plan network's rooms are soft regions with ragged borders, and it draws more or fewer of
them than a building of that size has, of any types. The training plans are made by cutting a
building with straight walls, each across the whole room it parts (``aekit.data.floorplans``),
into a number of rooms that grows with the built area, with one living room, one kitchen and so
on. ``straight_rooms`` redraws the network's rooms that way: first a corridor across the building
where the network draws one, then the largest room cut by one straight line at a time (between 25%
and 75% of its extent) where the network's rooms meet and it gives most wall, until it has the
network's number of rooms brought into the range that the training plans have for that built area.
The types then go to the rooms in the way that most agrees with the network's layout and with the
training plans' room sizes of each type, with as many rooms of each type as training plans with
that many rooms have (``RoomRules``, fitted on the training plans by ``aekit train`` and kept in
the run). No pixel changes from built to outside or back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aekit.data.floorplans import HALL, ROOM_CLASSES
from aekit.errors import ConfigError

# quantiles of the training plans' room count residuals (against its least-squares fit on the
# built area) that bound a plan's count: on the gmm draws of the 30-minute plan-layout run (100
# footprints x 8) (0.05, 0.95), (0.1, 0.9) and (0.2, 0.8) give the same realism (room count W1
# 0.16-0.17, the noise between 100 footprints' real plans and the training plans)
COUNT_QUANTILES = (0.1, 0.9)
# a cut leaves at least this share of the room's extent on each side. Measured on the gmm draws
# of the 30-minute plan-layout run for 2,000 footprints of each of two validation seeds (555, 556),
# log room area W1 to the training plans (their own real plans: 0.006, 0.004): 0.2 0.037, 0.22
# 0.028, 0.25 0.012 and 0.013, 0.27 0.011 and 0.013, 0.3 0.028. (Cutting where the cut took fewest
# pixels from the network's rooms favoured cuts at the margin: with 0.3, 0.023 and 0.020.)
CUT_MARGIN = 0.25
# a network room counts towards the plan's number of rooms from this many times the smallest room
# (smaller ones rarely survive their walls)
COUNTED_ROOM = 1.5
# the record of runs trained before it was kept: measured on 4,000 generated plans at 64 x 64
# (floorplans-synthetic): rooms = 1.999 + 0.002496 per built pixel, residuals -0.86 .. 0.85; log
# room area, mean and spread, of each type (living, bedroom, kitchen, bathroom, hall); then for 3
# to 10 rooms the fewest and most rooms of each type
DEFAULT_RECORD = (
    1.999, 0.002496, -0.865, 0.847,
    5.820, 0.220, 5.425, 0.321, 5.397, 0.327, 4.795, 0.327, 5.112, 0.311,
    3, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0,
    4, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
    5, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0,
    6, 1, 1, 1, 3, 1, 1, 1, 1, 0, 2,
    7, 1, 1, 2, 3, 1, 1, 1, 2, 0, 2,
    8, 1, 1, 3, 4, 1, 1, 1, 2, 0, 2,
    9, 1, 1, 3, 5, 1, 1, 2, 2, 0, 2,
    10, 1, 1, 4, 6, 1, 1, 2, 2, 0, 2,
)  # fmt: skip
# a corridor as the generator draws them (4 pixels between its walls at 64 x 64), carved where at
# least this share of it is the network's corridor; only a carved strip is a corridor. On the gmm
# draws of the 30-minute run (100 footprints x 8), shares 0.3, 0.1, 0.05 and 0 give 0.14, 0.46,
# 0.54 and 0.66 corridors a plan (training plans: 0.62) and type-share W1 0.030, 0.014, 0.010, 0.008
HALL_WIDTH = 4
HALL_SHARE = 0.05
# how much a room's area counts against the network's type for it: a room's type scores the share
# of its pixels the network draws as that type less AREA_WEIGHT * z^2 / 2 (z: its log area against
# the type's in the training plans). On the gmm draws of the 30-minute run, 0 leaves bathrooms at
# log area 5.29 (training 4.80) and living rooms at 5.44 (5.82), 0.3 brings them to 4.86 and 5.69
# with the same realism; the share of room pixels of the network's type falls from 0.59 to 0.52
AREA_WEIGHT = 0.3
_FIT = 4  # numbers of the count's fit at the head of a record
_AREAS = _FIT + 2 * len(ROOM_CLASSES)  # then each type's log area, mean and spread
_TYPED = 1 + 2 * len(ROOM_CLASSES)  # a record's entry per room count: the count, then bounds
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)


@dataclass(frozen=True)
class RoomRules:
    """How many rooms a plan of ``built`` pixels has (``intercept + per_pixel * built``, with
    residuals from ``low`` to ``high``: a least-squares fit on training plans and the
    ``COUNT_QUANTILES`` of its residuals); the mean and spread of each room type's log area
    (``areas[k]``, k in ``ROOM_CLASSES`` order); and, for each number of rooms seen in them, the
    fewest and most rooms of each type (``types[n][k]``)."""

    intercept: float
    per_pixel: float
    low: float
    high: float
    areas: tuple[tuple[float, float], ...]
    types: dict[int, tuple[tuple[int, int], ...]]

    @classmethod
    def of_plans(cls, plans: np.ndarray) -> RoomRules:
        """The rules of ``N x H x W`` plans (class indices; rooms as ``aekit.plans.parse_plan``
        finds them, each of its most common type)."""
        from scipy import ndimage

        plans = np.asarray(plans)
        built, counts, typed = [], [], []
        log_areas: dict[int, list[float]] = {k: [] for k in ROOM_CLASSES}
        for plan in plans:
            rooms, n = ndimage.label(np.isin(plan, ROOM_CLASSES), _CROSS)
            kinds = [int(np.bincount(plan[rooms == j]).argmax()) for j in range(1, n + 1)]
            for kind, area in zip(kinds, np.bincount(rooms.ravel())[1:]):
                log_areas[kind].append(float(np.log(area)))
            built.append(int((plan != 0).sum()))
            counts.append(n)
            typed.append([kinds.count(k) for k in ROOM_CLASSES])
        every = [a for found in log_areas.values() for a in found] or [0.0]
        areas = tuple(
            (float(np.mean(found or every)), max(float(np.std(found or every)), 0.05))
            for found in log_areas.values()
        )
        x, y = np.array(built, np.float64), np.array(counts, np.float64)
        if len(plans) < 2 or np.ptp(x) == 0:
            per_pixel, intercept = 0.0, float(y.mean()) if len(plans) else 0.0
        else:
            per_pixel, intercept = (float(c) for c in np.polyfit(x, y, 1))
        low, high = (float(q) for q in np.quantile(y - intercept - per_pixel * x, COUNT_QUANTILES))
        by_count = np.array(typed).reshape(len(plans), len(ROOM_CLASSES))
        types = {
            n: tuple((int(c.min()), int(c.max())) for c in by_count[np.array(counts) == n].T)
            for n in sorted(set(counts))
            if n
        }
        return cls(intercept, per_pixel, low, high, areas, types)

    @classmethod
    def from_record(cls, record: tuple[float, ...] | list[float], size: int) -> RoomRules:
        """The rules kept in a run's model options (``as_record``), or for a run without them
        (``()``) ``DEFAULT_RECORD``, measured at 64 x 64 and scaled to plans of ``size``."""
        if len(record) and (len(record) <= _AREAS or (len(record) - _AREAS) % _TYPED):
            raise ConfigError(
                f"room_rules holds {len(record)} numbers; it takes {_AREAS} (the count's fit and "
                f"each type's area) and {_TYPED} for each number of rooms (RoomRules.as_record)"
            )
        scale = 1.0 if len(record) else (64 / size) ** 2
        record = [float(v) for v in (record if len(record) else DEFAULT_RECORD)]
        intercept, per_pixel, low, high = record[:_FIT]
        areas = tuple(
            (mean - math.log(scale), sd)
            for mean, sd in np.reshape(record[_FIT:_AREAS], (-1, 2)).tolist()
        )
        entries = np.array(record[_AREAS:]).reshape(-1, _TYPED).astype(int)
        types = {
            int(e[0]): tuple((int(a), int(b)) for a, b in e[1:].reshape(-1, 2)) for e in entries
        }
        return cls(intercept, per_pixel * scale, low, high, areas, types)

    def as_record(self) -> tuple[float, ...]:
        """The rules as a flat tuple of numbers (a model option): the fit, each type's log area
        (mean and spread), then for each number of rooms that number and each type's fewest and
        most."""
        entries = [v for n, bounds in sorted(self.types.items()) for v in (n, *np.ravel(bounds))]
        fit = (self.intercept, self.per_pixel, self.low, self.high)
        return (*fit, *np.ravel(self.areas).tolist(), *map(float, entries))

    def count_bounds(self, built: int) -> tuple[int, int]:
        """The fewest and most rooms for a plan of ``built`` pixels."""
        fewest, most = min(self.types), max(self.types)
        centre = self.intercept + self.per_pixel * built
        low = min(max(fewest, math.ceil(centre + self.low)), most)
        return low, max(low, min(most, math.floor(centre + self.high)))

    def type_bounds(self, rooms: int) -> tuple[tuple[int, int], ...]:
        """The fewest and most rooms of each type in a plan of ``rooms`` rooms (those of the
        nearest number seen in the training plans)."""
        return self.types[min(self.types, key=lambda n: (abs(n - rooms), n))]


@dataclass
class _Cut:
    parts: list[np.ndarray]  # the sides' connected parts (masks in the piece's box)
    wall: np.ndarray  # the line of the piece that becomes the wall between the sides


def _best_cut(
    rooms: np.ndarray,
    piece: np.ndarray,
    wall_prob: np.ndarray,
    min_room: int,
    min_side: int,
    spare: int,
) -> _Cut | None:
    """The best straight cut of ``piece`` (a mask in its box; ``rooms`` and ``wall_prob`` in the
    same box) leaving parts of at least ``min_room`` pixels inside their walls and ``min_side``
    wide, at most ``spare`` more parts than two: the cut along which the network's rooms meet most,
    with half the wall probability on the lines either side, as a share of its length; the wall
    goes on the line beside the cut where the network gives more wall."""
    from scipy import ndimage

    local = np.zeros(piece.shape, np.int64)
    local[piece] = np.unique(rooms[piece], return_inverse=True)[1].ravel() + 1
    candidates = []
    for axis in (0, 1):
        lines, inside = (local, piece) if axis == 0 else (local.T, piece.T)
        walls = np.where(inside, wall_prob if axis == 0 else wall_prob.T, 0.0).sum(1)
        n = len(lines)
        # where the network's rooms meet across the line between rows at - 1 and at
        meet = ((lines[:-1] != lines[1:]) & (lines[:-1] > 0) & (lines[1:] > 0)).sum(1)
        covered = inside.sum(1)
        width, rows = np.maximum(covered, 1), covered.cumsum()
        margin = max(1, round(CUT_MARGIN * n))
        for at in range(margin, n - margin + 1):
            if min(rows[at - 1], rows[-1] - rows[at - 1]) >= min_room:
                wall_line = at - 1 if walls[at - 1] >= walls[at] else at
                evidence = meet[at - 1] + 0.5 * (walls[at - 1] + walls[at])
                candidates.append((-evidence / min(width[at - 1], width[at]), axis, at, wall_line))
    for _, axis, at, wall_line in sorted(candidates):
        second = np.zeros(piece.shape, bool)
        line = np.zeros(piece.shape, bool)
        if axis == 0:
            second[at:], line[wall_line] = True, True
        else:
            second[:, at:], line[:, wall_line] = True, True
        parts = []
        for side in (piece & ~second, piece & second):
            found, n = ndimage.label(side, _CROSS)
            parts += [found == j for j in range(1, n + 1)]
        if len(parts) - 2 <= spare and all(_fits(p, min_room, min_side) for p in parts):
            return _Cut(parts, piece & line)
    return None


def _fits(part: np.ndarray, min_room: int, min_side: int) -> bool:
    """A part holds a room: at least ``min_room`` pixels once a one-pixel wall rings it, and
    almost all of it (95%) in squares of ``min_side`` that fit inside."""
    from scipy import ndimage

    if ndimage.binary_erosion(part, _CROSS, border_value=0).sum() < min_room:
        return False
    opened = ndimage.binary_opening(part, np.ones((min_side, min_side), bool), border_value=0)
    return bool(opened.sum() >= 0.95 * part.sum())


def straight_rooms(
    rooms: np.ndarray,
    layout: np.ndarray,
    rules: RoomRules,
    min_room: int,
    wall_prob: np.ndarray,
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """The network's rooms ``rooms`` (a label map, 0 outside, every built pixel in a room) redrawn
    with straight walls (the module's docstring): a new label map over the same pixels, its types,
    and the lines the walls between them go on. ``layout`` is the network's most likely class at
    each pixel, ``wall_prob`` (``H x W``) its probability of wall."""
    from scipy import ndimage

    built = rooms > 0
    min_side = max(2, round(6 * rooms.shape[0] / 64))  # a 5-pixel room and its wall, at 64 x 64
    fewest, most = rules.count_bounds(int(built.sum()))
    counted = int((np.bincount(rooms[built]) >= COUNTED_ROOM * min_room).sum())
    wanted = min(max(counted, fewest), most)
    found, n = ndimage.label(built, _CROSS)
    pieces = [found == j for j in range(1, n + 1)]
    walls = np.zeros(rooms.shape, bool)
    corridors: list[np.ndarray] = []
    if rules.type_bounds(wanted)[ROOM_CLASSES.index(HALL)][1] > 0 and pieces:
        i = max(range(len(pieces)), key=lambda j: pieces[j].sum())
        box = ndimage.find_objects(pieces[i].astype(np.int8))[0]
        hall = max(3, round(HALL_WIDTH * rooms.shape[0] / 64))
        carved = _corridor(layout[box] == HALL, pieces[i][box], hall, min_room, min_side)
        if carved is not None:
            parts, line, corridors = carved
            walls[box] |= line
            pieces[i : i + 1] = [_placed(part, box, rooms.shape) for part in parts]
            corridors = [_placed(part, box, rooms.shape) for part in corridors]
    while len(pieces) + len(corridors) < wanted:
        # the largest room that a cut can part
        for i in sorted(range(len(pieces)), key=lambda j: -pieces[j].sum()):
            box = ndimage.find_objects(pieces[i].astype(np.int8))[0]
            spare = most - len(pieces) - len(corridors) - 1
            cut = _best_cut(rooms[box], pieces[i][box], wall_prob[box], min_room, min_side, spare)
            if cut is not None:
                break
        else:
            break
        walls[box] |= cut.wall
        pieces[i : i + 1] = [_placed(part, box, rooms.shape) for part in cut.parts]
    labels = np.zeros(rooms.shape, np.int32)
    votes = np.zeros((len(pieces) + len(corridors), len(ROOM_CLASSES)))
    hall_at = ROOM_CLASSES.index(HALL)
    for j, piece in enumerate(pieces + corridors):
        labels[piece] = j + 1
        drawn = np.bincount(layout[piece], minlength=max(ROOM_CLASSES) + 1)
        votes[j] = drawn[list(ROOM_CLASSES)]
    # the share of each room's pixels the network draws as each type, less how far its area is
    # from that type's in the training plans
    log_area = np.log([piece.sum() for piece in pieces + corridors])
    typical, spread = np.array(rules.areas).T
    score = votes / votes.sum(1, keepdims=True).clip(1)
    score -= AREA_WEIGHT * 0.5 * ((log_area[:, None] - typical) / spread) ** 2
    score[: len(pieces), hall_at] = -1e3  # a corridor is a strip across the building, as carved
    score[len(pieces) :, hall_at] = 1e3
    return labels, [0, *_room_types(score - score.min(), rules.type_bounds(len(score)))], walls


def _corridor(
    hall: np.ndarray, piece: np.ndarray, width: int, min_room: int, min_side: int
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]] | None:
    """A corridor ``width`` wide (walls on both sides) straight across ``piece`` (a mask in its
    box), its middle between 30% and 70% of the piece's extent, where the network draws most
    corridor (``hall``), at least ``HALL_SHARE`` of it: the rooms either side, the corridor's two
    walls and its parts; None where the network draws no such corridor."""
    from scipy import ndimage

    best = None
    for axis in (0, 1):
        inside, halls = (piece, hall) if axis == 0 else (piece.T, hall.T)
        n, span = len(inside), width + 2
        share = (inside & halls).sum(1)
        covered = inside.sum(1)
        first = max(0, round(0.3 * n) - span // 2)
        for at in range(first, min(n - span, round(0.7 * n) - span // 2) + 1):
            middle = slice(at + 1, at + 1 + width)
            found = share[middle].sum() / max(1, covered[middle].sum())
            if found >= HALL_SHARE and (best is None or found > best[0]):
                best = (found, axis, at)
    if best is None:
        return None
    _, axis, at = best
    strip, line = np.zeros(piece.shape, bool), np.zeros(piece.shape, bool)
    if axis == 0:
        strip[at : at + width + 2], line[[at, at + width + 1]] = True, True
    else:
        strip[:, at : at + width + 2], line[:, [at, at + width + 1]] = True, True
    rest, n = ndimage.label(piece & ~strip, _CROSS)
    parts = [rest == j for j in range(1, n + 1)]
    halls, m = ndimage.label(piece & strip, _CROSS)
    corridors = [halls == j for j in range(1, m + 1)]
    if not all(_fits(p, min_room, min_side) for p in parts) or not all(
        (c & ~line).sum() >= min_room for c in corridors
    ):
        return None
    return parts, piece & line, corridors


def _room_types(score: np.ndarray, bounds: tuple[tuple[int, int], ...]) -> list[int]:
    """Each room's type: the assignment of the highest total ``score`` (rooms x types, at least 0)
    with the rooms of each type between ``bounds``, as far as the rooms allow."""
    from scipy.optimize import linear_sum_assignment

    n = len(score)
    slots, first = [], []  # a type's slots; the fewest it needs come first, far ahead of the rest
    for k, (fewest, most) in enumerate(bounds):
        for m in range(min(max(most, 0), n)):
            slots.append(k)
            first.append(m < fewest)
    if len(slots) < n:  # more rooms than the bounds hold: each its best type
        return [ROOM_CLASSES[k] for k in score.argmax(1)]
    total = score[:, slots] + np.where(first, score.sum() + 1, 0)
    rows, cols = linear_sum_assignment(total, maximize=True)
    types = [0] * n
    for r, c in zip(rows, cols):
        types[r] = ROOM_CLASSES[slots[c]]
    return types


def _placed(part: np.ndarray, box: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    """A mask of ``shape`` with ``part`` (a mask in ``box``) placed in it."""
    out = np.zeros(shape, bool)
    out[box] = part
    return out
