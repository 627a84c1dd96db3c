"""Masked language modelling with a sparse LM head (MMLM and TLM).

The vocabulary projection is the most expensive matrix product of a multilingual encoder: with V = 250k and
D = 1024 it costs more than a whole Transformer layer per token. Only the ~15% masked positions have a label,
so :class:`MaskedLMLoss` gathers those hidden states first and projects only them. That removes the
B x L x V logits tensor from memory and most of the head's FLOPs, and gives exactly the loss and gradients of the
usual full projection followed by ``ignore_index`` cross-entropy (``tests/losses/test_masked_lm.py`` checks it).

The head itself is the stock ``XLMRobertaLMHead`` (dense -> GELU -> LayerNorm -> decoder tied to the input
embeddings), so the exported model is a standard ``XLMRobertaForMaskedLM``.

References:
    - Conneau & Lample, "Cross-lingual Language Model Pretraining" (XLM), NeurIPS 2019 (MLM / TLM).
    - Conneau et al., "Unsupervised Cross-lingual Representation Learning at Scale" (XLM-R), ACL 2020.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from veco_lightning.losses.utils import upcast

IGNORE_INDEX = -100


class MaskedLMLoss(nn.Module):
    """Cross-entropy of the LM head's predictions at the masked positions only.

    Used for both MMLM (monolingual blocks) and TLM (concatenated translation pairs): the objective is the same,
    only the input differs.

    Args:
        lm_head: maps hidden states ``(N, D)`` to vocabulary logits ``(N, V)``.

    Inputs:
        hidden_states: ``(B, L, D)`` final encoder states.
        labels: ``(B, L)`` original token ids at masked positions, ``-100`` elsewhere.

    Returns:
        ``(loss, num_masked)``: mean cross-entropy over masked tokens, and how many there were (for logging
        and for weighting across devices).
    """

    def __init__(self, lm_head: nn.Module) -> None:
        super().__init__()
        self.lm_head = lm_head

    def forward(self, hidden_states: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        selected = labels != IGNORE_INDEX  # (B, L)
        masked_states = hidden_states[selected]  # (N, D), N = number of masked tokens
        targets = labels[selected]  # (N,)
        logits = self.lm_head(masked_states)  # (N, V)
        # Cross-entropy in fp32: under bf16 autocast the log-softmax over 250k entries loses precision.
        loss = F.cross_entropy(upcast(logits), targets)
        return loss, selected.sum()


def full_head_mlm_loss(lm_head: nn.Module, hidden_states: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The usual dense computation (project every position, ignore unlabelled ones): the reference that
    :class:`MaskedLMLoss` must equal, and what the stock ``XLMRobertaForMaskedLM.forward`` does."""
    logits = lm_head(hidden_states)  # (B, L, V)
    return F.cross_entropy(upcast(logits.flatten(0, 1)), labels.flatten(), ignore_index=IGNORE_INDEX)
