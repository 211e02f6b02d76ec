"""Training speed: aekit's trainer against a plain eager-PyTorch reference, side by side.

For each model, both paths start from the same initial weights and train on the same images,
each in its own process; they alternate (A, B, B, A, ...) in chunks so that a busy neighbour
slows both alike, and the median chunk speed is reported. The reference is what a careful user would write first: NCHW
tensors, a DataLoader over a TensorDataset, ``torch.optim.Adam`` with its defaults, and the
same model module. The loss after the same number of steps must agree within noise: speed must
not change the maths.

    python benchmarks/speed.py            # about 10 minutes on 2 cores
    python benchmarks/speed.py --quick    # about 2 minutes
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
from aekit.io import atomic_write_json
from aekit.models import build_model

RESULTS = Path(__file__).resolve().parent / "results" / "speed.json"
EPOCH_IMAGES = 60_000
BATCH = 128  # the tutorial's batch size (examples/*.toml)
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


class Reference:
    """The plain loop: DataLoader batches, NCHW, default Adam, ``model.loss``."""

    def __init__(self, model: torch.nn.Module, noise: SaltPepper | None):
        self.model, self.noise = model, noise
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.steps = 0

    def run(self, images: torch.Tensor, seed: int) -> tuple[float, float]:
        """Train on ``images``; the mean loss and the spread of the per-batch losses."""
        self.model.train()
        loader = DataLoader(TensorDataset(images), batch_size=BATCH, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(seed))
        losses = []
        for (x,) in loader:
            target = None
            if self.noise is not None:
                x, target = self.noise(x), x
            loss = self.model.loss(x, target=target, step=self.steps)["loss"]
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.steps += 1
            losses.append(loss.item())
        return statistics.fmean(losses), statistics.pstdev(losses)


class Aekit:
    """aekit's trainer: its optimizer and its epoch loop (``aekit.train``) on in-memory tensors."""

    def __init__(self, model: torch.nn.Module, noise: SaltPepper | None):
        from aekit.train import _make_optimizer, _State, prepare_model

        self.config = TrainConfig(batch_size=BATCH, quiet=True, noise=noise.spec if noise else None)
        self.model = prepare_model(model, torch.device("cpu"))
        self.optimizer = _make_optimizer(self.config, self.model)
        self.noise, self.state = noise, _State()

    def run(self, images: torch.Tensor, seed: int) -> tuple[float, float]:
        """Train on ``images`` as one trainer epoch; its mean loss (the trainer keeps no spread)."""
        from aekit.train import _Log, _train_epoch

        data = (images, None, None)
        terms = _train_epoch(self.model, self.optimizer, self.config, seed + 1, self.state, data, self.noise,
                             torch.device("cpu"), _Log(True))
        return terms["loss"], 0.0


def _worker(conn: Connection, path: str, case: tuple[str, dict, bool], n_images: int) -> None:
    """One training path in its own process (allocator settings, thread pools and caches are
    per process, so neither path inherits the other's); trains on chunks the parent names."""
    name, options, denoise = case
    images, _ = load_images(n_images)
    torch.manual_seed(0)  # the same initial weights in both processes
    model = build_model(name, options, (1, 28, 28), 10)
    noise = SaltPepper(0.1) if denoise else None
    trainer = Reference(model, noise) if path == "reference" else Aekit(model, noise)
    conn.send("ready")
    while (job := conn.recv()) is not None:
        first, size, seed = job
        part = images[first : first + size]
        before = bench._rss_kib()
        bench._reset_peak_rss()
        start = time.perf_counter()
        loss, spread = trainer.run(part, seed)
        seconds = time.perf_counter() - start
        peak = bench._peak_rss_kib() or before
        conn.send({"img_s": size // BATCH * BATCH / seconds, "loss": loss, "spread": spread,
                   "memory_mb": (peak - before) / 1024, "rss_mb": peak / 1024})
    conn.close()


def measure(case: tuple[str, dict, bool], n_images: int, repeats: int, chunk: int) -> dict[str, Any]:
    """Alternate chunks between the two paths (who goes first alternates too); medians of chunks."""
    name, options, denoise = case
    torch.manual_seed(0)
    flops = bench.count_flops(build_model(name, options, (1, 28, 28), 10), torch.rand(2, 1, 28, 28))
    context = multiprocessing.get_context("spawn")
    workers = {}
    for path in ("reference", "aekit"):
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, path, case, n_images), daemon=True)
        process.start()
        workers[path] = (process, parent)
    for _, conn in workers.values():
        conn.recv()  # both have loaded data and built the model before any timing starts
    chunks: dict[str, list[dict[str, float]]] = {k: [] for k in workers}
    for r in range(repeats):
        job = ((r * chunk) % n_images, chunk, r)
        for path in (list(workers) if r % 2 == 0 else list(reversed(workers))):
            workers[path][1].send(job)
            chunks[path].append(workers[path][1].recv())
    for process, conn in workers.values():
        conn.send(None)
        process.join()
    result: dict[str, Any] = {"model": name, "options": options, "denoising": denoise,
                              "mflops_train": flops["train"] / 1e6, "mflops_forward": flops["forward"] / 1e6}
    for path, runs in chunks.items():
        ips = statistics.median(c["img_s"] for c in runs)
        result[path] = {
            "img_s": ips,
            "img_s_chunks": [round(c["img_s"], 1) for c in runs],
            "s_per_epoch": EPOCH_IMAGES / ips,
            "gflops": ips * flops["train"] / 1e9,
            "peak_memory_mb": max(c["memory_mb"] for c in runs),
            "peak_rss_mb": max(c["rss_mb"] for c in runs),
            "final_loss": runs[-1]["loss"],  # mean loss over the last chunk: the same number of steps
        }
    # two means of n batch losses on different batches: their difference has sd sqrt(2/n) * spread
    sd = chunks["reference"][-1]["spread"] * (2 / (chunk // BATCH)) ** 0.5
    result["speedup"] = result["aekit"]["img_s"] / result["reference"]["img_s"]
    result["loss_difference"] = result["aekit"]["final_loss"] - result["reference"]["final_loss"]
    result["loss_noise"] = 3 * sd + 0.02 * abs(result["reference"]["final_loss"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter repeats (about 2 minutes)")
    parser.add_argument("--models", nargs="*", default=[c[0] for c in CASES], help="a subset of the models")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    repeats, chunk = (4, 2560) if args.quick else (6, 7680)
    n_images = 60_000
    source = load_images(16)[1]
    peak_before = bench.matmul_peak_gflops()
    results = [measure(c, n_images, repeats, chunk) for c in CASES if c[0] in args.models]
    peak = max(peak_before, bench.matmul_peak_gflops())

    print(f"\ntraining speed, batch {BATCH}, {source}; {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}; fp32 matmul peak {peak:.0f} GFLOP/s (measured in this run)")
    print(f"{'model':<18} {'path':<9} {'img/s':>7} {'s/epoch':>8} {'GFLOP/s':>8} {'% peak':>7} {'mem MB':>7} {'loss':>9}  speed-up")
    for r in results:
        for key in ("reference", "aekit"):
            v = r[key]
            extra = f"  {r['speedup']:.2f}x" if key == "aekit" else ""
            print(f"{r['model']:<18} {key:<9} {v['img_s']:>7.0f} {v['s_per_epoch']:>8.1f} {v['gflops']:>8.1f} "
                  f"{100 * v['gflops'] / peak:>6.1f}% {v['peak_memory_mb']:>7.0f} {v['final_loss']:>9.4f}{extra}")
        ok = abs(r["loss_difference"]) <= r["loss_noise"]
        print(f"{'':<18} loss difference {r['loss_difference']:+.4f} (noise {r['loss_noise']:.4f}): "
              f"{'same within noise' if ok else 'DIFFERENT'}")
    for r in results:
        r["fraction_of_peak"] = r["aekit"]["gflops"] / peak
    atomic_write_json(args.out, {
        "machine": {"threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "processor": platform.processor(), "matmul_peak_gflops": peak},
        "data": source, "batch_size": BATCH, "repeats": repeats, "chunk_images": chunk,
        "results": results,
    })
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
