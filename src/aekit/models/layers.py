"""Building blocks shared by the dense and convolutional models."""

from __future__ import annotations

import math

from torch import nn

from aekit.errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}


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
            f"model '{name}': input {h}x{w} does not fit: {stages} stride-2 stages need height and width "
            f"divisible by {factor}; use fewer conv channels stages or resize the images (image_size)"
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
    """Linear to a small feature map, then stride-2 transposed convolutions back to the image size."""

    def __init__(self, latent_dim: int, channels: tuple[int, ...], out_channels: int, size: tuple[int, int], act: str):
        super().__init__()
        channels = tuple(reversed(channels))
        self.shape = (channels[0], *size)
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.shape)), activation(act))
        layers: list[nn.Module] = []
        for a, b in zip(channels, channels[1:] + (channels[-1],)):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), activation(act)]
        layers.append(nn.Conv2d(channels[-1], out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(self.fc(z).view(-1, *self.shape))
