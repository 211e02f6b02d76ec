"""A floor-plan model measured on footprints it never saw, beside held-out real plans and retrieval.

``plan_section`` draws ``per_footprint`` plans for each of the first ``footprints`` test footprints
(the test split is generated from another seed than training) and scores the raw drawings, never
clipped to the footprint, with ``aekit.plans``: footprint IoU, validity, realism (with the
real-vs-real distance at the same number of plans), diversity between plans of one footprint
(with the same share between real plans of different footprints) and novelty (share of near-copies
of a training plan). The held-out real plans of those footprints and the retrieval baseline (the
training plan whose footprint fits best, stretched onto the query) stand beside the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aekit import metrics
from aekit import plans as P
from aekit.data.floorplans import CLASSES
from aekit.models.base import Autoencoder
from aekit.progress import Progress

UNSEEN_FOOTPRINTS = 500  # test footprints a run is measured on
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


def draw_plans(model: Autoencoder, footprints: torch.Tensor | np.ndarray, per_footprint: int, seed: int = SEED,
               temperature: float = 1.0) -> np.ndarray:
    """``per_footprint`` plans (class indices, raw) for each footprint: ``N x M x S x S`` uint8."""
    footprints = torch.as_tensor(np.asarray(footprints))
    generator = torch.Generator().manual_seed(seed)
    repeated = footprints.repeat_interleave(per_footprint, 0)
    out = []
    with torch.inference_mode():
        for start in range(0, len(repeated), BATCH):
            out.append(model.sample_classes(repeated[start:start + BATCH], generator, temperature).cpu().numpy())
    return np.concatenate(out).reshape(len(footprints), per_footprint, *footprints.shape[-2:])


def _novelty_features(plans: np.ndarray) -> torch.Tensor:
    """Class shares of each plan on a ``NOVELTY_GRID`` grid, flattened: near-copies sit close."""
    one_hot = F.one_hot(torch.from_numpy(plans.astype(np.int64)), len(CLASSES)).permute(0, 3, 1, 2).float()
    return F.adaptive_avg_pool2d(one_hot, NOVELTY_GRID).flatten(1)


def plan_section(model: Autoencoder, train_footprints: np.ndarray, train_plans: np.ndarray, test_footprints: np.ndarray,
                 test_plans: np.ndarray, footprints: int = UNSEEN_FOOTPRINTS, per_footprint: int = PLANS_PER_FOOTPRINT,
                 progress: Progress | None = None) -> tuple[dict[str, dict[str, float]], str]:
    """The floor-plan measures (metric -> column -> value) and the note that says what ran."""
    progress = progress or Progress(quiet=True)
    n = min(footprints, len(test_footprints))
    query, real = np.asarray(test_footprints[:n]), np.asarray(test_plans[:n])
    train_footprints, train_plans = np.asarray(train_footprints), np.asarray(train_plans)
    drawn = draw_plans(model, query, per_footprint)
    flat = drawn.reshape(-1, *drawn.shape[2:])
    progress.message(f"  floor plans: {n} x {per_footprint} plans drawn")
    retrieved = P.retrieval_baseline(train_footprints, train_plans, query)
    train_features = _novelty_features(train_plans)
    held_features = _novelty_features(metrics.remove_exact_duplicates(train_plans, real)[0])

    def novelty(plans: np.ndarray) -> float:
        return metrics.novelty(_novelty_features(plans), train_features, held_features).share

    realism = P.realism(flat, train_plans)
    columns = {
        "model": {IOU: P.footprint_iou(flat, np.repeat(query, per_footprint, 0)),
                  VALID: P.validity_rate(flat, np.repeat(query, per_footprint, 0)),
                  REALISM: realism["distance"], REAL_VS_REAL: realism["reference"],
                  DIVERSITY: P.diversity(drawn), NOVELTY: novelty(drawn[:, 0])},
        "held-out real": {IOU: P.footprint_iou(real, query), VALID: P.validity_rate(real, query),
                          REALISM: P.realism(real, train_plans)["distance"],
                          DIVERSITY: P.between_footprint_diversity(real), NOVELTY: novelty(real)},
        "retrieval": {IOU: P.footprint_iou(retrieved, query), VALID: P.validity_rate(retrieved, query),
                      REALISM: P.realism(retrieved, train_plans)["distance"], DIVERSITY: 0.0,
                      NOVELTY: novelty(retrieved)},
    }
    section: dict[str, dict[str, Any]] = {}
    for name, values in columns.items():
        for metric, value in values.items():
            section.setdefault(metric, {})[name] = float(value)
    note = (f"floor plans: {per_footprint} plans drawn for each of the first {n} test footprints (another seed than "
            "training), scored raw (argmax, not clipped to the footprint); realism against the training plans; "
            "retrieval draws one plan per footprint (diversity 0); novelty on the first plan of each footprint, "
            f"as class shares on a {NOVELTY_GRID}x{NOVELTY_GRID} grid")
    return section, note
