"""The checks that make the models trustworthy: PCA subspace, exact KL, exact Jacobian, and
that a short training lowers every family's loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from aekit.models import MODELS, build_model
from aekit.models.vae import gaussian_kl


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    data = load_digits().data.astype(np.float32) / 16.0
    return torch.from_numpy(data).view(-1, 1, 8, 8)


def _fit(model, x, steps, lr=1e-2, labels=None, batch=None):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        idx = torch.randint(len(x), (batch,), generator=generator) if batch else slice(None)
        cond = None if labels is None else labels[idx]
        loss = model.loss(x[idx], condition=cond, step=step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def test_linear_autoencoder_spans_the_pca_subspace(digits):
    torch.manual_seed(0)
    k = 8
    model = build_model("linear", {"latent_dim": k}, (1, 8, 8))
    optimizer = torch.optim.LBFGS(
        model.parameters(), max_iter=500, history_size=50, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = model.loss(digits)["loss"]
        loss.backward()
        return loss

    optimizer.step(closure)
    flat = digits.flatten(1).numpy()
    components = PCA(n_components=k).fit(flat).components_.T
    angles = np.degrees(subspace_angles(model.decoder.weight.detach().double().numpy(), components))
    assert angles.max() < 5, angles


def test_analytic_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4) * 0.5
    z = mu + torch.randn(200_000, 3, 4) * torch.exp(0.5 * logvar)
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    monte_carlo = (log_q - log_p).mean(0)
    assert torch.allclose(gaussian_kl(mu, logvar), monte_carlo, rtol=0.01, atol=0.01)


def test_vae_loss_is_the_exact_negative_elbo_with_warmup():
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 3, "beta": 2.0, "warmup_steps": 10}, (1, 8, 8))
    x = torch.bernoulli(torch.rand(6, 1, 8, 8))
    assert (
        model.kl_weight(0) == 0
        and model.kl_weight(5) == pytest.approx(1.0)
        and model.kl_weight(50) == 2.0
    )
    torch.manual_seed(1)
    terms = {k: float(v.detach()) for k, v in model.loss(x, step=5).items()}
    assert terms["neg_elbo"] == pytest.approx(terms["recon"] + terms["kl"])
    assert terms["loss"] == pytest.approx(terms["recon"] + terms["kl"])  # beta_t = 2 * 5/10
    # log p(x|z) is a proper Bernoulli log-mass: for logits 0 it is -64 log 2 per 8x8 image
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        log_px = model.log_likelihood(x, torch.zeros(6, 3))
    assert torch.allclose(log_px, torch.full((6,), -64 * math.log(2)))


def test_gaussian_likelihood_is_a_density():
    model = build_model(
        "vae", {"latent_dim": 2, "likelihood": "gaussian", "gaussian_sigma": 0.5}, (1, 2, 2)
    )
    x, z = torch.rand(3, 1, 2, 2), torch.randn(3, 2)
    mean = model.decoder_params(z)
    expected = torch.distributions.Normal(mean, 0.5).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(model.log_likelihood(x, z), expected, atol=1e-5)
    assert not any(name == "log_sigma" for name, _ in model.named_parameters())  # fixed sigma
    learned = build_model("vae", {"likelihood": "gaussian"}, (1, 2, 2))
    assert any(name == "log_sigma" for name, _ in learned.named_parameters())


def test_contractive_penalty_is_the_exact_jacobian_norm():
    torch.manual_seed(0)
    model = build_model("contractive", {"latent_dim": 3, "hidden": [5]}, (1, 2, 3)).double()
    x = torch.rand(2, 1, 2, 3, dtype=torch.float64)
    exact = model.jacobian_norm(x).detach()
    for i in range(2):
        jac = torch.autograd.functional.jacobian(
            lambda v: model.encode(v.view(1, 1, 2, 3))[0], x[i].flatten()
        )
        # central finite differences
        eps = 1e-6
        with torch.no_grad():
            fd = torch.stack(
                [
                    (
                        model.encode((x[i].flatten() + eps * e).view(1, 1, 2, 3))[0]
                        - model.encode((x[i].flatten() - eps * e).view(1, 1, 2, 3))[0]
                    )
                    / (2 * eps)
                    for e in torch.eye(6, dtype=torch.float64)
                ],
                1,
            )
        assert torch.allclose(jac, fd, atol=1e-7)
        assert exact[i] == pytest.approx(float(fd.pow(2).sum()), rel=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_short_training_lowers_the_loss(name, digits):
    if MODELS[name].condition_kind == "footprint":
        pytest.skip(
            "plan-vae draws floor plans, not digits: tests/models/test_plan_vae.py trains it"
        )
    torch.manual_seed(0)
    labels = torch.from_numpy(load_digits().target)
    model = build_model(
        name, {"condition_kind": "label"} if name == "cvae" else {}, (1, 8, 8), num_classes=10
    )
    x = digits[:512]
    lab = labels[:512] if model.conditional else None
    torch.manual_seed(0)
    before = model.loss(x, condition=lab)["loss"].item()
    _fit(model, x, steps=60, lr=3e-3, labels=lab, batch=64)
    torch.manual_seed(0)
    after = model.loss(x, condition=lab)["loss"].item()
    assert after < 0.9 * before, (before, after)


@pytest.mark.real_data
def test_tutorial_denoiser_learns_real_digits_instead_of_going_black(monkeypatch):
    """Trained with the tutorial's MSE through a sigmoid, this network saturates to a black image
    on MNIST within ~50 Adam steps; the default cross-entropy must keep learning."""
    import os
    from pathlib import Path

    from aekit.data import load
    from aekit.data.noise import parse_noise

    roots = [os.environ.get("AEKIT_DATA"), Path(__file__).parents[3] / "shared" / "data"]
    root = next((r for r in roots if r and (Path(r) / "mnist").is_dir()), None)
    if root is None:
        pytest.skip("no real MNIST here")
    monkeypatch.setenv("AEKIT_DATA", str(root))
    x = load("mnist", "test").images[:4096]
    noisy = parse_noise("salt-pepper:0.1")(x, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = build_model("tutorial-dae", {}, (1, 28, 28))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(len(x), (64,), generator=generator)
        loss = model.loss(noisy[idx], target=x[idx])["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.inference_mode():
        mse = torch.nn.functional.mse_loss(model.reconstruct(noisy[:512]), x[:512]).item()
    mean_image_mse = ((x[:512] - x.mean(0)) ** 2).mean().item()
    assert mse < 0.7 * mean_image_mse, (mse, mean_image_mse)
