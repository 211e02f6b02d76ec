"""Variations of one sprite (``aekit sample RUN --like FILE --spread S``).

The file is encoded to its code map; then, in the prior's raster order, each index is kept with
probability ``1 - S`` or drawn anew from p(index | class, the indices before it). ``S = 0`` gives
the reconstruction, ``S = 1`` a new sprite of the file's class (the class under which the prior
finds its map likeliest, unless one is asked for), values between give near-copies to loose
relatives. Every position keeps its neighbours' context, so a redrawn patch fits the kept ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from aekit.errors import ConfigError
from aekit.images import resize, to_channels
from aekit.models.base import Autoencoder
from aekit.priors.base import Prior
from aekit.priors.transformer import TransformerPrior

BATCH = 64


def like_code(model: Autoencoder, image: torch.Tensor) -> torch.Tensor:
    """The ``1 x h x w`` code map of a premultiplied ``C x H x W`` image, first brought to the
    model's channels and size."""
    c, h, w = model.input_shape
    x = resize(to_channels(image.float(), c), (h, w))[None]
    device = next(model.parameters()).device
    with torch.inference_mode():
        return model.encode(x.to(device)).cpu()


def variation_batches(
    model: Autoencoder,
    prior: Prior | None,
    image: torch.Tensor,
    n: int,
    spread: float,
    seed: int = 0,
    labels: torch.Tensor | None = None,
) -> Iterator[torch.Tensor]:
    """``n`` variations of ``image`` (premultiplied ``C x H x W``), decoded batch by batch;
    ``labels`` (n class indices, or None: the file's likeliest class) condition the redrawn
    indices."""
    if not isinstance(prior, TransformerPrior) or not model.discrete_code:
        raise ConfigError(
            "--like needs a code-map model with a 'transformer' prior (the default for small "
            "colour images; or `aekit fit-prior RUN --prior transformer`)"
        )
    if not 0 <= spread <= 1:
        raise ConfigError(f"--spread must be from 0 to 1, got {spread}")
    code = like_code(model, image)
    if labels is None and prior.conditional:
        labels = prior.likeliest_class(code).expand(n)
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    batches = math.ceil(n / BATCH)
    for k in range(batches):
        start, stop = k * n // batches, (k + 1) * n // batches
        maps = prior.vary(
            code.expand(stop - start, -1, -1),
            spread,
            generator,
            None if labels is None else labels[start:stop],
        )
        with torch.inference_mode():
            yield model.decode(maps.to(device)).float().cpu()
