"""How well a page cleaner does on held-out pages: RMSE, what OCR reads, and the same at 300 dpi.

Every column is beside its baselines: the noisy page, a 3x3 median, background subtraction with
its window scaled like the model's work (``scans``), and, for OCR, the clean page. The held-out
pages are about 75 dpi; people scan at 300, so the first page is also judged enlarged 4x
(bicubic, noisy and clean alike) and given to the cleaner without its factor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aekit import metrics
from aekit.evaluation_defaults import OCR_PAGES
from aekit.ocr import character_error_rate, read_text, tesseract_missing
from aekit.progress import Progress
from aekit.scans import CleanedPage, TrainingText, clean_page

SCAN_FACTOR = 4  # the Kaggle pages (about 75 dpi) enlarged to about 300 dpi
# pages wider than this once enlarged are already scans at 300 dpi or more
MAX_ENLARGED_WIDTH = 4000
Section = tuple[str, dict[str, dict[str, float]], str]


def background_subtracted(
    pages: Sequence[torch.Tensor], factors: Sequence[float]
) -> list[torch.Tensor]:
    """The classical baseline with its window scaled with each page's text (``scans``)."""
    return [metrics.background_subtraction(p, scale=f) for p, f in zip(pages, factors)]


def rmse_section(
    noisy: Sequence[torch.Tensor],
    clean: Sequence[torch.Tensor],
    done: Sequence[CleanedPage],
    subtracted: Sequence[torch.Tensor],
) -> dict[str, dict[str, float]]:
    columns = {
        "model": [page.pixels for page in done],
        "identity (noisy page)": noisy,
        "median 3x3": [metrics.median_filter(p.unsqueeze(0))[0] for p in noisy],
        "background subtraction": subtracted,
    }
    return {"rmse": {name: metrics.page_rmse(pages, clean) for name, pages in columns.items()}}


def ocr_section(
    noisy: Sequence[torch.Tensor],
    clean: Sequence[torch.Tensor],
    done: Sequence[CleanedPage],
    subtracted: Sequence[torch.Tensor],
    texts: Sequence[str] | None,
) -> dict[str, dict[str, float]]:
    """Character error rate of tesseract on the noisy, cleaned, background-subtracted and clean
    page, against each page's true text where there is one, else against what tesseract reads on
    the clean page (whose own error is then 0 by definition)."""
    truth = list(texts) if texts is not None else [read_text(p) for p in clean]
    columns = {
        "model": [page.pixels for page in done],
        "identity (noisy page)": noisy,
        "background subtraction": subtracted,
        "clean page": clean,
    }
    return {
        "cer": {
            name: float(
                np.mean([character_error_rate(read_text(p), t) for p, t in zip(shown, truth)])
            )
            for name, shown in columns.items()
        }
    }


def enlarge(page: torch.Tensor, factor: float) -> torch.Tensor:
    """A ``1 x H x W`` page enlarged by ``factor`` (bicubic), as a scanner at a higher resolution
    sees it, about."""
    h, w = page.shape[-2:]
    return F.interpolate(
        page[None], size=(round(h * factor), round(w * factor)), mode="bicubic", align_corners=False
    )[0].clamp(0, 1)


def page_sections(
    model: torch.nn.Module,
    test: Any,
    text: TrainingText,
    progress: Progress | None = None,
    ocr_pages: int = OCR_PAGES,
) -> Iterator[Section]:
    """(section name, section, note) for a page set: ``documents`` (RMSE), ``ocr`` (the first
    ``ocr_pages`` pages), and ``documents at 300 dpi`` (RMSE and OCR of the first page enlarged
    4x), as each is done."""
    progress = progress or Progress(quiet=True)
    if test.clean is None:
        return
    done = [clean_page(model, page, text) for page in test.noisy]
    subtracted = background_subtracted(test.noisy, [page.factor for page in done])
    yield (
        "documents",
        rmse_section(test.noisy, test.clean, done, subtracted),
        "documents: RMSE over every pixel of whole held-out pages (the Kaggle metric)",
    )
    missing = tesseract_missing()
    if missing:
        progress.message(missing)
    elif ocr_pages > 0:
        n = min(ocr_pages, len(test))
        against = (
            "each page's true text"
            if test.texts is not None
            else "tesseract's reading of the clean page"
        )
        texts = None if test.texts is None else test.texts[:n]
        yield (
            "ocr",
            ocr_section(test.noisy[:n], test.clean[:n], done[:n], subtracted[:n], texts),
            f"ocr: tesseract -l eng --psm 6 on the first {n} test pages, character error rate "
            f"against {against}",
        )
    # already at a scanner's resolution
    if test.noisy[0].shape[-1] * SCAN_FACTOR > MAX_ENLARGED_WIDTH:
        return
    noisy, clean = enlarge(test.noisy[0], SCAN_FACTOR), enlarge(test.clean[0], SCAN_FACTOR)
    big = clean_page(model, noisy, text)
    big_subtracted = background_subtracted([noisy], [big.factor])
    section = {"rmse_300dpi": rmse_section([noisy], [clean], [big], big_subtracted)["rmse"]}
    if not missing:
        texts = None if test.texts is None else test.texts[:1]
        section["cer_300dpi"] = ocr_section([noisy], [clean], [big], big_subtracted, texts)["cer"]
    yield (
        "documents at 300 dpi",
        section,
        (
            f"documents at 300 dpi: the first test page enlarged {SCAN_FACTOR}x (bicubic), "
            "given without its factor; "
            f"cleaned at {100 / big.factor:.0f}% size (text {big.factor:.2f}x the training pages')"
        ),
    )
