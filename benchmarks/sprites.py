"""Game sprites: generation per sheet on Dungeon Crawl's RGBA tiles, against held-out tiles and PCA.

The set is Debian's ``crawl-tiles-data`` (CC0): 32x32 RGBA tiles cut from five sprite sheets
(``crawl-tiles``, one class per sheet, seeded 80/20 split). The benchmark trains aekit's default
model for a wall-clock budget and fits a prior (or takes ``--run RUN``, already trained, with
every prior fitted there), then measures with ``aekit.generation`` at 475 samples per figure
(fewer where a sheet has fewer held-out tiles), per sheet and overall, for the model's own
sampler and every prior, and judges issue 24's targets:

* Frechet distance to the training tiles at most 2x the floor (held-out real tiles against the
training tiles);
* precision and recall each at least 0.9 times the held-out real tiles' own;
* class match at least 0.95 times the classifier's accuracy on real held-out tiles;
* novelty (samples closer to a training tile than 95% of held-out tiles are) at most 10%;
* reconstruction PSNR at least PCA's with as many components as the code has numbers.

Beside PSNR it measures mottle, the speckle a code map draws into flat colour (``colour_errors``):
on the test images, the RMS colour error (8-bit levels) of opaque pixels whose 3x3 neighbourhood
is one colour, how much of it is mottle (the reconstruction's spread about its own mean over each
image's pixels of one colour: zero for a flat area drawn flat, even in a wrong colour), and the
RMS error of the other visible pixels (outlines, edges, detail). ``--recon OUT`` writes 16 test
tiles above their reconstructions.

Beside the samplers, the model's reconstructions (encode -> decode) of the held-out test tiles go
through the same measures: the ceiling of any prior over this code, which draws codes the encoder
could give at best.

For a code-map model it also says how hard the map is for its priors: each prior's held-out nats
per index beside the class's code frequencies' (a prior that ignores context), and how many codes
the fully transparent patches got (``aekit.models.vq_vae``'s diagnostics).

``--blind OUT`` writes the blind-look sheet: 32 samples of ``main`` (items and monsters)
shuffled with 32 real test tiles of ``main`` into ``OUT`` (PNG, 8 x 8 tiles, read row by row),
and which are generated into a key file beside it (``OUT`` with ``.key.json``): look first.

    python benchmarks/sprites.py --minutes 30 --prior gmm      # train, fit, measure
    python benchmarks/sprites.py --run RUN --blind blind.png   # a trained run (its fitted priors)
    python benchmarks/sprites.py --run RUN --pairs pairs.png   # samples above their nearest tiles
    python benchmarks/sprites.py --run RUN --recon recon.png   # test tiles above reconstructions
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import aekit
from aekit.alpha import composite
from aekit.config import TrainConfig
from aekit.device import cpu_flags
from aekit.evaluate import reconstruction_section
from aekit.generation import (
    REAL,
    SAMPLES_PER_FIGURE,
    generation_measures,
    run_classifier,
    section_name,
)
from aekit.generation_samplers import (
    OVERALL,
    Sampler,
    class_samples,
    pca_gaussian_sampler,
    run_samplers,
)
from aekit.images import png_bytes
from aekit.io import atomic_write_bytes, atomic_write_json
from aekit.metrics import nearest_distances, remove_exact_duplicates
from aekit.models.vq_vae import code_frequency_nats, transparent_patch_codes
from aekit.priors import fit_prior, fitted_priors
from aekit.progress import Progress
from aekit.quality import MAX_REFERENCE_IMAGES, features
from aekit.run import Run
from aekit.threads import set_threads

RESULTS = Path(__file__).resolve().parent / "results" / "sprites.json"
FD_FACTOR, SHARE_FACTOR, CLASS_FACTOR, MAX_NOVELTY = 2.0, 0.9, 0.95, 0.10
BLIND_TILES, BLIND_SCALE, PAIRS = 32, 4, 64
CEILING = "reconstructions"
CEILING_HOW = "the model's reconstructions of the held-out tiles of each class: a prior's ceiling"


def train_run(
    minutes: float, out: Path, dataset: str, model: str | None, priors: list[str]
) -> dict[str, float]:
    """Train the default (or given) model for ``minutes``, fit ``priors``; seconds each took."""
    config = TrainConfig(
        model=model,
        dataset=dataset,
        epochs=100_000,
        max_minutes=minutes,
        out=str(out),
        batch_size=64,
    )
    start = time.perf_counter()
    aekit.train(config)
    seconds = {"train": time.perf_counter() - start}
    for name in priors:
        start = time.perf_counter()
        fit_prior(out, name)
        seconds[f"fit prior {name}"] = time.perf_counter() - start
    return seconds


def judge(section: dict[str, dict[str, Any]], column: str) -> dict[str, Any]:
    """One sampler's figures on one sheet beside the held-out real tiles', and which targets they
    meet."""
    value = lambda metric, col=column: section.get(metric, {}).get(col)  # noqa: E731
    row: dict[str, Any] = {
        m: value(m)
        for m in (
            "images",
            "fd_to_train",
            "precision_vs_train",
            "recall_vs_train",
            "class_accuracy",
            "novelty",
        )
    }
    row.update(
        {
            f"real_{m}": value(m, REAL)
            for m in ("fd_to_train", "precision_vs_train", "recall_vs_train", "class_accuracy")
        }
    )
    met = {}
    if row["fd_to_train"] is not None:
        met["fd"] = row["fd_to_train"] <= FD_FACTOR * row["real_fd_to_train"]
        met["precision"] = (
            row["precision_vs_train"] >= SHARE_FACTOR * row["real_precision_vs_train"]
        )
        met["recall"] = row["recall_vs_train"] >= SHARE_FACTOR * row["real_recall_vs_train"]
    if row["class_accuracy"] is not None:
        met["class match"] = row["class_accuracy"] >= CLASS_FACTOR * row["real_class_accuracy"]
    if row["novelty"] is not None:
        met["novelty"] = row["novelty"] <= MAX_NOVELTY
    row["met"] = met
    return row


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def table(sampler: str, how: str, rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{sampler} ({how})",
        f"  {'sheet':<8} {'n':>4}  {'FD':>6} {'floor':>6} {'x':>5}  {'prec':>5} {'real':>5}  "
        f"{'recall':>6} {'real':>5}  {'class':>5} {'real':>5}  {'novel':>6}  targets met",
    ]
    for sheet, r in rows.items():
        ratio = (
            "-"
            if r["fd_to_train"] is None
            else f"{r['fd_to_train'] / max(r['real_fd_to_train'], 1e-12):.1f}"
        )
        met = r["met"]
        verdict = f"{sum(met.values())}/{len(met)}" + (
            f" (not: {', '.join(k for k, v in met.items() if not v)})"
            if not all(met.values())
            else ""
        )
        lines.append(
            f"  {sheet:<8} {r['images']:>4}  {_cell(r['fd_to_train']):>6} "
            f"{_cell(r['real_fd_to_train']):>6} {ratio:>5}  {_cell(r['precision_vs_train'], 2):>5} "
            f"{_cell(r['real_precision_vs_train'], 2):>5}  "
            f"{_cell(r['recall_vs_train'], 2):>6} {_cell(r['real_recall_vs_train'], 2):>5}  "
            f"{_cell(r['class_accuracy'], 2):>5} {_cell(r['real_class_accuracy'], 2):>5}  "
            f"{'-' if r['novelty'] is None else format(r['novelty'], '.1%'):>6}  {verdict}"
        )
    return "\n".join(lines)


def code_map_figures(run: Run, priors: list[str]) -> dict[str, Any]:
    """How hard the run's code maps are for its priors: held-out nats per index of each prior beside
    the per-class code frequencies', and the codes of fully transparent patches (alpha images)."""
    model = run.model
    with torch.inference_mode():
        codes = {
            split: torch.cat(
                [model.encode(data.images[i : i + 512]) for i in range(0, len(data), 512)]
            )
            for split, data in (("train", run.train), ("test", run.test))
        }
    figures: dict[str, Any] = {
        "map": list(codes["train"].shape[1:]),
        "codebook": model.num_codes,
        "frequency_nats_per_index": code_frequency_nats(
            codes["train"], run.train.labels, codes["test"], run.test.labels, model.num_codes
        ),
    }
    if run.train.images.shape[1] in (2, 4):
        figures["transparent_patches"] = transparent_patch_codes(run.train.images, codes["train"])
    positions, figures["prior_nats_per_index"] = codes["test"][0].numel(), {}
    for name in priors:
        prior = run.prior(name)
        with torch.inference_mode():
            labels = run.test.labels if prior.conditional else None
            held = -float(prior.log_prob(codes["test"], labels).double().mean())
        figures["prior_nats_per_index"][name] = held / positions
    return figures


def colour_errors(real: torch.Tensor, recon: torch.Tensor) -> dict[str, float]:
    """RMS colour errors in 8-bit levels of reconstructions ``recon`` of ``real`` (premultiplied,
    alpha last where there is one): ``flat`` on opaque pixels whose 3x3 neighbourhood is a single
    colour, ``mottle`` the part of it that is the reconstruction varying over each image's flat
    pixels of one colour (not a shift of the whole area), ``edge`` on the other visible pixels."""
    levels = (real.float() * 255).round()
    b, c, h, w = levels.shape
    windows = F.unfold(levels, 3, padding=1).view(b, c, 9, h, w)
    single = (windows == levels.unsqueeze(2)).all(2).all(1)
    alpha = levels[:, -1] if c in (2, 4) else torch.full_like(levels[:, 0], 255)
    flat, edge = single & (alpha == 255), ~single & (alpha > 0)
    drawn = (recon.float()[:, : c - (c in (2, 4))] * 255).movedim(1, -1)
    error = drawn - levels[:, : drawn.shape[-1]].movedim(1, -1)
    packed = levels.long()
    key = torch.arange(b).view(b, 1, 1) * 256**c  # one group per image and colour
    for channel in range(c):
        key = key + packed[:, channel] * 256**channel
    _, group = key[flat].unique(return_inverse=True)
    values = drawn[flat].double()
    means = torch.zeros(
        int(group.max()) + 1 if len(group) else 0, values.shape[1], dtype=values.dtype
    )
    means.index_add_(0, group, values)
    means /= torch.bincount(group).unsqueeze(1)
    rms = lambda t: float(t.double().pow(2).mean().sqrt())  # noqa: E731
    return {
        "flat_rms": rms(error[flat]),
        "mottle_rms": rms(values - means[group]),
        "edge_rms": rms(error[edge]),
        "flat_share": float(flat.double().mean()),
        "edge_share": float(edge.double().mean()),
    }


def reconstructions(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's test images and its model's reconstructions of them."""
    images = run.test.images
    with torch.inference_mode():
        recon = torch.cat(
            [run.model.reconstruct(images[i : i + 256]) for i in range(0, len(images), 256)]
        )
    return images, recon.float().clamp(0, 1)


def reconstruction_sampler(run: Run, recon: torch.Tensor, train_pixels: torch.Tensor) -> Sampler:
    """``recon``, the reconstructions of the run's test tiles, of the class asked for, each class's
    tiles in turn (a seeded order, cycling; exact copies of training tiles ``train_pixels`` left
    out, as the held-out column leaves them): so every tile of a class counts once when its figure
    takes them all."""
    _, kept = remove_exact_duplicates(train_pixels, run.test.pixels)
    seeded = torch.Generator().manual_seed(0)
    kept = torch.from_numpy(kept)[torch.randperm(len(kept), generator=seeded)]
    labels = run.test.labels[kept]
    order = {c: kept[labels == c] for c in labels.unique().tolist()}
    taken = dict.fromkeys(range(run.test.num_classes), 0)

    def draw(classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rows = []
        for c in classes.tolist():
            # a class without held-out tiles is never measured; the timing probe may ask for it
            pool = order.get(c, kept)
            rows.append(pool[taken[c] % len(pool)])
            taken[c] += 1
        return recon[torch.stack(rows)] if rows else recon[:0]

    return Sampler(CEILING, True, draw)


def class_index(run, class_name: str) -> int:
    names = run.test.class_names
    if class_name not in names:
        raise SystemExit(
            f"--blind-class {class_name!r} is not a class of {run.dataset}: {', '.join(names)}"
        )
    return names.index(class_name)


def write_tile_sheet(tiles: torch.Tensor, columns: int, out: Path) -> None:
    """``tiles`` (alpha over a checkerboard, as every aekit picture shows it) in rows of
    ``columns`` with white gaps, enlarged ``BLIND_SCALE`` times without smoothing, as a PNG."""
    pixels = (composite(tiles).clamp(0, 1) * 255).round().to(torch.uint8)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    (h, w), gap = pixels.shape[2:], 2
    grid_rows = -(-len(pixels) // columns)
    sheet = np.full((grid_rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for i, tile in enumerate(pixels):
        r, c = divmod(i, columns)
        sheet[
            gap + r * (h + gap) : gap + r * (h + gap) + h,
            gap + c * (w + gap) : gap + c * (w + gap) + w,
        ] = tile[:3].permute(1, 2, 0).numpy()
    image = Image.fromarray(sheet).resize(
        (sheet.shape[1] * BLIND_SCALE, sheet.shape[0] * BLIND_SCALE), Image.NEAREST
    )
    atomic_write_bytes(out, png_bytes(np.asarray(image)))


def class_draw(run, sampler_name: str, class_name: str, n: int, seed: int):
    """``n`` samples of ``class_name`` from the run's sampler ``sampler_name``, with the class's
    index, the training set, the classifier, and the generator to go on drawing from."""
    cls = class_index(run, class_name)
    train, classifier = run_classifier(run)
    sampler = run_samplers(run, fitted_priors(run.dir))[sampler_name]
    generator = torch.Generator().manual_seed(seed)
    samples = class_samples(sampler, classifier, cls, n, len(run.test.class_names), generator)
    return cls, train, classifier, samples, generator


def pairs_sheet(run, sampler_name: str, class_name: str, out: Path, seed: int = 0) -> Path:
    """64 samples of ``class_name``, each row of 16 above the nearest training tile of each (in
    the classifier's features): new objects, copies or blobs, for the eye."""
    cls, train, classifier, samples, _ = class_draw(run, sampler_name, class_name, PAIRS, seed)
    nearest = nearest_distances(features(classifier, samples), features(classifier, train.images))
    neighbours = train.images[torch.as_tensor(nearest[1])]
    rows = [part[i : i + 16] for i in range(0, len(samples), 16) for part in (samples, neighbours)]
    write_tile_sheet(torch.cat(rows), 16, out)
    return out


def blind_sheet(run, sampler_name: str, class_name: str, out: Path, seed: int = 0) -> Path:
    """32 samples of ``class_name`` and 32 real test tiles of it (no copies of training tiles),
    shuffled into one 8 x 8 sheet; the key (which positions are generated) in a JSON file beside
    it."""
    cls, train, _, fake, generator = class_draw(run, sampler_name, class_name, BLIND_TILES, seed)
    _, kept = remove_exact_duplicates(train.pixels, run.test.pixels)
    rows = torch.from_numpy(kept)[run.test.labels[kept] == cls]
    real = run.test.batch(rows[torch.randperm(len(rows), generator=generator)[:BLIND_TILES]])
    tiles = torch.cat([fake, real])
    order = torch.randperm(len(tiles), generator=generator)
    write_tile_sheet(tiles[order], 8, out)
    generated = sorted(int(p) + 1 for p in torch.nonzero(order < len(fake)).flatten())
    atomic_write_json(
        out.with_suffix(".key.json"),
        {
            "sheet": str(out),
            "read": "row by row, 8 tiles a row, positions from 1",
            "class": class_name,
            "sampler": sampler_name,
            "generated": generated,
            "samples": len(fake),
            "real_test_tiles": len(real),
            "seed": seed,
        },
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, default=None, help="a trained run (its fitted priors are measured)"
    )
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="training budget without --run (default 30)"
    )
    parser.add_argument(
        "--prior",
        action="append",
        default=None,
        help="prior to fit after training (repeatable; default gmm, pixelcnn for vq-vae)",
    )
    parser.add_argument("--model", default=None, help="default: aekit's choice for the data")
    parser.add_argument("--dataset", default="crawl-tiles")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--runs", type=Path, default=None, help="where a new run goes (default: a temporary folder)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--blind",
        type=Path,
        default=None,
        metavar="OUT",
        help="write the blind-look sheet (PNG) here",
    )
    parser.add_argument(
        "--pairs",
        type=Path,
        default=None,
        metavar="OUT",
        help=f"write {PAIRS} samples of --blind-class above their nearest training tiles (PNG)",
    )
    parser.add_argument(
        "--recon",
        type=Path,
        default=None,
        metavar="OUT",
        help="write 16 test tiles above their reconstructions (PNG)",
    )
    parser.add_argument("--blind-class", default="main")
    parser.add_argument(
        "--blind-sampler",
        default=None,
        help="sampler for the blind sheet (default: the one with the lowest Frechet ratio on "
        "that class)",
    )
    args = parser.parse_args(argv)
    set_threads(args.threads)
    progress = Progress()
    print(
        f"{args.dataset}: {args.threads} threads, {platform.machine()}, CPU flags: {cpu_flags()}, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    seconds: dict[str, float] = {}
    if args.run is None:
        run_dir = (args.runs or Path(tempfile.mkdtemp(prefix="aekit-sprites-"))) / "sprites"
        priors = args.prior or (["pixelcnn"] if args.model == "vq-vae" else ["gmm"])
        print(
            f"training {args.model or 'the default model'} for {args.minutes:g} min, then "
            f"priors {', '.join(priors)}"
        )
        seconds = train_run(args.minutes, run_dir, args.dataset, args.model, priors)
    else:
        run_dir = args.run
    priors = fitted_priors(run_dir) if args.prior is None or args.run is None else args.prior
    start = time.perf_counter()
    run = Run(run_dir, "cpu")
    reconstruction = reconstruction_section(
        run, run.train.subset(list(range(min(MAX_REFERENCE_IMAGES, len(run.train))))).images
    )
    train, classifier = run_classifier(run, progress)
    real, recon = reconstructions(run)
    samplers = {
        "PCA-Gaussian": pca_gaussian_sampler(train, run.model.latent_dim),
        **run_samplers(run, priors),
        CEILING: reconstruction_sampler(run, recon, train.pixels),
    }
    generation = generation_measures(  # no time budget
        samplers, train, run.test, classifier, SAMPLES_PER_FIGURE, progress=progress
    )
    seconds["measure"] = time.perf_counter() - start
    psnr = reconstruction["psnr"]
    pca_name = next(k for k in psnr if k.startswith("PCA"))
    names = run.test.class_names
    sheets = {name: generation.sections[section_name(name)] for name in names} | {
        "all": generation.sections[OVERALL]
    }
    samplers = [s for s in next(iter(sheets.values()))["images"] if s != REAL]
    judged = {s: {sheet: judge(section, s) for sheet, section in sheets.items()} for s in samplers}
    print(f"\n{run.model_name} on {args.dataset}; {generation.notes[0]}\n")
    for sampler, rows in judged.items():
        how = CEILING_HOW if sampler == CEILING else generation.summary["samplers"][sampler]
        print(table(sampler, how, rows) + "\n")
    psnr_met = psnr["model"] >= psnr[pca_name]
    print(
        f"reconstruction PSNR {psnr['model']:.2f} dB, {pca_name} {psnr[pca_name]:.2f} dB: "
        + ("met" if psnr_met else "NOT met")
    )
    colour = colour_errors(real, recon)
    print(
        f"colour error (8-bit levels, test images): flat areas {colour['flat_rms']:.2f} RMS "
        f"({colour['flat_share']:.1%} of pixels), of which mottle {colour['mottle_rms']:.2f}; "
        f"edges and detail {colour['edge_rms']:.2f} ({colour['edge_share']:.1%})"
    )
    if args.recon is not None:
        rows = torch.arange(16) * (len(real) // 16)
        write_tile_sheet(torch.cat([real[rows], recon[rows]]), 16, args.recon)
        print(f"reconstructions: {args.recon} (16 test tiles above their reconstructions)")
    code_map = code_map_figures(run, priors) if run.model.discrete_code else None
    if code_map is not None:
        print(
            f"code map {code_map['map']} of {code_map['codebook']} codes, held-out nats per index: "
            f"class code frequencies {code_map['frequency_nats_per_index']:.2f}, "
            + ", ".join(f"prior {k} {v:.2f}" for k, v in code_map["prior_nats_per_index"].items())
        )
        if "transparent_patches" in code_map:
            empty = code_map["transparent_patches"]
            print(
                f"fully transparent patches: {empty['share']:.1%} of positions, "
                f"{empty['distinct']} distinct codes (perplexity {empty['perplexity']:.1f})"
            )
    print("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    result: dict[str, Any] = {
        "run": str(run_dir),
        "dataset": args.dataset,
        "model": run.model_name,
        "model_options": run.info.model_options,
        "priors": priors,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "psnr": psnr,
        "psnr_met": psnr_met,
        "colour_errors": colour,
        "code_map": code_map,
        "generation": generation.summary,
        "per_sheet": judged,
        "targets": {
            "fd_at_most_x_floor": FD_FACTOR,
            "precision_recall_at_least_x_real": SHARE_FACTOR,
            "class_match_at_least_x_real": CLASS_FACTOR,
            "novelty_at_most": MAX_NOVELTY,
        },
        "machine": {
            "cpu_flags": cpu_flags(),
            "threads": args.threads,
            "torch": torch.__version__,
            "load_average_at_end": os.getloadavg()[0],
        },
    }
    if args.pairs is not None or args.blind is not None:
        class_index(run, args.blind_class)  # one line when the run has no such class
        candidates = {
            s: rows[args.blind_class]
            for s, rows in judged.items()
            if not s.startswith("PCA") and s != CEILING
        }
        chosen = args.blind_sampler or min(
            candidates, key=lambda s: candidates[s]["fd_to_train"] or float("inf")
        )
    if args.pairs is not None:
        pairs_sheet(run, chosen, args.blind_class, args.pairs)
        result["pairs"] = {"sheet": str(args.pairs), "sampler": chosen}
        print(
            f"pairs: {args.pairs} ({chosen}, {PAIRS} samples of {args.blind_class}, each above "
            "its nearest training tile)"
        )
    if args.blind is not None:
        blind_sheet(run, chosen, args.blind_class, args.blind)
        result["blind"] = {
            "sheet": str(args.blind),
            "key": str(args.blind.with_suffix(".key.json")),
            "sampler": chosen,
        }
        print(
            f"blind look: {args.blind} ({chosen}, {BLIND_TILES} samples of {args.blind_class} "
            "among "
            f"{BLIND_TILES} real test tiles); key in {args.blind.with_suffix('.key.json')}: "
            "look before opening it"
        )
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}; run in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
