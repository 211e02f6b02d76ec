"""Contractive autoencoder: squared error plus the encoder Jacobian's squared Frobenius norm."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import jacrev, vmap

from aekit.models.dense import DenseAE, DenseConfig, reconstruction_loss


@dataclass
class ContractiveConfig(DenseConfig):
    hidden: tuple[int, ...] = (256,)
    activation: str = "tanh"
    weight: float = 1e-3


class ContractiveAE(DenseAE):
    """The penalty ||J_f(x)||_F^2 is computed exactly, per image, with ``torch.func.jacrev``."""

    name = "contractive"
    description = "dense autoencoder with an exact encoder-Jacobian (Frobenius) penalty"
    Config = ContractiveConfig

    def jacobian_norm(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image ||d code / d x||_F^2, exact (one row of the Jacobian per code unit)."""
        jac = vmap(jacrev(lambda v: self.encoder(v.unsqueeze(0)).squeeze(0)))(x.flatten(1))
        return jac.pow(2).sum(dim=(1, 2))

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        recon = reconstruction_loss(self.config.reconstruction, self.logits(self.encode(x)), target)
        penalty = self.jacobian_norm(x).mean()
        return {
            "loss": recon + self.config.weight * penalty,
            self.config.reconstruction: recon,
            "jacobian": penalty,
        }
