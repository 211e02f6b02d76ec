"""Showing images with alpha: composited over a grey checkerboard, so transparency is visible.

aekit's images carry alpha as their last channel when they have 2 (grey + alpha) or 4 (RGB +
alpha) channels, colour premultiplied by alpha; a premultiplied pixel over a background is
simply ``colour + (1 - alpha) * background``. Every picture (``aekit.plots``), the report and
the web explorer show images through ``composite``.
"""

from __future__ import annotations

import torch

CHECKER = (0.55, 0.75)  # the two greys: dark and light sprites both stand out
SQUARE = 4  # px per checker square


def has_alpha(channels: int) -> bool:
    return channels in (2, 4)


def checkerboard(height: int, width: int, square: int = SQUARE) -> torch.Tensor:
    """``height x width`` grey checkerboard with ``square``-pixel squares."""
    rows = torch.arange(height) // square
    cols = torch.arange(width) // square
    light = (rows[:, None] + cols[None, :]) % 2 == 1
    return torch.where(light, torch.tensor(CHECKER[1]), torch.tensor(CHECKER[0]))


def composite(images: torch.Tensor, square: int = SQUARE) -> torch.Tensor:
    """``... x C x H x W`` premultiplied images in [0, 1] -> what they look like: 1 (grey) or
    3 (colour) channels; those with alpha composited over the checkerboard."""
    images = images.detach().float().cpu().clamp(0, 1)
    c = images.shape[-3]
    if not has_alpha(c):
        return images
    colour, alpha = images[..., : c - 1, :, :], images[..., c - 1 :, :, :]
    background = checkerboard(*images.shape[-2:], square=square)
    return (colour + (1 - alpha) * background).clamp(0, 1)


def premultiply(images: torch.Tensor) -> torch.Tensor:
    """Straight (file) colour -> premultiplied, for 2- and 4-channel images; others unchanged."""
    c = images.shape[-3]
    if not has_alpha(c):
        return images
    alpha = images[..., c - 1 :, :, :]
    return torch.cat([images[..., : c - 1, :, :] * alpha, alpha], dim=-3)


def unpremultiply(x: torch.Tensor) -> torch.Tensor:
    """Straight alpha from premultiplied ``[B x] C x H x W`` (C = 2 or 4); transparent pixels stay
    0."""
    alpha = x.narrow(-3, x.shape[-3] - 1, 1)
    colour = x.narrow(-3, 0, x.shape[-3] - 1)
    colour = torch.where(
        alpha > 0, colour / alpha.clamp_min(1e-12), torch.zeros_like(colour)
    ).clamp(0, 1)
    return torch.cat([colour, alpha], -3)
