"""The report is one self-contained page: embedded pictures, escaped text, the metrics beside
baselines."""

from __future__ import annotations

import io
import re

from matplotlib.figure import Figure

from aekit.report import render_report

RESULT = {
    "run": "runs/x",
    "model": "conv",
    "dataset": "digits",
    "test_items": 300,
    "noise": "salt-pepper:0.1",
    "notes": ["denoising: test images corrupted once with salt-pepper:0.1 (seed 0)"],
    "sections": {
        "denoising": {
            "psnr": {"model": 24.1234, "noisy input": 15.5, "median 3x3": 20.25},
            "mse": {"model": 0.0041, "noisy input": 0.03, "median 3x3": 0.01},
        }
    },
}


def _png(path):
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    path.write_bytes(buffer.getvalue())
    return path


def test_report_is_self_contained_and_shows_metrics_beside_baselines(tmp_path):
    config = {"model": "conv", "dataset": "digits", "train": {"out": "<script>alert(1)</script>"}}
    page = render_report(
        config, RESULT, [_png(tmp_path / "denoising.png"), _png(tmp_path / "samples.png")]
    )
    assert "http://" not in page and "https://" not in page and 'src="file' not in page
    assert "<link" not in page and "<script>alert" not in page and "&lt;script&gt;" in page
    assert page.count('src="data:image/png;base64,') == 2
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', page))
    for text in (
        "PSNR (dB)",
        "24.12",
        "noisy input",
        "15.50",
        "median 3x3",
        "20.25",
        "salt-pepper:0.1",
    ):
        assert text in page
