"""One-off side-by-side of the cross-entropy of 16-bit logits alone (forward and backward, ``ROWS`` target rows plus 10
filler rows, bf16, 2 threads), alternating call by call, medians: autocast's path (``F.cross_entropy`` of the fp32
upcast), ``BlockwiseCrossEntropy`` before the change (the old tree: log-sum-exp forward, soft-max recomputed backward),
and now (the CPU's ``"softmax"`` schedule, the GPU's ``"log_softmax"`` run on the CPU).

    mkdir -p /tmp/old && git archive f3c3bd5 veco_lightning | tar -x -C /tmp/old
    python benchmarks/results/blockwise_softmax_ab/ab_ce.py /tmp/old 320 32000 250002
"""
import statistics
import sys
import time

import torch
from _common import old_masked_lm

from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy

old_tree, rows, vocabs = sys.argv[1], int(sys.argv[2]), [int(v) for v in sys.argv[3:]]
old_mod = old_masked_lm(old_tree)

ways = {
    "autocast upcast": lambda x, t: torch.nn.functional.cross_entropy(x[: len(t)].float(), t),
    "before (log-sum-exp, recomputed)": lambda x, t: old_mod.BlockwiseCrossEntropy.apply(x, t),
    "softmax (CPU default now)": lambda x, t: BlockwiseCrossEntropy.apply(x, t, "softmax"),
    "log_softmax (GPU default)": lambda x, t: BlockwiseCrossEntropy.apply(x, t, "log_softmax"),
}
for vocab in vocabs:
    g = torch.Generator().manual_seed(0)
    base = (torch.randn(rows + 10, vocab, generator=g) * 2).bfloat16()
    targets = torch.randint(0, vocab, (rows,), generator=g)
    calls = 15 if vocab < 100_000 else 7
    times = {name: [] for name in ways}
    for call in range(calls + 2):
        for name in (list(ways) if call % 2 == 0 else list(ways)[::-1]):
            logits = base.clone().requires_grad_()
            began = time.perf_counter()
            ways[name](logits, targets).backward()
            if call >= 2:
                times[name].append(time.perf_counter() - began)
    before = statistics.median(times["before (log-sum-exp, recomputed)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"({rows}, {vocab}) {name:34s} {median * 1e3:8.1f} ms  before / this {before / median:.2f}")
