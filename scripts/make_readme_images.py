"""Draw the README's pictures that need no trained model: synthetic dirty/clean page pairs and
synthetic floor plans with their footprints.

Run from the repository root: ``.venv/bin/python scripts/make_readme_images.py``. Pages and
plans come from fixed seeds, so rerunning rewrites the same pictures.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from aekit.data import floorplans as fp
from aekit.data.page_damage import DamageConfig, damage_page
from aekit.data.synthetic_documents import render_clean_page
from aekit.io import atomic_write_bytes

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
OUT = IMAGES / "synthetic_documents.png"


def synthetic_documents_figure(n_pairs: int = 3, seed: int = 0, scale: float = 0.6) -> Image.Image:
    """Rows of (dirty, clean) page pairs, scaled down, with a caption over each column."""
    pages = []
    for i in range(n_pairs):
        rng = np.random.default_rng([seed, i])
        clean = render_clean_page((540, 258), rng)
        pages.append((damage_page(clean, DamageConfig(), rng), clean))
    w, h = round(540 * scale), round(258 * scale)
    gap, top = 8, 24
    sheet = Image.new("L", (2 * w + 3 * gap, top + n_pairs * (h + gap)), 255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for col, title in enumerate(("dirty (model input)", "clean (target)")):
        draw.text((gap + col * (w + gap), 4), title, font=font, fill=0)
    for row, pair in enumerate(pages):
        for col, page in enumerate(pair):
            tile = Image.fromarray(np.round(page * 255).astype(np.uint8)).resize(
                (w, h), Image.Resampling.LANCZOS
            )
            sheet.paste(tile, (gap + col * (w + gap), top + row * (h + gap)))
    return sheet


def floorplans_figure(seed: int = 0, zoom: int = 4) -> Image.Image:
    """Six (footprint, plan) pairs, two rows of three, with the palette as a legend below: a
    courtyard, a rectangle and four other outlines, from small to large."""
    footprints, plans = fp.make_floorplans(200, seed=seed)
    masks = footprints[:, 0].astype(bool)
    holes = [i for i, m in enumerate(masks) if ndimage.label(~m)[1] > 1]
    rectangles = [i for i, m in enumerate(masks) if not fp.is_irregular(m)]
    others = sorted(
        (i for i, m in enumerate(masks) if fp.is_irregular(m) and i not in holes),
        key=lambda i: masks[i].sum(),
    )
    chosen = [
        others[10],
        rectangles[0],
        others[len(others) // 3],
        others[2 * len(others) // 3],
        holes[0],
        others[-3],
    ]
    side, gap, pair_gap, legend = 64 * zoom, 6, 20, 64
    sheet = Image.new(
        "RGB",
        (3 * (2 * side + gap) + 4 * pair_gap, 2 * side + 3 * pair_gap + legend),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for k, i in enumerate(chosen):
        outline = np.where(footprints[i, 0, ..., None] > 0, np.uint8(255), np.uint8(0)).repeat(
            3, axis=2
        )
        outline[footprints[i, 1] > 0] = fp.PALETTE[fp.ENTRANCE]
        x = pair_gap + (k % 3) * (2 * side + gap + pair_gap)
        y = pair_gap + (k // 3) * (side + pair_gap)
        for j, picture in enumerate((outline, fp.PALETTE[plans[i]])):
            tile = Image.fromarray(picture).resize((side, side), Image.Resampling.NEAREST)
            sheet.paste(tile, (x + j * (side + gap), y))
            draw.rectangle(
                (x + j * (side + gap) - 1, y - 1, x + j * (side + gap) + side, y + side),
                outline=(160, 160, 160),
            )
    y = 2 * side + 3 * pair_gap
    draw.text(
        (pair_gap, y - pair_gap + 2),
        "footprint (white, entrance mark yellow) | plan",
        font=font,
        fill=0,
    )
    for k, name in enumerate(fp.CLASSES):
        x = pair_gap + (k % 5) * 170
        row_y = y + 8 + (k // 5) * 26
        draw.rectangle(
            (x, row_y, x + 18, row_y + 18),
            fill=tuple(int(v) for v in fp.PALETTE[k]),
            outline=(0, 0, 0),
        )
        draw.text((x + 26, row_y + 1), f"{k} {name}", font=font, fill=0)
    return sheet


def main() -> None:
    for figure, out in (
        (synthetic_documents_figure(), OUT),
        (floorplans_figure(), IMAGES / "floorplans.png"),
    ):
        buffer = io.BytesIO()
        figure.save(buffer, format="PNG", optimize=True)
        atomic_write_bytes(out, buffer.getvalue())
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
