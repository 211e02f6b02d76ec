"""Model and likelihood chosen from the data when the user did not choose them."""

from __future__ import annotations

import torch

from aekit.models import build_model
from aekit.models.defaults import choose, resolve


def _ink(n: int = 50, size: int = 28) -> torch.Tensor:
    """Handwriting-like: mostly paper (0) with strokes near 1 and a little anti-aliasing."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(n, 1, size, size)
    x[:, :, 8:20, 12:15] = 1.0
    x[:, :, 8:20, 15] = torch.randint(0, 256, (n, 1, 12), generator=g) / 255
    return x


def _eight_bit(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(1)) / 255


def test_handwriting_gets_a_binarised_bernoulli_conv_vae():
    name, options, why = choose(_ink(), (1, 28, 28))
    assert (name, options) == ("conv-vae", {"likelihood": "bernoulli", "binarize": True})
    assert "Bernoulli" in why and "conv-vae" in why


def test_grey_photographs_colour_and_alpha_get_the_discretised_logistic():
    assert choose(_eight_bit((20, 1, 28, 28)), (1, 28, 28))[:2] == (
        "conv-vae",
        {"likelihood": "logistic"},
    )
    # small colour images take the code map + transformer path (tests/test_transformer_prior.py)
    for shape in [
        (1000, 3, 36, 36),
        (1000, 4, 60, 60),
        (1000, 2, 16, 16),
        (1000, 1, 64, 64),
        (1000, 1, 30, 30),
    ]:
        name, options, why = choose(_eight_bit(shape), shape[1:])
        assert (name, options) == (
            "res-vae",
            {"likelihood": "logistic-image", "linear_path": True},
        ), shape
        assert "res-vae" in why and "logistic" in why and "scale per image" in why and "PCA" in why
    # the linear path's layers grow with the pixels: none past 64 x 64 x 4 values; and PCA needs
    # more images than code values: none for a small folder (50 images would not start training)
    assert choose(_eight_bit((1000, 3, 128, 128)), (3, 128, 128))[1] == {
        "likelihood": "logistic-image"
    }
    assert choose(_eight_bit((50, 3, 36, 36)), (3, 36, 36))[1] == {"likelihood": "logistic-image"}


def test_values_off_the_8bit_grid_get_a_gaussian_density():
    x = torch.rand(1000, 3, 18, 18, generator=torch.Generator().manual_seed(2))
    _, options, why = choose(x, (3, 18, 18))
    assert options == {"likelihood": "gaussian-channel", "linear_path": True} and "density" in why


def test_resolve_fills_only_what_was_not_set():
    sprites = _eight_bit((1000, 4, 16, 16))
    big = _eight_bit((1000, 4, 18, 18))  # sides the code map's stages do not divide: res-vae
    name, options, why = resolve(None, {"latent_dim": 8, "likelihood": "auto"}, big, (4, 18, 18))
    assert (name, options) == (
        "res-vae",
        {"likelihood": "logistic-image", "linear_path": True, "latent_dim": 8},
    ) and why
    assert build_model(name, options, (4, 18, 18)).likelihood == "logistic-image"
    name, options, why = resolve(None, {"codebook_size": 32}, sprites, (4, 16, 16))
    assert (
        name == "vq-vae"
        and options["codebook_size"] == 32
        and options["fitted_prior"] == "transformer"
    )
    assert resolve("conv-vae", {}, sprites, (4, 16, 16))[1] == {"likelihood": "logistic"}
    assert resolve("conv-vae", {"likelihood": "auto"}, _ink(), (1, 28, 28))[1] == {
        "likelihood": "bernoulli",
        "binarize": True,
    }
    assert resolve("conv-vae", {"likelihood": "gaussian"}, sprites, (4, 16, 16)) == (
        "conv-vae",
        {"likelihood": "gaussian"},
        None,
    )
    # no likelihood to choose
    assert resolve("conv", {}, sprites, (4, 16, 16)) == ("conv", {}, None)
    # its only one
    assert resolve("pixel-vae", {}, sprites, (4, 16, 16))[1] == {"likelihood": "bernoulli"}
