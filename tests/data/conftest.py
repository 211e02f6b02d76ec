"""Helpers shared by the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def _mapped_file(address: int) -> str:
    """The file mapped at ``address`` in this process ('' for anonymous memory)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end:
            return fields[5] if len(fields) == 6 else ""
    return ""


@pytest.fixture
def mapped_file() -> Callable[[int], str]:
    """Which file backs a tensor's memory: the cache's rows are a memory map, not a copy."""
    return _mapped_file
