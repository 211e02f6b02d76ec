"""Crash-safe file writing: every file appears whole or not at all.

Writers go to a temporary file in the same folder, fsync it, then ``os.replace`` it over
the target, so a crash (even SIGKILL) leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from aekit.errors import AekitError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask back: temp files start as 0600, the result should not


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


class StagedFolder:
    """Thousands of new files that appear in ``out`` together, or not at all.

    They are written straight into a hidden sibling folder (one directory entry each: half the
    file-system work of a temp file renamed per file, which made 10,000 small samples cost 0.4 s
    on 2 threads instead of 0.2), flushed with one ``sync``, and published when the block ends
    without an exception: the folder renamed to ``out`` when ``out`` is absent or empty, the files
    moved in one by one otherwise (``--overwrite``). On an exception the staging folder is removed
    and ``out`` is as it was. ``write`` is safe from several threads."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.stage = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"
        self.folders: set[Path] = set()
        self.lock = threading.Lock()

    def __enter__(self) -> StagedFolder:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.stage.mkdir()
        except OSError as exc:
            raise AekitError(f"cannot write here: {exc.strerror or exc}", self.out.parent) from None
        return self

    def write(self, relative: str | Path, data: bytes) -> None:
        """One new file at ``out/relative`` (created when the block ends)."""
        path = self.stage / relative
        with self.lock:
            if path.parent not in self.folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.folders.add(path.parent)
        try:
            # a new file (a repeated name is refused); the umask applies
            with open(path, "xb") as handle:
                handle.write(data)
        except OSError as exc:
            raise AekitError(
                f"could not write file ({_reason(exc)})", self.out / relative
            ) from None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return
        try:
            os.sync()  # the files' data on disk before any name points at them
            if self.out.is_dir() and not any(self.out.iterdir()):
                self.out.rmdir()
            if not self.out.exists():
                os.rename(self.stage, self.out)
            else:
                for path in sorted(p for p in self.stage.rglob("*") if not p.is_dir()):
                    target = self.out / path.relative_to(self.stage)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                shutil.rmtree(self.stage)
            _fsync_dir(self.out.parent)
        except OSError as exc:
            shutil.rmtree(self.stage, ignore_errors=True)
            raise AekitError(
                f"could not publish the written files ({exc.strerror or exc})", self.out
            ) from None


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning every failure into a one-line ``AekitError``."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AekitError("file not found", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AekitError(f"not valid JSON ({exc})", path) from None
    except OSError as exc:
        raise AekitError(f"cannot read file ({exc.strerror or exc})", path) from None


def _reason(exc: OSError) -> str:
    """Why a write failed, in words (a full disk named as such)."""
    return "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", sync: bool = True) -> Iterator[IO[Any]]:
    """Stream a large file (a CSV of millions of rows) to a temp file that replaces ``path`` only
    when the block ends without an exception: the same guarantee as ``atomic_write_bytes``,
    without holding the whole content in memory."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise AekitError(f"cannot write here: {exc.strerror or exc}", path.parent) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(
            fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})
        ) as handle:
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AekitError(
            f"could not write file ({_reason(exc)}); the previous version is intact", path
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync:
        _fsync_dir(path.parent)
