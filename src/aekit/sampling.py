"""Draws with their randomness given: the steps an exported sampler leaves to its numpy recipe.

ONNX has no random numbers, so every sampler aekit exports takes its draws as inputs; these
functions turn U[0, 1) draws into indices exactly as PyTorch does (float64), so a recipe run with
onnxruntime and ``sample`` in PyTorch pick the same index for the same draw.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def inverse_cdf(weights: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Indices k drawn with probability ``weights[..., k] / weights.sum(-1)`` for U[0, 1) draws
    ``uniform``: how many cumulative probabilities but the last are <= u. In float64, so the
    exported graphs and numpy recipes pick the same index as PyTorch for the same draw."""
    cum = weights.double().cumsum(-1)
    return (cum[..., :-1] / cum[..., -1:] <= uniform.double().unsqueeze(-1)).sum(-1)


def index_maps_from_uniform(
    logits: Callable[[torch.Tensor], torch.Tensor],
    uniform: torch.Tensor,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """PixelCNN sampling with its randomness given: positions in raster order, each index by the
    inverse CDF of softmax(``logits(maps)``) there at the draw ``uniform[:, i, j]`` (n x h x w,
    U[0, 1); the maps live on ``device``). The loop that ``aekit sample`` runs for a vq-vae, and
    that an exported pixelcnn prior's recipe runs with onnxruntime: same draws, same maps."""
    n, h, w = uniform.shape
    maps = torch.zeros(n, h, w, dtype=torch.long, device=device)
    with torch.no_grad():
        for i in range(h):
            for j in range(w):
                at = logits(maps)[:, :, i, j].double().cpu()
                maps[:, i, j] = inverse_cdf(
                    (at - at.amax(1, keepdim=True)).exp(), uniform[:, i, j]
                ).to(device)
    return maps
