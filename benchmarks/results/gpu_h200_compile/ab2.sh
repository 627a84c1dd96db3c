#!/usr/bin/env bash
# The lease's second call (ab.sh's set-up and run(), copied): the cross-entropy's block sweep
# (ce_blocks.py), then the large MLM step with the blocks as before (old_blocks.py) and as now, eager, then the same
# pair with each layer compiled at batch 64 if time is left (it was not: BUDGET=170 left 32 s).
# Run from the repository root with the wheels of benchmarks/gpu_wheels.txt in .whl/: OUT=... bash <this file>.
set -uo pipefail
OUT=${OUT:-/tmp/ab}; mkdir -p "$OUT"
HERE=benchmarks/results/gpu_h200_compile
BUDGET=${BUDGET:-575}  # seconds for the whole script
site=/tmp/veco_site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $site .whl/*.whl
export PYTHONPATH=$site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
exec > >(tee "$OUT/console.txt") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY'
import importlib, os, platform
import torch
print("python", platform.python_version(), "| torch", torch.__version__, "| CUDA", torch.version.cuda, "| CPU cores",
      os.cpu_count(), "|", " | ".join(f"{name} {getattr(importlib.import_module(name), '__version__', '?')}"
                                      for name in ("lightning", "transformers", "triton")))
PY

echo "=== cross-entropy blocks ($(date +%T))"
timeout 40 python3 $HERE/ce_blocks.py; echo "rc $?"

common=${COMMON:-"--presets large --strategies single --runs 1 --steps 30"}
run() {  # name limit script args...: stops the arm 5 s after its JSON is written (a process that lingers after its
         # results costs device time) or at its limit
    local name=$1 limit=$2 script=$3; shift 3
    local left=$((BUDGET - SECONDS))
    [ "$limit" -gt "$left" ] && limit=$left
    if [ "$limit" -lt 40 ]; then echo "=== $name: skipped, ${left} s left"; return; fi
    echo "=== $name ($(date +%T), limit $limit s)"
    python3 $script $common --output "$OUT/$name.json" "$@" > "/tmp/$name.log" 2>&1 &
    local pid=$! start=$SECONDS written=""
    while kill -0 $pid 2>/dev/null; do
        if [ -z "$written" ] && [ -s "$OUT/$name.json" ]; then written=$SECONDS; fi
        if [ -n "$written" ] && [ $((SECONDS - written)) -ge 5 ]; then
            echo "(results written after $((written - start)) s; the process had not exited 5 s later: stopped)"
            kill -9 $pid; break
        fi
        if [ $((SECONDS - start)) -ge "$limit" ]; then echo "(limit reached: stopped)"; kill -9 $pid; break; fi
        sleep 1
    done
    wait $pid 2>/dev/null; echo "rc $? after $((SECONDS - start)) s"
    grep -E "^run 0|failed|Error" "/tmp/$name.log" | head -5
    { echo "##### $name"; cat "/tmp/$name.log"; } >> "$OUT/logs.txt"
}
run old_blocks 60 $HERE/old_blocks.py
run new_blocks 60 benchmarks/gpu.py
run new_blocks_batch64_layers 80 benchmarks/gpu.py --compile --batch-size 64
run old_blocks_batch64_layers 80 $HERE/old_blocks.py --compile --batch-size 64
echo "done after $SECONDS s"
