"""torchrun / DDP: two CPU processes on gloo train the same weights, and rank 0 alone writes the
run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import aekit

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available",
)

RUN_FILES = {
    "config.json",
    "model.safetensors",
    "metrics.jsonl",
    "checkpoint.safetensors",
    "checkpoint.json",
    "data.json",
}
IMAGES, BATCH = 256, 32

# Each rank runs aekit's real train() and reports what it holds and which files it wrote.
WORKER = f"""
import hashlib, json, sys
import aekit
import aekit.runs as runs_module
from aekit.config import TrainConfig

out, epochs, resume, report = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume", sys.argv[4]
writes = []
for name in ("atomic_write_bytes", "atomic_write_json", "atomic_write_text"):
    def record(path, data, _write=getattr(runs_module, name)):
        writes.append(path.name)
        _write(path, data)
    setattr(runs_module, name, record)
run = aekit.train(TrainConfig(model="dense", dataset="digits", out=out, epochs=epochs,
                              resume=resume, quiet=True, max_train_images={IMAGES},
                              batch_size={BATCH}, model_options={{"latent_dim": 4}}))
state = run.model.state_dict()
digest = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()
history = [{{"train": h["train"], "val": h["val"]}} for h in run.history]
json.dump({{"digest": digest, "history": history, "writes": writes}}, open(report, "w"))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    src = str(Path(aekit.__file__).parents[1])  # the child imports this checkout's aekit
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        **extra,
    }


def _run_two_ranks(
    script: Path, args: list[str], reports: list[Path], timeout: float
) -> list[dict]:
    """Start ``script ARGS REPORT`` as ranks 0 and 1 with the variables torchrun sets; each rank's
    report."""
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), *args, str(reports[r])],
            env=_env(
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
                WORLD_SIZE="2",
                RANK=str(r),
                LOCAL_RANK=str(r),
            ),
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(2)
    ]
    try:
        errors = [p.communicate(timeout=timeout)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], errors
    return [json.loads(r.read_text()) for r in reports]


def _two_ranks(tmp_path: Path, out: Path, epochs: int, resume: bool = False) -> list[dict]:
    """aekit's train() as ranks 0 and 1; returns each rank's report."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    reports = [tmp_path / f"{out.name}-{epochs}-rank{r}.json" for r in range(2)]
    return _run_two_ranks(
        script, [str(out), str(epochs), "resume" if resume else "new"], reports, timeout=120
    )


def test_two_ranks_hold_identical_weights_only_rank_0_writes_and_resume_is_exact(tmp_path):
    part, full = tmp_path / "part", tmp_path / "full"
    rank0, rank1 = _two_ranks(tmp_path, part, epochs=1)
    assert rank0["digest"] == rank1["digest"]
    # metrics reduced across ranks
    assert rank0["history"] == rank1["history"] and len(rank0["history"]) == 1
    assert rank1["writes"] == [] and set(rank0["writes"]) == RUN_FILES
    assert RUN_FILES <= {p.name for p in part.iterdir()}
    # each rank stepped through its own half of the images
    assert json.loads((part / "checkpoint.json").read_text())["global_step"] == IMAGES // 2 // BATCH
    assert json.loads((part / "metrics.jsonl").read_text())["val"] == rank0["history"][0]["val"]

    # every rank restores the checkpoint
    resumed = _two_ranks(tmp_path, part, epochs=2, resume=True)
    uninterrupted = _two_ranks(tmp_path, full, epochs=2)
    assert resumed[0]["digest"] == resumed[1]["digest"] == uninterrupted[0]["digest"]
    assert resumed[0]["history"] == uninterrupted[0]["history"]
    a, b = (
        load_file(str(full / "checkpoint.safetensors")),
        load_file(str(part / "checkpoint.safetensors")),
    )
    for name in (k for k in a if k.startswith(("model/", "optim/"))):
        assert torch.equal(a[name], b[name]), name


def test_torchrun_cli_leaves_a_loadable_run(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            str(_free_port()),
            "-m",
            "aekit",
            "train",
            "--model",
            "dense",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--max-train-images",
            str(IMAGES),
            "--out",
            str(out),
            "--quiet",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    model = aekit.load(out)
    assert model.reconstruct(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)


# Each rank updates a vq-vae codebook from its own half of the vectors, then trains a tiny vq-vae.
CODEBOOK_WORKER = """
import hashlib, json, sys
import torch
import aekit
from aekit import distributed
from aekit.config import TrainConfig
from aekit.models.vq_vae import EMAQuantizer

out, report = sys.argv[1], sys.argv[2]
distributed.init(torch.device("cpu"))
rank = distributed.rank()
# every rank draws its own restarts: only the broadcast makes them agree
torch.manual_seed(100 + rank)
# both ranks' data, 3 batches
halves = torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(0))
# no restarts: plain EMA statistics
steady = EMAQuantizer(num_codes=6, dim=4, decay=0.9, restart_after=1000)
steady.codebook.copy_(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)))
steady.cluster_size.fill_(5.0)
steady.embed_sum.copy_(steady.codebook * 5.0)
# initialised and restarted from batches
fresh = EMAQuantizer(num_codes=6, dim=4, decay=0.9, restart_after=1)
for step in range(3):
    z = halves[rank, step : step + 1]
    steady.update(z, steady.indices(z))
    fresh.update(z, fresh.indices(z))
distributed.shutdown()
run = aekit.train(TrainConfig(model="vq-vae", dataset="digits", out=out, epochs=1, quiet=True,
                              max_train_images=256, batch_size=32,
                              model_options={"channels": [8, 8], "codebook_size": 8, "code_dim": 4,
                                             "prior_channels": 8, "prior_layers": 2}))
state = run.model.state_dict()
digest = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()
json.dump(
    {"steady": steady.codebook.tolist(), "fresh": fresh.codebook.tolist(), "digest": digest},
    open(report, "w"),
)
"""


def test_vq_codebook_statistics_are_all_reduced_so_ranks_agree(tmp_path):
    from aekit.models.quantizers import EMAQuantizer

    script = tmp_path / "codebook.py"
    script.write_text(CODEBOOK_WORKER)
    reports = [tmp_path / f"rank{r}.json" for r in range(2)]
    rank0, rank1 = _run_two_ranks(script, [str(tmp_path / "run")], reports, timeout=180)
    assert rank0 == rank1  # the same codebooks (and trained weights) on both ranks
    # and the same as one process seeing both halves of every batch: the statistics are summed, not
    # local
    halves = torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    single = EMAQuantizer(num_codes=6, dim=4, decay=0.9, restart_after=1000)
    single.codebook.copy_(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)))
    single.cluster_size.fill_(5.0)
    single.embed_sum.copy_(single.codebook * 5.0)
    local = EMAQuantizer(num_codes=6, dim=4, decay=0.9, restart_after=1000)
    local.load_state_dict(single.state_dict())
    for step in range(3):
        z = halves[:, step]
        single.update(z, single.indices(z))
        # what rank 0 alone would hold without the all-reduce
        local.update(z[:1], local.indices(z[:1]))
    assert torch.allclose(torch.tensor(rank0["steady"]), single.codebook, atol=1e-5)
    assert not torch.allclose(torch.tensor(rank0["steady"]), local.codebook, atol=1e-3)
