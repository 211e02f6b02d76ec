"""A blind look: generated sprites of one class shuffled with real test sprites of it on one sheet.

Writes ``OUT/blind-sheet.png`` (8 columns, each cell numbered by its row and column in the file
name's key, 4x nearest, over the checkerboard) and ``OUT/blind-key.json`` (which cells are
generated). Look at the sheet, write down the cells you take for generated, then score yourself:

    python benchmarks/blind_look.py RUN_SAMPLES_DIR OUT --dataset crawl-tiles --class main --n 32
    python benchmarks/blind_look.py --score OUT/blind-key.json 3 7 12 ...
"""

from __future__ import annotations

import argparse
import json
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from aekit.alpha import composite
from aekit.data import load
from aekit.images import read_image_file
from aekit.io import atomic_write_bytes, atomic_write_json

COLUMNS, SCALE = 8, 4


def make(samples: Path, out: Path, dataset: str, class_name: str, n: int, seed: int) -> None:
    files = sorted(samples.glob("sample_*.png"))[:n]
    generated = torch.stack([read_image_file(f).pixels.float() for f in files])
    test = load(dataset, "test")
    rows = torch.nonzero(test.labels == test.class_names.index(class_name)).flatten()
    rows = rows[
        torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[: len(generated)]
    ]
    real = test.images[rows]
    both = torch.cat([generated, real])
    order = torch.randperm(len(both), generator=torch.Generator().manual_seed(seed + 1))
    shown = composite(both[order])
    side = shown.shape[-1] * SCALE
    cell = side + 4
    sheet = Image.new(
        "RGB",
        (COLUMNS * cell, (len(shown) + COLUMNS - 1) // COLUMNS * (cell + 12)),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(shown):
        array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        tile = Image.fromarray(array).resize((side, side), Image.NEAREST)
        x, y = (i % COLUMNS) * cell, (i // COLUMNS) * (cell + 12)
        sheet.paste(tile, (x + 2, y + 12))
        draw.text((x + 2, y), str(i), fill=(0, 0, 0))
    buffer = BytesIO()
    sheet.save(buffer, "PNG")
    atomic_write_bytes(out / "blind-sheet.png", buffer.getvalue())
    atomic_write_json(
        out / "blind-key.json",
        {
            "generated_cells": sorted(
                int(k) for k in torch.nonzero(order < len(generated)).flatten()
            ),
            "cells": len(both),
            "class": class_name,
            "samples": str(samples),
        },
    )
    print(
        f"wrote {out / 'blind-sheet.png'} ({len(both)} cells) and its key; look before reading "
        "the key"
    )


def score(key_file: Path, guesses: list[int]) -> None:
    key = json.loads(key_file.read_text())
    truth, guessed = set(key["generated_cells"]), set(guesses)
    right = key["cells"] - len(truth ^ guessed)
    print(
        f"{right} of {key['cells']} cells right; generated taken for real: "
        f"{sorted(truth - guessed)}; real taken for generated: {sorted(guessed - truth)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="SAMPLES_DIR OUT, or with --score: KEY cells...")
    parser.add_argument("--score", action="store_true")
    parser.add_argument("--dataset", default="crawl-tiles")
    parser.add_argument("--class", dest="class_name", default="main")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.score:
        score(Path(args.paths[0]), [int(c) for c in args.paths[1:]])
    else:
        make(
            Path(args.paths[0]),
            Path(args.paths[1]),
            args.dataset,
            args.class_name,
            args.n,
            args.seed,
        )


if __name__ == "__main__":
    main()
