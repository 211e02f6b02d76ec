"""File formats of the commands' outputs and inputs: PNG files written in bulk (``ImageWriter``),
sheets, the interpolation strip and GIF, codes files (``.npy``, ``.csv``, ``.parquet``: written
and read back checked, no pickle), file names from codes made safe, the Kaggle submission CSV.

Every file goes through ``aekit.io`` (atomic writes, ``StagedFolder``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.alpha import composite
from aekit.errors import ConfigError, DataError
from aekit.images import (
    READ_EXTENSIONS,
    encode_image,
    png_bytes,
    to_channels,
    to_pil,
    to_uint8,
)
from aekit.io import StagedFolder, atomic_open, atomic_write_bytes

MAX_SHEET_PIXELS = 1 << 27


@contextlib.contextmanager
def kaggle_writer(path: str | Path | None) -> Iterator[Callable[[str, torch.Tensor], None] | None]:
    """A Kaggle submission (``id,value``) streamed to a temp file, renamed into place at the end."""
    if path is None:
        yield None
        return
    with atomic_open(path, "w") as handle:
        handle.write("id,value\n")
        yield lambda stem, page: write_kaggle_rows(handle, stem, page)


_VALUES = [f"{v / 1000:.3f}".rstrip("0").rstrip(".") if v else "0" for v in range(1001)]


def write_kaggle_rows(handle: Any, image_id: str, page: torch.Tensor) -> None:
    """Rows ``IMAGE_ROW_COL,value`` (1-based, row by row) of one page's grey values, to 1/1000."""
    grey = to_channels(page, 1)[0] if page.shape[0] != 1 else page[0]
    levels = (grey.clamp(0, 1) * 1000).round().to(torch.int64).numpy()
    values = _VALUES
    for r, row in enumerate(levels, 1):
        prefix = f"{image_id}_{r}_"
        handle.write("".join(f"{prefix}{c},{values[v]}\n" for c, v in enumerate(row.tolist(), 1)))


def write_images(images: torch.Tensor, out: Path, names: Sequence[str | Path]) -> list[Path]:
    """``N x C x H x W`` images as PNG files ``out/name`` (see :class:`ImageWriter`)."""
    with ImageWriter(out) as writer:
        writer.write(images, names)
    return [out / name for name in names]


class ImageWriter:
    """Writes images as PNG files into ``out``; the files appear together when the ``with`` block
    ends, or not at all (:class:`StagedFolder`). Images are held (as bytes) until ``chunk`` have
    come, then encoded and written on ``workers`` threads while the caller waits: decoding the
    next batch at the same time ran 3x slower, its torch calls queueing for the GIL behind the
    writers' Python code. Leaving the block writes the rest and raises the first error."""

    def __init__(self, out: Path, compress_level: int = 1, workers: int = 2, chunk: int = 20_000):
        self.folder = StagedFolder(out)
        self.compress_level, self.workers, self.chunk = compress_level, workers, chunk
        self.held: list[tuple[np.ndarray, list[str | Path]]] = []
        self.count = 0

    def write(self, images: torch.Tensor, names: Sequence[str | Path]) -> None:
        self.held.append((to_uint8(images), list(names)))
        self.count += len(names)
        if self.count >= self.chunk:
            self.flush()

    def write_bytes(self, name: str | Path, data: bytes) -> None:
        """Another file (a sheet, a GIF) published with the images."""
        self.folder.write(name, data)

    def flush(self) -> None:
        """Write every held image now, on the threads."""
        if not self.held:
            return
        array = np.concatenate([a for a, _ in self.held])
        names = [name for _, part in self.held for name in part]
        self.held, self.count = [], 0
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            parts = np.array_split(np.arange(len(names)), self.workers)
            list(
                pool.map(
                    lambda part: self._write_files(array[part], [names[k] for k in part]), parts
                )
            )

    def _write_files(self, array: np.ndarray, names: Sequence[str | Path]) -> None:
        for image, name in zip(array, names, strict=True):
            self.folder.write(name, png_bytes(image, self.compress_level))

    def __enter__(self) -> ImageWriter:
        self.folder.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> None:
        if kind is None:
            try:
                self.flush()
            except BaseException as exc:
                self.folder.__exit__(type(exc), exc, exc.__traceback__)
                raise
        self.folder.__exit__(kind, error, trace)


def sheet(images: torch.Tensor, columns: int | None = None) -> torch.Tensor:
    """``N x C x H x W`` images on one gap-free grid (a sprite sheet: cut it back with tile=WxH);
    empty cells are transparent (or black without alpha)."""
    n, c, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    check_sheet(n, h, w, columns)
    out = torch.zeros(c, rows * h, columns * w)
    for k, image in enumerate(images):
        r, col = divmod(k, columns)
        out[:, r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    return out


def check_sheet(n: int, h: int, w: int, columns: int | None = None) -> None:
    """Refuse a sheet of ``n`` images of ``w x h`` px over MAX_SHEET_PIXELS (before drawing any)."""
    columns = columns or math.ceil(math.sqrt(n))
    if math.ceil(n / columns) * h * columns * w > MAX_SHEET_PIXELS:
        raise ConfigError(
            f"a sheet of {n} images of {w}x{h} px would exceed {MAX_SHEET_PIXELS} pixels; ask "
            "for fewer"
        )


CODE_SUFFIXES = (".npy", ".csv", ".parquet")


def write_codes(
    path: str | Path, codes: torch.Tensor, names: Sequence[str], labels: Sequence[str] | None
) -> Path:
    """Codes with their image names (and class names) as ``.npy`` (a structured array: fields
    ``name``, ``label``, ``code``), ``.csv`` (``name,label,z0,z1,...``) or ``.parquet``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CODE_SUFFIXES:
        raise ConfigError(f"--out {path}: write codes to .npy, .csv or .parquet")
    z = codes.numpy().astype(np.float32)
    labels = list(labels) if labels is not None else [""] * len(names)
    if suffix == ".npy":
        table = np.zeros(
            len(names),
            dtype=[
                ("name", f"U{max(1, *map(len, names))}"),
                ("label", f"U{max(1, *map(len, labels))}"),
                ("code", np.float32, z.shape[1]),
            ],
        )
        table["name"], table["label"], table["code"] = names, labels, z
        buffer = io.BytesIO()
        np.save(buffer, table, allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
    elif suffix == ".csv":
        with atomic_open(path, "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "label", *(f"z{i}" for i in range(z.shape[1]))])
            for name, label, row in zip(names, labels, z.tolist()):
                writer.writerow([name, label, *(repr(v) for v in row)])
    else:
        pa, pq = require_pyarrow()
        columns = {"name": pa.array(list(names)), "label": pa.array(labels)}
        columns.update({f"z{i}": pa.array(z[:, i]) for i in range(z.shape[1])})
        with atomic_open(path, "wb") as handle:
            pq.write_table(pa.table(columns), handle)
    return path


def read_codes(path: str | Path) -> tuple[torch.Tensor, list[str], list[str]]:
    """``(codes N x d, names, labels)`` from a file :func:`write_codes` wrote (or the same layout).

    Checked before use, each problem one line naming the file: at least one row and one code
    column, numbers only, every value finite (a NaN or inf is refused naming its row). A .npy
    header is checked against the file's size before anything is read, and no pickle is loaded."""
    path = Path(path)
    readers = {".npy": _read_npy_codes, ".csv": _read_csv_codes, ".parquet": _read_parquet_codes}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError("codes are read from .npy, .csv or .parquet files", path)
    if path.is_dir():
        raise DataError("is a folder, not a codes file", path)
    if not path.is_file():
        raise DataError("codes file not found", path)
    try:
        # a value beyond float32 becomes inf, refused below with its row
        with np.errstate(over="ignore"):
            z, names, labels = reader(path)
    except (ValueError, KeyError, IndexError, OSError, csv.Error) as exc:
        raise DataError(f"cannot read codes ({exc.__class__.__name__}: {exc})", path) from None
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise DataError(
            f"holds no codes (a table of {' x '.join(map(str, z.shape))} numbers)", path
        )
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(
            f"row {row + 1} of {len(z)} (name {names[row][:60]!r}) holds "
            f"{z[row][~np.isfinite(z[row])][0]}; codes "
            f"are finite float32 numbers ({int(bad.sum())} row(s) are not)",
            path,
        )
    return torch.from_numpy(np.ascontiguousarray(z)), names, labels


def _read_npy_codes(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """A plain ``N x d`` array of numbers, or write_codes' structured array (name, label, code)."""
    size = path.stat().st_size
    if size == 0:
        raise DataError("empty file (no .npy header)", path)
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise DataError(
                f".npy format version {version[0]}.{version[1]} is not supported (1.0 and 2.0 are)",
                path,
            )
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(handle)
        data_start = handle.tell()
    if dtype.hasobject:
        raise DataError(
            "holds Python objects, which only a pickle could load; codes are plain numbers", path
        )
    fields = dtype.names or ()
    if fields:
        if not {"name", "label", "code"} <= set(fields):
            raise DataError(
                f"a structured codes array has the fields name, label and code, not "
                f"{', '.join(fields)}",
                path,
            )
        kinds = (dtype["name"].kind, dtype["label"].kind, dtype["code"].base.kind)
        if kinds[0] != "U" or kinds[1] != "U" or kinds[2] not in "fiu":
            raise DataError(
                "the fields name and label hold text and code holds numbers; this file holds "
                f"{dtype['name']}, {dtype['label']} and {dtype['code']}",
                path,
            )
    elif dtype.kind not in "fiu":
        raise DataError(f"holds {dtype} values; codes are numbers (float or integer)", path)
    if len(shape) == 0:
        raise DataError("holds a single value (a 0-dimensional array), not a table of codes", path)
    if len(shape) > (1 if fields else 2):
        raise DataError(f"holds an array of shape {shape}; codes are a table N x d", path)
    needed, held = math.prod(shape) * dtype.itemsize, size - data_start
    if needed > held:  # a header can claim any size: refused before anything is allocated
        raise DataError(
            f"the header promises an array of shape {shape} ({needed:,} bytes) but the file holds "
            f"{held:,} bytes after it (cut short?)",
            path,
        )
    if math.prod(shape) == 0:
        raise DataError(f"holds no codes (an array of shape {shape})", path)
    table = np.load(path, mmap_mode="r", allow_pickle=False)
    if not fields:
        z = np.array(table, dtype=np.float32).reshape(len(table), -1)
        return z, [str(k) for k in range(len(z))], [""] * len(z)
    z = np.array(table["code"], dtype=np.float32).reshape(len(table), -1)
    return z, table["name"].tolist(), table["label"].tolist()


def _read_csv_codes(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """``name,label,z0,z1,...`` with every row as long as the header (each row kept as float32:
    4 bytes a value, not a Python float's 32)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or header[:2] != ["name", "label"] or len(header) < 3:
            raise DataError(
                "a codes CSV starts with the columns name,label,z0,..."
                if header is not None
                else "empty file (a codes CSV starts with the columns name,label,z0,...)",
                path,
            )
        names, labels, rows = [], [], []
        for row in reader:
            if len(row) != len(header):
                raise DataError(
                    f"line {reader.line_num} has {len(row)} values, the header {len(header)} "
                    "columns",
                    path,
                )
            try:
                rows.append(np.array(row[2:], dtype=np.float32))
            except ValueError:
                raise DataError(
                    f"line {reader.line_num}: the codes are not all numbers", path
                ) from None
            names.append(row[0])
            labels.append(row[1])
    if not rows:
        raise DataError("has a header but no rows of codes", path)
    return np.stack(rows), names, labels


def _read_parquet_codes(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Columns ``name``, ``label``, then numeric code columns."""
    pa, pq = require_pyarrow()
    table = pq.read_table(path)
    columns = table.column_names
    if columns[:2] != ["name", "label"] or len(columns) < 3:
        raise DataError("a codes Parquet file has the columns name, label, z0, ...", path)
    kinds = [table.schema.field(k).type for k in columns[2:]]
    if not all(pa.types.is_floating(t) or pa.types.is_integer(t) for t in kinds):
        raise DataError("the code columns z0, ... must hold numbers", path)
    names = ["" if v is None else str(v) for v in table.column("name").to_pylist()]
    labels = ["" if v is None else str(v) for v in table.column("label").to_pylist()]
    z = np.stack(
        [table.column(k).to_numpy(zero_copy_only=False).astype(np.float32) for k in columns[2:]], 1
    )
    return z, names, labels


def require_pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            ".parquet needs pyarrow (pip install pyarrow); or use .npy or .csv"
        ) from None
    return pa, pq


MAX_NAME_BYTES = 200  # file systems allow 255 bytes per name


def code_names(names: Sequence[str]) -> tuple[list[str], int]:
    """A file name per code after its image (``a.jpg`` -> ``a.png``, ``t.png:r1c2`` ->
    ``t.png:r1c2.png``), made safe, and how many names changed: names come from a codes file, which
    may come from anyone. Path separators (``/``, ``\\``) and control characters (NUL included)
    become ``_``, so every file lands directly in the output folder; a name that is empty, hidden
    (``.`` or ``..`` first), too long or repeated is numbered instead (``code_0042.png``)."""
    width = len(str(max(0, len(names) - 1)))
    files, seen, changed = [], set(), 0
    for k, name in enumerate(names):
        safe = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in name)
        root, dot, extension = safe.rpartition(".")
        stem = root if dot and f".{extension.lower()}" in READ_EXTENSIONS else safe
        file = f"{stem}.png"
        if (
            not stem
            or stem.startswith(".")
            or len(file.encode("utf-8", "replace")) > MAX_NAME_BYTES
            or file in seen
        ):
            file = f"code_{k:0{width}d}.png"
        changed += safe != name or file != f"{stem}.png"
        seen.add(file)
        files.append(file)
    return files, changed


def write_interpolation(frames: torch.Tensor, out: Path, gif: bool) -> list[Path]:
    """``step_00.png`` ..., ``strip.png`` (all in one row) and optionally ``interpolation.gif``."""
    width = len(str(len(frames) - 1))
    names = [f"step_{k:0{width}d}.png" for k in range(len(frames))]
    with ImageWriter(out) as writer:
        writer.write(frames, names)
        names.append("strip.png")
        writer.write_bytes(names[-1], encode_image(sheet(frames, columns=len(frames)), "png"))
        if gif:
            names.append("interpolation.gif")
            writer.write_bytes(names[-1], gif_bytes(frames))
    return [out / name for name in names]


def gif_bytes(frames: torch.Tensor, milliseconds: int = 120) -> bytes:
    """An animated GIF, forwards then back (transparent frames shown over a checkerboard)."""
    shown = composite(frames)
    pictures = [to_pil(f) for f in shown]
    pictures += pictures[-2:0:-1]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=milliseconds,
        loop=0,
    )
    return buffer.getvalue()
