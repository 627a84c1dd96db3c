"""Sequence-to-sequence contrastive loss: translation pairs pulled together, in-batch non-pairs pushed apart.

What it optimises
    A batch holds B translation pairs (x_i, y_i), encoded separately into sentence vectors s_x, s_y (pooled by the
    caller). With sim(a, b) = cos(a, b) / τ, the loss is the symmetric InfoNCE

        L_seq = -(1/2B) Σ_i [ log softmax_j sim(s_xi, s_yj)[j=i] + log softmax_j sim(s_yi, s_xj)[j=i] ]

    i.e. each sentence must pick out its translation among all target sentences of the (global) batch. Other
    names: InfoNCE, NT-Xent, multiple-negatives ranking loss, translation ranking. Minimising it aligns the
    sentence spaces of languages (the sequence level of VECO 2.0's multi-granularity alignment).

Options
    - ``temperature`` τ (0.05 by default), fixed or learnable (parameterised as log(1/τ), clamped at 1/τ ≤ 100 as in
      CLIP).
    - ``margin`` m (LaBSE's additive margin softmax): cos(s_xi, s_yi) - m for the positive before scaling, which
      asks positives to win by at least m (LaBSE uses 0.3).
    - ``gather``: negatives from every rank. Vectors are gathered *with gradient* and each rank's labels are offset
      by ``rank * B``; local queries are scored against the global keys. See ``veco_lightning.distributed``.

Duplicates are not negatives
    Multi-way parallel corpora (NTREX, UN, Bible, TED) pair the same English sentence with many languages, and a
    length-bucketed batch readily holds two of those pairs (12.6% of the target sentences of NTREX batches of 32 have
    a copy in their batch: ``benchmarks/padding.py``).
    Scoring an identical copy of the positive as a negative asks for the impossible and sends contradictory gradient.
    Given ``src_keys`` / ``tgt_keys`` (one integer per sentence, equal for equal sentences; the collators pass a hash
    of the token ids), every key that equals the query's own positive's key is masked out of the softmax, except the
    positive itself (the "no duplicates" batches of sentence-transformers get the same effect by sampling).

Negatives under gradient accumulation
    The pool of negatives is one micro-batch times the number of ranks: accumulating k micro-batches does not make
    it k times larger (each micro-batch's loss only sees its own sentences). To get more negatives, raise the
    per-device batch size or the number of devices, not ``accumulate_grad_batches``.

Inputs
    ======  ==========  =============================================
    src     ``(B, D)``  sentence vectors of the x sides (any scale)
    tgt     ``(B, D)``  sentence vectors of the y sides, row i pairs with src row i
    keys    ``(B,)``    optional ``src_keys`` / ``tgt_keys``: sentence identities (int64)
    ======  ==========  =============================================
    Returns a scalar loss (mean over the local queries of both directions; under DDP the mean over ranks equals
    the single-process loss on the global batch).

References
    - Chi et al., "InfoXLM: An Information-Theoretic Framework for Cross-Lingual Language Model Pre-Training",
      NAACL 2021 (cross-lingual contrast, XLCO). arXiv:2007.07834
    - Feng et al., "Language-agnostic BERT Sentence Embedding" (LaBSE), ACL 2022 (additive margin, cross-rank
      negatives). arXiv:2007.01852
    - Zhang et al., "VECO 2.0: Cross-lingual Language Model Pre-training with Multi-granularity Contrastive
      Learning", 2023 (sequence-to-sequence alignment). arXiv:2304.08205

Example
    >>> loss_fn = SequenceContrastiveLoss(temperature=0.05)
    >>> src, tgt = torch.randn(8, 16), torch.randn(8, 16)
    >>> loss_fn(src, tgt).shape
    torch.Size([])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from veco_lightning.distributed import (
    all_gather_no_grad,
    all_gather_with_grad,
    world_info,
)
from veco_lightning.losses.temperature import TemperatureScaled
from veco_lightning.losses.utils import autocast_off, upcast


class SequenceContrastiveLoss(TemperatureScaled):
    """Symmetric InfoNCE over translation pairs with in-batch (and cross-rank) negatives.

    Args:
        temperature: τ in cos / τ (0.05 as in SimCSE-style sentence alignment; 1/τ is often called ``scale``).
        learnable_temperature: learn τ (initialised at ``temperature``).
        margin: additive margin subtracted from the positive cosine (LaBSE: 0.3; 0 turns it off).
        gather: use the sentences of all ranks as negatives (gathered with gradient).
    """

    def __init__(
        self, temperature: float = 0.05, learnable_temperature: bool = False, margin: float = 0.0, gather: bool = True
    ) -> None:
        super().__init__(temperature, learnable_temperature)
        self.margin = margin
        self.gather = gather

    def logits(self, queries: torch.Tensor, keys: torch.Tensor, labels: torch.Tensor,
               key_ids: torch.Tensor | None = None) -> torch.Tensor:
        cosine = queries @ keys.T  # (B, W*B)
        positive = F.one_hot(labels, cosine.shape[1]).bool()  # (B, W*B)
        if self.margin:
            cosine = cosine - self.margin * positive.to(cosine.dtype)
        logits = cosine * self.scale
        if key_ids is not None:  # copies of the positive are not negatives
            duplicate = (key_ids.unsqueeze(0) == key_ids[labels].unsqueeze(1)) & ~positive
            logits = logits.masked_fill(duplicate, float("-inf"))
        return logits

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, src_keys: torch.Tensor | None = None,
                tgt_keys: torch.Tensor | None = None) -> torch.Tensor:
        with autocast_off(src):  # similarities and soft-max in fp32 under mixed precision
            src, tgt = F.normalize(upcast(src), dim=-1), F.normalize(upcast(tgt), dim=-1)  # (B, D)
            rank, world_size = world_info() if self.gather else (0, 1)
            all_src = all_gather_with_grad(src) if world_size > 1 else src  # (W*B, D)
            all_tgt = all_gather_with_grad(tgt) if world_size > 1 else tgt
            all_src_keys = None if src_keys is None else (all_gather_no_grad(src_keys) if world_size > 1 else src_keys)
            all_tgt_keys = None if tgt_keys is None else (all_gather_no_grad(tgt_keys) if world_size > 1 else tgt_keys)
            labels = torch.arange(src.shape[0], device=src.device) + rank * src.shape[0]  # positives, global batch
            loss_s2t = F.cross_entropy(self.logits(src, all_tgt, labels, all_tgt_keys), labels)
            loss_t2s = F.cross_entropy(self.logits(tgt, all_src, labels, all_src_keys), labels)
            return (loss_s2t + loss_t2s) / 2
