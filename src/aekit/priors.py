"""Priors learned after training, from the codes the encoder actually produces.

A VAE is trained to make q(z) = mean of q(z|x) look like N(0, I), but it never quite does: some
directions are unused, classes sit in separate lumps, and N(0, I) draws land in the holes between
them, which decode to blurry in-between images. A density fitted to the training codes samples
where images were encoded:

* ``gmm``: a Gaussian mixture (scikit-learn, full covariances), one per class when the data has
  labels, so ``sample(labels=...)`` draws codes of the class asked for;
* ``flow``: a RealNVP normalising flow (affine coupling layers, class-conditional on labelled
  data), for densities a few Gaussians describe badly;
* ``pixelcnn``: for ``vq-vae``, whose codes are maps of codebook indices, its own autoregressive
  prior trained further on the training index maps.

Each is saved beside the model as ``prior-NAME.safetensors`` + ``prior-NAME.json``; the JSON holds
the sha256 of the ``model.safetensors`` it was fitted to, so a prior of another run, or of weights
trained further since, is refused instead of silently sampling nonsense.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn
from torch.nn import functional as F

import aekit
from aekit.errors import AekitError, ConfigError
from aekit.io import atomic_write_bytes, atomic_write_json, read_json

PRIORS = ("gmm", "flow", "pixelcnn")
MAX_CODES = 60_000  # training images whose codes a prior is fitted to
HELDOUT_CODES = 2_000  # hold-out images whose codes score the fitted prior
BATCH = 512


def prior_files(run_dir: str | Path, name: str) -> tuple[Path, Path]:
    """``(prior-NAME.safetensors, prior-NAME.json)`` of a run folder."""
    return Path(run_dir) / f"prior-{name}.safetensors", Path(run_dir) / f"prior-{name}.json"


def fitted_priors(run_dir: str | Path) -> list[str]:
    """Names of the priors fitted in a run folder (both files present), in ``PRIORS`` order."""
    return [name for name in PRIORS if all(p.is_file() for p in prior_files(run_dir, name))]


def model_fingerprint(run_dir: str | Path) -> str:
    """sha256 of the run's ``model.safetensors``: which weights a prior belongs to."""
    path = Path(run_dir) / "model.safetensors"
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise AekitError(f"cannot read the model weights ({exc.strerror or exc})", path) from None
    return digest.hexdigest()


def best_prior(result: dict[str, Any]) -> str | None:
    """The prior whose samples had the lowest Frechet distance in an ``eval.json`` result, if any was evaluated."""
    frechet = result.get("sections", {}).get("samples", {}).get("frechet", {})
    scored = {column.removeprefix("prior "): value for column, value in frechet.items()
              if column.startswith("prior ") and value is not None}
    return min(scored, key=scored.get) if scored else None


# --- the priors -------------------------------------------------------------------------------
class Prior(nn.Module):
    """A density over a model's codes: ``sample`` gives codes ``decode`` takes, ``log_prob`` scores them.

    ``labels`` (int64, one per code) asks for / conditions on classes; only class-conditional
    priors (fitted on labelled data) accept them."""

    kind: ClassVar[str] = ""

    def __init__(self, code_shape: tuple[int, ...], num_classes: int | None):
        super().__init__()
        self.code_shape = tuple(int(s) for s in code_shape)
        self.num_classes = num_classes

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def options(self) -> dict[str, Any]:
        """Constructor arguments, saved in the JSON so ``load_prior`` rebuilds the same module."""
        return {"code_shape": list(self.code_shape), "num_classes": self.num_classes}

    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def class_weights(self) -> torch.Tensor:
        """p(class) of the training codes (float64, sums to 1): how a class-conditional prior picks a
        class when none is asked for."""
        raise NotImplementedError

    def labels_from_uniform(self, uniform: torch.Tensor) -> torch.Tensor:
        """The classes ``sample`` draws for U[0, 1) draws ``uniform``, by the inverse CDF of
        ``class_weights``: the step an exported prior leaves to its recipe (ONNX has no random numbers)."""
        return inverse_cdf(self.class_weights(), uniform)

    def _labels_for(self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor | None:
        """``labels``, or classes drawn by their training frequencies when a class-conditional prior got none."""
        self._check_labels(labels, n)
        if labels is None and self.conditional:
            return self.labels_from_uniform(torch.rand(n, generator=generator, dtype=torch.float64))
        return labels

    def _check_draws(self, labels: torch.Tensor | None, n: int) -> None:
        """``from_noise`` wants the class exactly when the prior is class-conditional; label values are
        not read while tracing for ONNX export (the graph takes any)."""
        if (labels is None) == self.conditional:
            raise ConfigError(f"prior '{self.kind}' " + ("is class-conditional: give the labels (draw them with "
                              "labels_from_uniform for any class)" if self.conditional else "was fitted without labels; it takes no classes"))
        if not torch.compiler.is_exporting():
            self._check_labels(labels, n)

    def _check_labels(self, labels: torch.Tensor | None, n: int) -> None:
        if labels is None:
            return
        if not self.conditional:
            raise ConfigError(f"prior '{self.kind}' was fitted without labels; it cannot sample or score given classes")
        if labels.shape != (n,) or int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ConfigError(f"prior '{self.kind}': labels must be {n} class indices in 0..{self.num_classes - 1}")


class GMMPrior(Prior):
    """A Gaussian mixture with full covariances; on labelled data one mixture per class, weighted by
    the class frequencies, so the marginal is one big mixture and each class has its own."""

    kind = "gmm"

    def __init__(self, code_shape: tuple[int, ...], num_classes: int | None, components: int):
        super().__init__(code_shape, num_classes)
        d, total = math.prod(self.code_shape), components * (num_classes or 1)
        self.components = components
        self.register_buffer("log_weights", torch.zeros(total))  # log p(class) + log p(component | class)
        self.register_buffer("means", torch.zeros(total, d))
        self.register_buffer("scale_tril", torch.eye(d).repeat(total, 1, 1))
        self.register_buffer("component_class", torch.arange(total) // components)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "components": self.components}

    def fit(self, codes: torch.Tensor, labels: torch.Tensor | None, seed: int = 0) -> GMMPrior:
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        flat = codes.flatten(1).double().numpy()
        groups = [np.arange(len(flat))] if labels is None else [np.flatnonzero(labels.numpy() == c) for c in range(self.num_classes)]
        for c, rows in enumerate(groups):
            if len(rows) < self.components:
                where = f"class {c} has" if labels is not None else "there are"
                raise ConfigError(f"prior 'gmm': {where} {len(rows)} codes for {self.components} mixture components; "
                                  "use fewer components (--components) or more training images")
            # one BLAS thread: on 2 busy cores, 2 OpenBLAS threads took 57 s instead of 1 s per class (spin-waiting)
            with threadpool_limits(1, user_api="blas"):
                gmm = GaussianMixture(self.components, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(flat[rows])
            part = slice(c * self.components, (c + 1) * self.components)
            self.log_weights[part] = torch.from_numpy(np.log(gmm.weights_ * len(rows) / len(flat))).float()
            self.means[part] = torch.from_numpy(gmm.means_).float()
            self.scale_tril[part] = torch.linalg.cholesky(torch.from_numpy(gmm.covariances_)).float()
        return self

    def _component_log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        dist = torch.distributions.MultivariateNormal(self.means, scale_tril=self.scale_tril, validate_args=False)
        return dist.log_prob(codes.flatten(1).unsqueeze(1)) + self.log_weights  # n x components

    def _class_mask(self, labels: torch.Tensor) -> torch.Tensor:
        return self.component_class.unsqueeze(0) == labels.unsqueeze(1)  # n x components

    def log_prob(self, codes, labels=None):
        self._check_labels(labels, len(codes))
        joint = self._component_log_prob(codes)
        if labels is None:
            return joint.logsumexp(1)
        joint = joint.masked_fill(~self._class_mask(labels), -math.inf)
        class_log_prior = self.log_weights.masked_fill(~self._class_mask(labels), -math.inf).logsumexp(1)
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
        return self.from_noise(torch.randn(n, self.means.shape[1], generator=generator), uniform, labels)

    def from_noise(self, noise: torch.Tensor, uniform: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Codes for given draws: ``uniform`` (n, U[0, 1)) picks a component of the class's mixture by
        the inverse CDF of its weights, ``noise`` (n x d, N(0, 1)) becomes ``mean + L @ noise``.
        ``sample`` is this with random draws; the exported ONNX sampler is this graph."""
        self._check_draws(labels, noise.shape[0])
        weights = self._mixture_weights()
        if labels is None:
            component = inverse_cdf(weights, uniform)
        else:
            component = labels * self.components + inverse_cdf(weights[labels], uniform)
        codes = self.means[component] + (self.scale_tril[component] @ noise.unsqueeze(-1)).squeeze(-1)
        return codes.view(-1, *self.code_shape)


class _Coupling(nn.Module):
    """One affine coupling layer: the dimensions outside ``mask`` are scaled and shifted by a
    function of those inside it (and of the class), so the inverse and the Jacobian are exact."""

    def __init__(self, mask: torch.Tensor, hidden: int, classes: int):
        super().__init__()
        d = mask.numel()
        self.register_buffer("mask", mask.float())
        self.net = nn.Sequential(nn.Linear(d + classes, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2 * d))
        nn.init.zeros_(self.net[-1].weight)  # starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, kept: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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

    kind = "flow"

    def __init__(self, code_shape: tuple[int, ...], num_classes: int | None, layers: int, hidden: int):
        super().__init__(code_shape, num_classes)
        d = math.prod(self.code_shape)
        self.layers_count, self.hidden = layers, hidden
        index = torch.arange(d)
        masks = [index % 2 == 0, index % 2 == 1, index < d // 2, index >= d // 2]
        self.couplings = nn.ModuleList(_Coupling(masks[i % 4], hidden, num_classes or 0) for i in range(layers))
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        self.register_buffer("class_log_prior", torch.zeros(num_classes or 1))

    def options(self) -> dict[str, Any]:
        return {**super().options(), "layers": self.layers_count, "hidden": self.hidden}

    def _context(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        if not self.conditional:
            return torch.zeros(n, 0)
        return F.one_hot(labels, self.num_classes).float()

    def _conditional_log_prob(self, flat: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
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
        per_class = [self._conditional_log_prob(flat, torch.full((len(flat),), c)) for c in range(self.num_classes)]
        return (torch.stack(per_class, 1) + self.class_log_prior).logsumexp(1)  # the marginal over classes

    def class_weights(self):
        weights = self.class_log_prior.double().exp()
        return weights / weights.sum()

    def sample(self, n, generator=None, labels=None):
        labels = self._labels_for(n, labels, generator)
        return self.from_noise(torch.randn(n, self.mean.numel(), generator=generator), labels)

    def from_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Codes for given N(0, 1) draws ``noise`` (n x d): the flow's inverse. ``sample`` is this with
        random draws; the exported ONNX sampler is this graph."""
        self._check_draws(labels, noise.shape[0])
        u, context = noise, self._context(labels, noise.shape[0])  # not len(): it fixes the batch size in torch.export
        for coupling in reversed(self.couplings):
            u = coupling.inverse(u, context)
        return (u * self.std + self.mean).view(-1, *self.code_shape)

    def fit(self, codes: torch.Tensor, labels: torch.Tensor | None, steps: int, seed: int = 0, lr: float = 1e-3) -> FlowPrior:
        """Maximum likelihood with Adam on minibatches of 256 codes (seeded), cosine learning-rate decay."""
        flat = codes.flatten(1).float()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-4))
        if labels is not None:
            counts = torch.bincount(labels, minlength=self.num_classes).float()
            self.class_log_prior.copy_((counts / counts.sum()).clamp_min(1e-12).log())
        fit_by_minibatches(self, len(flat), 256, steps, seed, lr,
                           lambda idx: -self._conditional_log_prob(flat[idx], None if labels is None else labels[idx]).mean())
        return self


def inverse_cdf(weights: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Indices k drawn with probability ``weights[..., k] / weights.sum(-1)`` for U[0, 1) draws
    ``uniform``: how many cumulative probabilities but the last are <= u. In float64, so the
    exported graphs and numpy recipes pick the same index as PyTorch for the same draw."""
    cum = weights.double().cumsum(-1)
    return (cum[..., :-1] / cum[..., -1:] <= uniform.double().unsqueeze(-1)).sum(-1)


def index_maps_from_uniform(logits: Callable[[torch.Tensor], torch.Tensor], uniform: torch.Tensor,
                            device: torch.device | str = "cpu") -> torch.Tensor:
    """PixelCNN sampling with its randomness given: positions in raster order, each index by the
    inverse CDF of softmax(``logits(maps)``) there at the draw ``uniform[:, i, j]`` (n x h x w,
    U[0, 1); the maps live on ``device``). The loop that ``aekit sample`` runs for a vq-vae, and
    that an exported pixelcnn prior's recipe runs with onnxruntime: same draws, same maps."""
    n, h, w = uniform.shape
    maps = torch.zeros(n, h, w, dtype=torch.long, device=device)
    with torch.no_grad():
        for i in range(h):
            for j in range(w):
                at = logits(maps)[:, :, i, j].double().cpu()
                maps[:, i, j] = inverse_cdf((at - at.amax(1, keepdim=True)).exp(), uniform[:, i, j]).to(device)
    return maps


def fit_by_minibatches(prior: nn.Module, rows: int, batch: int, steps: int, seed: int, lr: float,
                       nll: Callable[[torch.Tensor], torch.Tensor],
                       report: Callable[[int, torch.Tensor], None] | None = None) -> None:
    """The maximum-likelihood loop of every learned prior: Adam on seeded minibatches of ``batch``
    of ``rows`` rows (``nll(indices)`` is their mean negative log-likelihood), cosine decay; leaves
    ``prior`` in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(prior.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    prior.train()
    for step in range(steps):
        loss = nll(torch.randint(rows, (min(batch, rows),), generator=generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if report is not None:
            report(step, loss)
    prior.eval()


def _prior_types() -> dict[str, type[Prior]]:
    """Imported late: the vq-vae model module imports this one."""
    from aekit.models.vq_vae import CodeMapPrior

    return {"gmm": GMMPrior, "flow": FlowPrior, "pixelcnn": CodeMapPrior}


# --- fitting, saving, loading ---------------------------------------------------------------------
def training_codes(model: nn.Module, images: torch.Tensor, condition: torch.Tensor | None = None, draws: int = 0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The codes a prior is fitted to: posterior means (``encode``), then ``draws`` draws from
    q(z|x) per image for VAEs (they fill the space each image's posterior covers)."""
    from aekit.models.vae import GaussianVAE

    draws = draws if isinstance(model, GaussianVAE) else 0
    parts: list[list[torch.Tensor]] = [[] for _ in range(draws + 1)]  # means first, then each round of draws
    with torch.inference_mode():
        for i in range(0, len(images), BATCH):
            x, c = images[i : i + BATCH], None if condition is None else condition[i : i + BATCH]
            parts[0].append(model.encode(x, c))
            if draws:
                mu, logvar = model.posterior(x, c)
                for j in range(1, draws + 1):
                    parts[j].append(mu + torch.randn(mu.shape, generator=generator) * (0.5 * logvar).exp())
    return torch.cat([torch.cat(p) for p in parts])


def fit_prior(
    run_dir: str | Path, name: str, *, components: int = 10, layers: int = 8, hidden: int = 128, steps: int = 2000,
    draws: int = 0, max_codes: int = MAX_CODES, seed: int = 0, quiet: bool = True,
) -> Path:
    """Fit prior ``name`` to the run's training codes and save it beside the model; returns the JSON path.

    ``components``: Gaussians per class (gmm); ``layers``, ``hidden``: coupling layers and their
    width (flow); ``steps``: optimiser steps (flow, pixelcnn); ``draws``: extra q(z|x) draws per
    training image besides the posterior mean (VAEs). Codes come from the images the model was
    trained on (the training split minus the validation hold-out, up to ``max_train_images``)."""
    from aekit.data import ImageSet, load, train_val_split
    from aekit.runs import load_model, read_run_config

    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    for flag, value, least in (("--components", components, 1), ("--layers", layers, 1), ("--hidden", hidden, 1),
                               ("--steps", steps, 1), ("--draws", draws, 0), ("max_codes", max_codes, 1)):
        if value < least:
            raise ConfigError(f"aekit fit-prior: {flag} must be at least {least}, got {value}")
    run_dir = Path(run_dir)
    model = load_model(run_dir)
    fingerprint = model_fingerprint(run_dir)
    meta = read_run_config(run_dir)
    config = meta["train"]
    discrete = model.discrete_code
    if discrete != (name == "pixelcnn"):
        raise ConfigError(
            f"prior '{name}' does not fit model '{model.name}': " + (
                "its codes are maps of codebook indices; use --prior pixelcnn" if discrete else
                "pixelcnn is the prior of vq-vae's index maps; use --prior gmm or flow"))
    data = load(config.dataset, "train", image_size=config.image_size)
    if not isinstance(data, ImageSet):
        raise ConfigError(f"priors need an image dataset; {config.dataset} holds pages", run_dir)
    train, heldout = train_val_split(data, config.val_fraction, config.seed)
    train = train.subset(list(range(min(len(train), config.max_train_images or len(train), max_codes))))
    heldout = heldout.subset(list(range(min(len(heldout), HELDOUT_CODES))))
    condition = _condition(model, train)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    codes = training_codes(model, train.images, condition, draws if not discrete else 0, generator)
    labels = None if train.labels is None or discrete else train.labels.repeat(len(codes) // len(train))
    num_classes = train.num_classes if labels is not None else None
    code_shape = tuple(codes.shape[1:])
    if name == "gmm":
        prior: Prior = GMMPrior(code_shape, num_classes, components).fit(codes, labels, seed)
    elif name == "flow":
        prior = FlowPrior(code_shape, num_classes, layers, hidden).fit(codes, labels, steps, seed)
    else:
        prior = _prior_types()["pixelcnn"].from_model(model).fit(codes, steps, seed, quiet)
    seconds = time.perf_counter() - start
    held_codes = training_codes(model, heldout.images, _condition(model, heldout))
    held_labels = heldout.labels if labels is not None else None
    with torch.inference_mode():
        held = prior.log_prob(held_codes, held_labels).double()
    weights, info = prior_files(run_dir, name)
    atomic_write_bytes(weights, st_save({k: v.detach().contiguous() for k, v in prior.state_dict().items()}))
    atomic_write_json(info, {
        "aekit_version": aekit.__version__,
        "prior": name,
        "model": meta["model"],
        "model_fingerprint": fingerprint,
        "options": prior.options(),
        "fitted_to": f"{len(codes)} codes of {len(train)} training images"
                     + (f" (posterior means and {draws} q(z|x) draws each)" if draws and not discrete else ""),
        "class_conditional": prior.conditional,
        "heldout_log_prob": float(held.mean()),
        "heldout_note": f"mean log density (nats) of the codes of {len(heldout)} validation hold-out images"
                        + (", given their class" if held_labels is not None else ""),
        "seconds": round(seconds, 2),
    })
    if not quiet:
        print(f"prior {name}: fitted in {seconds:.1f} s; hold-out codes: {float(held.mean()):.2f} nats each")
    return info


def load_prior(run_dir: str | Path, name: str) -> Prior:
    """The prior ``name`` fitted in ``run_dir``, refused in one line when it belongs to other weights."""
    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    weights, info_path = prior_files(run_dir, name)
    if not info_path.is_file():
        raise AekitError(f"no prior '{name}' here; fit one with `aekit fit-prior {run_dir} --prior {name}`", run_dir)
    info = read_json(info_path)
    if not isinstance(info, dict) or info.get("prior") != name or not isinstance(info.get("options"), dict):
        raise ConfigError(f"not a '{name}' prior description", info_path)
    if info.get("model_fingerprint") != model_fingerprint(run_dir):
        raise AekitError(f"this prior was fitted to other weights than {Path(run_dir) / 'model.safetensors'}; "
                         f"refit it with `aekit fit-prior {run_dir} --prior {name}`", info_path)
    options = info["options"]
    try:
        prior = _prior_types()[name](**{k: tuple(v) if k == "code_shape" else v for k, v in options.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid prior options ({exc})", info_path) from None
    try:
        tensors = st_load(weights.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise AekitError(f"not a valid safetensors file ({exc})", weights) from None
    expected = prior.state_dict()
    if set(tensors) != set(expected) or any(tensors[k].shape != expected[k].shape for k in expected):
        raise ConfigError("tensors do not match the prior described in its JSON file", weights)
    prior.load_state_dict(tensors)
    return prior.eval()


def _condition(model: nn.Module, data: Any) -> torch.Tensor | None:
    if not model.conditional:
        return None
    from aekit.data.conditions import make_condition

    return make_condition(model.condition_kind, data.images, data.labels)
