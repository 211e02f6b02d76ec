"""ONNX export: onnxruntime must reproduce PyTorch within 1e-4 at any batch size, and model.json
says how."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stand_ins import TINY_VQ_OPTIONS, TinyConfig, TinyConv, TinyDense, TinyLabelVAE
from torch import nn

from aekit.errors import AekitError
from aekit.export import export_model
from aekit.models.base import Autoencoder

ort = pytest.importorskip("onnxruntime")


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_plain_autoencoder_matches_pytorch_at_batch_1_and_7(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyConv(TinyConfig(latent_dim=3), (1, 8, 8)).eval()
    stats = {"mean": [0.0] * 3, "std": [1.0] * 3, "min": [-2.0] * 3, "max": [2.0] * 3}
    written = export_model(model, tmp_path / "out", latent_stats=stats, source="test")
    assert [p.name for p in written] == ["decoder.onnx", "encoder.onnx", "model.json"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "decoder.onnx",
        "encoder.onnx",
        "model.json",
    ]
    decoder, encoder = _session(written[0]), _session(written[1])
    for batch in (1, 7):
        z = np.random.default_rng(batch).standard_normal((batch, 3)).astype(np.float32)
        (images,) = decoder.run(None, {"z": z})
        expected = model.decode(torch.from_numpy(z)).detach().numpy()
        assert images.shape == (batch, 1, 8, 8)
        assert np.abs(images - expected).max() < 1e-4
        x = np.random.default_rng(batch).random((batch, 1, 8, 8), dtype=np.float32)
        (codes,) = encoder.run(None, {"image": x})
        assert np.abs(codes - model.encode(torch.from_numpy(x)).detach().numpy()).max() < 1e-4

    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["latent_dim"] == 3 and meta["conditional"] is False
    (z_spec,) = meta["files"]["decoder"]["inputs"]
    assert z_spec == {
        "name": "z",
        "shape": ["batch", 3],
        "dtype": "float32",
        "distribution": z_spec["distribution"],
        "stats": stats,
    }
    assert meta["files"]["decoder"]["outputs"][0]["range"] == [0.0, 1.0]
    assert [i.name for i in decoder.get_inputs()] == ["z"] and [
        o.name for o in decoder.get_outputs()
    ] == ["image"]


def test_label_conditional_model_takes_the_label_as_int64_input(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = TinyLabelVAE(TinyConfig(latent_dim=2), (1, 8, 8), num_classes=4).eval()
    names = ["a", "b", "c", "d"]
    written = export_model(model, tmp_path, class_names=names)
    decoder = _session(written[0])
    assert [(i.name, i.type) for i in decoder.get_inputs()] == [
        ("z", "tensor(float)"),
        ("label", "tensor(int64)"),
    ]
    for batch in (1, 7):
        z = np.random.default_rng(batch).standard_normal((batch, 2)).astype(np.float32)
        labels = np.arange(batch, dtype=np.int64) % 4
        (images,) = decoder.run(None, {"z": z, "label": labels})
        expected = model.decode(torch.from_numpy(z), torch.from_numpy(labels)).detach().numpy()
        assert np.abs(images - expected).max() < 1e-4
    meta = json.loads((tmp_path / "model.json").read_text())
    label = meta["files"]["decoder"]["inputs"][1]
    assert label["dtype"] == "int64" and label["range"] == [0, 3] and label["class_names"] == names
    assert (
        meta["generative"] is True
        and "N(0, 1)" in meta["files"]["decoder"]["inputs"][0]["distribution"]
    )
    assert meta["class_names"] == names and meta["condition_kind"] == "label"


def test_unknown_format_and_unwritable_folder_are_one_line_errors(tmp_path: Path) -> None:
    model = TinyConv(TinyConfig(latent_dim=3), (1, 8, 8))
    with pytest.raises(AekitError, match="unknown export format 'tflite'"):
        export_model(model, tmp_path, fmt="tflite")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(AekitError, match="cannot write here"):
        export_model(model, blocker / "out")
    from aekit.models import build_model

    with pytest.raises(AekitError, match="pixel by pixel"):
        export_model(build_model("pixel-vae", {}, (1, 8, 8)), tmp_path / "pixel")
    assert not (tmp_path / "pixel").exists()


class TinyPooledCleaner(TinyDense):
    """Fully convolutional with a 2x pooling, like ``tutorial-docs``: pages of any size."""

    name = "tiny-docs"

    def __init__(
        self, config: TinyConfig, input_shape: tuple[int, int, int], num_classes: int | None = None
    ):
        Autoencoder.__init__(self, config, input_shape, num_classes)
        self.enc = nn.Sequential(
            nn.Conv2d(1, config.latent_dim, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.dec = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(config.latent_dim, 1, 3, padding=1)
        )


def test_fully_convolutional_model_exports_with_dynamic_height_and_width(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = TinyPooledCleaner(TinyConfig(latent_dim=4), (1, 16, 16)).eval()
    written = export_model(model, tmp_path)
    encoder, decoder = _session(written[1]), _session(written[0])
    for shape in ((1, 1, 40, 56), (7, 1, 24, 24)):
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        (codes,) = encoder.run(None, {"image": x})
        (images,) = decoder.run(None, {"z": codes})
        assert images.shape == shape
        assert np.abs(images - model.reconstruct(torch.from_numpy(x)).detach().numpy()).max() < 1e-4
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["files"]["encoder"]["inputs"][0]["shape"] == ["batch", 1, "height", "width"]
    assert meta["files"]["decoder"]["inputs"][0]["shape"] == ["batch", 4, "height/2", "width/2"]


def test_cli_exports_a_trained_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aekit import load, train
    from aekit.cli import main
    from aekit.config import TrainConfig

    run = tmp_path / "run"
    train(
        TrainConfig(
            model="dense",
            dataset="digits",
            epochs=1,
            max_train_images=200,
            out=str(run),
            quiet=True,
        )
    )
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "onnx")]) == 0
    assert capsys.readouterr().out.count("wrote ") == 3
    meta = json.loads((tmp_path / "onnx" / "model.json").read_text())
    stats = meta["files"]["decoder"]["inputs"][0]["stats"]  # a plain AE: where its test codes live
    assert len(stats["mean"]) == meta["latent_dim"] and meta["class_names"][:2] == ["0", "1"]
    model = load(run)
    z = torch.randn(7, meta["latent_dim"])
    (images,) = _session(tmp_path / "onnx" / "decoder.onnx").run(None, {"z": z.numpy()})
    assert np.abs(images - model.decode(z).detach().numpy()).max() < 1e-4
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_models_say_so_and_round_trip(tmp_path: Path, channels: int) -> None:
    torch.manual_seed(0)
    model = TinyConv(TinyConfig(latent_dim=3), (channels, 8, 8)).eval()
    written = export_model(model, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert (
        meta["channels"] == channels
        and meta["alpha"] is True
        and meta["channel_names"][-1] == "alpha"
    )
    assert "premultiplied" in meta["notes"]
    assert meta["files"]["encoder"]["inputs"][0]["shape"] == ["batch", channels, 8, 8]
    x = np.random.default_rng(0).random((5, channels, 8, 8), dtype=np.float32)
    (codes,) = _session(written[1]).run(None, {"image": x})
    assert np.abs(codes - model.encode(torch.from_numpy(x)).detach().numpy()).max() < 1e-4
    (images,) = _session(written[0]).run(None, {"z": codes})
    assert images.shape == (5, channels, 8, 8)


def test_residual_colour_vae_exports(tmp_path: Path) -> None:
    """res-vae (GroupNorm, fused upsampling convs, 4 channels) runs in onnxruntime like in
    PyTorch."""
    from aekit.models import build_model

    torch.manual_seed(0)
    model = build_model(
        "res-vae",
        {"likelihood": "logistic", "width": 8, "max_width": 16, "latent_dim": 6},
        (4, 16, 16),
    ).eval()
    written = export_model(model, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "model.json").read_text())
    assert meta["channels"] == 4 and meta["alpha"] is True and meta["latent_dim"] == 6
    z = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)
    (images,) = _session(written[0]).run(None, {"z": z})
    assert np.abs(images - model.decode(torch.from_numpy(z)).detach().numpy()).max() < 1e-4
    x = np.random.default_rng(2).random((3, 4, 16, 16), dtype=np.float32)
    (codes,) = _session(written[1]).run(None, {"image": x})
    assert np.abs(codes - model.encode(torch.from_numpy(x)).detach().numpy()).max() < 1e-4


def test_vq_vae_decoder_takes_code_indices_at_any_size(tmp_path: Path) -> None:
    from aekit.models import build_model

    for quantizer in ("vq", "fsq"):
        torch.manual_seed(3)
        model = build_model(
            "vq-vae",
            {
                "quantizer": quantizer,
                "channels": [8, 8],
                "codebook_size": 12,
                "code_dim": 3,
                "levels": [3, 4],
                "prior_channels": 8,
                "prior_layers": 1,
            },
            (1, 8, 8),
        ).eval()
        if quantizer == "vq":  # a trained codebook; a fresh one is all zeros until the first batch
            model.quantizer.codebook.copy_(torch.randn(12, 3))
        written = export_model(model, tmp_path / quantizer)
        decoder, encoder = _session(written[0]), _session(written[1])
        assert [(i.name, i.type) for i in decoder.get_inputs()] == [("indices", "tensor(int64)")]
        for shape in ((1, 2, 2), (7, 4, 3)):  # index maps of 8x8 images, and of 16x12 ones
            indices = np.random.default_rng(0).integers(0, model.num_codes, shape)
            (images,) = decoder.run(None, {"indices": indices})
            expected = model.decode(torch.from_numpy(indices)).detach().numpy()
            assert images.shape == (shape[0], 1, 4 * shape[1], 4 * shape[2])
            assert np.abs(images - expected).max() < 1e-4
            x = np.random.default_rng(1).random(
                (shape[0], 1, 4 * shape[1], 4 * shape[2]), dtype=np.float32
            )
            (codes,) = encoder.run(None, {"image": x})
            assert np.array_equal(codes, model.encode(torch.from_numpy(x)).numpy())
        meta = json.loads((tmp_path / quantizer / "model.json").read_text())
        spec = meta["files"]["decoder"]["inputs"][0]
        assert spec["shape"] == ["batch", "height/4", "width/4"] and spec["dtype"] == "int64"
        assert spec["range"] == [0, model.num_codes - 1]


def _run_recipe(folder: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Runs prior ``name``'s recipe from model.json, as a user would, in the export folder; returns
    its variables."""
    recipe = json.loads((folder / "model.json").read_text())["priors"][name]["recipe"]
    monkeypatch.chdir(folder)
    namespace: dict = {}
    exec(compile(recipe, f"recipe-{name}", "exec"), namespace)
    return namespace


def test_fitted_gmm_and_flow_export_as_samplers_that_match_pytorch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recipe's codes (onnxruntime, its own seeded draws) are ``Prior.from_noise`` of the same
    draws, and decode to the PyTorch model's images; labels drawn for any class are
    ``labels_from_uniform``'s."""
    from aekit import load, train
    from aekit.cli import main
    from aekit.config import TrainConfig
    from aekit.priors import fit_prior, load_prior

    run = tmp_path / "run"
    train(
        TrainConfig(
            model="vae",
            dataset="digits",
            epochs=1,
            max_train_images=300,
            out=str(run),
            quiet=True,
            model_options={"latent_dim": 4, "hidden": [32]},
        )
    )
    fit_prior(run, "gmm", components=2)
    fit_prior(run, "flow", layers=2, hidden=16, steps=30)
    # every fitted prior by default
    assert main(["export", str(run), "--out", str(tmp_path / "onnx")]) == 0
    assert capsys.readouterr().out.count("wrote ") == 5
    meta = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert list(meta["priors"]) == ["gmm", "flow"]
    model = load(run)
    for name in ("gmm", "flow"):
        spec, prior = meta["priors"][name], load_prior(run, name)
        assert spec["file"] == f"prior-{name}.onnx" and spec["class_conditional"] is True
        assert (
            np.allclose(spec["class_weights"], prior.class_weights().numpy())
            and len(spec["class_weights"]) == 10
        )
        ns = _run_recipe(tmp_path / "onnx", name, monkeypatch)
        u = np.random.default_rng(0).random(16)  # the recipe's first draw picks the classes
        assert np.array_equal(ns["label"], prior.labels_from_uniform(torch.from_numpy(u)).numpy())
        assert len(set(ns["label"].tolist())) > 3
        draws = [torch.from_numpy(ns["noise"])] + (
            [torch.from_numpy(ns["uniform"])] if name == "gmm" else []
        )
        with torch.no_grad():
            codes = prior.from_noise(*draws, torch.from_numpy(ns["label"]))
            images = model.decode(codes).numpy()
        assert ns["z"].shape == (16, 4) and np.abs(ns["z"] - codes.numpy()).max() < 1e-4, name
        assert np.abs(ns["images"] - images).max() < 1e-4, name
        assert [i["name"] for i in spec["inputs"]] == (
            ["noise", "uniform", "label"] if name == "gmm" else ["noise", "label"]
        )
    # the mixture's components differ per draw: a wrong pick (inverse CDF) would move codes by whole
    # means
    gmm = load_prior(run, "gmm")
    assert gmm.means.view(10, 2, 4).diff(dim=1).abs().max() > 0.1
    (run / "prior-flow.json").write_text(
        (run / "prior-flow.json")
        .read_text()
        .replace('"model_fingerprint": "', '"model_fingerprint": "0')
    )
    # a stale prior is refused before any work
    assert main(["export", str(run), "--out", str(tmp_path / "stale")]) == 2
    assert (
        "fitted to other weights" in capsys.readouterr().err and not (tmp_path / "stale").exists()
    )


def test_unconditional_gmm_beside_a_label_conditional_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aekit.priors import GMMPrior

    torch.manual_seed(4)
    model = TinyLabelVAE(TinyConfig(latent_dim=2), (1, 8, 8), num_classes=4).eval()
    codes = torch.cat(
        [torch.randn(100, 2) * 0.3 + torch.tensor([3.0, 0.0]), torch.randn(100, 2) * 0.5 - 2]
    )
    prior = GMMPrior((2,), None, components=2).fit(codes, None)
    export_model(model, tmp_path, priors={"gmm": prior})
    meta = json.loads((tmp_path / "model.json").read_text())
    assert "class_weights" not in meta["priors"]["gmm"] and [
        i["name"] for i in meta["priors"]["gmm"]["inputs"]
    ] == ["noise", "uniform"]
    ns = _run_recipe(tmp_path, "gmm", monkeypatch)
    with torch.no_grad():
        z = prior.from_noise(torch.from_numpy(ns["noise"]), torch.from_numpy(ns["uniform"]))
        images = model.decode(z, torch.from_numpy(ns["label"])).numpy()
    assert np.abs(ns["z"] - z.numpy()).max() < 1e-5 and np.abs(ns["images"] - images).max() < 1e-4
    assert 0 < (ns["z"][:, 0] > 0.5).sum() < 16  # both components drawn
    with pytest.raises(AekitError, match="fitted without labels"):
        prior.from_noise(
            torch.from_numpy(ns["noise"]),
            torch.from_numpy(ns["uniform"]),
            torch.zeros(16, dtype=torch.long),
        )


def test_vq_vae_exports_its_pixelcnn_priors_as_one_step_logits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's own PixelCNN (prior 'model') and a refitted one: logits match PyTorch at any map
    size, and the recipe's loop draws the index maps ``index_maps_from_uniform`` draws with the same
    uniforms."""
    from aekit import load, train
    from aekit.cli import main
    from aekit.config import TrainConfig
    from aekit.priors import fit_prior, index_maps_from_uniform, load_prior

    run = tmp_path / "vq"
    train(
        TrainConfig(
            model="vq-vae",
            dataset="digits",
            epochs=1,
            max_train_images=300,
            out=str(run),
            quiet=True,
            model_options=TINY_VQ_OPTIONS,
        )
    )
    fit_prior(run, "pixelcnn", steps=30)
    assert main(["export", str(run), "--out", str(tmp_path / "onnx"), "--prior", "pixelcnn"]) == 0
    meta = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert (
        list(meta["priors"]) == ["model", "pixelcnn"]
        and "prior-model.onnx" in meta["files"]["decoder"]["inputs"][0]["distribution"]
    )
    model = load(run)
    for name, net in (("model", model.prior), ("pixelcnn", load_prior(run, "pixelcnn").net)):
        assert meta["priors"][name]["outputs"][0]["shape"] == ["batch", 16, "height/4", "width/4"]
        maps = torch.from_numpy(np.random.default_rng(1).integers(0, 16, (5, 3, 4)))
        (logits,) = _session(tmp_path / "onnx" / f"prior-{name}.onnx").run(
            None, {"indices": maps.numpy()}
        )
        with torch.no_grad():
            assert np.abs(logits - net(maps).numpy()).max() < 1e-4, name
        ns = _run_recipe(tmp_path / "onnx", name, monkeypatch)
        expected = index_maps_from_uniform(net, torch.from_numpy(ns["uniform"]))
        assert ns["indices"].shape == (16, 2, 2) and np.array_equal(
            ns["indices"], expected.numpy()
        ), name
        assert len(np.unique(ns["indices"])) > 2
        with torch.no_grad():
            assert np.abs(ns["images"] - model.decode(expected).numpy()).max() < 1e-4
