"""``aekit tour``: the autoencoder tutorial end to end, measured against baselines.

Each experiment is one training config; the tour trains it, evaluates it (metrics with their
baselines beside them) and writes its report, then writes ``DIR/report.html`` (an index of the
experiments with their key figures) and ``DIR/summary.json``. A tour that was interrupted
continues where it stopped: finished runs are reused, unfinished ones resume.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import aekit.data
from aekit.config import TrainConfig
from aekit.errors import AekitError, ConfigError
from aekit.evaluate import evaluate_run
from aekit.io import atomic_write_json, atomic_write_text
from aekit.priors import fit_prior, fitted_priors
from aekit.report import write_report
from aekit.runs import read_run_config
from aekit.tour_claims import Experiment
from aekit.tour_plan import FULL, QUICK, Preset, plan
from aekit.tour_summary import all_checks, index_html, summary_markdown
from aekit.train import train

DATASET_PREFERENCE = ("fashion-mnist", "mnist", "digits")


def choose_dataset(requested: str | None, say=print) -> str:
    """The requested dataset, else the first available of fashion-mnist, mnist, digits (saying
    why)."""
    if requested:
        return requested
    for name in DATASET_PREFERENCE:
        try:
            aekit.data.load(name, "test")
        except AekitError as exc:
            say(f"tour: {name} is not available ({exc}); trying the next dataset")
            continue
        if name != DATASET_PREFERENCE[0]:
            say(f"tour: running on {name}")
        return name
    raise AekitError(
        "no dataset is available, not even the embedded digits (is scikit-learn installed?)"
    )


def choose_documents(say=print) -> str:
    """Real scanned pages when present, otherwise the synthetic pages aekit generates."""
    try:
        aekit.data.load("documents", "test")
        return "documents"
    except AekitError as exc:
        say(f"tour: real document pages not found ({exc}); using documents-synthetic")
        return "documents-synthetic"


def sprites_available(say=print) -> bool:
    """Whether Debian's crawl-tiles-data is here (the game-sprites experiment needs it); says why
    not."""
    try:
        aekit.data.crawl_tiles_spec()
        return True
    except AekitError as exc:
        say(f"tour: skipping the game sprites ({exc})")
        return False


def run_experiment(experiment: Experiment, out: Path, say=print) -> dict[str, Any]:
    """Train (or reuse/resume), evaluate and report one experiment; returns its eval result."""
    run_dir = out / experiment.key
    start = time.perf_counter()
    say(f"tour: [{experiment.key}] {experiment.title}")
    resume = (run_dir / "checkpoint.json").is_file()
    train(TrainConfig(**{**experiment.config, "out": str(run_dir), "resume": resume}))
    trained = time.perf_counter()
    for name in experiment.priors:
        # the training may have fitted it (the sprites' transformer)
        if name not in fitted_priors(run_dir):
            fit_prior(run_dir, name, quiet=True)
    result = evaluate_run(
        run_dir,
        iwae_k=experiment.iwae_k,
        max_images=experiment.eval_images,
        iwae_images=experiment.iwae_images,
        priors=experiment.priors,
        ocr_pages=experiment.ocr_pages,
        generation_samples=experiment.generation_samples,
    )
    write_report(run_dir)
    say(
        f"tour: [{experiment.key}] trained in {trained - start:.0f} s, evaluated and reported in "
        f"{time.perf_counter() - trained:.0f} s -> {run_dir / 'report.html'}"
    )
    return result


def _earlier_rows(out: Path, summary: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The rows of ``out/summary.json`` that ``--only`` keeps: those of the same preset, sizes and
    data."""
    try:
        earlier = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(earlier, dict):  # not a summary aekit wrote: nothing to keep
        return {}
    same = all(
        earlier.get(field) == summary[field]
        for field in ("preset", "dataset", "documents", "sizes")
    )
    rows = earlier.get("experiments") if same else None
    return {
        key: rows[key] for key in keys if isinstance(rows, dict) and isinstance(rows.get(key), dict)
    }


def run_tour(
    out: Path,
    quick: bool = False,
    dataset: str | None = None,
    say=print,
    preset: Preset | None = None,
    only: Sequence[str] = (),
) -> dict[str, Any]:
    """Run every experiment into ``out``; write ``out/report.html``, ``out/summary.json`` and
    ``out/summary.md``.

    ``preset`` overrides the quick/full sizes (the tests use a tiny one). ``only``: run just these
    experiments; the summary keeps the other experiments' rows from an earlier tour into ``out``
    with the same preset and data."""
    start = time.perf_counter()
    preset = preset or (QUICK if quick else FULL)
    dataset = choose_dataset(dataset, say)
    documents = choose_documents(say)
    summary: dict[str, Any] = {
        "preset": "quick" if preset is QUICK else "full" if preset is FULL else "custom",
        "dataset": dataset,
        "documents": documents,
        "sizes": dataclasses.asdict(preset),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "experiments": {},
    }
    experiments = plan(dataset, documents, preset, sprites_available(say))
    keys = [experiment.key for experiment in experiments]
    unknown = sorted(set(only) - set(keys))
    if unknown:
        raise ConfigError(
            f"aekit tour --only: no experiment {', '.join(unknown)} (the tour has "
            f"{', '.join(keys)})"
        )
    earlier = _earlier_rows(out, summary, [key for key in keys if key not in only]) if only else {}
    if only:
        say(
            f"tour: only {', '.join(k for k in keys if k in only)}"
            + (
                f"; keeping the rows of {', '.join(earlier)} from {out / 'summary.json'}"
                if earlier
                else ""
            )
        )
        experiments = [experiment for experiment in experiments if experiment.key in only]
    for experiment in experiments:
        t0 = time.perf_counter()
        figures = experiment.figures(run_experiment(experiment, out, say))
        summary["experiments"][experiment.key] = {
            "title": experiment.title,
            "why": experiment.why,
            # the model chosen, where the data chose it
            "model": read_run_config(out / experiment.key).model,
            "dataset": experiment.config["dataset"],
            "figures": figures,
            "checks": [
                {**dataclasses.asdict(c), "outcome": c.outcome}
                for c in experiment.checks(figures, preset.judge_all)
            ],
            "seconds": round(time.perf_counter() - t0, 1),
        }
    if earlier:  # the plan's order, the earlier rows beside the new ones
        summary["experiments"] = {
            key: row
            for key in keys
            for row in [summary["experiments"].get(key) or earlier.get(key)]
            if row
        }
    summary["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "report.html", index_html(summary))
    atomic_write_text(out / "summary.md", summary_markdown(summary))
    for key, check in all_checks(summary):
        say(f"tour: {check['outcome']}: {key}: {check['claim']} ({check['detail']})")
    say(f"tour: done in {summary['seconds']:.0f} s; open {out / 'report.html'}")
    return summary
