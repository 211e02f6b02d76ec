"""``folder:PATH``: layouts, labels, channels, transparency, resizing and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.data import load
from aekit.data.folder import MAX_OWN_SIZE
from aekit.errors import ConfigError, DataError


def save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)
    return path


def gray(value: int, size: int = 20) -> np.ndarray:
    return np.full((size, size), value, np.uint8)


def color(rgb: tuple[int, int, int], size: int = 24) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (size, size, 3)).copy()


def close(value: object, expected: float, tol: float = 0.02) -> bool:
    return abs(float(value) - expected) < tol


def test_class_folders_give_sorted_labels_and_rgb(tmp_path: Path) -> None:
    for i in range(5):
        save(tmp_path / "zebra" / f"{i}.png", color((200, 10, 10)))
        save(tmp_path / "apple" / f"{i}.jpg", gray(30))
    train = load(f"folder:{tmp_path}", image_size=16)
    test = load(f"folder:{tmp_path}", "test", image_size=16)
    assert train.class_names == ["apple", "zebra"] and train.num_classes == 2
    assert train.shape == (3, 16, 16) and len(train) + len(test) == 10 and len(test) == 2
    zebra = train.images[train.labels == 1]
    assert close(zebra[:, 0].mean(), 200 / 255) and close(zebra[:, 1].mean(), 10 / 255)


def test_all_grayscale_gives_one_channel_and_own_size(tmp_path: Path) -> None:
    for i in range(4):
        save(tmp_path / f"{i}.png", gray(60 * i))
    (tmp_path / "notes.txt").write_text("other files are skipped")
    data = load(f"folder:{tmp_path}")
    assert (
        data.shape == (1, 20, 20)
        and data.labels is None
        and data.class_names is None
        and len(data) == 3
        and not any("resized" in note for note in data.notes)
    )
    assert load(f"folder:{tmp_path}", channels=3).shape == (3, 20, 20)


def test_pixel_art_keeps_its_pixels_and_mixed_sizes_meet_at_64(tmp_path: Path) -> None:
    """32x32 sprites stay 32x32, pixel for pixel (a bilinear stretch to 64 blurred them); a folder
    of mixed sizes, or of one size over MAX_OWN_SIZE, is brought to 64x64."""
    checker = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)
    for i in range(5):
        save(tmp_path / "sprites" / f"{i}.png", checker)
    data = load(f"folder:{tmp_path / 'sprites'}")
    assert data.shape == (1, 32, 32)
    assert torch.equal(data.pixels[0, 0], torch.from_numpy(checker))
    save(tmp_path / "mixed" / "a.png", gray(0, size=32))
    save(tmp_path / "mixed" / "b.png", gray(0, size=40))
    assert load(f"folder:{tmp_path / 'mixed'}").shape == (1, 64, 64)
    save(tmp_path / "big" / "a.png", gray(0, size=MAX_OWN_SIZE + 1))
    save(tmp_path / "big" / "b.png", gray(0, size=MAX_OWN_SIZE + 1))
    assert load(f"folder:{tmp_path / 'big'}").shape == (1, 64, 64)


def test_split_is_fixed_and_disjoint(tmp_path: Path) -> None:
    for i in range(10):
        save(tmp_path / f"{i}.png", gray(20 * i, size=8))

    def means(split: str) -> list[float]:
        return sorted(
            round(float(m), 3) for m in load(f"folder:{tmp_path}", split).images.mean((1, 2, 3))
        )

    train, test = means("train"), means("test")
    assert len(train) == 8 and len(test) == 2 and not set(train) & set(test)
    assert means("test") == test


def test_own_train_and_test_folders(tmp_path: Path) -> None:
    save(tmp_path / "train" / "a" / "1.png", gray(0))
    save(tmp_path / "train" / "b" / "1.png", gray(255))
    save(tmp_path / "test" / "b" / "2.png", gray(255))
    test = load(f"folder:{tmp_path}", "test", image_size=8)
    assert len(test) == 1 and test.class_names == ["a", "b"] and test.labels.tolist() == [1]


def test_sixteen_bit_and_transparent_images(tmp_path: Path) -> None:
    # reduced to 8 bits: 30000/65535 -> 117/255
    save(tmp_path / "deep.png", np.full((8, 8), 30000, np.uint16))
    # fully transparent black: asked for 1 channel, lies on white
    rgba = np.zeros((8, 8, 4), np.uint8)
    save(tmp_path / "clear.png", rgba)
    data = load(f"folder:{tmp_path}", "train", image_size=8, channels=1)
    test = load(f"folder:{tmp_path}", "test", image_size=8, channels=1)
    values = sorted(int(d.pixels.float().mean()) for d in (data, test))
    assert values == [117, 255] and data.pixels.dtype == torch.uint8


def test_palette_gif_and_bmp(tmp_path: Path) -> None:
    save(tmp_path / "a.gif", gray(100), mode="P")
    save(tmp_path / "b.bmp", gray(100))
    data = load(f"folder:{tmp_path}", image_size=4)
    assert data.shape == (1, 4, 4) and close(data.images.mean(), 100 / 255)


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    save(tmp_path / "good.png", gray(1))
    (tmp_path / "broken.png").write_bytes(b"definitely not a png")
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):
        load(f"folder:{tmp_path}")


def test_truncated_image_names_the_file(tmp_path: Path) -> None:
    page = save(
        tmp_path / "train" / "a.png",
        np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8),
    )
    page.write_bytes(page.read_bytes()[:-300])
    save(tmp_path / "test" / "b.png", gray(1))
    with pytest.raises(DataError, match=r"a\.png: cannot decode"):
        load(f"folder:{tmp_path}", channels=1)


@pytest.mark.parametrize("setup", ["missing", "empty", "only-text", "mixed"])
def test_bad_folders(tmp_path: Path, setup: str) -> None:
    folder = tmp_path / "images"
    if setup != "missing":
        folder.mkdir()
    if setup == "only-text":
        (folder / "readme.txt").write_text("no images")
    if setup == "mixed":
        save(folder / "loose.png", gray(1))
        save(folder / "cls" / "a.png", gray(1))
    expected = {
        "missing": "not found",
        "empty": "no images",
        "only-text": "no images",
        "mixed": "mixes loose",
    }[setup]
    with pytest.raises(DataError, match=expected) as info:
        load(f"folder:{folder}")
    assert str(folder) in str(info.value)


def test_too_few_images_and_bad_options(tmp_path: Path) -> None:
    save(tmp_path / "one.png", gray(1))
    with pytest.raises(DataError, match="at least 2 images"):
        load(f"folder:{tmp_path}")
    with pytest.raises(DataError, match="needs a path"):
        load("folder:")
    with pytest.raises(ConfigError, match="channels"):
        load(f"folder:{tmp_path}", channels=5)
    for size in (0, "12x", "axb", "5000"):
        with pytest.raises(ConfigError, match="image_size"):
            load(f"folder:{tmp_path}", image_size=size)
    with pytest.raises(ConfigError, match="resize must be one of stretch, crop, pad"):
        load(f"folder:{tmp_path}", resize="squash")
    with pytest.raises(ConfigError, match="resample"):
        load(f"folder:{tmp_path}", resample="sinc")
    with pytest.raises(DataError, match="unknown split"):
        load(f"folder:{tmp_path}", "val")


# --- transparency: premultiplied alpha, last channel ----------------------------------------------
PIXELS = {  # (x, y): RGBA as saved -> the premultiplied values expected back
    (0, 0): ((200, 100, 50, 128), (100, 50, 25, 128)),
    (1, 0): ((255, 0, 0, 0), (0, 0, 0, 0)),  # fully transparent: its hidden red is gone
    (2, 0): ((10, 20, 30, 255), (10, 20, 30, 255)),
    (3, 0): ((255, 255, 255, 51), (51, 51, 51, 51)),
}


def rgba_picture() -> np.ndarray:
    array = np.zeros((2, 4, 4), np.uint8)
    for (x, y), (saved, _) in PIXELS.items():
        array[y, x] = saved
    return array


def test_rgba_round_trip_is_premultiplied(tmp_path: Path) -> None:
    save(tmp_path / "a.png", rgba_picture())
    save(tmp_path / "b.png", gray(7, size=4)[:2])  # gray, no alpha: the folder still gets RGBA
    data = load(f"folder:{tmp_path}", image_size="4x2")
    test = load(f"folder:{tmp_path}", "test", image_size="4x2")
    picture = next(d for d in (data, test) if d.names == ["a.png"])
    assert picture.shape == (4, 2, 4) and picture.pixels.dtype == torch.uint8
    for (x, y), (_, expected) in PIXELS.items():
        assert tuple(picture.pixels[0, :, y, x].tolist()) == expected
    other = test if picture is data else data
    # opaque alpha added
    assert other.pixels[0, 3].eq(255).all() and other.pixels[0, :3].eq(7).all()


def test_gray_alpha_round_trip_gives_two_channels(tmp_path: Path) -> None:
    for i, (value, alpha) in enumerate([(200, 64), (90, 255)]):
        la = np.stack([gray(value, 4), gray(alpha, 4)], axis=-1)
        save(tmp_path / f"{i}.png", la)
    both = [load(f"folder:{tmp_path}", split, image_size=4) for split in ("train", "test")]
    assert {d.shape for d in both} == {(2, 4, 4)}
    found = sorted(tuple(d.pixels[0, :, 0, 0].tolist()) for d in both)
    assert found == [(50, 64), (90, 255)]  # 200 * 64 / 255 = 50.2


def test_channels_conversion_of_transparent_pictures(tmp_path: Path) -> None:
    save(tmp_path / "a.png", rgba_picture())
    save(tmp_path / "b.png", rgba_picture())
    rgb = load(f"folder:{tmp_path}", image_size="4x2", channels=3)
    gray1 = load(f"folder:{tmp_path}", image_size="4x2", channels=1)
    assert rgb.shape == (3, 2, 4) and gray1.shape == (1, 2, 4)
    # laid on white: premultiplied colour + (255 - alpha)
    assert rgb.pixels[0, :, 0, 0].tolist() == [100 + 127, 50 + 127, 25 + 127]
    assert rgb.pixels[0, :, 0, 1].tolist() == [255, 255, 255]
    luma = Image.new("RGB", (1, 1), (200, 100, 50)).convert("L").getpixel((0, 0))
    assert gray1.pixels[0, 0, 0, 0].item() == round(luma * 128 / 255) + 127
    two = load(f"folder:{tmp_path}", image_size="4x2", channels=2)
    assert two.pixels[0, :, 0, 0].tolist() == [round(luma * 128 / 255), 128]


# --- any size: WxH, stretch / crop / pad, resampling ----------------------------------------------
def stripes() -> np.ndarray:
    """8 wide, 4 high: columns green, green, red, red, blue, blue, green, green."""
    colours = [(0, 255, 0)] * 2 + [(255, 0, 0)] * 2 + [(0, 0, 255)] * 2 + [(0, 255, 0)] * 2
    return np.broadcast_to(np.array(colours, np.uint8)[None], (4, 8, 3)).copy()


def first_train_image(folder: Path, **options: object) -> np.ndarray:
    save(folder / "a.png", stripes())
    save(folder / "b.png", stripes())
    return load(f"folder:{folder}", **options).pixels[0].numpy().transpose(1, 2, 0)


G, R, B, W, CLEAR = [0, 255, 0], [255, 0, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0, 0]


def test_stretch_to_width_by_height(tmp_path: Path) -> None:
    out = first_train_image(tmp_path, image_size="4x2", resample="nearest")
    assert out.shape == (2, 4, 3)  # W=4, H=2
    assert (out == np.array([G, R, B, G])[None]).all()


def test_crop_keeps_the_centre(tmp_path: Path) -> None:
    out = first_train_image(tmp_path, image_size=4, resize="crop", resample="nearest")
    assert (out == np.array([R, R, B, B])[None]).all()  # the middle 4x4 of the 8x4 picture


@pytest.mark.parametrize("pad", ["transparent", "white"])
def test_pad_keeps_the_aspect_ratio(tmp_path: Path, pad: str) -> None:
    out = first_train_image(
        tmp_path, image_size=8, resize="pad", resample="nearest", pad=pad, channels=4
    )
    bar = CLEAR if pad == "transparent" else W + [255]
    assert out.shape == (8, 8, 4)
    assert (out[:2] == bar).all() and (out[6:] == bar).all()  # 2 rows above and below
    assert (out[2:6, :, :3] == stripes()).all() and (out[2:6, :, 3] == 255).all()


def test_pad_without_alpha_is_white(tmp_path: Path) -> None:
    out = first_train_image(tmp_path, image_size=8, resize="pad", resample="nearest")
    assert out.shape == (8, 8, 3) and (out[:2] == W).all() and (out[2:6] == stripes()).all()


def test_nearest_keeps_pixel_art_colours(tmp_path: Path) -> None:
    palette = np.array(
        [[12, 200, 40], [250, 250, 0], [90, 0, 160], [0, 0, 0], [255, 128, 64]], np.uint8
    )
    art = palette[np.random.default_rng(0).integers(0, len(palette), (8, 8))]
    save(tmp_path / "a.png", art)
    save(tmp_path / "b.png", art)
    upscaled = (
        load(f"folder:{tmp_path}", image_size=32, resample="nearest")
        .pixels[0]
        .numpy()
        .transpose(1, 2, 0)
    )
    assert (upscaled == art.repeat(4, 0).repeat(4, 1)).all()
    smooth = (
        load(f"folder:{tmp_path}", image_size=32, resample="bilinear")
        .pixels[0]
        .numpy()
        .transpose(1, 2, 0)
    )
    colours = {tuple(c) for c in smooth.reshape(-1, 3)}
    assert len(colours - {tuple(c) for c in palette}) > 10  # the baseline blends new colours in


# --- bad input: mixed folders are converted and counted, broken files skipped when asked ----------
def test_mixed_modes_and_sizes_are_counted(tmp_path: Path) -> None:
    save(tmp_path / "a.png", color((200, 10, 10), size=16))
    save(tmp_path / "b.gif", gray(100, size=16), mode="P")
    save(tmp_path / "c.png", gray(50, size=10))
    save(tmp_path / "d.png", np.zeros((16, 16, 2), np.uint8), mode="LA")
    save(tmp_path / "e.png", color((0, 10, 10), size=16))
    data = load(f"folder:{tmp_path}", image_size=16)
    assert data.shape == (4, 16, 16)
    assert "converted 5 images from mode L 1, LA 1, P 1, RGB 2 to RGBA" in data.notes
    assert "resized 1 of 5 images to 16x16 (stretch, bilinear)" in data.notes


def test_skip_bad_counts_and_lists(tmp_path: Path) -> None:
    for i in range(6):
        save(tmp_path / f"good{i}.png", gray(10 * i, size=8))
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    page = save(
        tmp_path / "cut.png", np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    )
    page.write_bytes(page.read_bytes()[:-300])
    with pytest.raises(DataError, match=r"cut\.png: cannot decode"):
        load(f"folder:{tmp_path}", channels=1, image_size=8)
    with pytest.raises(DataError, match=r"junk\.png: cannot read"):
        load(f"folder:{tmp_path}")
    sets = [load(f"folder:{tmp_path}", split, skip_bad=True) for split in ("train", "test")]
    assert sum(len(d) for d in sets) == 6 and sorted(sets[0].skipped + sets[1].skipped) == [
        "cut.png",
        "junk.png",
    ]
    assert "skipped 2 files that do not decode" in sets[0].notes
    assert sorted(n for d in sets for n in d.names) == [f"good{i}.png" for i in range(6)]
    for d in sets:  # every kept row holds its own file's pixels, not a neighbour's
        assert [int(d.pixels[i].float().mean()) for i in range(len(d))] == [
            10 * int(n[4]) for n in d.names
        ]
