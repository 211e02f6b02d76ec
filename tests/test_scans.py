"""Pages at any resolution: the text measure, the working factor, cleaning at the training size."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aekit.data.documents import load_pages
from aekit.data.page_damage import DamageConfig, damage_page
from aekit.data.synthetic_documents import render_page
from aekit.images import resize
from aekit.models import build_model
from aekit.page_metrics import enlarge
from aekit.scans import (
    KAGGLE_DETAIL,
    KAGGLE_INK,
    KAGGLE_TEXT,
    CleanedPage,
    TextSize,
    TrainingText,
    candidate_factors,
    clean_page,
    darken,
    describe,
    guided_upsample,
    ink_gain,
    measure_text,
    paper_ratio,
    registered_size,
    round_trip_loss,
    training_text,
    working_factor,
)
from aekit.tiling import tiled_reconstruct

REAL_DATA = os.environ.get("AEKIT_DATA")  # read before any test points it elsewhere


def real_documents() -> Path:
    for root in (REAL_DATA, Path(__file__).parents[2] / "shared" / "data"):
        if root and (Path(root) / "documents" / "train_cleaned").is_dir():
            return Path(root) / "documents"
    pytest.skip("the real documents are not here")


def pair(seed: int, size: tuple[int, int] = (270, 210)) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    clean, _ = render_page(size, rng)
    dirty = damage_page(clean, DamageConfig(), rng)
    return torch.from_numpy(dirty)[None], torch.from_numpy(clean)[None]


@pytest.fixture(scope="module")
def pages() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [pair(seed) for seed in range(6)]


def test_line_pitch_scales_with_the_page(pages):
    for noisy, _ in pages:
        base = measure_text(noisy).pitch
        assert base is not None
        for factor in (1.5, 2.0, 3.0):
            assert measure_text(enlarge(noisy, factor)).pitch / base == pytest.approx(
                factor, rel=0.03
            )


def test_a_shadow_over_half_the_page_is_not_taken_for_ink(pages):
    """Otsu's threshold on the raw page split a deep shadow from the paper (a 300 dpi page with a
    large stain measured no text and was cleaned at full size); over the paper's own level the
    text is what is dark."""
    noisy, _ = pages[1]
    shade = torch.ones_like(noisy)
    shade[..., : noisy.shape[-1] // 2] = 0.45
    shadowed = noisy * F.avg_pool2d(shade[None], 9, stride=1, padding=4)[0]
    assert measure_text(shadowed).pitch == pytest.approx(measure_text(noisy).pitch, rel=0.03)


def test_pages_without_text_measure_nothing_and_are_cleaned_as_they_are():
    blank = torch.ones(1, 300, 400)
    noise = torch.rand(1, 300, 400, generator=torch.Generator().manual_seed(0))
    photo = F.interpolate(
        torch.rand(1, 1, 12, 16, generator=torch.Generator().manual_seed(1)),
        size=(300, 400),
        mode="bicubic",
        align_corners=False,
    )[0].clamp(0, 1)
    for page in (blank, noise, photo):
        size = measure_text(page)
        assert candidate_factors(size, KAGGLE_TEXT) == [(1.0, math.inf)], size


def test_a_files_dpi_sets_the_scale_only_where_the_page_has_no_text(pages):
    """A stained page without text stated at 300 dpi is body text's line pitch at 300 dpi (56 px,
    twice the Kaggle median) and is cleaned at the training size; without a dpi, or with a
    non-resolution (PIL writes 1), as it is; a page with text goes by its text, whatever it says."""
    model = build_model("doc-unet", {"width": 4, "depth": 1}, (1, 32, 32)).eval()
    stained = torch.ones(1, 400, 300)
    stained[:, 100:220, 80:200] = 0.7
    hinted = clean_page(model, stained, KAGGLE_TEXT, dpi=300)
    assert hinted.size.pitch == pytest.approx(300 * 28.2 / 150)
    # shrunk until that pitch is inside the training range
    low, _, high = KAGGLE_TEXT.pitch
    assert hinted.factor > 1.5 and low <= hinted.size.pitch / hinted.factor <= high
    assert "the file's dpi" in describe(hinted)
    for dpi in (None, 1):
        assert clean_page(model, stained, KAGGLE_TEXT, dpi=dpi).factor == 1.0
    noisy, _ = pages[0]
    assert (
        clean_page(model, noisy, KAGGLE_TEXT, dpi=600).factor
        == clean_page(model, noisy, KAGGLE_TEXT).factor
    )


def test_candidates_bring_the_text_to_the_training_sizes_and_each_loses_what_such_pages_do():
    training = TrainingText((20.0, 30.0, 40.0), (8.0, 10.0, 15.0), detail=(0.14, 0.12, 0.1))
    assert candidate_factors(TextSize(30.0, 10.0), training) == [
        (1.5, 0.14),
        (1.0, math.inf),
    ]
    # within the 10% tolerance of the range, 1 stays a candidate; shrinking by less is not one
    assert [f for f, _ in candidate_factors(TextSize(43.0, 10.0), training)] == pytest.approx(
        [2.15, 43 / 30, 1.0]
    )
    assert candidate_factors(TextSize(120.0, 40.0), training) == [
        (6.0, 0.14),
        (4.0, 0.12),
        (3.0, 0.1),
    ]
    # a run that recorded more than Kaggle's pages lose (generated pages' small type: 0.285) may
    # lose only what Kaggle's do: unenlarged generated pages passed at 1.1-1.8x
    generated = TrainingText((20.0, 30.0, 40.0), (8.0, 10.0, 15.0), detail=(0.285, 0.154, 0.1))
    assert [lost for _, lost in candidate_factors(TextSize(120.0, 40.0), generated)] == [
        KAGGLE_DETAIL[0],
        KAGGLE_DETAIL[1],
        0.1,
    ]
    assert candidate_factors(TextSize(15.0, 4.0), training) == [(0.5, math.inf)]  # to the median
    # letters only shrink a page
    assert candidate_factors(TextSize(None, 45.0), training) == [(4.5, math.inf)]
    assert candidate_factors(TextSize(None, 4.0), training) == [(1.0, math.inf)]
    assert candidate_factors(TextSize(None, None), training) == [(1.0, math.inf)]


def test_working_factor_is_the_largest_candidate_that_loses_no_more_than_a_training_page():
    """A page enlarged 2x from small type has the pitch of a 1.33x page of the middle size: what
    tells them apart is that the first loses nothing when shrunk 2x and the second does."""
    training = TrainingText((20.0, 30.0, 40.0), (8.0, 10.0, 15.0), detail=(0.15, 0.13, 0.1))
    page = TextSize(40.0, 16.0)  # 2x of the small type, or 1.33x of the middle, or 1x of the large
    assert working_factor(page, training, lambda f: 0.0) == (2.0, True)
    # loses more than small type does at 2x, nothing at 1.33x
    assert working_factor(page, training, lambda f: 0.2 if f > 1.5 else 0.0) == (
        pytest.approx(4 / 3),
        True,
    )
    assert working_factor(page, training, lambda f: 1.0) == (1.0, False)  # as it is
    # outside the range, losing everywhere (a sharp scan): the median size
    assert working_factor(TextSize(120.0, 40.0), training, lambda f: 1.0) == (4.0, False)
    assert working_factor(TextSize(15.0, 4.0), training, lambda f: 0.0) == (0.5, False)


def test_an_enlarged_page_loses_little_at_its_enlargement_and_more_beyond(pages):
    noisy, _ = pages[0]
    big = paper_ratio(enlarge(noisy, 2.0))
    assert round_trip_loss(big, 2.0) < 0.6 * round_trip_loss(big, 2.5)
    assert round_trip_loss(paper_ratio(noisy), 1.25) > round_trip_loss(big, 2.0)


def test_an_enlarged_page_is_cleaned_at_the_training_size_and_beats_cleaning_it_as_it_is(pages):
    """Untrained doc-unet is background division with a 7 px closing: on a page enlarged 4x the
    closing takes strokes for paper (the failure people met at 300 dpi); brought back to the
    training size and carried back by guided upsampling, the same model does as well as at 1x."""
    torch.manual_seed(0)
    model = build_model("doc-unet", {"width": 4, "depth": 1}, (1, 32, 32)).eval()
    training = TrainingText.of_pages([noisy for noisy, _ in pages[:4]])
    small_noisy, small_clean = pages[5]
    noisy, clean = enlarge(small_noisy, 4.0), enlarge(small_clean, 4.0)
    done = clean_page(model, noisy, training)
    assert done.pixels.shape == noisy.shape
    assert done.factor > 3.0
    rmse = lambda x, y: float(((x - y) ** 2).mean().sqrt())
    at_1x = rmse(tiled_reconstruct(model, small_noisy), small_clean)
    as_is = tiled_reconstruct(model, noisy)
    assert rmse(done.pixels, clean) < 0.7 * rmse(as_is, clean)
    assert rmse(done.pixels, clean) < 1.1 * at_1x
    ink = clean < 0.5  # the letters survive: most ink pixels stay dark
    assert (done.pixels[ink] < 0.5).float().mean() > 0.6


def test_an_enlarged_page_is_sampled_down_on_the_grid_it_was_enlarged_from(pages):
    """The pitch gives the factor within 0.4%: a pixel or two off the page's own grid, which
    blurs the working page; the round trip finds the grid again."""
    noisy, _ = pages[1]
    h, w = noisy.shape[-2:]
    big = paper_ratio(enlarge(noisy, 3.0))
    assert registered_size(big, (h - 1, w + 1)) == (h, w)
    assert registered_size(big, (h, w)) == (h, w)


def test_guided_upsampling_keeps_the_sharp_edges_that_plain_enlargement_blurs(pages):
    _, clean = pages[0]
    big = enlarge(clean, 3.0)
    small = resize(big, tuple(clean.shape[-2:]))
    rmse = lambda x: float(((x - big) ** 2).mean().sqrt())
    assert rmse(guided_upsample(big, small, small)) < 0.2 * rmse(
        resize(small, tuple(big.shape[-2:]))
    )


def test_a_page_inside_the_range_is_cleaned_exactly_as_before(pages):
    torch.manual_seed(0)
    model = build_model("doc-unet", {"width": 4, "depth": 1}, (1, 32, 32)).eval()
    training = TrainingText.of_pages([noisy for noisy, _ in pages])
    noisy, _ = pages[0]
    done = clean_page(model, noisy, training)
    assert done.factor == 1.0
    assert torch.equal(done.pixels, tiled_reconstruct(model, noisy))


def test_a_known_factor_replaces_the_measured_one(pages):
    torch.manual_seed(0)
    model = build_model("doc-unet", {"width": 4, "depth": 1}, (1, 32, 32)).eval()
    training = TrainingText.of_pages([noisy for noisy, _ in pages])
    noisy, _ = pages[0]
    big = enlarge(noisy, 2.0)
    told = clean_page(model, big, training, factor=2.0)
    assert told.factor == 2.0 and told.pixels.shape == big.shape
    # enlarged, it loses nothing at its factor: sampled down and enlarged back with one kernel
    small = F.interpolate(big[None], size=noisy.shape[-2:], mode="bicubic")[0].clamp(0, 1)
    back = F.interpolate(tiled_reconstruct(model, small)[None], size=big.shape[-2:], mode="bicubic")
    assert torch.allclose(told.pixels, back[0].clamp(0, 1))


def test_training_text_is_read_from_the_run_else_measured_else_assumed(tmp_path: Path, pages):
    run = tmp_path / "run"
    run.mkdir()
    text = {"pitch": [10, 12, 20], "letter": [5, 6, 9]}
    (run / "data.json").write_text(json.dumps({"notes": [], "skipped": [], "text": text}))
    # recorded before the ink level was: Kaggle's
    assert training_text(run, None) == TrainingText((10.0, 12.0, 20.0), (5.0, 6.0, 9.0), KAGGLE_INK)
    text["ink"] = [0.0, 0.2, 0.3]
    (run / "data.json").write_text(json.dumps({"text": text}))
    assert training_text(run, None).ink == (0.0, 0.2, 0.3)
    (run / "data.json").write_text(json.dumps({"text": {**text, "ink": [0.1, 0.2, 1.5]}}))
    with pytest.raises(Exception, match="ink"):
        training_text(run, None)
    (run / "data.json").write_text(
        json.dumps({"text": {"pitch": [10, 20, 12], "letter": [5, 6, 9]}})
    )
    with pytest.raises(Exception, match="pitch"):
        training_text(run, None)
    (run / "data.json").write_text(json.dumps({"notes": []}))
    notes: list[str] = []
    from aekit.config import TrainConfig
    from aekit.runs import RunConfig

    dataset = "folder:/nonexistent/pages"
    meta = RunConfig("doc-unet", {}, (1, 32, 32), None, dataset, TrainConfig(dataset=dataset))
    assert training_text(run, meta, notes.append) == KAGGLE_TEXT
    assert len(notes) == 1 and "Kaggle" in notes[0]


def faded(page: torch.Tensor, contrast: float) -> torch.Tensor:
    """``page`` with its ink ``contrast`` times as far below the paper (worn toner, light print)."""
    return 1 - contrast * (1 - page)


def test_faint_ink_is_darkened_to_the_training_pages_typical_ink(pages):
    """A cleaner that only saw dark ink takes faint strokes for stains (the generated 300 dpi
    pages, grey ink on grey paper, lost every thin stroke); ink fainter than the faintest
    training page's is first darkened to their typical level, and ink inside the range is not."""
    training = TrainingText.of_pages([noisy for noisy, _ in pages])
    assert TrainingText.from_json(training.to_json()) == training  # as the trainer records it
    assert all(0 < d < 1 for d in training.detail)
    noisy, clean = pages[2]
    assert ink_gain(measure_text(noisy), training) == 1.0
    faint = faded(noisy, 0.35)
    size = measure_text(faint)
    assert size.ink > training.ink[2]
    gain = ink_gain(size, training)
    assert gain > 2
    assert measure_text(darken(faint, gain)).ink == pytest.approx(training.ink[1], abs=0.05)

    # Untrained doc-unet is background division: it keeps faint ink faint unless darkened.
    torch.manual_seed(0)
    model = build_model("doc-unet", {"width": 4, "depth": 1}, (1, 32, 32)).eval()
    done = clean_page(model, faint, training)
    assert done.gain == pytest.approx(gain) and done.factor == 1.0
    ink = clean < 0.3
    as_given = tiled_reconstruct(model, noisy)[ink].mean()
    assert float(done.pixels[ink].mean()) < float(as_given) + 0.1
    assert float(tiled_reconstruct(model, faint)[ink].mean()) > float(as_given) + 0.2
    assert "darkened" in describe(done)


def test_describe_says_what_was_done_to_a_page_and_nothing_for_a_page_as_it_was():
    pixels = torch.ones(1, 8, 8)
    assert describe(CleanedPage(pixels, 1.0, None)) is None
    assert describe(CleanedPage(pixels, 2.0, None)) == (
        "text 2.00x larger than the training pages': cleaned at 50% size and mapped back"
    )
    both = describe(CleanedPage(pixels, 0.5, None, gain=1.5))
    assert both == (
        "ink fainter than the training pages': darkened 1.50x; text 2.00x smaller than the "
        "training pages': cleaned at 200% size and mapped back"
    )


@pytest.mark.real_data
def test_the_held_out_kaggle_pages_are_not_darkened_and_a_faded_one_is():
    """The Kaggle ink range (``KAGGLE_INK``, the training pages') holds every held-out page, so
    the 1x figure is untouched; the same page faded to 40% of its contrast is darkened."""
    test = load_pages(real_documents(), "test")
    assert len(test) == 28
    assert all(ink_gain(measure_text(page), KAGGLE_TEXT) == 1.0 for page in test.noisy)
    assert ink_gain(measure_text(faded(test.noisy[0], 0.4)), KAGGLE_TEXT) > 1.5


@pytest.mark.real_data
def test_held_out_kaggle_pages_enlarged_are_cleaned_at_their_own_enlargement():
    """Kaggle's three type sizes make a 1.5x page of small type look like a 1.22x page of the
    middle size by its pitch (the median rule cleaned such pages as they were); what a page loses
    when shrunk tells them apart, on every one of these held-out pages."""
    test = load_pages(real_documents(), "test")
    for factor in (1.5, 2.5):
        for page in test.noisy[::4]:
            big = enlarge(page, factor)
            ratio = paper_ratio(big)
            chosen, lossless = working_factor(
                measure_text(big), KAGGLE_TEXT, lambda f, ratio=ratio: round_trip_loss(ratio, f)
            )
            assert chosen == pytest.approx(factor, rel=0.02) and lossless
