"""plan-vae: plans in and out as palette colours, the footprint at every decoder resolution, and a
few steps of training that already draw plans of the footprint's shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aekit import plans as P
from aekit.data import floorplan_files as files
from aekit.data import floorplans as fp
from aekit.models import build_model
from aekit.models.plan_vae import PlanModel

SIZE = 32
OPTIONS = {"channels": [8, 16, 32], "latent_dim": 8, "code_maps": 8, "warmup_steps": 0}
ORIGINAL_LOSS = PlanModel.loss


@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    footprints, plans = fp.make_floorplans(64, size=SIZE, seed=3)
    x = torch.from_numpy(files.plan_to_rgb(plans)).float() / 255
    return x, torch.from_numpy(footprints), footprints, plans


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("plan-vae", OPTIONS, (3, SIZE, SIZE))


def test_palette_colours_are_read_as_classes_and_written_back(pairs):
    x, _, _, plans = pairs
    model = _model()
    classes = model.classes_of(x)
    assert np.array_equal(classes.numpy(), plans)
    assert torch.equal(model.colours_of(classes), x)


def test_the_footprint_reaches_every_decoder_resolution(pairs):
    """Each decoder stage (the code's stage and every upsampling stage) sees the footprint averaged
    to its own size; and another footprint gives other plans for the same codes."""
    _, condition, _, _ = pairs
    model = _model().eval()
    seen = []
    stages = [model.bottom, *model.merge]
    hooks = [
        stage.register_forward_hook(lambda m, args, out: seen.append(args[0])) for stage in stages
    ]
    z = torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model.logits(z, condition[:4])
    for hook in hooks:
        hook.remove()
    sides = [inputs.shape[-1] for inputs in seen]
    assert (
        sides == [SIZE // 16, SIZE // 8, SIZE // 4, SIZE // 2, SIZE][-len(seen) :]
        and sides[-1] == SIZE
    )
    for inputs in seen:
        expected = F.adaptive_avg_pool2d(condition[:4].float(), inputs.shape[-2:])
        assert torch.equal(inputs[:, -2:], expected)
    moved = torch.roll(condition[:4], shifts=(3, 5), dims=(2, 3))
    with torch.no_grad():
        assert not torch.allclose(model.logits(z, moved), logits)


def test_a_short_training_lowers_the_loss_and_draws_the_footprints_shape(pairs):
    x, condition, footprints, plans = pairs
    model = _model()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        untrained = model.sample_classes(condition, generator).numpy()
        before = model.loss(x, condition=condition)["loss"].item()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(80):
        rows = torch.randperm(len(x), generator=generator)[:32]
        loss = model.loss(x[rows], condition=condition[rows], step=step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = model.loss(x, condition=condition)["loss"].item()
        drawn = model.sample_classes(condition, generator).numpy()
    assert after < 0.5 * before, (before, after)
    assert drawn.shape == plans.shape and drawn.dtype == np.uint8
    iou, iou_untrained = P.footprint_iou(drawn, footprints), P.footprint_iou(untrained, footprints)
    assert iou > 0.9 and iou > iou_untrained + 0.2, (iou, iou_untrained)


def test_training_on_floor_plans_takes_plan_layout_and_feeds_it_the_footprints(
    tmp_path, monkeypatch, capsys
):
    from aekit.config import TrainConfig
    from aekit.data import floorplan_files as files
    from aekit.train import train

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "TRAIN_PAIRS", 40)
    seen = []
    monkeypatch.setattr(
        PlanModel,
        "loss",
        lambda self, x, target=None, condition=None, step=0: (
            seen.append((self.classes_of(x), condition))
            or ORIGINAL_LOSS(self, x, target, condition, step)
        ),
    )
    run = train(
        TrainConfig(
            dataset="floorplans-synthetic",
            image_size=32,
            epochs=1,
            batch_size=8,
            model_options={"channels": [8, 16, 32]},
            out=str(tmp_path / "run"),
        )
    )
    assert (
        run.config.model == "plan-layout" and "model choice: plan-layout" in capsys.readouterr().err
    )
    footprints, plans = fp.make_floorplans(40, SIZE, seed=0)
    by_plan = {p.tobytes(): f for p, f in zip(plans, footprints)}
    classes, condition = seen[0]
    assert condition.shape == (8, 2, SIZE, SIZE)
    for plan, footprint in zip(classes.numpy().astype(np.uint8), condition.numpy()):
        # each plan with its own footprint
        assert np.array_equal(by_plan[plan.tobytes()], footprint)


def test_conditional_samples_picture_shows_the_footprint_beside_its_plans(pairs, tmp_path):
    """The report's conditional-samples picture takes the 2-channel footprint as its condition
    image (mask and entrance shown as one grey image before the plans)."""
    from PIL import Image

    from aekit import plots

    _, footprints, _, _ = pairs
    path = plots.plot_conditional_samples(
        _model(), footprints[:2], tmp_path / "plans.png", per_condition=3
    )
    width, height = Image.open(path).size
    assert width > height  # one row per footprint: the footprint, then its 3 plans
