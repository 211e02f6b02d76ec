"""``aekit sample`` and ``aekit interpolate``: images from a run's model (or a fitted prior),
written batch by batch (``sample_00000.png`` ..., a sheet with its atlas; frames, strip and GIF)."""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from aekit.alpha import has_alpha
from aekit.commands.inputs import class_index, prepare_out
from aekit.data import ImageSet, val_indices
from aekit.device import native_bf16
from aekit.errors import ConfigError
from aekit.formats import ImageWriter, check_sheet, sheet, write_interpolation
from aekit.gameart import Finish, learn_palette, read_palette, texturepacker_atlas
from aekit.images import (
    encode_image,
    read_image_file,
    to_channels,
)
from aekit.inference import (
    SAMPLE_BATCH,
    check_sample_options,
    check_steps,
    check_vector_code,
    class_centroids,
    encode_images,
    encoding_condition,
    images_for_model,
    interpolate_codes,
    sample_batches,
)
from aekit.models.base import Autoencoder
from aekit.run import Run
from aekit.variations import variation_batches

if TYPE_CHECKING:
    from aekit.plan_sampling import PlanFiles
    from aekit.priors import Prior  # a learned prior over codes: replaces N(0, I) when sampling


class SampleFiles(Sequence[Path]):
    """The paths ``out/sample_0000.png`` ... (+ ``out/sheet.png``, ``out/sheet.json``), each made
    when asked for: a billion samples never hold a billion names."""

    def __init__(self, out: Path, n: int, with_sheet: bool):
        self.out, self.n, self.with_sheet = out, n, with_sheet
        self.width = len(str(n - 1))

    def names(self, start: int, stop: int) -> list[str]:
        return [f"sample_{k:0{self.width}d}.png" for k in range(start, stop)]

    def __len__(self) -> int:
        return self.n + 2 * self.with_sheet

    def describe(self) -> str:
        """What ``aekit sample`` says it wrote."""
        return f"wrote {self.n} samples to {self.out}" + (
            f" and the sheet {self[-2]} with its atlas {self[-1]}" if self.with_sheet else ""
        )

    @typing.overload
    def __getitem__(self, index: int) -> Path: ...

    @typing.overload
    def __getitem__(self, index: slice) -> list[Path]: ...

    def __getitem__(self, index: int | slice) -> Path | list[Path]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        k = index + len(self) if index < 0 else index
        if not 0 <= k < len(self):
            raise IndexError(index)
        return self.out / (
            self.names(k, k + 1)[0] if k < self.n else ("sheet.png", "sheet.json")[k - self.n]
        )


def sample_command(
    model: Autoencoder,
    out: str | Path,
    n: int,
    *,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    condition_image: torch.Tensor | None = None,
    temperature: float = 1.0,
    prior: Prior | None = None,
    write_sheet: bool = False,
    overwrite: bool = False,
    bf16: bool = False,
    finish: Finish | None = None,
    batches: Iterator[torch.Tensor] | None = None,
) -> SampleFiles:
    """Write ``n`` samples as ``sample_00000.png`` ... (and ``sheet.png`` with its TexturePacker
    atlas ``sheet.json``) into ``out``, batch by batch: the names of each batch are made with it, so
    memory does not grow with ``n``; ``finish`` makes each batch game-ready first
    (``aekit.gameart``); ``batches``: images to write instead of the model's samples
    (``aekit.variations``)."""
    out = Path(out)
    if write_sheet:
        check_sheet(n, *model.input_shape[1:])
    prepare_out(out, [], overwrite)
    files = SampleFiles(out, n, write_sheet)
    kept = []
    with ImageWriter(out) as writer:
        done = 0
        for images in batches or sample_batches(
            model,
            n,
            seed=seed,
            labels=labels,
            condition_image=condition_image,
            temperature=temperature,
            prior=prior,
            bf16=bf16,
        ):
            if finish is not None:
                images = finish(images)
            writer.write(images, files.names(done, done + len(images)))
            done += len(images)
            if write_sheet:
                kept.append(images)
        if write_sheet:
            columns = math.ceil(math.sqrt(n))
            atlas = texturepacker_atlas(
                files.names(0, n), model.input_shape[2], model.input_shape[1], columns, "sheet.png"
            )
            writer.write_bytes("sheet.png", encode_image(sheet(torch.cat(kept), columns), "png"))
            writer.write_bytes("sheet.json", json.dumps(atlas, indent=1).encode())
    return files


def sample(
    run_dir: str | Path,
    out: str | Path,
    n: int,
    *,
    seed: int = 0,
    class_name: str | None = None,
    condition_image: str | Path | None = None,
    temperature: float = 1.0,
    prior: Prior | str | None = None,
    write_sheet: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    precision: str = "auto",
    seamless: bool = False,
    palette: str | None = None,
    alpha_threshold: float | None = None,
    like: str | Path | None = None,
    spread: float = 0.3,
    vector: bool = False,
    scale: float | None = None,
) -> SampleFiles | PlanFiles:
    """``aekit sample``: ``n`` PNG files (+ ``sheet.png`` and ``sheet.json``); ``prior`` (one, or
    the name of one fitted in the run) replaces N(0, I), and a run whose training fitted a prior
    samples from it; ``precision`` ``auto`` decodes in bfloat16 where the device computes it
    natively (``device.native_bf16``); ``seamless``, ``palette`` (see :func:`sample_palette`) and
    ``alpha_threshold``: ``gameart.Finish``; ``like``: ``n`` variations of that file, ``spread``
    from 0 (its reconstruction) to 1 (new sprites of its class), ``aekit.variations``. A floor-plan
    model draws plans for the footprint ``condition_image`` (``vector``, ``scale``:
    ``plan_sampling.sample_plans``)."""
    check_sample_options(n, temperature, seed)
    if alpha_threshold is not None and not 0 < alpha_threshold < 1:
        raise ConfigError(f"--alpha-threshold must be between 0 and 1, got {alpha_threshold}")
    run = Run(run_dir, device)
    model = run.model
    if run.pages and not model.generative:
        raise ConfigError(
            f"model {model.name!r} was trained to clean document pages ({run.dataset}); document "
            f"cleaners do not generate images, and no prior fits them: clean pages with `aekit "
            "denoise "
            f"{run_dir} PAGES --out DIR`"
        )
    if prior is None or isinstance(prior, str):
        prior = run.code_source(prior, temperature)
    if model.condition_kind == "footprint":  # floor plans for a drawn footprint
        if (
            class_name is not None
            or seamless
            or palette is not None
            or alpha_threshold is not None
            or like is not None
        ):
            raise ConfigError(
                "--class, --seamless, --palette, --alpha-threshold and --like do not apply to "
                "floor plans"
            )
        # floor plans only: loads scipy and scikit-learn
        from aekit.plan_sampling import sample_plans

        return sample_plans(
            model,
            condition_image,
            out,
            n,
            seed=seed,
            temperature=temperature,
            sheet=write_sheet,
            overwrite=overwrite,
            vector=vector,
            scale=scale,
            prior=prior,
        )
    if vector or scale is not None:
        raise ConfigError(
            f"--vector and --scale write floor plans; model {model.name!r} does not draw them"
        )
    if alpha_threshold is not None and not has_alpha(model.input_shape[0]):
        raise ConfigError(
            f"--alpha-threshold: this run's images have {model.input_shape[0]} channel(s), no alpha"
        )
    finish = Finish(
        seamless, None if palette is None else sample_palette(run, palette), alpha_threshold
    )
    where = next(model.parameters()).device
    labels = None
    if class_name is not None:
        index = class_index(class_name, run.class_names, model.num_classes)
        if not model.label_conditional and prior is None:
            raise ConfigError(
                f"model {model.name!r} does not draw by class; --class needs a "
                "label-conditional model or a per-class prior"
            )
        labels = torch.tensor([index]).expand(n)  # one label for every draw, without n copies
    image = None if condition_image is None else read_image_file(condition_image).pixels
    batches = None
    if like is not None:  # variations of one sprite
        batches = variation_batches(
            model, prior, read_image_file(like).pixels, n, spread, seed, labels
        )
    return sample_command(
        model,
        out,
        n,
        seed=seed,
        labels=labels,
        condition_image=image,
        temperature=temperature,
        prior=prior,
        write_sheet=write_sheet,
        overwrite=overwrite,
        bf16=precision == "bf16" or (precision == "auto" and native_bf16(where)),
        finish=finish,
        batches=batches,
    )


# training images --palette K learns from (a seeded draw): enough for a few dozen colours
PALETTE_IMAGES = 2000


def sample_palette(run: Run, spec: str) -> torch.Tensor:
    """``--palette``: an integer K learns K colours from (up to ``PALETTE_IMAGES`` of) the run's
    training images, read as training read them; anything else is a palette file
    (``gameart.read_palette``)."""
    if not spec.strip().isdigit():
        return read_palette(spec)

    config = run.config
    data = run.data("train")
    if not isinstance(data, ImageSet):
        raise ConfigError(
            f"--palette {spec}: {config.dataset} holds whole pages; give a palette file instead"
        )
    rows = val_indices(data, config.val_fraction, config.seed)[0].numpy()
    if len(rows) > PALETTE_IMAGES:
        rows = np.sort(np.random.default_rng(0).choice(rows, PALETTE_IMAGES, replace=False))
    return learn_palette(data.batch(rows), int(spec))


def interpolate(
    run_dir: str | Path,
    out: str | Path,
    *,
    a: str | Path | None = None,
    b: str | Path | None = None,
    from_class: str | None = None,
    to_class: str | None = None,
    steps: int = 10,
    gif: bool = False,
    overwrite: bool = False,
    device: str = "auto",
) -> tuple[list[Path], str]:
    """``aekit interpolate``: decoded codes between two image files or two class centroids (mean
    codes over the run's test split); returns the files and which interpolation was used."""
    check_steps(steps)
    by_class = from_class is not None or to_class is not None
    if (
        by_class == (a is not None or b is not None)
        or (by_class and None in (from_class, to_class))
        or (not by_class and None in (a, b))
    ):
        raise ConfigError("give two image files A B, or --from-class and --to-class")
    out = Path(out)
    prepare_out(out, [], overwrite)
    run = Run(run_dir, device)
    model = run.model
    check_vector_code(model)
    if by_class:
        if model.conditional and not model.label_conditional:
            raise ConfigError(
                f"model {model.name!r} draws to a {model.condition_kind}: interpolate between "
                "two image files"
            )
        ends = [
            class_index(name, run.class_names, model.num_classes) for name in (from_class, to_class)
        ]
        data = run.data("test")
        if not isinstance(data, ImageSet) or data.labels is None:
            raise ConfigError(f"{run.dataset} has no classes to interpolate between")
        images = to_channels(data.images, model.input_shape[0])
        centroids = class_centroids(
            model, images, data.labels, encoding_condition(model, images, data.labels)
        )
        za, zb = centroids[ends[0]], centroids[ends[1]]
        condition = torch.tensor(ends) if model.conditional else None
    else:
        pair = images_for_model(model, [read_image_file(a), read_image_file(b)])
        if model.label_conditional:
            raise ConfigError(
                f"model {model.name!r} is label-conditional: interpolate with "
                "--from-class/--to-class"
            )
        condition = encoding_condition(model, pair, None)
        za, zb = encode_images(model, pair, condition=condition)
    codes, how = interpolate_codes(model, za, zb, steps)
    if condition is None:
        frame_condition = None
    elif condition.dtype == torch.int64:  # a class label switches half-way
        frame_condition = torch.where(
            torch.arange(steps) < (steps + 1) // 2, condition[0], condition[1]
        )
    else:  # a condition image fades from one to the other
        t = torch.linspace(0, 1, steps).view(-1, 1, 1, 1)
        frame_condition = (1 - t) * condition[0] + t * condition[1]
    device_ = next(model.parameters()).device
    with torch.inference_mode():  # in batches: up to MAX_STEPS frames
        frames = torch.cat(
            [
                model.decode(
                    codes[i : i + SAMPLE_BATCH].to(device_),
                    None
                    if frame_condition is None
                    else frame_condition[i : i + SAMPLE_BATCH].to(device_),
                )
                .float()
                .cpu()
                for i in range(0, steps, SAMPLE_BATCH)
            ]
        )
    return write_interpolation(frames, out, gif), how
