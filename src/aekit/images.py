"""Image FILES in and out, shared by every command that reads or writes a user's pictures.

Reading gives a float32 ``C x H x W`` tensor in [0, 1] with aekit's conventions: C = 1 grey,
2 grey + alpha, 3 RGB, 4 RGB + alpha; alpha last; colour premultiplied by alpha, so a fully
transparent pixel is 0 everywhere and a model never spends capacity on colours nobody sees.
The file's PIL mode is kept beside the pixels, so a command can write its result back in the
same mode (grey stays grey, 16-bit stays 16-bit, alpha is kept). Writing un-premultiplies and
goes through ``aekit.io`` (a file appears whole or not at all).
"""

from __future__ import annotations

import contextlib
import errno
import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from aekit.alpha import premultiply, unpremultiply
from aekit.errors import DataError
from aekit.io import atomic_write_bytes

READ_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
MAX_PIXELS = 1 << 28  # 268 M pixels (16k x 16k): larger headers are refused before decoding
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
HIGH_DEPTH_MODES = {*_SIXTEEN_BIT, "F"}
GREY_MODES = {"1", "L", "LA", "La", *HIGH_DEPTH_MODES}
ALPHA_MODES = {"RGBA", "LA", "La", "PA", "RGBa"}
CANONICAL = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # the plain mode of each channel count
NOT_AN_IMAGE = "not an image (no image format recognised in its bytes)"


@dataclass
class ImageFile:
    """Pixels of one file (premultiplied ``C x H x W``) and the PIL mode it was stored in."""

    pixels: torch.Tensor
    mode: str
    path: Path

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[2])


def is_image_path(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in READ_EXTENSIONS


@contextlib.contextmanager
def open_image(path: Path, unrecognised: str = NOT_AN_IMAGE) -> Iterator[Image.Image]:
    """PIL's image of a file, the one way aekit opens one (commands, scans and datasets); every
    failure, opening it or decoding it inside the block, is a one-line ``DataError`` naming the file
    and what is wrong (``unrecognised`` when no format knows its bytes)."""
    try:
        with Image.open(path) as img:
            yield img
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(
            "broken link: points to a file that does not exist"
            if path.is_symlink()
            else "file not found",
            path,
        ) from None
    except UnidentifiedImageError:
        raise DataError(unrecognised, path) from None
    except IsADirectoryError:
        raise DataError("is a folder, not an image file", path) from None
    except PermissionError:
        raise DataError("cannot read the file (permission denied)", path) from None
    except Exception as exc:  # noqa: BLE001  (Pillow raises many types on bad bytes: all mean "not an image")
        if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
            raise DataError("symbolic-link loop: the link never reaches a file", path) from None
        raise DataError(f"cannot read image ({exc.__class__.__name__}: {exc})", path) from None


def read_image_file(path: str | Path) -> ImageFile:
    """Decode any PIL-readable image (grey, LA, RGB, RGBA, P with transparency, 16-bit, CMYK)."""
    path = Path(path)
    with open_image(path) as img:
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise DataError(
                f"image is {width}x{height} px, more than aekit's limit of {MAX_PIXELS} pixels",
                path,
            )
        mode = img.mode
        pixels = decode_pil(img)
    return ImageFile(torch.from_numpy(pixels), mode, path)


def decode_pil(img: Image.Image) -> np.ndarray:
    """Any PIL picture -> float32 ``C x H x W`` in [0, 1] in its own channels (grey or colour, alpha
    when it has any, premultiplied); 16-bit and float pictures keep their precision as one
    channel."""
    if img.mode in HIGH_DEPTH_MODES:
        return unit_values(img)[None]
    if img.mode == "1":
        img = img.convert("L")
    alpha = has_alpha(img)
    target = ("LA" if alpha else "L") if is_grey(img) else ("RGBA" if alpha else "RGB")
    # PIL's own premultiplied modes: bring back to straight alpha first
    if img.mode in ("La", "RGBa"):
        img = img.convert(img.mode.upper())
    if img.mode == "P" and alpha:
        img = img.convert("RGBA")
    array = np.asarray(img.convert(target), dtype=np.float32)
    array *= 1 / 255  # in place: an A4 page is 35 MB per float copy
    array = array[:, :, None] if array.ndim == 2 else array
    if alpha:
        array[..., :-1] *= array[..., -1:]
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def unit_values(img: Image.Image) -> np.ndarray:
    """A 16-bit or float picture's values as float32 ``H x W`` in [0, 1]."""
    array = np.asarray(img, dtype=np.float32)
    array *= 1.0 if img.mode == "F" else 1 / 65535
    return np.clip(array, 0.0, 1.0, out=array)


def has_alpha(img: Image.Image) -> bool:
    """An alpha band, or a transparent palette index or colour key."""
    return img.mode in ALPHA_MODES or "transparency" in img.info


def is_grey(img: Image.Image) -> bool:
    """A grey mode, or a palette of greys only."""
    if img.mode in GREY_MODES:
        return True
    if img.mode in ("P", "PA"):
        palette = img.getpalette() or []
        return all(
            palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3)
        )
    return False


def to_channels(
    pixels: torch.Tensor, channels: int, alpha: torch.Tensor | None = None
) -> torch.Tensor:
    """Convert premultiplied ``[B x] C x H x W`` images to ``channels`` (1-4).

    Grey -> RGB repeats; RGB -> grey is ITU-R 601 luma (PIL's weights); dropping alpha keeps the
    premultiplied colour, i.e. the picture over black; adding alpha uses ``alpha`` when given
    (colour clipped to it, so the result stays a valid premultiplied image), else opaque."""
    if not 1 <= channels <= 4:
        raise DataError(f"images have 1 to 4 channels, not {channels}")
    c = pixels.shape[-3]
    has_alpha, wants_alpha = c in (2, 4), channels in (2, 4)
    colour = pixels.narrow(-3, 0, c - 1) if has_alpha else pixels
    a = pixels.narrow(-3, c - 1, 1) if has_alpha else None
    want_colour = 1 if channels <= 2 else 3
    if colour.shape[-3] == 1 and want_colour == 3:
        colour = colour.expand(*colour.shape[:-3], 3, *colour.shape[-2:])
    elif colour.shape[-3] == 3 and want_colour == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=colour.dtype).view(3, 1, 1)
        colour = (colour * weights).sum(-3, keepdim=True)
    if not wants_alpha:
        return colour.contiguous()
    if alpha is not None:
        a = alpha
    if a is None:
        a = torch.ones_like(colour.narrow(-3, 0, 1))
    return torch.cat([torch.minimum(colour, a), a.expand_as(colour.narrow(-3, 0, 1))], -3)


def resize(pixels: torch.Tensor, size: tuple[int, int], clip: bool = True) -> torch.Tensor:
    """``[B x] C x H x W`` to (height, width): area averaging when shrinking (no aliasing), bilinear
    when growing. Premultiplied colour resamples correctly (no dark fringes at alpha edges).
    ``clip``: to [0, 1], as pixels are (not for maps of other values)."""
    if tuple(pixels.shape[-2:]) == tuple(size):
        return pixels
    batch = pixels if pixels.dim() == 4 else pixels[None]
    shrink = size[0] <= batch.shape[-2] and size[1] <= batch.shape[-1]
    mode = {"mode": "area"} if shrink else {"mode": "bilinear", "align_corners": False}
    out = torch.nn.functional.interpolate(batch, size=tuple(size), **mode)
    out = out.clamp(0, 1) if clip else out
    return out if pixels.dim() == 4 else out[0]


def output_mode(channels: int, like: str | None, fmt: str = "png") -> str:
    """The PIL mode to write ``channels`` in: the input's own mode where the format can hold it."""
    if like in _SIXTEEN_BIT and channels == 1 and fmt == "png":
        return "I;16"
    if like == "CMYK" and channels == 3 and fmt == "jpeg":
        return "CMYK"
    mode = CANONICAL[channels]
    if fmt == "jpeg" and mode in ("LA", "RGBA"):
        return mode[:-1]  # JPEG has no alpha: composited over white when written
    return mode


def to_pil(pixels: torch.Tensor, mode: str | None = None) -> Image.Image:
    """A premultiplied ``C x H x W`` tensor as a PIL image (straight alpha), in ``mode``."""
    c = pixels.shape[0]
    mode = mode or CANONICAL[c]
    x = pixels.detach().float().cpu().clamp(0, 1)
    if c in (2, 4):
        x = unpremultiply(x)
        if mode in ("L", "RGB", "CMYK"):  # no alpha in the file: lay it over white
            colour, alpha = x[:-1], x[-1:]
            x = colour * alpha + (1 - alpha)
    if mode == "I;16":
        grey = to_channels(x, 1)[0]
        return Image.fromarray((grey * 65535).round().to(torch.int32).numpy().astype(np.uint16))
    want = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 3}[mode]
    if x.shape[0] != want:
        x = _straight_channels(x, want)
    array = x.mul(255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(array[:, :, 0] if want == 1 else array, mode=CANONICAL[want])
    return image.convert("CMYK") if mode == "CMYK" else image


def _straight_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Channel conversion of straight-alpha pixels (premultiply, convert, un-premultiply)."""
    y = to_channels(premultiply(x), channels)
    return unpremultiply(y) if channels in (2, 4) else y


def encode_image(
    pixels: torch.Tensor, fmt: str = "png", like: str | None = None, compress_level: int = 6
) -> bytes:
    """File bytes of a premultiplied ``C x H x W`` tensor in ``fmt`` (png, jpeg, webp); ``like`` is
    the input file's mode, kept where the format can hold it (16-bit grey, CMYK)."""
    if fmt not in FORMATS:
        raise DataError(f"unknown image format {fmt!r}; choose one of {', '.join(FORMATS)}")
    image = to_pil(pixels, output_mode(pixels.shape[0], like, fmt))
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, format="PNG", compress_level=compress_level)
    elif fmt == "jpeg":
        image.save(buffer, format="JPEG", quality=95)
    else:
        image.save(buffer, format="WEBP", lossless=True)
    return buffer.getvalue()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Premultiplied ``N x C x H x W`` images as straight-alpha ``N x H x W x C`` bytes, converted
    in one pass for the whole batch (per image, the tensor ops cost as much as the PNG encoding)."""
    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] in (2, 4):
        x = unpremultiply(x)
    return x.mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()


_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # grey, grey + alpha, RGB, RGBA (PNG spec, IHDR)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(array: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of one ``H x W x C`` uint8 array (C = 1-4: L, LA, RGB, RGBA), 8 bits, no filter.

    Written with the standard library's zlib rather than PIL for bulk output (thousands of small
    samples): PIL spends ~100 us per image on its own machinery around 30 us of deflate, while
    holding the GIL; zlib releases it, so writer threads overlap. Tests read the files back with
    PIL."""
    h, w, c = array.shape
    rows = np.zeros((h, 1 + w * c), np.uint8)  # each scanline starts with filter type 0 (None)
    rows[:, 1:] = array.reshape(h, w * c)
    header = struct.pack(">IIBBBBB", w, h, 8, _PNG_COLOUR_TYPE[c], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), compress_level))
        + _png_chunk(b"IEND", b"")
    )


def format_of(path: Path) -> str:
    """The output format a file name asks for (PNG unless .jpg/.jpeg/.webp)."""
    return {".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}.get(path.suffix.lower(), "png")


def write_image(
    path: str | Path, pixels: torch.Tensor, fmt: str | None = None, like: str | None = None
) -> Path:
    """Write a premultiplied ``C x H x W`` tensor atomically; ``fmt`` defaults to the path's suffix,
    ``like`` is an input's mode to keep (see :func:`encode_image`)."""
    path = Path(path)
    atomic_write_bytes(path, encode_image(pixels, fmt or format_of(path), like))
    return path
