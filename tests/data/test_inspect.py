"""``aekit datasets --inspect``: counts, sizes, modes, classes, transparency, duplicates, bad
files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aekit.cli import main
from aekit.data.inspect import inspect_dataset


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))


def make_folder(root: Path) -> Path:
    rng = np.random.default_rng(3)
    cats, dogs = root / "cats", root / "dogs"
    cats.mkdir(parents=True)
    dogs.mkdir()
    picture = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(picture).save(cats / "a.png")
    Image.fromarray(picture).save(dogs / "same-as-a.png")  # an exact duplicate across classes
    Image.fromarray(picture[..., 0]).save(cats / "gray.png")  # same red channel, different picture
    see_through = np.dstack([picture, np.full((10, 12), 128, np.uint8)])
    Image.fromarray(see_through).save(dogs / "half.png")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).convert("P").save(
        dogs / "pal.gif"
    )
    (cats / "broken.png").write_bytes(b"nope")
    return root


def test_inspect_folder(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "pets")
    lines = inspect_dataset(f"folder:{root}").splitlines()
    assert lines[0] == f"folder:{root}"
    assert lines[1].startswith("images: 5 (train 4 / test 1), loaded as 4 x 64 x 64 uint8")
    assert "sizes seen: 12x10 (4), 20x20 (1)" in lines
    assert "modes seen: RGB (2), L (1), P (1), RGBA (1)" in lines
    assert "classes: cats 2, dogs 3" in lines
    assert "transparency: 1 images use it" in lines
    assert (
        "exact duplicates: 1 groups, 2 images" in lines
        and "  cats/a.png = dogs/same-as-a.png" in lines
    )
    assert "note: converted 4 images from mode L 1, P 1, RGB 2 to RGBA" in lines
    assert "note: resized 5 of 5 images to 64x64 (stretch, bilinear)" in lines
    assert "skipped (do not decode): 1: cats/broken.png" in lines


def test_inspect_sheet_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sheet = np.zeros((16, 24, 4), np.uint8)
    sheet[:8, :8, 1:] = 255  # a cyan tile
    sheet[5, 5] = (0, 0, 0, 255)  # with a black dot
    sheet[:8, 8:16] = sheet[:8, :8]  # and its twin
    sheet[8:, :8, 0], sheet[8:, :8, 3] = 255, 100  # a see-through red tile
    sheet[9, 1] = (0, 0, 0, 255)
    sheet[9, 9] = (1, 2, 3, 255)  # one dot on a clear tile; the last column stays empty
    Image.fromarray(sheet).save(tmp_path / "s.png")
    assert main(["datasets", "--inspect", f"sheet:{tmp_path / 's.png'}?tile=8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "images: 4 (train 3 / test 1), loaded as 4 x 8 x 8 uint8" in out[1]
    assert "sheets: s.png 24x16 RGBA" in out
    assert "transparency: 2 images use it" in out  # the see-through tile and the dot on clear
    assert "exact duplicates: 1 groups, 2 images" in out and "  s.png:r0c0 = s.png:r0c1" in out
    assert (
        "note: cut 4 tiles 8x8 from 1 sheets; skipped 2 empty tiles (transparent or one flat "
        "colour)" in out
    )
