"""``pixelcnn``: a vq-vae's own PixelCNN over its maps of codebook indices, trained further on the
training index maps (the model's prior was trained while the codes still moved)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from aekit.config import option
from aekit.errors import ConfigError
from aekit.models.vq_vae import VQVAE, PixelCNN
from aekit.priors.base import ExportedPrior, Prior, between, recipe_header
from aekit.priors.fitting import FitClock, fit_by_minibatches, max_seconds_option

# What a saved PixelCNN may claim before it is built (its size is counted too, see load_prior).
NET_LIMITS = {"num_codes": 1 << 16, "channels": 4096, "layers": 256, "kernel": 31}


@dataclass
class PixelCNNPriorConfig:
    steps: int = option(
        2000,
        "pixelcnn: optimiser steps (at most; max_seconds may stop it sooner)",
        between(1, 10_000_000),
    )
    max_seconds: float = max_seconds_option("pixelcnn")


class CodeMapPrior(Prior):
    """A vq-vae's PixelCNN as a stand-alone prior (``aekit fit-prior RUN --prior pixelcnn`` trains
    it further on the training index maps); codes are ``h x w`` int64 index maps."""

    name = "pixelcnn"
    description = "vq-vae's gated PixelCNN over its index maps, trained further on the final codes"
    Config = PixelCNNPriorConfig
    discrete_code = True

    def __init__(
        self,
        code_shape: tuple[int, ...],
        num_classes: int | None,
        num_codes: int,
        channels: int,
        layers: int,
        kernel: int,
        **options: Any,
    ):
        super().__init__(code_shape, num_classes, **options)
        if len(self.code_shape) != 2:
            raise ConfigError(
                f"prior 'pixelcnn' is over h x w index maps, not codes of shape "
                f"{list(self.code_shape)}"
            )
        net = {"num_codes": num_codes, "channels": channels, "layers": layers, "kernel": kernel}
        for key, value in net.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= NET_LIMITS[key]
            ):
                raise ConfigError(
                    f"prior 'pixelcnn': {key} must be an integer from 1 to {NET_LIMITS[key]:,}, "
                    f"got {value!r}"
                )
        self.net = PixelCNN(**net)

    def options(self) -> dict[str, Any]:
        return {**super().options(), **self.net.options()}

    @classmethod
    def for_model(cls, model, code_shape, num_classes, options):
        """Starts from the prior the model learned while training."""
        return cls.from_model(model, **options)

    @classmethod
    def from_model(cls, model: VQVAE, **options: Any) -> CodeMapPrior:
        """The model's own PixelCNN, as a prior."""
        prior = cls(model.code_shape, None, **model.prior.options(), **options)
        prior.net.load_state_dict(model.prior.state_dict())
        return prior.eval()

    def fit(self, codes, labels=None, seed=0, quiet=True, lr: float = 1e-3):
        """Maximum likelihood on fixed index maps, Adam on minibatches of 128, cosine decay to the
        end of ``steps`` or ``max_seconds``."""
        steps = self.config.steps

        def report(step: int, loss: torch.Tensor) -> None:
            if not quiet and (step + 1) % 500 == 0:
                print(f"  pixelcnn step {step + 1}/{steps}: {loss.item():.2f} nats per map")

        clock = FitClock(self.name, steps, self.config.max_seconds, quiet, self.fit_started)
        self.fit_note = fit_by_minibatches(
            self,
            len(codes),
            128,
            clock,
            seed,
            lr,
            lambda idx: -self.net.log_prob(codes[idx]).mean(),
            report,
        )
        return self

    def sample(self, n, generator=None, labels=None):
        self._check_labels(labels, n)
        return self.net.sample(n, self.code_shape, generator)

    def log_prob(self, codes, labels=None):
        self._check_labels(labels, len(codes))
        return self.net.log_prob(codes)

    def export(self, name, latent, decoder_conditions, class_names, model, batch):
        """One step of the autoregressive loop, ``indices -> logits``, at any map size; the loop
        stays in the recipe (a graph with it unrolled would grow with the map size and fix it)."""
        indices = {k: v for k, v in latent.items() if k in ("name", "shape", "dtype", "range")}
        logits = {
            "name": "logits",
            "shape": ["batch", self.net.num_codes, *latent["shape"][1:]],
            "dtype": "float32",
            "note": "logits[:, :, i, j] depend only on the indices before (i, j) in raster order",
        }
        example = torch.randint(self.net.num_codes, (batch, *self.code_shape))
        spec = {
            "kind": self.name,
            "class_conditional": False,
            "code_shape": list(self.code_shape),
            "sampling": "one step of the autoregressive loop: sample positions in raster order, "
            "each from softmax(logits[:, :, i, j]) of the map drawn so far (the recipe)",
            "recipe": self._recipe(name, model),
        }
        return ExportedPrior(self.net.eval(), (example,), [indices], [logits], spec, any_size=True)

    def _recipe(self, name: str, model) -> str:
        h, w = self.code_shape
        lines = recipe_header(name, pick=True)
        lines += [
            f"h, w = {h}, {w}  # the index map of a "
            f"{model.input_shape[1]}x{model.input_shape[2]} image",
            "uniform = rng.random((n, h, w))",
            "indices = np.zeros((n, h, w), dtype=np.int64)",
            "for i in range(h):  # raster order: each index given the ones before it",
            "    for j in range(w):",
            '        (logits,) = prior.run(None, {"indices": indices})',
            "        at = logits[:, :, i, j].astype(np.float64)",
            "        indices[:, i, j] = pick(np.exp(at - at.max(1, keepdims=True)), uniform[:, "
            "i, j])",
            '(images,) = decoder.run(None, {"indices": indices})  # n x C x H x W in [0, 1]',
        ]
        return "\n".join(lines) + "\n"
