"""The decode cache: hits without decoding, rebuilds when files or options change, never trusts a
bad file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aekit.data.cache as cache_module
import aekit.data.folder as folder_module
from aekit.data import load
from aekit.data.cache import folder as cache_folder
from aekit.errors import DataError


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))


def make_folder(root: Path, n: int = 10) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
            root / f"{i:03d}.png"
        )
    return root


class DecodeCounter:
    """Counts the files decoded (the cache builds in this process for small folders)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.count = 0
        real = folder_module.decode_file

        def counting(path: Path, options: object) -> object:
            self.count += 1
            return real(path, options)

        monkeypatch.setattr(folder_module, "decode_file", counting)


def test_second_load_is_a_memory_mapped_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapped_file: Callable[[int], str]
) -> None:
    images = make_folder(tmp_path / "images")
    counter = DecodeCounter(monkeypatch)
    first = load(f"folder:{images}", image_size=8)
    assert counter.count == 10
    second = load(f"folder:{images}", image_size=8)
    test = load(f"folder:{images}", "test", image_size=8)
    assert counter.count == 10  # neither split decoded again
    assert torch.equal(first.pixels, second.pixels) and len(test) == 2
    # the rows are the cache file, not a copy
    assert mapped_file(second.pixels.data_ptr()).endswith(".u8")
    assert not list(cache_folder().glob("*.tmp"))


def test_rebuilt_when_a_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = make_folder(tmp_path / "images")
    before = load(f"folder:{images}", image_size=8)
    name = before.names[0]
    stat = (images / name).stat()
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(images / name)
    os.utime(images / name, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = load(f"folder:{images}", image_size=8)
    assert after.pixels[0].eq(0).all() and not before.pixels[0].eq(0).all()
    assert torch.equal(after.pixels[1:], before.pixels[1:])


def test_options_have_their_own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = make_folder(tmp_path / "images")
    counter = DecodeCounter(monkeypatch)
    assert load(f"folder:{images}", image_size=8).shape == (3, 8, 8)
    assert load(f"folder:{images}", image_size=8, resample="nearest").shape == (3, 8, 8)
    assert load(f"folder:{images}", image_size="6x4").shape == (3, 4, 6)
    assert counter.count == 30
    load(f"folder:{images}", image_size=8)
    assert counter.count == 30  # the first options are still cached


@pytest.mark.parametrize("damage", ["flip-bytes", "truncate", "bad-json", "no-rows"])
def test_damaged_cache_is_rebuilt_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    images = make_folder(tmp_path / "images")
    good = load(f"folder:{images}", image_size=8).pixels.clone()
    rows = next(cache_folder().glob("*.u8"))
    if damage == "flip-bytes":  # same size, different content: only the CRC can tell
        data = bytearray(rows.read_bytes())
        data[100:110] = bytes(255 - b for b in data[100:110])
        rows.write_bytes(bytes(data))
    elif damage == "truncate":
        rows.write_bytes(rows.read_bytes()[:-50])
    elif damage == "bad-json":
        rows.with_suffix(".json").write_text("{ half a file")
    else:
        rows.unlink()
    counter = DecodeCounter(monkeypatch)
    again = load(f"folder:{images}", image_size=8)
    assert counter.count == 10 and torch.equal(again.pixels, good)


def test_failed_build_leaves_no_cache(tmp_path: Path) -> None:
    images = make_folder(tmp_path / "images")
    (images / "zz.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="zz.png"):
        load(f"folder:{images}", image_size=8, channels=3)
    assert not list(cache_folder().iterdir())


def test_worker_processes_give_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_folder(tmp_path / "images", n=40)
    (images / "zz.png").write_bytes(b"broken")
    serial = load(f"folder:{images}", image_size=8, skip_bad=True)
    monkeypatch.setattr(folder_module, "TASK_FILES", 3)  # 14 tasks over the worker pool
    monkeypatch.setattr(folder_module.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "other-cache"))
    parallel = load(f"folder:{images}", image_size=8, skip_bad=True)
    assert torch.equal(serial.pixels, parallel.pixels) and serial.names == parallel.names
    test = load(f"folder:{images}", "test", image_size=8, skip_bad=True)
    assert parallel.skipped == serial.skipped and sorted(serial.skipped + test.skipped) == [
        "zz.png"
    ]
    assert len(serial) + len(test) == 40


def test_refuses_a_cache_the_disk_cannot_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = make_folder(tmp_path / "images")
    monkeypatch.setattr(
        cache_module.shutil,
        "disk_usage",
        lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 500, 500),
    )
    with pytest.raises(
        DataError, match=r"the decoded images need 0\.0 GB in the cache but 0\.0 GB are free"
    ):
        load(f"folder:{images}", image_size=8)
