"""The tour end to end on the embedded digits with a tiny preset, its checks on good and bad
numbers, its likelihood baseline, and its dataset fallback."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from aekit import tour, tour_claims, tour_plan
from aekit.errors import ConfigError, DataError
from aekit.ocr import tesseract_missing

TINY = tour_plan.Preset(
    train_images=400,
    epochs=1,
    vae_epochs=1,
    manifold_epochs=1,
    iwae_k=8,
    iwae_images=50,
    eval_images=100,
    doc_epochs=1,
    doc_patches=64,
    ocr_pages=1,
    sprite_minutes=0.1,
    generation_samples=24,
)
OCR = tesseract_missing() is None  # CI's set-up installs tesseract: then the OCR figures are there
EXPECTED_FIGURES = {
    "denoising": {"psnr", "ssim"},
    "vae-2d": {"nll_iwae", "nll_elbo", "probe_test"},
    "vae-32": {"nll_iwae", "nll_elbo", "frechet", "probe_test"},
    "cvae": {"nll_iwae", "frechet", "class_match", "coverage"},
    "linear-pca": {"angle_to_pca", "mse"},
    "documents": {"rmse", "rmse_300dpi"} | ({"cer", "cer_300dpi"} if OCR else set()),
    "sprites": {"psnr", "ssim", "frechet", "novelty"},
}
SPRITES = tour.sprites_available(say=lambda line: None)  # CI's set-up installs crawl-tiles-data


def experiments(judge_all: bool = False) -> dict[str, tour_claims.Experiment]:
    preset = tour_plan.Preset(**{**dataclasses.asdict(TINY), "judge_all": judge_all})
    return {e.key: e for e in tour_plan.plan("digits", "documents-synthetic", preset, sprites=True)}


def outcomes(
    experiment: tour_claims.Experiment, figures: dict, judge_all: bool = True
) -> list[str]:
    return [check.outcome for check in experiment.checks(figures, judge_all)]


IMAGE_EXPERIMENTS = ["denoising", "vae-2d", "vae-32", "cvae", "linear-pca"]


def _check_rows(summary: dict, out, keys: list[str]) -> None:
    """Each experiment's report, figures and judged claims, as a reader of the tour sees them."""
    for key in keys:
        report = (out / key / "report.html").read_text()
        assert "<img" in report and "data:image/png;base64," in report
        entry = summary["experiments"][key]
        assert set(entry["figures"]) == EXPECTED_FIGURES[key], key
        assert all(
            math.isfinite(v) for values in entry["figures"].values() for v in values.values()
        ), key
        # every claim of the experiment is judged (or plainly not judged), none silently dropped
        assert len(entry["checks"]) == len(experiments()[key].claims) >= 1
        assert {c["outcome"] for c in entry["checks"]} <= {
            "ok",
            "FAILED",
            "not judged in the quick preset",
        }


def test_tour_writes_every_report_summary_and_index(tmp_path, monkeypatch):
    """The image experiments (the documents and sprites run in tests of their own, in parallel)."""
    lines: list[str] = []
    out = tmp_path / "tour"
    summary = tour.run_tour(
        out, dataset="digits", say=lines.append, preset=TINY, only=IMAGE_EXPERIMENTS
    )
    assert list(summary["experiments"]) == IMAGE_EXPERIMENTS
    _check_rows(summary, out, IMAGE_EXPERIMENTS)
    # the likelihood bounds have the independent-pixels reference beside them, in eval.json too
    assert "independent pixels" in summary["experiments"]["vae-32"]["figures"]["nll_iwae"]
    assert "independent pixels (per class)" in summary["experiments"]["cvae"]["figures"]["nll_iwae"]
    saved = json.loads((out / "vae-2d" / "eval.json").read_text())
    assert "independent pixels" in saved["sections"]["likelihood"]["nll_iwae"]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["experiments"]["cvae"]["checks"] == summary["experiments"]["cvae"]["checks"]
    index = (out / "report.html").read_text()
    assert all(f'href="{key}/report.html"' in index for key in IMAGE_EXPERIMENTS)
    judged = ("tour: ok: ", "tour: FAILED: ", "tour: not judged in the quick preset: ")
    assert sum(line.startswith(judged) for line in lines) == sum(
        len(experiments()[k].claims) for k in IMAGE_EXPERIMENTS
    )
    assert any("done in" in line for line in lines)
    markdown = (out / "summary.md").read_text()
    assert markdown.startswith("aekit tour, custom preset on digits")
    assert markdown.count("\n| ") == 1 + len(IMAGE_EXPERIMENTS)  # header + one row each
    # A second run reuses the finished run instead of refusing its folder, evaluates it to the same
    # figures, and keeps the rows of the experiments it did not run.
    lines.clear()
    again = tour.run_tour(out, dataset="digits", say=lines.append, preset=TINY, only=["vae-2d"])
    assert again["experiments"]["vae-2d"]["figures"] == summary["experiments"]["vae-2d"]["figures"]
    assert list(again["experiments"]) == IMAGE_EXPERIMENTS
    assert again["experiments"]["cvae"] == summary["experiments"]["cvae"]
    assert any("keeping the rows of denoising, vae-32, cvae, linear-pca" in line for line in lines)
    # another preset's rows are not mixed in
    other = tour_plan.Preset(**{**dataclasses.asdict(TINY), "iwae_k": 4})
    assert list(
        tour.run_tour(out, dataset="digits", say=lines.append, preset=other, only=["linear-pca"])[
            "experiments"
        ]
    ) == ["linear-pca"]


def test_tour_only_refuses_an_unknown_experiment_in_one_line(tmp_path):
    with pytest.raises(
        ConfigError, match=r"no experiment spritez \(the tour has denoising, vae-2d"
    ):
        tour.run_tour(
            tmp_path / "tour",
            dataset="digits",
            say=lambda line: None,
            preset=TINY,
            only=["spritez"],
        )
    assert not (tmp_path / "tour").exists()


def test_tour_documents_experiment(tmp_path, monkeypatch):
    monkeypatch.setattr(tour, "choose_documents", lambda say=print: "documents-synthetic")
    summary = tour.run_tour(
        tmp_path / "tour", dataset="digits", say=lambda line: None, preset=TINY, only=["documents"]
    )
    assert list(summary["experiments"]) == ["documents"]
    _check_rows(summary, tmp_path / "tour", ["documents"])


@pytest.mark.skipif(not SPRITES, reason="Debian's crawl-tiles-data is not installed")
def test_tour_sprites_experiment(tmp_path):
    summary = tour.run_tour(
        tmp_path / "tour", dataset="digits", say=lambda line: None, preset=TINY, only=["sprites"]
    )
    assert list(summary["experiments"]) == ["sprites"]
    _check_rows(summary, tmp_path / "tour", ["sprites"])


def test_document_cleaner_must_beat_background_subtraction_not_just_the_noisy_page():
    documents = experiments()["documents"]
    at_300dpi = {
        "rmse_300dpi": {"model": 0.05, "identity (noisy page)": 0.2, "background subtraction": 0.07}
    }
    loses = {
        "rmse": {
            "model": 0.09,
            "identity (noisy page)": 0.2,
            "median 3x3": 0.15,
            "background subtraction": 0.07,
        },
        **at_300dpi,
    }
    assert outcomes(documents, loses) == ["FAILED", "ok"]
    assert "background subtraction 0.07" in documents.checks(loses, True)[0].detail
    wins = {**loses, "rmse": {**loses["rmse"], "model": 0.05}}
    assert outcomes(documents, wins) == ["ok", "ok"]
    # at 300 dpi too: the old cleaner (stems only, RMSE 0.2 at 4x) beat the noisy page but not
    # background subtraction
    erased = {**wins, "rmse_300dpi": {**at_300dpi["rmse_300dpi"], "model": 0.15}}
    assert outcomes(documents, erased) == ["ok", "FAILED"]


def test_denoiser_must_beat_every_reference():
    denoising = experiments()["denoising"]
    figures = {
        "psnr": {"model": 20.0, "noisy input": 15.0, "median 3x3": 19.0, "PCA (8 components)": 21.0}
    }
    assert outcomes(denoising, figures) == ["FAILED"]  # PCA does better
    figures["psnr"]["model"] = 22.0
    assert outcomes(denoising, figures) == ["ok"]
    figures["psnr"]["model"] = 21.0
    assert outcomes(denoising, figures) == ["FAILED"]  # a tie is not a win


def test_vae_claims_compare_with_pixels_pca_gaussian_and_pca_probe():
    vae = experiments()["vae-32"]
    good = {
        "nll_iwae": {"model": 95.0, "independent pixels": 206.0},
        "nll_elbo": {"model": 100.0},
        "frechet": {
            "model": 10.0,
            "held-out real images (floor)": 0.5,
            "PCA-Gaussian (8 components)": 30.0,
            "prior gmm": 8.0,
        },
        "probe_test": {"model": 0.9, "PCA codes (8)": 0.85, "chance (majority class)": 0.11},
    }
    assert outcomes(vae, good) == ["ok", "ok", "ok", "ok"]
    bad = {
        # an IWAE bound below its ELBO (as Jensen demands) but worse than independent pixels
        "nll_iwae": {"model": 250.0, "independent pixels": 206.0},
        "nll_elbo": {"model": 260.0},
        "frechet": {
            "model": 40.0,
            "held-out real images (floor)": 0.5,
            "PCA-Gaussian (8 components)": 30.0,
            "prior gmm": 35.0,
        },  # better than N(0, I) but not than PCA-Gaussian
        "probe_test": {"model": 0.8, "PCA codes (8)": 0.85, "chance (majority class)": 0.11},
    }
    assert outcomes(vae, bad) == ["FAILED", "FAILED", "FAILED", "FAILED"]
    diverged = {**good, "nll_iwae": {"model": math.nan, "independent pixels": 206.0}}
    assert outcomes(vae, diverged)[0] == "FAILED"


def test_a_missing_figure_fails_its_claim_instead_of_vanishing():
    checks = experiments()["cvae"].checks({"nll_iwae": {"model": 120.0}}, True)
    assert [c.outcome for c in checks] == ["FAILED", "FAILED", "FAILED"]
    assert "independent pixels" in checks[0].detail and "frechet" in checks[1].detail


def test_class_match_and_linear_angle():
    cvae, linear = experiments()["cvae"], experiments()["linear-pca"]
    match = {"class_match": {"model": 0.3, "held-out real images (floor)": 0.95, "chance": 0.1}}
    assert cvae.checks(match, True)[2].outcome == "FAILED"
    match["class_match"]["model"] = 0.45
    assert cvae.checks(match, True)[2].outcome == "ok"
    assert outcomes(linear, {"angle_to_pca": {"model": 2.0}}) == ["ok"]
    assert outcomes(linear, {"angle_to_pca": {"model": 45.0}}) == ["FAILED"]


def test_a_claim_needing_the_full_preset_is_shown_but_not_judged_in_a_quick_tour():
    claim = tour_claims.Claim(
        "needs training", tour_claims.at_most("mse", 0.01), needs_full_preset=True
    )
    experiment = dataclasses.replace(experiments()["linear-pca"], claims=(claim,))
    figures = {"mse": {"model": 0.05}}
    quick = experiment.checks(figures, judge_all=False)[0]
    assert (
        quick.passed is None
        and quick.outcome == "not judged in the quick preset"
        and "0.05" in quick.detail
    )
    assert experiment.checks(figures, judge_all=True)[0].outcome == "FAILED"
    assert tour_plan.FULL.judge_all and not tour_plan.QUICK.judge_all


def test_tour_falls_back_to_the_next_dataset_and_says_where_it_looked(monkeypatch):
    import aekit.data

    def fake_load(name, split="train", **_):
        if name != "digits":
            raise DataError(f"{name} not found in /nowhere")
        return object()

    monkeypatch.setattr(aekit.data, "load", fake_load)
    lines: list[str] = []
    assert tour.choose_dataset(None, say=lines.append) == "digits"
    assert any("fashion-mnist is not available" in line and "/nowhere" in line for line in lines)
    assert any("running on digits" in line for line in lines)


def test_sprites_are_skipped_with_one_line_without_the_package(monkeypatch):
    import aekit.data

    def missing():
        raise DataError(
            "the crawl tiles are not installed (feat.png missing); apt-get install crawl-tiles-data"
        )

    monkeypatch.setattr(aekit.data, "crawl_tiles_spec", missing)
    lines: list[str] = []
    assert tour.sprites_available(say=lines.append) is False
    assert len(lines) == 1 and "apt-get install crawl-tiles-data" in lines[0]
    assert "sprites" not in {
        e.key for e in tour_plan.plan("digits", "documents-synthetic", TINY, sprites=False)
    }


def test_sprite_claims_compare_with_pca_of_the_same_code_size():
    sprites = experiments(judge_all=True)["sprites"]
    good = {
        "psnr": {"model": 24.0, "PCA (64 components)": 21.0},
        "ssim": {"model": 0.7},
        "frechet": {
            "model": 170.0,
            "prior transformer": 50.0,
            "PCA-Gaussian (64 components)": 60.0,
            "held-out real images (floor)": 1.0,
        },
    }
    # judged on the fitted prior's samples, not N(0, I)'s
    assert outcomes(sprites, good) == ["ok", "ok"]
    bad = {
        "psnr": {"model": 20.0, "PCA (64 components)": 21.0},
        "ssim": {"model": 0.7},
        "frechet": {
            "model": 20.0,
            "prior transformer": 70.0,
            "PCA-Gaussian (64 components)": 60.0,
            "held-out real images (floor)": 1.0,
        },
    }
    assert outcomes(sprites, bad) == ["FAILED", "FAILED"]


def test_the_full_tour_trains_its_recipes_as_aekit_train_config_does():
    """Each experiment's training is a recipe file a user can run with `aekit train --config`: the
    full preset on fashion-mnist trains exactly what recipes/tour-KEY.toml says (the tour only names
    the run folder and trains quietly); every tour recipe belongs to an experiment."""
    from aekit.config import TrainConfig

    recipes = {
        path.stem.removeprefix("tour-"): path for path in tour_plan.RECIPES.glob("tour-*.toml")
    }
    experiments = {
        e.key: e for e in tour_plan.plan("fashion-mnist", "documents", tour_plan.FULL, sprites=True)
    }
    # the cleaner's recipe is document-unet.toml
    assert set(recipes) == set(experiments) - {"documents"}
    for key, path in recipes.items():
        config = TrainConfig(**{**experiments[key].config, "quiet": False})
        assert config == TrainConfig.from_toml(path), key


def test_digits_use_the_small_models():
    planned = experiments()
    assert (
        planned["vae-2d"].config["model"] == "vae"
        and planned["vae-32"].config["model_options"]["latent_dim"] == 8
    )
    assert planned["linear-pca"].config["model_options"] == {"latent_dim": 8}


def test_only_keeps_rows_of_a_summary_of_the_same_preset_and_nothing_from_a_foreign_file(tmp_path):
    summary = {
        "preset": "custom",
        "dataset": "digits",
        "documents": "documents",
        "sizes": {"epochs": 1},
    }
    rows = {"cvae": {"figures": {}}, "linear-pca": {"figures": {}}}
    (tmp_path / "summary.json").write_text(json.dumps({**summary, "experiments": rows}))
    assert tour._earlier_rows(tmp_path, summary, ["cvae"]) == {"cvae": rows["cvae"]}
    assert tour._earlier_rows(tmp_path, {**summary, "sizes": {"epochs": 2}}, ["cvae"]) == {}
    for foreign in ("[1, 2]", "not json", '{"experiments": [1]}'):
        (tmp_path / "summary.json").write_text(foreign)
        assert tour._earlier_rows(tmp_path, summary, ["cvae"]) == {}
