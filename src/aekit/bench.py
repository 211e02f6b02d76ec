"""``aekit bench``: what a model costs on this machine, measured rather than guessed.

FLOPs are counted by ``torch.utils.flop_counter`` (matrix products and convolutions, which is
where the arithmetic is; element-wise ops are memory traffic, not FLOPs). Speeds are medians of
timed steps after a warm-up, so one stall from a neighbour process does not skew them, and the
achieved GFLOP/s is compared with a peak timed in the same process: a fraction of a peak
measured on a different day or machine would mean little. The peak is the best of a BLAS matrix
product and oneDNN convolutions (the kernels the models run): on a Zen 5 EPYC, fp32 ``torch.mm``
reached 220 GFLOP/s while a 3x3 convolution reached 540, so a matmul-only "peak" made every conv
model look 2.4x closer to the machine's limit than it was.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from aekit.config import TrainConfig
from aekit.data import load
from aekit.data.conditions import make_condition
from aekit.device import prepare_model
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.models.base import Autoencoder
from aekit.runs import load_model, read_run_config
from aekit.train import make_optimizer

PEAK_SIZE = 2048  # the matrix product's side; the convolutions scale with it (512 -> 128 channels)
MIN_SECONDS = 2.0  # timed seconds per measurement; more steps are timed if they are slow


def peak_gflops(
    dtype: torch.dtype = torch.float32, size: int | None = None, repeats: int = 3
) -> float:
    """The best GFLOP/s in ``dtype`` of a ``size x size`` matrix product and of 1x1 and 3x3
    convolutions (channels-last, ``size / 4`` and ``size / 16`` channels on 16x16 maps, batch 64),
    each the best of ``repeats`` after one warm-up."""
    size = size or PEAK_SIZE
    wide, narrow = max(8, size // 4), max(8, size // 16)
    mm = (torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype))
    maps = {
        k: torch.randn(64, c, 16, 16, dtype=dtype).contiguous(memory_format=torch.channels_last)
        for k, c in (("1x1", wide), ("3x3", narrow))
    }
    weights = {
        "1x1": torch.randn(wide, wide, 1, 1, dtype=dtype),
        "3x3": torch.randn(narrow, narrow, 3, 3, dtype=dtype),
    }
    kernels = [
        (lambda: torch.mm(*mm), 2 * size**3),
        (
            lambda: torch.nn.functional.conv2d(maps["1x1"], weights["1x1"]),
            2 * 64 * 256 * wide * wide,
        ),
        (
            lambda: torch.nn.functional.conv2d(maps["3x3"], weights["3x3"], padding=1),
            2 * 64 * 256 * narrow * narrow * 9,
        ),
    ]
    best = 0.0
    with torch.inference_mode():
        for run, flops in kernels:
            run()
            seconds = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                run()
                seconds = min(seconds, time.perf_counter() - start)
            best = max(best, flops / seconds / 1e9)
    return best


def count_flops(
    model: Autoencoder, x: torch.Tensor, condition: torch.Tensor | None = None
) -> dict[str, float]:
    """FLOPs per image: ``forward`` (the training loss), ``train`` (forward + backward),
    ``inference`` (``reconstruct``). Counted on the batch ``x`` and divided by its size."""
    model.train()
    with FlopCounterMode(display=False) as forward:
        loss = model.loss(x, condition=condition)["loss"]
    with FlopCounterMode(display=False) as backward:
        loss.backward()
    model.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as inference:
        model.reconstruct(x, condition)
    n = x.shape[0]
    fwd, bwd = forward.get_total_flops() / n, backward.get_total_flops() / n
    return {"forward": fwd, "train": fwd + bwd, "inference": inference.get_total_flops() / n}


def example_batch(
    model: Autoencoder, batch_size: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random images (and conditions for conditional models) of the model's input shape."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((batch_size, *model.input_shape), generator=gen)
    if not model.conditional:
        return x, None

    labels = torch.randint(0, model.num_classes or 1, (batch_size,), generator=gen)
    return x, make_condition(model.condition_kind, x, labels)


def bench_model(
    model: Autoencoder,
    input_shape: tuple[int, int, int],
    batch_size: int,
    *,
    min_seconds: float | None = None,
    min_steps: int = 5,
    warmup: int = 3,
    measured_peak: float | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Parameters, FLOPs per image, training and inference img/s, memory and fraction of peak.

    Training steps are the trainer's (its optimizer, batches already in memory); they update
    ``model``'s weights, so pass a throw-away model. ``precision = "bf16"`` times training and
    inference under bfloat16 autocast, against the bf16 peak.
    """
    if tuple(model.input_shape) != tuple(input_shape):
        raise AekitError(
            f"model expects input {tuple(model.input_shape)}, bench was given {tuple(input_shape)}"
        )
    min_seconds = MIN_SECONDS if min_seconds is None else min_seconds
    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model, *example_batch(model, 2))
    bf16 = precision == "bf16"
    peak = (
        peak_gflops(dtype=torch.bfloat16 if bf16 else torch.float32)
        if measured_peak is None
        else measured_peak
    )

    x, condition = example_batch(model, batch_size)
    model = prepare_model(model, torch.device("cpu"))
    optimizer = make_optimizer(TrainConfig(), model)
    model.train()

    def step(i: int) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(x, condition=condition, step=i)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rss_before = rss_kib()
    if not reset_peak_rss():  # no /proc: the process peak only says something if this run raised it
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train_times = _time_steps(step, warmup, min_steps, min_seconds)
    peak_rss = peak_rss_kib() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        infer_times = _time_steps(
            lambda i: model.reconstruct(x, condition), warmup, min_steps, min_seconds
        )
    train_ips = batch_size / statistics.median(train_times)
    infer_ips = batch_size / statistics.median(infer_times)
    achieved = flops["train"] * train_ips / 1e9
    return {
        "model": model.name,
        "input_shape": list(input_shape),
        "batch_size": batch_size,
        "precision": "bf16" if bf16 else "fp32",
        "threads": torch.get_num_threads(),
        "parameters": params,
        "mflops_forward": flops["forward"] / 1e6,
        "mflops_train": flops["train"] / 1e6,
        "mflops_inference": flops["inference"] / 1e6,
        "train_img_s": train_ips,
        "inference_img_s": infer_ips,
        "train_steps_timed": len(train_times),
        "peak_memory_mb": max(0, peak_rss - rss_before) / 1024,
        "peak_rss_mb": peak_rss / 1024,
        "achieved_gflops": achieved,
        "peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
    }


def bench_command(
    run_dir: str | Path | None = None,
    model: str | None = None,
    dataset: str | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """``aekit bench``: a run folder, or ``--model`` and ``--dataset``; prints the cost table.
    ``precision``: fp32 or bf16; by default a run's own (``auto`` is fp32 on the CPU), else fp32."""
    if run_dir is not None:
        if model is not None or dataset is not None:
            raise AekitError("give either a run folder or --model and --dataset, not both")

        info = read_run_config(run_dir)
        net, name, dataset = load_model(run_dir).train(), info.model, info.dataset
        batch_size = batch_size or info.train.batch_size
        precision = precision or info.train.precision
    else:
        if model is None or dataset is None:
            raise AekitError(
                "aekit bench needs a run folder, or both --model NAME and --dataset NAME"
            )
        name = model
    if batch_size is not None and batch_size < 1:
        raise AekitError(f"--batch-size must be at least 1, got {batch_size}")
    data = load(dataset, "train")
    if not hasattr(data, "images"):
        raise AekitError(f"aekit bench needs an image dataset; {dataset} holds document pages")
    if run_dir is None:
        torch.manual_seed(0)
        net = build_model(name, {}, data.shape, data.num_classes)
        batch_size = batch_size or TrainConfig().batch_size
    result = bench_model(net, tuple(net.input_shape), batch_size, precision=precision or "fp32")
    result.update(
        dataset=dataset, train_images=len(data), seconds_per_epoch=len(data) / result["train_img_s"]
    )
    print(format_bench(result))
    return result


def format_bench(r: dict[str, Any]) -> str:
    """The table ``aekit bench`` prints."""
    rows = [
        (
            "model",
            f"{r['model']}  input {'x'.join(map(str, r['input_shape']))}  batch "
            f"{r['batch_size']}  {r['precision']}",
        ),
        ("parameters", f"{r['parameters']:,}"),
        (
            "FLOPs per image",
            f"{r['mflops_forward']:.2f} M forward, {r['mflops_train']:.2f} M per trained image "
            f"(forward + backward), {r['mflops_inference']:.2f} M to reconstruct",
        ),
        ("training", f"{r['train_img_s']:,.0f} img/s"),
        ("inference", f"{r['inference_img_s']:,.0f} img/s"),
    ]
    if "seconds_per_epoch" in r:
        rows.append(
            (
                "epoch",
                f"{r['seconds_per_epoch']:.1f} s for the {r['train_images']:,} images of "
                f"{r['dataset']}",
            )
        )
    rows += [
        (
            "peak memory",
            f"{r['peak_memory_mb']:.0f} MB while training (process peak {r['peak_rss_mb']:.0f} MB)",
        ),
        (
            "arithmetic",
            f"{r['achieved_gflops']:.1f} GFLOP/s = {100 * r['fraction_of_peak']:.1f}% of the "
            f"{r['peak_gflops']:.0f} GFLOP/s {r['precision']} peak measured now (best of matmul "
            "and convolutions)",
        ),
        ("machine", f"{torch.get_num_threads()} threads, torch {torch.__version__}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _time_steps(step, warmup: int, min_steps: int, min_seconds: float) -> list[float]:
    """Seconds per call of ``step(i)``: ``warmup`` untimed calls, then at least ``min_steps`` and
    ``min_seconds`` of timed ones."""
    for i in range(warmup):
        step(i)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_steps or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        step(warmup + len(times))
        times.append(time.perf_counter() - t)
    return times


def _proc_status(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib() -> int:
    return _proc_status("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> bool:
    """Linux resets the process's peak-RSS mark when 5 is written to clear_refs."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def peak_rss_kib() -> int | None:
    return _proc_status("VmHWM")
