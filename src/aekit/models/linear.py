"""Linear autoencoder: with squared error it learns the principal subspace (the PCA of the data)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aekit.models.base import Autoencoder


@dataclass
class LinearConfig:
    latent_dim: int = 16


class LinearAE(Autoencoder):
    """x -> W_e (x - b) -> W_d z + b. The shared bias plays PCA's mean, so the decoder's column
    space converges to the span of the top ``latent_dim`` principal components."""

    name = "linear"
    affine_decoder = True
    description = "linear encoder and decoder; its subspace matches PCA"
    Config = LinearConfig

    def __init__(self, config: LinearConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        n = math.prod(self.input_shape)
        self.bias = nn.Parameter(torch.zeros(n))
        self.encoder = nn.Linear(n, config.latent_dim, bias=False)
        self.decoder = nn.Linear(config.latent_dim, n, bias=False)

    def encode(self, x, condition=None):
        return self.encoder(x.flatten(1) - self.bias)

    def decode(self, z, condition=None):
        return self.decode_raw(z).clamp(0, 1)

    def decode_raw(self, z):
        """The affine decoder without clipping (what the loss and the PCA comparison use)."""
        return (self.decoder(z) + self.bias).view(-1, *self.input_shape)

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        mse = F.mse_loss(self.decode_raw(self.encode(x)), target)
        return {"loss": mse, "mse": mse}
