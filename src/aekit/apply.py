"""A trained model on the user's own files: denoise pages, sample, encode, decode, interpolate.

Every function here is what one ``aekit`` command runs; the CLI only parses arguments.
Outputs never overwrite inputs and never appear half-written (``aekit.io``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aekit.alpha import composite
from aekit.data.documents import natural_key
from aekit.device import native_bf16
from aekit.errors import AekitError, ConfigError, DataError
from aekit.images import (
    FORMATS,
    ImageFile,
    encode_image,
    is_image_path,
    png_bytes,
    read_image_file,
    resize,
    to_channels,
    to_pil,
    to_uint8,
)
from aekit.io import StagedFolder, atomic_open, atomic_write_bytes
from aekit.models.base import Autoencoder
from aekit.models.vae import GaussianVAE
from aekit.progress import Progress
from aekit.runs import run_data_options

if TYPE_CHECKING:
    from aekit.priors import Prior  # a learned prior over codes: replaces N(0, I) when sampling

# Whole pages run in fixed tiles (bounded memory whatever the page size). Neighbouring tiles overlap
# by OVERLAP px; in each overlap the first MARGIN px next to a tile's inner edge (where its
# convolutions saw zero padding instead of the page) get weight 0, the rest a raised-cosine ramp
# whose two halves sum to 1, so tiles blend without seams. Tile starts are multiples of ALIGN so
# pooling grids line up with the whole page's (up to 5 halvings).
TILE, OVERLAP, MARGIN, ALIGN, TILE_BATCH = 512, 64, 16, 32, 2
SAMPLE_BATCH = 256  # decode batch: 10,000 conv-vae samples in 0.6 s fp32 (1.06 s with 1,000: maps then run from DRAM)
MAX_SHEET_PIXELS = 1 << 27


# --- inputs and outputs ---------------------------------------------------------------
@dataclass
class Source:
    """An input file and where its result goes, relative to ``--out``."""

    path: Path
    relative: Path


def collect_inputs(inputs: Sequence[str | Path]) -> list[Source]:
    """Files as given; folders recursively (hidden files and folders skipped), each file keeping its
    path relative to its folder. A path that does not exist is kept: reading it fails in its turn."""
    sources = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = [p for p in given.rglob("*") if p.is_file() and is_image_path(p)
                     and not any(part.startswith(".") for part in p.relative_to(given).parts)]
            found.sort(key=lambda p: natural_key(str(p.relative_to(given))))
            sources.extend(Source(p, p.relative_to(given)) for p in found)
        else:
            sources.append(Source(given, Path(given.name)))
    return sources


def prepare_out(out: Path, inputs: Sequence[str | Path], overwrite: bool) -> None:
    """Refuse an ``out`` that is, or is inside, an input folder, and one that already holds files
    (unless ``overwrite``): a command never writes over its own inputs or a previous result."""
    target = out.resolve()
    for given in map(Path, inputs):
        if given.is_dir():
            folder = given.resolve()
            if target == folder or folder in target.parents:
                raise ConfigError(f"--out {out} is inside the input folder {given}; choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"--out {out} already holds files; choose an empty folder or pass --overwrite")


def output_paths(sources: Sequence[Source], out: Path, fmt: str) -> list[Path]:
    """``out/relative`` with the format's suffix; an output equal to an input, or two inputs
    mapping to one output (``a.png`` and ``a.jpg``), is refused before anything is written."""
    suffix = FORMATS[fmt]
    paths = [out / s.relative.with_suffix(suffix) for s in sources]
    inputs = {s.path.resolve(): s.path for s in sources}
    seen: dict[Path, Path] = {}
    for source, path in zip(sources, paths):
        resolved = path.resolve()
        if resolved in inputs:
            raise ConfigError(f"the output {path} would overwrite the input {inputs[resolved]}; choose another --out")
        if resolved in seen:
            raise ConfigError(f"{seen[resolved]} and {source.path} would both be written to {path}; "
                              "give them separately or rename one")
        seen[resolved] = source.path
    return paths


# --- denoising ------------------------------------------------------------------------
def tile_spans(length: int, tile: int = TILE, overlap: int = OVERLAP, align: int = ALIGN) -> list[tuple[int, int]]:
    """[start, end) of the tiles along one side: starts are multiples of ``align``, neighbours
    overlap by at least ``overlap``, tiles are ``tile`` long except the last, which ends the side."""
    step = (tile - overlap) // align * align
    if step < 1:
        raise ConfigError(f"tile {tile} leaves no step after an overlap of {overlap} aligned to {align}")
    starts = [0]
    while starts[-1] + tile < length:
        starts.append(starts[-1] + step)
    return [(s, min(s + tile, length)) for s in starts]


def _ramp(n: int, margin: int) -> torch.Tensor:
    """Weights over an overlap of ``n`` px, rising away from a tile's inner edge: 0 for ``margin`` px,
    then sin^2 up to 1 at ``margin`` px before the far side (mirrored, the neighbour's is cos^2)."""
    d = torch.arange(n, dtype=torch.float32)
    width = max(1, n - 2 * margin)
    return torch.sin(0.5 * math.pi * ((d - margin + 0.5) / width).clamp(0, 1)) ** 2


def _axis_window(spans: list[tuple[int, int]], k: int, margin: int) -> torch.Tensor:
    start, end = spans[k]
    w = torch.ones(end - start)
    if k > 0:
        n = spans[k - 1][1] - start
        w[:n] = _ramp(n, margin)
    if k + 1 < len(spans):
        n = end - spans[k + 1][0]
        w[end - start - n :] = _ramp(n, margin).flip(0)
    return w


def tiled_reconstruct(model: Autoencoder, page: torch.Tensor, tile: int | None = None, overlap: int | None = None,
                      margin: int | None = None, batch: int | None = None, bf16: bool = False) -> torch.Tensor:
    """A fully convolutional model's output on a whole ``C x H x W`` page, in overlapping tiles
    blended with :func:`_ramp` windows; memory is bounded by ``batch`` tiles whatever the page.
    Unset sizes are the module's TILE, OVERLAP, MARGIN and TILE_BATCH."""
    tile, overlap = tile or TILE, overlap or OVERLAP
    margin, batch = MARGIN if margin is None else margin, batch or TILE_BATCH
    h, w = page.shape[-2:]
    device = next(model.parameters()).device
    rows, cols = tile_spans(h, tile, overlap), tile_spans(w, tile, overlap)
    out = torch.zeros(model.input_shape[0], h, w)
    weight = torch.zeros(1, h, w)
    pending: dict[tuple[int, int], list[tuple[int, int]]] = {}  # tiles waiting for a batch, by shape

    def run(shape: tuple[int, int]) -> None:
        tiles = pending.pop(shape)
        x = torch.stack([page[:, rows[i][0] : rows[i][1], cols[j][0] : cols[j][1]] for i, j in tiles]).to(device)
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            y = model.reconstruct(x).float().cpu()
        for (i, j), result in zip(tiles, y):
            window = _axis_window(rows, i, margin)[:, None] * _axis_window(cols, j, margin)[None, :]
            (y0, y1), (x0, x1) = rows[i], cols[j]
            out[:, y0:y1, x0:x1] += result * window
            weight[:, y0:y1, x0:x1] += window

    for i, (y0, y1) in enumerate(rows):
        for j, (x0, x1) in enumerate(cols):
            shape = (y1 - y0, x1 - x0)
            pending.setdefault(shape, []).append((i, j))
            if len(pending[shape]) == batch:
                run(shape)
    for shape in list(pending):
        run(shape)
    return out.div_(weight)


def resized_reconstruct(model: Autoencoder, image: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """A fixed-size model's output on any ``C x H x W`` image: resized to its input and back."""
    h, w = image.shape[-2:]
    device = next(model.parameters()).device
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        y = model.reconstruct(resize(image, tuple(model.input_shape[1:]))[None].to(device)).float().cpu()[0]
    return resize(y, (h, w))


def denoise_image(model: Autoencoder, image: ImageFile, tiled: bool, bf16: bool = False) -> torch.Tensor:
    """The model's output for one file, in the file's own channels (alpha kept: the model's own
    where it has one, else the input's); ``bf16``: under bfloat16 autocast."""
    x = to_channels(image.pixels, model.input_shape[0])
    y = tiled_reconstruct(model, x, bf16=bf16) if tiled else resized_reconstruct(model, x, bf16=bf16)
    c = image.channels
    model_alpha = model.input_shape[0] in (2, 4)
    alpha = image.pixels[-1:] if c in (2, 4) and not model_alpha else None
    return to_channels(y, c, alpha=alpha)


@dataclass
class DenoiseResult:
    written: list[Path]
    failed: list[tuple[Path, str]]


def denoise_files(model: Autoencoder, inputs: Sequence[str | Path], out: str | Path, *, fmt: str = "png",
                  overwrite: bool = False, kaggle_csv: str | Path | None = None,
                  progress: Progress | None = None, bf16: bool = False) -> DenoiseResult:
    """Clean every image file of ``inputs`` (files or folders) into ``out``, keeping each file's
    relative path, name, size and mode. Unreadable files are reported and skipped."""
    progress = progress or Progress()
    if model.conditional:
        raise ConfigError(f"model {model.name!r} is conditional; denoise needs an unconditional model")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    prepare_out(out, inputs, overwrite)
    sources = collect_inputs(inputs)
    if not sources:
        raise DataError(f"no image files ({', '.join(sorted(FORMATS))} and other PIL formats) in {', '.join(map(str, inputs))}")
    targets = output_paths(sources, out, fmt)
    tiled = model.spatial_code
    if tiled:
        progress.message(f"{model.name} is fully convolutional: whole pages in {TILE} px tiles blended over {OVERLAP} px")
    else:
        h, w = model.input_shape[1:]
        progress.message(f"{model.name} takes {w}x{h} images: each file is resized to {w}x{h} and its result back")
    written, failed = [], []
    with _kaggle_writer(kaggle_csv) as rows, progress.bar(len(sources), "denoise", unit="file") as bar:
        for source, target in zip(sources, targets):
            try:
                image = read_image_file(source.path)
                result = denoise_image(model, image, tiled, bf16)
                atomic_write_bytes(target, encode_image(result, fmt, like=image.mode))
            except AekitError as exc:
                failed.append((source.path, str(exc)))
                progress.message(f"failed: {exc}")
            else:
                written.append(target)
                if rows is not None:
                    rows(source.path.stem, result)
            bar.update(1)
    return DenoiseResult(written, failed)


@contextlib.contextmanager
def _kaggle_writer(path: str | Path | None) -> Iterator[Callable[[str, torch.Tensor], None] | None]:
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


# --- sampling -------------------------------------------------------------------------
def class_index(name: str, class_names: Sequence[str] | None, num_classes: int | None) -> int:
    """The index of a class given by name (or number); an unknown one lists the classes."""
    names = list(class_names) if class_names else [str(i) for i in range(num_classes or 0)]
    if not names:
        raise ConfigError(f"--class {name!r}: this run has no classes")
    if name in names:
        return names.index(name)
    raise ConfigError(f"unknown class {name!r}; the classes are: {', '.join(names)}")


def sample_images(model: Autoencoder, n: int, *, seed: int = 0, labels: torch.Tensor | None = None,
                  condition_image: torch.Tensor | None = None, temperature: float = 1.0, prior: Prior | None = None,
                  bf16: bool = False, batch_size: int = SAMPLE_BATCH) -> torch.Tensor:
    """``n`` images from the model, ``N x C x H x W``: see :func:`sample_batches`."""
    return torch.cat(list(sample_batches(model, n, seed=seed, labels=labels, condition_image=condition_image,
                                         temperature=temperature, prior=prior, bf16=bf16, batch_size=batch_size)))


def sample_batches(model: Autoencoder, n: int, *, seed: int = 0, labels: torch.Tensor | None = None,
                   condition_image: torch.Tensor | None = None, temperature: float = 1.0, prior: Prior | None = None,
                   bf16: bool = False, batch_size: int = SAMPLE_BATCH) -> Iterator[torch.Tensor]:
    """``n`` images from the model in batches: codes from N(0, T^2 I) (or ``prior``), decoded
    (``bf16``: under bfloat16 autocast, ~2x faster on CPUs with AVX-512 BF16). The same seed gives
    the same images (global RNG draws inside a model are seeded too, and restored after each batch,
    so a caller's work between batches neither sees nor changes them)."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if not temperature > 0:
        raise ConfigError(f"--temperature must be positive, got {temperature}")
    if prior is None and not model.generative:
        raise ConfigError(f"model {model.name!r} is not generative: fit a prior to its codes first (aekit fit-prior)")
    gaussian = isinstance(model, GaussianVAE)
    if temperature != 1.0 and (prior is not None or not gaussian):
        raise ConfigError("--temperature scales the N(0, I) codes of a VAE; it does not apply here")
    conditions = _sample_conditions(model, n, labels, condition_image)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    model_rng = torch.Generator().manual_seed(seed)  # the global RNG's state inside the model, between batches
    batches = math.ceil(n / batch_size)  # of equal sizes (+-1): oneDNN makes its kernels for few shapes
    for k in range(batches):
        start = k * n // batches
        m = (k + 1) * n // batches - start
        cond = None if conditions is None else conditions[start : start + m].to(device)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
        with torch.random.fork_rng(devices=[]), torch.inference_mode(), autocast:
            torch.set_rng_state(model_rng.get_state())
            if prior is not None:
                z = prior.sample(m, generator=generator, labels=None if labels is None else labels[start : start + m])
                images = model.decode(z.to(device), cond)
            elif temperature != 1.0:
                z = torch.randn(m, model.latent_dim, generator=generator) * temperature
                images = model.decode(z.to(device), cond)
            else:
                images = model.sample(m, cond, generator=generator)
            model_rng.set_state(torch.get_rng_state())
        yield images.float().cpu()


def _sample_conditions(model: Autoencoder, n: int, labels: torch.Tensor | None,
                       condition_image: torch.Tensor | None) -> torch.Tensor | None:
    if not model.conditional:
        if condition_image is not None:
            raise ConfigError(f"model {model.name!r} is not conditional: --condition-image does not apply")
        return None
    if model.condition_kind == "label":
        if labels is None:  # every class in turn
            return torch.arange(n) % int(model.num_classes)
        return labels
    if condition_image is None:
        raise ConfigError(f"model {model.name!r} draws to a {model.condition_kind}: give --condition-image FILE")
    from aekit.data.conditions import make_condition

    x = resize(to_channels(condition_image, model.input_shape[0]), tuple(model.input_shape[1:]))
    return make_condition(model.condition_kind, x[None], None).expand(n, -1, -1, -1)


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
            list(pool.map(lambda part: self._write_files(array[part], [names[k] for k in part]), parts))

    def _write_files(self, array: np.ndarray, names: Sequence[str | Path]) -> None:
        for image, name in zip(array, names, strict=True):
            self.folder.write(name, png_bytes(image, self.compress_level))

    def __enter__(self) -> ImageWriter:
        self.folder.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
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
    if rows * h * columns * w > MAX_SHEET_PIXELS:
        raise ConfigError(f"a sheet of {n} images of {w}x{h} px would exceed {MAX_SHEET_PIXELS} pixels; ask for fewer")
    out = torch.zeros(c, rows * h, columns * w)
    for k, image in enumerate(images):
        r, col = divmod(k, columns)
        out[:, r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    return out


def sample_command(model: Autoencoder, out: str | Path, n: int, *, seed: int = 0, labels: torch.Tensor | None = None,
                   condition_image: torch.Tensor | None = None, temperature: float = 1.0, prior: Prior | None = None,
                   write_sheet: bool = False, overwrite: bool = False, bf16: bool = False) -> list[Path]:
    """Write ``n`` samples as ``sample_00000.png`` ... (and ``sheet.png``) into ``out``."""
    out = Path(out)
    prepare_out(out, [], overwrite)
    width = len(str(n - 1))
    names = [f"sample_{k:0{width}d}.png" for k in range(n)]
    kept = []
    with ImageWriter(out) as writer:
        done = 0
        for images in sample_batches(model, n, seed=seed, labels=labels, condition_image=condition_image,
                                     temperature=temperature, prior=prior, bf16=bf16):
            writer.write(images, names[done : done + len(images)])
            done += len(images)
            if write_sheet:
                kept.append(images)
        if write_sheet:
            names.append("sheet.png")
            writer.write_bytes(names[-1], encode_image(sheet(torch.cat(kept)), "png"))
    return [out / name for name in names]


# --- codes ----------------------------------------------------------------------------
def _check_vector_code(model: Autoencoder) -> None:
    if model.spatial_code:
        raise ConfigError(f"model {model.name!r} codes images as feature maps, not vectors; encode/decode need a latent vector")


def encode_images(model: Autoencoder, images: torch.Tensor, *, condition: torch.Tensor | None = None,
                  sample: bool = False, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """Codes ``N x d`` of images at the model's input size: posterior means, or with ``sample`` one
    draw from q(z|x) per image (VAEs)."""
    _check_vector_code(model)
    if sample and not isinstance(model, GaussianVAE):
        raise ConfigError(f"model {model.name!r} has no posterior q(z|x) to --sample from")
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    codes = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            cond = None if condition is None else condition[start : start + batch_size].to(device)
            if sample:
                mu, logvar = model.posterior(x, cond)
                eps = torch.randn(mu.shape, generator=generator).to(device)
                codes.append((mu + eps * (0.5 * logvar).exp()).float().cpu())
            else:
                codes.append(model.encode(x, cond).float().flatten(1).cpu())
    return torch.cat(codes)


def images_for_model(model: Autoencoder, files: Sequence[ImageFile]) -> torch.Tensor:
    """Files converted to the model's channels and resized to its input size, as one batch."""
    c, h, w = model.input_shape
    return torch.stack([resize(to_channels(f.pixels, c), (h, w)) for f in files])


def encoding_condition(model: Autoencoder, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    if not model.conditional:
        return None
    if model.condition_kind == "label" and labels is None:
        raise ConfigError(f"model {model.name!r} is label-conditional: encode a labelled --dataset")
    from aekit.data.conditions import make_condition

    return make_condition(model.condition_kind, images, labels)


CODE_SUFFIXES = (".npy", ".csv", ".parquet")


def write_codes(path: str | Path, codes: torch.Tensor, names: Sequence[str], labels: Sequence[str] | None) -> Path:
    """Codes with their image names (and class names) as ``.npy`` (a structured array: fields
    ``name``, ``label``, ``code``), ``.csv`` (``name,label,z0,z1,...``) or ``.parquet``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CODE_SUFFIXES:
        raise ConfigError(f"--out {path}: write codes to .npy, .csv or .parquet")
    z = codes.numpy().astype(np.float32)
    labels = list(labels) if labels is not None else [""] * len(names)
    if suffix == ".npy":
        table = np.zeros(len(names), dtype=[("name", f"U{max(1, *map(len, names))}"),
                                            ("label", f"U{max(1, *map(len, labels))}"), ("code", np.float32, z.shape[1])])
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
        pa, pq = _pyarrow()
        columns = {"name": pa.array(list(names)), "label": pa.array(labels)}
        columns.update({f"z{i}": pa.array(z[:, i]) for i in range(z.shape[1])})
        with atomic_open(path, "wb") as handle:
            pq.write_table(pa.table(columns), handle)
    return path


def read_codes(path: str | Path) -> tuple[torch.Tensor, list[str], list[str]]:
    """``(codes N x d, names, labels)`` from a file :func:`write_codes` wrote (or the same layout)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError("codes file not found", path)
    try:
        if suffix == ".npy":
            table = np.load(path, allow_pickle=False)
            if table.dtype.names is None:  # a plain N x d array of codes
                z = np.asarray(table, dtype=np.float32).reshape(len(table), -1)
                names, labels = [f"{k}" for k in range(len(z))], [""] * len(z)
            else:
                z, names, labels = table["code"].astype(np.float32), table["name"].tolist(), table["label"].tolist()
        elif suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
            header, body = rows[0], rows[1:]
            if header[:2] != ["name", "label"]:
                raise DataError("a codes CSV starts with the columns name,label,z0,...", path)
            names, labels = [r[0] for r in body], [r[1] for r in body]
            z = np.array([[float(v) for v in r[2:]] for r in body], dtype=np.float32)
        elif suffix == ".parquet":
            _, pq = _pyarrow()
            table = pq.read_table(path).to_pydict()
            names, labels = list(table.pop("name")), list(table.pop("label"))
            z = np.stack([np.asarray(table[k], dtype=np.float32) for k in table], 1)
        else:
            raise DataError("codes are read from .npy, .csv or .parquet files", path)
    except (ValueError, KeyError, IndexError, OSError) as exc:
        raise DataError(f"cannot read codes ({exc.__class__.__name__}: {exc})", path) from None
    return torch.from_numpy(np.ascontiguousarray(z)).reshape(len(names), -1), names, labels


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("writing .parquet needs pyarrow (pip install pyarrow); or use .npy or .csv") from None
    return pa, pq


def decode_codes(model: Autoencoder, codes: torch.Tensor, labels: torch.Tensor | None = None,
                 batch_size: int = 256) -> torch.Tensor:
    """Images from codes (a label-conditional model needs one label per code)."""
    _check_vector_code(model)
    if codes.shape[1] != model.latent_dim:
        raise DataError(f"codes have {codes.shape[1]} dimensions, the model's latent has {model.latent_dim}")
    if model.conditional and (model.condition_kind != "label" or labels is None):
        raise ConfigError(f"model {model.name!r} needs a class label per code to decode (the label column)")
    device = next(model.parameters()).device
    with torch.inference_mode():
        return torch.cat([
            model.decode(codes[i : i + batch_size].to(device),
                         None if labels is None else labels[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(codes), batch_size)
        ])


def code_names(names: Sequence[str]) -> list[Path]:
    """A file name per code after its image (``a/b.jpg`` -> ``a/b.png``), by index where a name
    is empty, absolute, climbs out of the output folder, is hidden or repeats."""
    width = len(str(max(0, len(names) - 1)))
    relatives, seen = [], set()
    for k, name in enumerate(names):
        relative = Path(name).with_suffix(".png") if name else None
        if relative is None or relative.is_absolute() or ".." in relative.parts or relative in seen \
                or any(part.startswith(".") for part in relative.parts):
            relative = Path(f"code_{k:0{width}d}.png")
        seen.add(relative)
        relatives.append(relative)
    return relatives


# --- interpolation --------------------------------------------------------------------
def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of vectors ``a`` -> ``b`` at fractions ``t`` (K) -> ``K x d``: under a
    Gaussian prior the straight line's middle has an untypically small norm; the arc keeps it."""
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1, 1))
    if theta.abs() < 1e-4 or torch.pi - theta < 1e-4:  # parallel or opposite: no unique arc
        return lerp(a, b, t)
    t = t.view(-1, 1)
    return (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / torch.sin(theta)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t.view(-1, 1)
    return (1 - t) * a + t * b


def interpolate_codes(model: Autoencoder, a: torch.Tensor, b: torch.Tensor, steps: int) -> tuple[torch.Tensor, str]:
    """``steps`` codes from ``a`` to ``b`` and how: spherical for Gaussian latents, else linear."""
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {steps}")
    t = torch.linspace(0, 1, steps)
    if isinstance(model, GaussianVAE):
        return slerp(a, b, t), "spherical interpolation (the latent is Gaussian)"
    return lerp(a, b, t), "linear interpolation"


def class_centroids(model: Autoencoder, images: torch.Tensor, labels: torch.Tensor,
                    condition: torch.Tensor | None = None) -> torch.Tensor:
    """Mean code of each class ``num_classes x d``."""
    codes = encode_images(model, images, condition=condition)
    k = int(labels.max()) + 1
    sums = torch.zeros(k, codes.shape[1]).index_add_(0, labels, codes)
    counts = torch.bincount(labels, minlength=k).clamp_min(1).unsqueeze(1)
    return sums / counts


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
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=milliseconds, loop=0)
    return buffer.getvalue()



# --- the commands, from a run folder --------------------------------------------------
@dataclass
class LoadedRun:
    model: Autoencoder
    meta: dict[str, Any]

    @property
    def class_names(self) -> list[str] | None:
        return self.meta.get("class_names")


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """The run's model (eval mode, on ``device``, with the trainer's CPU speed settings: conv
    weights channels-last, freed memory kept for the next batch, which halved the time of
    decoding 10,000 samples) and its validated config.json."""
    from aekit.device import prepare_model, resolve_device
    from aekit.runs import load_model, read_run_config

    where = resolve_device(device)
    model = prepare_model(load_model(run_dir).to(where).eval(), where)
    return LoadedRun(model, read_run_config(run_dir))


def denoise(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path, *, fmt: str = "png",
            overwrite: bool = False, kaggle_csv: str | Path | None = None, device: str = "cpu",
            progress: Progress | None = None, bf16: bool = False) -> DenoiseResult:
    """``aekit denoise``: see :func:`denoise_files`."""
    if kaggle_csv is not None and Path(kaggle_csv).resolve() in {Path(p).resolve() for p in inputs}:
        raise ConfigError(f"--kaggle-csv {kaggle_csv} is one of the inputs")
    run = load_run(run_dir, device)
    return denoise_files(run.model, inputs, out, fmt=fmt, overwrite=overwrite, kaggle_csv=kaggle_csv, progress=progress,
                         bf16=bf16)


def sample(run_dir: str | Path, out: str | Path, n: int, *, seed: int = 0, class_name: str | None = None,
           condition_image: str | Path | None = None, temperature: float = 1.0, prior: Prior | None = None,
           write_sheet: bool = False, overwrite: bool = False, device: str = "cpu", precision: str = "auto") -> list[Path]:
    """``aekit sample``: ``n`` PNG files (+ ``sheet.png``); ``prior`` replaces N(0, I); ``precision``
    ``auto`` decodes in bfloat16 where the device computes it natively (``device.native_bf16``)."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    run = load_run(run_dir, device)
    model = run.model
    where = next(model.parameters()).device
    labels = None
    if class_name is not None:
        index = class_index(class_name, run.class_names, model.num_classes)
        if not (model.conditional and model.condition_kind == "label") and prior is None:
            raise ConfigError(f"model {model.name!r} does not draw by class; --class needs a label-conditional model "
                              "or a per-class prior")
        labels = torch.full((n,), index, dtype=torch.int64)
    image = None if condition_image is None else read_image_file(condition_image).pixels
    return sample_command(model, out, n, seed=seed, labels=labels, condition_image=image, temperature=temperature,
                          prior=prior, write_sheet=write_sheet, overwrite=overwrite,
                          bf16=precision == "bf16" or (precision == "auto" and native_bf16(where)))


def encode(run_dir: str | Path, out: str | Path, *, inputs: Sequence[str | Path] = (), dataset: str | None = None,
           split: str = "test", sample_posterior: bool = False, seed: int = 0, device: str = "cpu",
           progress: Progress | None = None) -> Path:
    """``aekit encode``: codes of a dataset split or of image files, with names and labels."""
    progress = progress or Progress()
    if (dataset is None) == (not inputs):
        raise ConfigError("give either --dataset SPEC or image files/folders to encode")
    if Path(out).suffix.lower() not in CODE_SUFFIXES:
        raise ConfigError(f"--out {out}: write codes to .npy, .csv or .parquet")
    if Path(out).suffix.lower() == ".parquet":
        _pyarrow()
    run = load_run(run_dir, device)
    model = run.model
    _check_vector_code(model)
    labels = None
    if dataset is not None:
        from aekit.data import ImageSet, load

        data = load(dataset, split, **run_data_options(run.meta))
        if not isinstance(data, ImageSet):
            raise ConfigError(f"{dataset} holds whole pages; encode needs an image dataset")
        images = to_channels(data.images, model.input_shape[0])
        if tuple(images.shape[1:]) != tuple(model.input_shape):
            images = resize(images, tuple(model.input_shape[1:]))
        width = len(str(len(images) - 1))
        names = [f"{split}_{k:0{width}d}" for k in range(len(images))]  # row k of the split
        labels = data.labels
        label_names = None if labels is None else [
            data.class_names[int(y)] if data.class_names else str(int(y)) for y in labels]
    else:
        files = []
        sources = collect_inputs(inputs)
        for source in sources:
            files.append(read_image_file(source.path))
        if not files:
            raise DataError(f"no image files in {', '.join(map(str, inputs))}")
        images, names, label_names = images_for_model(model, files), [str(s.relative) for s in sources], None
    condition = encoding_condition(model, images, labels)
    progress.message(f"encoding {len(images)} images with {model.name}"
                     + (" (one draw from q(z|x) each)" if sample_posterior else " (posterior means)"
                        if isinstance(model, GaussianVAE) else ""))
    codes = encode_images(model, images, condition=condition, sample=sample_posterior, seed=seed)
    return write_codes(out, codes, names, label_names)


def decode(run_dir: str | Path, codes_file: str | Path, out: str | Path, *, overwrite: bool = False,
           device: str = "cpu") -> list[Path]:
    """``aekit decode``: one PNG per code, named after the image it came from."""
    out = Path(out)
    prepare_out(out, [], overwrite)
    run = load_run(run_dir, device)
    codes, names, label_names = read_codes(codes_file)
    labels = None
    if run.model.conditional and run.model.condition_kind == "label":
        labels = torch.tensor([class_index(name, run.class_names, run.model.num_classes) for name in label_names])
    images = decode_codes(run.model, codes, labels)
    return write_images(images, out, code_names(names))


def interpolate(run_dir: str | Path, out: str | Path, *, a: str | Path | None = None, b: str | Path | None = None,
                from_class: str | None = None, to_class: str | None = None, steps: int = 10, gif: bool = False,
                overwrite: bool = False, device: str = "cpu") -> tuple[list[Path], str]:
    """``aekit interpolate``: decoded codes between two image files or two class centroids (mean
    codes over the run's test split); returns the files and which interpolation was used."""
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {steps}")
    by_class = from_class is not None or to_class is not None
    if by_class == (a is not None or b is not None) or (by_class and None in (from_class, to_class)) \
            or (not by_class and None in (a, b)):
        raise ConfigError("give two image files A B, or --from-class and --to-class")
    out = Path(out)
    prepare_out(out, [], overwrite)
    run = load_run(run_dir, device)
    model = run.model
    _check_vector_code(model)
    if by_class:
        from aekit.data import ImageSet, load

        if model.conditional and model.condition_kind != "label":
            raise ConfigError(f"model {model.name!r} draws to a {model.condition_kind}: interpolate between two image files")
        ends = [class_index(name, run.class_names, model.num_classes) for name in (from_class, to_class)]
        data = load(run.meta["dataset"], "test", **run_data_options(run.meta))
        if not isinstance(data, ImageSet) or data.labels is None:
            raise ConfigError(f"{run.meta['dataset']} has no classes to interpolate between")
        images = to_channels(data.images, model.input_shape[0])
        centroids = class_centroids(model, images, data.labels, encoding_condition(model, images, data.labels))
        za, zb = centroids[ends[0]], centroids[ends[1]]
        condition = torch.tensor(ends) if model.conditional else None
    else:
        pair = images_for_model(model, [read_image_file(a), read_image_file(b)])
        if model.conditional and model.condition_kind == "label":
            raise ConfigError(f"model {model.name!r} is label-conditional: interpolate with --from-class/--to-class")
        condition = encoding_condition(model, pair, None)
        za, zb = encode_images(model, pair, condition=condition)
    codes, how = interpolate_codes(model, za, zb, steps)
    if condition is None:
        frame_condition = None
    elif condition.dtype == torch.int64:  # a class label switches half-way
        frame_condition = torch.where(torch.arange(steps) < (steps + 1) // 2, condition[0], condition[1])
    else:  # a condition image fades from one to the other
        t = torch.linspace(0, 1, steps).view(-1, 1, 1, 1)
        frame_condition = (1 - t) * condition[0] + t * condition[1]
    device_ = next(model.parameters()).device
    with torch.inference_mode():
        frames = model.decode(codes.to(device_), None if frame_condition is None else frame_condition.to(device_)).float().cpu()
    return write_interpolation(frames, out, gif), how
