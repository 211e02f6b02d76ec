"""Where aekit looks for data and keeps its cache.

Search order for a dataset folder: ``$AEKIT_DATA/<name>/``, then the user cache
``$AEKIT_CACHE`` (default ``~/.cache/aekit``) ``/<name>/``. The cache also holds generated
data (synthetic documents) and the small feature classifiers used for sample quality.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path | None:
    """The user's data folder from ``$AEKIT_DATA``, if set."""
    value = os.environ.get("AEKIT_DATA")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """aekit's cache folder (created on first use)."""
    value = os.environ.get("AEKIT_CACHE")
    root = Path(value).expanduser() if value else Path.home() / ".cache" / "aekit"
    root.mkdir(parents=True, exist_ok=True)
    return root


def candidate_dirs(name: str, extra: list[Path] | None = None) -> list[Path]:
    """Folders that may hold dataset ``name``, in search order."""
    dirs = []
    root = data_root()
    if root is not None:
        dirs.append(root / name)
    dirs.extend(extra or [])
    dirs.append(cache_dir() / name)
    return dirs
