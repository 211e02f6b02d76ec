"""The interface every aekit model shares.

A model is a plain ``nn.Module`` built from a config dataclass and the data's shape.
Trainer, evaluator, plots, export and the web explorer only use the methods below, so a
new model family is one file (a config dataclass + a subclass) plus one registry line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any, ClassVar

import torch
from torch import nn

from aekit.errors import ConfigError


class Autoencoder(nn.Module):
    """Base class: ``encode``/``decode``/``reconstruct``/``loss`` (+ ``sample`` if generative).

    Conventions
    - images are float tensors ``B x C x H x W`` in [0, 1]; ``decode`` returns images in [0, 1];
    - ``loss`` returns a dict of named scalar terms; ``"loss"`` is the total to minimise,
      averaged over the batch (per image, summed over pixels for VAEs: nats per image);
    - ``condition`` is an int64 label tensor ``B`` or an image tensor ``B x C' x H x W``
      for conditional models, ``None`` otherwise.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type] = object
    generative: ClassVar[bool] = False
    conditional: ClassVar[bool] = False
    # Fully convolutional models code an image as a feature map, not a latent vector: latent-space
    # pictures and probes (scatter, traversal, class Gaussians) do not apply to them.
    spatial_code: ClassVar[bool] = False
    # Page sides a fully convolutional model needs in multiples of (strided models that do not pad
    # themselves); the tiler pads each tile to it and crops back.
    size_multiple: ClassVar[int] = 1
    # The code is a map of integer codebook indices (vq-vae), not a float vector: there is no mean,
    # range or straight line between codes, and Gaussian priors (gmm, flow) cannot fit it.
    discrete_code: ClassVar[bool] = False
    # Decoding draws the image step by step (an autoregressive decoder): no one-pass ONNX graph.
    sequential_decoder: ClassVar[bool] = False
    # Density models (VAEs) name their likelihood p(x|z) ("bernoulli", "gaussian", ...); the
    # evaluator computes ELBO and IWAE bounds for them and only them.
    likelihood: str | None = None
    # Conditional models: what they are conditioned on ("label", "silhouette" or "outline").
    condition_kind: str | None = None
    # What a code is, for callers that treat codes by kind: "none" (a plain vector or feature map),
    # "gaussian" (q(z|x) = N(mu, sigma^2) under the prior N(0, I): posterior draws, --temperature,
    # spherical interpolation), "discrete" (codebook indices: ``discrete_code``, ``num_codes``).
    latent_kind: ClassVar[str] = "none"
    # The decoder is affine (the linear autoencoder): the evaluator compares its image subspace with PCA's.
    affine_decoder: ClassVar[bool] = False
    # The model trains a prior over its own codes (vq-vae's PixelCNN): export and the explorer offer it
    # as the prior "model" (``priors.CodeMapPrior.from_model``).
    own_code_prior: ClassVar[bool] = False
    # Discrete-code models: the codebook size (indices 0 .. num_codes - 1).
    num_codes: int | None = None

    def __init__(self, config: Any, input_shape: tuple[int, int, int], num_classes: int | None = None):
        super().__init__()
        self.config = config
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = num_classes

    # --- the interface -------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    @property
    def label_conditional(self) -> bool:
        """Conditioned on a class label (one per image), not on a condition image."""
        return self.conditional and self.condition_kind == "label"

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The code of ``x`` (for VAEs: the posterior mean)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1] from codes."""
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, condition), condition)

    def loss(
        self,
        x: torch.Tensor,
        target: torch.Tensor | None = None,
        condition: torch.Tensor | None = None,
        step: int = 0,
    ) -> dict[str, torch.Tensor]:
        """Named loss terms; ``target`` defaults to ``x`` (denoising passes the clean image)."""
        raise NotImplementedError

    def init_from_data(self, images: torch.Tensor) -> None:
        """Set what depends on the training data before the first step (a fresh run only; a resumed
        one restores it): ``images`` is a sample of the training split, ``N x C x H x W`` in [0, 1].
        Most models start from random weights and do nothing here."""

    def sample(
        self, n: int, condition: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} is not a generative model")

    def prior_after_training(self) -> tuple[str, float] | None:
        """(prior name, share of ``max_minutes``) when ``aekit train`` fits a prior to the codes at the
        end of the run, so ``aekit sample`` draws from it straight away; None for most models."""
        return None

    def decode_raw(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder before it is clipped to [0, 1] (the linear AE's affine map); ``decode`` by default."""
        return self.decode(z, condition)

    # --- density models (``likelihood`` is not None) --------------------------------
    def posterior(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of q(z|x)."""
        raise NotImplementedError(f"{self.name} has no posterior")

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) summed over pixels, per image (nats)."""
        raise NotImplementedError(f"{self.name} has no likelihood")

    def log_likelihood_k(self, x: torch.Tensor, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x|z) for k draws per image (``z``: k x B x d; result k x B). This default repeats x
        k times; a model overrides it to share the work that depends on x alone."""
        k, b = z.shape[:2]

        def repeat(t: torch.Tensor) -> torch.Tensor:
            return t.unsqueeze(0).expand(k, *t.shape).flatten(0, 1)

        return self.log_likelihood(repeat(x), z.flatten(0, 1), None if condition is None else repeat(condition)).view(k, b)

    # --- helpers shared by all models ---------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    @classmethod
    def make_config(cls, options: dict[str, Any]) -> Any:
        """Build this model's config from a plain dict, refusing unknown keys and wrong types."""
        return config_from_dict(cls.Config, options, where=f"model '{cls.name}'")


def config_from_dict(config_type: type, options: dict[str, Any], where: str) -> Any:
    """Validate ``options`` against a dataclass and build it (lists become tuples where declared)."""
    known = {f.name: f for f in fields(config_type)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    defaults = config_type()
    values = {}
    for key, value in options.items():
        expected = getattr(defaults, key)  # the dataclass default gives the type
        values[key] = _coerce(value, expected, f"{where}: option '{key}'")
        _check_range(values[key], known[key].metadata.get("min"), f"{where}: option '{key}'")
    return config_type(**values)


def _check_range(value: Any, minimum: float | None, where: str) -> None:
    """Sizes (integers) are at least 1 and weights (floats) finite and >= 0, unless the field's
    metadata gives another ``min``: a run folder from elsewhere cannot ask for a negative layer."""
    if isinstance(value, tuple):
        for item in value:
            _check_range(item, minimum, where)
    elif isinstance(value, int) and not isinstance(value, bool):
        low = 1 if minimum is None else minimum
        if value < low:
            raise ConfigError(f"{where} must be at least {low}, got {value!r}")
    elif isinstance(value, float):
        low = 0.0 if minimum is None else minimum
        if not (math.isfinite(value) and value >= low):
            raise ConfigError(f"{where} must be a finite number >= {low:g}, got {value!r}")


def _coerce(value: Any, expected: Any, where: str) -> Any:
    if expected is None or value is None:
        return value
    if isinstance(expected, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(expected, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(expected, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(expected, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(expected, (tuple, list)):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        item = expected[0] if expected else None
        return tuple(_coerce(v, item, where) for v in value)
    return value
