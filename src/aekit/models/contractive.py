"""Contractive autoencoder: squared error plus the encoder Jacobian's squared Frobenius norm."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jacrev, vmap

from aekit.models.base import Autoencoder
from aekit.models.layers import mlp


@dataclass
class ContractiveConfig:
    latent_dim: int = 32
    hidden: tuple[int, ...] = (256,)
    activation: str = "tanh"
    weight: float = 1e-3


class ContractiveAE(Autoencoder):
    """The penalty ||J_f(x)||_F^2 is computed exactly, per image, with ``torch.func.jacrev``."""

    name = "contractive"
    description = "dense autoencoder with an exact encoder-Jacobian (Frobenius) penalty"
    Config = ContractiveConfig

    def __init__(self, config: ContractiveConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        n = math.prod(self.input_shape)
        self.encoder = mlp([n, *config.hidden, config.latent_dim], config.activation)
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden), n], config.activation)

    def encode(self, x, condition=None):
        return self.encoder(x.flatten(1))

    def decode(self, z, condition=None):
        return self.decoder(z).view(-1, *self.input_shape).sigmoid()

    def jacobian_norm(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image ||d code / d x||_F^2, exact (one row of the Jacobian per code unit)."""
        jac = vmap(jacrev(lambda v: self.encoder(v.unsqueeze(0)).squeeze(0)))(x.flatten(1))
        return jac.pow(2).sum(dim=(1, 2))

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        mse = F.mse_loss(self.decode(self.encode(x)), target)
        penalty = self.jacobian_norm(x).mean()
        return {"loss": mse + self.config.weight * penalty, "mse": mse, "jacobian": penalty}
