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

from aekit import page_plots, plot_layout, plots
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
        return (
            z
            if condition is None
            else torch.cat([z, F.one_hot(condition, self.num_classes).float()], 1)
        )

    def posterior(self, x, condition=None):
        return self.enc(F.relu(self.conv(x)).flatten(1)).chunk(2, dim=1)

    def encode(self, x, condition=None):
        return self.posterior(x, condition)[0]

    def logits(self, z, condition=None):
        return self.dec(self._cond(z, condition)).view(-1, 1, 8, 8)

    def decode(self, z, condition=None):
        return torch.sigmoid(self.logits(z, condition))

    def log_likelihood(self, x, z, condition=None):
        return (
            -F.binary_cross_entropy_with_logits(self.logits(z, condition), x, reduction="none")
            .flatten(1)
            .sum(1)
        )

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
        lambda m, x, y, p: plots.plot_denoising(
            m, x, (x + 0.2).clamp(0, 1), p, labels=y, class_names=NAMES, noise_spec="gaussian:0.2"
        ),
        lambda m, x, y, p: plots.plot_manifold(m, p, grid=6),
        lambda m, x, y, p: plots.plot_traversal(m, x, p, dims=2, steps=5),
        lambda m, x, y, p: plots.plot_latent_scatter(
            m.encode(x).detach(), p, labels=y, class_names=NAMES
        ),
        lambda m, x, y, p: plots.plot_latent_scatter(
            torch.randn(40, 5), p, labels=y, class_names=NAMES, method="tsne"
        ),
        lambda m, x, y, p: plots.plot_interpolations(m, x, p, pairs=2, steps=5),
        lambda m, x, y, p: plots.plot_samples(m, p, n=16),
        lambda m, x, y, p: plots.plot_class_samples(
            m, m.encode(x).detach(), y, p, class_names=NAMES, per_class=4
        ),
        lambda m, x, y, p: plots.plot_feature_maps(m, x[0], p),
    ],
    ids=[
        "reconstructions",
        "denoising",
        "manifold",
        "traversal",
        "scatter-2d",
        "scatter-tsne",
        "interpolations",
        "samples",
        "class-samples",
        "feature-maps",
    ],
)
def test_each_picture_is_a_valid_png(tmp_path, draw):
    images, labels = _images()
    path = draw(TinyConvVAE(), images, labels, tmp_path / "picture.png")
    _check_png(path)


def test_conditional_samples_per_class(tmp_path):
    model = TinyConvVAE(conditional_labels=3)
    _check_png(
        plots.plot_conditional_samples(
            model, torch.arange(3), tmp_path / "c.png", row_names=NAMES, per_condition=4
        )
    )


def test_document_pages_and_training_curves(tmp_path):
    class Brighten(nn.Module):
        name = "brighten"
        size_multiple = 1

        def reconstruct(self, x, condition=None):
            return (x * 1.5).clamp(0, 1)

    pages = [torch.rand(1, 30, 40, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    _check_png(
        page_plots.plot_document_pages(
            Brighten(), pages, tmp_path / "d.png", clean_pages=pages, names=["a", "b"]
        )
    )
    history = [
        {
            "epoch": e,
            "train": {"loss": 1 / e, "kl": 0.1 * e},
            "val": {"loss": 1.2 / e},
            "seconds": 1.0,
        }
        for e in range(1, 5)
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    _check_png(plots.plot_training_curves(tmp_path / "metrics.jsonl", tmp_path / "curves.png"))


def test_pictures_of_a_model_with_spatial_codes(tmp_path):
    """Conv autoencoders may encode to feature maps; traversal, interpolation and class samples
    still work."""

    class Spatial(TinyConvVAE):
        def encode(self, x, condition=None):
            return F.avg_pool2d(x, 2)

        def decode(self, z, condition=None):
            return F.interpolate(z, scale_factor=2)

    model, (images, labels) = Spatial(), _images()
    _check_png(plots.plot_traversal(model, images, tmp_path / "t.png", dims=3, steps=5))
    _check_png(plots.plot_interpolations(model, images, tmp_path / "i.png", pairs=2, steps=4))
    _check_png(
        plots.plot_class_samples(
            model, model.encode(images), labels, tmp_path / "c.png", per_class=3
        )
    )
    _check_png(
        plots.plot_latent_scatter(
            model.encode(images), tmp_path / "s.png", labels=labels, method="pca"
        )
    )


def _colour_tiles(
    path: Path, rgb: tuple[int, int, int], min_pixels: int = 100
) -> list[tuple[float, float]]:
    """Centres (row, column) of the solid regions of exactly colour ``rgb`` in a PNG (text and lines
    are smaller)."""
    from scipy import ndimage

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    # drop 1-px frames
    mask = ndimage.binary_opening(np.abs(pixels - np.array(rgb)).max(-1) <= 2, iterations=2)
    regions, count = ndimage.label(mask)
    sizes = ndimage.sum(mask, regions, range(1, count + 1))
    keep = [i + 1 for i, size in enumerate(sizes) if size >= min_pixels]
    return [tuple(c) for c in ndimage.center_of_mass(mask, regions, keep)]


class Paint(nn.Module):
    """Reconstructs every image as one solid colour: the picture must show inputs above outputs."""

    name = "paint"

    def __init__(self, rgb: tuple[float, float, float]):
        super().__init__()
        self.rgb = torch.tensor(rgb).view(1, 3, 1, 1)

    def reconstruct(self, x, condition=None):
        return self.rgb.expand(len(x), 3, *x.shape[2:]).clone()


def test_reconstructions_show_each_input_above_its_reconstruction_in_their_colours(tmp_path):
    red = torch.zeros(6, 3, 8, 8)
    red[:, 0] = 1.0
    path = plots.plot_reconstructions(Paint((0.0, 0.0, 1.0)), red, tmp_path / "r.png", n=5)
    inputs, outputs = _colour_tiles(path, (255, 0, 0)), _colour_tiles(path, (0, 0, 255))
    assert len(inputs) == 5 and len(outputs) == 5  # n=5 of the 6 images, each once per row
    assert max(r for r, _ in inputs) < min(r for r, _ in outputs)  # inputs in the top row
    # one column per image
    assert sorted(c for _, c in inputs) == pytest.approx(sorted(c for _, c in outputs), abs=3)


def test_samples_are_tiled_in_a_square_grid_with_gutters(tmp_path):
    class Black(TinyConvVAE):
        def sample(self, n, condition=None, generator=None):
            return torch.zeros(n, 1, 8, 8)

    path = plots.plot_samples(Black(), tmp_path / "s.png", n=16)
    centres = _colour_tiles(path, (0, 0, 0), min_pixels=400)
    assert len(centres) == 16  # separate tiles: the white gutters between them were drawn
    rows = sorted({round(r / 10) for r, _ in centres})
    columns = sorted({round(c / 10) for _, c in centres})
    assert len(rows) == 4 and len(columns) == 4


def test_grid_image_places_each_image_and_leaves_white_gutters():
    images = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 1, 2, 3) / 10
    grid = plot_layout.grid_image(images, columns=3, pad=1)
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2)
    for i in range(5):
        r, c = divmod(i, 3)
        assert np.all(grid[3 * r : 3 * r + 2, 4 * c : 4 * c + 3] == pytest.approx(i / 10))
    # gutters
    assert np.all(grid[2, :] == 1.0) and np.all(grid[:, 3] == 1.0) and np.all(grid[:, 7] == 1.0)
    assert np.all(grid[3:, 8:] == 1.0)  # the sixth slot is empty


def test_manifold_is_ordered_along_the_first_latent_axis(tmp_path):
    class Ramp(TinyConvVAE):
        def decode(self, z, condition=None):
            return torch.sigmoid(3 * z[:, :1]).view(-1, 1, 1, 1).expand(len(z), 1, 8, 8)

    path = plots.plot_manifold(Ramp(), tmp_path / "m.png", grid=6)
    with Image.open(path) as image:
        grey = np.asarray(image.convert("L"), dtype=np.float64)
    dark = np.argwhere(grey < 250)  # the decoded grid and its axes, without the white margin
    top, left = dark.min(0)
    bottom, right = dark.max(0)
    middle = grey[(top + bottom) // 2, left:right]
    thirds = np.array_split(middle, 3)
    means = [third.mean() for third in thirds]
    # darker to brighter along z[0]
    assert means[0] + 20 < means[1] and means[1] + 20 < means[2], means


class FixedSprite(TinyConvVAE):
    """Decodes every code to one sprite: left half fully transparent, right half opaque red
    (RGBA) or opaque black (grey + alpha), colour premultiplied."""

    def __init__(self, channels: int):
        super().__init__()
        self.input_shape = (channels, 8, 8)
        self.conv = nn.Conv2d(channels, 4, 3, stride=2, padding=1)
        sprite = torch.zeros(channels, 8, 8)
        sprite[-1, :, 4:] = 1.0
        if channels == 4:
            sprite[0, :, 4:] = 1.0
        self.register_buffer("sprite", sprite)

    def decode(self, z, condition=None):
        return self.sprite.expand(len(z), -1, -1, -1)


def _colour_counts(path: Path) -> dict[str, int]:
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    grey = (abs(r - g) < 3) & (abs(g - b) < 3)
    return {
        "red": int(((r > 250) & (g < 5) & (b < 5)).sum()),
        "black": int((grey & (r < 5)).sum()),
        "dark checker": int((grey & (abs(r - 0.55 * 255) < 4)).sum()),
        "light checker": int((grey & (abs(r - 0.75 * 255) < 4)).sum()),
    }


@pytest.mark.parametrize("channels", [2, 4])
@pytest.mark.parametrize("draw", ["samples", "reconstructions"])
def test_alpha_is_shown_over_a_checkerboard_and_colour_stays_colour(tmp_path, channels, draw):
    model = FixedSprite(channels)
    if draw == "samples":
        path = plots.plot_samples(model, tmp_path / "s.png", n=16)
    else:
        path = plots.plot_reconstructions(
            model, model.decode(torch.zeros(4, 2)), tmp_path / "r.png", n=4
        )
    counts = _colour_counts(path)
    # the transparent half shows both checker greys; the opaque half its own colour
    assert counts["dark checker"] > 100 and counts["light checker"] > 100, counts
    if channels == 4:
        assert counts["red"] > 200, counts
    else:
        assert counts["black"] > 200 and counts["red"] == 0, counts


def test_composite_is_premultiplied_over():
    from aekit.alpha import checkerboard, composite

    image = torch.zeros(4, 8, 8)
    image[:, :, 4:] = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(4, 1, 1)  # opaque red
    image[:, 0, 0] = torch.tensor([0.25, 0.0, 0.0, 0.5])  # half-transparent red, premultiplied
    shown = composite(image)
    board = checkerboard(8, 8)
    assert shown.shape == (3, 8, 8)
    assert torch.equal(shown[:, 1:, :4], board[1:, :4].expand(3, -1, -1))  # transparent: the board
    assert board[1:, :4].unique().numel() == 2  # ... which is a pattern, not a flat grey
    assert torch.equal(shown[:, :, 4:], image[:3, :, 4:])  # opaque red stays red
    assert torch.allclose(shown[:, 0, 0], torch.tensor([0.25, 0, 0]) + 0.5 * board[0, 0])
    # grey + alpha
    grey = composite(torch.stack([torch.full((8, 8), 0.3), torch.full((8, 8), 0.3)]))
    assert grey.shape == (1, 8, 8) and torch.allclose(grey[0], 0.3 + 0.7 * board)


def test_prior_samples_picture_shows_both_grids(tmp_path):
    from aekit.models import build_model
    from aekit.plots import plot_prior_samples
    from aekit.priors import GMMPrior

    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 2, "hidden": [16]}, (1, 8, 8)).eval()
    codes, labels = torch.randn(200, 2) * 3, torch.arange(200) % 4
    prior = GMMPrior((2,), 4, components=2).fit(codes + labels.unsqueeze(1), labels)
    path = plot_prior_samples(
        model, prior, tmp_path / "priors.png", n=16, class_names=["a", "b", "c", "d"]
    )
    image = Image.open(path)
    assert image.width > image.height  # two grids side by side


def test_nearest_pairs_show_each_sample_above_its_training_image(tmp_path):
    g = torch.Generator().manual_seed(0)
    train = torch.rand(30, 4, 8, 8, generator=g)
    nearest = torch.randint(0, 30, (20,), generator=g)
    samples = train[nearest].clone()
    samples[:, 3, :4] = 0.0  # half transparent: over the checkerboard
    samples[:, :3, :4] = 0.0
    path = plots.plot_nearest_pairs(samples, train, nearest, tmp_path / "pairs.png")
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    assert image.shape[0] > 100 and image.shape[1] > 300 and image.std() > 10
    grey = torch.rand(3, 1, 8, 8, generator=g)
    assert (
        plots.plot_nearest_pairs(grey, grey, torch.arange(3), tmp_path / "grey.png").stat().st_size
        > 1000
    )
