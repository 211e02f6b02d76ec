"""eval.json as people read it: metric names, which way is better, and text/HTML-ready tables.

``aekit evaluate`` prints ``format_metrics``; the report, the tour and the benchmarks use
``metric_tables`` and ``LABELS``, so every place names a metric the same way.
"""

from __future__ import annotations

from typing import Any

LABELS = {
    "mse": "MSE",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "rmse": "RMSE (pixel intensity)",
    "cer": "OCR character error rate (tesseract)",
    "rmse_300dpi": "RMSE of one page enlarged 4x (about 300 dpi)",
    "cer_300dpi": "OCR character error rate of that page",
    "nll_iwae": "NLL, IWAE bound (nats/image)",
    "nll_elbo": "NLL, ELBO bound (nats/image)",
    "iwae_images_per_s": "IWAE throughput (images/s)",
    "frechet": "Frechet distance (classifier features)",
    "confidence": "classifier confidence",
    "coverage": "class coverage (entropy / log C)",
    "class_match": "samples classified as the class asked for",
    "precision": "precision (share of samples on the test images' k-NN manifold, k = 3)",
    "recall": "recall (share of test images on the samples' k-NN manifold, k = 3)",
    "probe_test": "linear probe accuracy, test",
    "probe_train": "linear probe accuracy, train",
    "angle_to_pca": "max principal angle to PCA of the training images (degrees)",
    "images": "images in the column",
    "fd_to_train": "Frechet distance to the training images",
    "precision_vs_train": "precision on the training images (k = 3)",
    "recall_vs_train": "recall of the training images (k = 3)",
    "class_accuracy": "classified as the class (asked for / own)",
    "class_share": "share of the draws in this class",
    "novelty": "near-copies (real images: 5%)",
}
LOWER_IS_BETTER = {
    "mse",
    "rmse",
    "cer",
    "rmse_300dpi",
    "cer_300dpi",
    "nll_iwae",
    "nll_elbo",
    "frechet",
    "angle_to_pca",
    "fd_to_train",
    "novelty",
}
HIGHER_IS_BETTER = {
    "psnr",
    "ssim",
    "confidence",
    "coverage",
    "class_match",
    "precision",
    "recall",
    "probe_test",
    "probe_train",
    "precision_vs_train",
    "recall_vs_train",
    "class_accuracy",
}


def _fmt(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"


def metric_tables(result: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per section: (title, header, rows of strings), the model first and its references beside
    it."""
    tables = []
    for section, rows in result.get("sections", {}).items():
        columns: list[str] = ["model"]
        for values in rows.values():
            columns += [c for c in values if c not in columns]
        header = ["metric"] + columns
        body = []
        for key, values in rows.items():
            label = LABELS.get(key, key)
            direction = (
                " ↓" if key in LOWER_IS_BETTER else (" ↑" if key in HIGHER_IS_BETTER else "")
            )
            body.append([label + direction] + [_fmt(values.get(c)) for c in columns])
        title = section + (
            f" ({result['noise']})" if section == "denoising" and result.get("noise") else ""
        )
        tables.append((title, header, body))
    return tables


def format_metrics(result: dict) -> str:
    """A plain-text table per section with the baselines beside the model, then the notes."""
    lines = [
        f"{result.get('model')} on {result.get('dataset')}: {result.get('test_items')} test items"
    ]
    for title, header, body in metric_tables(result):
        widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
        lines.append("")
        lines.append(title)
        for row in [header] + body:
            lines.append(
                "  "
                + "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths))
                )
            )
    lines.append("(↑ higher is better, ↓ lower is better)")
    for note in result.get("notes", []):
        lines.append(f"note: {note}")
    if "seconds" in result:
        lines.append(f"evaluated in {result['seconds']:.1f} s")
    return "\n".join(lines)
