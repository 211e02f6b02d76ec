"""Condition images derived from an image: what a conditional VAE is asked to fit.

A silhouette is the filled shape of the object (a garment's outline filled in), an outline its
one-pixel border: the analogue of "a floor plan for a given building shape".
"""

from __future__ import annotations

import numpy as np
import torch

from aekit.errors import ConfigError

CONDITION_KINDS = ("label", "silhouette", "outline")


def silhouette(images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Filled binary mask of each image's object (any channel above ``threshold``), ``B x 1 x H x
    W``."""
    # here, not at the top: scipy.ndimage costs 0.2 s of every command's start-up
    from scipy import ndimage

    mask = (images.amax(dim=1) > threshold).cpu().numpy()
    filled = np.stack([ndimage.binary_fill_holes(m) for m in mask])
    return torch.from_numpy(filled).float().unsqueeze(1).to(images.device)


def outline(images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """The border of the silhouette: mask minus its erosion, ``B x 1 x H x W``."""
    mask = silhouette(images, threshold)
    eroded = -torch.nn.functional.max_pool2d(-mask, 3, stride=1, padding=1)
    return mask - eroded


def make_condition(kind: str, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """The condition a conditional model of ``kind`` sees for these images."""
    if kind == "label":
        if labels is None:
            raise ConfigError("a label-conditional model needs a labelled dataset")
        return labels
    if kind == "silhouette":
        return silhouette(images)
    if kind == "outline":
        return outline(images)
    if kind == "footprint":
        raise ConfigError(
            "a footprint-conditional model needs floor-plan data (floorplans-synthetic) or a "
            "footprint image"
        )
    raise ConfigError(
        f"unknown condition kind {kind!r}; choose one of {', '.join(CONDITION_KINDS)}"
    )
