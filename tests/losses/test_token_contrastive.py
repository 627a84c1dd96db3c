import math

import pytest
import torch

from veco_lightning.losses.token_contrastive import TokenContrastiveLoss
from veco_lightning.models.pooling import pool_words

# Two translation pairs. Units are lists of token positions (a multi-token word, a two-word phrase, single tokens);
# tokens outside every unit (position 0 = <s>, punctuation, padding) are never pooled.
SRC_UNITS = [[[1, 2], [3], [4, 5, 6], [7]], [[1], [2, 3]]]
TGT_UNITS = [[[1], [2, 3], [4], [5, 6]], [[1, 2], [3], [4]]]
SYNONYMS = [[(0, 1), (2, 3), (3, 0)], [(1, 2)]]
LENGTH, DIM = 9, 8


def reference_loss(src_hidden, tgt_hidden, temperature, negatives):
    """Slow and obvious: explicit word means, cosines and log-sum-exp, one synonym pair and direction at a time."""

    def words(hidden, units):
        return [[hidden[b, positions].mean(0) for positions in row] for b, row in enumerate(units)]

    def cos(a, b):
        return float(a @ b) / (math.sqrt(float(a @ a)) * math.sqrt(float(b @ b)))

    def nll(query, keys, target):
        logits = [cos(query, k) / temperature for k in keys]
        top = max(logits)
        return -(logits[target] - top - math.log(sum(math.exp(v - top) for v in logits)))

    src_words, tgt_words = words(src_hidden, SRC_UNITS), words(tgt_hidden, TGT_UNITS)
    total, count = 0.0, 0
    for b, pairs in enumerate(SYNONYMS):
        for i, j in pairs:
            for queries, keys, q, k in ((src_words, tgt_words, i, j), (tgt_words, src_words, j, i)):
                if negatives == "instance":
                    total += nll(queries[b][q], keys[b], k)
                else:
                    flat = [w for row in keys for w in row]
                    total += nll(queries[b][q], flat, sum(len(row) for row in keys[:b]) + k)
            count += 1
    return total / (2 * count)


def _word_index(units):
    index = torch.full((len(units), LENGTH), -1)
    for b, row in enumerate(units):
        for u, positions in enumerate(row):
            index[b, positions] = u
    return index


def _synonyms():
    out = torch.full((len(SYNONYMS), max(map(len, SYNONYMS)), 2), -1)
    for b, pairs in enumerate(SYNONYMS):
        out[b, : len(pairs)] = torch.tensor(pairs)
    return out


def _module_loss(loss_fn, src_hidden, tgt_hidden):
    src_words, src_present = pool_words(src_hidden, _word_index(SRC_UNITS), 5)
    tgt_words, tgt_present = pool_words(tgt_hidden, _word_index(TGT_UNITS), 5)
    return loss_fn(src_words, tgt_words, src_present, tgt_present, _synonyms())


@pytest.mark.parametrize("negatives", ["instance", "batch"])
def test_matches_reference(negatives):
    g = torch.Generator().manual_seed(0)
    src = torch.randn(2, LENGTH, DIM, generator=g, dtype=torch.float64)
    tgt = torch.randn(2, LENGTH, DIM, generator=g, dtype=torch.float64)
    loss = _module_loss(TokenContrastiveLoss(temperature=0.1, negatives=negatives), src, tgt)
    assert loss.item() == pytest.approx(reference_loss(src, tgt, 0.1, negatives), rel=1e-9)


@pytest.mark.parametrize("negatives", ["instance", "batch"])
def test_int32_synonym_indices_give_the_same_loss(negatives):
    g = torch.Generator().manual_seed(3)
    src, tgt = (torch.randn(2, LENGTH, DIM, generator=g) for _ in range(2))
    src_words, src_present = pool_words(src, _word_index(SRC_UNITS), 5)
    tgt_words, tgt_present = pool_words(tgt, _word_index(TGT_UNITS), 5)
    loss_fn = TokenContrastiveLoss(temperature=0.1, negatives=negatives)
    wide = loss_fn(src_words, tgt_words, src_present, tgt_present, _synonyms())
    narrow = loss_fn(src_words, tgt_words, src_present, tgt_present, _synonyms().int())
    assert torch.equal(wide, narrow)


def test_padding_states_do_not_matter_and_gradient_flows_only_to_units():
    g = torch.Generator().manual_seed(1)
    src = torch.randn(2, LENGTH, DIM, generator=g, dtype=torch.float64, requires_grad=True)
    tgt = torch.randn(2, LENGTH, DIM, generator=g, dtype=torch.float64)
    loss_fn = TokenContrastiveLoss(temperature=0.1)
    loss = _module_loss(loss_fn, src, tgt)
    loss.backward()
    in_units = _word_index(SRC_UNITS) >= 0
    assert (src.grad[~in_units] == 0).all() and (src.grad[in_units] != 0).any()
    noisy = src.detach().clone()
    noisy[~in_units] = 1e6  # <s>, padding and punctuation states are never pooled
    assert _module_loss(loss_fn, noisy, tgt).item() == pytest.approx(loss.item(), rel=1e-12)


def test_no_synonyms_gives_connected_zero():
    words = torch.randn(2, 3, 4, requires_grad=True)
    present = torch.ones(2, 3, dtype=torch.bool)
    loss = TokenContrastiveLoss()(words, words, present, present, torch.full((2, 1, 2), -1))
    loss.backward()
    assert loss.item() == 0.0 and words.grad is not None


def test_pair_pointing_at_missing_unit_is_an_error():
    words = torch.randn(1, 3, 4)
    present = torch.tensor([[True, True, False]])
    with pytest.raises(ValueError, match="no token"):
        TokenContrastiveLoss()(words, words, present, present, torch.tensor([[[0, 2]]]))


def test_learnable_temperature_and_aligned_words_score_low():
    loss_fn = TokenContrastiveLoss(temperature=0.1, learnable_temperature=True)
    g = torch.Generator().manual_seed(2)
    src = torch.randn(2, LENGTH, DIM, generator=g)
    random_loss = _module_loss(loss_fn, src, torch.randn(2, LENGTH, DIM, generator=g))
    # Make every synonym partner's tokens copies of the source word's tokens: the loss must drop.
    tgt = torch.randn(2, LENGTH, DIM, generator=g)
    for b, pairs in enumerate(SYNONYMS):
        for i, j in pairs:
            tgt[b, TGT_UNITS[b][j]] = src[b, SRC_UNITS[b][i]].mean(0)
    aligned = _module_loss(loss_fn, src, tgt)
    assert aligned < random_loss
    aligned.backward()
    assert loss_fn.log_scale.grad is not None


def test_bf16_autocast_keeps_similarities_in_fp32():
    """Under bf16 autocast (what --trainer.precision bf16-mixed runs) the loss of bf16 word vectors is the fp32 loss
    of the same vectors: similarities and soft-max are computed with autocast off."""
    g = torch.Generator().manual_seed(0)
    src_words, src_present = pool_words(torch.randn(2, LENGTH, DIM, generator=g), _word_index(SRC_UNITS), 5)
    tgt_words, tgt_present = pool_words(torch.randn(2, LENGTH, DIM, generator=g), _word_index(TGT_UNITS), 5)
    src_words, tgt_words = src_words.bfloat16(), tgt_words.bfloat16()
    loss_fn = TokenContrastiveLoss(temperature=0.05)
    expected = loss_fn(src_words.float(), tgt_words.float(), src_present, tgt_present, _synonyms())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss_fn(src_words, tgt_words, src_present, tgt_present, _synonyms())
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(expected.item(), rel=1e-6)
