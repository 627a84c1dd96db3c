"""Parallel sentence pairs for translation LM (TLM) and sequence-level contrastive learning."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from torch.utils.data import ConcatDataset
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerBase

from veco_lightning.data.base import TokenizedDataModule
from veco_lightning.data.cache import cache_path, file_identity
from veco_lightning.data.collators import pad_sequences
from veco_lightning.data.masking import apply_mask, select_for_masking
from veco_lightning.data.readers import expand_globs, iter_lines
from veco_lightning.data.sampling import LanguageSampler

log = logging.getLogger(__name__)


def encode_with_offsets(tokenizer: PreTrainedTokenizerBase, texts: list[str],
                        max_length: int) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """``(ids, character offsets)`` of each text, no special tokens, cut to ``max_length`` tokens.

    Calls the fast tokenizer's Rust backend directly: the ``transformers`` wrapper's conversion of every encoding to
    Python lists and dicts costs more than the tokenization itself at this scale (both give the same ids; cutting a
    single sequence without special tokens is what ``truncation=True`` does). Slow tokenizers go through the wrapper.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        encoded = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_length,
                            return_offsets_mapping=True)
        return list(zip(encoded["input_ids"], encoded["offset_mapping"]))
    return [(e.ids[:max_length], e.offsets[:max_length])
            for e in backend.encode_batch(texts, add_special_tokens=False)]


@dataclass
class ParallelSource:
    """The sentence pairs of one language pair.

    Give one of: ``path`` (TSV ``src<TAB>tgt`` or JSON lines with ``src_field`` / ``tgt_field``; globs), ``src`` and
    ``tgt`` (two line-aligned files), or ``hub`` (a Hugging Face dataset; a ``translation`` column of
    ``{lang: text}`` dicts, as OPUS sets have, is read with the pair's language codes).

    Args:
        path: TSV or jsonl file(s).
        src: line-aligned source file.
        tgt: line-aligned target file.
        hub: hub dataset name (needs network or a local hub cache).
        hub_config: its configuration name.
        hub_split: its split.
        src_field: source field of jsonl / hub records.
        tgt_field: target field of jsonl / hub records.
        lines: ``[first, last)`` range of pairs to use (e.g. ``[0, -200]`` to keep the tail for evaluation).
    """

    path: str | list[str] | None = None
    src: str | None = None
    tgt: str | None = None
    hub: str | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    src_field: str = "src"
    tgt_field: str = "tgt"
    lines: list[int | None] = field(default_factory=lambda: [0, None])


def read_parallel(source: ParallelSource, pair: str) -> tuple[list[str], list[str]]:
    """All ``(src, tgt)`` sentences of a source; malformed lines are errors naming file and line."""
    src_lang, _, tgt_lang = pair.partition("-")
    if source.hub is not None:
        table = datasets.load_dataset(source.hub, source.hub_config, split=source.hub_split)
        if "translation" in table.column_names:
            rows = table["translation"]
            src, tgt = [r[src_lang] for r in rows], [r[tgt_lang] for r in rows]
        else:
            src, tgt = table[source.src_field], table[source.tgt_field]
    elif source.path is not None:
        src, tgt = [], []
        for path in expand_globs(source.path, f" (pair {pair!r})"):
            if path.endswith((".jsonl", ".json")):
                for field_name, out in ((source.src_field, src), (source.tgt_field, tgt)):
                    out.extend(r["text"] for r in iter_lines([path], text_field=field_name))
                if len(src) != len(tgt):
                    raise ValueError(f"{path}: some records lack {source.src_field!r} or {source.tgt_field!r}")
                continue
            with open(path, encoding="utf-8") as handle:
                for line_no, line in enumerate(handle, start=1):
                    parts = line.rstrip("\r\n").split("\t")
                    if len(parts) != 2:
                        raise ValueError(f"{path}:{line_no}: expected 'source<TAB>target', found {len(parts)} field(s)")
                    src.append(parts[0])
                    tgt.append(parts[1])
    elif source.src is not None and source.tgt is not None:
        src_file, tgt_file = expand_globs(source.src)[0], expand_globs(source.tgt)[0]
        with open(src_file, encoding="utf-8") as a, open(tgt_file, encoding="utf-8") as b:
            src, tgt = [x.rstrip("\r\n") for x in a], [y.rstrip("\r\n") for y in b]
        if len(src) != len(tgt):
            raise ValueError(f"{src_file} has {len(src)} lines, {tgt_file} has {len(tgt)}: they must be line-aligned")
    else:
        raise ValueError(f"Parallel source {pair!r} needs path, src + tgt, or hub")
    first, last = source.lines
    return src[first:last], tgt[first:last]


class ParallelCollator:
    """Builds, from tokenized pairs, the TLM view and the two clean views of the contrastive objectives.

    ``tlm``: ``<s> x </s></s> y </s>`` (XLM-R's pair format), masked on both sides at ``tlm_probability`` with the
    80/10/10 rule; with ``restart_positions`` the position ids of y restart (XLM's TLM). ``pairs``: ``<s> x </s>``
    and ``<s> y </s>`` unmasked, for sentence- and token-level contrast.

    ``tlm_fraction`` < 1 builds the TLM view from only the first ``ceil(tlm_fraction * batch)`` pairs of the batch
    (at least one), while the contrastive views keep every pair: the contrastive losses want many in-batch
    negatives, TLM does not, so this buys a large contrastive batch at a fraction of TLM's compute.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, tlm_probability: float = 0.25,
                 restart_positions: bool = False, with_tlm: bool = True, with_pairs: bool = True,
                 tlm_fraction: float = 1.0) -> None:
        if not 0.0 < tlm_fraction <= 1.0:
            raise ValueError(f"tlm_fraction must be in (0, 1], got {tlm_fraction}")
        self.bos, self.eos, self.pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        self.tlm_probability = tlm_probability
        self.restart_positions = restart_positions
        self.with_tlm, self.with_pairs = with_tlm, with_pairs
        self.tlm_fraction = tlm_fraction
        special = torch.zeros(len(tokenizer), dtype=torch.bool)
        special[tokenizer.all_special_ids] = True
        self.is_special = special
        self.random_token_ids = (~special).nonzero().squeeze(1)

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
        selected = select_for_masking(ids, ~self.is_special[ids], self.tlm_probability)
        masked, labels = apply_mask(ids, selected, self.mask_id, self.random_token_ids)
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


class ParallelDataModule(TokenizedDataModule):
    """Translation pairs per language pair, tokenized once and cached, sampled with exponential smoothing and
    batched by length; each batch carries a TLM view and two clean views (see :class:`ParallelCollator`).

    The last ``val_pairs`` pairs of every source are held out of training; the composite datamodule scores them
    in validation (retrieval, and synonym retrieval where a dictionary is configured).

    Args:
        files: language pair (``de-en``) -> source.
        tokenizer: tokenizer directory or name (the composite datamodule sets it through ``connect``).
        max_length: longest TLM sequence; each side is cut to ``(max_length - 4) // 2`` tokens so that the pair
            fits (VECO: 128 per pair).
        batch_size: pairs per batch on each device.
        alpha: language-pair sampling exponent (q ∝ p^alpha).
        tlm_probability: TLM masking rate (VECO: 25% for bilingual data).
        restart_positions: restart y's position ids in the TLM view (XLM style; off as in XLM-R / VECO).
        tlm: produce the TLM view.
        tlm_fraction: share of each batch's pairs that also form the TLM view (the contrastive views always use
            all of them); below 1 it trades TLM compute for contrastive batch size.
        contrastive: produce the clean views for the contrastive objectives.
        val_pairs: pairs per language pair held out for validation.
        bucket_batches: batches per length-sorting window (0: no bucketing).
        samples_per_epoch: pairs drawn per epoch over all ranks (default: all training pairs).
        num_workers: loader workers.
        num_proc: processes that tokenize (and mine) each language pair in ``prepare_data`` (``None``: this one).
        cache_dir: where tokenized pairs are stored.
        seed: sampling seed.
    """

    def __init__(
        self,
        files: dict[str, ParallelSource],
        tokenizer: str | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        alpha: float = 0.3,
        tlm_probability: float = 0.25,
        restart_positions: bool = False,
        tlm: bool = True,
        tlm_fraction: float = 1.0,
        contrastive: bool = True,
        val_pairs: int = 200,
        bucket_batches: int = 50,
        samples_per_epoch: int | None = None,
        num_workers: int = 0,
        num_proc: int | None = None,
        cache_dir: str = ".cache/veco_lightning",
        seed: int = 0,
    ) -> None:
        super().__init__(tokenizer)
        if not files:
            raise ValueError("ParallelDataModule needs files: {de-en: {path: ...}}")
        self.files = files
        self.max_length = max_length
        self.batch_size = batch_size
        self.alpha = alpha
        self.tlm_probability = tlm_probability
        self.restart_positions = restart_positions
        self.tlm, self.contrastive = tlm, contrastive
        self.tlm_fraction = tlm_fraction
        self.val_pairs = val_pairs
        self.bucket_batches = bucket_batches
        self.samples_per_epoch = samples_per_epoch
        self.num_workers = num_workers
        self.num_proc = num_proc
        self.cache_dir = cache_dir
        self.seed = seed
        self.train_sets: dict[str, datasets.Dataset] = {}
        self.lengths: dict[str, list[int]] = {}
        self.held_out: dict[str, tuple[list[str], list[str]]] = {}

    def _cache_path(self, pair: str) -> str:
        source = self.files[pair]
        files = [p for p in (source.src, source.tgt) if p] + ([] if source.path is None else expand_globs(source.path))
        identity = file_identity(expand_globs(files)) if files else [source.hub, source.hub_config, source.hub_split]
        return cache_path(self.cache_dir, self._cache_kind, pair, self.tokenizer, identity, vars(source),
                          self.max_length, self.val_pairs, *self._cache_extra(pair))

    _cache_kind = "parallel"
    _columns = ("src", "tgt")

    def _cache_extra(self, pair: str) -> list:
        """More cache-key parts (subclasses that store more per pair add their options here)."""
        return []

    def _tokenize_fn(self, pair: str) -> Callable[[dict[str, list]], dict[str, list]]:
        """The batched ``datasets.map`` function that turns ``{"src", "tgt"}`` texts into stored columns."""
        tokenizer, side_length = self.tokenizer, (self.max_length - 4) // 2

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            out = {}
            for side in ("src", "tgt"):
                out[side] = [ids for ids, _ in encode_with_offsets(tokenizer, batch[side], side_length)]
            out["length"] = [len(a) + len(b) + 4 for a, b in zip(out["src"], out["tgt"])]
            return out

        return tokenize

    def _collator(self) -> ParallelCollator:
        return ParallelCollator(self.tokenizer, self.tlm_probability, self.restart_positions, self.tlm,
                                self.contrastive, self.tlm_fraction)

    def _split(self, pair: str) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
        src, tgt = read_parallel(self.files[pair], pair)
        cut = len(src) - self.val_pairs if self.val_pairs else len(src)
        if cut <= 0:
            raise ValueError(f"{pair}: {len(src)} pairs cannot spare val_pairs={self.val_pairs} for validation")
        return (src[:cut], tgt[:cut]), (src[cut:], tgt[cut:])

    def prepare_data(self) -> None:
        for pair in self.files:
            if not os.path.exists(self._cache_path(pair)):
                self.prepare_data_for(pair)

    def prepare_data_for(self, pair: str) -> None:
        """Tokenize one language pair's training pairs and store them in the cache."""
        self._tokenize(pair, self._tokenize_fn(pair)).save_to_disk(self._cache_path(pair))

    def _tokenize(self, pair: str, tokenize: Callable[[dict[str, list]], dict[str, list]]) -> datasets.Dataset:
        """The pair's training pairs (empty sides dropped, with a warning) through ``tokenize``."""
        (src, tgt), _ = self._split(pair)
        kept = [(s, t) for s, t in zip(src, tgt) if s.strip() and t.strip()]
        if len(kept) < len(src):
            log.warning("%s: skipped %d pairs with an empty side", pair, len(src) - len(kept))
        raw = datasets.Dataset.from_dict({"src": [s for s, _ in kept], "tgt": [t for _, t in kept]})
        # Our own cache key names the result: without it datasets fingerprints the function by pickling it, with
        # every dictionary it closes over (seconds for a large dictionary).
        fingerprint = os.path.basename(self._cache_path(pair))
        return raw.map(tokenize, batched=True, num_proc=self.num_proc, desc=f"Tokenizing {pair}",
                       new_fingerprint=fingerprint)

    def setup(self, stage: str | None = None) -> None:
        if self.train_sets:
            return
        for pair in self.files:
            tokenized = datasets.load_from_disk(self._cache_path(pair))
            self.lengths[pair] = tokenized["length"]
            self.train_sets[pair] = tokenized.select_columns(list(self._columns))
            if self.val_pairs:
                self.held_out[pair] = self._split(pair)[1]
        log.info("Parallel training pairs: %s", {p: len(d) for p, d in self.train_sets.items()})

    def train_dataloader(self) -> StatefulDataLoader:
        pairs = list(self.train_sets)
        lengths = [n for p in pairs for n in self.lengths[p]]
        sampler = LanguageSampler(
            [len(self.train_sets[p]) for p in pairs], self.alpha, self.samples_per_epoch, seed=self.seed,
            lengths=lengths, batch_size=self.batch_size, bucket_batches=self.bucket_batches,
        )
        return StatefulDataLoader(
            ConcatDataset([self.train_sets[p] for p in pairs]),
            batch_size=self.batch_size,
            sampler=sampler,
            collate_fn=self._collator(),
            num_workers=self.num_workers,
            drop_last=True,  # equal batches on every rank: required by the cross-rank gather
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> list:
        return []  # held-out pairs are scored through the composite datamodule's evaluation sets
