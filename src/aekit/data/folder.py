"""``folder:PATH``: any folder of images becomes a labelled (or unlabelled) image set.

Layouts, checked in this order:
- ``PATH/train/`` and ``PATH/test/``: the user's own split; each is read as below;
- ``PATH/<class>/...``: one sub-folder per class, labels from the sorted folder names;
- ``PATH/*.png``: loose images, no labels.
Without ``train/``+``test/`` a fixed seeded 20% of the files is the test split.
Every image is resized (stretched) to ``image_size`` squared; transparent pixels are laid on
white; 16-bit images keep their full range. ``channels`` defaults to 1 when every image in the
folder is grayscale, else 3, decided over the whole folder so both splits agree.
Files with other extensions and hidden files are skipped; an image that does not decode is an
error naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from aekit.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
DEFAULT_IMAGE_SIZE = 64
TEST_FRACTION = 0.2
SPLIT_SEED = 0
GRAY_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"}
HIGH_DEPTH_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}


def is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _images_under(folder: Path) -> list[Path]:
    found = [p for p in folder.rglob("*") if is_image_file(p)]
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(folder).parts))


def scan_folder(folder: Path) -> tuple[list[Path], list[str | None]]:
    """Image files and their class folder names (None for loose images), in a stable order."""
    if not folder.is_dir():
        raise DataError("image folder not found", folder)
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise DataError(f"cannot list folder ({exc.strerror or exc})", folder) from None
    loose = [p for p in entries if is_image_file(p)]
    classes = {p.name: _images_under(p) for p in entries if p.is_dir() and not p.name.startswith(".")}
    classes = {name: files for name, files in classes.items() if files}
    if loose and classes:
        raise DataError(
            f"mixes loose images ({loose[0].name}, ...) with class sub-folders ({', '.join(classes)}); "
            "put every image in a class folder, or none",
            folder,
        )
    if not loose and not classes:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found", folder)
    if loose:
        return loose, [None] * len(loose)
    files = [f for name in sorted(classes) for f in classes[name]]
    names = [name for name in sorted(classes) for _ in classes[name]]
    return files, names


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except Exception as exc:  # Pillow raises many types on bad bytes; all mean "not an image"
        raise DataError(f"cannot read image ({exc.__class__.__name__}: {exc})", path) from None


def is_grayscale(path: Path) -> bool:
    """Whether the file holds a grayscale image, judged from its header (mode and palette)."""
    with _open(path) as img:
        if img.mode in GRAY_MODES:
            return True
        if img.mode in ("P", "PA"):
            palette = img.getpalette() or []
            return all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))
        return False


def read_image(path: Path, channels: int, size: int | tuple[int, int] | None) -> np.ndarray:
    """One image as float32 ``channels x H x W`` in [0, 1], resized to ``size`` (w, h) when given."""
    target = (size, size) if isinstance(size, int) else size
    with _open(path) as img:
        try:
            pixels = _decode(img, channels, target)
        except Exception as exc:  # truncated or malformed data surfaces only while decoding
            raise DataError(f"cannot decode image ({exc.__class__.__name__}: {exc})", path) from None
    return pixels


def _decode(img: Image.Image, channels: int, target: tuple[int, int] | None) -> np.ndarray:
    if target is not None:
        img.draft("L" if channels == 1 else "RGB", target)  # JPEG: decode at reduced scale (fast)
    if img.mode in HIGH_DEPTH_MODES:
        scale = 1.0 if img.mode == "F" else 65535.0
        img = Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) / scale, 0.0, 1.0))
        if target is not None and img.size != target:
            img = img.resize(target, Image.Resampling.BILINEAR)
        gray = np.asarray(img, dtype=np.float32)[None]
        return np.repeat(gray, channels, axis=0) if channels == 3 else gray
    if img.mode in ("RGBA", "LA", "La", "PA", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    img = img.convert("L" if channels == 1 else "RGB")
    if target is not None and img.size != target:
        img = img.resize(target, Image.Resampling.BILINEAR)
    array = np.asarray(img, dtype=np.float32) / 255.0
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _split_files(folder: Path, split: str) -> tuple[list[Path], list[str | None], list[Path], list[str]]:
    """(files of ``split``, their class names, every file of the folder, every class name)."""
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        scans = {part: scan_folder(folder / part) for part in ("train", "test")}
        every = scans["train"][0] + scans["test"][0]
        classes = sorted({n for _, names in scans.values() for n in names if n is not None})
        return *scans[split], every, classes
    files, names = scan_folder(folder)
    if len(files) < 2:
        raise DataError("needs at least 2 images to hold out a test split", folder)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(files))
    n_test = max(1, round(TEST_FRACTION * len(files)))
    chosen = sorted(order[:n_test] if split == "test" else order[n_test:])
    classes = sorted({n for n in names if n is not None})
    return [files[i] for i in chosen], [names[i] for i in chosen], files, classes


def load_folder(
    folder: Path, split: str, image_size: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """``(images N x C x S x S float32, labels or None, class names or None)`` of one split."""
    folder = Path(folder).expanduser()
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r} for an image folder (train or test)", folder)
    files, names, every, class_names = _split_files(folder, split)
    size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    if channels is None:
        channels = 1 if all(is_grayscale(p) for p in every) else 3
    images = np.stack([read_image(p, channels, size) for p in files])
    if not class_names:
        return images, None, None
    if None in names:
        raise DataError(f"the {split} split has loose images but the other split has class folders", folder)
    index = {name: i for i, name in enumerate(class_names)}
    return images, np.array([index[n] for n in names], dtype=np.int64), class_names
