"""Measures of floor plans (class-index maps, ``aekit.data.floorplans.CLASSES``) against footprints.

Plain functions on numpy arrays (torch tensors are accepted and converted): does a plan fill its
footprint (``footprint_iou``), is it a building one can walk through (``plan_validity``), do its
rooms look like the real plans' (``realism``), how different are two plans drawn for one
footprint (``diversity``), and the strongest cheap answer to compare a model with
(``retrieval_baseline``: the training plan whose footprint fits best, stretched onto the query).
``aekit.plan_vectors`` turns a plan into polygons and segments, in pixels or metres.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage
from scipy.stats import wasserstein_distance

from aekit.data.floorplans import CLASSES, DOOR, ENTRANCE, OUTSIDE, ROOM_CLASSES, WINDOW
from aekit.errors import AekitError
from aekit.plan_render import default_min_room

_CROSS = ndimage.generate_binary_structure(2, 1)
_SHIFTS = ((0, 1), (1, 0), (0, -1), (-1, 0))


def _numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def as_plans(plans: np.ndarray | torch.Tensor, name: str = "plans") -> np.ndarray:
    """``N x H x W`` class indices (a single ``H x W`` plan becomes N = 1)."""
    array = _numpy(plans)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise AekitError(
            f"{name} must be H x W or N x H x W class indices, got shape {tuple(array.shape)}"
        )
    if array.size and (array.min() < 0 or array.max() >= len(CLASSES)):
        raise AekitError(f"{name} hold values outside the classes 0..{len(CLASSES) - 1}")
    return array.astype(np.uint8, copy=False)


def _footprints(
    footprints: np.ndarray | torch.Tensor, one: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(masks N x H x W bool, entrance marks or None)`` from ``N x 2 x H x W`` or ``N x H x W``
    (with ``one``: a single footprint, ``2 x H x W`` or ``H x W``)."""
    array = _numpy(footprints)
    if one:
        array = array[None]
    if array.ndim == 4 and array.shape[1] == 2:
        return array[:, 0] > 0, array[:, 1] > 0
    if array.ndim == 3:
        return array > 0, None
    raise AekitError(
        f"footprints must be N x 2 x H x W (mask, entrance) or N x H x W, got shape "
        f"{tuple(array.shape)}"
    )


def footprint_iou(plans: np.ndarray | torch.Tensor, footprints: np.ndarray | torch.Tensor) -> float:
    """Mean over plans of the IoU between the built area (every class but outside) and the
    footprint."""
    plans = as_plans(plans)
    masks, _ = _footprints(footprints)
    if masks.shape != plans.shape:
        raise AekitError(
            f"{len(plans)} plans of {plans.shape[1:]} do not match footprints of shape "
            f"{masks.shape}"
        )
    built = plans != OUTSIDE
    inter = (built & masks).sum(axis=(1, 2))
    union = (built | masks).sum(axis=(1, 2))
    return float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).mean())


# --- parsing and validity ----------------------------------------------------------------------
@dataclass
class Room:
    """A connected region of room pixels; ``kind`` is its most common class, ``mixed`` whether it
    has several."""

    label: int  # its value in ``ParsedPlan.rooms_map``
    kind: int
    area: int
    mixed: bool


@dataclass
class ParsedPlan:
    """Rooms, doors, windows and entrances of one plan as labelled connected components
    (4-connected)."""

    rooms: list[Room]
    rooms_map: np.ndarray  # 0 elsewhere, room j at its pixels
    doors: np.ndarray  # label map of door components
    windows: np.ndarray
    entrances: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)  # doors, windows, entrances


def parse_plan(plan: np.ndarray | torch.Tensor) -> ParsedPlan:
    """Rooms are the connected regions of room pixels (living, bedroom, kitchen, bathroom, hall),
    whatever their class; a region holding several classes is one ``mixed`` room."""
    plan = as_plans(plan, "plan")[0]
    rooms_map, n = ndimage.label(np.isin(plan, ROOM_CLASSES), _CROSS)
    rooms = []
    if n:
        counts = np.zeros((n + 1, len(CLASSES)), np.int64)
        np.add.at(counts, (rooms_map.ravel(), plan.ravel()), 1)
        for j in range(1, n + 1):
            row = counts[j]
            rooms.append(Room(j, int(row.argmax()), int(row.sum()), int((row > 0).sum()) > 1))
    doors, n_doors = ndimage.label(plan == DOOR, _CROSS)
    windows, n_windows = ndimage.label(plan == WINDOW, _CROSS)
    entrances, n_entrances = ndimage.label(plan == ENTRANCE, _CROSS)
    return ParsedPlan(
        rooms,
        rooms_map,
        doors,
        windows,
        entrances,
        {"doors": n_doors, "windows": n_windows, "entrances": n_entrances},
    )


def _touching(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs ``(label in a, label in b)`` of 4-neighbouring pixels, both labels > 0, unique rows."""
    found = []
    for dy, dx in _SHIFTS:
        shifted = np.zeros_like(b)
        ys = slice(max(dy, 0), b.shape[0] + min(dy, 0))
        xs = slice(max(dx, 0), b.shape[1] + min(dx, 0))
        shifted[ys, xs] = b[
            max(-dy, 0) : b.shape[0] - max(dy, 0), max(-dx, 0) : b.shape[1] - max(dx, 0)
        ]
        both = (a > 0) & (shifted > 0)
        found.append(np.stack([a[both], shifted[both]], axis=1))
    return np.unique(np.concatenate(found), axis=0)


def _next_to(mask: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour in ``mask`` (the frame's edge counts as in ``mask``)."""
    return ndimage.binary_dilation(mask, _CROSS, border_value=1)


@dataclass
class Validity:
    valid: bool
    problems: list[str]


def plan_validity(
    plan: np.ndarray | torch.Tensor,
    footprint: np.ndarray | torch.Tensor | None = None,
    min_room: int | None = None,
) -> Validity:
    """Whether ``plan`` is a building one can use, and what is wrong otherwise.

    Valid when it has rooms and an entrance; every room is of one class, at least ``min_room``
    pixels (``aekit.plan_render.default_min_room``) and enclosed (no room pixel next to outside or
    the frame's edge); every room is reachable from an entrance through doors (a door or entrance
    connects the rooms it touches); every window touches outside (outer walls only); and, given the
    footprint, the plan's entrance lies on the footprint's entrance mark (``footprint``: ``2 x H x
    W``, mask and mark, or the ``H x W`` mask alone).
    """
    plan = as_plans(plan, "plan")[0]
    parsed = parse_plan(plan)
    min_room = default_min_room(plan.shape[0]) if min_room is None else min_room
    problems = []
    if not parsed.rooms:
        problems.append("no rooms")
    if parsed.counts["entrances"] == 0:
        problems.append("no entrance")
    problems += [f"room {r.label} mixes classes" for r in parsed.rooms if r.mixed]
    problems += [
        f"room {r.label} has {r.area} < {min_room} pixels"
        for r in parsed.rooms
        if r.area < min_room
    ]
    exposed = np.unique(parsed.rooms_map[_next_to(plan == OUTSIDE) & (parsed.rooms_map > 0)])
    problems += [f"room {j} touches outside" for j in exposed.tolist()]
    open_windows = np.unique(parsed.windows[_next_to(plan == OUTSIDE) & (parsed.windows > 0)])
    if len(open_windows) < parsed.counts["windows"]:
        problems.append(
            f"{parsed.counts['windows'] - len(open_windows)} window(s) not on an outer wall"
        )
    unreached = _unreachable(parsed)
    if unreached:
        problems.append(f"room(s) {', '.join(map(str, unreached))} not reachable from the entrance")
    if footprint is not None:
        masks, marks = _footprints(footprint, one=True)
        if masks.shape[1:] != plan.shape:
            raise AekitError(
                f"the footprint's shape {masks.shape[1:]} does not match the plan's {plan.shape}"
            )
        if (
            marks is not None
            and parsed.counts["entrances"]
            and not (marks[0] & (plan == ENTRANCE)).any()
        ):
            problems.append("the entrance is not on the footprint's entrance mark")
    return Validity(not problems, problems)


def _unreachable(parsed: ParsedPlan) -> list[int]:
    """Rooms no path of doors leads to from a room touching an entrance."""
    n = len(parsed.rooms)
    if n == 0:
        return []
    door_rooms = _touching(parsed.doors, parsed.rooms_map)
    start = np.unique(_touching(parsed.entrances, parsed.rooms_map)[:, 1])
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for door in np.unique(door_rooms[:, 0]):
        rooms = door_rooms[door_rooms[:, 0] == door, 1]
        for other in rooms[1:]:
            parent[find(int(other))] = find(int(rooms[0]))
    reached = {find(int(j)) for j in start}
    return [j for j in range(1, n + 1) if find(j) not in reached]


def validity_rate(
    plans: np.ndarray | torch.Tensor,
    footprints: np.ndarray | torch.Tensor | None = None,
    min_room: int | None = None,
) -> float:
    """Share of plans that ``plan_validity`` accepts (against their footprints when given)."""
    plans = as_plans(plans)
    if footprints is None:
        return float(np.mean([plan_validity(p, None, min_room).valid for p in plans]))
    footprints = _numpy(footprints)
    return float(np.mean([plan_validity(p, f, min_room).valid for p, f in zip(plans, footprints)]))


# --- realism and diversity ---------------------------------------------------------------------
def _room_features(plans: np.ndarray) -> list[tuple[int, list[float], np.ndarray]]:
    """Per plan: (room count, log area of each room, share of each room class)."""
    found = []
    for plan in plans:
        rooms = parse_plan(plan).rooms
        kinds = np.array([ROOM_CLASSES.index(r.kind) for r in rooms], np.int64)
        found.append(
            (
                len(rooms),
                [float(np.log(r.area)) for r in rooms],
                np.bincount(kinds, minlength=len(ROOM_CLASSES)) / max(1, len(rooms)),
            )
        )
    return found


def _pooled(
    features: list[tuple[int, list[float], np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.array([f[0] for f in features], np.float64)
    log_areas = [a for f in features for a in f[1]]
    shares = np.array([f[2] for f in features]).reshape(-1, len(ROOM_CLASSES))
    return counts, np.array(log_areas or [0.0]), shares


def plan_features(plans: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rooms per plan, log area of every room, share of each room class per plan N x 5)``."""
    return _pooled(_room_features(as_plans(plans)))


def _realism_terms(
    samples: list[tuple[int, list[float], np.ndarray]],
    reals: list[tuple[int, list[float], np.ndarray]],
) -> dict[str, float]:
    count_s, area_s, share_s = _pooled(samples)
    count_r, area_r, share_r = _pooled(reals)
    terms = {
        "room_count": wasserstein_distance(count_s, count_r),
        "log_room_area": wasserstein_distance(area_s, area_r),
        "type_shares": float(
            np.mean(
                [
                    wasserstein_distance(share_s[:, k], share_r[:, k])
                    for k in range(len(ROOM_CLASSES))
                ]
            )
        ),
    }
    return {
        "distance": float(np.mean(list(terms.values()))),
        **{k: float(v) for k, v in terms.items()},
    }


def realism(
    samples: np.ndarray | torch.Tensor, reals: np.ndarray | torch.Tensor, seed: int = 0
) -> dict[str, float]:
    """How far the samples' rooms are from the real plans' (lower is better).

    ``distance`` is the mean of three 1-Wasserstein distances: rooms per plan, log room area (all
    rooms pooled), and the per-plan share of each room class (averaged over classes). ``reference``
    is the same distance between two random parts of ``reals``, the first as large as the samples
    (at most half): what sampling noise alone gives at this number of samples.
    """
    return realism_of({"samples": samples}, reals, seed)["samples"]


def realism_of(
    columns: Mapping[str, np.ndarray | torch.Tensor],
    reals: np.ndarray | torch.Tensor,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """``realism`` of each set of samples in ``columns`` against the same real plans, each real plan
    parsed once (parsing 18,000 training plans costs half a minute)."""
    reals = as_plans(reals, "reals")
    columns = {name: as_plans(samples, "samples") for name, samples in columns.items()}
    if any(len(samples) == 0 for samples in columns.values()) or len(reals) < 2:
        counts = ", ".join(str(len(samples)) for samples in columns.values())
        raise AekitError(
            f"realism needs samples and at least 2 real plans, got {counts} and {len(reals)}"
        )
    order = np.random.default_rng(seed).permutation(len(reals))
    real_features = _room_features(reals)
    result = {}
    for name, samples in columns.items():
        part = min(len(samples), len(reals) // 2)
        reference = _realism_terms(
            [real_features[i] for i in order[:part]], [real_features[i] for i in order[part:]]
        )["distance"]
        result[name] = {
            **_realism_terms(_room_features(samples), real_features),
            "reference": reference,
        }
    return result


def _differing_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of plans: share of the pixels built in either whose class differs."""
    either = (a != OUTSIDE) | (b != OUTSIDE)
    differ = (a != b) & either
    return differ.sum(axis=(-2, -1)) / np.maximum(either.sum(axis=(-2, -1)), 1)


def diversity(samples_per_footprint: np.ndarray | torch.Tensor) -> float:
    """Mean share of pixels (of those built in either plan) whose class differs between two plans
    drawn for the same footprint, over every pair: ``K footprints x M >= 2 plans x H x W``."""
    samples = _numpy(samples_per_footprint)
    if samples.ndim != 4 or samples.shape[1] < 2:
        raise AekitError(
            f"diversity needs K x M x H x W plans with M >= 2 per footprint, got shape "
            f"{samples.shape}"
        )
    i, j = np.triu_indices(samples.shape[1], k=1)
    return float(_differing_share(samples[:, i], samples[:, j]).mean())


def between_footprint_diversity(reals: np.ndarray | torch.Tensor, seed: int = 0) -> float:
    """The same share between real plans of different footprints (random disjoint pairs): the
    reference for ``diversity``, how different two unrelated plans are."""
    reals = as_plans(reals, "reals")
    if len(reals) < 2:
        raise AekitError("between_footprint_diversity needs at least 2 plans")
    order = np.random.default_rng(seed).permutation(len(reals))
    pairs = order[: len(order) // 2 * 2].reshape(-1, 2)
    return float(_differing_share(reals[pairs[:, 0]], reals[pairs[:, 1]]).mean())


# --- the retrieval baseline --------------------------------------------------------------------
def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        return 0, mask.shape[0], 0, mask.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def nearest_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D array (pixel centres mapped onto pixel centres)."""
    rows = ((np.arange(height) + 0.5) * image.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * image.shape[1] / width).astype(np.int64)
    return image[rows][:, cols]


def _canonical(masks: np.ndarray, grid: int) -> np.ndarray:
    """Each mask cropped to its bounding box and stretched to ``grid x grid``, flattened
    (float32)."""
    out = np.zeros((len(masks), grid * grid), np.float32)
    for i, mask in enumerate(masks):
        y0, y1, x0, x1 = bounding_box(mask)
        out[i] = nearest_resize(mask[y0:y1, x0:x1], grid, grid).reshape(-1)
    return out


def retrieval_baseline(
    train_footprints: np.ndarray | torch.Tensor,
    train_plans: np.ndarray | torch.Tensor,
    query_footprints: np.ndarray | torch.Tensor,
    grid: int = 32,
) -> np.ndarray:
    """For each query footprint, the training plan whose footprint overlaps it most (IoU after
    stretching both to their bounding boxes, on a ``grid x grid`` canvas), stretched (nearest) onto
    the query's bounding box. ``N_query x H x W`` class indices."""
    train_masks, _ = _footprints(train_footprints)
    plans = as_plans(train_plans, "train_plans")
    query_masks, _ = _footprints(query_footprints)
    if len(train_masks) != len(plans) or len(plans) == 0:
        raise AekitError(
            f"retrieval needs as many training plans as footprints (>= 1), got {len(plans)} and "
            f"{len(train_masks)}"
        )
    train_vectors = _canonical(train_masks, grid)
    train_sizes = train_vectors.sum(1)
    out = np.zeros(query_masks.shape, np.uint8)
    for start in range(0, len(query_masks), 256):
        chunk = query_masks[start : start + 256]
        vectors = _canonical(chunk, grid)
        inter = vectors @ train_vectors.T
        iou = inter / (vectors.sum(1)[:, None] + train_sizes[None, :] - inter + 1e-9)
        for i, best in enumerate(iou.argmax(1)):
            ty0, ty1, tx0, tx1 = bounding_box(train_masks[best])
            qy0, qy1, qx0, qx1 = bounding_box(chunk[i])
            out[start + i, qy0:qy1, qx0:qx1] = nearest_resize(
                plans[best, ty0:ty1, tx0:tx1], qy1 - qy0, qx1 - qx0
            )
    return out
