"""A fully convolutional model on a whole page of any size, in bounded memory.

The one tiler for every page aekit cleans (``denoise``, ``evaluate``, the explorer, the tour).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aekit.errors import ConfigError

# Whole pages run in fixed tiles (bounded memory whatever the page size). Neighbouring tiles overlap
# by OVERLAP px; in each overlap the first MARGIN px next to a tile's inner edge (where its
# convolutions saw zero padding instead of the page) get weight 0, the rest a raised-cosine ramp
# whose two halves sum to 1, so tiles blend without seams. Tile starts are multiples of ALIGN so
# pooling grids line up with the whole page's (up to 5 halvings).
TILE, OVERLAP, MARGIN, ALIGN, TILE_BATCH = 512, 64, 16, 32, 2


def tile_spans(
    length: int, tile: int = TILE, overlap: int = OVERLAP, align: int = ALIGN
) -> list[tuple[int, int]]:
    """[start, end) of the tiles along one side: starts are multiples of ``align``, neighbours
    overlap by at least ``overlap``, tiles are ``tile`` long except the last, which ends the
    side."""
    step = (tile - overlap) // align * align
    if step < 1:
        raise ConfigError(
            f"tile {tile} leaves no step after an overlap of {overlap} aligned to {align}"
        )
    starts = [0]
    while starts[-1] + tile < length:
        starts.append(starts[-1] + step)
    return [(s, min(s + tile, length)) for s in starts]


def _ramp(n: int, margin: int) -> torch.Tensor:
    """Weights over an overlap of ``n`` px, rising away from a tile's inner edge: 0 for ``margin``
    px, then sin^2 up to 1 at ``margin`` px before the far side (mirrored, the neighbour's is
    cos^2)."""
    d = torch.arange(n, dtype=torch.float32)
    width = max(1, n - 2 * margin)
    return torch.sin(0.5 * math.pi * ((d - margin + 0.5) / width).clamp(0, 1)) ** 2


def _axis_window(spans: list[tuple[int, int]], k: int, margin: int) -> torch.Tensor:
    start, end = spans[k]
    w = torch.ones(end - start)
    if k > 0:
        n = spans[k - 1][1] - start
        w[:n] = _ramp(n, margin)
    if k + 1 < len(spans):
        n = end - spans[k + 1][0]
        w[end - start - n :] = _ramp(n, margin).flip(0)
    return w


def tiled_reconstruct(
    model: torch.nn.Module,
    page: torch.Tensor,
    tile: int | None = None,
    overlap: int | None = None,
    margin: int | None = None,
    batch: int | None = None,
    bf16: bool = False,
) -> torch.Tensor:
    """A fully convolutional model's output on a whole ``C x H x W`` page, in overlapping tiles
    blended with :func:`_ramp` windows; memory is bounded by ``batch`` tiles whatever the page.
    A model that needs sides in multiples of ``size_multiple`` gets each tile padded (edge pixels
    repeated) and cropped back. Unset sizes are the module's TILE, OVERLAP, MARGIN
    and TILE_BATCH."""
    tile, overlap = tile or TILE, overlap or OVERLAP
    margin, batch = MARGIN if margin is None else margin, batch or TILE_BATCH
    h, w = page.shape[-2:]
    device = next(model.parameters(), page).device
    rows, cols = tile_spans(h, tile, overlap), tile_spans(w, tile, overlap)
    out: torch.Tensor | None = None
    weight = torch.zeros(1, h, w)
    # tiles waiting for a batch, by shape
    pending: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def run(shape: tuple[int, int]) -> None:
        nonlocal out
        tiles = pending.pop(shape)
        x = torch.stack(
            [page[:, rows[i][0] : rows[i][1], cols[j][0] : cols[j][1]] for i, j in tiles]
        ).to(device)
        m = model.size_multiple
        x = F.pad(x, (0, -shape[1] % m, 0, -shape[0] % m), mode="replicate")
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16),
        ):
            y = model.reconstruct(x).float().cpu()[..., : shape[0], : shape[1]]
        if out is None:
            out = torch.zeros(y.shape[1], h, w)
        for (i, j), result in zip(tiles, y):
            window = _axis_window(rows, i, margin)[:, None] * _axis_window(cols, j, margin)[None, :]
            (y0, y1), (x0, x1) = rows[i], cols[j]
            out[:, y0:y1, x0:x1] += result * window
            weight[:, y0:y1, x0:x1] += window

    for i, (y0, y1) in enumerate(rows):
        for j, (x0, x1) in enumerate(cols):
            shape = (y1 - y0, x1 - x0)
            pending.setdefault(shape, []).append((i, j))
            if len(pending[shape]) == batch:
                run(shape)
    for shape in list(pending):
        run(shape)
    assert out is not None  # a page has at least one tile
    return out.div_(weight)
