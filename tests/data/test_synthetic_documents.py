"""Synthetic dirty documents: clean pages, each kind of damage, the folder layout, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from aekit.cli import main
from aekit.data.page_damage import (
    DAMAGE_KINDS,
    DamageConfig,
    crease_field,
    damage_page,
    illumination_field,
    stain_field,
)
from aekit.data.synthetic_documents import (
    SPLITS,
    VOCABULARY,
    ensure_synthetic_documents,
    render_clean_page,
    synthesize,
)
from aekit.errors import AekitError


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return render_clean_page((540, 258), rng(3))


WHITE = np.ones((120, 160), np.float32)


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float32) / 255


# --- clean pages ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(540, 420), (540, 258), (200, 96)])
def test_clean_page_is_white_paper_with_dark_text(size: tuple[int, int]) -> None:
    for seed in range(3):
        page = render_clean_page(size, rng(seed))
        assert page.shape == (size[1], size[0]) and page.dtype == np.float32
        assert 0.65 < (page > 0.95).mean() < 0.97  # mostly background, like train_cleaned
        assert 0.02 < (page < 0.3).mean() < 0.3 and page.min() < 0.1


def test_clean_pages_differ_between_seeds_and_repeat_for_one() -> None:
    a, b = render_clean_page((300, 200), rng(1)), render_clean_page((300, 200), rng(2))
    assert np.array_equal(a, render_clean_page((300, 200), rng(1)))
    assert np.abs(a - b).mean() > 0.05


# --- damage, kind by kind ---------------------------------------------------------------------
def test_no_damage_leaves_the_page_as_it_is(clean: np.ndarray) -> None:
    np.testing.assert_allclose(damage_page(clean, DamageConfig.off(), rng()), clean, atol=1e-6)


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_each_kind_alone_changes_the_page_within_range(clean: np.ndarray, kind: str) -> None:
    dirty = damage_page(clean, DamageConfig.only(kind), rng(5))
    assert dirty.shape == clean.shape and dirty.dtype == np.float32
    assert 0 <= dirty.min() and dirty.max() <= 1
    assert np.abs(dirty - clean).mean() > 1e-4


def test_switching_one_kind_on_leaves_the_others_unchanged() -> None:
    stained = damage_page(WHITE, DamageConfig.only("stains"), rng(4))
    toned = damage_page(WHITE, replace(DamageConfig.only("stains"), paper_tone=0.1), rng(4))
    tone = damage_page(WHITE, DamageConfig.only("paper_tone", 0.1), rng(4))
    np.testing.assert_allclose(toned, stained * tone, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_stain_darkens_a_ring_around_its_centre(seed: int) -> None:
    field = stain_field((300, 300), (150, 150), 50, 0.5, rng(seed))
    yy, xx = np.mgrid[0:300, 0:300]
    dist = np.hypot(yy - 150, xx - 150)
    darkest = np.unravel_index(np.argmin(field), field.shape)
    assert 0.7 * 50 < dist[darkest] < 1.35 * 50  # on the rim
    assert field.min() < 0.85 and field.max() <= 1
    assert field[dist < 5].min() > field.min() + 0.05  # inside lighter than the rim
    assert field[dist > 120].min() > 0.99  # nothing far away


def test_stains_only_darken_part_of_a_page() -> None:
    dirty = damage_page(WHITE, DamageConfig.only("stains"), rng(7))
    assert dirty.max() <= 1 and dirty.min() < 0.9
    assert 0.005 < (dirty < 0.97).mean() < 0.9


def test_crease_darkens_pixels_along_its_line() -> None:
    field = crease_field((200, 300), (100, 150), 0.0, 0.2, rng(1))  # a horizontal fold at row 100
    assert (field[95:106].min(axis=0) < 0.93).all()  # dark all the way along
    assert np.abs(field[:30] - 1).max() < 0.01 and np.abs(field[170:] - 1).max() < 0.01
    assert field.max() > 1.01  # the face turned to the light is brighter


def test_illumination_is_a_smooth_low_frequency_field() -> None:
    field = illumination_field((210, 270), 0.3, rng(2))
    assert field.min() >= 0.7 - 1e-6 and field.max() <= 1 + 1e-6 and np.ptp(field) > 0.2
    assert np.abs(field - ndimage.gaussian_filter(field, 4)).max() < 0.01
    dirty = damage_page(WHITE, DamageConfig.only("illumination"), rng(2))
    assert np.abs(dirty - ndimage.gaussian_filter(dirty, 4, mode="nearest")).max() < 0.01


def test_dark_areas_darken_broad_soft_regions() -> None:
    dirty = damage_page(WHITE, DamageConfig.only("dark_areas", 0.5), rng(3))
    assert dirty.max() <= 1 and dirty.min() < 0.9
    assert np.abs(dirty - ndimage.gaussian_filter(dirty, 2, mode="nearest")).max() < 0.01


def test_paper_tone_greys_the_whole_background_evenly() -> None:
    dirty = damage_page(WHITE, DamageConfig.only("paper_tone", 0.1), rng())
    assert np.ptp(dirty) == 0 and 0.9 <= dirty[0, 0] <= 0.95


def test_texture_adds_fine_grain_to_the_paper() -> None:
    dirty = damage_page(WHITE, DamageConfig.only("texture"), rng())
    assert 0.005 < dirty.std() < 0.1
    assert np.abs(np.diff(dirty, axis=1)).mean() > 0.002  # varies from pixel to pixel


def test_faded_ink_is_lighter_and_paper_untouched(clean: np.ndarray) -> None:
    dirty = damage_page(clean, DamageConfig.only("fade", 0.5), rng())
    ink, paper = clean < 0.3, clean == 1
    assert (dirty[ink] >= clean[ink]).all() and (dirty[ink] - clean[ink]).mean() > 0.1
    assert np.array_equal(dirty[paper], clean[paper])


def test_blur_lowers_high_frequency_energy(clean: np.ndarray) -> None:
    dirty = damage_page(clean, DamageConfig.only("blur", 1.0), rng())
    energy = lambda x: (ndimage.laplace(x) ** 2).mean()  # noqa: E731
    assert energy(dirty) < 0.6 * energy(clean)
    assert abs(dirty.mean() - clean.mean()) < 0.01


def test_speckle_adds_grain_and_dark_specks() -> None:
    dirty = damage_page(np.ones((258, 540), np.float32), DamageConfig.only("speckle", 0.05), rng())
    assert 0.01 < (dirty - ndimage.median_filter(dirty, 3)).std() < 0.1
    assert dirty.min() < 0.8  # a speck: far below what the grain alone reaches


def test_salt_and_pepper_sets_isolated_pixels_to_extremes() -> None:
    gray = np.full((200, 200), 0.5, np.float32)
    dirty = damage_page(gray, DamageConfig.only("salt_pepper", 0.04), rng())
    hit = dirty != 0.5
    assert set(np.unique(dirty[hit])) == {0.0, 1.0}
    assert 0.02 * 0.9 < hit.mean() < 0.04 * 1.1
    neighbours = ndimage.convolve(
        hit.astype(int), np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), mode="constant"
    )
    assert (neighbours[hit] > 0).mean() < 0.25  # isolated dots, not blobs


def test_damage_config_is_validated() -> None:
    for bad in (
        {"stains": -0.1},
        {"fade": 1.5},
        {"blur": float("nan")},
        {"max_stains": 2.5},
        {"texture": "x"},
    ):
        with pytest.raises(AekitError, match="damage"):
            DamageConfig(**bad)
    with pytest.raises(AekitError, match="unknown damage kind"):
        DamageConfig.only("mold")
    with pytest.raises(AekitError, match="2-D"):
        damage_page(np.ones((2, 8, 8)), DamageConfig(), rng())


# --- data sets on disk ------------------------------------------------------------------------
def pngs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_synthesize_is_deterministic_and_seed_dependent(tmp_path: Path) -> None:
    a = pngs(synthesize(3, tmp_path / "a", seed=1, size=(160, 120)))
    assert a == pngs(synthesize(3, tmp_path / "b", seed=1, size=(160, 120)))
    c = pngs(synthesize(3, tmp_path / "c", seed=2, size=(160, 120)))
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a)


def test_synthesize_writes_paired_splits_with_the_sizes_asked(tmp_path: Path) -> None:
    sizes = [(540, 258), (200, 150)]
    out = synthesize(5, tmp_path / "docs", seed=0, size=sizes)
    assert out == tmp_path / "docs"
    names = {split: sorted(p.name for p in (out / split).glob("*.png")) for split in SPLITS}
    assert len(names["train"]) == 4 and len(names["test"]) == 1  # 80 / 20
    assert names["train"] == names["train_cleaned"] and names["test"] == names["test_cleaned"]
    for split in ("train", "test"):
        for name in names[split]:
            dirty, clean = (
                Image.open(out / split / name),
                Image.open(out / f"{split}_cleaned" / name),
            )
            assert dirty.mode == clean.mode == "L" and dirty.size == clean.size
            assert dirty.size == sizes[(int(name.removesuffix(".png")) - 1) % 2]
            assert (
                np.abs(read(out / split / name) - read(out / f"{split}_cleaned" / name)).mean()
                > 0.02
            )
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_pages": 1}, "at least 2 pages"),
        ({"n_pages": "4"}, "at least 2 pages"),
        ({"n_pages": True}, "at least 2 pages"),
        ({"seed": -1}, "seed"),
        ({"size": (10, 420)}, "out of range"),
        ({"size": (540,)}, "width, height"),
        ({"size": (540.0, 420.0)}, "width, height"),
        ({"size": [(540, 420), (540, 99999)]}, "out of range"),
        ({"size": []}, "empty"),
        ({"damage": {"stains": 0}}, "DamageConfig"),
    ],
)
def test_synthesize_rejects_bad_arguments_in_one_line(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    args = {"n_pages": 3, "out_dir": tmp_path / "out", **kwargs}
    with pytest.raises(AekitError, match=message) as info:
        synthesize(**args)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_synthesize_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AekitError, match="not an empty folder"):
        synthesize(2, tmp_path)


def test_ensure_synthetic_documents_generates_once_into_the_cache(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path))
    first = ensure_synthetic_documents(n_pages=2, seed=5)
    assert first == tmp_path / "documents-synthetic-5-2"
    assert len(list(first.glob("*/*.png"))) == 4
    stamp = (first / "train" / "1.png").stat().st_mtime_ns
    assert ensure_synthetic_documents(n_pages=2, seed=5) == first
    assert (first / "train" / "1.png").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary folder left


def test_cli_make_documents(tmp_path: Path, capsys) -> None:
    assert (
        main(["make-documents", "--pages", "4", "--out", str(tmp_path / "docs"), "--seed", "3"])
        == 0
    )
    assert "4 page pairs" in capsys.readouterr().out
    assert len(list((tmp_path / "docs").glob("*/*.png"))) == 8
    assert main(["make-documents", "--pages", "1", "--out", str(tmp_path / "more")]) == 2
    err = capsys.readouterr().err
    assert "at least 2 pages" in err and err.count("\n") == 1


# --- the point of it all: a document cleaner learns from these pages ---------------------------
def test_short_training_cleans_held_out_pages_better_than_identity(
    tmp_path: Path, monkeypatch
) -> None:
    """The tutorial's document cleaner (narrowed to 16 filters to stay fast) beats the noisy
    page."""
    import torch

    import aekit
    from aekit import data
    from aekit.scans import clean_page

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    config = aekit.TrainConfig(
        model="tutorial-docs",
        dataset="documents-synthetic",
        out=str(tmp_path / "run"),
        epochs=3,
        patches_per_epoch=1024,
        patch_size=32,
        batch_size=32,
        lr=3e-3,
        seed=0,
        device="cpu",
        quiet=True,
        model_options={"filters": 16, "latent_dim": 16},
    )
    model = aekit.train(config).model.eval()
    # the training pages' text sizes
    recorded = json.loads((tmp_path / "run" / "data.json").read_text())["text"]
    assert 5 < recorded["pitch"][0] <= recorded["pitch"][1] <= recorded["pitch"][2] < 60
    assert recorded["letter"][0] <= recorded["letter"][1] <= recorded["letter"][2]
    pages = data.load("documents-synthetic", split="test")
    squared_model, squared_identity, pixels = 0.0, 0.0, 0
    with torch.no_grad():
        for noisy, clean in zip(pages.noisy, pages.clean):
            cleaned = clean_page(model, noisy, None).pixels
            assert cleaned.shape == clean.shape
            squared_model += float(((cleaned - clean) ** 2).sum())
            squared_identity += float(((noisy - clean) ** 2).sum())
            pixels += clean.numel()
    rmse_model, rmse_identity = (squared_model / pixels) ** 0.5, (squared_identity / pixels) ** 0.5
    assert rmse_identity > 0.1
    assert rmse_model < 0.9 * rmse_identity, (rmse_model, rmse_identity)


def test_page_sizes_at_a_resolution_and_bad_ones_in_one_line() -> None:
    from aekit.data.synthetic_documents import page_size

    assert page_size("a4", 300) == (2480, 3508)
    assert page_size("Letter", 100) == (850, 1100)
    assert page_size("640x480", 300) == (640, 480)
    for bad, dpi in (("a5", 300), ("640 by 480", 300), ("a4", 0), ("a4", 5000), ("a4", 700)):
        with pytest.raises(AekitError):
            page_size(bad, dpi)


def test_pages_at_a_resolution_carry_their_text_and_dpi(tmp_path: Path) -> None:
    from aekit.data.documents import load_pages

    out = synthesize(5, tmp_path / "pages", seed=2, size=(496, 702), dpi=60)  # A4 at 60 dpi
    for split in ("train", "test"):
        pages = load_pages(out, split)
        assert pages.texts is not None and len(pages.texts) == len(pages)
        assert all(len(text.split()) > 20 for text in pages.texts)
    with Image.open(out / "train" / "1.png") as img:
        assert round(img.info["dpi"][0]) == 60
    words = (out / "train_cleaned" / "1.txt").read_text().split()
    assert set(w.strip(".,:").lower() for w in words) <= set(VOCABULARY)
    # Kaggle-like crops (no dpi) keep no text: their lines may run off the page
    plain = synthesize(2, tmp_path / "plain", seed=2)
    assert not list(plain.rglob("*.txt")) and load_pages(plain, "train").texts is None


def test_make_documents_at_a_resolution_through_the_cli(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "make-documents",
                "--pages",
                "2",
                "--dpi",
                "40",
                "--page",
                "letter",
                "--out",
                str(tmp_path / "d"),
            ]
        )
        == 0
    )
    assert "340x440 px" in capsys.readouterr().out
    assert (tmp_path / "d" / "train_cleaned" / "1.txt").is_file()
    assert (
        main(["make-documents", "--pages", "2", "--page", "a4", "--out", str(tmp_path / "e")]) == 2
    )
    assert (
        main(
            [
                "make-documents",
                "--pages",
                "2",
                "--dpi",
                "300",
                "--page",
                "huge",
                "--out",
                str(tmp_path / "f"),
            ]
        )
        == 2
    )
