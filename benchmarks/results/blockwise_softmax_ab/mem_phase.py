"""One-off reading of the resident high-water mark (``ru_maxrss``) after each phase of the bf16 MLM step at `small`
(forward, backward, optimizer; 4 steps), with the cross-entropy of the tree before the change (``old``, a copy as in
``ab_step.py``) or this tree's (``new``). A fresh process per arm:

    python benchmarks/results/blockwise_softmax_ab/mem_phase.py /tmp/old old 250002
    python benchmarks/results/blockwise_softmax_ab/mem_phase.py /tmp/old new 250002
"""
import importlib.util
import resource
import sys

import torch

import veco_lightning.losses.masked_lm as new_mod
from veco_lightning.models.encoder import EncoderSpec, build_encoder

old_tree, arm, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
if arm == "old":
    spec = importlib.util.spec_from_file_location("old_masked_lm", f"{old_tree}/veco_lightning/losses/masked_lm.py")
    old_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old_mod)
    new_mod.BlockwiseCrossEntropy = old_mod.BlockwiseCrossEntropy


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def high_water_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


torch.manual_seed(0)
model = build_encoder(EncoderSpec(preset="small", max_length=130), vocab_size=vocab).train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
ids = torch.randint(5, vocab, (16, 128))
labels = torch.full_like(ids, -100)
masked = torch.rand(ids.shape) < 0.15
labels[masked] = ids[masked]
loss_fn = new_mod.MaskedLMLoss(model.lm_head)
start = resident_mib()
for step in range(4):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = loss_fn(model.roberta(input_ids=ids).last_hidden_state, labels)
    forward = high_water_mib()
    loss.backward()
    backward = high_water_mib()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    print(f"{arm} step {step}: high-water above the start after the forward pass {forward - start:.0f} MiB, after the "
          f"backward pass {backward - start:.0f}, after the optimizer {high_water_mib() - start:.0f}")
