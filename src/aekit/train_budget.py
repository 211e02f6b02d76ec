"""Training's wall-clock budget (``max_minutes``), which torchrun's ranks agree on."""

from __future__ import annotations

import time
from typing import Any

from aekit import distributed


class Budget:
    """``max_minutes``: the wall-clock deadline, checked before each epoch and after each batch (a
    resumed run counts the seconds its earlier epochs took). The batches stop early enough to leave
    time for the validation and checkpoint that follow them, as long as the last epoch's took."""

    def __init__(self, max_minutes: float | None, history: list[dict[str, Any]]):
        self.limit = None if max_minutes is None else max_minutes * 60.0
        self.started = time.perf_counter() - sum(h["seconds"] for h in history)
        self.after_batches = 0.0  # seconds of the last epoch's validation and checkpoint
        self.batches = self.steps = self.images = 0  # how far the last train_epoch got

    def expired(self) -> bool:
        """Whether the time is up, less the time the last epoch's validation and checkpoint took;
        under torchrun every rank gets the same answer (the first rank whose time is up decides),
        so all of them stop at the same batch."""
        if self.limit is None:
            return False
        over = time.perf_counter() - self.started + self.after_batches >= self.limit
        if distributed.world_size() > 1:
            over = distributed.all_reduce_mean({"over": float(over)})["over"] > 0
        return over

    def epoch_finished(self, seconds_after_batches: float) -> None:
        self.after_batches = seconds_after_batches
