"""aekit denoise keeps what the user gave: format, colour, palette, pages, dpi; and --text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_commands import make_run

from aekit.cli import main
from aekit.data.page_damage import DamageConfig, damage_page
from aekit.data.synthetic_documents import render_page
from aekit.ocr import tesseract_missing
from aekit.scan_files import clean_in_model_channels, read_scan


@pytest.fixture
def cleaner(tmp_path) -> Path:
    """Untrained doc-unet: background division (stains out, ink kept), on grey pages."""
    return make_run(
        tmp_path / "run", "doc-unet", {"width": 4, "depth": 1}, (1, 32, 32), dataset="documents"
    )


def page(seed: int = 0, size: tuple[int, int] = (270, 210)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean, _ = render_page(size, rng)
    return np.round(damage_page(clean, DamageConfig(), rng) * 255).astype(np.uint8)


def denoise(cleaner: Path, inputs: list[Path], out: Path, *extra: str) -> None:
    assert (
        main(["denoise", str(cleaner), *map(str, inputs), "--out", str(out), "--quiet", *extra])
        == 0
    )


def test_jpeg_stays_jpeg_unless_a_format_is_asked_and_dpi_is_written_back(cleaner, tmp_path):
    Image.fromarray(page()).save(tmp_path / "scan.jpg", quality=90, dpi=(150, 150))
    Image.fromarray(page(1)).save(tmp_path / "other.png", dpi=(300, 300))
    denoise(cleaner, [tmp_path / "scan.jpg", tmp_path / "other.png"], tmp_path / "out")
    with (
        Image.open(tmp_path / "out" / "scan.jpg") as jpg,
        Image.open(tmp_path / "out" / "other.png") as png,
    ):
        assert jpg.format == "JPEG" and png.format == "PNG"
        assert round(jpg.info["dpi"][0]) == 150 and round(png.info["dpi"][0]) == 300
    denoise(cleaner, [tmp_path / "scan.jpg"], tmp_path / "q50", "--jpeg-quality", "50")
    denoise(cleaner, [tmp_path / "scan.jpg"], tmp_path / "as-png", "--format", "png")
    assert (tmp_path / "q50" / "scan.jpg").stat().st_size < (
        tmp_path / "out" / "scan.jpg"
    ).stat().st_size
    assert Image.open(tmp_path / "as-png" / "scan.png").format == "PNG"
    assert (
        main(
            [
                "denoise",
                str(cleaner),
                str(tmp_path / "scan.jpg"),
                "--out",
                str(tmp_path / "bad"),
                "--jpeg-quality",
                "101",
            ]
        )
        == 2
    )


def test_a_colour_page_keeps_its_colour_and_a_grey_cleaner_cleans_its_luminance(cleaner, tmp_path):
    grey = page().astype(np.float32)
    rgb = np.stack([grey, grey, grey], -1)
    rgb[40:80, 30:120] = [200, 30, 30]  # a red stamp on the page
    Image.fromarray(rgb.astype(np.uint8)).save(tmp_path / "colour.png")
    denoise(cleaner, [tmp_path / "colour.png"], tmp_path / "out")
    result = np.asarray(Image.open(tmp_path / "out" / "colour.png"), dtype=np.float32)
    assert result.shape == rgb.shape
    stamp = result[45:75, 35:115]
    # still red (lighter: its luminance was cleaned towards paper)
    assert (stamp[..., 0] - stamp[..., 1]).mean() > 40 and (
        stamp[..., 0] - stamp[..., 2]
    ).mean() > 40
    text = rgb[100:, :, 0] == rgb[100:, :, 1]  # grey elsewhere stays grey
    assert np.abs(result[100:][text][:, 0] - result[100:][text][:, 2]).max() <= 1


def test_chroma_is_kept_exactly_around_the_cleaned_luminance():
    frame = read_scan_frame(torch.tensor([[[0.8]], [[0.4]], [[0.2]]]))
    out = clean_in_model_channels(frame, 1, lambda x: torch.full_like(x, 0.55))
    luma = 0.299 * 0.8 + 0.587 * 0.4 + 0.114 * 0.2
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.8, 0.4, 0.2]) - luma + 0.55)


def read_scan_frame(pixels: torch.Tensor):
    from aekit.images import ImageFile

    return ImageFile(pixels, "RGB", Path("x.png"))


def test_multi_page_tiff_in_multi_page_tiff_out(cleaner, tmp_path):
    frames = [Image.fromarray(page(seed)) for seed in range(3)]
    frames[0].save(tmp_path / "book.tif", save_all=True, append_images=frames[1:], dpi=(200, 200))
    denoise(cleaner, [tmp_path / "book.tif"], tmp_path / "out")
    scan = read_scan(tmp_path / "out" / "book.tif")
    assert len(scan.frames) == 3 and round(scan.dpi[0]) == 200
    pages_in = [np.asarray(f) for f in frames]
    assert all(f.pixels.shape[-2:] == p.shape for f, p in zip(scan.frames, pages_in))
    assert not torch.equal(scan.frames[0].pixels, scan.frames[1].pixels)  # each page its own
    assert (
        main(
            [
                "denoise",
                str(cleaner),
                str(tmp_path / "book.tif"),
                "--out",
                str(tmp_path / "png"),
                # three pages do not fit one PNG: said, nothing written
                "--format",
                "png",
                "--quiet",
            ]
        )
        == 2
    )


@pytest.mark.skipif(tesseract_missing() is not None, reason="tesseract is not installed")
def test_denoise_text_writes_what_ocr_reads_beside_the_page(cleaner, tmp_path):
    rng = np.random.default_rng(2)
    clean, truth = render_page((900, 400), rng, dpi=110)
    Image.fromarray(np.round(clean * 255).astype(np.uint8)).save(tmp_path / "p.png")
    denoise(cleaner, [tmp_path / "p.png"], tmp_path / "out", "--text")
    read = (tmp_path / "out" / "p.txt").read_text()
    first_words = truth.split()[:3]
    assert all(word.strip(".,:") in read for word in first_words), (read[:200], first_words)


def test_a_page_without_text_is_scaled_by_its_files_dpi_and_says_so(cleaner, tmp_path, capsys):
    stained = np.full((400, 300), 250, np.uint8)
    stained[100:220, 80:200] = 180
    Image.fromarray(stained).save(tmp_path / "hinted.png", dpi=(300, 300))
    Image.fromarray(stained).save(tmp_path / "plain.png")
    out = tmp_path / "out"
    args = ["denoise", str(cleaner), str(tmp_path / "hinted.png"), str(tmp_path / "plain.png")]
    assert main([*args, "--out", str(out)]) == 0
    lines = capsys.readouterr().err.splitlines()
    hinted = [line for line in lines if "hinted.png:" in line]
    assert len(hinted) == 1 and "the scale is the file's dpi's" in hinted[0], lines
    assert "cleaned at" in hinted[0]
    assert not [line for line in lines if "plain.png:" in line]
    with Image.open(out / "hinted.png") as written:
        assert round(written.info["dpi"][0]) == 300 and written.size == (300, 400)
