"""``aekit encode`` and ``aekit decode``: codes of a dataset split or of image files written to a
codes file with names and labels, and images decoded from one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from aekit.commands.inputs import class_index, collect_inputs, prepare_out
from aekit.data import ImageSet, load
from aekit.errors import AekitError, ConfigError, DataError
from aekit.formats import (
    CODE_SUFFIXES,
    code_names,
    read_codes,
    require_pyarrow,
    write_codes,
    write_images,
)
from aekit.images import (
    read_image_file,
    resize,
    to_channels,
)
from aekit.inference import (
    check_seed,
    check_vector_code,
    decode_codes,
    encode_images,
    encoding_condition,
    images_for_model,
)
from aekit.progress import Progress
from aekit.run import Run


@dataclass
class EncodeResult:
    path: Path
    count: int
    failed: list[tuple[Path, str]]


def encode(
    run_dir: str | Path,
    out: str | Path,
    *,
    inputs: Sequence[str | Path] = (),
    dataset: str | None = None,
    split: str = "test",
    sample_posterior: bool = False,
    seed: int = 0,
    device: str = "auto",
    progress: Progress | None = None,
) -> EncodeResult:
    """``aekit encode``: codes of a dataset split (``all``: every split, train first) or of image
    files, with names (the dataset's file or tile names where it has them, else ``SPLIT_ROW``) and
    labels. A file that cannot be read is skipped with one line (even when quiet) and listed."""
    progress = progress or Progress()
    check_seed(seed)
    if (dataset is None) == (not inputs):
        raise ConfigError("give either --dataset SPEC or image files/folders to encode")
    if Path(out).suffix.lower() not in CODE_SUFFIXES:
        raise ConfigError(f"--out {out}: write codes to .npy, .csv or .parquet")
    if Path(out).suffix.lower() == ".parquet":
        require_pyarrow()
    run = Run(run_dir, device)
    model = run.model
    check_vector_code(model)
    failed = []
    if dataset is not None:
        images, names, condition, label_names = _dataset_for_encoding(run, dataset, split)
    else:
        sources = collect_inputs(inputs)
        files, names = [], []
        for source in sources:
            try:
                files.append(read_image_file(source.path))
            except AekitError as exc:
                failed.append((source.path, str(exc)))
                progress.warn(f"skipped {exc}")
            else:
                names.append(str(source.relative))
        if not files:
            raise DataError(
                f"no image files in {', '.join(map(str, inputs))}"
                if not sources
                else f"none of the {len(sources)} file(s) could be read as an image (each named "
                "above)"
            )
        images, label_names = images_for_model(model, files), None
        condition = encoding_condition(model, images, None)
    progress.message(
        f"encoding {len(images)} images with {model.name}"
        + (
            " (one draw from q(z|x) each)"
            if sample_posterior
            else " (posterior means)"
            if model.latent_kind == "gaussian"
            else ""
        )
    )
    codes = encode_images(model, images, condition=condition, sample=sample_posterior, seed=seed)
    return EncodeResult(write_codes(out, codes, names, label_names), len(codes), failed)


def _dataset_for_encoding(
    run: Run, dataset: str, split: str
) -> tuple[torch.Tensor, list[str], torch.Tensor | None, list[str] | None]:
    """``(images at the model's input, names, condition, label names)`` of one split, or of ``all``;
    the condition of a conditional model (labels, silhouettes, a floor plan's footprint)."""
    model = run.model
    parts = []
    for part in ("train", "test") if split == "all" else (split,):
        data = load(dataset, part, **run.data_options())
        if not isinstance(data, ImageSet):
            raise ConfigError(f"{dataset} holds whole pages; encode needs an image dataset")
        width = len(str(len(data) - 1))
        # else row k of the split
        parts.append((data, data.names or [f"{part}_{k:0{width}d}" for k in range(len(data))]))
    images = torch.cat([to_channels(data.images, model.input_shape[0]) for data, _ in parts])
    if tuple(images.shape[1:]) != tuple(model.input_shape):
        images = resize(images, tuple(model.input_shape[1:]))
    names = [name for _, part_names in parts for name in part_names]
    labels = None if parts[0][0].labels is None else torch.cat([data.labels for data, _ in parts])
    if model.condition_kind == "footprint":  # the data's own footprints: nothing an image gives
        condition = torch.cat([model.condition_of(data) for data, _ in parts])
    else:
        condition = encoding_condition(model, images, labels)
    if labels is None:
        return images, names, condition, None
    class_names = parts[0][0].class_names
    return (
        images,
        names,
        condition,
        [class_names[int(y)] if class_names else str(int(y)) for y in labels],
    )


def decode(
    run_dir: str | Path,
    codes_file: str | Path,
    out: str | Path,
    *,
    overwrite: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
) -> list[Path]:
    """``aekit decode``: one PNG per code, named after the image it came from (made safe: see
    :func:`code_names`, and the changes are said)."""
    progress = progress or Progress()
    out = Path(out)
    prepare_out(out, [], overwrite)
    codes, names, label_names = read_codes(codes_file)
    files, changed = code_names(names)
    run = Run(run_dir, device)
    labels = None
    if run.model.label_conditional:
        labels = torch.tensor(
            [class_index(name, run.class_names, run.model.num_classes) for name in label_names]
        )
    images = decode_codes(run.model, codes, labels, source=codes_file)
    if changed:
        progress.message(
            f"{changed} code name(s) changed into safe file names: path separators and control "
            "characters became '_'; empty, hidden, over-long or repeated names were numbered "
            "(code_N.png)"
        )
    return write_images(images, out, files)
