"""plan-layout: 4x4-folded pixels with the outline kept exact, a code that is used from the first
step, and drawing = the network's layout rendered into a plan one can walk through."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from aekit import plans as P
from aekit.data import floorplan_files as files
from aekit.data import floorplans as fp
from aekit.errors import ConfigError
from aekit.models import build_model
from aekit.plan_partition import RoomRules
from aekit.plan_render import default_min_room, room_areas

SIZE = 32
OPTIONS = {"channels": [16, 24, 32], "latent_channels": 4, "warmup_steps": 0}


@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    footprints, plans = fp.make_floorplans(48, size=SIZE, seed=3)
    return torch.from_numpy(files.plan_to_rgb(plans)).float() / 255, torch.from_numpy(footprints)


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("plan-layout", OPTIONS, (3, SIZE, SIZE))


def test_shapes_code_size_and_bad_sizes(pairs):
    x, footprints = pairs
    model = _model()
    assert model.latent_dim == 4 * 2 * 2  # a 4-channel code map of 2 x 2 at 32 x 32
    mu, logvar = model.posterior(x[:3], footprints[:3])
    assert mu.shape == logvar.shape == (3, model.latent_dim)
    assert model.logits(mu, footprints[:3]).shape == (3, len(fp.CLASSES), SIZE, SIZE)
    with pytest.raises(ConfigError, match="multiples of 16"):
        build_model("plan-layout", OPTIONS, (3, 40, 40))
    with pytest.raises(ConfigError, match="3 entries"):
        build_model("plan-layout", {"channels": [8, 16]}, (3, SIZE, SIZE))


def test_every_footprint_pixel_reaches_its_own_output_pixel(pairs):
    """Folding keeps full resolution: one footprint pixel changed changes the logits at that
    pixel."""
    _, footprints = pairs
    model = _model()
    z = torch.zeros(1, model.latent_dim)
    base = footprints[:1].clone()
    changed = base.clone()
    changed[0, 0, 17, 9] = 1 - changed[0, 0, 17, 9]
    with torch.no_grad():
        delta = (model.logits(z, changed) - model.logits(z, base)).abs().sum(1)[0]
    assert delta[17, 9] > 0 and delta[17, 9] >= delta.max() * 0.2


def test_the_posterior_starts_narrow_and_a_short_training_lowers_the_loss(pairs):
    """q(z|x) starts narrow (the KL large at once), so the decoder can learn to read the code before
    the KL weight rises: started N(0, I)-wide, a full run's code carried 0.4 nats by step 200."""
    x, footprints = pairs
    torch.manual_seed(0)
    model = build_model(
        "plan-layout", {**OPTIONS, "warmup_steps": 1000}, (3, SIZE, SIZE)
    )  # the default warm-up
    with torch.no_grad():  # about 2.5 nats a dimension: sigma 0.05 against N(0, 1)
        assert float(model.loss(x[:16], condition=footprints[:16])["kl"]) > 2 * model.latent_dim
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(40):
        rows = torch.arange(16) + 16 * (step % 3)
        terms = model.loss(x[rows], condition=footprints[rows], step=step)
        first = float(terms["recon"].detach()) if first is None else first
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
    assert float(terms["recon"].detach()) < 0.7 * first and float(terms["kl"].detach()) > 1.0


def test_drawing_renders_the_networks_layout(pairs, monkeypatch):
    """A network whose layout is a real plan with stray pixels of every class draws valid plans; its
    raw pixels are not (the old drawing: the most likely class at every pixel, as it stands)."""
    _, footprints = pairs
    real = fp.make_floorplans(48, size=SIZE, seed=3)[1][:6]
    rng = np.random.default_rng(0)
    noisy = real.copy()
    stray = (rng.random(noisy.shape) < 0.04) & (noisy != fp.OUTSIDE)
    noisy[stray] = rng.integers(1, len(fp.CLASSES), int(stray.sum()))
    model = _model()
    # a confident network: every other class under 1e-8
    logits = 20 * torch.nn.functional.one_hot(
        torch.from_numpy(noisy).long(), len(fp.CLASSES)
    ).permute(0, 3, 1, 2)
    monkeypatch.setattr(model, "logits", lambda z, condition: logits.float())
    drawn = model.sample_classes(footprints[:6]).numpy()
    raw = model.sample_classes(footprints[:6], rendered=False).numpy()
    assert np.array_equal(raw, noisy) and P.validity_rate(raw, footprints[:6]) == 0.0
    assert P.validity_rate(drawn, footprints[:6]) == 1.0
    assert np.array_equal(drawn != fp.OUTSIDE, noisy != fp.OUTSIDE)
    pictures = model.decode(torch.zeros(6, model.latent_dim), footprints[:6])
    assert torch.equal(model.classes_of(pictures), torch.from_numpy(drawn).long())


def test_training_fits_the_gmm_prior_plans_are_drawn_from(tmp_path, monkeypatch):
    from aekit.config import TrainConfig
    from aekit.priors import fitted_priors, load_prior
    from aekit.train import train

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "TRAIN_PAIRS", 40)
    config = TrainConfig(
        dataset="floorplans-synthetic",
        image_size=SIZE,
        epochs=1,
        batch_size=8,
        quiet=True,
        model="plan-layout",
        model_options=OPTIONS,
        out=str(tmp_path / "run"),
    )
    run = train(config)
    assert fitted_priors(run.dir) == ["gmm"]
    # fitted to the flattened 4 x 2 x 2 code maps of the 36 training plans
    prior = load_prior(run.dir, "gmm")
    assert prior.code_shape == (16,) and "36 codes" in (run.dir / "prior-gmm.json").read_text()
    # the training plans' smallest room and room rules, recorded for the renderer, and kept by a
    # resumed run
    smallest = int(room_areas(run.train.plans.numpy()).min())
    rules = RoomRules.of_plans(run.train.plans.numpy())
    assert run.model.min_room == smallest != default_min_room(SIZE)
    assert run.model.room_rules == rules != RoomRules.from_record((), SIZE)
    resumed = train(replace(config, epochs=2, resume=True)).model
    assert resumed.min_room == smallest and resumed.room_rules == rules
