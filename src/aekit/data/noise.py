"""Noise models for denoising autoencoders: salt-and-pepper, additive Gaussian, masking.

Each is a small frozen dataclass called as ``noise(x, generator)``. All randomness comes from
the generator, so training can corrupt batches on the fly while evaluation passes a generator
with a fixed seed and sees the same corrupted images every time. ``spec`` is the CLI spelling
(``salt-pepper:0.1``) and ``parse_noise`` reads it back. Salt-and-pepper and masking hit whole
pixels (every channel of a pixel together), the way a dead or saturated sensor cell would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aekit.errors import ConfigError


def _uniform(
    shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device).to(like.device)


def _pixel_shape(x: torch.Tensor) -> tuple[int, ...]:
    """Shape with the channel axis (third from last) set to 1, for per-pixel decisions."""
    if x.ndim < 3:
        return tuple(x.shape)
    return (*x.shape[:-3], 1, *x.shape[-2:])


def _check_fraction(kind: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ConfigError(f"noise {kind}: the value must be a number in [0, 1], got {value!r}")


@dataclass(frozen=True)
class SaltPepper:
    """A fraction ``amount`` of pixels set to white or black (half each)."""

    amount: float

    def __post_init__(self) -> None:
        _check_fraction("salt-pepper", self.amount)

    @property
    def spec(self) -> str:
        return f"salt-pepper:{float(self.amount)!r}"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        shape = _pixel_shape(x)
        hit = _uniform(shape, x, generator) < self.amount
        salt = _uniform(shape, x, generator) < 0.5
        return torch.where(hit, salt.to(x.dtype), x)


@dataclass(frozen=True)
class Gaussian:
    """Additive Gaussian noise of standard deviation ``sigma``, clipped back to [0, 1]."""

    sigma: float

    def __post_init__(self) -> None:
        if not (
            isinstance(self.sigma, (int, float)) and math.isfinite(self.sigma) and self.sigma >= 0
        ):
            raise ConfigError(
                f"noise gaussian: sigma must be a finite number >= 0, got {self.sigma!r}"
            )

    @property
    def spec(self) -> str:
        return f"gaussian:{float(self.sigma)!r}"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else x.device
        noise = torch.randn(tuple(x.shape), generator=generator, device=device).to(
            x.device, x.dtype
        )
        return (x + self.sigma * noise).clamp(0.0, 1.0)


@dataclass(frozen=True)
class Masking:
    """Each pixel dropped to 0 with probability ``p``."""

    p: float

    def __post_init__(self) -> None:
        _check_fraction("masking", self.p)

    @property
    def spec(self) -> str:
        return f"masking:{float(self.p)!r}"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = _uniform(_pixel_shape(x), x, generator) >= self.p
        return x * keep.to(x.dtype)


Noise = SaltPepper | Gaussian | Masking
NOISES: dict[str, type[SaltPepper] | type[Gaussian] | type[Masking]] = {
    "salt-pepper": SaltPepper,
    "gaussian": Gaussian,
    "masking": Masking,
}


def parse_noise(spec: str) -> Noise:
    """``"salt-pepper:0.1"``, ``"gaussian:0.3"`` or ``"masking:0.25"`` -> the noise model."""
    usage = "expected salt-pepper:AMOUNT, gaussian:SIGMA or masking:P"
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigError(f"bad noise {spec!r}: {usage}")
    kind, _, value = spec.strip().partition(":")
    if kind not in NOISES:
        raise ConfigError(f"unknown noise {kind!r} in {spec!r}: {usage}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"bad noise value {value!r} in {spec!r}: {usage}") from None
    if not math.isfinite(number):
        raise ConfigError(f"bad noise value {value!r} in {spec!r}: it must be finite")
    return NOISES[kind](number)
