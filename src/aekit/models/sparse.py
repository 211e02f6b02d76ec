"""Sparse autoencoder: an overcomplete code kept mostly silent by an L1 or KL activity penalty."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aekit.errors import ConfigError
from aekit.models.dense import DenseAE, DenseConfig, reconstruction_loss


@dataclass
class SparseConfig(DenseConfig):
    latent_dim: int = 256  # overcomplete for 8x8 or comparable to 28x28 inputs
    hidden: tuple[int, ...] = (256,)
    penalty: str = "kl"  # "kl": mean activation -> target_rate; "l1": weight * |code|
    weight: float = 0.1
    target_rate: float = 0.05
    active_threshold: float = 0.1  # a unit counts as active above this value


class SparseAE(DenseAE):
    """Sigmoid code units (so the mean activation is a rate); penalty 'kl' is the classic
    sum_j KL(rho || rho_hat_j), 'l1' the mean absolute activation."""

    name = "sparse"
    description = "overcomplete code with an L1 or KL sparsity penalty; reports the active fraction"
    Config = SparseConfig

    def __init__(self, config: SparseConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        if config.penalty not in ("kl", "l1"):
            raise ConfigError(
                f"model 'sparse': penalty must be 'kl' or 'l1', not {config.penalty!r}"
            )
        if not 0 < config.target_rate < 1:
            raise ConfigError(
                f"model 'sparse': target_rate must be in (0, 1), got {config.target_rate}"
            )
        self.encoder = nn.Sequential(self.encoder, nn.Sigmoid())

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        code = self.encode(x)
        recon = reconstruction_loss(self.config.reconstruction, self.logits(code), target)
        if self.config.penalty == "l1":
            penalty = code.abs().mean()
        else:
            rho, rho_hat = self.config.target_rate, code.mean(0).clamp(1e-6, 1 - 1e-6)
            penalty = (
                rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
            ).sum()
        active = (code.detach() > self.config.active_threshold).float().mean()
        return {
            "loss": recon + self.config.weight * penalty,
            self.config.reconstruction: recon,
            "sparsity": penalty,
            "active_fraction": active,
        }
