"""Samplers the generation measures compare and drawing from them.

The samplers are the model's own prior, each fitted prior and a class-wise PCA-Gaussian; they draw
in batches, per class when conditional, or as a pool whose images the classifier assigns to classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aekit import metrics
from aekit.data.conditions import make_condition
from aekit.priors import load_prior
from aekit.progress import Progress
from aekit.quality import FeatureClassifier, features, predict_proba

if TYPE_CHECKING:
    from aekit.data.datasets import ImageSet
    from aekit.run import Run

ANNOUNCE_SECONDS = 10.0
BATCH = 512
NEAREST_PAIRS = 16
OVERALL = "generation (all classes)"


@dataclass
class Sampler:
    """Images from a generator: ``draw(classes, generator)`` gives one image per entry of
    ``classes``, of that class when ``conditional`` (otherwise only their number counts)."""

    name: str
    conditional: bool
    draw: Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def pca_gaussian_sampler(train: ImageSet, dim: int, seed: int = 0) -> Sampler:
    """A Gaussian fitted to each class's PCA codes (``dim`` components of all training images),
    decoded: the linear reference generator, drawing the class asked for."""
    images = train.images
    pca = metrics.fit_pca(images, dim, seed)
    codes = torch.from_numpy(pca.transform(images.reshape(len(images), -1).numpy())).double()
    k = codes.shape[1]
    means, factors = [], []
    for c in range(train.num_classes):
        own = codes[train.labels == c]
        mean = own.mean(0) if len(own) else torch.zeros(k, dtype=torch.float64)
        cov = (
            torch.cov(own.T).reshape(k, k)
            if len(own) > 1
            else torch.zeros(k, k, dtype=torch.float64)
        )
        # classes with fewer images than components
        ridge = 1e-6 * float(cov.diagonal().mean()) + 1e-12
        means.append(mean)
        factors.append(torch.linalg.cholesky(cov + ridge * torch.eye(k, dtype=torch.float64)))
    mean_image, components = (
        torch.from_numpy(pca.mean_).double(),
        torch.from_numpy(pca.components_).double(),
    )
    shape = tuple(images.shape[1:])

    def draw(classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(len(classes), k, generator=generator, dtype=torch.float64)
        z = (
            torch.stack([means[c] + factors[c] @ e for c, e in zip(classes.tolist(), noise)])
            if len(classes)
            else noise
        )
        return (z @ components + mean_image).clamp(0, 1).float().reshape(len(classes), *shape)

    return Sampler(f"PCA-Gaussian per class ({k} components)", True, draw)


def run_samplers(run: Run, priors: list[str]) -> dict[str, Sampler]:
    """The run's samplers: the model's own (when it samples) and one per fitted prior in ``priors``,
    each decoded by the model. A label-conditional model or prior draws the class asked for; a model
    conditioned on images (silhouettes, outlines) takes those of held-out real images of that
    class."""
    model = run.model
    by_label = model.label_conditional
    test_rows = {
        c: torch.nonzero(run.test.labels == c).flatten() for c in range(run.test.num_classes)
    }

    def condition(classes: torch.Tensor) -> torch.Tensor | None:
        if not model.conditional:
            return None
        if by_label:
            return make_condition("label", torch.empty(0), classes)
        rows = torch.stack(
            [test_rows[c][i % len(test_rows[c])] for i, c in enumerate(classes.tolist())]
        )
        return make_condition(model.condition_kind, run.test.batch(rows), classes)

    samplers = {}
    if model.generative:
        samplers["model"] = Sampler(
            "model",
            model.conditional,
            lambda classes, generator: model.sample(
                len(classes), condition(classes), generator=generator
            ),
        )
    for name in priors:
        prior = load_prior(run.dir, name)
        samplers[f"prior {name}"] = Sampler(
            f"prior {name}",
            prior.conditional or model.conditional,
            _prior_draw(model, prior, condition),
        )
    return samplers


def _prior_draw(model, prior, condition) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    def draw(classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        codes = prior.sample(
            len(classes), generator=generator, labels=classes if prior.conditional else None
        )
        return model.decode(codes, condition(classes))

    return draw


def conditional_samples(
    sampler: Sampler,
    real_classes: dict[Any, torch.Tensor],
    counts: dict[Any, int],
    generator: torch.Generator,
    progress: Progress | None,
) -> tuple[dict[Any, torch.Tensor], dict[Any, torch.Tensor]]:
    """``counts[c]`` samples of each class c; the overall figure reuses them in the classes of the
    overall held-out images (which, per class, are never more than that class's count)."""
    keys = [c for c in counts if c != OVERALL]
    wanted = {c: counts[c] for c in keys}
    if not keys:  # too many classes for per-class figures: the overall classes only
        wanted = {
            c: int((real_classes[OVERALL] == c).sum())
            for c in real_classes[OVERALL].unique().tolist()
        }
    order = torch.cat([torch.full((count,), c, dtype=torch.int64) for c, count in wanted.items()])
    images = in_batches(
        lambda rows: sampler.draw(order[rows], generator),
        len(order),
        f"generation: {sampler.name}",
        progress,
    )
    by_class = dict(zip(wanted, images.split(list(wanted.values()))))
    overall = real_classes[OVERALL]
    offsets = dict(zip(wanted, np.cumsum([0, *wanted.values()]).tolist()))
    rows = []
    for c in overall.tolist():
        rows.append(offsets[c])
        offsets[c] += 1
    result = {c: by_class[c] for c in keys}
    result[OVERALL] = images[torch.tensor(rows, dtype=torch.int64)]
    asked = {c: torch.full((counts[c],), c, dtype=torch.int64) for c in keys}
    asked[OVERALL] = overall
    return result, asked


def assigned_samples(
    sampler: Sampler,
    classifier: FeatureClassifier,
    counts: dict[Any, int],
    classes: int,
    per_class: bool,
    generator: torch.Generator,
    progress: Progress | None,
    limit: int,
) -> tuple[dict[Any, torch.Tensor], dict[int, float], int]:
    """An unconditional sampler's pool, drawn BATCH at a time until the classifier has given every
    class its count (or ``limit`` images were drawn): the overall figure takes the first draws, each
    class the first draws the classifier calls that class. Also each class's share of the draws, and
    how many were drawn."""
    limit = max(counts[OVERALL], limit)
    parts, assigned = [], []
    filled = {c: 0 for c in counts if c != OVERALL}
    start = time.perf_counter()
    with torch.inference_mode():
        while sum(len(p) for p in parts) < limit:
            batch = sampler.draw(
                torch.zeros(min(BATCH, limit - sum(len(p) for p in parts)), dtype=torch.int64),
                generator,
            )
            predicted = torch.from_numpy(predict_proba(classifier, batch).argmax(1))
            parts.append(batch)
            assigned.append(predicted)
            for c in filled:
                filled[c] += int((predicted == c).sum())
            drawn = sum(len(p) for p in parts)
            if len(parts) == 1 and progress is not None:
                estimate = (time.perf_counter() - start) * limit / drawn
                if estimate > ANNOUNCE_SECONDS:
                    progress.message(
                        f"  generation: {sampler.name}: up to {limit:,} samples (classes "
                        "assigned by the "
                        f"classifier), about {estimate:.0f} s"
                    )
            if drawn >= counts[OVERALL] and all(filled[c] >= counts[c] for c in filled):
                break
    images, predicted = torch.cat(parts), torch.cat(assigned)
    result = {c: images[predicted == c][: counts[c]] for c in filled}
    result[OVERALL] = images[: counts[OVERALL]]
    shares = (
        {c: float((predicted == c).double().mean()) for c in range(classes)} if per_class else {}
    )
    return result, shares, len(images)


def in_batches(
    draw: Callable[[slice], torch.Tensor], n: int, what: str, progress: Progress | None
) -> torch.Tensor:
    """``draw(rows)`` BATCH rows at a time without autograd; one line with the estimate when the
    first batch says that all ``n`` take longer than ANNOUNCE_SECONDS (a sequential decoder, a
    PixelCNN or transformer prior)."""
    parts = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, n, BATCH):
            parts.append(draw(slice(i, min(n, i + BATCH))))
            estimate = (time.perf_counter() - start) * n / min(n, BATCH)
            if i == 0 and progress is not None and estimate > ANNOUNCE_SECONDS:
                progress.message(f"  {what}: {n:,} images, about {estimate:.0f} s")
    return torch.cat(parts) if parts else torch.empty(0)


def nearest_training_pairs(
    sampler: Sampler,
    train: ImageSet,
    classifier: FeatureClassifier,
    n: int = NEAREST_PAIRS,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples (classes in turn when the sampler is class-conditional) and the row of each
    one's nearest training image in the classifier's features."""
    classes = torch.arange(n) % max(1, train.num_classes or 1)
    with torch.inference_mode():
        samples = sampler.draw(classes, torch.Generator().manual_seed(seed))
    return samples, metrics.nearest_distances(
        features(classifier, samples), features(classifier, train.images)
    )[1]


def class_samples(
    sampler: Sampler,
    classifier: FeatureClassifier,
    cls: int,
    n: int,
    classes: int,
    generator: torch.Generator,
    pool_factor: int = 4,
) -> torch.Tensor:
    """``n`` samples of class ``cls``: drawn as that class by a class-conditional sampler; for an
    unconditional one, the first draws the classifier calls ``cls`` (fewer if ``pool_factor x
    classes x n`` draws give fewer)."""
    if sampler.conditional:
        return in_batches(
            lambda rows: sampler.draw(torch.full((rows.stop - rows.start,), cls), generator),
            n,
            sampler.name,
            None,
        )
    counts: dict[Any, int] = {c: n if c == cls else 0 for c in range(classes)}
    counts[OVERALL] = 0
    return assigned_samples(
        sampler, classifier, counts, classes, True, generator, None, pool_factor * classes * n
    )[0][cls]
