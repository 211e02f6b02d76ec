"""The plan renderer: real plans come through valid and nearly as they are, random room layouts
come out as plans one can walk through (every room enclosed, large enough and reachable from the
entrance), and the building is never grown or cut."""

from __future__ import annotations

import numpy as np
import pytest

from aekit import plans as P
from aekit.data import floorplans as fp
from aekit.plan_partition import RoomRules
from aekit.plan_render import WALL_PROBABILITY, render_plan, render_plans, room_areas


@pytest.fixture(scope="module")
def reals() -> tuple[np.ndarray, np.ndarray]:
    return fp.make_floorplans(40, size=64, seed=5)


def _random_layouts(footprints: np.ndarray, seed: int) -> np.ndarray:
    """Each building filled with room types on a random coarse grid (cells 6 to 16 pixels), random
    wall strokes, and 5% of its pixels set to any class but outside: what an untrained network
    draws."""
    rng = np.random.default_rng(seed)
    out = np.zeros(footprints.shape[:1] + footprints.shape[2:], np.uint8)
    for plan, mask in zip(out, footprints[:, 0] > 0):
        cell = int(rng.integers(6, 17))
        grid = rng.choice(fp.ROOM_CLASSES, size=(64 // cell + 1,) * 2)
        plan[:] = np.kron(grid, np.ones((cell, cell), np.uint8))[:64, :64]
        for _ in range(int(rng.integers(0, 4))):
            if rng.random() < 0.5:
                plan[int(rng.integers(64)), :] = fp.WALL
            else:
                plan[:, int(rng.integers(64))] = fp.WALL
        noise = rng.random(plan.shape) < 0.05
        plan[noise] = rng.integers(1, len(fp.CLASSES), int(noise.sum()))
        plan[~mask] = fp.OUTSIDE
    return out


def test_real_plans_come_through_valid_with_their_rooms_where_their_count_is_typical(reals):
    """A real plan keeps its building and is valid; it keeps its number of rooms unless that lies
    outside the range the training plans have for its built area (``RoomRules``), and then it is
    brought into it."""
    footprints, plans = reals
    rendered = render_plans(plans, footprints)
    assert P.validity_rate(rendered, footprints) == 1.0
    rules = RoomRules.from_record((), 64)
    kept = []
    for real, drawn in zip(plans, rendered):
        assert np.array_equal(real != fp.OUTSIDE, drawn != fp.OUTSIDE)
        before, after = len(P.parse_plan(real).rooms), len(P.parse_plan(drawn).rooms)
        fewest, most = rules.count_bounds(int((real != fp.OUTSIDE).sum()))
        assert after == before or (not fewest <= before <= most and fewest <= after <= most)
        kept.append(after == before)
    assert np.mean(kept) >= 0.7
    assert np.mean([(a == b).mean() for a, b in zip(plans, rendered)]) > 0.95  # walls kept


def test_random_layouts_become_plans_where_every_room_is_reached(reals):
    footprints, _ = reals
    layouts = _random_layouts(footprints, seed=0)
    assert P.validity_rate(layouts, footprints) == 0.0  # as drawn: mixed, open, unreachable rooms
    rendered = render_plans(layouts, footprints)
    problems = [
        P.plan_validity(plan, footprint).problems for plan, footprint in zip(rendered, footprints)
    ]
    assert not [
        p for found in problems for p in found if "reachable" in p or "touches outside" in p
    ]
    assert P.validity_rate(rendered, footprints) >= 0.95
    assert np.array_equal(
        rendered != fp.OUTSIDE, layouts != fp.OUTSIDE
    )  # the building is the network's
    assert (
        np.mean([P.parse_plan(plan).counts["windows"] >= 2 for plan in rendered]) > 0.9
    )  # on outer walls
    # the layout's room types survive where they fit the training plans' numbers of each type:
    # most rooms' pixels are mostly of their type in the layout
    agree = []
    for layout, plan in zip(layouts, rendered):
        rooms = np.isin(plan, fp.ROOM_CLASSES)
        agree.append((plan[rooms] == layout[rooms]).mean())
    assert np.mean(agree) > 1 / len(fp.ROOM_CLASSES) + 0.1


def test_the_building_is_neither_grown_nor_cut_and_windows_stay_outside(reals):
    footprints, plans = reals
    layout = plans[0].copy()
    y0, _, x0, x1 = P.bounding_box(footprints[0, 0] > 0)
    layout[y0 - 1, x0:x1] = fp.BEDROOM  # a row drawn beyond the footprint stays built
    layout[y0 + 3 : y0 + 6, x0 + 3 : x0 + 6] = fp.OUTSIDE  # and a hole stays a hole
    layout[y0 + 10, x0 + 10] = fp.WINDOW  # a window drawn inside is a wall
    plan = render_plan(layout, footprints[0])
    assert np.array_equal(plan != fp.OUTSIDE, layout != fp.OUTSIDE)
    windows = plan == fp.WINDOW
    assert windows.any() and not windows[y0 + 10, x0 + 10]
    assert P.plan_validity(plan).problems == [] or all(
        "window" not in p for p in P.plan_validity(plan).problems
    )


def test_the_entrance_goes_on_the_footprints_mark(reals):
    footprints, plans = reals
    layout = plans[1].copy()
    layout[layout == fp.ENTRANCE] = fp.WALL  # the network forgot the entrance
    plan = render_plan(layout, footprints[1])
    assert (plan[footprints[1, 1] > 0] == fp.ENTRANCE).any()
    assert P.plan_validity(plan, footprints[1]).valid


def _without_inner_walls(plans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each plan with its interior walls and doors painted over by the nearest room's type (a
    network that never draws them as the likeliest class), and where they were."""
    from scipy import ndimage

    built = plans != fp.OUTSIDE
    outline = built & ~np.stack(
        [ndimage.binary_erosion(b, np.ones((3, 3)), border_value=0) for b in built]
    )
    inner = np.isin(plans, (fp.WALL, fp.DOOR)) & ~outline
    layouts = plans.copy()
    for layout, where in zip(layouts, inner):
        room = np.isin(layout, fp.ROOM_CLASSES)
        _, (ys, xs) = ndimage.distance_transform_edt(~room, return_indices=True)
        layout[where] = layout[ys, xs][where]
    return layouts, inner


def test_the_networks_wall_probability_parts_rooms_of_one_type(reals):
    """Interior walls that are nowhere the likeliest class but likely enough (0.3) still part two
    rooms of one type: more plans keep their number of rooms and their walls than from the
    likeliest classes alone, where bedrooms side by side become one room."""
    footprints, plans = reals
    layouts, inner = _without_inner_walls(plans)
    count = [len(P.parse_plan(p).rooms) for p in plans]
    with_prob = render_plans(layouts, footprints, wall_prob=np.where(inner, 0.3, 0.01))
    alone = render_plans(layouts, footprints)
    assert P.validity_rate(with_prob, footprints) == 1.0

    def kept(rendered: np.ndarray) -> tuple[float, float]:
        rooms = np.mean([len(P.parse_plan(p).rooms) == n for p, n in zip(rendered, count)])
        return rooms, float((rendered == plans).mean())

    (rooms_with, pixels_with), (rooms_alone, pixels_alone) = kept(with_prob), kept(alone)
    assert rooms_with >= rooms_alone + 0.1 and pixels_with > pixels_alone + 0.01
    # below the level the walls part nothing (they only choose between equal cuts)
    faint = render_plans(layouts, footprints, wall_prob=np.where(inner, WALL_PROBABILITY / 2, 0))
    assert [len(P.parse_plan(p).rooms) for p in faint] == [
        len(P.parse_plan(p).rooms) for p in alone
    ]


def test_room_areas_are_the_parsed_rooms_and_min_room_merges_smaller_ones(reals):
    _, plans = reals
    areas = room_areas(plans)
    assert sorted(areas.tolist()) == sorted(r.area for p in plans for r in P.parse_plan(p).rooms)
    footprints, _ = reals
    smallest = int(areas.min())
    layouts = _random_layouts(footprints, seed=1)
    for min_room in (16, smallest):
        rendered = render_plans(layouts, footprints, min_room)
        assert room_areas(rendered).min() >= min_room
    # the larger floor leaves fewer, larger rooms
    assert len(room_areas(render_plans(layouts, footprints, smallest))) < len(
        room_areas(render_plans(layouts, footprints, 16))
    )
