"""BERT-style token masking, per token or per whole word, on batched id tensors.

Plain tensor functions, and :class:`Masker`, the one masking table (special ids, random-token pool, 80/10/10 rates,
word starts) that the MMLM and TLM collators share, so that every masking option means the same for both.

A batch's mask is drawn from a generator seeded by the run's seed and the batch's token ids, never from the global
random state: it is the same whichever process collates the batch (a loader worker, the main process, a resumed run
re-collating a batch it had prefetched before it was killed) and it leaves the global state to dropout, so a run
resumed from a checkpoint continues exactly.

Whole-word masking needs to know where words start. ``word_starts`` is a boolean lookup over the vocabulary
(built by :func:`veco_lightning.data.tokenizer.word_start_table`): for SentencePiece vocabularies a word starts
at a ``▁`` piece, not at the absence of ``##`` as the stock ``DataCollatorForWholeWordMask`` assumes (which for
XLM-R treats every piece as a word start, i.e. silently does token masking).
"""

from __future__ import annotations

import hashlib

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


class Masker:
    """Masks batches of token ids for a masked-LM objective: select ``probability`` of the maskable tokens (per token
    or per whole word), then corrupt them 80/10/10.

    Args:
        vocab_size: size of the id space.
        special_ids: ids never masked (and never drawn as random replacements): ``<s>``, ``</s>``, ``<pad>``...
        mask_token_id: the ``<mask>`` id.
        probability: expected fraction of maskable tokens selected (15% for MMLM; VECO used 25% for TLM).
        mask_replace_prob: of the selected tokens, the fraction replaced by ``<mask>``.
        random_replace_prob: of the selected tokens, the fraction replaced by a random non-special token.
        word_starts: ``(V,)`` bool table of word-start ids for whole-word masking (``None``: token masking).
        seed: seed of the masks, combined with each batch's token ids (default: the seed of torch's global generator
            when the masker is built, i.e. the run's ``seed_everything``).
    """

    def __init__(self, vocab_size: int, special_ids: list[int], mask_token_id: int, probability: float = 0.15,
                 mask_replace_prob: float = 0.8, random_replace_prob: float = 0.1,
                 word_starts: torch.Tensor | None = None, seed: int | None = None) -> None:
        if not 0.0 < probability < 1.0:
            raise ValueError(f"the masking probability must be in (0, 1), got {probability}")
        if mask_replace_prob + random_replace_prob > 1.0:
            raise ValueError("mask_replace_prob + random_replace_prob must not exceed 1")
        self.probability = probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.mask_token_id = mask_token_id
        self.is_special = torch.zeros(vocab_size, dtype=torch.bool)  # (V,)
        self.is_special[special_ids] = True
        self.random_token_ids = (~self.is_special).nonzero().squeeze(1)
        self.word_starts = word_starts
        self.seed = torch.initial_seed() if seed is None else seed

    @classmethod
    def for_tokenizer(cls, tokenizer, probability: float = 0.15, mask_replace_prob: float = 0.8,
                      random_replace_prob: float = 0.1, whole_word_mask: bool = False,
                      seed: int | None = None) -> Masker:
        """The masker of a transformers tokenizer (its special ids, ``<mask>`` and, for whole words, word starts)."""
        from veco_lightning.data.tokenizer import word_start_table

        return cls(len(tokenizer), tokenizer.all_special_ids, tokenizer.mask_token_id, probability, mask_replace_prob,
                   random_replace_prob, word_start_table(tokenizer) if whole_word_mask else None, seed)

    def generator_for(self, input_ids: torch.Tensor) -> torch.Generator:
        """The generator of one batch's mask: seeded by the masker's seed and the batch's token ids."""
        digest = hashlib.blake2b(input_ids.cpu().numpy().tobytes(), digest_size=8,
                                 key=self.seed.to_bytes(8, "little", signed=False)).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)

    def __call__(self, input_ids: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(masked_input_ids, labels)`` for ``(B, L)`` ids (padding is special, so it is never masked); the mask comes
        from :meth:`generator_for` unless a generator is given."""
        generator = generator if generator is not None else self.generator_for(input_ids)
        eligible = ~self.is_special[input_ids]  # (B, L)
        selected = select_for_masking(input_ids, eligible, self.probability, self.word_starts, generator)
        return apply_mask(input_ids, selected, self.mask_token_id, self.random_token_ids, self.mask_replace_prob,
                          self.random_replace_prob, generator)
