"""The alignment heads: what turns encoder states into the sequence- and token-level contrastive losses.

A head is a plain ``nn.Module``: it picks a layer's states, pools them (sentences: ``cls`` or mask-aware ``mean``;
words: mean or first sub-word of each unit), optionally projects them (Linear -> GELU -> Linear), and applies its loss
(``losses/sequence_contrastive.py``, ``losses/token_contrastive.py``). The pooling is the one evaluation uses
(``models/pooling.py``), so that what is trained is what is measured. :class:`~veco_lightning.module.VecoPretrainModule`
composes one head of each kind; the option dataclasses below are their configuration (``model.seq_contrast``,
``model.tok_contrast``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from veco_lightning.losses.sequence_contrastive import SequenceContrastiveLoss
from veco_lightning.losses.token_contrastive import TokenContrastiveLoss, TokenNegatives
from veco_lightning.models.pooling import SentencePooling, WordPooling, pool_sentences, pool_words


@dataclass
class SequenceContrastOptions:
    """Sequence-to-sequence contrast on translation pairs (see ``losses/sequence_contrastive.py``).

    Args:
        temperature: τ of cos / τ.
        learnable_temperature: learn τ.
        margin: additive margin on the positive (LaBSE: 0.3).
        gather: negatives from all ranks, gathered with gradient.
        pooling: sentence vector: ``cls`` or mask-aware ``mean``.
        layer: hidden layer pooled (-1: last; see ``models/pooling.select_layer``).
        projection_dim: add a projection head (Linear -> GELU -> Linear) of this size on top of the pooled vector;
            ``None`` contrasts the pooled vector itself.
    """

    temperature: float = 0.05
    learnable_temperature: bool = False
    margin: float = 0.0
    gather: bool = True
    pooling: SentencePooling = "cls"
    layer: int = -1
    projection_dim: int | None = None


@dataclass
class TokenContrastOptions:
    """Token-to-token contrast on dictionary synonym pairs (see ``losses/token_contrastive.py``).

    Args:
        temperature: τ of cos / τ.
        learnable_temperature: learn τ.
        negatives: ``instance`` (the other words of the partner sentence) or ``batch`` (also the words of the other
            pairs in the batch).
        pooling: word vector: ``mean`` of its sub-word states or the ``first`` sub-word's.
        layer: hidden layer the words are pooled from (-1: last).
        projection_dim: add a projection head (Linear -> GELU -> Linear) of this size on the word vectors.
        input: ``pairs``: the clean separate encodings the sequence contrast uses (no extra forward pass);
            ``tlm``: the TLM-concatenated (masked) input, sharing the TLM forward pass.
    """

    temperature: float = 0.1
    learnable_temperature: bool = False
    negatives: TokenNegatives = "instance"
    pooling: WordPooling = "mean"
    layer: int = -1
    projection_dim: int | None = None
    input: Literal["pairs", "tlm"] = "pairs"


torch.serialization.add_safe_globals([SequenceContrastOptions, TokenContrastOptions])  # weights_only checkpoints


def projection(hidden_size: int, dim: int | None) -> nn.Module:
    """Linear -> GELU -> Linear to ``dim`` (SimCLR / InfoXLM style), or the identity when ``dim`` is ``None``."""
    if not dim:
        return nn.Identity()
    return nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, dim))


class SequenceAlignmentHead(nn.Module):
    """Sentence-level alignment of translation pairs: pool -> project -> symmetric InfoNCE.

    Args:
        hidden_size: the encoder's width.
        pooling, layer, projection_dim, temperature, learnable_temperature, margin, gather: see
            :class:`SequenceContrastOptions`.

    Inputs:
        hidden: ``(2B, L, D)`` states of layer ``layer``: the B source sentences, then their B translations.
        attention_mask: ``(2B, L)``.
        src_keys, tgt_keys: optional ``(B,)`` sentence identities (copies of the positive are not negatives).
    """

    def __init__(self, hidden_size: int, pooling: SentencePooling = "cls", layer: int = -1,
                 projection_dim: int | None = None, temperature: float = 0.05, learnable_temperature: bool = False,
                 margin: float = 0.0, gather: bool = True) -> None:
        super().__init__()
        self.pooling, self.layer = pooling, layer
        self.projection = projection(hidden_size, projection_dim)
        self.loss = SequenceContrastiveLoss(temperature=temperature, learnable_temperature=learnable_temperature,
                                            margin=margin, gather=gather)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor, src_keys: torch.Tensor | None = None,
                tgt_keys: torch.Tensor | None = None) -> torch.Tensor:
        batch = hidden.shape[0] // 2
        vectors = self.projection(pool_sentences(hidden, attention_mask, self.pooling))  # (2B, D')
        return self.loss(vectors[:batch], vectors[batch:], src_keys, tgt_keys)


class TokenAlignmentHead(nn.Module):
    """Word-level alignment of dictionary synonyms: pool units -> project -> symmetric InfoNCE over the partner
    sentence's units (or the batch's).

    Args:
        hidden_size: the encoder's width.
        pooling, layer, projection_dim, temperature, learnable_temperature, negatives: see
            :class:`TokenContrastOptions`.
    """

    def __init__(self, hidden_size: int, pooling: WordPooling = "mean", layer: int = -1,
                 projection_dim: int | None = None, temperature: float = 0.1, learnable_temperature: bool = False,
                 negatives: TokenNegatives = "instance") -> None:
        super().__init__()
        self.pooling, self.layer = pooling, layer
        self.projection = projection(hidden_size, projection_dim)
        self.loss = TokenContrastiveLoss(temperature=temperature, learnable_temperature=learnable_temperature,
                                         negatives=negatives)

    def forward(self, hidden: torch.Tensor, word_index: torch.Tensor, synonyms: torch.Tensor) -> torch.Tensor:
        """On separately encoded sides.

        Args:
            hidden: ``(2B, L, D)`` states: the B source sentences, then the B target sentences.
            word_index: ``(2B, L)`` unit of every token (-1: none).
            synonyms: ``(B, P, 2)`` ``(src unit, tgt unit)`` pairs, -1 padded.
        """
        batch = hidden.shape[0] // 2
        words, present = pool_words(hidden, word_index, int(word_index.max()) + 1, self.pooling)  # (2B, U, D)
        words = self.projection(words)
        return self.loss(words[:batch], words[batch:], present[:batch], present[batch:], synonyms)

    def concatenated(self, hidden: torch.Tensor, word_index: torch.Tensor, synonyms: torch.Tensor,
                     num_src_units: int) -> torch.Tensor:
        """On the TLM input ``<s> x </s></s> y </s>``.

        Args:
            hidden: ``(B, L, D)`` states.
            word_index: ``(B, L)`` unit of every token: source units ``[0, num_src_units)``, target units after.
            synonyms: ``(B, P, 2)`` ``(src unit, tgt unit)`` pairs in those coordinates, -1 padded.
            num_src_units: the offset of the target units.
        """
        num_units = max(num_src_units + 1, int(word_index.max()) + 1)
        words, present = pool_words(hidden, word_index, num_units, self.pooling)  # (B, U, D)
        words = self.projection(words)
        offset = torch.tensor([0, num_src_units], device=synonyms.device)
        tgt_synonyms = torch.where(synonyms >= 0, synonyms - offset, -1)  # target units re-based at 0
        return self.loss(words[:, :num_src_units], words[:, num_src_units:], present[:, :num_src_units],
                         present[:, num_src_units:], tgt_synonyms)
