"""The interface every aekit model shares.

A model is a plain ``nn.Module`` built from a config dataclass and the data's shape.
Trainer, evaluator, plots, export and the web explorer only use the methods below, so a
new model family is one file (a config dataclass + a subclass) plus one registry line.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import torch
from torch import nn

from aekit.config_dicts import config_from_dict


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
    # The decoder is affine (the linear autoencoder): the evaluator compares its image subspace with
    # PCA's.
    affine_decoder: ClassVar[bool] = False
    # The model trains a prior over its own codes (vq-vae's PixelCNN): export and the explorer offer
    # it
    # as the prior "model" (``priors.CodeMapPrior.from_model``).
    own_code_prior: ClassVar[bool] = False
    # Discrete-code models: the codebook size (indices 0 .. num_codes - 1).
    num_codes: int | None = None

    def __init__(
        self, config: Any, input_shape: tuple[int, int, int], num_classes: int | None = None
    ):
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

    def condition_of(self, data: Any, rows: torch.Tensor | None = None) -> torch.Tensor | None:
        """What this model is conditioned on for ``rows`` of ``data`` (every row when None), as the
        data gives it (``ImageSet.condition``: labels, images derived from the images, a floor
        plan's footprint); None for an unconditional model. Training and every reader of a run ask
        here."""
        if not self.conditional:
            return None
        return data.condition(
            self.condition_kind, torch.arange(len(data)) if rows is None else rows
        )

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
        self,
        n: int,
        condition: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} is not a generative model")

    def prior_after_training(self) -> tuple[str, float] | None:
        """(prior name, share of ``max_minutes``) when ``aekit train`` fits a prior to the codes at
        the end of the run, so ``aekit sample`` draws from it straight away; None for most
        models."""
        return None

    def default_prior(self) -> str | None:
        """The prior ``aekit sample`` and ``Run.sample`` draw codes from when no ``--prior`` names
        one and the run folder has it fitted: the one training fits (``prior_after_training``)."""
        after = self.prior_after_training()
        return None if after is None else after[0]

    def decode_raw(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder before it is clipped to [0, 1] (the linear AE's affine map); ``decode`` by
        default."""
        return self.decode(z, condition)

    # --- density models (``likelihood`` is not None) --------------------------------
    def posterior(
        self, x: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of q(z|x)."""
        raise NotImplementedError(f"{self.name} has no posterior")

    def log_likelihood(
        self, x: torch.Tensor, z: torch.Tensor, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(x|z) summed over pixels, per image (nats)."""
        raise NotImplementedError(f"{self.name} has no likelihood")

    def log_likelihood_k(
        self, x: torch.Tensor, z: torch.Tensor, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(x|z) for k draws per image (``z``: k x B x d; result k x B). This default repeats x
        k times; a model overrides it to share the work that depends on x alone."""
        k, b = z.shape[:2]

        def repeat(t: torch.Tensor) -> torch.Tensor:
            return t.unsqueeze(0).expand(k, *t.shape).flatten(0, 1)

        return self.log_likelihood(
            repeat(x), z.flatten(0, 1), None if condition is None else repeat(condition)
        ).view(k, b)

    # --- helpers shared by all models ---------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    @classmethod
    def make_config(cls, options: dict[str, Any]) -> Any:
        """Build this model's config from a plain dict, refusing unknown keys and wrong types."""
        return config_from_dict(cls.Config, options, f"model '{cls.name}'")
