"""Padding-free encoding (``model.unpad``): packing, positions, and the same states, losses and gradients as the
padded encoder."""

import pytest
import torch
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaEmbeddings

from veco_lightning.data.readers import ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.models import dropout
from veco_lightning.models.encoder import EncoderSpec
from veco_lightning.models.packing import PackedRows, xlmr_positions
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


def test_positions_are_xlmr_positions():
    ids = torch.tensor([[0, 7, 8, 2, 1, 1], [0, 9, 2, 1, 1, 1], [0, 5, 6, 7, 8, 2]])
    expected = XLMRobertaEmbeddings.create_position_ids_from_input_ids(ids, padding_idx=1)
    assert torch.equal(xlmr_positions(ids, 1), expected)


@pytest.fixture(scope="module")
def batch(corpus_dir, tokenizer_dir, tmp_path_factory):
    """A TLM + pairs batch with synonyms (every objective but MMLM), padded."""
    folder = tmp_path_factory.mktemp("packing")
    (folder / "en-ru.tsv").write_text("dog\tсобака\ncar\tмашина\nriver\tреку\nhouse\tдом\n", encoding="utf-8")
    dm = SynonymAlignedDataModule(
        files={"ru-en": ParallelSource(src=str(corpus_dir / "ru.txt"), tgt=str(corpus_dir / "en.txt"))},
        dictionaries={"en-ru": [str(folder / "en-ru.tsv")]}, tokenizer=str(tokenizer_dir), max_length=128,
        batch_size=6, val_pairs=0, cache_dir=str(folder / "cache"), bucket_batches=0)
    dm.prepare_data()
    dm.setup("fit")
    found = next(iter(dm.train_dataloader()))
    assert not found["tlm"]["attention_mask"].all() and not found["pairs"]["src"]["attention_mask"].all()
    return dm.vocab_size, found


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
    monkeypatch.setattr(dropout, "keep_mask", lambda shape, p: (torch.ones(shape, dtype=torch.bool), 1.0))
    module = _module(vocab_size, grad_cache_chunk=chunk).train()
    calls, packing = [], PackedRows.of.__func__
    monkeypatch.setattr(PackedRows, "of", classmethod(lambda cls, mask: calls.append(mask) or packing(cls, mask)))
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


def test_packing_only_where_it_applies(batch):
    vocab_size, found = batch
    mask = found["tlm"]["attention_mask"]
    assert isinstance(_module(vocab_size)._packing(mask), PackedRows)
    assert _module(vocab_size)._packing(torch.ones_like(mask)) is None  # no pad: nothing to save
    assert _module(vocab_size, unpad=False)._packing(mask) is None
    assert _module(vocab_size, compile=True)._packing(mask) is None
    eager = VecoPretrainModule(EncoderSpec(preset="tiny", attn_implementation="eager"), vocab_size=vocab_size)
    assert eager._packing(mask) is None  # attention that cannot take the rows apart
    torch_dropout = VecoPretrainModule(EncoderSpec(preset="tiny", fast_dropout=False), vocab_size=vocab_size)
    assert torch_dropout._packing(mask) is None
