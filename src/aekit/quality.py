"""Sample quality without downloaded networks: a small classifier aekit trains once per dataset.

Its penultimate layer is the feature space for a Frechet distance (like FID, but with a network
trained on the dataset itself, so numbers compare runs on the same dataset only), and its class
probabilities measure how confident and how evenly spread over classes generated samples are.
The classifier is cached as ``cache_dir()/classifiers/<dataset>-<hash>.safetensors`` plus a
JSON file with its test accuracy; the hash covers the training images, labels and architecture.
"""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np
import torch
from safetensors.torch import load_file, save
from torch import nn
from torch.nn import functional as F

from aekit.data.paths import cache_dir
from aekit.io import atomic_write_bytes, atomic_write_json, read_json
from aekit.metrics import confidence_and_coverage, frechet_distance, precision_recall
from aekit.progress import Progress

MAX_REFERENCE_IMAGES = 10_000  # training images used for PCA, probes and the feature classifier

# v2: 10 epochs instead of 3 (fashion-mnist hold-out accuracy 0.776 -> 0.846)
ARCH_VERSION = "cnn-v2"
FEATURE_DIM = 128


class FeatureClassifier(nn.Module):
    """Two strided convolutions, a 128-d feature layer and a linear class head."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(64 * 16, FEATURE_DIM),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    digest = hashlib.sha256(ARCH_VERSION.encode())
    digest.update(str(tuple(images.shape)).encode())
    digest.update(images.contiguous().float().numpy().tobytes())
    digest.update(labels.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def get_classifier(
    dataset: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    epochs: int = 10,
    max_images: int = 20000,
    progress: Progress | None = None,
) -> FeatureClassifier:
    """The cached classifier for this training set, training it (a few epochs, seeded) if absent."""
    key = f"{dataset.replace('/', '_').replace(':', '_')}-{_fingerprint(images, labels)}"
    folder = cache_dir() / "classifiers"
    weights, info = folder / f"{key}.safetensors", folder / f"{key}.json"
    model = FeatureClassifier(images.shape[1], num_classes)
    if weights.exists() and info.exists():
        model.load_state_dict(load_file(weights))
        return model.eval()
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    order = torch.randperm(len(images), generator=generator)
    hold = min(1000, len(images) // 10)
    val_idx, train_idx = order[:hold], order[hold : hold + max_images]
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    began, batches = time.perf_counter(), math.ceil(len(train_idx) / 128)
    for epoch in range(epochs):
        perm = train_idx[torch.randperm(len(train_idx), generator=generator)]
        for start in range(0, len(perm), 128):
            idx = perm[start : start + 128]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            # said once, up front
            if epoch == 0 and start == 128 * min(4, batches - 1) and progress is not None:
                estimate = (time.perf_counter() - began) / (start // 128 + 1) * batches * epochs
                progress.message(
                    f"  feature classifier for {dataset} (once per dataset, then cached): "
                    f"{epochs} epochs on {len(train_idx):,} images, about {estimate:.0f} s"
                )
        if progress is not None:
            progress.message(
                f"  feature classifier for {dataset}: epoch {epoch + 1}/{epochs}, loss "
                f"{loss.item():.3f}"
            )
    model.eval()
    accuracy = float(
        (predict_proba(model, images[val_idx]).argmax(1) == labels[val_idx].numpy()).mean()
    )
    atomic_write_bytes(weights, save({k: v.contiguous() for k, v in model.state_dict().items()}))
    atomic_write_json(
        info,
        {
            "dataset": dataset,
            "architecture": ARCH_VERSION,
            "epochs": epochs,
            "train_images": len(train_idx),
            "holdout_accuracy": accuracy,
            "num_classes": num_classes,
        },
    )
    return model


def classifier_accuracy(dataset: str, images: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Hold-out accuracy recorded when the cached classifier for this training set was trained."""
    key = f"{dataset.replace('/', '_').replace(':', '_')}-{_fingerprint(images, labels)}"
    path = cache_dir() / "classifiers" / f"{key}.json"
    return float(read_json(path)["holdout_accuracy"]) if path.exists() else None


def _batched(fn, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


def features(model: FeatureClassifier, images: torch.Tensor) -> np.ndarray:
    """Penultimate-layer features, ``N x 128``."""
    return _batched(model.features, images).numpy()


def predict_proba(model: FeatureClassifier, images: torch.Tensor) -> np.ndarray:
    """Class probabilities, ``N x classes``."""
    return _batched(lambda x: F.softmax(model(x), dim=1), images).numpy()


def sample_quality(
    model: FeatureClassifier,
    samples: torch.Tensor,
    real: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> dict[str, float]:
    """Frechet distance to ``real`` in feature space, precision and recall (k = 3 nearest-neighbour
    manifolds), mean confidence and class coverage of ``samples``; with ``labels`` (the class each
    sample should show), the share classified as that class."""
    probs = predict_proba(model, samples)
    confidence, coverage = confidence_and_coverage(probs)
    fake_features, real_features = features(model, samples), features(model, real)
    precision, recall = precision_recall(real_features, fake_features, k=3)
    scores = {
        "frechet": frechet_distance(fake_features, real_features),
        "confidence": confidence,
        "coverage": coverage,
        "precision": precision,
        "recall": recall,
    }
    if labels is not None:
        scores["class_match"] = float((probs.argmax(1) == labels.numpy()).mean())
    return scores
