"""The residual family: depth follows the image size, any channel count, vector or map codes,
a training run that beats the mean image, and the PatchGAN term that trains each side only."""

from __future__ import annotations

import pytest
import torch

from aekit.errors import ConfigError
from aekit.models import build_model
from aekit.models.resnet import plan


@pytest.mark.parametrize(
    ("shape", "stages", "smallest"),
    [
        ((3, 16, 16), 2, (4, 4)),
        ((4, 32, 32), 3, (4, 4)),
        ((1, 256, 256), 6, (4, 4)),
        ((2, 64, 48), 3, (8, 6)),
        ((3, 28, 20), 2, (7, 5)),
        ((4, 40, 24), 2, (10, 6)),
    ],
)
def test_depth_follows_the_image_size(shape, stages, smallest):
    widths, sizes = plan(shape, 16, 128)
    assert (
        len(sizes) == stages + 1
        and sizes[-1] == smallest
        and widths[-1] == min(16 * 2**stages, 128)
    )
    if max(shape[1:]) <= 64:
        model = build_model(
            "res-vae", {"width": 8, "max_width": 32, "likelihood": "logistic"}, shape
        )
        assert len(model.encoder.down) == stages
        x = torch.rand(2, *shape)
        assert model.reconstruct(x).shape == x.shape and model.sample(3).shape == (3, *shape)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("name", ["res-ae", "res-vae"])
def test_any_channel_count_and_channels_last(name, channels):
    model = build_model(name, {"width": 8, "max_width": 16}, (channels, 16, 16)).to(
        memory_format=torch.channels_last
    )
    x = torch.rand(3, channels, 16, 16).contiguous(memory_format=torch.channels_last)
    model.loss(x)["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.reconstruct(x).shape == x.shape
    assert any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())


def test_spatial_latent_codes_a_feature_map():
    model = build_model(
        "res-vae", {"spatial_latent": True, "latent_channels": 3, "width": 8}, (4, 32, 32)
    )
    x = torch.rand(2, 4, 32, 32)
    code = model.encode(x)
    assert model.spatial_code and not build_model("res-vae", {}, (4, 32, 32)).spatial_code
    assert code.shape == (2, 3, 4, 4) and model.latent_dim == 48
    assert model.decode(code).shape == x.shape and model.sample(5).shape == (5, 4, 32, 32)
    # the likelihood bounds work with map codes (they flatten the code for the Gaussian densities)
    from aekit.metrics import nll_bounds

    elbo, iwae = nll_bounds(
        model, (x * 255).round() / 255, k=4, generator=torch.Generator().manual_seed(0)
    )
    assert elbo.shape == (2,) and torch.isfinite(iwae).all() and (iwae <= elbo + 1e-3).all()


def _squares(n: int, seed: int = 0) -> torch.Tensor:
    """Opaque squares of one colour at random places on a transparent 16 x 16 (premultiplied
    RGBA)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 4, 16, 16)
    for i in range(n):
        top, left = torch.randint(0, 10, (2,), generator=g).tolist()
        x[i, :3, top : top + 6, left : left + 6] = torch.rand(3, 1, 1, generator=g)
        x[i, 3, top : top + 6, left : left + 6] = 1
    return x


def _fit(model: torch.nn.Module, x: torch.Tensor, steps: int, lr: float) -> None:
    """``steps`` full-batch Adam steps on the model's own loss."""
    optimiser = torch.optim.Adam(model.parameters(), lr)
    for _ in range(steps):
        loss = model.loss(x)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def test_training_beats_the_mean_image():
    """60 Adam steps of res-ae on coloured rectangles: reconstructions far closer than the mean
    image (PCA with the same code size needs ~120 steps to beat: too slow for a unit test here)."""
    x = _squares(64)[:, :3]  # colour only
    torch.manual_seed(0)
    model = build_model("res-ae", {"latent_dim": 8, "width": 16, "max_width": 32}, (3, 16, 16))
    _fit(model, x, steps=60, lr=3e-3)
    with torch.no_grad():
        mse = float(((model.reconstruct(x) - x) ** 2).mean())
    baseline = float(((x.mean(0, keepdim=True) - x) ** 2).mean())
    assert mse < 0.5 * baseline, (mse, baseline)


def test_adversarial_term_trains_each_side_only():
    torch.manual_seed(0)
    model = build_model(
        "res-vae", {"likelihood": "logistic", "adversarial_weight": 0.5, "width": 8}, (4, 16, 16)
    )
    assert not model.loss_is_elbo and build_model("res-vae", {}, (4, 16, 16)).loss_is_elbo
    terms = model.loss(torch.rand(4, 4, 16, 16))
    assert {"adversarial", "discriminator", "neg_elbo"} <= set(terms)
    critic = list(model.discriminator.parameters())
    decoder = list(model.decoder.parameters())

    def grads(term: str) -> tuple[list, list]:
        # .backward() and .grad, not torch.autograd.grad: asking autograd.grad for the decoder's
        # parameters alone crashed torch 2.13 on this CPU (a segfault inside the engine)
        model.zero_grad(set_to_none=True)
        terms[term].backward(retain_graph=True)
        return [p.grad for p in critic], [p.grad for p in decoder]

    critic_grads, decoder_grads = grads("adversarial")
    assert all(g is None for g in critic_grads)  # the discriminator does not learn to be fooled
    assert any(g is not None and g.abs().sum() > 0 for g in decoder_grads)  # the decoder does
    critic_grads, decoder_grads = grads("discriminator")
    # the decoder gets nothing from the critic's own loss
    assert all(g is None for g in decoder_grads)
    assert all(g is not None for g in critic_grads) and any(g.abs().sum() > 0 for g in critic_grads)
    # the total adds both, and the ELBO terms stay the exact bound
    assert torch.allclose(
        terms["loss"],
        terms["recon"] + terms["kl"] + 0.5 * terms["adversarial"] + terms["discriminator"],
    )


def test_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="width"):
        build_model("res-vae", {"width": 64, "max_width": 32}, (3, 32, 32))
    with pytest.raises(ConfigError, match="adversarial_weight"):
        build_model("res-vae", {"adversarial_weight": -1.0}, (3, 32, 32))


@pytest.mark.parametrize(
    "likelihood", ["logistic", "logistic-pixel", "logistic-image", "gaussian-channel"]
)
@pytest.mark.parametrize("spatial", [False, True])
def test_linear_path_starts_as_pca_and_then_learns(likelihood, spatial):
    """Before the first step a linear_path model reconstructs exactly as PCA with its code size
    (the evaluation's baseline), its codes have unit variance like the prior's, and training goes
    below PCA on the training images."""
    from aekit.metrics import fit_pca, mse, pca_reconstruct

    x = _squares(96)
    options = {
        "latent_dim": 8,
        "width": 8,
        "max_width": 16,
        "likelihood": likelihood,
        "linear_path": True,
        "spatial_latent": spatial,
        "latent_channels": 1,
    }
    torch.manual_seed(0)
    model = build_model("res-vae", options, (4, 16, 16))
    model.init_from_data(x)
    model.eval()
    pca = fit_pca(x, model.latent_dim)
    pca_error = mse(pca_reconstruct(pca, x), x)
    with torch.no_grad():
        assert mse(model.reconstruct(x), x) == pytest.approx(pca_error, rel=1e-4)
        codes = model.encode(x).flatten(1)
    assert codes.std(0).sub(1).abs().max() < 1e-3 and codes.mean(0).abs().max() < 1e-4
    model.train()
    _fit(model, x, steps=120, lr=1e-3)
    model.eval()
    with torch.no_grad():
        assert mse(model.reconstruct(x), x) < pca_error


def test_linear_path_needs_pixel_values_and_enough_images():
    with pytest.raises(ConfigError, match="linear_path.*bernoulli"):
        build_model("res-vae", {"linear_path": True, "likelihood": "bernoulli"}, (1, 16, 16))
    model = build_model(
        "res-vae", {"linear_path": True, "likelihood": "logistic", "latent_dim": 32}, (1, 16, 16)
    )
    with pytest.raises(ConfigError, match="at least latent_dim = 32 training images"):
        model.init_from_data(torch.rand(10, 1, 16, 16))
