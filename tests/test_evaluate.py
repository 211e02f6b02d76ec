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
        "sections": {
            "denoising": {"psnr": {"model": 24.5, "noisy input": 15.25, "median 3x3": 20.0}}
        },
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
    assert all(
        torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values())
    )
    test, _ = _separable(300, 1)
    same = sample_quality(first, test, test)
    assert same["frechet"] < 1e-3 and same["coverage"] > 0.95 and same["confidence"] > 0.8
    one_class = sample_quality(first, test[::3], test)  # only class 0
    assert one_class["coverage"] < 0.1 and one_class["frechet"] > 1.0


def test_clean_page_fits_strided_models_to_any_page_size():
    class Strided(torch.nn.Module):
        size_multiple = 8  # a strided model that does not pad itself: the tiler pads each tile

        def reconstruct(self, x, condition=None):
            return torch.nn.functional.interpolate(
                torch.nn.functional.avg_pool2d(x, 8), scale_factor=8
            )

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
    return train(
        TrainConfig(
            model="conv",
            out=str(out),
            noise="salt-pepper:0.1",
            model_options={"latent_dim": 32, "channels": [16, 32]},
            **COMMON,
        )
    ).dir


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory) -> Path:
    """A tiny real run: a VAE on digits."""
    from aekit.config import TrainConfig
    from aekit.train import train

    out = tmp_path_factory.mktemp("vae")
    return train(
        TrainConfig(
            model="vae",
            out=str(out),
            model_options={"latent_dim": 4, "likelihood": "bernoulli"},
            **COMMON,
        )
    ).dir


def test_denoiser_beats_the_noisy_input_and_the_median_filter(dae_run):
    result = evaluate_run(dae_run)
    psnr = result["sections"]["denoising"]["psnr"]
    assert psnr["model"] > max(psnr["median 3x3"], psnr["noisy input"])
    assert (
        json.loads((dae_run / "eval.json").read_text())["sections"]["denoising"]["psnr"]["model"]
        == psnr["model"]
    )


def test_vae_evaluation_pictures_and_report(vae_run):
    result = evaluate_run(vae_run, iwae_k=50, max_images=150)
    likelihood = result["sections"]["likelihood"]
    assert likelihood["nll_iwae"]["model"] < likelihood["nll_elbo"]["model"]
    assert any("binarised" in note for note in result["notes"])
    probe = result["sections"]["latent"]["probe_test"]
    assert probe["model"] > 3 * probe["chance (majority class)"]
    frechet = result["sections"]["samples"]["frechet"]
    assert frechet["held-out real images (floor)"] < frechet["model"]
    assert (
        result["generation"]["samplers"]["model"]
        == "unconditional: classes assigned by the classifier"
    )
    # max_images bounds the held-out images
    assert result["generation"]["images"]["all classes"] <= 150

    page = write_report(vae_run).read_text()  # draws every picture through plot_run
    paths = sorted((vae_run / "plots").glob("*.png"))
    names = {p.stem for p in paths}
    assert {
        "training_curves",
        "reconstructions",
        "traversal",
        "latent_scatter",
        "samples",
        "class_samples",
        "nearest_model",
    } <= names  # samples above their nearest training images
    assert all(p.stat().st_size > 2000 for p in paths)
    assert "http://" not in page and 'src="file' not in page
    assert page.count("data:image/png;base64,") == len(paths) and "NLL, IWAE bound" in page


def test_conditional_vae_samples_are_scored_against_the_class_asked_for(tmp_path):
    from aekit.config import TrainConfig
    from aekit.train import train

    options = {"latent_dim": 2, "condition_kind": "label", "likelihood": "bernoulli"}
    run = train(
        TrainConfig(model="cvae", out=str(tmp_path / "cvae"), model_options=options, **COMMON)
    ).dir
    result = evaluate_run(run, iwae_k=8, iwae_images=40)
    match = result["sections"]["samples"]["class_match"]
    assert match["chance"] == pytest.approx(0.1)
    assert match["model"] > 3 * match["chance"], match
    assert match["held-out real images (floor)"] > 0.8
    assert any("on 40 dynamically binarised test images" in note for note in result["notes"])
    # per class: the model draws each class, scored on the class asked for beside real test images
    generation = result["generation"]
    assert generation["samplers"]["model"] == "class-conditional: draws each class"
    assert generation["samples_per_figure"] == 475 and generation["images"][
        "all classes"
    ] == len_test_without_copies(run)
    seven = result["sections"]["generation: 7"]
    assert (
        seven["images"]["model"]
        == seven["images"]["held-out real images"]
        == generation["images"]["7"]
        < 475
    )
    assert seven["class_accuracy"]["model"] > 3 * match["chance"]
    assert seven["novelty"]["held-out real images"] == pytest.approx(
        0.05, abs=1 / generation["images"]["7"]
    )


def len_test_without_copies(run: Path) -> int:
    """Test images of the run that are not byte for byte one of its training images."""
    from aekit.metrics import remove_exact_duplicates
    from aekit.run import Run

    data = Run(run, "cpu")
    return len(remove_exact_duplicates(data.train.pixels, data.test.pixels)[1])


def test_bf16_likelihood_bounds_stay_close_to_float32(vae_run):
    from aekit.evaluate_likelihood import likelihood_section
    from aekit.run import Run

    run = Run(vae_run, "cpu", max_test_images=64)
    exact, _ = likelihood_section(run, k=32)
    fast, note = likelihood_section(run, k=32, bf16=True)
    assert "bfloat16" in note
    for bound in ("nll_iwae", "nll_elbo"):
        assert abs(fast[bound]["model"] - exact[bound]["model"]) < 0.01 * exact[bound]["model"], (
            bound
        )


def _plan(monkeypatch, test_images: int, seconds_per_sample: float, **given):
    """plan_likelihood for a stand-in run of ``test_images`` whose bounds cost
    ``seconds_per_sample``."""
    from types import SimpleNamespace

    import aekit.evaluate_likelihood as likelihood

    monkeypatch.setattr(likelihood, "_seconds_per_sample", lambda run, bf16: seconds_per_sample)
    return likelihood.plan_likelihood(SimpleNamespace(test=range(test_images)), **given)


def test_the_default_likelihood_budget_fits_a_minute_on_the_sprites(monkeypatch):
    # res-vae on crawl-tiles: IWAE-1000 on all 1,187 test tiles took 2.4 h, 7.3 ms per sample
    plan = _plan(monkeypatch, 1187, 7.3e-3)
    assert (plan.k, plan.images, plan.budget_seconds) == (64, 128, 60.0)
    assert 50 < plan.estimated_seconds <= 60
    assert (
        "IWAE k=64 on 128 of 1,187 test images, about 60 s (chosen to fit the 60 s budget"
        in plan.describe()
    )
    # both given: no budget, the estimate said
    asked = _plan(monkeypatch, 1187, 7.3e-3, k=1000, images=1187)
    assert (asked.k, asked.images, asked.budget_seconds) == (1000, 1187, None)
    assert asked.describe() == "IWAE k=1000 on 1,187 of 1,187 test images, about 2.4 h"


@pytest.mark.parametrize(
    ("given", "seconds_per_sample", "k", "images"),
    [
        ({}, 1e-9, 1000, 10_000),  # a fast model: the classic IWAE-1000 on every test image
        # 3,932,160 samples fit: a smaller k on every image while k stays >= 64
        ({}, 2**-16, 393, 10_000),
        ({}, 2**-6, 38, 100),  # 3,840 fit: not fewer than 100 images, so k goes below 64
        ({"seconds": 600.0}, 2**-16, 1000, 10_000),
        ({"k": 5000}, 2**-16, 5000, 786),  # k asked for: as many images as fit
        ({"images": 50}, 2**-16, 1000, 50),  # images asked for: k up to 1000
        ({"images": 20_000}, 2**-16, 393, 10_000),  # no more images than the test split has
    ],
)
def test_what_the_budget_chooses_around_what_was_asked(
    monkeypatch, given, seconds_per_sample, k, images
):
    plan = _plan(monkeypatch, 10_000, seconds_per_sample, **given)
    assert (plan.k, plan.images) == (k, images)
    assert plan.estimated_seconds <= given.get("seconds", 60.0) * 1.001


def test_evaluation_says_how_the_likelihood_was_budgeted(vae_run):
    import io

    from aekit.progress import Progress

    stream = io.StringIO()
    result = evaluate_run(
        vae_run, max_images=150, iwae_seconds=0.5, progress=Progress(stream=stream)
    )
    plan = json.loads((vae_run / "eval.json").read_text())["likelihood_plan"]
    assert plan == result["likelihood_plan"] and plan["budgeted"] and plan["budget_seconds"] == 0.5
    assert plan["test_images"] == 150 and 1 <= plan["images"] <= 150 and plan["k"] >= 1
    assert f"IWAE k={plan['k']} on {plan['images']} of 150 test images, about" in stream.getvalue()
    assert any(
        f"on {plan['images']} dynamically binarised" in note and "0.5 s budget" in note
        for note in result["notes"]
    )
    exact = evaluate_run(vae_run, max_images=150, iwae_k=20, iwae_images=30)["likelihood_plan"]
    assert (exact["k"], exact["images"], exact["budgeted"], exact["budget_seconds"]) == (
        20,
        30,
        False,
        None,
    )


def test_report_takes_the_evaluate_options(vae_run, monkeypatch, capsys):
    import aekit.report
    from aekit.cli import main

    seen = []
    stored = evaluate_run(vae_run, max_images=50, iwae_k=4, iwae_images=10)
    monkeypatch.setattr(aekit.report, "plot_run", lambda run_dir: [])
    monkeypatch.setattr(
        aekit.report,
        "evaluate_run",
        lambda run_dir, progress, **options: seen.append(options) or stored,
    )
    (vae_run / "eval.json").unlink()
    assert (
        main(
            [
                "report",
                str(vae_run),
                "--iwae-k",
                "7",
                "--iwae-seconds",
                "3",
                "--prior",
                "gmm",
                "--quiet",
            ]
        )
        == 0
    )
    # only what was given: evaluate's defaults
    assert seen == [{"iwae_k": 7, "iwae_seconds": 3.0, "priors": ["gmm"]}]
    # an eval.json: the report shows it, options unused
    evaluate_run(vae_run, max_images=50, iwae_k=4, iwae_images=10)
    assert main(["report", str(vae_run), "--iwae-k", "7"]) == 0 and len(seen) == 1
    assert "the evaluate options are not used" in capsys.readouterr().err


@pytest.mark.parametrize("option", [{"iwae_k": 0}, {"max_images": 0}, {"iwae_images": -1}])
def test_impossible_evaluation_sizes_are_one_line_errors(vae_run, option):
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match="must be at least 1"):
        evaluate_run(vae_run, **option)
    with pytest.raises(ConfigError, match="--iwae-seconds must be a positive number"):
        evaluate_run(vae_run, iwae_seconds=0.0)


def test_generation_samples_are_asked_for_on_the_command_line(vae_run, capsys):
    from aekit.cli import main

    # refused before any work
    assert main(["evaluate", str(vae_run), "--generation-samples", "3", "--quiet"]) == 2
    assert "--generation-samples must be at least 4" in capsys.readouterr().err
    argv = [
        "evaluate",
        str(vae_run),
        "--generation-samples",
        "12",
        "--max-images",
        "150",
        "--iwae-k",
        "2",
        "--quiet",
    ]
    assert main(argv) == 0
    generation = json.loads((vae_run / "eval.json").read_text())["generation"]
    assert generation["samples_per_figure"] == 12 and generation["budget_seconds"] is None
    images = generation["images"]
    # digit 6 has 11 of the first 150 test images
    assert images["all classes"] == 12 and images["6"] == 11
    assert all(count == 12 for name, count in images.items() if name != "6")


def _fake_clock(monkeypatch, module) -> list[float]:
    """``module``'s ``time.perf_counter`` made a counter the test advances (the draws' cost, not the
    machine's)."""
    from types import SimpleNamespace

    now = [0.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    return now


def test_sample_quality_draws_as_many_samples_as_fit_a_minute(monkeypatch):
    import aekit.evaluate as evaluate

    now = _fake_clock(monkeypatch, evaluate)

    def costing(seconds_per_image: float):
        def draw(rows: slice) -> torch.Tensor:
            now[0] += seconds_per_image * (rows.stop - rows.start)
            return torch.zeros(rows.stop - rows.start, 1, 2, 2)

        return draw

    # a sequential prior: 0.1 s per image
    slow = {"model": costing(1e-3), "prior pixelcnn": costing(0.1)}
    plan = evaluate.plan_sample_images(slow, 5000)
    assert (plan.n, plan.budget_seconds) == (594, 60.0) and plan.estimated_seconds <= 60
    assert plan.describe(2) == (
        "594 samples per column from 2 sampler(s), about 60 s of drawing (chosen to fit the 60 s "
        "budget; 5,000 would take about 8.4 min: --sample-images for more)"
    )
    assert (
        evaluate.plan_sample_images(slow, 5000, n=1000).n,
        evaluate.plan_sample_images(slow, 5000, n=1000).budget_seconds,
    ) == (1000, None)  # asked for: drawn whatever it costs, the estimate said
    fast = evaluate.plan_sample_images({"model": costing(1e-3)}, 5000)
    assert (fast.n, fast.budget_seconds) == (5000, None)  # all fit: nothing left out
    # fewer than MIN_SAMPLE_IMAGES there: all of them
    assert evaluate.plan_sample_images(slow, 150).n == 150


def test_sample_images_are_asked_for_on_the_command_line(vae_run):
    from aekit.cli import main

    argv = [
        "evaluate",
        str(vae_run),
        "--sample-images",
        "40",
        "--max-images",
        "150",
        "--iwae-k",
        "2",
        "--iwae-images",
        "10",
        "--generation-samples",
        "12",
        "--quiet",
    ]
    assert main(argv) == 0
    result = json.loads((vae_run / "eval.json").read_text())
    assert result["samples_plan"]["n"] == 40 and not result["samples_plan"]["budgeted"]
    assert any("sample quality: 40 samples vs 40 test images" in note for note in result["notes"])
    assert main([*argv[:2], "--sample-images", "0"]) == 2
