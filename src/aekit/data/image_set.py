"""``ImageSet``: the images every loader returns, apart from the registry (``datasets.py``) so that
sets built on it (``floorplan_files.PlanSet``) and the registry that loads them import it from
below."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from aekit.data.conditions import make_condition


@dataclass
class ImageSet:
    """Images ``N x C x H x W`` with int64 labels when the data has classes.

    ``pixels`` holds the stored values: uint8 (0..255, often a memory map of the decode cache) for
    8-bit sources, float32 in [0, 1] for the rest (sklearn digits are k/16). ``images`` gives the
    whole set as float32 in [0, 1]; ``batch`` converts only the rows asked for, so training on a
    large set keeps one byte per value in memory. Alpha, when present, is the last channel and
    colour is premultiplied by it. ``notes`` says what loading changed (modes converted, sizes
    resized, empty tiles skipped); ``skipped`` lists files that did not decode when loading was told
    to skip them.
    """

    pixels: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str] | None
    name: str
    source: str
    # where each image came from (file or sheet tile)
    names: list[str] | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.pixels.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names else None

    @property
    def images(self) -> torch.Tensor:
        """The whole set as float32 in [0, 1] (a new tensor for uint8 sets: for evaluation and small
        sets)."""
        return to_float(self.pixels)

    def batch(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Rows ``indices`` as float32 in [0, 1]: only these are converted."""
        return to_float(self.pixels[torch.as_tensor(indices, dtype=torch.long)])

    # The model ``aekit train`` takes for this data when none is given, and why (None: chosen from a
    # look at the images, ``models.defaults``).
    default_model: ClassVar[tuple[str, str] | None] = None

    def condition(self, kind: str, rows: torch.Tensor) -> torch.Tensor:
        """What a conditional model of ``kind`` sees for ``rows``: labels, or images derived from
        them."""
        return make_condition(
            kind, self.batch(rows), None if self.labels is None else self.labels[rows]
        )

    def head(self, n: int) -> ImageSet:
        """The first ``n`` items (all of them when there are fewer)."""
        return self.subset(list(range(min(n, len(self)))))

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ImageSet:
        idx_t = torch.as_tensor(indices, dtype=torch.long)
        labels = None if self.labels is None else self.labels[idx_t]
        names = None if self.names is None else [self.names[i] for i in idx_t.tolist()]
        return ImageSet(
            self.pixels[idx_t],
            labels,
            self.class_names,
            self.name,
            self.source,
            names,
            list(self.notes),
            list(self.skipped),
        )


def to_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as float32 in [0, 1] (a new tensor); float pixels as they are."""
    return pixels.float().div_(255.0) if pixels.dtype == torch.uint8 else pixels
