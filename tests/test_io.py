"""Crash-safe writes: whole files, nothing left behind, ordinary permissions."""

from __future__ import annotations

import os

import pytest

from aekit.errors import AekitError
from aekit.io import atomic_write_json, atomic_write_text, read_json


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
