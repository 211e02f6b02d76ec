"""Dense (fully connected) autoencoder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F

from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.layers import mlp

RECONSTRUCTIONS = ("mse", "bce")


@dataclass
class DenseConfig:
    latent_dim: int = 32
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    reconstruction: str = "mse"  # or "bce"


def check_reconstruction(config, name: str) -> None:
    if config.reconstruction not in RECONSTRUCTIONS:
        raise ConfigError(
            f"model '{name}': reconstruction must be 'mse' or 'bce', not {config.reconstruction!r}"
        )


def reconstruction_loss(kind: str, logits, target):
    """Per-pixel mean of MSE (on sigmoid outputs) or binary cross-entropy (on logits)."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.mse_loss(logits.sigmoid(), target)


class LogitAutoencoder(Autoencoder):
    """A plain autoencoder whose decoder gives logits: ``decode`` is their sigmoid and ``loss`` the
    configured reconstruction loss (``config.reconstruction``: mse or bce), checked when built."""

    def __init__(self, config, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        check_reconstruction(config, self.name)

    def logits(self, z):
        raise NotImplementedError

    def decode(self, z, condition=None):
        return self.logits(z).sigmoid()

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        recon = reconstruction_loss(self.config.reconstruction, self.logits(self.encode(x)), target)
        return {"loss": recon, self.config.reconstruction: recon}


class DenseAE(LogitAutoencoder):
    name = "dense"
    description = "fully connected autoencoder (hidden widths, latent size, MSE or BCE)"
    Config = DenseConfig

    def __init__(self, config: DenseConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        n = math.prod(self.input_shape)
        self.encoder = mlp([n, *config.hidden, config.latent_dim], config.activation)
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden), n], config.activation)

    def encode(self, x, condition=None):
        return self.encoder(x.flatten(1))

    def logits(self, z):
        return self.decoder(z).view(-1, *self.input_shape)
