"""Fitting a prior by optimiser steps within a time limit.

``FitClock`` stops at the steps or the seconds, whichever comes first, and says its estimate when
the fit will be long; ``fit_by_minibatches`` is the loop the learned priors share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from aekit.config import option
from aekit.progress import duration

# the default time limit of a learned prior's fitting: `aekit fit-prior` finishes within 3 minutes
FIT_SECONDS = 120.0
ANNOUNCE_SECONDS = 10.0  # a fit expected to take longer says its estimate first
WARMUP_STEPS = 5  # ... measured after these (the first steps were 2-5x slower than the rest)
ESTIMATE_STEPS = 20  # ... on at least this many steps
ESTIMATE_SECONDS = 2.0  # ... and at least this long


def max_seconds_option(prior: str) -> Any:
    """The ``max_seconds`` option of a prior fitted by steps (``FitClock``) or by EM (gmm)."""
    return option(
        FIT_SECONDS,
        f"{prior}: stop fitting after this many seconds, counted from encoding the codes (0: no "
        "limit); a learned prior's learning rate decays with the clock, gmm's EM stops where it "
        "is",
        ("must be from 0 to 1e6", lambda v: 0 <= v <= 1e6),
    )


class FitClock:
    """Where a fit of ``steps`` optimiser steps stands, by steps or by ``max_seconds`` (0: no
    limit; counted from ``start``, a ``time.perf_counter()``, else from now), whichever comes
    first; once the steps after WARMUP_STEPS have been timed (ESTIMATE_STEPS of them,
    ESTIMATE_SECONDS at least), one line with the estimate of the whole fit when it exceeds
    ANNOUNCE_SECONDS (unless ``quiet``)."""

    def __init__(
        self,
        name: str,
        steps: int,
        max_seconds: float,
        quiet: bool = True,
        start: float | None = None,
    ):
        self.name, self.steps, self.limit, self.quiet = name, steps, max_seconds, quiet
        self.start = time.perf_counter() if start is None else start
        self.warm: float | None = None  # when the warm-up steps ended
        self.announced = quiet

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def progress(self, step: int) -> float:
        """The share of the fit done before step ``step`` (0-based): of the steps, or of the time
        limit."""
        return min(1.0, max(step / self.steps, self.elapsed() / self.limit if self.limit else 0.0))

    def done(self, step: int) -> bool:
        """After step ``step`` (0-based): is the time up? Says the estimate once, when it can."""
        elapsed = self.elapsed()
        if step + 1 == WARMUP_STEPS:
            self.warm = elapsed
        elif (
            not self.announced
            and self.warm is not None
            and step + 1 - WARMUP_STEPS >= ESTIMATE_STEPS
            and elapsed - self.warm >= ESTIMATE_SECONDS
        ):
            self.announced = True
            full = elapsed + (elapsed - self.warm) / (step + 1 - WARMUP_STEPS) * (
                self.steps - step - 1
            )
            if min(full, self.limit or full) > ANNOUNCE_SECONDS:
                print(
                    f"  prior {self.name}: {self.steps:,} steps, about "
                    f"{duration(min(full, self.limit or full))}"
                    + (
                        f" (stopped by the {self.limit:g} s limit; all {self.steps:,} would "
                        f"take about {duration(full)}: "
                        "--max-seconds 0 for all)"
                        if self.limit and full > self.limit
                        else ""
                    ),
                    flush=True,
                )
        return bool(self.limit) and elapsed >= self.limit

    def note(self, step: int) -> str:
        """What stopped the fit after step ``step`` (0-based), for the prior's JSON."""
        if step + 1 < self.steps:
            return f"{step + 1:,} of {self.steps:,} steps: max_seconds = {self.limit:g} reached"
        return f"all {self.steps:,} steps"


def fit_by_minibatches(
    prior: nn.Module,
    rows: int,
    batch: int,
    clock: FitClock,
    seed: int,
    lr: float,
    nll: Callable[[torch.Tensor], torch.Tensor],
    report: Callable[[int, torch.Tensor], None] | None = None,
) -> str:
    """The maximum-likelihood loop of every learned prior: Adam on seeded minibatches of ``batch``
    of ``rows`` rows (``nll(indices)`` is their mean negative log-likelihood), cosine decay to the
    end of the clock's steps or time, whichever comes first; leaves ``prior`` in eval mode and
    returns what stopped it (``FitClock.note``)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(prior.parameters(), lr=lr)
    prior.train()
    step = 0
    for step in range(clock.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * clock.progress(step)))
        loss = nll(torch.randint(rows, (min(batch, rows),), generator=generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if report is not None:
            report(step, loss)
        if clock.done(step):
            break
    prior.eval()
    return clock.note(step)
