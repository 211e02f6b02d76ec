"""The likelihood section of ``aekit evaluate``: IWAE and ELBO bounds in nats per image.

The bounds cost ``k`` decoder passes per image, so what ``--iwae-k`` and ``--iwae-images`` leave
open is fitted to a time budget from a timed probe (``plan_likelihood``); independent pixels (the
training images' pixel means) are the reference every likelihood model must beat.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from aekit import metrics
from aekit.evaluation_defaults import IWAE_SECONDS, SEED
from aekit.progress import Progress, duration
from aekit.quality import MAX_REFERENCE_IMAGES
from aekit.run import Run

INDEPENDENT_PIXELS = "independent pixels"


# The likelihood bounds cost k decoder passes per image: IWAE-1000 on 1,187 sprite tiles (res-vae)
# took
# 2.4 hours on 2 cores. Unless both --iwae-k and --iwae-images are given, k and the number of test
# images are chosen from a timed probe so the bounds fit IWAE_SECONDS.
IWAE_K = 1000  # the most importance samples a budget spends (the usual IWAE-1000)
# below this the bound is barely tighter than the ELBO: a budget uses fewer images first
BUDGET_MIN_K = 64
BUDGET_MIN_IMAGES = 100  # ... but not fewer than this
PROBE_SECONDS = 0.5  # how long the probe times the bounds (after one warm-up pass)


def likelihood_section(
    run: Run,
    k: int,
    images: int | None = None,
    bf16: bool = False,
    progress: Progress | None = None,
) -> tuple[dict[str, dict[str, float]], str]:
    """Test ELBO and IWAE-k NLL (nats/image) on the first ``images`` test images (all by default),
    and a note saying on what data they were computed.

    ``bf16``: the encoder and decoder run under bfloat16 autocast (the bounds' sums stay in float32
    and float64): about 2x faster on CPUs with AMX or AVX-512 BF16; measured on the 32-D conv VAE,
    the IWAE-1000 bound moved by 0.006 nats and the ELBO by 0.019."""
    test = run.test if images is None else run.test.head(images)
    x = test.images
    generator = torch.Generator().manual_seed(SEED)
    bernoulli = run.model.likelihood == "bernoulli"
    if bernoulli:
        x = torch.bernoulli(x, generator=generator)
    # from the grey test images, as in training (never the scored binarised ones)
    condition = run.condition(test)
    per_pass = _samples_per_pass(x, bf16)
    step = max(1, per_pass // k)
    elbo, iwae = [], []
    start = time.perf_counter()
    with (progress or Progress(quiet=True)).bar(len(x), f"IWAE k={k}", unit="images") as bar:
        for i in range(0, len(x), step):
            cond = None if condition is None else condition[i : i + step]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                e, w = metrics.nll_bounds(
                    run.model, x[i : i + step], k, cond, generator, samples_per_pass=per_pass
                )
            elbo.append(e)
            iwae.append(w)
            bar.update(len(e))
    seconds = time.perf_counter() - start
    data = (
        f"dynamically binarised test images (torch.bernoulli, seed {SEED})"
        if bernoulli
        else f"{run.model.likelihood} likelihood on the test images as they are"
    )
    note = (
        f"NLL in nats per image on {len(x)} {data}; IWAE with k={k}, ELBO estimated from the "
        "same samples"
    )
    if bf16:
        note += "; networks run in bfloat16 autocast"
    section = {
        "nll_iwae": {"model": float(torch.cat(iwae).mean())},
        "nll_elbo": {"model": float(torch.cat(elbo).mean())},
        "iwae_images_per_s": {"model": len(x) / seconds},
    }
    # the simplest density on the same images: a model that loses to it learned nothing
    if bernoulli:
        section["nll_iwae"].update(_independent_pixels(run, test))
    return section, note


def _samples_per_pass(x: torch.Tensor, bf16: bool) -> int:
    """Decoder passes small enough that their feature maps stay in cache: 256 samples of a 28x28
    image per pass (512 in bf16) ran 2.4x (1.7x) faster than 8,192 on 2 cores
    (benchmarks/README.md)."""
    return max(16, (512 if bf16 else 256) * 784 // x[0].numel())


@dataclass
class LikelihoodPlan:
    """How the likelihood bounds will run: ``k`` importance samples on the first ``images`` of
    ``test_images`` test images, whether a time budget chose them, and the estimated seconds."""

    k: int
    images: int
    test_images: int
    budget_seconds: float | None  # None: the user gave both k and the number of images
    estimated_seconds: float

    def describe(self) -> str:
        text = (
            f"IWAE k={self.k} on {self.images:,} of {self.test_images:,} test images, about "
            f"{duration(self.estimated_seconds)}"
        )
        if self.budget_seconds is not None:
            text += (
                f" (chosen to fit the {self.budget_seconds:g} s budget; --iwae-k, --iwae-images or "
                "--iwae-seconds for more)"
            )
        return text


def plan_likelihood(
    run: Run,
    k: int | None = None,
    images: int | None = None,
    seconds: float = IWAE_SECONDS,
    bf16: bool = False,
) -> LikelihoodPlan:
    """``k`` and the number of test images for the likelihood bounds, from a short timing of the
    bounds (a warm-up pass, then PROBE_SECONDS of passes): what the user gave is kept, the rest is
    chosen so that the bounds fit ``seconds``. Without either: k as large as the budget allows for
    all test images, up to IWAE_K; below BUDGET_MIN_K fewer images instead (down to
    BUDGET_MIN_IMAGES)."""
    total = len(run.test)
    per_sample = _seconds_per_sample(run, bf16)
    fits = max(1, math.floor(seconds / per_sample))  # samples (images x k) the budget holds
    budget: float | None = seconds
    if k is not None and images is not None:
        images, budget = min(images, total), None
    elif k is not None:
        images = max(1, min(total, fits // k))
    elif images is not None:
        images = min(images, total)
        k = max(1, min(IWAE_K, fits // images))
    else:
        k = max(BUDGET_MIN_K, min(IWAE_K, fits // total))
        images = max(min(BUDGET_MIN_IMAGES, total), min(total, fits // k))
        # not even BUDGET_MIN_K on BUDGET_MIN_IMAGES fits: a smaller k
        k = max(1, min(k, fits // images))
    return LikelihoodPlan(k, images, total, budget, per_sample * k * images)


def _seconds_per_sample(run: Run, bf16: bool) -> float:
    """Seconds per importance sample (one image, one draw) of the bounds, timed on the first test
    images (PROBE_SECONDS of passes after a warm-up pass, as ``likelihood_section`` runs them)."""
    x = run.test.head(64).images
    per_pass = _samples_per_pass(x, bf16)
    # one full pass of per_pass samples: n images, k draws each
    n = max(1, min(len(x), per_pass // 32))
    k = per_pass // n
    x = x[:n]
    if run.model.likelihood == "bernoulli":
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(SEED))
    condition = run.condition(run.test.head(n))
    generator = torch.Generator().manual_seed(SEED)
    passes, start = -1, 0.0  # pass -1 warms up (first-call allocations and kernel choices)
    while passes < 1 or time.perf_counter() - start < PROBE_SECONDS:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            metrics.nll_bounds(run.model, x, k, condition, generator, samples_per_pass=per_pass)
        passes += 1
        if passes == 0:
            start = time.perf_counter()
    return (time.perf_counter() - start) / (passes * n * k)


def _independent_pixels(run: Run, test: Any) -> dict[str, float]:
    """The independent-Bernoulli-pixels NLL of ``test``; per class for a model conditioned on the
    label."""
    train = run.train.head(MAX_REFERENCE_IMAGES)
    if not run.model.label_conditional:
        return {INDEPENDENT_PIXELS: metrics.independent_pixels_nll(train.images, test.images)}
    total = 0.0
    for c in test.labels.unique().tolist():
        total += metrics.independent_pixels_nll(
            train.images[train.labels == c], test.images[test.labels == c]
        ) * int((test.labels == c).sum())
    return {INDEPENDENT_PIXELS + " (per class)": total / len(test)}
