"""The ``aekit`` command line: one sub-command per task, each a thin layer over the Python API.

Heavy modules are imported inside each command so ``aekit --help`` stays instant.
Every ``AekitError`` is printed as one line (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aekit.config import add_train_arguments
from aekit.errors import AekitError, ConfigError

if TYPE_CHECKING:  # the options dataclasses, imported when a command runs
    from aekit.options import (
        DatasetsOptions,
        DecodeOptions,
        DenoiseOptions,
        EncodeOptions,
        EvaluateOptions,
        ExportOptions,
        FitPriorOptions,
        InterpolateOptions,
        MakeDocumentsOptions,
        ReportOptions,
        SampleOptions,
        ServeOptions,
        TourOptions,
    )


def _options(args: argparse.Namespace) -> Any:
    """The parsed command's options dataclass (``aekit.options.COMMAND_OPTIONS``), each value
    checked."""
    from aekit.option_fields import options_from_args
    from aekit.options import COMMAND_OPTIONS

    return options_from_args(COMMAND_OPTIONS[args.command], args)


def _cmd_datasets(args: argparse.Namespace) -> None:
    opts: DatasetsOptions = _options(args)
    if opts.inspect:
        from aekit.data.inspect import inspect_dataset

        print(inspect_dataset(opts.inspect))
        return
    from aekit.data import describe_datasets

    print(describe_datasets())


def _cmd_models(args: argparse.Namespace) -> None:
    from aekit.models import describe_models

    print(describe_models())


def _cmd_train(args: argparse.Namespace) -> None:
    from aekit.config import config_from_cli
    from aekit.train import train

    train(config_from_cli(args))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from aekit.evaluate import evaluate_run
    from aekit.progress import Progress
    from aekit.tables import format_metrics

    opts: EvaluateOptions = _options(args)
    metrics = evaluate_run(Path(opts.run_dir), **opts.given(), progress=Progress(quiet=opts.quiet))
    print(format_metrics(metrics))


def _cmd_report(args: argparse.Namespace) -> None:
    from aekit.progress import Progress
    from aekit.report import write_report

    opts: ReportOptions = _options(args)
    path = write_report(Path(opts.run_dir), progress=Progress(quiet=opts.quiet), **opts.given())
    print(f"report written to {path}")


def _cmd_tour(args: argparse.Namespace) -> None:
    from aekit.tour import run_tour

    opts: TourOptions = _options(args)
    run_tour(Path(opts.out), quick=opts.quick, dataset=opts.dataset, only=opts.only)


def _cmd_bench(args: argparse.Namespace) -> None:
    from aekit.bench import bench_command

    bench_command(**asdict(_options(args)))


def _cmd_make_documents(args: argparse.Namespace) -> None:
    from aekit.data.synthetic_documents import page_size, synthesize

    opts: MakeDocumentsOptions = _options(args)
    if opts.dpi is None and opts.page is not None:
        raise ConfigError("--page needs --dpi (the resolution to render it at)")
    size = (540, 420) if opts.dpi is None else page_size(opts.page or "a4", opts.dpi)
    out = synthesize(opts.pages, Path(opts.out), seed=opts.seed, size=size, dpi=opts.dpi)
    print(
        f"wrote {opts.pages} page pairs of {size[0]}x{size[1]} px to {out}"
        + (" with each page's text beside its clean page (.txt)" if opts.dpi else "")
    )


def _cmd_make_floorplans(args: argparse.Namespace) -> None:
    from aekit.data.floorplan_files import make_floorplans_command

    print(make_floorplans_command(**asdict(_options(args))))


def _cmd_export(args: argparse.Namespace) -> None:
    from aekit.export import export_run

    opts: ExportOptions = _options(args)
    priors = () if opts.no_priors else opts.priors  # None: every prior fitted in the run
    for path in export_run(Path(opts.run_dir), Path(opts.out), fmt=opts.fmt, priors=priors):
        print(f"wrote {path}")


def _cmd_serve(args: argparse.Namespace) -> None:
    from aekit.serve import serve

    opts: ServeOptions = _options(args)
    serve(Path(opts.run_dir), host=opts.host, port=opts.port)


def _keywords(opts: Any, *but: str) -> dict[str, Any]:
    """The options as the command function's keyword arguments, less ``but`` (``quiet`` becomes a
    ``Progress``)."""
    return {name: value for name, value in asdict(opts).items() if name not in but}


def _cmd_denoise(args: argparse.Namespace) -> None:
    from aekit.commands.denoise import denoise
    from aekit.progress import Progress

    opts: DenoiseOptions = _options(args)
    result = denoise(**_keywords(opts, "quiet"), progress=Progress(quiet=opts.quiet))
    print(
        f"denoised {len(result.written)} file(s) into {opts.out}"
        + _failures(result.failed)
        + (f"; submission in {opts.kaggle_csv}" if opts.kaggle_csv else "")
    )
    if result.failed:
        raise SystemExit(1)


def _failures(failed: Sequence[tuple[Path, str]], shown: int = 10) -> str:
    """``; 2 failed: a.png, b.png`` (the first ``shown`` named), for a command's summary line."""
    if not failed:
        return ""
    names = ", ".join(str(path) for path, _ in failed[:shown])
    return f"; {len(failed)} failed: {names}" + (
        f" and {len(failed) - shown} more" if len(failed) > shown else ""
    )


def _cmd_sample(args: argparse.Namespace) -> None:
    from aekit.commands.generate import sample

    opts: SampleOptions = _options(args)
    print(sample(**asdict(opts)).describe())


def _cmd_encode(args: argparse.Namespace) -> None:
    from aekit.commands.codes import encode
    from aekit.progress import Progress

    opts: EncodeOptions = _options(args)
    result = encode(**_keywords(opts, "quiet"), progress=Progress(quiet=opts.quiet))
    print(f"wrote the codes of {result.count} image(s) to {result.path}" + _failures(result.failed))
    if result.failed:
        raise SystemExit(1)


def _cmd_decode(args: argparse.Namespace) -> None:
    from aekit.commands.codes import decode

    opts: DecodeOptions = _options(args)
    paths = decode(**asdict(opts))
    print(f"decoded {len(paths)} code(s) into {opts.out}")


def _cmd_interpolate(args: argparse.Namespace) -> None:
    from aekit.commands.generate import interpolate

    opts: InterpolateOptions = _options(args)
    paths, how = interpolate(**asdict(opts))
    print(
        f"{how}: wrote {opts.steps} steps to {opts.out}" + (f" and {paths[-1]}" if opts.gif else "")
    )


def _cmd_fit_prior(args: argparse.Namespace) -> None:
    from aekit.priors import fit_options, fit_prior

    opts: FitPriorOptions = _options(args)
    path = fit_prior(
        Path(opts.run_dir),
        args.prior,
        draws=opts.draws,
        seed=opts.seed,
        quiet=opts.quiet,
        **fit_options(args),
    )
    print(f"wrote {path} and {path.with_suffix('.safetensors')}")


class CommandParser(argparse.ArgumentParser):
    """A sub-command's parser; its options dataclass (``aekit.options.COMMAND_OPTIONS``),
    ``--threads`` and ``extra`` (such as the prior registry's flags) become arguments when this
    command is parsed or its help shown, so ``aekit --help`` and other commands stay instant (prior
    and model names import torch)."""

    def __init__(
        self,
        *args: object,
        command: str = "",
        extra: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: object,
    ):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.command, self._extra, self._complete = command, extra, False

    def complete(self) -> None:
        """Add the arguments still to add (once)."""
        if self._complete:
            return
        from aekit.option_fields import ThreadOptions, add_options
        from aekit.options import COMMAND_OPTIONS

        self._complete = True
        if self.command in COMMAND_OPTIONS:
            add_options(self, COMMAND_OPTIONS[self.command])
        add_options(self, ThreadOptions)
        if self._extra is not None:
            self._extra(self)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        self.complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self.complete()
        return super().format_help()


def _fit_prior_arguments(parser: argparse.ArgumentParser) -> None:
    from aekit.priors import add_fit_arguments

    add_fit_arguments(parser)


def _set_threads(args: argparse.Namespace) -> None:
    """torch's thread pools for this command, before any torch work: ``--threads``, else
    OMP_NUM_THREADS, else measured (said in one line); listing commands only take ``--threads``."""
    from aekit.option_fields import ThreadOptions, options_from_args
    from aekit.threads import decide_threads, set_threads

    threads = options_from_args(ThreadOptions, args).threads
    if threads is None and not args.computes:
        return
    choice = decide_threads(threads)
    if choice.measured:
        print(choice.line(), file=sys.stderr)
    set_threads(choice.threads)


def build_parser() -> argparse.ArgumentParser:
    """``aekit``'s parser: each command's arguments from its options dataclass (``aekit.options``;
    ``train``'s from ``TrainConfig``), added when the command is parsed
    (``CommandParser.complete``)."""
    parser = argparse.ArgumentParser(
        prog="aekit", description="Autoencoders and VAEs: compress, denoise, generate."
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], None],
        help_text: str,
        extra: Callable[[argparse.ArgumentParser], None] | None = None,
        computes: bool = True,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, command=name, extra=extra)
        p.set_defaults(handler=handler, computes=computes)
        return p

    command(
        "datasets",
        _cmd_datasets,
        "list every dataset, whether it is available here and from where",
        computes=False,
    )
    command("models", _cmd_models, "list the models, one line each", computes=False)
    add_train_arguments(
        command(
            "train",
            _cmd_train,
            "train a model; writes weights, config, metrics and a checkpoint to --out",
        )
    )
    command(
        "evaluate",
        _cmd_evaluate,
        "measure a run on its test split (with baselines); writes RUN_DIR/eval.json",
    )
    command(
        "report",
        _cmd_report,
        "write RUN_DIR/report.html: config, metrics and every picture (evaluating first, with "
        "the options below, when the run has no eval.json)",
    )
    command(
        "tour", _cmd_tour, "the tutorial end to end: train, evaluate and report every experiment"
    )
    command(
        "bench",
        _cmd_bench,
        "cost of a model: parameters, FLOPs per image, img/s, s/epoch, peak memory",
    )
    command("make-documents", _cmd_make_documents, "synthesise paired dirty/clean document pages")
    command(
        "make-floorplans",
        _cmd_make_floorplans,
        "generate floor plans with their footprints (PNG pairs)",
    )
    command(
        "export",
        _cmd_export,
        "export a run's decoder/encoder and fitted priors for use outside Python",
    )
    command("serve", _cmd_serve, "a local web page to explore a model's latent space")
    command(
        "denoise",
        _cmd_denoise,
        "clean image files or folders (any size and mode) with a trained model",
    )
    command("sample", _cmd_sample, "write N generated images (PNG) from a generative model")
    command("encode", _cmd_encode, "codes of images (posterior means) to .npy, .csv or .parquet")
    command("decode", _cmd_decode, "images from a codes file written by `aekit encode`")
    command(
        "interpolate",
        _cmd_interpolate,
        "decode the way between two images (or two class centroids)",
    )
    command(
        "fit-prior",
        _cmd_fit_prior,
        "fit a prior to a trained run's codes so its samples land where images are "
        "encoded; writes RUN_DIR/prior-NAME.safetensors and .json",
        _fit_prior_arguments,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _set_threads(args)
        args.handler(args)
    except AekitError as exc:
        print(f"aekit: error: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C: one line; every file aekit writes is whole (aekit.io)
    except KeyboardInterrupt as exc:
        print(f"aekit: interrupted{f'; {exc}' if str(exc) else ''}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


def run() -> None:
    """The ``aekit`` program: ``main``, then exit without the interpreter's last garbage
    collection over torch's objects (``gc.freeze``), which cost 0.3 s of every command's 1.2 s
    start-and-stop; files are all closed by then. Not under torchrun: one rank of the two-process
    test aborted once at exit ("terminate called without an active exception", 1 run in ~30,
    not reproduced), and gloo's threads are better left to the normal teardown."""
    code = main()
    if "WORLD_SIZE" not in os.environ:
        gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
