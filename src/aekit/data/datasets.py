"""The dataset registry: one ``load(name, split)`` for every source, and the ``aekit datasets`` table.

Image datasets come back as an ``ImageSet`` (one tensor, fixed size); document pages as a
``PageSet`` (full-size pages). Each registry entry knows how to locate itself without loading,
so ``describe_datasets`` is instant and never downloads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aekit.data import idx
from aekit.data.documents import PageSet, grouped_split, load_pages
from aekit.data.folder import load_folder
from aekit.data.paths import cache_dir, candidate_dirs
from aekit.errors import ConfigError, DataError

DIGITS_TEST_SIZE = 300
SPLIT_SEED = 0


@dataclass
class ImageSet:
    """Images ``N x C x H x W`` float32 in [0, 1], with int64 labels when the data has classes."""

    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str] | None
    name: str
    source: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names else None

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ImageSet:
        idx_t = torch.as_tensor(indices, dtype=torch.long)
        labels = None if self.labels is None else self.labels[idx_t]
        return ImageSet(self.images[idx_t], labels, self.class_names, self.name, self.source)


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to find the data (cheaply) and how to load a split."""

    name: str
    description: str
    splits: tuple[str, ...]
    locate: Callable[[], tuple[bool, str]]  # (available, where found or where it looked)
    load: Callable[[str, int | None, int | None], ImageSet | PageSet]


# --- image datasets ----------------------------------------------------------------------------
def _conform(images: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """Resize (antialiased bilinear) and repeat the one gray channel when asked to."""
    if image_size is not None and images.shape[-1] != image_size:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=True)
        images = images.clamp_(0.0, 1.0)
    if channels == 3:
        images = images.repeat(1, 3, 1, 1)
    return images


def _load_digits(split: str, image_size: int | None, channels: int | None) -> ImageSet:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train, test = train_test_split(
        np.arange(len(digits.target)), test_size=DIGITS_TEST_SIZE, random_state=SPLIT_SEED, stratify=digits.target
    )
    chosen = np.sort(train if split == "train" else test)
    images = torch.from_numpy((digits.images[chosen] / 16.0).astype(np.float32)).unsqueeze(1)
    labels = torch.from_numpy(digits.target[chosen].astype(np.int64))
    names = [str(d) for d in range(10)]
    return ImageSet(_conform(images, image_size, channels), labels, names, "digits", "scikit-learn load_digits")


def _idx_entry(source: idx.IdxSource) -> DatasetInfo:
    def locate() -> tuple[bool, str]:
        folders = {idx.locate(source, split) for split in source.splits}
        if None not in folders:
            return True, ", ".join(sorted(str(f) for f in folders))
        searched = ", ".join(str(d) for d in source.search_dirs())
        return False, f"looked in {searched}; downloads on first use"

    def load(split: str, image_size: int | None, channels: int | None) -> ImageSet:
        raw, labels, folder = idx.load_idx_split(source, split)
        images = torch.from_numpy(raw.astype(np.float32)).mul_(1.0 / 255.0).unsqueeze(1)
        images = _conform(images, image_size, channels)
        return ImageSet(images, torch.from_numpy(labels), list(source.class_names), source.name, str(folder))

    return DatasetInfo(source.name, source.description, tuple(source.splits), locate, load)


# --- documents ---------------------------------------------------------------------------------
def _find_documents() -> Path | None:
    for folder in candidate_dirs("documents"):
        if (folder / "train").is_dir():
            return folder
    return None


def _locate_documents() -> tuple[bool, str]:
    folder = _find_documents()
    if folder is not None:
        return True, str(folder)
    return False, f"looked in {', '.join(str(d) for d in candidate_dirs('documents'))}"


def _check_page_options(name: str, image_size: int | None, channels: int | None) -> None:
    if image_size is not None or channels not in (None, 1):
        raise ConfigError(f"{name}: pages keep their full size and one channel; image_size/channels do not apply")


def _load_documents(split: str, image_size: int | None, channels: int | None) -> PageSet:
    _check_page_options("documents", image_size, channels)
    folder = _find_documents()
    if folder is None:
        searched = ", ".join(str(d) for d in candidate_dirs("documents"))
        raise DataError(
            f"the real documents (Kaggle 'Denoising Dirty Documents': train/, train_cleaned/, test/) are not in "
            f"any of {searched}; put them there, or use the dataset documents-synthetic"
        )
    return load_pages(folder, split, "documents")


def _load_synthetic_documents(split: str, image_size: int | None, channels: int | None) -> PageSet:
    _check_page_options("documents-synthetic", image_size, channels)
    from aekit.data.synthetic_documents import ensure_synthetic_documents

    return load_pages(ensure_synthetic_documents(), split, "documents-synthetic")


# --- the registry ------------------------------------------------------------------------------
REGISTRY: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        "digits",
        "scikit-learn's 1,797 handwritten digits 8x8, bundled (1,497 train / 300 test)",
        ("train", "test"),
        lambda: (True, "bundled with scikit-learn"),
        _load_digits,
    ),
    "mnist": _idx_entry(idx.MNIST),
    "fashion-mnist": _idx_entry(idx.FASHION_MNIST),
    "documents": DatasetInfo(
        "documents",
        "scanned pages with stains, paired with clean ones (Kaggle); full-size pages",
        ("train", "test", "kaggle-test"),
        _locate_documents,
        _load_documents,
    ),
    "documents-synthetic": DatasetInfo(
        "documents-synthetic",
        "generated dirty/clean page pairs (aekit make-documents); full-size pages",
        ("train", "test"),
        lambda: (True, f"generated into {cache_dir()} on first use"),
        _load_synthetic_documents,
    ),
}


def dataset_names() -> list[str]:
    """The registered names (``folder:PATH`` loads any image folder besides these)."""
    return list(REGISTRY)


def _check_options(image_size: int | None, channels: int | None) -> None:
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ConfigError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")


def load(
    name: str, split: str = "train", *, image_size: int | None = None, channels: int | None = None
) -> ImageSet | PageSet:
    """One split of a dataset: ``ImageSet`` for images, ``PageSet`` for documents."""
    _check_options(image_size, channels)
    if name.startswith("folder:"):
        if not name[len("folder:") :].strip():
            raise DataError("folder: needs a path, as in folder:/path/to/images")
        path = Path(name[len("folder:") :]).expanduser()
        images, labels, class_names = load_folder(path, split, image_size, channels)
        return ImageSet(
            torch.from_numpy(images),
            None if labels is None else torch.from_numpy(labels),
            class_names,
            name,
            str(path),
        )
    info = REGISTRY.get(name)
    if info is None:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}, folder:PATH")
    if split not in info.splits:
        raise DataError(f"unknown split {split!r} for {name}; splits: {', '.join(info.splits)}")
    return info.load(split, image_size, channels)


def train_val_split(
    data: ImageSet | PageSet, val_fraction: float = 0.1, seed: int = 0
) -> tuple[ImageSet, ImageSet] | tuple[PageSet, PageSet]:
    """A fixed seeded hold-out ``(train, val)`` from a training split; whole groups for pages."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    if isinstance(data, PageSet):
        kept, held = grouped_split(data.groups, val_fraction, seed, data.source)
        return data.subset(kept), data.subset(held)
    n = len(data)
    if n < 2:
        raise DataError(f"{data.name}: needs at least 2 images to hold out a validation set, found {n}", data.source)
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    return data.subset(np.sort(order[n_val:])), data.subset(np.sort(order[:n_val]))


def describe_datasets() -> str:
    """A table: name, available here, where it was found (or where aekit looked), what it is."""
    rows = [("name", "available", "where", "description")]
    for info in REGISTRY.values():
        available, where = info.locate()
        rows.append((info.name, "yes" if available else "no", where, info.description))
    rows.append(("folder:PATH", "-", "the folder you name", "any folder of png/jpg images; sub-folders = classes"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(rows[0][3]))
    return "\n".join(lines)
