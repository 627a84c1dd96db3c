"""Token-to-token contrastive loss: dictionary synonyms of a translation pair pulled together, the other words of the
partner sentence pushed apart.

What it optimises
    A translation pair (x, y) carries synonym pairs (a, b) mined with a bilingual dictionary (``lexicon/synonyms.py``):
    a word or phrase a of x whose translation b occurs in y. Each side is split into *units*: the synonym phrases and
    every other word. A unit's vector is the mean (option: the first) of its sub-word states at one layer, optionally
    through a projection head. With sim(u, v) = cos(u, v) / τ, for every synonym pair (a, b)

        ℓ(a → b) = -log [ exp sim(a, b) / Σ_{v ∈ N(y)} exp sim(a, v) ]

    where N(y) holds the units of y (b included): a must pick out its dictionary translation among the words of its
    own translation. The loss is symmetric and averaged over the P synonym pairs of the batch:

        L_tok = (1/2P) Σ_(a,b) [ ℓ(a → b) + ℓ(b → a) ]

    Because the negatives come from the same sentence, the model cannot solve the task with sentence-level cues: it
    has to align individual words across languages, in context (the token level of VECO 2.0's multi-granularity
    alignment, which complements the sequence-level loss of ``sequence_contrastive.py``).

Options
    - ``temperature`` τ (0.1 by default), fixed or learnable (log(1/τ), clamped at 1/τ ≤ 100).
    - ``negatives``: ``instance`` (the words of the partner sentence, as above) or ``batch`` (the words of every
      target sentence in the local batch: more, but easier, negatives).
    - Word pooling and layer are the caller's (``models.heads.TokenAlignmentHead`` pools with
      ``models.pooling.pool_words``, the same function the synonym-retrieval evaluation uses, so what is trained is what
      is measured).

Distributed training and gradient accumulation
    The negatives are local (same sentence, or same micro-batch): nothing is gathered across ranks. Each rank
    averages over its own synonym pairs and DDP averages the ranks' gradients, so a rank with few pairs weighs as
    much as one with many; with ``negatives: batch`` the pool is one micro-batch, whatever ``accumulate_grad_batches``.

Inputs
    ============  ==============  ===================================================================
    src_words     ``(B, U, D)``   unit vectors of the x sides (any scale; padding rows are ignored)
    tgt_words     ``(B, V, D)``   unit vectors of the y sides
    src_present   ``(B, U)``      which src units exist (bool)
    tgt_present   ``(B, V)``      which tgt units exist
    synonyms      ``(B, P, 2)``   ``(src unit, tgt unit)`` index pairs; rows with -1 are padding
    ============  ==============  ===================================================================
    Returns a scalar. A batch without any synonym pair gives 0, still connected to the graph (so DDP sees every
    parameter used).

References
    - Zhang et al., "VECO 2.0: Cross-lingual Language Model Pre-training with Multi-granularity Contrastive
      Learning", 2023 (token-to-token alignment on synonym pairs from bilingual dictionaries). arXiv:2304.08205
    - Chi et al., "Improving Pretrained Cross-Lingual Language Models via Self-Labeled Word Alignment" (XLM-Align),
      ACL 2021 (word-level alignment objectives). arXiv:2106.06381
    - Cao, Kitaev and Klein, "Multilingual Alignment of Contextual Word Representations", ICLR 2020 (aligning
      contextual word vectors of dictionary/aligned word pairs). arXiv:2002.03518

Example
    >>> loss_fn = TokenContrastiveLoss(temperature=0.1)
    >>> words = torch.randn(2, 5, 16)
    >>> present = torch.ones(2, 5, dtype=torch.bool)
    >>> synonyms = torch.tensor([[[0, 1], [2, 3]], [[4, 0], [-1, -1]]])
    >>> loss_fn(words, words.flip(1), present, present, synonyms).shape
    torch.Size([])
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from veco_lightning.losses.temperature import TemperatureScaled
from veco_lightning.losses.utils import autocast_off, upcast

TokenNegatives = Literal["instance", "batch"]


class TokenContrastiveLoss(TemperatureScaled):
    """Symmetric InfoNCE over dictionary synonym pairs, negatives from the partner sentence (or the batch).

    Args:
        temperature: τ in cos / τ.
        learnable_temperature: learn τ (initialised at ``temperature``).
        negatives: ``instance`` (other words of the partner sentence) or ``batch`` (words of all partner sentences).
    """

    def __init__(self, temperature: float = 0.1, learnable_temperature: bool = False,
                 negatives: TokenNegatives = "instance") -> None:
        super().__init__(temperature, learnable_temperature)
        if negatives not in ("instance", "batch"):
            raise ValueError(f"negatives must be 'instance' or 'batch', got {negatives!r}")
        self.negatives = negatives

    def _direction(self, queries: torch.Tensor, keys: torch.Tensor, present: torch.Tensor, valid: torch.Tensor,
                   rows: torch.Tensor, query_units: torch.Tensor, query_index: torch.Tensor,
                   key_index: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of each valid pair's query unit picking its key unit among the keys. ``valid`` ``(B, P)``:
        the pair slots in use; ``rows`` ``(N,)``: each valid pair's batch row; ``query_units`` ``(B, P)``: the query
        unit of every slot; ``query_index`` / ``key_index`` ``(N,)``: the valid pairs' query and key units."""
        if self.negatives == "instance":
            # Each sentence's query units against its partner's units, one batched product: (B, P, D) x (B, D, V).
            # (Gathering the partner's (V, D) units for every pair instead copies N x V x D floats each way.)
            index = query_units.clamp(min=0).unsqueeze(-1).expand(-1, -1, queries.shape[-1])
            logits = torch.bmm(queries.gather(1, index), keys.transpose(1, 2))[valid] * self.scale  # (N, V)
            logits = logits.masked_fill(~present[rows], float("-inf"))
            return F.cross_entropy(logits, key_index)
        # batch: every present unit of every partner sentence; the target is the positive's flat position.
        q = queries[rows, query_index]  # (N, D)
        flat_keys = keys[present]  # (M, D)
        flat_position = present.flatten().cumsum(0).view_as(present) - 1  # (B, V): index into flat_keys
        logits = q @ flat_keys.T * self.scale  # (N, M)
        return F.cross_entropy(logits, flat_position[rows, key_index])

    def forward(self, src_words: torch.Tensor, tgt_words: torch.Tensor, src_present: torch.Tensor,
                tgt_present: torch.Tensor, synonyms: torch.Tensor) -> torch.Tensor:
        synonyms = synonyms.long()  # indices and cross-entropy targets (an int32 tensor works too)
        src_units, tgt_units = synonyms.unbind(-1)  # (B, P) each
        valid = src_units >= 0  # (B, P)
        rows = valid.nonzero()[:, 0]  # (N,) batch row of each synonym pair
        src_index, tgt_index = src_units[valid], tgt_units[valid]  # (N,), (N,)
        if rows.numel() == 0:
            return (src_words.sum() + tgt_words.sum()) * 0.0
        if not (src_present[rows, src_index].all() and tgt_present[rows, tgt_index].all()):
            raise ValueError("A synonym pair points at a unit that has no token (truncated or padding); the collator "
                             "must drop pairs whose spans were cut")
        with autocast_off(src_words):  # similarities and soft-max in fp32 under mixed precision
            src_words = F.normalize(upcast(src_words), dim=-1)
            tgt_words = F.normalize(upcast(tgt_words), dim=-1)
            loss_s2t = self._direction(src_words, tgt_words, tgt_present, valid, rows, src_units, src_index,
                                       tgt_index)
            loss_t2s = self._direction(tgt_words, src_words, src_present, valid, rows, tgt_units, tgt_index,
                                       src_index)
        return (loss_s2t + loss_t2s) / 2
