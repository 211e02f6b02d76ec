"""Every command's options but ``train``'s (``aekit.config.TrainConfig``): one dataclass per
command.

Each field is an ``option(...)`` (``aekit.config``): its help, checks and choices make the command's
flag (``add_options``, the default shown in the help) and validate what the user gave
(``options_from_args``, one ``ConfigError`` line); the field names are the keyword arguments of the
function the command calls, so ``cli.py`` passes ``asdict(options)``. Prior names come from the
priors registry and model names from the models registry, read when a command's flags are made, so
``aekit --help`` imports neither (nor torch).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

from aekit.config import PRECISIONS, option
from aekit.evaluation_defaults import IWAE_SECONDS, OCR_PAGES
from aekit.option_fields import (
    AT_LEAST_0,
    AT_LEAST_1,
    BENCHMARKS,
    POSITIVE_FINITE,
    REQUIRED,
    between,
    device,
    model_names,
    out_folder,
    overwrite,
    prior_names,
    prior_names_or_all,
    prior_names_or_none,
    quiet,
    run_dir,
    seed,
)


# --- the commands
# -------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class DatasetsOptions:
    inspect: str | None = option(
        None,
        "describe one dataset (name, folder:PATH or sheet:PATH?tile=S): sizes, modes, "
        "classes, transparency, duplicates, skipped files (default: list every dataset)",
        metavar="SPEC",
    )


@dataclass(kw_only=True)
class ModelsOptions:
    """``aekit models`` takes no options besides ``--threads``."""


@dataclass(kw_only=True)
class EvaluateOptions:
    """``aekit evaluate``'s options, which ``aekit report`` takes too (it evaluates when the run has
    no eval.json). The defaults are ``evaluate_run``'s (tests/test_options.py compares them)."""

    run_dir: str = run_dir()
    iwae_k: int | None = option(
        None,
        "importance samples for the VAE likelihood bound (default: as many as fit "
        "--iwae-seconds on the test images; the output and eval.json say what ran)",
        AT_LEAST_1,
    )
    iwae_images: int | None = option(
        None,
        "likelihood bounds on the first N test images only (default: as many as fit "
        "--iwae-seconds)",
        AT_LEAST_1,
    )
    iwae_seconds: float = option(
        IWAE_SECONDS,
        "time budget in seconds of the likelihood bounds for what --iwae-k and --iwae-images "
        "leave open, sized by a short timing at the start",
        POSITIVE_FINITE,
    )
    bf16: bool = option(
        False,
        f"likelihood bounds under bfloat16 autocast: faster on CPUs with AVX-512 BF16 or AMX, no "
        f"faster on others ({BENCHMARKS}; measure with benchmarks/quality.py --only precision)",
    )
    max_images: int | None = option(
        None, "evaluate on the first N test images only (default: all)", AT_LEAST_1
    )
    ocr_pages: int = option(
        OCR_PAGES, "document runs: held-out pages read by tesseract, 0 for no OCR", AT_LEAST_0
    )
    generation_samples: int | None = option(
        None,
        "samples per class and figure of the generation measures (default: "
        "475, or as many as fit a minute of drawing from slow samplers; the output says which)",
        AT_LEAST_1,
    )
    sample_images: int | None = option(
        None,
        "samples per column of the sample-quality section (default: up to 5,000, as "
        "many as fit a minute of drawing; the output and eval.json say which)",
        AT_LEAST_1,
    )
    plan_footprints: int | None = option(
        None,
        "floor-plan runs: test footprints to draw plans for (default: up to 500, "
        "as many as fit a minute of drawing and scoring; the output says which)",
        AT_LEAST_1,
    )
    priors: list[str] = option(
        [],
        "add a sample-quality column for this fitted prior (repeatable; all: every prior fitted; "
        "default: none)",
        flag="--prior",
        choices=prior_names_or_all,
    )
    quiet: bool = option(False, "no progress")

    def given(self) -> dict[str, Any]:
        """The options that differ from their defaults, as ``evaluate_run`` keywords (``run_dir``
        and ``quiet`` aside): only these are passed, so ``report`` can say that options it does not
        use were given."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("run_dir", "quiet")
            and getattr(self, f.name)
            != (f.default if f.default is not MISSING else f.default_factory())
        }


ReportOptions = EvaluateOptions  # ``aekit report`` takes evaluate's options


@dataclass(kw_only=True)
class TourOptions:
    out: str = option("runs/tour", "folder of every experiment's run, report.html and summary.md")
    quick: bool = option(False, "a short preset (minutes on 2 CPU cores)")
    dataset: str | None = option(
        None,
        "the image dataset of the image experiments (default: fashion-mnist, else mnist, "
        "else digits)",
    )
    only: list[str] = option(
        [],
        "run just this experiment (repeatable, e.g. sprites; default: all); the summary keeps the "
        "others' rows from an earlier tour into the same folder with the same preset",
        metavar="EXPERIMENT",
    )


@dataclass(kw_only=True)
class BenchOptions:
    run_dir: str | None = option(
        None, "a run folder (or use --model and --dataset)", positional=True, nargs="?"
    )
    model: str | None = option(
        None,
        "a model to build untrained, see `aekit models` (default: the run's)",
        choices=model_names,
        metavar="MODEL",
    )
    dataset: str | None = option(None, "dataset of the images it is timed on (default: the run's)")
    batch_size: int | None = option(
        None, "images per step (default: the run's, else aekit train's default)", AT_LEAST_1
    )
    precision: str | None = option(
        None, "fp32 or bf16 (default: the run's own, else fp32)", choices=("fp32", "bf16")
    )


@dataclass(kw_only=True)
class MakeDocumentsOptions:
    pages: int = option(24, "page pairs to make", AT_LEAST_1)
    out: str = out_folder(
        "a new folder (Kaggle layout: train/, train_cleaned/, test/, test_cleaned/)"
    )
    seed: int = seed("the same seed makes the same pages")
    dpi: int | None = option(
        None,
        "whole printed pages at this resolution with their true text beside them (default: "
        "540x420 crops like Kaggle's, about 75 dpi)",
    )
    page: str | None = option(None, "with --dpi: a4, letter or WxH in pixels (default: a4)")


@dataclass(kw_only=True)
class MakeFloorplansOptions:
    n: int = option(100, "pairs to make", AT_LEAST_1)
    size: int = option(64, "side of the square frame in pixels", between(32, 1024))
    out: str = out_folder("a new folder: footprints/, plans/ and floorplans.json")
    seed: int = seed("the same seed makes the same plans")


@dataclass(kw_only=True)
class ExportOptions:
    run_dir: str = run_dir()
    fmt: str = option("onnx", "file format", flag="--format", choices=("onnx",))
    out: str = out_folder("a folder for the model files and model.json")
    priors: list[str] | None = option(
        None,
        "export this fitted prior's sampler as prior-NAME.onnx (repeatable; default: "
        "every prior fitted in the run, see aekit fit-prior)",
        flag="--prior",
        choices=prior_names,
    )
    no_priors: bool = option(
        False,
        "export no fitted prior (a vq-vae's own PixelCNN is always exported, as prior 'model')",
    )


@dataclass(kw_only=True)
class ServeOptions:
    run_dir: str = run_dir()
    host: str = option(
        "127.0.0.1",
        "address to listen on (another than this machine's own lets others reach the explorer)",
    )
    port: int = option(8000, "TCP port (0: any free one)", between(0, 65_535))


@dataclass(kw_only=True)
class CleanOptions:
    """How a model cleans an image: ``aekit denoise``'s and ``aekit.Run.denoise``'s keywords."""

    bf16: bool = option(
        False,
        f"run the model under bfloat16 autocast (faster on CPUs with AVX-512 BF16 or AMX; "
        f"{BENCHMARKS})",
    )


@dataclass(kw_only=True)
class DenoiseOptions(CleanOptions):
    run_dir: str = run_dir()
    inputs: list[str] = option(
        REQUIRED,
        "image files or folders (searched recursively)",
        positional=True,
        nargs="+",
        metavar="INPUT",
    )
    out: str = out_folder("folder for the results (same relative paths and names)")
    fmt: str | None = option(
        None,
        "output format (default: each input's own; PNG for formats aekit does not write)",
        flag="--format",
        choices=("png", "jpeg", "webp", "tiff", "gif"),
    )
    jpeg_quality: int = option(95, "JPEG quality of JPEG outputs, 1-100", between(1, 100))
    ocr: bool = option(
        False,
        "also write each page's OCR text (tesseract) beside the cleaned image as .txt",
        flag="--text",
    )
    kaggle_csv: str | None = option(
        None, "also write a Kaggle submission (id,value) for these pages (default: none)"
    )
    overwrite: bool = overwrite()
    device: str = device()
    quiet: bool = quiet()


@dataclass(kw_only=True)
class DrawOptions:
    """How images are drawn from a model: ``aekit sample``'s and ``aekit.Run.sample``'s keywords."""

    seed: int = seed("the same seed draws the same images")
    temperature: float = option(
        1.0, "scale the N(0, I) codes of a VAE, a positive finite number", POSITIVE_FINITE
    )
    prior: str | None = option(
        None,
        "draw codes from this fitted prior (aekit fit-prior; default: N(0, I); floor "
        "plans: the run's gmm prior when fitted and no --temperature is given); none: N(0, I) "
        "always",
        choices=prior_names_or_none,
    )


@dataclass(kw_only=True)
class SampleOptions(DrawOptions):
    run_dir: str = run_dir()
    n: int = option(64, "how many images (written batch by batch: any number)", AT_LEAST_1)
    out: str = out_folder()
    class_name: str | None = option(
        None,
        "draw this class (label-conditional models, or a prior fitted per class; default: any)",
        flag="--class",
        metavar="CLASS",
    )
    condition_image: str | None = option(
        None,
        "draw to this image's silhouette/outline (image-conditional models; default: none)",
        metavar="FILE",
    )
    write_sheet: bool = option(
        False,
        "also write every sample on one sheet.png, with sheet.json describing its frames "
        "(TexturePacker's JSON Hash, read by Phaser, PixiJS and others)",
        flag="--sheet",
    )
    seamless: bool = option(
        False,
        "make each sample a seamless tile (floors, walls): opposite edges continue each other "
        "(Moisan's periodic component)",
    )
    palette: str | None = option(
        None,
        "snap colours to a palette: K colours learned from the run's training images, or a "
        "palette FILE (.png of swatches, GIMP .gpl, or one #rrggbb per line); default: none",
        metavar="K|FILE",
    )
    alpha_threshold: float | None = option(
        None,
        "hard transparency: alpha 1 where it is at least A (0 < A < 1), else 0; "
        "default: alpha kept as drawn. Applied after --seamless and --palette",
        ("must be between 0 and 1", lambda v: 0 < v < 1),
        metavar="A",
    )
    like: str | None = option(
        None,
        "draw variations of this image (a code-map model with a 'transformer' prior, the "
        "default for small colour images; default: none)",
        metavar="FILE",
    )
    spread: float = option(
        0.3,
        "with --like: the share of the code redrawn, 0 (the image's reconstruction) to 1 (new "
        "sprites of its class)",
        ("must be between 0 and 1", lambda v: 0 <= v <= 1),
        metavar="S",
    )
    vector: bool = option(
        False, "floor plans: also write each plan's rooms, doors and windows as JSON and SVG"
    )
    scale: float | None = option(
        None,
        "floor plans: --vector in metres, this many per pixel of the footprint image "
        "(default: pixels)",
        POSITIVE_FINITE,
        metavar="M_PER_PX",
    )
    precision: str = option(
        "auto",
        "decode in bfloat16 (auto: where the device computes it natively, a CUDA GPU or a CPU "
        "with AVX-512 BF16 or AMX; 8-bit outputs differ from float32's by at most one level; "
        f"{BENCHMARKS}) or float32",
        choices=PRECISIONS,
    )
    overwrite: bool = overwrite()
    device: str = device()


@dataclass(kw_only=True)
class CodeOptions:
    """How images become codes: ``aekit encode``'s and ``aekit.Run.encode``'s keywords."""

    sample_posterior: bool = option(
        False, "one draw from q(z|x) instead of its mean (VAEs)", flag="--sample"
    )
    seed: int = seed("seed of the --sample draws")


@dataclass(kw_only=True)
class EncodeOptions(CodeOptions):
    run_dir: str = run_dir()
    inputs: list[str] = option(
        [], "image files or folders (or use --dataset)", positional=True, nargs="*", metavar="INPUT"
    )
    dataset: str | None = option(
        None, "a dataset spec to encode instead of files (see `aekit datasets`; default: none)"
    )
    split: str = option("test", "the dataset split to encode: train, test or all (train then test)")
    out: str = out_folder("codes file: .npy, .csv or .parquet")
    device: str = device()
    quiet: bool = quiet()


@dataclass(kw_only=True)
class DecodeOptions:
    run_dir: str = run_dir()
    codes_file: str = option(
        REQUIRED,
        ".npy, .csv or .parquet; each file is named after its row's name, made safe (path "
        "separators and control characters become _; empty, hidden or repeated names numbered)",
        positional=True,
        metavar="codes",
    )
    out: str = out_folder()
    overwrite: bool = overwrite()
    device: str = device()


@dataclass(kw_only=True)
class InterpolateOptions:
    run_dir: str = run_dir()
    a: str | None = option(None, "first image file", positional=True, nargs="?")
    b: str | None = option(None, "second image file", positional=True, nargs="?")
    from_class: str | None = option(
        None, "start at this class's mean code instead of image A (default: none)", metavar="CLASS"
    )
    to_class: str | None = option(
        None, "end at this class's mean code instead of image B (default: none)", metavar="CLASS"
    )
    steps: int = option(10, "frames from A to B, both included (2 to 1,000)", between(2, 1000))
    out: str = out_folder()
    gif: bool = option(False, "also write an animated interpolation.gif")
    overwrite: bool = overwrite()
    device: str = device()


@dataclass(kw_only=True)
class FitPriorOptions:
    """``aekit fit-prior``'s own options; ``--prior`` and each prior's options come from the priors
    registry (``aekit.priors.add_fit_arguments``)."""

    run_dir: str = run_dir()
    draws: int = option(
        0, "VAEs: q(z|x) draws per training image besides its posterior mean", AT_LEAST_0
    )
    seed: int = seed("seed of the draws and of the fitting")
    quiet: bool = option(False, "no progress")


COMMAND_OPTIONS: dict[str, type] = {  # every command but train (aekit.config.TrainConfig)
    "datasets": DatasetsOptions,
    "models": ModelsOptions,
    "evaluate": EvaluateOptions,
    "report": ReportOptions,
    "tour": TourOptions,
    "bench": BenchOptions,
    "make-documents": MakeDocumentsOptions,
    "make-floorplans": MakeFloorplansOptions,
    "export": ExportOptions,
    "serve": ServeOptions,
    "denoise": DenoiseOptions,
    "sample": SampleOptions,
    "encode": EncodeOptions,
    "decode": DecodeOptions,
    "interpolate": InterpolateOptions,
    "fit-prior": FitPriorOptions,
}

__all__ = [
    "COMMAND_OPTIONS",
    "BenchOptions",
    "CleanOptions",
    "CodeOptions",
    "DatasetsOptions",
    "DrawOptions",
    "DecodeOptions",
    "DenoiseOptions",
    "EncodeOptions",
    "EvaluateOptions",
    "ExportOptions",
    "FitPriorOptions",
    "InterpolateOptions",
    "MakeDocumentsOptions",
    "MakeFloorplansOptions",
    "ModelsOptions",
    "ReportOptions",
    "SampleOptions",
    "ServeOptions",
    "TourOptions",
]
