"""A run folder as one object: its typed config, its files, its model, its data and its priors.

``Run("runs/x")`` is what every command, the report, the plots, export and serve read a run
through, and the Python API::

    run = aekit.Run("runs/vae")
    images = run.sample(16)                 # N x C x H x W in [0, 1]
    codes = run.encode(images)              # N x d
    again = run.decode(codes)
    clean = run.denoise(page)               # C x H x W, any size

Nothing is read before it is asked for: ``model``, the data splits and the priors load on first
use and are kept. The folder's format (file names, ``config.json``'s checks) lives in
``aekit.runs``.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aekit.config import TrainConfig
from aekit.data import load, train_val_split
from aekit.data.datasets import holds_pages
from aekit.data.noise import parse_noise
from aekit.device import prepare_model, resolve_device
from aekit.errors import DataError
from aekit.images import ImageFile
from aekit.inference import (
    decode_codes,
    denoise_image,
    encode_batches,
    encode_images,
    encoding_condition,
    sample_images,
)
from aekit.io import read_json
from aekit.models.base import Autoencoder
from aekit.option_fields import NO_PRIOR, options_from_keywords
from aekit.options import CleanOptions, CodeOptions, DrawOptions
from aekit.priors import fitted_priors, load_prior
from aekit.runs import (
    CHECKPOINT_JSON,
    DATA_NOTES,
    EVAL_FILE,
    METRICS,
    RunConfig,
    load_model,
    read_run_config,
    run_folder,
)
from aekit.scans import training_text

if TYPE_CHECKING:
    from aekit.data import ImageSet, PageSet
    from aekit.data.noise import Noise
    from aekit.priors import Prior
    from aekit.scans import TrainingText

# the run's noise drawn once with this seed: every evaluation and plot sees the same corruption
NOISE_SEED = 0


class Run:
    """A trained run folder. ``device``: where ``model`` runs (``auto``: CUDA when there is one);
    ``max_test_images``: the ``test`` split cut to its first items (evaluation's
    ``--max-images``)."""

    def __init__(
        self, run_dir: str | Path, device: str = "auto", *, max_test_images: int | None = None
    ):
        self.dir = run_folder(run_dir)
        self.device = device
        self.max_test_images = max_test_images
        self.info  # noqa: B018 (config.json checked now: a broken run folder fails before any work)

    @classmethod
    def trained(
        cls,
        run_dir: Path,
        model: Autoencoder,
        history: list[dict[str, Any]],
        best_epoch: int,
        config: TrainConfig,
    ) -> Run:
        """The run a training just wrote, with its model (best weights, where it trained), history
        and config in hand; ``config.json`` is read when first needed (under torchrun, after rank 0
        has written it)."""
        run = cls.__new__(cls)
        run.dir, run.device, run.max_test_images = Path(run_dir), config.device, None
        run.__dict__.update(model=model, history=history, best_epoch=best_epoch, config=config)
        return run

    @cached_property
    def info(self) -> RunConfig:
        """``config.json``, typed and checked (``runs.read_run_config``)."""
        return read_run_config(self.dir)

    # --- the config ------------------------------------------------------------------------
    @cached_property
    def config(self) -> TrainConfig:
        """The train config that made the run."""
        return self.info.train

    @property
    def model_name(self) -> str:
        return self.info.model

    @property
    def dataset(self) -> str:
        return self.info.dataset

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.info.input_shape

    @property
    def class_names(self) -> list[str] | None:
        return self.info.class_names

    def data_options(self) -> dict[str, Any]:
        """How the run's images are read: as training read them (``RunConfig.data_options``)."""
        return self.info.data_options()

    # --- files -----------------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.dir / METRICS

    @property
    def eval_path(self) -> Path:
        return self.dir / EVAL_FILE

    @property
    def plots_dir(self) -> Path:
        return self.dir / "plots"

    @cached_property
    def history(self) -> list[dict[str, Any]]:
        """One entry per epoch (``metrics.jsonl``); empty when the file is not there."""
        if not self.metrics_path.is_file():
            return []
        lines = self.metrics_path.read_text().splitlines()
        try:
            return [json.loads(line) for line in lines if line.strip()]
        except json.JSONDecodeError as exc:
            raise DataError(f"not JSON lines ({exc})", self.metrics_path) from None

    def checkpoint(self) -> dict[str, Any] | None:
        """``checkpoint.json`` (epoch, step, best validation loss and epoch), or None without
        one."""
        path = self.dir / CHECKPOINT_JSON
        return read_json(path) if path.is_file() else None

    @cached_property
    def best_epoch(self) -> int | None:
        checkpoint = self.checkpoint()
        return None if checkpoint is None else int(checkpoint["best_epoch"])

    def eval(self) -> dict[str, Any] | None:
        """``eval.json`` (``aekit evaluate``'s result), or None before the run is evaluated."""
        return read_json(self.eval_path) if self.eval_path.is_file() else None

    def data_notes(self) -> dict[str, Any] | None:
        """``data.json``: what loading the training data converted or skipped."""
        path = self.dir / DATA_NOTES
        return read_json(path) if path.is_file() else None

    # --- the model -------------------------------------------------------------------------
    @cached_property
    def model(self) -> Autoencoder:
        """The model (eval mode, on ``device``), with the trainer's speed settings: conv weights
        channels-last and freed memory kept for the next batch (decoding 10,000 samples took half
        the time)."""
        where = resolve_device(self.device)
        return prepare_model(load_model(self.dir).to(where).eval(), where)

    # --- data ------------------------------------------------------------------------------
    def data(self, split: str) -> ImageSet | PageSet:
        """The run's dataset split, read with the run's data options (size, channels, resize,
        pad)."""
        return load(self.dataset, split, **self.data_options())

    @cached_property
    def test(self) -> ImageSet | PageSet:
        """The test split (its first ``max_test_images`` items when given)."""
        test = self.data("test")
        if self.max_test_images is not None:
            test = test.subset(list(range(min(self.max_test_images, len(test)))))
        return test

    @cached_property
    def _split(self) -> tuple[Any, Any]:
        return train_val_split(self.data("train"), self.config.val_fraction, self.config.seed)

    @property
    def train(self) -> ImageSet | PageSet:
        """The training split minus the validation hold-out: what the model was trained on."""
        return self._split[0]

    @property
    def heldout(self) -> ImageSet | PageSet:
        """The validation hold-out (never trained on)."""
        return self._split[1]

    @property
    def pages(self) -> bool:
        """Whether the run's data are whole document pages (``PageSet``) rather than images."""
        return holds_pages(self.dataset)

    @cached_property
    def noise(self) -> Noise | None:
        """The noise the run was trained to remove, or None."""
        return parse_noise(self.config.noise) if self.config.noise else None

    def noisy(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` with the run's noise drawn with a fixed seed, so every evaluation sees the
        same corruption."""
        assert self.noise is not None, "a run trained without noise has no noisy images"
        return self.noise(images, generator=torch.Generator().manual_seed(NOISE_SEED))

    def condition(self, data: Any) -> torch.Tensor | None:
        """The condition tensor of a conditional model for every row of ``data``, as the data gives
        it (labels, silhouettes or outlines of its images, a floor plan's footprint)."""
        return self.model.condition_of(data)

    def latent_codes(self, data: Any, batch_size: int = 512) -> torch.Tensor:
        """Latent codes (posterior means for VAEs) of an ImageSet, on the CPU."""
        return encode_batches(self.model, data.images, self.condition(data), batch_size)

    def training_text(self, note: Any = print) -> TrainingText:
        """The text sizes a page run was trained on (``scans.training_text``)."""
        return training_text(self.dir, self.info, note)

    # --- priors ----------------------------------------------------------------------------
    def prior(self, name: str) -> Prior:
        """The prior ``name`` fitted in the run (``aekit fit-prior``), its files checked."""
        return load_prior(self.dir, name)

    def code_source(self, name: str | None, temperature: float = 1.0) -> Prior | None:
        """Where sampling takes codes from: the prior ``--prior NAME`` names, loaded; for no name
        the model's ``default_prior`` when it is fitted in the folder and no temperature other
        than 1 asks for N(0, T^2 I) codes; else None (N(0, I), or the model's own prior), as for
        ``none`` (``NO_PRIOR``)."""
        if name is None:
            default = self.model.default_prior()
            if temperature == 1.0 and default in self.prior_names():
                return self.prior(default)
            return None
        return None if name == NO_PRIOR else self.prior(name)

    def prior_names(self) -> list[str]:
        """The priors fitted in the run folder."""
        return fitted_priors(self.dir)

    def priors(self) -> dict[str, Prior]:
        """Every prior fitted in the run, loaded (a broken one raises)."""
        return {name: self.prior(name) for name in self.prior_names()}

    # --- the Python API --------------------------------------------------------------------
    def sample(self, n: int, *, labels: torch.Tensor | None = None, **options: Any) -> torch.Tensor:
        """``n`` images ``N x C x H x W`` from the model (or decoded from a fitted prior's codes);
        ``options`` are ``aekit sample``'s (``options.DrawOptions``: seed, temperature, prior), with
        its defaults and checks."""
        draw = options_from_keywords(DrawOptions, options)
        prior = self.code_source(draw.prior, draw.temperature)
        return sample_images(
            self.model, n, seed=draw.seed, labels=labels, temperature=draw.temperature, prior=prior
        )

    def denoise(self, image: torch.Tensor, **options: Any) -> torch.Tensor:
        """The model's output for one ``C x H x W`` image of any size and channels (a page run at
        its training pages' text size), in the image's channels; ``options`` are ``aekit denoise``'s
        (``options.CleanOptions``: bf16)."""
        clean = options_from_keywords(CleanOptions, options)
        text = self.training_text() if self.model.spatial_code else None
        given = ImageFile(image, "", Path("<tensor>"))  # denoise_image reads only its pixels
        return denoise_image(
            self.model, given, self.model.spatial_code, bf16=clean.bf16, text=text
        ).pixels

    def encode(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, **options: Any
    ) -> torch.Tensor:
        """Codes ``N x d`` of images at the model's input size (posterior means for VAEs);
        ``options`` are ``aekit encode``'s (``options.CodeOptions``: sample_posterior, seed)."""
        code = options_from_keywords(CodeOptions, options)
        return encode_images(
            self.model,
            images,
            condition=encoding_condition(self.model, images, labels),
            sample=code.sample_posterior,
            seed=code.seed,
        )

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images from codes ``N x d`` (a label-conditional model needs one label per code)."""
        return decode_codes(self.model, codes, labels)

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r}: {self.model_name} on {self.dataset})"
