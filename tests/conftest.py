"""Suite-wide settings: tests never download, and never touch the user's cache; a real-data test
that skips while the real data is there fails the run."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["AEKIT_OFFLINE"] = "1"
# a scratch cache for this run (xdist workers inherit it), removed at its end
if "AEKIT_CACHE" not in os.environ:
    os.environ["AEKIT_CACHE"] = tempfile.mkdtemp(prefix="aekit-test-cache-")
    atexit.register(shutil.rmtree, os.environ["AEKIT_CACHE"], ignore_errors=True)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the same for the aekit processes that tests start

import torch

# One intra-op thread per xdist worker: on 2 cores, 2 workers x 2 threads oversubscribe the CPU
# and small models train many times slower (measured 40 s vs 7 s for one conv-VAE test).
torch.set_num_threads(1)

pytest_plugins = ["pytester"]  # tests/test_conftest.py runs this file's hook on small suites

# Read once at start-up: tests point AEKIT_DATA elsewhere with monkeypatch while they run.
REAL_DATA = os.environ.get("AEKIT_DATA")


def real_data_root() -> Path | None:
    """The real data folder the run was given (``AEKIT_DATA``, as CI sets it), when it exists and is
    not empty."""
    if not REAL_DATA:
        return None
    root = Path(REAL_DATA)
    return root if root.is_dir() and any(root.iterdir()) else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_data: reads real data (AEKIT_DATA, /usr/share/datasets, crawl tiles); "
        "skipping it while AEKIT_DATA points to existing data fails the run",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Turn the skip of a ``real_data`` test into a failure when the real data is there.

    Such a skip means the test looked in the wrong place (a path relative to the checkout, a
    renamed folder) and would otherwise pass CI silently without reading a byte of real data.
    Runs where the test runs, so it works in pytest-xdist workers too."""
    outcome = yield
    report = outcome.get_result()
    root = real_data_root()
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and root
        and item.get_closest_marker("real_data")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"real-data test skipped although AEKIT_DATA={root} exists: {reason}"
