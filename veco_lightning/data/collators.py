"""Collators: pad a list of tokenized examples and apply the objective's masking.

Collators return ``{objective_name: batch}`` so that the module can route every sub-batch to its objective, the
same way whether a datamodule is used alone or inside the composite one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from veco_lightning.data.masking import apply_mask, select_for_masking
from veco_lightning.data.tokenizer import word_start_table


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int, multiple_of: int | None = None) -> torch.Tensor:
    """Right-pad id lists to a ``(B, L)`` tensor, L optionally rounded up to a multiple (tensor-core friendly)."""
    length = max(len(s) for s in sequences)
    if multiple_of:
        length = -(-length // multiple_of) * multiple_of
    out = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


class MLMCollator:
    """Pads examples and masks them for masked-LM training (MMLM, and TLM with a higher rate).

    Args:
        tokenizer: gives the special, pad and mask ids and the word-start table.
        mlm_probability: fraction of tokens predicted (15% for MMLM; VECO used 25% for TLM).
        whole_word_mask: mask all sub-words of a word together (SentencePiece-aware, see ``masking.py``).
        mask_replace_prob: of the selected tokens, the fraction replaced by ``<mask>``.
        random_replace_prob: of the selected tokens, the fraction replaced by a random token.
        pad_to_multiple_of: round the padded length up (8 suits tensor cores).
        key: the objective name the batch is returned under.
        deterministic: draw the mask from a generator seeded by the batch's content instead of the global RNG,
            so that validation batches get the same mask every epoch and validation losses are comparable.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        mlm_probability: float = 0.15,
        whole_word_mask: bool = False,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        pad_to_multiple_of: int | None = None,
        key: str = "mmlm",
        deterministic: bool = False,
    ) -> None:
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        if mask_replace_prob + random_replace_prob > 1.0:
            raise ValueError("mask_replace_prob + random_replace_prob must not exceed 1")
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.pad_to_multiple_of = pad_to_multiple_of
        self.key = key
        self.deterministic = deterministic
        self.pad_id = tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        vocab_size = len(tokenizer)
        self.is_special = torch.zeros(vocab_size, dtype=torch.bool)  # (V,)
        self.is_special[tokenizer.all_special_ids] = True
        self.random_token_ids = (~self.is_special).nonzero().squeeze(1)
        self.word_starts = word_start_table(tokenizer) if whole_word_mask else None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, dict[str, torch.Tensor]]:
        input_ids = pad_sequences([e["input_ids"] for e in examples], self.pad_id, self.pad_to_multiple_of)
        attention_mask = (input_ids != self.pad_id).long()  # (B, L)
        eligible = ~self.is_special[input_ids]
        generator = None
        if self.deterministic:
            positions = torch.arange(1, input_ids.shape[1] + 1)
            generator = torch.Generator().manual_seed(int((input_ids * positions).sum()))
        selected = select_for_masking(input_ids, eligible, self.mlm_probability, self.word_starts, generator)
        masked, labels = apply_mask(
            input_ids, selected, self.mask_id, self.random_token_ids, self.mask_replace_prob,
            self.random_replace_prob, generator,
        )
        return {self.key: {"input_ids": masked, "attention_mask": attention_mask, "labels": labels}}
