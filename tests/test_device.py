"""aekit.device: the device choice and the CPU features every speed figure is quoted with."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aekit import device
from aekit.errors import TrainingError


def test_cpu_flags_names_exactly_the_speed_features_this_cpu_has():
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = device.cpu_flags()
    if not text:
        assert flags == "unknown"
        return
    present = set(text.split())
    expected = [f for f in device.CPU_FEATURES if f in present]
    assert flags == (" ".join(expected) or "none of " + "/".join(device.CPU_FEATURES))


def test_auto_is_the_cpu_here_and_a_missing_gpu_is_one_line():
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine")
    assert device.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(TrainingError, match="no CUDA GPU"):
        device.resolve_device("cuda")
    assert device.uses_bf16("bf16", torch.device("cpu")) and not device.uses_bf16("auto", torch.device("cpu"))
