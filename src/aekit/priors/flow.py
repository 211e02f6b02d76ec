"""``flow``: a RealNVP normalising flow over a model's code vectors, for densities a few Gaussians
describe badly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from aekit.config import option
from aekit.priors.base import Prior, between
from aekit.priors.fitting import FitClock, fit_by_minibatches, max_seconds_option


@dataclass
class FlowConfig:
    layers: int = option(8, "flow: coupling layers", between(1, 256))
    hidden: int = option(128, "flow: width of each coupling network", between(1, 16_384))
    steps: int = option(
        2000,
        "flow: optimiser steps (at most; max_seconds may stop it sooner)",
        between(1, 10_000_000),
    )
    max_seconds: float = max_seconds_option("flow")


class _Coupling(nn.Module):
    """One affine coupling layer: the dimensions outside ``mask`` are scaled and shifted by a
    function of those inside it (and of the class), so the inverse and the Jacobian are exact."""

    def __init__(self, mask: torch.Tensor, hidden: int, classes: int):
        super().__init__()
        d = mask.numel()
        self.register_buffer("mask", mask.float())
        self.net = nn.Sequential(
            nn.Linear(d + classes, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, 2 * d),
        )
        nn.init.zeros_(self.net[-1].weight)  # starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(
        self, kept: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(torch.cat([kept, context], 1)).chunk(2, dim=1)
        free = 1 - self.mask
        return torch.tanh(s) * 2 * free, t * free  # bounded log-scales keep training stable

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """data -> base direction, with log|det J| per row."""
        s, t = self._scale_shift(x * self.mask, context)
        return x * s.exp() + t, s.sum(1)

    def inverse(self, y: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        s, t = self._scale_shift(y * self.mask, context)
        return (y - t) * (-s).exp()


class FlowPrior(Prior):
    """RealNVP (Dinh et al. 2017) on standardised codes, with a standard normal base; coupling
    masks alternate between even/odd and first/second-half dimensions so every pair interacts.
    On labelled data each coupling network also sees the one-hot class."""

    name = "flow"
    description = "RealNVP normalising flow (affine couplings), class-conditional on labelled data"
    Config = FlowConfig
    class_conditional = True

    def __init__(self, code_shape: tuple[int, ...], num_classes: int | None, **options):
        super().__init__(code_shape, num_classes, **options)
        d = math.prod(self.code_shape)
        index = torch.arange(d)
        masks = [index % 2 == 0, index % 2 == 1, index < d // 2, index >= d // 2]
        self.couplings = nn.ModuleList(
            _Coupling(masks[i % 4], self.config.hidden, num_classes or 0)
            for i in range(self.config.layers)
        )
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        self.register_buffer("class_log_prior", torch.zeros(num_classes or 1))

    def _context(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        if not self.conditional:
            return torch.zeros(n, 0)
        return F.one_hot(labels, self.num_classes).float()

    def _conditional_log_prob(
        self, flat: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        u = (flat - self.mean) / self.std
        total = -self.std.log().sum().expand(len(u))
        context = self._context(labels, len(u))
        for coupling in self.couplings:
            u, log_det = coupling(u, context)
            total = total + log_det
        return total - 0.5 * (u.pow(2).sum(1) + u.shape[1] * math.log(2 * math.pi))

    def log_prob(self, codes, labels=None):
        self._check_labels(labels, len(codes))
        flat = codes.flatten(1)
        if labels is not None or not self.conditional:
            return self._conditional_log_prob(flat, labels)
        per_class = [
            self._conditional_log_prob(flat, torch.full((len(flat),), c))
            for c in range(self.num_classes)
        ]
        # the marginal over classes
        return (torch.stack(per_class, 1) + self.class_log_prior).logsumexp(1)

    def class_weights(self):
        weights = self.class_log_prior.double().exp()
        return weights / weights.sum()

    def sample(self, n, generator=None, labels=None):
        labels = self._labels_for(n, labels, generator)
        return self.from_noise(torch.randn(n, self.mean.numel(), generator=generator), labels)

    def from_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Codes for given N(0, 1) draws ``noise`` (n x d): the flow's inverse."""
        self._check_draws(labels, noise.shape[0])
        # not len(): it fixes the batch size in torch.export
        u, context = noise, self._context(labels, noise.shape[0])
        for coupling in reversed(self.couplings):
            u = coupling.inverse(u, context)
        return (u * self.std + self.mean).view(-1, *self.code_shape)

    def sampling_note(self):
        return "z = the flow's inverse of noise" + (" given the label" if self.conditional else "")

    def fit(self, codes, labels, seed=0, quiet=True, lr: float = 1e-3):
        """Maximum likelihood with Adam on minibatches of 256 codes (seeded), cosine learning-rate
        decay to the end of ``steps`` or ``max_seconds``."""
        flat = codes.flatten(1).float()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-4))
        if labels is not None:
            counts = torch.bincount(labels, minlength=self.num_classes).float()
            self.class_log_prior.copy_((counts / counts.sum()).clamp_min(1e-12).log())
        clock = FitClock(
            self.name, self.config.steps, self.config.max_seconds, quiet, self.fit_started
        )
        self.fit_note = fit_by_minibatches(
            self,
            len(flat),
            256,
            clock,
            seed,
            lr,
            lambda idx: (
                -self._conditional_log_prob(
                    flat[idx], None if labels is None else labels[idx]
                ).mean()
            ),
        )
        return self
