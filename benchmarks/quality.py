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
    python benchmarks/quality.py --only vae --vae-model conv-vae --out
    benchmarks/results/quality-conv-vae.json

4. (``--only generation``, not part of the default run) sample quality of the 32-D conv VAE with
   codes from N(0, I) and from the priors fitted after training (``gmm``, ``flow``), and of
   ``vq-vae`` with its PixelCNN prior trained for the same wall time, beside PCA-Gaussian and the
   held-out real images: Frechet distance, precision and recall, coverage, class match. Targets
   (Fashion-MNIST, the tour's full preset: 10 epochs): the best prior cuts the conv VAE's Frechet
   distance by >= 40% against N(0, I) and is >= 3x better than PCA-Gaussian's; vq-vae + prior is
   at least as good as the conv VAE + N(0, I). ``--dataset crawl-tiles``: the same table on the
   game sprites (aekit's default model for them, and vq-vae; ``--gen-minutes`` each).

    python benchmarks/quality.py --only generation                          # ~15 min
    python benchmarks/quality.py --only generation --dataset crawl-tiles --runs /tmp/sprite-runs

5. (``--only precision``) ``pixel-vae`` trained ``--budget`` seconds (default 300), then IWAE-1000
   on the same first 500 test images in float32 and under bfloat16 autocast: both bounds and
   the images per second of each, on this CPU (bf16 pays off only where the CPU computes it fast).

    python benchmarks/quality.py --only precision    # ~5 min training + 2 evaluations

3. (``--only documents``, not part of the default run) ``doc-unet`` (examples/document-unet.toml) on
   the real scanned pages, grouped split: RMSE over every pixel of every held-out page against
   training time, beside identity, 3x3 median, background subtraction and the Kaggle standings;
   target <= 0.018 within 30 minutes, and tesseract's character error rate on the first held-out
   pages (cleaned, noisy, background subtraction, clean). Then a grouped 4-fold cross-validation
   over all 144 paired pages (``--fold-budget`` seconds each) and the same model on
   ``documents-synthetic``.

    python benchmarks/quality.py --only documents  # 30 min + 4 x 5 min folds + 5 min synthetic
    python benchmarks/quality.py --only documents --quick    # about 5 minutes
    python benchmarks/quality.py --only documents --budget 900 --fold-budget 0   # 15 min, no folds
    python benchmarks/quality.py --only documents --budget 0 --fold-budget 1800 --fold-jobs 2 \
        --threads 1 --out benchmarks/results/quality-documents-cv.json   # the 2-hour CV in 1 hour
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import aekit
from aekit.config import TrainConfig
from aekit.device import cpu_flags
from aekit.evaluate import evaluate_run, reconstruction_section
from aekit.evaluate_likelihood import likelihood_section
from aekit.evaluation_defaults import OCR_PAGES
from aekit.io import atomic_write_json
from aekit.run import Run
from aekit.scans import clean_page

RESULTS = Path(__file__).resolve().parent / "results" / "quality.json"
DOC_RESULTS = RESULTS.with_name("quality-documents.json")
GEN_RESULTS = RESULTS.with_name("quality-generation.json")
PRECISION_RESULTS = RESULTS.with_name("quality-precision.json")
DOC_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "document-unet.toml"
NLL_TARGET, PSNR_SECONDS = 84.0, 300.0
DOC_TARGET, DOC_SECONDS = 0.018, 1800.0
# public leaderboard RMSE
KAGGLE = {"gold": 0.0179, "silver": 0.026, "bronze": 0.045, "median": 0.073}
NOISY = "identity (noisy page)"  # the noisy page's column in the evaluation
BASELINES = {
    NOISY: "identity",
    "median 3x3": "median 3x3",
    "background subtraction": "background subtraction",
}


def train_for(
    config: TrainConfig,
    budget_s: float,
    checkpoint,
    evaluate_every_s: float,
    cosine_lr: bool = False,
) -> list[dict[str, Any]]:
    """Train epoch by epoch within ``budget_s`` seconds of training (an epoch starts only if one as
    long as the longest so far still fits); ``checkpoint(run_dir)`` -> dict after the first epoch,
    then each time another ``evaluate_every_s`` of training has passed, and after the last epoch.
    Each point also has the process's CPU seconds of training (on a shared machine, wall time
    measures the neighbours too).
    ``cosine_lr``: each epoch's learning rate follows a cosine from ``config.lr`` down to 0 over the
    time budget (set through ``resume``, as a user would lower it)."""
    curve: list[dict[str, Any]] = []
    trained, epoch, next_eval, base_lr, longest, cpu = 0.0, 0, 0.0, config.lr, 0.0, 0.0
    while trained + longest <= budget_s:
        epoch += 1
        config.epochs, config.resume = epoch, epoch > 1
        if cosine_lr:
            config.lr = max(
                base_lr * 0.5 * (1 + math.cos(math.pi * trained / budget_s)), base_lr * 1e-3
            )
        start, cpu_start = time.perf_counter(), time.process_time()
        run = aekit.train(config)
        seconds = time.perf_counter() - start
        trained, longest = trained + seconds, max(longest, seconds)
        cpu += time.process_time() - cpu_start
        if trained >= next_eval or trained + longest > budget_s:
            start = time.perf_counter()
            point = {
                "epoch": epoch,
                "train_seconds": round(trained, 1),
                "train_cpu_seconds": round(cpu, 1),
                "lr": config.lr,
                **checkpoint(run.dir),
            }
            point["eval_seconds"] = round(time.perf_counter() - start, 1)
            curve.append(point)
            print(
                "  "
                + "  ".join(
                    f"{k} {v:.3g}"
                    if k == "lr"
                    else f"{k} {v:.4f}"
                    if k == "rmse"
                    else f"{k} {v:.2f}"
                    if isinstance(v, float)
                    else f"{k} {v}"
                    for k, v in point.items()
                ),
                flush=True,
            )
            next_eval = trained + evaluate_every_s
    return curve


def vae_quality(
    model: str,
    out: Path,
    budget_s: float,
    curve_images: int,
    curve_k: int,
    final_images: int | None,
    epoch_images: int | None,
    precision: str,
) -> dict[str, Any]:
    config = TrainConfig(
        model=model,
        dataset="mnist",
        out=str(out / model),
        batch_size=128,
        lr=1e-3,
        model_options={"latent_dim": 32},
        max_train_images=epoch_images,
        quiet=True,
        precision=precision,
    )

    def nll(run_dir: Path, images: int | None, k: int) -> dict[str, float]:
        section, _ = likelihood_section(
            Run(run_dir, "cpu", max_test_images=images), k, bf16=precision == "bf16"
        )
        return {"nll_iwae": section["nll_iwae"]["model"], "nll_elbo": section["nll_elbo"]["model"]}

    print(
        f"{model} (latent 32), binarised MNIST: IWAE-{curve_k} NLL on {curve_images} test "
        "images while training "
        f"for {budget_s / 60:.0f} min",
        flush=True,
    )
    curve = train_for(
        config, budget_s, lambda d: nll(d, curve_images, curve_k), budget_s / 8, cosine_lr=True
    )
    start = time.perf_counter()
    final = nll(Path(config.out), final_images, 1000)
    seconds = time.perf_counter() - start
    n = final_images or 10_000
    print(
        f"  final IWAE-1000 on {n} test images: {final['nll_iwae']:.2f} nats (ELBO "
        f"{final['nll_elbo']:.2f}), evaluated in {seconds:.0f} s",
        flush=True,
    )
    return {
        "model": model,
        "curve": curve,
        "final": {**final, "test_images": n, "k": 1000, "eval_seconds": round(seconds, 1)},
        "train_seconds": curve[-1]["train_seconds"],
        "target_nll": NLL_TARGET,
        "met": final["nll_iwae"] <= NLL_TARGET
        and n == 10_000
        and seconds < 600
        and curve[-1]["train_seconds"] <= budget_s,
    }


def dae_quality(
    out: Path, budget_s: float, curve_images: int, epoch_images: int | None, precision: str
) -> dict[str, Any]:
    from aekit.data import load

    config = TrainConfig(
        model="tutorial-dae",
        dataset="mnist",
        out=str(out / "dae"),
        batch_size=128,
        lr=1e-3,
        noise="salt-pepper:0.1",
        max_train_images=epoch_images,
        quiet=True,
        precision=precision,
    )
    train_x = load("mnist", "train").images[:2000]

    def psnr(run_dir: Path) -> dict[str, float]:
        scores = reconstruction_section(Run(run_dir, "cpu", max_test_images=curve_images), train_x)[
            "psnr"
        ]
        return {
            "psnr": scores["model"],
            "psnr_median_3x3": scores["median 3x3"],
            "psnr_noisy": scores["noisy input"],
        }

    print(
        f"tutorial DAE, salt-and-pepper 0.1: test PSNR on {curve_images} images while training for "
        f"{budget_s / 60:.0f} min",
        flush=True,
    )
    curve = train_for(config, budget_s, psnr, budget_s / 8)
    beat = next((p["train_seconds"] for p in curve if p["psnr"] > p["psnr_median_3x3"]), None)
    print(
        f"  beats the 3x3 median filter after {beat} s of training"
        if beat is not None
        else "  did not beat the 3x3 median filter",
        flush=True,
    )
    return {
        "curve": curve,
        "seconds_to_beat_median": beat,
        "met": beat is not None and beat <= PSNR_SECONDS,
    }


def document_config(
    dataset: str, out: Path, precision: str, patches: int | None = None
) -> TrainConfig:
    """examples/document-unet.toml (augmentation on) into ``out``, ``patches`` per epoch if
    given."""
    config = TrainConfig.from_toml(DOC_CONFIG)
    config.dataset, config.out, config.quiet, config.precision, config.patience = (
        dataset,
        str(out),
        True,
        precision,
        None,
    )
    config.patches_per_epoch = patches or config.patches_per_epoch
    return config


def page_scores(run_dir: Path) -> tuple[dict[str, float], dict[str, float] | None]:
    """RMSE over every pixel of the held-out pages (the model and the classical baselines), and
    tesseract's character error rate on the first pages (the cleaned page, the noisy page,
    background subtraction and the clean page; None where tesseract is not installed)."""
    sections = evaluate_run(run_dir)["sections"]
    rmse = sections["documents"]["rmse"]
    scores = {"model": rmse["model"], **{short: rmse[name] for name, short in BASELINES.items()}}
    return scores, sections["ocr"]["cer"] if "ocr" in sections else None


def documents_quality(
    out: Path, budget_s: float, precision: str, patches: int | None
) -> dict[str, Any]:
    """doc-unet on the real pages: the RMSE curve over training time, then the final table."""
    from aekit.data import load
    from aekit.metrics import page_rmse
    from aekit.runs import load_model

    test = load("documents", "test")
    config = document_config("documents", out / "documents", precision, patches)

    def rmse(run_dir: Path) -> dict[str, float]:
        model = load_model(run_dir)
        return {
            "rmse": page_rmse(
                [clean_page(model, page, None).pixels for page in test.noisy], test.clean
            )
        }

    print(
        f"doc-unet on the real pages: RMSE on all {len(test)} held-out pages while training for "
        f"{budget_s / 60:.0f} min",
        flush=True,
    )
    curve = train_for(config, budget_s, rmse, budget_s / 10, cosine_lr=True)
    scores, cer = page_scores(Path(config.out))
    return {
        "rmse": scores,
        "ocr_cer": cer,
        "train_seconds": curve[-1]["train_seconds"],
        "curve": curve,
        "test_pages": len(test),
        "augment": config.augment,
        "target": DOC_TARGET,
        "kaggle": KAGGLE,
        "met": scores["model"] <= DOC_TARGET and curve[-1]["train_seconds"] <= DOC_SECONDS,
    }


def fold_folder(source: Path, fold: int, folds: int, dest: Path) -> Path:
    """A documents folder (symbolic links to ``source``'s files) whose paired ``train``/``test`` are
    grouped fold ``fold``: the loaders read it like any other documents folder."""
    from aekit.data.documents import load_pages

    for split, folder in (("train", "train"), ("test", "test")):
        names = load_pages(source, split, fold=fold, folds=folds).names
        for kind in ("", "_cleaned"):
            (dest / f"{folder}{kind}").mkdir(parents=True)
            for name in names:
                (dest / f"{folder}{kind}" / name).symlink_to(source / f"train{kind}" / name)
    return dest


def fold_scores(
    source: Path,
    fold: int,
    folds: int,
    out: Path,
    budget_s: float,
    precision: str,
    patches: int | None,
    threads: int,
) -> dict[str, Any]:
    """Train on every fold but ``fold`` with the 30-minute figure's recipe (cosine learning rate
    over the budget), then score the held-out fold; runs in its own process when folds run at
    once, so it sets its own threads and data folder."""
    torch.set_num_threads(threads)
    root = fold_folder(source, fold, folds, out / f"fold-{fold}" / "data" / "documents")
    previous = os.environ.get("AEKIT_DATA")
    os.environ["AEKIT_DATA"] = str(root.parent)
    try:
        config = document_config("documents", out / f"fold-{fold}" / "run", precision, patches)
        curve = train_for(config, budget_s, lambda d: {}, budget_s, cosine_lr=True)
        scores, cer = page_scores(Path(config.out))
    finally:
        if previous is None:
            os.environ.pop("AEKIT_DATA", None)
        else:
            os.environ["AEKIT_DATA"] = previous
    read = "" if cer is None else f", OCR error {cer['model']:.1%} (noisy {cer[NOISY]:.1%})"
    print(
        f"  fold {fold}: RMSE {scores['model']:.4f} (background subtraction "
        f"{scores['background subtraction']:.4f}){read} after {curve[-1]['train_seconds']:.0f} s",
        flush=True,
    )
    return {
        "fold": fold,
        "rmse": scores,
        "ocr_cer": cer,
        "train_seconds": curve[-1]["train_seconds"],
    }


def cross_validation(
    out: Path, folds: int, budget_s: float, precision: str, patches: int | None, jobs: int
) -> dict[str, Any]:
    """Grouped K-fold: train on K-1 folds for ``budget_s`` each, RMSE on the held-out fold;
    ``jobs`` folds at once, each in its own process with this process's thread count."""
    from aekit.data import load

    # the folder holding train/ and train_cleaned/
    source = Path(load("documents", "test").source).parent
    threads = torch.get_num_threads()
    print(
        f"grouped {folds}-fold cross-validation, {budget_s:.0f} s of training per fold, "
        f"{jobs} at once with {threads} threads each",
        flush=True,
    )
    arguments = [
        (source, k, folds, out, budget_s, precision, patches, threads) for k in range(folds)
    ]
    if jobs == 1:
        results = [fold_scores(*a) for a in arguments]
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            results = list(pool.map(fold_scores, *zip(*arguments)))
    summary = {}
    for column in results[0]["rmse"]:
        values = [r["rmse"][column] for r in results]
        summary[column] = {"mean": statistics.mean(values), "std": statistics.stdev(values)}
    return {"folds": results, "budget_s": budget_s, "jobs": jobs, "rmse": summary}


def synthetic_quality(
    out: Path, budget_s: float, precision: str, patches: int | None
) -> dict[str, Any]:
    config = document_config("documents-synthetic", out / "synthetic", precision, patches)
    print(f"doc-unet on documents-synthetic, {budget_s:.0f} s of training", flush=True)
    curve = train_for(config, budget_s, lambda d: {}, budget_s)
    scores, cer = page_scores(Path(config.out))
    return {"rmse": scores, "ocr_cer": cer, "train_seconds": curve[-1]["train_seconds"]}


def documents_table(result: dict[str, Any]) -> str:
    """The final RMSE table: the model, the baselines and the Kaggle standings, best first."""
    rows = [(name, value, "") for name, value in result["rmse"].items()]
    rows += [(f"Kaggle {name}", value, "leaderboard") for name, value in KAGGLE.items()]
    rows.append(("target", DOC_TARGET, ""))
    lines = [
        f"RMSE on all pixels of the {result['test_pages']} held-out real pages (lower is better)"
    ]
    lines += [
        f"  {name:<24} {value:.4f}  {note}".rstrip()
        for name, value, note in sorted(rows, key=lambda r: r[1])
    ]
    if result["ocr_cer"] is not None:
        lines.append(
            f"OCR character error rate (tesseract) on the first {OCR_PAGES} pages, against its "
            "reading of the clean page: "
            + ", ".join(f"{name} {value:.1%}" for name, value in result["ocr_cer"].items())
        )
    return "\n".join(lines)


def run_documents(args: argparse.Namespace, precision: str) -> None:
    if args.quick:  # short epochs, so two minutes still give a curve
        budget, fold_budget, synthetic_budget, patches = 120.0, 20.0, 30.0, 256
    else:
        budget, fold_budget, synthetic_budget, patches = DOC_SECONDS, 300.0, 300.0, None
    patches = args.patches_per_epoch or patches
    budget = args.budget if args.budget is not None else budget
    fold_budget = args.fold_budget if args.fold_budget is not None else fold_budget
    synthetic_budget = (
        args.synthetic_budget if args.synthetic_budget is not None else synthetic_budget
    )
    out = args.out if args.out is not None else DOC_RESULTS
    with (
        contextlib.nullcontext(str(args.runs))
        if args.runs
        else tempfile.TemporaryDirectory(prefix="aekit-quality-docs-")
    ) as tmp:
        result: dict[str, Any] = {
            "quick": args.quick,
            "precision": precision,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cpu_flags": cpu_flags(),
        }
        if budget > 0:
            result.update(documents_quality(Path(tmp), budget, precision, patches))
            print(documents_table(result), flush=True)
        if fold_budget > 0:
            result["cross_validation"] = cross_validation(
                Path(tmp) / "cv", 4, fold_budget, precision, patches, args.fold_jobs
            )
            cv = result["cross_validation"]["rmse"]
            print(
                "  4-fold mean +- std: "
                + "  ".join(f"{k} {v['mean']:.4f} +- {v['std']:.4f}" for k, v in cv.items())
            )
        if synthetic_budget > 0:
            result["synthetic"] = synthetic_quality(Path(tmp), synthetic_budget, precision, patches)
            print(
                "  documents-synthetic: "
                + "  ".join(f"{k} {v:.4f}" for k, v in result["synthetic"]["rmse"].items())
            )
    atomic_write_json(out, result)
    if budget > 0:
        print(
            f"doc-unet: RMSE {result['rmse']['model']:.4f} after {result['train_seconds']:.0f} "
            "s of training "
            f"(target <= {DOC_TARGET} within {DOC_SECONDS:.0f} s: "
            f"{'met' if result['met'] else 'not met'})"
        )
    print(f"wrote {out}")


def generation_runs(dataset: str) -> list[tuple[str | None, dict[str, Any], tuple[str, ...]]]:
    """(model, options, priors to fit) compared on ``dataset``: the tour's 32-D VAE on the grey
    sets, aekit's own choice on others (colour sprites); vq-vae on both (its prior is trained with
    it)."""
    first = (
        ("conv-vae", {"latent_dim": 32, "likelihood": "bernoulli"})
        if dataset in ("mnist", "fashion-mnist")
        else (None, {"latent_dim": 64})
    )
    return [(*first, ("gmm", "flow")), ("vq-vae", {}, ())]


def generation_quality(
    out: Path, dataset: str, epochs: int, minutes: float | None, precision: str
) -> dict[str, Any]:
    """Train each model of ``generation_runs`` (the first for ``epochs`` or ``minutes``, the others
    for the first's wall time), fit its priors, score samples; a run folder that already holds a
    model is reused (``--runs``)."""
    from aekit.priors import fit_prior
    from aekit.runs import read_run_config

    rows: dict[str, Any] = {}
    budget_minutes = minutes
    for model, options, priors in generation_runs(dataset):
        run_dir = out / (model or "default")
        if (run_dir / "model.safetensors").exists():
            print(f"{run_dir}: reusing the trained run", flush=True)
        else:
            config = TrainConfig(
                model=model,
                dataset=dataset,
                out=str(run_dir),
                batch_size=128,
                model_options=options,
                epochs=10_000 if budget_minutes else epochs,
                max_minutes=budget_minutes,
                patience=3,
                quiet=True,
                precision=precision,
            )
            aekit.train(config)
        history = [
            json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]
        # the epochs' own time, also for a reused run
        train_seconds = sum(h["seconds"] for h in history)
        # the next models get the same training time
        budget_minutes = budget_minutes or train_seconds / 60
        for prior in priors:
            fit_prior(run_dir, prior)
        sections = evaluate_run(run_dir, iwae_k=16, iwae_images=200, priors=priors)["sections"]
        chosen = read_run_config(run_dir)
        rows[chosen.model] = {
            "options": chosen.model_options,
            "epochs": len(history),
            "train_seconds": round(train_seconds, 1),
            "samples": sections["samples"],
        }
        print(generation_table({chosen.model: rows[chosen.model]}), flush=True)
    return rows


def generation_targets(rows: dict[str, Any]) -> dict[str, Any]:
    """The issue's three targets, from the first model's columns and vq-vae's."""
    first = next(iter(rows.values()))["samples"]["frechet"]
    gauss = next(v for k, v in first.items() if k.startswith("PCA-Gaussian"))
    best_name, best = min(
        ((k, v) for k, v in first.items() if k.startswith("prior ")), key=lambda kv: kv[1]
    )
    vq = rows.get("vq-vae", {}).get("samples", {}).get("frechet", {}).get("model")
    return {
        "best_prior": best_name,
        "prior_cuts_40_percent": {
            "prior": best,
            "n01": first["model"],
            "cut": 1 - best / first["model"],
            "met": best <= 0.6 * first["model"],
        },
        "prior_3x_pca_gaussian": {
            "prior": best,
            "pca_gaussian": gauss,
            "ratio": gauss / best,
            "met": 3 * best <= gauss,
        },
        "vq_vae_at_least_n01": None
        if vq is None
        else {"vq_vae": vq, "n01": first["model"], "met": vq <= first["model"]},
    }


def generation_table(rows: dict[str, Any]) -> str:
    lines = [
        f"{'model':<10} {'codes from':<34} {'Frechet':>8} {'precision':>9} {'recall':>7} "
        f"{'coverage':>8} {'class match':>11}"
    ]
    for model, row in rows.items():
        s = row["samples"]
        for column in s["frechet"]:
            label = (
                "N(0, I)"
                if column == "model" and model != "vq-vae"
                else "its PixelCNN prior"
                if column == "model"
                else column
            )
            match = s.get("class_match", {}).get(column)
            lines.append(
                f"{model:<10} {label:<34} {s['frechet'][column]:8.1f} "
                f"{s['precision'][column]:9.3f} "
                f"{s['recall'][column]:7.3f} {s['coverage'][column]:8.3f} "
                + (f"{match:11.3f}" if match is not None else f"{'':>11}")
            )
        lines.append(f"{'':<10} {row['epochs']} epochs, trained {row['train_seconds']:.0f} s")
    return "\n".join(lines)


def run_generation(args: argparse.Namespace, precision: str) -> None:
    dataset = args.dataset or "fashion-mnist"
    minutes = (
        args.gen_minutes
        if args.gen_minutes is not None
        else (None if dataset in ("mnist", "fashion-mnist") else 15.0)
    )
    out = (
        args.out
        if args.out is not None
        else GEN_RESULTS
        if dataset == "fashion-mnist"
        else GEN_RESULTS.with_name(f"quality-generation-{dataset}.json")
    )
    print(
        f"generation on {dataset}: "
        f"{'10 epochs (the tour full preset)' if minutes is None else f'{minutes:g} min each'}; "
        f"{torch.get_num_threads()} threads, CPU flags: {cpu_flags()}",
        flush=True,
    )
    with (
        contextlib.nullcontext(str(args.runs))
        if args.runs
        else tempfile.TemporaryDirectory(prefix="aekit-gen-")
    ) as tmp:
        rows = generation_quality(Path(tmp), dataset, 10, minutes, precision)
    targets = generation_targets(rows)
    print(generation_table(rows))
    for name, t in targets.items():
        if isinstance(t, dict):
            print(
                f"  target {name}: "
                + ", ".join(f"{k} {v:.3g}" for k, v in t.items() if k != "met")
                + (": met" if t["met"] else ": NOT met")
            )
    atomic_write_json(
        out,
        {
            "dataset": dataset,
            "precision": precision,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cpu_flags": cpu_flags(),
            "rows": rows,
            "targets": targets,
        },
    )
    print(f"wrote {out}")


def run_precision(args: argparse.Namespace) -> None:
    """pixel-vae's IWAE-1000 on the same 500 test images in fp32 and bf16, after a short
    training."""
    budget = args.budget if args.budget is not None else 300.0
    out = args.out if args.out is not None else PRECISION_RESULTS
    print(
        f"pixel-vae, {budget:.0f} s of bf16 training, then IWAE-1000 on the first 500 test "
        "images in fp32 and bf16; "
        f"{torch.get_num_threads()} threads, CPU flags: {cpu_flags()}",
        flush=True,
    )
    result: dict[str, Any] = {
        "model": "pixel-vae",
        "train_budget_s": budget,
        "images": 500,
        "k": 1000,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_flags": cpu_flags(),
    }
    with (
        contextlib.nullcontext(str(args.runs))
        if args.runs
        else tempfile.TemporaryDirectory(prefix="aekit-precision-")
    ) as tmp:
        config = TrainConfig(
            model="pixel-vae",
            dataset="mnist",
            out=str(Path(tmp) / "pixel-vae"),
            batch_size=128,
            lr=1e-3,
            model_options={"latent_dim": 32},
            quiet=True,
            precision="bf16",
        )
        curve = train_for(config, budget, lambda d: {}, budget)
        result["epochs"], result["train_seconds"] = curve[-1]["epoch"], curve[-1]["train_seconds"]
        run = Run(config.out, "cpu", max_test_images=500)
        for precision in ("fp32", "bf16"):
            section, _ = likelihood_section(run, 1000, 500, bf16=precision == "bf16")
            result[precision] = {
                "nll_iwae": section["nll_iwae"]["model"],
                "nll_elbo": section["nll_elbo"]["model"],
                "images_per_s": section["iwae_images_per_s"]["model"],
            }
            print(
                f"  {precision}: IWAE {result[precision]['nll_iwae']:.3f}  ELBO "
                f"{result[precision]['nll_elbo']:.3f}  "
                f"{result[precision]['images_per_s']:.2f} images/s "
                f"({1000 * result[precision]['images_per_s']:,.0f} samples/s)",
                flush=True,
            )
    result["iwae_difference"] = result["bf16"]["nll_iwae"] - result["fp32"]["nll_iwae"]
    result["speed_ratio_bf16_over_fp32"] = (
        result["bf16"]["images_per_s"] / result["fp32"]["images_per_s"]
    )
    print(
        f"  bf16 - fp32: IWAE {result['iwae_difference']:+.3f} nats; bf16 runs "
        f"{result['speed_ratio_bf16_over_fp32']:.2f}x "
        "the fp32 speed"
    )
    atomic_write_json(out, result)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 + 1 minutes of training in epochs of 6,000 images, smaller test subsets; "
        "documents: about 5 minutes in all",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"results file (default {RESULTS.name}, {DOC_RESULTS.name} for documents)",
    )
    parser.add_argument(
        "--only",
        choices=["vae", "dae", "documents", "generation", "precision"],
        help="run one measurement (documents runs only when asked for)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="documents: seconds of training on the real pages, 0 skips it (default 1800, "
        "--quick 120); precision: seconds of pixel-vae training (default 300)",
    )
    parser.add_argument(
        "--fold-budget",
        type=float,
        help="documents: seconds of training per cross-validation fold, 0 skips them (default "
        "300, --quick 20)",
    )
    parser.add_argument(
        "--fold-jobs",
        type=int,
        default=1,
        help="documents: cross-validation folds trained at once, each in its own process with "
        "--threads threads (default 1)",
    )
    parser.add_argument(
        "--synthetic-budget",
        type=float,
        help="documents: seconds of training on documents-synthetic, 0 skips it (default 300, "
        "--quick 30)",
    )
    parser.add_argument(
        "--vae-model",
        default="pixel-vae",
        choices=["pixel-vae", "conv-vae"],
        help="the VAE to train (default pixel-vae)",
    )
    parser.add_argument(
        "--fp32", action="store_true", help="train and evaluate in float32 (default: bf16 autocast)"
    )
    parser.add_argument(
        "--patches-per-epoch",
        type=int,
        help="documents: patches per epoch (default the example config's, --quick 256)",
    )
    parser.add_argument(
        "--runs",
        type=Path,
        help="documents, generation: keep the run folders here (default: a temporary "
        "folder); generation reuses a trained run found there",
    )
    parser.add_argument("--dataset", help="generation: the dataset (default fashion-mnist)")
    parser.add_argument(
        "--gen-minutes",
        type=float,
        help="generation: minutes of training per model (default: "
        "10 epochs for the first on the grey sets, then its wall time; 15 min each on others)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default torch's; 1 on a machine shared with other jobs)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = "fp32" if args.fp32 else "bf16"
    if args.only == "documents":
        run_documents(args, precision)
        return 0
    if args.only == "generation":
        run_generation(args, precision)
        return 0
    if args.only == "precision":
        run_precision(args)
        return 0
    args.out = args.out if args.out is not None else RESULTS
    if args.quick:  # "epochs" of 6,000 images, so even a short run has a curve
        vae_budget, dae_budget, curve_images, curve_k, final_images, epoch = (
            180.0,
            60.0,
            200,
            200,
            500,
            6000,
        )
    else:
        vae_budget, dae_budget, curve_images, curve_k, final_images, epoch = (
            1200.0,
            PSNR_SECONDS,
            500,
            1000,
            None,
            None,
        )
    with tempfile.TemporaryDirectory(prefix="aekit-quality-") as tmp:
        vae = (
            vae_quality(
                args.vae_model,
                Path(tmp),
                vae_budget,
                curve_images,
                curve_k,
                final_images,
                epoch,
                precision,
            )
            if args.only != "dae"
            else None
        )
        dae = (
            dae_quality(Path(tmp), dae_budget, 2000 if args.quick else 10_000, epoch, precision)
            if args.only != "vae"
            else None
        )
    atomic_write_json(
        args.out,
        {
            "quick": args.quick,
            "precision": precision,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "vae": vae,
            "denoising_ae": dae,
        },
    )
    if vae:
        print(
            f"{vae['model']}: IWAE-1000 {vae['final']['nll_iwae']:.2f} nats after "
            f"{vae['train_seconds']:.0f} s "
            f"of training, evaluated in {vae['final']['eval_seconds']:.0f} s (target <= "
            f"{NLL_TARGET} within 1200 s, "
            f"on 10,000 images in < 600 s: {'met' if vae['met'] else 'not met'})"
        )
    if dae:
        print(
            f"denoising AE: {'met' if dae['met'] else 'not met'} (beat the median filter within "
            f"{PSNR_SECONDS:.0f} s)"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
