"""What training epochs draw from: the training and validation batches, and random streams seeded by
(seed, epoch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aekit.config import TrainConfig
from aekit.data import ImageSet, train_val_split, val_indices
from aekit.data.documents import mixed_patches, synthetic_mix
from aekit.models.base import Autoencoder

ORDER, NOISE, PATCHES, SAMPLING = 0, 1, 2, 3  # independent random streams per (seed, epoch)


@dataclass
class Batches:
    """What an epoch draws its batches from: ``inputs`` (uint8 or float images), the ``targets`` of
    a denoiser, the ``conditions`` of a conditional model, and optionally the ``rows`` of ``inputs``
    that belong to this split (so a large memory-mapped set is never copied to hold out a split)."""

    inputs: torch.Tensor
    targets: torch.Tensor | None = None
    conditions: torch.Tensor | None = None
    rows: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.inputs) if self.rows is None else len(self.rows)

    def part(self, start: int, stop: int) -> Batches:
        """Positions ``start:stop`` of this split (a torchrun rank's share)."""

        def cut(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[start:stop]

        if self.rows is None:
            return Batches(self.inputs[start:stop], cut(self.targets), cut(self.conditions))
        return Batches(self.inputs, cut(self.targets), cut(self.conditions), self.rows[start:stop])

    def take(
        self, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Inputs (as float), targets and conditions at ``positions`` of this split."""
        rows = positions if self.rows is None else self.rows[positions]
        target = None if self.targets is None else as_float(self.targets[positions])
        condition = None if self.conditions is None else self.conditions[positions]
        return as_float(self.inputs[rows]), target, condition


def as_float(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as float32: uint8 storage is divided by 255, float passes through."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


@dataclass
class TrainingSplit:
    """Training and validation batches on the device; documents draw fresh patches each epoch."""

    config: TrainConfig
    device: torch.device
    val: Batches
    describe: str
    # image datasets: the whole training set, uint8 where the data is 8-bit
    images: Batches | None = None
    pages: Any = None  # documents: the training PageSet
    synthetic: Any = None  # documents with synthetic_share: the generated PageSet mixed in

    @classmethod
    def make(
        cls, data: Any, model: Autoencoder, noise: Any, config: TrainConfig, device: torch.device
    ) -> TrainingSplit:
        if isinstance(data, ImageSet):
            # no copy of the images
            train_rows, val_rows = val_indices(data, config.val_fraction, config.seed)
            if config.max_train_images is not None:  # a quick run: shrink validation in proportion
                n_val = max(
                    1,
                    round(
                        config.max_train_images * config.val_fraction / (1 - config.val_fraction)
                    ),
                )
                train_rows, val_rows = train_rows[: config.max_train_images], val_rows[:n_val]
            pixels = data.pixels.to(device)
            conditions = model.condition_of(data, train_rows)
            images = Batches(pixels, None, _to(conditions, device), train_rows.to(device))
            val = Batches(
                pixels, None, _to(model.condition_of(data, val_rows), device), val_rows.to(device)
            )
            if noise is not None:  # a fixed corruption, so validation losses compare across epochs
                clean = data.batch(val_rows)
                val = Batches(
                    noise(clean, generator=epoch_generator(config.seed, -1, NOISE)).to(device),
                    clean.to(device),
                    val.conditions,
                )
            describe = f"{len(train_rows)} train / {len(val_rows)} val images"
            return cls(config, device, val, describe, images=images)
        train_set, val_set = train_val_split(data, config.val_fraction, config.seed)
        val_x, val_y = val_set.random_patches(
            val_patches(config), config.patch_size, epoch_generator(config.seed, -1, PATCHES)
        )
        if noise is not None:
            val_x = noise(val_x, generator=epoch_generator(config.seed, -1, NOISE))
        describe = (
            f"{len(train_set)} train / {len(val_set)} val pages, {config.patch_size}px patches"
        )
        synthetic = synthetic_mix(config.synthetic_share)
        if synthetic is not None:
            describe += (
                f", {config.synthetic_share:.0%} of the patches from {len(synthetic)} "
                "generated pages"
            )
        if config.enlarge > 1:
            describe += f", enlarged 1-{config.enlarge:g}x"
        return cls(
            config,
            device,
            Batches(val_x.to(device), _to(val_y, device)),
            describe,
            pages=train_set,
            synthetic=synthetic,
        )

    def train(self, epoch: int) -> Batches:
        if self.images is not None:
            return self.images
        size, n = self.config.patch_size, self.config.patches_per_epoch
        noisy, clean = mixed_patches(
            self.pages,
            self.synthetic,
            self.config.synthetic_share,
            n,
            size,
            epoch_generator(self.config.seed, epoch, PATCHES),
            augment=self.config.augment,
            fade_share=self.config.fade_ink,
            enlarge=self.config.enlarge,
        )
        return Batches(noisy.to(self.device), clean.to(self.device))


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)


def epoch_generator(seed: int, epoch: int, stream: int, rank: int = 0) -> torch.Generator:
    """An independent generator per (seed, epoch, stream): epoch -1 is validation; ranks > 0 of a
    torchrun job get their own (rank 0 and single-process runs keep the same streams)."""
    mixed = np.random.SeedSequence(
        [seed, epoch + 1, stream] + ([rank] if rank else [])
    ).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(mixed[0]) << 32 | int(mixed[1]))


def val_patches(config: TrainConfig) -> int:
    return max(1, round(config.patches_per_epoch * config.val_fraction / (1 - config.val_fraction)))
