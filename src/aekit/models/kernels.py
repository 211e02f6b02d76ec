"""Speed kernels: layers that compute exactly what torch's plain layers compute (same parameters,
same values up to rounding, tested against them), laid out for oneDNN on the CPU. Each says what
it saves and the measurement that justified it (benchmarks/README.md has the rest)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Nearest 2x upsampling then a 3-tap filter (padding 1) is one stride-2, 4-tap transposed filter:
# output 2m takes w[0] from input m-1 and w[1] + w[2] from input m; output 2m+1 takes w[0] + w[1]
# from input m and w[2] from input m+1. Row k of this matrix sums the 3x3 taps into transposed tap
# k.
_UPSAMPLE_TAPS = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def upsample_conv(x: torch.Tensor, conv: nn.Conv2d, size: tuple[int, int]) -> torch.Tensor:
    """``conv(nearest_upsample(x, size))`` for a 3x3, stride-1, padding-1 ``conv``.

    Where ``size`` is exactly twice ``x``'s size, the same function (same parameters, same
    values up to rounding) runs as one 4x4 stride-2 transposed convolution whose taps are sums
    of the 3x3 taps: 4/9 of the multiply-adds, and the upsampled map is never built, in the
    forward or the backward pass (see benchmarks/README.md). Other sizes take the plain path."""
    h, w = x.shape[-2:]
    if (
        tuple(size) != (2 * h, 2 * w)
        or conv.kernel_size != (3, 3)
        or conv.padding != (1, 1)
        or conv.stride != (1, 1)
        or conv.dilation != (1, 1)
        or conv.groups != 1
        or _observed(conv)
    ):
        return conv(F.interpolate(x, size=size, mode="nearest"))
    taps = _UPSAMPLE_TAPS.to(conv.weight)
    weight = torch.einsum("kr,oirs,ls->iokl", taps, conv.weight, taps)  # (in, out, 4, 4)
    return add_bias(F.conv_transpose2d(x, weight, None, stride=2, padding=1), conv.bias)


def conv_pool(x: torch.Tensor, layer: nn.Sequential) -> torch.Tensor:
    """``max_pool(act(conv(x)))`` of a (conv, activation) pair, computed as
    ``act(max_pool(conv_without_bias(x)) + bias)``: equal for any non-decreasing activation (ReLU),
    since a per-channel constant and ReLU both commute with the max; the bias, the activation and
    their gradients then touch a quarter of the values. 2x2 pooling, rounding up like Keras
    'same'."""
    conv, act = layer
    if _observed(conv):
        return act(F.max_pool2d(conv(x), 2, ceil_mode=True))
    return act(
        add_bias(
            F.max_pool2d(conv._conv_forward(x, conv.weight, None), 2, ceil_mode=True), conv.bias
        )
    )


def _observed(module: nn.Module) -> bool:
    """Whether forward hooks watch ``module`` (feature-map pictures do): then the fused layers call
    it as it is, so the hooks see its real input and output."""
    return bool(module._forward_hooks or module._forward_pre_hooks)


def add_bias(y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``y`` plus a per-channel bias, in place (``y`` is a fresh output no backward pass needs).

    Why not the convolution's own bias: oneDNN's bias gradient for a transposed convolution costs
    more than its weight gradient (measured on 128 x 32 x 28 x 28 maps in bf16: 10.3 ms for the
    backward pass with the bias, 4.6 ms without; autograd sums the added bias's gradient in 0.14
    ms)."""
    return y if bias is None else y.add_(bias.to(y.dtype).view(1, -1, 1, 1))


class FeatureMap(nn.Module):
    """Rows of ``C * H * W`` values as ``C x H x W`` maps (``nn.Unflatten``), laid out channels-last
    on the CPU like the convolution weights that read them: a map in the other layout made oneDNN
    reorder it in every pass, and the next transposed convolution's backward pass took 11.6 ms
    instead of 7.3 (bf16, 128 x 64 x 14 x 14)."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = x.view(-1, *self.shape)
        return (
            maps.contiguous(memory_format=torch.channels_last)
            if maps.device.type == "cpu"
            else maps
        )


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, same outputs) with the bias added after the
    convolution: a faster backward pass (see ``add_bias``)."""

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        output_padding = self._output_padding(
            input, output_size, self.stride, self.padding, self.kernel_size, 2, self.dilation
        )
        # no backward pass: the convolution adds the bias in passing
        if not torch.is_grad_enabled():
            return F.conv_transpose2d(
                input,
                self.weight,
                self.bias,
                self.stride,
                self.padding,
                output_padding,
                self.groups,
                self.dilation,
            )
        y = F.conv_transpose2d(
            input,
            self.weight,
            None,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )
        return add_bias(y, self.bias)


def _tap_windows(
    dy: int, dx: int, h: int, w: int
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Output and input windows of one 3x3 tap at offset (dy, dx) with zero padding 1: output
    (i, j) reads input (i + dy, j + dx) wherever that lies inside the map."""
    out = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
    inp = (slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx)))
    return out, inp


class _TapConv(torch.autograd.Function):
    """A 3x3, padding-1 convolution to a few channels as one matrix product (every channel's nine
    taps at every pixel) and nine shifted sums; the backward pass likewise. Sums run in at least
    float32, so under bf16 autocast the output is float32."""

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        n, c, h, w = x.shape
        o = weight.shape[0]
        rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # a view when x is channels-last
        taps = weight.to(x.dtype).permute(0, 2, 3, 1).reshape(o * 9, c)
        planes = taps @ rows.t()
        planes = planes.to(torch.promote_types(planes.dtype, torch.float32)).view(o, 3, 3, n, h, w)
        y = planes[:, 1, 1].clone()
        for ky in range(3):
            for kx in range(3):
                if (ky, kx) != (1, 1):
                    (yi, yj), (pi, pj) = _tap_windows(ky - 1, kx - 1, h, w)
                    y[:, :, yi, yj] += planes[:, ky, kx, :, pi, pj]
        if bias is not None:
            y += bias.to(y.dtype).view(-1, 1, 1, 1)
        ctx.save_for_backward(rows, taps)
        ctx.shape, ctx.weight_dtype, ctx.has_bias = (n, c, h, w), weight.dtype, bias is not None
        return y.transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, taps = ctx.saved_tensors
        n, c, h, w = ctx.shape
        o = taps.shape[0] // 9
        g = grad.transpose(0, 1)  # (o, n, h, w)
        # the gradient reaching each tap's plane is the output gradient shifted back
        spread = rows.new_zeros((o, 3, 3, n, h, w))
        for ky in range(3):
            for kx in range(3):
                (yi, yj), (pi, pj) = _tap_windows(ky - 1, kx - 1, h, w)
                spread[:, ky, kx, :, pi, pj] = g[:, :, yi, yj]
        spread = spread.view(o * 9, -1)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (spread.t() @ taps).view(n, h, w, c).permute(0, 3, 1, 2)  # channels-last
        if ctx.needs_input_grad[1]:
            grad_w = (spread @ rows).view(o, 3, 3, c).permute(0, 3, 1, 2).to(ctx.weight_dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b


class NarrowConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same outputs) that computes a 3x3, padding-1 convolution
    to at most four channels, the last layer that turns feature maps into an image, as a
    matrix product and shifted sums: oneDNN ran it at ~21 GFLOP/s (one output channel, 512 x 32 x
    28 x 28 maps in bf16, 10.8 ms), a third of the IWAE decoder's time; this way 5-6 ms."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if (
            self.out_channels > 4
            or self.kernel_size != (3, 3)
            or self.padding != (1, 1)
            or self.stride != (1, 1)
            or self.dilation != (1, 1)
            or self.groups != 1
            or self.padding_mode != "zeros"
            or input.dim() != 4
        ):
            return super().forward(input)
        return _TapConv.apply(input, self.weight, self.bias)
