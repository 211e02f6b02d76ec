"""``folder:PATH``: layouts, labels, channels, resizing and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aekit.data import load
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


def test_all_grayscale_gives_one_channel_and_default_size(tmp_path: Path) -> None:
    for i in range(4):
        save(tmp_path / f"{i}.png", gray(60 * i))
    (tmp_path / "notes.txt").write_text("other files are skipped")
    data = load(f"folder:{tmp_path}")
    assert data.shape == (1, 64, 64) and data.labels is None and data.class_names is None and len(data) == 3
    assert load(f"folder:{tmp_path}", channels=3).shape == (3, 64, 64)


def test_split_is_fixed_and_disjoint(tmp_path: Path) -> None:
    for i in range(10):
        save(tmp_path / f"{i}.png", gray(20 * i, size=8))

    def means(split: str) -> list[float]:
        return sorted(round(float(m), 3) for m in load(f"folder:{tmp_path}", split).images.mean((1, 2, 3)))

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
    save(tmp_path / "deep.png", np.full((8, 8), 30000, np.uint16))
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent black: lies on white
    save(tmp_path / "clear.png", rgba)
    data = load(f"folder:{tmp_path}", "train", image_size=8, channels=1)
    test = load(f"folder:{tmp_path}", "test", image_size=8, channels=1)
    values = sorted(round(float(d.images.mean()), 3) for d in (data, test))
    assert values == [round(30000 / 65535, 3), 1.0]


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
    page = save(tmp_path / "train" / "a.png", np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
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
    expected = {"missing": "not found", "empty": "no images", "only-text": "no images", "mixed": "mixes loose"}[setup]
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
        load(f"folder:{tmp_path}", channels=2)
    with pytest.raises(ConfigError, match="image_size"):
        load(f"folder:{tmp_path}", image_size=0)
    with pytest.raises(DataError, match="unknown split"):
        load(f"folder:{tmp_path}", "val")
