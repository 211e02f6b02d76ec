"""The tour's plan: its presets and, for each dataset, the experiments it runs with their recipes
and claims."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aekit.config import TrainConfig
from aekit.evaluate_likelihood import INDEPENDENT_PIXELS
from aekit.generation_samplers import OVERALL
from aekit.page_metrics import OCR_PAGES
from aekit.plan_measures import DIVERSITY as PLAN_DIVERSITY
from aekit.plan_measures import IOU as PLAN_IOU
from aekit.plan_measures import REALISM as PLAN_REALISM
from aekit.plan_measures import VALID as PLAN_VALID
from aekit.tour_claims import (
    LIKELIHOOD_BEATS_PIXELS,
    Claim,
    Experiment,
    at_least_as,
    at_most,
    beats,
    probe_beats_pca,
    samples_beat_pca,
    times_chance,
)

RECIPES = Path(__file__).resolve().parent / "recipes"  # examples/document-unet.toml links to one


@dataclass
class Preset:
    """Sizes of the tour: quick (minutes on 2 CPU cores) or full (the README's figures)."""

    train_images: int | None
    epochs: int
    vae_epochs: int
    # the 2-D VAE (the tutorial's conv VAE: the slowest epoch of the tour); its quick claim, the
    # likelihood beating independent pixels, holds after one epoch
    manifold_epochs: int
    iwae_k: int
    iwae_images: int | None  # the likelihood bounds cost iwae_k decoder passes per image
    eval_images: int | None
    doc_epochs: int
    doc_patches: int
    linear_epochs: int = 30  # the linear AE needs many quiet steps to settle on the PCA subspace
    doc_minutes: float | None = None  # wall-clock budget of the document cleaner
    sprite_minutes: float = 0.75  # wall-clock budget of the game-sprite model (its prior included)
    # wall-clock budget of the floor-plan model; None (and no plan_images): none
    plan_minutes: float | None = None
    # instead of plan_minutes: one epoch on this many pairs, the same training on any number of
    # threads
    # (30 s of 2 idle threads trained 5,200 pairs and beat retrieval; on one busy thread it fell
    # short)
    plan_images: int | None = None
    plan_footprints: int = 500  # unseen footprints the floor plans are drawn for (8 plans each)
    ocr_pages: int = OCR_PAGES  # held-out pages tesseract reads in the documents experiment
    # samples per figure of the generation measures (None: evaluate's default)
    generation_samples: int | None = None
    judge_all: bool = False  # also judge the claims that need the full preset's training


QUICK = Preset(
    train_images=12_000,
    epochs=3,
    vae_epochs=3,
    manifold_epochs=2,
    iwae_k=64,
    iwae_images=500,
    eval_images=500,
    doc_epochs=2,
    doc_patches=320,
    linear_epochs=120,
    ocr_pages=1,
    sprite_minutes=0.3,
    plan_images=5_120,
    plan_footprints=24,
    generation_samples=120,
)


FULL = Preset(
    train_images=None,
    epochs=10,
    vae_epochs=10,
    manifold_epochs=10,
    iwae_k=1_000,
    iwae_images=1_000,
    eval_images=None,
    doc_epochs=60,
    doc_patches=2_048,
    linear_epochs=70,
    doc_minutes=20.0,
    sprite_minutes=15.0,
    plan_minutes=15.0,
    judge_all=True,
)


# Digits are 8x8 images: these experiments use smaller models and codes there than their recipes.
DIGITS = {
    "vae-2d": {"model": "vae"},
    "vae-32": {"model": "vae", "latent_dim": 8},
    "linear-pca": {"latent_dim": 8},
}


def recipe_config(name: str, small: bool = False, **sizes: Any) -> dict[str, Any]:
    """``TrainConfig`` keywords of ``recipes/NAME.toml`` (the full tour's settings, which
    ``aekit train --config`` runs as they are), with ``sizes`` (dataset, epochs, images) put over
    them; ``small``: the digits' model and code size (``DIGITS``)."""
    config = TrainConfig.from_toml(RECIPES / f"{name}.toml").to_dict()
    change = DIGITS.get(name.removeprefix("tour-"), {}) if small else {}
    if "model" in change:
        config["model"] = change["model"]
    if "latent_dim" in change:
        config["model_options"] = {**config["model_options"], "latent_dim": change["latent_dim"]}
    return {**config, **sizes}


def plan(dataset: str, documents: str, preset: Preset, sprites: bool = True) -> list[Experiment]:
    """The tour's experiments for one dataset and preset (``sprites``: with the game sprites)."""
    small = dataset == "digits"  # 8x8 images: the conv models use their own small stacks
    common = {"dataset": dataset, "max_train_images": preset.train_images, "quiet": True}
    likelihood = {
        "iwae_k": preset.iwae_k,
        "iwae_images": preset.iwae_images,
        "eval_images": preset.eval_images,
        "generation_samples": preset.generation_samples,
    }
    experiments = [
        Experiment(
            "denoising",
            "Denoising autoencoder on salt-and-pepper noise",
            "A fully convolutional denoising autoencoder (the tutorial's conv 64 / pool / conv "
            "64 / upsample "
            "network) trained on noisy inputs against clean targets; compared with the noisy "
            "input and the "
            "classic 3x3 median filter. (The tutorial's bottlenecked conv 64-32-16 denoiser, "
            "tutorial-dae, "
            "keeps only a 4x4x16 code and needs longer: it passes the median filter after about "
            "3 minutes on all of MNIST, benchmarks/quality.py; examples/denoising-dae.toml.)",
            recipe_config("tour-denoising", **common, epochs=preset.epochs),
            figure_names=(("denoising", "psnr"), ("denoising", "ssim")),
            claims=(
                Claim(
                    "the denoiser beats the noisy input, the 3x3 median filter and PCA (PSNR)",
                    beats("psnr", ("noisy input", "median 3x3", "PCA"), lower_is_better=False),
                ),
            ),
            eval_images=preset.eval_images,
        ),
        Experiment(
            "vae-2d",
            "Variational autoencoder with a 2-D latent space",
            "A 2-D latent can be drawn: the decoded manifold and the classes' scatter show what "
            "the VAE learned.",
            recipe_config("tour-vae-2d", small, **common, epochs=preset.manifold_epochs),
            figure_names=(
                ("likelihood", "nll_iwae"),
                ("likelihood", "nll_elbo"),
                ("latent", "probe_test"),
            ),
            # the probe is judged in the full preset only: after 3 quick epochs on 12,000 images
            # it was 0.548 against PCA's 0.518 on 2 threads and 0.514 against 0.520 on 1 (the
            # quick preset now trains 2); the full preset's 0.654 against 0.509 is clear
            claims=(LIKELIHOOD_BEATS_PIXELS, probe_beats_pca(needs_full_preset=True)),
            **likelihood,
        ),
        Experiment(
            "vae-32",
            "Variational autoencoder with a 32-D latent space",
            "A larger latent gives a better likelihood (IWAE NLL in nats). Codes drawn from "
            "N(0, I) fall between "
            "the codes the encoder uses; a Gaussian mixture fitted to the training codes after "
            "training (aekit "
            "fit-prior) decodes to recognisable items: prior_samples.png shows both, side by side.",
            recipe_config("tour-vae-32", small, **common, epochs=preset.vae_epochs),
            figure_names=(
                ("likelihood", "nll_iwae"),
                ("likelihood", "nll_elbo"),
                ("samples", "frechet"),
                ("latent", "probe_test"),
            ),
            # quick preset (4 epochs on 12,000 images, measured): Frechet 149 vs PCA-Gaussian 98,
            # probe 0.794 vs 0.830
            claims=(
                LIKELIHOOD_BEATS_PIXELS,
                samples_beat_pca(needs_full_preset=True),
                probe_beats_pca(needs_full_preset=True),
                Claim(
                    "samples decoded from a Gaussian mixture fitted to the codes beat N(0, I) "
                    "and PCA-Gaussian (Frechet distance)",
                    beats(
                        "frechet",
                        ("model", "PCA-Gaussian"),
                        lower_is_better=True,
                        column="prior gmm",
                    ),
                ),
            ),
            priors=("gmm",),
            **likelihood,
        ),
        Experiment(
            "cvae",
            "Conditional VAE: generate a chosen class",
            "Encoder and decoder both see the class label, so one can ask for a chosen class. "
            "The dense model "
            "is cheap, so it trains three times as many epochs: until then its code still "
            "carries the class "
            "and samples drift from the class asked for (measured on Fashion-MNIST: with an 8-D "
            "code 52% of samples match at 10 epochs and 70% at 30; with a 2-D code 77% at 30).",
            recipe_config("tour-cvae", **common, epochs=3 * preset.vae_epochs),
            figure_names=(
                ("likelihood", "nll_iwae"),
                ("samples", "frechet"),
                ("samples", "class_match"),
                ("samples", "coverage"),
            ),
            claims=(
                Claim(
                    "the IWAE likelihood beats independent pixels fitted per class",
                    beats("nll_iwae", (INDEPENDENT_PIXELS,), lower_is_better=True),
                ),
                samples_beat_pca(),
                Claim(
                    "samples show the class asked for (at least 4x chance)",
                    times_chance("class_match", 4),
                ),
            ),
            **likelihood,
        ),
        Experiment(
            "linear-pca",
            "Linear autoencoder against PCA",
            "A linear autoencoder trained with squared error learns the principal subspace: "
            "the angle between the two subspaces should be small. Directions whose eigenvalues are "
            "close turn slowly, so it trains 13,000-15,000 steps of 256 images without early "
            "stopping (measured on "
            "Fashion-MNIST, eigenvalues 16 and 17 at 0.415 and 0.374: 30 epochs of batch 64 left "
            "13-17 degrees, 300 epochs of batch 256 1.7-2.1).",
            recipe_config("tour-linear-pca", small, **common, epochs=preset.linear_epochs),
            figure_names=(("latent", "angle_to_pca"), ("reconstruction", "mse")),
            claims=(
                Claim(
                    "the linear AE spans the PCA subspace (largest angle < 10 degrees)",
                    at_most("angle_to_pca", 10),
                ),
            ),
            eval_images=preset.eval_images,
        ),
        Experiment(
            "documents",
            "Cleaning scanned documents",
            "doc-unet (examples/document-unet.toml): a small U-Net that corrects background "
            "division, trained on "
            "aligned, augmented patches and run on whole pages; RMSE against the identity, the "
            "median filter and "
            "background subtraction, and what OCR (tesseract) reads. People scan at 300 dpi: "
            "the first held-out "
            "page is also enlarged 4x and given without its factor; the cleaner measures its "
            "text, cleans it at "
            "the training pages' size and maps it back (plots/document_300dpi.png: a "
            "full-resolution crop).",
            recipe_config(
                "document-unet",
                dataset=documents,
                epochs=preset.doc_epochs,
                max_minutes=preset.doc_minutes,
                patches_per_epoch=preset.doc_patches,
                quiet=True,
            ),
            figure_names=(
                ("documents", "rmse"),
                ("ocr", "cer"),
                ("documents at 300 dpi", "rmse_300dpi"),
                ("documents at 300 dpi", "cer_300dpi"),
            ),
            claims=(
                Claim(
                    "the cleaner beats the noisy page, the median filter and background "
                    "subtraction (RMSE)",
                    beats(
                        "rmse",
                        ("identity", "median 3x3", "background subtraction"),
                        lower_is_better=True,
                    ),
                ),
                Claim(
                    "at 300 dpi the cleaner still beats the noisy page and scaled background "
                    "subtraction (RMSE)",
                    beats(
                        "rmse_300dpi", ("identity", "background subtraction"), lower_is_better=True
                    ),
                ),
            ),
            ocr_pages=preset.ocr_pages,
        ),
    ]
    if sprites:
        experiments.append(
            Experiment(
                "sprites",
                "Game sprites: colour and transparency",
                "Dungeon Crawl's 32x32 RGBA sprites (Debian's crawl-tiles-data, CC0), cut from "
                "five sheets. Trained "
                "without --model: aekit chooses a code map (vq-vae, 8x8 codes) with a "
                "class-conditional transformer prior "
                "over it, fitted in the same run, and says why. Reconstructions against PCA "
                "with the same code size; "
                "samples per sheet against held-out tiles and PCA-Gaussian, with the share of "
                "near-copies of training "
                "tiles (novelty; real tiles score 5%) and 16 samples above their nearest "
                "training tiles in the report.",
                recipe_config(
                    "tour-sprites",
                    max_train_images=preset.train_images,
                    max_minutes=preset.sprite_minutes,
                    quiet=True,
                ),
                figure_names=(
                    ("reconstruction", "psnr"),
                    ("reconstruction", "ssim"),
                    ("samples", "frechet"),
                    (OVERALL, "novelty"),
                ),
                claims=(
                    Claim(
                        "reconstructions beat PCA with the same code size (PSNR)",
                        beats("psnr", ("PCA",), lower_is_better=False),
                        needs_full_preset=True,
                    ),
                    Claim(
                        "samples of the transformer prior are closer to the test tiles than "
                        "PCA-Gaussian samples (Frechet distance)",
                        beats(
                            "frechet",
                            ("PCA-Gaussian",),
                            lower_is_better=True,
                            column="prior transformer",
                        ),
                        needs_full_preset=True,
                    ),
                ),
                priors=("transformer",),
                iwae_k=16,
                iwae_images=200,
                generation_samples=preset.generation_samples,
            )
        )
    if preset.plan_minutes is not None or preset.plan_images:
        experiments.append(
            Experiment(
                "floor-plans",
                "Floor plans for a footprint",
                "Generated footprint/plan pairs (floorplans-synthetic, 64x64): aekit chooses "
                "plan-layout, a conditional "
                "VAE that draws the room layout for the footprint (one class per pixel, a code "
                "map for what the footprint "
                "leaves open), which a fixed renderer turns into walls, doors from the entrance "
                "and windows. Plans drawn "
                "for footprints never seen in training (8 each), scored as drawn and as the "
                "network's raw pixels: "
                "footprint IoU, validity (rooms enclosed, reachable through doors, large "
                "enough), realism and diversity, "
                "beside held-out real plans and retrieval (the training plan whose footprint "
                "fits best; raw and rendered); "
                "'prior gmm': the plans aekit sample draws, from a gmm prior fitted to the "
                "training plans' codes. "
                "Measured after 30 minutes: valid plans that differ from draw to draw, rooms "
                "less regular than the real ones (benchmarks/README.md).",
                recipe_config(
                    "tour-floor-plans",
                    quiet=True,
                    **(
                        {"max_train_images": preset.plan_images, "epochs": 1, "max_minutes": None}
                        if preset.plan_images
                        else {
                            "max_train_images": preset.train_images,
                            "max_minutes": preset.plan_minutes,
                        }
                    ),
                ),
                figure_names=tuple(
                    ("floor plans", metric)
                    for metric in (PLAN_IOU, PLAN_VALID, PLAN_REALISM, PLAN_DIVERSITY)
                ),
                claims=(
                    Claim(
                        "plans fill the footprint at least as well as retrieval (IoU)",
                        at_least_as(PLAN_IOU, "retrieval"),
                    ),
                ),
                priors=("gmm",),
                iwae_k=16,
                iwae_images=100,
                eval_images=preset.plan_footprints,
            )
        )
    return experiments
