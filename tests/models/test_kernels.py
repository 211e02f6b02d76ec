"""The fused layers compute exactly the plain layers they replace: values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aekit.models import build_model
from aekit.models.kernels import ConvTranspose2d, FeatureMap, NarrowConv2d, conv_pool, upsample_conv


def _assert_same_gradients(fused, plain, fused_inputs, plain_inputs):
    g = torch.randn_like(plain)
    for a, b in zip(
        torch.autograd.grad(fused, fused_inputs, g), torch.autograd.grad(plain, plain_inputs, g)
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "shape, size", [((3, 16, 7, 7), (14, 14)), ((2, 8, 5, 6), (10, 12)), ((2, 8, 4, 4), (7, 7))]
)
def test_upsample_conv_equals_upsampling_then_convolution(shape, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(shape[1], 5, 3, padding=1).double()
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    plain = conv(F.interpolate(x, size=size, mode="nearest"))
    fused = upsample_conv(x, conv, size)
    torch.testing.assert_close(fused, plain)
    _assert_same_gradients(fused, plain, [x, conv.weight, conv.bias], [x, conv.weight, conv.bias])


def test_conv_pool_equals_pooling_after_the_activation():
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU()).double()
    x = torch.randn(3, 2, 7, 9, dtype=torch.float64)
    plain = F.max_pool2d(layer(x), 2, ceil_mode=True)
    fused = conv_pool(x, layer)
    torch.testing.assert_close(fused, plain)
    _assert_same_gradients(
        fused, plain, [layer[0].weight, layer[0].bias], [layer[0].weight, layer[0].bias]
    )


@pytest.mark.parametrize("kernel, output_padding", [(4, 0), (3, 1)])
def test_conv_transpose_with_the_bias_added_after_equals_torchs(kernel, output_padding):
    torch.manual_seed(0)
    plain = nn.ConvTranspose2d(
        6, 4, kernel, stride=2, padding=1, output_padding=output_padding
    ).double()
    fused = ConvTranspose2d(
        6, 4, kernel, stride=2, padding=1, output_padding=output_padding
    ).double()
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(3, 6, 5, 7, dtype=torch.float64, requires_grad=True)
    a, b = fused(x), plain(x)
    torch.testing.assert_close(a, b)
    _assert_same_gradients(a, b, [x, fused.weight, fused.bias], [x, plain.weight, plain.bias])
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), plain(x))


@pytest.mark.parametrize("out_channels", [1, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_narrow_conv_equals_torchs_convolution(out_channels, channels_last):
    torch.manual_seed(0)
    plain = nn.Conv2d(5, out_channels, 3, padding=1).double()
    narrow = NarrowConv2d(5, out_channels, 3, padding=1).double()
    narrow.load_state_dict(plain.state_dict())
    x = torch.randn(4, 5, 7, 6, dtype=torch.float64, requires_grad=True)
    x_in = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    a, b = narrow(x_in), plain(x_in)
    torch.testing.assert_close(a, b)
    _assert_same_gradients(a, b, [x, narrow.weight, narrow.bias], [x, plain.weight, plain.bias])


def test_narrow_conv_under_bf16_autocast_is_close_and_float32():
    torch.manual_seed(0)
    narrow = NarrowConv2d(32, 1, 3, padding=1)
    x = torch.relu(torch.randn(8, 32, 28, 28)).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = narrow(x.bfloat16())
    assert y.dtype == torch.float32
    torch.testing.assert_close(
        y, F.conv2d(x, narrow.weight, narrow.bias, padding=1), atol=0.05, rtol=0.02
    )


def test_narrow_conv_takes_torchs_path_for_other_shapes():
    wide = NarrowConv2d(4, 8, 3, padding=1)
    strided = NarrowConv2d(4, 1, 3, padding=1, stride=2)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(wide(x), F.conv2d(x, wide.weight, wide.bias, padding=1))
    torch.testing.assert_close(
        strided(x), F.conv2d(x, strided.weight, strided.bias, stride=2, padding=1)
    )


def test_feature_map_is_unflatten_in_the_layout_of_the_weights():
    x = torch.randn(3, 2 * 4 * 5)
    maps = FeatureMap((2, 4, 5))(x)
    torch.testing.assert_close(maps, x.view(3, 2, 4, 5))
    assert maps.is_contiguous(memory_format=torch.channels_last)


def _plain_tutorial_dae(model, x):
    """The tutorial's denoiser written the obvious way: ReLU, pool; convolve, upsample."""
    sizes = model._sizes()
    for layer in model.enc:
        x = F.max_pool2d(layer(x), 2, ceil_mode=True)
    for layer, size in zip(model.dec, reversed(sizes[:-1])):
        x = F.interpolate(layer(x), size=size, mode="nearest")
    return model.out(x)


@pytest.mark.parametrize("hw", [(28, 28), (27, 30)])
def test_tutorial_dae_computes_the_plain_network(hw):
    torch.manual_seed(0)
    model = build_model("tutorial-dae", {}, (1, *hw)).double()
    x = torch.rand(4, 1, *hw, dtype=torch.float64)
    torch.testing.assert_close(model.decode_logits(model.encode(x)), _plain_tutorial_dae(model, x))


def test_tutorial_docs_computes_the_plain_network():
    torch.manual_seed(0)
    model = build_model("tutorial-docs", {"filters": 8, "latent_dim": 8}, (1, 20, 22)).double()
    x = torch.rand(2, 1, 20, 22, dtype=torch.float64)
    z = model.conv2(F.max_pool2d(model.conv1(x), 2, ceil_mode=True))
    plain = model.out(F.interpolate(z, scale_factor=2, mode="nearest")).sigmoid()
    torch.testing.assert_close(model.decode(model.encode(x)), plain)


def test_hooks_on_a_fused_layer_see_its_real_input_and_output():
    """Feature-map pictures hook a convolution: the fused layers then run it as a module."""
    torch.manual_seed(0)
    model = build_model("tutorial-dae", {}, (1, 28, 28)).double()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    expected = model.decode_logits(model.encode(x))
    seen = {}
    hooks = [
        model.enc[0][0].register_forward_hook(lambda m, i, o: seen.update(first=o.shape)),
        model.out.register_forward_hook(lambda m, i, o: seen.update(out=i[0].shape)),
    ]
    try:
        torch.testing.assert_close(model.decode_logits(model.encode(x)), expected)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen == {"first": (2, 64, 28, 28), "out": (2, 64, 28, 28)}
