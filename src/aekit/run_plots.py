"""Every picture that applies to a run folder, into ``RUN/plots/`` (the report shows them): the
figures themselves, one function each on a model and tensors, are in ``aekit.plots``."""

from __future__ import annotations

from pathlib import Path

import torch

from aekit.generation import run_classifier
from aekit.generation_samplers import OVERALL, nearest_training_pairs, run_samplers
from aekit.page_metrics import MAX_ENLARGED_WIDTH, SCAN_FACTOR
from aekit.page_plots import plot_document_pages, plot_scan_crop
from aekit.plot_layout import first_conditions
from aekit.plots import (
    plot_class_samples,
    plot_conditional_samples,
    plot_denoising,
    plot_feature_maps,
    plot_interpolations,
    plot_latent_scatter,
    plot_manifold,
    plot_nearest_pairs,
    plot_prior_samples,
    plot_reconstructions,
    plot_samples,
    plot_training_curves,
    plot_traversal,
)
from aekit.priors import best_prior
from aekit.run import Run


def plot_run(run_dir: str | Path, *, max_images: int = 2000) -> list[Path]:
    """Every picture that applies to a run, into ``RUN_DIR/plots/``; returns their paths in reading
    order."""
    run = Run(run_dir, "cpu", max_test_images=max_images)
    model, out = run.model, run.plots_dir
    paths = []
    if run.metrics_path.is_file():
        paths.append(
            plot_training_curves(
                run.metrics_path,
                out / "training_curves.png",
                title=f"{model.name}: training curves",
            )
        )
    if run.pages:
        text = run.training_text()
        paths.append(
            plot_document_pages(
                model,
                run.test.noisy,
                out / "document_pages.png",
                clean_pages=run.test.clean,
                names=run.test.names,
                text=text,
            )
        )
        if (
            run.test.clean is not None
            and run.test.noisy[0].shape[-1] * SCAN_FACTOR <= MAX_ENLARGED_WIDTH
        ):
            paths.append(
                plot_scan_crop(
                    model,
                    run.test.noisy[0],
                    run.test.clean[0],
                    out / "document_300dpi.png",
                    text=text,
                )
            )
        return paths
    test, names = run.test, run.test.class_names
    condition = run.condition(test)
    show = {"condition": condition, "labels": test.labels, "class_names": names}
    if run.noise is not None:
        noisy = run.noisy(test.images[:10])
        paths.append(
            plot_denoising(
                model,
                test.images[:10],
                noisy,
                out / "denoising.png",
                noise_spec=run.noise.spec,
                **show,
            )
        )
    else:
        paths.append(plot_reconstructions(model, test.images, out / "reconstructions.png", **show))
    if not model.spatial_code:
        paths += _latent_pictures(run, out, condition)
    if model.generative and not model.conditional:
        paths.append(plot_samples(model, out / "samples.png"))
    if test.labels is not None and not model.conditional and not model.spatial_code:
        train = run.train.subset(list(range(min(5000, len(run.train)))))
        paths.append(
            plot_class_samples(
                model,
                run.latent_codes(train),
                train.labels,
                out / "class_samples.png",
                class_names=names,
            )
        )
    if model.generative and model.conditional:
        if model.label_conditional:
            classes = torch.arange(model.num_classes)
            row_names = names or [str(c) for c in range(model.num_classes)]
            paths.append(
                plot_conditional_samples(
                    model, classes, out / "conditional_samples.png", row_names=row_names
                )
            )
        else:
            row_names = (
                [
                    f"{model.condition_kind} of a test {names[int(y)] if names else int(y)}"
                    for y in test.labels[:6]
                ]
                if test.labels is not None
                else None
            )
            paths.append(
                plot_conditional_samples(
                    model, condition[:6], out / "conditional_samples.png", row_names=row_names
                )
            )
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        paths.append(
            plot_feature_maps(
                model,
                test.images[0],
                out / "feature_maps.png",
                condition=first_conditions(condition, 1),
            )
        )
    best = _best_fitted_prior(run)
    if best is not None and not model.conditional:
        paths.append(
            plot_prior_samples(
                model,
                run.prior(best),
                out / "prior_samples.png",
                prior_name=best,
                class_names=names,
            )
        )
    if test.labels is not None and test.num_classes:
        paths += _nearest_pictures(run, out)
    return paths


def _nearest_pictures(run: Run, out: Path) -> list[Path]:
    """For the model's own sampler and each fitted prior, 16 samples above their nearest training
    images in the feature classifier's space (classes in turn where the sampler takes a class), with
    the share of near-copies that ``aekit evaluate`` measured, when it did."""
    samplers = run_samplers(run, run.prior_names())
    if not samplers:
        return []
    evaluated = run.eval() or {}
    measured = evaluated.get("sections", {}).get(OVERALL, {})
    train, classifier = run_classifier(run)
    paths = []
    for name, sampler in samplers.items():
        samples, nearest = nearest_training_pairs(sampler, train, classifier)
        share = measured.get("novelty", {}).get(name)
        title = f"{name}: samples above their nearest training images (classifier features)"
        if share is not None:
            title += f"; near-copies {share:.1%} (real images 5%)"
        paths.append(
            plot_nearest_pairs(
                samples,
                train.images,
                nearest,
                out / f"nearest_{name.replace(' ', '_')}.png",
                title=title,
            )
        )
    return paths


def _best_fitted_prior(run: Run) -> str | None:
    """The fitted prior with the best evaluated samples (eval.json), else the first fitted one, else
    None."""
    fitted = run.prior_names()
    if not fitted:
        return None
    evaluated = run.eval()
    scored = best_prior(evaluated) if evaluated is not None else None
    return scored if scored in fitted else fitted[0]


def _latent_pictures(run: Run, out: Path, condition: torch.Tensor | None) -> list[Path]:
    """Manifold or traversal, scatter by class and interpolations: the pictures of a latent
    vector."""
    model, test, names = run.model, run.test, run.test.class_names
    codes = run.latent_codes(test)
    paths = []
    if codes[0].numel() == 2 and not model.conditional:
        paths.append(plot_manifold(model, out / "manifold.png"))
    else:
        paths.append(
            plot_traversal(
                model,
                test.images[:500],
                out / "traversal.png",
                condition=first_conditions(condition, 500),
            )
        )
    method = "tsne" if codes[0].numel() > 2 else "pca"
    title = f"{model.name}: test codes" + (" (t-SNE)" if method == "tsne" else "")
    shown = slice(0, 500)  # t-SNE of 500 points takes a few seconds; more only adds time
    labels = None if test.labels is None else test.labels[shown]
    paths.append(
        plot_latent_scatter(
            codes[shown],
            out / "latent_scatter.png",
            labels=labels,
            class_names=names,
            method=method,
            title=title,
        )
    )
    paths.append(
        plot_interpolations(model, test.images, out / "interpolations.png", condition=condition)
    )
    return paths
