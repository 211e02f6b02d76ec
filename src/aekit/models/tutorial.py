"""The tutorial's reference architectures, layer for layer, so results compare directly.

Where the tutorials' VAE losses were wrong, aekit does not copy the mistake:
- the Keras blog's dense VAE named its encoder output ``z_log_sigma``, sampled with
  ``exp(z_log_sigma)`` as the standard deviation, yet its KL treated the same number as a
  log-variance; and it averaged the KL over latent units while the cross-entropy was summed over
  pixels (or, in its first version, averaged too), so the KL was mis-scaled;
- the book's conv VAE (Chollet, conv 32-64-64-64, dense 32) averaged the cross-entropy over pixels
  and added ``-5e-4 * mean(1 + log_var - mu^2 - exp(log_var))``, i.e. ``5e-4`` times the KL:
  relative to the pixel-summed likelihood an implicit beta of 5e-4 * 784 = 0.39 rather than 1.
aekit's VAEs use the exact ELBO (pixel-summed log-likelihood plus the full analytic KL), so
their losses are negative ELBOs in nats per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from aekit.models.base import Autoencoder
from aekit.models.dense import check_reconstruction, reconstruction_loss
from aekit.models.kernels import ConvTranspose2d, FeatureMap, NarrowConv2d, conv_pool, upsample_conv
from aekit.models.layers import activation, check_conv_fit
from aekit.models.vae import VAE, ELBOConfig, GaussianVAE, VAEConfig


def _conv(cin: int, cout: int, act: str | None = "relu", stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1)] + ([activation(act)] if act else [])


@dataclass
class TutorialDAEConfig:
    latent_dim: int = 16  # channels of the 1/8-size code (the tutorial's 16 filters)
    reconstruction: str = "bce"  # "bce" (trains) or "mse" (the tutorial's; see TutorialDAE)


class TutorialDAE(Autoencoder):
    """Conv 64-32-16 with 2x2 max-pooling ('same'), decoder conv 16-32-64 with 2x upsampling,
    then a 3x3 conv with a sigmoid. Train it with a noise model to denoise.

    The tutorial minimised the MSE. Through the sigmoid, the MSE's gradient carries a factor
    p(1 - p): Adam pushes every output towards the mostly-black background within ~50 steps and
    the saturated sigmoid never recovers (measured on MNIST: stuck at MSE 0.116, for learning
    rates 1e-4 to 1e-3, with PyTorch, Keras or He initialisation). The pixel-wise cross-entropy has
    the same minimiser for targets in [0, 1] (the conditional mean) without the vanishing factor,
    so aekit trains with it by default; ``reconstruction="mse"`` reproduces the tutorial. The
    ``mse`` term is reported either way.

    Pooling rounds up like Keras 'same' (28 -> 14 -> 7 -> 4), so plain 2x upsampling would give
    32; each upsampling instead goes to the matching encoder size (4 -> 7 -> 14 -> 28, nearest
    neighbour), which equals 2x upsampling wherever the size is even and makes any H x W fit."""

    name = "tutorial-dae"
    description = (
        "the tutorial's denoiser: conv 64-32-16 + max-pool, conv 16-32-64 + "
        "upsampling (BCE; MSE optional)"
    )
    Config = TutorialDAEConfig

    def __init__(self, config: TutorialDAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        c = self.input_shape[0]
        self.enc = nn.ModuleList(
            [
                nn.Sequential(*_conv(c, 64)),
                nn.Sequential(*_conv(64, 32)),
                nn.Sequential(*_conv(32, config.latent_dim)),
            ]
        )
        self.dec = nn.ModuleList(
            [
                nn.Sequential(*_conv(config.latent_dim, 16)),
                nn.Sequential(*_conv(16, 32)),
                nn.Sequential(*_conv(32, 64)),
            ]
        )
        self.out = nn.Conv2d(64, c, 3, padding=1)
        check_reconstruction(config, self.name)

    def _sizes(self) -> list[tuple[int, int]]:
        h, w = self.input_shape[1:]
        sizes = [(h, w)]
        for _ in range(3):
            h, w = -(-h // 2), -(-w // 2)
            sizes.append((h, w))
        return sizes

    @property
    def latent_dim(self) -> int:
        h, w = self._sizes()[-1]
        return self.config.latent_dim * h * w

    def encode(self, x, condition=None):
        for layer in self.enc:
            x = conv_pool(x, layer)
        return x.flatten(1)

    def decode_logits(self, z):
        """conv, then (upsample, conv) twice, then (upsample, output conv): each upsampling fused
        into the convolution after it (``upsample_conv``)."""
        sizes = self._sizes()
        x = self.dec[0](z.view(-1, self.config.latent_dim, *sizes[-1]))
        for (conv, act), size in zip(self.dec[1:], (sizes[2], sizes[1])):
            x = act(upsample_conv(x, conv, size))
        return upsample_conv(x, self.out, sizes[0])

    def decode(self, z, condition=None):
        return self.decode_logits(z).sigmoid()

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        logits = self.decode_logits(self.encode(x))
        recon = reconstruction_loss(self.config.reconstruction, logits, target)
        return {
            "loss": recon,
            self.config.reconstruction: recon,
            "mse": F.mse_loss(logits.sigmoid(), target).detach(),
        }


@dataclass
class TutorialDocsConfig:
    latent_dim: int = 64  # channels of the half-size feature map
    filters: int = 64


class TutorialDocs(Autoencoder):
    """The document cleaner: conv 64, 2x2 max-pool, conv 64, 2x upsampling, conv 1 + sigmoid; MSE.
    Fully convolutional, so it trains on patches and runs on whole pages of any size."""

    name = "tutorial-docs"
    description = (
        "the tutorial's document cleaner: conv 64, pool, conv 64, upsample, sigmoid (any page size)"
    )
    Config = TutorialDocsConfig
    spatial_code = True

    def __init__(self, config: TutorialDocsConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        c = self.input_shape[0]
        self.conv1 = nn.Sequential(*_conv(c, config.filters))
        self.conv2 = nn.Sequential(*_conv(config.filters, config.latent_dim))
        self.out = nn.Conv2d(config.latent_dim, c, 3, padding=1)

    def encode(self, x, condition=None):
        return self.conv2(conv_pool(x, self.conv1))

    def decode(self, z, condition=None):
        return upsample_conv(z, self.out, (2 * z.shape[-2], 2 * z.shape[-1])).sigmoid()

    def reconstruct(self, x, condition=None):
        y = self.decode(self.encode(x))
        return y[..., : x.shape[-2], : x.shape[-1]]

    @property
    def latent_dim(self) -> int:
        h, w = self.input_shape[1:]
        return self.config.latent_dim * -(-h // 2) * -(-w // 2)

    def loss(self, x, target=None, condition=None, step=0):
        target = x if target is None else target
        mse = F.mse_loss(self.reconstruct(x), target)
        return {"loss": mse, "mse": mse}


@dataclass
class TutorialVAEDenseConfig(VAEConfig):
    latent_dim: int = 2
    hidden: tuple[int, ...] = (512,)


class TutorialVAEDense(VAE):
    """The Keras dense VAE: 784-512-2, Bernoulli likelihood; exact ELBO (see the module note)."""

    name = "tutorial-vae-dense"
    description = "the tutorial's dense VAE 784-512-2 (Bernoulli), with the exact ELBO"
    Config = TutorialVAEDenseConfig


@dataclass
class TutorialVAEConvConfig(ELBOConfig):
    latent_dim: int = 2
    hidden: int = 32


class TutorialVAEConv(GaussianVAE):
    """The Keras conv VAE: conv 32, conv 64 stride 2, conv 64, conv 64, dense 32, latent 2;
    decoder dense to a half-size 64-channel map, 3x3 transposed conv 32 stride 2, 3x3 conv 1."""

    name = "tutorial-vae-conv"
    description = (
        "the tutorial's conv VAE: conv 32-64-64-64, dense 32, latent 2, with the exact ELBO"
    )
    Config = TutorialVAEConvConfig

    def __init__(self, config: TutorialVAEConvConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        c = self.input_shape[0]
        self.half = check_conv_fit(self.input_shape, 1, self.name)
        flat = 64 * self.half[0] * self.half[1]
        self.encoder = nn.Sequential(
            *_conv(c, 32),
            *_conv(32, 64, stride=2),
            *_conv(64, 64),
            *_conv(64, 64),
            nn.Flatten(),
            nn.Linear(flat, config.hidden),
            nn.ReLU(),
        )
        self.to_mu, self.to_logvar = (
            nn.Linear(config.hidden, config.latent_dim),
            nn.Linear(config.hidden, config.latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, flat),
            nn.ReLU(),
            FeatureMap((64, *self.half)),
            ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            NarrowConv2d(32, c, 3, padding=1),
        )

    def features(self, x, condition=None):
        return self.encoder(x)

    def decoder_params(self, z, condition=None):
        return self.decoder(z)
