"""Evaluation of whole runs: the table format, the cached feature classifier, and real tiny runs."""

from __future__ import annotations

import torch

from aekit.evaluate import format_metrics
from aekit.quality import get_classifier, sample_quality


def test_format_metrics_puts_baselines_beside_the_model():
    result = {
        "model": "conv",
        "dataset": "digits",
        "test_items": 300,
        "noise": "salt-pepper:0.1",
        "notes": ["a note"],
        "sections": {"denoising": {"psnr": {"model": 24.5, "noisy input": 15.25, "median 3x3": 20.0}}},
    }
    text = format_metrics(result)
    row = next(line for line in text.splitlines() if "PSNR" in line)
    assert row.split()[-3:] == ["24.50", "15.25", "20.00"]
    header = next(line for line in text.splitlines() if line.strip().startswith("metric"))
    assert header.index("model") < header.index("noisy input") < header.index("median 3x3")
    assert "denoising (salt-pepper:0.1)" in text and "note: a note" in text


def _separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.rand(n, 1, 8, 8, generator=gen) * 0.3
    for k in range(3):
        images[labels == k, :, 2 * k : 2 * k + 3, :] += 0.6
    return images.clamp(0, 1), labels


def test_feature_classifier_is_trained_once_cached_and_separates_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path))
    images, labels = _separable(600, 0)
    first = get_classifier("toy", images, labels, 3, epochs=3)
    files = sorted(p.suffix for p in (tmp_path / "classifiers").iterdir())
    assert files == [".json", ".safetensors"]
    second = get_classifier("toy", images, labels, 3)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    test, _ = _separable(300, 1)
    same = sample_quality(first, test, test)
    assert same["frechet"] < 1e-3 and same["coverage"] > 0.95 and same["confidence"] > 0.8
    one_class = sample_quality(first, test[::3], test)  # only class 0
    assert one_class["coverage"] < 0.1 and one_class["frechet"] > 1.0
