"""Training configuration: one dataclass, the single source of its TOML keys, CLI flags, help and
checks.

Each field of :class:`TrainConfig` carries its help text, its range check and whether it may change
when a run resumes; ``TrainConfig.from_dict`` validates TOML, JSON and command-line values against
them, and ``add_train_arguments`` makes one ``--flag`` per field. A config file is user input (and
may come from someone else), so every key and type is checked and any problem is one
``ConfigError`` line naming the file and the key.

``option`` and ``add_fields`` (with ``aekit.config_dicts``) are the generic part: the other
commands' option dataclasses (``aekit.options``) and the priors' configs are made of the same
fields.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from aekit import config_dicts
from aekit.config_dicts import Choices, field_kinds, resolve_choices
from aekit.errors import AekitError, ConfigError
from aekit.image_options import PAD_COLOURS, RESAMPLERS, RESIZE_MODES, parse_size
from aekit.io import read_json

OPTIMIZERS = ("adam", "adamw")
PRECISIONS = ("auto", "fp32", "bf16")
# what --device takes, for training and every command
DEVICE_NAME = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def option(
    default: Any,
    help: str,
    check: tuple[str, Callable[[Any], bool]] | None = None,
    *,
    resumable: bool = False,
    choices: Choices | None = None,
    metavar: str | None = None,
    flag: str | None = None,
    positional: bool = False,
    nargs: str | None = None,
) -> Any:
    """A config field with what the TOML reader, the CLI and the help need to know about it.

    ``default`` MISSING makes a required flag; ``choices`` is a tuple, or a function giving one
    (a registry, read when a command's flags are made); ``flag`` spells the flag where it is not
    ``--field-name``; ``positional`` makes an argument without a flag (``nargs`` as argparse's)."""
    if choices is not None:
        named = (
            f"must be one of {', '.join(choices)}"
            if isinstance(choices, tuple)
            else "must be a registered name"
        )
        check = (named, lambda v: v in resolve_choices(choices))
    meta = {
        "help": help,
        "check": check,
        "resumable": resumable,
        "choices": choices,
        "metavar": metavar,
        "flag": flag,
        "positional": positional,
        "nargs": nargs,
    }
    if isinstance(default, (dict, list)):
        return field(default_factory=type(default), metadata=meta)
    return field(default=default, metadata=meta)


_POSITIVE = ("must be at least 1", lambda v: v >= 1)


DEFAULT_EPOCHS = 10  # without --epochs or --max-minutes


@dataclass
class TrainConfig:
    """Everything a training run needs; the TOML file has the same keys, the CLI the same flags."""

    model: str | None = option(
        None, "model name (see `aekit models`); default: chosen from the data, and said why"
    )
    dataset: str = option(
        "digits",
        "dataset name (see `aekit datasets`), or folder:PATH",
        ("must not be empty", lambda v: v != ""),
    )
    out: str | None = option(
        None,
        "run folder (default runs/MODEL-DATASET)",
        ("must not be empty", lambda v: v != ""),
        resumable=True,
    )
    epochs: int | None = option(
        None,
        f"number of passes over the training set (default {DEFAULT_EPOCHS}, or as many as "
        "max_minutes allows when it is given)",
        _POSITIVE,
        resumable=True,
    )
    max_minutes: float | None = option(
        None,
        "wall-clock budget in minutes, checked after every batch: the last epoch may be "
        "partial (said in its line; still validated and checkpointed); default: no limit",
        ("must be a positive finite number", lambda v: 0 < v < math.inf),
        resumable=True,
    )
    batch_size: int = option(128, "images per optimizer step", _POSITIVE)
    lr: float = option(
        1e-3,
        "learning rate",
        ("must be a positive finite number", lambda v: 0 < v < math.inf),
        resumable=True,
    )
    optimizer: str = option("adam", "optimizer", choices=OPTIMIZERS)
    weight_decay: float = option(
        0.0,
        "weight decay",
        ("must be a finite number >= 0", lambda v: 0 <= v < math.inf),
        resumable=True,
    )
    seed: int = option(
        0,
        "seed of every random stream (order, noise, initial weights)",
        ("must be between 0 and 2**63-1", lambda v: 0 <= v < 2**63),
    )
    noise: str | None = option(
        None, "train as a denoiser: salt-pepper:AMOUNT, gaussian:SIGMA or masking:P (default: none)"
    )
    val_fraction: float = option(
        0.1,
        "share of the training split held out for validation",
        ("must be between 0 and 1 (exclusive)", lambda v: 0 < v < 1),
    )
    patience: int | None = option(
        None,
        "stop after this many epochs without a better validation loss (default: never)",
        _POSITIVE,
        resumable=True,
    )
    device: str = option(
        "auto",
        "auto (CUDA when present, else CPU), cpu, cuda or cuda:N",
        ("must be auto, cpu, cuda or cuda:N", lambda v: bool(DEVICE_NAME.match(v))),
        resumable=True,
    )
    grad_clip: float | None = option(
        None,
        "clip the gradient norm to this value (default: no clipping)",
        ("must be a positive finite number", lambda v: 0 < v < math.inf),
        resumable=True,
    )
    precision: str = option(
        "auto",
        "auto (bf16 autocast on CUDA, fp32 on CPU), fp32, or bf16: bfloat16 autocast for "
        "the training forward on the CPU too (faster only on CPUs with AVX-512 BF16 or AMX; "
        "see benchmarks/README.md)",
        choices=PRECISIONS,
        resumable=True,
    )
    max_train_images: int | None = option(
        None, "train on the first N images only (quick runs; default: all)", _POSITIVE
    )
    image_size: int | str | None = option(
        None,
        "bring every image to this size: S or WxH (as in 64 or 48x32; default: the files' own; "
        "a folder of mixed sizes or sides over 128: 64)",
        ("must be S or WxH with sides from 1 to 4096", lambda v: _is_size(v)),
    )
    channels: int | None = option(
        None,
        "1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (default: from the files)",
        ("must be 1, 2, 3 or 4", lambda v: 1 <= v <= 4),
    )
    resize: str = option(
        "stretch",
        "how images reach image_size: stretch, crop (fill and cut) or pad (fit, keep the "
        "aspect ratio)",
        choices=RESIZE_MODES,
    )
    resample: str = option(
        "bilinear", "resampling filter; nearest keeps pixel art exact", choices=RESAMPLERS
    )
    pad: str = option(
        "transparent", "colour of the bars that resize = pad adds", choices=PAD_COLOURS
    )
    skip_bad: bool = option(
        False,
        "skip files that do not decode (counted, listed in RUN/data.json) instead of stopping",
    )
    patch_size: int = option(
        64,
        "documents: models train on aligned random patches of this size",
        ("must be between 4 and 4096", lambda v: 4 <= v <= 4096),
    )
    patches_per_epoch: int = option(2048, "documents: patches drawn per epoch", _POSITIVE)
    augment: bool = option(
        False,
        "documents: each training patch pair in one of the 8 flips/quarter turns, and the "
        "noisy side's contrast and brightness jittered",
    )
    fade_ink: float = option(
        0.0,
        "documents, with augment: the share of training patches whose ink is faded towards "
        "the paper around it (worn toner, light print; 0: none)",
        ("must be between 0 and 1", lambda v: 0 <= v <= 1),
    )
    synthetic_share: float = option(
        0.0,
        "documents: the share of training patches drawn from generated A4 pages whose "
        "text is at the Kaggle pages' size (make-documents --dpi 150: blurred, faint and grey "
        "scans, which the Kaggle pages hold few of; 0: none)",
        ("must be at least 0 and below 1", lambda v: 0 <= v < 1),
    )
    enlarge: float = option(
        1.0,
        "documents: train across scales: patch pairs enlarged by a random factor from 1 "
        "to this (noisy and clean alike, a mix of kernels; a third kept at their own size), so the "
        "cleaner knows text up to this many times its pages' size (1: none)",
        ("must be between 1 and 8", lambda v: 1 <= v <= 8),
    )
    latent_dim: int | None = option(
        None, "size of the code (sets model_options.latent_dim; default: the model's)", _POSITIVE
    )
    beta: float | None = option(
        None,
        "KL weight of a VAE (sets model_options.beta; default: the model's)",
        ("must be a finite number >= 0", lambda v: 0 <= v < math.inf),
    )
    model_options: dict[str, Any] = option(
        {},
        "the model's own options (see `aekit models`); on the command line "
        "KEY=VALUE, repeatable, VALUE read as JSON where it parses (default: the model's)",
        metavar="KEY=VALUE",
    )
    tensorboard: bool = option(
        False,
        "write losses, learning rate and pictures per epoch to RUN/tensorboard "
        "(view with `tensorboard --logdir runs`)",
        resumable=True,
    )
    quiet: bool = option(False, "no progress output", resumable=True)
    resume: bool = option(False, "continue an interrupted run in --out", resumable=True)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TrainConfig:
        """Validate a plain dict (from TOML, JSON or the CLI) and build the config: the generic
        check of every key (``config_dicts.config_from_dict``), then the shortcuts moved into
        ``model_options`` and the names looked up in the registries."""
        config = config_dicts.config_from_dict(cls, data, where, noun="key")
        for key in SHORTCUTS:  # a shortcut lands in model_options, the one place models read
            if getattr(config, key) is not None:
                config.model_options = {**config.model_options, key: getattr(config, key)}
                setattr(config, key, None)
        _check_names(config, where)
        return config

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config ({exc.strerror or exc})", path) from None
        return cls.from_dict(_parse_toml(data, path), where=str(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def data_options(self) -> dict[str, Any]:
        """The keyword arguments of ``aekit.data.load`` this run's images are read with (train and
        test alike)."""
        return {
            "image_size": self.image_size,
            "channels": self.channels,
            "resize": self.resize,
            "resample": self.resample,
            "pad": self.pad,
            "skip_bad": self.skip_bad,
        }

    @property
    def epoch_limit(self) -> float:
        """The epochs to train: ``epochs`` when given; else as many as ``max_minutes`` allows (a
        user who gives a time budget means it to be used), or ``DEFAULT_EPOCHS`` without one."""
        if self.epochs is not None:
            return self.epochs
        return math.inf if self.max_minutes is not None else DEFAULT_EPOCHS

    @property
    def run_dir(self) -> Path:
        name = f"{self.model or 'auto'}-{self.dataset}"
        return (
            Path(self.out)
            if self.out
            else Path("runs") / name.replace(":", "_").replace("/", "_").replace("?", "_")
        )


FIELDS = {f.name: f for f in fields(TrainConfig)}
SHORTCUTS = ("latent_dim", "beta")  # TOML keys and flags that set the model option of the same name
RESUMABLE = frozenset(name for name, f in FIELDS.items() if f.metadata["resumable"])


def _is_size(value: int | str) -> bool:
    try:
        parse_size(value)
    except ConfigError:
        return False
    return True


def _check_names(config: TrainConfig, where: str) -> None:
    """Model, model options, dataset and noise spec must exist, so a typo fails before any work."""
    from aekit.data import dataset_names
    from aekit.data.noise import parse_noise
    from aekit.models import MODELS

    if config.model is not None and config.model not in MODELS:
        raise ConfigError(
            f"{where}: unknown model {config.model!r}; known: {', '.join(sorted(MODELS))}"
        )
    try:
        if config.model is not None:
            MODELS[config.model].make_config(config.model_options)
        if config.noise is not None:
            parse_noise(config.noise)
    except AekitError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    known = dataset_names()
    if config.dataset not in known and not config.dataset.startswith(("folder:", "sheet:")):
        raise ConfigError(
            f"{where}: unknown dataset {config.dataset!r}; known: {', '.join(known)}, "
            "folder:PATH or sheet:PATH?tile=S"
        )


# --- the command line -------------------------------------------------------------------------
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (``--batch-size`` for ``batch_size``), with the field's help;
    ``--config FILE`` reads a TOML file with the same keys. Defaults stay None, so only the flags
    given override the file."""
    parser.add_argument(
        "--config", help="TOML file with the same keys as the options below (default: none)"
    )
    add_fields(parser, TrainConfig, given_only=True)


def flag_of(f: Field) -> str:
    """How the command line spells field ``f``: its ``flag``, ``--field-name``, or its name when
    positional."""
    if f.metadata["positional"]:
        return f.name
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _item_kind(hint: Any) -> type:
    """``str`` of ``list[str]`` or ``list[str] | None``: the type of one value of a repeatable
    flag."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return next(typing.get_args(a)[0] for a in args if typing.get_origin(a) is list)


def add_fields(parser: argparse.ArgumentParser, cls: type, *, given_only: bool = False) -> None:
    """One argument per field of the dataclass ``cls``, help ending in ``(default X)`` where the
    default is a value; ``dest`` is the field's name. ``given_only``: argparse defaults stay None,
    so a caller can tell the flags given (``aekit train`` merges them over a TOML file)."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        kinds = field_kinds(hints[f.name])[0]
        kind = kinds[0] if len(kinds) == 1 else str
        meta = f.metadata
        shown = f.default not in (MISSING, None) and kind is not bool
        text = meta["help"] + (f" (default {f.default})" if shown else "")
        default = (
            None
            if given_only or f.default is MISSING and f.default_factory is MISSING
            else (f.default if f.default is not MISSING else f.default_factory())
        )
        choices = None if meta["choices"] is None else resolve_choices(meta["choices"])
        if meta["positional"]:
            parser.add_argument(
                f.name, nargs=meta["nargs"], metavar=meta["metavar"], default=default, help=text
            )
        elif kind is bool:
            parser.add_argument(
                flag_of(f), dest=f.name, action="store_true", default=default, help=text
            )
        elif kind is dict:
            parser.add_argument(
                flag_of(f), dest=f.name, action="append", metavar=meta["metavar"], help=text
            )
        else:
            item = _item_kind(hints[f.name]) if kind is list else kind
            parser.add_argument(
                flag_of(f),
                dest=f.name,
                type=None if item is str else item,
                choices=choices,
                metavar=meta["metavar"],
                action="append" if kind is list else "store",
                required=f.default is MISSING and f.default_factory is MISSING,
                default=default,
                help=text,
            )


def config_from_cli(args: argparse.Namespace) -> TrainConfig:
    """Merge ``--config FILE`` (or, with ``--resume``, the run's own config) with the flags; flags
    win."""
    if args.config:
        base, where = TrainConfig.from_toml(args.config).to_dict(), f"{args.config} + command line"
    elif args.resume and args.out and (Path(args.out) / "config.json").is_file():
        path = Path(args.out) / "config.json"
        stored = read_json(path)
        base = stored.get("train") if isinstance(stored, dict) else None
        base, where = TrainConfig.from_dict(base, where=str(path)).to_dict(), "command line"
    else:
        base, where = TrainConfig().to_dict(), "command line"
    for name in FIELDS:
        value = getattr(args, name)
        if value is None:
            continue
        base[name] = {**base[name], **parse_pairs(value)} if name == "model_options" else value
    return TrainConfig.from_dict(base, where=where)


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings; VALUE is JSON where it parses (numbers, lists, true), else a
    string."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--model-options takes KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def _parse_toml(data: bytes, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text; a config is a TOML file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML ({exc})", path) from None
    except RecursionError:
        raise ConfigError("invalid TOML (nested too deeply)", path) from None
