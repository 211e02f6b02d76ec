"""Synthetic dirty documents: paired clean/dirty scanned pages generated on demand.

The document-cleaning exercise needs pages with stains, creases and dark areas next to their
clean originals. The real Kaggle set is a download behind a login, so this module renders its
own: text pages in the DejaVu fonts that ship inside matplotlib (no system package needed), and
a dirty copy of each with the damage seen in scans (``page_damage``: one ``DamageConfig``
switches and scales every kind); everything is drawn from a seed, so a set is byte-identical on
rerun.

Arrays are float32 ``H x W`` in [0, 1] with 1 = white paper; sizes are ``(width, height)``
like Pillow's (the real pages are 540 wide and 258 or 420 tall).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from aekit.data.page_damage import DamageConfig, damage_page
from aekit.data.paths import cache_dir
from aekit.errors import AekitError, ConfigError
from aekit.io import atomic_write_bytes, atomic_write_json, atomic_write_text

SPLITS = ("train", "train_cleaned", "test", "test_cleaned")
TEST_FRACTION = 0.2
MIN_SIDE, MAX_SIDE = 64, 7200  # A4 at 600 dpi is 4961 x 7016

# Regular, bold, italic and bold-italic file of each DejaVu family bundled with matplotlib.
FONT_FAMILIES = {
    "sans": (
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSans-BoldOblique.ttf",
    ),
    "serif": (
        "DejaVuSerif.ttf",
        "DejaVuSerif-Bold.ttf",
        "DejaVuSerif-Italic.ttf",
        "DejaVuSerif-BoldItalic.ttf",
    ),
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


# --- clean pages ------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _font(filename: str, size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(
        str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / filename), size
    )


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


def render_page(
    size: tuple[int, int], rng: np.random.Generator, dpi: int | None = None
) -> tuple[np.ndarray, str]:
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
    # the draws in the order of the first version: the cached sets stay as they were
    if dpi is None:
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
        raise AekitError(
            f"page size {width}x{height} is out of range: each side must be "
            f"{MIN_SIDE}..{MAX_SIDE} pixels"
        )
    return width, height


def _png(page: np.ndarray, dpi: int | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(page * 255).astype(np.uint8), mode="L").save(
        buffer, format="PNG", **({"dpi": (dpi, dpi)} if dpi else {})
    )
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
        raise AekitError(
            "already exists and is not an empty folder; choose a new output folder", out
        )

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
    recipe = {
        "generator": "aekit.data.synthetic_documents",
        "pages": int(n_pages),
        "seed": int(seed),
        "dpi": dpi,
    }
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
            raise AekitError(
                f"cannot move the generated set into place ({exc.strerror or exc})", final
            ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
