"""The quantisers of a code-map model (``vq-vae``).

``EMAQuantizer`` learns a codebook by moving averages and restarts dead codes; ``FSQuantizer``
(finite scalar quantisation) rounds each number to a few levels, so no codebook can collapse.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aekit import distributed
from aekit.errors import ConfigError


def usage_terms(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Share of the codebook used, and perplexity (exp of the entropy of code use), from code
    counts."""
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {"codebook_use": (counts > 0).float().mean(), "perplexity": entropy.exp()}


class EMAQuantizer(nn.Module):
    """Nearest-code quantisation with a codebook learned by exponential moving averages."""

    def __init__(
        self, num_codes: int, dim: int, decay: float, restart_after: int, eps: float = 1e-5
    ):
        super().__init__()
        self.num_codes, self.decay, self.restart_after, self.eps = (
            num_codes,
            decay,
            restart_after,
            eps,
        )
        self.register_buffer("codebook", torch.zeros(num_codes, dim))
        self.register_buffer("cluster_size", torch.zeros(num_codes))  # all 0: not initialised yet
        self.register_buffer("embed_sum", torch.zeros(num_codes, dim))
        # training steps since each code was last chosen
        self.register_buffer("idle_steps", torch.zeros(num_codes))

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest code of each vector of ``z`` (``B x D x h x w`` -> ``B x h x w``), in float32."""
        flat = z.detach().float().movedim(1, -1).reshape(-1, z.shape[1])
        with torch.autocast(flat.device.type, enabled=False):
            distance = (
                flat.pow(2).sum(1, keepdim=True)
                - 2 * flat @ self.codebook.t()
                + self.codebook.pow(2).sum(1)
            )
        return distance.argmin(1).view(z.shape[0], *z.shape[2:])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.codebook).movedim(-1, 1)

    @torch.no_grad()
    def update(self, z: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """One EMA step from this batch (summed over all ranks); restarts codes unused for
        ``restart_after`` steps. Returns the global code counts of this batch."""
        flat = z.detach().float().movedim(1, -1).reshape(-1, z.shape[1])
        decay = self.decay
        # the first step: codes at random encoder outputs, statistics from this batch alone
        if not self.cluster_size.any():
            self.codebook.copy_(self._random_rows(flat))
            indices, decay = self.indices(z), 0.0
        onehot = F.one_hot(indices.flatten(), self.num_codes).type_as(flat)
        # sums of thousands of vectors: float32
        with torch.autocast(flat.device.type, enabled=False):
            counts, sums = onehot.sum(0), onehot.t() @ flat
        if distributed.active():
            torch.distributed.all_reduce(counts)
            torch.distributed.all_reduce(sums)
        self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        self.embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
        n = self.cluster_size.sum()
        # Laplace: no division by 0
        smoothed = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.copy_(self.embed_sum / smoothed.unsqueeze(1))
        self.idle_steps.add_(1).masked_fill_(counts > 0, 0)
        # Not an EMA threshold: while the encoder's outputs move (early training) the EMA counts of
        # abandoned codes take hundreds of steps to decay, and every vector lands on one stale code.
        dead = self.idle_steps >= self.restart_after
        if dead.any():  # dead is the same on every rank: the counts are global
            fresh = self._random_rows(flat)
            self.codebook[dead] = fresh[dead]
            self.embed_sum[dead] = fresh[dead]
            self.cluster_size[dead] = 1.0
            self.idle_steps[dead] = 0
        return counts

    def _random_rows(self, flat: torch.Tensor) -> torch.Tensor:
        """``num_codes`` random rows of ``flat``, rank 0's under torchrun so every rank gets the
        same."""
        rows = flat[torch.randint(len(flat), (self.num_codes,), device=flat.device)]
        if distributed.active():
            torch.distributed.broadcast(rows, src=0)
        return rows


class FSQuantizer(nn.Module):
    """Finite scalar quantisation: channel c is bounded to ``levels[c]`` values and rounded; the
    index is the mixed-radix number of the rounded values. No codebook to learn or restart."""

    def __init__(self, levels: tuple[int, ...]):
        super().__init__()
        if not levels or any(lv < 2 for lv in levels):
            raise ConfigError(
                f"model 'vq-vae': fsq levels must be integers of at least 2, got {list(levels)}"
            )
        self.levels = tuple(levels)
        self.num_codes = math.prod(levels)
        lv = torch.tensor(levels, dtype=torch.float32)
        self.register_buffer("half_levels", (lv - 1) * (1 - 1e-3) / 2, persistent=False)
        # even level counts: half-integer grid
        self.register_buffer("offset", (1 - lv % 2) * 0.5, persistent=False)
        self.register_buffer("half_width", (lv // 2), persistent=False)
        self.register_buffer(
            "basis", torch.cumprod(torch.tensor((1, *levels[:-1])), 0), persistent=False
        )

    def _shape(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return t.view(1, -1, *([1] * (z.dim() - 2)))

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Rounded, bounded channels scaled to [-1, 1], with a straight-through gradient."""
        z = z.float()
        half, offset = self._shape(self.half_levels, z), self._shape(self.offset, z)
        shift = torch.atanh(offset / half)
        bounded = torch.tanh(z + shift) * half - offset
        rounded = bounded + (bounded.round() - bounded).detach()
        return rounded / self._shape(self.half_width, z)

    def indices_of(self, quantized: torch.Tensor) -> torch.Tensor:
        digits = (
            quantized.detach() * self._shape(self.half_width, quantized)
        ).round() + self._shape(self.half_width, quantized)
        return (digits.long() * self._shape(self.basis, quantized)).sum(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        levels = torch.tensor(self.levels, device=indices.device)
        digits = (indices.unsqueeze(-1) // self.basis) % levels
        return ((digits - self.half_width) / self.half_width).movedim(-1, 1).float()
