"""Collators: pad a list of tokenized examples and build the inputs of each objective.

Collators return ``{input_name: batch}`` (``mmlm``, ``tlm``, ``pairs``) so that the module can route every input to
its objectives, the same way whether a datamodule is used alone or inside the composite one. Masking itself is
:class:`~veco_lightning.data.masking.Masker`, shared by the MMLM and TLM views.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from veco_lightning.data.masking import Masker
from veco_lightning.data.tokenizer import boundary_ids
from veco_lightning.losses.masked_lm import IGNORE_INDEX


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int, multiple_of: int | None = None) -> torch.Tensor:
    """Right-pad id lists to a ``(B, L)`` tensor, L optionally rounded up to a multiple (tensor-core friendly)."""
    length = max(len(s) for s in sequences)
    if multiple_of:
        length = -(-length // multiple_of) * multiple_of
    out = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out


def pad_pairs(rows: Sequence[Sequence[int] | Sequence[tuple[int, int]]]) -> torch.Tensor:
    """Index pairs per example -> ``(B, P, 2)``, padded with -1. A row is flat ``[i0, j0, i1, j1, ...]`` (as cached)
    or a list of ``(i, j)`` tuples."""
    flat = [[int(x) for pair in row for x in (pair if isinstance(pair, (tuple, list)) else (pair,))] for row in rows]
    width = max(1, *(len(r) // 2 for r in flat))
    out = torch.full((len(flat), width, 2), -1, dtype=torch.long)
    for b, values in enumerate(flat):
        if values:
            out[b, : len(values) // 2] = torch.tensor(values, dtype=torch.long).view(-1, 2)
    return out


def collate_text(examples: list[dict[str, Any]], pad_id: int) -> dict[str, dict[str, torch.Tensor]]:
    """Clean (unmasked) token blocks, padded: the ``text`` input that ``predict`` embeds."""
    input_ids = pad_sequences([e["input_ids"] for e in examples], pad_id)
    return {"text": {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long()}}


class MLMCollator:
    """Pads examples and masks them for masked-LM training (MMLM).

    Args:
        tokenizer: gives the special, pad and mask ids and the word-start table.
        mlm_probability: fraction of tokens predicted.
        whole_word_mask: mask all sub-words of a word together (SentencePiece-aware, see ``masking.py``).
        mask_replace_prob: of the selected tokens, the fraction replaced by ``<mask>``.
        random_replace_prob: of the selected tokens, the fraction replaced by a random token.
        pad_to_multiple_of: round the padded length up (8 suits tensor cores).
        key: the input name the batch is returned under.
        deterministic: masks that depend on the batch's tokens only, not on the run's seed: validation batches get
            the same masks in every epoch and every run, so validation losses compare across runs. (Training masks
            depend on the run's seed and the tokens; see ``masking.py``.)
    """

    def __init__(
        self,
        tokenizer,
        mlm_probability: float = 0.15,
        whole_word_mask: bool = False,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        pad_to_multiple_of: int | None = None,
        key: str = "mmlm",
        deterministic: bool = False,
    ) -> None:
        self.masker = Masker.for_tokenizer(tokenizer, mlm_probability, mask_replace_prob, random_replace_prob,
                                           whole_word_mask, seed=0 if deterministic else None)
        self.pad_to_multiple_of = pad_to_multiple_of
        self.key = key
        self.pad_id = tokenizer.pad_token_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, dict[str, torch.Tensor]]:
        input_ids = pad_sequences([e["input_ids"] for e in examples], self.pad_id, self.pad_to_multiple_of)
        attention_mask = (input_ids != self.pad_id).long()  # (B, L)
        masked, labels = self.masker(input_ids)
        return {self.key: {"input_ids": masked, "attention_mask": attention_mask, "labels": labels}}


class ParallelCollator:
    """Builds, from tokenized pairs, the TLM view and the two clean views of the contrastive objectives.

    ``tlm``: ``<s> x </s></s> y </s>`` (XLM-R's pair format), masked on both sides by the masker (VECO: 25%, 80/10/10);
    with ``restart_positions`` the position ids of y restart (XLM's TLM). ``pairs``: ``<s> x </s>`` and ``<s> y </s>``
    unmasked, for sentence- and token-level contrast, with ``src_keys`` / ``tgt_keys`` sentence identities.

    ``tlm_fraction`` < 1 builds the TLM view from only the first ``ceil(tlm_fraction * batch)`` pairs of the batch
    (at least one), while the contrastive views keep every pair: the contrastive losses want many in-batch
    negatives, TLM does not, so this buys a large contrastive batch at a fraction of TLM's compute.
    """

    def __init__(self, tokenizer, masker: Masker, restart_positions: bool = False, with_tlm: bool = True,
                 with_pairs: bool = True, tlm_fraction: float = 1.0) -> None:
        if not 0.0 < tlm_fraction <= 1.0:
            raise ValueError(f"tlm_fraction must be in (0, 1], got {tlm_fraction}")
        (self.bos, self.eos), self.pad = boundary_ids(tokenizer), tokenizer.pad_token_id
        self.masker = masker
        self.restart_positions = restart_positions
        self.with_tlm, self.with_pairs = with_tlm, with_pairs
        self.tlm_fraction = tlm_fraction

    def _views(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        views: dict[str, Any] = {}
        for side in ("src", "tgt"):
            ids = pad_sequences([[self.bos, *e[side], self.eos] for e in examples], self.pad)
            views[side] = {"input_ids": ids, "attention_mask": (ids != self.pad).long()}
            # Sentence identities, equal for equal token sequences on every rank (hashes of int tuples do not
            # depend on PYTHONHASHSEED): the contrastive loss never counts a copy of the positive as a negative.
            views[f"{side}_keys"] = torch.tensor([hash(tuple(e[side])) for e in examples], dtype=torch.long)
        return views

    def _tlm(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        sequences = [[self.bos, *e["src"], self.eos, self.eos, *e["tgt"], self.eos] for e in examples]
        ids = pad_sequences(sequences, self.pad)
        attention_mask = (ids != self.pad).long()
        masked, labels = self.masker(ids)
        batch = {"input_ids": masked, "attention_mask": attention_mask, "labels": labels}
        if self.restart_positions:
            # XLM-R positions start at pad + 1 and skip padding; y's restart after "<s> x </s>".
            positions = torch.full_like(ids, self.pad)
            for row, e in enumerate(examples):
                first = len(e["src"]) + 2
                positions[row, :first] = torch.arange(first) + self.pad + 1
                rest = len(sequences[row]) - first
                positions[row, first : first + rest] = torch.arange(rest) + self.pad + 1
            batch["position_ids"] = positions
        return batch

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if self.with_tlm:
            out["tlm"] = self._tlm(examples[: max(1, math.ceil(self.tlm_fraction * len(examples)))])
        if self.with_pairs:
            out["pairs"] = self._views(examples)
        return out


class SynonymCollator(ParallelCollator):
    """:class:`ParallelCollator` plus the word units and synonym pairs of synonym-aligned data
    (:mod:`veco_lightning.data.units`).

    ``pairs`` gains ``src.word_index`` / ``tgt.word_index`` ``(B, L)`` (-1 on ``<s>``, ``</s>``, padding and tokens
    outside every unit) and ``synonyms`` ``(B, P, 2)``; ``tlm`` gains ``word_index`` ``(B', L')`` in the concatenated
    coordinates (target units offset by the batch's largest source unit count), ``synonyms`` and ``num_src_units``
    (that offset).
    """

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out = super().__call__(examples)
        if "pairs" in out:
            for side in ("src", "tgt"):
                out["pairs"][side]["word_index"] = pad_sequences([[-1, *e[f"{side}_words"], -1] for e in examples], -1)
            out["pairs"]["synonyms"] = pad_pairs([e["synonyms"] for e in examples])
        if "tlm" in out:
            rows = examples[: out["tlm"]["input_ids"].shape[0]]
            offset = max(1, *(max(e["src_words"], default=-1) + 1 for e in rows))
            out["tlm"]["word_index"] = pad_sequences(
                [[-1, *e["src_words"], -1, -1, *(u + offset if u >= 0 else -1 for u in e["tgt_words"]), -1]
                 for e in rows], -1)
            out["tlm"]["synonyms"] = pad_pairs(
                [[u + offset if k % 2 else u for k, u in enumerate(e["synonyms"])] for e in rows])
            out["tlm"]["num_src_units"] = offset
        return out


# Padding value of each (B, L, ...) tensor when batches of different lengths are joined.
_PAD_VALUES = {"attention_mask": 0, "labels": IGNORE_INDEX, "word_index": -1, "synonyms": -1}


def _cat_padded(tensors: list[torch.Tensor], value: int) -> torch.Tensor:
    """Concatenate along dim 0 after right-padding dim 1 to the longest."""
    length = max(t.shape[1] for t in tensors)
    return torch.cat([torch.nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, length - t.shape[1]), value=value)
                      for t in tensors])


def join_inputs(parts: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Join the same input kind (``tlm`` or ``pairs``) from several sources into one batch, rows in source order.

    Used when parallel and synonym-aligned data feed the same step: one TLM forward and one contrastive batch, whose
    in-batch negatives span both sources. Rows of a source without word units get ``word_index`` -1 and no synonym
    pairs; in the TLM view, target units keep the largest offset (``num_src_units``) of the sources that have units.
    """
    if len(parts) == 1:
        return parts[0]
    if any(("src" in p) != ("src" in parts[0]) for p in parts):
        raise ValueError("join_inputs: cannot join a TLM view with a pairs view")
    if "src" in parts[0]:  # pairs: two clean sides plus keys and synonyms
        out: dict[str, Any] = {side: _join_views([p[side] for p in parts], pad_id) for side in ("src", "tgt")}
        for key in ("src_keys", "tgt_keys"):
            if all(key in p for p in parts):
                out[key] = torch.cat([p[key] for p in parts])
        if any("synonyms" in p for p in parts):
            out["synonyms"] = _cat_padded([p.get("synonyms", _no_pairs(p["src"])) for p in parts], -1)
        return out
    offsets = [p["num_src_units"] for p in parts if "num_src_units" in p]
    if offsets:  # re-base target units on the largest source unit count
        parts = [_rebase_tlm_units(p, max(offsets)) for p in parts]
    out = _join_views(parts, pad_id)
    if offsets:
        out["num_src_units"] = max(offsets)
    return out


def _no_pairs(view: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.full((view["input_ids"].shape[0], 1, 2), -1, dtype=torch.long)


def _join_views(views: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    tensors = [{k: v for k, v in view.items() if isinstance(v, torch.Tensor)} for view in views]
    if len({"position_ids" in t for t in tensors}) > 1:
        raise ValueError("Cannot join TLM views with and without position_ids: give the parallel and synonym sources "
                         "the same restart_positions")
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for t in tensors for k in t):
        if key == "synonyms":
            out[key] = _cat_padded([t.get(key, _no_pairs(t)) for t in tensors], -1)
        elif key == "word_index":
            out[key] = _cat_padded([t.get(key, torch.full_like(t["input_ids"], -1)) for t in tensors], -1)
        else:
            value = pad_id if key in ("input_ids", "position_ids") else _PAD_VALUES[key]
            out[key] = _cat_padded([t[key] for t in tensors], value)
    return out


def _rebase_tlm_units(view: dict[str, Any], offset: int) -> dict[str, Any]:
    if "num_src_units" not in view or view["num_src_units"] == offset:
        return view
    shift = offset - view["num_src_units"]
    index = view["word_index"]
    word_index = torch.where(index >= view["num_src_units"], index + shift, index)
    synonyms = view["synonyms"].clone()
    synonyms[..., 1] = torch.where(synonyms[..., 1] >= 0, synonyms[..., 1] + shift, -1)
    return {**view, "word_index": word_index, "synonyms": synonyms, "num_src_units": offset}
