"""The progress channel: plain lines off a terminal, bars on one, callbacks, TensorBoard events."""

from __future__ import annotations

import io

import torch
from stand_ins import TinyConfig, TinyDense, TinyVAE
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aekit.progress import Callback, Progress, TensorBoardLogger

METRICS = {
    "epoch": 1,
    "train": {"loss": 2.5, "kl": 0.5},
    "val": {"loss": 2.0},
    "seconds": 1.0,
    "lr": 0.001,
}


def test_a_log_file_gets_plain_lines_not_redraws():
    stream = io.StringIO()
    progress = Progress(stream=stream)  # a StringIO is not a terminal
    assert not progress.interactive
    with progress.bar(1000, "denoise", unit="file") as bar:
        for _ in range(1000):
            bar.update(1)
    progress.epoch(1, 3, METRICS, improved=True)
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 11  # every tenth of the way, then the epoch line
    assert lines[0] == "denoise: 100/1000 file" and lines[9] == "denoise: 1000/1000 file"
    assert lines[-1] == "epoch 1/3  train loss 2.5 kl 0.5  val loss 2  1.0 s  (best)"


def test_batches_inside_an_epoch_stay_silent_in_a_log():
    stream = io.StringIO()
    progress = Progress(stream=stream)
    with progress.bar(50, "epoch 1/3", unit="batch", lines=False) as bar:
        for _ in range(50):
            bar.update(1, loss=0.5)
    assert stream.getvalue() == ""


def test_a_slow_epoch_writes_a_line_every_30_seconds_in_a_log(monkeypatch):
    import aekit.progress

    # every batch 7 s later: a line on the 5th, 10th, ... batch (35 s, 70 s)
    clock = iter(range(0, 10_000, 7))
    monkeypatch.setattr(aekit.progress.time, "monotonic", lambda: float(next(clock)))
    stream = io.StringIO()
    progress = Progress(stream=stream)
    with progress.bar(12, "epoch 1/3", unit="batch", lines=False) as bar:
        for _ in range(12):
            bar.update(1, loss=0.5)
    assert stream.getvalue().splitlines() == [
        "epoch 1/3: 5/12 batch  loss 0.5",
        "epoch 1/3: 10/12 batch  loss 0.5",
    ]


def test_the_epoch_line_says_seconds_speed_and_a_partial_epoch():
    stream = io.StringIO()
    Progress(stream=stream).epoch(
        2, 3, {**METRICS, "seconds": 12.34, "images_per_s": 4321.0, "partial": "5/9 batches"}
    )
    assert (
        stream.getvalue()
        == "epoch 2/3  train loss 2.5 kl 0.5  val loss 2  12.3 s, 4,321 img/s  (partial epoch: "
        "5/9 batches)\n"
    )


def test_a_terminal_gets_a_tqdm_bar_and_quiet_gets_nothing():
    stream = io.StringIO()
    progress = Progress(stream=stream, interactive=True)
    with progress.bar(20, "denoise", unit="file") as bar:
        for _ in range(20):
            bar.update(1)
    assert stream.getvalue().startswith("\rdenoise:")  # tqdm redraws in place
    silent = io.StringIO()
    quiet = Progress(quiet=True, stream=silent, interactive=True)
    with quiet.bar(5, "x") as bar:
        bar.update(5)
    quiet.message("hello")
    assert silent.getvalue() == ""


def test_callbacks_get_every_epoch_even_when_quiet():
    seen = []

    class Recorder(Callback):
        def on_epoch(self, epoch, metrics, model):
            seen.append((epoch, metrics["val"]["loss"], model))

        def close(self):
            seen.append("closed")

    progress = Progress(quiet=True)
    progress.subscribe(Recorder())
    progress.epoch(1, 2, METRICS, model="m")
    progress.epoch(2, 2, {**METRICS, "val": {"loss": 1.0}}, model="m")
    progress.close()
    assert seen == [(1, 2.0, "m"), (2, 1.0, "m"), "closed"]


def test_tensorboard_logger_writes_scalars_and_pictures(tmp_path):
    torch.manual_seed(0)
    vae = TinyVAE(TinyConfig(), (2, 6, 6))  # grey + alpha: shown over a checkerboard
    images = torch.rand(4, 2, 6, 6)
    logger = TensorBoardLogger(tmp_path / "tb", images=images, samples=4)
    progress = Progress(quiet=True, callbacks=[logger])
    vae.train()
    progress.epoch(1, 2, METRICS, model=vae)
    progress.epoch(2, 2, {**METRICS, "train": {"loss": 1.5, "kl": 0.4}, "lr": 0.0005}, model=vae)
    progress.close()
    assert vae.training  # the logger put the model back in training mode
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/kl", "val/loss", "lr", "seconds"} <= set(tags["scalars"])
    assert [e.value for e in events.Scalars("train/loss")] == [2.5, 1.5]
    assert [e.step for e in events.Scalars("lr")] == [1, 2]
    assert set(tags["images"]) == {"reconstructions", "samples"}
    picture = events.Images("reconstructions")[-1]
    assert picture.width == 4 * 6 + 3 * 2 and picture.height == 2 * 6 + 2  # inputs above outputs


def test_tensorboard_logger_on_a_plain_autoencoder_shows_reconstructions_only(tmp_path):
    model = TinyDense(TinyConfig(), (1, 4, 4))
    logger = TensorBoardLogger(tmp_path / "tb", images=torch.rand(3, 1, 4, 4))
    logger.on_epoch(1, METRICS, model)
    logger.close()
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == ["reconstructions"]
