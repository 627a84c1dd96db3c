"""GradCache (``grad_cache_chunk``): the chunked pairs forward gives the loss and gradients of the whole batch, in one
process and across two gloo ranks whose sequence contrast gathers the other's negatives."""

import gloo
import pytest
import torch
import torch.distributed as dist
from batches import synonym_batch

from veco_lightning.module import VecoPretrainModule

WEIGHTS = {"mmlm": 0.0, "tlm": 0.0, "seq": 1.0, "tok": 1.0}


def _pairs_batch(corpus_dir, tokenizer_dir, tmp_path):
    batch, vocab_size = synonym_batch(corpus_dir, tokenizer_dir, tmp_path, max_length=32, batch_size=8)
    assert int((batch["pairs"]["synonyms"][..., 0] >= 0).sum()) > 0  # the token contrast has work to do
    return {"pairs": batch["pairs"]}, vocab_size


def _module(vocab_size, chunk):
    torch.manual_seed(0)
    return VecoPretrainModule(vocab_size=vocab_size, loss_weights=WEIGHTS, grad_cache_chunk=chunk).eval()


def _loss_and_grads(module, batch):
    module.log_losses = lambda *args: None
    loss = module.training_step(batch, 0)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def _shard(value, rows):
    if isinstance(value, dict):
        return {k: _shard(v, rows) for k, v in value.items()}
    return value[rows] if torch.is_tensor(value) and value.dim() else value


@pytest.mark.parametrize("chunk", [3, 5])
def test_chunked_equals_whole_batch(corpus_dir, tokenizer_dir, tmp_path, chunk):
    batch, vocab = _pairs_batch(corpus_dir, tokenizer_dir, tmp_path)
    loss, grads = _loss_and_grads(_module(vocab, None), batch)
    chunked_loss, chunked_grads = _loss_and_grads(_module(vocab, chunk), batch)  # 16 rows: uneven chunks
    torch.testing.assert_close(chunked_loss, loss, rtol=0, atol=1e-6)
    assert grads.keys() == chunked_grads.keys() and len(grads) > 10
    for name, grad in grads.items():
        torch.testing.assert_close(chunked_grads[name], grad, rtol=1e-4, atol=1e-6)


def test_dropout_masks_are_replayed(corpus_dir, tokenizer_dir, tmp_path):
    """In training mode the re-encoding of a chunk reuses the dropout masks of its first pass: the gradient is that
    of the loss that was computed (checked against a finite difference along the gradient)."""
    batch, vocab = _pairs_batch(corpus_dir, tokenizer_dir, tmp_path)
    module = _module(vocab, 4).train()
    module.log_losses = lambda *args: None
    torch.manual_seed(1)
    loss = module.training_step(batch, 0)
    loss.backward()
    params = [p for p in module.parameters() if p.grad is not None]
    direction = [p.grad / torch.cat([q.grad.flatten() for q in params]).norm() for p in params]
    eps = 1e-3
    with torch.no_grad():
        for p, d in zip(params, direction):
            p.add_(eps * d)
    torch.manual_seed(1)
    moved = module.training_step(batch, 0)  # with gradients on: the same chunks draw the same masks
    slope = (moved.item() - loss.item()) / eps
    norm = float(torch.cat([p.grad.flatten() for p in params]).norm())
    assert slope == pytest.approx(norm, rel=0.05)


def _worker(rank, world_size, batch_path, vocab, out):
    batch = torch.load(batch_path, weights_only=True)
    rows = batch["pairs"]["src"]["input_ids"].shape[0] // world_size
    local = _shard(batch, slice(rank * rows, (rank + 1) * rows))
    loss, grads = _loss_and_grads(_module(vocab, 3), local)
    for grad in grads.values():  # DDP's averaging, by hand (see tests/losses/test_sequence_contrastive.py)
        dist.all_reduce(grad)
        grad /= world_size
    dist.all_reduce(loss)
    if rank == 0:
        torch.save({"loss": loss / world_size, "grads": grads}, out)


def test_two_ranks_chunked_equal_one_process_whole_batch(corpus_dir, tokenizer_dir, tmp_path):
    """Sequence contrast: the mean over ranks of the gathered loss equals the whole batch's loss only when each rank
    holds the same number of pairs; token contrast with instance negatives is per sentence. Both ranks chunk."""
    batch, vocab = _pairs_batch(corpus_dir, tokenizer_dir, tmp_path)
    torch.save(batch, tmp_path / "batch.pt")
    out = tmp_path / "ranks.pt"
    gloo.spawn(_worker, (str(tmp_path / "batch.pt"), vocab, str(out)))
    ranks = torch.load(out, weights_only=True)
    halves = [_shard(batch, slice(0, 4)), _shard(batch, slice(4, 8))]
    # The reference: one process, no chunks. The sequence loss over the gathered batch is what one process computes on
    # all 8 pairs; the token loss is a per-rank mean, so the reference averages the halves' token losses.
    whole = _module(vocab, None)
    whole.log_losses = lambda *args: None
    seq_only = VecoPretrainModule(vocab_size=vocab, loss_weights={**WEIGHTS, "tok": 0.0})
    seq_only.load_state_dict(whole.state_dict())
    seq_only.eval().log_losses = lambda *args: None
    tok_only = VecoPretrainModule(vocab_size=vocab, loss_weights={**WEIGHTS, "seq": 0.0})
    tok_only.load_state_dict(whole.state_dict())
    tok_only.eval().log_losses = lambda *args: None
    reference = seq_only.training_step(batch, 0) + sum(tok_only.training_step(h, 0) for h in halves) / 2
    reference.backward()
    grads = {}
    for module in (seq_only, tok_only):
        for name, p in module.named_parameters():
            if p.grad is not None:
                grads[name] = grads.get(name, 0) + p.grad
    torch.testing.assert_close(ranks["loss"], reference.detach(), rtol=0, atol=1e-5)
    assert len(ranks["grads"]) > 10
    for name, grad in ranks["grads"].items():
        torch.testing.assert_close(grad, grads[name], rtol=1e-4, atol=1e-6)
