"""A floor-plan model measured on footprints it never saw, beside held-out real plans and retrieval.

``plan_section`` draws ``per_footprint`` plans for each of the first ``footprints`` test footprints
(by default as many as fit a minute, up to 500; the test split is generated from another seed than
training) and scores the drawings, never clipped to the footprint, with ``aekit.plans``: footprint
IoU, validity, realism (with the real-vs-real distance at the same number of plans), diversity
between plans of one footprint (with the same share between real plans of different footprints)
and novelty (share of near-copies of a training plan). The model's plans are scored as it draws
them (its network's layout rendered by ``aekit.plan_render``) and as the network's raw pixels
before rendering; the held-out real plans of those footprints and the retrieval baseline (the
training plan whose footprint fits best, stretched onto the query), raw and through the same
renderer, stand beside them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aekit import metrics
from aekit import plans as P
from aekit.data.floorplans import CLASSES
from aekit.errors import ConfigError
from aekit.models.plan_vae import PlanModel
from aekit.plan_render import render_plans
from aekit.priors import Prior
from aekit.progress import Progress

UNSEEN_FOOTPRINTS = 500  # test footprints a run is measured on (at most)
# Checking and parsing plans is Python per plan (about 30 ms each on 2 busy cores): unless the
# number of
# footprints is given, as many as fit PLAN_SECONDS are drawn for, timed on PROBE_FOOTPRINTS first.
PLAN_SECONDS = 60.0
PROBE_FOOTPRINTS = 16
MIN_FOOTPRINTS = 100
PLANS_PER_FOOTPRINT = 8
NOVELTY_GRID = 16  # plans compared for novelty as class shares on a 16 x 16 grid (one-hot averaged)
BATCH = 256
SEED = 0

IOU = "footprint IoU (built area vs footprint) ↑"
VALID = "valid plans (enclosed, reachable, rooms large enough) ↑"
REALISM = "realism: W1 to training plans' rooms ↓"
REAL_VS_REAL = "realism of training plans vs training plans (same count)"
DIVERSITY = "diversity: pixels differing, same footprint (real: different footprints)"
NOVELTY = "near-copies of a training plan ↓"
RAW = "model, raw pixels"
RETRIEVAL_RENDERED = "retrieval, rendered"


def plan_codes(
    model: PlanModel,
    n: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    prior: Prior | None = None,
) -> torch.Tensor:
    """``n`` codes (``n x latent_dim``) for the network: from N(0, T^2 I), or from ``prior``, fitted
    to the training plans' codes (``aekit fit-prior``; a code map flattened as it was fitted), which
    samples where plans were encoded (N(0, I) draws too many, too small rooms)."""
    if prior is None:
        return torch.randn(n, model.latent_dim, generator=generator) * temperature
    if temperature != 1.0:
        raise ConfigError(
            "--temperature scales N(0, I) codes; it does not apply to codes from a fitted prior"
        )
    if math.prod(prior.code_shape) != model.latent_dim:
        raise ConfigError(
            f"prior {prior.name!r} draws codes of {math.prod(prior.code_shape)} numbers; model "
            f"{model.name!r} takes {model.latent_dim}"
        )
    with torch.inference_mode():
        return prior.sample(n, generator=generator).flatten(1)


def _code_batches(
    model: PlanModel,
    footprints: torch.Tensor | np.ndarray,
    per_footprint: int,
    seed: int,
    temperature: float,
    prior: Prior | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(codes, footprints) in batches of BATCH: ``per_footprint`` codes from ``plan_codes`` for
    each footprint, in order."""
    footprints = torch.as_tensor(np.asarray(footprints))
    generator = torch.Generator().manual_seed(seed)
    repeated = footprints.repeat_interleave(per_footprint, 0)
    for start in range(0, len(repeated), BATCH):
        batch = repeated[start : start + BATCH]
        yield plan_codes(model, len(batch), generator, temperature, prior), batch


def draw_plans(
    model: PlanModel,
    footprints: torch.Tensor | np.ndarray,
    per_footprint: int,
    seed: int = SEED,
    temperature: float = 1.0,
    rendered: bool = True,
    prior: Prior | None = None,
) -> np.ndarray:
    """``per_footprint`` plans (class indices) for each footprint: ``N x M x S x S`` uint8, codes
    from ``plan_codes`` (N(0, T^2 I) or ``prior``) decoded as the model draws them (rendered) or,
    with ``rendered=False``, the network's raw most likely classes."""
    with torch.inference_mode():
        out = [
            model.classes_for_codes(codes, batch, rendered).cpu().numpy()
            for codes, batch in _code_batches(
                model, footprints, per_footprint, seed, temperature, prior
            )
        ]
    return np.concatenate(out).reshape(len(footprints), per_footprint, *np.shape(footprints)[-2:])


def draw_layouts_and_plans(
    model: PlanModel,
    footprints: np.ndarray,
    per_footprint: int,
    seed: int = SEED,
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``draw_plans`` raw and rendered from one pass of the network over the same codes."""
    layouts, plans = [], []
    with torch.inference_mode():
        for codes, batch in _code_batches(
            model, footprints, per_footprint, seed, temperature, None
        ):
            layout, plan = model.layouts_and_plans(codes, batch)
            layouts.append(layout.numpy())
            plans.append(plan.numpy())
    shape = (len(footprints), per_footprint, *np.shape(footprints)[-2:])
    return np.concatenate(layouts).reshape(shape), np.concatenate(plans).reshape(shape)


def _novelty_features(plans: np.ndarray) -> torch.Tensor:
    """Class shares of each plan on a ``NOVELTY_GRID`` grid, flattened: near-copies sit close. In
    chunks of BATCH plans: the one-hot maps of 18,000 training plans at once took 10 GB."""
    parts = []
    for start in range(0, len(plans), BATCH):
        chunk = torch.from_numpy(plans[start : start + BATCH].astype(np.int64))
        one_hot = F.one_hot(chunk, len(CLASSES)).permute(0, 3, 1, 2).float()
        parts.append(F.adaptive_avg_pool2d(one_hot, NOVELTY_GRID).flatten(1))
    return torch.cat(parts) if parts else torch.empty(0, len(CLASSES) * NOVELTY_GRID**2)


@dataclass
class FootprintPlan:
    """Test footprints the section draws for: ``n`` of ``available`` (up to UNSEEN_FOOTPRINTS),
    whether a time budget chose them, and the estimated seconds of drawing and scoring."""

    n: int
    available: int
    # None: nothing was left out for time (the user gave the number, or all fit)
    budget_seconds: float | None
    estimated_seconds: float

    def describe(self, per_footprint: int) -> str:
        text = (
            f"floor plans: {self.n:,} of {self.available:,} test footprints x {per_footprint} "
            "plans, about "
            f"{self.estimated_seconds:.0f} s of drawing and scoring"
        )
        if self.budget_seconds is not None:
            text += (
                f" (chosen to fit the {self.budget_seconds:g} s budget; --plan-footprints for more)"
            )
        return text


def plan_footprints(
    model: PlanModel,
    footprints: np.ndarray,
    per_footprint: int,
    n: int | None = None,
    seconds: float = PLAN_SECONDS,
    priors: int = 0,
) -> FootprintPlan:
    """``n`` footprints when given; else up to UNSEEN_FOOTPRINTS, as many as fit ``seconds`` of
    drawing and scoring (at least MIN_FOOTPRINTS), timed on PROBE_FOOTPRINTS of them: their plans
    drawn, rendered, checked and parsed; as many again raw, and three more for the real, retrieved
    and rendered retrieved plans beside them, and as many as drawn again for each of ``priors``."""
    available = min(UNSEEN_FOOTPRINTS if n is None else n, len(footprints))
    probe = footprints[: min(PROBE_FOOTPRINTS, available)]
    start = time.perf_counter()
    drawn = draw_plans(model, probe, per_footprint).reshape(-1, *probe.shape[-2:])
    P.validity_rate(drawn, np.repeat(probe, per_footprint, 0))
    P.plan_features(drawn)
    per = (
        (time.perf_counter() - start)
        / len(probe)
        * ((2 + priors) * per_footprint + 3)
        / per_footprint
    )
    if n is not None or per * available <= seconds:
        return FootprintPlan(available, available, None, per * available)
    chosen = min(available, max(MIN_FOOTPRINTS, math.floor(seconds / per)))
    return FootprintPlan(chosen, available, seconds if chosen < available else None, per * chosen)


def plan_section(
    model: PlanModel,
    train_footprints: np.ndarray,
    train_plans: np.ndarray,
    test_footprints: np.ndarray,
    test_plans: np.ndarray,
    footprints: int | None = None,
    per_footprint: int = PLANS_PER_FOOTPRINT,
    progress: Progress | None = None,
    seconds: float = PLAN_SECONDS,
    temperature: float = 1.0,
    priors: Mapping[str, Prior] | None = None,
) -> tuple[dict[str, dict[str, float]], str, FootprintPlan]:
    """The floor-plan measures (metric -> column -> value), the note that says what ran, and how
    many footprints were drawn for (``footprints``, or as many as fit ``seconds``:
    ``plan_footprints``); the model's codes come from N(0, ``temperature``^2 I), and each of
    ``priors`` (name -> prior fitted to the codes) adds a column ``prior NAME``: the model's plans
    from that prior's codes."""
    priors = dict(priors or {})
    progress = progress or Progress(quiet=True)
    test_footprints = np.asarray(test_footprints)
    plan = plan_footprints(model, test_footprints, per_footprint, footprints, seconds, len(priors))
    progress.message(f"  {plan.describe(per_footprint)}")
    n = plan.n
    query, real = test_footprints[:n], np.asarray(test_plans[:n])
    train_footprints, train_plans = np.asarray(train_footprints), np.asarray(train_plans)
    # what the model draws (rendered with the network's wall probabilities) and its raw layouts
    raw, drawn = draw_layouts_and_plans(model, query, per_footprint, temperature=temperature)
    repeated = np.repeat(query, per_footprint, 0)
    flat_raw = raw.reshape(-1, *raw.shape[2:])
    flat = drawn.reshape(flat_raw.shape)
    from_priors = {
        f"prior {name}": draw_plans(model, query, per_footprint, prior=prior)
        for name, prior in priors.items()
    }
    progress.message(f"  floor plans: {n} x {per_footprint} plans drawn")
    retrieved = P.retrieval_baseline(train_footprints, train_plans, query)
    retrieved_rendered = render_plans(retrieved, query, model.min_room, None, model.room_rules)
    train_features = _novelty_features(train_plans)
    held_features = _novelty_features(metrics.remove_exact_duplicates(train_plans, real)[0])

    def novelty(plans: np.ndarray) -> float:
        return metrics.novelty(_novelty_features(plans), train_features, held_features).share

    realism = P.realism_of(
        {
            "model": flat,
            RAW: flat_raw,
            "held-out real": real,
            "retrieval": retrieved,
            RETRIEVAL_RENDERED: retrieved_rendered,
            **{name: d.reshape(flat.shape) for name, d in from_priors.items()},
        },
        train_plans,
    )
    columns = {
        "model": {
            IOU: P.footprint_iou(flat, repeated),
            VALID: P.validity_rate(flat, repeated),
            REALISM: realism["model"]["distance"],
            REAL_VS_REAL: realism["model"]["reference"],
            DIVERSITY: P.diversity(drawn),
            NOVELTY: novelty(drawn[:, 0]),
        },
        RAW: {
            IOU: P.footprint_iou(flat_raw, repeated),
            VALID: P.validity_rate(flat_raw, repeated),
            REALISM: realism[RAW]["distance"],
            DIVERSITY: P.diversity(raw),
            NOVELTY: novelty(raw[:, 0]),
        },
        "held-out real": {
            IOU: P.footprint_iou(real, query),
            VALID: P.validity_rate(real, query),
            REALISM: realism["held-out real"]["distance"],
            DIVERSITY: P.between_footprint_diversity(real),
            NOVELTY: novelty(real),
        },
        "retrieval": {
            IOU: P.footprint_iou(retrieved, query),
            VALID: P.validity_rate(retrieved, query),
            REALISM: realism["retrieval"]["distance"],
            DIVERSITY: 0.0,
            NOVELTY: novelty(retrieved),
        },
        RETRIEVAL_RENDERED: {
            IOU: P.footprint_iou(retrieved_rendered, query),
            VALID: P.validity_rate(retrieved_rendered, query),
            REALISM: realism[RETRIEVAL_RENDERED]["distance"],
            DIVERSITY: 0.0,
            NOVELTY: novelty(retrieved_rendered),
        },
    }
    for name, plans in from_priors.items():
        flat_prior = plans.reshape(flat.shape)
        columns[name] = {
            IOU: P.footprint_iou(flat_prior, repeated),
            VALID: P.validity_rate(flat_prior, repeated),
            REALISM: realism[name]["distance"],
            REAL_VS_REAL: realism[name]["reference"],
            DIVERSITY: P.diversity(plans),
            NOVELTY: novelty(plans[:, 0]),
        }
    section: dict[str, dict[str, Any]] = {}
    for name, values in columns.items():
        for metric, value in values.items():
            section.setdefault(metric, {})[name] = float(value)
    note = (
        f"floor plans: {per_footprint} plans drawn for each of the first {n} test footprints "
        "(another seed than "
        "training), never clipped to the footprint: 'model' as drawn (the network's most likely "
        "classes and wall probabilities rendered "
        "into rooms, walls, doors and windows by aekit.plan_render), 'model, raw pixels' before "
        "rendering; "
        "retrieval raw and through the same renderer; realism against the training plans; "
        "retrieval draws one plan per footprint (diversity 0); novelty on the first plan of "
        "each footprint, "
        f"as class shares on a {NOVELTY_GRID}x{NOVELTY_GRID} grid"
    )
    if temperature != 1.0:
        note += f"; codes drawn at temperature {temperature:g}"
    if priors:
        note += (
            "; 'prior NAME': the model's plans (rendered) from the codes of that prior, fitted "
            "to the training plans' codes (aekit fit-prior), instead of N(0, I)"
        )
    if plan.budget_seconds is not None:
        note += (
            f"; {n} of {plan.available} footprints chosen to fit a {plan.budget_seconds:g} s "
            "budget (aekit evaluate --plan-footprints for more)"
        )
    return section, note, plan
