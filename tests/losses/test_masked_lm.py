import pytest
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




@pytest.mark.parametrize("fused", [True, False])
def test_rows_rounded_up_give_the_same_loss_and_gradients(fused):
    """``row_multiple``: zero rows appended to the masked positions' states and dropped from the head's output change
    neither the loss nor any gradient (fused and apart)."""
    torch.manual_seed(0)
    model = build_encoder(EncoderSpec(preset="tiny", max_length=16), vocab_size=97).double().eval()
    ids, labels = _inputs(seed=2)
    assert int((labels != IGNORE_INDEX).sum()) % 16
    results = []
    for multiple in (1, 16):
        model.zero_grad()
        hidden = model.roberta(input_ids=ids).last_hidden_state
        loss, count = MaskedLMLoss(model.lm_head, fused=fused, row_multiple=multiple)(hidden, labels)
        loss.backward()
        results.append((loss.detach(), count, {n: p.grad.clone() for n, p in model.named_parameters()
                                               if p.grad is not None}))
    (exact, exact_count, exact_grads), (rounded, count, grads) = results
    torch.testing.assert_close(rounded, exact, rtol=0, atol=1e-12)
    assert count == exact_count and grads.keys() == exact_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], exact_grads[name], rtol=1e-9, atol=1e-12, msg=name)


def _fused_and_apart(features, weight, bias, targets):
    """Loss and gradients of LinearCrossEntropy and of the linear layer + F.cross_entropy it fuses."""
    import torch.nn.functional as F

    from veco_lightning.losses.masked_lm import LinearCrossEntropy

    results = []
    for fused in (True, False):
        inputs = [t.detach().clone().requires_grad_() for t in (features, weight, bias)]
        if fused:
            loss = LinearCrossEntropy.apply(*inputs, targets)
        else:
            loss = F.cross_entropy(F.linear(*inputs), targets)
        (3.0 * loss).backward()  # an upstream factor, as a loss weight gives
        results.append((loss.detach(), [t.grad for t in inputs]))
    return results


def test_fused_linear_cross_entropy_equals_apart():
    g = torch.Generator().manual_seed(0)
    features, weight = torch.randn(37, 16, generator=g), torch.randn(501, 16, generator=g)
    bias = torch.randn(501, generator=g)
    targets = torch.randint(0, 501, (37,), generator=g)
    (fused_loss, fused_grads), (loss, grads) = _fused_and_apart(features, weight, bias, targets)
    torch.testing.assert_close(fused_loss, loss, rtol=1e-6, atol=1e-6)
    for a, b in zip(fused_grads, grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fused_linear_cross_entropy_underflowed_target():
    """A target ~100 below its row's other logits: its soft-max probability underflows in fp32, and the loss of that
    row comes from the log-sum-exp instead (the unfused log-softmax gives ~100, not infinity)."""
    features = torch.eye(4, 8)
    weight = torch.zeros(6, 8)
    weight[0, 0] = 50.0  # row 0: logits [50, 0, ...], target 1 is 50 below
    weight[2, 1] = 120.0  # row 1: target 3 is 120 below: exp(-120) underflows
    bias = torch.zeros(6)
    targets = torch.tensor([1, 3, 2, 5])
    (fused_loss, fused_grads), (loss, grads) = _fused_and_apart(features, weight, bias, targets)
    assert torch.isfinite(fused_loss)
    torch.testing.assert_close(fused_loss, loss, rtol=1e-6, atol=1e-5)
    for a, b in zip(fused_grads, grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_in_place_softmax_equals_out_of_place():
    """LinearCrossEntropy relies on torch's soft-max accepting its input as its output."""
    g = torch.Generator().manual_seed(1)
    for shape in ((1, 7), (33, 1000), (5, 32001)):
        x = torch.randn(*shape, generator=g) * 10
        expected = torch.softmax(x, 1)
        torch._softmax(x, 1, False, out=x)
        torch.testing.assert_close(x, expected, rtol=0, atol=0)


def test_fused_head_reuses_buffers_across_calls_before_backward():
    """MMLM and TLM call the loss twice before one backward pass: each call keeps its own buffer, and buffers come
    back for the next step. Loss and gradients equal those of the head and cross-entropy apart."""
    from veco_lightning.losses import masked_lm

    torch.manual_seed(0)
    model = build_encoder(EncoderSpec(preset="tiny", max_length=16), vocab_size=97).eval()
    loss_fn = MaskedLMLoss(model.lm_head)
    batches = [_inputs(seed=2), _inputs(seed=3, batch=2)]
    calls = []
    original = masked_lm.LinearCrossEntropy.apply
    results = {}
    for fused in (True, False):
        loss_fn.fused = fused
        for _ in range(2):  # the second step takes the buffers the first gave back
            model.zero_grad()
            total = 0
            for ids, labels in batches:
                hidden = model.roberta(input_ids=ids).last_hidden_state
                masked_lm.LinearCrossEntropy.apply = lambda *a: calls.append(1) or original(*a)
                try:
                    total = total + loss_fn(hidden, labels)[0]
                finally:
                    masked_lm.LinearCrossEntropy.apply = original
            total.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results[fused] = (total.detach(), grads)
    assert len(calls) == 4  # the fused path ran for both calls of both steps
    torch.testing.assert_close(results[True][0], results[False][0], rtol=1e-6, atol=1e-6)
    assert results[True][1].keys() == results[False][1].keys()
    for name, grad in results[True][1].items():
        torch.testing.assert_close(grad, results[False][1][name], rtol=1e-4, atol=1e-6, msg=name)
    with torch.no_grad():  # no gradient wanted: the head runs whole
        ids, labels = batches[0]
        loss_fn.fused = True
        hidden = model.roberta(input_ids=ids).last_hidden_state
        torch.testing.assert_close(loss_fn(hidden, labels)[0], model(input_ids=ids, labels=labels).loss)


def test_head_split_equals_head_forward():
    from veco_lightning.losses.masked_lm import _head_parts

    model = build_encoder(EncoderSpec(preset="tiny", max_length=16), vocab_size=97)
    transform, decoder = _head_parts(model.lm_head)
    x = torch.randn(5, model.config.hidden_size)
    torch.testing.assert_close(decoder(transform(x)), model.lm_head(x), rtol=0, atol=0)
    assert _head_parts(torch.nn.Linear(4, 4)) is None


def test_fused_head_second_backward_is_a_clear_error():
    import pytest

    from veco_lightning.losses.masked_lm import LinearCrossEntropy

    features = torch.randn(3, 4, requires_grad=True)
    loss = LinearCrossEntropy.apply(features, torch.randn(5, 4), torch.zeros(5), torch.tensor([0, 1, 2]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


@pytest.mark.parametrize("schedule", ["softmax", "log_softmax"], ids=["cpu-schedule", "gpu-schedule"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("vocab,rows,filler", [(50_000, 23, 9), (50_000, 5, 0), (301, 40, 24)])
def test_blockwise_cross_entropy_equals_upcast_cross_entropy(dtype, vocab, rows, filler, schedule):
    """16-bit logits: the loss and the logits' gradient equal autocast's ``F.cross_entropy(logits.float())`` (over
    several blocks with a remainder at 50k entries: 5 rows a block on up to 5 threads); filler rows after the targets'
    get zeros. Both schedules (the CPU's soft-max, the GPU's log-soft-max) run here on the CPU."""
    from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy, _block_rows

    g = torch.Generator().manual_seed(vocab + rows)
    base = (torch.randn(rows + filler, vocab, generator=g) * 4).to(dtype)
    targets = torch.randint(0, vocab, (rows,), generator=g)
    assert _block_rows(base) == max(torch.get_num_threads(), 2**18 // vocab)
    results = []
    for compute in (lambda x: BlockwiseCrossEntropy.apply(x, targets, schedule),
                    lambda x: torch.nn.functional.cross_entropy(x[:rows].float(), targets)):
        logits = base.clone().requires_grad_()
        loss = compute(logits) * 0.37  # a gradient other than 1 flows in
        loss.backward()
        results.append((loss.detach(), logits.grad))
    (loss, grad), (expected_loss, expected_grad) = results
    assert grad.dtype == dtype and loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected_loss, rtol=1e-6, atol=0)
    assert not grad[rows:].any()
    # Both round an fp32 gradient to 16 bits once; fp32 rounding may move a value by one 16-bit step (for fp16's
    # subnormals, one step of 2^-24). Scaling the 16-bit gradient by the incoming 0.37 rounds again: within one more
    # step.
    atol = 2**-24 if dtype == torch.float16 else 1e-12
    torch.testing.assert_close(grad.float(), expected_grad.float(), rtol=2 * torch.finfo(dtype).eps, atol=atol)
    with torch.no_grad():  # validation: the loss alone (no gradient written)
        torch.testing.assert_close(BlockwiseCrossEntropy.apply(base, targets, schedule), expected_loss / 0.37,
                                   rtol=1e-6, atol=0)
    # With a loss weight of 1 nothing is rounded twice: one step at most.
    logits, upcast = base.clone().requires_grad_(), base[:rows].float().requires_grad_()
    BlockwiseCrossEntropy.apply(logits, targets, schedule).backward()
    torch.nn.functional.cross_entropy(upcast, targets).backward()
    torch.testing.assert_close(logits.grad[:rows].float(), upcast.grad.to(dtype).float(),
                               rtol=torch.finfo(dtype).eps, atol=atol)


@pytest.mark.parametrize("schedule", ["softmax", "log_softmax"])
def test_blockwise_cross_entropy_far_target(schedule):
    """A target ~100 below its row's maximum: its fp32 probability underflows to 0. The CPU schedule's ``-log p``
    would be infinite; that row's loss comes from its log-sum-exp instead, equal to autocast's, and its gradient is
    the exact ``(p - 1) / N``."""
    from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy

    base = torch.zeros(3, 1000, dtype=torch.bfloat16)
    base[0, 7], base[1, 3], base[2, 999] = 100.0, 80.0, -30.0  # row 0: target 0 is 100 below; row 1: 80 below
    targets = torch.tensor([0, 5, 2])
    logits, upcast = base.clone().requires_grad_(), base.float().requires_grad_()
    loss = BlockwiseCrossEntropy.apply(logits, targets, schedule)
    expected = torch.nn.functional.cross_entropy(upcast, targets)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=0)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(logits.grad.float(), upcast.grad.bfloat16().float(), rtol=2**-7, atol=1e-12)


@pytest.mark.parametrize("schedule", ["softmax", "log_softmax"])
def test_blockwise_cross_entropy_writes_the_gradient_over_the_logits(schedule):
    """The gradient takes the logits' own buffer (no second ``(N, V)`` one); non-contiguous logits are left as they
    are and get a buffer of their own; under ``no_grad`` nothing is written."""
    from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy

    g = torch.Generator().manual_seed(1)
    base = torch.randn(7, 3000, generator=g).bfloat16()
    targets = torch.tensor([1, 2, 2999, 0, 5])
    expected = torch.nn.functional.cross_entropy(base[:5].float().requires_grad_(), targets)
    logits = base.clone().requires_grad_()
    BlockwiseCrossEntropy.apply(logits, targets, schedule).backward()
    assert logits.grad.data_ptr() == logits.data_ptr()  # the same memory
    transposed = base.t().contiguous().t().requires_grad_()  # (7, 3000) with column-major strides
    loss = BlockwiseCrossEntropy.apply(transposed, targets, schedule)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=0)
    assert torch.equal(transposed.detach(), base)
    loss.backward()
    torch.testing.assert_close(transposed.grad.float(), logits.grad.float(), rtol=0, atol=0)
    with torch.no_grad():
        untouched = base.clone()
        BlockwiseCrossEntropy.apply(untouched, targets, schedule)
    assert torch.equal(untouched, base)


def test_blockwise_cross_entropy_rejects_an_unknown_schedule():
    from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy

    with pytest.raises(ValueError, match="'softmax' or 'log_softmax'"):
        BlockwiseCrossEntropy.apply(torch.zeros(2, 5, dtype=torch.bfloat16), torch.tensor([0, 1]), "recompute")


@pytest.mark.parametrize("schedule", ["softmax", "log_softmax"])
def test_blockwise_cross_entropy_refuses_a_second_backward(schedule):
    """The stored gradient is scaled in place: a second backward through the same graph would scale it again, so it
    raises and names the way out."""
    from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy

    logits = torch.randn(3, 11, dtype=torch.bfloat16, requires_grad=True)
    loss = BlockwiseCrossEntropy.apply(logits, torch.tensor([0, 4, 10]), schedule) * 0.5
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="fused_lm_loss: false"):
        loss.backward()


def test_masked_lm_loss_under_autocast_blockwise_equals_apart():
    """Under CPU bf16 autocast the default head (blockwise cross-entropy of the 16-bit logits, rows rounded up to
    64) gives the loss and parameter gradients of the stock computation apart (``fused=False``: the fp32 upcast and
    ``F.cross_entropy``) to bf16 rounding."""
    torch.manual_seed(0)
    model = build_encoder(EncoderSpec(preset="tiny", max_length=16), vocab_size=97).eval()
    ids, labels = _inputs(batch=4, length=14, seed=3)
    results = []
    for fused in (True, False):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = model.roberta(input_ids=ids).last_hidden_state
            loss, count = MaskedLMLoss(model.lm_head, fused=fused)(hidden, labels)
        loss.backward()
        results.append((loss.detach(), count, {n: p.grad.clone() for n, p in model.named_parameters()
                                               if p.grad is not None}))
    (blockwise, count, grads), (apart, apart_count, apart_grads) = results
    assert count == apart_count
    torch.testing.assert_close(blockwise, apart, rtol=1e-6, atol=0)
    assert grads.keys() == apart_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], apart_grads[name], rtol=2e-2, atol=1e-5, msg=name)
