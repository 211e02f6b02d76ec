"""The pictures of a document cleaner (``aekit.plots`` has the rest): whole pages before and after
beside the background-subtraction baseline, and one page enlarged to scanner resolution with a
full-resolution crop, each writing one PNG and returning its path."""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure

from aekit.metrics import background_subtraction
from aekit.page_metrics import SCAN_FACTOR, enlarge
from aekit.plot_layout import no_grad, save_figure, show_image
from aekit.scans import TrainingText, clean_page


@no_grad
def plot_document_pages(
    model,
    noisy_pages: list[torch.Tensor],
    path: str | Path,
    *,
    clean_pages: list[torch.Tensor] | None = None,
    names: list[str] | None = None,
    max_pages: int = 2,
    text: TrainingText | None = None,
) -> Path:
    """Whole pages: before, the background-subtraction baseline, the model's output (at the
    training pages' text size ``text``, see ``scans.clean_page``), the clean target."""
    pages = noisy_pages[:max_pages]
    columns = 3 + (clean_pages is not None)
    fig = Figure(figsize=(4.2 * columns, 3.2 * len(pages) + 0.5))
    axes = fig.subplots(len(pages), columns, squeeze=False)
    for r, page in enumerate(pages):
        cleaned = clean_page(model, page, text)
        panels = [
            ("before", page),
            ("background subtraction", background_subtraction(page, scale=cleaned.factor)),
            ("after (model)", cleaned.pixels),
        ]
        if clean_pages is not None:
            panels.append(("clean target", clean_pages[r]))
        for c, (label, image) in enumerate(panels):
            show_image(axes[r][c], image)
            axes[r][c].set_title(label if not names else f"{names[r]}: {label}", fontsize=9)
    fig.suptitle(f"{model.name}: document pages")
    return save_figure(fig, path)


def plot_scan_crop(
    model,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    path: str | Path,
    *,
    text: TrainingText | None = None,
    factor: float = SCAN_FACTOR,
    crop: tuple[int, int] = (360, 560),
) -> Path:
    """One page enlarged ``factor``x (about 300 dpi for the Kaggle pages) as a scanner gives it:
    noisy, cleaned (at the training text size) and clean, a full-resolution crop of each (one
    screen pixel per page pixel) where the page has the most ink, so a person can judge the
    letters."""
    big_noisy, big_clean = enlarge(noisy, factor), enlarge(clean, factor)
    cleaned = clean_page(model, big_noisy, text)
    h, w = crop
    ink = (1 - big_clean[0]).unfold(0, h, h // 4).unfold(1, w, w // 4).sum((-1, -2))
    row, col = divmod(int(ink.argmax()), ink.shape[1])
    y, x = row * (h // 4), col * (w // 4)
    panels = [
        ("noisy", big_noisy),
        (f"cleaned (at {100 / cleaned.factor:.0f}% size)", cleaned.pixels),
        ("clean", big_clean),
    ]
    fig = Figure(figsize=(3 * w / 100, h / 100 + 0.4), dpi=100)
    axes = fig.subplots(1, 3)
    for ax, (label, page) in zip(axes, panels):
        show_image(ax, page[:, y : y + h, x : x + w])
        ax.set_title(label, fontsize=9)
    fig.suptitle(
        f"{model.name}: a page at {factor:g}x (about {75 * factor:.0f} dpi), full-resolution crop",
        fontsize=10,
    )
    return save_figure(fig, path)
