"""A small U-Net for scanned pages: it learns a correction on top of classical background removal.

Dirt on a scanned page (stains, folds, shading, paper texture) is mostly smooth and lighter than
the ink, so a morphological closing (a max filter that erases the thin dark strokes, then a min
filter that restores the stains' edges) estimates the paper behind the text, and ``page /
background`` already cleans most of it. The model is given the page, that background and that
ratio (computed inside the model, so export and ``denoise`` need nothing extra) and predicts a
residual added to the ratio: an untrained model with its zero-initialised last layer is plain
background division, and training only has to learn what the closing gets wrong (stains darker
than ink, ink touching stains, faint text, the exact grey levels of the clean pages).

The U-Net halves the resolution ``depth`` times (strided 2x2 convolutions) and comes back with
2x2 transposed convolutions whose outputs are added to the encoder's maps of the same size (sums
rather than concatenations: half the decoder's multiply-adds). It is fully convolutional: a page
of any size is padded (edge pixels repeated) to a multiple of ``2**depth`` and cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.kernels import ConvTranspose2d

FEATURES = 3  # per channel: page, background estimate, page / background


@dataclass
class DocUNetConfig:
    width: int = 24  # channels at full resolution, doubled at each level
    # stride-2 levels: pages are padded to a multiple of 2**depth
    depth: int = field(default=3, metadata={"min": 0})
    blocks: int = 2  # 3x3 convolutions per level and side
    background: int = 7  # window of the closing that estimates the paper (wider than any stroke)


def closing(x: torch.Tensor, size: int) -> torch.Tensor:
    """Grey-level morphological closing: max filter then min filter, ``size x size``; erases dark
    strokes thinner than ``size`` and keeps larger dark areas (stains) with their edges."""
    pad = size // 2
    dilated = F.max_pool2d(x, size, stride=1, padding=pad)
    return -F.max_pool2d(-dilated, size, stride=1, padding=pad)


def _convs(cin: int, cout: int, n: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DocUNet(Autoencoder):
    """Page -> (page, background, ratio) -> U-Net -> ratio + residual, clamped to [0, 1].

    The code (``encode``) is that full-size feature stack (three maps per image channel: the
    documents are grey, colour scans work the same way per channel); ``decode`` runs the U-Net."""

    name = "doc-unet"
    description = (
        "document cleaner: U-Net correcting background division (any page size, residual output)"
    )
    Config = DocUNetConfig
    spatial_code = True

    def __init__(self, config: DocUNetConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        c = self.input_shape[0]
        # the sizes' ranges are checked with the config (models.base)
        if config.background % 2 == 0:
            raise ConfigError(
                f"model '{self.name}': background must be an odd window, got {config.background}"
            )
        widths = [config.width * 2**i for i in range(config.depth + 1)]
        self.stem = _convs(FEATURES * c, widths[0], config.blocks)
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(a, b, 2, stride=2),
                nn.ReLU(inplace=True),
                *_convs(b, b, config.blocks - 1),
            )
            for a, b in pairwise(widths)
        )
        self.up = nn.ModuleList(ConvTranspose2d(b, a, 2, stride=2) for a, b in pairwise(widths))
        self.merge = nn.ModuleList(_convs(a, a, config.blocks) for a in widths[:-1])
        # not NarrowConv2d: its shifted sums do not export at any size
        self.out = nn.Conv2d(widths[0], c, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # untrained: exactly background division
        nn.init.zeros_(self.out.bias)

    @property
    def latent_dim(self) -> int:
        return FEATURES * self.input_shape[0] * self.input_shape[1] * self.input_shape[2]

    def encode(self, x, condition=None):
        """The page, its background (closing) and ``page / background`` in [0, 1], full size,
        float32."""
        x = x.float()
        background = closing(x, self.config.background)
        ratio = x / background.clamp_min(1.0 / 255.0)  # closing >= page, so the ratio is in [0, 1]
        return torch.cat([x, background, ratio], dim=1)

    def decode_raw(self, z):
        """``ratio + residual`` before clamping (training uses it; see ``loss``)."""
        h, w = z.shape[-2:]
        m = 2**self.config.depth
        # always: an exported graph takes any size
        padded = F.pad(z, (0, -w % m, 0, -h % m), mode="replicate")
        skips = [self.stem(padded)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up, merge in zip(reversed(self.up), reversed(self.merge)):
            y = merge(up(y) + skips.pop())
        residual = self.out(y)[..., :h, :w].float()
        c = self.input_shape[0]
        return z[:, 2 * c : 3 * c] + residual

    def decode(self, z, condition=None):
        return self.decode_raw(z).clamp(0.0, 1.0)

    def loss(self, x, target=None, condition=None, step=0):
        """Per-pixel MSE of the clamped page (its root is the Kaggle RMSE), with the gradient of
        the unclamped one: a pixel pushed past 0 or 1 on the wrong side still gets pulled back,
        while one past the bound it should sit on (white paper at 1) costs nothing."""
        target = x if target is None else target
        raw = self.decode_raw(self.encode(x))
        out = raw + (raw.clamp(0.0, 1.0) - raw).detach()
        mse = F.mse_loss(out, target.float())
        return {"loss": mse, "mse": mse.detach()}
