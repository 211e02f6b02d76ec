"""ONNX export: onnxruntime must reproduce PyTorch within 1e-4 at any batch size, and model.json says how."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stand_ins import TinyConfig, TinyConv, TinyDense, TinyLabelVAE
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
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["decoder.onnx", "encoder.onnx", "model.json"]
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
    assert z_spec == {"name": "z", "shape": ["batch", 3], "dtype": "float32", "distribution": z_spec["distribution"], "stats": stats}
    assert meta["files"]["decoder"]["outputs"][0]["range"] == [0.0, 1.0]
    assert [i.name for i in decoder.get_inputs()] == ["z"] and [o.name for o in decoder.get_outputs()] == ["image"]


def test_label_conditional_model_takes_the_label_as_int64_input(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = TinyLabelVAE(TinyConfig(latent_dim=2), (1, 8, 8), num_classes=4).eval()
    names = ["a", "b", "c", "d"]
    written = export_model(model, tmp_path, class_names=names)
    decoder = _session(written[0])
    assert [(i.name, i.type) for i in decoder.get_inputs()] == [("z", "tensor(float)"), ("label", "tensor(int64)")]
    for batch in (1, 7):
        z = np.random.default_rng(batch).standard_normal((batch, 2)).astype(np.float32)
        labels = np.arange(batch, dtype=np.int64) % 4
        (images,) = decoder.run(None, {"z": z, "label": labels})
        expected = model.decode(torch.from_numpy(z), torch.from_numpy(labels)).detach().numpy()
        assert np.abs(images - expected).max() < 1e-4
    meta = json.loads((tmp_path / "model.json").read_text())
    label = meta["files"]["decoder"]["inputs"][1]
    assert label["dtype"] == "int64" and label["range"] == [0, 3] and label["class_names"] == names
    assert meta["generative"] is True and "N(0, 1)" in meta["files"]["decoder"]["inputs"][0]["distribution"]
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

    def __init__(self, config: TinyConfig, input_shape: tuple[int, int, int], num_classes: int | None = None):
        Autoencoder.__init__(self, config, input_shape, num_classes)
        self.enc = nn.Sequential(nn.Conv2d(1, config.latent_dim, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.dec = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(config.latent_dim, 1, 3, padding=1))


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
    train(TrainConfig(model="dense", dataset="digits", epochs=1, max_train_images=200, out=str(run), quiet=True))
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
    assert meta["channels"] == channels and meta["alpha"] is True and meta["channel_names"][-1] == "alpha"
    assert "premultiplied" in meta["notes"]
    assert meta["files"]["encoder"]["inputs"][0]["shape"] == ["batch", channels, 8, 8]
    x = np.random.default_rng(0).random((5, channels, 8, 8), dtype=np.float32)
    (codes,) = _session(written[1]).run(None, {"image": x})
    assert np.abs(codes - model.encode(torch.from_numpy(x)).detach().numpy()).max() < 1e-4
    (images,) = _session(written[0]).run(None, {"z": codes})
    assert images.shape == (5, channels, 8, 8)


def test_residual_colour_vae_exports(tmp_path: Path) -> None:
    """res-vae (GroupNorm, fused upsampling convs, 4 channels) runs in onnxruntime like in PyTorch."""
    from aekit.models import build_model

    torch.manual_seed(0)
    model = build_model("res-vae", {"likelihood": "logistic", "width": 8, "max_width": 16, "latent_dim": 6}, (4, 16, 16)).eval()
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
        model = build_model("vq-vae", {"quantizer": quantizer, "channels": [8, 8], "codebook_size": 12, "code_dim": 3,
                                       "levels": [3, 4], "prior_channels": 8, "prior_layers": 1}, (1, 8, 8)).eval()
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
            x = np.random.default_rng(1).random((shape[0], 1, 4 * shape[1], 4 * shape[2]), dtype=np.float32)
            (codes,) = encoder.run(None, {"image": x})
            assert np.array_equal(codes, model.encode(torch.from_numpy(x)).numpy())
        meta = json.loads((tmp_path / quantizer / "model.json").read_text())
        spec = meta["files"]["decoder"]["inputs"][0]
        assert spec["shape"] == ["batch", "height/4", "width/4"] and spec["dtype"] == "int64"
        assert spec["range"] == [0, model.num_codes - 1]
