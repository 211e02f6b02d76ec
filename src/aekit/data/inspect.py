"""``aekit datasets --inspect SPEC``: what is in a dataset before training on it.

Counts, the sizes and modes of the files, classes, how many images use transparency, exact
duplicates (same decoded pixels) and what loading changed or skipped. Files that do not decode
are listed, not fatal: inspecting is how a user finds them.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from aekit.data.datasets import ImageSet, load
from aekit.data.decode import UNREADABLE, ImageOptions, decode
from aekit.data.documents import natural_key
from aekit.data.folder import both_splits, chunks, parallel_map
from aekit.data.sheets import parse_sheet_spec
from aekit.errors import AekitError, DataError
from aekit.images import open_image

SHOWN = 5  # duplicate groups and skipped files listed by name


def _native(paths: list[Path]) -> list[tuple[str, tuple[int, int], bool, str] | None]:
    """Per file: mode, size, whether any pixel is not opaque, hash of the decoded RGBA pixels (None:
    bad)."""
    found: list[tuple[str, tuple[int, int], bool, str] | None] = []
    for path in paths:
        try:
            with open_image(path, UNREADABLE) as img:
                mode, size = img.mode, img.size
                rgba = decode(img, ImageOptions(None, 4))
        except (AekitError, OSError, ValueError, SyntaxError):  # counted as skipped by load() below
            found.append(None)
            continue
        digest = hashlib.sha1(rgba.tobytes() + str(rgba.shape).encode()).hexdigest()
        found.append((mode, size, bool((rgba[-1] < 255).any()), digest))
    return found


def _counted(counter: Counter, unit: str = "") -> str:
    return ", ".join(
        f"{key}{unit} ({n})" for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _duplicates(hashes: list[str], names: list[str]) -> list[str]:
    groups: dict[str, list[str]] = defaultdict(list)
    for digest, name in zip(hashes, names):
        groups[digest].append(name)
    repeated = sorted(
        (sorted(g, key=natural_key) for g in groups.values() if len(g) > 1),
        key=lambda g: natural_key(g[0]),
    )
    if not repeated:
        return ["exact duplicates: none"]
    lines = [f"exact duplicates: {len(repeated)} groups, {sum(len(g) for g in repeated)} images"]
    lines += [f"  {' = '.join(group)}" for group in repeated[:SHOWN]]
    if len(repeated) > SHOWN:
        lines.append(f"  ... and {len(repeated) - SHOWN} more groups")
    return lines


def _row_hashes(data: ImageSet) -> list[str]:
    pixels = data.pixels.numpy()
    return [hashlib.sha1(np.ascontiguousarray(row).tobytes()).hexdigest() for row in pixels]


def inspect_dataset(spec: str) -> str:
    """A short report on a dataset (registered name, folder:PATH or sheet:PATH?tile=S)."""
    train, test = load(spec, "train", skip_bad=True), load(spec, "test", skip_bad=True)
    if not isinstance(train, ImageSet) or not isinstance(test, ImageSet):
        raise DataError(f"{spec}: --inspect describes image datasets; {spec} holds document pages")
    c, h, w = train.shape
    names = (train.names or [f"train[{i}]" for i in range(len(train))]) + (
        test.names or [f"test[{i}]" for i in range(len(test))]
    )
    lines = [
        spec,
        f"images: {len(train) + len(test)} (train {len(train)} / test {len(test)}), "
        f"loaded as {c} x {h} x {w} {str(train.pixels.dtype).replace('torch.', '')}",
    ]
    if spec.startswith("folder:"):
        files, _, _ = both_splits(Path(spec[len("folder:") :]).expanduser())
        native = [r for chunk in parallel_map(_native, chunks(files)) for r in chunk]
        good = [r for r in native if r is not None]
        lines.append(f"sizes seen: {_counted(Counter(f'{s[0]}x{s[1]}' for _, s, _, _ in good))}")
        lines.append(f"modes seen: {_counted(Counter(m for m, _, _, _ in good))}")
        transparent = sum(1 for _, _, alpha, _ in good if alpha)
        hashes, hashed_names = (
            [r[3] for r in good],
            [str(f) for f, r in zip(files, native) if r is not None],
        )
        root = Path(spec[len("folder:") :]).expanduser()
        hashed_names = [str(Path(n).relative_to(root)) for n in hashed_names]
    else:
        if spec.startswith("sheet:"):
            sheet = parse_sheet_spec(spec)
            files = sheet.files()
            sheets = []
            for path in files:
                with open_image(path, UNREADABLE) as img:
                    sheets.append(f"{path.name} {img.size[0]}x{img.size[1]} {img.mode}")
            lines.append(f"sheets: {', '.join(sheets)}")
        opaque = 255 if train.pixels.dtype == torch.uint8 else 1.0
        see_through = [
            int((d.pixels[:, -1] < opaque).flatten(1).any(1).sum()) for d in (train, test)
        ]
        transparent = sum(see_through) if c in (2, 4) else 0
        hashes, hashed_names = _row_hashes(train) + _row_hashes(test), names
    if train.class_names:
        counts = Counter(train.labels.tolist() + test.labels.tolist())
        lines.append(
            "classes: "
            + ", ".join(f"{name} {counts[i]}" for i, name in enumerate(train.class_names))
        )
    else:
        lines.append("classes: none (no labels)")
    lines.append(
        f"transparency: {transparent} images use it"
        + ("" if c in (2, 4) else f" (loaded without alpha: {c} channels)")
    )
    lines += _duplicates(hashes, hashed_names)
    lines += [f"note: {note}" for note in train.notes]
    skipped = sorted(set(train.skipped + test.skipped))
    if skipped:
        shown = ", ".join(skipped[:SHOWN]) + (
            f", ... and {len(skipped) - SHOWN} more" if len(skipped) > SHOWN else ""
        )
        lines.append(f"skipped (do not decode): {len(skipped)}: {shown}")
    return "\n".join(lines)
