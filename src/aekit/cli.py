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
from aekit.errors import AekitError


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

    metrics = evaluate_run(Path(args.run_dir), iwae_k=args.iwae_k, max_images=args.max_images,
                           iwae_images=args.iwae_images, bf16=args.bf16, priors=args.prior or (),
                           progress=Progress(quiet=args.quiet))
    print(format_metrics(metrics))


def _cmd_report(args: argparse.Namespace) -> None:
    from aekit.report import write_report

    print(f"report written to {write_report(Path(args.run_dir))}")


def _cmd_tour(args: argparse.Namespace) -> None:
    from aekit.tour import run_tour

    run_tour(Path(args.out), quick=args.quick, dataset=args.dataset)


def _cmd_bench(args: argparse.Namespace) -> None:
    from aekit.bench import bench_command

    bench_command(run_dir=args.run_dir, model=args.model, dataset=args.dataset, batch_size=args.batch_size,
                  precision=args.precision)


def _cmd_make_documents(args: argparse.Namespace) -> None:
    from aekit.data.synthetic_documents import synthesize

    out = synthesize(args.pages, Path(args.out), seed=args.seed)
    print(f"wrote {args.pages} page pairs to {out}")


def _cmd_make_floorplans(args: argparse.Namespace) -> None:
    from aekit.data.floorplans import make_floorplans_command

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
    from aekit.apply import denoise
    from aekit.progress import Progress

    result = denoise(args.run_dir, args.inputs, args.out, fmt=args.format, overwrite=args.overwrite,
                     kaggle_csv=args.kaggle_csv, device=args.device, progress=Progress(quiet=args.quiet), bf16=args.bf16)
    print(f"denoised {len(result.written)} file(s) into {args.out}"
          + (f"; {len(result.failed)} failed" if result.failed else "")
          + (f"; submission in {args.kaggle_csv}" if args.kaggle_csv else ""))
    if result.failed:
        raise SystemExit(1)


def _cmd_sample(args: argparse.Namespace) -> None:
    from aekit.apply import sample
    from aekit.priors import load_prior

    prior = load_prior(Path(args.run_dir), args.prior) if args.prior else None
    paths = sample(args.run_dir, args.out, args.n, seed=args.seed, class_name=args.class_name, prior=prior,
                   condition_image=args.condition_image, temperature=args.temperature, write_sheet=args.sheet,
                   overwrite=args.overwrite, device=args.device, precision=args.precision)
    print(f"wrote {args.n} samples to {args.out}" + (f" and the sheet {paths[-1]}" if args.sheet else ""))


def _cmd_encode(args: argparse.Namespace) -> None:
    from aekit.apply import encode
    from aekit.progress import Progress

    path = encode(args.run_dir, args.out, inputs=args.inputs, dataset=args.dataset, split=args.split,
                  sample_posterior=args.sample, seed=args.seed, device=args.device, progress=Progress(quiet=args.quiet))
    print(f"wrote codes to {path}")


def _cmd_decode(args: argparse.Namespace) -> None:
    from aekit.apply import decode

    paths = decode(args.run_dir, args.codes, args.out, overwrite=args.overwrite, device=args.device)
    print(f"decoded {len(paths)} code(s) into {args.out}")


def _cmd_interpolate(args: argparse.Namespace) -> None:
    from aekit.apply import interpolate

    paths, how = interpolate(args.run_dir, args.out, a=args.a, b=args.b, from_class=args.from_class,
                             to_class=args.to_class, steps=args.steps, gif=args.gif, overwrite=args.overwrite,
                             device=args.device)
    print(f"{how}: wrote {args.steps} steps to {args.out}" + (f" and {paths[-1]}" if args.gif else ""))


def _cmd_fit_prior(args: argparse.Namespace) -> None:
    from aekit.priors import fit_prior

    path = fit_prior(Path(args.run_dir), args.prior, components=args.components, layers=args.layers, hidden=args.hidden,
                     steps=args.steps, draws=args.draws, seed=args.seed, quiet=args.quiet)
    print(f"wrote {path} and {path.with_suffix('.safetensors')}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aekit", description="Autoencoders and VAEs: compress, denoise, generate.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], None], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = command("datasets", _cmd_datasets, "list every dataset, whether it is available here and from where")
    p.add_argument("--inspect", metavar="SPEC", help="describe one dataset (name, folder:PATH or sheet:PATH?tile=S): "
                   "sizes, modes, classes, transparency, duplicates, skipped files")
    command("models", _cmd_models, "list the models, one line each")

    p = command("train", _cmd_train, "train a model; writes weights, config, metrics and a checkpoint to --out")
    add_train_arguments(p)

    p = command("evaluate", _cmd_evaluate, "measure a run on its test split (with baselines); writes RUN_DIR/eval.json")
    p.add_argument("run_dir")
    p.add_argument("--iwae-k", type=int, default=1000, help="importance samples for the VAE likelihood bound")
    p.add_argument("--iwae-images", type=int, default=None, help="likelihood bounds on the first N test images only")
    p.add_argument("--bf16", action="store_true",
                   help="likelihood bounds under bfloat16 autocast: about 2x faster with AMX (Intel Xeon), 1.56x on an AMD "
                        "EPYC Zen 5 with AVX-512 BF16 (pixel-vae IWAE-1000: 29.9 vs 19.2 images/s, bound within 0.001 "
                        "nats); no faster on some other CPUs: measure with benchmarks/quality.py --only precision")
    p.add_argument("--max-images", type=int, default=None, help="evaluate on the first N test images only")
    p.add_argument("--prior", action="append", choices=("gmm", "flow", "pixelcnn", "all"),
                   help="add a sample-quality column for this fitted prior (repeatable; all: every prior fitted)")
    p.add_argument("--quiet", action="store_true")

    p = command("report", _cmd_report, "write RUN_DIR/report.html: config, metrics and every picture")
    p.add_argument("run_dir")

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
    p.add_argument("--pages", type=int, default=24)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)

    p = command("make-floorplans", _cmd_make_floorplans, "generate floor plans with their footprints (PNG pairs)")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--size", type=int, default=64, help="side of the square frame in pixels (32..1024)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)

    p = command("export", _cmd_export, "export a run's decoder/encoder and fitted priors for use outside Python")
    p.add_argument("run_dir")
    p.add_argument("--format", default="onnx", choices=["onnx"])
    p.add_argument("--out", required=True)
    p.add_argument("--prior", action="append", choices=("gmm", "flow", "pixelcnn"),
                   help="export this fitted prior's sampler as prior-NAME.onnx (repeatable; default: every prior "
                        "fitted in the run, see aekit fit-prior)")
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
    p.add_argument("--format", default="png", choices=["png", "jpeg", "webp"])
    p.add_argument("--kaggle-csv", help="also write a Kaggle submission (id,value) for these pages")
    p.add_argument("--overwrite", action="store_true", help="allow an --out that already holds files")
    p.add_argument("--bf16", action="store_true", help="run the model under bfloat16 autocast (faster on AVX-512 BF16 CPUs)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--quiet", action="store_true", help="no progress")

    p = command("sample", _cmd_sample, "write N generated images (PNG) from a generative model")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same files")
    p.add_argument("--class", dest="class_name", help="draw this class (label-conditional models)")
    p.add_argument("--condition-image", help="draw to this image's silhouette/outline (image-conditional models)")
    p.add_argument("--temperature", type=float, default=1.0, help="scale the N(0, I) codes of a VAE")
    p.add_argument("--prior", choices=("gmm", "flow", "pixelcnn"), help="draw codes from this fitted prior (aekit fit-prior) "
                   "instead of N(0, I)")
    p.add_argument("--sheet", action="store_true", help="also write every sample on one sheet.png")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="decode in bfloat16 (auto: where the device computes it natively, a CUDA GPU or a CPU with "
                        "AVX-512 BF16 or AMX; 2x faster there, and 8-bit outputs differ from float32's by at most one "
                        "level) or float32")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="cpu")

    p = command("encode", _cmd_encode, "codes of images (posterior means) to .npy, .csv or .parquet")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders (or use --dataset)")
    p.add_argument("--dataset", help="a dataset spec (see `aekit datasets`)")
    p.add_argument("--split", default="test", help="the dataset split to encode")
    p.add_argument("--out", required=True, help="codes file: .npy, .csv or .parquet")
    p.add_argument("--sample", action="store_true", help="one draw from q(z|x) instead of its mean (VAEs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")

    p = command("decode", _cmd_decode, "images from a codes file written by `aekit encode`")
    p.add_argument("run_dir")
    p.add_argument("codes", help=".npy, .csv or .parquet")
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="cpu")

    p = command("interpolate", _cmd_interpolate, "decode the way between two images (or two class centroids)")
    p.add_argument("run_dir")
    p.add_argument("a", nargs="?", help="first image file")
    p.add_argument("b", nargs="?", help="second image file")
    p.add_argument("--from-class")
    p.add_argument("--to-class")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", required=True)
    p.add_argument("--gif", action="store_true", help="also write an animated interpolation.gif")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default="cpu")

    p = command("fit-prior", _cmd_fit_prior, "fit a prior to a trained run's codes so its samples land where images are "
                                             "encoded; writes RUN_DIR/prior-NAME.safetensors and .json")
    p.add_argument("run_dir")
    p.add_argument("--prior", required=True, choices=("gmm", "flow", "pixelcnn"),
                   help="gmm (Gaussian mixture, per class on labelled data), flow (RealNVP), pixelcnn (vq-vae's index maps)")
    p.add_argument("--components", type=int, default=10, help="gmm: Gaussians per class")
    p.add_argument("--layers", type=int, default=8, help="flow: coupling layers")
    p.add_argument("--hidden", type=int, default=128, help="flow: width of each coupling network")
    p.add_argument("--steps", type=int, default=2000, help="flow, pixelcnn: optimiser steps")
    p.add_argument("--draws", type=int, default=0, help="VAEs: q(z|x) draws per training image besides its posterior mean")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except AekitError as exc:
        print(f"aekit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted", file=sys.stderr)
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
