"""Decoder likelihoods p(x|z) every VAE can use: what the decoder's output maps mean, and the
exact log-probability (nats per image) of an image under them.

Which numbers compare with which:

* ``logistic`` and ``logistic-pixel`` (the discretised logistic of PixelCNN++) give each 8-bit
  value a probability: 256 bins of width 1/255 centred on k/255, the two edge bins open to
  -inf and +inf, so the 256 probabilities of a pixel sum to 1. Their nats are a true negative
  log-likelihood of 8-bit images, comparable across models and with the literature (divide by
  ``pixels * ln 2`` for bits per dimension).
* ``gaussian`` (one learned or fixed sigma) and ``gaussian-channel`` (a learned sigma per
  channel) are densities of continuous values: their "nats" can go below zero and are NOT
  comparable with the discrete likelihoods (a density is not a probability).
* ``bernoulli`` is a probability of binary images: exact on binarised data (the VAE binarises
  its targets, and the evaluator its test images), and only there.

``auto`` is the "not set" value: the trainer resolves it from the data with
``aekit.models.defaults`` before building the model; a model built without data (direct calls,
runs written before ``auto`` existed) takes ``bernoulli``, the default it replaced.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from aekit.errors import ConfigError

LOG_2PI = math.log(2 * math.pi)
BINS = 256
HALF_BIN = 0.5 / (BINS - 1)  # images are k / 255: bin k is [k - 0.5, k + 0.5] / 255
MIN_LOG_SCALE = -7.0  # a logistic narrower than ~1/1000 of the range would only chase rounding
AUTO = "auto"
WITHOUT_DATA = "bernoulli"  # what "auto" means when no data is there to choose from


class Likelihood:
    """How a VAE turns its decoder's output maps (``params``) into p(x|z).

    ``maps_per_channel`` decoder maps per image channel (2 when the scale is predicted per
    pixel); ``scale_shape`` the shape of the learned log-scale parameter the VAE owns (None:
    no learned scale); ``discrete`` whether ``log_prob`` is a probability of 8-bit values."""

    name: ClassVar[str] = ""
    discrete: ClassVar[bool] = False
    maps_per_channel: ClassVar[int] = 1
    # The scale is one per image and channel, predicted from the code by the model (not by the
    # decoder's maps): ``params`` still carries it as maps, one value repeated over each.
    scale_per_image: ClassVar[bool] = False

    def __init__(self, channels: int):
        self.channels = channels

    def scale_shape(self) -> tuple[int, ...] | None:
        return None

    def log_prob(
        self, params: torch.Tensor, x: torch.Tensor, log_scale: torch.Tensor | None
    ) -> torch.Tensor:
        """log p(x|params) summed over pixels and channels, per image (``B``), in nats."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The image the decoder stands for (in [0, 1]): what ``decode`` returns."""
        raise NotImplementedError

    def log_scale_for_std(self, std: torch.Tensor) -> torch.Tensor:
        """The log-scale whose distribution has standard deviation ``std`` (to start a learned
        scale at a known error, e.g. PCA's)."""
        raise NotImplementedError(f"likelihood {self.name!r} has no scale")


class Bernoulli(Likelihood):
    name = "bernoulli"
    discrete = True  # of binary images

    def log_prob(self, params, x, log_scale):
        return -F.binary_cross_entropy_with_logits(params, x, reduction="none").flatten(1).sum(1)

    def mean(self, params):
        return params.sigmoid()


class Gaussian(Likelihood):
    """N(x; mean, sigma^2) per value with one sigma for the whole image (learned or fixed)."""

    name = "gaussian"

    def scale_shape(self):
        return ()

    def log_prob(self, params, x, log_scale):
        return (
            (-0.5 * ((x - params) / log_scale.exp()).pow(2) - log_scale - 0.5 * LOG_2PI)
            .flatten(1)
            .sum(1)
        )

    def mean(self, params):
        return params.clamp(0, 1)

    def log_scale_for_std(self, std):
        return std.log()


class GaussianChannel(Gaussian):
    """A Gaussian with a learned sigma per channel: alpha and colour need not share one noise
    level."""

    name = "gaussian-channel"

    def scale_shape(self):
        return (self.channels, 1, 1)


class Logistic(Likelihood):
    """Discretised logistic over the 256 values of 8-bit data, a learned log-scale per channel."""

    name = "logistic"
    discrete = True

    def scale_shape(self):
        return (self.channels, 1, 1)

    def log_prob(self, params, x, log_scale):
        return (
            discretised_logistic_log_prob(x, params, log_scale.clamp(min=MIN_LOG_SCALE))
            .flatten(1)
            .sum(1)
        )

    def mean(self, params):
        return params.clamp(0, 1)

    def log_scale_for_std(self, std):
        return (std * math.sqrt(3) / math.pi).log()  # a logistic's std is scale * pi / sqrt(3)


class LogisticPixel(Logistic):
    """The discretised logistic with the log-scale predicted per pixel: the decoder's second half
    of maps (so the model can be sure of flat areas and unsure of edges)."""

    name = "logistic-pixel"
    maps_per_channel = 2

    def scale_shape(self):
        return None

    def log_prob(self, params, x, log_scale):
        location, pixel_log_scale = params.chunk(2, dim=1)
        return (
            discretised_logistic_log_prob(x, location, pixel_log_scale.clamp(min=MIN_LOG_SCALE))
            .flatten(1)
            .sum(1)
        )

    def mean(self, params):
        return params[:, : self.channels].clamp(0, 1)


class LogisticImage(LogisticPixel):
    """The discretised logistic with one log-scale per image and channel, predicted from the code:
    narrow for an image the model knows, wide for one it does not. Each image's error then counts
    on a log scale, as per-image PSNR counts it; with one scale for the whole set the hardest
    images' pixels dominate the sum and the easy ones are left blurred."""

    name = "logistic-image"
    scale_per_image = True


LIKELIHOODS: dict[str, type[Likelihood]] = {
    cls.name: cls
    for cls in (Bernoulli, Gaussian, GaussianChannel, Logistic, LogisticPixel, LogisticImage)
}


def make_likelihood(name: str, channels: int, where: str) -> Likelihood:
    """The likelihood called ``name`` for images with ``channels`` channels (``auto``: see the
    module note)."""
    name = WITHOUT_DATA if name == AUTO else name
    if name not in LIKELIHOODS:
        raise ConfigError(
            f"{where}: likelihood must be one of {', '.join([AUTO, *LIKELIHOODS])}, not {name!r}"
        )
    return LIKELIHOODS[name](channels)


def discretised_logistic_log_prob(
    x: torch.Tensor, location: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """log P(value) per element of ``x`` (k / 255, k = 0..255) under a logistic(location, scale)
    discretised into 256 bins of width 1/255, the edge bins open (PixelCNN++).

    With a = (upper - location) / s and b = (lower - location) / s, the bin's probability is
    sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(b - a)), whose log is a sum of
    terms that are each exact in floating point (log-sigmoids and log(-expm1)): no cancellation,
    no fallback to the density at the centre. Edge bins: b = -inf (k = 0) or a = +inf (k = 255)."""
    inv_scale = torch.exp(-log_scale)
    centred = x - location
    a = (centred + HALF_BIN) * inv_scale
    b = (centred - HALF_BIN) * inv_scale
    first, last = x < HALF_BIN, x > 1 - HALF_BIN
    # log sigmoid(a); 0 when a = +inf
    log_upper = torch.where(last, torch.zeros_like(a), F.logsigmoid(a))
    # log sigmoid(-b); 0 when b = -inf
    log_lower = torch.where(first, torch.zeros_like(b), F.logsigmoid(-b))
    width = (2 * HALF_BIN) * inv_scale  # a - b, > 0
    log_gap = torch.where(first | last, torch.zeros_like(width), torch.log(-torch.expm1(-width)))
    return log_upper + log_lower + log_gap
