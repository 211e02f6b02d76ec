"""Draw the README's pictures that need no trained model: synthetic dirty/clean page pairs.

Run from the repository root: ``.venv/bin/python scripts/make_readme_images.py``. The pages
come from a fixed seed, so rerunning rewrites the same picture.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from aekit.data.synthetic_documents import DamageConfig, damage_page, render_clean_page
from aekit.io import atomic_write_bytes

OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "synthetic_documents.png"


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
            tile = Image.fromarray(np.round(page * 255).astype(np.uint8)).resize((w, h), Image.Resampling.LANCZOS)
            sheet.paste(tile, (gap + col * (w + gap), top + row * (h + gap)))
    return sheet


def main() -> None:
    buffer = io.BytesIO()
    synthetic_documents_figure().save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(OUT, buffer.getvalue())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
