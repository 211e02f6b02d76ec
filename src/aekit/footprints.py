"""A footprint a person drew, made into what a floor-plan model is conditioned on.

A drawn footprint comes at any size, black on white, white on black, or as a shape on
transparency, with or without an entrance marked (a coloured mark, say red, on the outline; or
the grey 128 of ``aekit make-floorplans``' footprint PNGs). ``footprint_from_pixels`` finds the
building (the pixels unlike the image's border, or the opaque ones), crops it to its bounding box
and scales it, keeping its aspect ratio, to ``FILL`` of the model's frame, centred, as the training
footprints are; without a mark it puts the entrance in the middle of the longest straight outer
wall and says so. ``UserFootprint.map_back`` carries a plan drawn there back onto the drawing's own
pixels. ``aekit sample --condition-image`` reads a file (``read_user_footprint``), the explorer an
upload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from aekit import plans as P
from aekit.data.floorplans import ENTRANCE, OUTSIDE, STATISTICS, WALL
from aekit.errors import DataError
from aekit.images import read_image_file

FILL = 0.85  # the footprint's longer side fills this share of the model's frame (training: 45-92%)
# a drawing with more pixels than this neither building nor background is no mask (a photo)
MID_SHARE = 0.1
MIN_BUILDING_PX = 16  # fewer building pixels than this at the model's size: no building
MARK_SATURATION = 0.35  # a pixel whose channels differ this much is an entrance mark
MARK_SHARE = 0.05  # ... and more of them than this share of the drawing is no mark but a picture
SHEET_GAP = 2


@dataclass
class UserFootprint:
    """A drawn footprint at the model's size (``footprint``: ``2 x S x S`` uint8, mask and entrance)
    and how it sits there: the drawing's size, its building's bounding box, and where that box
    went."""

    footprint: np.ndarray
    source_size: tuple[int, int]  # (height, width) of the drawing
    source_box: tuple[int, int, int, int]  # y0, y1, x0, x1 of the building in the drawing
    placed_box: tuple[int, int, int, int]  # ... and in the model's frame
    notes: list[str] = field(default_factory=list)

    def map_back(self, plan: np.ndarray) -> np.ndarray:
        """A plan at the model's size (class indices) carried onto the drawing's pixels: the placed
        box stretched (nearest) onto the building's box, outside everywhere else."""
        y0, y1, x0, x1 = self.placed_box
        sy0, sy1, sx0, sx1 = self.source_box
        out = np.full(self.source_size, OUTSIDE, np.uint8)
        out[sy0:sy1, sx0:sx1] = P.nearest_resize(
            np.asarray(plan)[y0:y1, x0:x1], sy1 - sy0, sx1 - sx0
        )
        return out


def read_user_footprint(path: str | Path, size: int) -> UserFootprint:
    """The drawing at ``path`` as a footprint for a model of ``size x size``."""
    return footprint_from_pixels(read_image_file(path).pixels.numpy(), size, Path(path))


def footprint_from_pixels(pixels: np.ndarray, size: int, path: str | Path) -> UserFootprint:
    """A drawing's premultiplied pixels (``C x H x W`` in [0, 1]) as a footprint for a model of
    ``size x size``; one-line errors, naming ``path``, for a drawing with no building or one that is
    not a mask (a photograph)."""
    colour, alpha = (pixels[:-1], pixels[-1]) if pixels.shape[0] in (2, 4) else (pixels, None)
    grey = colour.mean(0)
    saturation = colour.max(0) - colour.min(0)
    # premultiplied colour: a straight colour is colour / alpha (where alpha is not tiny)
    if alpha is not None and float(alpha.min()) < 0.5:
        building = alpha >= 0.5
        mid = (alpha > 0.1) & (alpha < 0.9)
    else:
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        background = float(np.median(border))
        distance = np.abs(grey - background)
        building = distance > 0.5
        mid = (distance > 0.15) & (distance < 0.85)
    exact_marks = (
        np.isclose(grey * 255, 128, atol=1) & np.isin(np.round(grey * 255), (0, 128, 255)).all()
    )
    marks = (saturation > MARK_SATURATION) | exact_marks
    if float(marks.mean()) > MARK_SHARE:
        raise DataError(
            f"is not a footprint mask: {marks.mean():.0%} of its pixels are coloured (an "
            "entrance mark is "
            "a small spot; draw the building in black on white, white on black, or opaque on "
            "transparency)",
            path,
        )
    building |= marks
    mid &= ~marks
    if float(mid.mean()) > MID_SHARE:
        raise DataError(
            f"is not a footprint mask: {mid.mean():.0%} of its pixels are neither building nor "
            "background "
            "(draw the building in black on white, white on black, or opaque on transparency)",
            path,
        )
    if not building.any():
        raise DataError("has no building: every pixel looks like the background", path)
    notes = []
    shapes, count = ndimage.label(building, np.ones((3, 3), bool))
    if count > 1:  # specks of dirt or a second building: the largest shape is the footprint
        building = shapes == 1 + int(np.bincount(shapes.ravel())[1:].argmax())
        notes.append(f"{path}: {count} separate shapes; kept the largest as the building")
        marks &= building
    h, w = building.shape
    y0, y1, x0, x1 = P.bounding_box(building)
    if y0 == 0 or x0 == 0 or y1 == h or x1 == w:
        notes.append(
            f"{path}: the building touches the drawing's edge; outside was added all round it"
        )
    scale = FILL * size / max(y1 - y0, x1 - x0)
    ph, pw = max(1, round((y1 - y0) * scale)), max(1, round((x1 - x0) * scale))
    py0, px0 = (size - ph) // 2, (size - pw) // 2
    mask = np.zeros((size, size), bool)
    mask[py0 : py0 + ph, px0 : px0 + pw] = _area_resize(building[y0:y1, x0:x1], ph, pw) >= 0.5
    mask = ndimage.binary_fill_holes(mask) if not _has_courtyard(building) else mask
    if mask.sum() < MIN_BUILDING_PX:
        raise DataError(
            f"has no building large enough: {int(mask.sum())} pixels at the model's {size}x{size}",
            path,
        )
    footprint = np.zeros((2, size, size), np.uint8)
    footprint[0] = mask
    near = None
    if marks.any():
        my, mx = np.nonzero(marks)
        near = ((my.mean() - y0) * scale + py0, (mx.mean() - x0) * scale + px0)
    mark = entrance(mask, near, size)
    if mark is None:
        raise DataError(
            f"has no straight outer wall long enough for an entrance at the model's {size}x{size}",
            path,
        )
    footprint[1] = mark
    if near is None:
        notes.append(
            f"{path}: no entrance marked; put one in the middle of the longest straight outer wall"
        )
    return UserFootprint(footprint, (h, w), (y0, y1, x0, x1), (py0, py0 + ph, px0, px0 + pw), notes)


def _area_resize(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """The share of building in each output pixel (PIL's box filter)."""
    image = Image.fromarray(mask.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BOX))


def _has_courtyard(building: np.ndarray) -> bool:
    return bool((ndimage.binary_fill_holes(building) & ~building).any())


def entrance(mask: np.ndarray, near: tuple[float, float] | None, size: int) -> np.ndarray | None:
    """An entrance mark on the outer wall: an opening as wide as the training plans' (3 pixels at
    64) in a straight stretch of wall with wall on both sides; the one nearest ``near``, or the
    middle of the longest straight outer wall; None when no wall is long enough."""
    width = max(2, round(STATISTICS["opening_px_at_64"] * size / 64))
    outside = ndimage.label(~mask)[0]
    exterior = outside == outside[0, 0]
    best, best_key = None, None
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        beyond = np.roll(exterior, (-dy, -dx), (0, 1))  # the pixel one step in (dy, dx) is exterior
        inward = np.roll(mask, (dy, dx), (0, 1))  # ... and the one behind is building
        edge = mask & beyond & inward
        along = (0, 1) if dy else (1, 0)
        runs, count = ndimage.label(
            edge,
            np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]])
            if dy
            else np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]]),
        )
        for k, box in enumerate(ndimage.find_objects(runs), start=1):
            ys, xs = np.nonzero(runs[box] == k)
            ys, xs = ys + box[0].start, xs + box[1].start
            order = np.argsort(ys * along[0] + xs * along[1])
            ys, xs = ys[order], xs[order]
            if len(ys) < width + 2:  # wall on both sides of the opening
                continue
            if near is None:
                start = (len(ys) - width) // 2
                key = -len(ys)
            else:
                centres = np.arange(1, len(ys) - width)
                middle_y = (ys[centres] + ys[centres + width - 1]) / 2
                middle_x = (xs[centres] + xs[centres + width - 1]) / 2
                d = (middle_y - near[0]) ** 2 + (middle_x - near[1]) ** 2
                start = int(centres[d.argmin()])
                key = float(d.min())
            if best_key is None or key < best_key:
                best_key, best = key, (ys[start : start + width], xs[start : start + width])
    if best is None:
        return None
    mark = np.zeros(mask.shape, np.uint8)
    mark[best] = 1
    return mark


def plan_sheet(
    plans: np.ndarray, footprint: np.ndarray | None = None, columns: int = 8
) -> np.ndarray:
    """Plans (``N x S x S`` class indices) on one indexed image, the footprint first when given
    (its mask as wall, its entrance mark as entrance), ``SHEET_GAP`` pixels of outside between
    them."""
    tiles = list(plans)
    if footprint is not None:
        tile = np.where(footprint[0] > 0, WALL, OUTSIDE).astype(np.uint8)
        tile[footprint[1] > 0] = ENTRANCE
        tiles.insert(0, tile)
    s = tiles[0].shape[0]
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    step = s + SHEET_GAP
    sheet = np.full((rows * step - SHEET_GAP, columns * step - SHEET_GAP), OUTSIDE, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[r * step : r * step + s, c * step : c * step + s] = tile
    return sheet
