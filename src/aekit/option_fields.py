"""What every command's options are made of.

Shared fields (the run folder, the output folder, the device, the thread count), and the
command-line flags, validation and Python keyword arguments made from an options dataclass.
"""

from __future__ import annotations

import argparse
import math
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Any

from aekit.config import add_fields, flag_of, option
from aekit.config_dicts import check_failure, typed_value
from aekit.errors import ConfigError

# an option without a default: a required flag, or a positional argument that must be given
REQUIRED: Any = MISSING
BENCHMARKS = "see benchmarks/README.md for measured speeds"

AT_LEAST_1 = ("must be at least 1", lambda v: v >= 1)
AT_LEAST_0 = ("must be at least 0", lambda v: v >= 0)
# NaN fails both comparisons
POSITIVE_FINITE = ("must be a positive finite number", lambda v: 0 < v < math.inf)


def between(low: int, high: int) -> tuple[str, Any]:
    return f"must be between {low:,} and {high:,}", lambda v: low <= v <= high


def prior_names() -> tuple[str, ...]:
    """The registered priors (``aekit.priors.PRIORS``; imports torch, so only when a command needs
    them)."""
    from aekit.priors import PRIORS

    return tuple(PRIORS)


def prior_names_or_all() -> tuple[str, ...]:
    return (*prior_names(), "all")


NO_PRIOR = "none"  # `--prior none`: codes from N(0, T^2 I) even where the run has a fitted prior


def prior_names_or_none() -> tuple[str, ...]:
    return (*prior_names(), NO_PRIOR)


def model_names() -> tuple[str, ...]:
    """The registered models (``aekit.models.MODELS``), read when ``aekit bench``'s flags are
    made."""
    from aekit.models import MODELS

    return tuple(MODELS)


# --- options several commands share
# -----------------------------------------------------------------
def run_dir() -> Any:
    return option(REQUIRED, "a run folder written by `aekit train`", positional=True)


def out_folder(help: str = "a new folder for the results") -> Any:
    return option(REQUIRED, help)


def seed(help: str) -> Any:
    return option(
        0, f"{help}, 0 to 2**63-1", ("must be between 0 and 2**63-1", lambda v: 0 <= v < 2**63)
    )


def device() -> Any:
    return option(
        "auto", "auto (CUDA when present, else CPU), cpu, cuda or cuda:N", metavar="DEVICE"
    )


def overwrite() -> Any:
    return option(False, "allow an --out that already holds files")


def quiet() -> Any:
    return option(False, "no progress (files that fail are still named, with why)")


@dataclass(kw_only=True)
class ThreadOptions:
    """Every command's ``--threads`` (``cli.main`` sets torch's threads before the command runs)."""

    threads: int | None = option(
        None,
        "torch threads (default: the usable cores that are idle, measured at start: affinity, "
        "cgroup quota, /proc/stat; or OMP_NUM_THREADS when set)",
        AT_LEAST_1,
    )


# --- from dataclass to argparse and back
# ------------------------------------------------------------
def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argument per field of the options dataclass ``cls``, its default shown in its help."""
    add_fields(parser, cls)


def options_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The ``cls`` options parsed into ``args``, each value checked (a list's values one by one);
    the first that fails is one ``ConfigError`` line naming the flag."""
    return checked_options(cls, {f.name: getattr(args, f.name) for f in fields(cls)})


def options_from_keywords(cls: type, keywords: dict[str, Any]) -> Any:
    """The ``cls`` options given as the Python API's keyword arguments: the fields' names, defaults
    and checks (the same ``ConfigError`` line the command prints), each value of its field's
    type."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(keywords) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(known) or 'none'}"
        )
    hints = typing.get_type_hints(cls)
    return checked_options(
        cls,
        {
            name: typed_value(hints[name], value, flag_of(known[name]))
            for name, value in keywords.items()
        },
    )


def checked_options(cls: type, values: dict[str, Any]) -> Any:
    for f in fields(cls):
        value = values.get(f.name)
        for item in value if isinstance(value, list) else [value]:
            failure = None if item is None else check_failure(f, item)
            if failure is not None:
                raise ConfigError(f"{flag_of(f)} {failure}, got {item!r}")
    return cls(**values)
