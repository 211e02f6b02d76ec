"""Floor plans: how fast they are generated, and what references and the retrieval baseline score.

Measures, on one core (CPU time of this process, so other load on the machine counts little):
- generating N pairs at 64 x 64 (``make_floorplans``; target: 20,000 well under a minute);
- the real plans' own figures: validity (must be 1), realism of one half against the other (the
  reference), diversity between plans of different footprints;
- the retrieval baseline (the training plan whose footprint fits best, stretched onto the query):
  footprint IoU, validity, realism, pixels differing from the real plan of the query, raw and
  through the plan renderer that floor-plan models draw with (``aekit.plan_render``); and a random
  training plan stretched the same way, the floor a model must clear.

    python benchmarks/floorplans.py --quick   # 2,000 pairs timed; 1,000 train / 200 test
    python benchmarks/floorplans.py           # 20,000 pairs timed; 10,000 train / 1,000 test

A trained floor-plan run (``aekit train --dataset floorplans-synthetic --max-minutes 30 --threads
1``) is measured with ``--run RUN``: 8 plans for each of 500 test footprints (never trained on)
beside the held-out real plans and retrieval (``aekit.plan_measures.plan_section``), the table
printed and added to the results as ``model``; ``--sheets DIR`` also writes sheets of the plans
(each row: the footprint, then its plans) for viewing: ``unseen.png`` as drawn (rendered),
``unseen-raw.png`` the network's raw pixels for the same codes. ``--prior NAME`` (repeatable) adds a
column ``prior NAME``: the model's plans from that prior's codes (fitted first with ``aekit
fit-prior RUN --prior NAME``) instead of N(0, I), and with ``--sheets`` its sheet
``unseen-prior-NAME.png``.

    python benchmarks/floorplans.py --run /tmp/plans/run --sheets /tmp/plans/sheets --prior gmm

8 plans for each of 500 footprints carry those 500 footprints' areas, and the room count follows
the area: the real plans of the same 500 footprints score realism 0.049 against the training
plans, 3x the real-vs-real reference at 4,000 plans. ``--wide N`` (with ``--run`` and one
``--prior``, or none for N(0, I)) draws one plan for each of N footprints no set holds (a seed of
their own) and gives realism beside the real plans of those footprints and of N others, and beside
what the renderer makes of layouts without information (random room types), all against the same
training plans (``wide`` in the results):

    python benchmarks/floorplans.py --run /tmp/plans/run --prior gmm --wide 4000 --name wide
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from aekit import plans as P
from aekit.data.floorplans import make_floorplans
from aekit.io import atomic_write_json
from aekit.models.plan_vae import PlanModel
from aekit.plan_render import render_plans
from aekit.priors import Prior

RESULTS = Path(__file__).resolve().parent / "results" / "floorplans.json"


def _stretched_random(
    train_footprints: np.ndarray, train_plans: np.ndarray, queries: np.ndarray, seed: int = 0
) -> np.ndarray:
    """A random training plan per query, stretched onto the query like the retrieval baseline's."""
    picks = np.random.default_rng(seed).integers(0, len(train_plans), len(queries))
    return np.concatenate(
        [
            P.retrieval_baseline(train_footprints[[r]], train_plans[[r]], q[None])
            for r, q in zip(picks, queries)
        ]
    )


def measure(timed: int, n_train: int, n_test: int) -> dict[str, object]:
    start = time.process_time()
    make_floorplans(timed, size=64, seed=100)
    seconds = time.process_time() - start
    print(
        f"generation: {timed} pairs of 64x64 in {seconds:.1f} s of one core "
        f"({1e3 * seconds / timed:.2f} ms each)"
    )

    train_f, train_p = make_floorplans(n_train, seed=0)
    test_f, test_p = make_floorplans(n_test, seed=1)
    realism = P.realism(test_p, train_p)
    reals = {
        "validity": P.validity_rate(test_p, test_f),
        "footprint_iou": P.footprint_iou(test_p, test_f),
        "realism_test_vs_train": realism["distance"],
        "realism_reference": realism["reference"],
        "between_footprint_diversity": P.between_footprint_diversity(test_p),
    }
    print("real plans: " + ", ".join(f"{k} {v:.3f}" for k, v in reals.items()))
    baselines = {}
    retrieved = P.retrieval_baseline(train_f, train_p, test_f)
    for name, predicted in (
        ("retrieval", retrieved),
        ("retrieval, rendered", render_plans(retrieved, test_f)),
        ("random stretched", _stretched_random(train_f, train_p, test_f)),
    ):
        baselines[name] = {
            "footprint_iou": P.footprint_iou(predicted, test_f),
            "validity": P.validity_rate(predicted, test_f),
            "realism": P.realism(predicted, train_p)["distance"],
            "differing_from_real": P.diversity(np.stack([predicted, test_p], axis=1)),
        }
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in baselines[name].items()))
    return {
        "machine": platform.processor() or platform.machine(),
        "generation_pairs": timed,
        "generation_cpu_s": seconds,
        "train": n_train,
        "test": n_test,
        "reals": reals,
        "baselines": baselines,
    }


def measure_run(
    run_dir: str, sheets: str | None, temperature: float, priors: list[str]
) -> dict[str, object]:
    """The run's floor-plan section on unseen footprints, with what the training did and the
    load."""
    import torch

    from aekit.plan_measures import PLANS_PER_FOOTPRINT, UNSEEN_FOOTPRINTS, plan_section
    from aekit.progress import Progress
    from aekit.run import Run
    from aekit.tables import format_metrics

    torch.manual_seed(0)
    load_before, start = os.getloadavg(), time.perf_counter()
    run = Run(run_dir, "cpu")
    loaded = {name: run.prior(name) for name in priors}
    section, note, _ = plan_section(
        run.model,
        run.train.footprints.numpy(),
        run.train.plans.numpy(),
        run.test.footprints.numpy(),
        run.test.plans.numpy(),
        UNSEEN_FOOTPRINTS,
        # every footprint
        progress=Progress(),
        temperature=temperature,
        priors=loaded,
    )
    history = [
        json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    ]
    result = {
        "run": run_dir,
        "model": run.model_name,
        "model_options": run.info.model_options,
        # what the renderer used: the run's record, or the default for a run trained before it
        "room_rules": list(run.model.room_rules.as_record()),
        "train_items": len(run.train),
        "unseen_footprints": UNSEEN_FOOTPRINTS,
        "plans_per_footprint": PLANS_PER_FOOTPRINT,
        "temperature": temperature,
        "priors": priors,
        "epochs": len(history),
        "training_seconds": round(sum(h["seconds"] for h in history), 1),
        "images_per_s": [h["images_per_s"] for h in history],
        "best_val_loss": min(h["val"]["loss"] for h in history),
        "section": section,
        "note": note,
        "measure_seconds": round(time.perf_counter() - start, 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    print(
        format_metrics(
            {
                "model": run.model_name,
                "dataset": "floorplans-synthetic",
                "test_items": UNSEEN_FOOTPRINTS,
                "sections": {"floor plans": section},
                "notes": [note],
            }
        )
    )
    if sheets is not None:
        write_sheets(run.model, run.test.footprints.numpy()[:12], Path(sheets), temperature, loaded)
    return result


WIDE_SEED = 987_654  # footprints for --wide: a seed neither the dataset nor the tests use


def uninformed_plans(model: PlanModel, footprints: np.ndarray) -> np.ndarray:
    """What the renderer makes of layouts that carry no information: the footprint's built area,
    every built pixel a random room type, no walls; drawn with the model's smallest room and room
    rules, as its own layouts are. Realism it reaches is the renderer's, not the network's."""
    import torch

    from aekit.data.floorplans import CLASSES, OUTSIDE, ROOM_CLASSES

    generator = torch.Generator().manual_seed(0)
    out = []
    for start in range(0, len(footprints), 256):
        batch = torch.as_tensor(footprints[start : start + 256])
        built = batch[:, 0] > 0
        logits = torch.full((len(batch), len(CLASSES), *built.shape[1:]), -30.0)
        logits[:, OUTSIDE] = torch.where(built, -30.0, 30.0)
        noise = torch.rand((len(batch), len(ROOM_CLASSES), *built.shape[1:]), generator=generator)
        logits[:, list(ROOM_CLASSES)] = torch.where(built[:, None], noise, -30.0)
        out.append(model.render(logits, batch)[1].numpy())
    return np.concatenate(out)


def measure_wide(run_dir: str, n: int, prior: str | None) -> dict[str, object]:
    """Realism of one plan for each of ``n`` unseen footprints, beside the real plans of the same
    footprints and of ``n`` others, all against the run's training plans."""
    import torch

    from aekit.plan_measures import draw_plans
    from aekit.run import Run

    start, load_before = time.perf_counter(), os.getloadavg()
    run = Run(run_dir, "cpu")
    footprints, real = make_floorplans(2 * n, 64, seed=WIDE_SEED)
    torch.manual_seed(0)
    plans = draw_plans(
        run.model, footprints[:n], 1, prior=None if prior is None else run.prior(prior)
    )[:, 0]
    columns = {
        f"model ({prior or 'N(0, I)'}), one plan per footprint": plans,
        "renderer alone (random room types)": uninformed_plans(run.model, footprints[:n]),
        "real plans of the same footprints": real[:n],
        "real plans of other footprints": real[n:],
    }
    realism = P.realism_of(columns, run.train.plans.numpy())
    for name, terms in realism.items():
        print(f"{name:<46} " + "  ".join(f"{k} {v:.4f}" for k, v in terms.items()))
    return {
        "run": run_dir,
        "footprints": n,
        "prior": prior,
        "realism": realism,
        "seconds": round(time.perf_counter() - start, 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def write_sheets(
    model: PlanModel,
    footprints: np.ndarray,
    folder: Path,
    temperature: float = 1.0,
    priors: dict[str, Prior] | None = None,
) -> None:
    """``unseen.png``: a row per footprint (the footprint, then 8 plans), palette colours, 4x;
    ``unseen-raw.png`` the same codes' raw network pixels; ``unseen-prior-NAME.png`` the plans from
    each prior's codes."""
    from PIL import Image

    from aekit.data.floorplans import PALETTE
    from aekit.footprints import plan_sheet
    from aekit.io import atomic_write_bytes
    from aekit.plan_measures import PLANS_PER_FOOTPRINT, draw_plans

    sheets = [
        ("unseen.png", True, None),
        ("unseen-raw.png", False, None),
        *((f"unseen-prior-{name}.png", True, prior) for name, prior in (priors or {}).items()),
    ]
    for name, rendered, prior in sheets:
        drawn = draw_plans(
            model,
            footprints,
            PLANS_PER_FOOTPRINT,
            seed=1,
            rendered=rendered,
            prior=prior,
            temperature=temperature if prior is None else 1.0,
        )
        rows = [
            plan_sheet(plans, footprint, columns=PLANS_PER_FOOTPRINT + 1)
            for plans, footprint in zip(drawn, footprints)
        ]
        sheet = np.concatenate([np.pad(r, ((0, 2), (0, 0))) for r in rows])
        image = Image.fromarray(PALETTE[sheet]).resize(
            (sheet.shape[1] * 4, sheet.shape[0] * 4), Image.Resampling.NEAREST
        )
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        atomic_write_bytes(folder / name, buffer.getvalue())
        print(f"wrote {folder / name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--run", help="measure this trained floor-plan run on 500 unseen footprints"
    )
    parser.add_argument(
        "--sheets", help="with --run: write sheets of plans for unseen footprints into this folder"
    )
    parser.add_argument(
        "--name", default="model", help="with --run: the key of its results in floorplans.json"
    )
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="with --run: codes drawn from N(0, T^2 I)"
    )
    parser.add_argument(
        "--prior",
        action="append",
        default=[],
        help="with --run: add a column for plans from this fitted prior's codes (repeatable)",
    )
    parser.add_argument(
        "--wide",
        type=int,
        help="with --run: realism of one plan for each of this many unseen footprints instead of "
        "the 500-footprint section (default: the section)",
    )
    args = parser.parse_args()
    if args.run is not None and args.wide:
        results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        results[args.name] = measure_wide(args.run, args.wide, (args.prior or [None])[0])
        atomic_write_json(RESULTS, results)
        print(f"wrote {RESULTS}")
        return
    if args.run is not None:
        measured = measure_run(args.run, args.sheets, args.temperature, args.prior)
        # read late: runs in parallel
        results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        results[args.name] = measured
        atomic_write_json(RESULTS, results)
        print(f"wrote {RESULTS}")
        return
    timed, n_train, n_test = (2_000, 1_000, 200) if args.quick else (20_000, 10_000, 1_000)
    results = measure(timed, n_train, n_test)
    out = RESULTS.with_name("floorplans-quick.json") if args.quick else RESULTS
    atomic_write_json(out, results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
