"""Time to quality: how good a model gets for a given amount of training time on this machine.

1. A convolutional VAE (latent 32) on dynamically binarised MNIST: IWAE-1000 NLL against training
   wall time; target <= 84 nats within 20 minutes of training, and the final IWAE-1000 on the
   full 10,000-image test set must itself take under 10 minutes. The model is ``pixel-vae`` (the
   conv VAE whose Bernoulli decoder also sees the pixels above and to the left through one
   masked convolution); ``--vae-model conv-vae`` measures the factorised conv VAE instead.
2. The tutorial's denoising AE on 10% salt-and-pepper noise: test PSNR against training wall time,
   beside the 3x3 median filter (the classic remedy); target: beat the filter within 5 minutes.

Training goes through ``aekit.train`` one epoch at a time (``resume``), so the curve is measured
on the real trainer; evaluation time is not counted as training time. Both train with
``precision = "bf16"`` and the likelihood bounds run under bfloat16 autocast (``--fp32``: float32
throughout).

    python benchmarks/quality.py            # about 40 minutes on 2 cores
    python benchmarks/quality.py --quick    # about 8 minutes, a smaller budget and test subset
    python benchmarks/quality.py --only dae --out benchmarks/results/quality-dae.json   # one part
    python benchmarks/quality.py --only vae --vae-model conv-vae --out benchmarks/results/quality-conv-vae.json
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import aekit
from aekit.config import TrainConfig
from aekit.evaluate import likelihood_section, load_run, reconstruction_section
from aekit.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "quality.json"
NLL_TARGET, PSNR_SECONDS = 84.0, 300.0


def train_for(
    config: TrainConfig, budget_s: float, checkpoint, evaluate_every_s: float, cosine_lr: bool = False
) -> list[dict[str, Any]]:
    """Train epoch by epoch within ``budget_s`` seconds of training (an epoch starts only if one as
    long as the longest so far still fits); ``checkpoint(run_dir)`` -> dict after the first epoch,
    then each time another ``evaluate_every_s`` of training has passed, and after the last epoch.
    ``cosine_lr``: each epoch's learning rate follows a cosine from ``config.lr`` down to 0 over the
    time budget (set through ``resume``, as a user would lower it)."""
    curve: list[dict[str, Any]] = []
    trained, epoch, next_eval, base_lr, longest = 0.0, 0, 0.0, config.lr, 0.0
    while trained + longest <= budget_s:
        epoch += 1
        config.epochs, config.resume = epoch, epoch > 1
        if cosine_lr:
            config.lr = max(base_lr * 0.5 * (1 + math.cos(math.pi * trained / budget_s)), base_lr * 1e-3)
        start = time.perf_counter()
        run = aekit.train(config)
        seconds = time.perf_counter() - start
        trained, longest = trained + seconds, max(longest, seconds)
        if trained >= next_eval or trained + longest > budget_s:
            start = time.perf_counter()
            point = {"epoch": epoch, "train_seconds": round(trained, 1), "lr": config.lr, **checkpoint(run.dir)}
            point["eval_seconds"] = round(time.perf_counter() - start, 1)
            curve.append(point)
            print("  " + "  ".join(f"{k} {v:.3g}" if k == "lr" else f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in point.items()), flush=True)
            next_eval = trained + evaluate_every_s
    return curve


def vae_quality(
    model: str, out: Path, budget_s: float, curve_images: int, curve_k: int, final_images: int | None,
    epoch_images: int | None, precision: str,
) -> dict[str, Any]:
    config = TrainConfig(model=model, dataset="mnist", out=str(out / model), batch_size=128, lr=1e-3,
                         model_options={"latent_dim": 32}, max_train_images=epoch_images, quiet=True,
                         precision=precision)

    def nll(run_dir: Path, images: int | None, k: int) -> dict[str, float]:
        section, _ = likelihood_section(load_run(run_dir, images), k, quiet=True, bf16=precision == "bf16")
        return {"nll_iwae": section["nll_iwae"]["model"], "nll_elbo": section["nll_elbo"]["model"]}

    print(f"{model} (latent 32), binarised MNIST: IWAE-{curve_k} NLL on {curve_images} test images while training "
          f"for {budget_s / 60:.0f} min", flush=True)
    curve = train_for(config, budget_s, lambda d: nll(d, curve_images, curve_k), budget_s / 8, cosine_lr=True)
    start = time.perf_counter()
    final = nll(Path(config.out), final_images, 1000)
    seconds = time.perf_counter() - start
    n = final_images or 10_000
    print(f"  final IWAE-1000 on {n} test images: {final['nll_iwae']:.2f} nats (ELBO {final['nll_elbo']:.2f}), "
          f"evaluated in {seconds:.0f} s", flush=True)
    return {"model": model, "curve": curve, "final": {**final, "test_images": n, "k": 1000, "eval_seconds": round(seconds, 1)},
            "train_seconds": curve[-1]["train_seconds"], "target_nll": NLL_TARGET,
            "met": final["nll_iwae"] <= NLL_TARGET and n == 10_000 and seconds < 600
                   and curve[-1]["train_seconds"] <= budget_s}


def dae_quality(out: Path, budget_s: float, curve_images: int, epoch_images: int | None, precision: str) -> dict[str, Any]:
    from aekit.data import load

    config = TrainConfig(model="tutorial-dae", dataset="mnist", out=str(out / "dae"), batch_size=128, lr=1e-3,
                         noise="salt-pepper:0.1", max_train_images=epoch_images, quiet=True, precision=precision)
    train_x = load("mnist", "train").images[:2000]

    def psnr(run_dir: Path) -> dict[str, float]:
        scores = reconstruction_section(load_run(run_dir, curve_images), train_x)["psnr"]
        return {"psnr": scores["model"], "psnr_median_3x3": scores["median 3x3"], "psnr_noisy": scores["noisy input"]}

    print(f"tutorial DAE, salt-and-pepper 0.1: test PSNR on {curve_images} images while training for "
          f"{budget_s / 60:.0f} min", flush=True)
    curve = train_for(config, budget_s, psnr, budget_s / 8)
    beat = next((p["train_seconds"] for p in curve if p["psnr"] > p["psnr_median_3x3"]), None)
    print(f"  beats the 3x3 median filter after {beat} s of training" if beat is not None else
          "  did not beat the 3x3 median filter", flush=True)
    return {"curve": curve, "seconds_to_beat_median": beat, "met": beat is not None and beat <= PSNR_SECONDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 + 1 minutes of training in epochs of 6,000 images, smaller test subsets")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", choices=["vae", "dae"], help="run one of the two measurements")
    parser.add_argument("--vae-model", default="pixel-vae", choices=["pixel-vae", "conv-vae"],
                        help="the VAE to train (default pixel-vae)")
    parser.add_argument("--fp32", action="store_true", help="train and evaluate in float32 (default: bf16 autocast)")
    args = parser.parse_args(argv)
    precision = "fp32" if args.fp32 else "bf16"
    if args.quick:  # "epochs" of 6,000 images, so even a short run has a curve
        vae_budget, dae_budget, curve_images, curve_k, final_images, epoch = 180.0, 60.0, 200, 200, 500, 6000
    else:
        vae_budget, dae_budget, curve_images, curve_k, final_images, epoch = 1200.0, PSNR_SECONDS, 500, 1000, None, None
    with tempfile.TemporaryDirectory(prefix="aekit-quality-") as tmp:
        vae = vae_quality(args.vae_model, Path(tmp), vae_budget, curve_images, curve_k, final_images, epoch, precision) \
            if args.only != "dae" else None
        dae = dae_quality(Path(tmp), dae_budget, 2000 if args.quick else 10_000, epoch, precision) \
            if args.only != "vae" else None
    atomic_write_json(args.out, {"quick": args.quick, "precision": precision, "threads": torch.get_num_threads(),
                                 "torch": torch.__version__,
                                 "vae": vae, "denoising_ae": dae})
    if vae:
        print(f"{vae['model']}: IWAE-1000 {vae['final']['nll_iwae']:.2f} nats after {vae['train_seconds']:.0f} s "
              f"of training, evaluated in {vae['final']['eval_seconds']:.0f} s (target <= {NLL_TARGET} within 1200 s, "
              f"on 10,000 images in < 600 s: {'met' if vae['met'] else 'not met'})")
    if dae:
        print(f"denoising AE: {'met' if dae['met'] else 'not met'} (beat the median filter within {PSNR_SECONDS:.0f} s)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
