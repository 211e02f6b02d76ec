"""``gmm``: a Gaussian mixture (scikit-learn, full covariances) over a model's code vectors.

EM runs in rounds of EM_ROUND iterations until it converges, reaches sklearn's 100, or uses up
``max_seconds`` (shared between the classes by their number of codes): on 18,000 codes of 128
numbers one iteration took 0.65 s on a busy core, 55 of them to converge, and a floor-plan run's
fit after training has only its 5% of ``--max-minutes``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from aekit.config import option
from aekit.errors import ConfigError
from aekit.priors.base import Prior, between
from aekit.priors.fitting import max_seconds_option
from aekit.sampling import inverse_cdf

MAX_ITERATIONS = 100  # scikit-learn's default max_iter
EM_ROUND = 5  # iterations between looks at the clock (each look costs one more E-step)


@dataclass
class GMMConfig:
    components: int = option(10, "gmm: Gaussians per class", between(1, 1000))
    max_seconds: float = max_seconds_option("gmm")


class GMMPrior(Prior):
    """A Gaussian mixture with full covariances; on labelled data one mixture per class, weighted by
    the class frequencies, so the marginal is one big mixture and each class has its own."""

    name = "gmm"
    description = "Gaussian mixture (full covariances), one per class on labelled data"
    Config = GMMConfig
    class_conditional = True
    uniform_draw = "picks the mixture component by the inverse CDF of the weights"

    def __init__(self, code_shape: tuple[int, ...], num_classes: int | None, **options):
        super().__init__(code_shape, num_classes, **options)
        self.components = components = self.config.components
        d, total = math.prod(self.code_shape), components * (num_classes or 1)
        # log p(class) + log p(component | class)
        self.register_buffer("log_weights", torch.zeros(total))
        self.register_buffer("means", torch.zeros(total, d))
        self.register_buffer("scale_tril", torch.eye(d).repeat(total, 1, 1))
        self.register_buffer("component_class", torch.arange(total) // components)

    def fit(self, codes, labels, seed=0, quiet=True):
        flat = codes.flatten(1).double().numpy()
        start = time.perf_counter() if self.fit_started is None else self.fit_started
        limit = self.config.max_seconds
        groups = (
            [np.arange(len(flat))]
            if labels is None
            else [np.flatnonzero(labels.numpy() == c) for c in range(self.num_classes)]
        )
        iterations, converged, done_rows = 0, True, 0
        for c, rows in enumerate(groups):
            if len(rows) < self.components:
                where = f"class {c} has" if labels is not None else "there are"
                raise ConfigError(
                    f"prior 'gmm': {where} {len(rows)} codes for {self.components} mixture "
                    "components; use fewer components (--components) or more training images"
                )
            done_rows += len(rows)
            deadline = start + limit * done_rows / len(flat) if limit else math.inf
            gmm = _fit_mixture(flat[rows], self.components, seed, deadline)
            iterations, converged = max(iterations, gmm.n_iter_), converged and gmm.converged_
            part = slice(c * self.components, (c + 1) * self.components)
            self.log_weights[part] = torch.from_numpy(
                np.log(gmm.weights_ * len(rows) / len(flat))
            ).float()
            self.means[part] = torch.from_numpy(gmm.means_).float()
            self.scale_tril[part] = torch.linalg.cholesky(
                torch.from_numpy(gmm.covariances_)
            ).float()
        if not converged:
            self.fit_note = f"EM unconverged after {iterations} iterations" + (
                f": its {limit:.1f} s were up"
                if limit and time.perf_counter() >= start + limit
                else ""
            )
        return self.eval()

    def _component_log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        dist = torch.distributions.MultivariateNormal(
            self.means, scale_tril=self.scale_tril, validate_args=False
        )
        return dist.log_prob(codes.flatten(1).unsqueeze(1)) + self.log_weights  # n x components

    def _class_mask(self, labels: torch.Tensor) -> torch.Tensor:
        return self.component_class.unsqueeze(0) == labels.unsqueeze(1)  # n x components

    def log_prob(self, codes, labels=None):
        self._check_labels(labels, len(codes))
        joint = self._component_log_prob(codes)
        if labels is None:
            return joint.logsumexp(1)
        joint = joint.masked_fill(~self._class_mask(labels), -math.inf)
        class_log_prior = self.log_weights.masked_fill(
            ~self._class_mask(labels), -math.inf
        ).logsumexp(1)
        return joint.logsumexp(1) - class_log_prior

    def _mixture_weights(self) -> torch.Tensor:
        """Component weights, classes (or 1) x components, in float64."""
        return self.log_weights.double().exp().view(-1, self.components)

    def class_weights(self):
        weights = self._mixture_weights().sum(1)
        return weights / weights.sum()

    def sample(self, n, generator=None, labels=None):
        labels = self._labels_for(n, labels, generator)
        uniform = torch.rand(n, generator=generator)
        return self.from_noise(
            torch.randn(n, self.means.shape[1], generator=generator), uniform, labels
        )

    def from_noise(
        self, noise: torch.Tensor, uniform: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Codes for given draws: ``uniform`` (n, U[0, 1)) picks a component of the class's mixture
        by the inverse CDF of its weights, ``noise`` (n x d, N(0, 1)) becomes ``mean + L @
        noise``."""
        self._check_draws(labels, noise.shape[0])
        weights = self._mixture_weights()
        if labels is None:
            component = inverse_cdf(weights, uniform)
        else:
            component = labels * self.components + inverse_cdf(weights[labels], uniform)
        codes = self.means[component] + (self.scale_tril[component] @ noise.unsqueeze(-1)).squeeze(
            -1
        )
        return codes.view(-1, *self.code_shape)

    def sampling_note(self):
        return "z = means[k] + scale_tril[k] @ noise, k the component 'uniform' picks from the " + (
            "label's mixture" if self.conditional else "mixture"
        )


def _fit_mixture(rows: np.ndarray, components: int, seed: int, deadline: float) -> Any:
    """scikit-learn's GaussianMixture fitted to ``rows`` by EM in rounds of EM_ROUND iterations
    (warm starts), stopped when it converges, after MAX_ITERATIONS, or once ``deadline``
    (``time.perf_counter``) has passed; ``n_iter_`` counts them all."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(
        components,
        covariance_type="full",
        reg_covar=1e-4,
        random_state=seed,
        max_iter=EM_ROUND,
        warm_start=True,
    )
    done = 0
    # one BLAS thread: on 2 busy cores, 2 OpenBLAS threads took 57 s instead of 1 s per class
    # (spin-waiting)
    with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while True:
            gmm.fit(rows)
            done += gmm.n_iter_
            if gmm.converged_ or done >= MAX_ITERATIONS or time.perf_counter() >= deadline:
                break
    gmm.n_iter_ = done
    return gmm
