"""Every picture aekit draws (a document cleaner's pages in ``aekit.page_plots``): one function per
figure, each writing one PNG and returning its path.

Figures are drawn on a plain ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot state,
no display needed), rendered to memory and written atomically via ``aekit.io``. Images with alpha
(2 or 4 channels) are shown composited over a grey checkerboard (``aekit.alpha``), colour in
colour, grey in grey. Functions take a
model and tensors, so the tour and notebooks can call them directly; ``run_plots.plot_run`` makes
every picture that applies to a run folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.stats import norm
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from aekit.metrics import median_filter
from aekit.plot_layout import (
    class_titles,
    first_conditions,
    grid_image,
    image_rows,
    no_grad,
    save_figure,
    show_image,
)


@no_grad
def plot_reconstructions(
    model,
    images: torch.Tensor,
    path: str | Path,
    *,
    condition: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    class_names: list[str] | None = None,
    n: int = 10,
) -> Path:
    """Test images (top) and their reconstructions (bottom), titled by class."""
    x = images[:n]
    recon = model.reconstruct(x, first_conditions(condition, n))
    fig = image_rows(
        [("input", x), ("reconstruction", recon)],
        f"{model.name}: reconstructions",
        class_titles(labels, class_names, n),
    )
    return save_figure(fig, path)


@no_grad
def plot_denoising(
    model,
    clean: torch.Tensor,
    noisy: torch.Tensor,
    path: str | Path,
    *,
    condition: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    class_names: list[str] | None = None,
    noise_spec: str = "",
    n: int = 10,
) -> Path:
    """Rows: noisy input, 3x3 median filter (the baseline), the model's output, the clean image."""
    rows = [
        ("noisy", noisy[:n]),
        ("median 3x3", median_filter(noisy[:n])),
        ("denoised", model.reconstruct(noisy[:n], first_conditions(condition, n))),
        ("clean", clean[:n]),
    ]
    title = f"{model.name}: denoising" + (f" ({noise_spec})" if noise_spec else "")
    return save_figure(image_rows(rows, title, class_titles(labels, class_names, n)), path)


@no_grad
def plot_manifold(
    model, path: str | Path, *, grid: int = 20, condition: torch.Tensor | None = None
) -> Path:
    """The decoded 2-D latent plane at standard-normal quantiles 0.05..0.95 (``grid x grid``)."""
    values = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, grid)), dtype=torch.float32)
    zy, zx = torch.meshgrid(values.flip(0), values, indexing="ij")
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)
    cond = None if condition is None else condition[:1].expand(len(z), *condition.shape[1:])
    images = model.decode(z, cond)
    fig = Figure(figsize=(8, 8))
    ax = fig.subplots()
    h, w = images.shape[-2:]
    ax.imshow(grid_image(images, grid, pad=0), cmap="gray", vmin=0, vmax=1)
    ticks = np.arange(grid)
    ax.set_xticks(ticks * w + w / 2, [f"{v:.2f}" for v in values.tolist()], rotation=90, fontsize=7)
    ax.set_yticks(ticks * h + h / 2, [f"{v:.2f}" for v in values.flip(0).tolist()], fontsize=7)
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(f"{model.name}: 2-D latent manifold (standard-normal quantiles 0.05..0.95)")
    return save_figure(fig, path)


@no_grad
def plot_traversal(
    model,
    images: torch.Tensor,
    path: str | Path,
    *,
    condition: torch.Tensor | None = None,
    dims: int = 8,
    steps: int = 9,
) -> Path:
    """Vary one latent dimension at a time around the code of one image.

    The range is +-2 standard deviations of that dimension over ``images``' codes, so it suits
    VAEs and plain autoencoders alike; the dimensions shown are the ones with most spread.
    """
    encoded = model.encode(images, condition)
    # spatial codes of conv models are traversed unit by unit
    codes = encoded.reshape(len(encoded), -1)
    spread = codes.std(0)
    chosen = torch.argsort(spread, descending=True)[: min(dims, codes.shape[1])]
    offsets = torch.linspace(-2, 2, steps)
    rows = []
    cond = None if condition is None else condition[:1].expand(steps, *condition.shape[1:])
    for d in chosen.tolist():
        z = codes[:1].repeat(steps, 1)
        z[:, d] = codes[0, d] + offsets * spread[d]
        rows.append((f"z[{d}]", model.decode(z.reshape(steps, *encoded.shape[1:]), cond)))
    titles = [f"{v:+.1f} sd" for v in offsets.tolist()]
    return save_figure(image_rows(rows, f"{model.name}: latent traversal", titles), path)


def plot_latent_scatter(
    codes: torch.Tensor | np.ndarray,
    path: str | Path,
    *,
    labels: torch.Tensor | np.ndarray | None = None,
    class_names: list[str] | None = None,
    method: str = "tsne",
    title: str = "latent codes",
    seed: int = 0,
) -> Path:
    """Latent codes coloured by class; 2-D codes as they are, else a PCA or t-SNE projection."""
    z = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    if z.shape[1] == 1:
        z = np.concatenate([z, np.zeros_like(z)], axis=1)
    if z.shape[1] == 2:
        xy, axis_names = z, ("z[0]", "z[1]")
    elif method == "pca":
        xy, axis_names = PCA(2, random_state=seed).fit_transform(z), ("PC 1", "PC 2")
    else:
        perplexity = min(30.0, max(2.0, (len(z) - 1) / 3))
        xy = TSNE(
            2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed
        ).fit_transform(z)
        axis_names = ("t-SNE 1", "t-SNE 2")
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.6)
    else:
        y = np.asarray(labels)
        classes = np.unique(y)
        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, k in enumerate(classes):
            name = class_names[int(k)] if class_names else str(int(k))
            ax.scatter(
                xy[y == k, 0], xy[y == k, 1], s=4, alpha=0.7, color=cmap(i % cmap.N), label=name
            )
        ax.legend(
            title="class", markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5)
        )
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    return save_figure(fig, path)


@no_grad
def plot_interpolations(
    model,
    images: torch.Tensor,
    path: str | Path,
    *,
    condition: torch.Tensor | None = None,
    pairs: int = 4,
    steps: int = 10,
) -> Path:
    """Decoded straight lines in latent space between pairs of test images (ends are
    reconstructions)."""
    codes = model.encode(images[: 2 * pairs], first_conditions(condition, 2 * pairs))
    t = torch.linspace(0, 1, steps).reshape(steps, *[1] * (codes.ndim - 1))
    rows = []
    for p in range(min(pairs, len(codes) // 2)):
        a, b = codes[2 * p], codes[2 * p + 1]
        cond = (
            None
            if condition is None
            else condition[2 * p : 2 * p + 1].expand(steps, *condition.shape[1:])
        )
        rows.append((f"pair {p + 1}", model.decode((1 - t) * a + t * b, cond)))
    titles = [f"t={v:.2f}" for v in t.flatten().tolist()]
    return save_figure(image_rows(rows, f"{model.name}: latent interpolations", titles), path)


@no_grad
def plot_samples(model, path: str | Path, *, n: int = 64, seed: int = 0, title: str = "") -> Path:
    """Random samples of a generative model (decoded draws from its prior)."""
    images = model.sample(n, generator=torch.Generator().manual_seed(seed))
    fig = Figure(figsize=(7, 7))
    ax = fig.subplots()
    ax.imshow(grid_image(images, int(math.ceil(math.sqrt(n)))), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    prior = "index maps from its PixelCNN" if model.discrete_code else "z ~ N(0, I)"
    ax.set_title(title or f"{model.name}: {n} random samples ({prior})")
    return save_figure(fig, path)


def plot_nearest_pairs(
    samples: torch.Tensor,
    train_images: torch.Tensor,
    nearest: torch.Tensor,
    path: str | Path,
    *,
    n: int = 16,
    title: str = "samples above their nearest training images",
) -> Path:
    """The first ``n`` samples, each above its nearest training image (``nearest``: rows of
    ``train_images``, as ``metrics.novelty`` gives them), 8 pairs to a row: copies show as twins."""
    n = min(n, len(samples))
    rows = []
    for start in range(0, n, 8):
        end = min(start + 8, n)
        rows += [
            (f"samples {start + 1}-{end}", samples[start:end]),
            ("nearest training", train_images[nearest[start:end]]),
        ]
    return save_figure(image_rows(rows, title), path)


@no_grad
def plot_class_samples(
    model,
    codes: torch.Tensor,
    labels: torch.Tensor,
    path: str | Path,
    *,
    class_names: list[str] | None = None,
    per_class: int = 8,
    seed: int = 0,
) -> Path:
    """Per class: a Gaussian fitted to that class's latent codes, sampled and decoded.

    The first column decodes the class centroid; the others add the class's learned spread, so
    a "2" comes out in different styles, not just the average 2.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for k in sorted(set(labels.tolist())):
        z = codes[labels == k].reshape(int((labels == k).sum()), -1).double().numpy()
        mean = z.mean(0)
        cov = np.cov(z, rowvar=False) if len(z) > 1 else np.zeros((z.shape[1], z.shape[1]))
        cov = np.atleast_2d(cov) + 1e-6 * np.eye(z.shape[1])
        draws = rng.multivariate_normal(mean, cov, size=per_class - 1)
        zs = torch.tensor(np.vstack([mean, draws]), dtype=torch.float32).reshape(
            per_class, *codes.shape[1:]
        )
        rows.append((class_names[k] if class_names else str(k), model.decode(zs)))
    titles = ["centroid"] + [f"sample {i}" for i in range(1, per_class)]
    return save_figure(
        image_rows(rows, f"{model.name}: per-class samples (centroid + learned spread)", titles),
        path,
    )


@no_grad
def plot_conditional_samples(
    model,
    conditions: torch.Tensor,
    path: str | Path,
    *,
    row_names: list[str] | None = None,
    per_condition: int = 8,
    seed: int = 0,
) -> Path:
    """Samples of a conditional model: one row per condition (a class label or a condition
    image)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for i, cond in enumerate(conditions):
        batch = cond.unsqueeze(0).expand(per_condition, *cond.shape)
        samples = model.sample(per_condition, condition=batch, generator=generator)
        # show the condition image first (a footprint's mask and entrance as one grey image)
        if cond.ndim == 3:
            shown = (
                cond
                if cond.shape[0] in (1, samples.shape[1])
                else cond.float().mean(0, keepdim=True)
            )
            samples = torch.cat(
                [shown.unsqueeze(0).expand(1, samples.shape[1], *cond.shape[1:]), samples]
            )
        name = (
            row_names[i]
            if row_names
            else (str(int(cond)) if cond.ndim == 0 else f"condition {i + 1}")
        )
        rows.append((name, samples))
    titles = (["condition"] if conditions.ndim == 4 else []) + [
        f"sample {i + 1}" for i in range(per_condition)
    ]
    return save_figure(image_rows(rows, f"{model.name}: conditional samples", titles), path)


def default_feature_layer(model: torch.nn.Module) -> str:
    """Name of the model's first convolution (the layer whose maps are easiest to read)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            return name
    raise ValueError(f"{type(model).__name__} has no convolutional layer")


@no_grad
def plot_feature_maps(
    model,
    image: torch.Tensor,
    path: str | Path,
    *,
    layer: str | None = None,
    condition: torch.Tensor | None = None,
    max_maps: int = 16,
) -> Path:
    """Activations of one layer (default: the first convolution) for one image, via a forward
    hook."""
    layer = layer or default_feature_layer(model)
    module = dict(model.named_modules())[layer]
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        model.reconstruct(image.unsqueeze(0), condition)
    finally:
        handle.remove()
    maps = captured[0][0][:max_maps]
    columns = min(8, len(maps) + 1)
    rows = math.ceil((len(maps) + 1) / columns)
    fig = Figure(figsize=(1.4 * columns, 1.5 * rows + 0.5))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    show_image(axes[0], image)
    axes[0].set_title("input", fontsize=8)
    for i, fmap in enumerate(maps, start=1):
        axes[i].imshow(fmap.cpu().numpy(), cmap="viridis")
        axes[i].set_xticks([])
        axes[i].set_yticks([])
        axes[i].set_title(f"channel {i - 1}", fontsize=8)
    for ax in axes[len(maps) + 1 :]:
        ax.axis("off")
    shape = " x ".join(str(s) for s in captured[0].shape[1:])
    fig.suptitle(
        f"{model.name}: feature maps of layer '{layer}' (channels x height x width = {shape})"
    )
    return save_figure(fig, path)


def plot_training_curves(
    metrics_path: str | Path, path: str | Path, *, title: str = "training curves"
) -> Path:
    """Per-epoch loss terms from ``metrics.jsonl``: one panel per term, train and validation lines.

    Lines look like ``{"epoch": 3, "train": {"loss": ..}, "val": {"loss": ..}, ...}``; top-level
    numbers other than bookkeeping (epoch, seconds, lr) get a panel of their own.
    """
    lines = Path(metrics_path).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(records)]
    series: dict[str, dict[str, list[float]]] = {}
    for r in records:
        for key, value in r.items():
            if isinstance(value, dict):
                for term in value:
                    series.setdefault(term, {}).setdefault(key, [])
            elif key not in ("epoch", "seconds", "lr") and isinstance(value, (int, float)):
                series.setdefault(key, {}).setdefault("value", [])
    for term, splits in series.items():
        for split in splits:
            for r in records:
                source = r.get(split, {}) if split != "value" else {term: r.get(term)}
                value = source.get(term) if isinstance(source, dict) else None
                splits[split].append(float(value) if isinstance(value, (int, float)) else np.nan)
    terms = sorted(series, key=lambda t: (t != "loss", t))[:6] or ["(no values)"]
    fig = Figure(figsize=(4.2 * len(terms), 3.6))
    axes = fig.subplots(1, len(terms), squeeze=False)[0]
    for ax, term in zip(axes, terms):
        for split, values in series.get(term, {}).items():
            ax.plot(epochs, values, marker="o", ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.set_title(term, fontsize=10)
        ax.grid(alpha=0.3)
        if series.get(term):
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_prior_samples(
    model,
    prior,
    path: str | Path,
    *,
    n: int = 40,
    seed: int = 0,
    prior_name: str = "",
    class_names: list[str] | None = None,
    title: str = "",
) -> Path:
    """The model's own samples (N(0, I) codes for a VAE) beside those of a fitted prior, decoded by
    the same decoder from the same number of draws: where the prior helps, the right grid has fewer
    blurred in-between images. A class-conditional prior draws one class per column."""
    columns = prior.num_classes if prior.conditional and prior.num_classes <= 20 else 10
    n = max(columns, n - n % columns)
    labels = (
        torch.arange(n) % columns if prior.conditional and columns == prior.num_classes else None
    )
    with torch.inference_mode():
        own = model.sample(n, generator=torch.Generator().manual_seed(seed))
        fitted = model.decode(
            prior.sample(n, generator=torch.Generator().manual_seed(seed), labels=labels)
        )
    own_title = "N(0, I)" if model.latent_kind == "gaussian" else "the model's own prior"
    fitted_title = f"prior {prior_name or prior.name}" + (
        " (one class per column)" if labels is not None else ""
    )
    fig = Figure(
        figsize=(2 * (0.45 * columns + 0.3), 0.45 * n / columns + 1.0), layout="constrained"
    )
    for ax, images, label in zip(fig.subplots(1, 2), (own, fitted), (own_title, fitted_title)):
        grid = grid_image(images, columns)
        ax.imshow(
            grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
        )
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if labels is not None and class_names:  # name the class of each column under the prior's grid
        w = own.shape[-1] + 1
        ax.set_xticks(
            [c * w + w / 2 - 1 for c in range(columns)],
            [class_names[c][:8] for c in range(columns)],
            rotation=90,
            fontsize=7,
        )
    fig.suptitle(title or f"{model.name}: samples")
    return save_figure(fig, path)
