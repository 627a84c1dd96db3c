# Sourced by ab.sh and ab2.sh (from the repository root): the set-up (wheels, environment, console, versions) and
# run(), one arm as a fresh process with its time limit.
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
