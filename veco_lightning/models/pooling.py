"""Pooling token states into sentence vectors and word vectors.

Shared by evaluation (retrieval, alignment) and by the contrastive objectives, so that what is trained is what is
measured.
"""

from __future__ import annotations

from typing import Literal

import torch

SentencePooling = Literal["mean", "cls"]
WordPooling = Literal["mean", "first"]


def select_layer(hidden_states: tuple[torch.Tensor, ...], layer: int) -> torch.Tensor:
    """Pick one layer from ``output_hidden_states``: index 0 is the embedding output, ``l`` the output of layer
    ``l`` (XTREME's "layer 14 of 24" is ``layer=14``), negative indices count from the top (-1 = last)."""
    if not -len(hidden_states) <= layer < len(hidden_states):
        raise ValueError(
            f"layer={layer} but the encoder has {len(hidden_states) - 1} layers "
            f"(valid: 0..{len(hidden_states) - 1}, or negative to count from the top)"
        )
    return hidden_states[layer]


def pool_sentences(hidden: torch.Tensor, attention_mask: torch.Tensor,
                   method: SentencePooling = "mean") -> torch.Tensor:
    """``(B, L, D)`` -> ``(B, D)``: the ``<s>`` state (``cls``) or the mean over real tokens (``mean``; padding is
    excluded, special tokens included as in XTREME's and LASER-style evaluations)."""
    if method == "cls":
        return hidden[:, 0]
    if method != "mean":
        raise ValueError(f"Unknown pooling {method!r}: use 'mean' or 'cls'")
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def pool_words(
    hidden: torch.Tensor, word_index: torch.Tensor, num_words: int, method: WordPooling = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Word vectors from sub-word states.

    Args:
        hidden: ``(B, L, D)`` token states.
        word_index: ``(B, L)`` index of the word each token belongs to, -1 for tokens outside any word (special
            tokens, padding, punctuation).
        num_words: W, the number of word slots per sequence (at least the largest word index + 1).
        method: ``mean`` of a word's sub-word states, or the ``first`` sub-word's state.

    Returns:
        ``(words, present)``: ``(B, W, D)`` vectors and a ``(B, W)`` mask of the words that have a token.
    """
    batch, length, dim = hidden.shape
    valid = word_index >= 0  # (B, L)
    slot = torch.where(valid, word_index, num_words)  # invalid tokens go to an overflow slot, dropped below
    if method == "first":
        # The first token of a word is the one whose predecessor belongs to another word.
        previous = torch.cat([torch.full_like(word_index[:, :1], -2), word_index[:, :-1]], dim=1)
        valid = valid & (previous != word_index)
        slot = torch.where(valid, word_index, num_words)
    elif method != "mean":
        raise ValueError(f"Unknown word pooling {method!r}: use 'mean' or 'first'")
    index = slot.unsqueeze(-1).expand(batch, length, dim)
    sums = hidden.new_zeros(batch, num_words + 1, dim).scatter_add_(1, index, hidden)  # (B, W+1, D)
    counts = hidden.new_zeros(batch, num_words + 1).scatter_add_(1, slot, valid.to(hidden.dtype))  # (B, W+1)
    words = sums[:, :num_words] / counts[:, :num_words].clamp(min=1.0).unsqueeze(-1)
    return words, counts[:, :num_words] > 0
