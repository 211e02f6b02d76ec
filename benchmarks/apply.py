"""Using a model on files at scale: `aekit denoise` on A4 pages and `aekit sample --n 10000`.

- one A4 page at 300 dpi (2,480 x 3,508 px, made by tiling real Kaggle pages) through
  `aekit denoise` with a documents model: wall time and peak RSS of the command (targets <= 10 s,
  <= 1 GB on 2 cores);
- a folder of N such pages in one `aekit denoise` call, its RSS printed after every page (memory
  must stay flat: pages stream, nothing accumulates);
- `aekit sample --n 10000` for conv-vae on 28 x 28 images: images written per second
  (target >= 5,000/s): the default (--precision auto: bf16 on CPUs with AVX-512 BF16 or AMX), then
  --precision fp32; each --repeats times (the median counts: the file system's timing varies).
Every command runs in a child process, measured with os.wait4 (wall time includes Python start-up).
Prints a table and writes results/apply.json.

    python benchmarks/apply.py --quick      # 5 pages; a few minutes on 2 cores
    python benchmarks/apply.py              # 200 pages; trains the documents model longer
    python benchmarks/apply.py --docs-run RUN --vae-run RUN  # use trained runs instead
    python benchmarks/apply.py --parts sample --vae-run RUN  # one part; keeps the others' results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aekit.device import cpu_flags
from aekit.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "apply.json"
A4 = (2480, 3508)  # width, height at 300 dpi
PARTS = ("page", "folder", "sample")


def run_measured(argv: list[str], echo: bool = False) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stderr+stdout) of one child process. The peak comes from
    /usr/bin/time: a forked child's own ru_maxrss starts at the PARENT's RSS (this script's, with
    a trained model and pages in memory) and would hide the command's."""
    start = time.perf_counter()
    child = subprocess.Popen(
        ["/usr/bin/time", "-f", "MAXRSS_KB %M", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in child.stdout:
        lines.append(line)
        if echo and not line.startswith("MAXRSS_KB"):
            print("   ", line.rstrip(), flush=True)
    child.wait()
    wall = time.perf_counter() - start
    text = "".join(lines)
    if child.returncode != 0:
        raise SystemExit(f"command failed ({child.returncode}): {' '.join(argv)}\n{text[-2000:]}")
    return wall, int(re.search(r"MAXRSS_KB (\d+)", text).group(1)) / 1024, text


def train_docs(out: Path, patches: int, epochs: int) -> Path:
    from aekit.config import TrainConfig
    from aekit.train import train

    train(
        TrainConfig(
            model="tutorial-docs",
            dataset="documents",
            out=str(out),
            epochs=epochs,
            patches_per_epoch=patches,
            quiet=True,
        )
    )
    return out


def train_vae(out: Path, images: int) -> Path:
    from aekit.config import TrainConfig
    from aekit.train import train

    train(
        TrainConfig(
            model="conv-vae",
            dataset="mnist",
            out=str(out),
            epochs=1,
            max_train_images=images,
            quiet=True,
        )
    )
    return out


def make_a4(path: Path) -> Path:
    """An A4 page at 300 dpi tiled from the real Kaggle test pages (grey PNG)."""
    from aekit.data import load

    pages = load("documents", "kaggle-test").noisy
    width, height = A4
    canvas = np.ones((height, width), np.float32)
    y = x = k = 0
    row_height = 0
    while y < height:
        page = pages[k % len(pages)][0].numpy()
        k += 1
        h, w = page.shape
        h, w = min(h, height - y), min(w, width - x)
        canvas[y : y + h, x : x + w] = page[:h, :w]
        row_height = max(row_height, h)
        x += w
        if x >= width:
            x, y, row_height = 0, y + row_height, 0
    Image.fromarray((canvas * 255).round().astype(np.uint8)).save(path)
    return path


def child_folder(run: str, folder: str, out: str) -> None:
    """Inside the child: denoise a folder, printing the RSS after every page."""
    import aekit.progress
    from aekit.commands.denoise import denoise

    aekit.progress.PLAIN_FRACTION = 1e-9  # a line after every file

    class WithRSS(aekit.progress.Progress):
        def message(self, text: str) -> None:
            rss = (
                int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
                / 1024
            )
            super().message(f"{text}  rss {rss:.0f} MB")

    denoise(run, [folder], out, progress=WithRSS(interactive=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="5 pages, a briefly trained documents model"
    )
    parser.add_argument(
        "--pages", type=int, default=None, help="pages in the folder run (200; 5 with --quick)"
    )
    parser.add_argument(
        "--docs-run", help="a trained documents run (default: train tutorial-docs here)"
    )
    parser.add_argument(
        "--vae-run",
        help="a trained conv-vae 28x28 run (default: train one epoch on 2,000 MNIST images)",
    )
    parser.add_argument("--n", type=int, default=10000, help="samples to write")
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs of each sample command (the median counts)"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure (default all); the results file keeps the other parts' figures",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child-folder", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_folder:
        child_folder(*args.child_folder)
        return
    pages = args.pages or (5 if args.quick else 200)
    aekit_cmd = [sys.executable, "-m", "aekit"]
    work = Path(tempfile.mkdtemp(prefix="aekit-bench-apply-"))
    flags = cpu_flags()
    print(
        f"CPU flags: {flags}; {os.cpu_count()} CPUs; torch {torch.__version__}; work folder {work}"
    )

    results: dict = (
        json.loads(args.out.read_text())
        if set(args.parts) != set(PARTS) and args.out.exists()
        else {}
    )
    results.update(
        {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
            "cpu_flags": flags,
            "quick": args.quick,
        }
    )
    if {"page", "folder"} & set(args.parts):
        docs = (
            Path(args.docs_run)
            if args.docs_run
            else train_docs(work / "docs", 2048 if args.quick else 8192, 1 if args.quick else 5)
        )
        results["docs_run"] = str(docs)
        page = make_a4(work / "a4.png")
    if "page" in args.parts:
        wall, rss, _ = run_measured(
            aekit_cmd + ["denoise", str(docs), str(page), "--out", str(work / "one"), "--quiet"]
        )
        print(f"one A4 page: {wall:.1f} s, peak RSS {rss:.0f} MB")
        results["a4_page"] = {
            "pixels": list(A4),
            "seconds": round(wall, 2),
            "peak_rss_mb": round(rss),
        }

    if "folder" in args.parts:
        folder = work / "pages"
        folder.mkdir()
        for k in range(pages):  # hard links: N pages without N copies on disk
            os.link(page, folder / f"page{k:03d}.png")
        wall, rss, text = run_measured(
            [
                sys.executable,
                __file__,
                "--child-folder",
                str(docs),
                str(folder),
                str(work / "many"),
            ],
            echo=True,
        )
        per_page = [float(v) for v in re.findall(r"rss (\d+) MB", text)]
        print(
            f"{pages} A4 pages: {wall:.1f} s ({wall / pages:.1f} s/page), peak RSS {rss:.0f} MB; "
            f"RSS after the first page {per_page[1] if len(per_page) > 1 else float('nan'):.0f} "
            "MB, "
            f"after the last {per_page[-1]:.0f} MB"
        )
        results["folder"] = {
            "pages": pages,
            "seconds": round(wall, 2),
            "peak_rss_mb": round(rss),
            "rss_after_each_page_mb": per_page,
            "load_average": round(os.getloadavg()[0], 2),
        }

    if "sample" in args.parts:
        vae = Path(args.vae_run) if args.vae_run else train_vae(work / "vae", 2000)
        results["vae_run"] = str(vae)
        results["sample"] = {}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import aekit.commands.generate, torch"], check=True)
        startup = time.perf_counter() - start
        for precision in ("auto", "fp32"):
            walls, peak = [], 0.0
            for k in range(args.repeats):
                out = work / f"samples-{precision}-{k}"
                wall, rss, _ = run_measured(
                    aekit_cmd
                    + [
                        "sample",
                        str(vae),
                        "--n",
                        str(args.n),
                        "--out",
                        str(out),
                        "--precision",
                        precision,
                    ]
                )
                assert sum(1 for _ in out.glob("sample_*.png")) == args.n
                walls.append(wall)
                peak = max(peak, rss)
            wall = statistics.median(walls)
            rate, rate_work = args.n / wall, args.n / max(1e-9, wall - startup)
            print(
                f"sample --n {args.n} (--precision {precision}): median {wall:.2f} s of "
                f"{args.repeats} ({', '.join(f'{w:.2f}' for w in walls)}) = {rate:,.0f} images/s "
                f"({rate_work:,.0f}/s without the "
                f"{startup:.1f} s Python start-up); peak RSS {peak:.0f} MB"
            )
            results["sample"][precision] = {
                "n": args.n,
                "seconds": round(wall, 2),
                "runs_s": [round(w, 2) for w in walls],
                "images_per_s": round(rate),
                "startup_s": round(startup, 2),
                "images_per_s_after_startup": round(rate_work),
                "peak_rss_mb": round(peak),
            }
    print()
    print("| measurement | value | target |")
    print("|---|---:|---:|")
    a4, fold = results.get("a4_page"), results.get("folder")
    if a4:
        print(
            f"| `aekit denoise` one A4 page (2,480 x 3,508) | {a4['seconds']:.1f} s, "
            f"{a4['peak_rss_mb']} MB peak | <= 10 s, <= 1,024 MB |"
        )
    if fold:
        print(
            f"| `aekit denoise` {fold['pages']} A4 pages | "
            f"{fold['seconds'] / fold['pages']:.1f} s/page, {fold['peak_rss_mb']} MB "
            f"peak, RSS after page 2 "
            f"{fold['rss_after_each_page_mb'][min(2, fold['pages'])]:.0f} MB, after the last "
            f"{fold['rss_after_each_page_mb'][-1]:.0f} MB | flat memory |"
        )
    for precision, r in results.get("sample", {}).items():
        print(
            f"| `aekit sample --n {args.n} --precision {precision}` conv-vae 28x28 | "
            f"{r['images_per_s']:,} images/s (median of {len(r['runs_s'])}) | >= 5,000/s |"
        )
    load = os.getloadavg()
    # other processes on the cores slow every figure
    results["load_average"] = [round(v, 2) for v in load]
    print(
        f"\nCPU flags: {flags}; load average at the end {load[0]:.1f} (1 min), {load[2]:.1f} "
        "(15 min)"
    )
    atomic_write_json(args.out, results)


if __name__ == "__main__":
    main()
