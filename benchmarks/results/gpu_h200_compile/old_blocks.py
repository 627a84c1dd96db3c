"""One-off arm: benchmarks/gpu.py with BlockwiseCrossEntropy's blocks as before (2^24 // V rows on any accelerator:
67 at 250,002 entries) instead of at least four rows per multiprocessor on a CUDA device. Run from the repository
root: python benchmarks/results/gpu_h200_compile/old_blocks.py <gpu.py arguments>."""

import os
import sys

from veco_lightning.losses import masked_lm

masked_lm._block_rows = lambda logits: max(1, 2**24 // logits.shape[1])
sys.path.insert(0, os.path.join(os.getcwd(), "benchmarks"))
import gpu  # noqa: E402

raise SystemExit(gpu.main(sys.argv[1:]))
