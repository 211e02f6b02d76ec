"""Crash-safe writes: whole files, nothing left behind, ordinary permissions."""

from __future__ import annotations

import os

import pytest

from aekit.errors import AekitError
from aekit.io import StagedFolder, atomic_write_json, atomic_write_text, read_json


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert read_json(target) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_written_files_follow_the_umask_not_the_temp_file_mode(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "report.html"
    atomic_write_text(path, "<html></html>")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_unwritable_folder_is_aekit_error_naming_it(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(AekitError, match="file"):
        atomic_write_text(blocked / "out.txt", "y")


def test_staged_folder_publishes_all_files_at_the_end(tmp_path):
    out = tmp_path / "samples"
    with StagedFolder(out) as folder:
        folder.write("a.png", b"1")
        folder.write("sub/b.png", b"22")
        assert not out.exists()  # nothing visible before the block ends
    assert (out / "a.png").read_bytes() == b"1" and (out / "sub" / "b.png").read_bytes() == b"22"
    assert [p.name for p in tmp_path.iterdir()] == ["samples"]  # the staging folder is gone


def test_staged_folder_into_an_empty_or_a_full_folder(tmp_path):
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (full / "old.png").write_bytes(b"old")
    (full / "a.png").write_bytes(b"old")
    for out in (empty, full):
        with StagedFolder(out) as folder:
            folder.write("a.png", b"new")
    assert sorted(p.name for p in empty.iterdir()) == ["a.png"]
    assert (full / "a.png").read_bytes() == b"new" and (full / "old.png").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]


def test_staged_folder_leaves_nothing_after_an_error(tmp_path):
    out = tmp_path / "samples"
    with pytest.raises(RuntimeError), StagedFolder(out) as folder:
        folder.write("a.png", b"1")
        raise RuntimeError("decoding failed")
    assert list(tmp_path.iterdir()) == []
    with StagedFolder(out) as folder:
        folder.write("a.png", b"1")
    with pytest.raises(AekitError, match="a.png"), StagedFolder(out) as folder:
        folder.write("a.png", b"1")
        folder.write("a.png", b"2")  # the same name twice: refused, not overwritten in place
    assert (out / "a.png").read_bytes() == b"1" and sorted(p.name for p in tmp_path.iterdir()) == [
        "samples"
    ]
