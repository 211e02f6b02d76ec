"""Small models standing in for the zoo (same interface, built and run in milliseconds).

The export and explorer tests use them so that they test export and serving, not training."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aekit.models.base import Autoencoder

# A vq-vae on 8x8 digits that trains in a second: the options of the tests that train a code-map run
TINY_VQ_OPTIONS = {
    "channels": [16, 16],
    "codebook_size": 16,
    "code_dim": 4,
    "prior_channels": 16,
    "prior_layers": 2,
}


@dataclass
class TinyConfig:
    latent_dim: int = 2


class TinyDense(Autoencoder):
    """One linear layer each way."""

    name = "tiny-dense"
    description = "stand-in"
    Config = TinyConfig

    def __init__(
        self, config: TinyConfig, input_shape: tuple[int, int, int], num_classes: int | None = None
    ):
        super().__init__(config, input_shape, num_classes)
        pixels = input_shape[0] * input_shape[1] * input_shape[2]
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(pixels, config.latent_dim))
        self.dec = nn.Sequential(nn.Linear(config.latent_dim, pixels), nn.Unflatten(1, input_shape))

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.enc(x)

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.dec(z))


class TinyConv(TinyDense):
    """A stride-2 conv encoder and a transposed-conv decoder."""

    name = "tiny-conv"

    def __init__(
        self, config: TinyConfig, input_shape: tuple[int, int, int], num_classes: int | None = None
    ):
        Autoencoder.__init__(self, config, input_shape, num_classes)
        c, h, w = input_shape
        flat = 4 * (h // 2) * (w // 2)
        self.enc = nn.Sequential(
            nn.Conv2d(c, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(flat, config.latent_dim),
        )
        self.dec = nn.Sequential(
            nn.Linear(config.latent_dim, flat),
            nn.Unflatten(1, (4, h // 2, w // 2)),
            nn.ReLU(),
            nn.ConvTranspose2d(4, c, 4, stride=2, padding=1),
        )


class TinyVAE(TinyDense):
    """Generative: samples decode N(0, I) codes; a steep sigmoid so that moving a code shows."""

    name = "tiny-vae"
    generative = True

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(3 * self.dec(z))

    def sample(
        self,
        n: int,
        condition: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return self.decode(torch.randn(n, self.latent_dim, generator=generator), condition)


class TinyLabelVAE(TinyVAE):
    """Label-conditional, like ``cvae`` with ``condition_kind = "label"``: an int64 label enters
    both halves."""

    name = "tiny-cvae"
    conditional = True
    condition_kind = "label"

    def __init__(
        self, config: TinyConfig, input_shape: tuple[int, int, int], num_classes: int | None = None
    ):
        super().__init__(config, input_shape, num_classes)
        self.embed = nn.Embedding(num_classes, config.latent_dim)

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.enc(x) - self.embed(condition)

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.dec(z + self.embed(condition)))


class TinyCleaner(TinyDense):
    """Fully convolutional, like ``tutorial-docs``: any page size in, the same size out."""

    name = "tiny-docs"

    def __init__(
        self, config: TinyConfig, input_shape: tuple[int, int, int], num_classes: int | None = None
    ):
        Autoencoder.__init__(self, config, input_shape, num_classes)
        self.enc = nn.Sequential(nn.Conv2d(1, config.latent_dim, 3, padding=1), nn.ReLU())
        self.dec = nn.Conv2d(config.latent_dim, 1, 3, padding=1)
