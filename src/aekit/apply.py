"""A trained model on the user's own files: denoise pages, sample, encode, decode, interpolate.

Every function here is what one ``aekit`` command runs; the CLI only parses arguments.
Outputs never overwrite inputs and never appear half-written (``aekit.io``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import typing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aekit.alpha import composite, has_alpha
from aekit.data.documents import natural_key
from aekit.device import native_bf16
from aekit.errors import AekitError, ConfigError, DataError
from aekit.gameart import Finish, learn_palette, read_palette, texturepacker_atlas
from aekit.images import (
    FORMATS,
    READ_EXTENSIONS,
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
from aekit.io import StagedFolder, atomic_open, atomic_write_bytes, atomic_write_text
from aekit.models.base import Autoencoder
from aekit.models.vae import GaussianVAE
from aekit.ocr import read_text, tesseract_missing
from aekit.progress import Progress
from aekit.runs import run_data_options
from aekit.scan_files import SUFFIX as SCAN_SUFFIX
from aekit.scan_files import clean_in_model_channels, encode_scan, output_format, read_scan
from aekit.scans import CleanedPage, TrainingText, clean_page, describe, training_text
from aekit.tiling import OVERLAP, TILE

if TYPE_CHECKING:
    from aekit.plan_sampling import PlanFiles
    from aekit.priors import Prior  # a learned prior over codes: replaces N(0, I) when sampling

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
            found = [p for p in given.rglob("*") if (p.is_file() or _dead_link(p)) and is_image_path(p)
                     and not any(part.startswith(".") for part in p.relative_to(given).parts)]
            found.sort(key=lambda p: natural_key(str(p.relative_to(given))))
            sources.extend(Source(p, p.relative_to(given)) for p in found)
        else:
            sources.append(Source(given, Path(given.name)))
    return sources


def real_path(path: str | Path) -> Path:
    """The path with links followed as far as they go: ``Path.resolve`` raises on a link loop, an
    input like any other, which reading then reports."""
    return Path(os.path.realpath(path))


def _dead_link(path: Path) -> bool:
    """A link that reaches no file (broken, or a loop): listed, so reading it reports it."""
    return path.is_symlink() and not path.exists()


def prepare_out(out: Path, inputs: Sequence[str | Path], overwrite: bool) -> None:
    """Refuse an ``out`` that is, or is inside, an input folder, and one that already holds files
    (unless ``overwrite``): a command never writes over its own inputs or a previous result."""
    target = real_path(out)
    for given in map(Path, inputs):
        if given.is_dir():
            folder = real_path(given)
            if target == folder or folder in target.parents:
                raise ConfigError(f"--out {out} is inside the input folder {given}; choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"--out {out} already holds files; choose an empty folder or pass --overwrite")


def output_paths(sources: Sequence[Source], out: Path, fmt: str | None) -> list[Path]:
    """``out/relative`` with the format's suffix (``fmt`` None: each input's own format, see
    ``scan_files.output_format``); an output equal to an input, or two inputs mapping to one
    output (``a.png`` and ``a.tif`` with ``--format png``), is refused before anything is written."""
    paths = [out / s.relative.with_suffix(SCAN_SUFFIX[output_format(s.path, fmt)]) for s in sources]
    inputs = {real_path(s.path): s.path for s in sources}
    seen: dict[Path, Path] = {}
    for source, path in zip(sources, paths):
        resolved = real_path(path)
        if resolved in inputs:
            raise ConfigError(f"the output {path} would overwrite the input {inputs[resolved]}; choose another --out")
        if resolved in seen:
            raise ConfigError(f"{seen[resolved]} and {source.path} would both be written to {path}; "
                              "give them separately or rename one")
        seen[resolved] = source.path
    return paths


# --- denoising ------------------------------------------------------------------------
def resized_reconstruct(model: Autoencoder, image: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """A fixed-size model's output on any ``C x H x W`` image: resized to its input and back."""
    h, w = image.shape[-2:]
    device = next(model.parameters()).device
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        y = model.reconstruct(resize(image, tuple(model.input_shape[1:]))[None].to(device)).float().cpu()[0]
    return resize(y, (h, w))


def denoise_image(model: Autoencoder, image: ImageFile, tiled: bool, bf16: bool = False,
                  text: TrainingText | None = None) -> CleanedPage:
    """The model's output for one image, in the image's own channels (see
    ``scan_files.clean_in_model_channels``); a fully convolutional model cleans the page at the
    training pages' text size (``scans.clean_page`` with ``text``), any other model at its input
    size; ``bf16``: under bfloat16 autocast."""
    cleaned: list[CleanedPage] = []

    def clean(x: torch.Tensor) -> torch.Tensor:
        if tiled:
            cleaned.append(clean_page(model, x, text, bf16=bf16))
            return cleaned[-1].pixels
        return resized_reconstruct(model, x, bf16=bf16)

    pixels = clean_in_model_channels(image, model.input_shape[0], clean)
    return CleanedPage(pixels, *(cleaned[0].factor, cleaned[0].size) if cleaned else (1.0, None))


@dataclass
class DenoiseResult:
    written: list[Path]
    failed: list[tuple[Path, str]]


def denoise_files(model: Autoencoder, inputs: Sequence[str | Path], out: str | Path, *, fmt: str | None = None,
                  overwrite: bool = False, kaggle_csv: str | Path | None = None, progress: Progress | None = None,
                  bf16: bool = False, text: TrainingText | None = None, ocr: bool = False,
                  jpeg_quality: int = 95) -> DenoiseResult:
    """Clean every image file of ``inputs`` (files or folders) into ``out``, keeping each file's
    relative path, name, size, format (unless ``fmt``), mode, pages and dpi. A page whose text is
    outside ``text`` (the training pages' sizes) is cleaned at their size, said in one line.
    ``ocr``: each page's OCR text (tesseract) beside it as ``.txt``. A file that cannot be read is
    skipped with one line naming it and why, shown even when ``progress`` is quiet, and listed in
    ``failed``."""
    progress = progress or Progress()
    if model.conditional:
        raise ConfigError(f"model {model.name!r} is conditional; denoise needs an unconditional model")
    if ocr and (missing := tesseract_missing()):
        raise ConfigError(missing.replace(": OCR skipped", ": --text needs it"))
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
                scan = read_scan(source.path)
                pages = [denoise_image(model, frame, tiled, bf16, text) for frame in scan.frames]
                for page in {p.factor for p in pages} - {1.0}:
                    progress.message(f"{source.path}: {describe(page)}")
                fmt_out = output_format(source.path, fmt)
                atomic_write_bytes(target, encode_scan(scan, [p.pixels for p in pages], fmt_out, jpeg_quality))
                if ocr:
                    dpi = round(scan.dpi[0]) if scan.dpi else None
                    texts = [read_text(to_channels(p.pixels, 1), dpi) for p in pages]
                    atomic_write_text(target.with_suffix(".txt"), "\f".join(texts))
            except AekitError as exc:
                failed.append((source.path, str(exc)))
                progress.warn(f"skipped {exc}")
            else:
                written.append(target)
                if rows is not None:
                    rows(source.path.stem, pages[0].pixels)
            bar.update(1)
        if not written:  # nothing worked: refused input (exit 2), and no submission of no pages
            raise DataError(f"none of the {len(sources)} file(s) could be read as an image (each named above)")
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
    check_sample_options(n, temperature, seed)
    if prior is None and not model.generative:
        raise ConfigError(f"model {model.name!r} is not generative: fit a prior to its codes (aekit fit-prior RUN "
                          "--prior gmm), then sample with --prior gmm")
    gaussian = isinstance(model, GaussianVAE)
    if temperature != 1.0 and (prior is not None or not gaussian):
        raise ConfigError("--temperature scales the N(0, I) codes of a VAE; it does not apply here")
    conditions = _sample_conditions(model, labels, condition_image)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    model_rng = torch.Generator().manual_seed(seed)  # the global RNG's state inside the model, between batches
    batches = math.ceil(n / batch_size)  # of equal sizes (+-1): oneDNN makes its kernels for few shapes
    for k in range(batches):
        start = k * n // batches
        m = (k + 1) * n // batches - start
        cond = conditions(start, m)
        cond = None if cond is None else cond.to(device)
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


MAX_SEED = 2**63  # seeds are 0 <= seed < 2**63, as in training (torch's generators take 64 bits)


def check_seed(seed: int) -> None:
    if not 0 <= seed < MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and 2**63-1, got {seed}")


def check_sample_options(n: int, temperature: float, seed: int) -> None:
    """``aekit sample``'s numbers: checked before the run is loaded (and by :func:`sample_batches`)."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    if not 0 < temperature < math.inf:  # NaN fails both comparisons
        raise ConfigError(f"--temperature must be a positive finite number, got {temperature}")
    check_seed(seed)


def _sample_conditions(model: Autoencoder, labels: torch.Tensor | None,
                       condition_image: torch.Tensor | None) -> Callable[[int, int], torch.Tensor | None]:
    """The condition of draws ``start .. start + m`` (made per batch: memory does not grow with n)."""
    if not model.conditional:
        if condition_image is not None:
            raise ConfigError(f"model {model.name!r} is not conditional: --condition-image does not apply")
        return lambda start, m: None
    if model.condition_kind == "label":
        if labels is None:  # every class in turn
            return lambda start, m: torch.arange(start, start + m) % int(model.num_classes)
        return lambda start, m: labels[start : start + m]
    if condition_image is None:
        raise ConfigError(f"model {model.name!r} draws to a {model.condition_kind}: give --condition-image FILE")
    from aekit.data.conditions import make_condition

    x = resize(to_channels(condition_image, model.input_shape[0]), tuple(model.input_shape[1:]))
    condition = make_condition(model.condition_kind, x[None], None)
    return lambda start, m: condition.expand(m, -1, -1, -1)


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
        raise ConfigError(f"a sheet of {n} images of {w}x{h} px would exceed {MAX_SHEET_PIXELS} pixels; ask for fewer")


class SampleFiles(Sequence[Path]):
    """The paths ``out/sample_0000.png`` ... (+ ``out/sheet.png``, ``out/sheet.json``), each made
    when asked for: a billion samples never hold a billion names."""

    def __init__(self, out: Path, n: int, with_sheet: bool):
        self.out, self.n, self.with_sheet = out, n, with_sheet
        self.width = len(str(n - 1))

    def names(self, start: int, stop: int) -> list[str]:
        return [f"sample_{k:0{self.width}d}.png" for k in range(start, stop)]

    def __len__(self) -> int:
        return self.n + 2 * self.with_sheet

    def describe(self) -> str:
        """What ``aekit sample`` says it wrote."""
        return f"wrote {self.n} samples to {self.out}" + (f" and the sheet {self[-2]} with its atlas {self[-1]}"
                                                           if self.with_sheet else "")

    @typing.overload
    def __getitem__(self, index: int) -> Path: ...

    @typing.overload
    def __getitem__(self, index: slice) -> list[Path]: ...

    def __getitem__(self, index: int | slice) -> Path | list[Path]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        k = index + len(self) if index < 0 else index
        if not 0 <= k < len(self):
            raise IndexError(index)
        return self.out / (self.names(k, k + 1)[0] if k < self.n else ("sheet.png", "sheet.json")[k - self.n])


def sample_command(model: Autoencoder, out: str | Path, n: int, *, seed: int = 0, labels: torch.Tensor | None = None,
                   condition_image: torch.Tensor | None = None, temperature: float = 1.0, prior: Prior | None = None,
                   write_sheet: bool = False, overwrite: bool = False, bf16: bool = False,
                   finish: Finish | None = None) -> SampleFiles:
    """Write ``n`` samples as ``sample_00000.png`` ... (and ``sheet.png`` with its TexturePacker atlas
    ``sheet.json``) into ``out``, batch by batch: the names of each batch are made with it, so memory
    does not grow with ``n``; ``finish`` makes each batch game-ready first (``aekit.gameart``)."""
    out = Path(out)
    if write_sheet:
        check_sheet(n, *model.input_shape[1:])
    prepare_out(out, [], overwrite)
    files = SampleFiles(out, n, write_sheet)
    kept = []
    with ImageWriter(out) as writer:
        done = 0
        for images in sample_batches(model, n, seed=seed, labels=labels, condition_image=condition_image,
                                     temperature=temperature, prior=prior, bf16=bf16):
            if finish is not None:
                images = finish(images)
            writer.write(images, files.names(done, done + len(images)))
            done += len(images)
            if write_sheet:
                kept.append(images)
        if write_sheet:
            columns = math.ceil(math.sqrt(n))
            atlas = texturepacker_atlas(files.names(0, n), model.input_shape[2], model.input_shape[1], columns, "sheet.png")
            writer.write_bytes("sheet.png", encode_image(sheet(torch.cat(kept), columns), "png"))
            writer.write_bytes("sheet.json", json.dumps(atlas, indent=1).encode())
    return files


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
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused below with its row
            z, names, labels = reader(path)
    except (ValueError, KeyError, IndexError, OSError, csv.Error) as exc:
        raise DataError(f"cannot read codes ({exc.__class__.__name__}: {exc})", path) from None
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise DataError(f"holds no codes (a table of {' x '.join(map(str, z.shape))} numbers)", path)
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"row {row + 1} of {len(z)} (name {names[row][:60]!r}) holds {z[row][~np.isfinite(z[row])][0]}; codes "
                        f"are finite float32 numbers ({int(bad.sum())} row(s) are not)", path)
    return torch.from_numpy(np.ascontiguousarray(z)), names, labels


def _read_npy_codes(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """A plain ``N x d`` array of numbers, or write_codes' structured array (name, label, code)."""
    size = path.stat().st_size
    if size == 0:
        raise DataError("empty file (no .npy header)", path)
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise DataError(f".npy format version {version[0]}.{version[1]} is not supported (1.0 and 2.0 are)", path)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(handle)
        data_start = handle.tell()
    if dtype.hasobject:
        raise DataError("holds Python objects, which only a pickle could load; codes are plain numbers", path)
    fields = dtype.names or ()
    if fields:
        if not {"name", "label", "code"} <= set(fields):
            raise DataError(f"a structured codes array has the fields name, label and code, not {', '.join(fields)}", path)
        kinds = (dtype["name"].kind, dtype["label"].kind, dtype["code"].base.kind)
        if kinds[0] != "U" or kinds[1] != "U" or kinds[2] not in "fiu":
            raise DataError("the fields name and label hold text and code holds numbers; this file holds "
                            f"{dtype['name']}, {dtype['label']} and {dtype['code']}", path)
    elif dtype.kind not in "fiu":
        raise DataError(f"holds {dtype} values; codes are numbers (float or integer)", path)
    if len(shape) == 0:
        raise DataError("holds a single value (a 0-dimensional array), not a table of codes", path)
    if len(shape) > (1 if fields else 2):
        raise DataError(f"holds an array of shape {shape}; codes are a table N x d", path)
    needed, held = math.prod(shape) * dtype.itemsize, size - data_start
    if needed > held:  # a header can claim any size: refused before anything is allocated
        raise DataError(f"the header promises an array of shape {shape} ({needed:,} bytes) but the file holds "
                        f"{held:,} bytes after it (cut short?)", path)
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
            raise DataError("a codes CSV starts with the columns name,label,z0,..." if header is not None else
                            "empty file (a codes CSV starts with the columns name,label,z0,...)", path)
        names, labels, rows = [], [], []
        for row in reader:
            if len(row) != len(header):
                raise DataError(f"line {reader.line_num} has {len(row)} values, the header {len(header)} columns", path)
            try:
                rows.append(np.array(row[2:], dtype=np.float32))
            except ValueError:
                raise DataError(f"line {reader.line_num}: the codes are not all numbers", path) from None
            names.append(row[0])
            labels.append(row[1])
    if not rows:
        raise DataError("has a header but no rows of codes", path)
    return np.stack(rows), names, labels


def _read_parquet_codes(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Columns ``name``, ``label``, then numeric code columns."""
    pa, pq = _pyarrow()
    table = pq.read_table(path)
    columns = table.column_names
    if columns[:2] != ["name", "label"] or len(columns) < 3:
        raise DataError("a codes Parquet file has the columns name, label, z0, ...", path)
    kinds = [table.schema.field(k).type for k in columns[2:]]
    if not all(pa.types.is_floating(t) or pa.types.is_integer(t) for t in kinds):
        raise DataError("the code columns z0, ... must hold numbers", path)
    names = ["" if v is None else str(v) for v in table.column("name").to_pylist()]
    labels = ["" if v is None else str(v) for v in table.column("label").to_pylist()]
    z = np.stack([table.column(k).to_numpy(zero_copy_only=False).astype(np.float32) for k in columns[2:]], 1)
    return z, names, labels


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(".parquet needs pyarrow (pip install pyarrow); or use .npy or .csv") from None
    return pa, pq


def decode_codes(model: Autoencoder, codes: torch.Tensor, labels: torch.Tensor | None = None,
                 batch_size: int = 256, source: str | Path | None = None) -> torch.Tensor:
    """Images from codes (a label-conditional model needs one label per code); ``source`` is the
    codes file that errors name."""
    _check_vector_code(model)
    if codes.shape[1] != model.latent_dim:
        raise DataError(f"codes have {codes.shape[1]} numbers each, the model's latent has {model.latent_dim} "
                        f"(codes of another model?)", source)
    if model.conditional and (model.condition_kind != "label" or labels is None):
        raise ConfigError(f"model {model.name!r} needs a class label per code to decode (the label column)")
    device = next(model.parameters()).device
    with torch.inference_mode():
        return torch.cat([
            model.decode(codes[i : i + batch_size].to(device),
                         None if labels is None else labels[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(codes), batch_size)
        ])


MAX_NAME_BYTES = 200  # file systems allow 255 bytes per name


def code_names(names: Sequence[str]) -> tuple[list[str], int]:
    """A file name per code after its image (``a.jpg`` -> ``a.png``, ``t.png:r1c2`` -> ``t.png:r1c2.png``),
    made safe, and how many names
    changed: names come from a codes file, which may come from anyone. Path separators (``/``,
    ``\\``) and control characters (NUL included) become ``_``, so every file lands directly in the
    output folder; a name that is empty, hidden (``.`` or ``..`` first), too long or repeated is
    numbered instead (``code_0042.png``)."""
    width = len(str(max(0, len(names) - 1)))
    files, seen, changed = [], set(), 0
    for k, name in enumerate(names):
        safe = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in name)
        root, dot, extension = safe.rpartition(".")
        stem = root if dot and f".{extension.lower()}" in READ_EXTENSIONS else safe
        file = f"{stem}.png"
        if not stem or stem.startswith(".") or len(file.encode("utf-8", "replace")) > MAX_NAME_BYTES or file in seen:
            file = f"code_{k:0{width}d}.png"
        changed += safe != name or file != f"{stem}.png"
        seen.add(file)
        files.append(file)
    return files, changed


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


MAX_STEPS = 1000  # frames held and laid in one strip (and a GIF): 1,000 of 64x64 RGB take 50 MB


def check_steps(steps: int) -> None:
    if not 2 <= steps <= MAX_STEPS:
        raise ConfigError(f"--steps must be between 2 and {MAX_STEPS:,}, got {steps:,}")


def interpolate_codes(model: Autoencoder, a: torch.Tensor, b: torch.Tensor, steps: int) -> tuple[torch.Tensor, str]:
    """``steps`` codes from ``a`` to ``b`` and how: spherical for Gaussian latents, else linear."""
    check_steps(steps)
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


def load_run(run_dir: str | Path, device: str = "auto") -> LoadedRun:
    """The run's model (eval mode, on ``device``, with the trainer's CPU speed settings: conv
    weights channels-last, freed memory kept for the next batch, which halved the time of
    decoding 10,000 samples) and its validated config.json."""
    from aekit.device import prepare_model, resolve_device
    from aekit.runs import load_model, read_run_config

    where = resolve_device(device)
    model = prepare_model(load_model(run_dir).to(where).eval(), where)
    return LoadedRun(model, read_run_config(run_dir))


def denoise(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path, *, fmt: str | None = None,
            overwrite: bool = False, kaggle_csv: str | Path | None = None, device: str = "auto",
            progress: Progress | None = None, bf16: bool = False, ocr: bool = False,
            jpeg_quality: int = 95) -> DenoiseResult:
    """``aekit denoise``: see :func:`denoise_files`; a page run's pages are cleaned at its
    training pages' text size (``scans.training_text``)."""
    if kaggle_csv is not None and real_path(kaggle_csv) in {real_path(p) for p in inputs}:
        raise ConfigError(f"--kaggle-csv {kaggle_csv} is one of the inputs")
    progress = progress or Progress()
    run = load_run(run_dir, device)
    text = training_text(Path(run_dir), run.meta, progress.message) if run.model.spatial_code else None
    return denoise_files(run.model, inputs, out, fmt=fmt, overwrite=overwrite, kaggle_csv=kaggle_csv, progress=progress,
                         bf16=bf16, text=text, ocr=ocr, jpeg_quality=jpeg_quality)


def sample(run_dir: str | Path, out: str | Path, n: int, *, seed: int = 0, class_name: str | None = None,
           condition_image: str | Path | None = None, temperature: float = 1.0, prior: Prior | str | None = None,
           write_sheet: bool = False, overwrite: bool = False, device: str = "auto", precision: str = "auto",
           seamless: bool = False, palette: str | None = None, alpha_threshold: float | None = None,
           vector: bool = False, scale: float | None = None) -> SampleFiles | PlanFiles:
    """``aekit sample``: ``n`` PNG files (+ ``sheet.png`` and ``sheet.json``); ``prior`` (one, or the
    name of one fitted in the run) replaces N(0, I); ``precision`` ``auto`` decodes in bfloat16 where
    the device computes it natively (``device.native_bf16``); ``seamless``, ``palette`` (see
    :func:`sample_palette`) and ``alpha_threshold``: ``gameart.Finish``. A floor-plan model draws plans
    for the footprint ``condition_image`` (``vector``, ``scale``: ``plan_sampling.sample_plans``)."""
    from aekit.data.datasets import holds_pages

    check_sample_options(n, temperature, seed)
    if alpha_threshold is not None and not 0 < alpha_threshold < 1:
        raise ConfigError(f"--alpha-threshold must be between 0 and 1, got {alpha_threshold}")
    run = load_run(run_dir, device)
    model = run.model
    if model.condition_kind == "footprint":  # floor plans for a drawn footprint
        from aekit.plan_sampling import sample_plans

        if class_name is not None or prior is not None or seamless or palette is not None or alpha_threshold is not None:
            raise ConfigError("--class, --prior, --seamless, --palette and --alpha-threshold do not apply to floor plans")

        return sample_plans(model, condition_image, out, n, seed=seed, temperature=temperature, sheet=write_sheet,
                            overwrite=overwrite, vector=vector, scale=scale)
    if vector or scale is not None:
        raise ConfigError(f"--vector and --scale write floor plans; model {model.name!r} does not draw them")
    if holds_pages(run.meta["dataset"]) and not model.generative:
        raise ConfigError(f"model {model.name!r} was trained to clean document pages ({run.meta['dataset']}); document "
                          f"cleaners do not generate images, and no prior fits them: clean pages with `aekit denoise "
                          f"{run_dir} PAGES --out DIR`")
    if isinstance(prior, str):
        from aekit.priors import load_prior

        prior = load_prior(run_dir, prior)
    if alpha_threshold is not None and not has_alpha(model.input_shape[0]):
        raise ConfigError(f"--alpha-threshold: this run's images have {model.input_shape[0]} channel(s), no alpha")
    finish = Finish(seamless, None if palette is None else sample_palette(run, palette), alpha_threshold)
    where = next(model.parameters()).device
    labels = None
    if class_name is not None:
        index = class_index(class_name, run.class_names, model.num_classes)
        if not (model.conditional and model.condition_kind == "label") and prior is None:
            raise ConfigError(f"model {model.name!r} does not draw by class; --class needs a label-conditional model "
                              "or a per-class prior")
        labels = torch.tensor([index]).expand(n)  # one label for every draw, without n copies
    image = None if condition_image is None else read_image_file(condition_image).pixels
    return sample_command(model, out, n, seed=seed, labels=labels, condition_image=image, temperature=temperature,
                          prior=prior, write_sheet=write_sheet, overwrite=overwrite,
                          bf16=precision == "bf16" or (precision == "auto" and native_bf16(where)), finish=finish)


PALETTE_IMAGES = 2000  # training images --palette K learns from (a seeded draw): enough for a few dozen colours


def sample_palette(run: LoadedRun, spec: str) -> torch.Tensor:
    """``--palette``: an integer K learns K colours from (up to ``PALETTE_IMAGES`` of) the run's
    training images, read as training read them; anything else is a palette file (``gameart.read_palette``)."""
    if not spec.strip().isdigit():
        return read_palette(spec)
    from aekit.data import ImageSet, load, val_indices

    config = run.meta["train"]
    data = load(config.dataset, "train", **run_data_options(run.meta))
    if not isinstance(data, ImageSet):
        raise ConfigError(f"--palette {spec}: {config.dataset} holds whole pages; give a palette file instead")
    rows = val_indices(data, config.val_fraction, config.seed)[0].numpy()
    if len(rows) > PALETTE_IMAGES:
        rows = np.sort(np.random.default_rng(0).choice(rows, PALETTE_IMAGES, replace=False))
    return learn_palette(data.batch(rows), int(spec))


@dataclass
class EncodeResult:
    path: Path
    count: int
    failed: list[tuple[Path, str]]


def encode(run_dir: str | Path, out: str | Path, *, inputs: Sequence[str | Path] = (), dataset: str | None = None,
           split: str = "test", sample_posterior: bool = False, seed: int = 0, device: str = "auto",
           progress: Progress | None = None) -> EncodeResult:
    """``aekit encode``: codes of a dataset split (``all``: every split, train first) or of image
    files, with names (the dataset's file or tile names where it has them, else ``SPLIT_ROW``) and
    labels. A file that cannot be read is skipped with one line (even when quiet) and listed."""
    progress = progress or Progress()
    check_seed(seed)
    if (dataset is None) == (not inputs):
        raise ConfigError("give either --dataset SPEC or image files/folders to encode")
    if Path(out).suffix.lower() not in CODE_SUFFIXES:
        raise ConfigError(f"--out {out}: write codes to .npy, .csv or .parquet")
    if Path(out).suffix.lower() == ".parquet":
        _pyarrow()
    run = load_run(run_dir, device)
    model = run.model
    _check_vector_code(model)
    labels, failed = None, []
    if dataset is not None:
        images, names, labels, label_names = _dataset_for_encoding(model, run.meta, dataset, split)
    else:
        sources = collect_inputs(inputs)
        files, names = [], []
        for source in sources:
            try:
                files.append(read_image_file(source.path))
            except AekitError as exc:
                failed.append((source.path, str(exc)))
                progress.warn(f"skipped {exc}")
            else:
                names.append(str(source.relative))
        if not files:
            raise DataError(f"no image files in {', '.join(map(str, inputs))}" if not sources else
                            f"none of the {len(sources)} file(s) could be read as an image (each named above)")
        images, label_names = images_for_model(model, files), None
    condition = encoding_condition(model, images, labels)
    progress.message(f"encoding {len(images)} images with {model.name}"
                     + (" (one draw from q(z|x) each)" if sample_posterior else " (posterior means)"
                        if isinstance(model, GaussianVAE) else ""))
    codes = encode_images(model, images, condition=condition, sample=sample_posterior, seed=seed)
    return EncodeResult(write_codes(out, codes, names, label_names), len(codes), failed)


def _dataset_for_encoding(model: Autoencoder, meta: dict[str, Any], dataset: str, split: str
                          ) -> tuple[torch.Tensor, list[str], torch.Tensor | None, list[str] | None]:
    """``(images at the model's input, names, labels, label names)`` of one split, or of ``all``."""
    from aekit.data import ImageSet, load

    parts = []
    for part in ("train", "test") if split == "all" else (split,):
        data = load(dataset, part, **run_data_options(meta))
        if not isinstance(data, ImageSet):
            raise ConfigError(f"{dataset} holds whole pages; encode needs an image dataset")
        width = len(str(len(data) - 1))
        parts.append((data, data.names or [f"{part}_{k:0{width}d}" for k in range(len(data))]))  # else row k of the split
    images = torch.cat([to_channels(data.images, model.input_shape[0]) for data, _ in parts])
    if tuple(images.shape[1:]) != tuple(model.input_shape):
        images = resize(images, tuple(model.input_shape[1:]))
    names = [name for _, part_names in parts for name in part_names]
    if parts[0][0].labels is None:
        return images, names, None, None
    labels = torch.cat([data.labels for data, _ in parts])
    class_names = parts[0][0].class_names
    return images, names, labels, [class_names[int(y)] if class_names else str(int(y)) for y in labels]


def decode(run_dir: str | Path, codes_file: str | Path, out: str | Path, *, overwrite: bool = False,
           device: str = "auto", progress: Progress | None = None) -> list[Path]:
    """``aekit decode``: one PNG per code, named after the image it came from (made safe: see
    :func:`code_names`, and the changes are said)."""
    progress = progress or Progress()
    out = Path(out)
    prepare_out(out, [], overwrite)
    codes, names, label_names = read_codes(codes_file)
    files, changed = code_names(names)
    run = load_run(run_dir, device)
    labels = None
    if run.model.conditional and run.model.condition_kind == "label":
        labels = torch.tensor([class_index(name, run.class_names, run.model.num_classes) for name in label_names])
    images = decode_codes(run.model, codes, labels, source=codes_file)
    if changed:
        progress.message(f"{changed} code name(s) changed into safe file names: path separators and control "
                         "characters became '_'; empty, hidden, over-long or repeated names were numbered (code_N.png)")
    return write_images(images, out, files)


def interpolate(run_dir: str | Path, out: str | Path, *, a: str | Path | None = None, b: str | Path | None = None,
                from_class: str | None = None, to_class: str | None = None, steps: int = 10, gif: bool = False,
                overwrite: bool = False, device: str = "auto") -> tuple[list[Path], str]:
    """``aekit interpolate``: decoded codes between two image files or two class centroids (mean
    codes over the run's test split); returns the files and which interpolation was used."""
    check_steps(steps)
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
    with torch.inference_mode():  # in batches: up to MAX_STEPS frames
        frames = torch.cat([
            model.decode(codes[i : i + SAMPLE_BATCH].to(device_),
                         None if frame_condition is None else frame_condition[i : i + SAMPLE_BATCH].to(device_)).float().cpu()
            for i in range(0, steps, SAMPLE_BATCH)
        ])
    return write_interpolation(frames, out, gif), how
