"""The floor-plan section of `aekit evaluate`: plans as drawn (rendered) and raw, scored beside
held-out real plans and retrieval (raw and rendered)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_commands import make_run

from aekit import plans as P
from aekit.data import floorplan_files as files
from aekit.data import floorplans as fp
from aekit.errors import ConfigError
from aekit.formats import read_codes
from aekit.plan_measures import (
    DIVERSITY,
    IOU,
    NOVELTY,
    RAW,
    REAL_VS_REAL,
    REALISM,
    RETRIEVAL_RENDERED,
    VALID,
    draw_plans,
    plan_section,
)
from aekit.plan_render import render_plans
from aekit.priors import GMMPrior


class CopyingModel:
    """Draws the real plan of each footprint, with one stray built row above the building: a
    measure that clipped plans to their footprint would not see it."""

    latent_dim = 4
    name = "copying"
    min_room = None  # the renderer's defaults
    room_rules = None

    def __init__(self, footprints: np.ndarray, plans: np.ndarray):
        self.by_footprint = {f.tobytes(): p for f, p in zip(footprints, plans)}

    def classes_for_codes(self, z, condition, rendered=True):
        out = np.stack([self.by_footprint[f.tobytes()] for f in condition.numpy()]).copy()
        for plan, footprint in zip(out, condition.numpy()):
            y0, _, x0, x1 = P.bounding_box(footprint[0] > 0)
            plan[y0 - 1, x0:x1] = fp.WALL
        return torch.from_numpy(render_plans(out, condition.numpy()) if rendered else out)

    def layouts_and_plans(self, z, condition):
        return self.classes_for_codes(z, condition, False), self.classes_for_codes(z, condition)


def test_drawn_and_raw_plans_are_scored_beside_real_plans_and_retrieval():
    train_f, train_p = fp.make_floorplans(120, 32, seed=0)
    test_f, test_p = fp.make_floorplans(12, 32, seed=1)
    model = CopyingModel(test_f, test_p)
    section, note, plan = plan_section(
        model, train_f, train_p, test_f, test_p, footprints=10, per_footprint=3
    )
    assert (plan.n, plan.budget_seconds) == (10, None)  # asked for: no budget
    assert set(section) == {IOU, VALID, REALISM, REAL_VS_REAL, DIVERSITY, NOVELTY}
    assert set(section[IOU]) == {"model", RAW, "held-out real", "retrieval", RETRIEVAL_RENDERED}
    # the stray row counts
    assert section[IOU]["held-out real"] == 1.0 and 0.8 < section[IOU]["model"] < 1.0
    # the renderer neither adds nor removes building: IoU is the network's, raw or rendered
    assert section[IOU]["model"] == section[IOU][RAW]
    assert section[IOU][RETRIEVAL_RENDERED] == section[IOU]["retrieval"]
    # rendered retrieval is far more often valid than raw (its doors and rooms stretched out of
    # shape);
    # the copies stay valid unless the stray row covers the entrance's wall (the entrance moves off
    # the mark)
    assert (
        section[VALID][RETRIEVAL_RENDERED] > section[VALID]["retrieval"] + 0.3
        and section[VALID]["model"] > 0.5
    )
    assert section[VALID]["held-out real"] == 1.0 and section[DIVERSITY]["model"] == 0.0
    assert (
        section[DIVERSITY]["held-out real"] > 0.5
        and section[REALISM]["model"] < section[REALISM]["retrieval"]
    )
    assert "10 test footprints" in note and "3 plans" in note
    assert draw_plans(model, test_f[:4], 2).shape == (4, 2, 32, 32)


def test_evaluate_adds_the_floor_plan_section(tmp_path, monkeypatch):
    from aekit.evaluate import evaluate_run

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "TRAIN_PAIRS", 60)
    monkeypatch.setattr(files, "TEST_PAIRS", 8)
    run = make_run(
        tmp_path / "run",
        "plan-vae",
        {"channels": [4, 8, 16, 32], "latent_dim": 4, "code_maps": 4},
        (3, 64, 64),
        dataset="floorplans-synthetic",
    )
    result = evaluate_run(run, iwae_k=2, iwae_images=4)
    plans = result["sections"]["floor plans"]
    assert plans[IOU]["held-out real"] == 1.0 and 0.0 <= plans[IOU]["model"] <= 1.0
    assert any(
        "8 plans drawn for each of the first 8 test footprints" in n for n in result["notes"]
    )
    assert "prior gmm" not in plans[IOU]


def test_evaluate_prior_adds_a_floor_plan_column_from_the_fitted_prior(tmp_path, monkeypatch):
    from aekit.evaluate import evaluate_run
    from aekit.priors import fit_prior

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "TRAIN_PAIRS", 60)
    monkeypatch.setattr(files, "TEST_PAIRS", 8)
    run = make_run(
        tmp_path / "run",
        "plan-layout",
        {"channels": [8, 16, 32], "latent_channels": 2},
        (3, 64, 64),
        dataset="floorplans-synthetic",
    )
    fit_prior(run, "gmm", components=2)
    plans = evaluate_run(run, iwae_k=2, iwae_images=4, priors=["gmm"], plan_footprints=4)[
        "sections"
    ]["floor plans"]
    assert {"model", "prior gmm"} <= set(plans[REALISM]) and 0.0 <= plans[IOU]["prior gmm"] <= 1.0


def test_the_footprints_fit_a_minute_unless_asked_for(monkeypatch):
    from types import SimpleNamespace

    import aekit.plan_measures as measures

    train_f, train_p = fp.make_floorplans(40, 32, seed=0)
    test_f, test_p = fp.make_floorplans(600, 32, seed=1)
    model = CopyingModel(test_f, test_p)
    now = [0.0]
    monkeypatch.setattr(measures, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    monkeypatch.setattr(
        measures,
        "draw_plans",
        lambda m, footprints, k: (
            now.__setitem__(0, now[0] + 0.12 * len(footprints)),
            np.zeros((len(footprints), k, 32, 32), np.uint8),
        )[1],
    )
    # 0.12 s per footprint's 8 plans drawn and rendered; 19 / 8 of it with the 8 raw plans, the
    # real,
    # the retrieved and the rendered retrieved plan: 0.285 s, so 210 footprints fit a minute
    plan = measures.plan_footprints(model, test_f, 8)
    assert (plan.n, plan.available, plan.budget_seconds) == (210, 500, 60.0)
    assert plan.estimated_seconds == pytest.approx(210 * 0.285)
    assert "210 of 500 test footprints x 8 plans, about 60 s" in plan.describe(
        8
    ) and "--plan-footprints" in plan.describe(8)
    asked = measures.plan_footprints(model, test_f, 8, n=550)
    # asked for: more than the default 500, no budget
    assert (asked.n, asked.budget_seconds) == (550, None)


def test_encode_takes_the_footprints_of_a_floor_plan_dataset(tmp_path, monkeypatch, capsys):
    from aekit.cli import main

    monkeypatch.setenv("AEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "TRAIN_PAIRS", 20)
    monkeypatch.setattr(files, "TEST_PAIRS", 6)
    run = make_run(
        tmp_path / "run",
        "plan-vae",
        {"channels": [4, 8, 16, 32], "latent_dim": 4, "code_maps": 4},
        (3, 64, 64),
        dataset="floorplans-synthetic",
    )
    out = tmp_path / "codes.npy"
    assert (
        main(
            [
                "encode",
                str(run),
                "--dataset",
                "floorplans-synthetic",
                "--split",
                "all",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    codes, names, _ = read_codes(out)
    # 20 training and 6 test plans, each with its footprint
    assert codes.shape == (26, 4) and len(names) == 26
    capsys.readouterr()
    # no footprints in a codes file
    assert main(["decode", str(run), str(out), "--out", str(tmp_path / "decoded")]) == 2
    assert "decodes given a footprint image" in capsys.readouterr().err


class CodeGatedModel(CopyingModel):
    """Copies the real plan only for codes near 10 (where the 'training codes' sit), else builds
    nothing: N(0, I) codes miss them, a prior fitted to them does not."""

    def classes_for_codes(self, z, condition, rendered=True):
        copies = super().classes_for_codes(z, condition, rendered)
        return torch.where((z.mean(1) > 5)[:, None, None], copies, torch.zeros_like(copies))


def _prior_at_ten(latent_dim: int = 4) -> GMMPrior:
    codes = 10 + 0.1 * torch.randn(200, latent_dim, generator=torch.Generator().manual_seed(0))
    return GMMPrior((latent_dim,), None, components=2).fit(codes, None)


def test_a_column_per_prior_draws_the_model_from_that_priors_codes():
    train_f, train_p = fp.make_floorplans(120, 32, seed=0)
    test_f, test_p = fp.make_floorplans(12, 32, seed=1)
    model = CodeGatedModel(test_f, test_p)
    section, note, _ = plan_section(
        model,
        train_f,
        train_p,
        test_f,
        test_p,
        footprints=10,
        per_footprint=3,
        priors={"gmm": _prior_at_ten()},
    )
    assert set(section[IOU]) == {
        "model",
        RAW,
        "held-out real",
        "retrieval",
        RETRIEVAL_RENDERED,
        "prior gmm",
    }
    # N(0, I) builds nothing here
    assert section[IOU]["model"] == 0.0 and section[IOU]["prior gmm"] > 0.8
    assert section[REALISM]["prior gmm"] < section[REALISM]["retrieval"] < section[REALISM]["model"]
    assert section[VALID]["prior gmm"] > section[VALID]["model"] == 0.0
    assert (
        section[REAL_VS_REAL]["prior gmm"] == section[REAL_VS_REAL]["model"]
        and "'prior NAME'" in note
    )


def test_draw_plans_takes_codes_from_the_prior_and_refuses_what_does_not_fit():
    test_f, test_p = fp.make_floorplans(6, 32, seed=1)
    model = CodeGatedModel(test_f, test_p)
    # the copies, rendered: the stray row above each building moves its outer wall at 32 x 32
    assert (draw_plans(model, test_f, 2, prior=_prior_at_ten()) == test_p[:, None]).mean() > 0.8
    assert draw_plans(model, test_f, 2).max() == 0  # N(0, I)
    with pytest.raises(ConfigError, match="--temperature scales N\\(0, I\\) codes"):
        draw_plans(model, test_f, 2, temperature=0.7, prior=_prior_at_ten())
    with pytest.raises(ConfigError, match="codes of 3 numbers; model 'copying' takes 4"):
        draw_plans(model, test_f, 2, prior=_prior_at_ten(3))
