"""ONNX export of a run's decoder and encoder, for use outside Python (a game engine, a web page).

``export_run`` writes ``decoder.onnx``, ``encoder.onnx`` and ``model.json`` (what each file takes
and returns: names, shapes with ``"batch"`` for the dynamic axis, dtypes and value ranges), so a
consumer needs no Python and no guessing. All models are exported in memory first, then each
file is written atomically, so a failed or interrupted export never leaves a half-written model.

Priors fitted with ``aekit fit-prior`` (and a vq-vae's own PixelCNN, as prior ``model``) are
exported too, as ``prior-NAME.onnx``, listed under ``priors`` in model.json. ONNX has no random
numbers, so a sampler takes its random draws as inputs and is deterministic given them:

* ``gmm``: ``noise`` (batch x d, N(0, 1)) and ``uniform`` (batch, U[0, 1)) -> ``z``: the uniform
  picks a mixture component by the inverse CDF of the (class's) weights, z = mean + L @ noise;
* ``flow``: ``noise`` (batch x d, N(0, 1)) -> ``z``: the flow's inverse;
* ``pixelcnn``: ``indices`` -> ``logits`` (batch x codes x h x w): one step of the autoregressive
  loop, which stays in the caller (one run per position, in raster order; a graph with the loop
  unrolled would grow with the map size and fix it).

Class-conditional priors also take ``label`` (int64); to draw any class, pick labels by their
training frequencies (``class_weights``). Each prior's ``recipe`` in model.json is a runnable
numpy + onnxruntime script that draws images with it, for example (a gmm on digits)::

    # inverse CDF: index k with probability weights[..., k] / their sum, for u in [0, 1)
    def pick(weights, u):
        cum = np.cumsum(weights, axis=-1)
        return (cum[..., :-1] / cum[..., -1:] <= u[..., None]).sum(-1)

    label = pick(class_weights, rng.random(n))  # any class; or np.full(n, k) for class k
    noise = rng.standard_normal((n, 4), dtype=np.float32)
    uniform = rng.random(n, dtype=np.float32)
    (z,) = prior.run(None, {"noise": noise, "uniform": uniform, "label": label})
    (images,) = decoder.run(None, {"z": z})

For the same draws, these give the codes ``Prior.from_noise`` (gmm, flow; what ``Prior.sample``
runs) and ``sampling.index_maps_from_uniform`` (pixelcnn) give in PyTorch. What each prior's part
holds (module, inputs, recipe) is the prior's own ``export`` (``aekit.priors``).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

import aekit
from aekit.alpha import has_alpha
from aekit.data import ImageSet
from aekit.data.conditions import make_condition
from aekit.errors import AekitError
from aekit.io import atomic_write_bytes, atomic_write_json
from aekit.models.base import Autoencoder
from aekit.priors import CodeMapPrior
from aekit.run import Run

if TYPE_CHECKING:
    from aekit.priors import Prior

FORMATS = ("onnx",)
OPSET = 18
EXAMPLE_BATCH = 3  # not 1 or 2: the exporter would specialise the batch axis to that size
STATS_IMAGES = 1000
CHANNEL_NAMES = {
    1: ["grey"],
    2: ["grey", "alpha"],
    3: ["red", "green", "blue"],
    4: ["red", "green", "blue", "alpha"],
}


class TestImages(NamedTuple):
    """A run's first test images, their labels (None: unlabelled) and the model's conditions."""

    images: torch.Tensor
    labels: torch.Tensor | None
    conditions: torch.Tensor | None


class _Plain(nn.Module):
    """``decode(z)`` or ``encode(x)`` as a module with one tensor input, as the exporter wants."""

    def __init__(self, model: Autoencoder, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x)


class _Conditioned(_Plain):
    """The same with the condition (int64 label or condition image) as a second input."""

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return getattr(self.model, self.method)(x, condition)


def export_run(
    run_dir: Path, out: Path, fmt: str = "onnx", priors: Sequence[str] | None = None
) -> list[Path]:
    """Export the run in ``run_dir`` to ``out``; returns the files written (model.json last).

    ``priors``: names of fitted priors to export as well; None: every prior fitted in the run."""
    run = Run(run_dir, "cpu")  # it says plainly when run_dir is not a run folder
    model = run.model
    names = run.prior_names() if priors is None else list(dict.fromkeys(priors))
    fitted = {name: run.prior(name) for name in names}  # a stale prior is refused before any work
    stats = None
    if not model.generative:
        test = load_test_images(run)
        if test is not None:
            stats = latent_statistics(model, test.images, test.conditions)
    return export_model(
        model,
        out,
        fmt=fmt,
        class_names=run.class_names,
        latent_stats=stats,
        source=str(run_dir),
        priors=fitted,
    )


def export_model(
    model: Autoencoder,
    out: Path,
    *,
    fmt: str = "onnx",
    class_names: list[str] | None = None,
    latent_stats: dict[str, list[float]] | None = None,
    source: str | None = None,
    priors: dict[str, Prior] | None = None,
) -> list[Path]:
    """Export ``model`` (already loaded) to ``out``: decoder.onnx, encoder.onnx, prior-NAME.onnx for
    each of ``priors`` (and a vq-vae's own PixelCNN as prior ``model``) and model.json."""
    if fmt not in FORMATS:
        raise AekitError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    if model.sequential_decoder:
        raise AekitError(
            f"model '{model.name}' decodes pixel by pixel with random draws (one step per pixel); "
            "ONNX export takes one-pass decoders (conv-vae, vae, ...)"
        )
    _check_onnx_installed()
    out = Path(out)
    try:  # fail before the seconds of exporting, not after
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AekitError(f"cannot write here ({exc.strerror or exc})", out) from None
    model = model.cpu().eval()
    x = torch.rand(EXAMPLE_BATCH, *model.input_shape)
    condition = example_condition(model, x)
    with torch.no_grad():
        z = model.encode(x, condition)
    latent_shape: list[int | str] = list(z.shape[1:])
    indexed = not z.is_floating_point()  # vq-vae: the code is a map of codebook indices
    any_size = accepts_any_size(model)
    image_shape: list[int | str] = (
        [model.input_shape[0], "height", "width"] if any_size else list(model.input_shape)
    )
    # a fully convolutional model (a document cleaner, vq-vae): codes are feature or index maps
    if any_size:
        scale = model.input_shape[1] // z.shape[-2]
        sides = (f"height/{scale}", f"width/{scale}") if scale > 1 else ("height", "width")
        latent_shape = [*sides] if indexed else [z.shape[1], *sides]
    cond_spec = _condition_spec(model, condition, class_names)
    image = {
        "name": "image",
        "shape": ["batch", *image_shape],
        "dtype": "float32",
        "range": [0.0, 1.0],
    }
    priors = dict(priors or {})
    if model.own_code_prior:
        priors = {"model": CodeMapPrior.from_model(model), **priors}
    latent = {
        "name": "indices" if indexed else "z",
        "shape": ["batch", *latent_shape],
        "dtype": "int64" if indexed else "float32",
        **_latent_range(model, latent_stats, bool(priors)),
    }
    cond_args = () if condition is None else (condition,)
    parts = {
        "decoder": (
            _wrap(model, "decode", condition),
            (z, *cond_args),
            [latent, *cond_spec],
            [image],
            any_size,
        ),
        "encoder": (
            _wrap(model, "encode", condition),
            (x, *cond_args),
            [image, *cond_spec],
            [latent],
            any_size,
        ),
    }
    files: dict[str, Any] = {}
    prior_specs: dict[str, Any] = {}
    for name, prior in priors.items():
        exported = prior.export(name, latent, cond_spec, class_names, model, EXAMPLE_BATCH)
        parts[f"prior-{name}"] = (
            exported.module,
            exported.example,
            exported.inputs,
            exported.outputs,
            exported.any_size,
        )
        prior_specs[name] = {
            "source": "trained with the model (aekit sample's default)"
            if name == "model"
            else "aekit fit-prior",
            **exported.spec,
        }
    blobs: dict[str, bytes] = {}
    for part, (module, args, inputs, outputs, dynamic_size) in parts.items():
        names = ([i["name"] for i in inputs], [o["name"] for o in outputs])
        blobs[part] = _export_onnx(module, args, part, *names, any_size=dynamic_size)
        entry = {"file": f"{part}.onnx", "inputs": inputs, "outputs": outputs}
        if part in ("decoder", "encoder"):
            files[part] = entry
        else:
            prior_specs[part.removeprefix("prior-")] = {
                "file": entry["file"],
                **prior_specs[part.removeprefix("prior-")],
                "inputs": inputs,
                "outputs": outputs,
            }
    # Written only once all exported, each atomically, model.json last: a reader that finds
    # model.json finds the files it describes.
    written = []
    for part, blob in blobs.items():
        atomic_write_bytes(out / f"{part}.onnx", blob)
        written.append(out / f"{part}.onnx")
    description = {
        "aekit_version": aekit.__version__,
        "format": "onnx",
        "opset": OPSET,
        "source": source,
        "model": model.name,
        "generative": bool(model.generative),
        "conditional": bool(model.conditional),
        "condition_kind": model.condition_kind,
        "class_names": class_names,
        "input_shape": list(model.input_shape),
        "channels": model.input_shape[0],
        "channel_names": CHANNEL_NAMES[model.input_shape[0]],
        "alpha": has_alpha(model.input_shape[0]),
        "latent_dim": int(model.latent_dim),
        "latent_shape": latent_shape,
        "files": files,
        "priors": prior_specs,
        "notes": "Axis 'batch' is dynamic"
        + (
            ", and so are 'height' and 'width' (fully convolutional; sizes that are multiples "
            "of the model's downsampling come back unchanged)"
            if any_size
            else ""
        )
        + ". Images are float32 in [0, 1], channels first (N x C x H x W)."
        + (
            " The last channel is alpha and the colour channels are premultiplied by it (a fully "
            "transparent pixel is 0 in every channel): divide colour by alpha before writing a "
            "file with straight alpha; over a background b, show colour + (1 - alpha) * b."
            if has_alpha(model.input_shape[0])
            else ""
        ),
    }
    atomic_write_json(out / "model.json", description)
    return [*written, out / "model.json"]


def example_condition(model: Autoencoder, images: torch.Tensor) -> torch.Tensor | None:
    """A condition batch matching ``images`` (labels 0, 1, 2, ... or derived condition images)."""
    if not model.conditional:
        return None
    labels = torch.arange(images.shape[0], dtype=torch.int64) % max(1, model.num_classes or 1)
    if model.label_conditional:
        return labels

    return make_condition(model.condition_kind, images, labels)


def accepts_any_size(model: Autoencoder) -> bool:
    """Whether ``model`` maps an image of another size to that size (fully convolutional, like a
    page cleaner)."""
    if model.conditional:
        return False
    c, h, w = model.input_shape
    probe = torch.ones(1, c, 2 * h + 8, 2 * w + 8)
    try:
        with torch.no_grad():
            return tuple(model.reconstruct(probe).shape) == tuple(probe.shape)
    except RuntimeError:
        return False


def latent_statistics(
    model: Autoencoder, images: torch.Tensor, condition: torch.Tensor | None = None
) -> dict[str, list[float]]:
    """Per-dimension mean, std, min and max of the codes of ``images`` (with the data's
    ``condition`` for a conditional model): where a plain AE's codes live."""
    model = model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        codes = [
            model.encode(
                images[i : i + 256].to(device),
                None if condition is None else condition[i : i + 256].to(device),
            )
            .flatten(1)
            .cpu()
            for i in range(0, len(images), 256)
        ]
    z = torch.cat(codes)
    return {
        "mean": z.mean(0).tolist(),
        "std": z.std(0, unbiased=False).tolist(),
        "min": z.min(0).values.tolist(),
        "max": z.max(0).values.tolist(),
    }


def load_test_images(run: Run, limit: int = STATS_IMAGES) -> TestImages | None:
    """Up to ``limit`` test images of a run's dataset with their labels and the model's conditions
    as the data gives them (classes, images derived from them, floor plans' footprints); None when
    the dataset is not here or holds no images of the model's shape."""
    try:
        data = run.test
    except AekitError:
        return None
    if not isinstance(data, ImageSet) or tuple(data.shape) != tuple(run.input_shape):
        return None
    data = data.head(limit)
    return TestImages(data.images, data.labels, run.model.condition_of(data))


def _wrap(model: Autoencoder, method: str, condition: torch.Tensor | None) -> nn.Module:
    return (_Plain if condition is None else _Conditioned)(model, method).eval()


def _condition_spec(
    model: Autoencoder, condition: torch.Tensor | None, class_names: list[str] | None
) -> list[dict[str, Any]]:
    if condition is None:
        return []
    if condition.dtype == torch.int64:
        spec = {
            "name": "label",
            "shape": ["batch"],
            "dtype": "int64",
            "range": [0, int(model.num_classes or 1) - 1],
        }
        if class_names:
            spec["class_names"] = class_names
        return [spec]
    return [
        {
            "name": "condition",
            "shape": ["batch", *condition.shape[1:]],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "kind": model.condition_kind,
            "note": f"the {model.condition_kind} image, as aekit.data.conditions.make_condition "
            "computes it",
        }
    ]


def _latent_range(
    model: Autoencoder, stats: dict[str, list[float]] | None, priors: bool
) -> dict[str, Any]:
    if model.latent_kind == "discrete":
        return {
            "distribution": "codebook indices, drawn jointly by the model's PixelCNN prior "
            "(priors.model, "
            "prior-model.onnx); indices of encoded images decode to their reconstructions",
            "range": [0, int(model.num_codes or 1) - 1],
        }
    fitted = (
        "; the priors listed under 'priors' draw codes where images were encoded" if priors else ""
    )
    if model.generative:
        return {
            "distribution": "standard normal N(0, 1) per dimension (the VAE prior)" + fitted,
            "range": [-3.0, 3.0],
        }
    if stats is None:
        return {
            "distribution": "unknown (the run's test data was not available when exporting)"
            + fitted
        }
    return {"distribution": "empirical, from the codes of the test images" + fitted, "stats": stats}


def _export_onnx(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    part: str,
    inputs: list[str],
    outputs: list[str],
    *,
    any_size: bool,
) -> bytes:
    """The serialised ONNX model, from the torch.export-based exporter (the default since torch
    2.9)."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    auto = torch.export.Dim.AUTO
    # image and feature maps: N x C x H x W; index maps: N x H x W
    dynamic = tuple(
        {0: batch, arg.dim() - 2: auto, arg.dim() - 1: auto}
        if any_size and arg.dim() >= 3
        else {0: batch}
        for arg in args
    )
    if any(
        p.kind is p.VAR_POSITIONAL for p in inspect.signature(module.forward).parameters.values()
    ):
        # forward(*inputs) (a prior's sampler): torch.export takes their shapes as one tuple
        dynamic = (dynamic,)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                module,
                args,
                dynamic_shapes=dynamic,
                input_names=inputs,
                output_names=outputs,
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types; the user needs one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AekitError(f"ONNX export of the {part} failed: {first}") from None
    return program.model_proto.SerializeToString()


def _check_onnx_installed() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise AekitError(
            f"ONNX export needs the 'export' extra: pip install 'aekit[export]' ({exc.name} is "
            "missing)"
        ) from None
