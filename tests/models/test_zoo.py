"""Every model family: shapes, loss terms, gradients, sampling, and clear errors."""

from __future__ import annotations

import pytest
import torch

from aekit.errors import ConfigError
from aekit.models import MODELS, build_model, describe_models

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


def _options(name: str) -> dict:
    return {"condition_kind": "label"} if name == "cvae" else {}


def _condition(model, shape: tuple[int, int, int]) -> torch.Tensor | None:
    """What the model is conditioned on: labels, or footprints (a square mask with an entrance
    pixel)."""
    if model.condition_kind != "footprint":
        return torch.arange(5) if model.conditional else None
    footprint = torch.zeros(5, 2, *shape[1:], dtype=torch.uint8)
    footprint[:, 0, 2:-2, 2:-2] = 1
    footprint[:, 1, -3, shape[2] // 2] = 1
    return footprint


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_losses_and_gradients(name, shape):
    if MODELS[name].condition_kind == "footprint" and shape[0] != 3:
        pytest.skip("plan-vae draws palette-coloured plans (3 channels)")
    torch.manual_seed(0)
    model = build_model(name, _options(name), shape, num_classes=10)
    x = torch.rand(5, *shape)
    condition = _condition(model, shape)
    terms = model.loss(x, condition=condition)
    assert "loss" in terms and all(torch.isfinite(v) for v in terms.values())
    terms["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    with torch.no_grad():
        recon = model.reconstruct(x, condition)
        code = model.encode(x, condition)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    assert code.flatten(1).shape == (5, model.latent_dim)  # tutorial-docs keeps a spatial code
    if model.generative:
        samples = model.sample(5, condition, generator=torch.Generator().manual_seed(1))
        assert samples.shape == x.shape and 0 <= samples.min() and samples.max() <= 1


def test_denoising_target_is_used():
    model = build_model("conv", {}, (1, 8, 8))
    x = torch.rand(4, 1, 8, 8)
    assert model.loss(x)["loss"] != model.loss(x, target=torch.zeros_like(x))["loss"]


def test_cvae_generates_the_chosen_class_and_image_conditions():
    model = build_model("cvae", {"condition_kind": "label"}, (1, 28, 28), num_classes=10)
    labels = torch.full((6,), 3)
    assert model.sample(6, labels).shape == (6, 1, 28, 28)
    for kind in ("silhouette", "outline"):
        for arch in ("dense", "conv"):
            model = build_model("cvae", {"condition_kind": kind, "architecture": arch}, (1, 28, 28))
            from aekit.data.conditions import make_condition

            x = torch.rand(4, 1, 28, 28)
            cond = make_condition(kind, x, None)
            assert cond.shape == (4, 1, 28, 28)
            assert torch.isfinite(model.loss(x, condition=cond)["loss"])
            assert model.sample(4, cond).shape == (4, 1, 28, 28)
    with pytest.raises(ConfigError, match="conditions"):
        model.sample(3)


def test_condition_images():
    from aekit.data.conditions import outline, silhouette

    ring = torch.zeros(1, 1, 9, 9)
    ring[0, 0, 2:7, 2:7] = 1.0
    ring[0, 0, 3:6, 3:6] = 0.0  # a hollow square: the silhouette fills it
    filled = silhouette(ring)
    assert filled[0, 0, 2:7, 2:7].min() == 1 and filled.sum() == 25
    border = outline(ring)
    assert border.sum() == 16 and border[0, 0, 4, 4] == 0


@pytest.mark.parametrize(
    "name, options, shape, message",
    [
        ("no-such-model", {}, (1, 8, 8), "unknown model"),
        ("conv", {"latent": 3}, (1, 8, 8), "unknown option"),
        ("conv", {"latent_dim": "big"}, (1, 8, 8), "must be an integer"),
        ("conv", {"channels": [8, 16, 32, 64]}, (1, 28, 28), "does not fit"),
        ("tutorial-vae-conv", {}, (1, 27, 27), "does not fit"),
        ("vae", {"likelihood": "poisson"}, (1, 8, 8), "likelihood"),
        ("dense", {"reconstruction": "l1"}, (1, 8, 8), "reconstruction"),
        ("dense", {"activation": "swish"}, (1, 8, 8), "activation"),
        ("sparse", {"penalty": "l0"}, (1, 8, 8), "penalty"),
        ("conv-vae", {"hidden": [3]}, (1, 8, 8), "must be an integer"),
        ("cvae", {"condition_kind": "label"}, (1, 8, 8), "labelled dataset"),
        ("cvae", {"condition_kind": "colour"}, (1, 8, 8), "condition_kind"),
    ],
)
def test_bad_configs_are_one_line_errors(name, options, shape, message):
    with pytest.raises(ConfigError, match=message) as info:
        build_model(name, options, shape)
    assert "\n" not in str(info.value)


def test_describe_models_lists_every_model():
    text = describe_models()
    assert all(name in text for name in MODELS)


def test_sparse_reports_active_fraction_and_penalties():
    x = torch.rand(16, 1, 8, 8)
    for penalty in ("kl", "l1"):
        model = build_model("sparse", {"penalty": penalty, "latent_dim": 128}, (1, 8, 8))
        terms = model.loss(x)
        assert 0 <= terms["active_fraction"] <= 1 and terms["sparsity"] > 0
        assert terms["loss"] > terms["mse"]
