"""Loaders given arbitrary bytes either load or raise AekitError: never another exception."""

from __future__ import annotations

import gzip
import io
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aekit.data.decode import ImageOptions
from aekit.data.documents import load_pages
from aekit.data.folder import load_folder
from aekit.data.idx import read_idx
from aekit.data.sheets import load_sheets, parse_sheet_spec
from aekit.errors import AekitError

FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# Mostly well-formed headers with arbitrary dimensions and payloads, plus plain noise.
headers = st.builds(
    lambda code, dims, payload: (
        bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload
    ),
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), max_size=4),
    st.binary(max_size=300),
)
idx_contents = headers | st.binary(max_size=300)


@FUZZ
@given(content=idx_contents, compress=st.booleans(), cut=st.integers(0, 400))
def test_idx_reader(content: bytes, compress: bool, cut: int) -> None:
    data = gzip.compress(content, mtime=0) if compress else content
    data = data[: max(cut, len(data) // 2)] if cut < len(data) else data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.gz"
        path.write_bytes(data)
        try:
            array = read_idx(path)
        except AekitError:
            return
        assert array.ndim == content[3]


# A valid tiny PNG to mutate: realistic starting point for corrupt images.
def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()
image_bytes = st.binary(max_size=200) | st.builds(
    lambda at, junk: PNG[:at] + junk + PNG[at + len(junk) :],
    st.integers(0, len(PNG)),
    st.binary(min_size=1, max_size=8),
)


@FUZZ
@given(
    first=image_bytes,
    second=image_bytes,
    suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp"]),
    skip_bad=st.booleans(),
    resize=st.sampled_from(["stretch", "crop", "pad"]),
)
def test_folder_loader(
    first: bytes, second: bytes, suffix: str, skip_bad: bool, resize: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"a{suffix}").write_bytes(first)
        (Path(tmp) / "b.png").write_bytes(second)
        try:
            data = load_folder(Path(tmp), "train", ImageOptions((8, 6), None, resize), skip_bad)
        except AekitError:
            return
        assert data.pixels.dtype == np.uint8 and data.pixels.shape[1:] in (
            (c, 6, 8) for c in (1, 2, 3, 4)
        )
        assert len(data.pixels) == len(data.names) and (skip_bad or not data.skipped)


@FUZZ
@given(sheet=image_bytes, tile=st.integers(1, 9), ragged=st.booleans())
def test_sheet_loader(sheet: bytes, tile: int, ragged: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.png").write_bytes(sheet)
        spec = parse_sheet_spec(
            f"sheet:{tmp}/s.png?tile={tile}" + ("&ragged=drop" if ragged else "")
        )
        try:
            data = load_sheets(spec, "test", ImageOptions())
        except AekitError:
            return
        assert (
            data.pixels.dtype == np.uint8
            and data.pixels.shape[2:] == (tile, tile)
            and len(data.pixels) >= 1
        )


@FUZZ
@given(noisy=image_bytes, clean=image_bytes)
def test_document_loader(noisy: bytes, clean: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder, data in (("train", noisy), ("train_cleaned", clean), ("test", noisy)):
            (root / folder).mkdir()
            (root / folder / "1.png").write_bytes(data)
            (root / folder / "2.png").write_bytes(PNG)
        for split in ("train", "kaggle-test"):
            try:
                pages = load_pages(root, split)
            except AekitError:
                continue
            assert all(page.ndim == 3 and page.shape[0] == 1 for page in pages.noisy)
