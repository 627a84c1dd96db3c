#!/usr/bin/env bash
# The lease's second call (set-up and run() in _common.sh, as ab.sh): the cross-entropy's block sweep
# (ce_blocks.py), then the large MLM step with the blocks as before (old_blocks.py) and as now, eager, then the same
# pair with each layer compiled at batch 64 if time is left (it was not: BUDGET=170 left 32 s).
# Run from the repository root with the wheels of benchmarks/gpu_wheels.txt in .whl/: OUT=... bash <this file>.
source benchmarks/results/gpu_h200_compile/_common.sh

echo "=== cross-entropy blocks ($(date +%T))"
timeout 40 python3 $HERE/ce_blocks.py; echo "rc $?"

run old_blocks 60 $HERE/old_blocks.py
run new_blocks 60 benchmarks/gpu.py
run new_blocks_batch64_layers 80 benchmarks/gpu.py --compile --batch-size 64
run old_blocks_batch64_layers 80 $HERE/old_blocks.py --compile --batch-size 64
echo "done after $SECONDS s"
