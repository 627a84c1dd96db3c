"""What the one-off scripts of this folder share: the cross-entropy of the tree before the change, and the bf16 MLM
step they run (the `small` encoder at a VOCAB-entry vocabulary, batch 16 x 128 with 15% masked, the package's
``MaskedLMLoss``, fused AdamW)."""
import importlib.util

import torch

import veco_lightning.losses.masked_lm as masked_lm
from veco_lightning.models.encoder import EncoderSpec, build_encoder


def old_masked_lm(old_tree: str):
    """``veco_lightning/losses/masked_lm.py`` of the copy at ``old_tree`` (e.g. ``git archive f3c3bd5 veco_lightning |
    tar -x -C /tmp/old``), as a module of its own."""
    spec = importlib.util.spec_from_file_location("old_masked_lm", f"{old_tree}/veco_lightning/losses/masked_lm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def use_cross_entropy(cls) -> None:
    """Make ``MaskedLMLoss`` call ``cls`` (the old or the new ``BlockwiseCrossEntropy``)."""
    masked_lm.BlockwiseCrossEntropy = cls


def mlm_step(vocab: int):
    """``step(mark)``: one bf16 training step of the `small` MLM model, calling ``mark(phase)`` after its forward pass,
    its backward pass and the optimizer."""
    torch.manual_seed(0)
    model = build_encoder(EncoderSpec(preset="small", max_length=130), vocab_size=vocab).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(5, vocab, (16, 128))
    labels = torch.full_like(ids, -100)
    masked = torch.rand(ids.shape) < 0.15
    labels[masked] = ids[masked]
    loss_fn = masked_lm.MaskedLMLoss(model.lm_head)

    def step(mark=lambda phase: None) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = loss_fn(model.roberta(input_ids=ids).last_hidden_state, labels)
        mark("forward")
        loss.backward()
        mark("backward")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mark("optimizer")

    return step
