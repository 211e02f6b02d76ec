"""How expensive is each model? ``aekit bench`` for the tutorial's models on MNIST, as one table.

Prints the Markdown table the README quotes and writes ``results/cost.json``.

    python benchmarks/cost.py          # about 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
from pathlib import Path

import torch

from aekit.bench import bench_command
from aekit.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "cost.json"
MODELS = ["linear", "dense", "conv", "tutorial-dae", "tutorial-docs", "vae", "conv-vae", "tutorial-vae-conv", "cvae"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = []
    for name in args.models:
        with contextlib.redirect_stdout(io.StringIO()):  # bench_command prints its own long table
            results.append(bench_command(model=name, dataset=args.dataset))
    peak = max(r["matmul_peak_gflops"] for r in results)
    print(f"| model | parameters | MFLOP per trained image | training img/s | s per {results[0]['train_images']:,}-image epoch "
          f"| inference img/s | % of {peak:.0f} GFLOP/s peak |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| `{r['model']}` | {r['parameters']:,} | {r['mflops_train']:.1f} | {r['train_img_s']:,.0f} | "
              f"{r['seconds_per_epoch']:.1f} | {r['inference_img_s']:,.0f} | {100 * r['fraction_of_peak']:.0f}% |")
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    print(f"\n{machine}; batch {results[0]['batch_size']}")
    atomic_write_json(args.out, {"machine": machine, "dataset": args.dataset, "results": results})


if __name__ == "__main__":
    main()
