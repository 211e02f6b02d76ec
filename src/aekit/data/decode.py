"""Turning one picture into ``C x H x W`` uint8 pixels: channels, transparency, size.

Transparency is kept as a last alpha channel with the colour PREMULTIPLIED by it: a fully
transparent pixel is 0 in every channel, so the model never spends capacity on colours nobody
sees, and resizing premultiplied values cannot bleed the hidden colour of transparent pixels into
the edges of visible ones. When 1 or 3 channels are asked of a transparent picture, it is laid on
white. Pictures with more than 8 bits per channel are reduced to 8 (the cache stores uint8).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from aekit.errors import ConfigError, DataError
from aekit.image_options import PAD_COLOURS, RESAMPLERS, RESIZE_MODES, parse_size
from aekit.images import HIGH_DEPTH_MODES, has_alpha, is_grey, open_image, unit_values

# a dataset's file named like an image
UNREADABLE = "cannot read image (no image format recognised in its bytes)"


@dataclass(frozen=True)
class ImageOptions:
    """How every picture of a set is brought to one shape."""

    size: tuple[int, int] | None = None  # (W, H); None: keep the source's own size
    channels: int | None = None  # 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; None: decided from the files
    # stretch | crop (fill, cut the overflow) | pad (fit, keep the aspect ratio)
    resize: str = "stretch"
    resample: str = "bilinear"  # nearest keeps pixel art exact
    # colour of the bars that `pad` adds (transparent becomes white without alpha)
    pad: str = "transparent"

    def __post_init__(self) -> None:
        if self.channels not in (None, 1, 2, 3, 4):
            raise ConfigError(f"channels must be 1, 2, 3 or 4, got {self.channels!r}")
        for name, value, allowed in (
            ("resize", self.resize, RESIZE_MODES),
            ("resample", self.resample, RESAMPLERS),
            ("pad", self.pad, PAD_COLOURS),
        ):
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    def key(self) -> dict:
        return {
            "size": self.size,
            "channels": self.channels,
            "resize": self.resize,
            "resample": self.resample,
            "pad": self.pad,
        }


@dataclass(frozen=True)
class Probe:
    """What a file's header says, without decoding its pixels."""

    mode: str
    size: tuple[int, int]
    gray: bool
    alpha: bool


def probe(path: Path) -> Probe:
    with open_image(path, UNREADABLE) as img:
        return Probe(img.mode, img.size, is_grey(img), has_alpha(img))


def default_channels(probes: list[Probe]) -> int:
    """1 when every picture is gray, else 3; plus an alpha channel when any picture has one."""
    colour = 1 if all(p.gray for p in probes) else 3
    return colour + 1 if any(p.alpha for p in probes) else colour


def read_image(path: Path, channels: int, size: int | tuple[int, int] | None) -> np.ndarray:
    """One picture as float32 ``channels x H x W`` in [0, 1], stretched (bilinear) to ``size`` (w,
    h) if given."""
    options = ImageOptions(parse_size(size), channels)
    return decode_file(path, options)[0].astype(np.float32) / 255.0


def decode_file(path: Path, options: ImageOptions) -> tuple[np.ndarray, str, tuple[int, int]]:
    """``(uint8 C x H x W, source mode, source size)``; ``options.channels`` must be set."""
    with open_image(path, UNREADABLE) as img:
        mode, size = img.mode, img.size
        try:
            if options.size is not None:
                # JPEG: decode at reduced scale
                img.draft("L" if options.channels in (1, 2) else "RGB", options.size)
            pixels = decode(img, options)
        except DataError:
            raise
        except Exception as exc:  # truncated or malformed data surfaces only while decoding
            raise DataError(
                f"cannot decode image ({exc.__class__.__name__}: {exc})", path
            ) from None
    return pixels, mode, size


def decode(img: Image.Image, options: ImageOptions) -> np.ndarray:
    """A PIL picture -> uint8 ``C x H x W`` premultiplied, fitted to ``options``."""
    channels = options.channels
    assert channels is not None, "decide the channels before decoding"
    alpha = has_alpha(img)
    img = _eight_bit(img)
    if alpha and img.mode not in ("RGBA", "LA", "La", "RGBa"):  # palette or colour-key transparency
        img = img.convert("RGBA")
    keep_alpha = alpha or channels in (2, 4)
    mode = (
        ("LA" if keep_alpha else "L") if channels in (1, 2) else ("RGBA" if keep_alpha else "RGB")
    )
    if img.mode != mode:
        img = img.convert(mode)
    if keep_alpha:
        img = img.convert("La" if channels in (1, 2) else "RGBa")
    if options.size is not None and img.size != options.size:
        img = fit(img, options)
    array = np.asarray(img, dtype=np.uint8)
    array = array[..., None] if array.ndim == 2 else array
    if keep_alpha and channels in (1, 3):  # over white: premultiplied colour + (1 - alpha)
        array = array[..., :-1] + (255 - array[..., -1:])
    return array.transpose(2, 0, 1)  # a view: the caller copies it into its row


def _eight_bit(img: Image.Image) -> Image.Image:
    if img.mode not in HIGH_DEPTH_MODES:
        return img
    return Image.fromarray(np.rint(unit_values(img) * 255.0).astype(np.uint8))


def fit(img: Image.Image, options: ImageOptions) -> Image.Image:
    """Resize a premultiplied (or opaque) picture to ``options.size`` by stretching, cropping or
    padding."""
    assert options.size is not None
    method = Image.Resampling[options.resample.upper()]
    if options.resize == "stretch":
        return img.resize(options.size, method)
    if options.resize == "crop":
        return ImageOps.fit(img, options.size, method)
    return ImageOps.pad(img, options.size, method, color=_pad_colour(img.mode, options.pad))


def _pad_colour(mode: str, pad: str) -> int | tuple[int, ...]:
    """The fill in the picture's own mode (premultiplied when it has alpha: transparent is all
    zeros)."""
    bands = len(mode)
    if mode in ("La", "RGBa"):
        return {
            "transparent": (0,) * bands,
            "white": (255,) * bands,
            "black": (0,) * (bands - 1) + (255,),
        }[pad]
    # no alpha to be transparent with: laid on white like transparent pixels
    value = 0 if pad == "black" else 255
    return value if bands == 1 else (value,) * bands
