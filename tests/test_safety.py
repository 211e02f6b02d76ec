"""Reliability: nothing executed from a file, nothing lost on a crash, every fault one line."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import aekit
import aekit.runs as runs_module
from aekit.config import TrainConfig
from aekit.errors import AekitError, ConfigError, TrainingError

QUICK = dict(
    model="dense",
    dataset="digits",
    max_train_images=128,
    batch_size=32,
    quiet=True,
    model_options={"latent_dim": 4},
)


def _config(out, **overrides) -> TrainConfig:
    return TrainConfig(**{"out": str(out), "epochs": 1, **QUICK, **overrides})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return aekit.train(_config(tmp_path_factory.mktemp("runs") / "run")).dir


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("config.json", "model.safetensors"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message
    return message


class _Exploit:
    """Unpickling this creates a file: the proof that loading executed code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["model.pt", "weights.pkl", "model.safetensors"])
def test_malicious_pickle_is_refused_and_never_run(tmp_path, trained, name):
    marker = tmp_path / "pwned"
    blob = pickle.dumps(_Exploit(marker))
    # a pickle disguised under the safetensors name inside a run folder
    if name == "model.safetensors":
        target = _copy_run(trained, tmp_path / "run")
        (target / name).write_bytes(blob)
    else:
        target = tmp_path / name
        target.write_bytes(blob)
    with pytest.raises(AekitError) as info:
        aekit.load(target)
    assert "pickle" in _one_line(info.value)
    assert not marker.exists()


def test_safetensors_not_matching_config_is_refused(tmp_path, trained):
    run = _copy_run(trained, tmp_path / "run")
    tensors = load_file(str(run / "model.safetensors"))
    name = next(iter(tensors))
    save_file({**tensors, name: torch.zeros(3, 3)}, str(run / "model.safetensors"))
    with pytest.raises(ConfigError, match=f"tensor '{name}' has shape \\(3, 3\\)") as info:
        aekit.load(run)
    _one_line(info.value)
    save_file({k: v for k, v in tensors.items() if k != name}, str(run / "model.safetensors"))
    with pytest.raises(ConfigError, match=f"missing {name}"):
        aekit.load(run)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda m: m.update(extra=1), "unknown key(s) extra"),
        (lambda m: m.update(input_shape=[1, 8]), "'input_shape' must be 3 positive integers"),
        (lambda m: m.update(num_classes="ten"), "'num_classes' must be a positive integer"),
        (
            lambda m: m["model_options"].update(latent_dim="4"),
            "option 'latent_dim' must be an integer",
        ),
        (lambda m: m["model_options"].update(evil=1), "unknown option(s) evil"),
        (lambda m: m["train"].update(epochs=-1), "'epochs' must be at least 1"),
        (
            lambda m: m["model_options"].update(latent_dim=-3),
            "option 'latent_dim' must be at least 1",
        ),
        (lambda m: m["model_options"].update(hidden=[0]), "option 'hidden' must be at least 1"),
        (lambda m: m["model_options"].update(latent_dim=10**9), "parameters; aekit builds at most"),
        (lambda m: m.update(input_shape=[1, 65536, 65536]), "parameters; aekit builds at most"),
    ],
)
def test_bad_config_json_is_refused(tmp_path, trained, change, fragment):
    run = _copy_run(trained, tmp_path / "run")
    meta = json.loads((run / "config.json").read_text())
    change(meta)
    (run / "config.json").write_text(json.dumps(meta))
    before = _peak_rss_mb()
    with pytest.raises(ConfigError) as info:
        aekit.load(run)
    message = _one_line(info.value)
    assert fragment in message and "config.json" in message
    assert _peak_rss_mb() - before < 200  # refused before the billion-parameter layer was allocated


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_nan_loss_stops_naming_step_and_term_and_keeps_checkpoint(tmp_path, monkeypatch):
    config = _config(tmp_path / "run", epochs=1)
    aekit.train(config)
    before = (config.run_dir / "checkpoint.safetensors").read_bytes()
    model_type = type(aekit.load(config.run_dir))
    real_loss = model_type.loss

    def poisoned(self, x, target=None, condition=None, step=0):
        terms = real_loss(self, x, target, condition, step)
        if step == 6:  # a NaN in a named term, as an exploding loss would give
            terms = {
                **terms,
                "loss": terms["loss"] * float("nan"),
                "blowup": torch.tensor(float("inf")),
            }
        return terms

    monkeypatch.setattr(model_type, "loss", poisoned)
    with pytest.raises(TrainingError) as info:
        aekit.train(_config(config.run_dir, epochs=2, resume=True))
    message = _one_line(info.value)
    assert "step 6" in message and "'blowup'" in message and "epoch 2" in message
    assert "lower learning rate" in message and "grad_clip" in message
    assert (config.run_dir / "checkpoint.safetensors").read_bytes() == before
    monkeypatch.setattr(model_type, "loss", real_loss)  # the kept checkpoint resumes
    assert aekit.train(_config(config.run_dir, epochs=2, resume=True)).history[-1]["epoch"] == 2


def test_full_disk_gives_one_line_and_keeps_previous_checkpoint(tmp_path, monkeypatch):
    config = _config(tmp_path / "run", epochs=1)
    aekit.train(config)
    before = {p.name: p.read_bytes() for p in config.run_dir.iterdir()}

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(AekitError) as info:
        aekit.train(_config(config.run_dir, epochs=2, resume=True))
    assert "disk full" in _one_line(info.value)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in config.run_dir.iterdir()}
    assert after == before  # no half-written or temporary files either
    assert aekit.train(_config(config.run_dir, epochs=2, resume=True)).history[-1]["epoch"] == 2


def test_unwritable_out_folder_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(TrainingError, match="cannot create the run folder") as info:
        aekit.train(_config(blocker / "run"))
    _one_line(info.value)


def test_missing_cuda_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrainingError, match="no CUDA GPU is available") as info:
        aekit.train(_config(tmp_path / "run", device="cuda"))
    _one_line(info.value)
    assert not (tmp_path / "run").exists()


def test_second_training_into_same_folder_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    # another process holding the lock looks the same to flock
    with runs_module.RunLock(_make(run_dir)):
        with pytest.raises(TrainingError, match="another training is writing") as info:
            aekit.train(_config(run_dir))
        _one_line(info.value)
    assert aekit.train(_config(run_dir)).history  # the lock goes with its holder


def _make(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _train_cli(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aekit",
        "train",
        "--model",
        "dense",
        "--dataset",
        "digits",
        "--epochs",
        "4",
        "--max-train-images",
        "256",
        "--batch-size",
        "4",
        "--latent-dim",
        "4",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


def _epoch(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "checkpoint.json").read_text())["epoch"]
    except (OSError, ValueError):
        return 0


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    full = tmp_path / "full"
    uninterrupted = subprocess.Popen(_train_cli(full), env=env)
    killed = tmp_path / "killed"
    victim = subprocess.Popen(_train_cli(killed), env=env)
    deadline = time.monotonic() + 120
    while _epoch(killed) < 1 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    done = _epoch(killed)
    assert 1 <= done < 4, "the process was not killed during training"
    committed = (killed / "metrics.jsonl").read_text().splitlines()[:done]
    subprocess.run(_train_cli(killed, "--resume"), env=env, check=True, timeout=120)
    assert uninterrupted.wait(timeout=120) == 0
    # at most one epoch lost: the epochs finished before the kill were kept, not redone
    assert (killed / "metrics.jsonl").read_text().splitlines()[:done] == committed
    a, b = load_file(str(full / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (
        load_file(str(full / "checkpoint.safetensors")).keys()
        == load_file(str(killed / "checkpoint.safetensors")).keys()
    )
