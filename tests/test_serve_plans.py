"""The explorer's floor plans: plans for a test footprint picked by number or for an uploaded
drawing, the same plans `aekit sample --condition-image` draws, and drawings that are no
footprint."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from flask.testing import FlaskClient
from PIL import Image
from stand_ins import TinyConfig, TinyDense

from aekit.data import floorplans as fp
from aekit.data.floorplans import OUTSIDE, WALL
from aekit.footprints import SHEET_GAP, read_user_footprint
from aekit.models import build_model
from aekit.plan_measures import draw_plans
from aekit.serve import Explorer, build_app

SIZE = 32


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    options = {"channels": [8, 16, 32], "latent_dim": 8, "code_maps": 8, "warmup_steps": 0}
    return build_model("plan-vae", options, (3, SIZE, SIZE)).eval()


@pytest.fixture(scope="module")
def footprints() -> torch.Tensor:
    return torch.from_numpy(fp.make_floorplans(6, size=SIZE, seed=5)[0])


def _client(model, footprints=None) -> FlaskClient:
    return build_app(Explorer(model, test_conditions=footprints, title="plans")).test_client()


def _tiles(png: bytes, count: int) -> list[np.ndarray]:
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"  # indexed: the pixel value is the plan class
    sheet = np.asarray(image)
    step = SIZE + SHEET_GAP
    return [sheet[:SIZE, k * step : k * step + SIZE] for k in range(count)]


def _drawing_png() -> bytes:
    """An L-shaped building in black on white at 120 x 90, no entrance marked."""
    canvas = np.full((90, 120), 255, np.uint8)
    canvas[10:80, 10:50] = 0
    canvas[50:80, 10:110] = 0
    buffer = io.BytesIO()
    Image.fromarray(canvas, "L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_info_says_the_model_draws_plans_and_how_many_test_footprints(model, footprints):
    info = _client(model, footprints).get("/api/info").get_json()
    assert info["draws_plans"] is True and info["test_footprints"] == len(footprints)
    tiny = (
        build_app(Explorer(TinyDense(TinyConfig(), (1, 8, 8))))
        .test_client()
        .get("/api/info")
        .get_json()
    )
    assert tiny["draws_plans"] is False and tiny["test_footprints"] == 0


def test_plans_for_a_test_footprint_are_those_aekit_sample_draws(model, footprints):
    response = _client(model, footprints).post(
        "/api/plans", data={"footprint_index": "2", "n": "3", "seed": "7"}
    )
    assert response.status_code == 200, response.get_json()
    first, *plans = _tiles(response.data, 4)
    footprint = footprints[2].numpy()
    assert (
        np.array_equal(first != OUTSIDE, (footprint[0] > 0) | (footprint[1] > 0))
        and (first == WALL).any()
    )
    expected = draw_plans(model, footprint[None], 3, 7)[0]
    assert all(np.array_equal(plan, want) for plan, want in zip(plans, expected))


def test_an_uploaded_drawing_is_read_as_the_sample_command_reads_a_file(model, tmp_path):
    drawing = _drawing_png()
    response = _client(model).post(
        "/api/plans", data={"footprint": (io.BytesIO(drawing), "mine.png", "image/png"), "n": "2"}
    )
    assert response.status_code == 200, response.get_json()
    assert "no entrance marked" in response.headers["X-Aekit-Notes"]
    (tmp_path / "mine.png").write_bytes(drawing)
    expected = read_user_footprint(tmp_path / "mine.png", SIZE).footprint
    first, *plans = _tiles(response.data, 3)
    assert np.array_equal(first != OUTSIDE, (expected[0] > 0) | (expected[1] > 0))
    assert all(
        np.array_equal(p, q) for p, q in zip(plans, draw_plans(model, expected[None], 2, 0)[0])
    )


def test_a_photo_an_empty_drawing_and_bad_numbers_are_refused_in_one_line(model, footprints):
    client = _client(model, footprints)
    photo = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo, "RGB").save(buffer, format="PNG")
    refused = client.post(
        "/api/plans", data={"footprint": (io.BytesIO(buffer.getvalue()), "photo.png", "image/png")}
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"].startswith("the uploaded footprint: is not a footprint mask")
    blank = io.BytesIO()
    Image.new("L", (40, 40), 255).save(blank, format="PNG")
    empty = client.post(
        "/api/plans", data={"footprint": (io.BytesIO(blank.getvalue()), "blank.png", "image/png")}
    )
    assert empty.status_code == 400 and "has no building" in empty.get_json()["error"]
    for data, message in (
        ({"footprint_index": "6"}, "footprint_index"),
        ({"n": "0"}, "'n'"),
        ({"seed": "-1"}, "seed"),
    ):
        bad = client.post("/api/plans", data=data)
        assert bad.status_code == 400 and message in bad.get_json()["error"]
    no_test_set = _client(model).post("/api/plans", data={"n": "2"})
    assert (
        no_test_set.status_code == 400 and "upload a footprint" in no_test_set.get_json()["error"]
    )


def test_a_model_that_draws_no_plans_refuses(footprints):
    client = build_app(Explorer(TinyDense(TinyConfig(), (1, 8, 8)))).test_client()
    response = client.post("/api/plans", data={"footprint_index": "0"})
    assert (
        response.status_code == 400 and "does not draw floor plans" in response.get_json()["error"]
    )


def test_with_a_fitted_gmm_the_plans_come_from_it_as_aekit_sample_takes_them(model, footprints):
    from aekit.priors import GMMPrior

    codes = torch.randn(200, model.latent_dim, generator=torch.Generator().manual_seed(0)) * 3 + 2
    gmm = GMMPrior((model.latent_dim,), None, components=2).fit(codes, None)
    explorer = Explorer(model, test_conditions=footprints, priors={"gmm": gmm})
    assert explorer.info()["plan_codes"] == "prior gmm"
    assert _client(model, footprints).get("/api/info").get_json()["plan_codes"] == "N(0, I)"
    response = (
        build_app(explorer)
        .test_client()
        .post("/api/plans", data={"footprint_index": "1", "n": "4", "seed": "3"})
    )
    assert response.status_code == 200, response.get_json()
    footprint = footprints[1].numpy()
    plans = _tiles(response.data, 5)[1:]
    from_prior = draw_plans(model, footprint[None], 4, 3, prior=gmm)[0]
    assert all(np.array_equal(p, q) for p, q in zip(plans, from_prior))
