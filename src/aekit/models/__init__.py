"""The model zoo: one file per family, one line per model in ``MODELS``."""

from __future__ import annotations

import itertools
from typing import Any

import torch

from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.contractive import ContractiveAE
from aekit.models.conv import ConvAE
from aekit.models.cvae import CVAE
from aekit.models.dense import DenseAE
from aekit.models.doc_unet import DocUNet
from aekit.models.linear import LinearAE
from aekit.models.pixel_vae import PixelVAE
from aekit.models.plan_layout import PlanLayoutVAE
from aekit.models.plan_vae import PlanVAE
from aekit.models.resnet import ResAE, ResVAE
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
    "res-ae": ResAE,
    "res-vae": ResVAE,
    "cvae": CVAE,
    "plan-vae": PlanVAE,
    "plan-layout": PlanLayoutVAE,
    "vq-vae": VQVAE,
    "tutorial-dae": TutorialDAE,
    "tutorial-docs": TutorialDocs,
    "doc-unet": DocUNet,
    "tutorial-vae-dense": TutorialVAEDense,
    "tutorial-vae-conv": TutorialVAEConv,
}

MAX_MODEL_SIZE = 500_000_000  # parameters and buffers: 2 GB of float32

__all__ = ["MODELS", "Autoencoder", "build_model", "describe_models"]


def build_model(
    name: str,
    options: dict[str, Any] | None,
    input_shape: tuple[int, int, int],
    num_classes: int | None = None,
) -> Autoencoder:
    """A model by registry name, its options validated against the model's config dataclass."""
    if name not in MODELS:
        raise ConfigError(
            f"unknown model {name!r}; choose one of {', '.join(MODELS)} (see `aekit models`)"
        )
    cls = MODELS[name]
    config = cls.make_config(dict(options or {}))
    # Count the tensors on the meta device first: nothing is allocated for a model too large to
    # build.
    with torch.device("meta"):
        probe = cls(config, tuple(input_shape), num_classes)
    size = sum(t.numel() for t in itertools.chain(probe.parameters(), probe.buffers()))
    if size > MAX_MODEL_SIZE:
        raise ConfigError(
            f"model '{name}' with these options on {'x'.join(map(str, input_shape))} inputs has "
            f"{size:,} "
            f"parameters; aekit builds at most {MAX_MODEL_SIZE:,} (check latent_dim, hidden, "
            "channels)"
        )
    return cls(config, tuple(input_shape), num_classes)


def describe_models() -> str:
    """One line per model, as `aekit models` prints them."""
    width = max(map(len, MODELS))
    lines = []
    for name, cls in MODELS.items():
        tags = [
            t for t, on in (("generative", cls.generative), ("conditional", cls.conditional)) if on
        ]
        lines.append(
            f"{name:<{width}}  {cls.description}" + (f"  [{', '.join(tags)}]" if tags else "")
        )
    lines.append(
        "Any model becomes a denoiser with --noise salt-pepper:0.1, gaussian:0.3 or masking:0.25."
    )
    return "\n".join(lines)
