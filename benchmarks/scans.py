"""Documents at the resolutions people scan at: does the cleaner stay right from 75 to 300 dpi?

1. The held-out real Kaggle pages (grouped split), noisy and clean alike upscaled by 1x, 1.5x, 2x,
   2.5x, 3x and 4x (bicubic) and given WITHOUT their factor. For each factor: the text size
   measured on the page against the true factor (``scans.measure_text``; line pitch), RMSE of the
   cleaner (``scans.clean_page``, which brings text larger than the training pages' back to their
   size), of the same cleaner told the true factor (the oracle: what is left is the error of mapping
   back, the rest is the scale decision's), of the same model run on the page as it is (the
   behaviour before; for a run trained across scales, train option ``enlarge``: does mapping still
   help such a model?), and of background
   subtraction with its window scaled like the model's work; tesseract's character error rate on
   the noisy, cleaned and clean page of the first ``--ocr-pages`` pages (against the clean page's
   own reading: the Kaggle pages come without their text).
2. ``--a4-pages`` synthetic A4 pages at 300 dpi with their true text (``aekit make-documents --dpi
   300``): character error rate of the noisy, cleaned, background-subtracted and clean page
   against the true text, and ``aekit denoise`` on one page as a user runs it (wall time and peak
   memory of the process, start-up included). ``--crops DIR``: full-resolution crops (noisy,
   cleaned, clean side by side) of the first A4 pages and of a real page at 4x, to look at.

Targets (issue 26): measured scale within 10% of the true factor; RMSE at every factor at most
1.25x the model's own 1x figure and below scaled background subtraction; cleaned page's OCR error
at most half the noisy page's at every factor; on A4 at 300 dpi, the cleaned page's OCR error at
most the clean page's + 1 percentage point and at most half the noisy page's; denoise <= 10 s and
<= 1 GB per page.

    python benchmarks/scans.py --run runs/document-unet  # a trained doc-unet
    python benchmarks/scans.py --run RUN --a4-pages 0 --ocr-pages 4  # real pages only, faster
    python benchmarks/scans.py --run RUN --a4-pages 0 --enlarge lanczos  # another kernel
    python benchmarks/scans.py --run RUN --no-as-is --factors 2,4  # without the slowest column

Threads: torch uses ``--threads`` (default 2); tesseract runs with OMP_THREAD_LIMIT=1.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from aekit.data import load
from aekit.data.documents import load_pages
from aekit.data.synthetic_documents import synthesize
from aekit.device import cpu_flags
from aekit.io import atomic_write_bytes, atomic_write_json
from aekit.metrics import background_subtraction, page_rmse
from aekit.ocr import character_error_rate, read_text, tesseract_missing
from aekit.runs import load_model, read_run_config
from aekit.scans import clean_page, measure_text, training_text
from aekit.tiling import tiled_reconstruct

RESULTS = Path(__file__).parent / "results" / "scans.json"
FACTORS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
CROP = (500, 800)  # px: a few lines of 300 dpi text


def save_crops(path: Path, pages: list[torch.Tensor]) -> None:
    """The same ``CROP`` of each ``1 x H x W`` page side by side (one image pixel per page pixel),
    where the last page (the clean one) has the most ink."""
    h, w = min(CROP[0], pages[-1].shape[-2]), min(CROP[1], pages[-1].shape[-1])
    ink = (1 - pages[-1][0]).unfold(0, h, h // 4).unfold(1, w, w // 4).sum((-1, -2))
    row, col = divmod(int(ink.argmax()), ink.shape[1])
    y, x = row * (h // 4), col * (w // 4)
    strip = torch.cat([p[0, y : y + h, x : x + w] for p in pages], dim=1)
    buffer = io.BytesIO()
    Image.fromarray((strip.clamp(0, 1) * 255).round().byte().numpy(), "L").save(
        buffer, format="PNG"
    )
    atomic_write_bytes(path, buffer.getvalue())


def upscale(page: torch.Tensor, factor: float, kernel: str = "bicubic") -> torch.Tensor:
    """``page`` enlarged by ``factor``: torch's bicubic, or PIL's Lanczos (a second kernel, so that
    no conclusion rests on how one kernel blurs)."""
    if factor == 1:
        return page
    h, w = page.shape[-2:]
    size = (round(h * factor), round(w * factor))
    if kernel == "lanczos":
        big = Image.fromarray(page[0].numpy(), "F").resize(size[::-1], Image.Resampling.LANCZOS)
        return torch.from_numpy(np.array(big))[None].clamp(0, 1)
    return F.interpolate(page[None], size=size, mode="bicubic", align_corners=False)[0].clamp(0, 1)


def real_pages(
    run_dir: Path,
    model: torch.nn.Module,
    ocr_pages: int,
    kernel: str,
    factors: tuple[float, ...] = FACTORS,
    crops: Path | None = None,
    as_is: bool = True,
) -> list[dict[str, Any]]:
    meta = read_run_config(run_dir)
    text = training_text(run_dir, meta)
    test = load("documents", "test")
    print(
        f"training text sizes: line pitch {text.pitch[0]:.1f}-{text.pitch[2]:.1f} px (median "
        f"{text.pitch[1]:.1f}), "
        f"letters {text.letter[0]:.0f}-{text.letter[2]:.0f} px; {len(test)} held-out pages",
        flush=True,
    )
    base_pitch = [measure_text(p).pitch for p in test.noisy]
    rows = []
    for factor in factors:
        start = time.perf_counter()
        noisy = [upscale(p, factor, kernel) for p in test.noisy]
        clean = [upscale(p, factor, kernel) for p in test.clean]
        done = [clean_page(model, p, text) for p in noisy]
        oracle = [clean_page(model, p, text, factor=factor).pixels for p in noisy]
        ratios = [measure_text(p).pitch / b for p, b in zip(noisy, base_pitch)]
        subtracted = [background_subtraction(p, scale=d.factor) for p, d in zip(noisy, done)]
        unmapped = [
            d.pixels if d.factor == 1 else tiled_reconstruct(model, p)
            for p, d in zip(noisy, done)
            if as_is
        ]
        row: dict[str, Any] = {
            "factor": factor,
            "scale_error_max": float(np.max(np.abs(np.array(ratios) / factor - 1))),
            "working_factor": [round(d.factor, 3) for d in done],
            "rmse": {
                "model": page_rmse([d.pixels for d in done], clean),
                "model, true factor": page_rmse(oracle, clean),
                **({"model as is (before)": page_rmse(unmapped, clean)} if as_is else {}),
                "background subtraction (scaled)": page_rmse(subtracted, clean),
                "noisy page": page_rmse(noisy, clean),
            },
        }
        if crops is not None and factor == max(factors):
            save_crops(crops / f"real-{factor:g}x.png", [noisy[0], done[0].pixels, clean[0]])
        if ocr_pages:
            n = min(ocr_pages, len(noisy))
            truth = [read_text(p) for p in clean[:n]]
            columns = {
                "noisy page": noisy,
                "model": [d.pixels for d in done],
                "model as is (before)": unmapped,
                "background subtraction (scaled)": subtracted,
            }
            if not as_is:
                del columns["model as is (before)"]
            row["cer"] = {
                name: float(
                    np.mean(
                        [character_error_rate(read_text(p), t) for p, t in zip(pages[:n], truth)]
                    )
                )
                for name, pages in columns.items()
            }
            row["ocr_pages"] = n
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def a4_pages(
    run_dir: Path, model: torch.nn.Module, n_pages: int, work: Path, crops: Path | None = None
) -> dict[str, Any]:
    folder = synthesize(n_pages, work / "a4", seed=1, size=(2480, 3508), dpi=300)
    splits = [load_pages(folder, split) for split in ("train", "test")]
    noisy, clean, texts = (
        [page for s in splits for page in getattr(s, key)] for key in ("noisy", "clean", "texts")
    )
    text = training_text(run_dir, read_run_config(run_dir))
    cer: dict[str, list[float]] = {
        "noisy page": [],
        "model": [],
        "background subtraction (scaled)": [],
        "clean page": [],
    }
    factors = []
    for page, target, truth in zip(noisy, clean, texts):
        done = clean_page(model, page, text)
        factors.append(done.factor)
        shown = {
            "noisy page": page,
            "model": done.pixels,
            "background subtraction (scaled)": background_subtraction(page, scale=done.factor),
            "clean page": target,
        }
        if crops is not None and len(factors) <= 3:
            save_crops(crops / f"a4-{len(factors)}.png", [page, done.pixels, target])
        for name, page in shown.items():
            cer[name].append(character_error_rate(read_text(page, 300), truth))
        print(
            f"  A4 page {len(factors)}: factor {done.factor:.2f}, "
            + ", ".join(f"{k} {v[-1]:.3f}" for k, v in cer.items()),
            flush=True,
        )
    page = folder / "train" / "1.png"
    out = work / "denoised"
    # In a process of its own, so that the peak is the command's, not tesseract's (children of this
    # one).
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            sys.executable,
            "-m",
            "aekit.cli",
            "denoise",
            str(run_dir),
            str(page),
            "--out",
            str(out),
            "--quiet",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    peak_mb = int(done.stdout.split()[-1]) / 1024
    return {
        "pages": len(factors),
        "factors": factors,
        "cer": {k: float(np.mean(v)) for k, v in cer.items()},
        "denoise_seconds": round(seconds, 2),
        "denoise_peak_mb": round(peak_mb),
    }


def table(result: dict[str, Any]) -> str:
    """The markdown table of ``result``."""
    rmse_keys = [
        "model",
        "model, true factor",
        "model as is (before)",
        "background subtraction (scaled)",
        "noisy page",
    ]
    cer_keys = ["noisy page", "model", "model as is (before)", "background subtraction (scaled)"]
    short = {
        "model": "model",
        "model, true factor": "true factor",
        "model as is (before)": "as is (before)",
        "background subtraction (scaled)": "bg subtraction",
        "noisy page": "noisy",
    }
    head = [
        "factor",
        "scale error (max)",
        *(f"RMSE {short[k]}" for k in rmse_keys),
        *(f"CER {short[k]}" for k in cer_keys),
    ]
    lines = [
        f"enlarged with {result['kernel']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---:|" * len(head),
    ]
    for row in result["real"]:
        r, c = row["rmse"], row.get("cer", {})
        cells = [
            f"{row['factor']:g}x",
            f"{row['scale_error_max']:.3f}",
            *(f"{r[k]:.4f}" if k in r else "-" for k in rmse_keys),
            *(f"{c[k]:.3f}" if k in c else "-" for k in cer_keys),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if result.get("a4"):
        a4 = result["a4"]
        lines.append("")
        lines.append(
            f"A4 at 300 dpi, {a4['pages']} pages, CER against the true text: "
            + ", ".join(f"{k} {v:.3f}" for k, v in a4["cer"].items())
            + f"; aekit denoise one page: {a4['denoise_seconds']} s, peak "
            f"{a4['denoise_peak_mb']} MB"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a trained doc-unet run folder")
    parser.add_argument(
        "--ocr-pages",
        type=int,
        default=8,
        help="real pages read by tesseract per factor (0: no OCR)",
    )
    parser.add_argument(
        "--a4-pages", type=int, default=20, help="synthetic A4 300 dpi pages (0: skip)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--factors",
        type=lambda v: tuple(float(f) for f in v.split(",")),
        default=FACTORS,
        help="enlargements of the real pages, comma-separated (default: 1,1.5,2,2.5,3,4)",
    )
    parser.add_argument(
        "--enlarge",
        choices=("bicubic", "lanczos"),
        default="bicubic",
        help="how the real pages are enlarged (noisy and clean alike)",
    )
    parser.add_argument(
        "--no-as-is",
        action="store_true",
        help="leave out the model run on the enlarged page as it is (the slowest column; it does "
        "not depend on the scale rule)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--crops", type=Path, help="write full-resolution crops to look at to this folder"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    missing = tesseract_missing()
    if missing:
        print(missing)
        args.ocr_pages = 0
    print(
        f"cpu flags: {cpu_flags()}; torch threads {args.threads}; tesseract OMP_THREAD_LIMIT=1",
        flush=True,
    )
    model = load_model(args.run).eval()
    result: dict[str, Any] = {
        "run": str(args.run),
        "cpu_flags": cpu_flags(),
        "threads": args.threads,
        "kernel": args.enlarge,
        "real": real_pages(
            args.run,
            model,
            args.ocr_pages,
            args.enlarge,
            args.factors,
            args.crops,
            as_is=not args.no_as_is,
        ),
    }
    if args.a4_pages and not missing:
        with tempfile.TemporaryDirectory() as tmp:
            result["a4"] = a4_pages(args.run, model, args.a4_pages, Path(tmp), args.crops)
    atomic_write_json(args.out, result)
    print(table(result))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
