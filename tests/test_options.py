"""Every command's options come from one dataclass (aekit.options): help with defaults, checks,
keywords."""

from __future__ import annotations

import argparse
import inspect
import re
from dataclasses import MISSING, fields

import pytest

from aekit import options as opt
from aekit.cli import CommandParser, build_parser, main
from aekit.config import FIELDS, TrainConfig
from aekit.option_fields import options_from_args

# the function each command calls with its options as keywords, and the fields it takes otherwise
# (quiet becomes a Progress; --no-priors empties --prior)
NOT_KEYWORDS = {
    "denoise": {"quiet"},
    "encode": {"quiet"},
    "evaluate": {"quiet"},
    "report": {"quiet"},
    "export": {"no_priors"},
}
# fit_prior is quiet in Python; the command shows its progress
OWN_DEFAULTS = {("fit-prior", "quiet")}


def _functions() -> dict[str, object]:
    from aekit.bench import bench_command
    from aekit.commands.codes import decode, encode
    from aekit.commands.denoise import denoise
    from aekit.commands.generate import interpolate, sample
    from aekit.data.floorplan_files import make_floorplans_command
    from aekit.evaluate import evaluate_run
    from aekit.export import export_run
    from aekit.priors import fit_prior
    from aekit.serve import serve
    from aekit.tour import run_tour

    return {
        "denoise": denoise,
        "sample": sample,
        "encode": encode,
        "decode": decode,
        "interpolate": interpolate,
        "evaluate": evaluate_run,
        "report": evaluate_run,
        "export": export_run,
        "serve": serve,
        "tour": run_tour,
        "bench": bench_command,
        "make-floorplans": make_floorplans_command,
        "fit-prior": fit_prior,
    }


def _commands() -> dict[str, CommandParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in sub.choices.values():
        command.complete()
    return dict(sub.choices)


def _default_of(f) -> object:
    return (
        f.default
        if f.default is not MISSING
        else f.default_factory()
        if f.default_factory is not MISSING
        else MISSING
    )


def test_every_command_but_train_has_an_options_dataclass():
    commands = _commands()
    assert set(opt.COMMAND_OPTIONS) == set(commands) - {"train"}
    # report takes evaluate's options, defined once
    assert opt.COMMAND_OPTIONS["report"] is opt.COMMAND_OPTIONS["evaluate"]


def test_every_flag_has_help_that_states_its_default():
    for name, parser in _commands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            where = f"aekit {name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, where
            switch, required = action.nargs == 0, action.required or not action.option_strings
            assert switch or required or "default" in action.help, where
            # no benchmark figures
            assert not re.search(r"\d(\.\d+)?x\b|images/s|img/s|\d+(\.\d+)? ?s\b", action.help), (
                where
            )


def test_defaults_in_help_are_the_dataclass_defaults():
    checked = 0
    for name, parser in _commands().items():
        cls = opt.COMMAND_OPTIONS.get(name, TrainConfig)
        by_dest = {a.dest: a for a in parser._actions}
        for f in fields(cls):
            action, default = by_dest[f.name], _default_of(f)
            shown = re.search(r"\(default ([^)]*)\)$", action.help)
            # the others' help says in words what happens
            if default not in (MISSING, None, False, [], {}):
                assert shown and shown.group(1) == str(default), (name, f.name, action.help)
                checked += 1
            # train's flags stay None so that only those given override --config
            if cls is not TrainConfig:
                assert action.default == (None if default is MISSING else default), (name, f.name)
    assert checked >= 30  # the test saw the flags


def _required_argv(cls: type) -> tuple[list[str], dict[str, object]]:
    """Command-line words giving ``cls``'s required options, and their values."""
    argv, values = [], {}
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING:
            value = ["in.png"] if f.metadata["nargs"] == "+" else f"given-{f.name}"
            argv += [
                *([] if f.metadata["positional"] else ["--" + f.name.replace("_", "-")]),
                *(value if isinstance(value, list) else [value]),
            ]
            values[f.name] = value
    return argv, values


def test_the_parsed_defaults_build_the_dataclass_defaults():
    for name, cls in opt.COMMAND_OPTIONS.items():
        argv, values = _required_argv(cls)
        if name == "fit-prior":
            argv += ["--prior", "gmm"]
        parsed = options_from_args(cls, build_parser().parse_args([name, *argv]))
        assert parsed == cls(**values), name


def test_options_are_the_command_functions_keywords_with_their_defaults():
    for name, function in _functions().items():
        parameters = inspect.signature(function).parameters
        cls = opt.COMMAND_OPTIONS[name]
        names = {f.name for f in fields(cls)}
        assert names - set(parameters) == NOT_KEYWORDS.get(name, set()), name
        for f in fields(cls):
            given = parameters.get(f.name)
            if (
                given is not None
                and given.default is not inspect.Parameter.empty
                and (name, f.name) not in OWN_DEFAULTS
            ):
                default = _default_of(f)
                assert (
                    list(given.default) if isinstance(given.default, tuple) else given.default
                ) == default, (name, f.name)


def test_evaluate_passes_only_the_options_given():
    evaluate = opt.EvaluateOptions(run_dir="r", iwae_k=7, iwae_seconds=3.0, priors=["gmm"])
    assert evaluate.given() == {"iwae_k": 7, "iwae_seconds": 3.0, "priors": ["gmm"]}
    assert opt.EvaluateOptions(run_dir="r", quiet=True).given() == {}


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["sample", "{run}", "--out", "{out}", "--temperature", "inf"],
            "--temperature must be a positive finite number, got inf",
        ),
        (
            ["sample", "{run}", "--out", "{out}", "--alpha-threshold", "nan"],
            "--alpha-threshold must be between 0 and 1, got nan",
        ),
        (["evaluate", "{run}", "--iwae-k", "0"], "--iwae-k must be at least 1, got 0"),
        (
            ["report", "{run}", "--iwae-seconds=-inf"],
            "--iwae-seconds must be a positive finite number, got -inf",
        ),
        (["evaluate", "{run}", "--ocr-pages=-1"], "--ocr-pages must be at least 0, got -1"),
        (
            ["encode", "{run}", "--dataset", "digits", "--out", "{out}.npy", "--seed", str(2**64)],
            "--seed must be between 0 and 2**63-1",
        ),
        (
            [
                "interpolate",
                "{run}",
                "--from-class",
                "0",
                "--to-class",
                "1",
                "--out",
                "{out}",
                "--steps",
                "1001",
            ],
            "--steps must be between 2 and 1,000, got 1001",
        ),
        (
            ["denoise", "{run}", "x.png", "--out", "{out}", "--jpeg-quality", "101"],
            "--jpeg-quality must be between 1 and 100",
        ),
        (["serve", "{run}", "--port", "65536"], "--port must be between 0 and 65,535"),
        (
            ["fit-prior", "{run}", "--prior", "gmm", "--draws=-1"],
            "--draws must be at least 0, got -1",
        ),
        (["bench", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["make-documents", "--out", "{out}", "--pages", "0"], "--pages must be at least 1, got 0"),
        (
            ["make-floorplans", "--out", "{out}", "--size", "16"],
            "--size must be between 32 and 1,024, got 16",
        ),
        (
            ["decode", "{run}", "codes.npy", "--out", "{out}", "--threads", "0"],
            "--threads must be at least 1, got 0",
        ),
    ],
)
def test_a_bad_value_is_one_line_before_any_work(argv, message, tmp_path, capsys):
    # refused before the run is read or anything written
    run, out = tmp_path / "no-such-run", tmp_path / "out"
    assert main([word.format(run=run, out=out) for word in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aekit: error: ") and len(err.splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_interpolate_caps_steps_where_the_library_does():
    from aekit.inference import MAX_STEPS

    steps = next(f for f in fields(opt.InterpolateOptions) if f.name == "steps")
    assert steps.metadata["check"][1](MAX_STEPS) and not steps.metadata["check"][1](MAX_STEPS + 1)


def test_prior_and_model_names_come_from_the_registries(monkeypatch):
    from aekit.models import MODELS
    from aekit.priors import PRIORS, GMMPrior

    monkeypatch.setitem(PRIORS, "toy", GMMPrior)
    monkeypatch.setitem(MODELS, "toy-model", MODELS["dense"])
    parser = build_parser()
    assert parser.parse_args(["sample", "r", "--out", "o", "--prior", "toy"]).prior == "toy"
    assert parser.parse_args(["evaluate", "r", "--prior", "toy", "--prior", "all"]).priors == [
        "toy",
        "all",
    ]
    assert parser.parse_args(["export", "r", "--out", "o", "--prior", "toy"]).priors == ["toy"]
    assert (
        parser.parse_args(["bench", "--model", "toy-model", "--dataset", "digits"]).model
        == "toy-model"
    )


def test_train_keeps_its_one_flag_per_config_field():
    train = _commands()["train"]
    assert {a.dest for a in train._actions} - {"help", "config", "threads"} == set(FIELDS)
