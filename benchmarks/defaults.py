"""Do aekit's commands finish with their defaults? Issue 27's audit: every command on a trained run
of every bundled set, timed as a user runs it, against the 3-minute target on 2 cores.

For each dataset a short run is trained first when ``RUNS/DATASET`` holds none (``aekit train
--dataset D --max-minutes 1``: the default model, and for ``crawl-tiles`` the transformer prior
that train fits). Then, each with its defaults and ``--threads`` as given: ``fit-prior`` for every
prior that fits the model, ``report`` (which evaluates first: the run has no eval.json then),
``evaluate --prior all`` (every fitted prior's column), ``sample``, ``encode --split all`` (the
whole dataset), ``decode`` of those codes and ``interpolate`` between two decoded images (models
with code vectors), ``denoise`` of one page (page runs). Commands that do not apply to a run
(``sample`` on a denoiser, ...) are left out. Each command is timed by ``/usr/bin/time`` (wall and
CPU seconds, peak memory), with the load average before it; the table names the budget that
bounds each command. With one thread (the default here) the CPU seconds are about the wall time
on an idle core: on a busy machine the table judges the 3 minutes by them ("yes (CPU)").

    python benchmarks/defaults.py --runs /tmp/defaults            # all sets, 1 thread
    python benchmarks/defaults.py --runs /tmp/defaults --only digits --only crawl-tiles

The results file keeps the rows of the datasets not audited this time (``began`` and the load are
then of the last audit).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aekit
from aekit.device import cpu_flags
from aekit.io import atomic_write_json, read_json

RESULTS = Path(__file__).resolve().parent / "results" / "defaults.json"
DATASETS = (
    "digits",
    "mnist",
    "fashion-mnist",
    "documents",
    "documents-synthetic",
    "floorplans-synthetic",
    "crawl-tiles",
)
TARGET_SECONDS = 180.0
CONTINUOUS_PRIORS = ("gmm", "flow")
CODE_MAP_PRIORS = ("pixelcnn", "transformer")
# What bounds each command with its defaults. Evaluate's flags for more: --iwae-seconds, --iwae-k,
# --iwae-images,
# --sample-images, --generation-samples, --plan-footprints, --ocr-pages.
BUDGETS = {
    "train": "--max-minutes 1 (given)",
    "fit-prior gmm": "60,000 codes at most, EM iterations",
    "fit-prior flow": "2,000 steps or --max-seconds 120, the sooner",
    "fit-prior pixelcnn": "2,000 steps or --max-seconds 120, the sooner",
    "fit-prior transformer": "20,000 steps or --max-seconds 120, the sooner",
    "report": "evaluate's budgets, plus the plots",
    "evaluate --prior all": "60 s each: IWAE, samples, generation samples, floor plans; 8 OCR "
    "pages",
    "sample": "--n 64",
    "encode --split all": "the dataset's size (batches of 512)",
    "decode": "the codes file's rows, written on threads",
    "interpolate": "--steps 10",
    "denoise (one page)": "the page's size, in tiles",
}


def aekit_command(args: list[str], threads: int, log: Path) -> dict[str, Any]:
    """Run ``aekit ARGS --threads N`` under /usr/bin/time; wall and CPU seconds, peak memory, exit
    status, the load average before, and the output's last lines (the whole output goes to ``log``).
    With one thread the CPU seconds are about what the wall time would be on an idle core."""
    timing = log.with_suffix(".time")
    load = os.getloadavg()[0]
    command = [
        "/usr/bin/time",
        "-f",
        "%e %U %S %M",
        "-o",
        str(timing),
        sys.executable,
        "-m",
        "aekit.cli",
        *args,
        "--threads",
        str(threads),
    ]
    with log.open("w") as out:
        status = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    seconds, user, system, kilobytes = timing.read_text().split()[-4:]
    lines = log.read_text(errors="replace").splitlines()
    return {
        "seconds": float(seconds),
        "cpu_seconds": round(float(user) + float(system), 1),
        "peak_mb": round(int(kilobytes) / 1024),
        "status": status,
        "load_before": load,
        "tail": lines[-3:],
    }


def run_kind(run_dir: Path) -> dict[str, Any]:
    """What the run's model can do: pages or images, generative, code maps, priors, conditions."""
    from aekit.run import Run

    run = Run(run_dir, "cpu")
    model = run.model
    return {
        "model": run.model_name,
        "pages": run.pages,
        "generative": model.generative,
        "discrete": model.discrete_code,
        "vectors": not model.spatial_code,
        "condition": model.condition_kind if model.conditional else None,
    }


def audit(dataset: str, runs: Path, threads: int, scratch: Path) -> list[dict[str, Any]]:
    """Every command that applies, timed on ``runs/dataset`` (trained first when missing)."""
    run_dir = runs / dataset
    rows: list[dict[str, Any]] = []
    work = scratch / dataset
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    def timed(name: str, args: list[str]) -> dict[str, Any]:
        row = {
            "dataset": dataset,
            "command": name,
            "budget": BUDGETS[name],
            **aekit_command(args, threads, work / (name.replace(" ", "_") + ".log")),
        }
        rows.append(row)
        print(
            f"{dataset:22s} {name:24s} {row['seconds']:7.1f} s  CPU {row['cpu_seconds']:7.1f} s "
            f" exit {row['status']}  load {row['load_before']:.1f}",
            flush=True,
        )
        return row

    if not (run_dir / "model.safetensors").is_file():
        timed("train", ["train", "--dataset", dataset, "--max-minutes", "1", "--out", str(run_dir)])
    kind = run_kind(run_dir)
    (run_dir / "eval.json").unlink(missing_ok=True)
    if not kind["pages"] and kind["condition"] != "footprint":
        for prior in CODE_MAP_PRIORS if kind["discrete"] else CONTINUOUS_PRIORS:
            timed(f"fit-prior {prior}", ["fit-prior", str(run_dir), "--prior", prior])
    timed("report", ["report", str(run_dir)])
    timed("evaluate --prior all", ["evaluate", str(run_dir), "--prior", "all"])
    if kind["generative"] and kind["condition"] not in ("footprint", "image"):
        timed("sample", ["sample", str(run_dir), "--out", str(work / "samples")])
    if kind["vectors"]:  # encode, decode and interpolate work on code vectors
        codes = work / "codes.npy"
        encoded = timed(
            "encode --split all",
            ["encode", str(run_dir), "--dataset", dataset, "--split", "all", "--out", str(codes)],
        )
        # codes files hold labels, no images
        if encoded["status"] == 0 and kind["condition"] in (None, "label"):
            timed("decode", ["decode", str(run_dir), str(codes), "--out", str(work / "decoded")])
            pair = sorted((work / "decoded").glob("*.png"))[:2]
            if len(pair) == 2:
                timed(
                    "interpolate",
                    ["interpolate", str(run_dir), *map(str, pair), "--out", str(work / "frames")],
                )
    if kind["pages"]:
        page = _one_page(run_dir, work / "page.png")
        timed(
            "denoise (one page)", ["denoise", str(run_dir), str(page), "--out", str(work / "clean")]
        )
    shutil.rmtree(work / "decoded", ignore_errors=True)  # tens of thousands of small files
    return rows


def _one_page(run_dir: Path, path: Path) -> Path:
    """The run's first noisy test page, written to ``path`` as an 8-bit PNG."""
    from PIL import Image

    from aekit.run import Run

    page = Run(run_dir, "cpu").test.noisy[0][0]
    Image.fromarray((page * 255).round().byte().numpy()).save(path)
    return path


def table(rows: list[dict[str, Any]]) -> str:
    """The audit as a Markdown table. Within 3 minutes: by the wall time, or under load ("CPU") by
    the CPU time, which one thread would take as wall time on an idle core."""
    lines = [
        "| command | dataset | wall time | CPU time | within 3 min | peak memory | load before "
        "| what bounds it |",
        "|---|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        ok = (
            f"exit {r['status']}"
            if r["status"]
            else "yes"
            if r["seconds"] <= TARGET_SECONDS
            else "yes (CPU)"
            if r["cpu_seconds"] <= TARGET_SECONDS
            else "NO"
        )
        lines.append(
            f"| `{r['command']}` | {r['dataset']} | {r['seconds']:.0f} s | "
            f"{r['cpu_seconds']:.0f} s | {ok} | "
            f"{r['peak_mb']:,} MB | {r['load_before']:.1f} | {BUDGETS[r['command']]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs",
        type=Path,
        required=True,
        help="folder of one run per dataset (trained when missing)",
    )
    parser.add_argument(
        "--only", action="append", choices=DATASETS, help="these datasets only (repeatable)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="--threads of every command (default 1)"
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS, help=f"results file (default {RESULTS})"
    )
    args = parser.parse_args()
    began = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    audited = args.only or DATASETS
    rows = []
    for dataset in audited:
        rows += audit(dataset, args.runs, args.threads, args.runs / "_work")
    if args.json.is_file():  # the other datasets' rows of an earlier audit are kept
        rows = [r for r in read_json(args.json)["rows"] if r["dataset"] not in audited] + rows
    rows.sort(key=lambda r: DATASETS.index(r["dataset"]))
    print(table(rows))
    atomic_write_json(
        args.json,
        {
            "aekit_version": aekit.__version__,
            "began": began,
            "threads": args.threads,
            "cpu_flags": cpu_flags(),
            "processor": platform.processor() or platform.machine(),
            "uptime_before": uptime,
            "uptime_after": subprocess.run(
                ["uptime"], capture_output=True, text=True, check=False
            ).stdout.strip(),
            "target_seconds": TARGET_SECONDS,
            "rows": rows,
        },
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
