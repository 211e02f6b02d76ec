"""Priors: exact densities (the flow integrates to 1, the mixture matches scikit-learn), both beat one
Gaussian on codes that are not Gaussian, class-conditional sampling, and the run-folder rules
(fingerprint, too few codes, the CLI)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main
from aekit.config import TrainConfig
from aekit.errors import AekitError, ConfigError
from aekit.priors import FlowPrior, GMMPrior, fit_prior, fitted_priors, load_prior


def _two_rings(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 on a ring of radius 3, class 1 a small blob at (6, 0): far from one Gaussian."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=g)
    angle = torch.rand(n, generator=g) * 2 * math.pi
    ring = torch.stack([angle.cos(), angle.sin()], 1) * 3
    codes = torch.where(labels.unsqueeze(1) == 0, ring, torch.tensor([6.0, 0.0])) + 0.2 * torch.randn(n, 2, generator=g)
    return codes, labels


def _one_gaussian_log_prob(train: torch.Tensor, test: torch.Tensor) -> float:
    """The strongest simple baseline: one full-covariance Gaussian fitted to the codes."""
    dist = torch.distributions.MultivariateNormal(train.mean(0), torch.cov(train.T))
    return float(dist.log_prob(test).mean())


def test_flow_density_integrates_to_one_and_inverts_exactly():
    codes, labels = _two_rings(2000, 0)
    flow = FlowPrior((2,), 2, layers=6, hidden=32, steps=300).fit(codes, labels)
    grid = torch.linspace(-6, 10, 321)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    points = torch.stack([xx.flatten(), yy.flatten()], 1)
    cell = float(grid[1] - grid[0]) ** 2
    with torch.no_grad():
        for c in (0, 1):  # each class density is normalised (a wrong log-determinant would not be)
            mass = float(flow.log_prob(points, torch.full((len(points),), c)).exp().sum()) * cell
            assert mass == pytest.approx(1.0, abs=0.03)
        marginal = float(flow.log_prob(points).exp().sum()) * cell
        assert marginal == pytest.approx(1.0, abs=0.03)
        u = torch.randn(5, 2)
        context = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 1, 1]), 2).float()
        x = u.clone()
        for coupling in reversed(flow.couplings):
            x = coupling.inverse(x, context)
        for coupling in flow.couplings:
            x, _ = coupling(x, context)
        assert torch.allclose(x, u, atol=1e-5)


def test_gmm_and_flow_beat_one_gaussian_and_sample_the_class_asked_for():
    train, train_labels = _two_rings(3000, 1)
    test, test_labels = _two_rings(1000, 2)
    baseline = _one_gaussian_log_prob(train, test)
    gmm = GMMPrior((2,), 2, components=8).fit(train, train_labels)
    flow = FlowPrior((2,), 2, layers=6, hidden=64, steps=600).fit(train, train_labels)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for prior in (gmm, flow):
            assert float(prior.log_prob(test).mean()) > baseline + 1.0, prior.name
            # given the class, the density is higher still (the classes barely overlap)
            assert float(prior.log_prob(test, test_labels).mean()) > float(prior.log_prob(test).mean()) + 0.5
            blob = prior.sample(500, generator=g, labels=torch.ones(500, dtype=torch.long))
            ring = prior.sample(500, generator=g, labels=torch.zeros(500, dtype=torch.long))
            assert (blob - torch.tensor([6.0, 0.0])).norm(dim=1).median() < 0.5, prior.name
            assert (ring.norm(dim=1).median() - 3).abs() < 0.3, prior.name
            mixed = prior.sample(1000, generator=g)
            share = float(((mixed - torch.tensor([6.0, 0.0])).norm(dim=1) < 1).float().mean())
            assert abs(share - float(train_labels.float().mean())) < 0.06  # classes in their training proportions


def test_gmm_log_prob_matches_scikit_learn():
    from sklearn.mixture import GaussianMixture

    codes, _ = _two_rings(1500, 3)
    gmm = GMMPrior((2,), None, components=5).fit(codes, None, seed=0)
    reference = GaussianMixture(5, covariance_type="full", reg_covar=1e-4, random_state=0).fit(codes.double().numpy())
    expected = reference.score_samples(codes[:100].double().numpy())
    assert np.allclose(gmm.log_prob(codes[:100]).numpy(), expected, atol=1e-3)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("priors") / "vae"
    aekit.train(TrainConfig(model="vae", dataset="digits", epochs=15, batch_size=64, out=str(out), quiet=True,
                            model_options={"latent_dim": 4, "hidden": [128]}))
    return out


def test_fit_save_load_sample_and_refuse_other_weights(vae_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    path = fit_prior(run, "gmm", components=3, draws=1)
    info = json.loads(path.read_text())
    assert info["prior"] == "gmm" and info["class_conditional"] is True and "2694 codes of 1347 training images" in info["fitted_to"]
    fit_prior(run, "flow", layers=4, hidden=32, steps=200)
    assert fitted_priors(run) == ["gmm", "flow"]
    model = aekit.load(run)
    for name in ("gmm", "flow"):
        prior = load_prior(run, name)
        labels = torch.arange(10).repeat(3)
        codes = prior.sample(30, generator=torch.Generator().manual_seed(0), labels=labels)
        assert codes.shape == (30, 4) and torch.isfinite(prior.log_prob(codes, labels)).all()
        assert model.decode(codes).shape == (30, 1, 8, 8)
    # both priors score the codes of held-out digits above N(0, I), the prior the VAE was trained towards
    info_gmm, info_flow = (json.loads((run / f"prior-{n}.json").read_text()) for n in ("gmm", "flow"))
    from aekit.data import load, train_val_split
    from aekit.priors import training_codes

    heldout = train_val_split(load("digits", "train"), 0.1, 0)[1]
    codes = training_codes(model, heldout.images[:2000])
    standard = float(torch.distributions.Normal(0.0, 1.0).log_prob(codes).sum(1).mean())
    assert info_gmm["heldout_log_prob"] > standard and info_flow["heldout_log_prob"] > standard

    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")  # other weights: another run, or trained further
    with pytest.raises(AekitError, match="fitted to other weights"):
        load_prior(run, "gmm")


def test_too_few_codes_wrong_prior_and_cli(vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    with pytest.raises(ConfigError, match=r"class 0 has \d+ codes for 500 mixture components"):
        fit_prior(run, "gmm", components=500)
    with pytest.raises(ConfigError, match="pixelcnn is the prior of vq-vae"):
        fit_prior(run, "pixelcnn")
    with pytest.raises(AekitError, match="no prior 'flow' here"):
        load_prior(run, "flow")
    assert main(["fit-prior", str(run), "--prior", "gmm", "--components", "2", "--quiet"]) == 0
    assert "prior-gmm.json" in capsys.readouterr().out
    assert main(["fit-prior", str(run), "--prior", "gmm", "--components", "0"]) == 2
    assert "--components must be at least 1" in capsys.readouterr().err
    # aekit sample --prior: the same seed gives the same files, and other files than N(0, I) gives
    for name, extra in (("a", ["--prior", "gmm"]), ("b", ["--prior", "gmm"]), ("c", [])):
        assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / name), *extra]) == 0
    files = {name: [p.read_bytes() for p in sorted((tmp_path / name).glob("*.png"))] for name in "abc"}
    assert len(files["a"]) == 4 and files["a"] == files["b"] and files["a"] != files["c"]


def test_pixelcnn_prior_refit_scores_held_out_maps_better(tmp_path: Path):
    out = tmp_path / "vq"
    aekit.train(TrainConfig(model="vq-vae", dataset="digits", epochs=1, max_train_images=400, out=str(out), quiet=True,
                            model_options={"channels": [16, 16], "codebook_size": 16, "code_dim": 4,
                                           "prior_channels": 16, "prior_layers": 2}))
    with pytest.raises(ConfigError, match="use --prior pixelcnn"):
        fit_prior(out, "gmm")
    fit_prior(out, "pixelcnn", steps=300)
    prior = load_prior(out, "pixelcnn")
    model = aekit.load(out)
    from aekit.data import load, train_val_split
    from aekit.priors import training_codes

    heldout = train_val_split(load("digits", "train"), 0.1, 0)[1]
    maps = training_codes(model, heldout.images)
    with torch.no_grad():
        refit, joint = float(prior.log_prob(maps).mean()), float(model.prior.log_prob(maps).mean())
    assert refit > joint  # more steps on the final codes than the prior had while they moved
    samples = prior.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (5, 2, 2) and samples.dtype == torch.long
    assert model.decode(samples).shape == (5, 1, 8, 8)


def test_evaluate_adds_a_column_per_prior(vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from aekit.evaluate import evaluate_run

    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    fit_prior(run, "gmm", components=2)
    fit_prior(run, "flow", layers=2, hidden=16, steps=50)
    result = evaluate_run(run, iwae_k=2, max_images=300, priors=["all"])
    samples = result["sections"]["samples"]
    for metric in ("frechet", "coverage", "precision", "recall"):
        assert {"model", "prior gmm", "prior flow", "held-out real images (floor)"} <= set(samples[metric]), metric
    assert all(0 <= samples[m][c] <= 1 for m in ("precision", "recall") for c in samples[m])
    # class-conditional priors are asked for the hold-out's classes; the floor is the classifier's accuracy
    assert {"prior gmm", "prior flow", "held-out real images (floor)", "chance"} <= set(samples["class_match"])
    assert samples["class_match"]["prior gmm"] > 2 * samples["class_match"]["chance"]
    (run / "prior-flow.json").write_text((run / "prior-flow.json").read_text().replace('"model_fingerprint": "', '"model_fingerprint": "0'))
    assert main(["evaluate", str(run), "--prior", "flow", "--quiet"]) == 2  # refused before any work
    assert "fitted to other weights" in capsys.readouterr().err
