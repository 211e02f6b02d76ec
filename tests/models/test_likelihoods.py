"""The colour likelihoods: the discretised logistic is a normalised distribution over the 256
values of 8-bit data and equals a brute-force float64 reference; every VAE takes every
likelihood."""

from __future__ import annotations

import math

import pytest
import torch

from aekit.errors import ConfigError
from aekit.models import build_model
from aekit.models.likelihoods import LIKELIHOODS, discretised_logistic_log_prob, make_likelihood

VALUES = torch.arange(256, dtype=torch.float64) / 255


def _reference(k: torch.Tensor, location: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """P(value k) by the definition, in float64: the logistic CDF at the bin's edges, the edge bins
    open."""

    def cdf(t: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((t - location) / log_scale.exp())

    upper = torch.where(k == 255, torch.ones_like(location), cdf((k + 0.5) / 255))
    lower = torch.where(k == 0, torch.zeros_like(location), cdf((k - 0.5) / 255))
    return upper - lower


@pytest.mark.parametrize("seed", range(3))
def test_discretised_logistic_sums_to_one_over_the_256_values(seed):
    g = torch.Generator().manual_seed(seed)
    location = torch.rand(200, generator=g, dtype=torch.float64) * 1.6 - 0.3  # also outside [0, 1]
    log_scale = torch.rand(200, generator=g, dtype=torch.float64) * 9 - 7  # scale 1e-3 .. 7
    # 256 x 200
    log_p = discretised_logistic_log_prob(VALUES[:, None], location[None], log_scale[None])
    assert torch.allclose(
        torch.logsumexp(log_p, 0).exp(), torch.ones(200, dtype=torch.float64), atol=1e-9
    )
    # and in float32, the precision training uses
    log_p32 = discretised_logistic_log_prob(
        VALUES[:, None].float(), location[None].float(), log_scale[None].float()
    )
    assert torch.allclose(torch.logsumexp(log_p32, 0).exp(), torch.ones(200), atol=1e-4)


def test_discretised_logistic_matches_brute_force_reference():
    g = torch.Generator().manual_seed(7)
    k = torch.randint(0, 256, (5000,), generator=g).double()
    k[:20], k[20:40] = 0, 255  # the open edge bins
    location = torch.rand(5000, generator=g, dtype=torch.float64) * 1.4 - 0.2
    log_scale = torch.rand(5000, generator=g, dtype=torch.float64) * 5 - 5  # scale 7e-3 .. 1
    reference = _reference(k, location, log_scale)
    ours = discretised_logistic_log_prob(k / 255, location, log_scale).exp()
    assert torch.allclose(ours, reference, rtol=1e-9, atol=1e-12)
    # a wrong bin width or closed edge bins would be far off: not an identity check
    assert (reference[:40] > 0.01).any()


def test_sharp_logistic_stays_finite_where_the_naive_difference_cancels():
    """A scale far below a bin: sigmoid(a) - sigmoid(b) is 1 - 1 in float32 a few bins away,
    but the log probability is still a finite, correct number."""
    x = torch.tensor([0.5, 0.5 + 3 / 255])
    location = torch.full((2,), 0.5)
    log_scale = torch.full((2,), math.log(1e-3))
    log_p = discretised_logistic_log_prob(x, location, log_scale)
    assert torch.isfinite(log_p).all()
    reference = _reference(x.double() * 255, location.double(), log_scale.double()).log()
    assert torch.allclose(log_p.double(), reference, rtol=1e-4)


@pytest.mark.parametrize("model_name", ["vae", "conv-vae", "res-vae"])
@pytest.mark.parametrize("likelihood", sorted(LIKELIHOODS))
def test_every_vae_takes_every_likelihood(model_name, likelihood):
    torch.manual_seed(0)
    if make_likelihood(likelihood, 4, "").scale_per_image and model_name != "res-vae":
        with pytest.raises(ConfigError, match="predicts a scale per image"):
            build_model(model_name, {"likelihood": likelihood}, (4, 16, 16))
        return
    model = build_model(model_name, {"likelihood": likelihood}, (4, 16, 16))
    x = (torch.rand(3, 4, 16, 16) * 255).round() / 255
    terms = model.loss(x)
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"])
    assert model.reconstruct(x).shape == x.shape
    if make_likelihood(likelihood, 4, "").scale_shape() is not None:
        assert model.log_sigma.grad is not None and model.log_sigma.grad.abs().sum() > 0
    if likelihood == "logistic-image":  # one scale per image and channel, predicted from the code
        assert model.to_log_scale.weight.grad.abs().sum() > 0
        scale = model.decoder_params(model.encode(x))[:, 4:]
        assert scale.shape == x.shape and (scale == scale[..., :1, :1]).all()


def test_logistic_vae_nats_are_a_probability_of_the_8bit_image():
    """Varying one pixel over its 256 values: the model's log p(x|z) changes by exactly that
    pixel's brute-force log-probability (decoder's location and per-pixel scale, in that order),
    and marginalising the pixel out gives log p(x|z) - log P(pixel)."""
    torch.manual_seed(0)
    model = build_model("res-vae", {"likelihood": "logistic-pixel"}, (1, 8, 8))
    x = (torch.rand(1, 1, 8, 8) * 255).round() / 255
    z = torch.randn(1, model.latent_dim)
    images = x.repeat(256, 1, 1, 1)
    images[:, 0, 3, 4] = VALUES.float()
    with torch.no_grad():
        location, log_scale = (t[0, 0, 3, 4].double() for t in model.decoder_params(z).chunk(2, 1))
        log_p = model.log_likelihood(images, z.expand(256, -1)).double()
        own = model.log_likelihood(x, z).double()
    pixel = _reference(torch.round(x[0, 0, 3, 4].double() * 255), location, log_scale).log()
    assert torch.allclose(torch.logsumexp(log_p, 0), own - pixel, rtol=1e-5)
    assert torch.allclose(
        log_p - log_p[0],
        (
            _reference(VALUES * 255, location, log_scale)
            / _reference(torch.tensor(0.0, dtype=torch.float64), location, log_scale)
        ).log(),
        rtol=1e-4,
        atol=1e-3,
    )


def test_unknown_likelihood_and_auto_without_data():
    with pytest.raises(ConfigError, match="likelihood"):
        build_model("res-vae", {"likelihood": "poisson"}, (3, 16, 16))
    # "auto" with no data to look at
    assert build_model("conv-vae", {}, (1, 8, 8)).likelihood == "bernoulli"


def test_per_channel_scales_are_learned_per_channel():
    model = build_model("conv-vae", {"likelihood": "gaussian-channel"}, (4, 8, 8))
    assert model.log_sigma.shape == (4, 1, 1)
    x = torch.rand(6, 4, 8, 8)
    x[:, 3] = 1.0  # a constant alpha channel
    model.loss(x)["loss"].backward()
    assert model.log_sigma.grad.flatten().unique().numel() == 4
