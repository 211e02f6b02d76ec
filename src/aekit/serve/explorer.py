"""What the web explorer computes, without any HTTP: decode a code, sample, interpolate,
reconstruct, clean a page, draw floor plans for a footprint.

Kept apart from the Flask routes so the maths is testable on its own and the routes only
validate input and turn tensors into PNG bytes. Every method takes already-validated values.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from aekit.alpha import composite, has_alpha, premultiply
from aekit.data.conditions import make_condition
from aekit.errors import ConfigError
from aekit.export import accepts_any_size, latent_statistics
from aekit.footprints import UserFootprint, footprint_from_pixels, plan_sheet
from aekit.models.base import Autoencoder
from aekit.plan_measures import draw_plans
from aekit.priors import Prior
from aekit.tiling import tiled_reconstruct

DOCUMENT_DATASETS = ("documents", "documents-synthetic")
TILE_BATCH = 64  # tiles of a fixed-size model per forward pass
PLAN_COLUMNS = 9  # a plan sheet's row: the footprint and 8 plans


@dataclass
class Explorer:
    """A loaded model plus what the page needs around it (class names, test images, code ranges,
    and the learned priors fitted in its run folder, by name, to sample from instead of the model's
    own)."""

    model: Autoencoder
    class_names: list[str] | None = None
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    document: bool = False
    title: str = ""
    priors: dict[str, Prior] = field(default_factory=dict)
    # the test images' conditions as the data gives them: classes, images derived from them, or a
    # floor plan's footprint (N x 2 x S x S: mask, entrance), which the plan image alone cannot give
    test_conditions: torch.Tensor | None = None
    stats: dict[str, list[float]] | None = field(default=None, init=False)
    fully_convolutional: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = self.model.cpu().eval()
        if (
            self.test_conditions is None
            and self.test_images is not None
            and self.model.conditional
            and not self.draws_plans
        ):
            self.test_conditions = self._image_conditions(self.test_images, self._labels_or_none())
        if self.test_images is not None and not self.document and not self.discrete_code:
            self.stats = latent_statistics(self.model, self.test_images, self.test_conditions)
        if self.document:
            self.fully_convolutional = accepts_any_size(self.model)

    # --- facts for the page -----------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

    @property
    def discrete_code(self) -> bool:
        """Codes are maps of codebook indices: no pad, sliders, decoding of free codes or
        interpolation."""
        return self.model.discrete_code

    @property
    def condition_kind(self) -> str | None:
        return self.model.condition_kind

    @property
    def draws_plans(self) -> bool:
        """A floor-plan model: it draws plans for a footprint, picked from the test set or
        uploaded."""
        return self.condition_kind == "footprint"

    @property
    def num_conditions(self) -> int:
        """How many choices the condition has: classes, or test images to derive a condition
        from."""
        if self.model.label_conditional:
            return int(self.model.num_classes or 0)
        if self.condition_kind is not None:
            return 0 if self.test_images is None else len(self.test_images)
        return 0

    def ranges(self) -> list[tuple[float, float]]:
        """Where each code dimension usefully lives: ±3 under a VAE prior, else the test codes'
        span; none for codebook indices (the page shows no pad for them)."""
        if self.discrete_code:
            return []
        if self.model.generative or self.stats is None:
            return [(-3.0, 3.0)] * self.latent_dim
        spans = []
        for lo, hi in zip(self.stats["min"], self.stats["max"]):
            pad = max(0.1 * (hi - lo), 1e-3)
            spans.append((round(lo - pad, 4), round(hi + pad, 4)))
        return spans

    def start(self) -> list[float]:
        """The pad's first code: the prior's centre for VAEs, the mean test code otherwise; none for
        codebook indices."""
        if self.discrete_code:
            return []
        if self.model.generative or self.stats is None:
            return [0.0] * self.latent_dim
        return [round(m, 4) for m in self.stats["mean"]]

    def default_prior(self) -> str:
        """What ``sample`` draws codes from when no learned prior is chosen, in words for the
        page."""
        if self.model.own_code_prior:
            return "PixelCNN trained with the model"
        if not self.model.generative and self.stats is not None:
            return "a Gaussian fitted to the test images' codes"
        return "N(0, I)"

    def prior_classes(self, name: str) -> list[str] | None:
        """The classes a per-class prior draws (by name where the run has names); None for one
        fitted without labels."""
        count = self.priors[name].num_classes
        if count is None:
            return None
        if self.class_names is not None and len(self.class_names) == count:
            return list(self.class_names)
        return [str(k) for k in range(count)]

    def info(self) -> dict[str, Any]:
        """What the page needs to lay itself out (served as /api/info)."""
        labels = (
            [str(i) for i in range(self.num_conditions)] if self.model.label_conditional else None
        )
        return {
            "title": self.title,
            "model": self.model.name,
            "description": self.model.description,
            "input_shape": list(self.model.input_shape),
            "latent_dim": self.latent_dim,
            "discrete_code": self.discrete_code,
            "generative": bool(self.model.generative),
            "conditional": bool(self.model.conditional),
            "condition_kind": self.condition_kind,
            "num_conditions": self.num_conditions,
            "class_names": self.class_names or labels,
            "test_images": 0 if self.test_images is None else len(self.test_images),
            "document": self.document,
            "ranges": self.ranges(),
            "start": self.start(),
            "default_prior": self.default_prior(),
            "priors": [{"name": name, "classes": self.prior_classes(name)} for name in self.priors],
            "draws_plans": self.draws_plans,
            "plan_codes": self.plan_codes if self.draws_plans else None,
            "test_footprints": len(self.test_conditions)
            if self.draws_plans and self.test_conditions is not None
            else 0,
        }

    # --- computations ---------------------------------------------------------------
    def decode(self, z: list[float], condition: int | None) -> torch.Tensor:
        codes = torch.tensor([z], dtype=torch.float32)
        with self._lock, torch.no_grad():
            return self.model.decode(codes, self._condition(condition, 1))[0]

    def sample(
        self,
        n: int,
        seed: int,
        condition: int | None,
        prior: str | None = None,
        prior_class: int | None = None,
    ) -> torch.Tensor:
        """``n`` random images: from the learned prior ``prior`` when one is named, else the model's
        own prior for generative models and a Gaussian fitted to the test codes otherwise.

        A per-class prior draws codes of class ``prior_class`` (None: every class, in the training
        proportions); for a label-conditional model its class is the condition's instead."""
        generator = torch.Generator().manual_seed(seed)
        cond = self._condition(condition, n)
        if prior is not None:
            return self._prior_sample(self.priors[prior], n, seed, generator, cond, prior_class)
        with self._lock, torch.no_grad():
            if self.model.generative:
                return self.model.sample(n, cond, generator=generator)
            z = torch.randn(n, self.latent_dim, generator=generator)
            if self.stats is not None:
                z = z * torch.tensor(self.stats["std"]) + torch.tensor(self.stats["mean"])
            return self.model.decode(z, cond)

    def interpolate(
        self, a: torch.Tensor, b: torch.Tensor, steps: int, labels: tuple[int | None, int | None]
    ) -> torch.Tensor:
        """Decode codes on the straight line from ``a``'s code to ``b``'s (conditions blended
        alike)."""
        pair = torch.stack([a, b])
        cond = self._image_conditions(pair, labels)
        t = torch.linspace(0, 1, steps).view(-1, *([1] * (pair.dim() - 1)))
        with self._lock, torch.no_grad():
            za, zb = self.model.encode(pair, cond)
            z = (1 - t.view(-1, 1)) * za.flatten() + t.view(-1, 1) * zb.flatten()
            z = z.view(steps, *za.shape)
            if cond is None:
                c = None
            elif cond.dtype == torch.int64:
                c = torch.where(torch.arange(steps) < (steps + 1) // 2, cond[0], cond[1])
            else:
                c = (1 - t) * cond[0] + t * cond[1]
            return self.model.decode(z, c)

    def reconstruct(self, images: torch.Tensor, labels: Sequence[int | None]) -> torch.Tensor:
        """Each image encoded and decoded again (with its class, or its own condition image)."""
        cond = self._image_conditions(images, labels)
        with self._lock, torch.no_grad():
            return self.model.reconstruct(images, cond)

    def clean(self, page: torch.Tensor) -> torch.Tensor:
        """Clean a whole page (1 x H x W): a fully convolutional model as ``aekit denoise`` does
        (overlapping tiles blended without seams, ``tiling.tiled_reconstruct``); any other model
        on a grid of tiles of its own input size (edges padded by repeating pixels)."""
        if self.fully_convolutional:
            with self._lock:
                return tiled_reconstruct(self.model, page)
        _, h, w = page.shape
        tile_h, tile_w = self.model.input_shape[1:]
        rows, cols = math.ceil(h / tile_h), math.ceil(w / tile_w)
        padded = torch.nn.functional.pad(
            page[None], (0, cols * tile_w - w, 0, rows * tile_h - h), mode="replicate"
        )[0]
        # 1 x rows x cols x th x tw
        tiles = padded.unfold(1, tile_h, tile_h).unfold(2, tile_w, tile_w)
        tiles = tiles.permute(1, 2, 0, 3, 4).reshape(rows * cols, 1, tile_h, tile_w)
        with self._lock, torch.no_grad():
            out = torch.cat(
                [
                    self.model.reconstruct(tiles[k : k + TILE_BATCH])
                    for k in range(0, len(tiles), TILE_BATCH)
                ]
            )
        out = (
            out.reshape(rows, cols, tile_h, tile_w)
            .permute(0, 2, 1, 3)
            .reshape(1, rows * tile_h, cols * tile_w)
        )
        return out[:, :h, :w]

    @property
    def _plan_prior(self) -> str | None:
        """The prior plan codes come from, as ``aekit sample --condition-image`` takes them: the
        model's ``default_prior`` when the run has it fitted; None: N(0, I)."""
        default = self.model.default_prior()
        return default if default in self.priors else None

    @property
    def plan_codes(self) -> str:
        """Where plan codes come from, in words."""
        return "N(0, I)" if self._plan_prior is None else f"prior {self._plan_prior}"

    def plans(self, footprint: np.ndarray, n: int, seed: int) -> np.ndarray:
        """``n`` plans drawn for ``footprint`` (``2 x S x S``: mask, entrance) as ``aekit sample
        --condition-image`` draws them, on one indexed sheet with the footprint first."""
        with self._lock:
            name = self._plan_prior
            prior = None if name is None else self.priors[name]
            drawn = draw_plans(self.model, footprint[None], n, seed, prior=prior)[0]
        return plan_sheet(drawn, footprint, columns=PLAN_COLUMNS)

    def uploaded_footprint(self, pixels: np.ndarray) -> UserFootprint:
        """A drawn footprint (premultiplied ``C x H x W`` in [0, 1]) read as ``aekit sample`` reads
        a file: any size, black on white, white on black or on transparency, entrance mark
        optional."""
        return footprint_from_pixels(pixels, self.model.input_shape[1], "the uploaded footprint")

    def test_image(self, index: int) -> torch.Tensor:
        """Test image ``index`` (the route has checked that it exists)."""
        return self.test_images[index]

    def _labels_or_none(self) -> list[int | None]:
        if self.test_labels is None:
            return [None] * len(self.test_images)
        return [int(label) for label in self.test_labels]

    def test_label(self, index: int) -> int | None:
        return None if self.test_labels is None else int(self.test_labels[index])

    # --- helpers --------------------------------------------------------------------
    def _prior_sample(
        self,
        prior: Prior,
        n: int,
        seed: int,
        generator: torch.Generator,
        cond: torch.Tensor | None,
        prior_class: int | None,
    ) -> torch.Tensor:
        """Codes from ``prior``, decoded; the same images as ``inference.sample_images(model, n,
        seed=seed, prior=prior, labels=...)`` (one batch there), global RNG draws inside the decoder
        seeded alike."""
        labels = None
        if prior.conditional:
            if self.model.label_conditional:
                labels = cond
            elif prior_class is not None:
                labels = torch.full((n,), prior_class, dtype=torch.int64)
        with self._lock, torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.set_rng_state(torch.Generator().manual_seed(seed).get_state())
            return self.model.decode(prior.sample(n, generator=generator, labels=labels), cond)

    def _condition(self, choice: int | None, n: int) -> torch.Tensor | None:
        """The condition tensor for ``n`` images: a class label, or the condition of test image
        ``choice``."""
        if self.condition_kind is None:
            return None
        index = choice or 0
        if self.model.label_conditional:
            return torch.full((n,), index, dtype=torch.int64)
        return self.test_conditions[index : index + 1].expand(n, *self.test_conditions.shape[1:])

    def _image_conditions(
        self, images: torch.Tensor, labels: Sequence[int | None]
    ) -> torch.Tensor | None:
        """The conditions of ``images``: their classes (0 when unknown), or the condition images
        made from them."""
        if self.condition_kind is None:
            return None
        if self.model.label_conditional:
            return torch.tensor([label or 0 for label in labels], dtype=torch.int64)

        if self.draws_plans:
            raise ConfigError(
                "a floor-plan model is conditioned on a footprint, which a plan image does not "
                "give: draw plans for a footprint instead (/api/plans)"
            )
        known = None if None in labels else torch.tensor(labels, dtype=torch.int64)
        return make_condition(self.condition_kind, images, known)


def to_png(image: torch.Tensor) -> bytes:
    """A C x H x W tensor in [0, 1] as PNG bytes: grey for one channel, RGB for three, and images
    with alpha (2 or 4 channels) composited over a grey checkerboard, so transparency shows."""
    array = composite(image).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    mode = "L" if array.shape[2] == 1 else "RGB"
    buffer = io.BytesIO()
    Image.fromarray(array[:, :, 0] if mode == "L" else array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def grid(images: torch.Tensor, columns: int | None = None, gap: int = 1) -> torch.Tensor:
    """Lay ``N x C x H x W`` images out in a grid with a mid-grey (opaque) gap."""
    n, c, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    out = torch.full((c, rows * (h + gap) - gap, columns * (w + gap) - gap), 0.5)
    if has_alpha(c):
        out[-1] = 1.0
    for k, image in enumerate(images):
        r, col = divmod(k, columns)
        out[:, r * (h + gap) : r * (h + gap) + h, col * (w + gap) : col * (w + gap) + w] = image
    return out


MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def image_to_tensor(
    image: Image.Image, channels: int, size: tuple[int, int] | None
) -> torch.Tensor:
    """A decoded upload as C x H x W in [0, 1], with the model's channels (grey, grey + alpha, RGB
    or RGBA; alpha premultiplied, as the models see it) and (optionally) size (H, W)."""
    # palette images may hold transparency: expand it before choosing channels
    if image.mode == "P":
        image = image.convert("RGBA")
    image = image.convert(MODES[channels])
    # Pillow resamples RGBA/LA premultiplied
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    return premultiply(torch.from_numpy(array.copy()).permute(2, 0, 1))
