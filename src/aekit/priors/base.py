"""The interface every prior shares, and the checks a prior's files pass before anything is built.

A prior is an ``nn.Module`` built from the code's shape, the number of classes (None: fitted
without labels) and its options, a ``Config`` dataclass whose fields (``aekit.config.option``)
generate the ``aekit fit-prior`` flags, their help and their checks. Fitting, sampling, saving
(``options`` + ``state_dict``) and ONNX export (``export``) only use the methods below, so a new
prior is one file (a config dataclass + a subclass) plus one line in ``PRIORS``.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from aekit.config_dicts import check_failure, short, typed_value
from aekit.errors import ConfigError
from aekit.sampling import inverse_cdf

if TYPE_CHECKING:
    from aekit.models.base import Autoencoder

MAX_CODE_SIZE = 65_536  # numbers in one code (a 256 x 256 index map)
MAX_CLASSES = 100_000
MAX_CODE_DIMS = 3


@dataclass
class ExportedPrior:
    """What ``aekit export`` writes for a prior: ``module`` traced with ``example`` inputs into
    ``prior-NAME.onnx``, its input and output specs, and its entry under ``priors`` in
    model.json."""

    module: nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    spec: dict[str, Any]
    any_size: bool = False  # dynamic height and width (index maps of any image size)


class Prior(nn.Module):
    """A density over a model's codes: ``sample`` gives codes ``decode`` takes, ``log_prob`` scores
    them.

    ``labels`` (int64, one per code) asks for / conditions on classes; only class-conditional
    priors (fitted on labelled data) accept them."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Config: ClassVar[type] = object  # a dataclass of ``option(...)`` fields: the fit-prior flags
    # The codes it fits: maps of codebook indices (vq-vae) or float vectors (every other model).
    discrete_code: ClassVar[bool] = False
    # Fitted per class on labelled data (then ``sample(labels=...)`` draws the class asked for).
    class_conditional: ClassVar[bool] = False
    # Besides N(0, 1) noise (batch x d), the exported sampler takes one U[0, 1) draw per code
    # (this note says what it picks); None: noise only.
    uniform_draw: ClassVar[str | None] = None
    # Options added after priors were saved without them: the values those priors were fitted with
    # (``load_prior`` reads a file without the key as this, not as the option's default).
    absent_options: ClassVar[dict[str, Any]] = {}
    # What ended the last ``fit`` (all its steps, or its time limit), said in the prior's JSON; ""
    # when it has no steps.
    fit_note: str = ""
    # When the fit's time limit began (``time.perf_counter()``): ``fit_prior`` sets it to the start
    # of encoding the codes, which is part of the fit's time; None: when ``fit`` is called.
    fit_started: float | None = None

    def __init__(self, code_shape: tuple[int, ...], num_classes: int | None, **options: Any):
        super().__init__()
        self.code_shape, self.num_classes = check_code(
            self.name, code_shape, num_classes, self.class_conditional
        )
        self.config = self.make_config(options, spell=lambda key: key)

    @classmethod
    def make_config(
        cls,
        options: dict[str, Any],
        spell: Callable[[str], str] = lambda key: "--" + key.replace("_", "-"),
    ) -> Any:
        """``options`` checked against ``Config`` (known keys, types, each field's check), as a
        ``Config``; ``spell`` names a key in messages (a flag by default)."""
        known = {f.name: f for f in fields(cls.Config)}
        unknown = [spell(key) for key in options if key not in known]
        if unknown:
            offered = ", ".join(spell(key) for key in known) or "none"
            raise ConfigError(
                f"prior '{cls.name}' takes no {', '.join(unknown)}; its options: {offered}"
            )
        hints = typing.get_type_hints(cls.Config)
        values = {}
        for key, value in options.items():
            where = f"prior '{cls.name}': {spell(key)}"
            values[key] = typed_value(hints[key], value, where)
            failure = None if values[key] is None else check_failure(known[key], values[key])
            if failure is not None:
                raise ConfigError(f"{where} {failure}, got {short(value)}")
        return cls.Config(**values)

    @classmethod
    def for_model(
        cls,
        model: Autoencoder,
        code_shape: tuple[int, ...],
        num_classes: int | None,
        options: dict[str, Any],
    ) -> Prior:
        """A fresh prior for ``model``'s codes, before ``fit`` (a prior may start from what the
        model learned)."""
        return cls(code_shape, num_classes, **options)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def options(self) -> dict[str, Any]:
        """Constructor arguments, saved in the JSON so ``load_prior`` rebuilds the same module."""
        return {
            "code_shape": list(self.code_shape),
            "num_classes": self.num_classes,
            **asdict(self.config),
        }

    # --- what callers use -------------------------------------------------------------------
    def fit(
        self, codes: torch.Tensor, labels: torch.Tensor | None, seed: int = 0, quiet: bool = True
    ) -> Prior:
        """Fit to ``codes`` (one class label each when class-conditional); returns ``self``, in eval
        mode."""
        raise NotImplementedError

    def sample(
        self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log density of each code (nats); given its class when ``labels`` are given, else the
        marginal."""
        raise NotImplementedError

    def from_noise(self, *draws: torch.Tensor) -> torch.Tensor:
        """Codes for given draws, in this order: ``noise`` (n x d, N(0, 1)), the U[0, 1) draw (n) if
        ``uniform_draw``, the labels if class-conditional. ``sample`` is this with random draws; the
        exported ONNX sampler is this graph."""
        raise NotImplementedError

    def sampling_note(self) -> str:
        """How the exported sampler turns its draws into codes, in words for model.json."""
        raise NotImplementedError

    def class_weights(self) -> torch.Tensor:
        """p(class) of the training codes (float64, sums to 1): how a class-conditional prior picks
        a class when none is asked for."""
        raise NotImplementedError

    def labels_from_uniform(self, uniform: torch.Tensor) -> torch.Tensor:
        """The classes ``sample`` draws for U[0, 1) draws ``uniform``, by the inverse CDF of
        ``class_weights``: the step an exported prior leaves to its recipe (ONNX has no random
        numbers)."""
        return inverse_cdf(self.class_weights(), uniform)

    def export(
        self,
        name: str,
        latent: dict[str, Any],
        decoder_conditions: list[dict[str, Any]],
        class_names: list[str] | None,
        model: Autoencoder,
        batch: int,
    ) -> ExportedPrior:
        """The sampler ``from_noise`` as an ONNX part (draws, and the label if class-conditional, as
        inputs), with a runnable numpy + onnxruntime recipe; ``batch`` rows of example inputs."""
        d = math.prod(self.code_shape)
        inputs: list[dict[str, Any]] = [
            {
                "name": "noise",
                "shape": ["batch", d],
                "dtype": "float32",
                "distribution": "standard normal N(0, 1), independent",
            }
        ]
        example = [torch.randn(batch, d)]
        if self.uniform_draw is not None:
            inputs.append(
                {
                    "name": "uniform",
                    "shape": ["batch"],
                    "dtype": "float32",
                    "distribution": "uniform on [0, 1)",
                    "range": [0.0, 1.0],
                    "note": self.uniform_draw,
                }
            )
            example.append(torch.rand(batch))
        spec: dict[str, Any] = {"kind": self.name, "class_conditional": self.conditional}
        if self.conditional:
            label: dict[str, Any] = {
                "name": "label",
                "shape": ["batch"],
                "dtype": "int64",
                "range": [0, int(self.num_classes) - 1],
            }
            if class_names:
                label["class_names"] = class_names
            inputs.append(label)
            example.append(torch.arange(batch) % int(self.num_classes))
            spec["class_weights"] = self.class_weights().tolist()
        spec["sampling"] = self.sampling_note()
        spec["recipe"] = self._noise_recipe(name, model, decoder_conditions)
        z = {k: v for k, v in latent.items() if k in ("name", "shape", "dtype")}
        return ExportedPrior(_Sampler(self).eval(), tuple(example), inputs, [z], spec)

    def _noise_recipe(
        self, name: str, model: Autoencoder, decoder_conditions: list[dict[str, Any]]
    ) -> str:
        lines = recipe_header(name, pick=self.conditional, imports_json=self.conditional)
        feeds = ['"noise": noise']
        if self.conditional:
            lines += [
                f"class_weights = np.array(json.loads((folder / "
                f'"model.json").read_text())["priors"]["{name}"]["class_weights"])',
                "label = pick(class_weights, rng.random(n))  # any class, as often as in "
                "training; or np.full(n, k) for class k",
            ]
        elif any(c["name"] == "label" for c in decoder_conditions):
            lines.append("label = np.full(n, 0)  # the class the decoder draws")
        lines.append(
            f"noise = rng.standard_normal((n, {math.prod(self.code_shape)}), dtype=np.float32)"
        )
        if self.uniform_draw is not None:
            lines.append("uniform = rng.random(n, dtype=np.float32)")
            feeds.append('"uniform": uniform')
        if self.conditional:
            feeds.append('"label": label')
        lines.append(f"(z,) = prior.run(None, {{{', '.join(feeds)}}})")
        decoder_feeds = ['"z": z'] + [f'"{c["name"]}": {c["name"]}' for c in decoder_conditions]
        lines.append(
            f"(images,) = decoder.run(None, {{{', '.join(decoder_feeds)}}})  # n x C x H x W in "
            "[0, 1]"
        )
        if decoder_conditions and decoder_conditions[0]["name"] == "condition":
            lines.append(
                f"# condition: the {model.condition_kind} image of each code (files.decoder.inputs)"
            )
        return "\n".join(lines) + "\n"

    # --- helpers for subclasses -------------------------------------------------------------
    def _labels_for(
        self, n: int, labels: torch.Tensor | None, generator: torch.Generator | None
    ) -> torch.Tensor | None:
        """``labels``, or classes drawn by their training frequencies when a class-conditional prior
        got none."""
        self._check_labels(labels, n)
        if labels is None and self.conditional:
            return self.labels_from_uniform(torch.rand(n, generator=generator, dtype=torch.float64))
        return labels

    def _check_draws(self, labels: torch.Tensor | None, n: int) -> None:
        """``from_noise`` wants the class exactly when the prior is class-conditional; label values
        are not read while tracing for ONNX export (the graph takes any)."""
        if (labels is None) == self.conditional:
            raise ConfigError(
                f"prior '{self.name}' "
                + (
                    "is class-conditional: give the labels (draw them with "
                    "labels_from_uniform for any class)"
                    if self.conditional
                    else "was fitted without labels; it takes no classes"
                )
            )
        if not torch.compiler.is_exporting():
            self._check_labels(labels, n)

    def _check_labels(self, labels: torch.Tensor | None, n: int) -> None:
        if labels is None:
            return
        if not self.conditional:
            raise ConfigError(
                f"prior '{self.name}' was fitted without labels; it cannot sample or score "
                "given classes"
            )
        if labels.shape != (n,) or int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ConfigError(
                f"prior '{self.name}': labels must be {n} class indices in "
                f"0..{self.num_classes - 1}"
            )


class _Sampler(nn.Module):
    """A prior's ``from_noise`` as a module with tensor inputs (the label last, if
    class-conditional)."""

    def __init__(self, prior: Prior):
        super().__init__()
        self.prior = prior

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.prior.from_noise(*inputs)


def check_code(
    name: str, code_shape: Any, num_classes: Any, class_conditional: bool
) -> tuple[tuple[int, ...], int | None]:
    """The code's shape and the class count, refused unless they are small positive integers: a
    prior file from elsewhere cannot ask for a code of a billion numbers."""
    if (
        not isinstance(code_shape, (list, tuple))
        or not 1 <= len(code_shape) <= MAX_CODE_DIMS
        or not all(_is_int(s) and s >= 1 for s in code_shape)
    ):
        raise ConfigError(
            f"prior '{name}': code_shape must be 1 to {MAX_CODE_DIMS} positive integers, got "
            f"{short(code_shape)}"
        )
    if math.prod(code_shape) > MAX_CODE_SIZE:
        raise ConfigError(
            f"prior '{name}': a code of {math.prod(code_shape):,} numbers; priors take at most "
            f"{MAX_CODE_SIZE:,}"
        )
    if num_classes is not None:
        if not class_conditional:
            raise ConfigError(
                f"prior '{name}' is not class-conditional; num_classes must be null, got "
                f"{short(num_classes)}"
            )
        if not _is_int(num_classes) or not 1 <= num_classes <= MAX_CLASSES:
            raise ConfigError(
                f"prior '{name}': num_classes must be an integer from 1 to {MAX_CLASSES:,}, got "
                f"{short(num_classes)}"
            )
    return tuple(int(s) for s in code_shape), num_classes


def recipe_header(name: str, *, pick: bool, imports_json: bool = False) -> list[str]:
    """The first lines of a prior's recipe: imports, the two ONNX sessions, and ``pick`` (the
    inverse CDF) if used."""
    lines = [
        *(["import json"] if imports_json else []),
        "from pathlib import Path",
        "",
        "import numpy as np",
        "import onnxruntime as ort",
        "",
        'folder = Path(".")  # the export folder',
        "rng = np.random.default_rng(0)",
        "n = 16",
        f'prior = ort.InferenceSession(str(folder / "prior-{name}.onnx"))',
        'decoder = ort.InferenceSession(str(folder / "decoder.onnx"))',
        "",
    ]
    if pick:
        lines += [
            "",
            "def pick(weights, u):  # inverse CDF: index k with probability weights[..., k] / "
            "their sum, for u in [0, 1)",
            "    cum = np.cumsum(weights, axis=-1)",
            "    return (cum[..., :-1] / cum[..., -1:] <= u[..., None]).sum(-1)",
            "",
            "",
        ]
    return lines


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def between(low: int, high: int) -> tuple[str, Callable[[Any], bool]]:
    """An ``option`` check: an integer from ``low`` to ``high``."""
    return f"must be at least {low:,} and at most {high:,}", lambda v: low <= v <= high
