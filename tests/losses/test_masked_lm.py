import torch

from veco_lightning.losses.masked_lm import IGNORE_INDEX, MaskedLMLoss, full_head_mlm_loss
from veco_lightning.models.encoder import EncoderSpec, build_encoder


def _inputs(vocab=97, batch=3, length=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, vocab, (batch, length), generator=g)
    labels = torch.full_like(ids, IGNORE_INDEX)
    chosen = torch.rand(batch, length, generator=g) < 0.3
    chosen[0, 1] = True
    labels[chosen] = ids[chosen]
    return ids, labels


def test_sparse_head_equals_full_head_loss_and_gradients():
    torch.manual_seed(0)
    model = build_encoder(EncoderSpec(preset="tiny", max_length=16), vocab_size=97).double().eval()  # eval: no dropout
    ids, labels = _inputs()
    grads = []
    losses = []
    sparse = lambda h: MaskedLMLoss(model.lm_head)(h, labels)[0]  # noqa: E731
    dense = lambda h: full_head_mlm_loss(model.lm_head, h, labels)  # noqa: E731
    for compute in (sparse, dense):
        model.zero_grad()
        hidden = model.roberta(input_ids=ids).last_hidden_state
        loss = compute(hidden)
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-12)
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-9, atol=1e-12, msg=name)


def test_sparse_head_matches_stock_model_forward():
    torch.manual_seed(0)
    model = build_encoder(EncoderSpec(preset="tiny", max_length=16), vocab_size=97).eval()
    ids, labels = _inputs(seed=1)
    reference = model(input_ids=ids, labels=labels).loss
    hidden = model.roberta(input_ids=ids).last_hidden_state
    loss, count = MaskedLMLoss(model.lm_head)(hidden, labels)
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
    assert count == (labels != IGNORE_INDEX).sum()
