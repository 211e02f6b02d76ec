"""Training speed: aekit's trainer against a plain eager-PyTorch reference, side by side.

For each model, every path starts from the same initial weights and trains on the same batches
in the same order with the same noise (salt-and-pepper, binarisation, the VAE's sampling), each
in its own process; they take turns in chunks (the order rotates) so that a busy neighbour
slows all alike, and the median chunk speed is reported. The reference is what a careful user
would write first: the architecture layer by layer (for the tutorial's denoiser: ReLU then
pooling, upsampling then convolution), NCHW tensors, a DataLoader over a TensorDataset,
``torch.optim.Adam`` with its defaults. aekit runs its trainer in float32 and, as a second path,
with ``precision = "bf16"`` (bfloat16 autocast). The loss after the same number of steps must
agree within noise: speed must not change the maths.

    python benchmarks/speed.py            # about 8 minutes on 2 cores
    python benchmarks/speed.py --quick    # about 4 minutes
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from aekit import bench
from aekit.config import TrainConfig
from aekit.data.noise import SaltPepper
from aekit.device import cpu_flags, keep_freed_memory
from aekit.io import atomic_write_json
from aekit.models import build_model, kernels
from aekit.models.tutorial import TutorialDAE

RESULTS = Path(__file__).resolve().parent / "results" / "speed.json"
EPOCH_IMAGES = 60_000
BATCH = 128  # the tutorial's batch size (examples/*.toml)
PATHS = ("reference", "aekit", "aekit-bf16")
# (model, options, denoising): the tutorial trains its DAE on 10% salt-and-pepper noise
CASES = [
    ("tutorial-dae", {}, True),
    ("tutorial-vae-conv", {}, False),
    ("conv-vae", {"latent_dim": 32}, False),
    ("vae", {}, False),
]


def load_images(n: int) -> tuple[torch.Tensor, str]:
    """The first ``n`` MNIST training images when present here, else random 28x28 images."""
    from aekit.data import load
    from aekit.errors import AekitError

    try:
        images = load("mnist", "train").images[:n]
        return images.contiguous(), "mnist"
    except AekitError:
        return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)), "random 28x28"


class PlainTutorialDAE(TutorialDAE):
    """The tutorial's denoiser as the tutorial writes it: conv, ReLU, pool; conv, ReLU, upsample,
    ..., then the output conv on the upsampled map. aekit's module computes the same function
    with fused layers (``aekit.models.kernels``); the parameters are the same."""

    def encode(self, x, condition=None):
        for layer in self.enc:
            x = torch.nn.functional.max_pool2d(layer(x), 2, ceil_mode=True)
        return x.flatten(1)

    def decode_logits(self, z):
        sizes = self._sizes()
        x = z.view(-1, self.config.latent_dim, *sizes[-1])
        for layer, size in zip(self.dec, reversed(sizes[:-1])):
            x = torch.nn.functional.interpolate(layer(x), size=size, mode="nearest")
        return self.out(x)


def torch_layers(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with aekit's layer subclasses swapped for torch's own modules (same parameters):
    the transposed convolutions with their own bias, the last 3x3 convolution through oneDNN,
    feature maps from ``nn.Unflatten`` in NCHW."""
    for parent in list(model.modules()):
        for key, child in parent.named_children():
            plain: torch.nn.Module | None = None
            if isinstance(child, kernels.NarrowConv2d):
                plain = torch.nn.Conv2d(
                    child.in_channels,
                    child.out_channels,
                    child.kernel_size,
                    child.stride,
                    child.padding,
                    child.dilation,
                    child.groups,
                    child.bias is not None,
                )
            elif isinstance(child, kernels.ConvTranspose2d):
                plain = torch.nn.ConvTranspose2d(
                    child.in_channels,
                    child.out_channels,
                    child.kernel_size,
                    child.stride,
                    child.padding,
                    child.output_padding,
                    child.groups,
                    child.bias is not None,
                    child.dilation,
                )
            elif isinstance(child, kernels.FeatureMap):
                plain = torch.nn.Unflatten(1, child.shape)
            if plain is not None:
                plain.load_state_dict(child.state_dict())
                setattr(parent, key, plain)
    return model


def build(name: str, options: dict, plain: bool) -> torch.nn.Module:
    """The model, or for the reference its layer-by-layer version in torch's modules (same
    parameters)."""
    model = build_model(name, options, (1, 28, 28), 10)
    if not plain:
        return model
    if name == "tutorial-dae":
        plain_model = PlainTutorialDAE(model.config, model.input_shape, model.num_classes)
        plain_model.load_state_dict(model.state_dict())
        model = plain_model
    return torch_layers(model)


def chunk_streams(n: int, seed: int) -> tuple[list[int], torch.Generator]:
    """The batch order and the noise generator aekit's trainer uses for a chunk (as its epoch
    ``seed + 1``), so both paths see the same batches and the same corruption: their losses then
    differ only by the arithmetic's rounding (and, in bf16, by its precision)."""
    from aekit.train_data import NOISE, ORDER, epoch_generator

    order = torch.randperm(n, generator=epoch_generator(0, seed + 1, ORDER))
    return order.tolist(), epoch_generator(0, seed + 1, NOISE)


class Reference:
    """The plain loop: DataLoader batches, NCHW, default Adam, ``model.loss``."""

    def __init__(self, model: torch.nn.Module, noise: SaltPepper | None):
        self.model, self.noise = model, noise
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.steps = 0

    def run(self, images: torch.Tensor, seed: int) -> tuple[float, float]:
        """Train on ``images``; the mean loss and the spread of the per-batch losses."""
        self.model.train()
        order, noise_generator = chunk_streams(len(images), seed)
        loader = DataLoader(
            TensorDataset(images),
            batch_size=BATCH,
            sampler=order,
            drop_last=True,
            generator=torch.Generator(),
        )
        losses = []
        for (x,) in loader:
            target = None
            if self.noise is not None:
                x, target = self.noise(x, generator=noise_generator), x
            loss = self.model.loss(x, target=target, step=self.steps)["loss"]
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.steps += 1
            losses.append(loss.item())
        return statistics.fmean(losses), statistics.pstdev(losses)


class Aekit:
    """aekit's trainer: its optimizer and its epoch loop (``aekit.train``) on in-memory tensors."""

    def __init__(self, model: torch.nn.Module, noise: SaltPepper | None, precision: str):
        from aekit.device import prepare_model
        from aekit.runs import TrainState
        from aekit.train import make_optimizer

        self.config = TrainConfig(
            batch_size=BATCH, quiet=True, noise=noise.spec if noise else None, precision=precision
        )
        self.model = prepare_model(model, torch.device("cpu"))
        self.optimizer = make_optimizer(self.config, self.model)
        self.noise, self.state = noise, TrainState()

    def run(self, images: torch.Tensor, seed: int) -> tuple[float, float]:
        """Train on ``images`` as one trainer epoch; its mean loss (the trainer keeps no spread)."""
        from aekit.train import train_epoch
        from aekit.train_data import Batches

        data = Batches(images)
        terms = train_epoch(
            self.model,
            self.optimizer,
            self.config,
            seed + 1,
            self.state,
            data,
            self.noise,
            torch.device("cpu"),
        )
        return terms["loss"], 0.0


def _worker(conn: Connection, path: str, case: tuple[str, dict, bool], n_images: int) -> None:
    """One training path in its own process (allocator settings, thread pools and caches are
    per process, so neither path inherits the other's); trains on chunks the parent names."""
    name, options, denoise = case
    images, _ = load_images(n_images)
    torch.manual_seed(0)  # the same initial weights in every process
    model = build(name, options, plain=path == "reference")
    noise = SaltPepper(0.1) if denoise else None
    if path == "reference":
        # the allocator setting aekit gives itself is a process setting any loop can have
        keep_freed_memory()
        trainer: Reference | Aekit = Reference(model, noise)
    else:
        trainer = Aekit(model, noise, "bf16" if path == "aekit-bf16" else "fp32")
    conn.send("ready")
    while (job := conn.recv()) is not None:
        first, size, seed = job
        part = images[first : first + size]
        before = bench.rss_kib()
        bench.reset_peak_rss()
        # the VAEs' binarisation and sampling draw the same numbers in every path
        torch.manual_seed(seed)
        start = time.perf_counter()
        loss, spread = trainer.run(part, seed)
        seconds = time.perf_counter() - start
        peak = bench.peak_rss_kib() or before
        conn.send(
            {
                "img_s": size // BATCH * BATCH / seconds,
                "loss": loss,
                "spread": spread,
                "memory_mb": (peak - before) / 1024,
                "rss_mb": peak / 1024,
            }
        )
    conn.close()


def measure(
    case: tuple[str, dict, bool], n_images: int, repeats: int, chunk: int
) -> dict[str, Any]:
    """Chunks taken in turn by the paths (the order rotates every repeat); medians of chunks.

    ``mflops_train`` is the plain network's work (what the reference executes);
    ``mflops_train_executed`` is what aekit's module runs, fewer where it fuses layers: each path's
    GFLOP/s and % of peak count the FLOPs it executes."""
    name, options, denoise = case
    torch.manual_seed(0)
    flops = bench.count_flops(build(name, options, plain=True), torch.rand(2, 1, 28, 28))
    executed = bench.count_flops(build(name, options, plain=False), torch.rand(2, 1, 28, 28))
    context = multiprocessing.get_context("spawn")
    workers = {}
    for path in PATHS:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, path, case, n_images), daemon=True)
        process.start()
        workers[path] = (process, parent)
    for _, conn in workers.values():
        conn.recv()  # both have loaded data and built the model before any timing starts
    chunks: dict[str, list[dict[str, float]]] = {k: [] for k in workers}
    for r in range(repeats):
        job = ((r * chunk) % n_images, chunk, r)
        order = list(workers)[r % len(workers) :] + list(workers)[: r % len(workers)]
        for path in order if r % 2 == 0 else list(reversed(order)):
            workers[path][1].send(job)
            chunks[path].append(workers[path][1].recv())
    for process, conn in workers.values():
        conn.send(None)
        process.join()
    result: dict[str, Any] = {
        "model": name,
        "options": options,
        "denoising": denoise,
        "mflops_train": flops["train"] / 1e6,
        "mflops_forward": flops["forward"] / 1e6,
        "mflops_train_executed": executed["train"] / 1e6,
    }
    for path, runs in chunks.items():
        ips = statistics.median(c["img_s"] for c in runs)
        result[path] = {
            "img_s": ips,
            "img_s_chunks": [round(c["img_s"], 1) for c in runs],
            "s_per_epoch": EPOCH_IMAGES / ips,
            # FLOPs each path executes: the plain network's for the reference, fewer for aekit's
            # fused layers
            "gflops": ips * (flops["train"] if path == "reference" else executed["train"]) / 1e9,
            "peak_memory_mb": max(c["memory_mb"] for c in runs),
            "peak_rss_mb": max(c["rss_mb"] for c in runs),
            # mean loss over the last chunk: the same number of steps
            "final_loss": runs[-1]["loss"],
            "chunk_losses": [c["loss"] for c in runs],
        }
    # The paths see the same batches, so their losses differ by rounding alone at first; over
    # hundreds of
    # steps rounding differences grow into different trajectories (a 2-D VAE's units switch on at
    # different steps), so the test is on the mean of the per-chunk differences, against what two
    # means
    # of n batch losses on different batches would differ by (sd sqrt(2/n) * spread): three such
    # sds, noise alone.
    sd = chunks["reference"][-1]["spread"] * (2 / (chunk // BATCH)) ** 0.5
    result["loss_noise"] = 3 * sd
    for path in PATHS[1:]:
        differences = [
            a - b for a, b in zip(result[path]["chunk_losses"], result["reference"]["chunk_losses"])
        ]
        result[path]["speedup"] = result[path]["img_s"] / result["reference"]["img_s"]
        result[path]["chunk_loss_differences"] = differences
        result[path]["loss_difference"] = statistics.fmean(differences)
        result[path]["same_loss"] = abs(result[path]["loss_difference"]) <= result["loss_noise"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer and shorter repeats (about 2 minutes)"
    )
    parser.add_argument(
        "--models", nargs="*", default=[c[0] for c in CASES], help="a subset of the models"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    repeats, chunk = (4, 2560) if args.quick else (6, 7680)
    n_images = 60_000
    source = load_images(16)[1]
    peaks = {dtype: bench.peak_gflops(dtype=dtype) for dtype in (torch.float32, torch.bfloat16)}
    results = [measure(c, n_images, repeats, chunk) for c in CASES if c[0] in args.models]
    peaks = {dtype: max(peak, bench.peak_gflops(dtype=dtype)) for dtype, peak in peaks.items()}
    peak = {
        "reference": peaks[torch.float32],
        "aekit": peaks[torch.float32],
        "aekit-bf16": peaks[torch.bfloat16],
    }
    for r in results:
        for key in PATHS:
            r[key]["fraction_of_peak"] = r[key]["gflops"] / peak[key]

    print(
        f"\ntraining speed, batch {BATCH}, {source}; {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}; peak (best of matmul and convolutions, measured in this "
        f"run) fp32 {peaks[torch.float32]:.0f}, bf16 {peaks[torch.bfloat16]:.0f} GFLOP/s"
    )
    print(
        f"CPU flags: {cpu_flags()}; the reference runs with aekit's allocator setting "
        "(keep_freed_memory)"
    )
    print(
        "GFLOP/s: FLOPs each path executes per image (aekit's fused layers execute fewer) x img/s; "
        "% peak: of the peak in the path's precision"
    )
    print(
        f"{'model':<18} {'path':<10} {'img/s':>7} {'s/epoch':>8} {'GFLOP/s':>8} {'% peak':>7} "
        f"{'mem MB':>7} {'loss':>9}  speed-up"
    )
    for r in results:
        for key in PATHS:
            v = r[key]
            extra = f"  {v['speedup']:.2f}x" if key != "reference" else ""
            print(
                f"{r['model']:<18} {key:<10} {v['img_s']:>7.0f} {v['s_per_epoch']:>8.1f} "
                f"{v['gflops']:>8.1f} "
                f"{100 * v['fraction_of_peak']:>6.1f}% {v['peak_memory_mb']:>7.0f} "
                f"{v['final_loss']:>9.4f}{extra}"
            )
        print(
            f"{'':<18} mean loss differences over the chunks "
            + ", ".join(f"{key} {r[key]['loss_difference']:+.4f}" for key in PATHS[1:])
            + f" (noise {r['loss_noise']:.4f}): "
            + (
                "same within noise"
                if all(r[key]["same_loss"] for key in PATHS[1:])
                else "DIFFERENT"
            )
        )
        if r["mflops_train_executed"] < 0.99 * r["mflops_train"]:
            print(
                f"{'':<18} aekit's fused layers run {r['mflops_train_executed']:.1f} of the "
                "plain network's "
                f"{r['mflops_train']:.1f} MFLOP per trained image"
            )
    atomic_write_json(
        args.out,
        {
            "machine": {
                "cpu_flags": cpu_flags(),
                "threads": torch.get_num_threads(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "processor": platform.processor(),
                "peak_gflops": peaks[torch.float32],
                "peak_gflops_bf16": peaks[torch.bfloat16],
            },
            "data": source,
            "batch_size": BATCH,
            "repeats": repeats,
            "chunk_images": chunk,
            "results": results,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
