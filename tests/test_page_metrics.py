"""Page measures: RMSE and OCR beside their baselines, and one page at 300 dpi."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit.data.documents import PageSet
from aekit.data.page_damage import DamageConfig, damage_page
from aekit.data.synthetic_documents import render_page
from aekit.models import build_model
from aekit.ocr import tesseract_missing
from aekit.page_metrics import page_sections
from aekit.scans import TrainingText


def pages(n: int, texts: bool) -> PageSet:
    noisy, clean, truth = [], [], []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        page, text = render_page((360, 280), rng, dpi=72 if texts else None)
        clean.append(torch.from_numpy(page)[None])
        noisy.append(torch.from_numpy(damage_page(page, DamageConfig(), rng))[None])
        truth.append(text)
    return PageSet(
        noisy,
        clean,
        [f"{i}.png" for i in range(n)],
        list(range(n)),
        "generated",
        texts=truth if texts else None,
    )


@pytest.mark.skipif(tesseract_missing() is not None, reason="tesseract is not installed")
def test_page_sections_measure_rmse_ocr_and_300_dpi_beside_their_baselines():
    torch.manual_seed(0)
    # background division
    model = build_model("doc-unet", {"width": 4, "depth": 1}, (1, 32, 32)).eval()
    test = pages(2, texts=True)
    training = TrainingText.of_pages(test.noisy)
    sections = {name: section for name, section, _ in page_sections(model, test, training)}
    assert set(sections) == {"documents", "ocr", "documents at 300 dpi"}
    rmse = sections["documents"]["rmse"]
    assert rmse["model"] < rmse["identity (noisy page)"]
    cer = sections["ocr"]["cer"]
    assert set(cer) == {"model", "identity (noisy page)", "background subtraction", "clean page"}
    assert cer["clean page"] < 0.1  # against the true text, the clean page reads well
    assert all(0 <= v <= 2 for v in cer.values())
    big = sections["documents at 300 dpi"]
    assert big["rmse_300dpi"]["model"] < big["rmse_300dpi"]["identity (noisy page)"]
    assert big["cer_300dpi"]["model"] <= big["cer_300dpi"]["identity (noisy page)"] + 0.05


def test_without_clean_pages_there_is_nothing_to_measure():
    model = build_model("doc-unet", {"width": 4, "depth": 1}, (1, 32, 32)).eval()
    test = pages(1, texts=False)
    test.clean = None
    assert list(page_sections(model, test, TrainingText((10, 12, 20), (5, 6, 9)))) == []
