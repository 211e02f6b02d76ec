"""Building blocks shared by the dense and convolutional models (the speed kernels they use are
in ``kernels.py``)."""

from __future__ import annotations

import math

from torch import nn

from aekit.errors import ConfigError
from aekit.models.kernels import ConvTranspose2d, FeatureMap, NarrowConv2d

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(sizes: list[int], act: str, last_activation: bool = False) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with an activation between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation(act))
    return nn.Sequential(*layers)


def check_conv_fit(input_shape: tuple[int, int, int], stages: int, name: str) -> tuple[int, int]:
    """Spatial size after ``stages`` stride-2 stages, or a ConfigError saying why it doesn't fit."""
    _, h, w = input_shape
    factor = 2**stages
    if h % factor or w % factor:
        raise ConfigError(
            f"model '{name}': input {h}x{w} does not fit: {stages} stride-2 stages need height "
            "and width "
            f"divisible by {factor}; use fewer conv channels stages or resize the images "
            "(image_size)"
        )
    return h // factor, w // factor


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions (one per entry of ``channels``), flattened."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], act: str):
        super().__init__()
        layers: list[nn.Module] = []
        for c in channels:
            layers += [nn.Conv2d(in_channels, c, 3, stride=2, padding=1), activation(act)]
            in_channels = c
        self.net = nn.Sequential(*layers, nn.Flatten())

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    """Linear to a small feature map, then stride-2 transposed convolutions back to the image size
    and a 3x3 conv to ``out_channels``; with ``features_out`` the last transposed conv gives the
    ``out_channels`` maps itself, before any activation (for a head that adds more to them)."""

    def __init__(
        self,
        latent_dim: int,
        channels: tuple[int, ...],
        out_channels: int,
        size: tuple[int, int],
        act: str,
        features_out: bool = False,
    ):
        super().__init__()
        channels = tuple(reversed(channels))
        self.shape = (channels[0], *size)
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.shape)), activation(act))
        self.to_maps = FeatureMap(self.shape)
        layers: list[nn.Module] = []
        for a, b in zip(channels, channels[1:] + (out_channels if features_out else channels[-1],)):
            layers += [ConvTranspose2d(a, b, 4, stride=2, padding=1), activation(act)]
        if features_out:
            layers.pop()
        else:
            layers.append(NarrowConv2d(channels[-1], out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(self.to_maps(self.fc(z)))
