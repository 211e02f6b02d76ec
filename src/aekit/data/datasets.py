"""The dataset registry: one ``load(name, split)`` for every source, and the ``aekit datasets``
table.

Image datasets come back as an ``ImageSet`` (uint8 pixels, fixed size, converted to float32
a batch at a time); document pages as a ``PageSet`` (full-size pages). Each registry entry
knows how to locate itself without loading, so ``describe_datasets`` is instant and never downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aekit.data import cache, idx, synthetic_documents
from aekit.data.decode import ImageOptions
from aekit.data.documents import PageSet, grouped_split, load_pages
from aekit.data.floorplan_files import load_plan_set
from aekit.data.folder import Decoded, load_folder
from aekit.data.image_set import ImageSet, to_float
from aekit.data.paths import cache_dir, candidate_dirs
from aekit.data.sheets import CRAWL_DIR, crawl_tiles_spec, load_sheets, parse_sheet_spec
from aekit.errors import ConfigError, DataError
from aekit.image_options import parse_size

DIGITS_TEST_SIZE = 300
SPLIT_SEED = 0


def _from_decoded(decoded: Decoded, name: str, source: str) -> ImageSet:
    return ImageSet(
        torch.from_numpy(decoded.pixels),
        None if decoded.labels is None else torch.from_numpy(decoded.labels),
        decoded.class_names,
        name,
        source,
        decoded.names,
        decoded.notes,
        decoded.skipped,
    )


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to find the data (cheaply) and how to load a split."""

    name: str
    description: str
    splits: tuple[str, ...]
    locate: Callable[[], tuple[bool, str]]  # (available, where found or where it looked)
    load: Callable[[str, ImageOptions, bool], ImageSet | PageSet]  # (split, options, skip_bad)
    pages: bool = False  # whole document pages (a PageSet), not images of one size


# --- image datasets ----------------------------------------------------------------------------
TORCH_RESAMPLERS = ("nearest", "bilinear", "bicubic")


def _conform(pixels: torch.Tensor, options: ImageOptions, name: str) -> torch.Tensor:
    """Stretch bundled sets to ``options.size`` and give them the channels asked for.

    Extra colour channels are views (``expand``), not copies; an asked-for alpha is opaque.
    """
    if options.size is not None and tuple(pixels.shape[:-3:-1]) != options.size:
        if options.resize != "stretch" or options.resample not in TORCH_RESAMPLERS:
            raise ConfigError(
                f"{name} can only be stretched (resample nearest, bilinear or bicubic); "
                "crop, pad and other resamplers apply to folder: and sheet: datasets"
            )
        eight_bit = pixels.dtype == torch.uint8
        smooth = options.resample != "nearest"
        resized = F.interpolate(
            to_float(pixels), size=options.size[::-1], mode=options.resample, antialias=smooth
        )
        resized = resized.clamp_(0.0, 1.0)
        pixels = resized.mul_(255.0).round_().to(torch.uint8) if eight_bit else resized
    if options.channels in (3, 4):
        pixels = pixels.expand(-1, 3, -1, -1)
    if options.channels in (2, 4):
        opaque = torch.full_like(pixels[:, :1], 255 if pixels.dtype == torch.uint8 else 1.0)
        pixels = torch.cat([pixels, opaque], dim=1)
    return pixels


def _load_digits(split: str, options: ImageOptions, skip_bad: bool) -> ImageSet:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train, test = train_test_split(
        np.arange(len(digits.target)),
        test_size=DIGITS_TEST_SIZE,
        random_state=SPLIT_SEED,
        stratify=digits.target,
    )
    chosen = np.sort(train if split == "train" else test)
    images = torch.from_numpy((digits.images[chosen] / 16.0).astype(np.float32)).unsqueeze(1)
    labels = torch.from_numpy(digits.target[chosen].astype(np.int64))
    names = [str(d) for d in range(10)]
    return ImageSet(
        _conform(images, options, "digits"), labels, names, "digits", "scikit-learn load_digits"
    )


def _idx_entry(source: idx.IdxSource) -> DatasetInfo:
    def locate() -> tuple[bool, str]:
        folders = {idx.locate(source, split) for split in source.splits}
        if None not in folders:
            return True, ", ".join(sorted(str(f) for f in folders))
        searched = ", ".join(str(d) for d in source.search_dirs())
        return False, f"looked in {searched}; downloads on first use"

    def load(split: str, options: ImageOptions, skip_bad: bool) -> ImageSet:
        pixels, labels, folder = _idx_rows(source, split)
        pixels = _conform(torch.from_numpy(pixels), options, source.name)
        return ImageSet(
            pixels, torch.from_numpy(labels), list(source.class_names), source.name, str(folder)
        )

    return DatasetInfo(source.name, source.description, tuple(source.splits), locate, load)


def _idx_rows(source: idx.IdxSource, split: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """``(N x 1 x H x W uint8, labels, folder)``: memory-mapped from the cache once the files were
    read and verified (un-gzipping 60,000 images each time took most of a second)."""
    folder = idx.locate(source, split)
    if folder is not None:
        files = [folder / name for name in source.splits[split]]
        slot, key = (
            cache.digest(["idx", source.name, split, str(folder.resolve())])[:24],
            cache.digest(cache.fingerprint(files)),
        )
        hit = cache.open_cached(slot, key)
        if hit is not None:
            return hit.pixels, np.asarray(hit.meta["labels"], dtype=np.int64), folder
    raw, labels, folder = idx.load_idx_split(source, split)
    files = [folder / name for name in source.splits[split]]
    slot, key = (
        cache.digest(["idx", source.name, split, str(folder.resolve())])[:24],
        cache.digest(cache.fingerprint(files)),
    )
    stored = cache.store(
        slot, key, raw[:, None], {"source": str(folder), "labels": labels.tolist()}
    )
    return stored.pixels, labels, folder


def _locate_crawl() -> tuple[bool, str]:
    try:
        crawl_tiles_spec()
    except DataError as exc:
        return False, str(exc)
    return True, str(CRAWL_DIR)


def _load_crawl(split: str, options: ImageOptions, skip_bad: bool) -> ImageSet:
    spec = crawl_tiles_spec()
    return _from_decoded(
        load_sheets(parse_sheet_spec(spec), split, options, skip_bad), "crawl-tiles", spec
    )


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


def _check_page_options(name: str, options: ImageOptions) -> None:
    if options != ImageOptions(None, options.channels) or options.channels not in (None, 1):
        raise ConfigError(
            f"{name}: pages keep their full size and one channel; image_size/channels/resize do "
            "not apply"
        )


def _load_documents(split: str, options: ImageOptions, skip_bad: bool) -> PageSet:
    _check_page_options("documents", options)
    folder = _find_documents()
    if folder is None:
        searched = ", ".join(str(d) for d in candidate_dirs("documents"))
        raise DataError(
            f"the real documents (Kaggle 'Denoising Dirty Documents': train/, train_cleaned/, "
            "test/) are not in "
            f"any of {searched}; put them in $AEKIT_DATA/documents/ (set AEKIT_DATA to the "
            "folder that holds documents/), or use the dataset documents-synthetic"
        )
    return load_pages(folder, split, "documents")


def _load_synthetic_documents(split: str, options: ImageOptions, skip_bad: bool) -> PageSet:
    _check_page_options("documents-synthetic", options)

    return load_pages(
        synthetic_documents.ensure_synthetic_documents(), split, "documents-synthetic"
    )


SYNTHETIC_A4_PAGES, SYNTHETIC_A4_DPI = 25, 300  # 20 train / 5 test pages; about 2 s each to make


def _load_synthetic_a4(split: str, options: ImageOptions, skip_bad: bool) -> PageSet:
    _check_page_options("documents-synthetic-300dpi", options)

    folder = synthetic_documents.ensure_synthetic_documents(
        SYNTHETIC_A4_PAGES, dpi=SYNTHETIC_A4_DPI
    )
    return load_pages(folder, split, "documents-synthetic-300dpi")


def _load_floorplans(split: str, options: ImageOptions, skip_bad: bool) -> ImageSet:
    return load_plan_set(split, options)


# --- the registry ------------------------------------------------------------------------------
def _generated(
    name: str,
    description: str,
    loader: Callable[[str, ImageOptions, bool], ImageSet | PageSet],
    pages: bool = False,
) -> DatasetInfo:
    """A set aekit makes itself (seeded, cached on first use): always available, splits train and
    test."""
    return DatasetInfo(
        name,
        description,
        ("train", "test"),
        lambda: (True, f"generated into {cache_dir()} on first use"),
        loader,
        pages=pages,
    )


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
        pages=True,
    ),
    "documents-synthetic": _generated(
        "documents-synthetic",
        "generated dirty/clean page pairs (aekit make-documents); full-size pages",
        _load_synthetic_documents,
        pages=True,
    ),
    "documents-synthetic-300dpi": _generated(
        "documents-synthetic-300dpi",
        "generated A4 pages at 300 dpi (2480x3508) "
        "with their true text, for OCR (aekit make-documents --dpi 300)",
        _load_synthetic_a4,
        pages=True,
    ),
    "floorplans-synthetic": _generated(
        "floorplans-synthetic",
        "generated floor plans (palette colours) with their "
        "footprints (PlanSet; aekit make-floorplans), 64x64",
        _load_floorplans,
    ),
    "crawl-tiles": DatasetInfo(
        "crawl-tiles",
        "Dungeon Crawl Stone Soup's game sprites (CC0), 32x32 RGBA, one class per sheet; "
        "apt-get install crawl-tiles-data",
        ("train", "test"),
        _locate_crawl,
        _load_crawl,
    ),
}


def holds_pages(name: str) -> bool:
    """Whether dataset ``name`` is document pages (models trained on it clean pages)."""
    info = REGISTRY.get(name)
    return info is not None and info.pages


def dataset_names() -> list[str]:
    """The registered names (``folder:PATH`` and ``sheet:PATH?tile=S`` load any images besides
    these)."""
    return list(REGISTRY)


def load(
    name: str,
    split: str = "train",
    *,
    image_size: int | str | tuple[int, int] | None = None,
    channels: int | None = None,
    resize: str = "stretch",
    resample: str = "bilinear",
    pad: str = "transparent",
    skip_bad: bool = False,
) -> ImageSet | PageSet:
    """One split of a dataset: ``ImageSet`` for images, ``PageSet`` for documents.

    ``image_size`` is ``S`` or ``"WxH"``; ``resize`` stretch | crop | pad (keeping the aspect ratio,
    bars ``pad`` transparent | white | black); ``resample`` nearest (pixel art) | bilinear | bicubic
    | lanczos | box | hamming; ``channels`` 1 | 2 | 3 | 4 (2 and 4 carry alpha). ``skip_bad`` counts
    and lists files that do not decode (``ImageSet.skipped``) instead of stopping at the first.
    """
    options = ImageOptions(parse_size(image_size), channels, resize, resample, pad)
    if name.startswith("folder:"):
        if not name[len("folder:") :].strip():
            raise DataError("folder: needs a path, as in folder:/path/to/images")
        path = Path(name[len("folder:") :]).expanduser()
        return _from_decoded(load_folder(path, split, options, skip_bad), name, str(path))
    if name.startswith("sheet:"):
        spec = parse_sheet_spec(name)
        return _from_decoded(load_sheets(spec, split, options, skip_bad), name, str(spec.path))
    info = REGISTRY.get(name)
    if info is None:
        raise DataError(
            f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}, folder:PATH, "
            "sheet:PATH?tile=S"
        )
    if split not in info.splits:
        raise DataError(f"unknown split {split!r} for {name}; splits: {', '.join(info.splits)}")
    return info.load(split, options, skip_bad)


def train_val_split(
    data: ImageSet | PageSet, val_fraction: float = 0.1, seed: int = 0
) -> tuple[ImageSet, ImageSet] | tuple[PageSet, PageSet]:
    """A fixed seeded hold-out ``(train, val)`` from a training split; whole groups for pages.

    Image subsets are uint8 copies; a trainer that keeps a large memory-mapped set should use
    ``val_indices`` and ``ImageSet.batch`` instead, so the rows are read from the map, not copied.
    """
    if isinstance(data, PageSet):
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
        kept, held = grouped_split(data.groups, val_fraction, seed, data.source)
        return data.subset(kept), data.subset(held)
    kept, held = val_indices(data, val_fraction, seed)
    return data.subset(kept), data.subset(held)


def val_indices(
    data: ImageSet, val_fraction: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train rows, validation rows)`` of ``train_val_split``, ascending, without copying any
    image."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    n = len(data)
    if n < 2:
        raise DataError(
            f"{data.name}: needs at least 2 images to hold out a validation set, found {n}",
            data.source,
        )
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    return torch.from_numpy(np.sort(order[n_val:])), torch.from_numpy(np.sort(order[:n_val]))


def describe_datasets() -> str:
    """A table: name, available here, where it was found (or where aekit looked), what it is."""
    rows = [("name", "available", "where", "description")]
    for info in REGISTRY.values():
        available, where = info.locate()
        rows.append((info.name, "yes" if available else "no", where, info.description))
    rows.append(
        (
            "folder:PATH",
            "-",
            "the folder you name",
            "any folder of png/jpg images; sub-folders = classes",
        )
    )
    rows.append(
        (
            "sheet:PATH?tile=S",
            "-",
            "the sheet or folder of sheets you name",
            "sprite sheets cut on an S or WxH grid; &ragged=drop, &sheets=a.png,b.png",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3] for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(rows[0][3]))
    return "\n".join(lines)
