"""Synthetic dirty documents: paired clean/dirty scanned pages generated on demand.

The document-cleaning exercise needs pages with stains, creases and dark areas next to their
clean originals. The real Kaggle set is a download behind a login, so this module renders its
own: text pages in the DejaVu fonts that ship inside matplotlib (no system package needed), and
a dirty copy of each with the damage seen in scans. Every kind of damage is switched and scaled
by one ``DamageConfig``; everything is drawn from a seed, so a set is byte-identical on rerun.

Arrays are float32 ``H x W`` in [0, 1] with 1 = white paper; sizes are ``(width, height)``
like Pillow's (the real pages are 540 wide and 258 or 420 tall).
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from aekit.data.paths import cache_dir
from aekit.errors import AekitError, ConfigError
from aekit.io import atomic_write_bytes, atomic_write_json, atomic_write_text


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; scipy is imported here, not with the module (every command that reads data
    imports this one, and only making pages needs scipy)."""
    from scipy import ndimage

    return ndimage.gaussian_filter(image, sigma)

SPLITS = ("train", "train_cleaned", "test", "test_cleaned")
TEST_FRACTION = 0.2
MIN_SIDE, MAX_SIDE = 64, 7200  # A4 at 600 dpi is 4961 x 7016

# Regular, bold, italic and bold-italic file of each DejaVu family bundled with matplotlib.
FONT_FAMILIES = {
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf"),
    "serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf"),
    "mono": (
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Bold.ttf",
        "DejaVuSansMono-Oblique.ttf",
        "DejaVuSansMono-BoldOblique.ttf",
    ),
}

# Words of the kind found on the real pages (technical prose); sentences are drawn from them.
VOCABULARY = """
the of and a to in is that for it as with be on by this are an or from at which can not have
has but were more these been their other may when also into than its only such most between
image images noise filter filters page pages scanned document documents text paper method
methods model models network training data set sets pixel pixels value values clean cleaning
dirty stain stains crease creases background foreground ink printed print line lines form
forms field fields box boxes rectangle rectangles guide guides sheet region regions light dark
gray threshold thresholds mean median average local global contrast brightness illumination
shadow edge edges shape shapes character characters word words letter letters reader readers
quality result results error errors test tests small large simple classic several different
separate better easily directly usually often however therefore finally because although while
where whenever removed remove reduce reduces reducing blur blurs smooth smoothing sharp learn
learned learning train trained encoder decoder autoencoder layer layers code latent space
input output target loss function gradient step steps rate epoch epochs batch patch patches
whole original restored scanner camera office archive record records report reports table
figure section chapter example examples problem problems approach approaches practical issue
issues account cost expensive cheap color colour white black bright faded old new first second
""".split()


@dataclass(frozen=True)
class DamageConfig:
    """Which damage a dirty page gets and how strong; 0 switches a kind off.

    Each value is the largest effect: every page draws its own strength between half and all
    of it (and its own number of stains and creases up to the maximum), so a set varies like
    real scans while one config and one seed fix it exactly.
    """

    stains: float = 0.6  # darkening of a coffee/water stain's rim (its inside is lighter)
    max_stains: int = 3
    creases: float = 0.12  # shading of a fold: one side darker, one lighter, a dark crest
    max_creases: int = 4
    illumination: float = 0.15  # depth of the smooth brightness gradient across the page
    dark_areas: float = 0.25  # darkening at the centre of broad soft shadows
    paper_tone: float = 0.08  # how much grayer than white the paper is
    texture: float = 0.035  # contrast of the paper's grain and blotches
    fade: float = 0.25  # fraction of ink darkness lost where the ink is most faded
    speckle: float = 0.025  # grain of the scan (relative noise) and density of dust specks
    salt_pepper: float = 0.002  # fraction of pixels set to pure black or white
    blur: float = 0.6  # Gaussian blur sigma in pixels

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("max_"):
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 50:
                    raise ConfigError(f"damage {f.name} must be an integer in 0..50, got {value!r}")
            elif not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"damage {f.name} must be a finite number >= 0, got {value!r}")
        for name in ("stains", "dark_areas", "paper_tone", "fade", "salt_pepper"):
            if getattr(self, name) > 1:
                raise ConfigError(f"damage {name} must be at most 1, got {getattr(self, name)!r}")

    @classmethod
    def off(cls) -> DamageConfig:
        """No damage at all: the dirty page equals the clean one."""
        return cls(**{f.name: 0 for f in fields(cls) if not f.name.startswith("max_")})

    @classmethod
    def only(cls, kind: str, strength: float | None = None) -> DamageConfig:
        """One kind of damage alone (at its default strength unless given), to see or test it."""
        if kind not in DAMAGE_KINDS:
            raise ConfigError(f"unknown damage kind {kind!r}; choose from {', '.join(DAMAGE_KINDS)}")
        value = getattr(cls(), kind) if strength is None else strength
        return replace(cls.off(), **{kind: value})


DAMAGE_KINDS = tuple(f.name for f in fields(DamageConfig) if not f.name.startswith("max_"))


# --- clean pages ------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _font(filename: str, size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / filename), size)


def _sentence(rng: np.random.Generator, shortest: int = 5, longest: int = 18) -> str:
    words = list(rng.choice(VOCABULARY, size=int(rng.integers(shortest, longest + 1))))
    for i in range(1, len(words) - 1):
        if rng.random() < 0.08:
            words[i] += ","
    words[0] = words[0].capitalize()
    return " ".join(words) + ("." if rng.random() < 0.9 else ":")


def render_clean_page(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A clean page of paragraphs (like Kaggle's ``train_cleaned``): float32 ``H x W``, 1 = white.

    One family (sans, serif, mono), style and size per page; paragraphs with indented first
    lines, a ragged right edge that sometimes runs off the page (the real pages are crops),
    and a few lines set in bold.
    """
    return render_page(size, rng)[0]


def render_page(size: tuple[int, int], rng: np.random.Generator, dpi: int | None = None) -> tuple[np.ndarray, str]:
    """A clean page and the text on it (one line of text per printed line).

    Without ``dpi``, a crop like Kaggle's pages (font size relative to a 540 px width, lines may
    run off the right edge); with ``dpi``, a whole printed page at that resolution: 9 to 12 pt
    type, margins of 0.6 to 1 inch, every line inside the page (so its text is all readable)."""
    width, height = _check_size(size)
    files = FONT_FAMILIES[str(rng.choice(list(FONT_FAMILIES)))]
    italic = rng.random() < 0.35
    if dpi is None:
        font_size = max(8, round(int(rng.integers(15, 29)) * width / 540))
    else:
        font_size = max(8, round(int(rng.integers(9, 13)) * dpi / 72))
    regular = _font(files[2 if italic else 0], font_size)
    bold = _font(files[3 if italic else 1], font_size)
    line_height = int(round(font_size * rng.uniform(1.15, 1.45)))
    if dpi is None:  # the draws in the order of the first version: the cached sets stay as they were
        left = int(rng.integers(2, max(3, width // 12)))
        right = width - int(rng.integers(-width // 8, width // 10))
        indent = int(rng.integers(2, 5)) * font_size
        ink = int(rng.integers(0, 20))
        top, bottom = int(rng.integers(-line_height // 3, line_height)), height
    else:
        left, right, top, margin = (int(rng.uniform(0.6, 1.0) * dpi) for _ in range(4))
        right, bottom = width - right, height - margin - line_height
        indent = int(rng.integers(2, 5)) * font_size
        ink = int(rng.integers(0, 20))

    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    printed: list[str] = []

    def put(x: int, text: str, font: ImageFont.FreeTypeFont) -> None:
        draw.text((x, y), text, font=font, fill=ink)
        if y + line_height > 0 and (dpi is None or font.getlength(text) <= right - x):
            printed.append(text)

    y = top
    while y < bottom:
        if rng.random() < 0.25:  # a heading in bold
            put(left, _sentence(rng, 2, 6).rstrip(".:"), bold)
            y += line_height
        words = " ".join(_sentence(rng) for _ in range(int(rng.integers(3, 9)))).split()
        x0 = left + indent
        line: list[str] = []
        for word in words + [""]:
            trial = " ".join(line + [word])
            if word and (not line or regular.getlength(trial) <= right - x0):
                line.append(word)
                continue
            put(x0, " ".join(line), bold if rng.random() < 0.04 else regular)
            y, x0, line = y + line_height, left, [word]
            if y >= bottom:
                break
        y += int(line_height * rng.choice([0, 0, rng.uniform(0.2, 0.6)]))
    return np.asarray(page, dtype=np.float32) / 255.0, "\n".join(printed)


# --- damage -----------------------------------------------------------------------------------
def _smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Random field with features about ``scale`` pixels wide, zero mean and unit std."""
    h, w = shape
    coarse = rng.standard_normal((max(2, int(h / scale) + 2), max(2, int(w / scale) + 2))).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC))
    return (field - field.mean()) / (field.std() + 1e-6)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates as an ``H x 1`` and a ``1 x W`` array (they broadcast)."""
    return np.arange(shape[0], dtype=np.float32)[:, None], np.arange(shape[1], dtype=np.float32)[None, :]


def stain_field(
    shape: tuple[int, int], centre: tuple[float, float], radius: float, strength: float, rng: np.random.Generator
) -> np.ndarray:
    """Multiplicative darkening of one coffee/water stain centred at ``centre`` (row, col).

    A wobbly ring whose rim is darkest (sharp outside, soft towards the inside, as coffee dries
    at its edge), often broken into arcs, around a faintly tinted inside.
    """
    yy, xx = _grid(shape)
    dy, dx = yy - centre[0], xx - centre[1]
    dist = np.hypot(dy, dx)
    theta = np.arctan2(dy, dx)
    wobble = sum(rng.uniform(0, 0.06) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in range(2, 6))
    edge = dist - radius * (1 + wobble)
    width = radius * rng.uniform(0.05, 0.18)
    rim = np.exp(-((edge / np.where(edge > 0, 0.4 * width, width)) ** 2))
    arcs = rng.uniform(0.3, 1.2) + sum(rng.uniform(0, 0.6) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3))
    inside = 1 / (1 + np.exp(np.clip(edge / width, -30, 30)))
    darkness = strength * (rim * np.clip(arcs, 0, 1) + rng.uniform(0.05, 0.3) * inside)
    return (1 - np.clip(darkness, 0, 0.95)).astype(np.float32)


def crease_field(
    shape: tuple[int, int], point: tuple[float, float], angle: float, strength: float, rng: np.random.Generator,
    scale: float = 1.0,
) -> np.ndarray:
    """Multiplicative shading of one fold through ``point`` (row, col) at ``angle`` radians.

    Light falls on the two faces of a fold differently: one side darker, the other lighter,
    with a thin dark crest on the line itself; the line bends slightly like real paper.
    """
    yy, xx = _grid(shape)
    along = (xx - point[1]) * math.cos(angle) + (yy - point[0]) * math.sin(angle)
    across = -(xx - point[1]) * math.sin(angle) + (yy - point[0]) * math.cos(angle)
    across = across + rng.uniform(-1, 1) * 1e-4 / scale * along**2
    width = rng.uniform(3, 12) * scale
    crest = rng.uniform(0.6, 1.6) * scale
    side = rng.choice([-1.0, 1.0])
    shading = side * (across / width) * np.exp(0.5 - 0.5 * (across / width) ** 2)
    darkness = strength * (0.6 * shading + rng.uniform(0.6, 1.2) * np.exp(-0.5 * (across / crest) ** 2))
    return (1 - darkness).astype(np.float32)


def illumination_field(shape: tuple[int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth brightness in ``[1 - strength, 1]``: a tilted gradient plus broad waves, as from a lamp."""
    yy, xx = _grid(shape)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(shape)
    field = ramp + rng.uniform(0.1, 0.4) * _smooth_noise(shape, max(shape) / 2, rng)
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    return (1 - strength * field).astype(np.float32)


def _dark_areas(shape: tuple[int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Broad soft shadows (elliptic, anywhere, sometimes off the page's edge)."""
    h, w = shape
    yy, xx = _grid(shape)
    darkness = np.zeros(shape, np.float32)
    for _ in range(int(rng.integers(1, 3))):
        cy, cx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
        sy, sx = rng.uniform(0.1, 0.4) * h, rng.uniform(0.1, 0.4) * w
        darkness += rng.uniform(0.5, 1) * np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))
    return (1 - strength * np.clip(darkness, 0, 1)).astype(np.float32)


def _texture(shape: tuple[int, int], strength: float, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Paper grain (fine fibres) and mottling (soft blotches tens of pixels wide)."""
    grain = _blur(rng.standard_normal(shape).astype(np.float32), 0.8 * scale)
    grain /= grain.std() + 1e-6
    blotches = np.tanh(2 * _smooth_noise(shape, rng.uniform(8, 30) * scale, rng))
    return (1 - strength * (0.6 * grain + 1.2 * blotches)).astype(np.float32)


def _fade(shape: tuple[int, int], strength: float, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Fraction of ink darkness kept: unevenly faded, most in some places, less in others."""
    patchy = 0.5 + 0.5 * np.tanh(_smooth_noise(shape, rng.uniform(40, 160) * scale, rng))
    return (1 - strength * (0.2 + 0.8 * patchy)).astype(np.float32)


def _speckle(image: np.ndarray, strength: float, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Scan grain (relative Gaussian noise) and a sprinkle of small dark dust specks."""
    noisy = image * (1 + strength * rng.standard_normal(image.shape).astype(np.float32))
    h, w = image.shape
    n_specks = int(rng.poisson(strength * h * w / 1500 / scale**2))
    if n_specks:
        dots = np.zeros(image.shape, np.float32)
        dots[rng.integers(0, h, n_specks), rng.integers(0, w, n_specks)] = rng.uniform(0.4, 1, n_specks)
        dots = np.clip(_blur(dots, rng.uniform(0.5, 1.0) * scale) * 4 * scale**2, 0, 0.9)
        noisy *= 1 - dots
    return noisy


def damage_page(clean: np.ndarray, config: DamageConfig, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """The scanned, dirty version of a clean page (float32 ``H x W`` in [0, 1], 1 = white).

    The paper (tone, illumination, shadows, texture, stains, creases) multiplies the faded
    ink, then the scan blurs and adds grain, specks and salt-and-pepper. Each kind draws from
    its own child generator, so switching one kind off leaves the others exactly as they were.
    ``scale``: pixels per pixel of a Kaggle-like page (dpi / 75), so grain, specks, folds and
    blur keep their size on paper at any resolution.
    """
    clean = np.asarray(clean, dtype=np.float32)
    if clean.ndim != 2:
        raise AekitError(f"damage_page needs a 2-D grayscale page, got shape {clean.shape}")
    shape = clean.shape
    h, w = shape
    kind_rngs = dict(zip(DAMAGE_KINDS, (np.random.default_rng(s) for s in rng.integers(0, 2**63, len(DAMAGE_KINDS)))))

    def draw(kind: str) -> tuple[float, np.random.Generator]:
        return getattr(config, kind) * kind_rngs[kind].uniform(0.5, 1.0), kind_rngs[kind]

    paper = np.ones(shape, np.float32)
    if config.paper_tone:
        tone, _ = draw("paper_tone")
        paper *= 1 - tone
    if config.illumination:
        paper *= illumination_field(shape, *draw("illumination"))
    if config.dark_areas:
        paper *= _dark_areas(shape, *draw("dark_areas"))
    if config.texture:
        paper *= _texture(shape, *draw("texture"), scale)
    if config.stains and config.max_stains:
        strength, r = draw("stains")
        for _ in range(int(r.integers(1, config.max_stains + 1))):
            centre = (r.uniform(-0.1, 1.1) * h, r.uniform(-0.1, 1.1) * w)
            radius = r.uniform(0.12, 0.45) * min(h, w)
            paper *= stain_field(shape, centre, radius, strength * r.uniform(0.6, 1), r)
    if config.creases and config.max_creases:
        strength, r = draw("creases")
        for _ in range(int(r.integers(1, config.max_creases + 1))):
            point = (r.uniform(0, h), r.uniform(0, w))
            paper *= crease_field(shape, point, r.uniform(0, np.pi), strength * r.uniform(0.5, 1), r, scale)

    ink = 1 - clean
    if config.fade:
        ink = ink * _fade(shape, *draw("fade"), scale)
    dirty = paper * (1 - ink)
    if config.blur:
        sigma, _ = draw("blur")
        dirty = _blur(dirty, sigma * scale)
    if config.speckle:
        dirty = _speckle(dirty, *draw("speckle"), scale)
    dirty = np.clip(dirty, 0, 1)
    if config.salt_pepper:
        amount, r = draw("salt_pepper")
        hit = r.random(shape) < amount
        dirty[hit] = (r.random(int(hit.sum())) < 0.5).astype(np.float32)
    return dirty.astype(np.float32)


# --- data sets on disk ------------------------------------------------------------------------
def _check_size(size: object) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
    ):
        raise AekitError(f"page size must be (width, height) in pixels, got {size!r}")
    width, height = int(size[0]), int(size[1])
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise AekitError(f"page size {width}x{height} is out of range: each side must be {MIN_SIDE}..{MAX_SIDE} pixels")
    return width, height


def _png(page: np.ndarray, dpi: int | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(page * 255).astype(np.uint8), mode="L").save(buffer, format="PNG",
                                                                       **({"dpi": (dpi, dpi)} if dpi else {}))
    return buffer.getvalue()


PAGES_INCHES = {"a4": (210 / 25.4, 297 / 25.4), "letter": (8.5, 11.0)}
KAGGLE_DPI = 75  # the Kaggle pages' resolution, about: 540 px across a crop of a printed page
MAX_DPI = 600


def page_size(page: str, dpi: int) -> tuple[int, int]:
    """(width, height) in pixels of ``a4``, ``letter`` or ``WxH`` (pixels) at ``dpi``."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 30 <= dpi <= MAX_DPI:
        raise ConfigError(f"--dpi must be a whole number from 30 to {MAX_DPI}, got {dpi!r}")
    if page.lower() in PAGES_INCHES:
        width, height = PAGES_INCHES[page.lower()]
        return _check_size((round(width * dpi), round(height * dpi)))
    match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", page.strip().lower())
    if match is None:
        raise ConfigError(f"--page must be a4, letter or WxH in pixels, got {page!r}")
    return _check_size((int(match[1]), int(match[2])))


def synthesize(
    n_pages: int,
    out_dir: str | Path,
    seed: int = 0,
    size: tuple[int, int] | Sequence[tuple[int, int]] = (540, 420),
    damage: DamageConfig | None = None,
    dpi: int | None = None,
) -> Path:
    """Write ``n_pages`` clean/dirty pairs in the Kaggle layout and return ``out_dir``.

    ``train/`` + ``train_cleaned/`` hold 80% of the pages, ``test/`` + ``test_cleaned/`` the rest
    (the cleaned test pages let test pages be scored); a pair shares its file name. ``size`` is
    one ``(width, height)`` or a list that pages cycle through. Page ``i`` depends only on
    ``seed`` and ``i``, every PNG is written atomically, and ``synthetic.json`` records the recipe.
    ``dpi``: whole printed pages at that resolution (``render_page``), damage sized on paper,
    the dpi in the PNGs, and each page's text beside its clean page (``N.txt``).
    """
    if isinstance(n_pages, bool) or not isinstance(n_pages, (int, np.integer)) or n_pages < 2:
        raise AekitError(f"need at least 2 pages (one for train, one for test), got {n_pages!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AekitError(f"seed must be an integer >= 0, got {seed!r}")
    sizes = [size] if size and isinstance(size[0], (int, np.integer)) else list(size)
    if not sizes:
        raise AekitError("size list is empty: give at least one (width, height)")
    sizes = [_check_size(s) for s in sizes]
    damage = DamageConfig() if damage is None else damage
    if not isinstance(damage, DamageConfig):
        raise AekitError(f"damage must be a DamageConfig, got {type(damage).__name__}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AekitError("already exists and is not an empty folder; choose a new output folder", out)

    n_test = max(1, round(n_pages * TEST_FRACTION))
    for i in range(int(n_pages)):
        rng = np.random.default_rng([int(seed), i])
        clean, text = render_page(sizes[i % len(sizes)], rng, dpi)
        dirty = damage_page(clean, damage, rng, 1.0 if dpi is None else dpi / KAGGLE_DPI)
        split = "train" if i < n_pages - n_test else "test"
        atomic_write_bytes(out / split / f"{i + 1}.png", _png(dirty, dpi))
        atomic_write_bytes(out / f"{split}_cleaned" / f"{i + 1}.png", _png(clean, dpi))
        if dpi is not None:
            atomic_write_text(out / f"{split}_cleaned" / f"{i + 1}.txt", text + "\n")
    recipe = {"generator": "aekit.data.synthetic_documents", "pages": int(n_pages), "seed": int(seed), "dpi": dpi}
    atomic_write_json(out / "synthetic.json", {**recipe, "sizes": sizes, "damage": asdict(damage)})
    return out


def ensure_synthetic_documents(n_pages: int = 48, seed: int = 0, dpi: int | None = None) -> Path:
    """The cached synthetic set for ``seed`` and ``n_pages`` (A4 pages at ``dpi`` when given),
    generated on first use.

    It is built in a hidden temporary folder and renamed into place, so the cache holds either
    a whole set or none (a crash leaves only a hidden folder that is never read).
    """
    root = cache_dir()
    final = root / (f"documents-synthetic-{seed}-{n_pages}" + (f"-a4-{dpi}dpi" if dpi else ""))
    if final.is_dir():
        return final
    try:
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}."))
    except OSError as exc:
        raise AekitError(f"cannot write to the cache ({exc.strerror or exc})", root) from None
    try:
        size = (540, 420) if dpi is None else page_size("a4", dpi)
        synthesize(n_pages, tmp / "pages", seed=seed, size=size, dpi=dpi)
        os.rename(tmp / "pages", final)
    except OSError as exc:
        if not final.is_dir():  # else a concurrent run finished first: use its set
            raise AekitError(f"cannot move the generated set into place ({exc.strerror or exc})", final) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
