"""One-off side-by-side of the bf16 MLM step with the cross-entropy of its 16-bit logits before and after the CPU's
one-soft-max schedule (``BlockwiseCrossEntropy``), in one process, alternating step by step (each pair of steps in
both orders), medians. The step: ``_common.mlm_step``.

The old code is a copy of the tree before the change, e.g.
    mkdir -p /tmp/old && git archive f3c3bd5 veco_lightning | tar -x -C /tmp/old
    python benchmarks/results/blockwise_softmax_ab/ab_step.py /tmp/old 32000 60
"""
import statistics
import sys
import time

import torch
from _common import mlm_step, old_masked_lm, use_cross_entropy

import veco_lightning.losses.masked_lm as new_mod

old_tree, vocab, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
classes = {"old": old_masked_lm(old_tree).BlockwiseCrossEntropy, "new": new_mod.BlockwiseCrossEntropy}
step = mlm_step(vocab)
times = {"old": [], "new": []}
for i in range(steps):
    for arm in ("old", "new") if i % 2 == 0 else ("new", "old"):
        use_cross_entropy(classes[arm])
        began = time.perf_counter()
        step()
        if i >= 3:  # warm-up
            times[arm].append(time.perf_counter() - began)
old, new = statistics.median(times["old"]), statistics.median(times["new"])
pairs = statistics.median(a / b for a, b in zip(times["old"], times["new"]))
print(f"vocabulary {vocab}: old {old * 1e3:.1f} ms, new {new * 1e3:.1f} ms a step (medians of {len(times['old'])}); "
      f"old / new {old / new:.3f}, per pair of steps {pairs:.3f}; {torch.get_num_threads()} threads")
