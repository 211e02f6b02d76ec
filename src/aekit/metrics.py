"""Pure metric functions and classic baselines, testable on small tensors.

Everything here takes tensors or arrays and returns numbers or images; nothing reads a run
folder. ``aekit.evaluate`` combines them into a run's ``eval.json``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg, ndimage
from skimage.metrics import structural_similarity
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from aekit.images import resize

# --- reconstruction quality -----------------------------------------------------------


def mse(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean squared error over every pixel of every image (images in [0, 1])."""
    return float(torch.mean((pred.float() - target.float()) ** 2))


def psnr_from_mse(value: float, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error; infinite for a perfect match."""
    return math.inf if value <= 0 else 10.0 * math.log10(data_range**2 / value)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR in dB (averaging per image, as the denoising literature does)."""
    per_image = torch.mean((pred.float() - target.float()) ** 2, dim=tuple(range(1, pred.ndim)))
    return float(np.mean([min(psnr_from_mse(float(v)), 100.0) for v in per_image]))


def ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image SSIM (scikit-image, data range 1, channels averaged; 7x7 window or
    smaller)."""
    values = []
    for p, t in zip(pred.float().cpu().numpy(), target.float().cpu().numpy()):
        side = min(p.shape[-2:])
        win = min(7, side if side % 2 else side - 1)
        values.append(structural_similarity(p, t, data_range=1.0, channel_axis=0, win_size=win))
    return float(np.mean(values))


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """MSE, PSNR and SSIM of a batch of images against their targets."""
    return {"mse": mse(pred, target), "psnr": psnr(pred, target), "ssim": ssim(pred, target)}


def page_rmse(pred: list[torch.Tensor], target: list[torch.Tensor]) -> float:
    """RMSE over every pixel intensity of whole pages of different sizes (the Kaggle metric)."""
    total = sum(float(torch.sum((p.float() - t.float()) ** 2)) for p, t in zip(pred, target))
    count = sum(t.numel() for t in target)
    return math.sqrt(total / count)


# --- baselines --------------------------------------------------------------------------


def median_filter(images: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Per-image, per-channel spatial median filter: the classic salt-and-pepper remedy."""
    array = images.float().cpu().numpy()
    footprint = (1,) * (array.ndim - 2) + (size, size)
    return torch.from_numpy(ndimage.median_filter(array, size=footprint, mode="reflect"))


BACKGROUND_WINDOW = 15  # px of the median filter on a page at the training pages' text size


def background_subtraction(
    page: torch.Tensor, size: int = BACKGROUND_WINDOW, scale: float = 1.0
) -> torch.Tensor:
    """Clean a dark-text-on-light page by dividing out its background and stretching.

    The background (stains, shading) is estimated with a large median filter; text is darker
    than its surroundings, so ``page / background`` is ~1 on paper and < 1 on ink. The ratio is
    then stretched so that paper becomes white while ink stays dark. ``scale``: the page's text
    is that many times the size the window was chosen for; the median then runs on the page
    shrunk by it and is enlarged back (a window ``scale`` times wider, at the cost of one).
    """
    page = page.float().cpu()
    h, w = page.shape[-2:]
    small = (
        page if scale == 1 else resize(page, (max(1, round(h / scale)), max(1, round(w / scale))))
    )
    background = ndimage.median_filter(
        small.numpy(), size=(1,) * (small.dim() - 2) + (size, size), mode="reflect"
    )
    if scale != 1:
        background = resize(torch.from_numpy(background), (h, w)).numpy()
    array = page.numpy()
    ratio = array / np.maximum(background, 1e-3)
    stretched = np.clip((ratio - 0.1) / 0.8, 0.0, 1.0)
    return torch.from_numpy(stretched.astype(np.float32))


def fit_pca(images: torch.Tensor, dim: int, seed: int = 0) -> PCA:
    """PCA of flattened images with ``dim`` components (randomised SVD when that is cheaper)."""
    flat = images.reshape(len(images), -1).float().cpu().numpy()
    dim = min(dim, flat.shape[0], flat.shape[1])
    return PCA(n_components=dim, svd_solver="auto", random_state=seed).fit(flat)


def pca_reconstruct(pca: PCA, images: torch.Tensor) -> torch.Tensor:
    """Project images on the PCA subspace and back, clipped to [0, 1]."""
    return pca_project(pca, images, pca.n_components_)


def pca_project(pca: PCA, images: torch.Tensor, k: int) -> torch.Tensor:
    """Project images on the first ``k`` principal components and back, clipped to [0, 1]."""
    flat = images.reshape(len(images), -1).float().cpu().numpy()
    components = pca.components_[:k]
    back = ((flat - pca.mean_) @ components.T @ components + pca.mean_).clip(0.0, 1.0)
    return torch.from_numpy(back.astype(np.float32)).reshape(images.shape)


PCA_DENOISER_COMPONENTS = (4, 8, 16, 32, 64, 128, 256)


def pca_denoiser(
    clean: torch.Tensor, corrupt: Callable[[torch.Tensor], torch.Tensor], holdout: int = 1000
) -> tuple[PCA, int]:
    """The classic linear denoiser at its best: PCA fitted to clean training images, keeping the
    number of components (of ``PCA_DENOISER_COMPONENTS``) that denoises ``holdout`` other clean
    training images, corrupted by ``corrupt``, with the least squared error. Too few components
    blur, too many keep the noise; with all of them it is the noisy input itself."""
    holdout = min(holdout, len(clean) // 5)
    fit, held = clean[holdout:], clean[:holdout]
    pca = fit_pca(fit, max(PCA_DENOISER_COMPONENTS))
    noisy = corrupt(held)
    candidates = [k for k in PCA_DENOISER_COMPONENTS if k <= pca.n_components_] or [
        pca.n_components_
    ]
    best = min(candidates, key=lambda k: float(((pca_project(pca, noisy, k) - held) ** 2).mean()))
    return pca, best


def pca_gaussian_samples(pca: PCA, n: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Samples of a Gaussian fitted in PCA space: a weak reference generator."""
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((n, pca.n_components_)) * np.sqrt(pca.explained_variance_)
    images = pca.inverse_transform(codes).clip(0.0, 1.0)
    return torch.from_numpy(images.astype(np.float32)).reshape(n, *shape)


# --- likelihood bounds ------------------------------------------------------------------


def nll_bounds(
    model: torch.nn.Module,
    x: torch.Tensor,
    k: int,
    condition: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    samples_per_pass: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image NLL bounds in nats: (-ELBO, -IWAE_k), from the same k posterior samples.

    With importance weights ``log w = log p(x|z) + log N(z; 0, I) - log q(z|x)``, the ELBO
    estimate is ``mean(log w)`` and the IWAE bound ``logsumexp(log w) - log k``; so for k = 1
    they coincide, and IWAE >= ELBO always (Jensen). Only ``model.posterior`` and
    ``model.log_likelihood_k`` (log p(x|z) for k draws per image) are used. Samples are processed
    ``samples_per_pass`` at a time (images x importance samples): small enough passes keep the
    decoder's feature maps in cache.
    """
    with torch.inference_mode():
        # float32 even under autocast
        mu, logvar = (t.float() for t in model.posterior(x, condition))
        # a vector, or a feature map (spatial codes): flat for the densities
        code_shape = mu.shape[1:]
        mu, logvar = mu.flatten(1), logvar.flatten(1)
        std = torch.exp(0.5 * logvar)
        d = mu.shape[1]
        log2pi = math.log(2 * math.pi)
        batch = len(x)
        log_w_sum = torch.zeros(batch, dtype=torch.float64)
        running_max = torch.full((batch,), -math.inf, dtype=torch.float64)
        running_sum = torch.zeros(batch, dtype=torch.float64)
        chunk = max(1, min(k, samples_per_pass // batch))
        done = 0
        while done < k:
            kc = min(chunk, k - done)
            eps = torch.randn((kc, batch, d), generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + std * eps
            log_px = model.log_likelihood_k(x, z.view(kc, batch, *code_shape), condition).float()
            log_pz = -0.5 * (z**2).sum(-1) - 0.5 * d * log2pi
            log_qz = -0.5 * (eps**2).sum(-1) - 0.5 * logvar.sum(-1) - 0.5 * d * log2pi
            log_w = (log_px + log_pz - log_qz).double().cpu()
            log_w_sum += log_w.sum(0)
            # streaming logsumexp over chunks of importance samples
            new_max = torch.maximum(running_max, log_w.max(0).values)
            running_sum = running_sum * torch.exp(running_max - new_max) + torch.exp(
                log_w - new_max
            ).sum(0)
            running_max = new_max
            done += kc
        elbo = log_w_sum / k
        iwae = running_max + torch.log(running_sum) - math.log(k)
    return -elbo, -iwae


def independent_pixels_nll(train: torch.Tensor, test: torch.Tensor) -> float:
    """Expected NLL (nats/image) of dynamically binarised ``test`` images under independent
    Bernoulli pixels with the (Laplace-smoothed) pixel means of ``train``.

    The simplest likelihood model, on the same footing as the VAEs' bounds: a VAE that does not beat
    it has learned nothing about how pixels go together. The expectation over binarisations is exact
    (grey value = probability of a 1), where the model's bound is one draw of them."""
    p = (train.double().sum(0) + 1) / (len(train) + 2)
    x = test.double()
    return float(-(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1).mean())


# --- sample quality ----------------------------------------------------------------------


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula).

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; the trace of the matrix square
    root is the sum of the square roots of the eigenvalues of ``S_a S_b`` (in float64), which
    is stabler than ``scipy.linalg.sqrtm`` for near-singular covariances.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = linalg.eigvals(cov_a @ cov_b)
    trace_sqrt = np.sqrt(np.clip(eig.real, 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def confidence_and_coverage(probs: np.ndarray) -> tuple[float, float]:
    """Mean top-class probability, and class coverage in [0, 1].

    Coverage is the entropy of the histogram of predicted classes divided by log(classes):
    1 when samples spread evenly over all classes, 0 when they all fall in one.
    """
    probs = np.asarray(probs, dtype=np.float64)
    classes = probs.shape[1]
    counts = np.bincount(probs.argmax(1), minlength=classes).astype(np.float64)
    p = counts / counts.sum()
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum())
    return float(probs.max(1).mean()), entropy / math.log(classes)


def precision_recall(
    real: np.ndarray, fake: np.ndarray, k: int = 3, chunk: int = 1024
) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of ``fake`` against ``real``
    features.

    Each set's manifold is the union of balls around its points reaching their k-th nearest
    neighbour in the same set. Precision is the share of fake points inside the real manifold
    (are samples realistic?), recall the share of real points inside the fake manifold (is every
    kind of real image produced?), so a generator that drops modes keeps precision and loses recall.
    """
    real_t = torch.as_tensor(np.asarray(real, dtype=np.float32))
    fake_t = torch.as_tensor(np.asarray(fake, dtype=np.float32))
    if min(len(real_t), len(fake_t)) <= k:
        raise ValueError(f"precision/recall with k = {k} needs more than {k} points in each set")
    return (
        manifold_share(real_t, knn_radii(real_t, k, chunk), fake_t, chunk),
        manifold_share(fake_t, knn_radii(fake_t, k, chunk), real_t, chunk),
    )


def knn_radii(points: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Each point's distance to its k-th nearest neighbour in the same set: its ball of the k-NN
    manifold."""
    return torch.cat(
        [
            # k + 1: the point itself is at 0
            torch.cdist(points[i : i + chunk], points).kthvalue(k + 1, dim=1).values
            for i in range(0, len(points), chunk)
        ]
    )


def manifold_share(
    support: torch.Tensor, radii: torch.Tensor, queries: torch.Tensor, chunk: int = 1024
) -> float:
    """Share of ``queries`` within the k-NN radius (``radii``, from :func:`knn_radii`) of at least
    one point of ``support``."""
    inside = torch.cat(
        [
            (torch.cdist(queries[i : i + chunk], support) <= radii).any(dim=1)
            for i in range(0, len(queries), chunk)
        ]
    )
    return float(inside.float().mean())


# --- latent quality ----------------------------------------------------------------------


def linear_probe(
    train_z: np.ndarray, train_y: np.ndarray, test_z: np.ndarray, test_y: np.ndarray
) -> tuple[float, float]:
    """Train and test accuracy of a logistic regression on (standardised) latent codes."""
    scaler = StandardScaler().fit(train_z)
    probe = LogisticRegression(max_iter=1000).fit(scaler.transform(train_z), train_y)
    return (
        float(probe.score(scaler.transform(train_z), train_y)),
        float(probe.score(scaler.transform(test_z), test_y)),
    )


def max_principal_angle(basis_a: np.ndarray, basis_b: np.ndarray) -> float:
    """Largest principal angle in degrees between the column spaces of two matrices."""
    return float(np.degrees(linalg.subspace_angles(np.asarray(basis_a), np.asarray(basis_b)).max()))


# --- novelty: are samples copies of training images? ---------------------------------------


def remove_exact_duplicates(
    train_pixels: torch.Tensor | np.ndarray, test_pixels: torch.Tensor | np.ndarray
) -> tuple[torch.Tensor | np.ndarray, np.ndarray]:
    """The test images that are not byte for byte a training image, and their row numbers: a test
    image also in training would be "held out" at distance 0 and make copies look normal. Rows are
    hashed (BLAKE2b), and a hash match is confirmed on the bytes."""
    seen: dict[bytes, list[bytes]] = {}
    for row in train_pixels:
        data = np.ascontiguousarray(np.asarray(row)).tobytes()
        seen.setdefault(hashlib.blake2b(data, digest_size=16).digest(), []).append(data)
    kept = []
    for k, row in enumerate(test_pixels):
        data = np.ascontiguousarray(np.asarray(row)).tobytes()
        if data not in seen.get(hashlib.blake2b(data, digest_size=16).digest(), ()):
            kept.append(k)
    rows = np.array(kept, dtype=np.int64)
    return test_pixels[
        torch.from_numpy(rows) if isinstance(test_pixels, torch.Tensor) else rows
    ], rows


def nearest_distances(
    queries: torch.Tensor | np.ndarray, references: torch.Tensor | np.ndarray, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from each query to its nearest reference and that reference's index, over
    ``chunk x chunk`` blocks so that memory stays bounded however many images there are; in float64,
    where cdist's matrix-product form puts exact copies within 1e-7 of 0 (float32: ~1e-3)."""
    q = torch.as_tensor(np.asarray(queries), dtype=torch.float64).flatten(1)
    r = torch.as_tensor(np.asarray(references), dtype=torch.float64).flatten(1)
    best = torch.full((len(q),), math.inf, dtype=torch.float64)
    index = torch.zeros(len(q), dtype=torch.int64)
    for i in range(0, len(q), chunk):
        for j in range(0, len(r), chunk):
            d = torch.cdist(q[i : i + chunk], r[j : j + chunk])
            value, where = d.min(1)
            closer = value < best[i : i + chunk]
            best[i : i + chunk] = torch.where(closer, value, best[i : i + chunk])
            index[i : i + chunk] = torch.where(closer, where + j, index[i : i + chunk])
    return best, index


def novelty_threshold(
    train_feats: torch.Tensor | np.ndarray,
    heldout_feats: torch.Tensor | np.ndarray,
    quantile: float = 0.95,
) -> float:
    """The distance to the nearest training image that ``quantile`` of held-out real images
    exceed."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
    if min(len(train_feats), len(heldout_feats)) == 0:
        raise ValueError("novelty needs at least one training and one held-out image")
    return float(
        np.quantile(nearest_distances(heldout_feats, train_feats)[0].numpy(), 1 - quantile)
    )


@dataclass
class Novelty:
    """``share``: samples closer to their nearest training image than ``threshold``, the distance
    that ``quantile`` of held-out real images exceed to theirs (real images score 1 - quantile by
    construction; a model that copies its training images scores near 1). ``nearest``: each sample's
    nearest training image (row), at ``distances``, to show them side by side."""

    share: float
    threshold: float
    nearest: torch.Tensor
    distances: torch.Tensor


def novelty(
    sample_feats: torch.Tensor | np.ndarray,
    train_feats: torch.Tensor | np.ndarray,
    heldout_feats: torch.Tensor | np.ndarray,
    quantile: float = 0.95,
) -> Novelty:
    """How many samples are near-copies of a training image, judged in feature space against
    held-out real images (give them without exact duplicates of training images:
    :func:`remove_exact_duplicates`): the share of samples closer to their nearest training image
    than ``quantile`` (95%) of held-out real images are to theirs."""
    if len(sample_feats) == 0:
        raise ValueError("novelty needs at least one sample")
    threshold = novelty_threshold(train_feats, heldout_feats, quantile)
    distances, nearest = nearest_distances(sample_feats, train_feats)
    return Novelty(float((distances < threshold).double().mean()), threshold, nearest, distances)
