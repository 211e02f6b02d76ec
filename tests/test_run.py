"""``aekit.Run``: a run folder as one object, and its Python API."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from test_commands import make_run

import aekit
from aekit import options as opt
from aekit.cli import build_parser, main
from aekit.errors import AekitError
from aekit.images import read_image_file
from aekit.inference import resized_reconstruct, sample_images
from aekit.option_fields import options_from_args
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
    # the model's channels where the config left them unset
    assert run.data_options()["channels"] == 1
    assert run.test.shape == (1, 8, 8) and len(run.train) + len(run.heldout) == len(
        run.data("train")
    )
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


API_OPTIONS = [
    ("sample", "sample", opt.DrawOptions, ["--out", "o"]),
    ("denoise", "denoise", opt.CleanOptions, ["x.png", "--out", "o"]),
    ("encode", "encode", opt.CodeOptions, ["--out", "o.npy"]),
]


@pytest.mark.parametrize("method, command, api, argv", API_OPTIONS)
def test_python_api_keywords_are_the_commands_options_with_its_defaults(
    vae_run: Path, method, command, api, argv
):
    """Run.sample/denoise/encode take their command's options (a base of its dataclass), with the
    defaults the command line parses to; an unknown keyword is refused."""
    cls = opt.COMMAND_OPTIONS[command]
    assert issubclass(cls, api) and fields(api)
    parsed = options_from_args(cls, build_parser().parse_args([command, str(vae_run), *argv]))
    assert all(getattr(parsed, f.name) == getattr(api(), f.name) for f in fields(api))
    run, data = Run(vae_run, "cpu"), torch.rand(2, 1, 8, 8)
    with pytest.raises(AekitError, match=r"unknown option\(s\) temprature"):
        getattr(run, method)(
            2 if method == "sample" else data[0] if method == "denoise" else data, temprature=1.0
        )


def test_python_api_default_draw_is_the_commands_default(vae_run: Path):
    run = Run(vae_run, "cpu")
    default = opt.DrawOptions()
    assert torch.equal(
        run.sample(3),
        sample_images(run.model, 3, seed=default.seed, temperature=default.temperature),
    )
    # the keyword reaches the draw
    assert not torch.equal(run.sample(3), run.sample(3, temperature=0.5))


def test_python_api_and_command_draw_from_the_models_default_prior(
    vae_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A model whose training fits a prior (the vq-vae's transformer, plan-layout's gmm) is drawn
    from it by ``Run.sample`` as by ``aekit sample`` when no --prior is given; ``none`` and a
    temperature ask for the model's own codes."""
    model_class = type(Run(vae_run, "cpu").model)
    assert Run(vae_run, "cpu").model.default_prior() is None
    before = Run(vae_run, "cpu").sample(4)
    monkeypatch.setattr(model_class, "default_prior", lambda self: "gmm")
    assert torch.equal(Run(vae_run, "cpu").sample(4), before)  # not fitted yet: N(0, I)
    fit_prior(vae_run, "gmm", components=2)
    run = Run(vae_run, "cpu")
    from_prior = run.sample(4)
    assert torch.equal(from_prior, run.sample(4, prior="gmm"))
    assert not torch.equal(from_prior, before)
    assert torch.equal(run.sample(4, prior="none"), before)
    assert torch.equal(run.sample(4, temperature=0.5), sample_images(run.model, 4, temperature=0.5))
    assert main(["sample", str(vae_run), "--n", "4", "--out", str(tmp_path / "s")]) == 0
    first = sorted((tmp_path / "s").glob("sample_*.png"))[0]
    assert torch.allclose(read_image_file(first).pixels, from_prior[0], atol=1 / 255)


@pytest.mark.parametrize(
    "argv, keywords",
    [
        (["--temperature", "-1"], {"temperature": -1.0}),
        (["--temperature", "inf"], {"temperature": math.inf}),
        (["--seed", "-3"], {"seed": -3}),
    ],
)
def test_a_bad_keyword_value_is_the_error_the_command_prints(
    vae_run: Path, tmp_path: Path, capsys, argv, keywords
):
    assert main(["sample", str(vae_run), "--out", str(tmp_path / "s"), *argv]) == 2
    printed = capsys.readouterr().err.strip().removeprefix("aekit: error: ")
    with pytest.raises(AekitError) as info:
        Run(vae_run, "cpu").sample(2, **keywords)
    assert str(info.value) == printed


def test_a_keyword_of_the_wrong_type_is_one_line(vae_run: Path):
    with pytest.raises(AekitError, match="--temperature must be a number, got 'hot'"):
        Run(vae_run, "cpu").sample(2, temperature="hot")
    with pytest.raises(AekitError, match="--sample must be true or false"):
        Run(vae_run, "cpu").encode(torch.rand(2, 1, 8, 8), sample_posterior=1)


def test_aekit_train_takes_the_train_config_fields_as_keywords(tmp_path: Path, capsys):
    assert main(["train", "--epochs", "0", "--out", str(tmp_path / "cli")]) == 2
    printed = capsys.readouterr().err.strip()
    with pytest.raises(AekitError) as info:
        aekit.train(epochs=0, out=str(tmp_path / "api"))
    assert str(info.value).removeprefix("aekit.train: ") in printed and printed.endswith(
        "'epochs' must be at least 1, got 0"
    )
    with pytest.raises(AekitError, match=r"unknown key\(s\) epoch"):
        aekit.train(epoch=1)
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
