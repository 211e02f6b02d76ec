"""aekit.bench: FLOPs are counted exactly, and the cost table prints for a real model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from aekit import bench
from aekit.models.base import Autoencoder


@dataclass
class _Config:
    latent_dim: int = 4


class _OneConv(Autoencoder):
    """One 3x3 convolution (1 -> 4 channels, padding 1) then a 4 -> 1 linear map per pixel."""

    name = "one-conv"
    Config = _Config

    def __init__(self) -> None:
        super().__init__(_Config(), (1, 8, 8))
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.mix = nn.Linear(4, 1)

    def encode(self, x, condition=None):
        return self.conv(x)

    def decode(self, z, condition=None):
        return torch.sigmoid(self.mix(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))

    def loss(self, x, target=None, condition=None, step=0):
        return {"loss": F.mse_loss(self.reconstruct(x), x if target is None else target)}


def test_flops_match_hand_count() -> None:
    model = _OneConv()
    flops = bench.count_flops(model, torch.rand(3, 1, 8, 8))
    conv = 2 * 8 * 8 * 4 * 1 * 9  # per image: outputs x (in channels x kernel) multiply-adds
    mix = 2 * 8 * 8 * 4 * 1
    assert flops["forward"] == conv + mix
    assert flops["inference"] == conv + mix
    # backward: the linear map needs grad input and grad weight, the first conv only grad weight
    assert flops["train"] == (conv + mix) + (2 * mix + conv)


def test_bench_model_fields() -> None:
    result = bench.bench_model(_OneConv(), (1, 8, 8), 16, min_seconds=0.05, measured_peak=100.0)
    assert result["parameters"] == 4 * 9 + 4 + 4 + 1
    assert result["train_img_s"] > 0 and result["inference_img_s"] > 0
    assert result["fraction_of_peak"] == pytest.approx(result["achieved_gflops"] / 100.0)
    assert result["peak_memory_mb"] >= 0


def test_bench_command_prints_table(monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench, "PEAK_SIZE", 256)
    monkeypatch.setattr(bench, "MIN_SECONDS", 0.05)
    result = bench.bench_command(model="dense", dataset="digits", batch_size=32)
    out = capsys.readouterr().out
    for word in ("parameters", "FLOPs per image", "img/s", "s for the", "peak memory", "% of the"):
        assert word in out
    assert result["seconds_per_epoch"] == pytest.approx(
        result["train_images"] / result["train_img_s"]
    )
    assert result["mflops_train"] > result["mflops_forward"] > 0


def test_bench_in_bf16_is_measured_against_the_bf16_peak(monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench, "PEAK_SIZE", 256)
    monkeypatch.setattr(bench, "MIN_SECONDS", 0.05)
    result = bench.bench_command(model="conv", dataset="digits", batch_size=16, precision="bf16")
    assert result["precision"] == "bf16" and result["train_img_s"] > 0
    assert "bf16 peak measured now" in capsys.readouterr().out


def test_bench_command_needs_model_and_dataset() -> None:
    with pytest.raises(bench.AekitError):
        bench.bench_command(model="dense")
