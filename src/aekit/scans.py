"""Scanned pages at any resolution: measure the text, clean at the size and ink the model knows.

A document cleaner learns strokes, letters and dirt at the resolution of its training pages (the
Kaggle pages are about 75 dpi). Given a 300 dpi scan it sees letters four times wider than any it
was trained on, and its background estimate (a closing a few pixels wide) takes the strokes for
paper: only the thin stems survive. So every page's text is measured first, without being told
the resolution, the page is resampled to a size the training pages' text had, cleaned there, and
mapped back to its own size.

The measure is the line pitch: the period of the rows' ink profile, found by autocorrelation. It
scales exactly with the page (3.003 on pages upscaled 3x, noisy or clean), which a stroke width
measured on 2-pixel strokes does not (off by up to 15%). Pages without regular lines (a form, a
label) fall back to the median height of letters. The Kaggle pages' pitches are three type sizes
(22.9, 28.2 and 37.3 px at one resolution), so the pitch alone cannot tell a 2x page of small type
from a 1.23x page of the middle size; what does is the detail the page loses when shrunk and
enlarged back (``round_trip_loss``): an enlarged page carries no finer detail than the page it
was enlarged from, so of the factors that bring its pitch to a training size, the right one is the
largest at which it loses no more than a training page of that size does (``working_factor``).
Ink fainter than the faintest training page's is darkened first (``ink_gain``). A file's dpi is a
hint where the page has no text to measure (``DPI_PITCH``). A model trained across scales (train
option ``enlarge``) is mapped the same way (benchmarks/README.md, "training across scales").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aekit.data import load
from aekit.errors import AekitError, ConfigError
from aekit.images import resize
from aekit.io import read_json
from aekit.runs import DATA_NOTES, RunConfig
from aekit.tiling import tiled_reconstruct

# a page within 10% of the training range may be cleaned as it is (resampling blurs 1-px edges)
TOLERANCE = 1.1
# ``TrainingText.detail`` is the training pages' most detail lost times this margin (Kaggle pages
# enlarged 1.5-3x lose less at the true factor and more shrunk to the next type size: 0.140 vs
# 0.152, 0.125 vs 0.133)
DETAIL_MARGIN = 1.05
# the enlargement ``TrainingText.detail`` is measured at: of 1.5x, 2x and 3x the one that loses most
PROBE = 1.5
# autocorrelation of the rows' ink profile at the pitch: below it the lines are not regular
MIN_PEAK = 0.25
PEAK_SHARE = 0.7  # the pitch is the first autocorrelation peak at least this share of the highest
# how far the line pitch may be from a page's own scale (0.4% measured): ``registered_size``
SCALE_ERROR = 0.005
# guided upsampling: window radius (px at the working size) and regulariser
GUIDE_RADIUS, GUIDE_EPS = 1, 1e-3
# text more than 16x the training size (or smaller than 1/4) is beyond what resampling mends
MAX_FACTOR, MIN_FACTOR = 16.0, 0.25
# fewer letter-sized blobs than this: no text to measure (cleaned as it is, or at its file's dpi)
MIN_LETTERS = 20
# the paper's brightness: see ``paper_level``
PAPER_BLOCKS, PAPER_CELL, PAPER_QUANTILE = 16, 16, 0.9
# a page's ink level: this quantile of its ink pixels' brightness over the paper's (the darkest
# strokes, less a few specks); a page whose ink is fainter is darkened at most this much
INK_QUANTILE, MAX_GAIN = 0.1, 4.0
# a page darker than this (a photo, noise) has no text to measure: pages are mostly paper
MAX_INK = 0.35
# a file's dpi where its page has no text: body text's line pitch per dpi (9-12 pt: 22-36 px at 150
# dpi, data/documents.py); below MIN_DPI it is no resolution (files without one say 1 or 0)
DPI_PITCH, MIN_DPI = 28.2 / 150, 30


@dataclass(frozen=True)
class TextSize:
    """What a page's text measures: ``pitch`` (px between lines, None without regular lines),
    ``letter`` (median letter height, px, None without letters) and ``ink`` (the darkest strokes'
    brightness over the paper's, ``INK_QUANTILE`` of the ink pixels: 0 black, 1 the paper's; None
    without letters)."""

    pitch: float | None
    letter: float | None
    ink: float | None = None


# The Kaggle training pages' ink levels and detail (``TrainingText.of_pages``), for runs without.
KAGGLE_INK = (0.0, 0.109, 0.213)
KAGGLE_DETAIL = (0.146, 0.131, 0.110)


@dataclass(frozen=True)
class TrainingText:
    """The text sizes a cleaner was trained on (from its training pages): ``(low, median, high)``
    of the line pitch, of the letter height and of the ink level; ``detail``: for the pages of the
    low, median and high pitch, the most detail a page of that size loses when it is enlarged
    PROBE times and shrunk back (``round_trip_loss``; smaller type loses more), times
    DETAIL_MARGIN."""

    pitch: tuple[float, float, float]
    letter: tuple[float, float, float]
    ink: tuple[float, float, float] = KAGGLE_INK
    detail: tuple[float, float, float] = KAGGLE_DETAIL

    @classmethod
    def of_pages(cls, pages: list[torch.Tensor]) -> TrainingText | None:
        """The range over ``pages``; None when they hold no lines or letters to measure."""
        sizes = [measure_text(p) for p in pages]
        pitches = [s.pitch for s in sizes if s.pitch is not None]
        letters = [s.letter for s in sizes if s.letter is not None]
        inks = [s.ink for s in sizes if s.ink is not None]
        if not pitches or not letters:
            return None
        spread = lambda values: (min(values), float(np.median(values)), max(values))
        pitch = spread(pitches)
        detail = [0.0, 0.0, 0.0]
        for page, size in zip(pages, sizes):
            if size.pitch is not None:
                nearest = min(range(3), key=lambda i: abs(math.log(size.pitch / pitch[i])))
                h, w = page.shape[-2:]
                big = F.interpolate(
                    page[None], size=(round(h * PROBE), round(w * PROBE)), mode="bicubic"
                )
                # at the factor ``candidate_factors`` gives it, which is never exactly PROBE (a
                # round trip by exactly 1.5 falls on the enlarged page's own grid and loses less)
                factor = PROBE * size.pitch / pitch[nearest]
                lost = round_trip_loss(paper_ratio(big[0].clamp(0, 1)), factor)
                detail[nearest] = max(detail[nearest], lost * DETAIL_MARGIN)
        # an end without pages of its own (a page at the median may be nearer another end)
        detail = [d or max(detail) for d in detail]
        return cls(pitch, spread(letters), spread(inks), (detail[0], detail[1], detail[2]))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TrainingText:
        """``ink`` and ``detail`` are optional: runs recorded before them get Kaggle's."""
        pitch, letter = (tuple(float(v) for v in value[k]) for k in ("pitch", "letter"))
        ink = tuple(float(v) for v in value.get("ink", KAGGLE_INK))
        detail = tuple(float(v) for v in value.get("detail", KAGGLE_DETAIL))
        if (
            any(len(v) != 3 for v in (pitch, letter, ink, detail))
            or any(list(v) != sorted(v) for v in (pitch, letter, ink))
            or not all(math.isfinite(v) and v > 0 for v in pitch + letter + detail)
            or not all(0 <= v <= 1 for v in ink)
        ):
            raise ValueError(
                "pitch, letter and detail must be three positive numbers each and ink three in "
                "[0, 1]: low, median, high"
            )
        return cls(pitch, letter, ink, detail)


# The 144 Kaggle training pages' range: for runs that recorded none and lack their training pages.
KAGGLE_TEXT = TrainingText(pitch=(22.9, 28.2, 37.3), letter=(8.0, 11.0, 15.0))


def paper_level(grey: torch.Tensor) -> torch.Tensor:
    """The paper's brightness around each pixel of an ``H x W`` page: the PAPER_QUANTILE of blocks a
    PAPER_BLOCKS-th of the shorter side wide (wider than lines of text, narrower than stains and
    shadows; the quantile passes over ink and bright specks), enlarged smoothly to the page."""
    h, w = grey.shape
    block = min(h, w, max(4, min(h, w) // PAPER_BLOCKS))  # a page under 4 px is one block
    rows, cols = h // block, w // block
    # each block averaged to at most PAPER_CELL^2 values first (speed)
    cell = min(block, PAPER_CELL)
    small = resize(grey[None, : rows * block, : cols * block], (rows * cell, cols * cell))[0]
    blocks = small.reshape(rows, cell, cols, cell).permute(0, 2, 1, 3).reshape(rows, cols, -1)
    return resize(blocks.quantile(PAPER_QUANTILE, dim=-1)[None], (h, w), clip=False)[0]


def paper_ratio(page: torch.Tensor) -> torch.Tensor:
    """A ``[1 x] H x W`` page over its paper's brightness (``paper_level``): stains and shadows
    divided out."""
    grey = page.reshape(page.shape[-2:]).float()
    return grey / paper_level(grey).clamp(min=1e-3)


def _ink(ratio: np.ndarray) -> np.ndarray:
    """Dark pixels of an ``H x W`` page over its paper's brightness (``paper_ratio``): Otsu's
    threshold on that ratio, so that a stain or a shadow is not ink; none on a page without
    contrast or smaller than PAPER_BLOCKS."""
    # pages only: every command that uses a model imports this module
    from skimage.filters import threshold_otsu

    if min(ratio.shape) < PAPER_BLOCKS or float(ratio.max() - ratio.min()) < 1e-3:
        return np.zeros(ratio.shape, bool)
    return ratio < threshold_otsu(ratio)


def line_pitch(ink: np.ndarray) -> float | None:
    """Period of the rows' ink profile (px, sub-pixel), or None when it has no clear period."""
    profile = ink.mean(axis=1, dtype=np.float64)
    profile = profile - profile.mean()
    n = len(profile)
    if n < 8 or not profile.any():
        return None
    spectrum = np.fft.rfft(profile, 2 * n)
    corr = np.fft.irfft(spectrum * np.conj(spectrum))[: n // 2]
    corr /= corr[0]
    below = np.flatnonzero(corr < 0)
    if not len(below):
        return None
    # the first peak nearly as high as the highest (paragraph gaps can make two periods' highest)
    rest = corr[below[0] :]
    peaks = below[0] + np.flatnonzero((rest[1:-1] >= rest[:-2]) & (rest[1:-1] >= rest[2:])) + 1
    if not len(peaks) or corr[peaks].max() < MIN_PEAK:
        return None
    k = int(peaks[np.argmax(corr[peaks] >= PEAK_SHARE * corr[peaks].max())])
    y0, y1, y2 = corr[k - 1], corr[k], corr[k + 1]
    curvature = y0 - 2 * y1 + y2
    return float(k + (0.5 * (y0 - y2) / curvature if curvature < 0 else 0.0))


def letter_height(ink: np.ndarray) -> float | None:
    """Median height (px) of the letter-sized dark blobs: taller than 2 px, narrower than a tenth
    of the page and not much wider than tall (stains and rules are left out)."""
    from scipy import ndimage

    labels, n = ndimage.label(ink)
    if n == 0:
        return None
    boxes = ndimage.find_objects(labels)
    heights = np.array([b[0].stop - b[0].start for b in boxes])
    widths = np.array([b[1].stop - b[1].start for b in boxes])
    letters = heights[(heights > 2) & (heights < ink.shape[0] / 10) & (widths < 3 * heights)]
    return float(np.median(letters)) if len(letters) >= MIN_LETTERS else None


def measure_text(page: torch.Tensor) -> TextSize:
    """``text_size`` of a ``[1 x] H x W`` grey page in [0, 1]."""
    return text_size(paper_ratio(page))


def text_size(ratio: torch.Tensor) -> TextSize:
    """The text size of a page given as its ``paper_ratio`` (see the module's docstring); nothing
    on a page that is not mostly paper, and no line pitch without letters (the rows of a photo's
    shading can be as regular as lines)."""
    ink = _ink(ratio := ratio.numpy())
    if ink.mean() > MAX_INK:
        return TextSize(None, None)
    letter = letter_height(ink)
    if letter is None:
        return TextSize(None, None)
    level = float(np.clip(np.quantile(ratio[ink], INK_QUANTILE), 0, 1))
    return TextSize(line_pitch(ink), letter, level)


def candidate_factors(size: TextSize, training: TrainingText) -> list[tuple[float, float]]:
    """The factors that bring a page's text to a size the training pages had, largest first, each
    with the most detail it may lose (``working_factor``): 1 when its line pitch is inside their
    range (within TOLERANCE), and those that bring the pitch to the range's low, median and high
    (on Kaggle's pages its three type sizes: 22.9, 28.2 and 37.3 px) by shrinking the page more
    than TOLERANCE (each losing at most what the training pages, and Kaggle's, lose). Text smaller
    than the range is enlarged to the median; a page without lines
    but with letters larger than the range is shrunk to the median letter (small blobs without
    lines are more often specks than small type); 1 without text. The last two and 1 may lose
    anything."""
    if size.pitch is not None:
        low, typical, high = training.pitch
        if size.pitch < low / TOLERANCE:
            return [(max(size.pitch / typical, MIN_FACTOR), math.inf)]
        # at most what Kaggle's scans lose: a run on generated pages recorded 0.285 for its small
        # type, and unenlarged generated pages passed at 1.1-1.8x (quick tour, RMSE 0.080 against
        # 0.045 cleaned as they were)
        shrinking = [
            (min(size.pitch / end, MAX_FACTOR), min(lost, kaggle))
            for end, lost, kaggle in zip(training.pitch, training.detail, KAGGLE_DETAIL)
            if size.pitch / end > TOLERANCE  # a page shrunk less loses nothing, whatever it is
        ]
        inside = [(1.0, math.inf)] if size.pitch <= high * TOLERANCE else []
        return sorted(shrinking, reverse=True) + inside
    if size.letter is not None and size.letter > training.letter[2] * TOLERANCE:
        return [(min(size.letter / training.letter[1], MAX_FACTOR), math.inf)]
    return [(1.0, math.inf)]


def working_factor(
    size: TextSize, training: TrainingText, loss: Callable[[float], float]
) -> tuple[float, bool]:
    """The factor a page is cleaned at, and whether it loses nothing there: of
    ``candidate_factors``, the largest at which the page loses no more detail (``loss(factor)``,
    its ``round_trip_loss``) than a training page of that text size loses at its own resolution.
    A page enlarged from a training-sized one carries no finer detail than it had, so it can be
    shrunk by its enlargement and no further; cleaned there it looks like the pages the model
    learned from, in text size and in sharpness. The text size alone cannot tell that scale: a 2x
    page of Kaggle's small type has the pitch of a 1.23x page of its middle size. A page that
    loses detail at every candidate (a sharp scan larger than the range) goes to the median."""
    candidates = candidate_factors(size, training)
    if len(candidates) == 1:
        return candidates[0][0], False
    for factor, most in candidates:
        if factor == 1.0 or loss(factor) <= most:
            return factor, factor != 1.0
    return size.pitch / training.pitch[1], False


def shrink(page: torch.Tensor, size: tuple[int, int], clip: bool = True) -> torch.Tensor:
    """A ``C x H x W`` page resampled down to ``size`` (antialiased bicubic: unlike area
    averaging it keeps an even grid at factors that are not whole numbers); ``clip``: to [0, 1]."""
    small = F.interpolate(
        page[None].float(), size=size, mode="bicubic", antialias=True, align_corners=False
    )[0]
    return small.clamp(0, 1) if clip else small


def round_trip_loss(ratio: torch.Tensor, factor: float) -> float:
    """How much of a page's detail is lost when it is shrunk by ``factor`` and enlarged back: the
    RMS of the difference over the RMS of the page's own variation, on ``ratio`` (an ``H x W`` page
    over its paper's level, so that stains do not count)."""
    h, w = ratio.shape
    small = shrink(ratio[None], (max(8, round(h / factor)), max(8, round(w / factor))), clip=False)
    back = F.interpolate(small[None], size=(h, w), mode="bicubic", align_corners=False)[0, 0]
    spread = float((ratio - ratio.mean()).square().mean().sqrt())
    return float((ratio - back).square().mean().sqrt()) / max(spread, 1e-6)


def registered_size(ratio: torch.Tensor, size: tuple[int, int]) -> tuple[int, int]:
    """The working size, within SCALE_ERROR of ``size`` per side, at which an enlarged page
    (``ratio``, ``H x W``) sampled down and enlarged back bicubically loses least: the grid it was
    enlarged from. The measured factor is right within 0.4%, which on a 1,680 px page is a pixel
    off that grid, and sampled half a pixel off, the small page came out blurred (held-out pages
    at 4x: RMSE 0.0256 against 0.0150 on the exact grid)."""
    best = []
    for axis, n in enumerate(size):
        full = ratio.shape[axis]

        def lost(m: int, axis: int = axis, full: int = full) -> float:
            shape = [m if a == axis else ratio.shape[a] for a in (0, 1)]
            small = F.interpolate(ratio[None, None], size=shape, mode="bicubic")
            back = F.interpolate(small, size=tuple(ratio.shape), mode="bicubic")[0, 0]
            return float((back - ratio).square().mean())

        reach = math.ceil(n * SCALE_ERROR)
        best.append(min((m for m in range(n - reach, n + reach + 1) if 8 <= m <= full), key=lost))
    return best[0], best[1]


def ink_gain(size: TextSize, training: TrainingText) -> float:
    """How much darker the page's ink must be made to look like the training pages' typical ink:
    1 unless it is fainter than their faintest (within TOLERANCE of its contrast). A cleaner that
    only saw dark ink takes faint strokes for stains: on generated A4 pages (grey ink on grey
    paper, fainter than any Kaggle page) it erased every thin stroke and read 41-96% wrong."""
    if size.ink is None:
        return 1.0
    contrast, typical, faintest = 1 - size.ink, 1 - training.ink[1], 1 - training.ink[2]
    if contrast * TOLERANCE >= faintest:
        return 1.0
    return min(typical / max(contrast, 1e-3), MAX_GAIN)


def darken(page: torch.Tensor, gain: float) -> torch.Tensor:
    """A ``C x H x W`` page with each channel's ink ``gain`` times further below its paper."""
    paper = torch.stack([paper_level(channel) for channel in page.float()])
    return (paper - gain * (paper - page)).clamp_(0, 1)


@dataclass
class CleanedPage:
    pixels: torch.Tensor  # C x H x W, the page's own size
    factor: float  # the page's text size over the training range's (1: cleaned as it is)
    size: TextSize | None  # None: not measured (a model that is not fully convolutional)
    gain: float = 1.0  # how much darker its ink was made first (``ink_gain``; 1: as it was)


def clean_page(
    model: torch.nn.Module,
    page: torch.Tensor,
    training: TrainingText | None,
    *,
    bf16: bool = False,
    factor: float | None = None,
    dpi: float | None = None,
) -> CleanedPage:
    """A fully convolutional cleaner's output on a ``C x H x W`` page of any resolution: ink
    fainter than the training pages' is darkened first (``ink_gain``), the page is brought to the
    training text size when it is outside it (``working_factor``), cleaned in tiles and mapped
    back. A page that loses nothing at the working size (it was enlarged from one) is sampled down
    and enlarged back with the same bicubic kernel, which then loses nothing either; a sharp page
    is shrunk with antialiasing and carried back by ``guided_upsample``, which keeps its edges.
    ``training`` None: cleaned as it is. ``factor``: the page's scale over the training pages'
    where it is known (the benchmark's oracle, which splits the error of the scale decision from
    that of mapping back), not measured. ``dpi``: the file's, used where no text is found."""
    # the text and the detail the page has as it was given (darkening flattens strokes' cores)
    ratio = paper_ratio(page[:1])
    size = text_size(ratio)
    if size.letter is None and dpi is not None and dpi >= MIN_DPI:  # pitch without letters: hint
        size = TextSize(dpi * DPI_PITCH, None)
    gain = 1.0 if training is None else ink_gain(size, training)
    if gain != 1.0:
        page = darken(page, gain)
    lossless = False
    if training is not None and (factor is None or factor > 1):
        loss = lambda f: round_trip_loss(ratio, f)
        if factor is None:
            factor, lossless = working_factor(size, training, loss)
        else:
            lossless = loss(factor) <= max(training.detail)
    if factor is None or factor == 1.0:
        return CleanedPage(tiled_reconstruct(model, page, bf16=bf16), 1.0, size, gain)
    h, w = page.shape[-2:]
    size_small = (max(8, round(h / factor)), max(8, round(w / factor)))
    if lossless:
        size_small = registered_size(ratio, size_small)
        small = F.interpolate(page[None], size=size_small, mode="bicubic", align_corners=False)
        cleaned = tiled_reconstruct(model, small[0].clamp(0, 1), bf16=bf16)
        back = F.interpolate(cleaned[None], size=(h, w), mode="bicubic", align_corners=False)
        return CleanedPage(back[0].clamp(0, 1), factor, size, gain)
    small = shrink(page, size_small)
    cleaned = tiled_reconstruct(model, small, bf16=bf16)
    back = guided_upsample(page, small, cleaned) if factor > 1 else resize(cleaned, (h, w))
    return CleanedPage(back, factor, size, gain)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2 radius + 1)`` square window, edges repeated."""
    padded = F.pad(x[None], (radius,) * 4, mode="replicate")
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)[0]


def guided_upsample(
    page: torch.Tensor,
    small: torch.Tensor,
    cleaned: torch.Tensor,
    radius: int = GUIDE_RADIUS,
    eps: float = GUIDE_EPS,
) -> torch.Tensor:
    """The cleaning done on ``small`` (``page`` shrunk) carried to ``page``'s own resolution.

    Within each small window the cleaned page is fitted as a linear function of the shrunk page
    (a gain and an offset: background removal and contrast are locally linear), and the fitted
    maps, enlarged, are applied to the full-resolution page (He and Sun's fast guided filter,
    2015). Letters keep the sharp edges of the scan instead of the blur of an enlarged small page:
    on a clean page shrunk 2.6x, 0.005 RMSE against 0.075 for plain enlargement. Measured on
    cleaned pages (benchmarks/README.md, scans): on sharp A4 pages at 300 dpi it beat bicubic
    enlargement (0.106 against 0.113), on Kaggle pages that were themselves enlarged bicubically
    it lost to it (0.014-0.028 against 0.010-0.029), and where a page had to be shrunk below its
    own text size (small type) it kept the letters that enlargement could not bring back."""
    mean_i, mean_p = _box(small, radius), _box(cleaned, radius)
    var_i = _box(small * small, radius) - mean_i * mean_i
    gain = (_box(small * cleaned, radius) - mean_i * mean_p) / (var_i + eps)
    offset = mean_p - gain * mean_i
    size = tuple(page.shape[-2:])
    return (
        resize(_box(gain, radius), size, clip=False) * page
        + resize(_box(offset, radius), size, clip=False)
    ).clamp_(0, 1)


def describe(page: CleanedPage) -> str | None:
    """One line for a page cleaned at another scale or with its ink darkened; None for neither."""
    said = []
    if page.gain != 1.0:
        said.append(f"ink fainter than the training pages': darkened {page.gain:.2f}x")
    if page.size is not None and page.size.letter is None and page.size.pitch is not None:
        said.append("no text to measure: the scale is the file's dpi's")
    if page.factor != 1.0:
        which = "larger" if page.factor > 1 else "smaller"
        ratio = page.factor if page.factor > 1 else 1 / page.factor
        said.append(
            f"text {ratio:.2f}x {which} than the training pages': cleaned at "
            f"{100 / page.factor:.0f}% size and mapped back"
        )
    return "; ".join(said) or None


def training_text(
    run_dir: Path, info: RunConfig | None, note: Callable[[str], None] = print
) -> TrainingText:
    """The text sizes a page run was trained on: recorded in its ``data.json`` by the trainer; for
    a run trained before that, measured on its training pages again, or, where they are not here,
    the Kaggle pages' range (said in one line)."""
    notes = Path(run_dir) / DATA_NOTES
    if notes.is_file():
        recorded = read_json(notes)
        if isinstance(recorded, dict) and isinstance(recorded.get("text"), dict):
            try:
                return TrainingText.from_json(recorded["text"])
            except (KeyError, TypeError, ValueError):
                raise ConfigError(
                    "'text' must hold 'pitch', 'letter' and 'ink' (optional) as [low, median, "
                    "high]",
                    notes,
                ) from None

    try:
        if info is None:
            raise ConfigError("config.json is not at hand", Path(run_dir))
        measured = TrainingText.of_pages(load(info.dataset, "train", **info.data_options()).noisy)
    except AekitError as exc:
        measured, why = None, f"its pages cannot be read: {exc}"
    else:
        why = "its pages hold no text to measure"
    if measured is None:
        note(
            f"the run records no training text size and {why}; assuming the Kaggle pages' (line "
            "pitch 22.9-37.3 px, median 28.2)"
        )
        return KAGGLE_TEXT
    return measured
