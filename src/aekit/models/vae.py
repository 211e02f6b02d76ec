"""Variational autoencoders (dense and convolutional): the exact negative ELBO, in nats per image.

loss = -E_q[log p(x|z)] + beta_t * KL(q(z|x) || N(0, I)), with the expectation estimated by one
reparameterised sample and the KL in closed form; ``beta_t`` rises linearly from 0 to ``beta``
over ``warmup_steps`` (KL warm-up). Bernoulli likelihood works on logits; the Gaussian one keeps
every constant, so both are true log-densities and the numbers are comparable to papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.layers import ConvDecoder, ConvEncoder, activation, check_conv_fit, mlp

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row, in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


class GaussianVAE(Autoencoder):
    """Shared VAE maths; subclasses build ``features`` (x, condition -> h), ``to_mu``, ``to_logvar``
    and ``decoder_params`` (z, condition -> logits or means shaped like the image)."""

    generative = True

    def __init__(self, config, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        cfg = self.config
        if cfg.likelihood not in ("bernoulli", "gaussian"):
            raise ConfigError(f"model '{self.name}': likelihood must be 'bernoulli' or 'gaussian', not {cfg.likelihood!r}")
        self.likelihood = cfg.likelihood
        if self.likelihood == "gaussian":  # a learned global log-sigma, unless a fixed sigma is given
            log_sigma = torch.tensor(math.log(cfg.gaussian_sigma if cfg.gaussian_sigma > 0 else 0.1))
            if cfg.gaussian_sigma > 0:
                self.register_buffer("log_sigma", log_sigma)
            else:
                self.log_sigma = nn.Parameter(log_sigma)

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
        params = self.decoder_params(z, condition)
        return params.sigmoid() if self.likelihood == "bernoulli" else params.clamp(0, 1)

    def log_likelihood(self, x, z, condition=None):
        """log p(x|z) summed over pixels, per image (nats)."""
        params = self.decoder_params(z, condition)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(params, x, reduction="none").flatten(1).sum(1)
        log_sigma = self.log_sigma
        return (-0.5 * ((x - params) / log_sigma.exp()).pow(2) - log_sigma - 0.5 * LOG_2PI).flatten(1).sum(1)

    def kl_weight(self, step: int) -> float:
        warmup = self.config.warmup_steps
        return self.config.beta * (min(1.0, step / warmup) if warmup > 0 else 1.0)

    def loss(self, x, target=None, condition=None, step=0):
        if self.likelihood == "bernoulli" and self.config.binarize:
            # a fresh binarisation every step ("dynamic"); the input too, unless it is a noisy one
            if target is None:
                x = target = torch.bernoulli(x)
            else:
                target = torch.bernoulli(target)
        target = x if target is None else target
        mu, logvar = self.posterior(x, condition)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = -self.log_likelihood(target, z, condition).mean()
        kl = gaussian_kl(mu, logvar).mean()
        return {"loss": recon + self.kl_weight(step) * kl, "recon": recon, "kl": kl, "neg_elbo": recon + kl}

    def sample(self, n, condition=None, generator=None):
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z, condition)


@dataclass
class ELBOConfig:
    """The options every VAE shares: likelihood, KL weight and warm-up."""

    likelihood: str = "bernoulli"  # or "gaussian"
    gaussian_sigma: float = 0.0  # > 0: fixed sigma; 0: learned
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
    description = "dense VAE: Gaussian encoder, N(0,I) prior, Bernoulli or Gaussian likelihood, exact ELBO"
    Config = VAEConfig

    def __init__(self, config: VAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        n, width = math.prod(self.input_shape), config.hidden[-1] if config.hidden else math.prod(self.input_shape)
        self.encoder = mlp([n, *config.hidden], config.activation, last_activation=True)
        self.to_mu, self.to_logvar = nn.Linear(width, config.latent_dim), nn.Linear(width, config.latent_dim)
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden), n], config.activation)

    def features(self, x, condition=None):
        return self.encoder(x.flatten(1))

    def decoder_params(self, z, condition=None):
        return self.decoder(z).view(-1, *self.input_shape)


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
        self.to_mu, self.to_logvar = nn.Linear(config.hidden, config.latent_dim), nn.Linear(config.hidden, config.latent_dim)
        self.decoder = self.make_decoder(config, size)

    def make_decoder(self, config: ConvVAEConfig, size: tuple[int, int]) -> nn.Module:
        """z -> the image's logits or means (a subclass may decode to something else)."""
        return ConvDecoder(config.latent_dim, config.channels, self.input_shape[0], size, config.activation)

    def features(self, x, condition=None):
        return self.encoder(x)

    def decoder_params(self, z, condition=None):
        return self.decoder(z)
