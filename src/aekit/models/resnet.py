"""Residual convolutional autoencoders (AE and VAE) whose depth follows the image size.

The encoder halves the image (stride-2 3x3 conv, rounding up) until its shorter side would drop
below 4 px: 8 px -> 1 stage, 32 -> 3, 256 -> 6; non-square and odd sizes work (the decoder
upsamples back to each stage's recorded size). Each resolution has ``blocks`` pre-activation
residual blocks (GroupNorm, SiLU, 3x3 conv, twice), the width doubling per stage from ``width``
up to ``max_width``. The code is a vector (a linear layer from the last feature map) or, with
``spatial_latent``, a ``latent_channels`` x h x w feature map (1x1 convs), for models that should
keep where things are.

Why this shape for colour images: a plain conv VAE's few wide stages smear colour edges, and
without normalisation deeper stacks train slowly on small batches; GroupNorm does not depend on
the batch size. Everything runs channels-last on the CPU (convolutions, GroupNorm, SiLU, the
residual adds and the fused upsample+conv of ``layers.upsample_conv`` all keep that layout).

``res-vae`` may add an adversarial sharpness term (``adversarial_weight`` > 0): a small PatchGAN
discriminator, trained from scratch inside the model with the trainer's one optimizer. Then
the training loss is no longer the negative ELBO (``loss_is_elbo`` is False; the term is logged
as ``adversarial``, the discriminator's hinge loss as ``discriminator``, and ``neg_elbo`` stays
the exact bound).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from aekit.errors import ConfigError
from aekit.models.dense import LogitAutoencoder
from aekit.models.kernels import FeatureMap, NarrowConv2d, upsample_conv
from aekit.models.vae import ELBOConfig, GaussianVAE

MIN_SIDE = 4  # the encoder stops halving before the shorter side gets smaller than this


def plan(
    input_shape: tuple[int, int, int], width: int, max_width: int
) -> tuple[list[int], list[tuple[int, int]]]:
    """Channel widths and spatial sizes of every resolution, full size first."""
    _, h, w = input_shape
    sizes = [(h, w)]
    while min(sizes[-1]) >= 2 * MIN_SIDE:
        sizes.append(tuple(-(-s // 2) for s in sizes[-1]))
    widths = [min(width * 2**i, max_width) for i in range(len(sizes))]
    return widths, sizes


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups (as many as divide the channels)."""
    return nn.GroupNorm(math.gcd(channels, 32), channels)


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))); the second conv starts at zero, so every block
    starts as the identity and a deep stack trains like a shallow one at first."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm1, self.conv1 = norm(channels), nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2, self.conv2 = norm(channels), nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))


class ResEncoder(nn.Module):
    """Image -> feature map at the smallest resolution (normalised and activated)."""

    def __init__(self, in_channels: int, widths: list[int], blocks: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.levels = nn.ModuleList(
            nn.Sequential(*(ResBlock(c) for _ in range(blocks))) for c in widths
        )
        self.down = nn.ModuleList(
            nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in itertools.pairwise(widths)
        )
        self.out = nn.Sequential(norm(widths[-1]), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.levels[0](self.stem(x))
        for down, level in zip(self.down, self.levels[1:]):
            h = level(down(h))
        return self.out(h)


class ResDecoder(nn.Module):
    """Feature map at the smallest resolution -> ``out_channels`` maps at full size (no
    activation)."""

    def __init__(
        self, widths: list[int], sizes: list[tuple[int, int]], blocks: int, out_channels: int
    ):
        super().__init__()
        self.sizes = sizes
        self.levels = nn.ModuleList(
            nn.Sequential(*(ResBlock(c) for _ in range(blocks))) for c in widths
        )
        self.up = nn.ModuleList(
            nn.Conv2d(b, a, 3, padding=1) for a, b in itertools.pairwise(widths)
        )
        self.out = nn.Sequential(
            norm(widths[0]), nn.SiLU(), NarrowConv2d(widths[0], out_channels, 3, padding=1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.levels[-1](h)
        for i in reversed(range(len(self.up))):  # nearest 2x up + 3x3 conv, fused where exactly 2x
            h = self.levels[i](upsample_conv(h, self.up[i], self.sizes[i]))
        return self.out(h)


@dataclass
class ResConfig:
    """Options shared by res-ae and res-vae."""

    latent_dim: int = 64  # size of the code vector
    width: int = 16  # channels at full resolution, doubling per stage (16-32-64-128 for 32 px)
    max_width: int = 128
    blocks: int = field(default=1, metadata={"min": 0})  # residual blocks per resolution
    spatial_latent: bool = False  # code a latent_channels x h x w map instead of a vector
    latent_channels: int = 8


class ResBody:
    """Builds the encoder, decoder and code heads of both residual models (a mixin)."""

    def build(self, config: ResConfig, out_channels: int, heads: int) -> None:
        """``heads`` code heads on the encoder (1: the code; 2: a VAE's mean and log-variance)."""
        # the sizes' ranges are checked with the config (models.base)
        if config.max_width < config.width:
            raise ConfigError(
                f"model '{self.name}': need width <= max_width, got {config.width} > "
                f"{config.max_width}"
            )
        widths, sizes = plan(self.input_shape, config.width, config.max_width)
        self.spatial_code = config.spatial_latent
        (h, w), top = sizes[-1], widths[-1]
        self.code_shape = (
            (config.latent_channels, h, w) if config.spatial_latent else (config.latent_dim,)
        )
        self.encoder = ResEncoder(self.input_shape[0], widths, config.blocks)
        if config.spatial_latent:
            self.code_heads = nn.ModuleList(
                nn.Conv2d(top, config.latent_channels, 1) for _ in range(heads)
            )
            self.from_code = nn.Conv2d(config.latent_channels, top, 3, padding=1)
        else:
            # once, not per head: flattening a channels-last map copies it
            self.encoder.out.append(nn.Flatten())
            self.code_heads = nn.ModuleList(
                nn.Linear(top * h * w, config.latent_dim) for _ in range(heads)
            )
            self.from_code = nn.Sequential(
                nn.Linear(config.latent_dim, top * h * w), FeatureMap((top, h, w))
            )
        self.decoder = ResDecoder(widths, sizes, config.blocks, out_channels)

    @property
    def latent_dim(self) -> int:
        return math.prod(self.code_shape)


class ResAE(ResBody, LogitAutoencoder):
    name = "res-ae"
    description = (
        "residual conv autoencoder (GroupNorm, depth follows the image size, any "
        "channels; vector or map code)"
    )

    @dataclass
    class Config(ResConfig):
        reconstruction: str = "mse"  # or "bce"

    def __init__(self, config, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        self.build(config, self.input_shape[0], heads=1)

    def encode(self, x, condition=None):
        return self.code_heads[0](self.encoder(x))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_code(z))


class PatchDiscriminator(nn.Module):
    """A small PatchGAN: a real/fake score per overlapping patch (two stride-2 4x4 convs and a 3x3
    conv: ~22 px receptive field), so it judges local texture and edges, not the global layout."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            norm(2 * width),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResVAE(ResBody, GaussianVAE):
    predicts_image_scale = True
    name = "res-vae"
    description = (
        "residual conv VAE (GroupNorm, depth follows the image size, colour "
        "likelihoods, optional PatchGAN term)"
    )

    @dataclass
    class Config(ELBOConfig, ResConfig):
        # > 0: add a PatchGAN term (sharper, but the loss is no longer an ELBO)
        adversarial_weight: float = 0.0
        discriminator_width: int = 32
        # a linear code path beside the convolutions, started as PCA of the training images
        linear_path: bool = False

    def __init__(self, config, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        if config.adversarial_weight < 0:
            raise ConfigError(
                f"model '{self.name}': adversarial_weight must be >= 0, not "
                f"{config.adversarial_weight}"
            )
        if config.linear_path and self.likelihood == "bernoulli":
            raise ConfigError(
                f"model '{self.name}': linear_path adds pixel values and needs a likelihood whose "
                "decoder gives them (gaussian or logistic), not bernoulli's logits"
            )
        self.build(config, self.decoder_channels, heads=2)
        self.to_mu, self.to_logvar = self.code_heads
        pixels = math.prod(self.input_shape)
        self.linear_encoder = nn.Linear(pixels, self.latent_dim) if config.linear_path else None
        self.linear_decoder = nn.Linear(self.latent_dim, pixels) if config.linear_path else None
        self.to_log_scale = (
            nn.Linear(self.latent_dim, self.input_shape[0])
            if self.likelihood_fn.scale_per_image
            else None
        )
        if self.to_log_scale is not None:  # every image starts at the scale a learned one starts at
            nn.init.zeros_(self.to_log_scale.weight)
            nn.init.constant_(self.to_log_scale.bias, math.log(0.1))
        self.discriminator = (
            PatchDiscriminator(self.input_shape[0], config.discriminator_width)
            if config.adversarial_weight > 0
            else None
        )

    @property
    def loss_is_elbo(self) -> bool:
        return self.discriminator is None

    def init_from_data(self, images: torch.Tensor) -> None:
        """``linear_path``: the linear encoder and decoder become whitened PCA of ``images`` (codes
        of unit variance, as the N(0, I) prior expects) and the convolutional code head and last
        layer start at zero, so the first step starts from PCA with this code size. PCA is the best
        linear code, hard to beat from random weights on a few thousand varied images (sprites: a
        plain res-vae ended below it); the convolutions then learn what PCA misses."""
        if self.linear_encoder is None:
            return
        from aekit import metrics  # the evaluation's own PCA baseline

        k = self.latent_dim
        if k > min(len(images), math.prod(self.input_shape)):
            raise ConfigError(
                f"model '{self.name}': linear_path needs at least latent_dim = {k} training "
                "images, "
                f"got {len(images)} (set linear_path = false, or a smaller latent_dim)"
            )
        pca = metrics.fit_pca(images, k)
        components = torch.from_numpy(pca.components_).float()  # k x pixels
        # each code's std
        scale = torch.from_numpy(pca.explained_variance_).float().sqrt().clamp(min=1e-6)
        mean = torch.from_numpy(pca.mean_).float()
        c = self.input_shape[0]
        with torch.no_grad():
            self.linear_encoder.weight.copy_(components / scale[:, None])
            self.linear_encoder.bias.copy_(-(components @ mean) / scale)
            self.linear_decoder.weight.copy_((components * scale[:, None]).T)
            self.linear_decoder.bias.copy_(mean)
            self.to_mu.weight.zero_()
            self.to_mu.bias.zero_()
            # a narrow posterior (std 0.1): the first steps see PCA's images,
            self.to_logvar.weight.zero_()
            # not codes drowned in noise of the prior's width
            self.to_logvar.bias.fill_(2 * math.log(0.1))
            last = self.decoder.out[-1]
            last.weight.zero_()
            last.bias.zero_()
            # a learned scale starts at PCA's error per channel: started wider, the ELBO would find
            # the code worth little and shed it before the scale had narrowed
            residual = images - metrics.pca_reconstruct(pca, images)
            per_channel = residual.transpose(0, 1).flatten(1).std(1).clamp(min=1e-3)
            # not fixed
            if self.likelihood_fn.scale_shape() is not None and isinstance(
                self.log_sigma, nn.Parameter
            ):
                std = per_channel if self.log_sigma.dim() else residual.std().clamp(min=1e-3)
                self.log_sigma.copy_(
                    self.likelihood_fn.log_scale_for_std(std).view(self.log_sigma.shape)
                )
            elif self.to_log_scale is not None:
                self.to_log_scale.bias.copy_(self.likelihood_fn.log_scale_for_std(per_channel))
            elif last.out_channels > c:  # the scale maps predicted per pixel
                last.bias[c:].copy_(self.likelihood_fn.log_scale_for_std(per_channel))

    def posterior(self, x, condition=None):
        mu, logvar = super().posterior(x, condition)
        if self.linear_encoder is not None:
            mu = mu + self.linear_encoder(x.flatten(1)).view_as(mu)
        return mu, logvar

    def features(self, x, condition=None):
        return self.encoder(x)

    def decoder_params(self, z, condition=None):
        params = self.decoder(self.from_code(z))
        c = self.input_shape[0]
        if self.linear_decoder is not None:
            linear = self.linear_decoder(z.flatten(1)).view(-1, *self.input_shape)
            params = (
                torch.cat([params[:, :c] + linear, params[:, c:]], 1)
                if params.shape[1] > c
                else params + linear
            )
        # logistic-image: the scale per image and channel, as maps
        if self.to_log_scale is not None:
            scale = (
                self.to_log_scale(z.flatten(1)).view(-1, c, 1, 1).expand_as(params).to(params.dtype)
            )
            params = torch.cat([params, scale], 1)
        return params

    def sample(self, n, condition=None, generator=None):
        device = next(self.parameters()).device
        return self.decode(torch.randn(n, *self.code_shape, generator=generator).to(device))

    def loss(self, x, target=None, condition=None, step=0):
        real = x if target is None else target
        x, target = self.targets(x, target)
        mu, logvar = self.posterior(x, condition)
        params = self.decoder_params(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
        terms = self.elbo_terms(-self.log_prob(params, target).mean(), mu, logvar, step)
        if self.discriminator is not None:
            terms.update(self.adversarial_terms(real, self.likelihood_fn.mean(params)))
            terms["loss"] = (
                terms["loss"]
                + self.config.adversarial_weight * terms["adversarial"]
                + terms["discriminator"]
            )
        return terms

    def adversarial_terms(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator's hinge term through a frozen copy of the discriminator (its parameters
        detached: only the decoder and encoder learn from it) and the discriminator's hinge loss
        on detached reconstructions (only the discriminator learns from it): each side trains
        its own parameters under the one optimizer."""
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        adversarial = -functional_call(self.discriminator, frozen, (fake,)).mean()
        discriminator = (
            F.relu(1 - self.discriminator(real)).mean()
            + F.relu(1 + self.discriminator(fake.detach())).mean()
        )
        return {"adversarial": adversarial, "discriminator": discriminator}
