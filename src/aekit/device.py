"""Where and how models run: the device, the training arithmetic and the CPU speed settings.

Kept apart from the loop so evaluation, benchmarks and commands that apply a model run it the
same way training does (see benchmarks/README.md for the measurements behind each setting).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch
from torch import nn

from aekit.config import DEVICE_NAME
from aekit.errors import ConfigError, TrainingError

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; an unknown name or a missing CUDA device is a
    one-line error."""
    if not DEVICE_NAME.match(name):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(
                f"device {name!r} was requested but no CUDA GPU is available here; use --device "
                "cpu or auto"
            )
        index = torch.device(name).index or 0
        if index >= torch.cuda.device_count():
            raise TrainingError(
                f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} "
                "CUDA device(s)"
            )
    return torch.device(name)


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Speed settings that keep the maths: on CPU, convolution weights in channels-last, oneDNN's
    fast layout (activations follow), and freed memory kept for reuse."""
    if device.type != "cpu":
        return model
    keep_freed_memory()
    if any(p.dim() == 4 for p in model.parameters()):
        model = model.to(memory_format=torch.channels_last)
    return model


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether the training forward runs under bfloat16 autocast (weights, gradients and the
    optimizer stay float32): by default on CUDA only; ``precision = "bf16"`` on CPUs too."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively (a CUDA GPU that supports it; a CPU with
    AVX-512 BF16 or AMX), where bf16 inference is faster than float32 instead of emulated."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return any(flag in cpu_flags().split() for flag in NATIVE_BF16_FLAGS)


def cpu_flags() -> str:
    """The CPU features that decide speed on the CPU (AVX2, AVX-512, its BF16 instructions, AMX), as
    /proc/cpuinfo names them: every speed figure is quoted with them."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    return " ".join(f for f in CPU_FEATURES if f in flags) or "none of " + "/".join(CPU_FEATURES)


def keep_freed_memory() -> None:
    """Stop glibc from handing freed activation buffers (tens of MB) back to the OS after every
    batch: re-faulting them cost ~37,000 page faults and a third of a tutorial-dae step."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # blocks up to 32 MB (glibc's maximum) come from the heap
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # and the heap is not trimmed below 1 GB of free space
