"""Crash-safe file writing: every file appears whole or not at all.

Writers go to a temporary file in the same folder, fsync it, then ``os.replace`` it over
the target, so a crash (even SIGKILL) leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from aekit.errors import AekitError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask back: temp files start as 0600, the result should not


def atomic_write_bytes(path: str | Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename). ``sync=False`` skips the
    fsyncs (the file still appears whole or not at all if the process dies) for callers writing
    thousands of files, which call ``sync_written()`` once at the end instead."""
    if not sync:
        _write_unsynced(Path(path), data)
        return
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def _write_unsynced(path: Path, data: bytes) -> None:
    """A temp file named by process and thread (no mkstemp, no chmod: the umask applies) renamed
    over ``path``: 10,000 sample PNGs in 0.5 s on 2 threads instead of 1.9 s. The folder must exist."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise AekitError(f"could not write file ({reason})", path) from None


def sync_written() -> None:
    """Flush every file written with ``sync=False`` to disk: one system-wide sync instead of an
    fsync per file (10,000 sample PNGs: ~1 ms each with fsync here, vs one flush at the end)."""
    os.sync()


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
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise AekitError(f"could not write file ({reason}); the previous version is intact", path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync:
        _fsync_dir(path.parent)
