import math

import gloo
import pytest
import torch
import torch.distributed as dist

from veco_lightning.losses.sequence_contrastive import SequenceContrastiveLoss


def reference_loss(src, tgt, temperature, margin=0.0):
    """Slow and obvious: loops over queries, explicit cosines, log-sum-exp by hand."""
    n = len(src)

    def cos(a, b):
        return float(a @ b) / (math.sqrt(float(a @ a)) * math.sqrt(float(b @ b)))

    total = 0.0
    for queries, keys in ((src, tgt), (tgt, src)):
        for i in range(n):
            logits = [(cos(queries[i], keys[j]) - (margin if j == i else 0.0)) / temperature for j in range(n)]
            top = max(logits)
            total += -(logits[i] - top - math.log(sum(math.exp(v - top) for v in logits)))
    return total / (2 * n)


@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_matches_reference(margin):
    g = torch.Generator().manual_seed(0)
    src, tgt = torch.randn(6, 8, generator=g, dtype=torch.float64), torch.randn(6, 8, generator=g, dtype=torch.float64)
    tgt[:3] += 2 * src[:3]
    loss = SequenceContrastiveLoss(temperature=0.07, margin=margin)(src, tgt)
    assert loss.item() == pytest.approx(reference_loss(src, tgt, 0.07, margin), rel=1e-6)


def test_learnable_temperature_gets_gradient():
    loss_fn = SequenceContrastiveLoss(temperature=0.05, learnable_temperature=True)
    src, tgt = torch.randn(4, 8), torch.randn(4, 8)
    loss_fn(src, tgt).backward()
    assert loss_fn.log_scale.grad is not None and loss_fn.scale.item() == pytest.approx(20.0)


def _encoder():
    from veco_lightning.models.encoder import EncoderSpec, build_encoder

    torch.manual_seed(0)
    no_dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    spec = EncoderSpec(preset="tiny", max_length=16, overrides=no_dropout)
    return build_encoder(spec, vocab_size=50).roberta.double()


def _batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 50, (8, 10), generator=g)
    tgt = torch.randint(4, 50, (8, 10), generator=g)
    mask = torch.ones_like(src)
    mask[::3, 7:] = 0
    return src, tgt, mask


def _loss(encoder, src, tgt, mask, gather):
    from veco_lightning.models.pooling import pool_sentences

    def embed(ids):
        states = encoder(input_ids=ids, attention_mask=mask[: len(ids)]).last_hidden_state
        return pool_sentences(states, mask[: len(ids)])

    return SequenceContrastiveLoss(temperature=0.05, margin=0.1, gather=gather)(embed(src), embed(tgt))


def _worker(rank, world_size, out):
    # DDP's gradient averaging, done by hand after backward: the DistributedDataParallel wrapper's asynchronous
    # bucket all-reduces interleave with the gather's backward collective on the same gloo group, which
    # occasionally deadlocked this 2-process test on a loaded 2-core machine.
    encoder = _encoder()
    src, tgt, mask = _batch()
    shard = slice(rank * 4, (rank + 1) * 4)
    local_mask = mask[shard]
    from veco_lightning.models.pooling import pool_sentences

    def embed(ids):
        return pool_sentences(encoder(input_ids=ids, attention_mask=local_mask).last_hidden_state, local_mask)

    loss = SequenceContrastiveLoss(temperature=0.05, margin=0.1, gather=True)(embed(src[shard]), embed(tgt[shard]))
    loss.backward()
    for p in encoder.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world_size
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    grads = {n: p.grad for n, p in encoder.named_parameters() if p.grad is not None}
    if rank == 0:
        torch.save({"loss": mean_loss / world_size, "grads": grads}, out)


def test_ddp_gather_equals_single_process(tmp_path):
    out = tmp_path / "ddp.pt"
    gloo.spawn(_worker, (str(out),), seconds=180)
    ddp = torch.load(out)

    encoder = _encoder()
    src, tgt, mask = _batch()
    full = _loss(encoder, src, tgt, mask, gather=False)
    full.backward()
    torch.testing.assert_close(ddp["loss"], full.detach(), rtol=0, atol=1e-10)
    grads = {n: p.grad for n, p in encoder.named_parameters() if p.grad is not None}
    assert grads.keys() == ddp["grads"].keys() and len(grads) > 10
    for name, grad in grads.items():
        torch.testing.assert_close(ddp["grads"][name], grad, rtol=1e-5, atol=1e-10)


def test_without_gather_ranks_only_see_local_negatives(tmp_path):
    """Guard for the test above: it must be able to fail. Local-only negatives give a different loss."""
    src, tgt, mask = _batch()
    encoder = _encoder()
    full = _loss(encoder, src, tgt, mask, gather=False)
    halves = [_loss(encoder, src[s], tgt[s], mask[s], gather=False) for s in (slice(0, 4), slice(4, 8))]
    assert abs(float(sum(halves) / 2 - full)) > 1e-3


def test_copies_of_the_positive_are_not_negatives():
    """Rows 0 and 1 share their target sentence (multi-way parallel data): neither counts the other as a negative."""
    g = torch.Generator().manual_seed(3)
    src, tgt = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g, dtype=torch.float64)
    tgt[1] = tgt[0]  # the same English sentence, encoded identically
    tgt_keys = torch.tensor([7, 7, 1, 2, 3])
    src_keys = torch.tensor([10, 11, 12, 13, 14])
    loss = SequenceContrastiveLoss(temperature=0.1)(src, tgt, src_keys, tgt_keys)

    def cos(a, b):
        return float(a @ b) / (math.sqrt(float(a @ a)) * math.sqrt(float(b @ b)))

    total = 0.0
    for queries, keys, ids in ((src, tgt, tgt_keys), (tgt, src, src_keys)):
        for i in range(5):
            kept = [j for j in range(5) if j == i or ids[j] != ids[i]]
            logits = {j: cos(queries[i], keys[j]) / 0.1 for j in kept}
            top = max(logits.values())
            total += -(logits[i] - top - math.log(sum(math.exp(v - top) for v in logits.values())))
    assert loss.item() == pytest.approx(total / 10, rel=1e-9)
    # without keys, the copy is a (false) negative and the loss is higher
    assert SequenceContrastiveLoss(temperature=0.1)(src, tgt).item() > loss.item()


def test_bf16_autocast_keeps_similarities_in_fp32():
    """Under bf16 autocast the loss of bf16 embeddings equals the fp32 loss of the same embeddings (cosines divided by
    a temperature of 0.05 would lose about a tenth of a logit in bf16)."""
    g = torch.Generator().manual_seed(0)
    src, tgt = torch.randn(16, 64, generator=g).bfloat16(), torch.randn(16, 64, generator=g).bfloat16()
    loss_fn = SequenceContrastiveLoss(temperature=0.05)
    expected = loss_fn(src.float(), tgt.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss_fn(src, tgt)
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(expected.item(), rel=1e-6)
