"""Image file I/O: every PIL mode in, premultiplied alpha, channel conversion, modes written
back."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.alpha import CHECKER, composite, unpremultiply
from aekit.errors import DataError
from aekit.images import png_bytes, read_image_file, resize, to_channels, write_image


def test_rgba_is_premultiplied_and_written_back_straight(tmp_path):
    pixels = np.array([[[200, 100, 50, 255], [200, 100, 50, 0], [200, 100, 50, 51]]], np.uint8)
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    image = read_image_file(tmp_path / "a.png")
    assert image.mode == "RGBA" and image.pixels.shape == (4, 1, 3)
    assert torch.allclose(image.pixels[:, 0, 0], torch.tensor([200, 100, 50, 255]) / 255.0)
    assert torch.equal(image.pixels[:, 0, 1], torch.zeros(4))  # transparent: 0 in every channel
    assert torch.allclose(
        image.pixels[:, 0, 2], torch.tensor([200 * 0.2, 100 * 0.2, 50 * 0.2, 51]) / 255.0
    )
    write_image(tmp_path / "b.png", image.pixels, like=image.mode)
    back = np.asarray(Image.open(tmp_path / "b.png"))
    assert Image.open(tmp_path / "b.png").mode == "RGBA"
    assert np.array_equal(back[0, 0], pixels[0, 0]) and back[0, 1, 3] == 0
    assert np.abs(back[0, 2].astype(int) - pixels[0, 2]).max() <= 1


def test_grey_alpha_palette_and_one_bit(tmp_path):
    Image.fromarray(np.array([[[90, 255], [90, 0]]], np.uint8), "LA").save(tmp_path / "la.png")
    la = read_image_file(tmp_path / "la.png")
    assert la.pixels.shape == (2, 1, 2) and la.pixels[0, 0, 1] == 0 and la.pixels[1, 0, 0] == 1
    pal = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    pal.putpalette([10, 20, 30, 40, 50, 60])
    pal.save(tmp_path / "p.png", transparency=0)
    p = read_image_file(tmp_path / "p.png")
    assert p.channels == 4 and torch.equal(p.pixels[:, 0, 0], torch.zeros(4))
    assert torch.allclose(p.pixels[:, 0, 1], torch.tensor([40, 50, 60, 255]) / 255.0)
    grey_pal = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    grey_pal.putpalette([7, 7, 7, 200, 200, 200])
    grey_pal.save(tmp_path / "g.png")
    assert read_image_file(tmp_path / "g.png").channels == 1
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "b.png")
    assert read_image_file(tmp_path / "b.png").pixels.flatten().tolist() == [1.0, 0.0]


def test_sixteen_bit_keeps_its_depth(tmp_path):
    values = np.array([[0, 1, 257, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    image = read_image_file(tmp_path / "d.png")
    assert image.mode.startswith("I") and torch.allclose(
        image.pixels[0], torch.from_numpy(values / 65535.0).float()
    )
    write_image(tmp_path / "e.png", image.pixels, like=image.mode)
    # 1 in 65535 survives: not 8-bit
    assert np.array_equal(np.asarray(Image.open(tmp_path / "e.png")), values)


def test_cmyk_jpeg_reads_as_rgb_and_can_stay_cmyk(tmp_path):
    Image.new("CMYK", (3, 2), (0, 255, 0, 0)).save(tmp_path / "c.jpg")
    image = read_image_file(tmp_path / "c.jpg")
    assert image.mode == "CMYK" and image.channels == 3
    assert torch.allclose(image.pixels[:, 0, 0], torch.tensor([1.0, 0.0, 1.0]), atol=0.02)
    write_image(tmp_path / "d.jpg", image.pixels, like=image.mode)
    assert Image.open(tmp_path / "d.jpg").mode == "CMYK"
    write_image(tmp_path / "d.png", image.pixels, like=image.mode)
    assert Image.open(tmp_path / "d.png").mode == "RGB"


def test_formats_jpeg_drops_alpha_over_white_webp_is_lossless(tmp_path):
    x = torch.tensor([0.2, 0.4, 0.6, 1.0]).view(4, 1, 1).repeat(1, 4, 4)
    x[:, 0, 0] = 0  # one transparent pixel
    write_image(tmp_path / "a.jpg", x)
    jpeg = np.asarray(Image.open(tmp_path / "a.jpg"))
    # white where transparent
    assert Image.open(tmp_path / "a.jpg").mode == "RGB" and jpeg[0, 0].min() > 200
    write_image(tmp_path / "a.webp", x)
    webp = read_image_file(tmp_path / "a.webp")
    assert webp.channels == 4 and torch.allclose(webp.pixels, x, atol=1 / 255)


def test_to_channels_conversions():
    rgb = torch.rand(3, 5, 6)
    grey = to_channels(rgb, 1)
    pil = np.asarray(
        Image.fromarray((rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).convert("L")
    )
    assert np.abs(grey[0].numpy() * 255 - pil).max() <= 1.0  # the same luma as PIL
    assert torch.equal(to_channels(grey, 3), grey.expand(3, -1, -1))
    rgba = to_channels(rgb, 4)
    assert torch.equal(rgba[3], torch.ones(5, 6)) and torch.equal(rgba[:3], rgb)
    alpha = torch.rand(1, 5, 6)
    la = to_channels(grey, 2, alpha=alpha)
    assert torch.equal(la[1:], alpha) and (la[:1] <= alpha).all()
    assert torch.equal(to_channels(la, 1), la[:1])  # dropping alpha keeps the premultiplied colour
    batch = to_channels(torch.rand(7, 2, 3, 3), 3)
    assert batch.shape == (7, 3, 3, 3)
    with pytest.raises(DataError):
        to_channels(rgb, 5)


def test_unpremultiply_and_checkerboard():
    x = torch.tensor([0.25, 0.5]).view(2, 1, 1)
    assert torch.allclose(unpremultiply(x), torch.tensor([0.5, 0.5]).view(2, 1, 1))
    transparent = torch.zeros(2, 8, 8)
    shown = composite(transparent, square=4)
    assert (
        shown.shape == (1, 8, 8)
        and shown[0, 0, 0] == pytest.approx(CHECKER[0])
        and shown[0, 0, 4] == pytest.approx(CHECKER[1])
    )
    opaque = torch.cat([torch.full((1, 8, 8), 0.3), torch.ones(1, 8, 8)])
    assert torch.allclose(composite(opaque), torch.full((1, 8, 8), 0.3))
    rgb = torch.rand(3, 2, 2)
    assert torch.equal(composite(rgb), rgb)  # nothing to composite without alpha


def test_resize_shrinks_by_area_and_grows_bilinear():
    x = torch.zeros(1, 4, 4)
    x[:, :2, :2] = 1
    small = resize(x, (2, 2))
    assert torch.allclose(small, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]))
    assert resize(x, (9, 7)).shape == (1, 9, 7)


def test_unreadable_files_are_one_line_errors(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnonsense")
    with pytest.raises(DataError, match="bad.png: cannot read image") as info:
        read_image_file(tmp_path / "bad.png")
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="file not found"):
        read_image_file(tmp_path / "missing.png")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_bytes_read_back_by_pil_exactly(channels):
    array = np.random.default_rng(channels).integers(0, 256, (7, 13, channels), dtype=np.uint8)
    image = Image.open(io.BytesIO(png_bytes(array)))
    assert image.mode == ("L", "LA", "RGB", "RGBA")[channels - 1] and image.size == (13, 7)
    assert np.array_equal(np.asarray(image).reshape(array.shape), array)
