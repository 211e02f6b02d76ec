"""``folder:PATH``: any folder of images becomes a labelled (or unlabelled) image set.

Layouts, checked in this order:
- ``PATH/train/`` and ``PATH/test/``: the user's own split; each is read as below;
- ``PATH/<class>/...``: one sub-folder per class, labels from the sorted folder names;
- ``PATH/*.png``: loose images, no labels.
Without ``train/``+``test/`` a fixed seeded 20% of the files is the test split.
Every image is brought to ``image_size`` by stretching, cropping or padding (see
``aekit.data.decode``); by default images keep their own size when they all share one of at most
MAX_OWN_SIZE a side (32x32 sprites stay 32x32: pixel art is not blurred), else 64x64.
``channels`` defaults to 1 when every image is grayscale, else 3, plus an alpha channel
(premultiplied, last) when any image is transparent; it is decided over the whole folder so both
splits agree. Files with other extensions and hidden files are skipped; an image that does not
decode is an error naming it, unless ``skip_bad`` (then it is counted and listed).

Both splits are decoded once, by parallel worker processes, into one uint8 cache (train rows, then
test rows) that later loads memory-map (``aekit.data.cache``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from aekit.data import cache
from aekit.data.decode import ImageOptions, Probe, decode_file, default_channels, probe
from aekit.errors import AekitError, DataError
from aekit.images import CANONICAL

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
DEFAULT_IMAGE_SIZE = 64
MAX_OWN_SIZE = 128  # a folder of one size up to this keeps it by default
TEST_FRACTION = 0.2
SPLIT_SEED = 0
DEFAULTS = ImageOptions()  # size and channels from the files (own_size, default_channels)
# files per worker task: large enough to amortise the task, small enough to balance 2 cores
TASK_FILES = 256
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Decoded:
    """One split of a decoded source: uint8 rows (memory-mapped) with what is known about them."""

    pixels: np.ndarray  # N x C x H x W uint8
    labels: np.ndarray | None
    class_names: list[str] | None
    # where each row came from: a file path relative to the folder, or sheet.png:r3c17
    names: list[str]
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def is_image_file(path: Path) -> bool:
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def _images_under(folder: Path) -> list[Path]:
    """Image files below ``folder``, hidden files and folders left out (os.walk: no stat per
    file)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root, n)
            for n in names
            if not n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return sorted(found)


def scan_folder(folder: Path) -> tuple[list[Path], list[str | None]]:
    """Image files and their class folder names (None for loose images), in a stable order."""
    if not folder.is_dir():
        raise DataError("image folder not found", folder)
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise DataError(f"cannot list folder ({exc.strerror or exc})", folder) from None
    loose = [p for p in entries if is_image_file(p)]
    classes = {
        p.name: _images_under(p) for p in entries if p.is_dir() and not p.name.startswith(".")
    }
    classes = {name: files for name, files in classes.items() if files}
    if loose and classes:
        raise DataError(
            f"mixes loose images ({loose[0].name}, ...) with class sub-folders "
            f"({', '.join(classes)}); "
            "put every image in a class folder, or none",
            folder,
        )
    if not loose and not classes:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found", folder)
    if loose:
        return loose, [None] * len(loose)
    files = [f for name in sorted(classes) for f in classes[name]]
    names = [name for name in sorted(classes) for _ in classes[name]]
    return files, names


def seeded_split(n: int) -> tuple[list[int], list[int]]:
    """(train, test) positions: a fixed seeded 80/20 split, each in the seeded shuffled order, not
    the folder's: files come grouped by class, so "the first N" (``max_train_images``, a
    prior's codes, the hold-out's first samples) would otherwise be the first classes only."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = max(1, round(TEST_FRACTION * n))
    return order[n_test:].tolist(), order[:n_test].tolist()


def both_splits(folder: Path) -> tuple[list[Path], list[str | None], int]:
    """Every file, train files first then test files, their class names and the number of train
    files."""
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        (train, train_names), (test, test_names) = (
            scan_folder(folder / "train"),
            scan_folder(folder / "test"),
        )
        if (None in train_names) != (None in test_names):
            raise DataError("one split has loose images but the other has class folders", folder)
        return train + test, train_names + test_names, len(train)
    files, names = scan_folder(folder)
    if len(files) < 2:
        raise DataError("needs at least 2 images to hold out a test split", folder)
    train, test = seeded_split(len(files))
    order = train + test
    return [files[i] for i in order], [names[i] for i in order], len(train)


def parallel_map(fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
    """``[fn(t) for t in tasks]`` on one worker process per core when there is more than one task.

    Workers are forked: they only run Pillow and numpy, and a fork costs nothing to start where a
    fresh interpreter would import torch again (through aekit.data) for most of a second.
    """
    workers = min(len(os.sched_getaffinity(0)), len(tasks))
    if workers < 2:
        return [fn(t) for t in tasks]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(fn, tasks, chunksize=1)


def chunks(items: Sequence[T]) -> list[list[T]]:
    return [list(items[i : i + TASK_FILES]) for i in range(0, len(items), TASK_FILES)]


def _probe_task(paths: list[Path]) -> list[Probe | str]:
    found: list[Probe | str] = []
    for path in paths:
        try:
            found.append(probe(path))
        except AekitError as exc:
            found.append(str(exc))
    return found


def _decode_task(
    task: tuple[Path, tuple[int, ...], list[tuple[int, Path]], ImageOptions],
) -> list[tuple[str, tuple] | str]:
    """Decode files into their rows of the cache being built; (mode, size) or the error per file."""
    rows_path, shape, jobs, options = task
    rows = np.memmap(rows_path, np.uint8, "r+", shape=shape)
    done: list[tuple[str, tuple] | str] = []
    for row, path in jobs:
        try:
            pixels, mode, size = decode_file(path, options)
        except AekitError as exc:
            done.append(str(exc))
            continue
        rows[row] = pixels
        done.append((mode, size))
    rows.flush()
    return done


def describe_conversions(
    modes: Sequence[str], sizes: Sequence[tuple], options: ImageOptions
) -> list[str]:
    """The notes a mixed folder earns: how many images changed mode, how many changed size."""
    notes = []
    target = CANONICAL[options.channels or 3]
    converted = Counter(m for m in modes if m != target)
    if converted:
        listed = ", ".join(f"{m} {n}" for m, n in sorted(converted.items()))
        notes.append(f"converted {sum(converted.values())} images from mode {listed} to {target}")
    if options.size is not None:
        resized = sum(1 for s in sizes if tuple(s) != options.size)
        if resized:
            w, h = options.size
            notes.append(
                f"resized {resized} of {len(sizes)} images to {w}x{h} ({options.resize}, "
                f"{options.resample})"
            )
    return notes


def own_size(probes: list[Probe]) -> tuple[int, int]:
    """The files' own (W, H) when they all share one of at most MAX_OWN_SIZE a side, else 64x64."""
    sizes = {tuple(p.size) for p in probes}
    if len(sizes) == 1:
        (w, h) = sizes.pop()
        if max(w, h) <= MAX_OWN_SIZE:
            return w, h
    return DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE


def load_folder(
    folder: Path, split: str, options: ImageOptions = DEFAULTS, skip_bad: bool = False
) -> Decoded:
    """One split of an image folder, decoded (or memory-mapped from the cache) as uint8 rows."""
    folder = Path(folder).expanduser()
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r} for an image folder (train or test)", folder)
    files, class_of, n_train = both_splits(folder)
    try:
        stats = cache.fingerprint(files)
    except OSError as exc:
        raise DataError(
            f"cannot read file ({exc.strerror or exc})", exc.filename or folder
        ) from None
    slot = cache.digest(["folder", str(folder.resolve()), options.key(), skip_bad])[:24]
    key = cache.digest(stats)
    cached = cache.open_cached(slot, key) or _build(
        folder, files, class_of, n_train, options, skip_bad, slot, key
    )
    return split_of(cached, split)


def split_of(cached: cache.Cached, split: str) -> Decoded:
    """One split's rows (a slice of the map: no copy) and labels from a cache's JSON."""
    meta = cached.meta
    start, stop = meta["splits"][split]
    labels = (
        None if meta["labels"] is None else np.asarray(meta["labels"][start:stop], dtype=np.int64)
    )
    skipped = [name for where, name in meta["skipped"] if where == split]
    return Decoded(
        cached.pixels[start:stop],
        labels,
        meta["class_names"],
        meta["names"][start:stop],
        list(meta["notes"]),
        skipped,
    )


def _build(
    folder: Path,
    files: list[Path],
    class_of: list[str | None],
    n_train: int,
    options: ImageOptions,
    skip_bad: bool,
    slot: str,
    key: str,
) -> cache.Cached:
    failed: dict[int, str] = {}
    if options.channels is None or options.size is None:
        probes = [p for chunk in parallel_map(_probe_task, chunks(files)) for p in chunk]
        failed = {i: p for i, p in enumerate(probes) if isinstance(p, str)}
        if failed and not skip_bad:
            raise DataError(failed[min(failed)])
        good = [p for p in probes if not isinstance(p, str)]
        if not good:
            raise DataError(f"none of the {len(files)} images decodes", folder)
        options = replace(
            options,
            channels=options.channels or default_channels(good),
            size=options.size or own_size(good),
        )
    assert options.size is not None and options.channels is not None
    w, h = options.size
    shape = (len(files), options.channels, h, w)
    with cache.CacheWriter(slot, key, shape) as writer:
        jobs = [(i, f) for i, f in enumerate(files) if i not in failed]
        tasks = [(writer.path, shape, chunk, options) for chunk in chunks(jobs)]
        results = [r for chunk in parallel_map(_decode_task, tasks) for r in chunk]
        for (row, _), result in zip(jobs, results):
            if isinstance(result, str):
                failed[row] = result
        if failed and not skip_bad:
            raise DataError(failed[min(failed)])
        kept = [i for i in range(len(files)) if i not in failed]
        # move the good rows down over the holes (rows only ever move to lower positions)
        if failed:
            rows = writer.rows()
            for new, old in enumerate(kept):
                if new != old:
                    rows[new] = rows[old]
            rows.flush()
            del rows
        decoded = [r for r in results if not isinstance(r, str)]
        notes = describe_conversions([m for m, _ in decoded], [s for _, s in decoded], options)
        if failed:
            notes.append(f"skipped {len(failed)} files that do not decode")
        class_names = sorted({c for c in class_of if c is not None}) or None
        index = {name: i for i, name in enumerate(class_names or [])}
        n_train_kept = sum(1 for i in kept if i < n_train)
        meta = {
            "source": str(folder),
            "channels": options.channels,
            "splits": {"train": [0, n_train_kept], "test": [n_train_kept, len(kept)]},
            "labels": None if class_names is None else [index[class_of[i]] for i in kept],
            "class_names": class_names,
            "names": [str(files[i].relative_to(folder)) for i in kept],
            "notes": notes,
            "skipped": [
                ["train" if i < n_train else "test", str(files[i].relative_to(folder))]
                for i in sorted(failed)
            ],
        }
        return writer.commit(len(kept), meta)
