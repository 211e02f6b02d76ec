"""The quick tour's wall time on an idle machine and beside a busy loop (issue 27's thread target).

Runs `aekit tour --quick` into fresh folders, one after another:
  1. idle, threads as aekit chooses them (the target: under 5 minutes on 2 cores);
  2. idle, `--threads 1` (the reference of the busy run);
  3. with a busy loop pinned to one core (`taskset`), threads as aekit chooses them (the target: at
     most 1.2x the idle `--threads 1` time: aekit should see the busy core and use the other).
Data caches are warmed first (one `aekit datasets` and the floor plans), so the runs time the tour.
Prints a table with the CPU flags and the load, and writes results/tour_time.json.

    python benchmarks/tour_time.py                 # all three (about 15 minutes on 2 cores)
    python benchmarks/tour_time.py --only idle     # one of idle, threads1, busy
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aekit.device import cpu_flags
from aekit.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "tour_time.json"
WAYS = {"idle": [], "threads1": ["--threads", "1"], "busy": []}
TARGET_SECONDS = 300.0
BUSY_FACTOR = 1.2


def tour(out: Path, extra: list[str]) -> tuple[float, str, list[str]]:
    """Wall seconds of one quick tour, its line about threads and its lines per experiment and
    check."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "aekit", "tour", "--quick", "--out", str(out), *extra],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"tour failed ({result.returncode}): {result.stderr[-2000:]}")
    lines = (result.stderr + result.stdout).splitlines()
    threads = next((line for line in lines if "thread" in line), "")
    return (
        wall,
        threads,
        [
            line
            for line in lines
            if " trained in " in line
            or line.startswith("tour: ok")
            or line.startswith("tour: FAILED")
            or line.startswith("tour: not judged")
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(WAYS), default=list(WAYS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    flags = cpu_flags()
    cores = len(os.sched_getaffinity(0))
    print(f"CPU flags: {flags}; {cores} usable cores; load {os.getloadavg()[0]:.2f}")
    subprocess.run([sys.executable, "-m", "aekit", "datasets"], capture_output=True, check=True)
    work = Path(tempfile.mkdtemp(prefix="aekit-tour-time-"))
    results = (
        json.loads(args.out.read_text())
        if set(args.only) != set(WAYS) and args.out.exists()
        else {}
    )
    results.update({"cpu_flags": flags, "cores": cores})
    for way in args.only:
        busy = None
        if way == "busy":
            busy = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    str(max(os.sched_getaffinity(0))),
                    sys.executable,
                    "-c",
                    "while True: pass",
                ]
            )
            time.sleep(2)  # so that aekit's start-up measurement sees it
        load = os.getloadavg()[0]
        try:
            wall, threads, lines = tour(work / way, WAYS[way])
        finally:
            if busy is not None:
                busy.kill()
        results[way] = {
            "seconds": round(wall, 1),
            "load_before": round(load, 2),
            "threads_line": threads,
            "lines": lines,
            "summary_md": (work / way / "summary.md").read_text(encoding="utf-8"),
        }
        print(
            f"{way}: {wall:.0f} s (load before {load:.2f}); {threads}", *lines, sep="\n", flush=True
        )
    shutil.rmtree(work, ignore_errors=True)
    atomic_write_json(args.out, results)
    print()
    print("| run | wall time | target |")
    print("|---|---:|---|")
    if "idle" in results:
        s = results["idle"]["seconds"]
        print(
            f"| quick tour, idle, threads as aekit chooses | {s:.0f} s | < {TARGET_SECONDS:.0f} s: "
            f"{'met' if s < TARGET_SECONDS else 'not met'} |"
        )
    if "threads1" in results:
        print(
            f"| quick tour, idle, --threads 1 | {results['threads1']['seconds']:.0f} s | "
            "reference of the busy run |"
        )
    if "busy" in results and "threads1" in results:
        s, ref = results["busy"]["seconds"], results["threads1"]["seconds"]
        print(
            f"| quick tour, a busy loop pinned to one core | {s:.0f} s ({s / ref:.2f}x) | <= "
            f"{BUSY_FACTOR}x the "
            f"--threads 1 time: {'met' if s <= BUSY_FACTOR * ref else 'not met'} |"
        )


if __name__ == "__main__":
    main()
