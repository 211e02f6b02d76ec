"""The tour's claims: what an experiment asserts about its figures, judged against the strongest
reference."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aekit.evaluate_likelihood import INDEPENDENT_PIXELS
from aekit.page_metrics import OCR_PAGES

Figures = dict[str, dict[str, float]]  # metric -> {column -> value}; column "model" is the run


@dataclass(frozen=True)
class Check:
    """One claim of the tutorial judged on this tour's numbers; ``passed`` is None when not
    judged."""

    claim: str
    passed: bool | None
    detail: str
    needs_full_preset: bool = False

    @property
    def outcome(self) -> str:
        if self.passed is None:
            return "not judged in the quick preset"
        return "ok" if self.passed else "FAILED"


@dataclass(frozen=True)
class Claim:
    """A claim an experiment makes: ``judge(figures)`` says whether it holds, and on which numbers.

    ``needs_full_preset``: the quick preset trains too little for it (measured), so a quick tour
    shows the numbers without a verdict instead of a failure or a fake ok."""

    text: str
    judge: Callable[[Figures], tuple[bool, str]]
    needs_full_preset: bool = False


@dataclass(frozen=True)
class Experiment:
    """One step of the tour: what it shows, the run that shows it, its key figures and its
    claims."""

    key: str
    title: str
    why: str
    config: dict[str, Any]
    # (section, metric) of eval.json, the few a reader looks at first
    figure_names: tuple[tuple[str, str], ...]
    claims: tuple[Claim, ...]
    iwae_k: int = 100
    eval_images: int | None = None
    iwae_images: int | None = None
    priors: tuple[str, ...] = ()  # fitted to the codes after training, and scored beside N(0, I)
    # document runs: held-out pages tesseract reads (about 4 s a page for 4 columns)
    ocr_pages: int = OCR_PAGES
    # samples per figure of the generation measures (None: evaluate's default)
    generation_samples: int | None = None

    def figures(self, result: dict[str, Any]) -> Figures:
        """The key figures of an evaluation, each with its references beside it."""
        sections = result.get("sections", {})
        picked = {
            metric: sections.get(section, {}).get(metric) for section, metric in self.figure_names
        }
        return {metric: values for metric, values in picked.items() if values is not None}

    def checks(self, figures: Figures, judge_all: bool) -> list[Check]:
        """Every claim judged on ``figures``; a missing figure fails its claim rather than hiding
        it."""
        out = []
        for claim in self.claims:
            try:
                passed, detail = claim.judge(figures)
            except KeyError as missing:
                passed, detail = False, f"figure {missing} is missing"
            verdict: bool | None = passed if judge_all or not claim.needs_full_preset else None
            out.append(Check(claim.text, verdict, detail, claim.needs_full_preset))
        return out


def _column(values: dict[str, float], prefix: str) -> tuple[str, float]:
    """The column whose name starts with ``prefix`` (references are named with their sizes: "PCA (16
    ...)")."""
    for name, value in values.items():
        if name.startswith(prefix) and value is not None:
            return name, value
    raise KeyError(f"{prefix}")


def beats(
    metric: str, references: tuple[str, ...], lower_is_better: bool, column: str = "model"
) -> Callable[[Figures], tuple[bool, str]]:
    """Judge: ``column`` (the model, or e.g. "prior gmm") is better than the best of ``references``
    (column-name prefixes) on ``metric``."""

    def judge(figures: Figures) -> tuple[bool, str]:
        values = figures[metric]
        model = values.get(column)
        if model is None or not math.isfinite(model):
            return False, f"{metric}: {column} value {model} is not a finite number"
        refs = [_column(values, prefix) for prefix in references]
        best_name, best = (min if lower_is_better else max)(refs, key=lambda item: item[1])
        passed = model < best if lower_is_better else model > best
        return passed, f"{metric}: {column} {model:.4g} vs {best_name} {best:.4g}"

    return judge


def at_least_as(metric: str, reference: str) -> Callable[[Figures], tuple[bool, str]]:
    """Judge: the model's ``metric`` (higher is better) is at least the ``reference`` column's."""

    def judge(figures: Figures) -> tuple[bool, str]:
        values = figures[metric]
        model, (name, best) = values.get("model"), _column(values, reference)
        if model is None or not math.isfinite(model):
            return False, f"{metric}: model value {model} is not a finite number"
        return model >= best, f"{metric}: model {model:.4g} vs {name} {best:.4g}"

    return judge


def at_most(metric: str, limit: float) -> Callable[[Figures], tuple[bool, str]]:
    """Judge: the model's ``metric`` is below a fixed limit."""

    def judge(figures: Figures) -> tuple[bool, str]:
        model = figures[metric]["model"]
        return model < limit, f"{metric}: model {model:.4g}, limit {limit:g}"

    return judge


def times_chance(metric: str, factor: float) -> Callable[[Figures], tuple[bool, str]]:
    """Judge: the model's ``metric`` is at least ``factor`` times the "chance" column."""

    def judge(figures: Figures) -> tuple[bool, str]:
        values = figures[metric]
        _, chance = _column(values, "chance")
        return (
            values["model"] >= factor * chance,
            f"{metric}: model {values['model']:.4g} vs {factor:g} x chance {chance:.4g}",
        )

    return judge


def probe_beats_pca(needs_full_preset: bool = False) -> Claim:
    return Claim(
        "the latent code is better for a linear probe than PCA codes of the same size",
        beats("probe_test", ("PCA codes",), lower_is_better=False),
        needs_full_preset,
    )


def samples_beat_pca(needs_full_preset: bool = False) -> Claim:
    return Claim(
        "samples are closer to the test images than PCA-Gaussian samples (Frechet distance)",
        beats("frechet", ("PCA-Gaussian",), lower_is_better=True),
        needs_full_preset,
    )


LIKELIHOOD_BEATS_PIXELS = Claim(
    "the IWAE likelihood beats independent pixels (the training images' pixel means)",
    beats("nll_iwae", (INDEPENDENT_PIXELS,), lower_is_better=True),
)
