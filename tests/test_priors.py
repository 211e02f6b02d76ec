"""Priors: exact densities (the flow integrates to 1, the mixture matches scikit-learn), both beat
one Gaussian on codes that are not Gaussian, class-conditional sampling, and the run-folder rules
(fingerprint, too few codes, the CLI)."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from stand_ins import TINY_VQ_OPTIONS

import aekit
from aekit.cli import main
from aekit.config import TrainConfig, option
from aekit.errors import AekitError, ConfigError
from aekit.priors import FlowPrior, GMMPrior, Prior, fit_prior, fitted_priors, load_prior


def _two_rings(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 on a ring of radius 3, class 1 a small blob at (6, 0): far from one Gaussian."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=g)
    angle = torch.rand(n, generator=g) * 2 * math.pi
    ring = torch.stack([angle.cos(), angle.sin()], 1) * 3
    codes = torch.where(
        labels.unsqueeze(1) == 0, ring, torch.tensor([6.0, 0.0])
    ) + 0.2 * torch.randn(n, 2, generator=g)
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
            assert (
                float(prior.log_prob(test, test_labels).mean())
                > float(prior.log_prob(test).mean()) + 0.5
            )
            blob = prior.sample(500, generator=g, labels=torch.ones(500, dtype=torch.long))
            ring = prior.sample(500, generator=g, labels=torch.zeros(500, dtype=torch.long))
            assert (blob - torch.tensor([6.0, 0.0])).norm(dim=1).median() < 0.5, prior.name
            assert (ring.norm(dim=1).median() - 3).abs() < 0.3, prior.name
            mixed = prior.sample(1000, generator=g)
            share = float(((mixed - torch.tensor([6.0, 0.0])).norm(dim=1) < 1).float().mean())
            # classes in their training proportions
            assert abs(share - float(train_labels.float().mean())) < 0.06


def test_gmm_log_prob_matches_scikit_learn():
    from sklearn.mixture import GaussianMixture

    codes, _ = _two_rings(1500, 3)
    gmm = GMMPrior((2,), None, components=5).fit(codes, None, seed=0)
    reference = GaussianMixture(5, covariance_type="full", reg_covar=1e-4, random_state=0).fit(
        codes.double().numpy()
    )
    expected = reference.score_samples(codes[:100].double().numpy())
    assert np.allclose(gmm.log_prob(codes[:100]).numpy(), expected, atol=1e-3)


def test_gmm_stops_at_max_seconds_and_says_so():
    """EM in rounds under a time limit: a limit of zero seconds (but not 0, "no limit") stops it
    after the first round, unconverged and said in the fit note, with a lower likelihood than the
    converged fit, which carries no note."""
    codes = torch.rand(2000, 2, generator=torch.Generator().manual_seed(0))  # 34 EM iterations
    converged = GMMPrior((2,), None, components=10, max_seconds=0).fit(codes, None, seed=0)
    stopped = GMMPrior((2,), None, components=10, max_seconds=1e-9).fit(codes, None, seed=0)
    assert converged.fit_note == "" and "s were up" in stopped.fit_note
    assert stopped.log_prob(codes).mean() < converged.log_prob(codes).mean() - 1e-3


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("priors") / "vae"
    aekit.train(
        TrainConfig(
            model="vae",
            dataset="digits",
            epochs=15,
            batch_size=64,
            out=str(out),
            quiet=True,
            model_options={"latent_dim": 4, "hidden": [128]},
        )
    )
    return out


def test_fit_save_load_sample_and_refuse_other_weights(vae_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    path = fit_prior(run, "gmm", components=3, draws=1)
    info = json.loads(path.read_text())
    assert (
        info["prior"] == "gmm"
        and info["class_conditional"] is True
        and "2694 codes of 1347 training images" in info["fitted_to"]
    )
    fit_prior(run, "flow", layers=4, hidden=32, steps=200)
    assert fitted_priors(run) == ["gmm", "flow"]
    model = aekit.load(run)
    for name in ("gmm", "flow"):
        prior = load_prior(run, name)
        labels = torch.arange(10).repeat(3)
        codes = prior.sample(30, generator=torch.Generator().manual_seed(0), labels=labels)
        assert codes.shape == (30, 4) and torch.isfinite(prior.log_prob(codes, labels)).all()
        assert model.decode(codes).shape == (30, 1, 8, 8)
    # both priors score the codes of held-out digits above N(0, I), the prior the VAE was trained
    # towards
    info_gmm, info_flow = (
        json.loads((run / f"prior-{n}.json").read_text()) for n in ("gmm", "flow")
    )
    from aekit.data import load, train_val_split
    from aekit.priors import training_codes

    heldout = train_val_split(load("digits", "train"), 0.1, 0)[1]
    codes = training_codes(model, heldout.images[:2000])
    standard = float(torch.distributions.Normal(0.0, 1.0).log_prob(codes).sum(1).mean())
    assert info_gmm["heldout_log_prob"] > standard and info_flow["heldout_log_prob"] > standard

    weights = run / "model.safetensors"
    # other weights: another run, or trained further
    weights.write_bytes(weights.read_bytes() + b" ")
    with pytest.raises(AekitError, match="fitted to other weights"):
        load_prior(run, "gmm")


def test_too_few_codes_wrong_prior_and_cli(
    vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
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
    files = {
        name: [p.read_bytes() for p in sorted((tmp_path / name).glob("*.png"))] for name in "abc"
    }
    assert len(files["a"]) == 4 and files["a"] == files["b"] and files["a"] != files["c"]


def test_pixelcnn_prior_refit_scores_held_out_maps_better(tmp_path: Path):
    out = tmp_path / "vq"
    aekit.train(
        TrainConfig(
            model="vq-vae",
            dataset="digits",
            epochs=1,
            max_train_images=400,
            out=str(out),
            quiet=True,
            model_options=TINY_VQ_OPTIONS,
        )
    )
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


def test_evaluate_adds_a_column_per_prior(
    vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from aekit.evaluate import evaluate_run

    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    fit_prior(run, "gmm", components=2)
    fit_prior(run, "flow", layers=2, hidden=16, steps=50)
    result = evaluate_run(run, iwae_k=2, max_images=300, priors=["all"])
    samples = result["sections"]["samples"]
    for metric in ("frechet", "coverage", "precision", "recall"):
        assert {"model", "prior gmm", "prior flow", "held-out real images (floor)"} <= set(
            samples[metric]
        ), metric
    assert all(0 <= samples[m][c] <= 1 for m in ("precision", "recall") for c in samples[m])
    # class-conditional priors are asked for the hold-out's classes; the floor is the classifier's
    # accuracy
    assert {"prior gmm", "prior flow", "held-out real images (floor)", "chance"} <= set(
        samples["class_match"]
    )
    assert samples["class_match"]["prior gmm"] > 2 * samples["class_match"]["chance"]
    (run / "prior-flow.json").write_text(
        (run / "prior-flow.json")
        .read_text()
        .replace('"model_fingerprint": "', '"model_fingerprint": "0')
    )
    # refused before any work
    assert main(["evaluate", str(run), "--prior", "flow", "--quiet"]) == 2
    assert "fitted to other weights" in capsys.readouterr().err


# --- a new prior is one file and one registry line
# ----------------------------------------------------
@dataclass
class ToyConfig:
    shrink: float = option(
        1.0, "toy: scale of the fitted standard deviations", ("must be positive", lambda v: v > 0)
    )


class DiagonalGaussian(Prior):
    """The toy prior: one diagonal Gaussian fitted to the codes, its standard deviations times
    ``shrink``."""

    name = "toy"
    description = "one diagonal Gaussian"
    Config = ToyConfig

    def __init__(self, code_shape: tuple[int, ...], num_classes: int | None, **options: object):
        super().__init__(code_shape, num_classes, **options)
        d = math.prod(self.code_shape)
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))

    def fit(self, codes, labels, seed=0, quiet=True):
        flat = codes.flatten(1)
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0) * self.config.shrink)
        return self.eval()

    def log_prob(self, codes, labels=None):
        return torch.distributions.Normal(self.mean, self.std).log_prob(codes.flatten(1)).sum(1)

    def sample(self, n, generator=None, labels=None):
        return self.from_noise(torch.randn(n, self.mean.numel(), generator=generator))

    def from_noise(self, noise):
        return (self.mean + self.std * noise).view(-1, *self.code_shape)

    def sampling_note(self):
        return "z = mean + std * noise"


def test_a_prior_registered_in_one_line_fits_samples_evaluates_and_exports(
    vae_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    from aekit.data import load, train_val_split
    from aekit.inference import sample_images
    from aekit.priors import PRIORS, training_codes

    monkeypatch.setitem(PRIORS, "toy", DiagonalGaussian)
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    with pytest.raises(SystemExit):
        main(["fit-prior", "--help"])
    assert "toy: scale of the fitted standard deviations (default 1.0)" in " ".join(
        capsys.readouterr().out.split()
    )
    # another prior's flag
    assert main(["fit-prior", str(run), "--prior", "toy", "--components", "3"]) == 2
    assert "prior 'toy' takes no --components; its options: --shrink" in capsys.readouterr().err
    assert main(["fit-prior", str(run), "--prior", "toy", "--shrink", "-1"]) == 2
    assert "--shrink must be positive" in capsys.readouterr().err
    assert main(["fit-prior", str(run), "--prior", "toy", "--shrink", "0.5", "--quiet"]) == 0
    assert json.loads((run / "prior-toy.json").read_text())["options"] == {
        "code_shape": [4],
        "num_classes": None,
        "shrink": 0.5,
    }
    prior, model = load_prior(run, "toy"), aekit.load(run)
    train = train_val_split(load("digits", "train"), 0.1, 0)[0]
    codes = training_codes(model, train.images)
    assert torch.allclose(prior.mean, codes.mean(0), atol=1e-5) and torch.allclose(
        prior.std, codes.std(0) * 0.5, atol=1e-5
    )

    # aekit sample --prior toy decodes the toy's codes: mean + std * the seed's normal draws
    assert (
        main(["sample", str(run), "--prior", "toy", "--n", "4", "--out", str(tmp_path / "drawn")])
        == 0
    )
    assert len(list((tmp_path / "drawn").glob("*.png"))) == 4
    with torch.inference_mode():
        expected = model.decode(
            prior.mean + prior.std * torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
        )
    assert torch.allclose(sample_images(model, 4, seed=0, prior=prior), expected)

    # aekit evaluate --prior toy: a sample-quality column, the held-out real images still below it
    assert (
        main(
            [
                "evaluate",
                str(run),
                "--prior",
                "toy",
                "--iwae-k",
                "2",
                "--max-images",
                "300",
                "--quiet",
            ]
        )
        == 0
    )
    frechet = json.loads((run / "eval.json").read_text())["sections"]["samples"]["frechet"]
    assert (
        math.isfinite(frechet["prior toy"])
        and frechet["prior toy"] > frechet["held-out real images (floor)"]
    )

    # aekit export: the toy's sampler as prior-toy.onnx, with a recipe onnxruntime runs
    ort = pytest.importorskip("onnxruntime")
    assert main(["export", str(run), "--out", str(tmp_path / "onnx"), "--prior", "toy"]) == 0
    spec = json.loads((tmp_path / "onnx" / "model.json").read_text())["priors"]["toy"]
    assert [i["name"] for i in spec["inputs"]] == ["noise"] and spec[
        "sampling"
    ] == "z = mean + std * noise"
    noise = np.random.default_rng(0).standard_normal((5, 4), dtype=np.float32)
    (z,) = ort.InferenceSession(str(tmp_path / "onnx" / "prior-toy.onnx")).run(
        None, {"noise": noise}
    )
    assert np.abs(z - prior.from_noise(torch.from_numpy(noise)).numpy()).max() < 1e-5
    monkeypatch.chdir(tmp_path / "onnx")
    namespace: dict = {}
    exec(compile(spec["recipe"], "recipe-toy", "exec"), namespace)
    with torch.inference_mode():
        images = model.decode(prior.from_noise(torch.from_numpy(namespace["noise"]))).numpy()
    assert np.abs(namespace["images"] - images).max() < 1e-4


# --- prior files from disk are checked before anything is built (issue 27)
# --------------------------------
def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Runs the CLI, which must refuse with exit 2 and one line; returns that line."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(argv) == 2
    # kB: nothing big was allocated
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "code_shape",
            [1_000_000_000],
            "a code of 1,000,000,000 numbers; priors take at most 65,536",
        ),
        ("code_shape", [-4], "code_shape must be 1 to 3 positive integers"),
        ("num_classes", 10**12, "num_classes must be an integer from 1 to 100,000"),
        ("components", 10**9, "components must be at least 1 and at most 1,000, got 1000000000"),
        ("components", 2.5, "components must be an integer, got 2.5"),
        # each size allowed, but 10 classes x 2 components x 60,000^2 covariance numbers together
        # are not
        (
            "code_shape",
            [60_000],
            "describes a prior of 72,001,200,040 numbers; aekit loads at most 200,000,000",
        ),
    ],
)
def test_a_prior_file_claiming_huge_sizes_is_refused_before_anything_is_allocated(
    vae_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: object,
    message: str,
):
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    fit_prior(run, "gmm", components=2)
    info = run / "prior-gmm.json"
    described = json.loads(info.read_text())
    described["options"][option] = value
    info.write_text(json.dumps(described))
    err = _one_line_error(
        ["sample", str(run), "--prior", "gmm", "--n", "4", "--out", str(tmp_path / "out")], capsys
    )
    assert err.startswith(f"aekit: error: {info}: ") and message in err
    assert not (tmp_path / "out").exists()


def test_a_prior_file_with_nan_or_infinite_numbers_is_refused_at_load(
    vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Before, a NaN mean wrote flat images with exit 0 and `evaluate --prior` ended in a scipy
    traceback."""
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    fit_prior(run, "gmm", components=2)
    fit_prior(run, "flow", layers=2, hidden=8, steps=5)
    weights = run / "prior-gmm.safetensors"
    tensors = load_file(weights)
    tensors["means"][3, 1] = math.nan
    save_file(tensors, weights)
    sample = ["sample", str(run), "--prior", "gmm", "--n", "4", "--out", str(tmp_path / "out")]
    for argv in (
        sample,
        ["evaluate", str(run), "--prior", "gmm", "--quiet"],
        ["export", str(run), "--out", str(tmp_path / "x")],
    ):
        err = _one_line_error(argv, capsys)
        assert err == (
            f"aekit: error: {weights}: tensor 'means' holds NaN or infinite numbers; "
            f"refit it with `aekit fit-prior {run} --prior gmm`"
        ), argv
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()
    # more than the described prior holds: not read
    weights.write_bytes(weights.read_bytes() + bytes(2 << 20))
    assert (
        "bytes; the prior its JSON file describes holds 1,840 bytes of tensors"
        in _one_line_error(sample, capsys)
    )
    weights = run / "prior-flow.safetensors"
    tensors = load_file(weights)
    tensors["std"][0] = math.inf
    save_file(tensors, weights)
    assert "tensor 'std' holds NaN or infinite numbers" in _one_line_error(
        [*sample[:3], "flow", *sample[4:]], capsys
    )
    info = run / "prior-flow.json"
    info.write_text(
        info.read_text().replace('"heldout_log_prob": ', '"heldout_log_prob": NaN, "was": ')
    )
    assert f"{info}: holds NaN or infinite numbers" in _one_line_error(
        [*sample[:3], "flow", *sample[4:]], capsys
    )


@pytest.mark.parametrize("first", ["aekit.priors", "aekit.models.vq_vae"])
def test_priors_import_the_models_never_the_reverse(first: str):
    """No import circle: either package imports alone, and the models never pull the priors in."""
    # this aekit, not another install
    env = {**os.environ, "PYTHONPATH": str(Path(aekit.__file__).parents[1])}
    both = (
        "import sys, importlib; importlib.import_module(sys.argv[1]); import aekit.priors, "
        "aekit.models.vq_vae"
    )
    assert (
        subprocess.run([sys.executable, "-c", both, first], env=env, capture_output=True).returncode
        == 0
    )
    models_alone = (
        "import sys, aekit.models; assert not any(m.startswith('aekit.priors') for m "
        "in sys.modules)"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", models_alone], env=env, capture_output=True
        ).returncode
        == 0
    )


def test_a_long_fit_says_its_estimate_and_stops_at_its_time_limit(monkeypatch, capsys):
    from types import SimpleNamespace

    from aekit.priors import fitting

    now = [0.0]
    monkeypatch.setattr(fitting, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    clock = fitting.FitClock("flow", 2000, 120.0, quiet=False)
    for step in range(2000):  # half a second a step: 2,000 steps would take 1,000 s
        now[0] += 0.5
        if clock.done(step):
            break
    assert step == 239 and clock.note(step) == "240 of 2,000 steps: max_seconds = 120 reached"
    assert capsys.readouterr().out == (
        "  prior flow: 2,000 steps, about 2.0 min (stopped by the 120 s limit; all 2,000 would "
        "take about 16.7 min: --max-seconds 0 for all)\n"
    )
    short = fitting.FitClock("flow", 100, 120.0, quiet=False)
    for step in range(100):
        now[0] += 0.05
        assert not short.done(step)
    # 5 s: no estimate line
    assert capsys.readouterr().out == "" and short.note(99) == "all 100 steps"
    warming = fitting.FitClock("pixelcnn", 2000, 0.0, quiet=False)  # no time limit
    for step in range(60):
        # slow first steps are left out of the estimate
        now[0] += 2.0 if step < fitting.WARMUP_STEPS else 0.05
        assert not warming.done(step)
    # 12 s + 1,955 x 0.05 s
    assert capsys.readouterr().out == "  prior pixelcnn: 2,000 steps, about 1.8 min\n"


def test_fit_prior_stops_at_max_seconds_by_default_and_says_so(
    vae_run: Path, tmp_path: Path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(vae_run, run)
    argv = [
        "fit-prior",
        str(run),
        "--prior",
        "flow",
        "--layers",
        "2",
        "--hidden",
        "8",
        "--steps",
        "1000000",
    ]
    assert main([*argv, "--max-seconds", "0.5"]) == 0
    info = json.loads((run / "prior-flow.json").read_text())
    assert (
        info["fit"].endswith(" of 1,000,000 steps: max_seconds = 0.5 reached")
        and info["seconds"] < 30
    )
    assert "max_seconds = 0.5 reached" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fit-prior", "--help"])
    assert (
        "stop fitting after this many seconds, counted from encoding the codes (0: no limit); a "
        "learned prior's learning rate decays with the clock, gmm's EM stops where it is "
        "(default 120.0)" in " ".join(capsys.readouterr().out.split())
    )
