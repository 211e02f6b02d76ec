"""Training configuration: one dataclass, read from TOML or the command line, always validated.

A config file is user input (and may come from someone else), so every key and type is checked
and any problem is one ``ConfigError`` line naming the file and the key.
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aekit.errors import AekitError, ConfigError
from aekit.io import read_json

OPTIMIZERS = ("adam", "adamw")
PRECISIONS = ("auto", "fp32", "bf16")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass
class TrainConfig:
    """Everything a training run needs; the TOML file has the same keys."""

    model: str = "conv"
    dataset: str = "digits"
    out: str | None = None  # None: runs/<model>-<dataset>
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    seed: int = 0
    noise: str | None = None  # e.g. "salt-pepper:0.1": train as a denoiser
    val_fraction: float = 0.1
    patience: int | None = None  # early stopping after this many epochs without improvement
    device: str = "auto"
    grad_clip: float | None = None
    precision: str = "auto"  # training forward: auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16
    max_train_images: int | None = None  # a subset for quick runs
    image_size: int | None = None  # folder datasets are resized to this
    patch_size: int = 64  # documents: models train on aligned random patches
    patches_per_epoch: int = 2048
    model_options: dict[str, Any] = field(default_factory=dict)  # latent_dim, beta, ... for build_model
    quiet: bool = False
    resume: bool = False

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config ({exc.strerror or exc})", path) from None
        return config_from_dict(_parse_toml(data, path), where=str(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / f"{self.model}-{self.dataset}".replace(":", "_").replace("/", "_")


# Per key: accepted Python types, whether None is allowed, and a range check (message, predicate).
_INT, _FLOAT, _STR, _BOOL = (int,), (int, float), (str,), (bool,)
_SCHEMA: dict[str, tuple[tuple[type, ...], bool, tuple[str, Any] | None]] = {
    "model": (_STR, False, None),
    "dataset": (_STR, False, ("must not be empty", lambda v: v != "")),
    "out": (_STR, True, ("must not be empty", lambda v: v != "")),
    "epochs": (_INT, False, ("must be at least 1", lambda v: v >= 1)),
    "batch_size": (_INT, False, ("must be at least 1", lambda v: v >= 1)),
    "lr": (_FLOAT, False, ("must be a positive finite number", lambda v: 0 < v < math.inf)),
    "optimizer": (_STR, False, (f"must be one of {', '.join(OPTIMIZERS)}", lambda v: v in OPTIMIZERS)),
    "weight_decay": (_FLOAT, False, ("must be a finite number >= 0", lambda v: 0 <= v < math.inf)),
    "seed": (_INT, False, ("must be between 0 and 2**63-1", lambda v: 0 <= v < 2**63)),
    "noise": (_STR, True, None),
    "val_fraction": (_FLOAT, False, ("must be between 0 and 1 (exclusive)", lambda v: 0 < v < 1)),
    "patience": (_INT, True, ("must be at least 1", lambda v: v >= 1)),
    "device": (_STR, False, ("must be auto, cpu, cuda or cuda:N", lambda v: bool(_DEVICE.match(v)))),
    "precision": (_STR, False, (f"must be one of {', '.join(PRECISIONS)}", lambda v: v in PRECISIONS)),
    "grad_clip": (_FLOAT, True, ("must be a positive finite number", lambda v: 0 < v < math.inf)),
    "max_train_images": (_INT, True, ("must be at least 1", lambda v: v >= 1)),
    "image_size": (_INT, True, ("must be between 1 and 4096", lambda v: 1 <= v <= 4096)),
    "patch_size": (_INT, False, ("must be between 4 and 4096", lambda v: 4 <= v <= 4096)),
    "patches_per_epoch": (_INT, False, ("must be at least 1", lambda v: v >= 1)),
    "model_options": ((dict,), False, None),
    "quiet": (_BOOL, False, None),
    "resume": (_BOOL, False, None),
}
_TYPE_NAMES = {_INT: "an integer", _FLOAT: "a number", _STR: "a string", _BOOL: "true or false", (dict,): "a table"}


def config_from_dict(data: dict[str, Any], where: str) -> TrainConfig:
    """Validate a plain dict (from TOML, JSON or the CLI) and build a :class:`TrainConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the training config must be a table of keys, got {type(data).__name__}")
    unknown = sorted(str(k) for k in set(data) - set(_SCHEMA))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_SCHEMA)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        types, nullable, check = _SCHEMA[key]
        if value is None and nullable:
            values[key] = None
            continue
        is_bool = isinstance(value, bool)
        if not isinstance(value, types) or (is_bool and types is not _BOOL):
            raise ConfigError(f"{where}: '{key}' must be {_TYPE_NAMES[types]}, got {_short(value)}")
        if types is _FLOAT:
            value = float(value)
        if check is not None and not check[1](value):
            raise ConfigError(f"{where}: '{key}' {check[0]}, got {_short(value)}")
        values[key] = dict(value) if key == "model_options" else value
    config = TrainConfig(**values)
    _check_names(config, where)
    return config


def _check_names(config: TrainConfig, where: str) -> None:
    """Model, model options, dataset and noise spec must exist, so a typo fails before any work."""
    from aekit.data import dataset_names
    from aekit.data.noise import parse_noise
    from aekit.models import MODELS

    if config.model not in MODELS:
        raise ConfigError(f"{where}: unknown model {config.model!r}; known: {', '.join(sorted(MODELS))}")
    try:
        MODELS[config.model].make_config(config.model_options)
        if config.noise is not None:
            parse_noise(config.noise)
    except AekitError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    known = dataset_names()
    if config.dataset not in known and not config.dataset.startswith("folder:"):
        raise ConfigError(f"{where}: unknown dataset {config.dataset!r}; known: {', '.join(known)} or folder:PATH")


def config_from_cli(args: argparse.Namespace) -> TrainConfig:
    """Merge ``--config FILE`` (or, with ``--resume``, the run's own config) with the flags; flags win."""
    if args.config:
        base, where = TrainConfig.from_toml(args.config).to_dict(), f"{args.config} + command line"
    elif args.resume and args.out and (Path(args.out) / "config.json").is_file():
        path = Path(args.out) / "config.json"
        stored = read_json(path)
        base = stored.get("train") if isinstance(stored, dict) else None
        base, where = config_from_dict(base, where=str(path)).to_dict(), "command line"
    else:
        base, where = TrainConfig().to_dict(), "command line"
    for key in _SCHEMA:
        value = getattr(args, key, None)
        if value is not None and value is not False:
            base[key] = value
    options = dict(base["model_options"])
    for key in ("latent_dim", "beta"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    base["model_options"] = options
    return config_from_dict(base, where=where)


def _parse_toml(data: bytes, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text; a config is a TOML file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML ({exc})", path) from None
    except RecursionError:
        raise ConfigError("invalid TOML (nested too deeply)", path) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


