"""BERT-style token masking, per token or per whole word, on batched id tensors.

Plain tensor functions so that MMLM and TLM collators share one implementation, and tests can check the rates.

Whole-word masking needs to know where words start. ``word_starts`` is a boolean lookup over the vocabulary
(built by :func:`veco_lightning.data.tokenizer.word_start_table`): for SentencePiece vocabularies a word starts
at a ``▁`` piece, not at the absence of ``##`` as the stock ``DataCollatorForWholeWordMask`` assumes (which for
XLM-R treats every piece as a word start, i.e. silently does token masking).
"""

from __future__ import annotations

import torch

from veco_lightning.losses.masked_lm import IGNORE_INDEX


def select_for_masking(
    input_ids: torch.Tensor,
    eligible: torch.Tensor,
    probability: float,
    word_starts: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Choose the positions to predict.

    Args:
        input_ids: ``(B, L)`` token ids.
        eligible: ``(B, L)`` True where a token may be masked (not special, not padding).
        probability: expected fraction of eligible tokens selected.
        word_starts: optional ``(V,)`` bool table; when given, whole words are selected together (each word is
            drawn with ``probability``, so the expected token rate stays ``probability``).
        generator: random source, for reproducible masks.

    Returns:
        ``(B, L)`` bool, at least one selected position in every row that has an eligible token (so that a
        short sequence never contributes an empty, NaN loss).
    """
    batch, length = input_ids.shape
    positions = torch.arange(length).expand(batch, length)
    word_start_pos = positions  # token masking: every token is its own word
    if word_starts is not None:
        starts = word_starts.to(input_ids.device)[input_ids] | ~eligible  # specials and pads split words
        # Position of each token's word start: running max of the start positions seen so far.
        word_start_pos = torch.where(starts, positions, torch.zeros_like(positions)).cummax(dim=1).values
    noise = torch.rand(batch, length, generator=generator).gather(1, word_start_pos)  # one draw per word
    selected = (noise < probability) & eligible
    empty_rows = ~selected.any(dim=1) & eligible.any(dim=1)
    if empty_rows.any():
        pick = torch.where(eligible, torch.rand(batch, length, generator=generator), -1.0).argmax(dim=1)  # (B,)
        same_word = word_start_pos == word_start_pos.gather(1, pick[:, None])  # (B, L)
        selected |= same_word & eligible & empty_rows[:, None]
    return selected


def apply_mask(
    input_ids: torch.Tensor,
    selected: torch.Tensor,
    mask_token_id: int,
    random_token_ids: torch.Tensor,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt the selected positions: ``mask_replace_prob`` become ``<mask>``, ``random_replace_prob`` a random
    (non-special) token, the rest stay unchanged (the 80/10/10 rule of BERT / XLM-R).

    Returns:
        ``(masked_input_ids, labels)``, labels holding the original id at selected positions and -100 elsewhere.
    """
    labels = torch.where(selected, input_ids, IGNORE_INDEX)
    draw = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (draw < mask_replace_prob)
    to_random = selected & (draw >= mask_replace_prob) & (draw < mask_replace_prob + random_replace_prob)
    random_tokens = random_token_ids[torch.randint(len(random_token_ids), input_ids.shape, generator=generator)]
    masked = input_ids.masked_fill(to_mask, mask_token_id)
    masked = torch.where(to_random, random_tokens.to(input_ids.dtype), masked)
    return masked, labels
