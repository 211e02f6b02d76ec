"""MNIST-style IDX files: a defensive reader, checksums, locating and downloading.

The reader checks the header against the payload before it allocates anything, so a corrupt or
hostile file costs milliseconds and gives one line naming the file. Checksums accept either the
official ``.gz`` md5 or a digest of the decompressed content, because Debian re-compresses
Fashion-MNIST (different ``.gz`` bytes, same data). A verified file is remembered in a small
stamp (path, size, mtime) in the cache so later loads skip the hashing.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import struct
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.paths import cache_dir, candidate_dirs
from aekit.errors import AekitError, DataError
from aekit.io import atomic_write_bytes, atomic_write_json, read_json

# IDX type codes -> big-endian numpy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# Deflate cannot compress better than about 1032:1, so a header promising more is a lie.
MAX_DEFLATE_RATIO = 1032
MAX_IDX_BYTES = 8 << 30
STAMP_FILE = "verified-files.json"


@dataclass(frozen=True)
class IdxSource:
    """One IDX dataset: its files per split, the digests that prove them genuine, its mirrors."""

    name: str
    description: str
    splits: dict[str, tuple[str, str]]  # split -> (images file, labels file)
    # file -> accepted "md5:<gz md5>", "raw-md5:..", "raw-sha256:.."
    digests: dict[str, frozenset[str]]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    extra_dirs: tuple[Path, ...] = ()

    @property
    def files(self) -> list[str]:
        return [f for pair in self.splits.values() for f in pair]

    def search_dirs(self) -> list[Path]:
        return candidate_dirs(self.name, list(self.extra_dirs))


_SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MNIST = IdxSource(
    name="mnist",
    description="handwritten digits 28x28, 60,000 train / 10,000 test",
    splits=_SPLITS,
    digests={
        "train-images-idx3-ubyte.gz": frozenset(
            {
                "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "raw-sha256:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            }
        ),
        "train-labels-idx1-ubyte.gz": frozenset(
            {
                "md5:d53e105ee54ea40749a09fcbcd1e9432",
                "raw-sha256:65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            }
        ),
        "t10k-images-idx3-ubyte.gz": frozenset(
            {
                "md5:9fb629c4189551a2d022fa330f9573f3",
                "raw-sha256:0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            }
        ),
        "t10k-labels-idx1-ubyte.gz": frozenset(
            {
                "md5:ec29112dd5afa0611ce80d1b7f02629c",
                "raw-sha256:ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            }
        ),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    class_names=tuple(str(d) for d in range(10)),
)

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    description="Zalando clothing 28x28, 10 classes, 60,000 train / 10,000 test",
    splits=_SPLITS,
    digests={
        "train-images-idx3-ubyte.gz": frozenset(
            {
                "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "raw-sha256:c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            }
        ),
        "train-labels-idx1-ubyte.gz": frozenset(
            {
                "md5:25c81989df183df01b3e8a0aad5dffbe",
                "raw-md5:9018921c3c673c538a1fc5bad174d6f9",
                "raw-sha256:bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            }
        ),
        "t10k-images-idx3-ubyte.gz": frozenset(
            {
                "md5:bef4ecab320f06d8554ea6380940ec79",
                "raw-sha256:5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            }
        ),
        "t10k-labels-idx1-ubyte.gz": frozenset(
            {
                "md5:bb300cfdad3c16e7a12a480ee83cd310",
                "raw-md5:15d484375f8d13e6eb1aabb0c3f46965",
                "raw-sha256:0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            }
        ),
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),  # fmt: skip
    extra_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
)

SOURCES = {s.name: s for s in (MNIST, FASHION_MNIST)}


# --- reading -----------------------------------------------------------------------------------
def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed or not)."""
    array, _, _ = _read_idx(Path(path))
    return array


def _read_idx(path: Path) -> tuple[np.ndarray, bytes, bytes]:
    """(array, the file's bytes, the decompressed content) so callers can hash without rereading."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except OSError as exc:
        raise DataError(f"cannot read file ({exc.strerror or exc})", path) from None
    compressed = raw[:2] == b"\x1f\x8b"
    stream: Any = gzip.GzipFile(fileobj=io.BytesIO(raw)) if compressed else io.BytesIO(raw)
    try:
        head = _read_exactly(stream, 4, path, "the IDX header")
        if head[0] != 0 or head[1] != 0:
            raise DataError(
                f"not an IDX file (magic number {head.hex()} should start with 0000)", path
            )
        dtype_code, ndim = head[2], head[3]
        if dtype_code not in IDX_DTYPES:
            raise DataError(
                f"unknown IDX data type code 0x{dtype_code:02x} in the magic number", path
            )
        if ndim == 0:
            raise DataError("IDX header declares 0 dimensions", path)
        dims = struct.unpack(
            f">{ndim}I", _read_exactly(stream, 4 * ndim, path, "the IDX dimensions")
        )
        dtype = np.dtype(IDX_DTYPES[dtype_code])
        expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
        limit = MAX_DEFLATE_RATIO * len(raw) + 1024 if compressed else len(raw)
        if expected > min(limit, MAX_IDX_BYTES):
            shape = " x ".join(str(d) for d in dims)
            raise DataError(
                f"header claims {shape} values ({expected:,} bytes) but the file is far smaller",
                path,
            )
        # numpy refuses it, even empty
        if int(np.prod([d for d in dims if d], dtype=object)) * dtype.itemsize > MAX_IDX_BYTES:
            raise DataError(
                f"header claims an impossible shape {' x '.join(str(d) for d in dims)}", path
            )
        payload = _read_at_most(stream, expected + 1)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"truncated or corrupt gzip data ({exc})", path) from None
    if len(payload) != expected:
        shape = " x ".join(str(d) for d in dims)
        raise DataError(
            f"header says {shape} values ({expected:,} bytes) but the file holds {len(payload):,}",
            path,
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return array, raw, head + struct.pack(f">{ndim}I", *dims) + payload


def _read_exactly(stream: Any, n: int, path: Path, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise DataError(f"file ends inside {what}", path)
    return data


def _read_at_most(stream: Any, n: int) -> bytes:
    """Read up to ``n`` bytes in chunks, so memory grows with the data, not with the header's
    claim."""
    chunks, left = [], n
    while left > 0:
        chunk = stream.read(min(left, 16 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- checksums ---------------------------------------------------------------------------------
def verify(path: Path, raw: bytes, content: bytes, accepted: frozenset[str]) -> None:
    """Raise unless the file matches one accepted digest; remember the match in the cache stamp."""
    key, (size, mtime) = _stamp_key(path)
    stamps = _read_stamps()
    remembered = stamps.get(key)
    if isinstance(remembered, list) and len(remembered) == 3 and remembered[:2] == [size, mtime]:
        if remembered[2] in accepted:
            return
    # The .gz md5 is cheap and is what the official files match; hash the content only if needed.
    gz_md5 = "md5:" + hashlib.md5(raw).hexdigest()
    matched = {gz_md5} & accepted or _content_digests(content) & accepted
    if not matched:
        raise DataError(
            f"checksum mismatch ({gz_md5}): not the official file; delete it and put the "
            "official one there",
            path,
        )
    stamps[key] = [size, mtime, min(matched)]
    try:
        atomic_write_json(cache_dir() / STAMP_FILE, stamps)
    except AekitError:
        pass  # a read-only cache only costs re-hashing next time


def _content_digests(content: bytes) -> set[str]:
    return {
        "raw-md5:" + hashlib.md5(content).hexdigest(),
        "raw-sha256:" + hashlib.sha256(content).hexdigest(),
    }


def _stamp_key(path: Path) -> tuple[str, list[int]]:
    stat = path.stat()
    return str(path.resolve()), [stat.st_size, stat.st_mtime_ns]


def _read_stamps() -> dict[str, Any]:
    path = cache_dir() / STAMP_FILE
    if not path.exists():
        return {}
    try:
        stamps = read_json(path)
    except AekitError:
        return {}
    return stamps if isinstance(stamps, dict) else {}


# --- locating and downloading ------------------------------------------------------------------
Opener = Callable[..., Any]


def locate(source: IdxSource, split: str) -> Path | None:
    """The first search folder holding both files of ``split``, or None."""
    for folder in source.search_dirs():
        if all((folder / f).is_file() for f in source.splits[split]):
            return folder
    return None


def download(
    source: IdxSource, folder: Path, opener: Opener | None = None, timeout: float = 60.0
) -> None:
    """Fetch the missing files of ``source`` into ``folder``, md5-verified and written atomically.

    ``opener`` is ``urllib.request.urlopen`` by default; tests pass a fake or use ``file://``
    mirrors. Each file tries the mirrors in order; a bad checksum counts as a failed mirror.
    """
    opener = opener or urllib.request.urlopen
    if os.environ.get("AEKIT_OFFLINE"):
        raise DataError("downloads are disabled by AEKIT_OFFLINE")
    for name in source.files:
        target = folder / name
        if target.is_file():
            continue
        failures = []
        for mirror in source.mirrors:
            url = mirror + name
            try:
                with opener(url, timeout=timeout) as response:
                    data = response.read()
            # URLError is an OSError
            except (OSError, ValueError, http.client.HTTPException) as exc:
                failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            digest = "md5:" + hashlib.md5(data).hexdigest()
            if digest not in source.digests[name]:
                failures.append(f"{url}: checksum mismatch ({digest})")
                continue
            atomic_write_bytes(target, data)
            break
        else:
            raise DataError(f"could not download {name} ({'; '.join(failures)})")


def find_or_download(source: IdxSource, split: str, opener: Opener | None = None) -> Path:
    """The folder holding ``split``'s files, downloading into the cache when they are nowhere."""
    folder = locate(source, split)
    if folder is not None:
        return folder
    target = cache_dir() / source.name
    try:
        download(source, target, opener)
    except AekitError as exc:
        searched = ", ".join(str(d) for d in source.search_dirs())
        raise DataError(
            f"{source.name} not found: put {', '.join(source.files)} in one of {searched} "
            f"(or set AEKIT_DATA to a folder with a {source.name}/ sub-folder); download "
            f"failed: {exc}"
        ) from None
    return target


def load_idx_split(
    source: IdxSource, split: str, opener: Opener | None = None
) -> tuple[np.ndarray, np.ndarray, Path]:
    """Verified ``(images N x H x W uint8, labels N int64, folder)`` of one split."""
    folder = find_or_download(source, split, opener)
    image_file, label_file = (folder / f for f in source.splits[split])
    images, raw, content = _read_idx(image_file)
    verify(image_file, raw, content, source.digests[image_file.name])
    labels, raw, content = _read_idx(label_file)
    verify(label_file, raw, content, source.digests[label_file.name])
    if images.dtype != np.uint8 or images.ndim != 3:
        found = f"{images.dtype} with {images.ndim} dimensions"
        raise DataError(f"expected uint8 images N x H x W, found {found}", image_file)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"expected uint8 labels N, found {labels.dtype} with {labels.ndim} dimensions",
            label_file,
        )
    if len(images) != len(labels):
        raise DataError(
            f"{len(labels):,} labels for {len(images):,} images in {image_file.name}", label_file
        )
    if labels.size and labels.max() >= len(source.class_names):
        raise DataError(
            f"label {labels.max()} out of range 0..{len(source.class_names) - 1}", label_file
        )
    return images, labels.astype(np.int64), folder
