"""Floor-plan measures: real plans pass, broken plans fail, and the baselines rank as they
should."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from aekit import plans as P
from aekit.data import floorplans as fp
from aekit.errors import AekitError

CROSS = ndimage.generate_binary_structure(2, 1)


@pytest.fixture(scope="module")
def reals() -> tuple[np.ndarray, np.ndarray]:
    return fp.make_floorplans(240, size=64, seed=11)


def _one_room(footprints: np.ndarray) -> np.ndarray:
    """A degenerate generator: the outer wall, the entrance and one living room filling the rest."""
    masks = footprints[:, 0].astype(bool)
    inner = np.stack([ndimage.binary_erosion(m, np.ones((3, 3), bool)) for m in masks])
    plans = np.where(masks, fp.WALL, fp.OUTSIDE).astype(np.uint8)
    plans[inner] = fp.LIVING
    plans[footprints[:, 1] > 0] = fp.ENTRANCE
    return plans


def test_real_plans_are_valid_and_fill_their_footprints(reals):
    footprints, plans = reals
    assert P.validity_rate(plans, footprints) == 1.0
    assert P.footprint_iou(plans, footprints) == 1.0
    assert P.footprint_iou(torch.from_numpy(plans), torch.from_numpy(footprints)) == 1.0
    assert P.footprint_iou(plans[:2], footprints[:2, 0]) == 1.0  # masks alone, N x H x W
    shifted = np.roll(plans, 3, axis=2)
    assert P.footprint_iou(shifted, footprints) < 0.95
    parsed = P.parse_plan(plans[0])
    assert (
        3 <= len(parsed.rooms) <= 10
        and parsed.counts["entrances"] == 1
        and parsed.counts["doors"] >= 2
    )


def _neighbours(plan: np.ndarray, mask: np.ndarray) -> set[int]:
    return set(np.unique(plan[ndimage.binary_dilation(mask, CROSS) & ~mask]).tolist())


def test_a_missing_outer_wall_fails(reals):
    footprints, plans = reals
    for plan, footprint in zip(plans[:20], footprints[:20]):
        broken = plan.copy()
        outer = (plan == fp.WALL) & ndimage.binary_dilation(plan == fp.OUTSIDE, CROSS)
        y, x = np.argwhere(outer & ndimage.binary_dilation(np.isin(plan, fp.ROOM_CLASSES), CROSS))[
            0
        ]
        broken[y, x] = fp.OUTSIDE
        result = P.plan_validity(broken, footprint)
        assert not result.valid and any("touches outside" in p for p in result.problems)


def test_a_missing_inner_wall_mixes_two_rooms(reals):
    footprints, plans = reals
    for plan, footprint in zip(plans[:20], footprints[:20]):
        # a wall pixel between two rooms of different classes (left and right, or above and below)
        left, right = plan[:, :-2], plan[:, 2:]
        up, down = plan[:-2], plan[2:]
        rooms = np.asarray(fp.ROOM_CLASSES)
        across = np.zeros(plan.shape, bool)
        across[:, 1:-1] |= (
            np.isin(left, rooms)
            & np.isin(right, rooms)
            & (left != right)
            & (plan[:, 1:-1] == fp.WALL)
        )
        across[1:-1] |= (
            np.isin(up, rooms) & np.isin(down, rooms) & (up != down) & (plan[1:-1] == fp.WALL)
        )
        y, x = np.argwhere(across)[0]
        broken = plan.copy()
        broken[y, x] = plan[y, x - 1] if np.isin(plan[y, x - 1], rooms) else plan[y - 1, x]
        result = P.plan_validity(broken, footprint)
        assert not result.valid and any("mixes classes" in p for p in result.problems)


def test_a_missing_door_cuts_rooms_off(reals):
    footprints, plans = reals
    for plan, footprint in zip(plans[:20], footprints[:20]):
        doors, n = ndimage.label(plan == fp.DOOR, CROSS)
        outcomes = []
        for j in range(1, n + 1):
            broken = plan.copy()
            broken[doors == j] = fp.WALL
            outcomes.append(P.plan_validity(broken, footprint))
        # the doors of a spanning tree: each one is needed
        assert any(not r.valid for r in outcomes)
        assert all(any("not reachable" in p for p in r.problems) for r in outcomes if not r.valid)


def test_other_corruptions_fail(reals):
    footprints, plans = reals
    plan, footprint = plans[0], footprints[0]
    labels, _ = ndimage.label(np.isin(plan, fp.ROOM_CLASSES), CROSS)
    room = labels == 1
    blob = plan.copy()  # half a room painted another class
    other = fp.BEDROOM if plan[room][0] != fp.BEDROOM else fp.KITCHEN
    blob[room & (np.cumsum(room.ravel()).reshape(room.shape) < room.sum() / 2)] = other
    assert any("mixes" in p for p in P.plan_validity(blob, footprint).problems)
    inner_window = plan.copy()  # a window on a wall between two rooms
    inner_window[plan == fp.DOOR] = fp.WINDOW
    assert any("outer wall" in p for p in P.plan_validity(inner_window, footprint).problems)
    assert any("pixels" in p for p in P.plan_validity(plan, footprint, min_room=10_000).problems)
    moved = np.roll(footprint, 5, axis=2)
    assert any("entrance mark" in p for p in P.plan_validity(plan, moved).problems)
    no_entrance = np.where(plan == fp.ENTRANCE, fp.WALL, plan)
    assert not P.plan_validity(no_entrance).valid
    assert P.plan_validity(plan).valid and P.plan_validity(torch.from_numpy(plan)).valid
    # valid, but one room
    assert P.validity_rate(_one_room(footprints[:20]), footprints[:20]) == 1.0
    with pytest.raises(AekitError, match="outside the classes"):
        P.plan_validity(np.full((8, 8), 12))


def test_realism_tells_reals_from_a_degenerate_generator(reals):
    footprints, plans = reals
    other_footprints, others = fp.make_floorplans(120, seed=12)
    real = P.realism(others, plans)
    degenerate = P.realism(_one_room(other_footprints), plans)
    assert real["distance"] < 2 * real["reference"] + 0.05
    assert degenerate["distance"] > 10 * real["reference"]
    assert degenerate["room_count"] > 3 and degenerate["log_room_area"] > 1


def test_diversity_and_its_reference(reals):
    _, plans = reals
    same = np.stack([plans[:10], plans[:10]], axis=1)
    assert P.diversity(same) == 0.0
    pair = np.stack([plans[:10], plans[10:20]], axis=1)
    either = (plans[:10] != 0) | (plans[10:20] != 0)
    expected = np.mean(((plans[:10] != plans[10:20]) & either).sum((1, 2)) / either.sum((1, 2)))
    assert P.diversity(pair) == pytest.approx(expected)
    between = P.between_footprint_diversity(plans)
    assert 0.6 < between < 1.0
    with pytest.raises(AekitError, match="M >= 2"):
        P.diversity(plans[:10, None])


def test_retrieval_beats_a_random_plan_stretched_the_same_way(reals):
    footprints, plans = reals
    train_f, train_p, query_f, query_p = (
        footprints[:200],
        plans[:200],
        footprints[200:],
        plans[200:],
    )
    retrieved = P.retrieval_baseline(train_f, train_p, query_f)
    rng = np.random.default_rng(0)
    random = np.concatenate(
        [
            P.retrieval_baseline(train_f[[r]], train_p[[r]], q[None])
            for r, q in zip(rng.integers(0, 200, len(query_f)), query_f)
        ]
    )
    iou_retrieved, iou_random = (
        P.footprint_iou(retrieved, query_f),
        P.footprint_iou(random, query_f),
    )
    realism_retrieved = P.realism(retrieved, train_p)
    print(
        f"retrieval baseline (200 train, 40 queries): footprint IoU {iou_retrieved:.3f} (random "
        "plan "
        f"{iou_random:.3f}), valid {P.validity_rate(retrieved, query_f):.2f}, realism "
        f"{realism_retrieved['distance']:.3f} (reference {realism_retrieved['reference']:.3f}), "
        f"pixels differing from the real plan {P.diversity(np.stack([retrieved, query_p], 1)):.3f}"
    )
    assert iou_retrieved > iou_random + 0.05 and iou_retrieved > 0.9
    assert retrieved.shape == query_p.shape and retrieved.dtype == np.uint8
    # a training footprint: its own plan or a twin's
    own = P.retrieval_baseline(train_f, train_p, train_f[:20])
    assert (
        P.footprint_iou(own, train_f[:20]) > 0.98
        and np.mean([np.array_equal(a, b) for a, b in zip(own, train_p)]) > 0.5
    )
