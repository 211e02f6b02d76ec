"""Loading your own images: first (decoding) load, cached load, and memory while training.

Makes N 64x64 RGB PNGs in ten class folders (seeded; shapes on gradients with a little noise, so
PNG compression is realistic; kept under the cache folder and reused), then measures:
- the first load of both splits, decoding every file into the uint8 cache (target >= 2,000
images/s);
- a cached load of both splits, a memory map (target < 5 s);
- resident memory while training a small conv autoencoder for one epoch over the train split, in
  a fresh process, with this script's own loop over ``ImageSet.batch`` (not aekit's trainer):
  the peak of anonymous memory (since before the model was built) plus the resident pages of the
  cache's memory map, against 1.5 x (the uint8 size + the model's own working memory, measured on
  random batches first); the whole VmRSS growth (which includes torch's code pages) is kept too.

    python benchmarks/data.py --quick    # 10,000 images
    python benchmarks/data.py            # 100,000 images (about 1 GB of PNGs)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from aekit.data.folder import parallel_map
from aekit.data.paths import cache_dir
from aekit.device import cpu_flags
from aekit.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "data.json"
SIZE = 64
CLASSES = 10
BATCH = 256


def _make_chunk(task: tuple[Path, int, int]) -> int:
    folder, start, stop = task
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        y, x = np.mgrid[:SIZE, :SIZE] / SIZE
        a, b = rng.uniform(0, 255, (2, 3))
        background = a + (b - a) * (x if i % 2 else y)[..., None]
        img = Image.fromarray(background.astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(rng.integers(2, 7)):
            box = sorted(rng.integers(0, SIZE, 2)), sorted(rng.integers(0, SIZE, 2))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape(
                (box[0][0], box[1][0], box[0][1] + 1, box[1][1] + 1),
                fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
            )
        noisy = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, (SIZE, SIZE, 3))
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
            folder / f"c{i % CLASSES}" / f"{i:06d}.png"
        )
    return stop - start


def make_images(n: int) -> Path:
    """N seeded PNGs in class folders under the cache (made once, reused)."""
    folder = cache_dir() / "benchmark-data" / f"png-{n}-{SIZE}"
    done = folder / "done.json"
    if done.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for c in range(CLASSES):
        (folder / f"c{c}").mkdir(parents=True)
    start = time.perf_counter()
    step = 1000
    parallel_map(_make_chunk, [(folder, i, min(n, i + step)) for i in range(0, n, step)])
    atomic_write_json(done, {"images": n, "seconds": round(time.perf_counter() - start, 1)})
    return folder


def _memory_mb() -> tuple[float, float, float]:
    """(VmRSS, RssAnon, resident pages of the decode cache's memory map) of this process.

    The whole VmRSS also grows when torch first runs a kernel (its library's code pages), which is
    not the data's memory; anonymous memory plus the mapped cache pages is.
    """
    status = Path("/proc/self/status").read_text()
    rss, anon = (
        int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024
        for key in ("VmRSS", "RssAnon")
    )
    mapped, in_cache = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            in_cache = line.rstrip().endswith(".u8")
        elif in_cache and line.startswith("Rss:"):
            mapped += int(line.split()[1])
    return rss, anon, mapped / 1024


def train_and_watch(spec: str, how: str) -> dict:
    """In this (fresh) process: load the train split, hold out 10%, train one epoch on ``batch``,
    sample RSS.

    ``how`` = "indices": rows of the memory-mapped set by number (``val_indices``);
    "subset": ``train_val_split``'s uint8 copies, as aekit's trainer splits today.
    """
    import torch
    from torch import nn

    from aekit.data import load, train_val_split, val_indices

    torch.manual_seed(0)
    _, anon_base, _ = _memory_mb()
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(16, 3, 4, 2, 1),
        nn.Sigmoid(),
    )
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)

    def step(x: torch.Tensor) -> None:
        loss = nn.functional.binary_cross_entropy(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # the model's own working memory: weights, Adam, activations, a float batch, the allocator's
    # slack
    model_peak = 0.0
    for _ in range(5):
        step(torch.rand(BATCH, 3, SIZE, SIZE))
        model_peak = max(model_peak, _memory_mb()[1] - anon_base)
    rss_before, _, _ = _memory_mb()
    data = load(spec, "train")
    if how == "indices":
        rows, _ = val_indices(data, 0.1)
        source = data
    else:
        source, _ = train_val_split(data, 0.1)
        rows = torch.arange(len(source))
    order = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))]
    peak_rss, peak_data, start = rss_before, 0.0, time.perf_counter()
    for i in range(0, len(order), BATCH):
        step(source.batch(order[i : i + BATCH]))
        rss, anon, mapped = _memory_mb()
        peak_rss, peak_data = max(peak_rss, rss), max(peak_data, anon - anon_base + mapped)
    uint8_mb = data.pixels.numel() / 2**20  # the whole train split (train + held-out rows)
    return {
        "how": how,
        "train_images": len(rows),
        "uint8_mb": round(uint8_mb, 1),
        "model_working_mb": round(model_peak, 1),
        "rss_before_load_mb": round(rss_before, 1),
        "rss_peak_mb": round(peak_rss, 1),
        "rss_growth_mb": round(peak_rss - rss_before, 1),
        # anonymous memory since before the model + mapped cache pages
        "memory_peak_mb": round(peak_data, 1),
        "epoch_s": round(time.perf_counter() - start, 1),
        "over_uint8_plus_model": round(peak_data / (uint8_mb + model_peak), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 images instead of 100,000")
    parser.add_argument(
        "--images", type=int, help="another count (a smoke run); results are not written"
    )
    parser.add_argument("--watch", help=argparse.SUPPRESS)
    # internal: the RSS run in a fresh process
    parser.add_argument("--how", default="indices", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch:
        print(json.dumps(train_and_watch(args.watch, args.how)))
        return
    from aekit.data import load

    n = args.images or (10_000 if args.quick else 100_000)
    images = make_images(n)
    decode_cache = cache_dir() / "benchmark-data" / "decode-cache"
    shutil.rmtree(decode_cache, ignore_errors=True)
    # an empty cache: the first load decodes every file
    os.environ["AEKIT_CACHE"] = str(decode_cache)
    spec = f"folder:{images}"
    start = time.perf_counter()
    train, test = load(spec, "train"), load(spec, "test")
    first = time.perf_counter() - start
    start = time.perf_counter()
    train, test = load(spec, "train"), load(spec, "test")
    cached = time.perf_counter() - start
    assert len(train) + len(test) == n and train.shape == (3, SIZE, SIZE)
    memory = {}
    for how in ("indices", "subset"):
        watch = subprocess.run(
            [sys.executable, __file__, "--watch", spec, "--how", how],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "AEKIT_CACHE": str(decode_cache)},
        )
        memory[how] = json.loads(watch.stdout.strip().splitlines()[-1])
    result = {
        "images": n,
        "size": f"{SIZE}x{SIZE} RGB PNG",
        "cores": len(os.sched_getaffinity(0)),
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": cpu_flags(),
        "first_load_s": round(first, 2),
        "first_load_images_per_s": round(n / first),
        "cached_load_s": round(cached, 2),
        "memory": memory,
        "targets": {
            "first_load_images_per_s >= 2000": n / first >= 2000,
            "cached_load_s < 5": cached < 5,
            "memory <= 1.5 x (uint8 + model), val_indices": memory["indices"][
                "over_uint8_plus_model"
            ]
            <= 1.5,
        },
        "note": "RSS: this script's loop over ImageSet.batch (one epoch, 90% of the train "
        "split), not aekit's trainer",
    }
    rows = [
        (
            "first load (decode, both splits)",
            f"{first:.2f} s",
            f"{n / first:,.0f} images/s",
            ">= 2,000/s",
        ),
        ("cached load (both splits)", f"{cached:.2f} s", "", "< 5 s"),
        *(
            (
                f"memory while training ({how})",
                f"{m['memory_peak_mb']:.0f} MB",
                f"{m['over_uint8_plus_model']:.2f} x (uint8 {m['uint8_mb']:.0f} + model "
                f"{m['model_working_mb']:.0f} MB)",
                "<= 1.5 x",
            )
            for how, m in memory.items()
        ),
    ]
    print(
        f"{n:,} {SIZE}x{SIZE} RGB PNGs, {result['cores']} cores, CPU flags: {result['cpu_flags']}"
    )
    for row in rows:
        print(f"  {row[0]:<34} {row[1]:>10}  {row[2]:<40} target {row[3]}")
    if args.images is None:
        atomic_write_json(RESULTS, result)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
