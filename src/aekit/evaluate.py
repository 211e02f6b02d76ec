"""Measure a trained run on its test split, with baselines beside every number -> ``eval.json``.

Which metrics apply is decided from the run: denoising when it was trained with noise (fixed,
seeded corruption of the test images), documents metrics for page datasets, likelihood bounds
and sample quality for generative models, a linear probe when the data has labels, and the
angle to PCA for the linear autoencoder. ``eval.json`` holds ``sections``: for each section a
dict ``metric -> {column -> value}``, where column ``"model"`` is the run and the others are
its references (noisy input, median filter, PCA, chance, ...).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit import metrics
from aekit.errors import ConfigError
from aekit.evaluate_likelihood import likelihood_section, plan_likelihood
from aekit.evaluation_defaults import IWAE_SECONDS, SEED
from aekit.generation import check_samples, measure_run
from aekit.generation_samplers import in_batches
from aekit.io import atomic_write_json
from aekit.page_metrics import OCR_PAGES, page_sections
from aekit.plan_measures import plan_section
from aekit.priors import Prior, fitted_priors, load_prior
from aekit.progress import Progress, duration
from aekit.quality import MAX_REFERENCE_IMAGES, classifier_accuracy, get_classifier, sample_quality
from aekit.run import Run
from aekit.runs import EVAL_FILE

MAX_SAMPLE_IMAGES = 5_000  # generated images for the Frechet distance
# Drawing from sequential samplers (PixelCNN, transformer) costs seconds per hundred images on 2
# cores: unless
# --sample-images is given, the sample-quality section draws as many as fit SAMPLE_SECONDS (a timed
# probe).
SAMPLE_SECONDS = 60.0
SAMPLE_PROBE = 32  # draws timed per sampler
# a budget draws at least this many: fewer make the Frechet distance mostly bias
MIN_SAMPLE_IMAGES = 200
BATCH = 512
ANNOUNCE_SECONDS = 10.0  # a step expected to take longer is announced with its estimate first


def _map(fn, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
    """``fn(x, condition)`` in batches, without autograd."""
    with torch.inference_mode():
        return torch.cat(
            [
                fn(x[i : i + BATCH], None if condition is None else condition[i : i + BATCH])
                for i in range(0, len(x), BATCH)
            ]
        )


def reconstruction_section(run: Run, train_x: torch.Tensor) -> dict[str, dict[str, float]]:
    """MSE/PSNR/SSIM of reconstructions (or of denoised noisy inputs) with baselines."""
    x = run.test.images
    condition = run.condition(run.test)
    if run.noise is None:  # PCA with the model's code size
        pca = metrics.fit_pca(train_x, run.model.latent_dim)
        columns = {
            "model": _map(run.model.reconstruct, x, condition),
            f"PCA ({pca.n_components_} components)": metrics.pca_reconstruct(pca, x),
        }
    else:  # a code size means nothing to a denoiser: PCA gets its best number of components
        inputs = run.noisy(x)
        pca, k = metrics.pca_denoiser(train_x, lambda clean: run.noisy(clean))
        columns = {
            "model": _map(run.model.reconstruct, inputs, condition),
            "noisy input": inputs,
            "median 3x3": metrics.median_filter(inputs),
            f"PCA ({k} components, the best on held-out training images)": metrics.pca_project(
                pca, inputs, k
            ),
        }
    scores = {name: metrics.image_metrics(out, x) for name, out in columns.items()}
    return {m: {name: scores[name][m] for name in columns} for m in ("mse", "psnr", "ssim")}


@dataclass
class SamplePlan:
    """Samples per column of the sample-quality section: ``n`` of at most ``full`` (the test and
    held-out images there are, up to MAX_SAMPLE_IMAGES), whether a time budget chose them, and the
    estimated seconds of drawing (``n`` and ``full``)."""

    n: int
    full: int
    # None: nothing was left out for time (the user gave the number, or all fit)
    budget_seconds: float | None
    estimated_seconds: float
    full_seconds: float

    def describe(self, samplers: int) -> str:
        text = (
            f"{self.n:,} samples per column from {samplers} sampler(s), about "
            f"{duration(self.estimated_seconds)} of drawing"
        )
        if self.budget_seconds is not None:
            text += (
                f" (chosen to fit the {self.budget_seconds:g} s budget; {self.full:,} would "
                "take about "
                f"{duration(self.full_seconds)}: --sample-images for more)"
            )
        return text


def plan_sample_images(
    draws: dict[str, Any], full: int, n: int | None = None, seconds: float = SAMPLE_SECONDS
) -> SamplePlan:
    """``n`` when given (at most ``full``); else ``full``, or as many as fit ``seconds`` of drawing
    (at least MIN_SAMPLE_IMAGES), from SAMPLE_PROBE timed draws of each sampler (``draws``:
    ``name -> draw(rows: slice)``)."""
    per_image = 0.0
    for draw in draws.values():
        start = time.perf_counter()
        with torch.inference_mode():
            draw(slice(0, min(SAMPLE_PROBE, full)))
        per_image += (time.perf_counter() - start) / min(SAMPLE_PROBE, full)
    if n is not None:
        n = min(n, full)
        return SamplePlan(n, full, None, per_image * n, per_image * full)
    if per_image * full <= seconds:
        return SamplePlan(full, full, None, per_image * full, per_image * full)
    n = min(full, max(MIN_SAMPLE_IMAGES, math.floor(seconds / per_image)))
    return SamplePlan(n, full, seconds if n < full else None, per_image * n, per_image * full)


def samples_section(
    run: Run,
    train_x: torch.Tensor,
    priors: Sequence[str] = (),
    progress: Progress | None = None,
    n: int | None = None,
    seconds: float = SAMPLE_SECONDS,
) -> tuple[dict[str, dict[str, float]], str, SamplePlan]:
    """Frechet distance, confidence, coverage, precision and recall of samples against the held-out
    floor and PCA-Gaussian; with ``priors``, one more column each: the model decoding that prior's
    codes. ``n`` samples per column (None: as many as fit ``seconds`` of drawing, see
    ``plan_sample_images``)."""
    train = run.train.head(MAX_REFERENCE_IMAGES)
    classifier = get_classifier(
        run.dataset, train.images, train.labels, run.test.num_classes, progress=progress
    )
    accuracy = classifier_accuracy(run.dataset, train.images, train.labels)
    # one sample size for every column
    full = min(MAX_SAMPLE_IMAGES, len(run.test), len(run.heldout))
    generator = torch.Generator().manual_seed(SEED)
    condition = run.condition(run.test.head(full))
    by_label = run.model.label_conditional
    floor = "held-out real images (floor)"
    draws: dict[str, Any] = {}
    if run.model.generative:
        draws["model"] = lambda rows: run.model.sample(
            rows.stop - rows.start,
            None if condition is None else condition[rows],
            generator=generator,
        )
    loaded = {name: load_prior(run.dir, name) for name in priors}
    for name, prior in loaded.items():
        # real class shares
        labels = (
            (condition if by_label else run.heldout.labels[:full]) if prior.conditional else None
        )
        draws[f"prior {name}"] = _prior_draw(run.model, prior, generator, labels, condition)
    plan = plan_sample_images(draws, full, n, seconds)
    if progress is not None:
        progress.message(f"  samples: {plan.describe(len(draws))}")
    n = plan.n
    generator.manual_seed(SEED)  # the probe's draws left out of the measured ones
    real = run.test.images[:n]
    # classes to show
    asked = {"model": condition[:n], floor: run.heldout.labels[:n]} if by_label else {}
    columns = {}
    for name, draw in draws.items():
        columns[name] = in_batches(draw, n, f"samples of {name}", progress)
    pca = metrics.fit_pca(train_x, run.model.latent_dim)
    columns[floor] = run.heldout.images[:n]
    columns[f"PCA-Gaussian ({pca.n_components_} components)"] = metrics.pca_gaussian_samples(
        pca, n, tuple(real.shape[1:]), SEED
    )
    for name, prior in loaded.items():
        if prior.conditional:
            asked[f"prior {name}"] = (condition if by_label else run.heldout.labels)[:n]
            asked.setdefault(floor, run.heldout.labels[:n])
    scores = {
        name: sample_quality(classifier, images, real, asked.get(name))
        for name, images in columns.items()
    }
    note = (
        f"sample quality: {n} samples vs {n} test images in the 128-d features of aekit's own "
        "classifier for "
        f"{run.dataset} (hold-out accuracy {accuracy:.3f}); Frechet distances compare runs on "
        "this dataset only"
    )
    if plan.budget_seconds is not None:
        note += (
            f"; {n} of {plan.full} samples chosen to fit a {plan.budget_seconds:g} s budget of "
            "drawing (aekit evaluate --sample-images for more)"
        )
    section = {
        m: {name: scores[name][m] for name in columns}
        for m in ("frechet", "confidence", "coverage", "precision", "recall")
    }
    if asked:  # did each sample come out as the class asked for?
        section["class_match"] = {name: scores[name]["class_match"] for name in asked}
        section["class_match"]["chance"] = 1.0 / run.test.num_classes
    return section, note, plan


def _prior_draw(
    model: torch.nn.Module,
    prior: Prior,
    generator: torch.Generator,
    labels: torch.Tensor | None,
    condition: torch.Tensor | None,
) -> Any:
    """``draw(rows)``: the model decoding the prior's codes for ``rows`` (of the classes ``labels``
    asks for)."""

    def draw(rows: slice) -> torch.Tensor:
        codes = prior.sample(
            rows.stop - rows.start,
            generator=generator,
            labels=None if labels is None else labels[rows],
        )
        return model.decode(codes, None if condition is None else condition[rows])

    return draw


def latent_section(run: Run, train_x: torch.Tensor) -> dict[str, dict[str, float]]:
    """Linear-probe accuracy on latent codes, beside chance and PCA codes of the same size."""
    train = run.train.head(MAX_REFERENCE_IMAGES)
    z_train = run.latent_codes(train).flatten(1).numpy()
    z_test = run.latent_codes(run.test).flatten(1).numpy()
    y_train, y_test = train.labels.numpy(), run.test.labels.numpy()
    pca = metrics.fit_pca(train_x, run.model.latent_dim)
    flat = lambda images: images.reshape(len(images), -1).numpy()  # noqa: E731
    model_acc = metrics.linear_probe(z_train, y_train, z_test, y_test)
    pca_acc = metrics.linear_probe(
        pca.transform(flat(train.images)), y_train, pca.transform(flat(run.test.images)), y_test
    )
    chance = float(np.bincount(y_test).max() / len(y_test))
    pca_name = f"PCA codes ({pca.n_components_})"
    section = {
        "probe_test": {
            "model": model_acc[1],
            pca_name: pca_acc[1],
            "chance (majority class)": chance,
        },
        "probe_train": {"model": model_acc[0], pca_name: pca_acc[0]},
    }
    if run.model.affine_decoder:
        # PCA of exactly the images the model was fitted to: with a small gap between the k-th and
        # (k+1)-th eigenvalues, PCAs of two samples of the same data differ by several degrees.
        seen = run.train.head(run.config.max_train_images or len(run.train)).images
        section["angle_to_pca"] = {
            "model": angle_to_pca(run.model, metrics.fit_pca(seen, run.model.latent_dim))
        }
    return section


def angle_to_pca(model: torch.nn.Module, pca) -> float:
    """Largest principal angle between the decoder's image subspace and the PCA subspace.

    The decoder's subspace is read off its outputs: decoding the zero code and the unit codes
    gives the columns of the affine decoder (``decode_raw``, the unclipped decoder, when the
    model has one, so that clipping to [0, 1] does not bend the subspace).
    """
    d = model.latent_dim
    with torch.inference_mode():
        outputs = model.decode_raw(torch.cat([torch.zeros(1, d), torch.eye(d)]))
    columns = (outputs[1:] - outputs[:1]).reshape(d, -1).T.double().numpy()
    return metrics.max_principal_angle(columns, pca.components_.T)


def evaluate_run(
    run_dir: str | Path,
    iwae_k: int | None = None,
    max_images: int | None = None,
    iwae_images: int | None = None,
    iwae_seconds: float = IWAE_SECONDS,
    bf16: bool = False,
    priors: Sequence[str] = (),
    progress: Progress | None = None,
    ocr_pages: int = OCR_PAGES,
    generation_samples: int | None = None,
    sample_images: int | None = None,
    plan_footprints: int | None = None,
) -> dict:
    """Every metric that applies to this run, with baselines; written to ``RUN_DIR/eval.json``.

    The likelihood bounds (IWAE costs ``iwae_k`` decoder passes per image) run on the first
    ``iwae_images`` test images; what is not given of the two is chosen to fit ``iwae_seconds``
    (see ``plan_likelihood``; eval.json's ``likelihood_plan`` says what ran and whether it was
    budgeted). ``max_images`` bounds every metric; ``bf16`` computes the likelihood bounds under
    bfloat16 autocast (see ``likelihood_section``); ``priors`` (names, or ``"all"`` for every prior
    fitted in the run folder) add a sample-quality column each; ``progress`` hears of each section
    as it ends (silent when None); ``ocr_pages``: held-out pages read by tesseract (page runs);
    ``generation_samples``: samples per figure of the generation measures (None: up to 475, as many
    as fit ``generation.GENERATION_SECONDS`` of drawing); ``sample_images``: samples per column of
    the sample-quality section (None: up to MAX_SAMPLE_IMAGES, as many as fit SAMPLE_SECONDS of
    drawing); ``plan_footprints``: floor-plan runs' test footprints (None: up to 500, as many as fit
    a minute)."""
    for flag, value in (
        ("--iwae-k", iwae_k),
        ("--max-images", max_images),
        ("--iwae-images", iwae_images),
        ("--sample-images", sample_images),
        ("--plan-footprints", plan_footprints),
    ):
        if value is not None and value < 1:
            raise ConfigError(f"aekit evaluate: {flag} must be at least 1, got {value}")
    check_samples(generation_samples)
    if not 0 < iwae_seconds < math.inf:
        raise ConfigError(
            f"aekit evaluate: --iwae-seconds must be a positive number, got {iwae_seconds}"
        )
    priors = fitted_priors(run_dir) if "all" in priors else list(dict.fromkeys(priors))
    for name in priors:  # refuse a missing or stale prior now, not after minutes of evaluation
        load_prior(run_dir, name)
    torch.manual_seed(SEED)
    start = time.perf_counter()
    # on the CPU, with the trainer's speed settings (channels-last, kept allocations): 2.3x faster
    # IWAE, same numbers
    run = Run(run_dir, "cpu", max_test_images=max_images)
    config = run.config
    result: dict[str, Any] = {
        "run": str(run.dir),
        "model": run.model_name,
        "dataset": run.dataset,
        "split": "test",
        "test_items": len(run.test),
        "noise": config.noise,
        "notes": [],
        "sections": {},
    }
    sections = result["sections"]

    progress = progress or Progress(quiet=True)

    def log(message: str) -> None:
        progress.message(f"  {message} ({time.perf_counter() - start:.1f} s)")

    if run.pages:
        for name, section, note in page_sections(
            run.model, run.test, run.training_text(), progress, ocr_pages
        ):
            sections[name] = section
            result["notes"].append(note)
            log(name)
    else:
        train_x = run.train.head(MAX_REFERENCE_IMAGES).images
        name = "denoising" if run.noise is not None else "reconstruction"
        sections[name] = reconstruction_section(run, train_x)
        if run.noise is not None:
            result["notes"].append(
                f"denoising: test images corrupted once with {run.noise.spec} (seed {SEED})"
            )
        log(name)
        if run.model.likelihood is not None:
            plan = plan_likelihood(run, iwae_k, iwae_images, iwae_seconds, bf16)
            progress.message(f"  likelihood: {plan.describe()}")
            began = time.perf_counter()
            sections["likelihood"], note = likelihood_section(
                run, plan.k, plan.images, bf16, progress
            )
            if plan.budget_seconds is not None:
                note += (
                    f"; k and the number of images chosen to fit a {plan.budget_seconds:g} s "
                    "budget (aekit evaluate --iwae-k, --iwae-images, --iwae-seconds for more)"
                )
            result["notes"].append(note)
            result["likelihood_plan"] = {
                **asdict(plan),
                "budgeted": plan.budget_seconds is not None,
                "seconds": round(time.perf_counter() - began, 2),
            }
            log("likelihood")
        if run.model.condition_kind == "footprint":  # floor plans drawn for unseen footprints
            sections["floor plans"], note, footprints = plan_section(
                run.model,
                run.train.footprints,
                run.train.plans,
                run.test.footprints,
                run.test.plans,
                plan_footprints,
                progress=progress,
                priors={name: run.prior(name) for name in priors},
            )
            result["notes"].append(note)
            result["footprints_plan"] = {
                **asdict(footprints),
                "budgeted": footprints.budget_seconds is not None,
            }
            log("floor plans")
        if (
            (run.model.generative or priors)
            and run.test.labels is not None
            and run.test.num_classes
        ):
            sections["samples"], note, drawn = samples_section(
                run, train_x, priors, progress, sample_images
            )
            result["notes"].append(note)
            result["samples_plan"] = {**asdict(drawn), "budgeted": drawn.budget_seconds is not None}
            log("samples")
            # per class, with novelty
            generation = measure_run(run, priors, generation_samples, progress=progress)
            sections.update(generation.sections)
            result["generation"] = generation.summary
            result["notes"] += generation.notes
            log("generation")
        if (
            run.test.labels is not None
            and len(set(run.train.labels.tolist())) > 1
            and not run.model.spatial_code
        ):
            sections["latent"] = latent_section(run, train_x)
            log("latent probe")
    result["seconds"] = round(time.perf_counter() - start, 2)
    atomic_write_json(run.dir / EVAL_FILE, _finite(result))
    return result


def _finite(obj: Any) -> Any:
    """JSON has no infinity: non-finite floats become null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
