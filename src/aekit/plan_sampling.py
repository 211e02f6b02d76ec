"""Floor plans for a footprint the user drew: ``aekit sample RUN --condition-image FILE``.

A drawn footprint comes at any size, black on white, white on black, or as a shape on
transparency, with or without an entrance marked (a coloured mark, say red, on the outline; or
the grey 128 of ``aekit make-floorplans``' footprint PNGs). ``read_user_footprint`` finds the
building (the pixels unlike the image's border, or the opaque ones), crops it to its bounding box and
scales it, keeping its aspect ratio, to ``FILL`` of the model's frame, centred, as the training
footprints are; without a mark it puts the entrance in the middle of the longest straight outer
wall and says so. Plans drawn there are carried back onto the drawing's own pixels
(``UserFootprint.map_back``) and written as indexed PNGs with the plan palette; ``--vector`` adds
each plan's rooms, doors and windows as JSON and SVG (``aekit.plan_vectors``), in the
drawing's pixels or, with ``--scale``, in metres.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from aekit import plan_vectors
from aekit import plans as P
from aekit.commands.inputs import prepare_out
from aekit.data.floorplan_files import footprint_png, plan_png
from aekit.data.floorplans import ENTRANCE, OUTSIDE, STATISTICS, WALL
from aekit.errors import ConfigError, DataError
from aekit.images import read_image_file
from aekit.io import StagedFolder
from aekit.models.plan_vae import PlanModel
from aekit.plan_measures import draw_plans

FILL = 0.85  # the footprint's longer side fills this share of the model's frame (training: 45-92%)
MID_SHARE = 0.1  # a drawing with more pixels than this neither building nor background is no mask (a photo)
MIN_BUILDING_PX = 16  # fewer building pixels than this at the model's size: no building
MARK_SATURATION = 0.35  # a pixel whose channels differ this much is an entrance mark
MARK_SHARE = 0.05  # ... and more of them than this share of the drawing is no mark but a picture
SHEET_GAP = 2


@dataclass
class UserFootprint:
    """A drawn footprint at the model's size (``footprint``: ``2 x S x S`` uint8, mask and entrance)
    and how it sits there: the drawing's size, its building's bounding box, and where that box went."""

    footprint: np.ndarray
    source_size: tuple[int, int]  # (height, width) of the drawing
    source_box: tuple[int, int, int, int]  # y0, y1, x0, x1 of the building in the drawing
    placed_box: tuple[int, int, int, int]  # ... and in the model's frame
    notes: list[str] = field(default_factory=list)

    def map_back(self, plan: np.ndarray) -> np.ndarray:
        """A plan at the model's size (class indices) carried onto the drawing's pixels: the placed box
        stretched (nearest) onto the building's box, outside everywhere else."""
        y0, y1, x0, x1 = self.placed_box
        sy0, sy1, sx0, sx1 = self.source_box
        out = np.full(self.source_size, OUTSIDE, np.uint8)
        out[sy0:sy1, sx0:sx1] = P.nearest_resize(np.asarray(plan)[y0:y1, x0:x1], sy1 - sy0, sx1 - sx0)
        return out


def read_user_footprint(path: str | Path, size: int) -> UserFootprint:
    """The drawing at ``path`` as a footprint for a model of ``size x size``; one-line errors for a
    drawing with no building or one that is not a mask (a photograph)."""
    path = Path(path)
    image = read_image_file(path)
    pixels = image.pixels.numpy()
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
    exact_marks = np.isclose(grey * 255, 128, atol=1) & np.isin(np.round(grey * 255), (0, 128, 255)).all()
    marks = (saturation > MARK_SATURATION) | exact_marks
    if float(marks.mean()) > MARK_SHARE:
        raise DataError(f"is not a footprint mask: {marks.mean():.0%} of its pixels are coloured (an entrance mark is "
                        "a small spot; draw the building in black on white, white on black, or opaque on transparency)",
                        path)
    building |= marks
    mid &= ~marks
    if float(mid.mean()) > MID_SHARE:
        raise DataError(f"is not a footprint mask: {mid.mean():.0%} of its pixels are neither building nor background "
                        "(draw the building in black on white, white on black, or opaque on transparency)", path)
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
        notes.append(f"{path}: the building touches the drawing's edge; outside was added all round it")
    scale = FILL * size / max(y1 - y0, x1 - x0)
    ph, pw = max(1, round((y1 - y0) * scale)), max(1, round((x1 - x0) * scale))
    py0, px0 = (size - ph) // 2, (size - pw) // 2
    mask = np.zeros((size, size), bool)
    mask[py0:py0 + ph, px0:px0 + pw] = _area_resize(building[y0:y1, x0:x1], ph, pw) >= 0.5
    mask = ndimage.binary_fill_holes(mask) if not _has_courtyard(building) else mask
    if mask.sum() < MIN_BUILDING_PX:
        raise DataError(f"has no building large enough: {int(mask.sum())} pixels at the model's {size}x{size}", path)
    footprint = np.zeros((2, size, size), np.uint8)
    footprint[0] = mask
    near = None
    if marks.any():
        my, mx = np.nonzero(marks)
        near = ((my.mean() - y0) * scale + py0, (mx.mean() - x0) * scale + px0)
    mark = entrance(mask, near, size)
    if mark is None:
        raise DataError(f"has no straight outer wall long enough for an entrance at the model's {size}x{size}", path)
    footprint[1] = mark
    if near is None:
        notes.append(f"{path}: no entrance marked; put one in the middle of the longest straight outer wall")
    return UserFootprint(footprint, (h, w), (y0, y1, x0, x1), (py0, py0 + ph, px0, px0 + pw), notes)


def _area_resize(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """The share of building in each output pixel (PIL's box filter)."""
    image = Image.fromarray(mask.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BOX))


def _has_courtyard(building: np.ndarray) -> bool:
    return bool((ndimage.binary_fill_holes(building) & ~building).any())


def entrance(mask: np.ndarray, near: tuple[float, float] | None, size: int) -> np.ndarray | None:
    """An entrance mark on the outer wall: an opening as wide as the training plans' (3 pixels at 64)
    in a straight stretch of wall with wall on both sides; the one nearest ``near``, or the middle
    of the longest straight outer wall; None when no wall is long enough."""
    width = max(2, round(STATISTICS["opening_px_at_64"] * size / 64))
    outside = ndimage.label(~mask)[0]
    exterior = outside == outside[0, 0]
    best, best_key = None, None
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        beyond = np.roll(exterior, (-dy, -dx), (0, 1))  # the pixel one step in (dy, dx) is exterior
        inward = np.roll(mask, (dy, dx), (0, 1))  # ... and the one behind is building
        edge = mask & beyond & inward
        along = (0, 1) if dy else (1, 0)
        runs, count = ndimage.label(edge, np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]]) if dy else
                                    np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]]))
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
                best_key, best = key, (ys[start:start + width], xs[start:start + width])
    if best is None:
        return None
    mark = np.zeros(mask.shape, np.uint8)
    mark[best] = 1
    return mark


class PlanFiles(Sequence[Path]):
    """What ``sample_plans`` wrote (plans, then the footprint, sheet and vectors when asked for) and its notes."""

    def __init__(self, paths: list[Path], notes: list[str], n: int, out: Path):
        self.paths, self.notes, self.n, self.out = paths, notes, n, out

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):  # type: ignore[override]
        return self.paths[index]

    def describe(self) -> str:
        return "\n".join([*self.notes, f"wrote {self.n} floor plans to {self.out} (indexed PNGs, plan palette)"])


def sample_plans(model: PlanModel, footprint_file: str | Path | None, out: str | Path, n: int, *, seed: int = 0,
                 temperature: float = 1.0, sheet: bool = False, overwrite: bool = False, vector: bool = False,
                 scale: float | None = None) -> PlanFiles:
    """``aekit sample`` for a floor-plan model: ``n`` plans for the drawn footprint, written as
    ``plan_NNN.png`` at the drawing's size (plus ``footprint.png`` as the model saw it, ``sheet.png``
    with ``--sheet``, ``plan_NNN.json`` and ``.svg`` with ``--vector``)."""
    if footprint_file is None:
        raise ConfigError(f"model {model.name!r} draws plans for a footprint: give --condition-image FILE")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"--scale must be metres per pixel > 0, got {scale}")
    if scale is not None and not vector:
        raise ConfigError("--scale sets the units of --vector: pass --vector too")
    out = Path(out)
    prepare_out(out, [], overwrite)
    user = read_user_footprint(footprint_file, model.input_shape[1])
    drawn = draw_plans(model, user.footprint[None], n, seed, temperature)[0]
    digits = len(str(n - 1))
    paths = []
    with StagedFolder(out) as staged:
        staged.write("footprint.png", footprint_png(user.footprint))
        for k, plan in enumerate(drawn):
            name = f"plan_{k:0{digits}d}"
            full = user.map_back(plan)
            staged.write(f"{name}.png", plan_png(full))
            paths.append(out / f"{name}.png")
            if vector:
                staged.write(f"{name}.json", json.dumps(plan_vectors.plan_vectors(full, scale), indent=1).encode())
                staged.write(f"{name}.svg", plan_vectors.plan_svg(full, scale, pixel=1.0).encode())
                paths += [out / f"{name}.json", out / f"{name}.svg"]
        paths.append(out / "footprint.png")
        if sheet:
            staged.write("sheet.png", plan_png(plan_sheet(drawn, user.footprint)))
            paths.append(out / "sheet.png")
    return PlanFiles(paths, user.notes, n, out)


def plan_sheet(plans: np.ndarray, footprint: np.ndarray | None = None, columns: int = 8) -> np.ndarray:
    """Plans (``N x S x S`` class indices) on one indexed image, the footprint first when given
    (its mask as wall, its entrance mark as entrance), ``SHEET_GAP`` pixels of outside between them."""
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
        sheet[r * step:r * step + s, c * step:c * step + s] = tile
    return sheet

