"""``sheet:PATH?tile=S``: cutting on a grid, empty tiles, names, size errors, ragged edges, crawl
tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aekit.data import load, sheets
from aekit.data.sheets import CRAWL_DIR, crawl_tiles_spec, parse_sheet_spec
from aekit.errors import ConfigError, DataError

TILE = 8


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))


def make_sheet(
    path: Path, rows: int = 3, cols: int = 4, extra: tuple[int, int] = (0, 0)
) -> dict[str, int]:
    """A sheet whose tile (r, c) is a sprite of value 10 * (r * cols + c) + 5, except two empty
    tiles: (0, 1) fully transparent (with hidden colour) and (1, 2) one flat opaque colour. Returns
    the non-empty tile names -> their sprite value."""
    sheet = np.zeros((rows * TILE + extra[1], cols * TILE + extra[0], 4), np.uint8)
    values = {}
    for r in range(rows):
        for c in range(cols):
            block = sheet[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE]
            if (r, c) == (0, 1):
                block[..., 0] = 200  # red nobody sees
            elif (r, c) == (1, 2):
                block[:] = (40, 80, 120, 255)
            else:
                value = 10 * (r * cols + c) + 5
                # an opaque square on a transparent tile
                block[2:6, 2:6] = (value, value, value, 255)
                values[f"{path.name}:r{r}c{c}"] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return values


def both(spec: str, **options: object) -> list:
    return [load(spec, split, **options) for split in ("train", "test")]


def test_one_sheet_cut_named_and_empty_tiles_skipped(tmp_path: Path) -> None:
    values = make_sheet(tmp_path / "hero.png")
    train, test = both(f"sheet:{tmp_path / 'hero.png'}?tile={TILE}")
    assert len(train) + len(test) == 10 and len(test) == 2  # 12 tiles, 2 empty; 80/20
    assert train.shape == (4, TILE, TILE) and train.labels is None
    assert "skipped 2 empty tiles" in train.notes[0]
    for data in (train, test):
        for name, tile in zip(data.names, data.pixels):
            assert (
                tile[:, 3, 3].tolist() == [values[name]] * 3 + [255] and tile[:, 0, 0].eq(0).all()
            )
    assert set(train.names) | set(test.names) == set(values) and not set(train.names) & set(
        test.names
    )


def test_folder_of_sheets_gives_one_class_per_sheet(tmp_path: Path) -> None:
    make_sheet(tmp_path / "sheets" / "a.png", rows=2, cols=5)
    make_sheet(tmp_path / "sheets" / "b.png")
    (tmp_path / "sheets" / "readme.txt").write_text("not a sheet")
    train, test = both(f"sheet:{tmp_path / 'sheets'}?tile={TILE}")
    assert train.class_names == ["a", "b"]
    labels = train.labels.tolist() + test.labels.tolist()
    assert labels.count(0) == 8 and labels.count(1) == 10
    assert all(
        n.startswith("ab"[label] + ".png:") for n, label in zip(train.names + test.names, labels)
    )
    only_b = both(f"sheet:{tmp_path / 'sheets'}?tile={TILE}&sheets=b.png")
    assert only_b[0].class_names == ["b"] and sum(map(len, only_b)) == 10


def test_tiles_resized_and_channels(tmp_path: Path) -> None:
    make_sheet(tmp_path / "s.png")
    data = load(
        f"sheet:{tmp_path / 's.png'}?tile={TILE}", image_size=16, resample="nearest", channels=3
    )
    assert data.shape == (3, 16, 16)
    value = int(data.pixels[0, 0, 7, 7])
    # on white
    assert data.pixels[0, :, 4:12, 4:12].eq(value).all() and data.pixels[0, :, :4].eq(255).all()


def test_rectangular_tiles(tmp_path: Path) -> None:
    make_sheet(tmp_path / "s.png", rows=2, cols=4)  # 32x16 pixels: 16x8 tiles are two sprites wide
    train, test = both(f"sheet:{tmp_path / 's.png'}?tile=16x8")
    assert train.shape == (4, 8, 16) and len(train) + len(test) == 4
    assert sorted(train.names + test.names) == [
        "s.png:r0c0",
        "s.png:r0c1",
        "s.png:r1c0",
        "s.png:r1c1",
    ]


def test_size_errors_name_both_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_sheet(tmp_path / "odd.png", extra=(3, 5))  # 35 x 29
    with pytest.raises(
        DataError,
        match=r"odd\.png: the sheet is 35x29, not a multiple of the tile 8x8; add &ragged=drop",
    ):
        load(f"sheet:{tmp_path / 'odd.png'}?tile=8")
    with pytest.raises(DataError, match=r"odd\.png: the tile 40x8 is larger than the sheet 35x29"):
        load(f"sheet:{tmp_path / 'odd.png'}?tile=40x8&ragged=drop")
    monkeypatch.setattr(sheets, "MAX_TILES", 11)
    with pytest.raises(
        DataError, match=r"odd\.png: a 35x29 sheet cut into 8x8 tiles makes more than 11 tiles"
    ):
        load(f"sheet:{tmp_path / 'odd.png'}?tile=8&ragged=drop")
    monkeypatch.undo()
    train, test = both(f"sheet:{tmp_path / 'odd.png'}?tile=8&ragged=drop")
    assert len(train) + len(test) == 10
    assert (
        "odd.png: 35x29 sheet, dropped its partial last row (5 px high) and column (3 px wide)"
        in train.notes
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("sheet:", "needs a path"),
        ("sheet:x.png", "needs its grid"),
        ("sheet:x.png?tile=0", "tile must be"),
        ("sheet:x.png?tile=8&ragged=keep", "ragged must be drop"),
        ("sheet:x.png?tile=8&size=3", "unknown sheet option 'size'"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises((ConfigError, DataError), match=message):
        parse_sheet_spec(spec)


def test_crawl_spec_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"apt-get install crawl-tiles-data") as info:
        crawl_tiles_spec(tmp_path)
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)


@pytest.mark.real_data
@pytest.mark.skipif(
    not (CRAWL_DIR / "feat.png").is_file(), reason="crawl-tiles-data is not installed"
)
def test_real_crawl_tiles() -> None:
    train, test = both(f"sheet:{CRAWL_DIR / 'feat.png'}?tile=32")
    assert train.shape == (4, 32, 32) and len(train) + len(test) == 586  # 608 cells, 22 empty
    # sprites with transparent surroundings
    assert (train.pixels[:, 3] < 255).flatten(1).any(1).sum() > 100
    with pytest.raises(
        DataError, match=r"main\.png: the sheet is 1024x1000, not a multiple of the tile 32x32"
    ):
        load(f"sheet:{CRAWL_DIR / 'main.png'}?tile=32")
    spec = crawl_tiles_spec()
    assert spec.startswith(f"sheet:{CRAWL_DIR}?tile=32&ragged=drop")
    crawl = both("crawl-tiles")
    assert sum(map(len, crawl)) == 5935 and len(crawl[1]) == round(0.2 * 5935)
    assert crawl[0].class_names == ["feat", "floor", "wall", "main", "player"]
