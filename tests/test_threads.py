"""aekit.threads: the usable cores (affinity, cgroup quota), the busy-core measurement,
--threads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from aekit import threads
from aekit.cli import main
from aekit.errors import ConfigError


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "quota"), [("max 100000\n", None), ("150000 100000\n", 1.5), ("200000 50000", 4.0)]
)
def test_cgroup_v2_quota(tmp_path, text, quota):
    missing = (tmp_path / "no-quota", tmp_path / "no-period")
    assert threads.cgroup_quota(_write(tmp_path / "cpu.max", text), missing) == quota


@pytest.mark.parametrize(("quota_us", "quota"), [("-1", None), ("50000", 0.5), ("300000", 3.0)])
def test_cgroup_v1_quota_when_there_is_no_v2_file(tmp_path, quota_us, quota):
    v1 = (
        _write(tmp_path / "cpu.cfs_quota_us", quota_us + "\n"),
        _write(tmp_path / "cpu.cfs_period_us", "100000\n"),
    )
    assert threads.cgroup_quota(tmp_path / "missing-cpu.max", v1) == quota


def test_no_cgroup_files_means_no_quota(tmp_path):
    assert threads.cgroup_quota(tmp_path / "a", (tmp_path / "b", tmp_path / "c")) is None


def test_usable_cpus_are_the_affinity(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {5, 2})
    assert threads.usable_cpus() == [2, 5]


def test_cpu_times_from_proc_stat(tmp_path):
    stat = _write(
        tmp_path / "stat",
        "cpu  10 0 5 100 5 0 0 0 0 0\ncpu0 4 0 2 50 3 0 0 0 2 0\ncpu1 6 0 3 50 2 0 0 1 0 0\n"
        "intr 1 2 3\n",
    )
    # guest (9th) is inside user already
    assert threads.read_cpu_times(stat) == {0: (53, 59), 1: (52, 62)}


def test_idle_shares_over_a_measurement():
    readings = iter(
        [{0: (100, 200), 1: (100, 200), 2: (0, 0)}, {0: (110, 210), 1: (101, 210), 2: (0, 0)}]
    )
    shares = threads.idle_shares([0, 1, 2], seconds=0.0, read=lambda: next(readings))
    assert shares == {0: 1.0, 1: pytest.approx(0.1), 2: 1.0}


@pytest.mark.parametrize(
    ("cpus", "quota", "idle", "expected"),
    [
        ([0, 1], None, {0: 1.0, 1: 0.98}, 2),  # idle machine: every core
        ([0, 1], None, {0: 0.97, 1: 0.02}, 1),  # a busy loop pinned to cpu 1
        ([0, 1], None, {0: 0.0, 1: 0.1}, 1),  # both busy: still one thread
        ([0, 1, 2, 3], None, {0: 0.5, 1: 0.6, 2: 0.9, 3: 1.0}, 3),  # 3.0 cores' worth idle
        ([0, 1, 2, 3], 2.5, {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}, 2),  # the cgroup quota caps it
        ([0, 1, 2, 3], 0.5, None, 1),  # no measurement: the limits alone
        ([0, 1, 2], None, None, 3),
    ],
)
def test_thread_choice_from_a_mocked_measurement(cpus, quota, idle, expected):
    choice = threads.choose_threads(cpus, quota, idle)
    assert choice.threads == expected and choice.measured


def test_the_line_names_the_busy_core():
    line = threads.choose_threads([0, 1], None, {0: 0.97, 1: 0.02}).line()
    assert (
        line == "aekit: 1 thread (2 cores in the affinity; busy with other work: cpu 1 98%; "
        "--threads N to choose)"
    )


def test_the_measurement_is_used_unless_threads_or_omp_num_threads_decide(monkeypatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: [0, 1])
    monkeypatch.setattr(threads, "cgroup_quota", lambda: None)
    monkeypatch.setattr(threads, "idle_shares", lambda cpus: {0: 1.0, 1: 0.0})
    assert threads.decide_threads(3).threads == 3 and not threads.decide_threads(3).measured
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert (
        threads.decide_threads(None).threads == 4
        and threads.decide_threads(None).reason == "OMP_NUM_THREADS"
    )
    monkeypatch.delenv("OMP_NUM_THREADS")
    choice = threads.decide_threads(None)
    assert choice.threads == 1 and choice.measured and "cpu 1 100%" in choice.reason
    with pytest.raises(ConfigError, match="--threads must be at least 1"):
        threads.decide_threads(0)


def test_every_command_takes_threads_and_sets_torch_before_its_work(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(threads, "set_threads", lambda n: seen.append(n))
    monkeypatch.setattr(threads, "idle_shares", lambda cpus: {cpu: 1.0 for cpu in cpus})
    monkeypatch.setattr(threads, "cgroup_quota", lambda: None)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert main(["models", "--threads", "3"]) == 0 and seen == [3]
    assert main(["models"]) == 0 and seen == [3]  # a listing command measures nothing
    # computes: measured first, said in a line
    assert main(["make-documents", "--pages", "0", "--out", "unused"]) == 2
    assert (
        seen[1] == len(threads.usable_cpus())
        and "thread" in capsys.readouterr().err.splitlines()[0]
    )
    assert main(["evaluate", "missing-run", "--threads", "0"]) == 2


def test_set_threads_sets_torch(monkeypatch):
    before = torch.get_num_threads()
    try:
        threads.set_threads(2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_set_threads_limits_the_blas_pools_of_libraries_loaded_later():
    script = (
        "from aekit.threads import set_threads; set_threads(1); import numpy, scipy.linalg, "
        "sklearn.linear_model; from threadpoolctl import threadpool_info; "
        "print(sorted({p['num_threads'] for p in threadpool_info() if p['internal_api'] == "
        "'openblas'}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip() == "[1]"  # numpy's and scipy's; without the limits [2] on 2 cores
