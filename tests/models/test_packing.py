"""Padding-free encoding (``model.unpad``): packing, positions, and the same states, losses and gradients as the
padded encoder."""

import pytest
import torch
from batches import synonym_batch
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaEmbeddings

from veco_lightning.models import dropout
from veco_lightning.models.encoder import EncoderSpec
from veco_lightning.models.packing import PackedRows, pad_rows, row_multiple, xlmr_positions
from veco_lightning.module import VecoPretrainModule


def _mask(lengths, length):
    return (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).long()


def test_pack_and_unpack_are_inverse_on_real_positions():
    mask = _mask([3, 5, 1], 5)
    padded = torch.randn(3, 5, 4)
    packed = PackedRows.of(mask)
    flat = packed.pack(padded)
    assert flat.shape == (1, 9, 4) and packed.tokens == 9
    assert torch.equal(flat[0], padded[mask.bool()])  # row after row, in order
    back = packed.unpack(flat)
    assert torch.equal(back[mask.bool()], padded[mask.bool()]) and not back[~mask.bool()].any()
    heads = torch.randn(1, 2, 9, 3)  # (1, heads, tokens, d), as attention receives it
    padded_heads = packed.unpack_heads(heads)
    assert padded_heads.shape == (3, 2, 5, 3)
    assert torch.equal(packed.pack(padded_heads.transpose(1, 2)), heads.transpose(1, 2))


def test_packed_length_rounded_up_with_filler_tokens():
    mask = _mask([3, 5, 1], 5)
    padded = torch.randn(3, 5, 4)
    packed = PackedRows.of(mask, multiple=8)
    assert packed.tokens == 9 and packed.extra == 7
    flat = packed.pack(padded, fill=-1.0)
    assert flat.shape == (1, 16, 4)
    assert torch.equal(flat[0, :9], padded[mask.bool()]) and bool((flat[0, 9:] == -1).all())
    back = packed.unpack(flat)  # the filler tokens are dropped
    assert torch.equal(back[mask.bool()], padded[mask.bool()]) and not back[~mask.bool()].any()
    assert packed.unpack_heads(torch.randn(1, 2, 16, 3)).shape == (3, 2, 5, 3)
    assert PackedRows.of(mask, multiple=9).extra == 0 and PackedRows.of(mask).extra == 0


def test_row_multiple_is_64_for_16_bit_cpu_steps_only():
    fp32, bf16 = torch.zeros(2), torch.zeros(2, dtype=torch.bfloat16)
    assert row_multiple(None, fp32) == 1
    assert row_multiple(None, bf16) == 64  # a bf16-true model
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert row_multiple(None, fp32) == 64
        assert row_multiple(1, fp32) == 1  # the setting wins
    assert row_multiple(16, fp32) == 16 and row_multiple(0, fp32) == 1
    assert row_multiple(None, torch.zeros(2, device="meta")) == 1  # not the CPU
    rows = torch.randn(5, 3)
    assert pad_rows(rows, 4).shape == (8, 3) and torch.equal(pad_rows(rows, 4)[:5], rows)
    assert not pad_rows(rows, 4)[5:].any() and pad_rows(rows, 5) is rows


def test_positions_are_xlmr_positions():
    ids = torch.tensor([[0, 7, 8, 2, 1, 1], [0, 9, 2, 1, 1, 1], [0, 5, 6, 7, 8, 2]])
    expected = XLMRobertaEmbeddings.create_position_ids_from_input_ids(ids, padding_idx=1)
    assert torch.equal(xlmr_positions(ids, 1), expected)


@pytest.fixture(scope="module")
def batch(corpus_dir, tokenizer_dir, tmp_path_factory):
    """A TLM + pairs batch with synonyms (every objective but MMLM), padded."""
    found, vocab_size = synonym_batch(corpus_dir, tokenizer_dir, tmp_path_factory.mktemp("packing"), max_length=128,
                                      batch_size=6, bucket_batches=0)
    assert not found["tlm"]["attention_mask"].all() and not found["pairs"]["src"]["attention_mask"].all()
    return vocab_size, found


def _module(vocab_size, **kwargs):
    torch.manual_seed(0)
    return VecoPretrainModule(EncoderSpec(preset="tiny", max_length=128), vocab_size=vocab_size, **kwargs)


def _losses_and_grads(module, batch, unpad):
    module.unpad = unpad
    module.zero_grad(set_to_none=True)
    seen = {}
    module.log_losses = lambda losses, total, batch, stage: seen.update({k: v.detach() for k, v in losses.items()})
    module.training_step(batch, 0).backward()
    grads = {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}
    return seen, grads


@pytest.mark.parametrize("chunk", [None, 4])
def test_unpadded_training_step_equals_padded(batch, monkeypatch, chunk):
    """Train mode through the package's attention maths (its dropout masks keep everything here, so the two runs are
    deterministic), with and without GradCache chunks: the same losses and gradients."""
    vocab_size, found = batch
    monkeypatch.setattr(dropout, "keep_mask",
                        lambda shape, p, dtype=torch.bool: (torch.ones(shape, dtype=dtype), 1.0))
    module = _module(vocab_size, grad_cache_chunk=chunk).train()
    calls, packing = [], PackedRows.of.__func__
    monkeypatch.setattr(PackedRows, "of", classmethod(
        lambda cls, mask, multiple=1: calls.append(mask) or packing(cls, mask, multiple)))
    padded_losses, padded_grads = _losses_and_grads(module, found, unpad=False)
    assert not calls
    losses, grads = _losses_and_grads(module, found, unpad=True)
    assert len(calls) >= 2  # the TLM rows and the pairs went through packed
    assert set(losses) == {"tlm", "seq", "tok"} and losses.keys() == padded_losses.keys()
    for name in losses:
        torch.testing.assert_close(losses[name], padded_losses[name], rtol=1e-5, atol=1e-6)
    assert grads.keys() == padded_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], padded_grads[name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_unpadded_states_equal_padded_at_real_positions(batch, autocast):
    """Evaluation-style encoding (eval mode, every layer; also under bf16 autocast): equal states at real tokens, zeros
    at pads, and pad ids never reach a real position."""
    vocab_size, found = batch
    module = _module(vocab_size).eval()
    inputs = {key: found["tlm"][key] for key in ("input_ids", "attention_mask", "position_ids") if key in found["tlm"]}
    real = inputs["attention_mask"].bool()
    layers = range(module.model.config.num_hidden_layers + 1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        module.unpad = False
        padded = module.encode(inputs, *layers)
        module.unpad = True
        packed = module.encode(inputs, *layers)
        other_pads = dict(inputs, input_ids=inputs["input_ids"].masked_fill(~real, 5))
        packed_other = module.encode(other_pads)[-1]
    for layer in padded:
        torch.testing.assert_close(packed[layer][real], padded[layer][real], rtol=1e-5, atol=1e-5)
        assert not packed[layer][~real].any()
    assert torch.equal(packed_other, packed[-1])


@pytest.mark.parametrize("multiple", [64, 7])
def test_rounded_rows_training_step_equals_exact_rows(batch, monkeypatch, multiple):
    """Filler rows in the packed batches and in the LM head's masked positions (``row_multiple``) change no loss and
    no gradient (fp32, so that the comparison is tight; the multiple is forced, as bf16 would choose it)."""
    vocab_size, found = batch
    monkeypatch.setattr(dropout, "keep_mask",
                        lambda shape, p, dtype=torch.bool: (torch.ones(shape, dtype=dtype), 1.0))
    exact = _module(vocab_size, row_multiple=1).train()
    rounded = _module(vocab_size, row_multiple=multiple).train()
    assert rounded.mlm_loss.row_multiple == multiple
    mask = found["tlm"]["attention_mask"]
    assert rounded._packing(mask).extra == -int(mask.sum()) % multiple
    exact_losses, exact_grads = _losses_and_grads(exact, found, unpad=True)
    losses, grads = _losses_and_grads(rounded, found, unpad=True)
    assert set(losses) == {"tlm", "seq", "tok"}
    for name in losses:
        torch.testing.assert_close(losses[name], exact_losses[name], rtol=1e-5, atol=1e-6)
    assert grads.keys() == exact_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], exact_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_rounded_rows_under_bf16_autocast(batch):
    """Under bf16 autocast the default rounds to 64: the states at real positions and the losses are those of exact
    row counts (to bf16's precision)."""
    vocab_size, found = batch
    module = _module(vocab_size).eval()
    inputs = {key: found["tlm"][key] for key in ("input_ids", "attention_mask", "position_ids") if key in found["tlm"]}
    real = inputs["attention_mask"].bool()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert module._packing(inputs["attention_mask"]).extra == -int(real.sum()) % 64
        rounded = module.encode(inputs)[-1]
        rounded_loss = module.mlm_loss(rounded, found["tlm"]["labels"])[0]
        module.row_multiple = module.mlm_loss.row_multiple = 1
        assert module._packing(inputs["attention_mask"]).extra == 0
        exact = module.encode(inputs)[-1]
        exact_loss = module.mlm_loss(exact, found["tlm"]["labels"])[0]
    torch.testing.assert_close(rounded[real], exact[real], rtol=2e-2, atol=2e-2)
    assert not rounded[~real].any()
    torch.testing.assert_close(rounded_loss, exact_loss, rtol=1e-2, atol=1e-2)


def test_packing_only_where_it_applies(batch):
    vocab_size, found = batch
    mask = found["tlm"]["attention_mask"]
    assert isinstance(_module(vocab_size)._packing(mask), PackedRows)
    assert _module(vocab_size)._packing(torch.ones_like(mask)) is None  # no pad: nothing to save
    with torch.autocast("cpu", dtype=torch.bfloat16):  # ... unless its size is to be rounded up
        full = torch.ones(3, 7, dtype=torch.long)
        assert _module(vocab_size)._packing(full).extra == 64 - 21
        assert _module(vocab_size)._packing(torch.ones(4, 16, dtype=torch.long)) is None
    assert _module(vocab_size, unpad=False)._packing(mask) is None
    assert _module(vocab_size, compile=True)._packing(mask) is None
    eager = VecoPretrainModule(EncoderSpec(preset="tiny", attn_implementation="eager"), vocab_size=vocab_size)
    assert eager._packing(mask) is None  # attention that cannot take the rows apart
    torch_dropout = VecoPretrainModule(EncoderSpec(preset="tiny", fast_dropout=False), vocab_size=vocab_size)
    assert torch_dropout._packing(mask) is None
