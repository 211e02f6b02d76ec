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
    assert device.uses_bf16("bf16", torch.device("cpu")) and not device.uses_bf16(
        "auto", torch.device("cpu")
    )


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("avx2 avx512f avx512_bf16", True),
        ("avx2 amx_bf16 amx_tile", True),
        ("avx2 avx512f", False),
        ("unknown", False),
    ],
)
def test_native_bf16_follows_the_cpu_features(monkeypatch, flags, native):
    monkeypatch.setattr(device, "cpu_flags", lambda: flags)
    assert device.native_bf16(torch.device("cpu")) is native


def test_sample_precision_auto_decodes_in_bf16_only_where_native(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from aekit.commands import generate

    # the model capabilities sample asks for, and parameters on a device
    class StandIn(torch.nn.Linear):
        condition_kind = None

    seen = []
    monkeypatch.setattr(
        generate,
        "Run",
        lambda run_dir, device: SimpleNamespace(
            model=StandIn(1, 1), pages=False, code_source=lambda name, temperature: None
        ),
    )
    monkeypatch.setattr(
        generate, "sample_command", lambda model, out, n, **kw: seen.append(kw["bf16"]) or []
    )
    for flags in ("avx512_bf16", "avx2"):
        monkeypatch.setattr(device, "cpu_flags", lambda flags=flags: flags)
        generate.sample("run", tmp_path / "out", 4)
    generate.sample("run", tmp_path / "out", 4, precision="fp32")
    generate.sample("run", tmp_path / "out", 4, precision="bf16")
    assert seen == [True, False, False, True]
