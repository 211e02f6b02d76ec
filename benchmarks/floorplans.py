"""Floor plans: how fast they are generated, and what the references and the retrieval baseline score.

Measures, on one core (CPU time of this process, so other load on the machine counts little):
- generating N pairs at 64 x 64 (``make_floorplans``; target: 20,000 well under a minute);
- the real plans' own figures: validity (must be 1), realism of one half against the other (the
  reference), diversity between plans of different footprints;
- the retrieval baseline (the training plan whose footprint fits best, stretched onto the query):
  footprint IoU, validity, realism, pixels differing from the real plan of the query; and a random
  training plan stretched the same way, the floor a model must clear.

    python benchmarks/floorplans.py --quick   # 2,000 pairs timed; 1,000 train / 200 test
    python benchmarks/floorplans.py           # 20,000 pairs timed; 10,000 train / 1,000 test
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from aekit import plans as P
from aekit.data.floorplans import make_floorplans
from aekit.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "floorplans.json"


def _stretched_random(train_footprints: np.ndarray, train_plans: np.ndarray, queries: np.ndarray,
                      seed: int = 0) -> np.ndarray:
    """A random training plan per query, stretched onto the query like the retrieval baseline's."""
    picks = np.random.default_rng(seed).integers(0, len(train_plans), len(queries))
    return np.concatenate([P.retrieval_baseline(train_footprints[[r]], train_plans[[r]], q[None])
                           for r, q in zip(picks, queries)])


def measure(timed: int, n_train: int, n_test: int) -> dict[str, object]:
    start = time.process_time()
    make_floorplans(timed, size=64, seed=100)
    seconds = time.process_time() - start
    print(f"generation: {timed} pairs of 64x64 in {seconds:.1f} s of one core ({1e3 * seconds / timed:.2f} ms each)")

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
    for name, predicted in (("retrieval", P.retrieval_baseline(train_f, train_p, test_f)),
                            ("random stretched", _stretched_random(train_f, train_p, test_f))):
        baselines[name] = {
            "footprint_iou": P.footprint_iou(predicted, test_f),
            "validity": P.validity_rate(predicted, test_f),
            "realism": P.realism(predicted, train_p)["distance"],
            "differing_from_real": P.diversity(np.stack([predicted, test_p], axis=1)),
        }
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in baselines[name].items()))
    return {"machine": platform.processor() or platform.machine(), "generation_pairs": timed,
            "generation_cpu_s": seconds, "train": n_train, "test": n_test, "reals": reals, "baselines": baselines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    timed, n_train, n_test = (2_000, 1_000, 200) if args.quick else (20_000, 10_000, 1_000)
    results = measure(timed, n_train, n_test)
    out = RESULTS.with_name("floorplans-quick.json") if args.quick else RESULTS
    atomic_write_json(out, results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
