"""Floor plans as vectors: polygons trace the rooms' pixels exactly, holes survive, the SVG draws
every part."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.path import Path

from aekit import plan_vectors as V
from aekit import plans as P
from aekit.data import floorplans as fp
from aekit.errors import AekitError


@pytest.fixture(scope="module")
def reals() -> tuple[np.ndarray, np.ndarray]:
    return fp.make_floorplans(6, size=64, seed=11)


def test_vectors_trace_rooms_exactly(reals):
    _, plans = reals
    plan = plans[1]
    vectors = V.plan_vectors(plan)
    parsed = P.parse_plan(plan)
    assert len(vectors["rooms"]) == len(parsed.rooms) and vectors["units"] == "px"
    ys, xs = np.mgrid[: plan.shape[0], : plan.shape[1]]
    centres = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1)
    for room, vector in zip(parsed.rooms, vectors["rooms"]):
        polygon = np.array(vector["polygon"])
        assert abs(V._shoelace([tuple(p) for p in polygon])) == room.area == vector["area"]
        # no diagonals
        assert np.all(np.abs(np.diff(polygon, axis=0, append=polygon[:1])).min(axis=1) == 0)
        assert vector["type"] == fp.CLASSES[room.kind]
        # the pixels whose centre it holds
        inside = Path(polygon).contains_points(centres).reshape(plan.shape)
        for hole in vector["holes"]:
            inside &= ~Path(np.array(hole)).contains_points(centres).reshape(plan.shape)
        assert np.array_equal(inside, parsed.rooms_map == room.label)
    assert len(vectors["doors"]) == parsed.counts["doors"] and {
        d["width"] for d in vectors["doors"]
    } == {3}
    metres = V.plan_vectors(plan, scale=0.25)
    assert metres["units"] == "m" and metres["size"] == [16.0, 16.0]
    assert metres["rooms"][0]["area"] == pytest.approx(vectors["rooms"][0]["area"] * 0.0625)
    assert metres["doors"][0]["width"] == 0.75
    building = abs(V._shoelace(vectors["outline"])) - sum(
        abs(V._shoelace(h)) for h in vectors["courtyards"]
    )
    assert building == (plan != 0).sum()


def test_trace_keeps_holes():
    mask = np.ones((6, 7), bool)
    mask[2:4, 2:5] = False
    loops = V.trace(mask)
    assert sorted(abs(V._shoelace(loop)) for loop in loops) == [6.0, 42.0]
    assert sorted(len(loop) for loop in loops) == [4, 4]


def test_svg_draws_every_part(reals):
    _, plans = reals
    plan = plans[2]
    svg = V.plan_svg(plan, scale=0.3)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    parsed = P.parse_plan(plan)
    # the building (walls) and each room
    assert len(root.findall(f"{ns}path")) == len(parsed.rooms) + 1
    assert len(root.findall(f"{ns}line")) == sum(parsed.counts.values())
    assert root.get("viewBox") == "0 0 19.2 19.2"
    with pytest.raises(AekitError, match="metres per pixel"):
        V.plan_vectors(plan, scale=0)
