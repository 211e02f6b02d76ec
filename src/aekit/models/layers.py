"""Building blocks shared by the dense and convolutional models."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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


# Nearest 2x upsampling then a 3-tap filter (padding 1) is one stride-2, 4-tap transposed filter:
# output 2m takes w[0] from input m-1 and w[1] + w[2] from input m; output 2m+1 takes w[0] + w[1]
# from input m and w[2] from input m+1. Row k of this matrix sums the 3x3 taps into transposed tap k.
_UPSAMPLE_TAPS = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def upsample_conv(x: torch.Tensor, conv: nn.Conv2d, size: tuple[int, int]) -> torch.Tensor:
    """``conv(nearest_upsample(x, size))`` for a 3x3, stride-1, padding-1 ``conv``.

    Where ``size`` is exactly twice ``x``'s size, the same function (same parameters, same
    values up to rounding) runs as one 4x4 stride-2 transposed convolution whose taps are sums
    of the 3x3 taps: 4/9 of the multiply-adds, and the upsampled map is never built, in the
    forward or the backward pass (see benchmarks/README.md). Other sizes take the plain path."""
    h, w = x.shape[-2:]
    if tuple(size) != (2 * h, 2 * w) or conv.kernel_size != (3, 3) or conv.padding != (1, 1) \
            or conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
        return conv(F.interpolate(x, size=size, mode="nearest"))
    taps = _UPSAMPLE_TAPS.to(conv.weight)
    weight = torch.einsum("kr,oirs,ls->iokl", taps, conv.weight, taps)  # (in, out, 4, 4)
    return F.conv_transpose2d(x, weight, conv.bias, stride=2, padding=1)


def conv_pool(x: torch.Tensor, layer: nn.Sequential) -> torch.Tensor:
    """``max_pool(act(conv(x)))`` of a (conv, activation) pair, computed as ``act(max_pool(conv(x)))``:
    equal for any non-decreasing activation (ReLU), with the activation and its gradient on a
    quarter of the values. 2x2 pooling, rounding up like Keras 'same'."""
    conv, act = layer
    return act(F.max_pool2d(conv(x), 2, ceil_mode=True))


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
