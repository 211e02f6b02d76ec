"""Floor-plan pairs on disk and as the registered dataset ``floorplans-synthetic``.

The drawing itself is ``aekit.data.floorplans``; here are the file layout of ``aekit
make-floorplans`` (grey footprint PNGs, indexed plan PNGs with the class palette, a JSON recipe),
the conversions between class indices and palette colours, and ``PlanSet``: the plans as an
``ImageSet`` of palette colours with their class indices and footprints riding along.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from aekit.data import cache
from aekit.data.decode import ImageOptions
from aekit.data.floorplans import CLASSES, PALETTE, STATISTICS, check_request, make_floorplans
from aekit.data.image_set import ImageSet
from aekit.errors import AekitError, ConfigError
from aekit.images import png_bytes
from aekit.io import StagedFolder

FOOTPRINT_ENTRANCE_GREY = 128  # footprint PNG: 0 outside, 255 inside, 128 entrance mark
TRAIN_PAIRS, TEST_PAIRS = 20_000, 1_000  # the registered dataset floorplans-synthetic


# --- files -------------------------------------------------------------------------------------
def plan_to_rgb(plans: np.ndarray) -> np.ndarray:
    """Class indices ``... x H x W`` to palette colours ``... x 3 x H x W`` (uint8)."""
    return np.moveaxis(PALETTE[plans], -1, -3)


def rgb_to_plan(rgb: np.ndarray) -> np.ndarray:
    """Palette colours ``... x 3 x H x W`` (uint8, or floats in [0, 1] as models give) back to the
    nearest class."""
    array = np.asarray(rgb)
    values = array.astype(np.float32) if array.dtype == np.uint8 else array.astype(np.float32) * 255
    distance = ((np.moveaxis(values, -3, -1)[..., None, :] - PALETTE.astype(np.float32)) ** 2).sum(
        -1
    )
    return distance.argmin(-1).astype(np.uint8)


def footprint_png(footprint: np.ndarray) -> bytes:
    """One grey PNG: 0 outside, 255 inside, ``FOOTPRINT_ENTRANCE_GREY`` (128) on the entrance
    mark."""
    grey = footprint[0] * np.uint8(255)
    grey[footprint[1] > 0] = FOOTPRINT_ENTRANCE_GREY
    return png_bytes(grey[:, :, None])


def plan_png(plan: np.ndarray) -> bytes:
    """An indexed ('P') PNG whose palette is ``PALETTE``: the class index is the pixel value."""
    image = Image.fromarray(plan, mode="P")
    image.putpalette(PALETTE.reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def read_footprint(path: str | Path) -> np.ndarray:
    """A footprint PNG written by ``write_floorplans`` back to ``2 x H x W`` uint8."""
    grey = np.asarray(Image.open(path).convert("L"))
    return np.stack([grey > 0, grey == FOOTPRINT_ENTRANCE_GREY]).astype(np.uint8)


def read_plan(path: str | Path) -> np.ndarray:
    """A plan PNG written by ``write_floorplans`` back to class indices ``H x W``."""
    image = Image.open(path)
    if image.mode != "P":
        raise AekitError(f"a plan must be an indexed (P) PNG, this one is {image.mode}", path)
    return np.asarray(image).astype(np.uint8)


def write_floorplans(n: int, out: str | Path, size: int = 64, seed: int = 0) -> Path:
    """Write ``n`` pairs as ``out/footprints/NNNNN.png`` and ``out/plans/NNNNN.png`` (same name per
    pair) with ``out/floorplans.json`` (recipe, classes and palette); ``out`` must be new or
    empty."""
    check_request(n, size, seed)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AekitError(
            "already exists and is not an empty folder; choose a new output folder", out
        )
    footprints, plans = make_floorplans(n, size, seed)
    digits = max(5, len(str(n - 1)))
    with StagedFolder(out) as staged:
        for i in range(n):
            staged.write(f"footprints/{i:0{digits}d}.png", footprint_png(footprints[i]))
            staged.write(f"plans/{i:0{digits}d}.png", plan_png(plans[i]))
        staged.write(
            "floorplans.json",
            json.dumps(
                {
                    "generator": "aekit.data.floorplans",
                    "pairs": int(n),
                    "size": int(size),
                    "seed": int(seed),
                    "classes": list(CLASSES),
                    "palette": PALETTE.tolist(),
                    "footprint_png": "grey: 0 outside, 255 inside, 128 entrance mark",
                },
                indent=1,
            ).encode(),
        )
    return out


def make_floorplans_command(n: int, size: int, out: str, seed: int) -> str:
    """``aekit make-floorplans``: write the pairs and say where."""
    path = write_floorplans(n, out, size=size, seed=seed)
    return f"wrote {n} floor plan pairs ({size}x{size}) to {path}"


# --- the registered dataset --------------------------------------------------------------------
@dataclass(kw_only=True)
class PlanSet(ImageSet):
    """An ``ImageSet`` of plans with their footprints riding along row for row.

    ``pixels`` are the plans in palette colours (``N x 3 x S x S`` uint8), so every image model
    trains on them as they are and pictures show them; ``plans`` the same plans as class indices
    (``N x S x S``, what ``aekit.plans`` measures); ``footprints`` ``N x 2 x S x S`` (outline mask,
    entrance mark; 0/1), the condition a plan is drawn for. ``subset`` keeps the three aligned.
    """

    plans: torch.Tensor
    footprints: torch.Tensor
    default_model: ClassVar[tuple[str, str] | None] = (
        "plan-layout",
        "plan-layout for floor plans (a conditional VAE drawing the room layout for the "
        "footprint of each pair, rendered into walls, doors and windows)",
    )

    def condition(self, kind: str, rows: torch.Tensor) -> torch.Tensor:
        """The footprints (uint8 ``B x 2 x S x S``) for a footprint-conditional model, else as any
        image set."""
        return (
            self.footprints[rows] if kind == "footprint" else ImageSet.condition(self, kind, rows)
        )

    def subset(self, indices: Sequence[int] | torch.Tensor) -> PlanSet:
        rows = torch.as_tensor(indices, dtype=torch.long)
        images = ImageSet.subset(self, rows)
        return PlanSet(
            **{f.name: getattr(images, f.name) for f in fields(ImageSet)},
            plans=self.plans[rows],
            footprints=self.footprints[rows],
        )


def load_plan_set(split: str, options: ImageOptions) -> PlanSet:
    """The registered ``floorplans-synthetic``: train 20,000 pairs (seed 0), test 1,000 (seed 1),
    generated at ``image_size`` (default 64; square) on first use and memory-mapped from the cache
    afterwards (plans as colours and indices, footprints: one uint8 file)."""
    size = 64 if options.size is None else options.size[0]
    if options.size is not None and options.size[0] != options.size[1]:
        raise ConfigError(
            f"floorplans-synthetic is square: image_size {options.size[0]}x{options.size[1]} "
            "does not apply"
        )
    if options != ImageOptions(options.size, options.channels) or options.channels not in (None, 3):
        raise ConfigError(
            "floorplans-synthetic is drawn at the size asked in 3 palette colours: channels "
            "other than 3, resize, resample and pad do not apply"
        )
    n, seed = (TRAIN_PAIRS, 0) if split == "train" else (TEST_PAIRS, 1)
    check_request(n, size, seed)
    recipe = {
        "generator": "aekit.data.floorplans",
        "pairs": n,
        "size": size,
        "seed": seed,
        **STATISTICS,
    }
    slot, key = cache.digest(["floorplans", split, size])[:24], cache.digest(recipe)
    hit = cache.open_cached(slot, key)
    if hit is None:
        footprints, plans = make_floorplans(n, size, seed)
        rows = np.concatenate([plan_to_rgb(plans), plans[:, None], footprints], axis=1)
        hit = cache.store(slot, key, rows, {"source": "generated", **recipe})
    rows = torch.from_numpy(hit.pixels)
    source = f"aekit.data.floorplans seed {seed}: {n} pairs of {size}x{size}"
    return PlanSet(
        pixels=rows[:, :3],
        labels=None,
        class_names=None,
        name="floorplans-synthetic",
        source=source,
        plans=rows[:, 3],
        footprints=rows[:, 4:6],
    )
