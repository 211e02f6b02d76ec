"""How many threads aekit computes with: the cores it may use, less those other work keeps busy.

The cores it may use are the CPU affinity (``taskset``, a container's cpuset) capped by the
cgroup CPU quota (``docker --cpus``: cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
``cpu.cfs_period_us``). Of those, cores another process keeps busy are worth less than nothing
to torch: its OpenMP threads wait for each other at every barrier, so one thread descheduled
on a busy core holds up all of them (benchmarks/README.md: with a busy loop pinned to one of
two cores, 2 threads were slower than 1). So at start aekit reads each usable core's idle time
from ``/proc/stat`` over 0.1 s (the process itself sleeps meanwhile) and computes on as many
threads as there are idle cores. ``--threads N``, or ``OMP_NUM_THREADS`` in the environment,
decides instead, without a measurement.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from aekit.errors import ConfigError

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
)
PROC_STAT = Path("/proc/stat")
MEASURE_SECONDS = 0.1


def cgroup_quota(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> float | None:
    """CPUs the cgroup's quota allows (e.g. 1.5), or None without a quota or a readable file.
    v2's ``cpu.max`` holds ``QUOTA PERIOD`` (``max`` for none); v1 keeps the two in two files
    (quota -1 for none)."""
    try:
        quota, period = v2.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = v1[0].read_text().strip(), v1[1].read_text().strip()
        except OSError:
            return None
    if quota == "max":
        return None
    try:
        share = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return share if share > 0 else None


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity)."""
    return sorted(os.sched_getaffinity(0))


def read_cpu_times(stat: Path = PROC_STAT) -> dict[int, tuple[int, int]]:
    """``cpu -> (idle, total)`` jiffies from /proc/stat (idle counts iowait; guest time is already
    part of user time, so it is not counted twice)."""
    times = {}
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        times[int(name[3:])] = (values[3] + values[4], sum(values))
    return times


def idle_shares(
    cpus: list[int],
    seconds: float = MEASURE_SECONDS,
    read: Callable[[], dict[int, tuple[int, int]]] = read_cpu_times,
) -> dict[int, float]:
    """Each CPU's idle share (0: busy all the time, 1: idle) over the next ``seconds``."""
    before = read()
    time.sleep(seconds)
    after = read()
    shares = {}
    for cpu in cpus:
        if cpu in before and cpu in after:
            idle, total = (a - b for a, b in zip(after[cpu], before[cpu]))
            shares[cpu] = idle / total if total > 0 else 1.0
    return shares


@dataclass
class ThreadChoice:
    """The thread count, why, and whether it was measured (the user did not choose it)."""

    threads: int
    reason: str
    measured: bool = False

    def line(self) -> str:
        return (
            f"aekit: {self.threads} thread{'s' * (self.threads != 1)} ({self.reason}; "
            "--threads N to choose)"
        )


def choose_threads(
    cpus: list[int], quota: float | None, idle: dict[int, float] | None
) -> ThreadChoice:
    """Threads for ``cpus`` under ``quota`` CPUs: the idle capacity of the usable cores, rounded
    (two cores each half busy are one core's worth), at least 1."""
    usable = len(cpus) if quota is None else max(1, min(len(cpus), math.floor(quota)))
    limits = f"{len(cpus)} cores in the affinity" + (
        f", cgroup quota {quota:g} CPUs" if quota is not None else ""
    )
    if not idle:  # no per-CPU times (not Linux): trust the limits
        return ThreadChoice(usable, limits, measured=True)
    capacity = sum(idle.values())
    threads = max(1, min(usable, math.floor(capacity + 0.5)))
    busy = [f"{cpu} {100 * (1 - share):.0f}%" for cpu, share in sorted(idle.items()) if share < 0.5]
    load = (
        f"busy with other work: cpu {', '.join(busy)}" if busy else f"{capacity:.1f} of them idle"
    )
    return ThreadChoice(threads, f"{limits}; {load}", measured=True)


def decide_threads(requested: int | None) -> ThreadChoice:
    """``--threads N``, else ``OMP_NUM_THREADS``, else the measurement at start."""
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"--threads must be at least 1, got {requested}")
        return ThreadChoice(requested, "--threads")
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return ThreadChoice(int(env), "OMP_NUM_THREADS")
    cpus = usable_cpus()
    try:
        idle = idle_shares(cpus)
    except (OSError, ValueError, IndexError):  # no /proc/stat, or one this reader does not know
        idle = None
    return choose_threads(cpus, cgroup_quota(), idle)


BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(threads: int) -> None:
    """torch's intra-op and inter-op pools, and the BLAS pools of numpy and scipy (PCA,
    scikit-learn's probes and mixtures): loaded ones through threadpoolctl, later ones through the
    environment. Their threads spin-wait too: on 2 busy cores the latent probe's logistic regression
    took 177 s with OpenBLAS's 2 threads, 13 s with 1. The inter-op size can be set once per
    process, before any parallel work (a second command in the same process keeps the first's)."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    for variable in BLAS_VARIABLES:
        os.environ[variable] = str(threads)
    threadpool_limits(threads)
