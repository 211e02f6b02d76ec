"""A colour sprite set of our own: 32x32 RGBA potions, gems and shields drawn procedurally.

Each sprite is pixel art: hard-edged shapes in a random palette (a base colour, its shade and
highlight), a dark outline, a transparent background, random size, position and details. Written
as ``OUT/<class>/<index>.png``, a layout ``aekit train --dataset folder:OUT --image-size 32`` reads
with the classes as labels.

    python benchmarks/make_trinkets.py OUT --n 3000 --seed 0
"""

from __future__ import annotations

import argparse
import colorsys
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from aekit.io import atomic_write_bytes

SIDE = 32
CLASSES = ("gem", "potion", "shield")


def _palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base colour, shade and highlight (RGB 0-255) of one random hue."""
    hue, sat, val = rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.55, 0.95)

    def rgb(s: float, v: float) -> np.ndarray:
        return np.array(colorsys.hsv_to_rgb(hue, min(s, 1.0), min(v, 1.0))) * 255

    return rgb(sat, val), rgb(sat, val * 0.6), rgb(sat * 0.35, min(1.0, val * 1.3))


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels next to ``mask`` (4-neighbours) that are not in it."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown & ~mask


def _shape(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(body mask, shaded part, highlight) of one object on the 32x32 grid."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(float)
    cx, cy = 15.5 + rng.integers(-3, 4), 15.5 + rng.integers(-2, 3)
    if kind == "gem":
        r = rng.uniform(6, 11)
        squash = rng.uniform(0.7, 1.2)
        body = np.abs(x - cx) / squash + np.abs(y - cy) <= r  # a diamond
        if rng.random() < 0.5:  # a cut top
            body &= y >= cy - r * 0.6
        shade = body & (x > cx) & (y > cy - 1)
        light = body & (
            np.abs(x - (cx - r * 0.3 * squash)) + np.abs(y - (cy - r * 0.3)) <= r * 0.25
        )
    elif kind == "potion":
        r = rng.uniform(5, 9)
        by = cy + rng.uniform(1, 4)
        flask = (x - cx) ** 2 + (y - by) ** 2 <= r * r
        neck_w = rng.integers(1, 3)
        neck = (np.abs(x - cx) <= neck_w) & (y >= by - r - rng.integers(4, 8)) & (y <= by - r + 1)
        body = flask | neck
        level = by - r * rng.uniform(-0.5, 0.6)
        shade = flask & (y >= level)  # the liquid, in the shade colour
        light = flask & ((x - (cx - r * 0.4)) ** 2 + (y - (by - r * 0.4)) ** 2 <= (r * 0.25) ** 2)
    else:  # shield
        w, h = rng.uniform(6, 10), rng.uniform(8, 12)
        top = y <= cy
        body = (np.abs(x - cx) <= w) & (y >= cy - h * 0.6) & top
        body |= ((x - cx) / w) ** 2 + ((y - cy) / (h * 0.6)) ** 2 <= 1  # rounded bottom
        body &= y >= cy - h * 0.6
        if rng.random() < 0.5:  # a cross
            shade = body & ((np.abs(x - cx) <= 1) | (np.abs(y - (cy - h * 0.1)) <= 1))
        else:  # a border
            inner = (np.abs(x - cx) <= w - 2) & (y >= cy - h * 0.6 + 2) & (y <= cy)
            inner |= ((x - cx) / (w - 2)) ** 2 + ((y - cy) / (h * 0.6 - 2)) ** 2 <= 1
            shade = body & ~inner
        light = body & (np.abs(x - cx - w * 0.4) <= 1) & (np.abs(y - cy) <= 1)
    return body, shade & body, light & body & ~shade


def draw(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One ``32 x 32 x 4`` uint8 sprite of ``kind``."""
    body, shade, light = _shape(kind, rng)
    base, dark, bright = _palette(rng)
    image = np.zeros((SIDE, SIDE, 4))
    image[body, :3], image[shade, :3], image[light, :3] = base, dark, bright
    image[body, 3] = 255
    edge = _outline(body)
    image[edge, :3] = dark * 0.35
    image[edge, 3] = 255
    if rng.random() < 0.5:
        image = image[:, ::-1]
    return image.round().astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument(
        "--n", type=int, default=3000, help="sprites in all, spread evenly over the classes"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for i in range(args.n):
        kind = CLASSES[i % len(CLASSES)]
        folder = Path(args.out) / kind
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(draw(kind, rng), "RGBA")
        buffer = BytesIO()
        image.save(buffer, "PNG")
        atomic_write_bytes(folder / f"{i:05d}.png", buffer.getvalue())
    print(f"wrote {args.n} sprites ({', '.join(CLASSES)}) to {args.out}")


if __name__ == "__main__":
    main()
