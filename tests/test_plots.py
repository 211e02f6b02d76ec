"""Each picture function writes a valid, non-blank PNG (drawn with a tiny stand-in conv VAE)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from aekit import plots
from aekit.models.base import Autoencoder


@dataclass
class TinyConfig:
    latent_dim: int = 2


class TinyConvVAE(Autoencoder):
    """A 1-channel 8x8 conv VAE with just the interface plots and metrics rely on."""

    name = "tiny-vae"
    Config = TinyConfig
    generative = True
    likelihood = "bernoulli"

    def __init__(self, latent_dim: int = 2, conditional_labels: int | None = None):
        super().__init__(TinyConfig(latent_dim), (1, 8, 8), conditional_labels)
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.enc = nn.Linear(4 * 16, 2 * latent_dim)
        self.dec = nn.Linear(latent_dim + (conditional_labels or 0), 64)

    def _cond(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        return z if condition is None else torch.cat([z, F.one_hot(condition, self.num_classes).float()], 1)

    def posterior(self, x, condition=None):
        return self.enc(F.relu(self.conv(x)).flatten(1)).chunk(2, dim=1)

    def encode(self, x, condition=None):
        return self.posterior(x, condition)[0]

    def logits(self, z, condition=None):
        return self.dec(self._cond(z, condition)).view(-1, 1, 8, 8)

    def decode(self, z, condition=None):
        return torch.sigmoid(self.logits(z, condition))

    def log_likelihood(self, x, z, condition=None):
        return -F.binary_cross_entropy_with_logits(self.logits(z, condition), x, reduction="none").flatten(1).sum(1)

    def sample(self, n, condition=None, generator=None):
        return self.decode(torch.randn(n, self.latent_dim, generator=generator), condition)


def _images(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    images = torch.rand(n, 1, 8, 8, generator=gen) * 0.3
    for k in range(3):
        images[labels == k, :, 2 * k : 2 * k + 3, :] += 0.6
    return images.clamp(0, 1), labels


def _check_png(path: Path) -> None:
    assert path.is_file()
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert pixels.std() > 5  # not a blank canvas


NAMES = ["zero", "one", "two"]


@pytest.mark.parametrize(
    "draw",
    [
        lambda m, x, y, p: plots.plot_reconstructions(m, x, p, labels=y, class_names=NAMES),
        lambda m, x, y, p: plots.plot_denoising(m, x, (x + 0.2).clamp(0, 1), p, labels=y, class_names=NAMES, noise_spec="gaussian:0.2"),
        lambda m, x, y, p: plots.plot_manifold(m, p, grid=6),
        lambda m, x, y, p: plots.plot_traversal(m, x, p, dims=2, steps=5),
        lambda m, x, y, p: plots.plot_latent_scatter(m.encode(x).detach(), p, labels=y, class_names=NAMES),
        lambda m, x, y, p: plots.plot_latent_scatter(torch.randn(40, 5), p, labels=y, class_names=NAMES, method="tsne"),
        lambda m, x, y, p: plots.plot_interpolations(m, x, p, pairs=2, steps=5),
        lambda m, x, y, p: plots.plot_samples(m, p, n=16),
        lambda m, x, y, p: plots.plot_class_samples(m, m.encode(x).detach(), y, p, class_names=NAMES, per_class=4),
        lambda m, x, y, p: plots.plot_feature_maps(m, x[0], p),
    ],
    ids=["reconstructions", "denoising", "manifold", "traversal", "scatter-2d", "scatter-tsne", "interpolations",
         "samples", "class-samples", "feature-maps"],
)
def test_each_picture_is_a_valid_png(tmp_path, draw):
    images, labels = _images()
    path = draw(TinyConvVAE(), images, labels, tmp_path / "picture.png")
    _check_png(path)


def test_conditional_samples_per_class(tmp_path):
    model = TinyConvVAE(conditional_labels=3)
    _check_png(plots.plot_conditional_samples(model, torch.arange(3), tmp_path / "c.png", row_names=NAMES, per_condition=4))


def test_document_pages_and_training_curves(tmp_path):
    class Brighten(nn.Module):
        name = "brighten"

        def reconstruct(self, x, condition=None):
            return (x * 1.5).clamp(0, 1)

    pages = [torch.rand(1, 30, 40, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    _check_png(plots.plot_document_pages(Brighten(), pages, tmp_path / "d.png", clean_pages=pages, names=["a", "b"]))
    history = [{"epoch": e, "train": {"loss": 1 / e, "kl": 0.1 * e}, "val": {"loss": 1.2 / e}, "seconds": 1.0} for e in range(1, 5)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    _check_png(plots.plot_training_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png"))


def test_pictures_of_a_model_with_spatial_codes(tmp_path):
    """Conv autoencoders may encode to feature maps; traversal, interpolation and class samples still work."""

    class Spatial(TinyConvVAE):
        def encode(self, x, condition=None):
            return F.avg_pool2d(x, 2)

        def decode(self, z, condition=None):
            return F.interpolate(z, scale_factor=2)

    model, (images, labels) = Spatial(), _images()
    _check_png(plots.plot_traversal(model, images, tmp_path / "t.png", dims=3, steps=5))
    _check_png(plots.plot_interpolations(model, images, tmp_path / "i.png", pairs=2, steps=4))
    _check_png(plots.plot_class_samples(model, model.encode(images), labels, tmp_path / "c.png", per_class=3))
    _check_png(plots.plot_latent_scatter(model.encode(images), tmp_path / "s.png", labels=labels, method="pca"))


def test_prior_samples_picture_shows_both_grids(tmp_path):
    from aekit.models import build_model
    from aekit.plots import plot_prior_samples
    from aekit.priors import GMMPrior

    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 2, "hidden": [16]}, (1, 8, 8)).eval()
    codes, labels = torch.randn(200, 2) * 3, torch.arange(200) % 4
    prior = GMMPrior((2,), 4, components=2).fit(codes + labels.unsqueeze(1), labels)
    path = plot_prior_samples(model, prior, tmp_path / "priors.png", n=16, class_names=["a", "b", "c", "d"])
    image = Image.open(path)
    assert image.width > image.height  # two grids side by side
