"""A user's scan files in and out of ``aekit denoise``, kept as the user gave them.

A JPEG comes back as a JPEG, a palette image as a palette image with its own palette, a colour page
in colour (a grey cleaner cleans the luminance and the page keeps its own chroma), a multi-page TIFF
as a multi-page TIFF, and the resolution (dpi) written in the file is written back.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence

from aekit.errors import ConfigError, DataError
from aekit.images import (
    MAX_PIXELS,
    ImageFile,
    decode_pil,
    open_image,
    output_mode,
    to_channels,
    to_pil,
)

MAX_FRAMES = 1000  # pages of one TIFF
# Output format from the input's suffix when --format is not given.
KEEP = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".gif": "gif",
}
SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif", "gif": ".gif"}
FORMATS = tuple(SUFFIX)


@dataclass
class Scan:
    """The frames of one file (premultiplied ``C x H x W`` each) and what writing it back needs."""

    path: Path
    frames: list[ImageFile]
    dpi: tuple[float, float] | None = None
    palettes: list[list[int] | None] = field(default_factory=list)  # P-mode frames: their palette
    # P-mode frames: their transparent index
    transparent: list[int | None] = field(default_factory=list)


def output_format(path: Path, requested: str | None) -> str:
    """``requested`` (--format) or the input's own format, PNG for anything else."""
    if requested is not None:
        if requested not in SUFFIX:
            raise ConfigError(f"unknown --format {requested!r}; choose one of {', '.join(SUFFIX)}")
        return requested
    return KEEP.get(path.suffix.lower(), "png")


def read_scan(path: str | Path) -> Scan:
    """Every frame of an image file (one for most, all pages of a multi-page TIFF)."""
    path = Path(path)
    with open_image(path) as img:
        width, height = img.size
        frames_count = getattr(img, "n_frames", 1)
        if frames_count > MAX_FRAMES:
            raise DataError(
                f"holds {frames_count} pages, more than aekit's limit of {MAX_FRAMES}", path
            )
        if width * height * frames_count > MAX_PIXELS:
            raise DataError(
                f"{frames_count} page(s) of {width}x{height} px exceed aekit's limit of "
                f"{MAX_PIXELS} pixels",
                path,
            )
        dpi = img.info.get("dpi")
        frames, palettes, transparent = [], [], []
        for frame in ImageSequence.Iterator(img) if img.format in ("TIFF", "MPO") else [img]:
            index = frame.info.get("transparency")
            palettes.append(frame.getpalette() if frame.mode == "P" else None)
            transparent.append(index if frame.mode == "P" and isinstance(index, int) else None)
            frames.append(ImageFile(torch.from_numpy(decode_pil(frame)), frame.mode, path))
    return Scan(path, frames, tuple(float(v) for v in dpi) if dpi else None, palettes, transparent)


def clean_in_model_channels(
    frame: ImageFile, channels: int, clean: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``clean`` (a model on ``channels``-channel pixels) applied to one frame, returned in the
    frame's own channels: a grey model on a colour page cleans its luminance, and each pixel's
    colour is scaled to the cleaned luminance (its chroma kept, white paper stays white); alpha is
    the model's own where it has one, else the frame's."""
    pixels = frame.pixels
    c = frame.channels
    colour = pixels[:3] if c >= 3 else None
    if colour is not None and channels <= 2:
        luma = to_channels(colour, 1)  # ITU-R 601 luma, as every grey conversion in aekit
        cleaned = clean(to_channels(pixels, channels))[:1]
        # Keep each pixel's chroma (colour minus its luminance) and move it to the cleaned
        # luminance.
        result = (colour - luma + cleaned).clamp(0.0, 1.0)
        return torch.cat([result, pixels[3:]]) if c == 4 else result
    y = clean(to_channels(pixels, channels))
    model_alpha = channels in (2, 4)
    alpha = pixels[-1:] if c in (2, 4) and not model_alpha else None
    return to_channels(y, c, alpha=alpha)


def encode_scan(scan: Scan, cleaned: list[torch.Tensor], fmt: str, jpeg_quality: int = 95) -> bytes:
    """File bytes of the cleaned frames in ``fmt``, each in its input mode where the format holds
    it (a palette frame quantised to its own palette), with the input's dpi."""
    if not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"--jpeg-quality must be 1..100, got {jpeg_quality}")
    if len(cleaned) > 1 and fmt != "tiff":
        raise ConfigError(
            f"{scan.path} has {len(cleaned)} pages; only --format tiff keeps them all"
        )
    images = [
        _to_pil(pixels, frame, palette, index, fmt)
        for pixels, frame, palette, index in zip(
            cleaned, scan.frames, scan.palettes, scan.transparent
        )
    ]
    options: dict[str, object] = (
        {"dpi": scan.dpi} if scan.dpi and fmt in ("png", "jpeg", "tiff") else {}
    )
    if images[0].mode == "P" and "transparency" in images[0].info:
        options["transparency"] = images[0].info["transparency"]
    buffer = io.BytesIO()
    if fmt == "jpeg":
        images[0].save(buffer, format="JPEG", quality=jpeg_quality, **options)
    elif fmt == "tiff":
        images[0].save(
            buffer,
            format="TIFF",
            save_all=True,
            append_images=images[1:],
            compression="tiff_deflate",
            **options,
        )
    elif fmt == "gif":
        images[0].save(buffer, format="GIF")
    elif fmt == "webp":
        images[0].save(buffer, format="WEBP", lossless=True)
    else:
        images[0].save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _to_pil(
    pixels: torch.Tensor,
    frame: ImageFile,
    palette: list[int] | None,
    transparent: int | None,
    fmt: str,
) -> Image.Image:
    """One cleaned frame as a PIL image in the frame's mode where ``fmt`` can hold it (a palette
    frame: the nearest colour of its own palette, and its transparent index where alpha < 1/2)."""
    image = to_pil(
        pixels, output_mode(pixels.shape[0], frame.mode, "jpeg" if fmt == "jpeg" else "png")
    )
    if palette is not None and fmt in ("png", "tiff", "gif"):
        reference = Image.new("P", (1, 1))
        reference.putpalette(palette)
        indexed = image.convert("RGB").quantize(palette=reference, dither=Image.Dither.NONE)
        if transparent is not None and image.mode in ("LA", "RGBA"):
            hidden = np.asarray(image.getchannel("A")) < 128
            array = np.asarray(indexed).copy()
            array[hidden] = transparent
            indexed = Image.fromarray(array, "P")
            indexed.putpalette(palette)
            indexed.info["transparency"] = transparent
        return indexed
    if fmt == "gif":
        return image.convert("RGB").quantize(256, dither=Image.Dither.NONE)
    return image
