"""``aekit denoise``: a trained model on the user's files and folders, each kept as given (name,
format, mode, pages, dpi); pages at the training pages' text size; ``--text`` OCR beside, Kaggle
CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aekit.commands.inputs import collect_inputs, output_paths, prepare_out, real_path
from aekit.errors import AekitError, ConfigError, DataError
from aekit.formats import kaggle_writer
from aekit.images import (
    FORMATS,
    to_channels,
)
from aekit.inference import denoise_image
from aekit.io import atomic_write_bytes, atomic_write_text
from aekit.models.base import Autoencoder
from aekit.ocr import read_text, tesseract_missing
from aekit.progress import Progress
from aekit.run import Run
from aekit.scan_files import encode_scan, output_format, read_scan
from aekit.scans import TrainingText, describe
from aekit.tiling import OVERLAP, TILE


@dataclass
class DenoiseResult:
    written: list[Path]
    failed: list[tuple[Path, str]]


def denoise_files(
    model: Autoencoder,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    fmt: str | None = None,
    overwrite: bool = False,
    kaggle_csv: str | Path | None = None,
    progress: Progress | None = None,
    bf16: bool = False,
    text: TrainingText | None = None,
    ocr: bool = False,
    jpeg_quality: int = 95,
) -> DenoiseResult:
    """Clean every image file of ``inputs`` (files or folders) into ``out``, keeping each file's
    relative path, name, size, format (unless ``fmt``), mode, pages and dpi. A page whose text is
    outside ``text`` (the training pages' sizes) is cleaned at their size, said in one line.
    ``ocr``: each page's OCR text (tesseract) beside it as ``.txt``. A file that cannot be read is
    skipped with one line naming it and why, shown even when ``progress`` is quiet, and listed in
    ``failed``."""
    progress = progress or Progress()
    if model.conditional:
        raise ConfigError(
            f"model {model.name!r} is conditional; denoise needs an unconditional model"
        )
    if ocr and (missing := tesseract_missing()):
        raise ConfigError(missing.replace(": OCR skipped", ": --text needs it"))
    out = Path(out)
    prepare_out(out, inputs, overwrite)
    sources = collect_inputs(inputs)
    if not sources:
        raise DataError(
            f"no image files ({', '.join(sorted(FORMATS))} and other PIL formats) in "
            f"{', '.join(map(str, inputs))}"
        )
    targets = output_paths(sources, out, fmt)
    tiled = model.spatial_code
    if tiled:
        progress.message(
            f"{model.name} is fully convolutional: whole pages in {TILE} px tiles blended over "
            f"{OVERLAP} px"
        )
    else:
        h, w = model.input_shape[1:]
        progress.message(
            f"{model.name} takes {w}x{h} images: each file is resized to {w}x{h} and its result "
            "back"
        )
    written, failed = [], []
    with (
        kaggle_writer(kaggle_csv) as rows,
        progress.bar(len(sources), "denoise", unit="file") as bar,
    ):
        for source, target in zip(sources, targets):
            try:
                scan = read_scan(source.path)
                dpi = scan.dpi[0] if scan.dpi else None
                pages = [denoise_image(model, f, tiled, bf16, text, dpi) for f in scan.frames]
                for line in dict.fromkeys(filter(None, map(describe, pages))):
                    progress.message(f"{source.path}: {line}")
                fmt_out = output_format(source.path, fmt)
                atomic_write_bytes(
                    target, encode_scan(scan, [p.pixels for p in pages], fmt_out, jpeg_quality)
                )
                if ocr:
                    said = None if dpi is None else round(dpi)
                    texts = [read_text(to_channels(p.pixels, 1), said) for p in pages]
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
            raise DataError(
                f"none of the {len(sources)} file(s) could be read as an image (each named above)"
            )
    return DenoiseResult(written, failed)


def denoise(
    run_dir: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    fmt: str | None = None,
    overwrite: bool = False,
    kaggle_csv: str | Path | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    bf16: bool = False,
    ocr: bool = False,
    jpeg_quality: int = 95,
) -> DenoiseResult:
    """``aekit denoise``: see :func:`denoise_files`; a page run's pages are cleaned at its
    training pages' text size (``scans.training_text``)."""
    if kaggle_csv is not None and real_path(kaggle_csv) in {real_path(p) for p in inputs}:
        raise ConfigError(f"--kaggle-csv {kaggle_csv} is one of the inputs")
    progress = progress or Progress()
    run = Run(run_dir, device)
    text = run.training_text(progress.message) if run.model.spatial_code else None
    return denoise_files(
        run.model,
        inputs,
        out,
        fmt=fmt,
        overwrite=overwrite,
        kaggle_csv=kaggle_csv,
        progress=progress,
        bf16=bf16,
        text=text,
        ocr=ocr,
        jpeg_quality=jpeg_quality,
    )
