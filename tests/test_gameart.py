"""Game-ready samples: palettes learned and read, snapping, hard alpha, seamless tiles, the
atlas."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from aekit.alpha import premultiply, unpremultiply
from aekit.data.sheets import CRAWL_DIR
from aekit.errors import DataError
from aekit.gameart import (
    MAX_PALETTE,
    Finish,
    learn_palette,
    make_seamless,
    read_palette,
    snap_to_palette,
    texturepacker_atlas,
    threshold_alpha,
)
from aekit.images import read_image_file

COLOURS = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.6, 0.2], [0.2, 0.3, 0.9]])


def _sprites(n: int = 6, size: int = 8, seed: int = 0) -> torch.Tensor:
    """RGBA images: each pixel one of three colours with a little noise, some pixels transparent or
    half-transparent (whose colours must not count), premultiplied."""
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(0, 3, (n, size, size), generator=g)
    colour = COLOURS[which].permute(0, 3, 1, 2) + 0.02 * torch.randn(n, 3, size, size, generator=g)
    alpha = torch.ones(n, 1, size, size)
    alpha[:, :, :2] = 0.0
    alpha[:, :, 2:3] = 0.3
    # yellow under transparency: hidden
    colour[:, :, :3] = torch.tensor([1.0, 1.0, 0.0]).view(3, 1, 1)
    return premultiply(torch.cat([colour.clamp(0, 1), alpha], 1))


# --- palettes -------------------------------------------------------------------------
def test_learned_palette_finds_the_colours_of_opaque_pixels_only():
    palette = learn_palette(_sprites(), 3, seed=0)
    assert palette.shape == (3, 3)
    distance = torch.cdist(palette, COLOURS).min(1).values
    assert distance.max() < 0.02  # each learned colour is one of the three, no yellow
    assert torch.equal(palette, (palette * 255).round() / 255)  # on the 8-bit grid: written exactly
    assert torch.equal(palette, learn_palette(_sprites(), 3, seed=0))


def test_learned_palette_of_few_colours_and_without_opaque_pixels():
    flat = torch.zeros(2, 3, 4, 4)
    flat[:, 0] = 1.0
    assert torch.equal(learn_palette(flat, 8), torch.tensor([[1.0, 0.0, 0.0]]))
    with pytest.raises(DataError, match="no opaque pixels"):
        learn_palette(torch.zeros(1, 4, 4, 4), 4)
    with pytest.raises(DataError, match="1 to 256"):
        learn_palette(flat, 0)


def test_read_palette_from_png_gpl_and_hex_list(tmp_path):
    swatches = np.zeros((2, 3, 4), np.uint8)
    swatches[0, 0] = [255, 0, 0, 255]
    swatches[0, 1] = [0, 255, 0, 255]
    swatches[0, 2] = [255, 0, 0, 255]  # repeated
    swatches[1, 0] = [0, 0, 255, 255]
    swatches[1, 1] = [9, 9, 9, 0]  # transparent: not a colour
    Image.fromarray(swatches, "RGBA").save(tmp_path / "p.png")
    expected = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255]]) / 255
    assert torch.equal(read_palette(tmp_path / "p.png"), expected)
    (tmp_path / "p.gpl").write_text(
        "GIMP Palette\nName: rgb\nColumns: 3\n#\n255   0   0\tRed\n  0 255   0 Green\n0 0 255\n"
    )
    assert torch.equal(read_palette(tmp_path / "p.gpl"), expected)
    (tmp_path / "p.hex").write_text("; lospec export\n#ff0000 red\n\n00FF00\n# blue next\n0000ff\n")
    assert torch.equal(read_palette(tmp_path / "p.hex"), expected)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.hex", "; nothing\n", "empty palette"),
        ("bad.hex", "#ff0000\n#12345g\n", "line 2: bad hex colour '#12345g'"),
        ("short.txt", "fff\n", "line 1: bad hex colour 'fff'"),
        (
            "many.hex",
            "".join(f"{k:06x}\n" for k in range(MAX_PALETTE + 1)),
            "at most 256 colours, this one has 257",
        ),
        ("bad.gpl", "GIMP Palette\n255 0\n", "line 2: expected three numbers"),
        ("range.gpl", "GIMP Palette\n255 0 300 x\n", "line 2: expected three numbers"),
        ("header.gpl", "JASC-PAL\n", "starts with the line 'GIMP Palette'"),
        ("broken.png", "not a png", "cannot read the palette image"),
        ("binary.hex", b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_malformed_palettes_are_one_line_errors_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError) as info:
        read_palette(path)
    assert (
        str(info.value).startswith(str(path))
        and message in str(info.value)
        and "\n" not in str(info.value)
    )


def test_palette_sizes_are_checked_before_reading(tmp_path, monkeypatch):
    import aekit.gameart as gameart

    colours = np.random.default_rng(0).integers(0, 256, (20, 20, 3), np.uint8)
    Image.fromarray(colours).save(tmp_path / "noise.png")
    with pytest.raises(DataError, match="at most 256 colours, this one has 4"):
        read_palette(tmp_path / "noise.png")
    monkeypatch.setattr(gameart, "MAX_SWATCH_PIXELS", 399)
    with pytest.raises(DataError, match="at most 399 pixels, this one is 20x20"):
        read_palette(tmp_path / "noise.png")
    monkeypatch.setattr(gameart, "MAX_PALETTE_TEXT_BYTES", 10)
    (tmp_path / "long.hex").write_text("#ff0000\n#00ff00\n")
    with pytest.raises(DataError, match="at most 10 bytes"):
        read_palette(tmp_path / "long.hex")
    with pytest.raises(DataError, match="not found"):
        read_palette(tmp_path / "missing.gpl")


def test_snap_gives_the_nearest_colour_keeps_alpha_and_hidden_pixels_zero():
    images = _sprites()
    snapped = snap_to_palette(images, COLOURS)
    straight, before = unpremultiply(snapped), unpremultiply(images)
    assert torch.equal(snapped[:, 3], images[:, 3])
    opaque = images[:, 3] == 1
    colours = straight[:, :3].permute(0, 2, 3, 1)[opaque]
    expected = COLOURS[torch.cdist(before[:, :3].permute(0, 2, 3, 1)[opaque], COLOURS).argmin(1)]
    assert torch.allclose(colours, expected, atol=1e-6)  # near their colours: RGB and CIELAB agree
    # the half-transparent row: yellow too
    yellow = straight[:, :3, 2].permute(0, 2, 1).reshape(-1, 3)
    assert torch.cdist(yellow, COLOURS).min(1).values.max() < 1e-6
    assert snapped[:, :, :2].abs().max() == 0


def test_snap_measures_distance_perceptually():
    """A greyish blue is nearer mid grey than pure blue in RGB (0.38 against 0.49) and nearer the
    blue in CIELAB (65.7 against 71.0): the test fails if snapping is done in plain RGB."""
    palette = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
    pixel = torch.tensor([0.3, 0.3, 0.75]).view(1, 3, 1, 1)
    rgb_choice = torch.cdist(pixel.view(1, 3), palette).argmin()
    lab_choice = unpremultiply(snap_to_palette(pixel, palette)).view(1, 3)
    assert rgb_choice == 1 and torch.equal(lab_choice, palette[:1])


def test_snap_grey_images_to_an_rgb_palette():
    grey = torch.tensor([0.1, 0.45, 0.9]).view(1, 1, 1, 3)
    palette = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]])
    assert torch.allclose(
        snap_to_palette(grey, palette), torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    )
    with pytest.raises(DataError, match="1-channel colours"):
        snap_to_palette(torch.rand(1, 3, 2, 2), palette[:, :1])


# --- alpha ----------------------------------------------------------------------------
def test_threshold_alpha_is_hard_and_keeps_straight_colour():
    images = _sprites()
    images[:, 3, 3:5] = 0.6
    images[:, :3, 3:5] *= 0.6
    hard = threshold_alpha(images, 0.5)
    assert set(hard[:, 3].unique().tolist()) == {0.0, 1.0}
    kept = hard[:, 3] == 1
    assert torch.equal(kept, images[:, 3] >= 0.5)
    assert torch.allclose(
        hard[:, :3].permute(0, 2, 3, 1)[kept],
        unpremultiply(images)[:, :3].permute(0, 2, 3, 1)[kept],
        atol=1e-6,
    )
    assert hard[:, :3].permute(0, 2, 3, 1)[~kept].abs().max() == 0
    with pytest.raises(DataError, match="between 0 and 1"):
        threshold_alpha(images, 1.0)
    with pytest.raises(DataError, match="no alpha"):
        threshold_alpha(images[:, :3], 0.5)


# --- seamless tiles -----------------------------------------------------------------------
def _seam_and_inner(images: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: mean |difference| across the wrap-around seam along ``dim`` (-2 rows, -1 columns),
    and the largest such mean across an inner row (column) boundary."""
    x = images.double()
    first, last = x.narrow(dim, 0, 1), x.narrow(dim, x.shape[dim] - 1, 1)
    seam = (first - last).abs().mean((1, 2, 3))
    inner = x.diff(dim=dim).abs().mean(dim=(1, 3) if dim == -2 else (1, 2)).amax(1)
    return seam, inner


def _smooth_textures(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Blurred noise plus a gradient (opposite edges differ, as in any photo of a surface)."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(
        rng.random((n, 3, size, size)), sigma=(0, 0, 2, 2), mode="reflect"
    )
    ramp = np.linspace(0, 1, size)
    gradient = rng.random((n, 3, 1, 1)) * ramp[:, None] + rng.random((n, 3, 1, 1)) * ramp[None, :]
    texture = (noise - noise.mean((2, 3), keepdims=True)) * 2 + 0.35 + 0.15 * gradient
    return torch.from_numpy(texture.clip(0, 1)).float()


def test_seamless_textures_wrap_without_a_visible_seam():
    textures = _smooth_textures(20)
    tiles = make_seamless(textures)
    for dim in (-2, -1):
        seam_before, inner_before = _seam_and_inner(textures, dim)
        seam, inner = _seam_and_inner(tiles, dim)
        assert (seam_before > inner_before).all()  # the test textures do have a seam
        assert (seam <= inner).all()
    change = (tiles - textures).abs().mean()
    # measured 0.043 on textures of standard deviation 0.094 (0.019 in the middle half)
    assert change < 0.05, change
    # the mean colour stays
    assert torch.allclose(tiles.mean((2, 3)), textures.mean((2, 3)), atol=2e-3)


def test_seamless_keeps_the_inner_detail_exactly():
    """The periodic component's periodic Laplacian is the image's Laplacian over inner neighbours
    only (Moisan's definition): every difference inside the image is kept, the border's jump is
    not."""
    y, x = torch.meshgrid(torch.arange(16.0), torch.arange(24.0), indexing="ij")
    image = (0.3 + 0.015 * x + 0.05 * torch.sin(x * y / 7)).expand(1, 2, 16, 24).double()
    made = make_seamless(image).double()
    assert 0 < made.min() and made.max() < 1  # nothing clipped

    def laplacian(u: torch.Tensor, periodic: bool) -> torch.Tensor:
        total = torch.zeros_like(u)
        for dim in (-2, -1):
            for shift in (1, -1):
                neighbour = u.roll(shift, dim)
                if not periodic:  # a pixel on the border has no neighbour across it
                    edge = torch.zeros_like(u, dtype=torch.bool)
                    edge.narrow(dim, 0 if shift == 1 else u.shape[dim] - 1, 1).fill_(True)
                    neighbour = torch.where(edge, u, neighbour)
                total += neighbour - u
        return total

    assert torch.allclose(laplacian(made, True), laplacian(image, False), atol=1e-5)
    assert not torch.allclose(laplacian(image, True), laplacian(image, False), atol=1e-2)


@pytest.mark.real_data
def test_seamless_crawl_floor_tiles():
    if not (CRAWL_DIR / "floor.png").is_file():
        pytest.skip("the crawl tiles are not installed (apt-get install crawl-tiles-data)")
    sheet = read_image_file(CRAWL_DIR / "floor.png").pixels
    tiles = sheet.unfold(1, 32, 32).unfold(2, 32, 32).permute(1, 2, 0, 3, 4).reshape(-1, 4, 32, 32)
    tiles = tiles[tiles[:, 3].amin((1, 2)) == 1]  # opaque floor tiles: 907
    made = make_seamless(tiles)
    for dim in (-2, -1):
        seam_before, inner_before = _seam_and_inner(tiles, dim)
        seam, inner = _seam_and_inner(made, dim)
        # measured 906 of 907 on both seams (before: 93%, 92%)
        assert (seam <= inner).float().mean() > 0.99
        assert (seam <= inner).sum() > (seam_before <= inner_before).sum()
        assert seam.mean() < 0.5 * seam_before.mean()
    assert (made - tiles).abs().mean() < 0.015  # measured 0.0103: floor tiles nearly wrap already


# --- the finish and the atlas ------------------------------------------------------------
def test_finish_gives_palette_colours_and_hard_alpha_only():
    images = _sprites()
    images[:, :, 5:, 5:] *= 0.5  # soft alpha that the seamless step spreads
    done = Finish(seamless=True, palette=COLOURS, alpha_threshold=0.5)(images)
    straight = unpremultiply(done)
    assert set(done[:, 3].unique().tolist()) <= {0.0, 1.0}
    opaque = straight[:, :3].permute(0, 2, 3, 1)[done[:, 3] == 1]
    assert torch.cdist(opaque, COLOURS).min(1).values.max() < 1e-6
    assert torch.equal(Finish()(images), images)


def test_atlas_is_texturepacker_json_hash():
    atlas = texturepacker_atlas(["a.png", "b.png", "c.png"], 16, 8, 2, "sheet.png")
    assert atlas["frames"]["c.png"] == {
        "frame": {"x": 0, "y": 8, "w": 16, "h": 8},
        "rotated": False,
        "trimmed": False,
        "spriteSourceSize": {"x": 0, "y": 0, "w": 16, "h": 8},
        "sourceSize": {"w": 16, "h": 8},
    }
    assert atlas["frames"]["b.png"]["frame"] == {"x": 16, "y": 0, "w": 16, "h": 8}
    assert atlas["meta"] == {
        "app": "aekit",
        "version": "1.0",
        "image": "sheet.png",
        "format": "RGBA8888",
        "size": {"w": 32, "h": 16},
        "scale": "1",
    }
    assert list(atlas["frames"]) == ["a.png", "b.png", "c.png"]
    json.dumps(atlas)
