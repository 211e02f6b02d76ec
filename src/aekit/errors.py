"""aekit's own error type: one line that names the file and the problem.

The CLI prints ``AekitError`` messages without a traceback and exits with status 2,
so every check on user input raises this (or a subclass) with a self-contained message.
"""

from __future__ import annotations

from pathlib import Path


class AekitError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class DataError(AekitError):
    """A dataset file or folder is missing, corrupt or inconsistent."""


class ConfigError(AekitError):
    """A config file or option is invalid."""


class TrainingError(AekitError):
    """Training cannot go on (non-finite loss, locked run folder, ...)."""
