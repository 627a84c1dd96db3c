"""Model FLOPs of a training step, counted from the shapes of the batch (for model FLOPs utilisation, MFU).

Counted as in the PaLM paper's MFU (Chowdhery et al. 2022, appendix B): the matrix multiplications the model needs
for the tokens it was given, whatever the implementation does. Padding, recomputation, element-wise work,
soft-max and layer norms are not counted. A training step is 3x the forward pass (the backward pass costs two
forwards). Per non-pad token of a sequence of ``n`` non-pad tokens, one encoder layer of width ``d`` and feed-forward
width ``f`` does

* projections: ``2 * (4 d^2 + 2 d f)`` (query, key, value and output; the two feed-forward matrices);
* attention: ``4 n d`` (scores ``Q K^T`` and their product with ``V``, over the ``n`` real positions);

the sparse masked-LM head, per masked position: ``2 d^2 + 2 d V`` (transform and the projection onto the vocabulary
of ``V`` entries); the contrastive heads: their projections, if any, and the similarity matrices (under 1% of a
step at any preset). Embedding look-ups are free.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["batch_flops", "encoder_flops", "head_weights", "mlm_head_flops"]

TRAIN_FACTOR = 3  # forward + backward (two forwards' worth)


def _shape(config: Any) -> tuple[int, int, int]:
    return config.num_hidden_layers, config.hidden_size, config.intermediate_size


def encoder_flops(config: Any, attention_mask: torch.Tensor) -> float:
    """Training FLOPs of the encoder for a ``(B, L)`` attention mask (non-pad positions only)."""
    layers, d, f = _shape(config)
    lengths = attention_mask.sum(dim=-1).double()
    tokens = float(lengths.sum())
    square = float((lengths * lengths).sum())  # sum over sequences of n^2: attention
    return TRAIN_FACTOR * layers * (2 * (4 * d * d + 2 * d * f) * tokens + 4 * d * square)


def mlm_head_flops(config: Any, masked: int) -> float:
    """Training FLOPs of the sparse masked-LM head on ``masked`` predicted positions."""
    d = config.hidden_size
    return TRAIN_FACTOR * masked * (2 * d * d + 2 * d * config.vocab_size)


def head_weights(head: Any) -> int:
    """The entries of a contrastive head's projection matrices (0 for ``None``). Count them before a strategy shards
    the model: under FSDP a weight is, between passes, a 1-D view of this rank's shard."""
    if head is None:
        return 0
    return sum(m.weight.numel() for m in head.modules() if isinstance(m, torch.nn.Linear))


def _head_flops(head: Any, vectors: int) -> float:
    """Projections of a contrastive head (a module, or its :func:`head_weights`) applied to ``vectors`` pooled vectors
    (or token units)."""
    weights = head if isinstance(head, int) else head_weights(head)
    return TRAIN_FACTOR * 2 * weights * vectors


def _pairs(synonyms: torch.Tensor) -> int:
    """Synonym pairs in a ``(B, P, 2)`` tensor padded with -1."""
    return int((synonyms[..., 0] >= 0).sum())


def batch_flops(config: Any, batch: dict[str, Any], seq_head: Any = None, tok_head: Any = None,
                world_size: int = 1) -> float:
    """Model FLOPs of one training step on ``batch`` (the module's ``mmlm`` / ``tlm`` / ``pairs`` inputs); the heads
    are modules or their :func:`head_weights`."""
    d = config.hidden_size
    total = 0.0
    for name, inputs in batch.items():
        if "attention_mask" in inputs:  # mmlm, tlm: one sequence per row, maybe with an LM head
            total += encoder_flops(config, inputs["attention_mask"])
            if "labels" in inputs:
                total += mlm_head_flops(config, int((inputs["labels"] != -100).sum()))
            if name == "tlm" and "synonyms" in inputs:
                total += _head_flops(tok_head, 2 * _pairs(inputs["synonyms"]))
            continue
        # pairs: both sides through the encoder; pooled sides -> similarity with the gathered other side
        rows = 0
        for side in ("src", "tgt"):
            mask = inputs[side]["attention_mask"]
            total += encoder_flops(config, mask)
            rows = mask.shape[0]
        total += _head_flops(seq_head, 2 * rows) + TRAIN_FACTOR * 2 * 2 * rows * rows * world_size * d
        if "synonyms" in inputs:
            total += _head_flops(tok_head, 2 * _pairs(inputs["synonyms"]))
    return total
