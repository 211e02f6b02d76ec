"""Training: the run folder, determinism, resume equality, early stopping, load round trip."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import aekit
from aekit.config import TrainConfig
from aekit.errors import ConfigError, TrainingError

QUICK = dict(
    dataset="digits",
    max_train_images=256,
    batch_size=32,
    quiet=True,
    model_options={"latent_dim": 4},
)


def _config(out, **overrides) -> TrainConfig:
    return TrainConfig(**{"model": "dense", "out": str(out), "epochs": 2, **QUICK, **overrides})


def _tensors(path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_train_writes_run_folder_and_load_round_trips(tmp_path):
    run = aekit.train(_config(tmp_path / "run"))
    files = {p.name for p in run.dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "metrics.jsonl",
        "checkpoint.safetensors",
        "checkpoint.json",
    } <= files
    meta = json.loads((run.dir / "config.json").read_text())
    assert (
        meta["model"] == "dense" and meta["input_shape"] == [1, 8, 8] and meta["num_classes"] == 10
    )
    assert meta["model_options"]["latent_dim"] == 4 and meta["train"]["epochs"] == 2
    lines = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2] and lines == run.history
    assert lines[1]["train"]["loss"] < lines[0]["train"]["loss"]
    assert {"epoch", "train", "val", "seconds", "lr"} <= lines[0].keys()

    model = aekit.load(run.dir)
    x = torch.rand(5, 1, 8, 8)
    with torch.inference_mode():
        assert torch.equal(model.reconstruct(x), run.model.reconstruct(x))


def test_bf16_training_learns_like_fp32_and_keeps_float32_weights(tmp_path):
    """bfloat16 autocast changes the rounding, not the objective: the losses track the fp32 run."""
    options = dict(model="tutorial-dae", noise="salt-pepper:0.1", epochs=2, model_options={})
    fp32 = aekit.train(_config(tmp_path / "fp32", **options))
    bf16 = aekit.train(_config(tmp_path / "bf16", precision="bf16", **options))
    assert json.loads((bf16.dir / "config.json").read_text())["train"]["precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in _tensors(bf16.dir / "model.safetensors").values())
    for a, b in zip(fp32.history, bf16.history):
        assert b["val"]["loss"] == pytest.approx(a["val"]["loss"], rel=0.05)
    assert bf16.history[1]["train"]["loss"] < bf16.history[0]["train"]["loss"]


def test_same_config_gives_bit_identical_weights(tmp_path):
    a = aekit.train(_config(tmp_path / "a", noise="salt-pepper:0.1"))
    b = aekit.train(_config(tmp_path / "b", noise="salt-pepper:0.1"))
    _assert_same(_tensors(a.dir / "model.safetensors"), _tensors(b.dir / "model.safetensors"))
    c = aekit.train(_config(tmp_path / "c", noise="salt-pepper:0.1", seed=1))
    assert not torch.equal(
        *(next(iter(_tensors(r.dir / "model.safetensors").values())) for r in (a, c))
    )


def test_resume_equals_uninterrupted_run(tmp_path):
    # A VAE with noise exercises every random stream: order, corruption and reparameterisation.
    options = dict(model="vae", noise="salt-pepper:0.1", model_options={"latent_dim": 2})
    full = aekit.train(_config(tmp_path / "full", epochs=3, **options))
    aekit.train(_config(tmp_path / "part", epochs=2, **options))
    resumed = aekit.train(_config(tmp_path / "part", epochs=3, resume=True, **options))
    _assert_same(
        _tensors(full.dir / "checkpoint.safetensors"),
        _tensors(resumed.dir / "checkpoint.safetensors"),
    )
    _assert_same(
        _tensors(full.dir / "model.safetensors"), _tensors(resumed.dir / "model.safetensors")
    )
    strip = lambda history: [
        {k: v for k, v in h.items() if k not in ("seconds", "images_per_s")} for h in history
    ]  # noqa: E731
    assert strip(resumed.history) == strip(full.history)


def test_data_dependent_start_runs_on_a_fresh_run_only_and_resume_stays_exact(tmp_path):
    """res-vae's linear_path starts as PCA of the training images (init_from_data): a fresh run's
    first state equals PCA's reconstructions, and resuming does not start it again (bit-exact)."""
    from aekit.data import load, val_indices
    from aekit.metrics import fit_pca, mse, pca_reconstruct

    options = dict(
        model="res-vae",
        model_options={
            "latent_dim": 4,
            "width": 8,
            "max_width": 16,
            "linear_path": True,
            "likelihood": "logistic-image",
        },
    )
    # built and started, never stepped
    start = aekit.train(_config(tmp_path / "start", epochs=0, **options))
    data = load("digits", "train")
    rows = val_indices(data, 0.1, 0)[0][:256]
    images = data.batch(rows)
    with torch.inference_mode():
        assert mse(start.model.reconstruct(images), images) == pytest.approx(
            mse(pca_reconstruct(fit_pca(images, 4), images), images), rel=1e-4
        )
    full = aekit.train(_config(tmp_path / "full", epochs=3, **options))
    aekit.train(_config(tmp_path / "part", epochs=2, **options))
    resumed = aekit.train(_config(tmp_path / "part", epochs=3, resume=True, **options))
    _assert_same(
        _tensors(full.dir / "checkpoint.safetensors"),
        _tensors(resumed.dir / "checkpoint.safetensors"),
    )


def test_early_stopping_keeps_best_weights(tmp_path, monkeypatch):
    import aekit.train as train_module

    # Validation gets worse after epoch 2, so training stops at epoch 2 + patience.
    real = train_module.validation_loss
    calls = iter([5.0, 4.0, 6.0, 7.0, 8.0, 9.0])
    monkeypatch.setattr(
        train_module, "validation_loss", lambda *a: {**real(*a), "loss": next(calls)}
    )
    run = aekit.train(_config(tmp_path / "run", epochs=6, patience=2, max_train_images=64))
    assert [h["epoch"] for h in run.history] == [1, 2, 3, 4] and run.best_epoch == 2
    checkpoint = _tensors(run.dir / "checkpoint.safetensors")
    best = {k[len("best/") :]: v for k, v in checkpoint.items() if k.startswith("best/")}
    _assert_same(_tensors(run.dir / "model.safetensors"), best)
    _assert_same({k: v for k, v in run.model.state_dict().items()}, best)
    assert not torch.equal(checkpoint["model/" + next(iter(best))], next(iter(best.values())))


def test_existing_run_is_not_overwritten_and_resume_checks_config(tmp_path):
    config = _config(tmp_path / "run", epochs=1)
    aekit.train(config)
    with pytest.raises(TrainingError, match="already holds a run; pass --resume"):
        aekit.train(config)
    with pytest.raises(ConfigError, match="different batch_size"):
        aekit.train(_config(tmp_path / "run", epochs=2, batch_size=16, resume=True))
    with pytest.raises(TrainingError, match="nothing to resume"):
        aekit.train(_config(tmp_path / "empty", resume=True))
    # a finished run resumed with more epochs goes on, with a new learning rate if asked
    run = aekit.train(_config(tmp_path / "run", epochs=2, lr=5e-4, resume=True))
    assert [h["lr"] for h in run.history] == [1e-3, 5e-4]


def test_documents_train_on_aligned_patches(tmp_path, monkeypatch):
    import aekit.data
    from aekit.data import PageSet

    g = torch.Generator().manual_seed(0)
    clean = [torch.rand(1, 40, 48, generator=g).round() for _ in range(6)]
    pages = PageSet(
        [0.1 + 0.8 * c for c in clean], clean, [f"p{i}" for i in range(6)], list(range(6)), "fake"
    )
    monkeypatch.setattr(aekit.data, "load", lambda *args, **kwargs: pages)
    run = aekit.train(
        _config(
            tmp_path / "run",
            model="dense",
            dataset="documents",
            patch_size=16,
            patches_per_epoch=128,
            val_fraction=0.2,
            epochs=3,
            lr=5e-3,
        )
    )
    meta = json.loads((run.dir / "config.json").read_text())
    assert meta["input_shape"] == [1, 16, 16] and meta["num_classes"] is None
    assert run.history[-1]["val"]["loss"] < run.history[0]["val"]["loss"]


def test_synthetic_share_mixes_generated_pages_into_each_epoch(tmp_path, monkeypatch):
    import importlib

    import aekit.data
    from aekit.data import PageSet
    from aekit.data.documents import mixed_patches

    trainer = importlib.import_module("aekit.train_data")
    g = torch.Generator().manual_seed(0)
    clean = [torch.rand(1, 40, 48, generator=g).round() for _ in range(6)]
    pages = PageSet(
        [0.1 + 0.8 * c for c in clean], clean, [f"p{i}" for i in range(6)], list(range(6)), "fake"
    )
    grey = PageSet([torch.full((1, 40, 48), 0.5)], [torch.ones(1, 40, 48)], ["g"], [0], "generated")
    monkeypatch.setattr(aekit.data, "load", lambda *args, **kwargs: pages)
    monkeypatch.setattr(trainer, "synthetic_mix", lambda share: grey if share else None)
    drawn: list[float] = []

    def spy(*args, **kwargs):
        noisy, clean = mixed_patches(*args, **kwargs)
        drawn.append(float((noisy.flatten(1) == 0.5).all(1).float().mean()))
        return noisy, clean

    monkeypatch.setattr(trainer, "mixed_patches", spy)
    aekit.train(
        _config(
            tmp_path / "run",
            model="dense",
            dataset="documents",
            patch_size=16,
            patches_per_epoch=40,
            val_fraction=0.2,
            epochs=2,
            synthetic_share=0.25,
        )
    )
    assert drawn == [0.25, 0.25]


def test_enlarge_reaches_every_epoch_s_patches_and_the_run_records_it(tmp_path, monkeypatch):
    import importlib

    import aekit.data
    from aekit.data import PageSet
    from aekit.data.documents import mixed_patches
    from aekit.errors import ConfigError

    with pytest.raises(ConfigError, match="enlarge"):
        TrainConfig.from_dict({"dataset": "documents", "enlarge": 0.5}, "command line")
    trainer = importlib.import_module("aekit.train_data")
    lines = torch.ones(1, 96, 120)
    lines[:, ::8] = 0.0
    pages = PageSet(
        [0.2 + 0.7 * lines for _ in range(6)],
        [lines.clone() for _ in range(6)],
        [f"p{i}" for i in range(6)],
        list(range(6)),
        "fake",
    )
    monkeypatch.setattr(aekit.data, "load", lambda *args, **kwargs: pages)
    asked: list[float] = []

    def spy(*args, **kwargs):
        asked.append(kwargs["enlarge"])
        return mixed_patches(*args, **kwargs)

    monkeypatch.setattr(trainer, "mixed_patches", spy)
    run = aekit.train(
        _config(
            tmp_path / "run",
            model="dense",
            dataset="documents",
            patch_size=16,
            patches_per_epoch=32,
            val_fraction=0.2,
            epochs=2,
            enlarge=3.0,
        )
    )
    assert asked == [3.0, 3.0]
    assert json.loads((run.dir / "config.json").read_text())["train"]["enlarge"] == 3.0


def _slow_batches(monkeypatch, seconds: float) -> None:
    """Every training batch of the dense model takes at least ``seconds`` (a slow epoch,
    deterministically)."""
    import time

    from aekit.models.dense import DenseAE

    fast = DenseAE.loss

    def slow(self, *args, **kwargs):
        if self.training:
            time.sleep(seconds)
        return fast(self, *args, **kwargs)

    monkeypatch.setattr(DenseAE, "loss", slow)


def test_max_minutes_stops_inside_an_epoch_and_says_partial(tmp_path, monkeypatch, capsys):
    import time

    _slow_batches(monkeypatch, 0.02)  # 1,347 batches of one image: an epoch of 27 s or more
    config = _config(
        tmp_path / "run",
        epochs=3,
        max_minutes=0.02,
        batch_size=1,
        max_train_images=None,
        quiet=False,
    )
    began = time.perf_counter()
    run = aekit.train(config)
    took = time.perf_counter() - began
    # the budget is 1.2 s; loading digits and the model add well under 2 s
    assert took < 3 * 1.2 + 2.0, took
    assert len(run.history) == 1
    done, steps = map(int, run.history[0]["partial"].split(" ")[0].split("/"))
    # 1.2 s of 20 ms batches, less the time taken before the first
    assert steps == 1347 and 1 <= done <= 60
    err = capsys.readouterr().err
    assert f"(partial epoch: {done}/1347 batches, max_minutes = 0.02 reached)" in err
    assert "img/s" in err and "stopping before epoch 2: max_minutes = 0.02 reached" in err
    # the partial epoch was validated and kept as the best: the weights on disk are the model's
    assert run.best_epoch == 1
    _assert_same(
        _tensors(run.dir / "model.safetensors"),
        {k: v.contiguous() for k, v in run.model.state_dict().items()},
    )
    checkpoint = json.loads((run.dir / "checkpoint.json").read_text())
    assert checkpoint["epoch"] == 1


def test_max_minutes_keeps_the_best_epoch_not_a_worse_partial_one(tmp_path, monkeypatch):
    run = aekit.train(_config(tmp_path / "run", epochs=2, lr=3e-3))
    best = _tensors(run.dir / "model.safetensors")
    _slow_batches(monkeypatch, 0.05)
    # lr 10: the partial epoch's few steps make the model worse; the best weights must stay those of
    # epoch 2.
    # The budget counts the first two epochs' seconds too: 0.3 s more leaves a few 0.05 s batches,
    # on a busy machine too
    budget = (sum(epoch["seconds"] for epoch in run.history) + 0.3) / 60
    resumed = aekit.train(
        _config(tmp_path / "run", epochs=4, lr=10.0, max_minutes=budget, resume=True)
    )
    assert (
        "partial" in resumed.history[-1]
        and resumed.history[-1]["val"]["loss"] > resumed.history[1]["val"]["loss"]
    )
    assert resumed.best_epoch == 2
    _assert_same(_tensors(run.dir / "model.safetensors"), best)


def test_every_batch_line_and_epoch_line_say_time_and_speed(tmp_path, monkeypatch, capsys):
    import aekit.progress

    # a slow epoch: a line after every batch
    monkeypatch.setattr(aekit.progress, "PLAIN_SECONDS", 0.0)
    aekit.train(_config(tmp_path / "run", epochs=1, quiet=False))
    lines = capsys.readouterr().err.splitlines()
    batches = [line for line in lines if line.startswith("epoch 1/1: ")]
    assert batches[0].startswith("epoch 1/1: 1/8 batch  loss ") and batches[-1].startswith(
        "epoch 1/1: 8/8 batch"
    )
    epoch = next(line for line in lines if line.startswith("epoch 1/1  train loss"))
    assert " s, " in epoch and epoch.endswith("img/s  (best)") and "partial" not in epoch


def test_tensorboard_and_plain_epoch_lines_in_a_log(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = TrainConfig(
        model="vae",
        dataset="digits",
        epochs=2,
        max_train_images=64,
        batch_size=32,
        tensorboard=True,
        out=str(tmp_path / "run"),
        model_options={"latent_dim": 2},
    )
    aekit.train(config)
    # stderr is not a terminal here: one plain line per epoch, no redraws
    err = capsys.readouterr().err
    assert "\r" not in err and "epoch 1/2  train loss" in err and "epoch 2/2  train loss" in err
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("val/loss")] == [1, 2]
    assert {"reconstructions", "samples"} <= set(events.Tags()["images"])


def test_skip_bad_counts_and_keeps_the_skipped_files_in_the_run_folder(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(12):
        Image.new("RGB", (8, 8), (20 * i, 100, 200)).save(folder / f"ok{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    config = TrainConfig(
        model="dense",
        dataset=f"folder:{folder}",
        epochs=1,
        batch_size=4,
        skip_bad=True,
        out=str(tmp_path / "run"),
        model_options={"latent_dim": 2},
    )
    aekit.train(config)
    notes = json.loads((tmp_path / "run" / "data.json").read_text())
    assert notes["skipped_count"] == 1 and "broken.png" in notes["skipped"][0]
    assert "skipped 1 files that do not decode" in capsys.readouterr().err
    # without skip_bad: one line, nothing trained
    with pytest.raises(aekit.AekitError, match="broken.png"):
        aekit.train(
            TrainConfig(
                model="dense",
                dataset=f"folder:{folder}",
                epochs=1,
                out=str(tmp_path / "run2"),
                model_options={"latent_dim": 2},
            )
        )


def test_ctrl_c_mid_training_is_one_line_and_the_run_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "aekit",
        "train",
        "--model",
        "dense",
        "--dataset",
        "digits",
        "--epochs",
        "1000",
        "--batch-size",
        "2",
        "--latent-dim",
        "4",
        "--quiet",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # As from a terminal: pytest-xdist's workers ignore SIGINT, and a child that inherits the ignore
    # never gets Python's KeyboardInterrupt handler, so restore the default before the exec.
    process = subprocess.Popen(
        argv,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while (
        not (out / "checkpoint.json").is_file()
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends, here in the middle of epoch 2 or later
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 130
    assert err.splitlines() == [
        f"aekit: interrupted; training stopped; {out} keeps its last finished epoch: continue "
        "with --resume"
    ], err
    epoch = json.loads((out / "checkpoint.json").read_text())["epoch"]
    # metrics.jsonl is written just before the checkpoint: it may hold one epoch more
    assert epoch >= 1
    assert epoch <= len((out / "metrics.jsonl").read_text().splitlines()) <= epoch + 1
    run = aekit.train(
        _config(
            out, model="dense", epochs=epoch + 1, batch_size=2, max_train_images=None, resume=True
        )
    )
    assert [h["epoch"] for h in run.history] == list(range(1, epoch + 2))


def test_a_time_budget_without_epochs_trains_until_the_budget_not_the_default_epochs(
    tmp_path, capsys
):
    from aekit.config import DEFAULT_EPOCHS

    assert TrainConfig().epoch_limit == DEFAULT_EPOCHS
    assert TrainConfig(epochs=3, max_minutes=5.0).epoch_limit == 3
    # 64 images an epoch: the 3-second budget holds far more than the default 10 epochs
    run = aekit.train(
        _config(tmp_path / "run", epochs=None, max_minutes=0.05, max_train_images=64, quiet=False)
    )
    assert len(run.history) > DEFAULT_EPOCHS
    err = capsys.readouterr().err
    assert f"epoch {len(run.history)}  train" in err and "max_minutes = 0.05 reached" in err
