"""Conditional VAE: encoder and decoder both see a condition, a class label or an image.

With a label one can ask for a chosen class; with an image (a garment's silhouette, an
outline: ``aekit.data.conditions``) one can ask for items that fit a given shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aekit.data.conditions import CONDITION_KINDS
from aekit.errors import ConfigError
from aekit.models.layers import ConvDecoder, ConvEncoder, check_conv_fit, mlp
from aekit.models.vae import ELBOConfig, GaussianVAE


@dataclass
class CVAEConfig(ELBOConfig):
    latent_dim: int = 16
    condition_kind: str = "label"  # "label", "silhouette" or "outline"
    architecture: str = "dense"  # "dense" or "conv"
    hidden: tuple[int, ...] = (512,)
    channels: tuple[int, ...] = (32, 64)
    condition_dim: int = 64  # size of the embedding of an image condition
    activation: str = "relu"


class CVAE(GaussianVAE):
    name = "cvae"
    description = (
        "conditional VAE on a class label or a condition image (silhouette/outline), dense or conv"
    )
    Config = CVAEConfig
    conditional = True

    def __init__(self, config: CVAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        if config.condition_kind not in CONDITION_KINDS:
            raise ConfigError(
                f"model 'cvae': condition_kind must be one of {', '.join(CONDITION_KINDS)}"
            )
        if config.architecture not in ("dense", "conv"):
            raise ConfigError("model 'cvae': architecture must be 'dense' or 'conv'")
        self.condition_kind = config.condition_kind
        c, n = self.input_shape[0], math.prod(self.input_shape)
        if config.condition_kind == "label":
            if not num_classes:
                raise ConfigError(
                    "model 'cvae' with condition_kind 'label' needs a labelled dataset"
                )
            cond_dim = num_classes
        else:
            cond_dim = config.condition_dim
            self.condition_net = nn.Sequential(
                self._image_encoder(c), nn.LazyLinear(cond_dim), nn.ReLU()
            )
        self.image_net = self._image_encoder(c)
        width = config.hidden[-1]
        with torch.no_grad():
            flat = self.image_net(torch.zeros(1, *self.input_shape)).shape[1]
        self.encoder = mlp(
            [flat + cond_dim, *config.hidden], config.activation, last_activation=True
        )
        self.to_mu, self.to_logvar = (
            nn.Linear(width, config.latent_dim),
            nn.Linear(width, config.latent_dim),
        )
        if config.architecture == "conv":
            size = check_conv_fit(self.input_shape, len(config.channels), self.name)
            self.decoder = ConvDecoder(
                config.latent_dim + cond_dim, config.channels, c, size, config.activation
            )
        else:
            self.decoder = nn.Sequential(
                mlp([config.latent_dim + cond_dim, *reversed(config.hidden), n], config.activation),
                nn.Unflatten(1, self.input_shape),
            )
        if config.condition_kind != "label":
            # materialise the lazy layer so parameters are known before training
            with torch.no_grad():
                self.condition_net(torch.zeros(1, *self.input_shape))

    def _image_encoder(self, channels: int) -> nn.Module:
        if self.config.architecture == "conv":
            check_conv_fit(self.input_shape, len(self.config.channels), self.name)
            return ConvEncoder(channels, self.config.channels, self.config.activation)
        return nn.Flatten()

    def embed(self, condition: torch.Tensor | None) -> torch.Tensor:
        if condition is None:
            raise ConfigError("model 'cvae' needs a condition (class labels or condition images)")
        if self.condition_kind == "label":
            return F.one_hot(condition.long(), self.num_classes).float()
        return self.condition_net(condition)

    def features(self, x, condition=None):
        return self.encoder(torch.cat([self.image_net(x), self.embed(condition)], 1))

    def decoder_params(self, z, condition=None):
        return self.decoder(torch.cat([z, self.embed(condition)], 1))

    def sample(self, n, condition=None, generator=None):
        if condition is None or len(condition) != n:
            raise ConfigError(
                f"model 'cvae': sample(n) needs n={n} conditions (labels or condition images)"
            )
        return super().sample(n, condition, generator)
