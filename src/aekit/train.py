"""The training loop, the run folder, checkpoints, resume and ``load_model``.

One epoch: shuffle with a generator seeded by (seed, epoch), corrupt inputs with a noise generator
seeded the same way, step the optimizer, validate, keep the best weights, write a checkpoint.
Because every random stream is either derived from (seed, epoch) or saved in the checkpoint, a
resumed run is bit-identical to an uninterrupted one on CPU.

Nothing here unpickles: weights are safetensors, everything else JSON, and every file is written
atomically (``aekit.io``), so a crash at any instant leaves the previous checkpoint usable.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import math
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import aekit
from aekit import distributed
from aekit.config import TrainConfig, config_from_dict
from aekit.errors import AekitError, ConfigError, TrainingError
from aekit.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from aekit.models.base import Autoencoder

CONFIG, WEIGHTS, METRICS = "config.json", "model.safetensors", "metrics.jsonl"
CHECKPOINT, CHECKPOINT_JSON, LOCK = "checkpoint.safetensors", "checkpoint.json", ".lock"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
# Validation scores the final objective (any KL warm-up finished) so epochs compare fairly.
VAL_STEP = 1 << 62
# Keys that may change when resuming (a lower lr after a NaN, more epochs); the rest fix the data stream.
RESUMABLE_CHANGES = {"epochs", "lr", "weight_decay", "grad_clip", "patience", "device", "precision", "quiet", "resume", "out"}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
ORDER, NOISE, PATCHES, SAMPLING = 0, 1, 2, 3  # independent random streams per (seed, epoch)
Batches = tuple[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]  # inputs, targets, conditions
_RUN_KEYS = {"aekit_version", "model", "model_options", "input_shape", "num_classes", "class_names", "dataset", "train"}


@dataclass
class Run:
    """A finished (or early-stopped) training run; ``model`` holds the best weights."""

    dir: Path
    model: Autoencoder
    history: list[dict[str, Any]]
    best_epoch: int
    config: TrainConfig


@dataclass
class _State:
    """What a checkpoint restores besides weights and optimizer."""

    epoch: int = 0
    global_step: int = 0
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


# --- public API -----------------------------------------------------------------------
def train(config: TrainConfig) -> Run:
    """Train as ``config`` says, into ``config.run_dir``; returns the :class:`Run` (best weights)."""
    run_dir = config.run_dir
    device = distributed.init(resolve_device(config.device))  # under torchrun: join the process group
    try:
        main = distributed.is_main()  # only rank 0 creates, locks and writes the run folder
        if main:
            _make_dir(run_dir)
        with _RunLock(run_dir) if main else contextlib.nullcontext():
            run = _train_locked(config, run_dir, device)
        distributed.barrier()  # no rank returns before rank 0 has written the run folder
        return run
    finally:
        distributed.shutdown()


def load_model(run_dir: str | Path) -> Autoencoder:
    """Rebuild a model from ``config.json`` + ``model.safetensors``; never unpickles anything."""
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
    meta = read_run_config(folder)
    model = _build(meta, folder / CONFIG)
    _load_weights(model, _read_safetensors(folder / WEIGHTS), folder / WEIGHTS)
    return model.eval()


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
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
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(s) and 1 <= s <= 65536 for s in shape)):
        raise ConfigError(f"'input_shape' must be 3 positive integers (C, H, W), got {shape!r}", path)
    classes = meta["num_classes"]
    if classes is not None and not (_is_int(classes) and 1 <= classes <= 1_000_000):
        raise ConfigError(f"'num_classes' must be a positive integer or null, got {classes!r}", path)
    names = meta.get("class_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise ConfigError("'class_names' must be a list of strings or null", path)
    for key in ("model", "dataset"):
        if not isinstance(meta[key], str):
            raise ConfigError(f"'{key}' must be a string, got {meta[key]!r}", path)
    if not isinstance(meta["model_options"], dict):
        raise ConfigError("'model_options' must be an object", path)
    meta["train"] = config_from_dict(meta["train"], where=f"{path} 'train'")
    return meta


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; asking for a missing CUDA device is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"device {name!r} was requested but no CUDA GPU is available here; use --device cpu or auto")
        index = torch.device(name).index or 0
        if index >= torch.cuda.device_count():
            raise TrainingError(f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device(name)


def prepare_model(model: Autoencoder, device: torch.device) -> Autoencoder:
    """Speed settings that keep the maths (see benchmarks/README.md): on CPU, convolution weights
    in channels-last, oneDNN's fast layout (activations follow), and freed memory kept for reuse."""
    if device.type != "cpu":
        return model
    keep_freed_memory()
    if any(p.dim() == 4 for p in model.parameters()):
        model = model.to(memory_format=torch.channels_last)
    return model


def uses_bf16(config: TrainConfig, device: torch.device) -> bool:
    """Whether the training forward runs under bfloat16 autocast (weights, gradients and the
    optimizer stay float32): by default on CUDA only; ``precision = "bf16"`` on CPUs too."""
    return config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")


def keep_freed_memory() -> None:
    """Stop glibc from handing freed activation buffers (tens of MB) back to the OS after every
    batch: re-faulting them cost ~37,000 page faults and a third of a tutorial-dae step."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # blocks up to 32 MB (glibc's maximum) come from the heap
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # and the heap is not trimmed below 1 GB of free space


# --- the loop -----------------------------------------------------------------------------
def _train_locked(config: TrainConfig, run_dir: Path, device: torch.device) -> Run:
    from aekit.data import ImageSet, load
    from aekit.data.noise import parse_noise

    state = _State()
    main = distributed.is_main()
    started = (run_dir / CHECKPOINT).is_file()  # at least one epoch finished here
    if started and not config.resume:
        raise TrainingError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --out")
    if config.resume:
        if not (run_dir / CONFIG).is_file():
            raise TrainingError(f"nothing to resume in {run_dir} (no {CONFIG}); train without --resume first")
        _check_resumable(read_run_config(run_dir)["train"], config, run_dir)

    data = load(config.dataset, "train", image_size=config.image_size)
    pages = not isinstance(data, ImageSet)
    if pages:
        input_shape, num_classes, class_names = (1, config.patch_size, config.patch_size), None, None
    else:
        input_shape, num_classes, class_names = data.shape, data.num_classes, data.class_names
    torch.manual_seed(config.seed)
    model = prepare_model(_build({"model": config.model, "model_options": config.model_options,
                                  "input_shape": list(input_shape), "num_classes": num_classes}, None).to(device), device)
    if model.conditional and pages:
        raise ConfigError(f"model {config.model!r} is conditional and needs an image dataset, not {config.dataset}")
    optimizer = _make_optimizer(config, model)
    noise = parse_noise(config.noise) if config.noise else None
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if started:
        state, best = _restore(run_dir, model, optimizer, device)
        for group in optimizer.param_groups:
            group["lr"], group["weight_decay"] = config.lr, config.weight_decay
    if main:
        atomic_write_json(run_dir / CONFIG, {
            "aekit_version": aekit.__version__,
            "model": config.model,
            "model_options": model.config_dict(),
            "input_shape": list(model.input_shape),
            "num_classes": num_classes,
            "class_names": class_names,
            "dataset": config.dataset,
            "train": {**config.to_dict(), "out": str(run_dir), "resume": False},
        })
        atomic_write_text(run_dir / METRICS, "".join(json.dumps(h) + "\n" for h in state.history))
    split = _Split.make(data, model, noise, config, device)
    replica = distributed.for_training(model, device)  # DDP under torchrun
    val, val_rows = distributed.split_rows(split.val)  # each rank validates its share

    log = _Log(config.quiet or not main)
    where = f"{distributed.world_size()} processes on {device.type}" if distributed.world_size() > 1 else str(device)
    log(f"training {config.model} on {config.dataset} ({split.describe}) on {where} -> {run_dir}")
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if config.patience is not None and state.bad_epochs >= config.patience:
            break
        start = time.perf_counter()
        if distributed.world_size() > 1:  # each rank its own sampling noise (VAEs), reproducible on resume
            torch.manual_seed(_generator(config.seed, epoch, SAMPLING, distributed.rank()).initial_seed())
        train_terms = _train_epoch(replica, optimizer, config, epoch, state, split.train(epoch), noise, device, log)
        train_terms = distributed.all_reduce_mean(train_terms)
        val_terms = distributed.all_reduce_mean(_evaluate(model, val, config, device), val_rows)
        if not math.isfinite(val_terms["loss"]):
            raise TrainingError(_nan_message(epoch, state.global_step, "validation loss", config))
        state.epoch = epoch
        improved = val_terms["loss"] < state.best_val
        if improved:
            state.best_val, state.best_epoch, state.bad_epochs = val_terms["loss"], epoch, 0
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if main:
                atomic_write_bytes(run_dir / WEIGHTS, _to_safetensors(best))
        else:
            state.bad_epochs += 1
        state.history.append({
            "epoch": epoch,
            "train": train_terms,
            "val": val_terms,
            "seconds": round(time.perf_counter() - start, 3),
            "lr": optimizer.param_groups[0]["lr"],
        })
        if main:
            atomic_write_text(run_dir / METRICS, "".join(json.dumps(h) + "\n" for h in state.history))
            _save_checkpoint(run_dir, model, optimizer, best, state, device)
        log.epoch_done(epoch, config.epochs, train_terms, val_terms, improved)
    if config.patience is not None and state.bad_epochs >= config.patience and state.epoch < config.epochs:
        log(f"early stop after epoch {state.epoch}: no improvement for {config.patience} epochs")
    log(f"best epoch {state.best_epoch} (val loss {state.best_val:.4f}); run saved in {run_dir}")
    model.load_state_dict(best)
    return Run(run_dir, model.eval(), state.history, state.best_epoch, config)


def _train_epoch(
    model: Autoencoder, optimizer: torch.optim.Optimizer, config: TrainConfig, epoch: int, state: _State,
    data: Batches, noise: Any, device: torch.device, log: _Log,
) -> dict[str, float]:
    """One pass over ``data`` (inputs, targets, conditions) in seeded random order; mean loss terms."""
    x_all, y_all, c_all = data
    model.train()
    # under torchrun each rank takes its equal share of the same seeded order, and draws its own noise
    order = distributed.shard(torch.randperm(x_all.shape[0], generator=_generator(config.seed, epoch, ORDER)))
    n = order.shape[0]
    batch = min(config.batch_size, n)
    steps = n // batch  # drop the ragged last batch: equal batches, and BatchNorm never sees one image
    noise_gen = _generator(config.seed, epoch, NOISE, distributed.rank())
    sums: torch.Tensor | None = None
    names: list[str] = []
    bf16 = uses_bf16(config, device)
    bar = log.bar(steps, f"epoch {epoch}/{config.epochs}")
    for i in range(steps):
        idx = order[i * batch : (i + 1) * batch]
        x = x_all[idx]
        target = None if y_all is None else y_all[idx]
        if noise is not None:
            target = x if target is None else target
            x = noise(x.cpu(), generator=noise_gen).to(device) if device.type != "cpu" else noise(x, generator=noise_gen)
        condition = None if c_all is None else c_all[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            terms = model.loss(x, target=target, condition=condition, step=state.global_step)
        loss = terms["loss"]
        if not torch.isfinite(loss):
            bad = next((k for k, v in terms.items() if k != "loss" and not torch.isfinite(v).all()), "loss")
            raise TrainingError(_nan_message(epoch, state.global_step, f"loss term '{bad}'", config))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        state.global_step += 1
        values = torch.stack([v.detach().float() for v in terms.values()])
        sums = values if sums is None else sums + values
        names = list(terms)
        if bar is not None and (i % 10 == 9 or i == steps - 1):
            bar.set_postfix({k: f"{v:.4g}" for k, v in zip(names, (sums / (i + 1)).tolist())}, refresh=False)
            bar.update(i + 1 - bar.n)
    if bar is not None:
        bar.close()
    return {k: v for k, v in zip(names, (sums / steps).tolist())}


def _evaluate(model: Autoencoder, data: Batches, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """Mean loss terms over the validation set, with a fixed seed for any sampling inside the loss."""
    x_all, y_all, c_all = data
    model.eval()
    batch = max(config.batch_size, 256)
    totals: torch.Tensor | None = None
    names: list[str] = []
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.inference_mode():
        torch.manual_seed(config.seed)
        for i in range(0, x_all.shape[0], batch):
            x = x_all[i : i + batch]
            target = None if y_all is None else y_all[i : i + batch]
            condition = None if c_all is None else c_all[i : i + batch]
            terms = model.loss(x, target=target, condition=condition, step=VAL_STEP)
            values = torch.stack([v.float() for v in terms.values()]) * x.shape[0]
            totals = values if totals is None else totals + values
            names = list(terms)
    return {k: v for k, v in zip(names, (totals / x_all.shape[0]).tolist())}


@dataclass
class _Split:
    """Training and validation tensors on the device; documents draw fresh patches each epoch."""

    config: TrainConfig
    device: torch.device
    val: Batches
    describe: str
    images: Batches | None = None  # image datasets: the whole training set, batched in memory
    pages: Any = None  # documents: the training PageSet

    @classmethod
    def make(cls, data: Any, model: Autoencoder, noise: Any, config: TrainConfig, device: torch.device) -> _Split:
        from aekit.data import ImageSet, train_val_split

        train_set, val_set = train_val_split(data, config.val_fraction, config.seed)
        if isinstance(data, ImageSet):
            if config.max_train_images is not None:  # a quick run: shrink validation in proportion
                n_val = max(1, round(config.max_train_images * config.val_fraction / (1 - config.val_fraction)))
                train_set = train_set.subset(torch.arange(min(config.max_train_images, len(train_set))))
                val_set = val_set.subset(torch.arange(min(n_val, len(val_set))))
            val_x, val_y, val_c = val_set.images, None, _condition(model, val_set)
            images = (train_set.images.to(device), None, _to(_condition(model, train_set), device))
            describe = f"{len(train_set)} train / {len(val_set)} val images"
        else:
            val_x, val_y = val_set.random_patches(_val_patches(config), config.patch_size,
                                                  _generator(config.seed, -1, PATCHES))
            val_c, images = None, None
            describe = f"{len(train_set)} train / {len(val_set)} val pages, {config.patch_size}px patches"
        if noise is not None:  # a fixed corruption, so validation losses compare across epochs
            val_x, val_y = noise(val_x, generator=_generator(config.seed, -1, NOISE)), val_x if val_y is None else val_y
        val = (val_x.to(device), _to(val_y, device), _to(val_c, device))
        return cls(config, device, val, describe, images, None if images is not None else train_set)

    def train(self, epoch: int) -> Batches:
        if self.images is not None:
            return self.images
        size, n = self.config.patch_size, self.config.patches_per_epoch
        noisy, clean = self.pages.random_patches(n, size, _generator(self.config.seed, epoch, PATCHES))
        return noisy.to(self.device), clean.to(self.device), None


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)


# --- checkpoints ---------------------------------------------------------------------
def _save_checkpoint(
    run_dir: Path, model: Autoencoder, optimizer: torch.optim.Optimizer, best: dict[str, torch.Tensor],
    state: _State, device: torch.device,
) -> None:
    """Weights, best weights, optimizer and RNG in one safetensors file (its header holds the
    JSON state, so tensors and counters can never disagree); ``checkpoint.json`` is a readable copy."""
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
    atomic_write_bytes(run_dir / CHECKPOINT, _to_safetensors(tensors, {"aekit_checkpoint": json.dumps(info)}))
    summary = {k: info[k] for k in ("epoch", "global_step", "best_val", "best_epoch", "bad_epochs")}
    atomic_write_json(run_dir / CHECKPOINT_JSON, summary)


def _restore(
    run_dir: Path, model: Autoencoder, optimizer: torch.optim.Optimizer, device: torch.device
) -> tuple[_State, dict[str, torch.Tensor]]:
    path = run_dir / CHECKPOINT
    try:
        with safe_open(str(path), framework="pt") as handle:
            info = json.loads((handle.metadata() or {})["aekit_checkpoint"])
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise TrainingError(f"checkpoint is unreadable ({exc}); start a new run", path) from None
    group = lambda prefix: {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}  # noqa: E731
    _load_weights(model, group("model/"), path)
    best = group("best/")
    _check_tensors(model, best, path)
    state_dict: dict[int, dict[str, Any]] = {}
    for name, value in group("optim/").items():
        index, key = name.split("/", 1)
        state_dict.setdefault(int(index), {})[key] = value
    for index, entry in info["optimizer"]["scalars"].items():
        state_dict.setdefault(int(index), {}).update(entry)
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()}
              for g in info["optimizer"]["param_groups"]]
    optimizer.load_state_dict({"state": state_dict, "param_groups": groups})
    torch.set_rng_state(tensors["rng/cpu"])
    if device.type == "cuda" and "rng/cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng/cuda"], device)
    state = _State(info["epoch"], info["global_step"], info["best_val"], info["best_epoch"], info["bad_epochs"], info["history"])
    return state, {k: v.to(device) for k, v in best.items()}


def _check_resumable(stored: TrainConfig, given: TrainConfig, run_dir: Path) -> None:
    old, new = stored.to_dict(), given.to_dict()
    for key in old:
        if key not in RESUMABLE_CHANGES and old[key] != new[key]:
            raise ConfigError(
                f"cannot resume {run_dir} with a different {key} ({old[key]!r} in the run, {new[key]!r} now); "
                "only epochs, lr, weight_decay, grad_clip, patience and device may change"
            )


# --- helpers --------------------------------------------------------------------------
def _build(meta: dict[str, Any], path: Path | None) -> Autoencoder:
    from aekit.models import build_model

    try:
        return build_model(meta["model"], meta["model_options"], tuple(meta["input_shape"]), meta["num_classes"])
    except AekitError as exc:
        if path is None:
            raise
        raise ConfigError(str(exc), path) from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return st_load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise AekitError(f"not a valid safetensors file ({exc}); aekit never loads pickle files", path) from None


def _check_tensors(model: Autoencoder, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + ([f"unexpected {', '.join(extra[:3])}"] if extra else [])
        raise ConfigError(f"tensors do not match the model in config.json: {'; '.join(parts)}", path)
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ConfigError(
                f"tensor {name!r} has shape {tuple(tensor.shape)}, the model in config.json expects {tuple(expected[name].shape)}", path
            )
        if tensor.dtype != expected[name].dtype:
            raise ConfigError(f"tensor {name!r} is {tensor.dtype}, the model expects {expected[name].dtype}", path)


def _load_weights(model: Autoencoder, tensors: dict[str, torch.Tensor], path: Path) -> None:
    _check_tensors(model, tensors, path)
    model.load_state_dict(tensors)


def _to_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    # clone: safetensors refuses tensors sharing memory (tied weights, views)
    return st_save({k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}, metadata=metadata)


def _make_optimizer(config: TrainConfig, model: Autoencoder) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _generator(seed: int, epoch: int, stream: int, rank: int = 0) -> torch.Generator:
    """An independent generator per (seed, epoch, stream): epoch -1 is validation; ranks > 0 of a
    torchrun job get their own (rank 0 and single-process runs keep the same streams)."""
    mixed = np.random.SeedSequence([seed, epoch + 1, stream] + ([rank] if rank else [])).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(mixed[0]) << 32 | int(mixed[1]))


def _condition(model: Autoencoder, data: Any) -> torch.Tensor | None:
    if not model.conditional:
        return None
    from aekit.data.conditions import make_condition

    return make_condition(model.condition_kind, data.images, data.labels)


def _val_patches(config: TrainConfig) -> int:
    return max(1, round(config.patches_per_epoch * config.val_fraction / (1 - config.val_fraction)))


def _nan_message(epoch: int, step: int, term: str, config: TrainConfig) -> str:
    kept = f"the checkpoint of epoch {epoch - 1} in {config.run_dir} is kept" if epoch > 1 else "no checkpoint was written yet"
    return (f"non-finite {term} at epoch {epoch}, step {step}; {kept}; try a lower learning rate "
            f"(now {config.lr:g}) or grad_clip (e.g. 1.0)")


def _make_dir(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"cannot create the run folder ({exc.strerror or exc})", run_dir) from None
    if not os.access(run_dir, os.W_OK):
        raise TrainingError("the run folder is not writable", run_dir)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _RunLock:
    """``flock`` on RUN/.lock: the kernel drops it when the process dies, so no stale locks."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK
        self.fd: int | None = None

    def __enter__(self) -> _RunLock:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TrainingError(f"cannot create the lock file ({exc.strerror or exc})", self.path) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise TrainingError("another training is writing to this run folder; wait for it or choose another --out",
                                self.path.parent) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock


class _Log:
    """Progress bars and one-line messages on stderr; silent in quiet mode."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(message)

    def bar(self, total: int, desc: str):
        if self.quiet:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)

    def epoch_done(self, epoch: int, epochs: int, train: dict[str, float], val: dict[str, float], improved: bool) -> None:
        terms = " ".join(f"{k} {v:.4g}" for k, v in train.items())
        self(f"epoch {epoch}/{epochs}  train {terms}  val loss {val['loss']:.4g}{'  (best)' if improved else ''}")


class _CallableModule(types.ModuleType):
    """Importing ``aekit.train`` rebinds the name ``aekit.train`` from the API function to this
    module; making the module callable keeps ``aekit.train(config)`` working either way."""

    def __call__(self, config: TrainConfig) -> Run:
        return train(config)


sys.modules[__name__].__class__ = _CallableModule
