"""The tour end to end on the embedded digits with a tiny preset, and its dataset fallback."""

from __future__ import annotations

import json

from aekit import tour
from aekit.errors import DataError

TINY = tour.Preset(train_images=400, epochs=1, vae_epochs=1, iwae_k=8, iwae_images=50, eval_images=100, doc_epochs=1, doc_patches=64)


def test_tour_writes_every_report_summary_and_index(tmp_path, monkeypatch):
    monkeypatch.setattr(tour, "choose_documents", lambda say=print: "documents-synthetic")
    lines: list[str] = []
    summary = tour.run_tour(tmp_path / "tour", dataset="digits", say=lines.append, preset=TINY)
    keys = ["denoising", "vae-2d", "vae-32", "cvae", "linear-pca", "documents"]
    assert list(summary["experiments"]) == keys
    for key in keys:
        report = (tmp_path / "tour" / key / "report.html").read_text()
        assert "<img" in report and "data:image/png;base64," in report
        assert summary["experiments"][key]["figures"], key
    on_disk = json.loads((tmp_path / "tour" / "summary.json").read_text())
    assert on_disk["checks"] == summary["checks"] and summary["checks"]
    index = (tmp_path / "tour" / "report.html").read_text()
    assert all(f'href="{key}/report.html"' in index for key in keys)
    assert any("done in" in line for line in lines)
    markdown = (tmp_path / "tour" / "summary.md").read_text()
    assert markdown.startswith("aekit tour, custom preset on digits") and markdown.count("\n| ") == 7  # header + 6
    # A second run reuses the finished runs instead of refusing the folders.
    again = tour.run_tour(tmp_path / "tour", dataset="digits", say=lines.append, preset=TINY)
    assert again["experiments"]["vae-2d"]["figures"] == summary["experiments"]["vae-2d"]["figures"]


def test_tour_falls_back_to_the_next_dataset_and_says_where_it_looked(monkeypatch):
    import aekit.data

    def fake_load(name, split="train", **_):
        if name != "digits":
            raise DataError(f"{name} not found in /nowhere")
        return object()

    monkeypatch.setattr(aekit.data, "load", fake_load)
    lines: list[str] = []
    assert tour.choose_dataset(None, say=lines.append) == "digits"
    assert any("fashion-mnist is not available" in line and "/nowhere" in line for line in lines)
    assert any("running on digits" in line for line in lines)
