"""Evaluation of whole runs: the table format, the cached feature classifier, and real tiny runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aekit.evaluate import evaluate_run
from aekit.quality import get_classifier, sample_quality
from aekit.report import write_report
from aekit.scans import clean_page
from aekit.tables import format_metrics


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


def test_clean_page_fits_strided_models_to_any_page_size():
    class Strided(torch.nn.Module):
        size_multiple = 8  # a strided model that does not pad itself: the tiler pads each tile

        def reconstruct(self, x, condition=None):
            return torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 8), scale_factor=8)

    page = torch.rand(1, 30, 41)
    cleaned = clean_page(Strided(), page, None).pixels
    assert cleaned.shape == page.shape
    assert torch.allclose(cleaned[:, :8, :8], page[:, :8, :8].mean().expand(1, 8, 8))


COMMON = dict(dataset="digits", batch_size=64, lr=3e-3, epochs=15, seed=0)


@pytest.fixture(scope="module")
def dae_run(tmp_path_factory) -> Path:
    """A tiny real run: a conv denoiser trained on digits with salt-and-pepper 0.1."""
    from aekit.config import TrainConfig
    from aekit.train import train

    out = tmp_path_factory.mktemp("dae")
    return train(TrainConfig(model="conv", out=str(out), noise="salt-pepper:0.1", model_options={"latent_dim": 32, "channels": [16, 32]}, **COMMON)).dir


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    """A tiny real run: a VAE on digits."""
    from aekit.config import TrainConfig
    from aekit.train import train

    out = tmp_path_factory.mktemp("vae")
    return train(TrainConfig(model="vae", out=str(out), model_options={"latent_dim": 4, "likelihood": "bernoulli"}, **COMMON)).dir


def test_denoiser_beats_the_noisy_input_and_the_median_filter(dae_run):
    result = evaluate_run(dae_run)
    psnr = result["sections"]["denoising"]["psnr"]
    assert psnr["model"] > max(psnr["median 3x3"], psnr["noisy input"])
    assert json.loads((dae_run / "eval.json").read_text())["sections"]["denoising"]["psnr"]["model"] == psnr["model"]


def test_vae_evaluation_pictures_and_report(vae_run):
    result = evaluate_run(vae_run, iwae_k=50, max_images=150)
    likelihood = result["sections"]["likelihood"]
    assert likelihood["nll_iwae"]["model"] < likelihood["nll_elbo"]["model"]
    assert any("binarised" in note for note in result["notes"])
    probe = result["sections"]["latent"]["probe_test"]
    assert probe["model"] > 3 * probe["chance (majority class)"]
    frechet = result["sections"]["samples"]["frechet"]
    assert frechet["held-out real images (floor)"] < frechet["model"]

    page = write_report(vae_run).read_text()  # draws every picture through plot_run
    paths = sorted((vae_run / "plots").glob("*.png"))
    names = {p.stem for p in paths}
    assert {"training_curves", "reconstructions", "traversal", "latent_scatter", "samples", "class_samples"} <= names
    assert all(p.stat().st_size > 2000 for p in paths)
    assert "http://" not in page and 'src="file' not in page
    assert page.count("data:image/png;base64,") == len(paths) and "NLL, IWAE bound" in page


def test_conditional_vae_samples_are_scored_against_the_class_asked_for(tmp_path):
    from aekit.config import TrainConfig
    from aekit.train import train

    options = {"latent_dim": 2, "condition_kind": "label", "likelihood": "bernoulli"}
    run = train(TrainConfig(model="cvae", out=str(tmp_path / "cvae"), model_options=options, **COMMON)).dir
    result = evaluate_run(run, iwae_k=8, iwae_images=40)
    match = result["sections"]["samples"]["class_match"]
    assert match["chance"] == pytest.approx(0.1)
    assert match["model"] > 3 * match["chance"], match
    assert match["held-out real images (floor)"] > 0.8
    assert any("on 40 dynamically binarised test images" in note for note in result["notes"])


def test_bf16_likelihood_bounds_stay_close_to_float32(vae_run):
    from aekit.evaluate import likelihood_section, load_run

    run = load_run(vae_run, max_images=64)
    exact, _ = likelihood_section(run, k=32)
    fast, note = likelihood_section(run, k=32, bf16=True)
    assert "bfloat16" in note
    for bound in ("nll_iwae", "nll_elbo"):
        assert abs(fast[bound]["model"] - exact[bound]["model"]) < 0.01 * exact[bound]["model"], bound


@pytest.mark.parametrize("option", [{"iwae_k": 0}, {"max_images": 0}, {"iwae_images": -1}])
def test_impossible_evaluation_sizes_are_one_line_errors(vae_run, option):
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match="must be at least 1"):
        evaluate_run(vae_run, **option)
