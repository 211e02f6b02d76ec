"""The synthetic floor plans keep the statistics their module states, on 300 generated pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from aekit.cli import main
from aekit.data import floorplan_files as files
from aekit.data import floorplans as fp
from aekit.data import load, train_val_split
from aekit.errors import AekitError, ConfigError

CROSS = ndimage.generate_binary_structure(2, 1)
OPENINGS = (fp.WALL, fp.DOOR, fp.WINDOW, fp.ENTRANCE)


@pytest.fixture(scope="module")
def pairs() -> tuple[np.ndarray, np.ndarray]:
    return fp.make_floorplans(300, size=64, seed=0)


def _rooms(plan: np.ndarray) -> int:
    return ndimage.label(np.isin(plan, fp.ROOM_CLASSES), CROSS)[1]


def _next_to_outside(plan: np.ndarray) -> np.ndarray:
    return ndimage.binary_dilation(plan == fp.OUTSIDE, CROSS, border_value=1)


def test_shapes_classes_and_palette(pairs):
    footprints, plans = pairs
    assert footprints.shape == (300, 2, 64, 64) and plans.shape == (300, 64, 64)
    assert footprints.dtype == plans.dtype == np.uint8
    assert set(np.unique(footprints)) == {0, 1} and plans.max() < len(fp.CLASSES) == len(fp.PALETTE)
    # colours tell classes apart
    assert len({tuple(c) for c in fp.PALETTE.tolist()}) == len(fp.CLASSES)
    # the plan fills its footprint exactly
    assert np.array_equal(plans != fp.OUTSIDE, footprints[:, 0] == 1)
    # the mark is the entrance door
    assert np.array_equal(plans == fp.ENTRANCE, footprints[:, 1] == 1)
    # outside all round
    assert not footprints[:, 0, [0, -1]].any() and not footprints[:, 0, :, [0, -1]].any()


def test_footprints_are_varied(pairs):
    footprints, _ = pairs
    masks = footprints[:, 0].astype(bool)
    irregular = np.mean([fp.is_irregular(m) for m in masks])
    assert 0.5 <= irregular <= 0.9  # stated: 0.7
    holes = [ndimage.label(m == 0)[1] > 1 for m in masks]  # a courtyard: outside in two pieces
    assert 0.03 < np.mean(holes) < 0.2
    rows = [np.flatnonzero(m.any(1)) for m in masks]
    heights, tops = np.array([r[-1] - r[0] + 1 for r in rows]), np.array([r[0] for r in rows])
    assert heights.min() < 34 and heights.max() > 54 and tops.min() <= 2 and tops.max() >= 20


def test_room_counts_grow_with_area(pairs):
    footprints, plans = pairs
    rooms = np.array([_rooms(p) for p in plans])
    assert rooms.min() >= 3 and rooms.max() <= 10 and len(np.unique(rooms)) >= 7
    assert np.corrcoef(rooms, footprints[:, 0].sum(axis=(1, 2)))[0, 1] > 0.7


def test_walls_are_one_pixel_wide(pairs):
    _, plans = pairs
    solid = np.isin(plans, OPENINGS)
    blocks = solid[:, 1:, 1:] & solid[:, :-1, 1:] & solid[:, 1:, :-1] & solid[:, :-1, :-1]
    assert not blocks.any()
    # and every room is closed off: no room pixel next to outside (diagonals included)
    for plan in plans[:50]:
        near = ndimage.binary_dilation(plan == fp.OUTSIDE, np.ones((3, 3), bool), border_value=1)
        assert not (near & np.isin(plan, fp.ROOM_CLASSES)).any()


def test_every_room_is_reachable_from_the_entrance(pairs):
    """Walk the pixels: from the entrance through room and door pixels only, every room pixel is
    reached, and without the doors some room is not (the doors are what connects the rooms)."""
    _, plans = pairs
    for plan in plans:
        walkable = np.isin(plan, (*fp.ROOM_CLASSES, fp.DOOR, fp.ENTRANCE))
        labels, _ = ndimage.label(walkable, CROSS)
        reached = np.isin(labels, np.unique(labels[plan == fp.ENTRANCE]))
        assert reached[np.isin(plan, fp.ROOM_CLASSES)].all()
        no_doors = np.isin(plan, (*fp.ROOM_CLASSES, fp.ENTRANCE))
        labels, _ = ndimage.label(no_doors, CROSS)
        reached = np.isin(labels, np.unique(labels[plan == fp.ENTRANCE]))
        assert not reached[np.isin(plan, fp.ROOM_CLASSES)].all()


def test_windows_only_on_outer_walls_and_openings_have_their_width(pairs):
    _, plans = pairs
    assert all(not ((p == fp.WINDOW) & ~_next_to_outside(p)).any() for p in plans)
    assert np.mean([(p == fp.WINDOW).any() for p in plans]) > 0.95
    for kind in (fp.DOOR, fp.WINDOW, fp.ENTRANCE):
        sizes = np.concatenate(
            [np.bincount(ndimage.label(p == kind, CROSS)[0].ravel())[1:] for p in plans[:50]]
        )
        # 3 pixels; two openings side by side at most (a corner)
        assert set(sizes.tolist()) <= {3, 6}
    doors_outside = [((p == fp.DOOR) & _next_to_outside(p)).any() for p in plans]
    assert not any(doors_outside)  # doors join rooms, never a room and the street


def test_room_types_are_plausible(pairs):
    _, plans = pairs
    for plan in plans:
        labels, n = ndimage.label(np.isin(plan, fp.ROOM_CLASSES), CROSS)
        kinds = [np.unique(plan[labels == j]) for j in range(1, n + 1)]
        assert all(len(k) == 1 for k in kinds)  # one class per room
        kinds = [int(k[0]) for k in kinds]
        assert kinds.count(fp.LIVING) == 1 and kinds.count(fp.KITCHEN) == 1
        assert 1 <= kinds.count(fp.BATHROOM) <= 2
        # the living room is the largest room when a corridor leads in, else the entrance opens into
        # it
        living = labels == kinds.index(fp.LIVING) + 1
        if fp.HALL in kinds:
            assert all(
                living.sum() >= (labels == j + 1).sum() for j in range(n) if kinds[j] != fp.HALL
            )
        else:
            assert (ndimage.binary_dilation(living, CROSS) & (plan == fp.ENTRANCE)).any()
    rooms = np.array([_rooms(p) for p in plans])
    has_hall = np.array([(p == fp.HALL).any() for p in plans])
    assert not has_hall[rooms < 6].any() and has_hall[rooms >= 6].mean() > 0.7


def test_seeded_and_independent_of_the_count():
    a_foot, a_plan = fp.make_floorplans(12, seed=3)
    b_foot, b_plan = fp.make_floorplans(5, seed=3)
    assert np.array_equal(a_foot[:5], b_foot) and np.array_equal(a_plan[:5], b_plan)
    _, c_plan = fp.make_floorplans(5, seed=4)
    assert not np.array_equal(c_plan, b_plan)


@pytest.mark.parametrize("size", [32, 128])
def test_other_sizes_scale_walls_and_rooms(size):
    from aekit.plans import plan_validity

    footprints, plans = fp.make_floorplans(12, size=size, seed=1)
    wall = round(size / 64) if size >= 64 else 1
    solid = np.isin(plans, OPENINGS)
    window = np.ones((wall + 1, wall + 1), bool)
    assert not ndimage.binary_erosion(solid, window[None]).any()  # never thicker than the wall
    if wall > 1:
        assert ndimage.binary_erosion(solid, np.ones((1, wall, wall), bool)).any()
    assert all(plan_validity(p, f).valid for p, f in zip(plans, footprints))


@pytest.mark.parametrize(
    "n, size, seed, message",
    [
        (0, 64, 0, "n must be at least 1"),
        (2, 16, 0, "size must be 32..1024"),
        (2, 64, -1, "seed must be >= 0"),
        (2.5, 64, 0, "n must be an integer"),
        (10**6, 1024, 0, "GiB"),
    ],
)
def test_bad_requests_are_one_line_errors(n, size, seed, message):
    with pytest.raises(AekitError, match=message):
        fp.make_floorplans(n, size, seed)


def test_files_round_trip_and_the_command(tmp_path, capsys):
    out = tmp_path / "plans"
    assert (
        main(["make-floorplans", "--n", "4", "--size", "48", "--out", str(out), "--seed", "2"]) == 0
    )
    assert "wrote 4 floor plan pairs" in capsys.readouterr().out
    footprints, plans = fp.make_floorplans(4, 48, seed=2)
    for i in range(4):
        assert np.array_equal(
            files.read_footprint(out / "footprints" / f"{i:05d}.png"), footprints[i]
        )
        assert np.array_equal(files.read_plan(out / "plans" / f"{i:05d}.png"), plans[i])
    recipe = json.loads((out / "floorplans.json").read_text())
    assert recipe["classes"] == list(fp.CLASSES) and recipe["palette"] == fp.PALETTE.tolist()
    assert main(["make-floorplans", "--n", "4", "--out", str(out)]) == 2  # not an empty folder
    assert main(["make-floorplans", "--n", "0", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not an empty folder" in err[0] and "n must be at least 1" in err[1]


def test_colours_map_back_to_classes(pairs):
    _, plans = pairs
    rgb = files.plan_to_rgb(plans[:10])
    assert rgb.shape == (10, 3, 64, 64)
    assert np.array_equal(files.rgb_to_plan(rgb), plans[:10])
    # a model's blur
    assert np.array_equal(files.rgb_to_plan(rgb.astype(np.float32) / 255 + 0.04), plans[:10])


def test_registered_dataset(tmp_path, monkeypatch, mapped_file):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(files, "TEST_PAIRS", 30)
    data = load("floorplans-synthetic", "test", image_size=32)
    assert isinstance(data, files.PlanSet) and data.shape == (3, 32, 32) and len(data) == 30
    footprints, plans = fp.make_floorplans(30, 32, seed=1)
    assert np.array_equal(data.plans.numpy(), plans) and np.array_equal(
        data.footprints.numpy(), footprints
    )
    assert np.array_equal(data.pixels.numpy(), files.plan_to_rgb(plans))
    again = load("floorplans-synthetic", "test", image_size=32)  # from the cache: a memory map
    assert mapped_file(again.plans.data_ptr()).endswith(".u8") and torch.equal(
        again.pixels, data.pixels
    )
    train, val = train_val_split(data)
    assert isinstance(val, files.PlanSet) and len(train) + len(val) == 30
    rows = torch.tensor([3, 7])
    part = data.subset(rows)
    assert torch.equal(part.plans, data.plans[rows]) and torch.equal(
        part.footprints, data.footprints[rows]
    )
    assert torch.equal(part.pixels, data.pixels[rows])
    # what a plan model is fed
    assert torch.equal(data.condition("footprint", rows), data.footprints[rows])
    assert data.default_model[0] == "plan-layout"
    with pytest.raises(ConfigError, match="3 palette colours"):
        load("floorplans-synthetic", "test", channels=1)
    with pytest.raises(ConfigError, match="square"):
        load("floorplans-synthetic", "test", image_size="32x48")


def test_silhouette_of_a_plan_or_a_footprint_file_is_the_outline(pairs):
    """What lets the cvae's silhouette condition work on plans, and on a footprint PNG at
    sampling."""
    import io

    from PIL import Image

    from aekit.data.conditions import silhouette

    footprints, plans = pairs
    expected = np.stack([ndimage.binary_fill_holes(m) for m in footprints[:40, 0]])
    colours = torch.from_numpy(files.plan_to_rgb(plans[:40])).float() / 255
    assert np.array_equal(silhouette(colours)[:, 0].numpy() > 0, expected)
    grey = np.stack(
        [np.asarray(Image.open(io.BytesIO(files.footprint_png(f)))) for f in footprints[:40]]
    )
    assert np.array_equal(
        silhouette(torch.from_numpy(grey).float()[:, None] / 255)[:, 0].numpy() > 0, expected
    )
