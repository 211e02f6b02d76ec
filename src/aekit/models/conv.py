"""Convolutional autoencoder: stride-2 convolutions down, transposed convolutions up."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from aekit.models.dense import LogitAutoencoder
from aekit.models.layers import ConvDecoder, ConvEncoder, check_conv_fit


@dataclass
class ConvConfig:
    latent_dim: int = 32
    channels: tuple[int, ...] = (32, 64)
    activation: str = "relu"
    reconstruction: str = "mse"  # or "bce"


class ConvAE(LogitAutoencoder):
    name = "conv"
    description = "convolutional autoencoder (stride-2 conv stages, dense bottleneck)"
    Config = ConvConfig

    def __init__(self, config: ConvConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        c = self.input_shape[0]
        size = check_conv_fit(self.input_shape, len(config.channels), self.name)
        flat = config.channels[-1] * size[0] * size[1]
        self.encoder = nn.Sequential(
            ConvEncoder(c, config.channels, config.activation), nn.Linear(flat, config.latent_dim)
        )
        self.decoder = ConvDecoder(config.latent_dim, config.channels, c, size, config.activation)

    def encode(self, x, condition=None):
        return self.encoder(x)

    def logits(self, z):
        return self.decoder(z)
