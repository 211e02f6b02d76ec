"""Generated images made ready for a game: a fixed palette, hard alpha, tiles that wrap, an atlas.

Plain functions on ``N x C x H x W`` float tensors in [0, 1] with aekit's conventions (alpha last
when C is 2 or 4, colour premultiplied by it). ``Finish`` chains them in the order ``aekit sample``
applies them; ``texturepacker_atlas`` describes a sprite sheet for game engines (Phaser, PixiJS,
Godot and Unity importers read TexturePacker's "JSON (Hash)").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from aekit.alpha import has_alpha, premultiply, unpremultiply
from aekit.errors import DataError

MAX_PALETTE = 256  # colours: what an 8-bit indexed PNG holds
MAX_PALETTE_TEXT_BYTES = 1 << 20  # a .gpl or hex list: 256 lines need a few kB
MAX_SWATCH_PIXELS = 1 << 24  # a PNG of swatches (4096 x 4096)
PALETTE_FIT_PIXELS = 100_000  # opaque pixels k-means sees (a seeded subsample): ~1 s for k = 16
SNAP_CHUNK = 1 << 16  # distinct colours converted to CIELAB and compared with the palette at once
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def _colour_and_alpha(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Straight (un-premultiplied) colour and the alpha channel (None without alpha)."""
    x = images.detach().float().cpu().clamp(0, 1)
    if not has_alpha(x.shape[1]):
        return x, None
    straight = unpremultiply(x)
    return straight[:, :-1], straight[:, -1:]


def _join(colour: torch.Tensor, alpha: torch.Tensor | None) -> torch.Tensor:
    return colour if alpha is None else premultiply(torch.cat([colour, alpha], 1))


# --- palettes -------------------------------------------------------------------------
def learn_palette(
    images: torch.Tensor, k: int, seed: int = 0, max_pixels: int = PALETTE_FIT_PIXELS
) -> torch.Tensor:
    """``k x colour channels`` colours (in [0, 1], on the 8-bit grid, darkest first) by k-means on
    the straight colour of the images' opaque pixels (alpha > 0.5; all pixels without alpha), at
    most ``max_pixels`` of them drawn at random with ``seed``. Fewer distinct colours than ``k``:
    those."""
    if not 1 <= k <= MAX_PALETTE:
        raise DataError(f"a palette has 1 to {MAX_PALETTE} colours, asked for {k}")
    colour, alpha = _colour_and_alpha(images)
    pixels = colour.permute(0, 2, 3, 1).reshape(-1, colour.shape[1])
    if alpha is not None:
        pixels = pixels[alpha.reshape(-1) > 0.5]
    if len(pixels) == 0:
        raise DataError("no opaque pixels (alpha > 0.5) to learn a palette from")
    rng = np.random.default_rng(seed)
    if len(pixels) > max_pixels:
        pixels = pixels[torch.from_numpy(rng.choice(len(pixels), max_pixels, replace=False))]
    levels = np.unique(np.round(pixels.numpy() * 255).astype(np.uint8), axis=0)
    if len(levels) <= k:
        centres = levels.astype(np.float64)
    else:
        from sklearn.cluster import MiniBatchKMeans  # a second of start-up that only palettes need

        kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
        centres = kmeans.fit(pixels.numpy().astype(np.float64)).cluster_centers_ * 255
    # rounding can merge two centres
    palette = np.unique(np.clip(np.round(centres), 0, 255), axis=0)
    palette = palette[np.argsort(palette.mean(1), kind="stable")]
    return torch.from_numpy(palette / 255).float()


def read_palette(path: str | Path) -> torch.Tensor:
    """``K x 3`` RGB colours in [0, 1] from a file: a PNG of swatches (its distinct opaque colours),
    a GIMP ``.gpl`` palette, or a hex list (any other suffix: one ``#rrggbb`` or ``rrggbb`` per
    line, text after it ignored; empty lines and lines starting with ``;``, ``//`` or ``# `` are
    comments)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("palette file not found", path)
    if path.suffix.lower() == ".png":
        colours = _swatch_colours(path)
    else:
        if path.stat().st_size > MAX_PALETTE_TEXT_BYTES:
            raise DataError(
                f"a palette file is at most {MAX_PALETTE_TEXT_BYTES} bytes; this one is larger",
                path,
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DataError(
                "palette file is not UTF-8 text (give a .png, a .gpl or a hex list)", path
            ) from None
        colours = (
            _gpl_colours(text, path) if path.suffix.lower() == ".gpl" else _hex_colours(text, path)
        )
    colours = list(dict.fromkeys(colours))  # distinct, in the file's order
    if not colours:
        raise DataError("empty palette: no colours in the file", path)
    if len(colours) > MAX_PALETTE:
        raise DataError(
            f"a palette has at most {MAX_PALETTE} colours, this one has {len(colours)}", path
        )
    return torch.tensor(colours, dtype=torch.float32) / 255


def _swatch_colours(path: Path) -> list[tuple[int, int, int]]:
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > MAX_SWATCH_PIXELS:
                raise DataError(
                    f"a swatch image is at most {MAX_SWATCH_PIXELS} pixels, this one is "
                    f"{width}x{height}",
                    path,
                )
            array = np.asarray(img.convert("RGBA"))
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001  (Pillow raises many types on bad bytes: all mean "not an image")
        raise DataError(
            f"cannot read the palette image ({exc.__class__.__name__}: {exc})", path
        ) from None
    opaque = array.reshape(-1, 4)
    opaque = opaque[opaque[:, 3] >= 128, :3]
    first = np.unique(opaque, axis=0, return_index=True)[1]
    return [tuple(int(v) for v in opaque[i]) for i in np.sort(first)]  # in reading order


def _gpl_colours(text: str, path: Path) -> list[tuple[int, int, int]]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "GIMP Palette":
        raise DataError("a .gpl file starts with the line 'GIMP Palette'", path)
    colours = []
    for number, line in enumerate(lines[1:], 2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or re.match(r"(Name|Columns)\s*:", stripped):
            continue
        fields = stripped.split(None, 3)
        try:
            rgb = tuple(int(v) for v in fields[:3])
        except ValueError:
            rgb = ()
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise DataError(
                f"line {number}: expected three numbers 0-255 (R G B [name]), got "
                f"{stripped[:40]!r}",
                path,
            )
        colours.append(rgb)
    return colours


def _hex_colours(text: str, path: Path) -> list[tuple[int, int, int]]:
    colours = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if (
            not stripped
            or stripped.startswith((";", "//"))
            or stripped == "#"
            or stripped.startswith(("# ", "#\t"))
        ):
            continue
        token = stripped.split(None, 1)[0]
        match = _HEX.fullmatch(token)
        if match is None:
            raise DataError(
                f"line {number}: bad hex colour {token[:40]!r} (expected #rrggbb or rrggbb)", path
            )
        value = int(match.group(1), 16)
        colours.append((value >> 16, (value >> 8) & 255, value & 255))
    return colours


def _perceptual(colour: np.ndarray) -> np.ndarray:
    """``P x 3`` RGB -> CIELAB (where equal steps look about equally different); grey stays grey."""
    from skimage.color import rgb2lab

    # L* of a grey is ~100x its value
    return rgb2lab(colour) if colour.shape[1] == 3 else colour * 100


def snap_to_palette(images: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Each visible pixel's straight colour replaced by the nearest palette colour in CIELAB (grey
    images: nearest grey level, an RGB palette turned grey with PIL's weights); alpha kept.

    Colours are compared at 8 bits, as they are written, and each distinct one once: on the 989
    crawl sprites of main.png (1 M pixels, 33 k distinct colours) snapping took 0.6-1.1 s, against
    5.9 s converting every pixel to CIELAB (same result)."""
    colour, alpha = _colour_and_alpha(images)
    c = colour.shape[1]
    palette = palette.float()
    if palette.shape[1] == 3 and c == 1:
        palette = palette @ torch.tensor([[0.299], [0.587], [0.114]])
    if palette.shape[1] != c:
        raise DataError(
            f"a palette of {palette.shape[1]}-channel colours does not fit images with {c} "
            "colour channels"
        )
    levels = colour.permute(0, 2, 3, 1).reshape(-1, c).mul(255).round().to(torch.int64)
    codes = (levels * torch.tensor([1 << 16, 1 << 8, 1][-c:])).sum(1)
    distinct, inverse = torch.unique(codes, return_inverse=True)
    distinct_colours = (
        torch.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255][-c:], 1) / 255
    )
    reference = torch.from_numpy(_perceptual(palette.double().numpy()))
    nearest = torch.empty(len(distinct), dtype=torch.int64)
    for start in range(0, len(distinct), SNAP_CHUNK):
        chunk = torch.from_numpy(
            _perceptual(distinct_colours[start : start + SNAP_CHUNK].double().numpy())
        )
        nearest[start : start + SNAP_CHUNK] = torch.cdist(chunk, reference).argmin(1)
    snapped = (
        palette[nearest[inverse]].reshape(colour.shape[0], *colour.shape[2:], c).permute(0, 3, 1, 2)
    )
    return _join(snapped, alpha)


# --- alpha and tiling ------------------------------------------------------------------
def threshold_alpha(images: torch.Tensor, threshold: float) -> torch.Tensor:
    """Alpha 1 where it is at least ``threshold`` (0 < threshold < 1), else 0 with colour 0; the
    straight colour of the pixels kept is unchanged."""
    if not 0 < threshold < 1:
        raise DataError(f"the alpha threshold is between 0 and 1, got {threshold}")
    colour, alpha = _colour_and_alpha(images)
    if alpha is None:
        raise DataError(f"images with {images.shape[1]} channels have no alpha to threshold")
    return _join(colour, (alpha >= threshold).float())


def make_seamless(images: torch.Tensor) -> torch.Tensor:
    """Tiles whose opposite edges continue each other: the periodic component of Moisan's
    periodic-plus-smooth decomposition (L. Moisan, "Periodic plus smooth image decomposition",
    J. Math. Imaging Vis. 39, 2011), per channel on the premultiplied values.

    An image u is p + s where s is smooth (its Laplacian is the jump across the image's borders
    when it is tiled) and p is periodic; s comes from one FFT: with v the border jumps (last row
    minus first row on the first row, the opposite on the last, likewise for columns),
    s_hat(q, r) = v_hat(q, r) / (2 cos(2 pi q / H) + 2 cos(2 pi r / W) - 4), s_hat(0, 0) = 0.
    p keeps the image's mean and detail and changes it most near the borders. Values are then
    clipped to [0, 1] with colour at most alpha."""
    u = images.detach().double().cpu().numpy()
    h, w = u.shape[-2:]
    v = np.zeros_like(u)
    v[..., 0, :] += u[..., -1, :] - u[..., 0, :]
    v[..., -1, :] += u[..., 0, :] - u[..., -1, :]
    v[..., :, 0] += u[..., :, -1] - u[..., :, 0]
    v[..., :, -1] += u[..., :, 0] - u[..., :, -1]
    q = np.arange(h)[:, None]
    r = np.arange(w)[None, :]
    denominator = 2 * np.cos(2 * np.pi * q / h) + 2 * np.cos(2 * np.pi * r / w) - 4
    denominator[0, 0] = 1.0  # the mean: s has none
    s_hat = np.fft.fft2(v) / denominator
    s_hat[..., 0, 0] = 0.0
    periodic = torch.from_numpy(u - np.fft.ifft2(s_hat).real).float().clamp(0, 1)
    if has_alpha(periodic.shape[1]):
        periodic[:, :-1] = torch.minimum(periodic[:, :-1], periodic[:, -1:])
    return periodic


# --- the finish ``aekit sample`` applies ---------------------------------------------------
@dataclass(frozen=True)
class Finish:
    """What ``aekit sample`` does to each batch of samples before writing them (None/False:
    nothing)."""

    seamless: bool = False
    palette: torch.Tensor | None = None
    alpha_threshold: float | None = None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # Seamless first: it mixes values, so it would take colours off the palette and make a
        # hard alpha soft again. Palette next (it keeps alpha), the alpha threshold last (it keeps
        # straight colour): the files hold palette colours only and alpha 0 or 1.
        if self.seamless:
            images = make_seamless(images)
        if self.palette is not None:
            images = snap_to_palette(images, self.palette)
        if self.alpha_threshold is not None:
            images = threshold_alpha(images, self.alpha_threshold)
        return images


# --- sprite sheets ----------------------------------------------------------------------
def texturepacker_atlas(
    names: list[str], tile_w: int, tile_h: int, columns: int, sheet_name: str
) -> dict[str, Any]:
    """TexturePacker's "JSON (Hash)" description of a gap-free sheet of ``tile_w x tile_h`` tiles,
    ``columns`` per row, filled row by row (as ``formats.sheet`` lays them out): a frame per name,
    untrimmed and unrotated; ``meta.image`` is the sheet's file name."""
    rows = math.ceil(len(names) / columns)
    frames = {}
    for k, name in enumerate(names):
        row, col = divmod(k, columns)
        frames[name] = {
            "frame": {"x": col * tile_w, "y": row * tile_h, "w": tile_w, "h": tile_h},
            "rotated": False,
            "trimmed": False,
            "spriteSourceSize": {"x": 0, "y": 0, "w": tile_w, "h": tile_h},
            "sourceSize": {"w": tile_w, "h": tile_h},
        }
    meta = {
        "app": "aekit",
        "version": "1.0",
        "image": sheet_name,
        "format": "RGBA8888",
        "size": {"w": columns * tile_w, "h": rows * tile_h},
        "scale": "1",
    }
    return {"frames": frames, "meta": meta}
