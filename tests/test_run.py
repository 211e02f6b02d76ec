"""``aekit.Run``: a run folder as one object, and its Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_commands import make_run

import aekit
from aekit.errors import AekitError
from aekit.inference import resized_reconstruct, sample_images
from aekit.priors import fit_prior
from aekit.run import Run


@pytest.fixture()
def vae_run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "vae", "vae", {"latent_dim": 3}, (1, 8, 8))


def test_run_reads_the_typed_config_and_its_files(vae_run: Path):
    run = aekit.Run(vae_run, "cpu")
    assert run.model_name == "vae" and run.dataset == "digits" and run.input_shape == (1, 8, 8)
    assert run.config.dataset == "digits" and run.info.num_classes is None
    assert run.eval() is None and run.history == [] and run.checkpoint() is None
    assert run.data_options()["channels"] == 1  # the model's channels where the config left them unset
    assert run.test.shape == (1, 8, 8) and len(run.train) + len(run.heldout) == len(run.data("train"))
    (vae_run / "eval.json").write_text(json.dumps({"sections": {}}))
    assert run.eval() == {"sections": {}}


def test_python_api_gives_what_the_library_gives(vae_run: Path):
    run = Run(vae_run, "cpu")
    images = run.sample(6, seed=2)
    assert torch.equal(images, sample_images(run.model, 6, seed=2))
    assert not torch.equal(images, run.sample(6, seed=3))
    codes = run.encode(images)
    with torch.inference_mode():
        assert torch.allclose(codes, run.model.encode(images), atol=1e-6)
        assert torch.allclose(run.decode(codes), run.model.decode(codes), atol=1e-6)
    page = torch.rand(1, 20, 30)
    assert torch.allclose(run.denoise(page), resized_reconstruct(run.model, page), atol=1e-6)


def test_a_folder_that_is_no_run_is_refused_in_one_line(tmp_path: Path):
    with pytest.raises(AekitError, match="not an aekit run folder"):
        Run(tmp_path)
    with pytest.raises(AekitError, match="pickle"):
        Run(tmp_path / "model.pt")


def test_fit_prior_reads_the_data_as_training_did(tmp_path: Path):
    """A run trained on digits read as RGB: the prior's codes come from 3-channel images (image size
    alone would give grey ones the model cannot encode)."""
    folder = make_run(tmp_path / "rgb", "dense", {"latent_dim": 2}, (3, 8, 8))
    config = json.loads((folder / "config.json").read_text())
    config["train"]["channels"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    fit_prior(folder, "gmm", components=2)
    prior = Run(folder, "cpu").prior("gmm")
    assert prior.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 2)
