"""Noise models: the statistics they promise, reproducibility from a seed, the spec round trip."""

from __future__ import annotations

import pytest
import torch

from aekit.data.noise import Gaussian, Masking, SaltPepper, parse_noise
from aekit.errors import ConfigError

GRAY = torch.full((64, 1, 32, 32), 0.5)  # 65,536 pixels, none already black or white


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("amount", [0.05, 0.1, 0.5])
def test_salt_pepper_changes_the_promised_fraction(amount: float) -> None:
    out = SaltPepper(amount)(GRAY, seeded())
    changed = out != GRAY
    assert abs(changed.float().mean().item() - amount) < 0.01
    salt = (out == 1).sum().item() / changed.sum().item()
    assert abs(salt - 0.5) < 0.03
    assert set(out.unique().tolist()) <= {0.0, 0.5, 1.0}


def test_masking_drops_the_promised_fraction() -> None:
    out = Masking(0.25)(GRAY, seeded())
    assert abs((out == 0).float().mean().item() - 0.25) < 0.01
    assert torch.all((out == 0) | (out == GRAY))


def test_gaussian_has_the_promised_spread_and_stays_in_range() -> None:
    out = Gaussian(0.1)(GRAY, seeded())
    assert abs((out - GRAY).std().item() - 0.1) < 0.005
    wide = Gaussian(2.0)(GRAY, seeded())
    assert wide.min() == 0 and wide.max() == 1
    assert torch.equal(Gaussian(0.0)(GRAY, seeded()), GRAY)


@pytest.mark.parametrize("noise", [SaltPepper(0.1), Gaussian(0.3), Masking(0.25)])
def test_same_seed_same_noise(noise) -> None:
    x = torch.rand(8, 3, 16, 16, generator=seeded(5))
    assert torch.equal(noise(x, seeded(1)), noise(x, seeded(1)))
    assert not torch.equal(noise(x, seeded(1)), noise(x, seeded(2)))
    assert noise(x).shape == x.shape and noise(x).dtype == x.dtype


@pytest.mark.parametrize("noise", [SaltPepper(0.3), Masking(0.3)])
def test_pixel_noise_hits_every_channel_of_a_pixel(noise) -> None:
    x = torch.full((4, 3, 16, 16), 0.5)
    changed = noise(x, seeded()) != x
    assert torch.equal(changed, changed[:, :1].expand_as(changed))


def test_single_images_and_batches_both_work() -> None:
    assert SaltPepper(0.2)(torch.full((1, 8, 8), 0.5), seeded()).shape == (1, 8, 8)


@pytest.mark.parametrize(
    "spec", ["salt-pepper:0.1", "gaussian:0.3", "masking:0.25", "gaussian:0.0"]
)
def test_spec_round_trips(spec: str) -> None:
    noise = parse_noise(spec)
    assert noise.spec == spec and parse_noise(noise.spec) == noise


def test_parse_gives_the_right_type() -> None:
    assert parse_noise("salt-pepper:0.1") == SaltPepper(0.1)
    assert parse_noise("masking:1") == Masking(1.0)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "salt-pepper",
        "salt-pepper:",
        "salt-pepper:x",
        "salt-pepper:1.5",
        "masking:-0.1",
        "gaussian:-1",
        "gaussian:nan",
        "gaussian:inf",
        "blur:0.2",
        "gaussian:0.1:0.2",
    ],
)
def test_bad_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_noise(spec)
    assert "\n" not in str(info.value)
