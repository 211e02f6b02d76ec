"""Generation measures per class: are samples like the held-out images of their class, and new?

For every sampler (the model's own prior, each fitted prior, a class-wise PCA-Gaussian) and every
class, a fixed number of samples is compared with held-out real images of that class, all in the
features of aekit's classifier for the dataset (``quality.py``), against the training images:

* Frechet distance to the training images of the class, precision and recall against their k-NN
  manifold; the held-out real images' own figures are the floor (the best a sampler can hope for at
  this sample count);
* class accuracy: the share of samples asked for class c that the classifier calls c, beside its
  accuracy on real held-out images of c;
* novelty: the share of samples closer to their nearest training image than 95% of held-out real
  images are to theirs (real images score 5% by construction; a sampler that copies scores ~100%).
  Held-out images that are byte for byte a training image are removed first.

Class-conditional samplers draw each class; unconditional ones draw a pool whose images the
classifier assigns to classes. The overall section takes a seeded sample of all held-out images.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aekit import metrics
from aekit.errors import ConfigError
from aekit.generation_samplers import (
    OVERALL,
    Sampler,
    assigned_samples,
    conditional_samples,
    pca_gaussian_sampler,
    run_samplers,
)
from aekit.progress import Progress
from aekit.quality import (
    MAX_REFERENCE_IMAGES,
    FeatureClassifier,
    features,
    get_classifier,
    predict_proba,
)

if TYPE_CHECKING:
    from aekit.data.datasets import ImageSet
    from aekit.run import Run

# samples per class and overall (fewer where a class has fewer held-out images)
SAMPLES_PER_FIGURE = 475
NOVELTY_QUANTILE = 0.95
# an unconditional sampler draws at most this many images per image the class figures need
POOL_FACTOR = 1.25
MAX_CLASS_SECTIONS = 20  # more classes: the overall section only
# Drawing from sequential samplers (PixelCNN, transformer priors) costs seconds per hundred images
# on
# 2 cores: unless the number of samples is given, it is chosen from a timed probe of each sampler so
# that all draws fit GENERATION_SECONDS, between MIN_BUDGET_SAMPLES and SAMPLES_PER_FIGURE per
# figure.
GENERATION_SECONDS = 60.0
MIN_BUDGET_SAMPLES = 50
PROBE_DRAWS = 32
K_NEIGHBOURS = 3
REAL = "held-out real images"
METRICS = (
    "images",
    "fd_to_train",
    "precision_vs_train",
    "recall_vs_train",
    "class_accuracy",
    "class_share",
    "novelty",
)


@dataclass
class Generation:
    """``sections`` for eval.json (``metric -> column -> value``, one per class and one overall),
    ``summary`` (sample counts, how each sampler got its classes) and ``notes``."""

    sections: dict[str, dict[str, dict[str, float | int | None]]]
    summary: dict[str, Any]
    notes: list[str]


def section_name(class_name: str) -> str:
    return f"generation: {class_name}"


def run_classifier(
    run: Run, progress: Progress | None = None
) -> tuple[ImageSet, FeatureClassifier]:
    """The training images evaluation compares with (the first MAX_REFERENCE_IMAGES of the training
    split) and the dataset's feature classifier trained on them (cached after its first
    training)."""

    train = run.train.subset(list(range(min(MAX_REFERENCE_IMAGES, len(run.train)))))
    return train, get_classifier(
        run.dataset, train.images, train.labels, run.test.num_classes, progress=progress
    )


def measure_run(
    run: Run,
    priors: list[str],
    n: int | None = None,
    seconds: float = GENERATION_SECONDS,
    progress: Progress | None = None,
) -> Generation:
    """``generation_measures`` of the run's samplers and a per-class PCA-Gaussian with the model's
    code size."""
    train, classifier = run_classifier(run, progress)
    samplers = {
        "PCA-Gaussian": pca_gaussian_sampler(train, run.model.latent_dim),
        **run_samplers(run, priors),
    }
    return generation_measures(
        samplers, train, run.test, classifier, n, seconds=seconds, progress=progress
    )


def check_samples(n: int | None) -> None:
    """Refuse a number of samples per figure too small for precision and recall (None: budgeted)."""
    if n is not None and n < K_NEIGHBOURS + 1:
        raise ConfigError(
            f"aekit evaluate: --generation-samples must be at least {K_NEIGHBOURS + 1} "
            "(precision and "
            f"recall use {K_NEIGHBOURS} nearest neighbours), got {n}"
        )


@dataclass
class SamplePlan:
    """Samples per figure, and whether a time budget chose them (with the draws' estimated seconds,
    and those of the default SAMPLES_PER_FIGURE)."""

    n: int
    budget_seconds: float | None
    estimated_seconds: float
    default_seconds: float

    def describe(self, samplers: int) -> str:
        text = (
            f"{self.n} samples per figure from {samplers} samplers, about "
            f"{self.estimated_seconds:.0f} s of drawing"
        )
        if self.budget_seconds is not None and self.n < SAMPLES_PER_FIGURE:
            text += (
                f" (chosen to fit the {self.budget_seconds:g} s budget; {SAMPLES_PER_FIGURE} "
                "would take about "
                f"{self.default_seconds:.0f} s)"
            )
        return text


def _draws(n: int, class_sizes: list[int], available: int, conditional: bool) -> int:
    """Images a sampler draws for ``n`` samples per figure (classes of ``class_sizes`` held-out
    images)."""
    overall = min(n, available)
    per_class = sum(min(n, size) for size in class_sizes)
    if not class_sizes:
        return overall
    return per_class if conditional else max(overall, math.ceil(POOL_FACTOR * per_class))


def plan_samples(
    samplers: Mapping[str, Sampler],
    class_sizes: list[int],
    available: int,
    n: int | None = None,
    seconds: float = GENERATION_SECONDS,
    classes: int = 1,
) -> SamplePlan:
    """``n`` when given; else the most samples per figure (up to SAMPLES_PER_FIGURE, at least
    MIN_BUDGET_SAMPLES) whose draws fit ``seconds``, from PROBE_DRAWS timed draws of each
    sampler."""
    per_draw = {}
    for name, sampler in samplers.items():
        start = time.perf_counter()
        with torch.inference_mode():
            sampler.draw(torch.arange(PROBE_DRAWS) % classes, torch.Generator().manual_seed(1))
        per_draw[name] = (time.perf_counter() - start) / PROBE_DRAWS
    cost = lambda k: sum(
        per_draw[name] * _draws(k, class_sizes, available, s.conditional)  # noqa: E731
        for name, s in samplers.items()
    )
    if n is not None:
        return SamplePlan(n, None, cost(n), cost(SAMPLES_PER_FIGURE))
    chosen = next(
        (k for k in range(SAMPLES_PER_FIGURE, MIN_BUDGET_SAMPLES - 1, -1) if cost(k) <= seconds),
        MIN_BUDGET_SAMPLES,
    )
    return SamplePlan(chosen, seconds, cost(chosen), cost(SAMPLES_PER_FIGURE))


def generation_measures(
    samplers: Mapping[str, Sampler],
    train: ImageSet,
    test: ImageSet,
    classifier: FeatureClassifier,
    n: int | None = SAMPLES_PER_FIGURE,
    seed: int = 0,
    seconds: float = GENERATION_SECONDS,
    progress: Progress | None = None,
) -> Generation:
    """Per class and overall, ``n`` samples of each sampler (fewer where the class has fewer
    held-out images) beside as many held-out real images of ``test``: see the module's docstring.
    ``n`` None: as many as fit ``seconds`` of drawing (``plan_samples``)."""
    check_samples(n)
    began = time.perf_counter()
    classes = test.num_classes
    names = test.class_names or [str(c) for c in range(classes)]
    generator = torch.Generator().manual_seed(seed)
    _, kept = metrics.remove_exact_duplicates(train.pixels, test.pixels)
    duplicates = len(test) - len(kept)
    kept = torch.from_numpy(kept)[torch.randperm(len(kept), generator=generator)]  # a seeded order
    labels = test.labels[kept]
    per_class = classes <= MAX_CLASS_SECTIONS
    sizes = [int((labels == c).sum()) for c in range(classes)] if per_class else []
    plan = plan_samples(samplers, sizes, len(kept), n, seconds, classes)
    n = plan.n
    if progress is not None:
        progress.message(f"  generation: {plan.describe(len(samplers))}")
    real_rows = {c: kept[labels == c][:n] for c in range(classes)} if per_class else {}
    real_rows[OVERALL] = kept[:n]
    counts = {c: len(rows) for c, rows in real_rows.items()}

    train_features = torch.from_numpy(features(classifier, train.images))
    train_labels = train.labels
    real_images = {key: test.batch(rows) for key, rows in real_rows.items()}
    real_classes = {key: test.labels[rows] for key, rows in real_rows.items()}
    columns: dict[str, dict[Any, torch.Tensor]] = {REAL: real_images}
    asked: dict[str, dict[Any, torch.Tensor] | None] = {REAL: real_classes}
    draws: dict[str, int] = {}
    shares: dict[str, dict[Any, float]] = {
        REAL: {c: float((labels == c).double().mean()) for c in range(classes)}
    }
    for name, sampler in samplers.items():
        start = time.perf_counter()
        # each sampler's draws independent of the others
        generator = torch.Generator().manual_seed(seed)
        if sampler.conditional:
            columns[name], asked[name] = conditional_samples(
                sampler, real_classes, counts, generator, progress
            )
        else:
            limit = _draws(n, sizes, len(kept), False)
            columns[name], shares[name], draws[name] = assigned_samples(
                sampler, classifier, counts, classes, per_class, generator, progress, limit
            )
            asked[name] = None
        if progress is not None:
            progress.message(f"  generation: {name} drawn in {time.perf_counter() - start:.1f} s")

    sections: dict[str, dict[str, dict[str, float | int | None]]] = {}
    for key in ([*range(classes)] if per_class else []) + [OVERALL]:
        title = OVERALL if key == OVERALL else section_name(names[key])
        reference = Reference(
            train_features if key == OVERALL else train_features[train_labels == key],
            train_features,
            torch.from_numpy(features(classifier, real_images[key])),
        )
        scores = {}
        for name, by_class in columns.items():
            images = by_class.get(key, torch.empty(0))
            sample_features = (
                torch.from_numpy(features(classifier, images)) if len(images) else torch.empty(0, 1)
            )
            scores[name] = reference.scores(
                sample_features,
                None if asked[name] is None else asked[name].get(key),
                predict_proba(classifier, images) if len(images) else None,
            )
            if key != OVERALL:
                scores[name]["class_share"] = shares.get(name, {}).get(key)
        sections[title] = {
            m: {name: scores[name].get(m) for name in columns}
            for m in METRICS
            if any(scores[name].get(m) is not None for name in columns)
        }

    seconds = time.perf_counter() - began
    assignment = {
        name: "class-conditional: draws each class"
        if s.conditional
        else "unconditional: classes assigned by the classifier"
        for name, s in samplers.items()
    }
    summary = {
        "samples_per_figure": n,
        "budget_seconds": plan.budget_seconds,
        "estimated_draw_seconds": round(plan.estimated_seconds, 1),
        "images": {
            ("all classes" if key == OVERALL else names[key]): count
            for key, count in counts.items()
        },
        "duplicates_removed": duplicates,
        "samplers": assignment,
        "draws_of_unconditional_samplers": draws,
        "novelty_quantile": NOVELTY_QUANTILE,
        "seconds": round(seconds, 2),
    }
    fewer = [f"{names[c]} {count}" for c, count in counts.items() if c != OVERALL and count < n]
    budgeted = plan.budget_seconds is not None and n < SAMPLES_PER_FIGURE
    notes = [
        f"generation: {n} samples per class and overall"
        + (f" (fewer where a class has fewer held-out images: {', '.join(fewer)})" if fewer else "")
        + (
            f" (chosen to fit a {plan.budget_seconds:g} s budget of drawing; "
            f"{SAMPLES_PER_FIGURE} would take about {plan.default_seconds:.0f} s)"
            if budgeted
            else ""
        )
        + f", beside as many held-out real test images (exact copies of training images removed "
        f"first: {duplicates}); "
        "Frechet distance, precision and recall against the training images of the class in the "
        "classifier's features; novelty: share closer to their nearest training image than "
        f"{NOVELTY_QUANTILE:.0%} of held-out real images are ({1 - NOVELTY_QUANTILE:.0%} for "
        "real images by construction)",
        "generation samplers: " + "; ".join(f"{name}: {how}" for name, how in assignment.items()),
    ]
    short = {
        name: by_class
        for name, by_class in columns.items()
        if name != REAL and any(len(by_class.get(c, ())) < counts[c] for c in counts)
    }
    for name, by_class in short.items():
        notes.append(
            f"generation: {name}: the classifier assigned fewer draws than asked to "
            + ", ".join(
                f"{names[c]} ({len(by_class.get(c, ()))} of {counts[c]})"
                for c in counts
                if c != OVERALL and len(by_class.get(c, ())) < counts[c]
            )
            + f" among {draws[name]} draws"
        )
    return Generation(sections, summary, notes)


class Reference:
    """What every column of one figure is measured against, computed once: the class's training
    features (``features``) with their k-NN radii, all training features, and the novelty threshold
    that the held-out real images (``real``) set."""

    def __init__(self, features: torch.Tensor, train_features: torch.Tensor, real: torch.Tensor):
        self.features, self.train_features = features.float(), train_features
        self.radii = (
            metrics.knn_radii(self.features, K_NEIGHBOURS) if len(features) > K_NEIGHBOURS else None
        )
        self.threshold = metrics.novelty_threshold(train_features, real, NOVELTY_QUANTILE)

    def scores(
        self, samples: torch.Tensor, asked: torch.Tensor | None, probs: np.ndarray | None
    ) -> dict[str, Any]:
        """One column's measures: ``samples``' features, the class each was asked for, their class
        probabilities."""
        count = len(samples)
        scores: dict[str, Any] = {"images": count}
        samples = samples.float()
        if count > K_NEIGHBOURS and self.radii is not None:
            scores["fd_to_train"] = metrics.frechet_distance(samples.numpy(), self.features.numpy())
            scores["precision_vs_train"] = metrics.manifold_share(
                self.features, self.radii, samples
            )
            scores["recall_vs_train"] = metrics.manifold_share(
                samples, metrics.knn_radii(samples, K_NEIGHBOURS), self.features
            )
        if count:
            distances = metrics.nearest_distances(samples, self.train_features)[0]
            scores["novelty"] = float((distances < self.threshold).double().mean())
        if asked is not None and probs is not None:
            scores["class_accuracy"] = float((probs.argmax(1) == asked.numpy()).mean())
        return scores
