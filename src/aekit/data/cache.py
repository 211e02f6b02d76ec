"""Decoded pictures kept as one uint8 file per data source, memory-mapped on every later load.

Decoding PNGs is the slow part of a folder dataset (tens of seconds for 100,000 files); reading
them back from one raw uint8 file is a memory map. A cache lives under ``cache_dir()/images`` as
``<slot>.u8`` (the rows, ``N x C x H x W`` uint8) and ``<slot>.json`` (shape, CRC-32 of the rows,
labels, names, notes). The slot is named by the source and the options, so changing the options
builds a second cache; the JSON holds a key over every file's name, size and modification time,
so touching a file rebuilds the slot in place. The rows are written to a temporary file and renamed,
then the JSON is written atomically; a cache whose size or CRC does not match its JSON is rebuilt,
never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.paths import cache_dir
from aekit.errors import DataError
from aekit.io import atomic_write_json

FORMAT = 2  # 2: folder and sheet rows in seeded shuffled order within each split
CHUNK = 4 << 20  # bytes per read when checking the CRC


@dataclass
class Cached:
    """A memory-mapped cache: ``pixels`` (copy-on-write map of the file) and its ``meta`` JSON."""

    pixels: np.ndarray
    meta: dict[str, Any]


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint(files: list[Path]) -> list[tuple[str, int, int]]:
    """Name, size and modification time of each file: what decides whether a cache is stale."""
    stats = []
    for path in files:
        st = path.stat()
        stats.append((str(path), st.st_size, st.st_mtime_ns))
    return stats


def folder() -> Path:
    path = cache_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_cached(slot: str, key: str) -> Cached | None:
    """The cache in ``slot`` if it was built from ``key`` and its rows are intact, else None."""
    meta_path, rows_path = folder() / f"{slot}.json", folder() / f"{slot}.u8"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
            return None
        shape = tuple(int(d) for d in meta["shape"])
        if (
            len(shape) != 4
            or rows_path.stat().st_size != int(np.prod(shape))
            or _crc(rows_path) != meta["crc32"]
        ):
            return None
    except (OSError, ValueError, KeyError, TypeError):  # missing, unreadable or malformed: rebuild
        return None
    if shape[0] == 0:
        return Cached(np.zeros(shape, np.uint8), meta)
    return Cached(np.memmap(rows_path, np.uint8, "c", shape=shape), meta)


def _crc(path: Path) -> int:
    """CRC-32 of a file, read through one small reused buffer (no memory held after the check)."""
    crc, buffer = 0, bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            crc = zlib.crc32(view[:n], crc)
    return crc


class CacheWriter:
    """A cache being built: a temporary rows file that workers may open and write by row.

    ``commit`` keeps the first ``n`` rows, renames the file into place and writes the JSON last;
    leaving the ``with`` block without a commit deletes the temporary file.
    """

    def __init__(self, slot: str, key: str, shape: tuple[int, int, int, int]):
        self.slot, self.key, self.shape = slot, key, tuple(int(d) for d in shape)
        self.path = folder() / f".{slot}.u8.{os.getpid()}.tmp"
        need, free = int(np.prod(self.shape)), shutil.disk_usage(folder()).free
        # a sparse file would be created anyway and fail half-way through the decode
        if need > free:
            raise DataError(
                f"the decoded images need {need / 1e9:.1f} GB in the cache but {free / 1e9:.1f} "
                "GB are free; choose a smaller image_size or another AEKIT_CACHE",
                folder(),
            )
        try:
            with open(self.path, "wb") as handle:
                handle.truncate(need)
        except OSError as exc:
            raise DataError(
                f"cannot write the decode cache ({exc.strerror or exc})", folder()
            ) from None
        self.committed = False

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self.path.unlink(missing_ok=True)

    def rows(self) -> np.ndarray:
        if self.shape[0] == 0:
            return np.zeros(self.shape, np.uint8)
        return np.memmap(self.path, np.uint8, "r+", shape=self.shape)

    def commit(self, n: int, meta: dict[str, Any]) -> Cached:
        shape = (n, *self.shape[1:])
        with open(self.path, "r+b") as handle:
            handle.truncate(int(np.prod(shape)))
            handle.flush()
            os.fsync(handle.fileno())
        meta = {
            **meta,
            "format": FORMAT,
            "key": self.key,
            "shape": list(shape),
            "crc32": _crc(self.path),
        }
        os.replace(self.path, folder() / f"{self.slot}.u8")
        atomic_write_json(folder() / f"{self.slot}.json", meta)
        self.committed = True
        rows_path = folder() / f"{self.slot}.u8"
        return Cached(
            np.memmap(rows_path, np.uint8, "c", shape=shape) if n else np.zeros(shape, np.uint8),
            meta,
        )


def store(slot: str, key: str, pixels: np.ndarray, meta: dict[str, Any]) -> Cached:
    """Write an in-memory uint8 array as the cache of ``slot``."""
    with CacheWriter(slot, key, pixels.shape) as writer:
        if len(pixels):
            rows = writer.rows()
            rows[:] = pixels
            rows.flush()
            del rows
        return writer.commit(len(pixels), meta)
