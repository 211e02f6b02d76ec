"""Every metric against a hand-computed case, on tiny tensors and a tiny stand-in VAE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from aekit import metrics
from aekit.models.base import Autoencoder


class TinyVAE(nn.Module):
    """A dense Bernoulli VAE exposing just ``posterior`` and ``log_likelihood``."""

    likelihood = "bernoulli"
    log_likelihood_k = Autoencoder.log_likelihood_k  # the base class's: x repeated for each draw

    def __init__(self, pixels: int = 16, latent: int = 2):
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.Linear(pixels, 2 * latent)
        self.dec = nn.Linear(latent, pixels)

    def posterior(
        self, x: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def log_likelihood(
        self, x: torch.Tensor, z: torch.Tensor, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        logits = self.dec(z)
        return -F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)


def test_psnr_of_a_known_mse():
    target = torch.zeros(2, 1, 4, 4)
    pred = torch.full((2, 1, 4, 4), 0.1)  # MSE 0.01 -> 20 dB
    assert metrics.mse(pred, target) == pytest.approx(0.01)
    assert metrics.psnr(pred, target) == pytest.approx(20.0, abs=1e-4)
    assert metrics.psnr_from_mse(0.001) == pytest.approx(30.0)


def test_ssim_of_identical_images_is_one_and_lower_for_noise():
    images = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert metrics.ssim(images, images) == pytest.approx(1.0)
    assert metrics.ssim((images + 0.3 * torch.randn_like(images)).clamp(0, 1), images) < 0.9


def test_page_rmse_weights_pixels_not_pages():
    small, big = torch.zeros(1, 2, 2), torch.zeros(1, 4, 4)
    pred = [torch.ones(1, 2, 2), torch.zeros(1, 4, 4)]  # 4 wrong pixels out of 20
    assert metrics.page_rmse(pred, [small, big]) == pytest.approx(math.sqrt(4 / 20))


def test_median_filter_improves_psnr_on_salt_and_pepper():
    clean = torch.zeros(4, 1, 16, 16)
    clean[:, :, 4:12, 4:12] = 1.0
    gen = torch.Generator().manual_seed(0)
    hit = torch.rand(clean.shape, generator=gen) < 0.1
    noisy = torch.where(hit, (torch.rand(clean.shape, generator=gen) < 0.5).float(), clean)
    assert metrics.psnr(metrics.median_filter(noisy), clean) > metrics.psnr(noisy, clean) + 3


def test_background_subtraction_removes_a_stain_and_keeps_text():
    page = torch.full((1, 40, 40), 0.9)
    page[:, :, :20] = 0.6  # a darker stain over the left half
    page[:, 18:22, 5:35] *= 0.2  # a text stroke across both halves
    cleaned = metrics.background_subtraction(page)
    clean = torch.ones(1, 40, 40)
    clean[:, 18:22, 5:35] = 0.0
    assert metrics.page_rmse([cleaned], [clean]) < metrics.page_rmse([page], [clean]) / 2


def test_pca_reconstruction_is_exact_in_its_subspace_and_samples_have_the_shape():
    gen = torch.Generator().manual_seed(0)
    basis = torch.rand(3, 16, generator=gen)
    images = (0.2 * torch.rand(50, 3, generator=gen) @ basis).reshape(50, 1, 4, 4)
    pca = metrics.fit_pca(images, 3)
    assert metrics.mse(metrics.pca_reconstruct(pca, images), images) < 1e-10
    assert metrics.pca_gaussian_samples(pca, 7, (1, 4, 4)).shape == (7, 1, 4, 4)


def test_iwae_with_one_sample_equals_the_elbo_estimate():
    vae = TinyVAE()
    x = torch.bernoulli(torch.rand(5, 16, generator=torch.Generator().manual_seed(1)))
    elbo, iwae = metrics.nll_bounds(vae, x, k=1, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(elbo, iwae)
    # the same seed gives the same estimate, however the samples are chunked
    again, _ = metrics.nll_bounds(
        vae, x, k=1, generator=torch.Generator().manual_seed(3), samples_per_pass=1
    )
    assert torch.allclose(elbo, again)


def test_iwae_bound_is_tighter_than_elbo_and_matches_a_direct_computation():
    vae = TinyVAE()
    x = torch.bernoulli(torch.rand(6, 16, generator=torch.Generator().manual_seed(1)))
    elbo, iwae = metrics.nll_bounds(
        vae, x, k=50, generator=torch.Generator().manual_seed(0), samples_per_pass=64
    )
    assert (iwae <= elbo + 1e-9).all() and iwae.mean() < elbo.mean()
    # direct, unchunked computation with the same draws
    gen = torch.Generator().manual_seed(0)
    mu, logvar = vae.posterior(x)
    chunk = 64 // 6  # the chunking nll_bounds uses for 6 images
    eps = torch.cat(
        [torch.randn((min(chunk, 50 - s), 6, 2), generator=gen) for s in range(0, 50, chunk)]
    )
    z = mu + torch.exp(0.5 * logvar) * eps
    prior = torch.distributions.Normal(0.0, 1.0)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    log_w = (
        torch.stack([vae.log_likelihood(x, zi) for zi in z])
        + prior.log_prob(z).sum(-1)
        - q.log_prob(z).sum(-1)
    )
    expected = -(torch.logsumexp(log_w.double(), 0) - math.log(50))
    assert torch.allclose(iwae, expected, atol=1e-4)


# 1 sample per pass, ragged 7s, all 20 at once
@pytest.mark.parametrize("samples_per_pass", [1, 6 * 7, 10_000])
def test_bounds_with_many_samples_do_not_depend_on_chunking(samples_per_pass):
    """k = 20 importance samples streamed through the running logsumexp in chunks of 1, 7 (20 = 7 +
    7 + 6) or 20 agree with one unchunked computation on the same draws, even with log-weights in
    the thousands of nats below zero, where a naive exp underflows. (torch draws normals for 16 or
    more numbers differently from fewer, so the reference draws in the same chunks.)"""
    vae = TinyVAE()
    with torch.no_grad():
        # confident, mostly wrong pixels: log p(x|z) in the thousands of nats
        vae.dec.weight.mul_(200.0)
    x = torch.bernoulli(torch.rand(6, 16, generator=torch.Generator().manual_seed(1)))
    k = 20
    elbo, iwae = metrics.nll_bounds(
        vae, x, k=k, generator=torch.Generator().manual_seed(0), samples_per_pass=samples_per_pass
    )
    mu, logvar = vae.posterior(x)
    gen, chunk = torch.Generator().manual_seed(0), max(1, min(k, samples_per_pass // 6))
    eps = torch.cat(
        [torch.randn((min(chunk, k - s), 6, 2), generator=gen) for s in range(0, k, chunk)]
    )
    z = mu + torch.exp(0.5 * logvar) * eps
    prior = torch.distributions.Normal(0.0, 1.0)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    log_w = (
        torch.stack([vae.log_likelihood(x, zi) for zi in z])
        + prior.log_prob(z).sum(-1)
        - q.log_prob(z).sum(-1)
    ).double()
    assert log_w.min() < -1_000  # the regime where exp(log_w) is 0 in float64
    torch.testing.assert_close(
        iwae, -(torch.logsumexp(log_w, 0) - math.log(k)), atol=1e-3, rtol=1e-6
    )
    torch.testing.assert_close(elbo, -log_w.mean(0), atol=1e-3, rtol=1e-6)
    assert (elbo - iwae > 1e-3).all()  # k > 1 samples that disagree: the bounds differ


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_a_shift():
    feats = np.random.default_rng(0).standard_normal((500, 8))
    assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    shifted = metrics.frechet_distance(feats, feats + 2.0)
    assert shifted == pytest.approx(8 * 4.0, rel=1e-6)  # |mean shift|^2, covariances equal


def test_confidence_and_coverage():
    even = np.eye(4)[np.arange(8) % 4]
    assert metrics.confidence_and_coverage(even) == pytest.approx((1.0, 1.0))
    one_class = np.tile([0.7, 0.1, 0.1, 0.1], (8, 1))
    assert metrics.confidence_and_coverage(one_class) == pytest.approx((0.7, 0.0))


def test_linear_probe_beats_chance_on_separable_latents():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    codes = np.eye(3)[labels] * 3 + rng.standard_normal((300, 3)) * 0.5
    train_acc, test_acc = metrics.linear_probe(codes[:200], labels[:200], codes[200:], labels[200:])
    assert train_acc > 0.9 and test_acc > 0.9


def test_max_principal_angle():
    a = np.eye(4)[:, :2]
    assert metrics.max_principal_angle(a, np.eye(4)[:, [0, 2]]) == pytest.approx(90.0)
    assert metrics.max_principal_angle(a, a @ np.array([[2.0, 1.0], [0.0, 1.0]])) == pytest.approx(
        0.0, abs=1e-6
    )


def test_independent_pixels_nll_is_the_exact_expectation_over_binarisations():
    gen = torch.Generator().manual_seed(0)
    train = torch.rand(200, 1, 2, 2, generator=gen)
    test = torch.rand(3, 1, 2, 2, generator=gen)
    p = (train.double().sum(0) + 1) / 202
    # enumerate every binarisation of every test image: sum over b of P(b | grey values) * -log p(b)
    expected = 0.0
    for image in test.double():
        for bits in range(16):
            b = torch.tensor([(bits >> i) & 1 for i in range(4)], dtype=torch.float64).view(1, 2, 2)
            prob = torch.prod(torch.where(b == 1, image, 1 - image))
            expected += float(prob * -torch.where(b == 1, p, 1 - p).log().sum()) / len(test)
    assert metrics.independent_pixels_nll(train, test) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_image_metrics_baselines_and_features_take_1_to_4_channels(channels):
    """PSNR/SSIM per channel, PCA baselines and the feature classifier on grey, grey+alpha, RGB,
    RGBA."""
    from aekit.quality import FEATURE_DIM, FeatureClassifier, features

    gen = torch.Generator().manual_seed(channels)
    x = torch.rand(30, channels, 16, 12, generator=gen)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    scores = metrics.image_metrics(noisy, x)
    assert 15 < scores["psnr"] < 25 and 0 < scores["ssim"] < 1
    assert metrics.ssim(x, x) == pytest.approx(1.0)
    # one wrong channel (a wrong alpha) lowers SSIM: channels are compared, not just the first
    wrong = x.clone()
    wrong[:, -1] = 1 - wrong[:, -1]
    assert metrics.ssim(wrong, x) < 1 - 0.5 / channels
    pca = metrics.fit_pca(x, 5)
    assert metrics.pca_reconstruct(pca, x).shape == x.shape
    assert metrics.pca_gaussian_samples(pca, 7, tuple(x.shape[1:])).shape == (7, channels, 16, 12)
    assert features(FeatureClassifier(channels, 3).eval(), x).shape == (30, FEATURE_DIM)


def test_precision_recall_identical_disjoint_and_mode_dropping_sets():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, 8)) * 20  # five well separated modes
    real = np.concatenate([c + rng.standard_normal((200, 8)) for c in centres])
    assert metrics.precision_recall(real, real) == (1.0, 1.0)
    far = real + 1000.0
    assert metrics.precision_recall(real, far) == (0.0, 0.0)
    # a new draw of every mode
    fresh = np.concatenate([c + rng.standard_normal((200, 8)) for c in centres])
    fresh_precision, fresh_recall = metrics.precision_recall(real, fresh)
    assert fresh_precision > 0.8 and fresh_recall > 0.8
    one_mode = centres[0] + rng.standard_normal((1000, 8))  # as realistic, but of one kind only
    precision, recall = metrics.precision_recall(real, one_mode)
    # recall ~ that mode's share of the real set
    assert precision > fresh_precision - 0.05 and 0.1 < recall < 0.3
    with pytest.raises(ValueError, match="k = 3"):
        metrics.precision_recall(real[:3], real)


def test_pca_denoiser_keeps_the_signal_components_not_all():
    g = torch.Generator().manual_seed(0)
    basis = torch.rand(8, 256, generator=g)
    clean = ((torch.rand(3000, 8, generator=g) @ basis) / 4).clamp(0, 1).reshape(3000, 1, 16, 16)
    corrupt = lambda x: (
        x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    ).clamp(0, 1)
    pca, k = metrics.pca_denoiser(clean[:2000], corrupt)
    assert k == 8  # the data's rank: fewer components blur, more keep noise
    test = clean[2000:]
    noisy = corrupt(test)
    denoised = metrics.pca_project(pca, noisy, k)
    assert ((denoised - test) ** 2).mean() < 0.25 * ((noisy - test) ** 2).mean()
    assert ((denoised - test) ** 2).mean() < (
        (metrics.pca_project(pca, noisy, 256) - test) ** 2
    ).mean()


# --- novelty ------------------------------------------------------------------------------
def test_exact_duplicates_of_training_images_leave_the_test_side():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (50, 1, 4, 4), dtype=np.uint8)
    fresh = rng.integers(0, 256, (10, 1, 4, 4), dtype=np.uint8)
    almost = train[7:8].copy()
    almost[0, 0, 3, 3] ^= 1  # one bit apart: a different image
    test = np.concatenate([train[[3, 40]], fresh, train[[3]], almost])
    kept, rows = metrics.remove_exact_duplicates(train, test)
    assert rows.tolist() == [*range(2, 12), 13] and np.array_equal(kept, test[rows])
    kept_t, rows_t = metrics.remove_exact_duplicates(
        torch.from_numpy(train), torch.from_numpy(test)
    )
    assert rows_t.tolist() == rows.tolist() and torch.equal(kept_t, torch.from_numpy(test[rows]))


def test_nearest_distances_in_chunks_match_the_full_matrix():
    g = torch.Generator().manual_seed(0)
    queries, references = torch.randn(45, 6, generator=g), torch.randn(30, 6, generator=g)
    queries[5] = references[17]
    distances, index = metrics.nearest_distances(queries, references, chunk=7)
    full = torch.cdist(
        queries.double(), references.double(), compute_mode="donot_use_mm_for_euclid_dist"
    )
    assert torch.equal(index, full.argmin(1))
    assert torch.allclose(distances, full.min(1).values, atol=1e-12)
    assert distances[5] < 1e-7 and index[5] == 17


def test_novelty_real_images_copies_and_noise():
    g = torch.Generator().manual_seed(0)
    train, heldout = torch.randn(2000, 8, generator=g), torch.randn(1000, 8, generator=g)
    real = metrics.novelty(torch.randn(4000, 8, generator=g), train, heldout)
    assert abs(real.share - 0.05) < 0.015  # by construction, up to sampling noise
    assert real.share == pytest.approx(float((real.distances < real.threshold).double().mean()))
    held = metrics.novelty(heldout, train, heldout)
    # the held-out images themselves: exactly the quantile
    assert held.share == pytest.approx(0.05, abs=0.001)
    rows = torch.randint(0, 2000, (300,), generator=g)
    copies = metrics.novelty(train[rows], train, heldout)
    assert (
        copies.share == 1.0 and torch.equal(copies.nearest, rows) and copies.distances.max() < 1e-6
    )
    near = metrics.novelty(train[rows] + 0.05 * torch.randn(300, 8, generator=g), train, heldout)
    # near-copies (well inside the held-out images' typical distance) count too
    assert near.share == 1.0
    noise = metrics.novelty(5 + torch.rand(500, 8, generator=g), train, heldout)
    assert noise.share == 0.0 and noise.threshold == real.threshold
    with pytest.raises(ValueError, match="quantile"):
        metrics.novelty(train, train, heldout, quantile=1.0)
