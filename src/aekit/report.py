"""``RUN_DIR/report.html``: one self-contained page per run (config, metrics with baselines,
pictures).

The page must open offline and be mailable as one file, so pictures are embedded as base64
``data:`` URIs and the CSS is inline; there are no links to anything outside the page. Every
string from the config or the metrics is HTML-escaped. When ``eval.json`` is missing the report
runs the evaluation first (with the options of ``aekit evaluate``), because a report without
its numbers would hide the comparison with the baselines that the page exists to show.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aekit.evaluate import evaluate_run
from aekit.io import atomic_write_text
from aekit.progress import Progress
from aekit.run import Run
from aekit.run_plots import plot_run
from aekit.tables import metric_tables

REPORT_FILE = "report.html"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; } td.model { font-weight: 600; background: #eef6ff; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9rem; } .note { color: #555; font-size: 0.9rem; }
"""

CAPTIONS = {
    "training_curves": "Loss terms per epoch on the training and validation data.",
    "reconstructions": "Test images and their reconstructions.",
    "denoising": "Noisy test images, the 3x3 median filter baseline, the model's output and the "
    "clean image.",
    "document_pages": "Held-out pages: before, the background-subtraction baseline, the model's "
    "output and the clean target.",
    "manifold": "The decoder over the 2-D latent plane, at standard-normal quantiles 0.05..0.95.",
    "traversal": "One latent dimension varied at a time around one test image's code.",
    "latent_scatter": "Test images' latent codes coloured by class.",
    "interpolations": "Straight lines in latent space between pairs of test images.",
    "samples": "Random samples: decoded draws from the prior N(0, I).",
    "class_samples": "Per class: the decoded centroid of its codes, then samples from a "
    "Gaussian fitted to them.",
    "conditional_samples": "Samples of the conditional model, one row per condition.",
    "feature_maps": "Activations of the first convolution for one test image.",
}
NEAREST_CAPTION = (
    "Samples (classes in turn where the sampler takes a class), each above its nearest training "
    "image in the feature classifier's space: a twin is a copy of the training set."
)


def _metrics_html(result: dict) -> str:
    parts = []
    for title, header, body in metric_tables(result):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        rows = []
        for row in body:
            cells = [
                f"<td>{html.escape(row[0])}</td>",
                f'<td class="model">{html.escape(row[1])}</td>',
            ]
            cells += [f"<td>{html.escape(c)}</td>" for c in row[2:]]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        parts.append(f"<h3>{html.escape(title)}</h3><table><tr>{head}</tr>{''.join(rows)}</table>")
    for note in result.get("notes", []):
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    return "\n".join(parts)


def _figure_html(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    caption = (
        NEAREST_CAPTION
        if path.stem.startswith("nearest_")
        else CAPTIONS.get(path.stem, path.stem.replace("_", " "))
    )
    return (
        f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def render_report(config: dict, result: dict, pictures: list[Path]) -> str:
    """The report page as a string: title, metrics tables, pictures, then the full config."""
    title = f"aekit report: {config.get('model')} on {config.get('dataset')}"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">run folder {html.escape(str(result.get("run", "")))}; '
        f"{html.escape(str(result.get('test_items')))} test items; the model's column is "
        "highlighted, the other columns are references computed in the same evaluation.</p>",
        "<h2>Metrics</h2>",
        _metrics_html(result),
        "<h2>Pictures</h2>",
        *(_figure_html(p) for p in pictures),
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(json.dumps(config, indent=2, default=str))}</pre>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(
    run_dir: str | Path, progress: Progress | None = None, **evaluate_options: Any
) -> Path:
    """Write ``RUN_DIR/report.html`` and return its path; when ``eval.json`` is missing, evaluate
    first with ``evaluate_options`` (``evaluate_run``'s keywords, e.g. ``iwae_k``)."""
    run = Run(run_dir, "cpu")
    eval_path = run.eval_path
    progress = progress or Progress()
    if (result := run.eval()) is not None:
        if evaluate_options:
            progress.message(
                f"{eval_path} exists: the report shows it, so the evaluate options are not used "
                "(run aekit evaluate to measure again)"
            )
    else:
        result = evaluate_run(run_dir, progress=progress, **evaluate_options)
    config = {**asdict(run.info), "train": run.config.to_dict()}
    pictures = plot_run(run.dir)
    path = run.dir / REPORT_FILE
    atomic_write_text(path, render_report(config, result, pictures))
    return path
