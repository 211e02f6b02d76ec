"""How aekit's figures are laid out and saved: each row of image tiles drawn as one picture, with
its titles, and the PNG written atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aekit.alpha import composite
from aekit.io import atomic_write_bytes


def save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def show_image(ax, image: torch.Tensor) -> None:
    """Draw one ``C x H x W`` image in [0, 1] without ticks (alpha over the checkerboard)."""
    array = composite(image).numpy()
    if array.shape[0] == 1:
        ax.imshow(array[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(array.transpose(1, 2, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_rows(
    rows: list[tuple[str, torch.Tensor]], title: str, column_titles: list[str] | None = None
) -> Figure:
    """A figure with one labelled row per image batch (same number of images per row).

    Each row is one tiled picture on one axis: an axis per image made the report's grids cost
    seconds each in matplotlib's layout."""
    columns = max(len(images) for _, images in rows)
    fig = Figure(figsize=(1.1 * columns + 1.2, 1.15 * len(rows) + 0.6), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for r, (label, images) in enumerate(rows):
        ax = axes[r]
        grid = grid_image(images, columns=len(images), pad=2)
        ax.imshow(
            grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
        )
        # short rows keep the long rows' scale
        ax.set_xlim(-0.5, columns * (images.shape[-1] + 2) - 2.5)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        if r == 0 and column_titles:
            width = images.shape[-1] + 2
            ax.set_xticks(
                [c * width + (width - 2) / 2 for c in range(min(columns, len(column_titles)))],
                column_titles[:columns],
                fontsize=8,
            )
            ax.xaxis.tick_top()
            ax.tick_params(length=0)
    fig.suptitle(title)
    return fig


def grid_image(images: torch.Tensor, columns: int, pad: int = 1) -> np.ndarray:
    """Tile ``N x C x H x W`` images into one ``H' x W' (x 3)`` array with white gutters (alpha
    over the checkerboard, each image its own)."""
    images = composite(images)
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    canvas = torch.ones(c, rows * (h + pad) - pad, columns * (w + pad) - pad)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        canvas[:, r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = image
    return canvas[0].numpy() if c == 1 else canvas.permute(1, 2, 0).numpy()


def class_titles(
    labels: torch.Tensor | None, class_names: list[str] | None, n: int
) -> list[str] | None:
    if labels is None:
        return None
    return [class_names[int(y)] if class_names else str(int(y)) for y in labels[:n]]


def no_grad(fn):
    def wrapper(*args, **kwargs):
        with torch.inference_mode():
            return fn(*args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def first_conditions(condition: torch.Tensor | None, n: int) -> torch.Tensor | None:
    return None if condition is None else condition[:n]
