"""A conditional VAE that draws floor plans for a footprint (``aekit.data.floorplans``).

The footprint (outline mask and entrance mark, ``B x 2 x S x S``) enters the decoder as a spatial
map at every resolution: a small U-Net runs down the footprint, and each decoder stage sees that
stage's footprint features and the footprint itself averaged down to its size. The code ``z`` (a
vector: the plan's layout, which the footprint leaves open) enters at the coarsest map. The output
is a categorical distribution over the plan classes at every pixel; the likelihood is the
cross-entropy of the true classes (nats per plan). A drawn plan is the most likely class at each
pixel (the network's layout), rendered into rooms, walls, doors and windows by
``aekit.plan_render``: that renderer is part of the decoding of every floor-plan model
(``PlanModel``, shared with ``plan-layout``); ``sample_classes(..., rendered=False)`` gives the
network's raw pixels.

Plans reach the model as the dataset stores them, in palette colours (``PlanSet.pixels``); the
model reads each pixel's class as the nearest palette colour and decodes back to palette colours,
so pictures, sheets and reconstruction metrics work on it as on any image model. ``free_bits``
keeps each code dimension's KL from being pushed below a floor (the code stays in use, so plans
drawn for one footprint differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aekit.data.floorplans import CLASSES, OUTSIDE, PALETTE, ROOM_CLASSES
from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.layers import activation, check_conv_fit
from aekit.plan_partition import RoomRules
from aekit.plan_render import render_plans, room_areas

FOOTPRINT_CHANNELS = 2  # outline mask, entrance mark
# the prior floor plans are drawn from when the run has it: plans from a gmm fitted to the codes
# have about as many rooms as the training plans (realism 0.58 against N(0, I)'s 1.19)
PLAN_PRIOR = "gmm"
ROOM_SIZE_BATCH = 512  # training plans read into classes at once when their rooms are measured


@dataclass
class PlanRecord:
    """Options every floor-plan model has: what ``aekit train`` measures on the training plans for
    the renderer (``PlanModel.init_from_data``)."""

    # the training plans' smallest room in pixels, measured by aekit train before the first step
    # unless given (0: not measured, the renderer's default): the renderer merges smaller rooms away
    smallest_room: int = field(default=0, metadata={"min": 0})
    # the training plans' rooms: how many for the built area, and of which types for each count
    # (``aekit.plan_partition.RoomRules.as_record``), measured by aekit train like smallest_room
    # (empty: not measured, the renderer's default, measured on the generated plans); the fit's
    # residual bounds are negative and positive
    room_rules: tuple[float, ...] = field(default=(), metadata={"min": -math.inf})


@dataclass
class PlanVAEConfig(PlanRecord):
    latent_dim: int = 32
    # per resolution from full size down; the code enters below the last
    channels: tuple[int, ...] = (12, 24, 48, 96)
    code_maps: int = 32  # feature maps the code is spread to at the coarsest resolution
    beta: float = 1.0
    warmup_steps: int = field(default=1000, metadata={"min": 0})
    # nats per code dimension (batch mean) below which the KL is not pushed further
    free_bits: float = 0.25
    activation: str = "relu"


def _block(a: int, b: int, act: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(a, b, 3, padding=1),
        activation(act),
        nn.Conv2d(b, b, 3, padding=1),
        activation(act),
    )


class PlanModel(Autoencoder):
    """What every floor-plan model shares: plans read as classes from palette colours, the footprint
    condition checked, the categorical likelihood, the VAE loss with free bits, and drawing: a code
    from N(0, I) decoded to the most likely class at every pixel (the raw layout), then turned into
    a plan by the deterministic renderer (``aekit.plan_render.render_plans``: rooms from the layout,
    parted where the network gives wall, none under the training plans' smallest room, redrawn with
    straight walls in the training plans' number and types for the built area (``room_rules``);
    walls, doors from the entrance, windows on outer walls), part of the decoding (``render``). A
    subclass builds the network: ``posterior`` and ``logits``."""

    generative = True
    conditional = True
    likelihood = "categorical"
    condition_kind = "footprint"

    def __init__(self, config, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        if self.input_shape[0] != 3:
            raise ConfigError(
                f"model {self.name!r} draws plans in palette colours (3 channels), not "
                f"{self.input_shape[0]}"
            )
        self.register_buffer(
            "palette", torch.tensor(PALETTE, dtype=torch.float32) / 255, persistent=False
        )

    def default_prior(self) -> str:
        """``PLAN_PRIOR`` for every floor-plan model, whether its training fits it or
        ``aekit fit-prior`` does."""
        return PLAN_PRIOR

    def logits(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """Per-pixel class logits ``B x K x H x W`` for codes ``z`` and footprints ``condition``."""
        raise NotImplementedError

    @property
    def min_room(self) -> int | None:
        """The smallest room the renderer keeps: the training plans' (``smallest_room``), or None
        (the renderer's default) for a run trained before it was recorded."""
        return self.config.smallest_room or None

    @property
    def room_rules(self) -> RoomRules:
        """How many rooms of which types the renderer draws: the training plans' (``room_rules``),
        or the renderer's default for a run trained before they were recorded."""
        return RoomRules.from_record(self.config.room_rules, self.input_shape[1])

    def init_from_data(self, images: torch.Tensor) -> None:
        """Record the training plans' smallest room (``smallest_room``: the renderer merges smaller
        rooms into their neighbours) and their rooms' number and types (``room_rules``: the
        renderer draws as many rooms as plans of that built area have), each unless given."""
        if self.config.smallest_room and self.config.room_rules:
            return
        plans = np.concatenate(
            [
                self.classes_of(images[i : i + ROOM_SIZE_BATCH]).cpu().numpy().astype(np.uint8)
                for i in range(0, len(images), ROOM_SIZE_BATCH)
            ]
        )
        areas = room_areas(plans)
        if not self.config.smallest_room and len(areas):
            self.config.smallest_room = int(areas.min())
        if not self.config.room_rules and len(areas):
            self.config.room_rules = RoomRules.of_plans(plans).as_record()

    def render(
        self, logits: torch.Tensor, footprint: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's layout (its most likely class at every pixel, ``B x H x W`` uint8) and the
        plan rendered from it (``aekit.plan_render``) with the training plans' smallest room and
        room rules and the network's wall probabilities, on the CPU."""
        probabilities = logits.detach().float().softmax(1)  # drawing is not differentiated
        layout = probabilities.argmax(1).to(torch.uint8).cpu()
        rooms = [OUTSIDE, *ROOM_CLASSES]
        wall_prob = (1 - probabilities[:, rooms].sum(1)).cpu().numpy()
        plans = render_plans(
            layout.numpy(), footprint.cpu().numpy(), self.min_room, wall_prob, self.room_rules
        )
        return layout, torch.from_numpy(plans)

    # --- plans as classes and colours -------------------------------------------------------------
    def classes_of(self, x: torch.Tensor) -> torch.Tensor:
        """Palette-coloured plans ``B x 3 x H x W`` in [0, 1] -> class indices ``B x H x W``
        (nearest colour)."""
        distance = (
            torch.einsum("bchw,kc->bkhw", x.float(), -2 * self.palette)
            + self.palette.pow(2).sum(1)[:, None, None]
        )
        return distance.argmin(1)

    def colours_of(self, classes: torch.Tensor) -> torch.Tensor:
        """Class indices ``B x H x W`` -> palette colours ``B x 3 x H x W`` in [0, 1]."""
        return self.palette[classes].permute(0, 3, 1, 2)

    def _footprint(self, condition: torch.Tensor | None, n: int) -> torch.Tensor:
        if (
            condition is None
            or condition.dim() != 4
            or condition.shape[1] != FOOTPRINT_CHANNELS
            or len(condition) != n
        ):
            raise ConfigError(
                f"model {self.name!r} needs {n} footprints (B x {FOOTPRINT_CHANNELS} x H x W: "
                "outline mask, entrance mark) as its condition"
            )
        return condition.float()

    def encode(self, x, condition=None):
        return self.posterior(x, condition)[0]

    def decode(self, z, condition=None):
        """The plan drawn from the code: the most likely class at every pixel, rendered
        (``aekit.plan_render``), in palette colours."""
        footprint = self._footprint(condition, len(z))
        _, plans = self.render(self.logits(z, footprint), footprint)
        return self.colours_of(plans.long().to(z.device))

    def log_likelihood(self, x, z, condition=None):
        """log p(plan | z, footprint): the true classes' log-probabilities summed over pixels
        (nats)."""
        logits = self.logits(z, condition).float()
        return -F.cross_entropy(logits, self.classes_of(x), reduction="none").flatten(1).sum(1)

    def kl_weight(self, step: int) -> float:
        warmup = self.config.warmup_steps
        return self.config.beta * (min(1.0, step / warmup) if warmup > 0 else 1.0)

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        mu, logvar = self.posterior(x, condition)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = -self.log_likelihood(target, z, condition).mean()
        # batch-mean KL of each code dimension
        per_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)
        kl = per_dim.sum()
        held = per_dim.clamp(min=self.config.free_bits).sum()
        return {
            "loss": recon + self.kl_weight(step) * held,
            "recon": recon,
            "kl": kl,
            "neg_elbo": recon + kl,
        }

    def sample(self, n, condition=None, generator=None):
        device = self.palette.device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z, condition)

    def sample_classes(
        self,
        condition: torch.Tensor,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        rendered: bool = True,
    ) -> torch.Tensor:
        """Plans as class indices ``B x H x W`` (uint8) for footprints ``condition``, one draw each
        with codes from N(0, T^2 I) (``classes_for_codes``)."""
        z = torch.randn(len(condition), self.latent_dim, generator=generator) * temperature
        return self.classes_for_codes(z, condition, rendered)

    def classes_for_codes(
        self, z: torch.Tensor, condition: torch.Tensor, rendered: bool = True
    ) -> torch.Tensor:
        """Plans as class indices ``B x H x W`` (uint8) decoded from codes ``z`` (``B x
        latent_dim``, from N(0, I) or a prior fitted to the codes) for footprints ``condition``: the
        rendered plans, or with ``rendered=False`` the network's own most likely classes."""
        if rendered:
            return self.layouts_and_plans(z, condition)[1]
        device = self.palette.device
        footprint = self._footprint(condition.to(device), len(condition))
        return self.logits(z.to(device), footprint).argmax(1).to(torch.uint8).cpu()

    def layouts_and_plans(
        self, z: torch.Tensor, condition: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both of ``classes_for_codes``'s results from one pass of the network: the raw layouts
        and the rendered plans (``render``)."""
        device = self.palette.device
        footprint = self._footprint(condition.to(device), len(condition))
        return self.render(self.logits(z.to(device), footprint), footprint)


class PlanVAE(PlanModel):
    name = "plan-vae"
    description = (
        "floor plans for a footprint: conditional VAE, footprint at every decoder "
        "resolution, per-pixel classes"
    )
    Config = PlanVAEConfig

    def __init__(self, config: PlanVAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        ch, act, k = config.channels, config.activation, len(CLASSES)
        # the coarsest map, below the last stage
        size = check_conv_fit(self.input_shape, len(ch), self.name)
        self.code_shape = (config.code_maps, *size)
        # the posterior q(z | plan, footprint): stride-2 convolutions to the coarsest map, then
        # linear
        layers: list[nn.Module] = []
        width = k + FOOTPRINT_CHANNELS
        for c in ch:
            layers += [nn.Conv2d(width, c, 3, stride=2, padding=1), activation(act)]
            width = c
        self.posterior_net = nn.Sequential(*layers, nn.Flatten())
        flat = ch[-1] * size[0] * size[1]
        self.to_mu, self.to_logvar = (
            nn.Linear(flat, config.latent_dim),
            nn.Linear(flat, config.latent_dim),
        )
        # the footprint's U-Net down path: features at every resolution
        self.down = nn.ModuleList()
        width = FOOTPRINT_CHANNELS
        for i, c in enumerate(ch):
            self.down.append(
                nn.Sequential(*([nn.MaxPool2d(2)] if i else []), _block(width, c, act))
            )
            width = c
        self.bottom_pool = nn.MaxPool2d(2)
        self.from_code = nn.Sequential(
            nn.Linear(config.latent_dim, config.code_maps * size[0] * size[1]), activation(act)
        )
        self.bottom = _block(ch[-1] + config.code_maps + FOOTPRINT_CHANNELS, ch[-1], act)
        # up path: each stage upsamples, then sees the footprint's features and the footprint at its
        # size
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        width = ch[-1]
        for c in reversed(ch):
            self.up.append(nn.ConvTranspose2d(width, c, 2, stride=2))
            self.merge.append(_block(2 * c + FOOTPRINT_CHANNELS, c, act))
            width = c
        self.to_logits = nn.Conv2d(ch[0], k, 1)

    # --- the network
    # --------------------------------------------------------------------------------
    def posterior(self, x, condition=None):
        footprint = self._footprint(condition, len(x))
        plan = F.one_hot(self.classes_of(x), len(CLASSES)).permute(0, 3, 1, 2).float()
        h = self.posterior_net(torch.cat([plan, footprint], 1))
        return self.to_mu(h), self.to_logvar(h).clamp(-30, 20)

    def logits(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        footprint = self._footprint(condition, len(z))
        skips, h = [], footprint
        for stage in self.down:
            h = stage(h)
            skips.append(h)
        size = self.code_shape[1:]
        code = self.from_code(z).view(len(z), *self.code_shape)
        h = self.bottom(
            torch.cat([self.bottom_pool(h), code, F.adaptive_avg_pool2d(footprint, size)], 1)
        )
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            h = up(h)
            h = merge(torch.cat([h, skip, F.adaptive_avg_pool2d(footprint, skip.shape[-2:])], 1))
        return self.to_logits(h)
