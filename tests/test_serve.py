"""The explorer's HTTP API through Flask's test client: every endpoint, and every kind of bad
request."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from flask.testing import FlaskClient
from PIL import Image
from stand_ins import TINY_VQ_OPTIONS, TinyCleaner, TinyConfig, TinyDense, TinyLabelVAE, TinyVAE

from aekit.errors import AekitError
from aekit.models.base import Autoencoder
from aekit.serve import Explorer, build_app
from aekit.serve.app import MAX_REQUEST_BYTES


def _client(explorer: Explorer) -> FlaskClient:
    return build_app(explorer).test_client()


@pytest.fixture
def client() -> FlaskClient:
    torch.manual_seed(0)
    images = torch.rand(20, 1, 8, 8)
    return _client(Explorer(TinyDense(TinyConfig(), (1, 8, 8)), test_images=images, title="tiny"))


def _png(size: tuple[int, int], mode: str = "L", color: int | tuple[int, ...] = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_page_info_and_static_files(client: FlaskClient) -> None:
    page = client.get("/")
    assert (
        page.status_code == 200
        and b"latent explorer" in page.data
        and b"/static/app.js" in page.data
    )
    assert (
        client.get("/static/app.js").status_code == 200
        and client.get("/static/style.css").status_code == 200
    )
    assert client.get("/static/../../export.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404
    info = client.get("/api/info").get_json()
    assert info["latent_dim"] == 2 and info["test_images"] == 20 and info["document"] is False
    # a plain autoencoder's pad spans where its test codes are, a little wider
    assert all(lo < hi for lo, hi in info["ranges"]) and len(info["start"]) == 2


def test_decode_returns_a_png_that_depends_on_the_code(client: FlaskClient) -> None:
    first = client.post("/api/decode", json={"z": [-1.0, 0.5]})
    second = client.post("/api/decode", json={"z": [2, -3]})
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert _image(first.data).size == (8, 8) and first.data != second.data


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"z": [1.0]}, "has 1 numbers; this model's latent space has 2"),
        ({"z": [1.0, 2.0, 3.0]}, "has 3 numbers"),
        ({"z": [1.0, "x"]}, "'z[1]' must be a number"),
        ({"z": [True, 1.0]}, "'z[0]' must be a number"),
        ({"z": [1e6, 0]}, "out of range"),
        ({"z": "1,2"}, "must be a list of 2 numbers"),
        ({}, "must be a list of 2 numbers"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_decode_rejects_bad_codes(client: FlaskClient, body: object, message: str) -> None:
    response = client.post("/api/decode", json=body)
    assert response.status_code == 400 and message in response.get_json()["error"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_decode_rejects_non_finite_numbers(client: FlaskClient, literal: str) -> None:
    response = client.post(
        "/api/decode", data=f'{{"z": [0, {literal}]}}', content_type="application/json"
    )
    assert response.status_code == 400 and "'z[1]' must be finite" in response.get_json()["error"]


def test_decode_rejects_a_body_that_is_not_json(client: FlaskClient) -> None:
    response = client.post(
        "/api/decode", data="z=1,2", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400 and "JSON object" in response.get_json()["error"]


def test_samples_are_a_grid_and_seeded(client: FlaskClient) -> None:
    a = client.post("/api/sample", json={"n": 9, "seed": 3})
    assert a.status_code == 200 and _image(a.data).size == (3 * 8 + 2, 3 * 8 + 2)
    assert client.post("/api/sample", json={"n": 9, "seed": 3}).data == a.data
    assert client.post("/api/sample", json={"n": 9, "seed": 4}).data != a.data
    for bad in ({"n": 0}, {"n": 65}, {"n": 2.5}, {"seed": -1}):
        response = client.post("/api/sample", json=bad)
        assert (
            response.status_code == 400
            and "must be an integer from" in response.get_json()["error"]
        )


def test_test_images_by_number(client: FlaskClient) -> None:
    assert _image(client.get("/api/test-image/19").data).size == (8, 8)
    missing = client.get("/api/test-image/20")
    assert (
        missing.status_code == 404
        and "does not exist (there are 20)" in missing.get_json()["error"]
    )


def test_interpolation_between_test_images_and_uploads(client: FlaskClient) -> None:
    strip = client.post("/api/interpolate", data={"a_index": "0", "b_index": "5", "steps": "6"})
    assert strip.status_code == 200 and _image(strip.data).size == (6 * 8 + 5, 8)
    uploads = {
        "a_file": (io.BytesIO(_png((40, 30), "RGB", (255, 0, 0))), "a.png", "image/png"),
        "b_file": (io.BytesIO(_png((16, 16), "L", 0)), "b.png", "image/png"),
    }
    mixed = client.post(
        "/api/interpolate", data={**uploads, "steps": "4"}, content_type="multipart/form-data"
    )
    assert mixed.status_code == 200 and _image(mixed.data).size == (4 * 8 + 3, 8)
    assert mixed.data != strip.data


@pytest.mark.parametrize(
    ("upload", "status", "message"),
    [
        ((b"hello", "a.txt", "text/plain"), 400, "expected an image"),
        ((b"\x89PNG not really", "a.png", "image/png"), 400, "not a readable image"),
        ((_png((2100, 2000)), "big.png", "image/png"), 413, "too many"),
    ],
)
def test_interpolation_rejects_bad_uploads(
    client: FlaskClient, upload: tuple[bytes, str, str], status: int, message: str
) -> None:
    data, name, kind = upload
    response = client.post(
        "/api/interpolate",
        data={"a_file": (io.BytesIO(data), name, kind), "b_index": "1"},
        content_type="multipart/form-data",
    )
    assert response.status_code == status and message in response.get_json()["error"]


def test_oversized_request_and_missing_inputs_are_refused(client: FlaskClient) -> None:
    huge = io.BytesIO(b"\0" * (MAX_REQUEST_BYTES + 1))
    response = client.post(
        "/api/interpolate",
        data={"a_file": (huge, "a.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "too large" in response.get_json()["error"]
    response = client.post("/api/interpolate", data={"a_index": "0"})
    assert response.status_code == 400 and "image B: upload a file" in response.get_json()["error"]
    response = client.post("/api/interpolate", data={"a_index": "../etc/passwd", "b_index": "1"})
    assert response.status_code == 400 and "must be an integer" in response.get_json()["error"]
    response = client.post("/api/clean", data={})
    assert response.status_code == 400 and "not a document cleaner" in response.get_json()["error"]
    assert client.get("/api/nothing").status_code == 404


def test_without_test_images_uploads_still_interpolate() -> None:
    client = _client(Explorer(TinyDense(TinyConfig(), (1, 8, 8))))
    assert client.get("/api/info").get_json()["ranges"] == [[-3.0, 3.0], [-3.0, 3.0]]
    response = client.post("/api/interpolate", data={"a_index": "0", "b_index": "1"})
    assert response.status_code == 404 and "no test images" in response.get_json()["error"]
    uploads = {
        name: (io.BytesIO(_png((8, 8), "L", c)), "x.png", "image/png")
        for name, c in (("a_file", 0), ("b_file", 255))
    }
    assert (
        client.post(
            "/api/interpolate", data=uploads, content_type="multipart/form-data"
        ).status_code
        == 200
    )


def test_class_conditional_generation() -> None:
    torch.manual_seed(0)
    model = TinyLabelVAE(TinyConfig(), (1, 8, 8), num_classes=3)
    images, labels = torch.rand(10, 1, 8, 8), torch.arange(10) % 3
    client = _client(
        Explorer(model, class_names=["cat", "dog", "owl"], test_images=images, test_labels=labels)
    )
    info = client.get("/api/info").get_json()
    assert info["class_names"] == ["cat", "dog", "owl"] and info["condition_kind"] == "label"
    assert info["ranges"] == [[-3.0, 3.0], [-3.0, 3.0]] and info["start"] == [0.0, 0.0]
    cat = client.post("/api/decode", json={"z": [0, 0], "condition": 0})
    owl = client.post("/api/decode", json={"z": [0, 0], "condition": 2})
    assert cat.status_code == owl.status_code == 200 and cat.data != owl.data
    assert client.post("/api/sample", json={"n": 4, "seed": 1, "condition": 1}).status_code == 200
    strip = client.post("/api/interpolate", data={"a_index": "0", "b_index": "1", "condition": "2"})
    assert strip.status_code == 200
    bad = client.post("/api/decode", json={"z": [0, 0], "condition": 3})
    assert (
        bad.status_code == 400
        and "'condition' must be an integer from 0 to 2" in bad.get_json()["error"]
    )


@pytest.mark.parametrize(
    "model", [TinyCleaner(TinyConfig(4), (1, 16, 16)), TinyDense(TinyConfig(4), (1, 16, 16))]
)
def test_document_cleaner_returns_a_page_of_the_same_size(model: Autoencoder) -> None:
    torch.manual_seed(0)
    explorer = Explorer(model, document=True)
    client = _client(explorer)
    assert client.get("/api/info").get_json()["document"] is True
    assert explorer.fully_convolutional is isinstance(model, TinyCleaner)
    pixels = np.random.default_rng(0).integers(0, 256, (70, 1100), dtype=np.uint8)  # two tiles wide
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    page = (io.BytesIO(buffer.getvalue()), "page.png", "image/png")
    response = client.post("/api/clean", data={"page": page}, content_type="multipart/form-data")
    assert response.status_code == 200 and _image(response.data).size == (1100, 70)
    if explorer.fully_convolutional:
        # tiles with context margins must agree with cleaning the page in one go (away from the
        # border)
        cleaned = np.asarray(_image(response.data), dtype=np.int16)
        with torch.no_grad():
            whole = model.reconstruct(torch.from_numpy(pixels / 255.0).float()[None, None])[0, 0]
        expected = (whole * 255).round().numpy().astype(np.int16)
        assert np.abs(cleaned - expected)[2:-2, 2:-2].max() <= 1
    else:  # a fixed-size model cleans a grid of its own tiles: the tile at row 1, column 3
        cleaned = np.asarray(_image(response.data), dtype=np.int16)
        with torch.no_grad():
            tile = model.reconstruct(
                torch.from_numpy(pixels[16:32, 48:64] / 255.0).float()[None, None]
            )[0, 0]
        assert (
            np.abs(cleaned[16:32, 48:64] - (tile * 255).round().numpy().astype(np.int16)).max() <= 1
        )
    refused = client.post("/api/decode", json={"z": [0, 0, 0, 0]})
    assert refused.status_code == 400 and "document cleaner" in refused.get_json()["error"]
    assert client.post("/api/clean", data={}).status_code == 400


def test_serve_says_when_the_port_is_taken(
    monkeypatch: pytest.MonkeyPatch, client: FlaskClient
) -> None:
    import socket

    import aekit.serve

    monkeypatch.setattr(aekit.serve, "create_app", lambda run_dir: client.application)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            AekitError, match=f"cannot listen on 127.0.0.1:{port} .*choose another --port"
        ):
            aekit.serve.serve(Path("run"), port=port)


def test_create_app_from_a_trained_conditional_run(tmp_path: Path) -> None:
    from aekit import train
    from aekit.config import TrainConfig
    from aekit.serve import create_app

    run = tmp_path / "run"
    options = {"latent_dim": 2, "hidden": [32]}
    train(
        TrainConfig(
            model="cvae",
            dataset="digits",
            epochs=1,
            max_train_images=100,
            out=str(run),
            quiet=True,
            model_options=options,
        )
    )
    client = create_app(run).test_client()
    info = client.get("/api/info").get_json()
    assert info["class_names"] == [str(k) for k in range(10)] and info["test_images"] == 300
    seven = client.post("/api/decode", json={"z": [0.5, -0.5], "condition": 7})
    assert seven.status_code == 200 and _image(seven.data).size == (8, 8)
    assert (
        client.post("/api/interpolate", data={"a_index": "0", "b_index": "299"}).status_code == 200
    )
    # a per-class prior of a class-conditional model draws the class chosen as the condition
    from aekit.priors import fit_prior, load_prior
    from aekit.runs import load_model

    fit_prior(run, "gmm", components=1)
    client = create_app(run).test_client()
    assert client.get("/api/info").get_json()["priors"] == [
        {"name": "gmm", "classes": [str(k) for k in range(10)]}
    ]
    drawn = client.post("/api/sample", json={"n": 4, "seed": 2, "condition": 7, "prior": "gmm"})
    reference = _reference_png(load_model(run), 4, 2, load_prior(run, "gmm"), torch.full((4,), 7))
    assert drawn.status_code == 200 and drawn.data == reference
    assert client.post("/api/sample", json={"n": 4, "seed": 2, "condition": 7}).data != reference
    refused = client.post("/api/sample", json={"n": 4, "condition": 7, "prior": "gmm", "class": 3})
    assert (
        refused.status_code == 400 and "choose it with 'condition'" in refused.get_json()["error"]
    )


class FixedSprite(TinyDense):
    """Decodes every code to one sprite: left half transparent, right half opaque red (RGBA) or
    opaque white (grey + alpha)."""

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        c = self.input_shape[0]
        sprite = torch.zeros(c, 8, 8)
        sprite[0, :, 4:] = 1.0
        sprite[-1, :, 4:] = 1.0
        return sprite.expand(len(z), -1, -1, -1)


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_images_are_shown_over_a_checkerboard(channels: int) -> None:
    torch.manual_seed(0)
    images = torch.rand(6, channels, 8, 8)
    client = _client(Explorer(FixedSprite(TinyConfig(), (channels, 8, 8)), test_images=images))
    picture = _image(client.post("/api/decode", json={"z": [0, 0]}).data)
    assert picture.mode == ("RGB" if channels == 4 else "L") and picture.size == (8, 8)
    pixels = np.asarray(picture.convert("RGB"), dtype=np.int64)
    opaque = (255, 0, 0) if channels == 4 else (255, 255, 255)
    assert (pixels[:, 4:] == opaque).all()  # the opaque half keeps its colour
    left = pixels[:, :4]
    # the transparent half: two greys
    assert (left[..., 0] == left[..., 1]).all() and len(np.unique(left)) == 2
    assert client.post("/api/sample", json={"n": 4, "seed": 0}).status_code == 200
    assert _image(client.get("/api/test-image/5").data).size == (8, 8)


def _rgba_png() -> bytes:
    """10x10 RGBA: left half fully transparent (with a colour nobody should see), right half opaque
    blue."""
    array = np.zeros((10, 10, 4), dtype=np.uint8)
    array[:, :5] = (200, 100, 50, 0)
    array[:, 5:] = (0, 0, 255, 255)
    buffer = io.BytesIO()
    Image.fromarray(array, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploads_take_the_models_channels_with_premultiplied_alpha() -> None:
    from aekit.serve.explorer import image_to_tensor

    upload = Image.open(io.BytesIO(_rgba_png()))
    rgba = image_to_tensor(upload, 4, None)
    assert rgba.shape == (4, 10, 10)
    assert (rgba[:, :, :5] == 0).all()  # transparent: 0 in every channel, the hidden colour dropped
    assert torch.equal(
        rgba[:, :, 5:], torch.tensor([0.0, 0.0, 1.0, 1.0]).view(4, 1, 1).expand(4, 10, 5)
    )
    grey_alpha = image_to_tensor(upload, 2, (8, 8))
    assert (
        grey_alpha.shape == (2, 8, 8)
        and (grey_alpha[:, :, :3] == 0).all()
        and (grey_alpha[1, :, 5:] == 1).all()
    )
    opaque = image_to_tensor(Image.open(io.BytesIO(_png((6, 6), "RGB", (255, 0, 0)))), 4, None)
    assert (opaque[3] == 1).all() and (opaque[0] == 1).all()
    # and through the API: an RGBA upload and an RGB one interpolated by a 4-channel model
    client = _client(Explorer(TinyDense(TinyConfig(), (4, 8, 8))))
    uploads = {
        "a_file": (io.BytesIO(_rgba_png()), "a.png", "image/png"),
        "b_file": (io.BytesIO(_png((8, 8), "RGB", (0, 255, 0))), "b.png", "image/png"),
    }
    strip = client.post(
        "/api/interpolate", data={**uploads, "steps": "3"}, content_type="multipart/form-data"
    )
    assert strip.status_code == 200 and _image(strip.data).size == (3 * 8 + 2, 8)


# --- learned priors ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def prior_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny vae on digits with a per-class gmm and a per-class flow fitted to its codes."""
    from aekit import train
    from aekit.config import TrainConfig
    from aekit.priors import fit_prior

    run = tmp_path_factory.mktemp("serve-priors") / "vae"
    train(
        TrainConfig(
            model="vae",
            dataset="digits",
            epochs=1,
            max_train_images=200,
            out=str(run),
            quiet=True,
            model_options={"latent_dim": 2, "hidden": [32]},
        )
    )
    fit_prior(run, "gmm", components=2)
    fit_prior(run, "flow", layers=2, hidden=16, steps=50)
    return run


def _reference_png(
    model: Autoencoder, n: int, seed: int, prior: object = None, labels: torch.Tensor | None = None
) -> bytes:
    """What ``aekit sample`` draws for this seed, laid out as the explorer lays its grid out."""
    from aekit.inference import sample_images
    from aekit.serve.explorer import grid, to_png

    return to_png(grid(sample_images(model, n, seed=seed, prior=prior, labels=labels)))


def test_samples_from_each_learned_prior_are_those_of_aekit_sample(prior_run: Path) -> None:
    from aekit.priors import load_prior
    from aekit.runs import load_model
    from aekit.serve import create_app

    client = create_app(prior_run).test_client()
    info = client.get("/api/info").get_json()
    digits = [str(k) for k in range(10)]
    assert info["default_prior"] == "N(0, I)"
    assert info["priors"] == [
        {"name": "gmm", "classes": digits},
        {"name": "flow", "classes": digits},
    ]
    model = load_model(prior_run)
    standard = client.post("/api/sample", json={"n": 9, "seed": 5})
    assert standard.status_code == 200 and standard.data == _reference_png(model, 9, 5)
    assert client.post("/api/sample", json={"n": 9, "seed": 5, "prior": None}).data == standard.data
    for name in ("gmm", "flow"):
        prior = load_prior(prior_run, name)
        drawn = client.post("/api/sample", json={"n": 9, "seed": 5, "prior": name})
        assert drawn.status_code == 200 and drawn.data != standard.data, name
        assert drawn.data == _reference_png(model, 9, 5, prior), name
        assert (
            client.post("/api/sample", json={"n": 9, "seed": 5, "prior": name}).data == drawn.data
        ), name
        assert (
            client.post("/api/sample", json={"n": 9, "seed": 6, "prior": name}).data != drawn.data
        ), name
        # a class chosen for a per-class prior: that class's codes, as `aekit sample --prior NAME
        # --class 3` draws them
        three = client.post("/api/sample", json={"n": 9, "seed": 5, "prior": name, "class": 3})
        assert three.status_code == 200 and three.data not in (drawn.data, standard.data), name
        assert three.data == _reference_png(model, 9, 5, prior, torch.full((9,), 3)), name
        assert (
            client.post("/api/sample", json={"n": 9, "seed": 5, "prior": name, "class": 4}).data
            != three.data
        ), name


def test_unknown_priors_and_misplaced_classes_are_refused(prior_run: Path) -> None:
    from aekit.serve import create_app

    client = create_app(prior_run).test_client()
    for value in ("pixelcnn", "N(0, I)", 3, ["gmm"]):
        response = client.post("/api/sample", json={"n": 4, "prior": value})
        message = response.get_json()["error"]
        assert response.status_code == 400 and message.startswith("unknown prior"), value
        assert (
            "this run's priors: 'gmm', 'flow', or null for N(0, I)" in message
            and "\n" not in message
        )
    refused = client.post("/api/sample", json={"n": 4, "class": 2})
    assert (
        refused.status_code == 400 and "no learned prior was chosen" in refused.get_json()["error"]
    )
    refused = client.post("/api/sample", json={"n": 4, "prior": "gmm", "class": 10})
    assert (
        refused.status_code == 400
        and "'class' must be an integer from 0 to 9" in refused.get_json()["error"]
    )
    # a run without priors says so, and offers none
    plain = _client(Explorer(TinyVAE(TinyConfig(), (1, 8, 8))))
    assert plain.get("/api/info").get_json()["priors"] == []
    refused = plain.post("/api/sample", json={"n": 4, "prior": "gmm"})
    assert (
        refused.status_code == 400
        and "none fitted (aekit fit-prior)" in refused.get_json()["error"]
    )


def test_a_stale_prior_is_left_out_with_a_warning(
    prior_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from aekit.serve import create_app

    run = tmp_path / "run"
    shutil.copytree(prior_run, run)
    info = run / "prior-gmm.json"
    # fitted to other weights
    info.write_text(info.read_text().replace('"model_fingerprint": "', '"model_fingerprint": "0'))
    client = create_app(run).test_client()
    assert [p["name"] for p in client.get("/api/info").get_json()["priors"]] == ["flow"]
    assert "warning: prior 'gmm' is not offered:" in capsys.readouterr().err
    assert client.post("/api/sample", json={"n": 4, "prior": "gmm"}).status_code == 400


def test_a_prior_fitted_without_labels_takes_no_class() -> None:
    from aekit.priors import GMMPrior

    torch.manual_seed(0)
    model = TinyVAE(TinyConfig(), (1, 8, 8))
    prior = GMMPrior((2,), None, components=2).fit(torch.randn(50, 2) * 2 + 1, None)
    client = _client(Explorer(model, priors={"gmm": prior}))
    assert client.get("/api/info").get_json()["priors"] == [{"name": "gmm", "classes": None}]
    drawn = client.post("/api/sample", json={"n": 4, "seed": 0, "prior": "gmm"})
    assert drawn.status_code == 200 and drawn.data == _reference_png(model, 4, 0, prior)
    refused = client.post("/api/sample", json={"n": 4, "prior": "gmm", "class": 0})
    assert (
        refused.status_code == 400
        and "prior 'gmm' was fitted without labels" in refused.get_json()["error"]
    )


def test_a_vq_vae_samples_its_own_pixelcnn_or_the_refitted_one() -> None:
    from aekit.models.vq_vae import VQVAE, VQVAEConfig
    from aekit.priors import CodeMapPrior

    torch.manual_seed(0)
    model = VQVAE(
        VQVAEConfig(codebook_size=8, code_dim=4, channels=(8, 8), prior_channels=8, prior_layers=1),
        (1, 8, 8),
    ).eval()
    # codes that decode to different images (an untrained codebook is all 0)
    model.quantizer.codebook.normal_(0, 3)
    refit = CodeMapPrior.from_model(model)
    with torch.no_grad():  # "trained further": other weights than the model's own PixelCNN
        for weight in refit.parameters():
            weight.add_(torch.randn_like(weight))
    client = _client(Explorer(model, priors={"pixelcnn": refit.eval()}))
    info = client.get("/api/info").get_json()
    assert info["default_prior"] == "PixelCNN trained with the model" and info["priors"] == [
        {"name": "pixelcnn", "classes": None}
    ]
    own = client.post("/api/sample", json={"n": 4, "seed": 1})
    drawn = client.post("/api/sample", json={"n": 4, "seed": 1, "prior": "pixelcnn"})
    assert own.status_code == drawn.status_code == 200 and own.data == _reference_png(model, 4, 1)
    assert drawn.data == _reference_png(model, 4, 1, refit) and drawn.data != own.data


# --- reconstructions, and a model whose codes are codebook indices
# ------------------------------------
def test_reconstruct_shows_images_a_and_b_encoded_and_decoded_again() -> None:
    from aekit.serve.explorer import grid, to_png

    torch.manual_seed(0)
    images, labels = torch.rand(10, 1, 8, 8), torch.arange(10) % 3
    model = TinyLabelVAE(TinyConfig(), (1, 8, 8), num_classes=3)
    client = _client(Explorer(model, test_images=images, test_labels=labels))
    assert client.get("/api/info").get_json()["discrete_code"] is False
    # a test image with its own class (4 % 3 = 1), an upload with the chosen class 2 (the labels
    # reach the
    # model; this stand-in's reconstruction does not depend on them: its encoder subtracts what its
    # decoder adds)
    upload = {
        "a_index": "4",
        "b_file": (io.BytesIO(_png((8, 8), "L", 255)), "b.png", "image/png"),
        "condition": "2",
    }
    response = client.post("/api/reconstruct", data=upload, content_type="multipart/form-data")
    with torch.no_grad():
        expected = model.reconstruct(
            torch.stack([images[4], torch.ones(1, 8, 8)]), torch.tensor([1, 2])
        )
    assert response.status_code == 200 and response.data == to_png(grid(expected, columns=2))
    missing = client.post("/api/reconstruct", data={"a_index": "0"})
    assert missing.status_code == 400 and "image B: upload a file" in missing.get_json()["error"]
    cleaner = _client(Explorer(TinyCleaner(TinyConfig(4), (1, 16, 16)), document=True))
    refused = cleaner.post("/api/reconstruct", data={"a_index": "0", "b_index": "1"})
    assert refused.status_code == 400 and "document cleaner" in refused.get_json()["error"]


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny vq-vae on digits (2 x 2 index maps of 16 codes) with its PixelCNN refitted as prior
    'pixelcnn'."""
    from aekit import train
    from aekit.config import TrainConfig
    from aekit.priors import fit_prior

    run = tmp_path_factory.mktemp("serve-vq") / "vq"
    # a high rate, small batches: after one epoch the decoder tells codes apart (at 1e-3 all decode
    # alike)
    train(
        TrainConfig(
            model="vq-vae",
            dataset="digits",
            epochs=1,
            max_train_images=200,
            lr=1e-2,
            batch_size=32,
            out=str(run),
            quiet=True,
            model_options=TINY_VQ_OPTIONS,
        )
    )
    fit_prior(run, "pixelcnn", steps=20)
    return run


def test_a_vq_vae_run_samples_and_reconstructs_but_has_no_free_codes(vq_run: Path) -> None:
    from aekit.export import load_test_images
    from aekit.priors import load_prior
    from aekit.run import Run
    from aekit.runs import load_model
    from aekit.serve import create_app
    from aekit.serve.explorer import grid, to_png

    client = create_app(vq_run).test_client()
    info = client.get("/api/info").get_json()
    assert info["discrete_code"] is True and info["ranges"] == [] and info["start"] == []
    assert info["default_prior"] == "PixelCNN trained with the model" and info["test_images"] == 300
    assert info["priors"] == [{"name": "pixelcnn", "classes": None}]
    model = load_model(vq_run)
    # free float codes mean nothing to a codebook: a 400 in one line, not a 500
    for body in ({"z": [0.5] * info["latent_dim"]}, {"z": [0, 1, 2, 3]}, {}):
        refused = client.post("/api/decode", json=body)
        message = refused.get_json()["error"]
        assert (
            refused.status_code == 400
            and message.startswith("this model's codes are codebook indices: ")
            and "\n" not in message
        )
    refused = client.post("/api/interpolate", data={"a_index": "0", "b_index": "1"})
    message = refused.get_json()["error"]
    assert (
        refused.status_code == 400
        and "no straight line between two index maps" in message
        and "\n" not in message
    )
    # samples: the model's own PixelCNN, or the refitted one, exactly as `aekit sample` draws them
    own = client.post("/api/sample", json={"n": 9, "seed": 4})
    assert own.status_code == 200 and own.data == _reference_png(model, 9, 4)
    assert client.post("/api/sample", json={"n": 9, "seed": 5}).data != own.data
    refit = client.post("/api/sample", json={"n": 9, "seed": 4, "prior": "pixelcnn"})
    assert refit.status_code == 200 and refit.data == _reference_png(
        model, 9, 4, load_prior(vq_run, "pixelcnn")
    )
    # reconstructions of two test images, through the index maps
    test = load_test_images(Run(vq_run, "cpu")).images
    response = client.post("/api/reconstruct", data={"a_index": "0", "b_index": "299"})
    with torch.no_grad():
        maps = model.encode(test[[0, 299]])
        expected = model.decode(maps)
    assert maps.dtype == torch.int64 and not torch.equal(maps[0], maps[1])
    assert response.status_code == 200 and response.data == to_png(grid(expected, columns=2))
