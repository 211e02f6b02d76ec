"""The autoregressive decoder: each logit sees only earlier pixels, the likelihood is normalised,
and the raster-order sampler agrees with the parallel likelihood."""

from __future__ import annotations

import itertools

import pytest
import torch

from aekit.errors import ConfigError
from aekit.models import build_model

TINY = {"channels": (4, 8), "hidden": 8, "latent_dim": 2, "pixel_channels": 6, "pixel_kernel": 3}


def test_each_logit_depends_only_on_earlier_pixels():
    torch.manual_seed(0)
    model = build_model("pixel-vae", {**TINY, "pixel_kernel": 5}, (1, 8, 8)).double()
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    z = torch.randn(1, 2, dtype=torch.float64)
    logits = model.logits(x, z).flatten()
    for a in (0, 9, 27, 63):
        (grad,) = torch.autograd.grad(logits[a], x, retain_graph=True)
        seen = grad.flatten().nonzero().flatten()
        assert (seen < a).all(), f"pixel {a} sees pixels {seen.tolist()}"
    (grad,) = torch.autograd.grad(logits[27], x)
    assert grad.flatten()[26] != 0 and grad.flatten()[27 - 8] != 0  # left and above are seen


def test_likelihood_sums_to_one_over_all_binary_images():
    torch.manual_seed(0)
    model = build_model("pixel-vae", TINY, (1, 4, 4)).double()
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=16)), dtype=torch.float64).view(
        -1, 1, 4, 4
    )
    z = torch.randn(1, 2, dtype=torch.float64).expand(len(images), 2)
    with torch.no_grad():
        total = torch.logsumexp(model.log_likelihood(images, z), 0).exp()
    assert total.item() == pytest.approx(1.0, abs=1e-9)


def test_sampler_probabilities_are_the_likelihoods_conditionals():
    torch.manual_seed(0)
    model = build_model("pixel-vae", TINY, (1, 8, 8))
    z = torch.randn(3, 2)
    probs, drawn = model.draw(z, torch.Generator().manual_seed(5))
    assert set(drawn.unique().tolist()) <= {0.0, 1.0}
    with torch.no_grad():
        torch.testing.assert_close(model.logits(drawn, z).sigmoid(), probs, atol=1e-6, rtol=1e-5)
    again, _ = model.draw(z, torch.Generator().manual_seed(5))
    torch.testing.assert_close(again, probs)


def test_only_the_bernoulli_likelihood():
    with pytest.raises(ConfigError, match="Bernoulli"):
        build_model("pixel-vae", {"likelihood": "gaussian"}, (1, 8, 8))
    with pytest.raises(ConfigError, match="odd"):
        build_model("pixel-vae", {"pixel_kernel": 4}, (1, 8, 8))


def test_likelihood_for_many_draws_shares_the_window_and_agrees():
    torch.manual_seed(0)
    model = build_model("pixel-vae", TINY, (1, 8, 8)).double()
    x = torch.bernoulli(torch.rand(3, 1, 8, 8, dtype=torch.float64))
    z = torch.randn(4, 3, 2, dtype=torch.float64)
    with torch.no_grad():
        shared = model.log_likelihood_k(x, z)
        one_by_one = torch.stack([model.log_likelihood(x, zi) for zi in z])
    torch.testing.assert_close(shared, one_by_one)


def test_sampling_under_bf16_autocast_runs_in_float32():
    torch.manual_seed(0)
    model = build_model("pixel-vae", TINY, (1, 8, 8))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        images = model.reconstruct(torch.rand(2, 1, 8, 8))
    assert images.dtype == torch.float32 and images.shape == (2, 1, 8, 8)
