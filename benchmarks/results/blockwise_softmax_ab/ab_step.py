"""One-off side-by-side of the bf16 MLM step with the cross-entropy of its 16-bit logits before and after the CPU's
one-soft-max schedule (``BlockwiseCrossEntropy``), in one process, alternating step by step (each pair of steps in
both orders), medians. The step: the `small` encoder (4 x 256) at a VOCAB-entry vocabulary, batch 16 x 128 with 15%
masked, CPU bf16 autocast, ``MaskedLMLoss`` (the package's sparse head), fused AdamW.

The old code is a copy of the tree before the change, e.g.
    mkdir -p /tmp/old && git archive f3c3bd5 veco_lightning | tar -x -C /tmp/old
    python benchmarks/results/blockwise_softmax_ab/ab_step.py /tmp/old 32000 60
"""
import importlib.util
import statistics
import sys
import time

import torch

import veco_lightning.losses.masked_lm as new_mod
from veco_lightning.models.encoder import EncoderSpec, build_encoder

old_tree, vocab, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("old_masked_lm", f"{old_tree}/veco_lightning/losses/masked_lm.py")
old_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old_mod)
classes = {"old": old_mod.BlockwiseCrossEntropy, "new": new_mod.BlockwiseCrossEntropy}

torch.manual_seed(0)
model = build_encoder(EncoderSpec(preset="small", max_length=130), vocab_size=vocab).train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
ids = torch.randint(5, vocab, (16, 128))
labels = torch.full_like(ids, -100)
masked = torch.rand(ids.shape) < 0.15
labels[masked] = ids[masked]
loss_fn = new_mod.MaskedLMLoss(model.lm_head)


def step(arm: str) -> float:
    new_mod.BlockwiseCrossEntropy = classes[arm]  # what MaskedLMLoss.forward calls
    began = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = loss_fn(model.roberta(input_ids=ids).last_hidden_state, labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - began


times = {"old": [], "new": []}
for i in range(steps):
    for arm in ("old", "new") if i % 2 == 0 else ("new", "old"):
        seconds = step(arm)
        if i >= 3:  # warm-up
            times[arm].append(seconds)
old, new = statistics.median(times["old"]), statistics.median(times["new"])
pairs = statistics.median(a / b for a, b in zip(times["old"], times["new"]))
print(f"vocabulary {vocab}: old {old * 1e3:.1f} ms, new {new * 1e3:.1f} ms a step (medians of {len(times['old'])}); "
      f"old / new {old / new:.3f}, per pair of steps {pairs:.3f}; {torch.get_num_threads()} threads")
