"""Variational autoencoders (dense and convolutional): the exact negative ELBO, in nats per image.

loss = -E_q[log p(x|z)] + beta_t * KL(q(z|x) || N(0, I)), with the expectation estimated by one
reparameterised sample and the KL in closed form; ``beta_t`` rises linearly from 0 to ``beta``
over ``warmup_steps`` (KL warm-up). The likelihoods (Bernoulli, Gaussian, discretised logistic)
live in ``aekit.models.likelihoods``; each keeps every constant, and that module says which
nats compare with which (8-bit probabilities vs continuous densities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.layers import ConvDecoder, ConvEncoder, activation, check_conv_fit, mlp
from aekit.models.likelihoods import make_likelihood


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per image (codes may be vectors or maps), in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)


class GaussianVAE(Autoencoder):
    """Shared VAE maths; subclasses build ``features`` (x, condition -> h), ``to_mu``, ``to_logvar``
    and ``decoder_params`` (z, condition -> logits or means shaped like the image)."""

    generative = True
    latent_kind = "gaussian"
    # Whether the model predicts a likelihood scale per image from the code (logistic-image).
    predicts_image_scale: ClassVar[bool] = False

    def __init__(self, config, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        cfg = self.config
        self.likelihood_fn = make_likelihood(
            cfg.likelihood, self.input_shape[0], f"model '{self.name}'"
        )
        self.likelihood = self.likelihood_fn.name
        if self.likelihood_fn.scale_per_image and not self.predicts_image_scale:
            raise ConfigError(
                f"model '{self.name}': likelihood {self.likelihood!r} needs a model that "
                "predicts a scale per image from the code (res-vae)"
            )
        shape = self.likelihood_fn.scale_shape()
        fixed = self.likelihood == "gaussian" and cfg.gaussian_sigma > 0
        # a learned log-scale (named log_sigma, as older runs saved it), or a fixed sigma
        if shape is not None:
            log_sigma = torch.full(shape, math.log(cfg.gaussian_sigma if fixed else 0.1))
            if fixed:
                self.register_buffer("log_sigma", log_sigma)
            else:
                self.log_sigma = nn.Parameter(log_sigma)

    @property
    def loss_is_elbo(self) -> bool:
        """Whether the training loss is the (beta-weighted) negative ELBO and nothing else."""
        return True

    @property
    def decoder_channels(self) -> int:
        """How many maps the decoder gives (the likelihood may want a scale per pixel too)."""
        return self.input_shape[0] * (
            1 if self.likelihood_fn.scale_per_image else self.likelihood_fn.maps_per_channel
        )

    def features(self, x, condition=None):
        raise NotImplementedError

    def decoder_params(self, z, condition=None):
        raise NotImplementedError

    def posterior(self, x, condition=None):
        h = self.features(x, condition)
        return self.to_mu(h), self.to_logvar(h).clamp(-30, 20)

    def encode(self, x, condition=None):
        return self.posterior(x, condition)[0]

    def decode(self, z, condition=None):
        return self.likelihood_fn.mean(self.decoder_params(z, condition))

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | the decoder's output ``params``), summed over pixels, per image (nats); in
        float32 at least (under bf16 autocast a bin of 1/255 is finer than bfloat16 resolves near
        1)."""
        scale = self.log_sigma if self.likelihood_fn.scale_shape() is not None else None
        dtype = torch.promote_types(params.dtype, torch.float32)
        return self.likelihood_fn.log_prob(params.to(dtype), x.to(dtype), scale)

    def log_likelihood(self, x, z, condition=None):
        """log p(x|z) summed over pixels, per image (nats)."""
        return self.log_prob(self.decoder_params(z, condition), x)

    def kl_weight(self, step: int) -> float:
        warmup = self.config.warmup_steps
        return self.config.beta * (min(1.0, step / warmup) if warmup > 0 else 1.0)

    def targets(
        self, x: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) of one step: under a binarising Bernoulli likelihood a fresh binarisation
        every step ("dynamic"), of the input too unless it is a noisy one."""
        if self.likelihood == "bernoulli" and self.config.binarize:
            if target is None:
                x = target = torch.bernoulli(x)
            else:
                target = torch.bernoulli(target)
        return x, x if target is None else target

    def elbo_terms(
        self, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, step: int
    ) -> dict[str, torch.Tensor]:
        """The loss terms from the batch's mean reconstruction nats and its posteriors."""
        kl = gaussian_kl(mu, logvar).mean()
        return {
            "loss": recon + self.kl_weight(step) * kl,
            "recon": recon,
            "kl": kl,
            "neg_elbo": recon + kl,
        }

    def loss(self, x, target=None, condition=None, step=0):
        x, target = self.targets(x, target)
        mu, logvar = self.posterior(x, condition)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.elbo_terms(-self.log_likelihood(target, z, condition).mean(), mu, logvar, step)

    def sample(self, n, condition=None, generator=None):
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z, condition)


@dataclass
class ELBOConfig:
    """The options every VAE shares: likelihood, KL weight and warm-up."""

    # chosen from the data; or bernoulli, gaussian, gaussian-channel, logistic, logistic-pixel,
    # logistic-image (res-vae)
    likelihood: str = "auto"
    gaussian_sigma: float = 0.0  # likelihood "gaussian": > 0 a fixed sigma; 0 learned
    beta: float = 1.0
    warmup_steps: int = field(default=0, metadata={"min": 0})
    binarize: bool = True  # Bernoulli: fit dynamically binarised targets (a proper likelihood)


@dataclass
class VAEConfig(ELBOConfig):
    latent_dim: int = 16
    hidden: tuple[int, ...] = (512,)
    activation: str = "relu"


class VAE(GaussianVAE):
    name = "vae"
    description = (
        "dense VAE: Gaussian encoder, N(0,I) prior, Bernoulli or Gaussian likelihood, exact ELBO"
    )
    Config = VAEConfig

    def __init__(self, config: VAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        n, width = (
            math.prod(self.input_shape),
            config.hidden[-1] if config.hidden else math.prod(self.input_shape),
        )
        self.encoder = mlp([n, *config.hidden], config.activation, last_activation=True)
        self.to_mu, self.to_logvar = (
            nn.Linear(width, config.latent_dim),
            nn.Linear(width, config.latent_dim),
        )
        self.decoder = mlp(
            [config.latent_dim, *reversed(config.hidden), n * self.likelihood_fn.maps_per_channel],
            config.activation,
        )

    def features(self, x, condition=None):
        return self.encoder(x.flatten(1))

    def decoder_params(self, z, condition=None):
        return self.decoder(z).view(-1, self.decoder_channels, *self.input_shape[1:])


@dataclass
class ConvVAEConfig(ELBOConfig):
    latent_dim: int = 32
    channels: tuple[int, ...] = (32, 64)
    hidden: int = 256
    activation: str = "relu"


class ConvVAE(GaussianVAE):
    name = "conv-vae"
    description = "convolutional VAE (stride-2 conv stages), exact ELBO, beta and KL warm-up"
    Config = ConvVAEConfig

    def __init__(self, config: ConvVAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        size = check_conv_fit(self.input_shape, len(config.channels), self.name)
        flat = config.channels[-1] * size[0] * size[1]
        self.encoder = nn.Sequential(
            ConvEncoder(self.input_shape[0], config.channels, config.activation),
            nn.Linear(flat, config.hidden),
            activation(config.activation),
        )
        self.to_mu, self.to_logvar = (
            nn.Linear(config.hidden, config.latent_dim),
            nn.Linear(config.hidden, config.latent_dim),
        )
        self.decoder = self.make_decoder(config, size)

    def make_decoder(self, config: ConvVAEConfig, size: tuple[int, int]) -> nn.Module:
        """z -> the image's logits or means (a subclass may decode to something else)."""
        return ConvDecoder(
            config.latent_dim, config.channels, self.decoder_channels, size, config.activation
        )

    def features(self, x, condition=None):
        return self.encoder(x)

    def decoder_params(self, z, condition=None):
        return self.decoder(z)
