"""A config dataclass from a plain dict (TOML, JSON, a run folder's ``config.json``): the one
validator that ``TrainConfig`` (``aekit.config``) and every model's ``Config`` (``models/base.py``)
go through. Each key must be a field, each value of the field's annotated type; a field made by
``config.option(...)`` is checked by its ``check`` or ``choices``, any other number by its
``min`` metadata (sizes at least 1, weights finite and at least 0 by default), so a file from
elsewhere cannot ask for a negative layer. Any problem is one ``ConfigError`` line."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from dataclasses import Field, fields
from typing import Any

from aekit.errors import ConfigError

Choices = tuple[str, ...] | Callable[[], tuple[str, ...]]
TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dict: "a table",
    list: "a list",
    tuple: "a list",
}
_ACCEPTS = {float: (int, float), tuple: (list, tuple)}  # what a TOML or JSON file writes for each


def config_from_dict(config_type: type, data: Any, where: str, noun: str = "option") -> Any:
    """``config_type`` built from ``data`` with every key and value checked (``noun``: what the
    error calls a key, as the file's reader knows it: a model's "option 'latent_dim'", a TOML file's
    plain "'epochs'")."""
    name = (lambda key: f"option '{key}'") if noun == "option" else (lambda key: f"'{key}'")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a table of {noun}s, got {type(data).__name__}")
    known = {f.name: f for f in fields(config_type)}
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}: unknown {noun}(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    hints = typing.get_type_hints(config_type)
    values = {}
    for key, value in data.items():
        value = typed_value(hints[key], value, f"{where}: {name(key)}")
        # None: the field allows it
        failure = None if value is None else check_failure(known[key], value)
        if failure is not None:
            raise ConfigError(f"{where}: {name(key)} {failure}, got {short(value)}")
        values[key] = value
    return config_type(**values)


def field_kinds(hint: Any) -> tuple[tuple[type, ...], bool]:
    """(accepted base types, whether None is allowed) from a field's annotation (``list[str]`` is
    ``list``)."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    kinds = tuple(typing.get_origin(a) or a for a in args if a is not type(None))
    return kinds, type(None) in args


def typed_value(hint: Any, value: Any, where: str) -> Any:
    """``value`` as the annotation ``hint`` declares (an int where a float is declared is a float,
    ``"64"`` where an int or a string is declared is 64, a list where a tuple is declared a
    tuple)."""
    kinds, nullable = field_kinds(hint)
    if value is None and nullable:
        return None
    accepted = tuple(t for k in kinds for t in _ACCEPTS.get(k, (k,)))
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(dict.fromkeys(TYPE_NAMES[k] for k in kinds))
        raise ConfigError(f"{where} must be {names}, got {short(value)}")
    if kinds == (float,):
        return float(value)
    if kinds == (int, str) and isinstance(value, str) and value.strip().isdigit():
        return int(value)  # "64" on the command line is the 64 a TOML file writes
    if kinds == (dict,):
        return dict(value)
    if kinds in ((tuple,), (list,)):
        items = typing.get_args(
            hint if not nullable else next(a for a in typing.get_args(hint) if a is not type(None))
        )
        item = items[0] if items else Any
        converted = [value if item is Any else typed_value(item, v, where) for v in value]
        return tuple(converted) if kinds == (tuple,) else converted
    return value


def resolve_choices(choices: Choices) -> tuple[str, ...]:
    return choices() if callable(choices) else choices


def check_failure(f: Field, value: Any) -> str | None:
    """Why ``value`` fails field ``f``'s choices or check (``must be ...``), or its ``min`` (a field
    without a check: integers at least 1, other numbers finite and at least 0 unless ``min`` says
    otherwise); None when it passes."""
    if "check" in f.metadata:
        choices = f.metadata["choices"]
        if choices is not None:
            names = resolve_choices(choices)
            return None if value in names else f"must be one of {', '.join(names)}"
        check = f.metadata["check"]
        return None if check is None or check[1](value) else check[0]
    return _below_minimum(value, f.metadata.get("min"))


def _below_minimum(value: Any, minimum: float | None) -> str | None:
    if isinstance(value, tuple):
        return next((failure for item in value if (failure := _below_minimum(item, minimum))), None)
    if isinstance(value, int) and not isinstance(value, bool):
        low = 1 if minimum is None else minimum
        return None if value >= low else f"must be at least {low}"
    if isinstance(value, float):
        low = 0.0 if minimum is None else minimum
        return (
            None if math.isfinite(value) and value >= low else f"must be a finite number >= {low:g}"
        )
    return None


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
