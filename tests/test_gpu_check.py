"""scripts/gpu_check.sh parses, and on a machine without CUDA says so and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


def test_gpu_check_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_gpu_check_without_cuda_runs_nothing_and_exits_0(tmp_path):
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "CUDA_VISIBLE_DEVICES": "",
        "GPU_CHECK_OUT": str(tmp_path / "runs"),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT)], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no CUDA device: nothing run"
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written


def test_gpu_check_fails_when_torch_is_missing(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        check=False,
        env={**os.environ, "PYTHON": str(fake)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "cannot import torch" in done.stderr
