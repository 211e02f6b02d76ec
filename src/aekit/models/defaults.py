"""Model and likelihood chosen from the data, when the user did not choose them.

A Bernoulli likelihood binarises every value: right for handwriting (ink or paper), wrong for
colour sprites or photographs, whose reconstructions then come out as grey blurs. A look at a
sample of the training images decides instead:

* grey images whose values sit mostly at 0 or 1 (handwriting, line art) -> Bernoulli with
  dynamic binarisation (the exact likelihood of binarised data, the literature's benchmark);
* any other image on the 8-bit grid (colour, photographs, alpha) -> the discretised logistic, a
  true probability of 8-bit values; values off that grid (resized images) -> a Gaussian with a
  learned sigma per channel (a density: its nats do not compare with the discrete ones);
* colour, alpha, larger than 32 px, or a size conv-vae's two stride-2 stages do not divide ->
  ``res-vae``; small grey images -> ``conv-vae``. The res-vae gets two more choices: the
  discretised logistic with a scale per image (``logistic-image``: on 3-minute sprite runs 944
  nats better than one scale per channel, and sharper) and, up to 64 x 64 x 4 values, the
  ``linear_path`` started at PCA (so training starts from the PCA baseline; its linear layers
  grow with the pixel count, hence the bound), when there are at least 1,000 images (PCA needs
  more images than code values; a folder of 50 would not start).

Small colour images (RGB or RGBA, at most 64 px a side, sides divisible by 4 or 8), such as game
sprites, get ``vq-vae`` instead: an 8x8 (32 px) map of 256 codebook indices, drawn straight-alpha
(colour never exceeds alpha), mirrored left-right while training, then a class-conditional
``transformer`` prior fitted over the maps in the same run (60% of ``max_minutes``). A continuous
code with a Gaussian mixture over it draws blends of sprites (speckled blobs); an autoregressive
prior over discrete tokens draws one object, each index conditioned on the ones before it.

``resolve`` is the one call the trainer makes before building the model; the reason it returns
is printed at the start of training and says what was looked at.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch

from aekit.models import MODELS
from aekit.models.likelihoods import AUTO
from aekit.models.pixel_vae import PixelVAE

# grey data is "ink or paper" when at least this share of values lies within 0.1 of 0 or 1
BINARY_SHARE = 0.8
GRID_SHARE = 0.99  # data is 8-bit when this share of values lies on k / 255
SMALL_SIDE = 32  # conv-vae up to this size (grey only)
# res-vae's PCA-started linear path up to this many values per image
LINEAR_PATH_VALUES = 64 * 64 * 4
# ... and from this many images (the sample choose sees; PCA needs more than latent_dim)
LINEAR_PATH_IMAGES = 1_000


def choose_likelihood(images: torch.Tensor) -> tuple[dict[str, Any], str]:
    """Likelihood options (``likelihood``, ``binarize``) for ``images`` (``N x C x H x W`` in [0,
    1]) and why."""
    x = images.detach().float()
    channels = x.shape[1]
    near_ends = float(((x < 0.1) | (x > 0.9)).float().mean())
    on_grid = float(((x * 255 - (x * 255).round()).abs() < 1e-3).float().mean())
    if channels == 1 and near_ends >= BINARY_SHARE:
        why = (
            f"grey, {near_ends:.0%} of values within 0.1 of 0 or 1 (ink or paper): Bernoulli "
            "likelihood, dynamically binarised"
        )
        return {"likelihood": "bernoulli", "binarize": True}, why
    kind = {1: "grey", 2: "grey + alpha", 3: "colour", 4: "colour + alpha"}[channels]
    if on_grid >= GRID_SHARE:
        why = (
            f"{kind}, {near_ends:.0%} of values near 0 or 1, 8-bit levels: discretised logistic "
            "likelihood (a probability of each 8-bit value)"
        )
        return {"likelihood": "logistic"}, why
    why = (
        f"{kind}, values off the 8-bit grid ({on_grid:.0%} on it): Gaussian likelihood with a "
        "learned sigma per channel (a density; its nats do not compare with 8-bit likelihoods)"
    )
    return {"likelihood": "gaussian-channel"}, why


CODE_MAP_SIDE = 64  # colour images up to this side get the code map + transformer path
# 64 codes, not 256: with 256 the encoder spent ~44 codes on fully transparent patches (which one
# depended on the neighbours) and the transformer gained 0.5 nats per index over the class's
# code frequencies; 64 leaves the prior fewer arbitrary choices (benchmarks/README.md, sprites)
CODEBOOK_SIZE = 64


def code_map_options(input_shape: tuple[int, int, int]) -> dict[str, Any] | None:
    """vq-vae options for small colour images (an 8x8 index map at 32 px), or None when the images
    are not small colour images whose sides the stride-2 stages divide."""
    c, h, w = input_shape
    stages = 2 if max(h, w) <= 32 else 3
    if c < 3 or max(h, w) > CODE_MAP_SIDE or h % (1 << stages) or w % (1 << stages):
        return None
    return {
        "quantizer": "vq",
        "codebook_size": CODEBOOK_SIZE,
        "code_dim": 32,
        "channels": [64, 128, 128][:stages],
        "res_blocks": 2,
        "straight_alpha": True,
        "hflip": True,
        "prior_channels": 16,
        "prior_layers": 1,
        "fitted_prior": "transformer",
        "prior_share": 0.6,
    }


def choose(
    images: torch.Tensor, input_shape: tuple[int, int, int]
) -> tuple[str, dict[str, Any], str]:
    """(model name, model options, reason) for data like ``images`` of shape ``input_shape``."""
    c, h, w = input_shape
    code_map = code_map_options(input_shape)
    if code_map is not None:
        side = h >> (len(code_map["channels"]))
        return (
            "vq-vae",
            code_map,
            (
                f"vq-vae + transformer prior for small colour {h}x{w} images: a "
                f"{side}x{w >> len(code_map['channels'])} "
                f"map of {code_map['codebook_size']} codes, straight alpha, left-right mirrors; "
                f"the prior is fitted in the same run ({code_map['prior_share']:.0%} of "
                "max_minutes)"
            ),
        )
    options, why = choose_likelihood(images)
    if c == 1 and max(h, w) <= SMALL_SIDE and h % 4 == 0 and w % 4 == 0:
        return "conv-vae", options, f"conv-vae for small grey {h}x{w} images; {why}"
    size = "colour" if c >= 3 else "alpha" if c == 2 else f"{h}x{w}"
    why = f"res-vae (residual, depth follows the image size) for {size} {h}x{w} images; {why}"
    if options["likelihood"] == "logistic":
        options["likelihood"] = "logistic-image"
        why += ", with a scale per image"
    if c * h * w <= LINEAR_PATH_VALUES and len(images) >= LINEAR_PATH_IMAGES:
        options["linear_path"] = True
        why += "; a linear path started at PCA of the training images"
    return "res-vae", options, why


def resolve(
    model: str | None,
    options: dict[str, Any],
    images: torch.Tensor,
    input_shape: tuple[int, int, int],
) -> tuple[str, dict[str, Any], str | None]:
    """The model and options to build: ``model`` None -> ``choose``; a VAE whose likelihood is
    not set (absent or ``auto``) -> ``choose_likelihood``; anything else as given. The reason is
    None when nothing was chosen."""
    if model is None:
        name, chosen, why = choose(images, input_shape)
        given = {k: v for k, v in options.items() if (k, v) != ("likelihood", AUTO)}
        return name, {**chosen, **given}, why
    cls = MODELS.get(model)
    if (
        cls is None
        or "likelihood" not in {f.name for f in fields(cls.Config)}
        or options.get("likelihood", AUTO) != AUTO
    ):
        return model, options, None
    if issubclass(cls, PixelVAE):
        return (
            model,
            {**options, "likelihood": "bernoulli"},
            f"{model}: Bernoulli likelihood (its only one)",
        )
    chosen, why = choose_likelihood(images)
    return model, {**options, **chosen}, f"{model}: {why}"
