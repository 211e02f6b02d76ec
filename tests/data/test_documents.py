"""Document pages: pairing, grouping by clean content, grouped splits, patches, bad folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.data import load, train_val_split
from aekit.data.documents import PageSet, load_pages, mixed_patches, read_pairs
from aekit.errors import ConfigError, DataError

REAL_DATA = os.environ.get("AEKIT_DATA")  # read before the fixture below points it elsewhere


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "data"))


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_documents(
    root: Path, n_clean: int = 6, copies: int = 2, test_cleaned: bool = False
) -> Path:
    """``n_clean`` distinct clean pages, each behind ``copies`` noisy pages (noisy = 255 -
    clean)."""
    rng = np.random.default_rng(0)
    number = 1
    for c in range(n_clean):
        clean = rng.integers(0, 256, (30 + 4 * (c % 2), 40), dtype=np.uint8)
        for _ in range(copies):
            save(root / "train_cleaned" / f"{number}.png", clean)
            save(root / "train" / f"{number}.png", 255 - clean)
            number += 1
    for t in range(3):
        page = rng.integers(0, 256, (30, 40), dtype=np.uint8)
        save(root / "test" / f"{t + 1}.png", 255 - page)
        if test_cleaned:
            save(root / "test_cleaned" / f"{t + 1}.png", page)
    return root


def test_grouped_split_keeps_clean_pages_on_one_side(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs")
    train, test = load_pages(root, "train"), load_pages(root, "test")
    assert len(train) + len(test) == 12 and len(test) == 2
    assert len(set(train.groups)) == 5 and len(set(test.groups)) == 1
    assert not set(train.groups) & set(test.groups)
    assert train.names == sorted(train.names, key=lambda n: int(n[:-4]))  # 2.png before 10.png
    assert load_pages(root, "test").names == test.names  # fixed seed: the same split every time
    for noisy, clean in zip(train.noisy, train.clean):
        assert noisy.shape[0] == 1 and noisy.dtype == torch.float32
        assert torch.allclose(noisy + clean, torch.ones_like(noisy))


def test_pages_sharing_a_clean_page_share_a_group(tmp_path: Path) -> None:
    pages = load_pages(make_documents(tmp_path / "docs", n_clean=3, copies=3), "train")
    pages = pages.subset(range(len(pages)))
    by_group: dict[int, list[torch.Tensor]] = {}
    for group, clean in zip(pages.groups, pages.clean):
        by_group.setdefault(group, []).append(clean)
    for cleans in by_group.values():
        assert all(torch.equal(c, cleans[0]) for c in cleans) and len(cleans) == 3


def test_kaggle_test_pages_are_unpaired(tmp_path: Path) -> None:
    pages = load_pages(make_documents(tmp_path / "docs"), "kaggle-test")
    assert len(pages) == 3 and pages.clean is None
    with pytest.raises(DataError, match="no clean targets"):
        pages.random_patches(2, 8)


def test_paired_test_folder_is_the_test_split(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs", test_cleaned=True)
    assert len(load_pages(root, "train")) == 12
    test = load_pages(root, "test")
    assert len(test) == 3 and test.clean is not None
    with pytest.raises(DataError, match="unknown split 'kaggle-test'"):
        load_pages(root, "kaggle-test")


def test_random_patches_are_aligned_and_reproducible(tmp_path: Path) -> None:
    pages = load_pages(make_documents(tmp_path / "docs"), "train")
    noisy, clean = pages.random_patches(50, 16, torch.Generator().manual_seed(3))
    assert noisy.shape == clean.shape == (50, 1, 16, 16)
    assert torch.allclose(noisy + clean, torch.ones_like(noisy))
    again, _ = pages.random_patches(50, 16, torch.Generator().manual_seed(3))
    assert torch.equal(noisy, again)
    assert len({tuple(p.flatten()[:4].tolist()) for p in noisy}) > 40  # positions and pages vary
    with pytest.raises(DataError, match="smaller than the patch size 31"):
        pages.random_patches(4, 31)


def test_page_set_validation_split_is_grouped(tmp_path: Path) -> None:
    pages = load_pages(make_documents(tmp_path / "docs", n_clean=10), "train")
    train, val = train_val_split(pages, 0.25, seed=1)
    assert isinstance(val, PageSet) and len(train) + len(val) == len(pages)
    assert val.groups and not set(train.groups) & set(val.groups)


def test_noisy_page_without_clean_partner(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs")
    (root / "train_cleaned" / "3.png").unlink()
    with pytest.raises(
        DataError, match=r"3\.png: noisy page has no clean partner train_cleaned/3\.png"
    ):
        load_pages(root, "train")


def test_pair_of_different_sizes(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs")
    save(root / "train_cleaned" / "2.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(
        DataError, match=r"2\.png: page is 40x30 px but its clean partner .* is 10x10 px"
    ):
        load_pages(root, "test")


@pytest.mark.parametrize(
    "name, content, expected",
    [("notes.txt", b"hi", "not an image file"), ("7.png", b"garbage", "cannot read image")],
)
def test_non_image_or_unreadable_file(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    root = make_documents(tmp_path / "docs")
    (root / "train" / name).write_bytes(content)
    (root / "train_cleaned" / name).write_bytes(content)
    with pytest.raises(DataError, match=expected) as info:
        load_pages(root, "train")
    assert str(root / "train" / name) in str(info.value)


@pytest.mark.parametrize("missing", ["docs", "docs/train", "docs/train_cleaned", "docs/test"])
def test_missing_folders(tmp_path: Path, missing: str) -> None:
    root = make_documents(tmp_path / "docs")
    for sub in ["train", "train_cleaned", "test"]:
        if missing in ("docs", f"docs/{sub}"):
            for f in (root / sub).iterdir():
                f.unlink()
            (root / sub).rmdir()
    if missing == "docs":
        root.rmdir()
    split = "kaggle-test" if missing == "docs/test" else "train"
    with pytest.raises(DataError, match="not found") as info:
        load_pages(root, split)
    assert str(tmp_path / missing) in str(info.value)


def test_a_single_clean_page_cannot_be_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least 2 distinct clean pages"):
        load_pages(make_documents(tmp_path / "docs", n_clean=1, copies=3), "train")


def test_registry_documents_missing_suggests_synthetic() -> None:
    with pytest.raises(DataError, match="documents-synthetic"):
        load("documents")
    with pytest.raises(ConfigError, match="full size"):
        load("documents", image_size=32)


def test_registry_documents_found_under_aekit_data(tmp_path: Path) -> None:
    make_documents(tmp_path / "data" / "documents")
    pages = load("documents", "test")
    assert isinstance(pages, PageSet) and pages.name == "documents" and len(pages) == 2


def test_documents_synthetic_uses_the_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aekit.data.synthetic_documents as synthetic

    root = make_documents(tmp_path / "generated", test_cleaned=True)
    monkeypatch.setattr(synthetic, "ensure_synthetic_documents", lambda: root)
    test = load("documents-synthetic", "test")
    assert test.name == "documents-synthetic" and len(test) == 3 and test.clean is not None


def real_documents() -> Path:
    for root in (REAL_DATA, Path(__file__).parents[3] / "shared" / "data"):
        if root and (Path(root) / "documents" / "train_cleaned").is_dir():
            return Path(root) / "documents"
    pytest.skip("the real documents are not here")


@pytest.mark.real_data
def test_real_documents_split_keeps_groups_apart() -> None:
    root = real_documents()
    train, test = load_pages(root, "train"), load_pages(root, "test")
    assert len(train) + len(test) == 144 and len(set(train.groups) | set(test.groups)) == 36
    assert not set(train.groups) & set(test.groups)
    everything = {
        name: group for pages in (train, test) for name, group in zip(pages.names, pages.groups)
    }
    # the README's example
    assert len({everything[n] for n in ("2.png", "5.png", "8.png", "11.png")}) == 1
    fit, val = train_val_split(train)
    assert not set(fit.groups) & set(val.groups) and len(fit) + len(val) == len(train)
    noisy, clean = train.random_patches(8, 48, torch.Generator().manual_seed(0))
    assert noisy.shape == (8, 1, 48, 48) and clean.shape == noisy.shape


# --- augmentation ---------------------------------------------------------------------------
def test_augmented_patches_stay_aligned(tmp_path: Path) -> None:
    """Same positions as without augmentation; each pair gets one shared symmetry (the clean patch
    is exactly a flip/turn of the plain one) and the noisy side an increasing affine map, clamped,
    on the paper; about ``fade_share`` of the patches have lighter ink, never darker."""
    from aekit.data.documents import dihedral

    rng = np.random.default_rng(0)
    for number in range(1, 7):  # white pages with dark specks of ink, on grey noisy paper
        clean = np.where(rng.random((30, 40)) < 0.2, 0, 255).astype(np.uint8)
        save(tmp_path / "docs" / "train_cleaned" / f"{number}.png", clean)
        save(
            tmp_path / "docs" / "train" / f"{number}.png",
            (60 + 0.6 * clean + rng.integers(0, 30, clean.shape)).astype(np.uint8),
        )
    pages = load_pages(tmp_path / "docs", "train")
    plain_x, plain_y = pages.random_patches(200, 16, torch.Generator().manual_seed(5))
    aug_x, aug_y = pages.random_patches(
        200, 16, torch.Generator().manual_seed(5), augment=True, fade_share=0.3
    )
    seen, faded = set(), 0
    for px, py, ax, ay in zip(plain_x, plain_y, aug_x, aug_y):
        matches = [k for k in range(8) if torch.equal(dihedral(py, k), ay)]
        assert matches, "the clean patch is not a symmetry of the plain one"
        k = matches[0]
        seen.add(k)
        turned = dihedral(px, k)
        paper, ink = ay >= 0.999, ay < 0.5
        inside = (ax > 0) & (ax < 1) & paper  # away from the clamp, noisy = gain * plain + shift
        slope, intercept = np.polyfit(turned[inside].numpy(), ax[inside].numpy(), 1)
        assert 0.89 < slope < 1.11 and abs(intercept) < 0.06
        assert torch.allclose(ax[inside], slope * turned[inside] + intercept, atol=1e-4)
        affine = (turned * slope + intercept).clamp(0, 1)
        assert torch.allclose(ax[paper], affine[paper], atol=1e-4)
        assert bool((ax[ink] >= affine[ink] - 1e-4).all())
        faded += bool(ink.any()) and float((ax[ink] - affine[ink]).mean()) > 0.01
    assert seen == set(range(8))
    assert 0.4 * 0.3 < faded / len(aug_x) < 1.6 * 0.3
    assert not torch.equal(aug_x, plain_x)


def test_faded_ink_moves_towards_its_paper_and_stains_stay() -> None:
    from aekit.data.documents import fade_ink

    clean = torch.ones(1, 1, 9, 9)
    clean[..., 4, 2:7] = 0.0  # a stroke
    noisy = torch.full((1, 1, 9, 9), 0.8)
    noisy[..., 4, 2:7] = 0.2
    noisy[..., 0, 0] = 0.5  # a speck on the paper (white on the clean page)
    assert torch.equal(fade_ink(noisy, clean, torch.ones(1)), noisy)
    gone = fade_ink(noisy, clean, torch.zeros(1))
    assert torch.allclose(gone[..., 4, 2:7], torch.full((5,), 0.8))
    assert torch.equal(gone[..., 0, 0], noisy[..., 0, 0])
    half = fade_ink(noisy, clean, torch.full((1,), 0.5))
    assert torch.allclose(half[..., 4, 2:7], torch.full((5,), 0.5))


# --- grouped cross-validation ---------------------------------------------------------------
def test_grouped_folds_cover_every_page_once_and_never_cut_a_group(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs", n_clean=9, copies=3)
    every = (
        load_pages(root, "train", fold=0, folds=4).names
        + load_pages(root, "test", fold=0, folds=4).names
    )
    assert sorted(every) == sorted(p.name for p in (root / "train").iterdir())
    tested: list[str] = []
    for k in range(4):
        train, test = (
            load_pages(root, "train", fold=k, folds=4),
            load_pages(root, "test", fold=k, folds=4),
        )
        assert not set(train.groups) & set(test.groups)
        assert not set(train.names) & set(test.names) and len(train) + len(test) == 27
        assert len(set(test.groups)) in (2, 3)  # 9 groups dealt over 4 folds
        tested += test.names
    assert sorted(tested) == sorted(every)  # every page in exactly one test fold


def test_fold_arguments_are_checked(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs", n_clean=3)
    with pytest.raises(DataError, match="fold 4 does not exist in 4-fold"):
        load_pages(root, "test", fold=4, folds=4)
    with pytest.raises(
        DataError, match="needs at least 2 folds and as many distinct clean pages as folds; found 3"
    ):
        load_pages(root, "test", fold=0, folds=4)
    with pytest.raises(DataError, match="unknown split 'kaggle-test' for a cross-validation fold"):
        load_pages(root, "kaggle-test", fold=0)


@pytest.mark.real_data
def test_real_documents_folds_keep_groups_apart() -> None:
    root = real_documents()
    tested = []
    for k in range(4):
        train, test = load_pages(root, "train", fold=k), load_pages(root, "test", fold=k)
        assert (
            not set(train.groups) & set(test.groups)
            and len(set(test.groups)) == 9
            and len(test) == 36
        )
        tested += test.names
    assert len(tested) == len(set(tested)) == 144


# --- awkward pages ----------------------------------------------------------------------------
def test_pages_of_different_sizes_all_give_patches(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    sizes = [(20, 50), (64, 33), (41, 41)]
    for i, (h, w) in enumerate(sizes * 2):
        clean = np.full((h, w), 200 + i, np.uint8)  # a distinct value per page tells them apart
        save(root / "train_cleaned" / f"{i}.png", clean)
        save(root / "train" / f"{i}.png", clean // 2)
    save(root / "test" / "1.png", clean)
    pages = load_pages(root, "train")
    assert sorted(tuple(p.shape[-2:]) for p in pages.noisy) != [pages.noisy[0].shape[-2:]] * len(
        pages
    )
    noisy, clean_patches = pages.random_patches(300, 20, torch.Generator().manual_seed(0))
    assert noisy.shape == (300, 1, 20, 20)
    values = {round(float(p[0, 0, 0]) * 255) for p in clean_patches}
    # every page drawn
    assert values == {200 + i for i in range(6) if pages.names.count(f"{i}.png")}
    assert torch.allclose(noisy * 255, torch.floor(clean_patches * 255 / 2), atol=1e-3)


def test_colour_and_16_bit_pages_are_read_as_grey_with_full_range(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs", n_clean=3, copies=1)
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    save(root / "train" / "1.png", rgb)
    deep = np.full((30, 40), 32768, np.uint16)
    deep[0, 0] = 65535
    Image.fromarray(deep).save(root / "train_cleaned" / "1.png")  # 16-bit grey ("I;16")
    noisy, clean, names = read_pairs(root / "train", root / "train_cleaned")
    i = names.index("1.png")
    expected_grey = (200 * 299 + 100 * 587 + 50 * 114) / 1000 / 255  # PIL's ITU-R 601-2 luma
    assert noisy[i].shape == (1, 30, 40) and abs(float(noisy[i][0, 5, 5]) - expected_grey) < 1 / 255
    # 16-bit pages are read to 8 bits like every image (aekit.data.decode): full range, 1/255 steps
    assert (
        abs(float(clean[i][0, 5, 5]) - 32768 / 65535) <= 0.5 / 255 + 1e-6
        and float(clean[i][0, 0, 0]) == 1.0
    )


def test_page_smaller_than_the_patch_is_one_line_naming_it(tmp_path: Path) -> None:
    root = make_documents(tmp_path / "docs", n_clean=4, copies=1)
    save(root / "train" / "2.png", np.zeros((12, 40), np.uint8))
    save(root / "train_cleaned" / "2.png", np.zeros((12, 40), np.uint8) + 9)
    noisy, clean, names = read_pairs(root / "train", root / "train_cleaned")
    pages = PageSet(noisy, clean, names, list(range(len(names))), str(root / "train"))
    with pytest.raises(
        DataError, match=r"page 2\.png is 40x12 px, smaller than the patch size 16"
    ) as info:
        pages.random_patches(4, 16)
    assert "\n" not in str(info.value)
    assert pages.random_patches(4, 12)[0].shape == (4, 1, 12, 12)  # a patch that fits is fine


def test_mixed_patches_take_their_share_from_the_generated_pages() -> None:
    def flat(value: float, n: int) -> PageSet:
        pages = [torch.full((1, 40, 50), value) for _ in range(n)]
        return PageSet(
            pages, [p.clone() for p in pages], [str(i) for i in range(n)], list(range(n)), "mem"
        )

    real, generated = flat(0.2, 3), flat(0.9, 2)
    same = real.random_patches(40, 16, torch.Generator().manual_seed(3))
    alone = mixed_patches(real, None, 0.25, 40, 16, torch.Generator().manual_seed(3))
    # no generated pages: the same stream
    assert all(torch.equal(a, b) for a, b in zip(same, alone))
    noisy, clean = mixed_patches(real, generated, 0.25, 40, 16, torch.Generator().manual_seed(3))
    assert noisy.shape == clean.shape == (40, 1, 16, 16)
    from_generated = noisy.flatten(1).mean(1) > 0.5
    assert int(from_generated.sum()) == 10 and bool(from_generated[30:].all())


def stripes(period: int, size: tuple[int, int] = (96, 120)) -> torch.Tensor:
    """A clean ``1 x H x W`` page of 1-px dark rows every ``period`` px (lines of text, reduced)."""
    page = torch.ones(1, *size)
    page[:, ::period] = 0.0
    return page


def test_enlarged_patches_show_the_text_at_scales_from_1_to_enlarge() -> None:
    from aekit.scans import line_pitch

    clean = [0.2 + 0.6 * stripes(6) for _ in range(3)]  # grey ink on grey paper: no clipping
    pages = PageSet([0.1 + 0.5 * c for c in clean], clean, ["a", "b", "c"], [0, 1, 2], "mem")
    noisy, target = pages.random_patches(300, 48, torch.Generator().manual_seed(0), enlarge=4.0)
    assert noisy.shape == target.shape == (300, 1, 48, 48)
    # Noisy and clean were cut at the same place and enlarged with the same kernel: still aligned
    # (the kernels are linear, so the noisy page stays 0.1 + 0.5 x clean).
    assert float((noisy - (0.1 + 0.5 * target)).abs().max()) < 1e-4
    pitches = [line_pitch((p[0] < 0.6).numpy()) for p in target]
    scales = np.array([p / 6 for p in pitches if p is not None])
    assert len(scales) > 0.9 * len(pitches)  # a few crops of 3-4 lines have no clear period
    # a third, and the draws near 1
    assert abs(float(np.mean(np.abs(scales - 1) < 0.02)) - 0.4) < 0.1
    assert scales.max() > 3.5 and scales.min() > 0.95 and np.median(scales) > 1.3
    plain, _ = pages.random_patches(300, 48, torch.Generator().manual_seed(0))
    plain_pitches = [line_pitch((p[0] < 0.6).numpy()) for p in plain]
    assert np.allclose([p for p in plain_pitches if p is not None], 6.0, atol=0.05)


def test_enlarge_one_draws_exactly_the_patches_as_before() -> None:
    g = torch.Generator().manual_seed(1)
    clean = [torch.rand(1, 40, 52, generator=g).round() for _ in range(3)]
    pages = PageSet([0.2 + 0.6 * c for c in clean], clean, ["a", "b", "c"], [0, 1, 2], "mem")
    before = pages.random_patches(30, 16, torch.Generator().manual_seed(2), augment=True)
    after = mixed_patches(
        pages, None, 0.0, 30, 16, torch.Generator().manual_seed(2), augment=True, enlarge=1.0
    )
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    enlarged = pages.random_patches(
        30, 16, torch.Generator().manual_seed(2), augment=True, enlarge=2.0
    )
    assert not torch.equal(before[1], enlarged[1])
