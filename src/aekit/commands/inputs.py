"""What every command on the user's files shares: inputs collected from files and folders, output
paths that never overwrite an input, ``--out`` checked, a class given by name."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aekit.data.documents import natural_key
from aekit.errors import ConfigError
from aekit.images import (
    is_image_path,
)
from aekit.scan_files import SUFFIX as SCAN_SUFFIX
from aekit.scan_files import output_format


@dataclass
class Source:
    """An input file and where its result goes, relative to ``--out``."""

    path: Path
    relative: Path


def collect_inputs(inputs: Sequence[str | Path]) -> list[Source]:
    """Files as given; folders recursively (hidden files and folders skipped), each file keeping its
    path relative to its folder. A path that does not exist is kept: reading it fails in its
    turn."""
    sources = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = [
                p
                for p in given.rglob("*")
                if (p.is_file() or _dead_link(p))
                and is_image_path(p)
                and not any(part.startswith(".") for part in p.relative_to(given).parts)
            ]
            found.sort(key=lambda p: natural_key(str(p.relative_to(given))))
            sources.extend(Source(p, p.relative_to(given)) for p in found)
        else:
            sources.append(Source(given, Path(given.name)))
    return sources


def real_path(path: str | Path) -> Path:
    """The path with links followed as far as they go: ``Path.resolve`` raises on a link loop, an
    input like any other, which reading then reports."""
    return Path(os.path.realpath(path))


def _dead_link(path: Path) -> bool:
    """A link that reaches no file (broken, or a loop): listed, so reading it reports it."""
    return path.is_symlink() and not path.exists()


def prepare_out(out: Path, inputs: Sequence[str | Path], overwrite: bool) -> None:
    """Refuse an ``out`` that is, or is inside, an input folder, and one that already holds files
    (unless ``overwrite``): a command never writes over its own inputs or a previous result."""
    target = real_path(out)
    for given in map(Path, inputs):
        if given.is_dir():
            folder = real_path(given)
            if target == folder or folder in target.parents:
                raise ConfigError(
                    f"--out {out} is inside the input folder {given}; choose a folder outside it"
                )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(
            f"--out {out} already holds files; choose an empty folder or pass --overwrite"
        )


def output_paths(sources: Sequence[Source], out: Path, fmt: str | None) -> list[Path]:
    """``out/relative`` with the format's suffix (``fmt`` None: each input's own format, see
    ``scan_files.output_format``); an output equal to an input, or two inputs mapping to one
    output (``a.png`` and ``a.tif`` with ``--format png``), is refused before anything is
    written."""
    paths = [out / s.relative.with_suffix(SCAN_SUFFIX[output_format(s.path, fmt)]) for s in sources]
    inputs = {real_path(s.path): s.path for s in sources}
    seen: dict[Path, Path] = {}
    for source, path in zip(sources, paths):
        resolved = real_path(path)
        if resolved in inputs:
            raise ConfigError(
                f"the output {path} would overwrite the input {inputs[resolved]}; choose "
                "another --out"
            )
        if resolved in seen:
            raise ConfigError(
                f"{seen[resolved]} and {source.path} would both be written to {path}; "
                "give them separately or rename one"
            )
        seen[resolved] = source.path
    return paths


def class_index(name: str, class_names: Sequence[str] | None, num_classes: int | None) -> int:
    """The index of a class given by name (or number); an unknown one lists the classes."""
    names = list(class_names) if class_names else [str(i) for i in range(num_classes or 0)]
    if not names:
        raise ConfigError(f"--class {name!r}: this run has no classes")
    if name in names:
        return names.index(name)
    raise ConfigError(f"unknown class {name!r}; the classes are: {', '.join(names)}")
