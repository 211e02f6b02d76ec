"""``sheet:PATH?tile=32``: sprite sheets cut on a grid, one picture per non-empty tile.

``PATH`` is one sheet (no labels) or a folder of sheets (one class per sheet, named by its file
stem). Options after ``?``, joined by ``&``:
- ``tile=32`` or ``tile=32x48`` (width x height): the grid; required;
- ``ragged=drop``: a sheet whose size is not a multiple of the tile loses its partial last
  row/column (and says so in the notes) instead of being an error;
- ``sheets=feat.png,floor.png``: only these files of a folder.
Empty tiles (fully transparent, or one flat colour) are skipped. Each tile is named by its sheet,
row and column (``main.png:r3c17``) so it can be found again. A fixed seeded 80/20 split of the
tiles gives train and test. Tiles keep their own size unless ``image_size`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from aekit.data import cache
from aekit.data.decode import UNREADABLE, ImageOptions, Probe, decode, default_channels, probe
from aekit.data.folder import Decoded, is_image_file, parallel_map, seeded_split, split_of
from aekit.errors import AekitError, ConfigError, DataError
from aekit.image_options import parse_size
from aekit.images import open_image

CRAWL_DIR = Path("/usr/share/crawl/dat/tiles")
MAX_TILES = 1_000_000  # per sheet: a header's claimed size is checked before cutting
# the game sprites: ~5,900 non-empty 32x32 tiles
CRAWL_SHEETS = ("feat", "floor", "wall", "main", "player")


@dataclass(frozen=True)
class SheetSpec:
    path: Path
    tile: tuple[int, int]  # (width, height)
    drop_ragged: bool
    only: tuple[str, ...] | None  # file names chosen in a folder of sheets

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise DataError("sprite sheet not found", self.path)
        if self.only is not None:
            missing = [name for name in self.only if not (self.path / name).is_file()]
            if missing:
                raise DataError(f"sheet {missing[0]} not found in the folder", self.path)
            return [self.path / name for name in self.only]
        files = sorted(p for p in self.path.iterdir() if is_image_file(p))
        if not files:
            raise DataError("no sprite sheets (png/jpg/...) found", self.path)
        return files


def parse_sheet_spec(spec: str) -> SheetSpec:
    """``sheet:PATH?tile=32&ragged=drop&sheets=a.png,b.png`` -> a SheetSpec (one-line ConfigError if
    malformed)."""
    body = spec[len("sheet:") :] if spec.startswith("sheet:") else spec
    path, _, query = body.partition("?")
    if not path.strip():
        raise DataError("sheet: needs a path, as in sheet:/path/to/sheet.png?tile=32")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"tile", "ragged", "sheets"})
    if unknown:
        raise ConfigError(
            f"{spec}: unknown sheet option {unknown[0]!r}; known: tile, ragged, sheets"
        )
    if "tile" not in options:
        raise ConfigError(f"{spec}: a sheet needs its grid, as in ?tile=32 or ?tile=32x48")
    try:
        tile = parse_size(options["tile"])
    except ConfigError:
        raise ConfigError(f"{spec}: tile must be S or WxH, got {options['tile']!r}") from None
    assert tile is not None
    ragged = options.get("ragged", "error")
    if ragged not in ("error", "drop"):
        raise ConfigError(f"{spec}: ragged must be drop (or error, the default), got {ragged!r}")
    only = tuple(n for n in options["sheets"].split(",") if n) if "sheets" in options else None
    return SheetSpec(Path(path).expanduser(), tile, ragged == "drop", only)


def crawl_tiles_spec(root: Path = CRAWL_DIR) -> str:
    """The spec of Dungeon Crawl Stone Soup's game sprites (Debian's crawl-tiles-data, CC0)."""
    missing = [name for name in CRAWL_SHEETS if not (root / f"{name}.png").is_file()]
    if missing:
        raise DataError(
            f"the crawl tiles are not installed ({missing[0]}.png missing); apt-get install "
            "crawl-tiles-data",
            root,
        )
    return (
        f"sheet:{root}?tile=32&ragged=drop&sheets="
        f"{','.join(f'{name}.png' for name in CRAWL_SHEETS)}"
    )


@dataclass
class _Cut:
    pixels: np.ndarray  # K x C x h x w uint8
    names: list[str]
    empty: int
    notes: list[str]


def _cut_task(task: tuple[Path, tuple[int, int], bool, ImageOptions]) -> _Cut | str:
    path, tile, drop_ragged, options = task
    try:
        return cut_sheet(path, tile, drop_ragged, options)
    except AekitError as exc:
        return str(exc)


def grid_notes(
    path: Path, size: tuple[int, int], tile: tuple[int, int], drop_ragged: bool
) -> list[str]:
    """Check a sheet's size against the tile: one-line errors, or the note that a ragged edge is
    dropped."""
    (width, height), (tw, th) = size, tile
    if tw > width or th > height:
        raise DataError(f"the tile {tw}x{th} is larger than the sheet {width}x{height}", path)
    if (width // tw) * (height // th) > MAX_TILES:
        raise DataError(
            f"a {width}x{height} sheet cut into {tw}x{th} tiles makes more than {MAX_TILES:,} "
            "tiles; is the tile size right?",
            path,
        )
    if not (width % tw or height % th):
        return []
    if not drop_ragged:
        raise DataError(
            f"the sheet is {width}x{height}, not a multiple of the tile {tw}x{th}; "
            "add &ragged=drop to drop its partial last row/column",
            path,
        )
    parts = ([f"row ({height % th} px high)"] if height % th else []) + (
        [f"column ({width % tw} px wide)"] if width % tw else []
    )
    return [f"{path.name}: {width}x{height} sheet, dropped its partial last {' and '.join(parts)}"]


def cut_sheet(path: Path, tile: tuple[int, int], drop_ragged: bool, options: ImageOptions) -> _Cut:
    """The non-empty tiles of one sheet, each brought to ``options`` (size None: the tile's own
    size)."""
    tw, th = tile
    with open_image(path, UNREADABLE) as img:
        width, height = img.size
        notes = grid_notes(path, img.size, tile, drop_ragged)
        try:
            img.load()
            rgba = np.asarray(img.convert("RGBA"))
        except Exception as exc:  # truncated or malformed data surfaces only while decoding
            raise DataError(
                f"cannot decode image ({exc.__class__.__name__}: {exc})", path
            ) from None
        tiles, names, empty = [], [], 0
        for r in range(height // th):
            for c in range(width // tw):
                block = rgba[r * th : (r + 1) * th, c * tw : (c + 1) * tw]
                if not block[..., 3].any() or (block == block[0, 0]).all():
                    empty += 1
                    continue
                tiles.append(
                    decode(img.crop((c * tw, r * th, (c + 1) * tw, (r + 1) * th)), options)
                )
                names.append(f"{path.name}:r{r}c{c}")
    shape = (0, options.channels, *(options.size or tile)[::-1])
    return _Cut(np.stack(tiles) if tiles else np.zeros(shape, np.uint8), names, empty, notes)


def load_sheets(
    spec: SheetSpec, split: str, options: ImageOptions, skip_bad: bool = False
) -> Decoded:
    """One split of the tiles of a sheet or a folder of sheets (cached like a folder)."""
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r} for sprite sheets (train or test)", spec.path)
    files = spec.files()
    slot = cache.digest(
        [
            "sheet",
            str(spec.path.resolve()),
            spec.tile,
            spec.drop_ragged,
            spec.only,
            options.key(),
            skip_bad,
        ]
    )[:24]
    try:
        key = cache.digest(cache.fingerprint(files))
    except OSError as exc:
        raise DataError(
            f"cannot read file ({exc.strerror or exc})", exc.filename or spec.path
        ) from None
    cached = cache.open_cached(slot, key) or _build(spec, files, options, skip_bad, slot, key)
    return split_of(cached, split)


def _build(
    spec: SheetSpec, files: list[Path], options: ImageOptions, skip_bad: bool, slot: str, key: str
) -> cache.Cached:
    skipped: list[str] = []
    probes: list[Probe] = []
    for path in list(files):  # headers first: a wrong grid is the spec's fault, never skipped
        try:
            found = probe(path)
        except AekitError:
            if not skip_bad:
                raise
            skipped.append(path.name)
            files.remove(path)
            continue
        grid_notes(path, found.size, spec.tile, spec.drop_ragged)
        probes.append(found)
    if not probes:
        raise DataError("none of the sheets decodes", spec.path)
    if options.channels is None:
        options = replace(options, channels=default_channels(probes))
    cuts = parallel_map(_cut_task, [(path, spec.tile, spec.drop_ragged, options) for path in files])
    kept: list[tuple[Path, _Cut]] = []
    for path, cut in zip(files, cuts):
        if isinstance(cut, str):
            if not skip_bad:
                raise DataError(cut)
            skipped.append(path.name)
        else:
            kept.append((path, cut))
    found = sum(len(cut.names) for _, cut in kept)
    if found < 2:
        raise DataError(
            f"needs at least 2 non-empty tiles to hold out a test split, found {found}", spec.path
        )
    pixels = np.concatenate([cut.pixels for _, cut in kept])
    names = [n for _, cut in kept for n in cut.names]
    labels = np.concatenate([np.full(len(cut.names), i) for i, (_, cut) in enumerate(kept)])
    class_names = [path.stem for path, _ in kept] if spec.path.is_dir() else None
    train, test = seeded_split(len(names))
    order = train + test
    empty = sum(cut.empty for _, cut in kept)
    notes = [
        f"cut {len(names)} tiles {spec.tile[0]}x{spec.tile[1]} from {len(kept)} sheets; "
        f"skipped {empty} empty tiles (transparent or one flat colour)"
    ]
    notes += [note for _, cut in kept for note in cut.notes]
    if skipped:
        notes.append(f"skipped {len(skipped)} sheets that do not decode")
    meta = {
        "source": str(spec.path),
        "channels": options.channels,
        "splits": {"train": [0, len(train)], "test": [len(train), len(order)]},
        "labels": None if class_names is None else labels[order].tolist(),
        "class_names": class_names,
        "names": [names[i] for i in order],
        "notes": notes,
        # a sheet feeds both
        "skipped": [[split, name] for name in skipped for split in ("train", "test")],
        "empty_tiles": empty,
    }
    return cache.store(slot, key, pixels[order], meta)
