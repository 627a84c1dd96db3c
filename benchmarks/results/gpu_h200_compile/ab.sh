#!/usr/bin/env bash
# One lease's side-by-side run on one GPU (large MLM step, bf16-mixed, 32 x 512 tokens, 30 timed steps; every arm a
# fresh process): eager, eager with the query/key/value projections fused (fused_qkv.py, not in the package),
# model.compile of each layer (with a 5-step profile), the same at batch 64, then model.compile of the whole trunk
# with the time left. Before them: the cross-entropy's check on CUDA (ce_cuda_check.py) and the GPU tests.
# Run from the repository root with the wheels of benchmarks/gpu_wheels.txt in .whl/: OUT=... bash <this file>.
# Returns at most 8 files: console.txt, logs.txt (every arm's log), tests.log and one JSON per arm.
source benchmarks/results/gpu_h200_compile/_common.sh

echo "=== cross-entropy on CUDA ($(date +%T))"
timeout 40 python3 $HERE/ce_cuda_check.py; echo "rc $?"
echo "=== GPU tests ($(date +%T))"
timeout 50 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_quickstart.py > "$OUT/tests.log" 2>&1
echo "rc $?"; tail -2 "$OUT/tests.log"

run eager 75 benchmarks/gpu.py
run fused_qkv 75 $HERE/fused_qkv.py
run layers 150 benchmarks/gpu.py --compile --profile 5
run layers_batch64 120 benchmarks/gpu.py --compile --batch-size 64
run trunk 200 benchmarks/gpu.py --compile --compile-scope trunk
sed -n '/Where the/,/^Calls/p' /tmp/layers.log | head -40
echo "done after $SECONDS s"
