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

``PRIORS`` is the registry: a new prior is one file here (a ``Prior`` subclass with its ``Config``,
see ``base.py``) plus one line in it; the CLI's prior names and ``fit-prior`` flags come from it.

Each is saved beside the model as ``prior-NAME.safetensors`` + ``prior-NAME.json``; the JSON holds
the sha256 of the ``model.safetensors`` it was fitted to, so a prior of another run, or of weights
trained further since, is refused instead of silently sampling nonsense.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import time
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

import aekit
from aekit.data import ImageSet, load, train_val_split
from aekit.errors import AekitError, ConfigError
from aekit.io import atomic_write_bytes, atomic_write_json, read_json
from aekit.priors.base import ExportedPrior, Prior
from aekit.priors.fitting import fit_by_minibatches
from aekit.priors.flow import FlowPrior
from aekit.priors.gmm import GMMPrior
from aekit.priors.pixelcnn import CodeMapPrior
from aekit.priors.transformer import TransformerPrior
from aekit.runs import load_model, read_run_config
from aekit.sampling import index_maps_from_uniform, inverse_cdf

PRIORS: dict[str, type[Prior]] = {
    "gmm": GMMPrior,
    "flow": FlowPrior,
    "pixelcnn": CodeMapPrior,
    "transformer": TransformerPrior,
}

MAX_CODES = 60_000  # training images whose codes a prior is fitted to
HELDOUT_CODES = 2_000  # hold-out images whose codes score the fitted prior
BATCH = 512
MAX_PRIOR_SIZE = 200_000_000  # numbers in a prior's tensors: 800 MB of float32
HEADER_BYTES = 1 << 20  # a safetensors file's JSON header, at most

__all__ = [
    "PRIORS",
    "CodeMapPrior",
    "ExportedPrior",
    "FlowPrior",
    "GMMPrior",
    "Prior",
    "add_fit_arguments",
    "best_prior",
    "fit_by_minibatches",
    "fit_prior",
    "fitted_priors",
    "index_maps_from_uniform",
    "inverse_cdf",
    "load_prior",
    "prior_files",
    "training_codes",
]


def prior_class(name: str) -> type[Prior]:
    """The registered prior ``name``, or a one-line error listing them."""
    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    return PRIORS[name]


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
    """The prior whose samples had the lowest Frechet distance in an ``eval.json`` result, if any
    was evaluated."""
    frechet = result.get("sections", {}).get("samples", {}).get("frechet", {})
    scored = {
        column.removeprefix("prior "): value
        for column, value in frechet.items()
        if column.startswith("prior ") and value is not None
    }
    return min(scored, key=scored.get) if scored else None


def training_codes(
    model: nn.Module,
    images: torch.Tensor,
    condition: torch.Tensor | None = None,
    draws: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The codes a prior is fitted to: posterior means (``encode``), then ``draws`` draws from
    q(z|x) per image for VAEs (they fill the space each image's posterior covers)."""
    draws = draws if model.latent_kind == "gaussian" else 0
    # means first, then each round of draws
    parts: list[list[torch.Tensor]] = [[] for _ in range(draws + 1)]
    with torch.inference_mode():
        for i in range(0, len(images), BATCH):
            x, c = images[i : i + BATCH], None if condition is None else condition[i : i + BATCH]
            parts[0].append(model.encode(x, c))
            if draws:
                mu, logvar = model.posterior(x, c)
                for j in range(1, draws + 1):
                    parts[j].append(
                        mu + torch.randn(mu.shape, generator=generator) * (0.5 * logvar).exp()
                    )
    return torch.cat([torch.cat(p) for p in parts])


def fit_prior(
    run_dir: str | Path,
    name: str,
    *,
    draws: int = 0,
    max_codes: int = MAX_CODES,
    seed: int = 0,
    quiet: bool = True,
    **options: Any,
) -> Path:
    """Fit prior ``name`` to the run's training codes and save it beside the model; returns the JSON
    path.

    ``options``: the prior's own (its ``Config``: ``components`` for gmm; ``layers``, ``hidden``,
    ``steps`` for flow; ``steps`` for pixelcnn; ``max_seconds``, counted from the start of encoding
    the codes); ``draws``: extra q(z|x) draws per training image
    besides the posterior mean (VAEs). Codes come from the images the model was trained on (the
    training split minus the validation hold-out, up to ``max_train_images``)."""
    cls = prior_class(name)
    config = cls.make_config(options)
    for flag, value, least in (("--draws", draws, 0), ("max_codes", max_codes, 1)):
        if value < least:
            raise ConfigError(f"aekit fit-prior: {flag} must be at least {least}, got {value}")
    run_dir = Path(run_dir)
    model = load_model(run_dir)
    fingerprint = model_fingerprint(run_dir)
    run_config = read_run_config(run_dir)
    train_config = run_config.train
    discrete = model.discrete_code
    if discrete != cls.discrete_code:
        fitting = " or ".join(n for n, c in PRIORS.items() if c.discrete_code == discrete)
        raise ConfigError(
            f"prior '{name}' does not fit model '{model.name}': "
            + (
                "its codes are maps of codebook indices"
                if discrete
                else f"{name} is the prior of vq-vae's codebook index maps"
            )
            + f"; use --prior {fitting}"
        )
    # read as training read it
    data = load(run_config.dataset, "train", **run_config.data_options())
    if not isinstance(data, ImageSet):
        raise ConfigError(
            f"priors need an image dataset; {train_config.dataset} holds pages", run_dir
        )
    train, heldout = train_val_split(data, train_config.val_fraction, train_config.seed)
    train = train.head(min(train_config.max_train_images or len(train), max_codes))
    heldout = heldout.head(HELDOUT_CODES)
    condition = model.condition_of(train)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    codes = training_codes(model, train.images, condition, draws if not discrete else 0, generator)
    by_class = train.labels is not None and cls.class_conditional
    labels = train.labels.repeat(len(codes) // len(train)) if by_class else None
    num_classes = train.num_classes if by_class else None
    prior = cls.for_model(model, tuple(codes.shape[1:]), num_classes, vars(config))
    prior.fit_started = start  # encoding the codes counts towards max_seconds
    prior.fit(codes, labels, seed, quiet)
    seconds = time.perf_counter() - start
    held_codes = training_codes(model, heldout.images, model.condition_of(heldout))
    held_labels = heldout.labels if labels is not None else None
    with torch.inference_mode():
        held = prior.log_prob(held_codes, held_labels).double()
    weights, info = prior_files(run_dir, name)
    atomic_write_bytes(
        weights, st_save({k: v.detach().contiguous() for k, v in prior.state_dict().items()})
    )
    atomic_write_json(
        info,
        {
            "aekit_version": aekit.__version__,
            "prior": name,
            "model": run_config.model,
            "model_fingerprint": fingerprint,
            "options": prior.options(),
            "fitted_to": f"{len(codes)} codes of {len(train)} training images"
            + (
                f" (posterior means and {draws} q(z|x) draws each)"
                if draws and not discrete
                else ""
            ),
            "class_conditional": prior.conditional,
            "heldout_log_prob": float(held.mean()),
            "heldout_note": f"mean log density (nats) of the codes of {len(heldout)} validation "
            "hold-out images" + (", given their class" if held_labels is not None else ""),
            "seconds": round(seconds, 2),
            **({"fit": prior.fit_note} if prior.fit_note else {}),
        },
    )
    if not quiet:
        print(
            f"prior {name}: fitted in {seconds:.1f} s"
            + (f" ({prior.fit_note})" if prior.fit_note else "")
            + f"; hold-out codes: {float(held.mean()):.2f} nats each"
        )
    return info


def load_prior(run_dir: str | Path, name: str) -> Prior:
    """The prior ``name`` fitted in ``run_dir``. Its files are checked before anything is built: the
    JSON's sizes are bounded and its numbers finite, the module is counted on the meta device, the
    tensors must match it and be finite; a prior of other weights is refused. Each problem is one
    line naming the file."""
    cls = prior_class(name)
    weights, info_path = prior_files(run_dir, name)
    if not info_path.is_file():
        raise AekitError(
            f"no prior '{name}' here; fit one with `aekit fit-prior {run_dir} --prior {name}`",
            run_dir,
        )
    info = read_json(info_path)
    if (
        not isinstance(info, dict)
        or info.get("prior") != name
        or not isinstance(info.get("options"), dict)
    ):
        raise ConfigError(f"not a '{name}' prior description", info_path)
    if not _all_finite(info):
        raise ConfigError(
            "holds NaN or infinite numbers; refit it with "
            f"`aekit fit-prior {run_dir} --prior {name}`",
            info_path,
        )
    if info.get("model_fingerprint") != model_fingerprint(run_dir):
        raise AekitError(
            f"this prior was fitted to other weights than {Path(run_dir) / 'model.safetensors'}; "
            f"refit it with `aekit fit-prior {run_dir} --prior {name}`",
            info_path,
        )
    options = {**cls.absent_options, **info["options"]}
    code_shape, num_classes = options.pop("code_shape", None), options.pop("num_classes", None)
    try:
        with torch.device("meta"):  # counted before anything is allocated
            probe = cls(code_shape, num_classes, **options)
    except TypeError as exc:
        raise ConfigError(f"invalid prior options ({exc})", info_path) from None
    except ConfigError as exc:
        raise ConfigError(str(exc), info_path) from None
    size = sum(t.numel() for t in itertools.chain(probe.parameters(), probe.buffers()))
    if size > MAX_PRIOR_SIZE:
        raise ConfigError(
            f"describes a prior of {size:,} numbers; aekit loads at most {MAX_PRIOR_SIZE:,}",
            info_path,
        )
    expected = probe.state_dict()
    nbytes = sum(t.numel() * t.element_size() for t in expected.values())
    try:
        # read no more than the prior described can hold
        if weights.stat().st_size > nbytes + HEADER_BYTES:
            raise ConfigError(
                f"{weights.stat().st_size:,} bytes; the prior its JSON file describes holds "
                f"{nbytes:,} bytes of tensors",
                weights,
            )
        tensors = st_load(weights.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise AekitError(f"not a valid safetensors file ({exc})", weights) from None
    if set(tensors) != set(expected) or any(
        tensors[k].shape != expected[k].shape for k in expected
    ):
        raise ConfigError("tensors do not match the prior described in its JSON file", weights)
    broken = [
        k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if broken:
        raise ConfigError(
            f"tensor '{broken[0]}' holds NaN or infinite numbers; refit it with "
            f"`aekit fit-prior {run_dir} --prior {name}`",
            weights,
        )
    prior = cls(code_shape, num_classes, **options)
    prior.load_state_dict(tensors)
    return prior.eval()


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """``--prior`` and one flag per field of the priors' ``Config`` dataclasses (a field several
    priors share, like ``steps``, is one flag), with their help and defaults; the flags stay None
    unless given, so ``fit_options`` passes only what the user chose."""
    parser.add_argument(
        "--prior",
        required=True,
        choices=tuple(PRIORS),
        help="; ".join(f"{name}: {cls.description}" for name, cls in PRIORS.items()),
    )
    shared: dict[str, list[tuple[str, Any]]] = {}
    for name, cls in PRIORS.items():
        for f in fields(cls.Config):
            shared.setdefault(f.name, []).append((name, f))
    for key, owners in shared.items():
        f = owners[0][1]
        help_text = f.metadata["help"].partition(": ")[2] or f.metadata["help"]
        defaults = {str(g.default) for _, g in owners if g.default is not MISSING}
        default = (
            f" (default {defaults.pop()})"
            if len(defaults) == 1
            else " (default " + ", ".join(f"{g.default} for {n}" for n, g in owners) + ")"
        )
        flag, text = (
            "--" + key.replace("_", "-"),
            ", ".join(n for n, _ in owners) + ": " + help_text,
        )
        if isinstance(f.default, bool):
            parser.add_argument(flag, dest=key, action="store_true", default=None, help=text)
        else:
            parser.add_argument(
                flag,
                dest=key,
                type=type(f.default),
                default=None,
                choices=f.metadata.get("choices"),
                metavar=f.metadata.get("metavar"),
                help=text + default,
            )


def fit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The prior options given on the command line (``add_fit_arguments``'s flags that are not
    None)."""
    names = {f.name for cls in PRIORS.values() for f in fields(cls.Config)}
    return {
        key: getattr(args, key) for key in sorted(names) if getattr(args, key, None) is not None
    }


def _all_finite(value: Any) -> bool:
    """Every number in a JSON value is finite (Python's reader takes NaN and Infinity)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return True
