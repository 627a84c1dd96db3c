#!/usr/bin/env bash
# Side by side on one GPU: the tree of the last GPU run against the working tree, each arm a fresh process.
# .bench_old is that tree's package and benchmarks (git-ignored, carried to the GPU machine with .whl):
#   mkdir .bench_old && git archive 1e24447 veco_lightning benchmarks | tar -x -C .bench_old && cp ab.sh .bench_old/
# Run from the repository root: OUT=... bash .bench_old/ab.sh (the console is console.txt beside this file).
set -uo pipefail
OUT=${OUT:-/tmp/ab}; mkdir -p "$OUT"
pip_site=/tmp/veco_site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $pip_site .whl/*.whl
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
NEW=$PWD; OLD=$PWD/.bench_old
common="--presets large --strategies single --runs 1 --steps 30"
run() {  # tree name limit args...
    local tree=$1 name=$2 limit=$3; shift 3
    echo "=== $name ($(date +%T))"
    (cd "$tree" && PYTHONPATH=$pip_site:$tree timeout "$limit" python3 benchmarks/gpu.py $common \
        --output "$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1)
    echo "rc $?"; grep -E "^run 0|^\| (MLM|VECO)" "$OUT/$name.log"
}
run "$OLD" old_a 90 --veco
run "$NEW" new_a 90 --veco
run "$NEW" newsync_a 60 --sync-every-step
run "$OLD" old_b 60
run "$NEW" new_b 110 --profile 5
run "$NEW" newsync_b 60 --sync-every-step
run "$NEW" new_batch64 70 --batch-size 64
run "$NEW" new_batch64_compile 100 --batch-size 64 --compile
sed -n '/Where the/,$p' "$OUT/new_b.log"
