"""Damage of scanned pages: what turns a clean page into the dirty scan of it.

The paper (tone, illumination, shadows, grain, stains, folds) multiplies the faded ink, then the
scan blurs and adds grain, specks and salt-and-pepper (``damage_page``). Every kind of damage is
switched and scaled by one ``DamageConfig`` and drawn from its own generator, so a page is
byte-identical on rerun and switching one kind off leaves the others as they were. The pages it
damages are rendered by ``synthetic_documents``; arrays are float32 ``H x W`` in [0, 1], 1 = white.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
from PIL import Image

from aekit.errors import AekitError, ConfigError


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; scipy is imported here, not with the module (every command that reads data
    imports this one, and only making pages needs scipy)."""
    from scipy import ndimage

    return ndimage.gaussian_filter(image, sigma)


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
            raise ConfigError(
                f"unknown damage kind {kind!r}; choose from {', '.join(DAMAGE_KINDS)}"
            )
        value = getattr(cls(), kind) if strength is None else strength
        return replace(cls.off(), **{kind: value})


DAMAGE_KINDS = tuple(f.name for f in fields(DamageConfig) if not f.name.startswith("max_"))


# --- damage -----------------------------------------------------------------------------------
def _smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Random field with features about ``scale`` pixels wide, zero mean and unit std."""
    h, w = shape
    coarse = rng.standard_normal((max(2, int(h / scale) + 2), max(2, int(w / scale) + 2))).astype(
        np.float32
    )
    field = np.asarray(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC))
    return (field - field.mean()) / (field.std() + 1e-6)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates as an ``H x 1`` and a ``1 x W`` array (they broadcast)."""
    return np.arange(shape[0], dtype=np.float32)[:, None], np.arange(shape[1], dtype=np.float32)[
        None, :
    ]


def stain_field(
    shape: tuple[int, int],
    centre: tuple[float, float],
    radius: float,
    strength: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Multiplicative darkening of one coffee/water stain centred at ``centre`` (row, col).

    A wobbly ring whose rim is darkest (sharp outside, soft towards the inside, as coffee dries
    at its edge), often broken into arcs, around a faintly tinted inside.
    """
    yy, xx = _grid(shape)
    dy, dx = yy - centre[0], xx - centre[1]
    dist = np.hypot(dy, dx)
    theta = np.arctan2(dy, dx)
    wobble = sum(
        rng.uniform(0, 0.06) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in range(2, 6)
    )
    edge = dist - radius * (1 + wobble)
    width = radius * rng.uniform(0.05, 0.18)
    rim = np.exp(-((edge / np.where(edge > 0, 0.4 * width, width)) ** 2))
    arcs = rng.uniform(0.3, 1.2) + sum(
        rng.uniform(0, 0.6) * np.cos(k * theta + rng.uniform(0, 2 * np.pi)) for k in (1, 2, 3)
    )
    inside = 1 / (1 + np.exp(np.clip(edge / width, -30, 30)))
    darkness = strength * (rim * np.clip(arcs, 0, 1) + rng.uniform(0.05, 0.3) * inside)
    return (1 - np.clip(darkness, 0, 0.95)).astype(np.float32)


def crease_field(
    shape: tuple[int, int],
    point: tuple[float, float],
    angle: float,
    strength: float,
    rng: np.random.Generator,
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
    darkness = strength * (
        0.6 * shading + rng.uniform(0.6, 1.2) * np.exp(-0.5 * (across / crest) ** 2)
    )
    return (1 - darkness).astype(np.float32)


def illumination_field(
    shape: tuple[int, int], strength: float, rng: np.random.Generator
) -> np.ndarray:
    """Smooth brightness in ``[1 - strength, 1]``: a tilted gradient plus broad waves, as from a
    lamp."""
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
        darkness += rng.uniform(0.5, 1) * np.exp(
            -0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2)
        )
    return (1 - strength * np.clip(darkness, 0, 1)).astype(np.float32)


def _texture(
    shape: tuple[int, int], strength: float, rng: np.random.Generator, scale: float = 1.0
) -> np.ndarray:
    """Paper grain (fine fibres) and mottling (soft blotches tens of pixels wide)."""
    grain = _blur(rng.standard_normal(shape).astype(np.float32), 0.8 * scale)
    grain /= grain.std() + 1e-6
    blotches = np.tanh(2 * _smooth_noise(shape, rng.uniform(8, 30) * scale, rng))
    return (1 - strength * (0.6 * grain + 1.2 * blotches)).astype(np.float32)


def _fade(
    shape: tuple[int, int], strength: float, rng: np.random.Generator, scale: float = 1.0
) -> np.ndarray:
    """Fraction of ink darkness kept: unevenly faded, most in some places, less in others."""
    patchy = 0.5 + 0.5 * np.tanh(_smooth_noise(shape, rng.uniform(40, 160) * scale, rng))
    return (1 - strength * (0.2 + 0.8 * patchy)).astype(np.float32)


def _speckle(
    image: np.ndarray, strength: float, rng: np.random.Generator, scale: float = 1.0
) -> np.ndarray:
    """Scan grain (relative Gaussian noise) and a sprinkle of small dark dust specks."""
    noisy = image * (1 + strength * rng.standard_normal(image.shape).astype(np.float32))
    h, w = image.shape
    n_specks = int(rng.poisson(strength * h * w / 1500 / scale**2))
    if n_specks:
        dots = np.zeros(image.shape, np.float32)
        dots[rng.integers(0, h, n_specks), rng.integers(0, w, n_specks)] = rng.uniform(
            0.4, 1, n_specks
        )
        dots = np.clip(_blur(dots, rng.uniform(0.5, 1.0) * scale) * 4 * scale**2, 0, 0.9)
        noisy *= 1 - dots
    return noisy


def damage_page(
    clean: np.ndarray, config: DamageConfig, rng: np.random.Generator, scale: float = 1.0
) -> np.ndarray:
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
    kind_rngs = dict(
        zip(
            DAMAGE_KINDS,
            (np.random.default_rng(s) for s in rng.integers(0, 2**63, len(DAMAGE_KINDS))),
        )
    )

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
            paper *= crease_field(
                shape, point, r.uniform(0, np.pi), strength * r.uniform(0.5, 1), r, scale
            )

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
