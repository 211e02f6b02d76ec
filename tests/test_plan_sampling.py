"""Floor plans for a drawn footprint: reading any drawing, padding it to the model's frame and back,
the entrance found or placed, bad drawings refused in one line, and the vector files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage
from test_commands import make_run

from aekit import plans as P
from aekit.cli import main
from aekit.data import floorplan_files as files
from aekit.data import floorplans as fp
from aekit.errors import DataError
from aekit.footprints import FILL, plan_sheet, read_user_footprint
from aekit.plan_vectors import plan_vectors

SIZE = 32
OPENING = 2  # the entrance of the training plans at 32 x 32 (3 pixels at 64)
OPTIONS = {"channels": [8, 16, 32], "latent_dim": 8, "code_maps": 8}


@pytest.fixture
def plan_run(tmp_path) -> Path:
    return make_run(
        tmp_path / "plans", "plan-vae", OPTIONS, (3, SIZE, SIZE), dataset="floorplans-synthetic"
    )


def _drawing(
    path: Path,
    size: tuple[int, int],
    shapes: list[tuple[int, int, int, int]],
    *,
    building=0,
    paper=255,
    mode="L",
    mark: tuple[int, int, int, int] | None = None,
) -> Path:
    image = Image.new(mode, size, paper)
    draw = ImageDraw.Draw(image)
    for box in shapes:
        draw.rectangle(box, fill=building)
    if mark is not None:
        draw.rectangle(mark, fill=(255, 0, 0))
    image.save(path)
    return path


def _exterior_edge(mask: np.ndarray) -> np.ndarray:
    """Building pixels next to the outside that reaches the frame."""
    outside = ndimage.label(~mask)[0]
    exterior = outside == outside[0, 0]
    return mask & ndimage.binary_dilation(exterior, ndimage.generate_binary_structure(2, 1))


def test_a_drawing_is_padded_keeping_its_aspect_and_mapped_back_to_its_pixels(tmp_path):
    path = _drawing(tmp_path / "wide.png", (300, 140), [(40, 30, 259, 109)])  # a 220 x 80 building
    user = read_user_footprint(path, SIZE)
    mask = user.footprint[0].astype(bool)
    y0, y1, x0, x1 = P.bounding_box(mask)
    # aspect kept
    assert x1 - x0 == round(FILL * SIZE) and abs((y1 - y0) - FILL * SIZE * 80 / 220) <= 1
    assert min(y0, x0, SIZE - y1, SIZE - x1) >= 2  # outside all round, as in training
    back = user.map_back(mask.astype(np.uint8))
    drawn = np.asarray(Image.open(path)) == 0
    assert back.shape == drawn.shape == (140, 300)
    iou = (back.astype(bool) & drawn).sum() / (back.astype(bool) | drawn).sum()
    assert iou > 0.97, iou


def test_the_entrance_is_placed_on_the_outer_wall_or_taken_from_the_mark(tmp_path):
    plain = read_user_footprint(
        _drawing(tmp_path / "l.png", (200, 160), [(20, 20, 90, 140), (20, 90, 180, 140)]), SIZE
    )
    assert len(plain.notes) == 1 and "no entrance marked" in plain.notes[0]
    mask, mark = plain.footprint[0].astype(bool), plain.footprint[1].astype(bool)
    assert mark.sum() == OPENING and (mark <= _exterior_edge(mask)).all()
    rows, cols = np.nonzero(mark)
    assert len(set(rows)) == 1 or len(set(cols)) == 1  # in one straight stretch of wall
    marked = _drawing(
        tmp_path / "marked.png",
        (200, 200),
        [(20, 20, 180, 180)],
        mode="RGB",
        building=(0, 0, 0),
        paper=(255, 255, 255),
        mark=(95, 174, 105, 180),
    )  # red on the bottom wall
    user = read_user_footprint(marked, SIZE)
    assert user.notes == []
    rows, cols = np.nonzero(user.footprint[1])
    y0, y1, _, _ = P.bounding_box(user.footprint[0].astype(bool))
    assert set(rows) == {y1 - 1} and abs(cols.mean() - SIZE / 2) <= 1.5


def test_transparency_and_white_on_black_drawings_keep_their_courtyard(tmp_path):
    rgba = Image.new("RGBA", (120, 90), (0, 0, 0, 0))
    draw = ImageDraw.Draw(rgba)
    draw.rectangle((5, 5, 114, 84), fill=(30, 30, 30, 255))
    draw.rectangle((40, 30, 79, 59), fill=(0, 0, 0, 0))
    rgba.save(tmp_path / "court.png")
    inverse = _drawing(
        tmp_path / "inverse.png", (120, 90), [(5, 5, 114, 84)], building=255, paper=0
    )
    court, solid = (
        read_user_footprint(p, SIZE).footprint[0].astype(bool)
        for p in (tmp_path / "court.png", inverse)
    )
    hole = ndimage.binary_fill_holes(court) & ~court
    assert hole.sum() > 20 and not (ndimage.binary_fill_holes(solid) & ~solid).any()
    assert (court | hole).sum() == solid.sum()


def test_bad_footprints_are_refused_in_one_line_naming_the_file(tmp_path, plan_run, capsys):
    empty = _drawing(tmp_path / "empty.png", (80, 80), [], building=0)
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(
        (ndimage.gaussian_filter(rng.random((90, 120)), 3) * 255 * 4 - 400)
        .clip(0, 255)
        .astype(np.uint8)
    ).save(photo)
    colour = tmp_path / "colour.png"
    Image.fromarray((rng.random((60, 60, 3)) * 255).astype(np.uint8)).save(colour)
    for path, problem in (
        (empty, "has no building"),
        (photo, "is not a footprint mask"),
        (colour, "is not a footprint mask"),
    ):
        code = main(
            [
                "sample",
                str(plan_run),
                "--condition-image",
                str(path),
                "--n",
                "2",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and str(path) in err and problem in err, err
    with pytest.raises(DataError, match="no building"):
        read_user_footprint(empty, SIZE)


def test_a_building_touching_the_frame_is_handled_and_said(tmp_path, plan_run, capsys):
    edge = _drawing(tmp_path / "edge.png", (160, 60), [(0, 10, 159, 49)])
    out = tmp_path / "out"
    assert (
        main(
            [
                "sample",
                str(plan_run),
                "--condition-image",
                str(edge),
                "--n",
                "3",
                "--sheet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    said = capsys.readouterr().out
    assert (
        "touches the drawing's edge" in said
        and "no entrance marked" in said
        and "wrote 3 floor plans" in said
    )
    for k in range(3):
        plan = files.read_plan(out / f"plan_{k}.png")
        assert plan.shape == (60, 160) and plan.max() < len(fp.CLASSES)
    footprint = files.read_footprint(out / "footprint.png")
    assert footprint.shape == (2, SIZE, SIZE) and footprint[1].sum() == OPENING
    assert (
        files.read_plan(out / "sheet.png").shape
        == plan_sheet(np.zeros((3, SIZE, SIZE), np.uint8), footprint).shape
    )


def test_vector_files_parse_in_pixels_and_in_metres(tmp_path, plan_run):
    drawing = _drawing(tmp_path / "box.png", (100, 80), [(10, 10, 89, 69)])
    for scale, out in ((None, tmp_path / "px"), (0.5, tmp_path / "m")):
        argv = [
            "sample",
            str(plan_run),
            "--condition-image",
            str(drawing),
            "--n",
            "2",
            "--vector",
            "--out",
            str(out),
        ]
        assert main(argv + ([] if scale is None else ["--scale", str(scale)])) == 0
    pixels, metres = (
        json.loads((tmp_path / folder / "plan_0.json").read_text()) for folder in ("px", "m")
    )
    assert pixels["units"] == "px" and metres["units"] == "m"
    assert pixels["size"] == [100, 80] and metres["size"] == [50.0, 40.0]
    assert pixels["rooms"] == plan_vectors(files.read_plan(tmp_path / "px" / "plan_0.png"))["rooms"]
    svg = ET.fromstring((tmp_path / "m" / "plan_1.svg").read_text())
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 50 40"


def test_plans_come_from_the_runs_gmm_prior_once_fitted_unless_a_temperature_asks_for_n01(
    tmp_path, monkeypatch, capsys
):
    from aekit import plan_sampling
    from aekit.priors import GMMPrior

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "TRAIN_PAIRS", 40)
    monkeypatch.setattr(files, "TEST_PAIRS", 4)
    run = make_run(
        tmp_path / "layout",
        "plan-layout",
        {"channels": [8, 16, 32], "latent_channels": 2},
        (3, 64, 64),
        dataset="floorplans-synthetic",
    )  # the dataset's size
    used = []
    draw = plan_sampling.draw_plans
    monkeypatch.setattr(
        plan_sampling, "draw_plans", lambda *a, **k: (used.append(k["prior"]), draw(*a, **k))[1]
    )
    drawing = _drawing(tmp_path / "box.png", (100, 80), [(10, 10, 89, 69)])

    def sample(out: str, *extra: str) -> int:
        return main(
            [
                "sample",
                str(run),
                "--condition-image",
                str(drawing),
                "--n",
                "3",
                "--out",
                str(tmp_path / out),
                *extra,
            ]
        )

    assert sample("none") == 0 and used == [None]  # no prior fitted: N(0, I)
    assert sample("missing", "--prior", "gmm") == 2 and "aekit fit-prior" in capsys.readouterr().err
    assert main(["fit-prior", str(run), "--prior", "gmm", "--components", "2"]) == 0
    # the 2 x 4 x 4 code map, flattened as the prior was fitted to it
    assert json.loads((run / "prior-gmm.json").read_text())["options"]["code_shape"] == [32]
    assert sample("default") == 0 and sample("hot", "--temperature", "0.5") == 0
    assert sample("asked", "--prior", "gmm") == 0
    assert sample("plain", "--prior", "none") == 0  # N(0, I) at temperature 1 all the same
    assert [type(p) for p in used[1:]] == [GMMPrior, type(None), GMMPrior, type(None)]
    said = capsys.readouterr().out
    assert "codes from the run's prior 'gmm'" in said and "codes from N(0, 0.5^2 I)" in said
    assert "codes from N(0, I)" in said
    for k in range(3):  # the default is the fitted prior, draw for draw
        assert np.array_equal(
            files.read_plan(tmp_path / "default" / f"plan_{k}.png"),
            files.read_plan(tmp_path / "asked" / f"plan_{k}.png"),
        )
