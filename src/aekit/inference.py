"""A model on tensors: denoise an image, sample, encode, decode, interpolate.

The library under the commands (``aekit.commands``), the explorer (``aekit.serve``), the plots and
``aekit.Run``'s Python API; it reads and writes no files (``aekit.formats`` does). Whole pages in
tiles: ``aekit.tiling`` and ``aekit.scans``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from aekit.data.conditions import make_condition
from aekit.errors import ConfigError, DataError
from aekit.images import (
    ImageFile,
    resize,
    to_channels,
)
from aekit.models.base import Autoencoder
from aekit.scan_files import clean_in_model_channels
from aekit.scans import CleanedPage, TrainingText, clean_page

if TYPE_CHECKING:
    from aekit.priors import Prior  # a learned prior over codes: replaces N(0, I) when sampling

# decode batch: 10,000 conv-vae samples in 0.6 s fp32 (1.06 s with 1,000: maps then run from DRAM)
SAMPLE_BATCH = 256


def resized_reconstruct(
    model: Autoencoder, image: torch.Tensor, bf16: bool = False
) -> torch.Tensor:
    """A fixed-size model's output on any ``C x H x W`` image: resized to its input and back."""
    h, w = image.shape[-2:]
    device = next(model.parameters()).device
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        y = (
            model.reconstruct(resize(image, tuple(model.input_shape[1:]))[None].to(device))
            .float()
            .cpu()[0]
        )
    return resize(y, (h, w))


def denoise_image(
    model: Autoencoder,
    image: ImageFile,
    tiled: bool,
    bf16: bool = False,
    text: TrainingText | None = None,
    dpi: float | None = None,
) -> CleanedPage:
    """The model's output for one image, in the image's own channels (see
    ``scan_files.clean_in_model_channels``); a fully convolutional model cleans the page at the
    training pages' text size (``scans.clean_page`` with ``text``; ``dpi``, the file's, is a hint
    where the page has no text), any other model at its input size; ``bf16``: under bfloat16
    autocast."""
    cleaned: list[CleanedPage] = []

    def clean(x: torch.Tensor) -> torch.Tensor:
        if tiled:
            cleaned.append(clean_page(model, x, text, bf16=bf16, dpi=dpi))
            return cleaned[-1].pixels
        return resized_reconstruct(model, x, bf16=bf16)

    pixels = clean_in_model_channels(image, model.input_shape[0], clean)
    return replace(cleaned[0], pixels=pixels) if cleaned else CleanedPage(pixels, 1.0, None)


def sample_images(
    model: Autoencoder,
    n: int,
    *,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    condition_image: torch.Tensor | None = None,
    temperature: float = 1.0,
    prior: Prior | None = None,
    bf16: bool = False,
    batch_size: int = SAMPLE_BATCH,
) -> torch.Tensor:
    """``n`` images from the model, ``N x C x H x W``: see :func:`sample_batches`."""
    return torch.cat(
        list(
            sample_batches(
                model,
                n,
                seed=seed,
                labels=labels,
                condition_image=condition_image,
                temperature=temperature,
                prior=prior,
                bf16=bf16,
                batch_size=batch_size,
            )
        )
    )


def sample_batches(
    model: Autoencoder,
    n: int,
    *,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    condition_image: torch.Tensor | None = None,
    temperature: float = 1.0,
    prior: Prior | None = None,
    bf16: bool = False,
    batch_size: int = SAMPLE_BATCH,
) -> Iterator[torch.Tensor]:
    """``n`` images from the model in batches: codes from N(0, T^2 I) (or ``prior``), decoded
    (``bf16``: under bfloat16 autocast, ~2x faster on CPUs with AVX-512 BF16). The same seed gives
    the same images (global RNG draws inside a model are seeded too, and restored after each batch,
    so a caller's work between batches neither sees nor changes them)."""
    check_sample_options(n, temperature, seed)
    if prior is None and not model.generative:
        raise ConfigError(
            f"model {model.name!r} is not generative: fit a prior to its codes (aekit fit-prior "
            "RUN --prior gmm), then sample with --prior gmm"
        )
    gaussian = model.latent_kind == "gaussian"
    if temperature != 1.0 and (prior is not None or not gaussian):
        raise ConfigError("--temperature scales the N(0, I) codes of a VAE; it does not apply here")
    conditions = _sample_conditions(model, labels, condition_image)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    # the global RNG's state inside the model, between batches
    model_rng = torch.Generator().manual_seed(seed)
    # of equal sizes (+-1): oneDNN makes its kernels for few shapes
    batches = math.ceil(n / batch_size)
    for k in range(batches):
        start = k * n // batches
        m = (k + 1) * n // batches - start
        cond = conditions(start, m)
        cond = None if cond is None else cond.to(device)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
        with torch.random.fork_rng(devices=[]), torch.inference_mode(), autocast:
            torch.set_rng_state(model_rng.get_state())
            if prior is not None:
                z = prior.sample(
                    m,
                    generator=generator,
                    labels=None if labels is None else labels[start : start + m],
                )
                images = model.decode(z.to(device), cond)
            elif temperature != 1.0:
                z = torch.randn(m, model.latent_dim, generator=generator) * temperature
                images = model.decode(z.to(device), cond)
            else:
                images = model.sample(m, cond, generator=generator)
            model_rng.set_state(torch.get_rng_state())
        yield images.float().cpu()


MAX_SEED = 2**63  # seeds are 0 <= seed < 2**63, as in training (torch's generators take 64 bits)


def check_seed(seed: int) -> None:
    if not 0 <= seed < MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and 2**63-1, got {seed}")


def check_sample_options(n: int, temperature: float, seed: int) -> None:
    """``aekit sample``'s numbers: checked before the run is loaded (and by
    :func:`sample_batches`)."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if not 0 < temperature < math.inf:  # NaN fails both comparisons
        raise ConfigError(f"--temperature must be a positive finite number, got {temperature}")
    check_seed(seed)


def _sample_conditions(
    model: Autoencoder, labels: torch.Tensor | None, condition_image: torch.Tensor | None
) -> Callable[[int, int], torch.Tensor | None]:
    """The condition of draws ``start .. start + m`` (made per batch: memory does not grow with
    n)."""
    if not model.conditional:
        if condition_image is not None:
            raise ConfigError(
                f"model {model.name!r} is not conditional: --condition-image does not apply"
            )
        return lambda start, m: None
    if model.label_conditional:
        if labels is None:  # every class in turn
            return lambda start, m: torch.arange(start, start + m) % int(model.num_classes)
        return lambda start, m: labels[start : start + m]
    if condition_image is None:
        raise ConfigError(
            f"model {model.name!r} draws to a {model.condition_kind}: give --condition-image FILE"
        )

    x = resize(to_channels(condition_image, model.input_shape[0]), tuple(model.input_shape[1:]))
    condition = make_condition(model.condition_kind, x[None], None)
    return lambda start, m: condition.expand(m, -1, -1, -1)


def check_vector_code(model: Autoencoder) -> None:
    if model.spatial_code:
        raise ConfigError(
            f"model {model.name!r} codes images as feature maps, not vectors; encode/decode "
            "need a latent vector"
        )


def encode_images(
    model: Autoencoder,
    images: torch.Tensor,
    *,
    condition: torch.Tensor | None = None,
    sample: bool = False,
    seed: int = 0,
    batch_size: int = 256,
) -> torch.Tensor:
    """Codes ``N x d`` of images at the model's input size: posterior means, or with ``sample`` one
    draw from q(z|x) per image (VAEs)."""
    check_vector_code(model)
    if sample and model.latent_kind != "gaussian":
        raise ConfigError(f"model {model.name!r} has no posterior q(z|x) to --sample from")
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    codes = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            cond = None if condition is None else condition[start : start + batch_size].to(device)
            if sample:
                mu, logvar = model.posterior(x, cond)
                eps = torch.randn(mu.shape, generator=generator).to(device)
                codes.append((mu + eps * (0.5 * logvar).exp()).float().cpu())
            else:
                codes.append(model.encode(x, cond).float().flatten(1).cpu())
    return torch.cat(codes)


def encode_batches(
    model: Autoencoder,
    images: torch.Tensor,
    condition: torch.Tensor | None = None,
    batch_size: int = 512,
) -> torch.Tensor:
    """``model.encode`` of images in batches, without autograd: codes as the model gives them
    (posterior means for VAEs; feature maps for a spatial code), on the CPU."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        return torch.cat(
            [
                model.encode(
                    images[i : i + batch_size].to(device),
                    None if condition is None else condition[i : i + batch_size].to(device),
                ).cpu()
                for i in range(0, len(images), batch_size)
            ]
        )


def images_for_model(model: Autoencoder, files: Sequence[ImageFile]) -> torch.Tensor:
    """Files converted to the model's channels and resized to its input size, as one batch."""
    c, h, w = model.input_shape
    return torch.stack([resize(to_channels(f.pixels, c), (h, w)) for f in files])


def encoding_condition(
    model: Autoencoder, images: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor | None:
    if not model.conditional:
        return None
    if model.label_conditional and labels is None:
        raise ConfigError(f"model {model.name!r} is label-conditional: encode a labelled --dataset")

    return make_condition(model.condition_kind, images, labels)


def decode_codes(
    model: Autoencoder,
    codes: torch.Tensor,
    labels: torch.Tensor | None = None,
    batch_size: int = 256,
    source: str | Path | None = None,
) -> torch.Tensor:
    """Images from codes (a label-conditional model needs one label per code); ``source`` is the
    codes file that errors name."""
    check_vector_code(model)
    if codes.shape[1] != model.latent_dim:
        raise DataError(
            f"codes have {codes.shape[1]} numbers each, the model's latent has {model.latent_dim} "
            f"(codes of another model?)",
            source,
        )
    if model.conditional and not model.label_conditional:
        raise ConfigError(
            f"model {model.name!r} decodes given a {model.condition_kind} image, which a codes "
            "file does not hold; draw from it with `aekit sample --condition-image FILE`"
        )
    if model.conditional and labels is None:
        raise ConfigError(
            f"model {model.name!r} needs a class label per code to decode (the label column)"
        )
    device = next(model.parameters()).device
    with torch.inference_mode():
        return torch.cat(
            [
                model.decode(
                    codes[i : i + batch_size].to(device),
                    None if labels is None else labels[i : i + batch_size].to(device),
                )
                .float()
                .cpu()
                for i in range(0, len(codes), batch_size)
            ]
        )


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of vectors ``a`` -> ``b`` at fractions ``t`` (K) -> ``K x d``: under
    a Gaussian prior the straight line's middle has an untypically small norm; the arc keeps it."""
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1, 1))
    if theta.abs() < 1e-4 or torch.pi - theta < 1e-4:  # parallel or opposite: no unique arc
        return lerp(a, b, t)
    t = t.view(-1, 1)
    return (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / torch.sin(theta)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t.view(-1, 1)
    return (1 - t) * a + t * b


MAX_STEPS = 1000  # frames held and laid in one strip (and a GIF): 1,000 of 64x64 RGB take 50 MB


def check_steps(steps: int) -> None:
    if not 2 <= steps <= MAX_STEPS:
        raise ConfigError(f"--steps must be between 2 and {MAX_STEPS:,}, got {steps:,}")


def interpolate_codes(
    model: Autoencoder, a: torch.Tensor, b: torch.Tensor, steps: int
) -> tuple[torch.Tensor, str]:
    """``steps`` codes from ``a`` to ``b`` and how: spherical for Gaussian latents, else linear."""
    check_steps(steps)
    t = torch.linspace(0, 1, steps)
    if model.latent_kind == "gaussian":
        return slerp(a, b, t), "spherical interpolation (the latent is Gaussian)"
    return lerp(a, b, t), "linear interpolation"


def class_centroids(
    model: Autoencoder,
    images: torch.Tensor,
    labels: torch.Tensor,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean code of each class ``num_classes x d``."""
    codes = encode_images(model, images, condition=condition)
    k = int(labels.max()) + 1
    sums = torch.zeros(k, codes.shape[1]).index_add_(0, labels, codes)
    counts = torch.bincount(labels, minlength=k).clamp_min(1).unsqueeze(1)
    return sums / counts
