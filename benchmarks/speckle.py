"""Where rainbow speckle comes from: reconstructions of colour test images, measured and shown.

For each run: PSNR against the test images and PCA with as many components as the code has
numbers; the share of pixels whose premultiplied colour exceeds their alpha (impossible colours:
written to a PNG they are divided by a small alpha and saturate); the share of channels sitting at
0 or 1 where the image's channel is not within 0.2 of it (the logistic's open edge bins let a
channel's location leave [0, 1] and come back clamped: primaries); and chroma speckle, the mean
absolute Laplacian of the colour differences (R - G, G - B) on the opaque pixels where the test
image's colour is flat. Saves ``OUT/speckle-NAME.png``: test images | reconstructions over the
checkerboard | the PNG files aekit writes (straight colour, 8 bits) made hard-edged by
``--alpha-threshold 0.25`` (each kept pixel shows its straight colour in full), 6x nearest.

    python benchmarks/speckle.py OUT RUN [RUN ...] --n 16
"""

from __future__ import annotations

import argparse
import json
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import aekit
from aekit.alpha import composite, premultiply, unpremultiply
from aekit.data import load
from aekit.gameart import threshold_alpha
from aekit.io import atomic_write_bytes
from aekit.metrics import psnr
from aekit.runs import read_run_config

THRESHOLD = 0.25


def chroma_speckle(x: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean |Laplacian| of R - G and G - B (straight colour) over the opaque pixels where
    ``truth``'s are flat (its Laplacian 0): colour noise where the image has none."""

    def laplacian(images: torch.Tensor) -> torch.Tensor:
        straight = unpremultiply(images)
        chroma = torch.stack([straight[:, 0] - straight[:, 1], straight[:, 1] - straight[:, 2]], 1)
        kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(2, 1, 3, 3)
        return F.conv2d(chroma, kernel, padding=1, groups=2).abs()

    flat = (laplacian(truth) < 1e-6) & (truth[:, 3:] > 0.99).expand(-1, 2, -1, -1)
    return float(laplacian(x)[flat].mean())


def pca_psnr(train: torch.Tensor, test: torch.Tensor, k: int) -> float:
    mean = train.flatten(1).mean(0)
    _, _, v = torch.pca_lowrank(train.flatten(1) - mean, q=k, center=False, niter=4)
    codes = (test.flatten(1) - mean) @ v
    return psnr((codes @ v.T + mean).clamp(0, 1).view_as(test), test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--n", type=int, default=16, help="test images shown")
    args = parser.parse_args()
    torch.manual_seed(0)
    for run_dir in args.runs:
        model = aekit.load(run_dir).eval()
        config = read_run_config(run_dir)["train"]
        test = load(config.dataset, "test", image_size=config.image_size)
        train = load(config.dataset, "train", image_size=config.image_size)
        x = test.images
        with torch.no_grad():
            recon = torch.cat(
                [model.reconstruct(x[i : i + 256]) for i in range(0, len(x), 256)]
            ).clamp(0, 1)
        colour, alpha = recon[:, :3], recon[:, 3:]
        impossible = float((colour > alpha + 2 / 255).any(1).float().mean())
        saturated = ((recon[:, :3] < 1 / 255) | (recon[:, :3] > 254 / 255)) & (
            (recon[:, :3] - x[:, :3]).abs() > 0.2
        )
        # what a PNG file holds, read back
        written = premultiply(unpremultiply(recon).mul(255).round().div(255))
        # `aekit sample --alpha-threshold`: a pixel's straight colour shows in full
        hard = threshold_alpha(written, THRESHOLD)
        rows = torch.randperm(len(x))[: args.n]
        panels = [composite(x[rows]), composite(recon[rows]), composite(hard[rows])]
        sheet = torch.cat([torch.cat(list(p), 2) for p in panels], 1)  # 3 rows of n images
        array = (sheet.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        image = Image.fromarray(array).resize(
            (array.shape[1] * 6, array.shape[0] * 6), Image.NEAREST
        )
        name = Path(run_dir).name
        buffer = BytesIO()
        image.save(buffer, "PNG")
        atomic_write_bytes(Path(args.out) / f"speckle-{name}.png", buffer.getvalue())
        numbers = {
            "run": name,
            "model": model.name,
            "test images": len(x),
            "psnr": round(psnr(recon, x), 2),
            f"PCA {model.latent_dim} psnr": round(pca_psnr(train.images, x, model.latent_dim), 2),
            "PNG file psnr": round(psnr(written, x), 2),
            f"psnr after --alpha-threshold {THRESHOLD}": round(psnr(hard, x), 2),
            f"chroma speckle where the image is flat, after --alpha-threshold {THRESHOLD}": round(
                chroma_speckle(hard, x), 4
            ),
            "colour above alpha": round(impossible, 4),
            "clamped wrong channels": round(float(saturated.float().mean()), 4),
            "chroma speckle where the image is flat": round(chroma_speckle(recon, x), 4),
        }
        print(json.dumps(numbers))


if __name__ == "__main__":
    main()
