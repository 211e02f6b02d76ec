"""VQ-VAE (van den Oord et al. 2017) with an autoregressive prior, so it samples.

The encoder maps an image to a small grid of vectors; each is replaced by its nearest code in a
codebook (``quantizer = "vq"``) or rounded per channel to a few levels (``"fsq"``, finite scalar
quantisation, Mentzer et al. 2023: an implicit codebook that cannot collapse). The image's code is
the ``h x w`` map of code indices; the decoder maps it back. Gradients pass the quantiser
straight through.

Style row (``style_row``): one code per 4x4 patch must carry both the patch's shape and its exact
colour, so a flat area's colour drifts from code to code (mottle). With the style row the encoder
also computes ``w`` vectors from the whole sprite (the average of its last feature map through a
linear layer), quantised with the same codebook, and the decoder scales and shifts its feature maps
by them everywhere (FiLM, Perez et al. 2018: after its first convolution and each upsampling). The
row is the index map's first row, ``(h + 1) x w``: priors draw the style first, in raster order,
and every caller that treats a code as an index map keeps working.

VQ codebook: exponential moving averages of the vectors assigned to each code (Razavi et al.
2019), all-reduced across ranks under torchrun so every rank keeps the same codebook, initialised
at random encoder outputs of the first batch; codes that no vector chose for ``restart_after``
training steps restart at random encoder outputs of the batch.

Alpha (``straight_alpha``): the decoder's alpha is a mean, so where the training sprites are
either opaque or clear it draws see-through fringes and shadows that no sprite has. Pictures
(``decode``) take the nearest of the alpha values the training pixels have (``alpha_levels``,
those of at least 1% of them, measured by ``aekit train``). On the crawl tiles' 30-minute run,
reconstructions with alpha at 0 or 1 are half as far from the tiles in the classifier's features
(Frechet distance x floor on ``main`` 8.3 -> 4.0, ``player`` 22.8 -> 11.9) for 0.5 dB less PSNR.

Sampling: a gated PixelCNN (van den Oord et al. 2016, vertical + horizontal stacks, no blind
spot) over the index map, trained inside ``loss`` on detached indices, so its cross-entropy
teaches the prior and never moves the encoder. Codebook use and perplexity are reported as loss
terms (not optimised) so they land in metrics.jsonl each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aekit.alpha import has_alpha
from aekit.errors import ConfigError
from aekit.models.base import Autoencoder
from aekit.models.kernels import ConvTranspose2d, NarrowConv2d
from aekit.models.layers import activation, check_conv_fit
from aekit.models.quantizers import EMAQuantizer, FSQuantizer, usage_terms
from aekit.sampling import index_maps_from_uniform

ALPHA_LEVEL_SHARE = 0.01  # an alpha value this share of the training pixels have is a level


def alpha_levels(alpha: torch.Tensor) -> tuple[float, ...]:
    """The alpha values (in 1/255 steps) at least ``ALPHA_LEVEL_SHARE`` of ``alpha``'s values have,
    0 and 1 among them: a sprite set's clear and opaque, and any shadow level it uses often."""
    counts = torch.bincount((alpha.float() * 255).round().long().flatten(), minlength=256)
    common = torch.nonzero(counts >= ALPHA_LEVEL_SHARE * alpha.numel()).flatten().tolist()
    return tuple(sorted({0.0, 1.0, *(v / 255 for v in common)}))


# --- how hard a code map is for a prior -----------------------------------------------------------
def code_frequency_nats(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    test_labels: torch.Tensor,
    num_codes: int,
) -> float:
    """Mean nats per index of the ``test`` maps under their class's code frequencies in ``train``
    (add-half smoothing, every position alike): what a prior that ignores the indices around an
    index scores. A prior over the map is worth its cost by how far it beats this."""
    total, count = 0.0, 0
    for c in test_labels.unique().tolist():
        counts = (
            torch.bincount(train[train_labels == c].flatten(), minlength=num_codes).double() + 0.5
        )
        log_p = (counts / counts.sum()).log()
        picked = test[test_labels == c].flatten()
        total, count = total - float(log_p[picked].sum()), count + len(picked)
    return total / max(count, 1)


def transparent_patch_codes(images: torch.Tensor, codes: torch.Tensor) -> dict[str, float]:
    """Of the code map positions whose patch of ``images`` (alpha last) is fully transparent: their
    share, how many distinct codes they got and the perplexity of those codes. A code map that
    gives "nothing here" many codes makes its prior choose among them by the neighbours. A style
    row above the patches' rows is left out."""
    patch = images.shape[-1] // codes.shape[-1]
    codes = codes[:, codes.shape[-2] - images.shape[-2] // patch :]
    empty = F.max_pool2d(images[:, -1:].float(), patch).squeeze(1) == 0
    counts = torch.bincount(codes[empty], minlength=1).double()
    used = counts[counts > 0] / counts.sum().clamp_min(1)
    return {
        "share": float(empty.double().mean()),
        "distinct": int((counts > 0).sum()),
        "perplexity": float((-(used * used.log()).sum()).exp()),
    }


# --- the autoregressive prior over index maps
# ---------------------------------------------------------
class _MaskedConv(nn.Conv2d):
    """A 'same' convolution with a fixed 0/1 mask on its window (which neighbours it may see)."""

    def __init__(self, in_channels: int, out_channels: int, mask: torch.Tensor):
        kh, kw = mask.shape
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2))
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class _GatedLayer(nn.Module):
    """One gated layer with a vertical stack (rows strictly above) and a horizontal stack (the row's
    positions to the left; the first layer excludes the position itself)."""

    def __init__(self, channels: int, kernel: int, first: bool):
        super().__init__()
        r = kernel // 2
        vertical = torch.zeros(kernel, kernel)
        # first layer: rows above only; later: + this row of v
        vertical[: r if first else r + 1] = 1
        horizontal = torch.zeros(1, kernel)
        horizontal[0, : r if first else r + 1] = 1
        self.first = first
        self.v = _MaskedConv(channels, 2 * channels, vertical)
        self.h = _MaskedConv(channels, 2 * channels, horizontal)
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_raw = self.v(v)  # at (i, j): only rows < i of the input map
        h_new = self.h_out(_gate(self.h(h) + self.v_to_h(v_raw)))
        return _gate(v_raw), h_new if self.first else h + h_new


class PixelCNN(nn.Module):
    """p(index map) = prod over positions in raster order of p(index | the indices before it)."""

    def __init__(self, num_codes: int, channels: int = 64, layers: int = 5, kernel: int = 3):
        super().__init__()
        if kernel < 3 or kernel % 2 == 0 or layers < 1 or channels < 1:
            raise ConfigError(
                f"model 'vq-vae': the prior needs an odd kernel >= 3, layers >= 1 and channels "
                ">= 1 "
                f"(got kernel {kernel}, layers {layers}, channels {channels})"
            )
        self.num_codes, self.channels, self.layers_count, self.kernel = (
            num_codes,
            channels,
            layers,
            kernel,
        )
        self.embed = nn.Embedding(num_codes, channels)
        self.layers = nn.ModuleList(_GatedLayer(channels, kernel, i == 0) for i in range(layers))
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, num_codes, 1),
        )

    def options(self) -> dict[str, int]:
        return {
            "num_codes": self.num_codes,
            "channels": self.channels,
            "layers": self.layers_count,
            "kernel": self.kernel,
        }

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        """Logits ``B x num_codes x h x w``; position (i, j) depends only on the indices before
        it."""
        v = h = self.embed(indices).movedim(-1, 1)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """log p of each map, summed over positions (nats)."""
        return -F.cross_entropy(self(indices), indices, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self, n: int, shape: tuple[int, int], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        uniform = torch.rand(n, *shape, generator=generator, dtype=torch.float64)
        return index_maps_from_uniform(self, uniform, self.embed.weight.device)


# --- the model
# ---------------------------------------------------------------------------------------
@dataclass
class VQVAEConfig:
    quantizer: str = "vq"  # or "fsq"
    codebook_size: int = 128  # vq: number of codes
    code_dim: int = 16  # vq: length of each code vector
    # fsq: values per channel; the codebook is their product (1000)
    levels: tuple[int, ...] = (8, 5, 5, 5)
    # stride-2 conv stages: a 28x28 image becomes a 7x7 index map
    channels: tuple[int, ...] = (32, 64)
    activation: str = "relu"
    commitment: float = 0.25  # vq: weight of |z_e - sg(z_q)|^2
    decay: float = 0.99  # vq: EMA decay of the codebook statistics
    # vq: a code no vector chose for this many training steps restarts at an encoder output
    restart_after: int = 10
    prior_channels: int = 64
    prior_layers: int = 5
    prior_kernel: int = 3
    # residual blocks at the code map's size, encoder and decoder
    res_blocks: int = field(default=0, metadata={"min": 0})
    # alpha-carrying images: the decoder draws straight colour and alpha, colour is then multiplied
    # by alpha, so a pixel's colour never exceeds its alpha (un-premultiplied files stay clean)
    straight_alpha: bool = False
    # with straight_alpha: the alpha values at least ALPHA_LEVEL_SHARE of the training pixels have,
    # measured by aekit train (empty: not measured, pictures keep the decoder's soft alpha).
    # Pictures take the nearest of them: the decoder's alpha is a mean, and a mean between 0 and 1
    # where the training sprites are either opaque or clear is a see-through fringe
    alpha_levels: tuple[float, ...] = ()
    # training images mirrored left-right at random (pixel art: no blur, no turns)
    hflip: bool = False
    # a prior over the code map fitted at the end of `aekit train` ("" none), with this share of
    # max_minutes
    fitted_prior: str = ""
    prior_share: float = 0.5
    # a first row of w codes for the whole sprite (its colours), which scale and shift the
    # decoder's feature maps everywhere: the index map is (h + 1) x w
    style_row: bool = False


class _Residual(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))): depth at the code map's size without losing detail."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class VQVAE(Autoencoder):
    name = "vq-vae"
    description = (
        "VQ-VAE (EMA codebook with restarts, or FSQ) + a gated PixelCNN prior over the index map"
    )
    Config = VQVAEConfig
    generative = True
    spatial_code = True
    discrete_code = True
    latent_kind = "discrete"
    own_code_prior = True

    def __init__(self, config: VQVAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        if config.quantizer not in ("vq", "fsq"):
            raise ConfigError(
                f"model '{self.name}': quantizer must be 'vq' or 'fsq', not {config.quantizer!r}"
            )
        if config.quantizer == "vq" and (
            config.codebook_size < 2 or config.code_dim < 1 or not 0 < config.decay < 1
        ):
            raise ConfigError(
                f"model '{self.name}': vq needs codebook_size >= 2, code_dim >= 1 and 0 < decay < 1"
            )
        if not all(0 <= level <= 1 for level in config.alpha_levels):
            raise ConfigError(
                f"model '{self.name}': alpha_levels must be alpha values from 0 to 1, got "
                f"{list(config.alpha_levels)}"
            )
        if config.fitted_prior not in ("", "transformer"):
            raise ConfigError(
                f"model '{self.name}': fitted_prior must be '' or 'transformer', got "
                f"{config.fitted_prior!r}"
            )
        if not 0 < config.prior_share < 1:
            raise ConfigError(
                f"model '{self.name}': prior_share must be between 0 and 1, got "
                f"{config.prior_share}"
            )
        h, w = check_conv_fit(self.input_shape, len(config.channels), self.name)
        self.code_shape = (h + 1, w) if config.style_row else (h, w)
        c = self.input_shape[0]
        if config.quantizer == "vq":
            self.quantizer: EMAQuantizer | FSQuantizer = EMAQuantizer(
                config.codebook_size, config.code_dim, config.decay, config.restart_after
            )
            dim = config.code_dim
        else:
            self.quantizer = FSQuantizer(config.levels)
            dim = len(config.levels)
        layers: list[nn.Module] = []
        for width in config.channels:
            layers += [nn.Conv2d(c, width, 3, stride=2, padding=1), activation(config.activation)]
            c = width
        layers += [_Residual(c) for _ in range(config.res_blocks)]
        self.encoder = nn.Sequential(*layers, nn.Conv2d(c, dim, 1))
        widths = tuple(reversed(config.channels))
        layers = [nn.Conv2d(dim, widths[0], 3, padding=1), activation(config.activation)]
        layers += [_Residual(widths[0]) for _ in range(config.res_blocks)]
        for a, b in zip(widths, widths[1:] + (widths[-1],)):
            layers += [ConvTranspose2d(a, b, 4, stride=2, padding=1), activation(config.activation)]
        self.decoder = nn.Sequential(
            *layers, NarrowConv2d(widths[-1], self.input_shape[0], 3, padding=1)
        )
        # the style row: the encoder's pooled features -> w code vectors; the quantised row -> a
        # scale and shift per channel after the decoder's first conv and each upsampling
        self.style_encoder = nn.Linear(c, dim * w) if config.style_row else None
        self.film_after = {
            i: m.out_channels
            for i, m in enumerate(self.decoder)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and i < len(self.decoder) - 1
        }
        self.style_film = (
            nn.Linear(dim * w, 2 * sum(self.film_after.values())) if config.style_row else None
        )
        if self.style_film is not None:  # starts as the identity: the row earns its influence
            nn.init.zeros_(self.style_film.weight)
            nn.init.zeros_(self.style_film.bias)
        self.prior = PixelCNN(
            self.quantizer.num_codes,
            config.prior_channels,
            config.prior_layers,
            config.prior_kernel,
        )

    @property
    def latent_dim(self) -> int:
        """Numbers in a code: one index per position of the map (the style row's included)."""
        return self.code_shape[0] * self.code_shape[1]

    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    def _quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantised vectors, indices) of encoder outputs ``z``."""
        if isinstance(self.quantizer, FSQuantizer):
            quantized = self.quantizer.quantize(z)
            return quantized, self.quantizer.indices_of(quantized)
        indices = self.quantizer.indices(z)
        return self.quantizer.lookup(indices), indices

    def _vectors(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder outputs ``B x D x code_shape``: the style row (when there is one) above the
        patches' vectors."""
        if self.style_encoder is None:
            return self.encoder(x)
        features = self.encoder[:-1](x)
        patches = self.encoder[-1](features)
        style = self.style_encoder(features.mean((2, 3))).view(len(x), -1, 1, patches.shape[-1])
        return torch.cat([style.to(patches.dtype), patches], 2)

    def _decode_vectors(self, quantized: torch.Tensor) -> torch.Tensor:
        """Decoder logits of quantised vectors ``B x D x code_shape``."""
        if self.style_film is None:
            return self.decoder(quantized)
        style, h = quantized[:, :, 0], quantized[:, :, 1:]
        sizes = [2 * c for c in self.film_after.values()]
        films = iter(self.style_film(style.flatten(1)).split(sizes, 1))
        for i, layer in enumerate(self.decoder):
            h = layer(h)
            if i in self.film_after:
                scale, shift = next(films)[:, :, None, None].chunk(2, 1)
                h = h * (1 + scale) + shift
        return h

    def encode(self, x, condition=None):
        """The map of code indices (int64), ``h x w`` or with the style row ``(h + 1) x w``."""
        return self._quantize(self._vectors(x))[1]

    def decode(self, z, condition=None):
        """The picture of the code: the decoder's mean, its alpha at the nearest of
        ``alpha_levels`` when they were measured."""
        return self._image(self._decode_vectors(self.quantizer.lookup(z)), picture=True)

    def init_from_data(self, images: torch.Tensor) -> None:
        """Record ``alpha_levels`` (straight alpha only), unless given."""
        if (
            self.config.straight_alpha
            and has_alpha(images.shape[1])
            and not self.config.alpha_levels
        ):
            self.config.alpha_levels = alpha_levels(images[:, -1])

    def _image(self, logits: torch.Tensor, picture: bool = False) -> torch.Tensor:
        """Decoder logits -> premultiplied image; with ``straight_alpha`` colour = sigmoid(colour) *
        alpha (with ``picture``, alpha at the nearest of ``alpha_levels``)."""
        image = logits.float().sigmoid()
        if not self.config.straight_alpha or not has_alpha(image.shape[1]):
            return image
        alpha = image[:, -1:]
        if picture and self.config.alpha_levels:
            levels = torch.tensor(self.config.alpha_levels, dtype=alpha.dtype, device=alpha.device)
            alpha = levels[(alpha.unsqueeze(-1) - levels).abs().argmin(-1)]
        return torch.cat([image[:, :-1] * alpha, alpha], 1)

    def _reconstruction_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of each value, summed per image (of the premultiplied image with
        ``straight_alpha``)."""
        if not self.config.straight_alpha or not has_alpha(target.shape[1]):
            return (
                F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
                .flatten(1)
                .sum(1)
                .mean()
            )
        image = self._image(logits).clamp(1e-6, 1 - 1e-6)
        return (
            F.binary_cross_entropy(image, target.float(), reduction="none").flatten(1).sum(1).mean()
        )

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        if self.config.hflip and self.training:  # the same mirror for input and target
            flip = (torch.rand(len(x), device=x.device) < 0.5).view(-1, 1, 1, 1)
            x, target = torch.where(flip, x.flip(-1), x), torch.where(flip, target.flip(-1), target)
        z = self._vectors(x)
        quantized, indices = self._quantize(z)
        terms: dict[str, torch.Tensor] = {}
        if isinstance(self.quantizer, EMAQuantizer):
            commitment = (
                self.config.commitment * (z.float() - quantized).pow(2).flatten(1).sum(1).mean()
            )
            quantized = z + (quantized - z).detach()  # straight through
            counts = (
                self.quantizer.update(z, indices)
                if self.training
                else torch.bincount(indices.flatten(), minlength=self.num_codes)
            )
            terms["commitment"] = commitment
        else:
            counts = torch.bincount(indices.flatten(), minlength=self.num_codes)
        logits = self._decode_vectors(quantized.to(z.dtype))
        recon = self._reconstruction_loss(logits, target)
        # stop-gradient: the prior never moves the encoder
        prior = -self.prior.log_prob(indices.detach()).mean()
        total = recon + prior + terms.get("commitment", 0.0)
        return {
            "loss": total,
            "recon": recon,
            **terms,
            "prior": prior,
            **usage_terms(counts.float()),
        }

    def sample(self, n, condition=None, generator=None):
        return self.decode(self.prior.sample(n, self.code_shape, generator))

    def prior_after_training(self):
        return (
            (self.config.fitted_prior, self.config.prior_share)
            if self.config.fitted_prior
            else None
        )
