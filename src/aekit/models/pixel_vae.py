"""Convolutional VAE with a local autoregressive decoder (PixelVAE-style, Gulrajani et al. 2017).

A factorised Bernoulli decoder must explain every pixel from z alone, so the strokes' local
texture (an edge pixel is on because its neighbour is) costs nats that no latent code of a
small model buys back. Here each pixel's logit also sees the pixels above and to its left
through one masked convolution of the image:

    log p(x|z) = sum_ij log Bernoulli(x_ij; head(relu(decoder(z)_ij + masked_conv(x)_ij)))

which is an exact, normalised likelihood (the masked window holds only earlier pixels in raster
order), so the ELBO and the IWAE bound keep their meaning. The window is small (7x7 by default,
three rows up), so the global shape still has to come from z and the code stays informative.
Decoding draws the pixels in raster order (784 small steps for a 28x28 image) and returns each
pixel's probability along that draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aekit.errors import ConfigError
from aekit.models.layers import ConvDecoder
from aekit.models.vae import ConvVAE, ConvVAEConfig


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose window holds only the pixels before the centre in raster
    order (the rows above, and the row's pixels to the left): PixelCNN's type-A mask."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        if kernel_size % 2 == 0:
            raise ConfigError(f"pixel_kernel must be odd, not {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones(kernel_size, kernel_size)
        centre = kernel_size // 2
        mask[centre, centre:] = 0
        mask[centre + 1 :] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


@dataclass
class PixelVAEConfig(ConvVAEConfig):
    pixel_channels: int = 32  # width of the per-pixel layer that mixes z's features and the window
    pixel_kernel: int = 7  # the masked window (odd): (k // 2) rows above, k // 2 pixels to the left


class PixelVAE(ConvVAE):
    name = "pixel-vae"
    description = (
        "conv VAE whose Bernoulli decoder also sees the pixels above and left (masked "
        "conv), exact ELBO"
    )
    Config = PixelVAEConfig
    sequential_decoder = True

    def __init__(self, config: PixelVAEConfig, input_shape, num_classes=None):
        super().__init__(config, input_shape, num_classes)
        if self.likelihood != "bernoulli":
            raise ConfigError(
                f"model '{self.name}': only the Bernoulli likelihood is autoregressive here; "
                "use conv-vae for a Gaussian one"
            )
        self.pixels = MaskedConv2d(self.input_shape[0], config.pixel_channels, config.pixel_kernel)
        self.head = nn.Conv2d(config.pixel_channels, self.input_shape[0], 1)

    def make_decoder(self, config: PixelVAEConfig, size: tuple[int, int]) -> nn.Module:
        """z's part: the transposed convs' last stage gives the per-pixel features directly (the
        masked window supplies the local detail a 3x3 output conv would)."""
        return ConvDecoder(
            config.latent_dim,
            config.channels,
            config.pixel_channels,
            size,
            config.activation,
            features_out=True,
        )

    def decoder_params(self, z, condition=None):
        raise NotImplementedError("pixel-vae's logits depend on the image too: see logits(x, z)")

    def logits(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Every pixel's logit given z and the pixels of ``x`` before it (teacher forcing)."""
        return self.head(F.relu(self.decoder(z) + self.pixels(x)))

    def log_likelihood(self, x, z, condition=None):
        return self.log_likelihood_k(x, z.unsqueeze(0), condition)[0]

    def log_likelihood_k(self, x, z, condition=None):
        """log p(x|z) for k draws per image (z: k x B x d): the masked window depends on x alone,
        so it is computed once per image, not once per draw."""
        k, b = z.shape[:2]
        from_z = self.decoder(z.flatten(0, 1)).unflatten(0, (k, b))
        logits = self.head(F.relu(from_z + self.pixels(x)).flatten(0, 1))
        target = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)
        return (
            -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            .flatten(1)
            .sum(1)
            .view(k, b)
        )

    def draw(
        self, z: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral draw in raster order: (each pixel's probability along the draw, the binary
        image drawn). Only the window before the current pixel is recomputed at each step, in
        float32 (under autocast the 784 tiny products ran slower in bf16)."""
        with torch.no_grad(), torch.autocast(z.device.type, enabled=False):
            from_z = self.decoder(z.to(self.head.weight.dtype)).float()
            c, h, w = self.input_shape
            k = self.config.pixel_kernel
            r = k // 2
            # (channels, c * k * k)
            weight = (self.pixels.weight * self.pixels.mask).float().flatten(1)
            bias = self.pixels.bias.float()
            head_w, head_b = self.head.weight.float().flatten(1), self.head.bias.float()
            canvas = torch.zeros(len(z), c, h + 2 * r, w + 2 * r, device=z.device)
            probs = torch.zeros(len(z), c, h, w, device=z.device)
            for i in range(h):
                for j in range(w):
                    window = canvas[:, :, i : i + k, j : j + k].flatten(1)
                    p = torch.sigmoid(
                        F.relu(from_z[:, :, i, j] + window @ weight.t() + bias) @ head_w.t()
                        + head_b
                    )
                    probs[:, :, i, j] = p
                    canvas[:, :, i + r, j + r] = (
                        torch.rand(p.shape, generator=generator).to(p.device) < p
                    ).float()
        return probs, canvas[:, :, r : r + h, r : r + w]

    def decode(self, z, condition=None, generator: torch.Generator | None = None):
        """Each pixel's probability along one ancestral draw (``draw``)."""
        return self.draw(z, generator)[0]

    def sample(self, n, condition=None, generator=None):
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z, condition, generator=generator)
