#!/usr/bin/env bash
# The CUDA paths in a few minutes, when a GPU is here:
#   1. conv-vae trained for one epoch on the GPU in bfloat16 autocast, and in float32 for comparison;
#   2. the same epoch under torchrun, one process per GPU (DDP over NCCL when there are 2 or more);
#   3. the speed benchmark's quick form on CUDA, when benchmarks/speed.py has a --device option;
# then a summary. Without a CUDA device it prints "no CUDA device: nothing run" and exits 0.
#
#   bash scripts/gpu_check.sh          # PYTHON=... to choose the interpreter, GPU_CHECK_OUT=... to keep the runs
# Exit status: 0 when every step that ran passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
STEP_LIMIT=${GPU_CHECK_STEP_SECONDS:-300}

gpus=$("$PY" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)') || {
    echo "gpu_check: cannot import torch with $PY" >&2; exit 1; }
if [ "$gpus" -lt 1 ]; then
    echo "no CUDA device: nothing run"
    exit 0
fi

OUT=${GPU_CHECK_OUT:-$(mktemp -d -t aekit-gpu-check.XXXXXX)}
mkdir -p "$OUT"
dataset=$("$PY" -c 'from aekit.tour import choose_dataset; print(choose_dataset(None, say=lambda m: None))')
"$PY" -c 'import torch; print("gpu_check:", torch.cuda.device_count(), "x", torch.cuda.get_device_name(0), "torch", torch.__version__, "CUDA", torch.version.cuda)'
echo "gpu_check: dataset $dataset, runs in $OUT"
summary=()
failed=0

# One epoch of conv-vae; passes when the run finished with a finite validation loss. Prints s/epoch.
epoch_check() {  # name, then the launcher and its arguments up to the aekit command
    local name=$1; shift
    local dir="$OUT/$name" start=$SECONDS
    if timeout "$STEP_LIMIT" "$@" train --model conv-vae --dataset "$dataset" --epochs 1 --batch-size 256 \
            --device cuda --out "$dir" --quiet $EXTRA >"$OUT/$name.log" 2>&1 \
        && result=$("$PY" - "$dir" <<'PYEOF'
import json, math, sys
from pathlib import Path
last = json.loads(Path(sys.argv[1], "metrics.jsonl").read_text().splitlines()[-1])
loss = last["val"]["loss"]
assert math.isfinite(loss), f"validation loss {loss}"
print(f"val loss {loss:.2f}, {last['seconds']:.1f} s/epoch")
PYEOF
        ); then
        summary+=("ok      $name: $result ($((SECONDS - start)) s in all)")
    else
        failed=1
        summary+=("FAILED  $name: see $OUT/$name.log")
        tail -5 "$OUT/$name.log" | sed 's/^/    /'
    fi
}

EXTRA="--precision bf16" epoch_check conv-vae-bf16 "$PY" -m aekit
EXTRA="--precision fp32" epoch_check conv-vae-fp32 "$PY" -m aekit
EXTRA="--precision bf16" epoch_check "torchrun-$gpus-gpu" "$PY" -m torch.distributed.run --standalone \
    --nproc_per_node="$gpus" -m aekit
if [ "$gpus" -lt 2 ]; then
    summary+=("note    torchrun with 1 process has WORLD_SIZE 1: no process group, DDP and NCCL not exercised")
fi

if "$PY" benchmarks/speed.py --help 2>/dev/null | grep -q -- '--device'; then
    if timeout "$STEP_LIMIT" "$PY" benchmarks/speed.py --quick --device cuda --out "$OUT/speed.json" >"$OUT/speed.log" 2>&1; then
        summary+=("ok      speed.py --quick on CUDA: $OUT/speed.json")
    else
        failed=1
        summary+=("FAILED  speed.py --quick on CUDA: see $OUT/speed.log")
    fi
else
    summary+=("skipped speed.py --quick on CUDA: benchmarks/speed.py has no --device option (it times the CPU only)")
fi

echo "gpu_check summary:"
printf '  %s\n' "${summary[@]}"
exit "$failed"
