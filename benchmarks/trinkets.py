"""Make a colour sprite set of our own ("trinkets"), to try aekit's game-asset path on images that
are not the crawl tiles (issue 24): 32x32 RGBA pixel art in five classes, one folder each.

Each sprite is drawn directly on the 32x32 grid with PIL (no anti-aliasing, as pixel art is):
a dark one-pixel outline, a base colour, a shade and a highlight taken from one random hue, on a
transparent background, at a random size and offset. Classes: potion (a bottle of coloured
liquid), gem (a faceted polygon), sword (blade, guard, grip, pommel, at a random angle), shield
(a heater or round shield with a charge), ring (a band with a stone). Seeded: the same seed gives
the same files.

    python benchmarks/trinkets.py --out /tmp/trinkets --per-class 600
    aekit train --dataset folder:/tmp/trinkets --max-minutes 30 --out /tmp/trinkets-run
"""

from __future__ import annotations

import argparse
import colorsys
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 32
CLASSES = ("potion", "gem", "sword", "shield", "ring")


def _colour(hue: float, saturation: float, value: float, alpha: int = 255) -> tuple[int, ...]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255), alpha


class Shades:
    """Base, shade, highlight and outline of one hue."""

    def __init__(self, rng: np.random.Generator, hue: float | None = None, grey: bool = False):
        hue = rng.random() if hue is None else hue
        saturation = 0.0 if grey else rng.uniform(0.55, 0.95)
        value = rng.uniform(0.6, 0.95)
        self.base = _colour(hue, saturation, value)
        self.shade = _colour(hue, saturation, value * 0.6)
        self.light = _colour(hue, saturation * 0.35, min(1.0, value * 1.25))
        self.outline = _colour(hue, saturation * 0.8, 0.18)


def _potion(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    glass, liquid = Shades(rng, hue=rng.uniform(0.5, 0.6), grey=rng.random() < 0.5), Shades(rng)
    r = int(rng.integers(6, 11))
    cx, cy = 16 + int(rng.integers(-2, 3)), 20 + int(rng.integers(-2, 2))
    neck_w, neck_h = int(rng.integers(2, 4)), int(rng.integers(4, 8))
    body = (cx - r, cy - r, cx + r, cy + r)
    draw.rectangle(
        (cx - neck_w - 1, cy - r - neck_h - 1, cx + neck_w + 1, cy - r + 1), fill=glass.outline
    )
    draw.rectangle((cx - neck_w, cy - r - neck_h, cx + neck_w, cy - r + 1), fill=glass.base)
    draw.ellipse(body, fill=glass.base, outline=glass.outline)
    level = cy - r + int(rng.integers(r // 2, r + 1))
    draw.chord((cx - r + 1, cy - r + 1, cx + r - 1, cy + r - 1), 0, 180, fill=liquid.base)
    draw.rectangle((cx - r + 2, level, cx + r - 2, cy), fill=liquid.base)
    draw.arc((cx - r + 2, cy - r + 2, cx + r - 2, cy + r - 2), 30, 150, fill=liquid.shade)
    draw.point([(cx - r // 2, cy - r // 2), (cx - r // 2 + 1, cy - r // 2)], fill=glass.light)
    cork = Shades(rng, hue=0.08)
    draw.rectangle((cx - neck_w, cy - r - neck_h - 3, cx + neck_w, cy - r - neck_h), fill=cork.base)


def _gem(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    s = Shades(rng)
    sides = int(rng.choice([4, 5, 6, 8]))
    r = rng.uniform(7, 13)
    cx, cy = 16 + rng.uniform(-3, 3), 16 + rng.uniform(-3, 3)
    turn = rng.uniform(0, math.pi)
    squash = rng.uniform(0.7, 1.0)
    points = [
        (cx + r * math.cos(turn + 2 * math.pi * k / sides),
         cy + squash * r * math.sin(turn + 2 * math.pi * k / sides))
        for k in range(sides)
    ]  # fmt: skip
    draw.polygon(points, fill=s.base, outline=s.outline)
    inner = [(cx + 0.5 * (x - cx), cy + 0.5 * (y - cy)) for x, y in points]
    draw.polygon(inner, fill=s.light)
    for (x0, y0), (x1, y1) in zip(points, inner):
        draw.line((x0, y0, x1, y1), fill=s.shade)
    lower = [p for p in points if p[1] > cy]
    if len(lower) >= 2:
        draw.line(lower[:2], fill=s.shade, width=2)


def _sword(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    blade, hilt = Shades(rng, grey=rng.random() < 0.7), Shades(rng)
    angle = rng.uniform(-math.pi / 4, math.pi / 4) - math.pi / 2  # point upward, tilted
    length, width = rng.uniform(14, 22), int(rng.integers(2, 4))
    ux, uy = math.cos(angle), math.sin(angle)
    gx, gy = 16 - ux * 6, 16 - uy * 6  # the guard
    tip = (gx + ux * length, gy + uy * length)
    draw.line((gx, gy, *tip), fill=blade.outline, width=width + 2)
    draw.line((gx, gy, *tip), fill=blade.base, width=width)
    draw.line((gx, gy, tip[0] - uy * 0.6, tip[1] + ux * 0.6), fill=blade.light, width=1)
    guard = rng.uniform(4, 7)
    draw.line(
        (gx - uy * guard, gy + ux * guard, gx + uy * guard, gy - ux * guard),
        fill=hilt.shade,
        width=2,
    )
    grip = (gx - ux * 5, gy - uy * 5)
    draw.line((gx, gy, *grip), fill=hilt.outline, width=2)
    draw.ellipse((grip[0] - 1.5, grip[1] - 1.5, grip[0] + 1.5, grip[1] + 1.5), fill=hilt.base)


def _shield(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    field, charge = Shades(rng), Shades(rng)
    w, h = int(rng.integers(9, 13)), int(rng.integers(11, 15))
    cx, cy = 16 + int(rng.integers(-2, 3)), 16 + int(rng.integers(-2, 3))
    if rng.random() < 0.5:  # heater shield
        outline = [
            (cx - w, cy - h),
            (cx + w, cy - h),
            (cx + w, cy + h // 3),
            (cx, cy + h),
            (cx - w, cy + h // 3),
        ]
        draw.polygon(outline, fill=field.base, outline=field.outline)
        draw.line((cx - w + 1, cy - h + 1, cx - w + 1, cy), fill=field.light)
    else:
        draw.ellipse((cx - w, cy - w, cx + w, cy + w), fill=field.base, outline=field.outline)
        draw.arc((cx - w + 1, cy - w + 1, cx + w - 1, cy + w - 1), 190, 250, fill=field.light)
    kind = rng.integers(3)
    if kind == 0:  # a cross
        draw.rectangle((cx - 1, cy - h // 2, cx + 1, cy + h // 2), fill=charge.base)
        draw.rectangle((cx - w // 2, cy - 2, cx + w // 2, cy), fill=charge.base)
    elif kind == 1:  # a boss
        draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=charge.base, outline=charge.outline)
    else:  # a bend
        draw.line((cx - w + 3, cy - w + 3, cx + w - 3, cy + w // 2), fill=charge.base, width=3)


def _ring(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    band = Shades(rng, hue=rng.choice([0.12, 0.14, 0.0]), grey=rng.random() < 0.3)
    stone = Shades(rng)
    r = int(rng.integers(6, 10))
    cx, cy = 16 + int(rng.integers(-2, 3)), 18 + int(rng.integers(-2, 2))
    thick = int(rng.integers(2, 4))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=band.outline, width=thick + 2)
    draw.ellipse((cx - r + 1, cy - r + 1, cx + r - 1, cy + r - 1), outline=band.base, width=thick)
    draw.arc((cx - r + 1, cy - r + 1, cx + r - 1, cy + r - 1), 200, 260, fill=band.light)
    sr = int(rng.integers(2, 5))
    sy = cy - r
    draw.ellipse((cx - sr, sy - sr, cx + sr, sy + sr), fill=stone.base, outline=stone.outline)
    draw.point((cx - 1, sy - 1), fill=stone.light)


DRAWERS = {"potion": _potion, "gem": _gem, "sword": _sword, "shield": _shield, "ring": _ring}


def trinket(kind: str, rng: np.random.Generator) -> Image.Image:
    """One 32x32 RGBA sprite of class ``kind``."""
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    DRAWERS[kind](ImageDraw.Draw(image), rng)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def make_trinkets(out: Path, per_class: int, seed: int = 0) -> None:
    """``per_class`` sprites of each class into ``out/CLASS/NNNN.png``."""
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            trinket(kind, rng).save(folder / f"{i:04d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a folder for the class folders")
    parser.add_argument("--per-class", type=int, default=600, help="sprites per class (600)")
    parser.add_argument("--seed", type=int, default=0, help="the random seed (0)")
    args = parser.parse_args()
    make_trinkets(args.out, args.per_class, args.seed)
    print(f"{args.per_class * len(CLASSES)} sprites in {args.out}: {', '.join(CLASSES)}")


if __name__ == "__main__":
    main()
