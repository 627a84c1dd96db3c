"""FastDropout: the same distribution as dropout, a cheaper mask, torch's own off CPU or in eval."""

import pytest
import torch
from torch import nn

from veco_lightning.models.dropout import (
    ATTENTION,
    FastDropout,
    attention_with_fast_dropout,
    keep_mask,
    masked_scale,
    use_fast_dropout,
)
from veco_lightning.models.encoder import EncoderSpec, build_encoder


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5])
def test_the_drop_share_and_scale_match_p(p):
    torch.manual_seed(0)
    keep, scale = keep_mask((256, 1024), p)
    assert keep.dtype == torch.bool and keep.shape == (256, 1024)
    dropped = 1 - keep.float().mean().item()
    assert dropped == pytest.approx(p, abs=4e-3)  # 262,144 draws: the standard error is below 1e-3
    used = round(p * 65536) / 65536
    assert scale == pytest.approx(1 / (1 - used))
    x = torch.randn(256, 1024)
    y = FastDropout(p)(x)
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] * scale)
    assert (1 - kept.float().mean().item()) == pytest.approx(p, abs=4e-3)


def test_the_mask_bits_are_independent_of_their_position():
    # Every int16 of an int64 word must be uniform (a generator that leaves the top bit clear would not be).
    torch.manual_seed(1)
    keep, _ = keep_mask((4 * 65536,), 0.5)
    shares = keep.view(-1, 4).float().mean(0)
    assert torch.allclose(shares, torch.full((4,), 0.5), atol=6e-3)


def test_expectation_gradient_and_eval():
    torch.manual_seed(2)
    x = torch.ones(512, 512, requires_grad=True)
    layer = FastDropout(0.1)
    y = layer(x)
    assert y.mean().item() == pytest.approx(1.0, abs=5e-3)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(sum)/dx: the scale where kept, 0 where dropped
    layer.eval()
    assert layer(x) is x or torch.equal(layer(x), x)
    assert torch.equal(FastDropout(0.0)(x), x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("float_mask", [False, True])
def test_masked_scale_is_where_then_scale_in_one_pass(dtype, float_mask):
    # The one-pass form must give what the two-pass form gave, bit for bit, forward and backward, with the boolean
    # mask or the 1 / 0 mask of the same draw.
    torch.manual_seed(7)
    keep, scale = keep_mask((33, 65), 0.1)
    torch.manual_seed(7)
    ones, same_scale = keep_mask((33, 65), 0.1, dtype)
    assert ones.dtype == dtype and same_scale == scale and torch.equal(ones.bool(), keep)
    x = torch.randn(33, 65, dtype=dtype, requires_grad=True)
    grad = torch.randn(33, 65, dtype=dtype)
    out = masked_scale(x, ones if float_mask else keep, scale)
    (got,) = torch.autograd.grad(out, x, grad)
    expected = torch.where(keep, x * scale, 0.0)
    (wanted,) = torch.autograd.grad(expected, x, grad)
    assert out.dtype == dtype and torch.equal(out, expected) and torch.equal(got, wanted)


def test_seeded_masks_repeat():
    layer = FastDropout(0.1)
    x = torch.randn(8, 16, 32)
    torch.manual_seed(3)
    first = layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), first)


def test_bf16_keeps_its_dtype():
    x = torch.randn(64, 64, dtype=torch.bfloat16)
    assert FastDropout(0.1)(x).dtype == torch.bfloat16


def test_the_encoder_gets_fast_dropout_unless_turned_off():
    fast = build_encoder(EncoderSpec(preset="tiny", max_length=32), vocab_size=100)
    plain = build_encoder(EncoderSpec(preset="tiny", max_length=32, fast_dropout=False), vocab_size=100)
    kinds = {type(m) for m in fast.modules() if isinstance(m, nn.Dropout)}
    assert kinds == {FastDropout}
    assert {type(m) for m in plain.modules() if isinstance(m, nn.Dropout)} == {nn.Dropout}
    # The attention keeps reading its dropout's p (applied inside scaled-dot-product attention).
    attention = fast.roberta.encoder.layer[0].attention.self
    assert attention.dropout.p == fast.config.attention_probs_dropout_prob
    # No parameters or buffers change: the state dicts have the same keys.
    assert fast.state_dict().keys() == plain.state_dict().keys()
    fast.eval()
    plain.load_state_dict(fast.state_dict())
    plain.eval()
    ids = torch.randint(3, 100, (2, 12))
    with torch.no_grad():
        assert torch.allclose(fast(input_ids=ids).logits, plain(input_ids=ids).logits)


def test_use_fast_dropout_keeps_training_mode():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3))
    model.eval()
    use_fast_dropout(model)
    assert isinstance(model[1], FastDropout) and not model[1].training and model[1].p == 0.3


@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
def test_attention_drops_the_probabilities_as_sdpa_maths_would(mask_kind):
    torch.manual_seed(4)
    query, key, value = (torch.randn(2, 3, 7, 8, requires_grad=True) for _ in range(3))
    mask = None
    if mask_kind is not None:
        allowed = torch.ones(2, 1, 7, 7, dtype=torch.bool)
        allowed[1, ..., 5:] = False  # the second sequence is padded after 5 tokens
        mask = allowed if mask_kind == "bool" else torch.zeros(2, 1, 7, 7).masked_fill(~allowed, -1e9)
    torch.manual_seed(5)
    out, weights = attention_with_fast_dropout(nn.Module(), query, key, value, mask, dropout=0.2, scaling=0.3)
    assert weights is None and out.shape == (2, 7, 3, 8)
    torch.manual_seed(5)
    keep, scale = keep_mask((2, 3, 7, 7), 0.2)  # the same draw
    scores = query @ key.transpose(2, 3) * 0.3
    if mask is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    expected = (torch.softmax(scores, -1) * keep * scale) @ value
    assert torch.allclose(out, expected.transpose(1, 2), atol=1e-6)
    grads = torch.autograd.grad(out.sum(), (query, key, value))
    expected_grads = torch.autograd.grad(expected.sum(), (query, key, value))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, expected_grads))


def test_attention_without_dropout_is_sdpa():
    torch.manual_seed(6)
    query, key, value = (torch.randn(2, 3, 7, 8) for _ in range(3))
    encoder_attention = nn.Module()
    encoder_attention.is_causal = False  # as XLM-R's self-attention says; transformers assumes causal otherwise
    out, _ = attention_with_fast_dropout(encoder_attention, query, key, value, None, dropout=0.0, scaling=8 ** -0.5)
    expected = torch.nn.functional.scaled_dot_product_attention(query, key, value)
    assert torch.allclose(out, expected.transpose(1, 2), atol=1e-6)


def test_the_attention_name_stays_out_of_the_export(tmp_path):
    from transformers import AutoModelForMaskedLM

    model = build_encoder(EncoderSpec(preset="tiny", max_length=32), vocab_size=100)
    assert model.config._attn_implementation == ATTENTION
    model.save_pretrained(tmp_path)
    assert ATTENTION not in (tmp_path / "config.json").read_text(encoding="utf-8")
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    model.eval()
    ids = torch.randint(3, 100, (2, 12))
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
    eager = build_encoder(EncoderSpec(preset="tiny", max_length=32, attn_implementation="eager"), vocab_size=100)
    assert eager.config._attn_implementation == "eager"  # only sdpa is replaced
