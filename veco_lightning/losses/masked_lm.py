"""Masked language modelling with a sparse LM head (MMLM and TLM).

The vocabulary projection is the most expensive matrix product of a multilingual encoder: with V = 250k and
D = 1024 it costs more than a whole Transformer layer per token. Only the ~15% masked positions have a label,
so :class:`MaskedLMLoss` gathers those hidden states first and projects only them. That removes the
B x L x V logits tensor from memory and most of the head's FLOPs, and gives exactly the loss and gradients of the
usual full projection followed by ``ignore_index`` cross-entropy (``tests/losses/test_masked_lm.py`` checks it).
In full precision the head's vocabulary projection also runs fused with the cross-entropy
(:class:`LinearCrossEntropy`): one logits-sized buffer per call, reused across steps, instead of four fresh ones. Its
16-bit logits (under autocast, or in a 16-bit model) go through :class:`BlockwiseCrossEntropy`: the soft-max in fp32
a block of rows at a time, without full-size fp32 copies.

The head itself is the stock ``XLMRobertaLMHead`` (dense -> GELU -> LayerNorm -> decoder tied to the input
embeddings), so the exported model is a standard ``XLMRobertaForMaskedLM``.

References:
    - Conneau & Lample, "Cross-lingual Language Model Pretraining" (XLM), NeurIPS 2019 (MLM / TLM).
    - Conneau et al., "Unsupervised Cross-lingual Representation Learning at Scale" (XLM-R), ACL 2020.
"""

from __future__ import annotations

import functools
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

from veco_lightning.losses.utils import upcast
from veco_lightning.models.packing import pad_rows, row_multiple

IGNORE_INDEX = -100


class MaskedLMLoss(nn.Module):
    """Cross-entropy of the LM head's predictions at the masked positions only.

    Used for both MMLM (monolingual blocks) and TLM (concatenated translation pairs): the objective is the same,
    only the input differs.

    Args:
        lm_head: maps hidden states ``(N, D)`` to vocabulary logits ``(N, V)``.
        fused: run the stock head's decoder fused with the cross-entropy (:class:`LinearCrossEntropy`) while
            training in full precision, and the cross-entropy of 16-bit logits blockwise
            (:class:`BlockwiseCrossEntropy`); ``False`` runs the head and ``F.cross_entropy`` (of the logits upcast to
            fp32) apart (for comparisons: ``benchmarks/mfu.py --unfused-head``).
        row_multiple: run the head on the masked positions' states with zero rows appended up to a multiple of
            this, dropped from its output (the same loss and gradients); ``None``: 64 when computing in bf16 / fp16
            on the CPU, else 1 (:func:`~veco_lightning.models.packing.row_multiple`).

    Inputs:
        hidden_states: ``(B, L, D)`` final encoder states.
        labels: ``(B, L)`` original token ids at masked positions, ``-100`` elsewhere.
        num_masked: how many positions have a label, when the host knows it (counted before the batch moved to the
            device): the masked positions are then gathered without a synchronisation.

    Returns:
        ``(loss, num_masked)``: mean cross-entropy over masked tokens, and how many there were (for logging
        and for weighting across devices).
    """

    def __init__(self, lm_head: nn.Module, fused: bool = True, row_multiple: int | None = None) -> None:
        super().__init__()
        self.lm_head = lm_head
        self.fused = fused
        self.row_multiple = row_multiple

    def forward(self, hidden_states: torch.Tensor, labels: torch.Tensor,
                num_masked: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        selected = labels != IGNORE_INDEX  # (B, L)
        if num_masked is None:
            masked_states = hidden_states[selected]  # (N, D), N = number of masked tokens
            targets = labels[selected]  # (N,)
        else:
            # The same rows in the same order without a boolean index, whose size the host reads from the device (on
            # a GPU a synchronisation, twice a call): a stable sort puts the masked positions first, and the count,
            # known on the host, says how many.
            order = torch.argsort((~selected).flatten().to(torch.uint8), stable=True)[:num_masked]
            masked_states = hidden_states.flatten(0, 1).index_select(0, order)
            targets = labels.flatten().index_select(0, order)
        rows = len(targets)
        # Zero rows up to the multiple, dropped from every output below: fixed shapes for oneDNN's bf16 kernels.
        states = pad_rows(masked_states, row_multiple(self.row_multiple, hidden_states))
        parts = _head_parts(self.lm_head) if self.fused else None
        if (parts is not None and torch.is_grad_enabled() and not torch.is_autocast_enabled(hidden_states.device.type)
                and rows):
            transform, decoder = parts
            features = transform(states)
            # Fused in fp32 / fp64 only: in 16 bits (a bf16-true model) the soft-max is left to the upcast below.
            if ((features.requires_grad or decoder.weight.requires_grad) and features.dtype == decoder.weight.dtype
                    and features.dtype in (torch.float32, torch.float64)):
                loss = LinearCrossEntropy.apply(features[:rows], decoder.weight, decoder.bias, targets)
                return loss, selected.sum()
            logits = decoder(features)
        else:
            logits = self.lm_head(states)  # (N', V), N' >= N: the filler rows last
        if self.fused and logits.dtype in (torch.float16, torch.bfloat16) and rows:
            # 16-bit logits (autocast, or a 16-bit model): the soft-max in fp32, a block of rows at a time.
            return BlockwiseCrossEntropy.apply(logits, targets), selected.sum()
        # Cross-entropy in fp32: under bf16 autocast the log-softmax over 250k entries loses precision.
        loss = F.cross_entropy(upcast(logits[:rows]), targets)
        return loss, selected.sum()


def _head_parts(lm_head: nn.Module) -> tuple | None:
    """``(transform, decoder)`` of the stock RoBERTa / XLM-R LM head (``dense -> gelu -> layer_norm -> decoder``,
    its ``forward`` unchanged for years), so that the decoder can run fused with the cross-entropy; ``None`` for any
    other head, which then runs whole. ``tests/losses/test_masked_lm.py`` checks the split against the head's own
    forward."""
    if type(lm_head).__name__ not in ("XLMRobertaLMHead", "RobertaLMHead"):
        return None
    decoder = getattr(lm_head, "decoder", None)
    gelu = getattr(sys.modules.get(type(lm_head).__module__), "gelu", None)
    if not isinstance(decoder, nn.Linear) or gelu is None:
        return None
    return (lambda x: lm_head.layer_norm(gelu(lm_head.dense(x)))), decoder


class _Workspace:
    """``(rows, V)`` buffers reused from step to step on the CPU, handed to one loss call at a time.

    On glibc every buffer over 32 MiB is mapped afresh and each of its pages faults on first touch: the logits of
    300 masked tokens over a 32k vocabulary are 39 MB, and a fresh copy cost as much as the log-softmax itself
    (``benchmarks/README.md``). A buffer is taken in the forward pass and given back once its backward has run; a
    call whose backward never runs just drops its buffer. At most ``keep`` free buffers of at most ``max_bytes`` each
    are held (MMLM and TLM need one each in a step). A larger one (a 250k vocabulary's: 300 MB) is freed: held
    through the optimizer step it can raise peak memory by its size (1,785 -> 2,033 MiB in one run at 250k), and its
    first touch is a small share of a step at that size. The GPU's caching allocator already reuses memory, so the
    pool is for the CPU only."""

    def __init__(self, keep: int = 2, max_bytes: int = 128 * 2**20) -> None:
        self.keep, self.max_bytes = keep, max_bytes
        self.free: list[torch.Tensor] = []

    def take(self, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
        if like.device.type != "cpu":
            return torch.empty(rows, cols, dtype=like.dtype, device=like.device)
        fits = [k for k, b in enumerate(self.free)
                if b.shape[1] == cols and b.shape[0] >= rows and b.dtype == like.dtype]
        if fits:  # the smallest free buffer that fits
            return self.free.pop(min(fits, key=lambda k: self.free[k].shape[0]))
        capacity = -(-(rows + rows // 16) // 16) * 16  # a margin: the masked count changes a little every step
        if capacity * cols * like.element_size() > self.max_bytes:
            capacity = rows  # not kept: no margin
        return torch.empty(capacity, cols, dtype=like.dtype, device=like.device)

    def give(self, buffer: torch.Tensor) -> None:
        if buffer.device.type != "cpu" or buffer.numel() * buffer.element_size() > self.max_bytes:
            return
        self.free.append(buffer)
        if len(self.free) > self.keep:  # drop the smallest (by position: == on tensors compares elements)
            del self.free[min(range(len(self.free)), key=lambda k: self.free[k].numel())]


_WORKSPACE = _Workspace()


class LinearCrossEntropy(torch.autograd.Function):
    """``F.cross_entropy(features @ weight.T + bias, targets)`` (mean over the rows) with one ``(N, V)`` buffer.

    The forward pass computes the logits into a reused buffer (:class:`_Workspace`), turns them into soft-max
    probabilities in place and then into the gradient of the loss with respect to the logits (``p - onehot``), which
    the backward pass scales and multiplies out. The unfused computation allocates four such buffers a step (logits,
    log-probabilities, the gradient of the log-probabilities and of the logits). Loss and gradients equal the unfused
    ones up to rounding (``tests/losses/test_masked_lm.py``)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor) -> torch.Tensor:
        rows, cols = features.shape[0], weight.shape[0]
        buffer = _WORKSPACE.take(rows, cols, features)
        logits = buffer[:rows]
        if bias is None:
            torch.mm(features, weight.t(), out=logits)
        else:
            torch.addmm(bias, features, weight.t(), out=logits)
        picked = logits.gather(1, targets[:, None]).squeeze(1)
        # In place: the soft-max of a row reads the row (maximum, then exponentials) before writing it element by
        # element, so the output may alias the input; a test checks this against the out-of-place soft-max.
        torch._softmax(logits, 1, False, out=logits)
        probs = logits.gather(1, targets[:, None]).squeeze(1)
        losses = -probs.log()
        # -log p is exact unless p underflowed (a target logit ~87 below the row's log-sum-exp in fp32): recompute
        # those rows' log-sum-exp from their logits (rare; a few rows at most).
        tiny = probs < torch.finfo(probs.dtype).tiny * 2**24
        if bool(tiny.any()):
            redo = torch.nn.functional.linear(features[tiny], weight, bias)
            losses[tiny] = torch.logsumexp(redo, 1) - picked[tiny]
        logits[torch.arange(rows, device=logits.device), targets] -= 1  # p - onehot: d(sum of losses) / d(logits)
        ctx.save_for_backward(features, weight)
        ctx.buffer, ctx.rows, ctx.has_bias = buffer, rows, bias is not None
        return losses.mean()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        features, weight = ctx.saved_tensors
        if ctx.buffer is None:
            raise RuntimeError("LinearCrossEntropy: its gradient buffer was used by an earlier backward pass; a "
                               "second backward through the same graph (retain_graph=True) is not supported. Set "
                               "model.fused_lm_loss: false (MaskedLMLoss(fused=False)) for that")
        grad_logits = ctx.buffer[: ctx.rows]
        grad_logits.mul_(grad_output / ctx.rows)
        grad_features = grad_logits @ weight if ctx.needs_input_grad[0] else None
        grad_weight = grad_logits.t() @ features if ctx.needs_input_grad[1] else None
        grad_bias = grad_logits.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        _WORKSPACE.give(ctx.buffer)
        ctx.buffer = None
        return grad_features, grad_weight, grad_bias, None


class BlockwiseCrossEntropy(torch.autograd.Function):
    """``F.cross_entropy(logits[:N].float(), targets)`` (mean over the ``N = len(targets)`` rows) of 16-bit logits,
    computed in fp32 a block of rows at a time; rows of ``logits`` after the first ``N`` (the head's filler rows) get
    a zero gradient.

    This is what autocast's cross-entropy computes, without its full-size fp32 tensors: the upcast logits, the
    log-probabilities, their gradient and the logits' gradient (four ``(N, V)`` fp32 buffers, each freshly mapped and
    faulted in on glibc), plus a zero-filled copy for the slice that drops the filler rows. Loss and gradients equal
    autocast's up to fp32 rounding (``tests/losses/test_masked_lm.py``).

    The forward pass writes the 16-bit gradient ``(p - onehot) / N`` of each block at once, rounding once as
    autocast's cast back does, **over the logits** (once a block is read; a non-contiguous ``logits`` gets a buffer of
    its own): ``logits`` holds the gradient afterwards, and no second ``(N, V)`` buffer is allocated. The backward pass
    only scales it by the incoming gradient, in place (exact for a loss weight of 1, which on the CPU skips the pass;
    otherwise within one 16-bit step of autocast's value). Two ways to get the fp32 probabilities, by device
    (``schedule``):

    * **CPU** (``"softmax"``): one fused ``torch.softmax`` per block of at least one row per thread (about 1 MB of
      fp32, cache-sized), and the loss ``-log p`` of each target's probability; the rare row whose probability
      underflowed (a target logit about 70 below the row's log-sum-exp) gets its loss from its log-sum-exp instead.
      One exponential per logit: forward and backward of ``(320, 32,000)`` bf16 logits took 6.1 against 12.1 ms with
      the earlier schedule (the log-sum-exp forward, the soft-max recomputed backward, a fresh gradient buffer), 37
      against 120 ms at 250,002 entries, on 2 cores of an AMD EPYC; the bf16 MLM step at `small` 1.04-1.09x and
      1.12-1.15x faster (``benchmarks/README.md``, "One soft-max per block").
    * **GPU** (``"log_softmax"``): a block does not fit in a cache there and every pass costs memory traffic; one
      fp32 log-soft-max per block (the loss is its targets' entries, no host check), the gradient its exponential.
      That is 24 bytes moved per logit against 46 (2 of them in copies that cast, ATen's slowest kernels)
      (``benchmarks/README.md``, the GPU profile).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, schedule: str | None = None) -> torch.Tensor:
        rows = len(targets)
        step = _block_rows(logits)
        schedule = schedule or ("softmax" if logits.device.type == "cpu" else "log_softmax")
        if schedule not in ("softmax", "log_softmax"):
            raise ValueError(f"BlockwiseCrossEntropy: schedule {schedule!r} is not 'softmax' or 'log_softmax'")
        wanted = ctx.needs_input_grad[0]  # not in validation, under no_grad: the loss alone
        # The gradient overwrites the logits, block by block once read: nothing else needs them (the head's product
        # keeps its inputs, not its output), and no second (N, V) buffer is allocated.
        grad = (logits.detach() if logits.is_contiguous() else torch.empty_like(logits)) if wanted else None
        if wanted:
            grad[rows:].zero_()
        losses = torch.empty(rows, dtype=torch.float32, device=logits.device)
        offsets = torch.arange(step, device=logits.device)
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            at = (offsets[: stop - start], targets[start:stop])
            if schedule == "softmax":
                probs = torch.softmax(logits[start:stop], 1, dtype=torch.float32)
                target_p = probs[at]
                torch.log(target_p, out=losses[start:stop]).neg_()
                # -log p is exact unless p underflowed: those rows' loss from their log-sum-exp (rare), before the
                # block is overwritten. The host reads the flag: free on the CPU.
                far = target_p < _UNDERFLOW
                if bool(far.any()):
                    again = logits[start:stop][far].float()
                    losses[start:stop][far] = (torch.logsumexp(again, 1)
                                               - again.gather(1, targets[start:stop][far][:, None]).squeeze(1))
                if wanted:
                    torch.mul(probs, 1 / rows, out=grad[start:stop])  # p / N, rounded to 16 bits once
            else:
                log_probs = torch.log_softmax(logits[start:stop], 1, dtype=torch.float32)
                picked = log_probs[at]  # gathered once: the loss, then (in place) the targets' probabilities
                torch.neg(picked, out=losses[start:stop])
                if wanted:
                    target_p = picked.exp_()
                    torch.exp(log_probs.sub_(math.log(rows)), out=grad[start:stop])  # p / N, rounded to 16 bits once
            if wanted:
                grad[start:stop][at] = target_p.sub_(1).div_(rows).to(grad.dtype)  # the targets': (p - 1) / N
        ctx.save_for_backward(grad)
        ctx.used = False
        return losses.mean()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if ctx.used:
            raise RuntimeError("BlockwiseCrossEntropy: an earlier backward pass took its stored gradient (and "
                               "scaled it in place); a second backward through the same graph (retain_graph=True) is "
                               "not supported. Set model.fused_lm_loss: false (MaskedLMLoss(fused=False)) for that")
        ctx.used = True
        (grad,) = ctx.saved_tensors
        if grad.device.type == "cpu" and float(grad_output) == 1.0:  # the host reads it for free here
            return grad, None, None
        return grad.mul_(grad_output), None, None


_UNDERFLOW = torch.finfo(torch.float32).tiny * 2**24  # below this an fp32 probability may have lost bits


def _block_rows(logits: torch.Tensor) -> int:
    """Rows per block of :class:`BlockwiseCrossEntropy`: on the CPU about 1 MB of fp32 temporaries (cache-sized;
    2^18 to 2^22 elements measured 11.9 / 12.8 / 15.5 ms at a 32k vocabulary with the earlier schedule) and at least
    one row per thread (the soft-max divides its rows among them: at 250,002 entries one row a block took 108 ms,
    two 90 ms on 2 cores, in a one-off run); 64 MB on accelerators (few kernel launches), and on a CUDA device at
    least four rows per multiprocessor: its soft-max kernels give each row one thread block, so 67 rows of 250,002
    entries (64 MB) left half of an H200's 132 multiprocessors idle (``benchmarks/README.md``, "On a GPU")."""
    if logits.device.type == "cpu":
        return max(torch.get_num_threads(), 2**18 // logits.shape[1])
    rows = max(1, 2**24 // logits.shape[1])
    if logits.device.type == "cuda":
        rows = max(rows, 4 * _multiprocessors(logits.device))
    return rows


@functools.cache
def _multiprocessors(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def full_head_mlm_loss(lm_head: nn.Module, hidden_states: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The usual dense computation (project every position, ignore unlabelled ones): the reference that
    :class:`MaskedLMLoss` must equal, and what the stock ``XLMRobertaForMaskedLM.forward`` does."""
    logits = lm_head(hidden_states)  # (B, L, V)
    return F.cross_entropy(upcast(logits.flatten(0, 1)), labels.flatten(), ignore_index=IGNORE_INDEX)
