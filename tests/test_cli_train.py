"""`aekit train` from flags and from the example TOML files; errors are one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aekit.cli import main
from aekit.config import TrainConfig

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))


def test_train_from_flags(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--model",
        "conv",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--max-train-images",
        "128",
        "--latent-dim",
        "4",
        "--batch-size",
        "32",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "run saved in" in capsys.readouterr().err  # progress goes to stderr, results to stdout
    meta = json.loads((out / "config.json").read_text())
    assert (
        meta["model"] == "conv"
        and meta["model_options"]["latent_dim"] == 4
        and meta["train"]["epochs"] == 2
    )
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    # resuming needs only --out: the run's own config is the base, flags change what may change
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid_configs(example):
    config = TrainConfig.from_toml(example)
    assert config.epochs >= 1 and config.out


def test_train_from_example_config(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--config",
        str(EXAMPLES[0]),
        "--epochs",
        "1",
        "--max-train-images",
        "64",
        "--dataset",
        "digits",
        "--image-size",
        "16",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 1


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--epochs", "0"], "'epochs' must be at least 1"),
        (["--config", "missing.toml"], "cannot read config"),
        (["--noise", "salt-pepper:7"], "salt"),
        (["--device", "cuda:99"], "cuda"),
    ],
)
def test_errors_are_one_line_with_exit_2(tmp_path, capsys, argv, fragment):
    assert (
        main(["train", "--dataset", "digits", "--out", str(tmp_path / "run"), "--quiet", *argv])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("aekit: error: ") and err.count("\n") == 1 and fragment in err
