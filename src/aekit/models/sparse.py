"""Sparse autoencoder: an overcomplete code kept mostly silent by an L1 or KL activity penalty."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aekit.models.base import Autoencoder
from aekit.models.layers import mlp


@dataclass
class SparseConfig:
    latent_dim: int = 256  # overcomplete for 8x8 or comparable to 28x28 inputs
    hidden: tuple[int, ...] = (256,)
    activation: str = "relu"
    penalty: str = "kl"  # "kl": mean activation -> target_rate; "l1": weight * |code|
    weight: float = 0.1
    target_rate: float = 0.05
    active_threshold: float = 0.1  # a unit counts as active above this value


class SparseAE(Autoencoder):
    """Sigmoid code units (so the mean activation is a rate); penalty 'kl' is the classic
    sum_j KL(rho || rho_hat_j), 'l1' the mean absolute activation."""

    name = "sparse"
    description = "overcomplete code with an L1 or KL sparsity penalty; reports the active fraction"
    Config = SparseConfig

    def __init__(self, config: SparseConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        n = math.prod(self.input_shape)
        self.encoder = nn.Sequential(mlp([n, *config.hidden, config.latent_dim], config.activation), nn.Sigmoid())
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden), n], config.activation)

    def encode(self, x, condition=None):
        return self.encoder(x.flatten(1))

    def decode(self, z, condition=None):
        return self.decoder(z).view(-1, *self.input_shape).sigmoid()

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        code = self.encode(x)
        mse = F.mse_loss(self.decode(code), target)
        if self.config.penalty == "l1":
            penalty = code.abs().mean()
        else:
            rho, rho_hat = self.config.target_rate, code.mean(0).clamp(1e-6, 1 - 1e-6)
            penalty = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
        active = (code.detach() > self.config.active_threshold).float().mean()
        return {"loss": mse + self.config.weight * penalty, "mse": mse, "sparsity": penalty, "active_fraction": active}
