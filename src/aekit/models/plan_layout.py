"""A conditional VAE that draws a floor plan's room layout for a footprint, cheaply on a CPU.

``plan-vae`` runs its U-Net at the plan's full size with a dozen channels, which a CPU core trains
slowly (about 30 plans a second at 64 x 64: three epochs in 30 minutes). This model folds every
4 x 4 block of pixels into channels (pixel unshuffle), so the footprint, the plan and all the
convolutions live on a 16 x 16 grid (at 64 x 64) with wide channels, and unfolds the logits back to
full size at the end: the last layer still sees every footprint pixel, so the outline stays exact.

The code is a small map (``latent_channels`` x 4 x 4 at 64 x 64; a vector of ``latent_dim`` for
the rest of aekit) under an N(0, I) prior that enters the decoder's two coarsest maps; each cell
decides the layout of its part of the building, so draws for one footprint differ where the real
plans do. ``aekit train`` fits a gmm prior to the training plans' codes at the end
(``prior_after_training``), and plans are drawn from it when the run has it. A
draw is decoded to the most likely class at every pixel and then rendered into a plan by
``aekit.plan_render`` (``PlanModel``): the network gives the layout (where the rooms are, their
types, the building's outline, and how likely a wall is at each pixel), the renderer the walls,
doors and windows that make it usable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aekit.data.floorplans import CLASSES
from aekit.errors import ConfigError
from aekit.models.layers import activation
from aekit.models.plan_vae import FOOTPRINT_CHANNELS, PlanModel, PlanRecord

FOLD = 4  # pixels folded into channels on each side
LOGVAR_START = -6.0  # q(z | x)'s log-variance at the start (see PlanLayoutVAE.__init__)
# stride-2 steps below the folded grid: the code map is 1 / (FOLD * 2**STAGES) of the plan's side
STAGES = 2
# of max_minutes left to fit the gmm prior after training: encoding 18,000 plans and fitting took
# about a minute on 2 busy cores (benchmarks/README.md)
PRIOR_SHARE = 0.05


@dataclass
class PlanLayoutConfig(PlanRecord):
    # code map channels at the coarsest grid
    latent_channels: int = field(default=8, metadata={"min": 1})
    channels: tuple[int, ...] = (48, 96, 128)  # the folded grid, then each stride-2 step
    beta: float = 1.0
    warmup_steps: int = field(default=1000, metadata={"min": 0})
    # nats per code dimension (batch mean) below which the KL is not pushed further
    free_bits: float = 0.1
    activation: str = "relu"


def _block(a: int, b: int, act: str) -> nn.Sequential:
    layers = [nn.Conv2d(a, b, 3, padding=1), activation(act), nn.Conv2d(b, b, 3, padding=1)]
    return nn.Sequential(*layers, activation(act))


class PlanLayoutVAE(PlanModel):
    name = "plan-layout"
    description = (
        "floor plans for a footprint: conditional VAE on 4x4-folded pixels with a code map, its "
        "layout rendered into walls, doors and windows"
    )
    Config = PlanLayoutConfig
    spatial_code = False
    latent_kind = "none"

    def __init__(self, config: PlanLayoutConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        ch, act, k = config.channels, config.activation, len(CLASSES)
        if len(ch) != STAGES + 1:
            raise ConfigError(
                f"model 'plan-layout': channels needs {STAGES + 1} entries (the folded grid and "
                f"{STAGES} stride-2 steps), got {len(ch)}"
            )
        factor = FOLD * 2**STAGES
        _, h, w = self.input_shape
        if h % factor or w % factor:
            raise ConfigError(
                f"model 'plan-layout': plans of {h}x{w} do not fit; height and width must be "
                f"multiples of {factor}"
            )
        self.code_shape = (config.latent_channels, h // factor, w // factor)
        folded = FOOTPRINT_CHANNELS * FOLD * FOLD
        # the posterior q(z | plan, footprint) on the folded grid down to the code map
        self.posterior_net = nn.Sequential(
            nn.Conv2d((k + FOOTPRINT_CHANNELS) * FOLD * FOLD, ch[0], 3, padding=1),
            activation(act),
            nn.Conv2d(ch[0], ch[1], 3, stride=2, padding=1),
            activation(act),
            nn.Conv2d(ch[1], ch[2], 3, stride=2, padding=1),
            activation(act),
            nn.Conv2d(ch[2], 2 * config.latent_channels, 1),
        )
        # q(z | x) starts narrow (sigma 0.05): the decoder learns to read the code before the KL
        # weight rises; from N(0, I)-wide codes it learned to ignore them (0.4 nats by step 200)
        nn.init.constant_(self.posterior_net[-1].bias[config.latent_channels :], LOGVAR_START)
        # the footprint's U-Net down path on the folded grid
        self.down = nn.ModuleList(
            [
                _block(folded, ch[0], act),
                nn.Sequential(nn.MaxPool2d(2), _block(ch[0], ch[1], act)),
                nn.Sequential(nn.MaxPool2d(2), _block(ch[1], ch[2], act)),
            ]
        )
        self.bottom = _block(ch[2] + config.latent_channels, ch[2], act)
        self.up = nn.ModuleList(
            [
                nn.ConvTranspose2d(ch[2], ch[1], 2, stride=2),
                nn.ConvTranspose2d(ch[1], ch[0], 2, stride=2),
            ]
        )
        self.merge = nn.ModuleList(
            [
                _block(2 * ch[1] + config.latent_channels, ch[1], act),
                _block(2 * ch[0] + folded, ch[0], act),
            ]
        )
        self.to_logits = nn.Conv2d(ch[0] + folded, k * FOLD * FOLD, 1)

    @property
    def latent_dim(self) -> int:
        return int(torch.Size(self.code_shape).numel())

    def prior_after_training(self) -> tuple[str, float]:
        """A gmm over the flattened code maps: plans drawn from it have about as many rooms as the
        training plans; N(0, I) misses where plans are encoded and draws too many, too small
        rooms."""
        return "gmm", PRIOR_SHARE

    def posterior(self, x, condition=None):
        footprint = self._footprint(condition, len(x))
        plan = F.one_hot(self.classes_of(x), len(CLASSES)).permute(0, 3, 1, 2).float()
        h = self.posterior_net(F.pixel_unshuffle(torch.cat([plan, footprint], 1), FOLD))
        mu, logvar = h.chunk(2, 1)
        return mu.flatten(1), logvar.clamp(-30, 20).flatten(1)

    def logits(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        footprint = F.pixel_unshuffle(self._footprint(condition, len(z)), FOLD)
        skips, h = [], footprint
        for stage in self.down:
            h = stage(h)
            skips.append(h)
        code = z.view(len(z), *self.code_shape)
        h = self.bottom(torch.cat([h, code], 1))
        h = self.merge[0](
            torch.cat([self.up[0](h), skips[1], F.interpolate(code, scale_factor=2)], 1)
        )
        h = self.merge[1](torch.cat([self.up[1](h), skips[0], footprint], 1))
        return F.pixel_shuffle(self.to_logits(torch.cat([h, footprint], 1)), FOLD)
