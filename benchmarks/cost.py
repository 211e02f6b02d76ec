"""How expensive is each model? ``aekit bench`` for the tutorial's models on MNIST, as one table.

Prints the Markdown table the README quotes and writes ``results/cost.json``.

    python benchmarks/cost.py          # about 4 minutes on 2 cores (fp32 and bf16)
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
MODELS = [
    "linear",
    "dense",
    "conv",
    "tutorial-dae",
    "tutorial-docs",
    "vae",
    "conv-vae",
    "pixel-vae",
    "tutorial-vae-conv",
    "cvae",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"fp32": [], "bf16": []}
    for name in args.models:
        for precision, runs in results.items():
            # bench_command prints its own long table
            with contextlib.redirect_stdout(io.StringIO()):
                runs.append(bench_command(model=name, dataset=args.dataset, precision=precision))
    peak = {k: max(r["peak_gflops"] for r in runs) for k, runs in results.items()}
    images = results["fp32"][0]["train_images"]
    print(
        f"| model | parameters | MFLOP per trained image | training img/s, fp32 / bf16 | s per "
        f"{images:,}-image epoch "
        f"| inference img/s, fp32 / bf16 | % of peak, fp32 / bf16 ({peak['fp32']:.0f} / "
        f"{peak['bf16']:.0f} GFLOP/s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for a, b in zip(results["fp32"], results["bf16"]):
        print(
            f"| `{a['model']}` | {a['parameters']:,} | {a['mflops_train']:.1f} | "
            f"{a['train_img_s']:,.0f} / {b['train_img_s']:,.0f} | "
            f"{a['seconds_per_epoch']:.1f} / {b['seconds_per_epoch']:.1f} | "
            f"{a['inference_img_s']:,.0f} / "
            f"{b['inference_img_s']:,.0f} | {100 * a['fraction_of_peak']:.0f}% / "
            f"{100 * b['fraction_of_peak']:.0f}% |"
        )
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    print(f"\n{machine}; batch {results['fp32'][0]['batch_size']}")
    atomic_write_json(
        args.out,
        {
            "machine": machine,
            "dataset": args.dataset,
            "results": results["fp32"],
            "results_bf16": results["bf16"],
        },
    )


if __name__ == "__main__":
    main()
