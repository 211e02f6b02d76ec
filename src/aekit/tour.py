"""``aekit tour``: the autoencoder tutorial end to end, measured against baselines.

Each experiment is one training config; the tour trains it, evaluates it (metrics with their
baselines beside them) and writes its report, then writes ``DIR/report.html`` (an index of the
experiments with their key figures) and ``DIR/summary.json``. A tour that was interrupted
continues where it stopped: finished runs are reused, unfinished ones resume.
"""

from __future__ import annotations

import dataclasses
import html
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aekit.config import TrainConfig
from aekit.errors import AekitError
from aekit.io import atomic_write_json, atomic_write_text
from aekit.tables import LABELS

DATASET_PREFERENCE = ("fashion-mnist", "mnist", "digits")


@dataclass(frozen=True)
class Experiment:
    """One step of the tour: what it shows, and the run that shows it."""

    key: str
    title: str
    why: str
    config: dict[str, Any]
    iwae_k: int = 100
    eval_images: int | None = None
    iwae_images: int | None = None


@dataclass
class Preset:
    """Sizes of the tour: quick (minutes on 2 CPU cores) or full (the README's figures)."""

    train_images: int | None
    epochs: int
    vae_epochs: int
    iwae_k: int
    iwae_images: int | None  # the likelihood bounds cost iwae_k decoder passes per image
    eval_images: int | None
    doc_epochs: int
    doc_patches: int
    linear_epochs: int = 30  # the linear AE needs many quiet steps to settle on the PCA subspace


QUICK = Preset(train_images=12_000, epochs=3, vae_epochs=4, iwae_k=64, iwae_images=500, eval_images=500,
               doc_epochs=4, doc_patches=1_024, linear_epochs=300)
FULL = Preset(train_images=None, epochs=10, vae_epochs=10, iwae_k=1_000, iwae_images=1_000, eval_images=None,
              doc_epochs=20, doc_patches=4_096, linear_epochs=70)


def choose_dataset(requested: str | None, say=print) -> str:
    """The requested dataset, else the first available of fashion-mnist, mnist, digits (saying why)."""
    from aekit.data import load

    if requested:
        return requested
    for name in DATASET_PREFERENCE:
        try:
            load(name, "test")
        except AekitError as exc:
            say(f"tour: {name} is not available ({exc}); trying the next dataset")
            continue
        if name != DATASET_PREFERENCE[0]:
            say(f"tour: running on {name}")
        return name
    raise AekitError("no dataset is available, not even the embedded digits (is scikit-learn installed?)")


def choose_documents(say=print) -> str:
    """Real scanned pages when present, otherwise the synthetic pages aekit generates."""
    from aekit.data import load

    try:
        load("documents", "test")
        return "documents"
    except AekitError as exc:
        say(f"tour: real document pages not found ({exc}); using documents-synthetic")
        return "documents-synthetic"


def plan(dataset: str, documents: str, preset: Preset) -> list[Experiment]:
    """The tour's experiments for one dataset and preset."""
    small = dataset == "digits"  # 8x8 images: the conv models use their own small stacks
    common = {"dataset": dataset, "max_train_images": preset.train_images, "patience": 3, "quiet": True}
    conv_vae = "conv-vae" if not small else "vae"
    experiments = [
        Experiment(
            "denoising", "Denoising autoencoder on salt-and-pepper noise",
            "A fully convolutional denoising autoencoder (the tutorial's conv 64 / pool / conv 64 / upsample "
            "network) trained on noisy inputs against clean targets; compared with the noisy input and the "
            "classic 3x3 median filter. (The tutorial's bottlenecked conv 64-32-16 denoiser, tutorial-dae, "
            "keeps only a 4x4x16 code and needs longer: it passes the median filter after about 3 minutes on "
            "all of MNIST, benchmarks/quality.py; examples/denoising-dae.toml.)",
            {**common, "model": "tutorial-docs", "noise": "salt-pepper:0.1",
             "epochs": preset.epochs, "batch_size": 128, "lr": 2e-3},
            eval_images=preset.eval_images,
        ),
        Experiment(
            "vae-2d", "Variational autoencoder with a 2-D latent space",
            "A 2-D latent can be drawn: the decoded manifold and the classes' scatter show what the VAE learned.",
            {**common, "model": "tutorial-vae-conv" if not small else "vae",
             "model_options": {"latent_dim": 2}, "epochs": preset.vae_epochs, "batch_size": 128},
            iwae_k=preset.iwae_k, iwae_images=preset.iwae_images, eval_images=preset.eval_images,
        ),
        Experiment(
            "vae-32", "Variational autoencoder with a 32-D latent space",
            "A larger latent gives a better likelihood (IWAE NLL in nats) and sharper samples.",
            {**common, "model": conv_vae, "model_options": {"latent_dim": 32 if not small else 8},
             "epochs": preset.vae_epochs, "batch_size": 128},
            iwae_k=preset.iwae_k, iwae_images=preset.iwae_images, eval_images=preset.eval_images,
        ),
        Experiment(
            "cvae", "Conditional VAE: generate a chosen class",
            "Encoder and decoder both see the class label, so one can ask for a chosen class. The dense model "
            "is cheap, so it trains three times as many epochs: until then its code still carries the class "
            "and samples drift from the class asked for (measured on Fashion-MNIST: with an 8-D code 52% of "
            "samples match at 10 epochs and 70% at 30; with a 2-D code 77% at 30).",
            {**common, "model": "cvae", "model_options": {"latent_dim": 2, "condition_kind": "label"},
             "epochs": 3 * preset.vae_epochs, "batch_size": 64},
            iwae_k=preset.iwae_k, iwae_images=preset.iwae_images, eval_images=preset.eval_images,
        ),
        Experiment(
            "linear-pca", "Linear autoencoder against PCA",
            "A linear autoencoder trained with squared error learns the principal subspace: "
            "the angle between the two subspaces should be small. Directions whose eigenvalues are "
            "close turn slowly, so it trains 13,000-15,000 steps of 256 images without early stopping (measured on "
            "Fashion-MNIST, eigenvalues 16 and 17 at 0.415 and 0.374: 30 epochs of batch 64 left "
            "13-17 degrees, 300 epochs of batch 256 1.7-2.1).",
            {**common, "model": "linear", "model_options": {"latent_dim": 16 if not small else 8},
             "epochs": preset.linear_epochs, "batch_size": 256, "lr": 3e-3, "patience": None},
            eval_images=preset.eval_images,
        ),
        Experiment(
            "documents", "Cleaning scanned documents",
            "The tutorial's small conv network, trained on aligned patches and run on whole pages; "
            "RMSE against the identity and background subtraction.",
            {"model": "tutorial-docs", "dataset": documents, "epochs": preset.doc_epochs,
             "patches_per_epoch": preset.doc_patches, "patch_size": 64, "batch_size": 32, "lr": 3e-3, "quiet": True},
        ),
    ]
    return experiments


def run_experiment(experiment: Experiment, out: Path, say=print) -> dict[str, Any]:
    """Train (or reuse/resume), evaluate and report one experiment; returns its eval result."""
    from aekit.evaluate import evaluate_run
    from aekit.report import write_report
    from aekit.train import train

    run_dir = out / experiment.key
    start = time.perf_counter()
    say(f"tour: [{experiment.key}] {experiment.title}")
    resume = (run_dir / "checkpoint.json").is_file()
    train(TrainConfig(**experiment.config, out=str(run_dir), resume=resume))
    trained = time.perf_counter()
    result = evaluate_run(run_dir, iwae_k=experiment.iwae_k, max_images=experiment.eval_images, quiet=True,
                          iwae_images=experiment.iwae_images)
    write_report(run_dir)
    say(f"tour: [{experiment.key}] trained in {trained - start:.0f} s, evaluated and reported in "
        f"{time.perf_counter() - trained:.0f} s -> {run_dir / 'report.html'}")
    return result


def key_figures(key: str, result: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a reader looks at first, each with its reference beside it."""
    sections = result.get("sections", {})

    def pick(section: str, metric: str) -> dict[str, float] | None:
        return sections.get(section, {}).get(metric)

    figures = {
        "denoising": {"psnr": pick("denoising", "psnr"), "ssim": pick("denoising", "ssim")},
        "vae-2d": {"nll_iwae": pick("likelihood", "nll_iwae"), "nll_elbo": pick("likelihood", "nll_elbo"),
                   "probe_test": pick("latent", "probe_test")},
        "vae-32": {"nll_iwae": pick("likelihood", "nll_iwae"), "nll_elbo": pick("likelihood", "nll_elbo"),
                   "frechet": pick("samples", "frechet"), "probe_test": pick("latent", "probe_test")},
        "cvae": {"nll_iwae": pick("likelihood", "nll_iwae"), "frechet": pick("samples", "frechet"),
                 "class_match": pick("samples", "class_match"), "coverage": pick("samples", "coverage")},
        "linear-pca": {"angle_to_pca": pick("latent", "angle_to_pca"), "mse": pick("reconstruction", "mse")},
        "documents": {"rmse": pick("documents", "rmse")},
    }.get(key, {})
    return {name: value for name, value in figures.items() if value is not None}


def checks(summary: dict[str, Any]) -> dict[str, bool]:
    """The tutorial's claims, checked on this tour's own numbers."""
    out: dict[str, bool] = {}
    experiments = summary["experiments"]
    psnr = experiments.get("denoising", {}).get("figures", {}).get("psnr")
    if psnr:
        out["denoiser beats the 3x3 median filter (PSNR)"] = psnr["model"] > psnr["median 3x3"]
    for key in ("vae-2d", "vae-32", "cvae"):
        figures = experiments.get(key, {}).get("figures", {})
        if "nll_iwae" in figures and "nll_elbo" in figures:
            out[f"{key}: IWAE NLL <= ELBO bound"] = figures["nll_iwae"]["model"] <= figures["nll_elbo"]["model"]
        probe = figures.get("probe_test")
        if probe:
            chance = probe.get("chance (majority class)", 0.0)
            out[f"{key}: linear probe beats chance by far (>= 2x)"] = probe["model"] >= 2 * chance
    match = experiments.get("cvae", {}).get("figures", {}).get("class_match")
    if match:
        out["cvae: samples show the class asked for (>= 4x chance)"] = match["model"] >= 4 * match["chance"]
    angle = experiments.get("linear-pca", {}).get("figures", {}).get("angle_to_pca")
    if angle:
        out["linear AE spans the PCA subspace (largest angle < 10 degrees)"] = angle["model"] < 10
    rmse = experiments.get("documents", {}).get("figures", {}).get("rmse")
    if rmse:
        out["document cleaner beats the noisy page (RMSE)"] = rmse["model"] < rmse["identity (noisy page)"]
    return out


def _figure_lines(entry: dict[str, Any]) -> list[str]:
    """One line per key figure: the model's value, then each reference's."""
    return [
        f"{LABELS.get(name, name)}: " + ", ".join(f"{col} {val:.4g}" for col, val in values.items() if val is not None)
        for name, values in entry["figures"].items()
    ]


def _summary_markdown(summary: dict[str, Any]) -> str:
    """The key figures as a Markdown table, ready to paste into a README or an issue."""
    lines = [
        f"aekit tour, {summary['preset']} preset on {summary['dataset']} (documents: {summary['documents']}); "
        f"{summary['machine']}; {summary['seconds'] / 60:.0f} min in all.",
        "",
        "| experiment | model | key figures (model, then references) | time |",
        "|---|---|---|---:|",
    ]
    for entry in summary["experiments"].values():
        figures = "<br>".join(_figure_lines(entry)).replace("|", "\\|")
        lines.append(f"| {entry['title']} | `{entry['model']}` | {figures} | {entry['seconds']:.0f} s |")
    lines += ["", "Checks: " + "; ".join(f"{'ok' if ok else 'FAILED'}: {name}" for name, ok in summary["checks"].items()), ""]
    return "\n".join(lines)


def _index_html(summary: dict[str, Any]) -> str:
    rows = []
    for key, entry in summary["experiments"].items():
        figures = "<br>".join(html.escape(line) for line in _figure_lines(entry))
        rows.append(
            f'<tr><td><a href="{html.escape(key)}/report.html">{html.escape(entry["title"])}</a>'
            f'<br><span class="note">{html.escape(entry["why"])}</span></td>'
            f"<td>{html.escape(entry['model'])} on {html.escape(entry['dataset'])}</td>"
            f"<td>{figures}</td><td>{entry['seconds']:.0f} s</td></tr>"
        )
    check_rows = "".join(
        f"<li>{'&#10004;' if ok else '&#10008;'} {html.escape(name)}</li>" for name, ok in summary["checks"].items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>aekit tour</title><style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.4rem 0.6rem; vertical-align: top; }}
th {{ background: #f3f3f3; }} .note {{ color: #555; font-size: 0.9rem; }}
</style></head><body>
<h1>aekit tour ({html.escape(summary['preset'])} preset, {html.escape(summary['dataset'])})</h1>
<p class="note">{html.escape(summary['machine'])}; {summary['seconds']:.0f} s in all. Each experiment links to its own
report (metrics with baselines, every picture, the config).</p>
<h2>Checks</h2><ul>{check_rows}</ul>
<h2>Experiments</h2>
<table><tr><th>experiment</th><th>model</th><th>key figures (model and references)</th><th>time</th></tr>
{''.join(rows)}</table>
</body></html>
"""


def run_tour(
    out: Path, quick: bool = False, dataset: str | None = None, say=print, preset: Preset | None = None
) -> dict[str, Any]:
    """Run every experiment into ``out``; write ``out/report.html``, ``out/summary.json`` and ``out/summary.md``.

    ``preset`` overrides the quick/full sizes (the tests use a tiny one)."""
    import torch

    start = time.perf_counter()
    preset = preset or (QUICK if quick else FULL)
    dataset = choose_dataset(dataset, say)
    documents = choose_documents(say)
    summary: dict[str, Any] = {
        "preset": "quick" if preset is QUICK else "full" if preset is FULL else "custom",
        "dataset": dataset,
        "documents": documents,
        "sizes": dataclasses.asdict(preset),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "experiments": {},
    }
    for experiment in plan(dataset, documents, preset):
        t0 = time.perf_counter()
        result = run_experiment(experiment, out, say)
        summary["experiments"][experiment.key] = {
            "title": experiment.title,
            "why": experiment.why,
            "model": experiment.config["model"],
            "dataset": experiment.config["dataset"],
            "figures": key_figures(experiment.key, result),
            "notes": result.get("notes", []),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    summary["checks"] = checks(summary)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "report.html", _index_html(summary))
    atomic_write_text(out / "summary.md", _summary_markdown(summary))
    for name, ok in summary["checks"].items():
        say(f"tour: {'ok  ' if ok else 'FAIL'} {name}")
    say(f"tour: done in {summary['seconds']:.0f} s; open {out / 'report.html'}")
    return summary
