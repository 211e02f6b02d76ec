"""Game sprites: aekit's default model on Dungeon Crawl's colour RGBA tiles, against PCA.

The set is Debian's ``crawl-tiles-data`` (CC0): 32x32 RGBA tiles cut from five sprite sheets
(``crawl-tiles``, one class per sheet, seeded 80/20 split). ``aekit train`` without ``--model``
chooses the model and likelihood from the data; it trains for a wall-clock budget
(``max_minutes``), then ``aekit evaluate`` scores the test tiles:

* reconstruction PSNR and SSIM against PCA with the same code size (target: PCA + 3 dB);
* samples' Frechet distance in aekit's classifier features against PCA-Gaussian (a Gaussian fitted
  to PCA codes, decoded) and the held-out real tiles (the floor); target: at most a third of
  PCA-Gaussian's, judged on the samples ``aekit sample --prior gmm`` makes (codes from a Gaussian
  mixture fitted to the training codes after training; the N(0, I) column is shown beside it).

    python benchmarks/sprites.py              # 15 minutes of training, then evaluation
    python benchmarks/sprites.py --quick      # 3 minutes
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import aekit
from aekit.config import TrainConfig, parse_pairs
from aekit.device import cpu_flags
from aekit.evaluate import evaluate_run
from aekit.io import atomic_write_json
from aekit.priors import fit_prior
from aekit.report import write_report

RESULTS = Path(__file__).resolve().parent / "results" / "sprites.json"
PSNR_MARGIN_DB, FRECHET_FRACTION = 3.0, 1 / 3


def column(row: dict[str, float], prefix: str) -> tuple[str, float]:
    """The reference column whose name starts with ``prefix`` (its name carries the component count)."""
    name = next(k for k in row if k.startswith(prefix))
    return name, row[name]


def run(minutes: float, out: Path, model: str | None, options: dict[str, Any], precision: str) -> dict[str, Any]:
    config = TrainConfig(model=model, dataset="crawl-tiles", epochs=10_000, max_minutes=minutes, out=str(out),
                         batch_size=64, precision=precision, model_options=options)
    start = time.perf_counter()
    trained = aekit.train(config)
    train_seconds = time.perf_counter() - start
    priors = ["gmm"] if trained.model.generative else []  # res-ae does not sample
    for prior in priors:
        fit_prior(out, prior)
    result = evaluate_run(out, iwae_k=16, iwae_images=200, priors=priors)
    write_report(out)  # reconstructions and samples over a checkerboard, to look at
    sections = result["sections"]
    psnr, ssim = sections["reconstruction"]["psnr"], sections["reconstruction"]["ssim"]
    frechet = sections.get("samples", {}).get("frechet", {})  # none for a model that does not sample (res-ae)
    pca_name, pca_psnr = column(psnr, "PCA")
    targets = {"psnr": {"model": psnr["model"], "needed": pca_psnr + PSNR_MARGIN_DB, "reference": pca_name,
                        "met": psnr["model"] >= pca_psnr + PSNR_MARGIN_DB}}
    if frechet:
        gauss_name, gauss_frechet = column(frechet, "PCA-Gaussian")
        judged = frechet["prior gmm"]
        targets["frechet"] = {"model": judged, "sampler": "prior gmm", "needed": gauss_frechet * FRECHET_FRACTION,
                              "reference": gauss_name, "met": judged <= gauss_frechet * FRECHET_FRACTION}
    chosen = aekit.runs.read_run_config(out)
    return {
        "model": chosen.model, "model_options": chosen.model_options, "epochs": len(trained.history),
        "train_seconds": round(train_seconds, 1), "budget_minutes": minutes,
        "psnr": psnr, "ssim": ssim, "frechet": frechet, "likelihood": sections.get("likelihood"),
        "targets": targets,
        "pictures": sorted(str(p) for p in (out / "plots").glob("*.png")),
    }


def table(r: dict[str, Any]) -> str:
    lines = [f"{r['model']} {r['model_options']}: {r['epochs']} epochs in {r['train_seconds']:.0f} s"]
    for metric in (m for m in ("psnr", "ssim", "frechet") if r[m]):
        cells = "  ".join(f"{k} {v:.4g}" for k, v in r[metric].items())
        lines.append(f"  {metric:<8} {cells}")
    for metric, t in r["targets"].items():
        lines.append(f"  target {metric}: {t.get('sampler', 'model')} {t['model']:.4g}, needed {t['needed']:.4g} (from {t['reference']}): "
                     + ("met" if t["met"] else "NOT met"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 minutes of training instead of 15")
    parser.add_argument("--minutes", type=float, default=None, help="training budget (default 15, --quick 3)")
    parser.add_argument("--model", default=None, help="default: aekit's choice for the data")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a model option (JSON value)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=Path, default=None, help="where the run folder goes (default: a temporary folder)")
    args = parser.parse_args(argv)
    minutes = args.minutes or (3.0 if args.quick else 15.0)
    options = parse_pairs(args.option)
    folder = args.runs or Path(tempfile.mkdtemp(prefix="aekit-sprites-"))
    print(f"crawl tiles, default model, {minutes:g} min of training; {torch.get_num_threads()} threads, "
          f"{platform.machine()}, CPU flags: {cpu_flags()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    result = run(minutes, folder / "sprites", args.model, options, args.precision)
    print(table(result))
    result["machine"] = {"cpu_flags": cpu_flags(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                         "load_average_at_end": os.getloadavg()[0]}
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}; pictures in {folder / 'sprites'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
