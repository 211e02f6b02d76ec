"""The model zoo: one file per family, one line per model in ``MODELS``."""

from __future__ import annotations

from typing import Any

from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.contractive import ContractiveAE
from aekit.models.conv import ConvAE
from aekit.models.cvae import CVAE
from aekit.models.dense import DenseAE
from aekit.models.linear import LinearAE
from aekit.models.pixel_vae import PixelVAE
from aekit.models.sparse import SparseAE
from aekit.models.tutorial import TutorialDAE, TutorialDocs, TutorialVAEConv, TutorialVAEDense
from aekit.models.vae import VAE, ConvVAE
from aekit.models.vq_vae import VQVAE

MODELS: dict[str, type[Autoencoder]] = {
    "linear": LinearAE,
    "dense": DenseAE,
    "conv": ConvAE,
    "sparse": SparseAE,
    "contractive": ContractiveAE,
    "vae": VAE,
    "conv-vae": ConvVAE,
    "pixel-vae": PixelVAE,
    "cvae": CVAE,
    "vq-vae": VQVAE,
    "tutorial-dae": TutorialDAE,
    "tutorial-docs": TutorialDocs,
    "tutorial-vae-dense": TutorialVAEDense,
    "tutorial-vae-conv": TutorialVAEConv,
}

__all__ = ["MODELS", "Autoencoder", "build_model", "describe_models"]


def build_model(
    name: str, options: dict[str, Any] | None, input_shape: tuple[int, int, int], num_classes: int | None = None
) -> Autoencoder:
    """A model by registry name, its options validated against the model's config dataclass."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)} (see `aekit models`)")
    cls = MODELS[name]
    return cls(cls.make_config(dict(options or {})), tuple(input_shape), num_classes)


def describe_models() -> str:
    """One line per model, as `aekit models` prints them."""
    width = max(map(len, MODELS))
    lines = []
    for name, cls in MODELS.items():
        tags = [t for t, on in (("generative", cls.generative), ("conditional", cls.conditional)) if on]
        lines.append(f"{name:<{width}}  {cls.description}" + (f"  [{', '.join(tags)}]" if tags else ""))
    lines.append("Any model becomes a denoiser with --noise salt-pepper:0.1, gaussian:0.3 or masking:0.25.")
    return "\n".join(lines)
