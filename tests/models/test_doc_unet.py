"""doc-unet: any page size, the residual on background division, bf16, and learning on real
pages."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from aekit.errors import ConfigError
from aekit.models import build_model
from aekit.models.doc_unet import closing

SMALL = {"width": 8, "depth": 3, "blocks": 1}


def page_like(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Light paper with a smooth stain and dark strokes, ``1 x 1 x h x w``."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    paper = 0.9 - 0.3 * torch.exp(-((yy - 0.4) ** 2 + (xx - 0.6) ** 2) / 0.05)
    ink = torch.rand(h, w, generator=g) < 0.08
    return torch.where(ink, torch.full_like(paper, 0.1), paper).view(1, 1, h, w)


@pytest.mark.parametrize("h, w", [(37, 53), (64, 64), (130, 257), (1, 1)])
def test_any_page_size_comes_back_the_same_size(h: int, w: int) -> None:
    model = build_model("doc-unet", SMALL, (1, 64, 64)).eval()
    with torch.no_grad():
        model.out.weight.normal_(0, 0.1)  # a non-zero residual, so padding would show
        out = model.reconstruct(page_like(h, w).repeat(2, 1, 1, 1))
    assert out.shape == (2, 1, h, w) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_colour_pages_are_cleaned_channel_by_channel_at_first() -> None:
    model = build_model("doc-unet", SMALL, (3, 64, 64)).eval()
    page = torch.cat([page_like(40, 50, seed) for seed in range(3)], dim=1)
    with torch.no_grad():
        colour = model.reconstruct(page)
        grey = build_model("doc-unet", SMALL, (1, 64, 64)).eval().reconstruct(page[:, 1:2])
    assert colour.shape == page.shape and torch.allclose(colour[:, 1:2], grey, atol=1e-6)


def test_crop_back_is_local_no_wraparound() -> None:
    """A page cleaned alone equals the same page cleaned as the top-left corner of a larger one,
    away from the border the padding touches (the U-Net's field of view)."""
    torch.manual_seed(0)
    model = build_model("doc-unet", SMALL, (1, 64, 64)).eval()
    with torch.no_grad():
        model.out.weight.normal_(0, 0.1)
        big = page_like(120, 120)
        small = big[..., :75, :75]
        a, b = model.reconstruct(small), model.reconstruct(big)[..., :75, :75]
    assert torch.allclose(a[..., :30, :30], b[..., :30, :30], atol=1e-5)


def test_untrained_model_is_exactly_background_division() -> None:
    model = build_model("doc-unet", {"background": 7}, (1, 64, 64)).eval()
    page = page_like(45, 70)
    expected_bg = ndimage.grey_closing(page[0, 0].numpy(), size=(7, 7), mode="nearest")
    assert np.allclose(closing(page, 7)[0, 0].numpy(), expected_bg)
    expected = np.clip(page[0, 0].numpy() / np.maximum(expected_bg, 1 / 255), 0, 1)
    with torch.no_grad():
        out = model.reconstruct(page)
    assert np.allclose(out[0, 0].numpy(), expected, atol=1e-6)
    assert float((out - page).abs().max()) > 0.1  # not the identity: the stain is divided out


def test_bf16_autocast_is_close_to_float32() -> None:
    torch.manual_seed(0)
    model = build_model("doc-unet", SMALL, (1, 64, 64)).eval()
    with torch.no_grad():
        model.out.weight.normal_(0, 0.1)
        page = page_like(64, 96)
        full = model.reconstruct(page)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model.reconstruct(page)
    assert half.dtype == torch.float32
    assert float((full - half).abs().mean()) < 5e-3 and float((full - half).abs().max()) < 0.05


def test_loss_pulls_back_pixels_clamped_on_the_wrong_side() -> None:
    """The loss is the clamped page's MSE, yet a prediction stuck below 0 for a grey target still
    gets a gradient (a plain clamp would give none and never recover)."""
    model = build_model("doc-unet", SMALL, (1, 64, 64))
    with torch.no_grad():
        model.out.bias.fill_(-3.0)  # every raw output below 0
    page = page_like(32, 32)
    terms = model.loss(page, target=torch.full_like(page, 0.5))
    assert torch.isclose(terms["loss"], torch.tensor(0.25)) and torch.isclose(
        terms["mse"], torch.tensor(0.25)
    )
    terms["loss"].backward()
    assert float(model.out.bias.grad) < 0  # gradient descent raises the bias


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="odd window"):
        build_model("doc-unet", {"background": 6}, (1, 64, 64))
    with pytest.raises(ConfigError, match="unknown option"):
        build_model("doc-unet", {"filters": 3}, (1, 64, 64))


def real_documents() -> Path:
    for root in (os.environ.get("AEKIT_DATA"), Path(__file__).parents[3] / "shared" / "data"):
        if root and (Path(root) / "documents" / "train_cleaned").is_dir():
            return Path(root) / "documents"
    pytest.skip("the real documents are not here")


@pytest.mark.real_data
def test_a_few_steps_beat_background_division_on_real_pages() -> None:
    """Training starts at background division (the strongest classical baseline the model holds);
    60 small steps on real patches must already lower the MSE on held-out pages' patches."""
    from aekit.data.documents import load_pages

    root = real_documents()
    train, test = load_pages(root, "train"), load_pages(root, "test")
    torch.manual_seed(0)
    model = build_model("doc-unet", SMALL, (1, 64, 64))
    val_x, val_y = test.random_patches(32, 64, torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = float(model.loss(val_x, val_y)["mse"])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        x, y = train.random_patches(8, 64, g)
        loss = model.loss(x, y)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(model.loss(val_x, val_y)["mse"])
    assert after < 0.8 * before, (before, after)


def test_onnx_export_cleans_pages_of_any_size(tmp_path: Path) -> None:
    """Encoder (background estimate) and decoder (U-Net) export as graphs of any page size."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from aekit.export import export_model

    torch.manual_seed(0)
    model = build_model("doc-unet", SMALL, (1, 64, 64)).eval()
    with torch.no_grad():
        model.out.weight.normal_(0, 0.1)
    export_model(model, tmp_path)
    page = page_like(75, 101)
    z = ort.InferenceSession(str(tmp_path / "encoder.onnx")).run(None, {"image": page.numpy()})[0]
    out = ort.InferenceSession(str(tmp_path / "decoder.onnx")).run(None, {"z": z})[0]
    with torch.no_grad():
        expected = model.reconstruct(page)
    assert out.shape == (1, 1, 75, 101) and np.abs(out - expected.numpy()).max() < 1e-5


def test_depth_zero_is_a_valid_doc_unet_and_negative_sizes_are_refused() -> None:
    model = build_model("doc-unet", {"depth": 0, "width": 4, "blocks": 1}, (1, 9, 11))
    assert model.reconstruct(torch.rand(2, 1, 9, 11)).shape == (2, 1, 9, 11)
    with pytest.raises(ConfigError, match="'depth' must be at least 0"):
        build_model("doc-unet", {"depth": -1}, (1, 64, 64))
    with pytest.raises(ConfigError, match="'width' must be at least 1"):
        build_model("doc-unet", {"width": 0}, (1, 64, 64))
