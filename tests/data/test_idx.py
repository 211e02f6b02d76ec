"""The IDX reader on good and bad files, checksums and their stamp, locating and downloading."""

from __future__ import annotations

import gzip
import hashlib
import struct
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from aekit.data import idx
from aekit.errors import DataError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("AEKIT_OFFLINE", raising=False)


def idx_bytes(array: np.ndarray, code: int | None = None) -> bytes:
    codes = {
        np.dtype("u1"): 0x08,
        np.dtype("i1"): 0x09,
        np.dtype(">i2"): 0x0B,
        np.dtype(">i4"): 0x0C,
        np.dtype(">f4"): 0x0D,
        np.dtype(">f8"): 0x0E,
    }
    code = codes[array.dtype] if code is None else code
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path: Path, content: bytes, compress: bool = True, level: int = 9) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content, compresslevel=level, mtime=0) if compress else content)
    return path


IMAGES = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
LABELS = np.array([0, 1, 2, 1, 0], dtype=np.uint8)


@pytest.mark.parametrize(
    "array",
    [
        IMAGES,
        LABELS,
        np.arange(6, dtype=">i4").reshape(2, 3),
        np.linspace(0, 1, 4, dtype=">f4"),
        np.zeros((0, 2, 2), "u1"),
    ],
)
@pytest.mark.parametrize("compress", [True, False])
def test_reads_back_what_was_written(tmp_path: Path, array: np.ndarray, compress: bool) -> None:
    got = idx.read_idx(write(tmp_path / "a.idx", idx_bytes(array), compress))
    assert got.shape == array.shape and np.array_equal(got, array)


def assert_error(path: Path, fragment: str) -> None:
    with pytest.raises(DataError) as info:
        idx.read_idx(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(
        idx_bytes(np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8))
    )
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    assert_error(path, "truncated or corrupt gzip")


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(idx_bytes(IMAGES)))
    data[12:20] = b"\xff" * 8
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(data))
    assert_error(path, "gzip")


def test_wrong_magic(tmp_path: Path) -> None:
    path = write(tmp_path / "m.gz", b"\x12\x34" + idx_bytes(LABELS)[2:])
    assert_error(path, "not an IDX file")


def test_wrong_dtype_code(tmp_path: Path) -> None:
    assert_error(write(tmp_path / "d.gz", idx_bytes(LABELS, code=0x07)), "data type code 0x07")


def test_zero_dimensions(tmp_path: Path) -> None:
    assert_error(write(tmp_path / "z.gz", b"\x00\x00\x08\x00"), "0 dimensions")


@pytest.mark.parametrize("extra", [-3, 4])
def test_header_disagrees_with_payload(tmp_path: Path, extra: int) -> None:
    content = idx_bytes(IMAGES)
    content = content[:extra] if extra < 0 else content + b"\x00" * extra
    assert_error(write(tmp_path / "n.gz", content), "header says 5 x 4 x 3")


@pytest.mark.parametrize("compress", [True, False])
def test_huge_header_rejected_before_allocating(tmp_path: Path, compress: bool) -> None:
    # 10^15 bytes claimed
    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 4_000_000_000, 1000, 250)
    path = write(tmp_path / "huge", header + b"\x00" * 100, compress)
    start = time.perf_counter()
    assert_error(path, "far smaller")
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("content", [b"", b"\x00\x00", b"\x00\x00\x08\x03\x00\x00"])
def test_file_ends_inside_header(tmp_path: Path, content: bytes) -> None:
    assert_error(write(tmp_path / "short", content, compress=False), "file ends inside")


def test_missing_file(tmp_path: Path) -> None:
    assert_error(tmp_path / "nope.gz", "file not found")


# --- a tiny source exercising checksums, locating, downloading ----------------------------------
def tiny_source(files: dict[str, bytes], mirrors: tuple[str, ...] = ()) -> idx.IdxSource:
    digests = {
        name: frozenset({"md5:" + hashlib.md5(data).hexdigest()}) for name, data in files.items()
    }
    names = list(files)
    return idx.IdxSource(
        name="tiny",
        description="test data",
        splits={"train": (names[0], names[1])},
        digests=digests,
        mirrors=mirrors,
        class_names=("a", "b", "c"),
    )


def tiny_files(images: np.ndarray = IMAGES, labels: np.ndarray = LABELS) -> dict[str, bytes]:
    return {
        "imgs.gz": gzip.compress(idx_bytes(images), mtime=0),
        "labels.gz": gzip.compress(idx_bytes(labels), mtime=0),
    }


def put(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def test_load_split_verifies_and_reads(tmp_path: Path) -> None:
    files = tiny_files()
    source = tiny_source(files)
    put(tmp_path / "data" / "tiny", files)
    images, labels, folder = idx.load_idx_split(source, "train")
    assert folder == tmp_path / "data" / "tiny"
    assert (
        np.array_equal(images, IMAGES)
        and labels.dtype == np.int64
        and labels.tolist() == LABELS.tolist()
    )


def test_count_mismatch_names_the_label_file(tmp_path: Path) -> None:
    files = tiny_files(labels=LABELS[:4])
    put(tmp_path / "data" / "tiny", files)
    with pytest.raises(DataError, match=r"labels\.gz: 4 labels for 5 images"):
        idx.load_idx_split(tiny_source(files), "train")


def test_label_out_of_range(tmp_path: Path) -> None:
    files = tiny_files(labels=np.array([0, 1, 2, 7, 0], np.uint8))
    put(tmp_path / "data" / "tiny", files)
    with pytest.raises(DataError, match="label 7 out of range"):
        idx.load_idx_split(tiny_source(files), "train")


def test_checksum_rejects_other_content(tmp_path: Path) -> None:
    source = tiny_source(tiny_files())
    put(tmp_path / "data" / "tiny", tiny_files(images=IMAGES[::-1].copy()))
    with pytest.raises(DataError, match=r"imgs\.gz: checksum mismatch"):
        idx.load_idx_split(source, "train")


def test_checksum_accepts_recompressed_content_by_sha256(tmp_path: Path) -> None:
    """Debian's case: other .gz bytes, same decompressed content."""
    content = idx_bytes(IMAGES)
    path = write(tmp_path / "imgs.gz", content, level=1)
    accepted = frozenset({"md5:" + "0" * 32, "raw-sha256:" + hashlib.sha256(content).hexdigest()})
    _, raw, decompressed = idx._read_idx(path)
    idx.verify(path, raw, decompressed, accepted)
    with pytest.raises(DataError, match="checksum mismatch"):
        idx.verify(path, raw, decompressed, frozenset({"raw-sha256:" + "0" * 64}))


def test_verification_is_remembered_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = idx_bytes(LABELS)
    path = write(tmp_path / "l.gz", content)
    good = frozenset({"md5:" + hashlib.md5(path.read_bytes()).hexdigest()})
    _, raw, decompressed = idx._read_idx(path)
    idx.verify(path, raw, decompressed, good)
    assert (tmp_path / "cache" / idx.STAMP_FILE).is_file()
    with monkeypatch.context() as patched:
        patched.setattr(idx.hashlib, "md5", None)  # remembered: no hashing at all
        idx.verify(path, raw, decompressed, good)
    # the stamp names the digest it matched
    with pytest.raises(DataError, match="checksum mismatch"):
        idx.verify(path, raw, decompressed, frozenset({"md5:" + "0" * 32}))
    write(path, content + b"\x00")  # another size: the stamp no longer applies
    with pytest.raises(DataError, match="checksum mismatch"):
        idx.verify(path, path.read_bytes(), content + b"\x00", good)


@pytest.mark.real_data
def test_official_checksums_of_real_files() -> None:
    """Every real file on this machine matches one of its accepted digests."""
    checked = 0
    for source in idx.SOURCES.values():
        for folder in [
            *source.extra_dirs,
            Path(__file__).parents[3] / "shared" / "data" / source.name,
        ]:
            for name in source.files:
                if (folder / name).is_file():
                    _, raw, content = idx._read_idx(folder / name)
                    idx.verify(folder / name, raw, content, source.digests[name])
                    checked += 1
    if not checked:
        pytest.skip("no real MNIST or Fashion-MNIST files here")


def test_download_from_file_mirror(tmp_path: Path) -> None:
    files = tiny_files()
    put(tmp_path / "mirror", files)
    source = tiny_source(
        files, mirrors=((tmp_path / "missing").as_uri() + "/", (tmp_path / "mirror").as_uri() + "/")
    )
    images, labels, folder = idx.load_idx_split(source, "train")
    assert folder == tmp_path / "cache" / "tiny"
    assert (folder / "imgs.gz").read_bytes() == files["imgs.gz"]
    assert np.array_equal(images, IMAGES)


def test_download_with_bad_checksum_leaves_nothing(tmp_path: Path) -> None:
    files = tiny_files()
    put(tmp_path / "mirror", tiny_files(images=IMAGES + 1))
    source = tiny_source(files, mirrors=((tmp_path / "mirror").as_uri() + "/",))
    with pytest.raises(DataError, match="checksum mismatch"):
        idx.load_idx_split(source, "train")
    assert not (tmp_path / "cache" / "tiny" / "imgs.gz").exists()


def test_offline_error_says_where_to_put_the_files(tmp_path: Path) -> None:
    calls = []

    def offline(url: str, timeout: float) -> None:
        calls.append(url)
        raise urllib.error.URLError("no network")

    with pytest.raises(DataError) as info:
        idx.find_or_download(idx.MNIST, "train", opener=offline)
    message = str(info.value)
    assert calls and all(url.startswith(("http://", "https://")) for url in calls)
    expected = ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "no network"]
    expected += [str(tmp_path / "data" / "mnist"), str(tmp_path / "cache" / "mnist")]
    assert all(text in message for text in expected)
    assert "\n" not in message


def test_aekit_offline_disables_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEKIT_OFFLINE", "1")

    def never(url: str, timeout: float) -> None:
        raise AssertionError("must not be called")

    with pytest.raises(DataError, match="disabled by AEKIT_OFFLINE"):
        idx.find_or_download(idx.MNIST, "test", opener=never)
