"""TrainConfig: TOML and CLI parsing, validation that answers every bad input with one line."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aekit.cli import build_parser
from aekit.config import TrainConfig, config_from_cli
from aekit.errors import ConfigError


def _cli(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *argv])


def test_toml_round_trip(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'model = "dense"\nepochs = 3\nlr = 1\nnoise = '
        '"salt-pepper:0.1"\n[model_options]\nlatent_dim = 4\n'
    )
    config = TrainConfig.from_toml(path)
    assert (config.model, config.epochs, config.lr, config.noise) == (
        "dense",
        3,
        1.0,
        "salt-pepper:0.1",
    )
    assert isinstance(config.lr, float) and config.model_options == {"latent_dim": 4}
    assert TrainConfig.from_dict(config.to_dict(), "again") == config


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("epochs = 0", "'epochs' must be at least 1"),
        ('epochs = "3"', "'epochs' must be an integer"),
        ("epochs = true", "'epochs' must be an integer"),
        ("lr = nan", "'lr' must be a positive finite number"),
        ('optimizer = "sgd"', "'optimizer' must be one of adam, adamw"),
        ('device = "tpu"', "'device' must be auto, cpu, cuda"),
        ('precision = "fp16"', "'precision' must be one of auto, fp32, bf16"),
        ("val_fraction = 1.0", "'val_fraction' must be between 0 and 1"),
        ("epoch = 3", "unknown key(s) epoch"),
        ('model = "no-such-model"', "unknown model 'no-such-model'"),
        ('dataset = "no-such-data"', "unknown dataset 'no-such-data'"),
        ('noise = "salt:0.1"', "unknown noise"),
        ('model = "conv"\n[model_options]\nlatent_dimm = 2', "unknown option(s) latent_dimm"),
        ("epochs = ", "invalid TOML"),
    ],
)
def test_bad_toml_is_one_line_naming_file_and_key(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_toml(path)
    message = str(info.value)
    assert fragment in message and str(path) in message and "\n" not in message


def test_non_utf8_and_missing_files(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00model")
    with pytest.raises(ConfigError, match="not UTF-8"):
        TrainConfig.from_toml(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        TrainConfig.from_toml(tmp_path / "missing.toml")


def test_cli_flags_win_over_toml_and_fill_model_options(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'model = "dense"\nepochs = 3\nbatch_size = 16\n[model_options]\nlatent_dim = 4\n'
    )
    config = config_from_cli(
        _cli("--config", str(path), "--epochs", "5", "--latent-dim", "7", "--out", "x")
    )
    assert (config.model, config.epochs, config.batch_size, config.out) == ("dense", 5, 16, "x")
    assert config.model_options == {"latent_dim": 7}
    plain = config_from_cli(_cli("--model", "dense", "--lr", "0.01", "--quiet"))
    assert plain.lr == 0.01 and plain.quiet and plain.epochs == TrainConfig().epochs
    with pytest.raises(ConfigError, match="command line: 'epochs' must be at least 1"):
        config_from_cli(_cli("--epochs", "0"))


TOML_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=20),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
KEYS = st.sampled_from([*TrainConfig().to_dict(), "bogus", ""])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(KEYS, TOML_VALUES, max_size=6))
def test_fuzz_config_dicts_load_or_raise_config_error(data):
    try:
        config = TrainConfig.from_dict(data, "fuzz")
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(config, TrainConfig)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.lists(
            st.sampled_from(
                [
                    'model = "dense"',
                    "epochs = 2",
                    "[model_options]",
                    "lr = 1e-3",
                    "x = [",
                    '"a" = {',
                    "epochs = 1e400",
                    "seed = -1",
                    "\x00",
                ]
            ),
            max_size=6,
        ).map(lambda lines: "\n".join(lines).encode()),
    )
)
def test_fuzz_toml_bytes_load_or_raise_config_error(tmp_path, blob):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(blob)
    try:
        config = TrainConfig.from_toml(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(config, TrainConfig)


def test_every_flag_is_a_toml_key_and_every_key_a_flag():
    from aekit.config import FIELDS

    train = next(
        a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "train"
    )[1]
    # --threads is every command's (cli.main sets torch's threads before any command runs), not a
    # training setting
    flags = {a.dest for a in train._actions} - {"help", "config", "handler", "threads"}
    assert flags == set(FIELDS)
    for name in FIELDS:  # and each flag sets its key
        assert f"--{name.replace('_', '-')}" in train.format_help()


def test_latent_dim_and_beta_are_toml_keys_that_set_model_options(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "vae"\nlatent_dim = 8\nbeta = 0.5\n[model_options]\nhidden = [64]\n')
    config = TrainConfig.from_toml(path)
    assert config.model_options == {"hidden": [64], "latent_dim": 8, "beta": 0.5}
    assert config.latent_dim is None and TrainConfig.from_dict(config.to_dict(), "again") == config


def test_model_options_flag_reads_json_values():
    config = config_from_cli(
        _cli(
            "--model",
            "vae",
            "--model-options",
            "hidden=[32, 16]",
            "--model-options",
            "likelihood=gaussian",
            "--latent-dim",
            "3",
        )
    )
    assert config.model_options == {"hidden": [32, 16], "likelihood": "gaussian", "latent_dim": 3}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        config_from_cli(_cli("--model-options", "hidden"))
    with pytest.raises(ConfigError, match="unknown option"):
        config_from_cli(_cli("--model", "vae", "--model-options", "latent=3"))
