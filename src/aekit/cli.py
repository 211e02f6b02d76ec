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
from pathlib import Path

from aekit.config import add_train_arguments
from aekit.errors import AekitError, ConfigError


def _cmd_datasets(args: argparse.Namespace) -> None:
    if args.inspect:
        from aekit.data.inspect import inspect_dataset

        print(inspect_dataset(args.inspect))
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

    metrics = evaluate_run(Path(args.run_dir), **_evaluate_options(args), progress=Progress(quiet=args.quiet))
    print(format_metrics(metrics))


def _cmd_report(args: argparse.Namespace) -> None:
    from aekit.progress import Progress
    from aekit.report import write_report

    path = write_report(Path(args.run_dir), progress=Progress(quiet=args.quiet), **_evaluate_options(args))
    print(f"report written to {path}")


def _add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``aekit evaluate``, which ``aekit report`` takes too (it evaluates when the run
    has no eval.json). Defaults stay None: ``evaluate_run``'s own defaults are the only ones."""
    p.add_argument("--iwae-k", type=int, help="importance samples for the VAE likelihood bound (default: as many as "
                   "fit --iwae-seconds on the test images; the output and eval.json say what ran)")
    p.add_argument("--iwae-images", type=int, help="likelihood bounds on the first N test images only (default: as "
                   "many as fit --iwae-seconds)")
    p.add_argument("--iwae-seconds", type=float, help="time budget of the likelihood bounds for what --iwae-k and "
                   "--iwae-images leave open (default: a minute; a short timing at the start sizes it)")
    p.add_argument("--bf16", action="store_true", default=None,
                   help="likelihood bounds under bfloat16 autocast: about 2x faster with AMX (Intel Xeon), 1.56x on an AMD "
                        "EPYC Zen 5 with AVX-512 BF16 (pixel-vae IWAE-1000: 29.9 vs 19.2 images/s, bound within 0.001 "
                        "nats); no faster on some other CPUs: measure with benchmarks/quality.py --only precision")
    p.add_argument("--max-images", type=int, help="evaluate on the first N test images only")
    p.add_argument("--generation-samples", type=int, help="samples per class and figure of the generation measures "
                   "(default: 475, or as many as fit a minute of drawing from slow samplers; the output says which)")
    p.add_argument("--ocr-pages", type=int, help="document runs: held-out pages read by tesseract (default 8; 0: no OCR)")
    p.add_argument("--quiet", action="store_true")


EVALUATE_OPTIONS = ("iwae_k", "iwae_images", "iwae_seconds", "bf16", "max_images", "ocr_pages", "prior",
                    "generation_samples")


def _evaluate_options(args: argparse.Namespace) -> dict:
    """The evaluate options given on the command line, as ``evaluate_run`` keywords."""
    given = {name: vars(args)[name] for name in EVALUATE_OPTIONS if vars(args)[name] is not None}
    if "prior" in given:
        given["priors"] = given.pop("prior")
    return given


def _cmd_tour(args: argparse.Namespace) -> None:
    from aekit.tour import run_tour

    run_tour(Path(args.out), quick=args.quick, dataset=args.dataset)


def _cmd_bench(args: argparse.Namespace) -> None:
    from aekit.bench import bench_command

    bench_command(run_dir=args.run_dir, model=args.model, dataset=args.dataset, batch_size=args.batch_size,
                  precision=args.precision)


def _cmd_make_documents(args: argparse.Namespace) -> None:
    from aekit.data.synthetic_documents import page_size, synthesize

    if args.dpi is None and args.page is not None:
        raise ConfigError("--page needs --dpi (the resolution to render it at)")
    size = (540, 420) if args.dpi is None else page_size(args.page or "a4", args.dpi)
    out = synthesize(args.pages, Path(args.out), seed=args.seed, size=size, dpi=args.dpi)
    print(f"wrote {args.pages} page pairs of {size[0]}x{size[1]} px to {out}"
          + (" with each page's text beside its clean page (.txt)" if args.dpi else ""))


def _cmd_make_floorplans(args: argparse.Namespace) -> None:
    from aekit.data.floorplan_files import make_floorplans_command

    print(make_floorplans_command(args.n, args.size, args.out, args.seed))


def _cmd_export(args: argparse.Namespace) -> None:
    from aekit.export import export_run

    priors = () if args.no_priors else args.prior  # None: every prior fitted in the run
    for path in export_run(Path(args.run_dir), Path(args.out), fmt=args.format, priors=priors):
        print(f"wrote {path}")


def _cmd_serve(args: argparse.Namespace) -> None:
    from aekit.serve import serve

    serve(Path(args.run_dir), host=args.host, port=args.port)


def _cmd_denoise(args: argparse.Namespace) -> None:
    from aekit.commands.denoise import denoise
    from aekit.progress import Progress

    result = denoise(args.run_dir, args.inputs, args.out, fmt=args.format, overwrite=args.overwrite,
                     kaggle_csv=args.kaggle_csv, device=args.device, progress=Progress(quiet=args.quiet), bf16=args.bf16,
                     ocr=args.text, jpeg_quality=args.jpeg_quality)
    print(f"denoised {len(result.written)} file(s) into {args.out}" + _failures(result.failed)
          + (f"; submission in {args.kaggle_csv}" if args.kaggle_csv else ""))
    if result.failed:
        raise SystemExit(1)


def _failures(failed: Sequence[tuple[Path, str]], shown: int = 10) -> str:
    """``; 2 failed: a.png, b.png`` (the first ``shown`` named), for a command's summary line."""
    if not failed:
        return ""
    names = ", ".join(str(path) for path, _ in failed[:shown])
    return f"; {len(failed)} failed: {names}" + (f" and {len(failed) - shown} more" if len(failed) > shown else "")


def _cmd_sample(args: argparse.Namespace) -> None:
    from aekit.commands.generate import sample

    paths = sample(args.run_dir, args.out, args.n, seed=args.seed, class_name=args.class_name, prior=args.prior,
                   condition_image=args.condition_image, temperature=args.temperature, write_sheet=args.sheet,
                   overwrite=args.overwrite, device=args.device, precision=args.precision, seamless=args.seamless,
                   palette=args.palette, alpha_threshold=args.alpha_threshold, like=args.like, spread=args.spread,
                   vector=args.vector, scale=args.scale)
    print(paths.describe())


def _cmd_encode(args: argparse.Namespace) -> None:
    from aekit.commands.codes import encode
    from aekit.progress import Progress

    result = encode(args.run_dir, args.out, inputs=args.inputs, dataset=args.dataset, split=args.split,
                    sample_posterior=args.sample, seed=args.seed, device=args.device, progress=Progress(quiet=args.quiet))
    print(f"wrote the codes of {result.count} image(s) to {result.path}" + _failures(result.failed))
    if result.failed:
        raise SystemExit(1)


def _cmd_decode(args: argparse.Namespace) -> None:
    from aekit.commands.codes import decode

    paths = decode(args.run_dir, args.codes, args.out, overwrite=args.overwrite, device=args.device)
    print(f"decoded {len(paths)} code(s) into {args.out}")


def _cmd_interpolate(args: argparse.Namespace) -> None:
    from aekit.commands.generate import interpolate

    paths, how = interpolate(args.run_dir, args.out, a=args.a, b=args.b, from_class=args.from_class,
                             to_class=args.to_class, steps=args.steps, gif=args.gif, overwrite=args.overwrite,
                             device=args.device)
    print(f"{how}: wrote {args.steps} steps to {args.out}" + (f" and {paths[-1]}" if args.gif else ""))


def _cmd_fit_prior(args: argparse.Namespace) -> None:
    from aekit.priors import fit_options, fit_prior

    path = fit_prior(Path(args.run_dir), args.prior, draws=args.draws, seed=args.seed, quiet=args.quiet, **fit_options(args))
    print(f"wrote {path} and {path.with_suffix('.safetensors')}")


DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda or cuda:N"


class _CommandParser(argparse.ArgumentParser):
    """A sub-command's parser; ``add_later`` adds the arguments that need the prior registry (torch)
    when this command is parsed or its help shown, so ``aekit --help`` and other commands stay instant."""

    def __init__(self, *args: object, add_later: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._add_later = add_later

    def _complete(self) -> None:
        if self._add_later is not None:
            add, self._add_later = self._add_later, None
            add(self)

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def _prior_choice(help_text: str, repeatable: bool = False, extra: tuple[str, ...] = ()) -> Callable[[argparse.ArgumentParser], None]:
    """``--prior`` with the registered priors as choices (``aekit.priors.PRIORS``), added when needed."""

    def add(parser: argparse.ArgumentParser) -> None:
        from aekit.priors import PRIORS

        parser.add_argument("--prior", action="append" if repeatable else "store", choices=(*PRIORS, *extra), help=help_text)

    return add


def _fit_prior_arguments(parser: argparse.ArgumentParser) -> None:
    from aekit.priors import add_fit_arguments

    add_fit_arguments(parser)


def _set_threads(args: argparse.Namespace) -> None:
    """torch's thread pools for this command, before any torch work: ``--threads``, else
    OMP_NUM_THREADS, else measured (said in one line); listing commands only take ``--threads``."""
    from aekit.threads import decide_threads, set_threads

    if args.threads is None and not args.computes:
        return
    choice = decide_threads(args.threads)
    if choice.measured:
        print(choice.line(), file=sys.stderr)
    set_threads(choice.threads)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aekit", description="Autoencoders and VAEs: compress, denoise, generate.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser)

    def command(name: str, handler: Callable[[argparse.Namespace], None], help_text: str,
                add_later: Callable[[argparse.ArgumentParser], None] | None = None,
                computes: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, add_later=add_later)
        p.set_defaults(handler=handler, computes=computes)
        p.add_argument("--threads", type=int, default=None,
                       help="torch threads (default: the usable cores that are idle, measured at start: affinity, "
                            "cgroup quota, /proc/stat; or OMP_NUM_THREADS when set)")
        return p

    p = command("datasets", _cmd_datasets, "list every dataset, whether it is available here and from where", computes=False)
    p.add_argument("--inspect", metavar="SPEC", help="describe one dataset (name, folder:PATH or sheet:PATH?tile=S): "
                   "sizes, modes, classes, transparency, duplicates, skipped files")
    command("models", _cmd_models, "list the models, one line each", computes=False)

    p = command("train", _cmd_train, "train a model; writes weights, config, metrics and a checkpoint to --out")
    add_train_arguments(p)

    # ``--prior`` of evaluate and report: the registered priors, added when the command is parsed
    evaluate_prior = _prior_choice("add a sample-quality column for this fitted prior (repeatable; all: every prior "
                                   "fitted)", repeatable=True, extra=("all",))
    p = command("evaluate", _cmd_evaluate, "measure a run on its test split (with baselines); writes RUN_DIR/eval.json",
                evaluate_prior)
    p.add_argument("run_dir")
    _add_evaluate_arguments(p)

    p = command("report", _cmd_report, "write RUN_DIR/report.html: config, metrics and every picture (evaluating "
                "first, with the options below, when the run has no eval.json)", evaluate_prior)
    p.add_argument("run_dir")
    _add_evaluate_arguments(p)

    p = command("tour", _cmd_tour, "the tutorial end to end: train, evaluate and report every experiment")
    p.add_argument("--out", default="runs/tour")
    p.add_argument("--quick", action="store_true", help="a short preset (minutes on 2 CPU cores)")
    p.add_argument("--dataset", default=None, help="default: fashion-mnist, else mnist, else digits")

    p = command("bench", _cmd_bench, "cost of a model: parameters, FLOPs per image, img/s, s/epoch, peak memory")
    p.add_argument("run_dir", nargs="?", help="a run folder (or use --model and --dataset)")
    p.add_argument("--model")
    p.add_argument("--dataset")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--precision", choices=("fp32", "bf16"), help="default: the run's own, else fp32")

    p = command("make-documents", _cmd_make_documents, "synthesise paired dirty/clean document pages")
    p.add_argument("--pages", type=int, default=24, help="page pairs to make (default 24)")
    p.add_argument("--out", required=True, help="a new folder (Kaggle layout: train/, train_cleaned/, test/, test_cleaned/)")
    p.add_argument("--seed", type=int, default=0, help="the same seed makes the same pages (default 0)")
    p.add_argument("--dpi", type=int, default=None,
                   help="whole printed pages at this resolution with their true text beside them (default: "
                        "540x420 crops like Kaggle's, about 75 dpi)")
    p.add_argument("--page", default=None, help="with --dpi: a4, letter or WxH in pixels (default a4)")

    p = command("make-floorplans", _cmd_make_floorplans, "generate floor plans with their footprints (PNG pairs)")
    p.add_argument("--n", type=int, default=100, help="pairs to make (default 100)")
    p.add_argument("--size", type=int, default=64, help="side of the square frame in pixels, 32..1024 (default 64)")
    p.add_argument("--out", required=True, help="a new folder: footprints/, plans/ and floorplans.json")
    p.add_argument("--seed", type=int, default=0, help="the same seed makes the same plans (default 0)")

    p = command("export", _cmd_export, "export a run's decoder/encoder and fitted priors for use outside Python",
                _prior_choice("export this fitted prior's sampler as prior-NAME.onnx (repeatable; default: every prior "
                              "fitted in the run, see aekit fit-prior)", repeatable=True))
    p.add_argument("run_dir")
    p.add_argument("--format", default="onnx", choices=["onnx"])
    p.add_argument("--out", required=True)
    p.add_argument("--no-priors", action="store_true",
                   help="export no fitted prior (a vq-vae's own PixelCNN is always exported, as prior 'model')")

    p = command("serve", _cmd_serve, "a local web page to explore a model's latent space")
    p.add_argument("run_dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    p = command("denoise", _cmd_denoise, "clean image files or folders (any size and mode) with a trained model")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="folder for the results (same relative paths and names)")
    p.add_argument("--format", default=None, choices=["png", "jpeg", "webp", "tiff", "gif"],
                   help="output format (default: each input's own; PNG for formats aekit does not write)")
    p.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality of JPEG outputs, 1-100 (default 95)")
    p.add_argument("--text", action="store_true",
                   help="also write each page's OCR text (tesseract) beside the cleaned image as .txt")
    p.add_argument("--kaggle-csv", help="also write a Kaggle submission (id,value) for these pages")
    p.add_argument("--overwrite", action="store_true", help="allow an --out that already holds files")
    p.add_argument("--bf16", action="store_true", help="run the model under bfloat16 autocast (faster on AVX-512 BF16 CPUs)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress (files that fail are still named, with why)")

    p = command("sample", _cmd_sample, "write N generated images (PNG) from a generative model",
                _prior_choice("draw codes from this fitted prior (aekit fit-prior) instead of N(0, I)"))
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=64, help="how many images (written batch by batch: any number)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same files (0 to 2**63-1)")
    p.add_argument("--class", dest="class_name", help="draw this class (label-conditional models)")
    p.add_argument("--condition-image", help="draw to this image's silhouette/outline (image-conditional models), or "
                   "floor plans for this footprint (plan-vae: any size, black and white or alpha, entrance mark optional)")
    p.add_argument("--vector", action="store_true", help="floor plans: also write each plan's rooms, doors and windows "
                   "as JSON and SVG")
    p.add_argument("--scale", type=float, metavar="M_PER_PX", help="floor plans: --vector in metres, this many per "
                   "pixel of the footprint image (default: pixels)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="scale the N(0, I) codes of a VAE (a positive finite number)")
    p.add_argument("--sheet", action="store_true", help="also write every sample on one sheet.png, with sheet.json "
                   "describing its frames (TexturePacker's JSON Hash, read by Phaser, PixiJS and others)")
    p.add_argument("--like", metavar="FILE", help="draw variations of this image (a code-map model with a "
                   "'transformer' prior, the default for small colour images)")
    p.add_argument("--spread", type=float, default=0.3, metavar="S", help="with --like: share of the code redrawn, "
                   "0 (the image's reconstruction) to 1 (new sprites of its class); default 0.3")
    p.add_argument("--seamless", action="store_true", help="make each sample a seamless tile (floors, walls): opposite "
                   "edges continue each other (Moisan's periodic component); default: off")
    p.add_argument("--palette", metavar="K|FILE", help="snap colours to a palette: K colours learned from the run's "
                   "training images, or a palette FILE (.png of swatches, GIMP .gpl, or one #rrggbb per line); "
                   "default: none")
    p.add_argument("--alpha-threshold", type=float, metavar="A", help="hard transparency: alpha 1 where it is at least "
                   "A (0 < A < 1), else 0; default: alpha kept as drawn. Applied after --seamless and --palette")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="decode in bfloat16 (auto: where the device computes it natively, a CUDA GPU or a CPU with "
                        "AVX-512 BF16 or AMX; 2x faster there, and 8-bit outputs differ from float32's by at most one "
                        "level) or float32")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)

    p = command("encode", _cmd_encode, "codes of images (posterior means) to .npy, .csv or .parquet")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders (or use --dataset)")
    p.add_argument("--dataset", help="a dataset spec (see `aekit datasets`)")
    p.add_argument("--split", default="test", help="the dataset split to encode: train, test or all (train then test)")
    p.add_argument("--out", required=True, help="codes file: .npy, .csv or .parquet")
    p.add_argument("--sample", action="store_true", help="one draw from q(z|x) instead of its mean (VAEs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --sample draws (0 to 2**63-1)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress (files that fail are still named, with why)")

    p = command("decode", _cmd_decode, "images from a codes file written by `aekit encode`")
    p.add_argument("run_dir")
    p.add_argument("codes", help=".npy, .csv or .parquet; each file is named after its row's name, made safe (path "
                                 "separators and control characters become _; empty, hidden or repeated names numbered)")
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)

    p = command("interpolate", _cmd_interpolate, "decode the way between two images (or two class centroids)")
    p.add_argument("run_dir")
    p.add_argument("a", nargs="?", help="first image file")
    p.add_argument("b", nargs="?", help="second image file")
    p.add_argument("--from-class")
    p.add_argument("--to-class")
    p.add_argument("--steps", type=int, default=10, help="frames from A to B, both included (2 to 1,000)")
    p.add_argument("--out", required=True)
    p.add_argument("--gif", action="store_true", help="also write an animated interpolation.gif")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)

    p = command("fit-prior", _cmd_fit_prior, "fit a prior to a trained run's codes so its samples land where images are "
                                             "encoded; writes RUN_DIR/prior-NAME.safetensors and .json", _fit_prior_arguments)
    p.add_argument("run_dir")
    p.add_argument("--draws", type=int, default=0, help="VAEs: q(z|x) draws per training image besides its posterior mean")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _set_threads(args)
        args.handler(args)
    except AekitError as exc:
        print(f"aekit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C: one line; every file aekit writes is whole (aekit.io)
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
