"""One progress channel for every long command: bars on a terminal, plain lines in a log, callbacks.

A tqdm bar redraws itself with carriage returns; in a pipe or a log file each redraw became a
line of its own. So bars are drawn only when stderr is a terminal; otherwise a bar writes one
plain line now and then (every 10% or 30 s; a bar of batches inside an epoch only every 30 s, so a
slow epoch still shows it is alive) and the per-epoch summary is one line. Callbacks
(``Callback`` subclasses, e.g. :class:`TensorBoardLogger`) subscribe to the epoch summaries.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Self, TextIO

import torch
from tqdm import tqdm

from aekit.alpha import composite

PLAIN_SECONDS = 30.0  # a plain (non-terminal) bar writes at least this often ...
PLAIN_FRACTION = 0.1  # ... or at every tenth of the way


class Callback:
    """Something that follows training epoch by epoch; subclasses override what they need."""

    def on_epoch(self, epoch: int, metrics: dict[str, Any], model: torch.nn.Module | None) -> None:
        """``metrics`` is the epoch's history entry: {"train": {...}, "val": {...}, "lr": ...,
        ...}."""

    def close(self) -> None:
        """Flush and release files at the end of the run."""


class Bar:
    """A counter over ``total`` items: a tqdm bar on a terminal, else a plain line now and then."""

    def __init__(self, progress: Progress, total: int, desc: str, unit: str, lines: bool):
        self.progress, self.total, self.desc, self.unit = progress, total, desc, unit
        self.n = 0
        self._tqdm = None
        # plain lines at every tenth of the way too, not only every PLAIN_SECONDS
        self._tenths = lines
        self._last_time = time.monotonic()
        self._last_step = 0
        if progress.interactive and not progress.quiet:
            self._tqdm = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                leave=False,
                dynamic_ncols=True,
                file=progress.stream,
            )

    def update(self, n: int = 1, **postfix: Any) -> None:
        self.n += n
        if self._tqdm is not None:
            if postfix:
                self._tqdm.set_postfix({k: _short(v) for k, v in postfix.items()}, refresh=False)
            self._tqdm.update(n)
            return
        if self.progress.quiet:
            return
        step = math.floor(self.n / max(1, self.total) / PLAIN_FRACTION)
        now = time.monotonic()
        tenth = self._tenths and (step > self._last_step or self.n == self.total)
        if tenth or now - self._last_time >= PLAIN_SECONDS:
            self._last_step, self._last_time = step, now
            extra = "".join(f"  {k} {_short(v)}" for k, v in postfix.items())
            self.progress.message(f"{self.desc}: {self.n}/{self.total} {self.unit}{extra}")

    def due(self) -> bool:
        """Whether the next ``update`` may write a plain line on time alone (callers that compute
        costly postfix values only now and then compute them for that line too)."""
        return (
            self._tqdm is None
            and not self.progress.quiet
            and time.monotonic() - self._last_time >= PLAIN_SECONDS
        )

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Progress:
    """Where a command reports: ``message`` lines, ``bar`` counters, ``epoch`` summaries +
    callbacks.

    ``interactive`` defaults to whether ``stream`` (stderr) is a terminal; ``quiet`` silences the
    text but not the callbacks (a quiet run still writes its TensorBoard events)."""

    def __init__(
        self,
        quiet: bool = False,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        callbacks: list[Callback] | None = None,
    ):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = _is_terminal(self.stream) if interactive is None else interactive
        self.callbacks = list(callbacks or [])

    def subscribe(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def message(self, text: str) -> None:
        """One line (printed above a running bar on a terminal)."""
        if not self.quiet:
            self.warn(text)

    def warn(self, text: str) -> None:
        """A line shown even when ``quiet`` (quiet silences progress, not what went wrong: a skipped
        file)."""
        if self.interactive:
            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def bar(self, total: int, desc: str, unit: str = "it", lines: bool = True) -> Bar:
        """A counter; ``lines=False`` writes a plain line to a pipe or log only every PLAIN_SECONDS
        (e.g. batches inside an epoch, which the epoch line sums up)."""
        return Bar(self, total, desc, unit, lines)

    def epoch(
        self,
        epoch: int,
        epochs: float,
        metrics: dict[str, Any],
        model: torch.nn.Module | None = None,
        improved: bool = False,
    ) -> None:
        """The one line per epoch (losses, seconds, images per second, a partial epoch's batches),
        then every callback's ``on_epoch``."""
        train = " ".join(f"{k} {v:.4g}" for k, v in metrics.get("train", {}).items())
        val = metrics.get("val", {})
        tail = f"  val loss {val['loss']:.4g}" if "loss" in val else ""
        if "seconds" in metrics:
            tail += f"  {metrics['seconds']:.1f} s"
        if "images_per_s" in metrics:
            tail += f", {metrics['images_per_s']:,.0f} img/s"
        if "partial" in metrics:
            tail += f"  (partial epoch: {metrics['partial']})"
        self.message(
            f"{epoch_label(epoch, epochs)}  train {train}{tail}{'  (best)' if improved else ''}"
        )
        for callback in self.callbacks:
            callback.on_epoch(epoch, metrics, model)

    def close(self) -> None:
        for callback in self.callbacks:
            callback.close()


def epoch_label(epoch: int, epochs: float) -> str:
    """``epoch 3/10``, or ``epoch 3`` when only the time budget ends training."""
    return f"epoch {epoch}" if math.isinf(epochs) else f"epoch {epoch}/{epochs:.0f}"


def duration(seconds: float) -> str:
    """An estimate as a person reads it: seconds, minutes or hours."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        return False


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class TensorBoardLogger(Callback):
    """Writes each epoch's losses, learning rate and a few pictures to a TensorBoard event file.

    Pictures: reconstructions of fixed ``images`` (inputs above, outputs below) when given, and
    for generative models samples from a fixed seed, so epochs compare; transparent images are
    shown over a checkerboard."""

    def __init__(
        self,
        log_dir: str | Path,
        images: torch.Tensor | None = None,
        samples: int = 16,
        seed: int = 0,
    ):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.images = None if images is None else images[:8]
        self.samples, self.seed = samples, seed

    def on_epoch(self, epoch: int, metrics: dict[str, Any], model: torch.nn.Module | None) -> None:
        for tag, value in _scalars(metrics):
            self.writer.add_scalar(tag, value, epoch)
        if model is not None:
            for tag, picture in self._pictures(model):
                self.writer.add_image(tag, picture, epoch, dataformats="CHW")
        self.writer.flush()

    def _pictures(self, model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
        pictures = []
        was_training = model.training
        device = next(model.parameters()).device
        model.eval()
        try:
            with torch.inference_mode():
                if self.images is not None and not model.conditional:
                    x = self.images.to(device)
                    pair = (
                        torch.cat([x, model.reconstruct(x)[..., : x.shape[-2], : x.shape[-1]]])
                        .float()
                        .cpu()
                    )
                    pictures.append(("reconstructions", _grid(pair, columns=len(x))))
                if model.generative and not model.conditional:
                    generator = torch.Generator().manual_seed(self.seed)
                    samples = model.sample(self.samples, generator=generator).float().cpu()
                    pictures.append(
                        ("samples", _grid(samples, columns=math.ceil(math.sqrt(self.samples))))
                    )
        finally:
            model.train(was_training)
        return pictures

    def close(self) -> None:
        self.writer.close()


def _scalars(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    """Numeric leaves of a (nested) history entry as ("train/loss", value) pairs; "epoch" is the
    step."""
    out = []
    for key, value in metrics.items():
        if key == "epoch":
            continue
        if isinstance(value, dict):
            out.extend(_scalars(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((f"{prefix}{key}", float(value)))
    return out


def _grid(images: torch.Tensor, columns: int, gap: int = 2) -> torch.Tensor:
    """``N x C x H x W`` (premultiplied alpha over a checkerboard) as one RGB ``3 x H' x W'``
    picture."""
    images = composite(images)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    out = torch.full((c, rows * (h + gap) - gap, columns * (w + gap) - gap), 0.5)
    for k, image in enumerate(images):
        r, col = divmod(k, columns)
        out[:, r * (h + gap) : r * (h + gap) + h, col * (w + gap) : col * (w + gap) + w] = image
    return out
