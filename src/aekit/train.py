"""The training loop: ``train(config) -> Run``, one function that reads in one sitting.

One epoch: shuffle with a generator seeded by (seed, epoch), corrupt inputs with a noise generator
seeded the same way, step the optimizer, validate, keep the best weights, write a checkpoint.
Because every random stream is either derived from (seed, epoch) or saved in the checkpoint, a
resumed run is bit-identical to an uninterrupted one on CPU. The run folder's format lives in
``aekit.runs``, the device and speed settings in ``aekit.device``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch

import aekit.data
from aekit import distributed
from aekit.config import RESUMABLE, TrainConfig
from aekit.data import ImageSet
from aekit.data.noise import parse_noise
from aekit.device import prepare_model, resolve_device, uses_bf16
from aekit.errors import ConfigError, TrainingError
from aekit.models.base import Autoencoder
from aekit.models.defaults import resolve
from aekit.priors import PRIORS, fit_prior
from aekit.progress import Progress, TensorBoardLogger, epoch_label
from aekit.run import Run
from aekit.runs import (
    CHECKPOINT,
    CONFIG,
    DATA_NOTES,
    WEIGHTS,
    RunLock,
    TrainState,
    build_from_config,
    make_run_dir,
    read_run_config,
    restore_checkpoint,
    save_checkpoint,
    write_data_notes,
    write_metrics,
    write_run_config,
    write_weights,
)
from aekit.scans import TrainingText
from aekit.train_budget import Budget
from aekit.train_data import NOISE, ORDER, SAMPLING, Batches, TrainingSplit, epoch_generator

# Validation scores the final objective (any KL warm-up finished) so epochs compare fairly.
VAL_STEP = 1 << 62
# a model's init_from_data sees the first training images up to this many values (256 MB)
INIT_VALUES = 1 << 26


def train(config: TrainConfig) -> Run:
    """Train as ``config`` says, into ``config.run_dir``; returns the :class:`aekit.run.Run` (best
    weights in hand)."""
    run_dir = config.run_dir
    # under torchrun: join the process group
    device = distributed.init(resolve_device(config.device))
    try:
        main = distributed.is_main()  # only rank 0 creates, locks and writes the run folder
        if main:
            make_run_dir(run_dir)
        with RunLock(run_dir) if main else contextlib.nullcontext():
            run = _train_locked(config, run_dir, device)
        distributed.barrier()  # no rank returns before rank 0 has written the run folder
        return run
    finally:
        distributed.shutdown()


def _train_locked(config: TrainConfig, run_dir: Path, device: torch.device) -> Run:
    began = time.perf_counter()
    state = TrainState()
    main = distributed.is_main()
    started = (run_dir / CHECKPOINT).is_file()  # at least one epoch finished here
    if started and not config.resume:
        raise TrainingError(
            f"{run_dir} already holds a run; pass --resume to continue it, or choose another --out"
        )
    if config.resume:
        if not (run_dir / CONFIG).is_file():
            raise TrainingError(
                f"nothing to resume in {run_dir} (no {CONFIG}); train without --resume first"
            )
        stored_run = read_run_config(run_dir)
        stored = stored_run.train
        if config.model is None:  # the model chosen from the data when the run started
            config = dataclasses.replace(
                config, model=stored.model, model_options=stored.model_options
            )

    data = aekit.data.load(config.dataset, "train", **config.data_options())
    pages = not isinstance(data, ImageSet)
    input_shape, num_classes = (
        ((1, config.patch_size, config.patch_size), None)
        if pages
        else (data.shape, data.num_classes)
    )
    config, why = _choose_model(config, data, input_shape)
    if config.resume:
        # after the choice: it fills in what the run's config.json holds
        check_resumable(stored, config, run_dir)
    torch.manual_seed(config.seed)
    # a resumed run's model as it was saved, with what init_from_data set (plan models' smallest
    # room)
    options = stored_run.model_options if started else config.model_options
    model = build_from_config(config.model, options, input_shape, num_classes)
    model = prepare_model(model.to(device), device)
    if model.conditional and pages:
        raise ConfigError(
            f"model {config.model!r} is conditional and needs an image dataset, not "
            f"{config.dataset}"
        )
    optimizer = make_optimizer(config, model)
    noise = parse_noise(config.noise) if config.noise else None
    split = TrainingSplit.make(data, model, noise, config, device)
    if started:
        state, best = restore_checkpoint(run_dir, model, optimizer, device)
        for group in optimizer.param_groups:
            group["lr"], group["weight_decay"] = config.lr, config.weight_decay
    else:
        if split.images is not None:
            n = min(len(split.images), max(1, INIT_VALUES // math.prod(input_shape)))
            model.init_from_data(split.images.take(torch.arange(n))[0])
        best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    notes = [f"model choice: {why}"] if why else []
    if not pages:
        notes += data.notes
        if data.skipped:
            notes.append(
                f"skipped {len(data.skipped)} files that do not decode (listed in "
                f"{run_dir / DATA_NOTES})"
            )
    if main:
        write_run_config(run_dir, config, model, None if pages else data.class_names)
        write_metrics(run_dir, state.history)
        if pages:
            text = TrainingText.of_pages(split.pages.noisy)
            write_data_notes(run_dir, [], [], text=None if text is None else text.to_json())
        else:
            write_data_notes(run_dir, data.notes, data.skipped)
    log = _progress(config, run_dir, split, main)
    for note in notes:
        log.message(note)
    try:
        run = _epochs(config, run_dir, device, model, optimizer, noise, best, state, split, log)
        # e.g. the sprites' code map: its prior, so sampling works
        if model.prior_after_training() is not None and main:
            _fit_prior_after(config, run_dir, *model.prior_after_training(), began, log)
        return run
    # Ctrl-C: the run folder's files are whole (atomic writes); say what is there
    except KeyboardInterrupt:
        kept = (
            f"{run_dir} keeps its last finished epoch: continue with --resume"
            if (run_dir / CHECKPOINT).is_file()
            else f"no epoch finished in {run_dir}"
        )
        raise KeyboardInterrupt(f"training stopped; {kept}") from None
    finally:
        log.close()


def _progress(config: TrainConfig, run_dir: Path, split: TrainingSplit, main: bool) -> Progress:
    """The run's progress channel: lines or bars on stderr, and TensorBoard events when asked
    for."""
    callbacks = []
    if config.tensorboard and main:
        callbacks.append(
            TensorBoardLogger(
                run_dir / "tensorboard",
                images=split.val.take(torch.arange(min(8, len(split.val))))[0].cpu(),
            )
        )
    return Progress(quiet=config.quiet or not main, callbacks=callbacks)


def _epochs(
    config: TrainConfig,
    run_dir: Path,
    device: torch.device,
    model: Autoencoder,
    optimizer: torch.optim.Optimizer,
    noise: Any,
    best: dict[str, torch.Tensor],
    state: TrainState,
    split: TrainingSplit,
    log: Progress,
) -> Run:
    """The epochs themselves: train, validate, keep the best weights, write the checkpoint."""
    main = distributed.is_main()
    replica = distributed.for_training(model, device)  # DDP under torchrun
    start, stop = distributed.share(len(split.val))  # each rank validates its share
    val, val_rows = split.val.part(start, stop), stop - start
    where = (
        f"{distributed.world_size()} processes on {device.type}"
        if distributed.world_size() > 1
        else str(device)
    )
    log.message(
        f"training {config.model} on {config.dataset} ({split.describe}) on {where} -> {run_dir}"
    )
    after = model.prior_after_training()
    minutes = (
        config.max_minutes
        if after is None or config.max_minutes is None
        else config.max_minutes * (1 - after[1])
    )
    if minutes != config.max_minutes:
        log.message(
            f"max_minutes = {config.max_minutes:g}: {minutes:.1f} for the model, the rest for "
            f"its prior '{after[0]}'"
        )
    budget = Budget(minutes, state.history)
    epoch = state.epoch
    while epoch < config.epoch_limit:
        epoch += 1
        if config.patience is not None and state.bad_epochs >= config.patience:
            break
        if budget.expired():
            log.message(
                f"stopping before epoch {epoch}: max_minutes = {config.max_minutes:g} reached"
            )
            break
        start = time.perf_counter()
        # each rank its own sampling noise (VAEs), reproducible on resume
        if distributed.world_size() > 1:
            torch.manual_seed(
                epoch_generator(config.seed, epoch, SAMPLING, distributed.rank()).initial_seed()
            )
        train_terms = train_epoch(
            replica, optimizer, config, epoch, state, split.train(epoch), noise, device, log, budget
        )
        train_terms = distributed.all_reduce_mean(train_terms)
        trained = time.perf_counter()
        # a partial epoch is validated too: its steps changed the weights, and only validation can
        # say
        # whether they are the best so far (the run's first epoch has no other weights to keep)
        val_terms = distributed.all_reduce_mean(
            validation_loss(model, val, config, device), val_rows
        )
        if not math.isfinite(val_terms["loss"]):
            raise TrainingError(_nan_message(epoch, state.global_step, "validation loss", config))
        state.epoch = epoch
        improved = val_terms["loss"] < state.best_val
        if improved:
            state.best_val, state.best_epoch, state.bad_epochs = val_terms["loss"], epoch, 0
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if main:
                write_weights(run_dir / WEIGHTS, best)
        else:
            state.bad_epochs += 1
        entry = {
            "epoch": epoch,
            "train": train_terms,
            "val": val_terms,
            "seconds": round(time.perf_counter() - start, 3),
            "images_per_s": round(
                budget.images * distributed.world_size() / max(trained - start, 1e-9), 1
            ),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if budget.batches < budget.steps:
            entry["partial"] = (
                f"{budget.batches}/{budget.steps} batches, max_minutes = {config.max_minutes:g} "
                "reached"
            )
        state.history.append(entry)
        if main:
            write_metrics(run_dir, state.history)
            save_checkpoint(run_dir, model, optimizer, best, state, device)
        budget.epoch_finished(time.perf_counter() - trained)
        log.epoch(epoch, config.epoch_limit, state.history[-1], model, improved)
    if (
        config.patience is not None
        and state.bad_epochs >= config.patience
        and state.epoch < config.epoch_limit
    ):
        log.message(
            f"early stop after epoch {state.epoch}: no improvement for {config.patience} epochs"
        )
    log.message(
        f"best epoch {state.best_epoch} (val loss {state.best_val:.4f}); run saved in {run_dir}"
    )
    model.load_state_dict(best)
    return Run.trained(run_dir, model.eval(), state.history, state.best_epoch, config)


def _fit_prior_after(
    config: TrainConfig, run_dir: Path, prior: str, share: float, began: float, log: Progress
) -> None:
    """The prior the model asks for, fitted to the best weights' codes in what is left of
    max_minutes (without max_minutes: its share of the time the model took, so a short run stays
    short) when the prior's config takes ``max_seconds`` (every prior aekit has: the learned ones
    stop their steps, gmm its EM)."""
    spent = time.perf_counter() - began
    left = (
        spent * share / (1 - share)
        if config.max_minutes is None
        else config.max_minutes * 60 - spent
    )
    log.message(f"fitting prior '{prior}' to the codes ({max(left, 1):.0f} s left)")
    timed = "max_seconds" in {f.name for f in dataclasses.fields(PRIORS[prior].Config)}
    fit_prior(
        run_dir,
        prior,
        seed=config.seed,
        quiet=config.quiet,
        **({"max_seconds": max(1.0, left)} if timed else {}),
    )


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    epoch: int,
    state: TrainState,
    data: Batches,
    noise: Any,
    device: torch.device,
    log: Progress | None = None,
    budget: Budget | None = None,
) -> dict[str, float]:
    """One pass over ``data`` in seeded random order; mean loss terms. Inputs stored as uint8 are
    converted batch by batch, so a large set stays small in memory. With a ``budget`` the pass
    stops after the batch that reaches its deadline (the terms are then the means of the batches
    done) and the budget records how many batches and images ran."""
    model.train()
    # under torchrun each rank takes its equal share of the same seeded order, and draws its own
    # noise
    order = distributed.shard(
        torch.randperm(len(data), generator=epoch_generator(config.seed, epoch, ORDER))
    )
    n = order.shape[0]
    batch = min(config.batch_size, n)
    # drop the ragged last batch: equal batches, and BatchNorm never sees one image
    steps = n // batch
    noise_gen = epoch_generator(config.seed, epoch, NOISE, distributed.rank())
    sums: torch.Tensor | None = None
    names: list[str] = []
    bf16 = uses_bf16(config.precision, device)
    done = 0
    with (log or Progress(quiet=True)).bar(
        steps, epoch_label(epoch, config.epoch_limit), unit="batch", lines=False
    ) as bar:
        for i in range(steps):
            x, target, condition = data.take(order[i * batch : (i + 1) * batch])
            if noise is not None:
                target = x if target is None else target
                x = (
                    noise(x.cpu(), generator=noise_gen).to(device)
                    if device.type != "cpu"
                    else noise(x, generator=noise_gen)
                )
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                terms = model.loss(x, target=target, condition=condition, step=state.global_step)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                bad = next(
                    (k for k, v in terms.items() if k != "loss" and not torch.isfinite(v).all()),
                    "loss",
                )
                raise TrainingError(
                    _nan_message(epoch, state.global_step, f"loss term '{bad}'", config)
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            state.global_step += 1
            values = torch.stack([v.detach().float() for v in terms.values()])
            sums = values if sums is None else sums + values
            names = list(terms)
            done = i + 1
            if i % 10 == 9 or i == steps - 1 or bar.due():
                bar.update(done - bar.n, **dict(zip(names, (sums / done).tolist())))
            if budget is not None and i < steps - 1 and budget.expired():
                break
    if budget is not None:
        budget.batches, budget.steps, budget.images = done, steps, done * batch
    return dict(zip(names, (sums / done).tolist()))


def validation_loss(
    model: Autoencoder, data: Batches, config: TrainConfig, device: torch.device
) -> dict[str, float]:
    """Mean loss terms over the validation set, with a fixed seed for any sampling inside the
    loss."""
    model.eval()
    batch = max(config.batch_size, 256)
    totals: torch.Tensor | None = None
    names: list[str] = []
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.inference_mode():
        torch.manual_seed(config.seed)
        for i in range(0, len(data), batch):
            x, target, condition = data.take(torch.arange(i, min(i + batch, len(data))))
            terms = model.loss(x, target=target, condition=condition, step=VAL_STEP)
            values = torch.stack([v.float() for v in terms.values()]) * x.shape[0]
            totals = values if totals is None else totals + values
            names = list(terms)
    return dict(zip(names, (totals / len(data)).tolist()))


def _choose_model(
    config: TrainConfig, data: Any, input_shape: tuple[int, int, int]
) -> tuple[TrainConfig, str | None]:
    """Fill in what the user left unset from a look at the data: the model (documents: doc-unet) and
    a VAE's likelihood. Returns the completed config and why, or None when nothing was chosen."""
    if not isinstance(data, ImageSet):
        if config.model is not None:
            return config, None
        return dataclasses.replace(
            config, model="doc-unet"
        ), "doc-unet for document pages (a U-Net correcting background division)"
    # the data says which model it is for
    if config.model is None and data.default_model is not None:
        name, why = data.default_model
        return dataclasses.replace(config, model=name), why
    sample = data.batch(torch.arange(min(len(data), 2000)))
    name, options, why = resolve(config.model, config.model_options, sample, input_shape)
    return dataclasses.replace(config, model=name, model_options=options), why


def check_resumable(stored: TrainConfig, given: TrainConfig, run_dir: Path) -> None:
    """Only the keys marked resumable may change when a run continues; the rest fix the data
    stream."""
    old, new = stored.to_dict(), given.to_dict()
    for key in old:
        if key not in RESUMABLE and old[key] != new[key]:
            raise ConfigError(
                f"cannot resume {run_dir} with a different {key} ({old[key]!r} in the run, "
                f"{new[key]!r} now); only {', '.join(sorted(RESUMABLE))} may change"
            )


def make_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _nan_message(epoch: int, step: int, term: str, config: TrainConfig) -> str:
    kept = (
        f"the checkpoint of epoch {epoch - 1} in {config.run_dir} is kept"
        if epoch > 1
        else "no checkpoint was written yet"
    )
    return (
        f"non-finite {term} at epoch {epoch}, step {step}; {kept}; try a lower learning rate "
        f"(now {config.lr:g}) or grad_clip (e.g. 1.0)"
    )


def train_as_given(config: TrainConfig | None = None, **options: Any) -> Run:
    """``aekit.train``: train as ``config`` says, or as the keyword ``options`` say over it
    (``TrainConfig``'s fields, checked as ``aekit train`` checks its flags)."""
    if options or config is None:
        config = TrainConfig.from_dict(
            {**(config.to_dict() if config else {}), **options}, "aekit.train"
        )
    return train(config)


class _CallableModule(types.ModuleType):
    """Importing ``aekit.train`` rebinds the name ``aekit.train`` from the API function to this
    module; making the module callable keeps ``aekit.train(config)`` working either way."""

    def __call__(self, config: TrainConfig | None = None, **options: Any) -> Run:
        return train_as_given(config, **options)


sys.modules[__name__].__class__ = _CallableModule
