"""Straight-walled rooms: the room count follows the built area as in the training plans, ragged
borders become straight walls, room types come in the training plans' numbers, and the building
stays the network's."""

from __future__ import annotations

import numpy as np
import pytest

from aekit import plans as P
from aekit.data import floorplans as fp
from aekit.errors import ConfigError
from aekit.plan_partition import DEFAULT_RECORD, RoomRules
from aekit.plan_render import render_plan, render_plans


@pytest.fixture(scope="module")
def reals() -> tuple[np.ndarray, np.ndarray]:
    return fp.make_floorplans(200, size=64, seed=11)


def _count(plan: np.ndarray) -> int:
    return len(P.parse_plan(plan).rooms)


def _types(plan: np.ndarray) -> list[int]:
    kinds = [r.kind for r in P.parse_plan(plan).rooms]
    return [kinds.count(k) for k in fp.ROOM_CLASSES]


def test_room_rules_follow_the_built_area_and_round_trip(reals):
    _, plans = reals
    rules = RoomRules.of_plans(plans)
    # the generator's rule: 2 + area / 400 rooms, a few rooms either side
    assert 0.0015 < rules.per_pixel < 0.0035 and rules.low < 0 < rules.high
    inside = [
        rules.count_bounds(int((p != fp.OUTSIDE).sum()))[0]
        <= _count(p)
        <= rules.count_bounds(int((p != fp.OUTSIDE).sum()))[1]
        for p in plans
    ]
    assert 0.7 <= np.mean(inside) < 1.0  # the 10% and 90% residual quantiles
    # one living room and one kitchen in every plan, whatever its count
    assert all(b[0] == (1, 1) and b[2] == (1, 1) for b in rules.types.values())
    assert RoomRules.from_record(rules.as_record(), 64) == rules
    with pytest.raises(ConfigError, match="room_rules holds 20 numbers"):
        RoomRules.from_record(rules.as_record()[:20], 64)
    # runs without a record: the default, measured at 64 x 64, scaled to the plan's size
    default, large = RoomRules.from_record((), 64), RoomRules.from_record((), 128)
    assert default.as_record() == pytest.approx(DEFAULT_RECORD)
    for built in (900, 1800, 2700):
        assert large.count_bounds(4 * built) == default.count_bounds(built)
    assert default.count_bounds(1800) == (6, 7)  # 2 + 1800 / 400 = 6.5


def _checkerboard(footprint: np.ndarray, cell: int) -> np.ndarray:
    """The building filled with square cells of alternating room types: many small rooms."""
    ys, xs = np.indices(footprint.shape[1:])
    kinds = np.array(fp.ROOM_CLASSES, np.uint8)
    layout = kinds[((ys // cell) + 2 * (xs // cell)) % len(kinds)]
    return np.where(footprint[0] > 0, layout, fp.OUTSIDE).astype(np.uint8)


def test_too_many_or_too_few_rooms_are_brought_within_the_count_for_the_area(reals):
    footprints, _ = reals
    rules = RoomRules.from_record((), 64)
    many, few = [], []
    for footprint in footprints[:20]:
        built = int((footprint[0] > 0).sum())
        fewest, most = rules.count_bounds(built)
        fragments = _checkerboard(footprint, 8)  # 20-40 rooms of 64 pixels as drawn
        one_room = np.where(footprint[0] > 0, fp.BEDROOM, fp.OUTSIDE).astype(np.uint8)
        many.append((_count(render_plan(fragments, footprint, 16)), fewest, most))
        few.append((_count(render_plan(one_room, footprint, 16)), fewest, most))
    assert all(n <= most for n, _, most in many)
    assert np.mean([fewest <= n for n, fewest, _ in many]) >= 0.9
    assert np.mean([fewest <= n <= most for n, fewest, most in few]) >= 0.9
    assert np.mean([n for n, _, _ in few]) >= 5  # one room drawn, the plan's share of rooms made


def test_a_ragged_border_becomes_one_straight_wall():
    footprint = np.zeros((2, 64, 64), np.uint8)
    footprint[0, 10:50, 10:54] = 1
    footprint[1, 49, 20:23] = 1
    layout = np.where(footprint[0] > 0, fp.BEDROOM, fp.OUTSIDE).astype(np.uint8)
    rng = np.random.default_rng(0)
    for y in range(10, 50):  # the kitchen's border wanders over five columns
        layout[y, 30 + int(rng.integers(-2, 3)) : 54] = fp.KITCHEN
    any_size = ((6.0, 1.0),) * len(fp.ROOM_CLASSES)
    two = RoomRules(2.0, 0.0, -0.5, 0.5, any_size, {2: ((0, 1), (0, 1), (0, 1), (0, 1), (0, 0))})
    plan = render_plan(layout, footprint, 16, room_rules=two)
    parsed = P.parse_plan(plan)
    assert sorted(r.kind for r in parsed.rooms) == [fp.BEDROOM, fp.KITCHEN]
    inner = np.isin(plan[11:49, 11:53], (fp.WALL, fp.DOOR))
    assert inner.any(0).sum() == 1  # one column of wall (and its door) between the rooms
    # where the border was: on the column the border takes most often or the one before it (the
    # wall takes a column from one side)
    assert inner.any(0).nonzero()[0][0] + 11 in range(27, 33)
    for room in parsed.rooms:  # each room a rectangle
        ys, xs = np.nonzero(parsed.rooms_map == room.label)
        assert room.area == (np.ptp(ys) + 1) * (np.ptp(xs) + 1)
    # the likeliest classes alone, as before this step, leave the border ragged
    assert not np.array_equal(layout[11:49, 29], layout[11:49, 31])


def test_room_types_come_in_the_training_plans_numbers_where_the_network_drew_them(reals):
    footprints, plans = reals
    rules = RoomRules.from_record((), 64)
    layouts = np.array([_checkerboard(f, 12) for f in footprints[:30]])
    rendered = render_plans(layouts, footprints[:30], 16)
    within = []
    agree, shuffled = [], []
    rng = np.random.default_rng(1)
    for layout, plan in zip(layouts, rendered):
        bounds = rules.type_bounds(_count(plan))
        within.append(all(lo <= n <= hi for n, (lo, hi) in zip(_types(plan), bounds)))
        rooms = np.isin(plan, fp.ROOM_CLASSES)
        agree.append((plan[rooms] == layout[rooms]).mean())
        parsed = P.parse_plan(plan)  # the same rooms with their types shuffled
        kinds = np.array([0] + [r.kind for r in parsed.rooms])
        kinds[1:] = rng.permutation(kinds[1:])
        shuffled.append((kinds[parsed.rooms_map][rooms] == layout[rooms]).mean())
    assert np.mean(within) >= 0.9
    assert np.mean(agree) > np.mean(shuffled) + 0.05
    # sizes as in the training plans: bathrooms the smallest rooms, living rooms the largest
    areas = {k: [] for k in fp.ROOM_CLASSES}
    for plan in rendered:
        for room in P.parse_plan(plan).rooms:
            areas[room.kind].append(room.area)
    assert np.median(areas[fp.BATHROOM]) < np.median(areas[fp.BEDROOM])
    assert np.median(areas[fp.BEDROOM]) < np.median(areas[fp.LIVING])
    assert P.validity_rate(rendered, footprints[:30], 16) >= 0.95


def test_stray_pixels_off_the_building_are_not_building_and_the_rest_is_kept(reals):
    footprints, plans = reals
    layout = plans[0].copy()
    y0, y1, x0, x1 = P.bounding_box(footprints[0, 0] > 0)
    speck = (y1 + 1, (x0 + x1) // 2) if y1 + 1 < 64 else (y0 - 2, (x0 + x1) // 2)
    layout[speck] = fp.WALL
    plan = render_plan(layout, footprints[0])
    assert plan[speck] == fp.OUTSIDE
    assert np.array_equal(plan != fp.OUTSIDE, plans[0] != fp.OUTSIDE)
    assert P.plan_validity(plan, footprints[0]).valid
