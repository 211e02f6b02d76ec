"""The run folder: its files, how they are written and read back, the lock, and ``load_model``.

A run folder is what training leaves and every other command reads:
``config.json`` (model name and options, input shape, classes, the train config),
``model.safetensors`` (the best weights), ``metrics.jsonl`` (one line per epoch),
``checkpoint.safetensors`` + ``checkpoint.json`` (weights, best weights, optimizer, epoch, RNG
states) and ``.lock`` while a training writes to it. Nothing here unpickles: weights are
safetensors, everything else JSON, and every file is written atomically (``aekit.io``), so a crash
at any instant leaves the previous checkpoint usable.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import aekit
from aekit.config import TrainConfig
from aekit.errors import AekitError, ConfigError, TrainingError
from aekit.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from aekit.models import build_model
from aekit.models.base import Autoencoder

CONFIG, WEIGHTS, METRICS = "config.json", "model.safetensors", "metrics.jsonl"
CHECKPOINT, CHECKPOINT_JSON, LOCK = "checkpoint.safetensors", "checkpoint.json", ".lock"
DATA_NOTES = "data.json"  # what loading the training data converted, resized or skipped
EVAL_FILE = "eval.json"  # aekit evaluate's result
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
_RUN_KEYS = {
    "aekit_version",
    "model",
    "model_options",
    "input_shape",
    "num_classes",
    "class_names",
    "dataset",
    "train",
}


@dataclass
class TrainState:
    """What a checkpoint restores besides weights and optimizer."""

    epoch: int = 0
    global_step: int = 0
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


# --- reading --------------------------------------------------------------------------------
def load_model(run_dir: str | Path) -> Autoencoder:
    """Rebuild a model from ``config.json`` + ``model.safetensors``; never unpickles anything."""
    folder = run_folder(run_dir)
    info = read_run_config(folder)
    model = build_from_config(
        info.model, info.model_options, info.input_shape, info.num_classes, folder / CONFIG
    )
    load_weights(model, read_safetensors(folder / WEIGHTS), folder / WEIGHTS)
    return model.eval()


@dataclass(frozen=True)
class RunConfig:
    """``config.json`` of a run, typed: what ``load_model`` builds and the train config that made
    it."""

    model: str
    model_options: dict[str, Any]
    input_shape: tuple[int, int, int]
    num_classes: int | None
    dataset: str
    train: TrainConfig
    class_names: list[str] | None = None
    aekit_version: str | None = None

    def data_options(self) -> dict[str, Any]:
        """How to read the run's dataset again (its test split, say) exactly as training read it:
        the same size, resize and resampling, and the channel count the model was built for."""
        options = self.train.data_options()
        return {**options, "channels": options["channels"] or self.input_shape[0]}


def run_folder(run_dir: str | Path) -> Path:
    """The run folder ``run_dir`` names (a file in it names its folder); a pickle file or a folder
    without weights is refused in one line."""
    path = Path(run_dir)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise AekitError(
            "refusing to load a pickle-based file (loading it could run arbitrary code); "
            "aekit loads run folders holding config.json + model.safetensors",
            path,
        )
    folder = path.parent if path.is_file() else path
    if not (folder / WEIGHTS).is_file():
        raise AekitError(f"not an aekit run folder (no {WEIGHTS})", folder)
    return folder


def read_run_config(run_dir: str | Path) -> RunConfig:
    """``config.json`` of a run, validated (unknown keys and wrong types are one-line errors)."""
    path = Path(run_dir) / CONFIG
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise ConfigError("must be a JSON object", path)
    unknown = sorted(set(meta) - _RUN_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}", path)
    missing = sorted(_RUN_KEYS - set(meta) - {"aekit_version", "class_names"})
    if missing:
        raise ConfigError(f"missing key(s) {', '.join(missing)}", path)
    shape = meta["input_shape"]
    if not (
        isinstance(shape, list)
        and len(shape) == 3
        and all(_is_int(s) and 1 <= s <= 65536 for s in shape)
    ):
        raise ConfigError(
            f"'input_shape' must be 3 positive integers (C, H, W), got {shape!r}", path
        )
    classes = meta["num_classes"]
    if classes is not None and not (_is_int(classes) and 1 <= classes <= 1_000_000):
        raise ConfigError(
            f"'num_classes' must be a positive integer or null, got {classes!r}", path
        )
    names = meta.get("class_names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise ConfigError("'class_names' must be a list of strings or null", path)
    for key in ("model", "dataset"):
        if not isinstance(meta[key], str):
            raise ConfigError(f"'{key}' must be a string, got {meta[key]!r}", path)
    if not isinstance(meta["model_options"], dict):
        raise ConfigError("'model_options' must be an object", path)
    version = meta.get("aekit_version")
    return RunConfig(
        model=meta["model"],
        model_options=meta["model_options"],
        input_shape=(shape[0], shape[1], shape[2]),
        num_classes=classes,
        dataset=meta["dataset"],
        train=TrainConfig.from_dict(meta["train"], where=f"{path} 'train'"),
        class_names=names,
        aekit_version=version if isinstance(version, str) else None,
    )


def run_data_options(info: RunConfig) -> dict[str, Any]:
    """How to read a run's dataset again exactly as training read it
    (``RunConfig.data_options``)."""
    return info.data_options()


def build_from_config(
    model: str,
    options: dict[str, Any],
    input_shape: tuple[int, int, int],
    num_classes: int | None,
    path: Path | None = None,
) -> Autoencoder:
    """The model ``model`` with ``options`` (validated before anything is allocated); errors name
    ``path`` when the description came from a file."""
    try:
        return build_model(model, options, tuple(input_shape), num_classes)
    except AekitError as exc:
        if path is None:
            raise
        raise ConfigError(str(exc), path) from None


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return st_load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise AekitError(
            f"not a valid safetensors file ({exc}); aekit never loads pickle files", path
        ) from None


def load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``tensors`` into ``model`` after checking names, shapes and dtypes against it."""
    check_tensors(model, tensors, path)
    model.load_state_dict(tensors)


def check_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(extra[:3])}"] if extra else []
        )
        raise ConfigError(
            f"tensors do not match the model in config.json: {'; '.join(parts)}", path
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ConfigError(
                f"tensor {name!r} has shape {tuple(tensor.shape)}, the model in config.json "
                f"expects {tuple(expected[name].shape)}",
                path,
            )
        if tensor.dtype != expected[name].dtype:
            raise ConfigError(
                f"tensor {name!r} is {tensor.dtype}, the model expects {expected[name].dtype}", path
            )


# --- writing --------------------------------------------------------------------------------
def make_run_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(
            f"cannot create the run folder ({exc.strerror or exc})", run_dir
        ) from None
    if not os.access(run_dir, os.W_OK):
        raise TrainingError("the run folder is not writable", run_dir)


def write_run_config(
    run_dir: Path,
    config: TrainConfig,
    model: Autoencoder,
    class_names: list[str] | None,
    extra_train: dict[str, Any] | None = None,
) -> None:
    """``config.json``: everything ``load_model`` needs, and the train config that made the run."""
    atomic_write_json(
        run_dir / CONFIG,
        {
            "aekit_version": aekit.__version__,
            "model": config.model,
            "model_options": model.config_dict(),
            "input_shape": list(model.input_shape),
            "num_classes": model.num_classes,
            "class_names": class_names,
            "dataset": config.dataset,
            "train": {
                **config.to_dict(),
                "out": str(run_dir),
                "resume": False,
                **(extra_train or {}),
            },
        },
    )


def write_data_notes(
    run_dir: Path, notes: list[str], skipped: list[str], text: dict[str, Any] | None = None
) -> None:
    """``data.json``: what loading converted or skipped; for page runs also the training pages'
    text sizes (``scans.TrainingText``), which ``denoise`` compares every page with."""
    extra = {} if text is None else {"text": text}
    atomic_write_json(
        run_dir / DATA_NOTES,
        {"notes": notes, "skipped": skipped, "skipped_count": len(skipped), **extra},
    )


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_text(run_dir / METRICS, "".join(json.dumps(h) + "\n" for h in history))


def write_weights(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    atomic_write_bytes(path, to_safetensors(tensors, metadata))


def to_safetensors(
    tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> bytes:
    # clone: safetensors refuses tensors sharing memory (tied weights, views)
    return st_save(
        {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()},
        metadata=metadata,
    )


# --- checkpoints ---------------------------------------------------------------------------
def save_checkpoint(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    best: dict[str, torch.Tensor],
    state: TrainState,
    device: torch.device,
) -> None:
    """Weights, best weights, optimizer and RNG in one safetensors file (its header holds the
    JSON state, so tensors and counters can never disagree); ``checkpoint.json`` is a readable
    copy."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"best/{k}": v for k, v in best.items()})
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in opt["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim/{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors["rng/cpu"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng/cuda"] = torch.cuda.get_rng_state(device)
    info = {
        "epoch": state.epoch,
        "global_step": state.global_step,
        "best_val": state.best_val,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "history": state.history,
        "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
    }
    write_weights(run_dir / CHECKPOINT, tensors, {"aekit_checkpoint": json.dumps(info)})
    summary = {k: info[k] for k in ("epoch", "global_step", "best_val", "best_epoch", "bad_epochs")}
    atomic_write_json(run_dir / CHECKPOINT_JSON, summary)


def restore_checkpoint(
    run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
) -> tuple[TrainState, dict[str, torch.Tensor]]:
    """Load the checkpoint into ``model``, ``optimizer`` and torch's RNG; returns the state and the
    best weights."""
    path = run_dir / CHECKPOINT
    try:
        with safe_open(str(path), framework="pt") as handle:
            info = json.loads((handle.metadata() or {})["aekit_checkpoint"])
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise TrainingError(f"checkpoint is unreadable ({exc}); start a new run", path) from None

    def group(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    load_weights(model, group("model/"), path)
    best = group("best/")
    check_tensors(model, best, path)
    state_dict: dict[int, dict[str, Any]] = {}
    for name, value in group("optim/").items():
        index, key = name.split("/", 1)
        state_dict.setdefault(int(index), {})[key] = value
    for index, entry in info["optimizer"]["scalars"].items():
        state_dict.setdefault(int(index), {}).update(entry)
    groups = [
        {k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()}
        for g in info["optimizer"]["param_groups"]
    ]
    optimizer.load_state_dict({"state": state_dict, "param_groups": groups})
    torch.set_rng_state(tensors["rng/cpu"])
    if device.type == "cuda" and "rng/cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng/cuda"], device)
    state = TrainState(
        info["epoch"],
        info["global_step"],
        info["best_val"],
        info["best_epoch"],
        info["bad_epochs"],
        info["history"],
    )
    return state, {k: v.to(device) for k, v in best.items()}


class RunLock:
    """``flock`` on RUN/.lock: the kernel drops it when the process dies, so no stale locks."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TrainingError(
                f"cannot create the lock file ({exc.strerror or exc})", self.path
            ) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise TrainingError(
                "another training is writing to this run folder; wait for it or choose another "
                "--out",
                self.path.parent,
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
