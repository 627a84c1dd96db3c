"""Dropout with cheaper random masks on CPU.

``torch.nn.functional.dropout`` on CPU draws one Bernoulli sample per element through a float generator; at the
``small`` shape the encoder's dropouts then take about a tenth of the MLM step. :class:`FastDropout`
draws 64 random bits per four elements instead (``torch.randint`` on the default generator, so seeding,
checkpointed RNG state and exact resume work as before) and keeps an element when its 16 bits clear a threshold:
about 3x faster per call on this project's CPU benchmarks. The drop probability is rounded to a multiple of 2^-16
(0.1 becomes 0.100006) and the kept values are scaled by the inverse of the probability actually used, so the
expectation is exact. On other devices, where the fused kernel is fast, it is torch's dropout unchanged.

The attention probabilities are dropped inside ``scaled_dot_product_attention``, with torch's masks (and, on CPU,
with its unfused kernel whenever the dropout is on). :func:`attention_with_fast_dropout` computes the same attention
with :func:`keep_mask` masks when training on CPU and hands every other case to transformers' SDPA function; it is
registered with transformers as ``ATTENTION`` (with SDPA's mask), which :func:`use_fast_dropout` selects on a model
that uses ``sdpa``. Only the running model holds that name: ``save_pretrained`` does not write it.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers.integrations.sdpa_attention import sdpa_attention_forward

log = logging.getLogger(__name__)

_LEVELS = 1 << 16
ATTENTION = "veco_sdpa_fast_dropout"


def keep_mask(shape: torch.Size | tuple[int, ...], p: float,
              dtype: torch.dtype = torch.bool) -> tuple[torch.Tensor, float]:
    """A CPU mask of ``shape`` that keeps each element with probability ``1 - p`` (``p`` rounded to a multiple of
    2^-16), and the scale ``1 / (1 - p_used)``. The mask is boolean, or 1 / 0 in a floating ``dtype`` (what
    :func:`masked_scale` multiplies by: written by the comparison itself, no conversion pass)."""
    numel = math.prod(shape)
    dropped = round(p * _LEVELS)
    # Full-range int64 words, read as four independent uniform int16 values each.
    words = torch.randint(-(1 << 63), (1 << 63) - 1, ((numel + 3) // 4,), dtype=torch.int64)
    bits = words.view(torch.int16)[:numel].view(shape)
    keep = torch.empty(shape, dtype=dtype)
    torch.ge(bits, dropped - _LEVELS // 2, out=keep)
    return keep, _LEVELS / (_LEVELS - dropped)


class _MaskedScale(torch.autograd.Function):
    """``x * keep * scale`` with a 1 / 0 mask of ``x``'s dtype, one ``addcmul`` each way. ``torch.where(keep, x *
    scale, 0)`` with a boolean mask takes two passes forward and two back (and ``addcmul`` with a boolean mask
    converts it first, a pass each way): about 1.6x slower per dropout call, forward and backward, at the ``small``
    shape on CPU. The mask kept for the backward pass is the 1 / 0 one: 4 bytes an element in fp32 instead of 1.
    (A mask holding ``scale`` itself would make this a plain multiplication, but in bf16 the scale would be rounded:
    1/0.9 becomes 1.109, a bias of 0.16%; ``addcmul``'s ``value`` stays an fp32 factor.)"""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.addcmul(x.new_zeros(()), x, keep, value=scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (keep,) = ctx.saved_tensors
        return torch.addcmul(grad.new_zeros(()), grad, keep, value=ctx.scale), None, None


def masked_scale(x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """Dropout with a given mask: ``x * scale`` where ``keep``, 0 elsewhere, bit for bit what ``torch.where(keep, x *
    scale, 0)`` gives. Fastest with ``keep`` as :func:`keep_mask` gives it in ``x``'s dtype."""
    return _MaskedScale.apply(x, keep if keep.dtype == x.dtype else keep.to(x.dtype), scale)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with :func:`keep_mask` masks on CPU (same ``p``, same training/eval behaviour)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not 0.0 < self.p < 1.0 or x.device.type != "cpu" or self.inplace:
            return F.dropout(x, self.p, self.training, self.inplace)
        return masked_scale(x, *keep_mask(x.shape, self.p, x.dtype))


def attention_with_fast_dropout(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                attention_mask: torch.Tensor | None, dropout: float = 0.0,
                                scaling: float | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """A transformers attention function: SDPA's maths (soft-max in fp32) with :func:`keep_mask` dropout on the
    probabilities when training on CPU; transformers' ``sdpa_attention_forward`` otherwise (no dropout, another
    device, or attention weights asked for). Given ``packed_rows`` (a :class:`~veco_lightning.models.packing.PackedRows`
    of a padding-free batch), it attends in a padded copy of the rows and returns the packed result."""
    packed = kwargs.pop("packed_rows", None)
    if packed is not None:  # a padding-free batch (models.packing): attend row by row in a padded copy
        padded = [packed.unpack_heads(tensor) for tensor in (query, key, value)]
        output, weights = attention_with_fast_dropout(module, *padded, packed.attention_mask(), dropout, scaling,
                                                      **kwargs)
        return packed.pack(output), weights  # (rows, length, heads, d) -> (1, tokens, heads, d)
    unsupported = kwargs.get("output_attentions") or key.shape[1] != query.shape[1]  # weights out, grouped heads
    if dropout == 0.0 or query.device.type != "cpu" or unsupported:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    # The scaling on the (..., L, d) query rather than the (..., L, L) scores, and the mask and the dropout each in
    # one pass over the scores: the same maths up to rounding, 1.1-1.3x faster forward + backward at `small`.
    scores = torch.matmul(query * scaling, key.transpose(2, 3))
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # SDPA's mask: True where attention is allowed
            scores = torch.where(attention_mask, scores, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = masked_scale(probs, *keep_mask(probs.shape, dropout, probs.dtype))
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None


def _register_attention() -> bool:
    """Register the attention function and its mask with transformers; False where this transformers lacks the
    interfaces (before 4.53), which then keeps torch's attention dropout."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(ATTENTION, attention_with_fast_dropout)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    return True


def use_fast_dropout(model: nn.Module) -> nn.Module:
    """Replace every plain ``nn.Dropout`` in ``model`` by a :class:`FastDropout` of the same ``p``, in place, and
    a transformers model's ``sdpa`` attention by :func:`attention_with_fast_dropout`."""
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                fast = FastDropout(child.p, child.inplace)
                fast.train(child.training)
                setattr(parent, name, fast)
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) == "sdpa" and hasattr(model, "set_attn_implementation"):
        if _register_attention():
            model.set_attn_implementation(ATTENTION)
        else:
            log.info("This transformers cannot register attention functions: attention dropout stays torch's")
    return model
