"""Parallel sentence pairs for translation LM (TLM) and sequence-level contrastive learning."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
from torchdata.stateful_dataloader import StatefulDataLoader

from veco_lightning.data.base import SourceDataModule
from veco_lightning.data.cache import (
    PausedCycleCollection,
    file_identity,
    list_column_of,
    load_sharded,
    text_dataset,
    tokenizer_threads_kept,
    write_sharded,
)
from veco_lightning.data.collators import ParallelCollator
from veco_lightning.data.masking import Masker
from veco_lightning.data.readers import (
    MAX_LINE_CHARS,
    READER_VERSION,
    BadLinePolicy,
    ParallelSource,
    as_pair_source,
    check_pair_source,
    read_pairs,
)
from veco_lightning.data.tokenizer import encode_ids, source_tokenizer_cache
from veco_lightning.heap import frozen_heap
from veco_lightning.lexicon.languages import check_language, split_pair

log = logging.getLogger(__name__)

__all__ = ["ArrowLengths", "PairLengthKeys", "ParallelDataModule", "ParallelSource"]

HELD_OUT_FILE = "held_out.json"  # a prepared pair's validation pairs, beside its shards
_CACHE_FORMAT = "parallel-cache-3"  # part of the cache key: change it whenever the stored layout changes


def pair_columns(src: list[list[int]] | pa.Array, tgt: list[list[int]] | pa.Array, **more: Any) -> pa.Table:
    """A batch of tokenized pairs as stored: ``src`` and ``tgt`` token ids (lists, or :func:`list_column` arrays),
    ``length`` (both sides plus the 4 special tokens of a packed pair) and any ``more`` Arrow columns."""
    columns = {side: ids if isinstance(ids, pa.Array) else list_column_of(ids) for side, ids in (("src", src),
                                                                                                ("tgt", tgt))}
    lengths = np.diff(columns["src"].offsets.to_numpy()) + np.diff(columns["tgt"].offsets.to_numpy()) + 4
    return pa.table({**columns, "length": lengths.astype(np.int64), **more})


class ArrowLengths:
    """Example lengths of concatenated sets (a length column, or the lengths of the lists of a list column), read on
    demand from their memory-mapped Arrow columns: the length bucketing of
    :class:`~veco_lightning.data.sampling.LanguageSampler` without a copy per rank (a Python list of 100 M lengths
    takes 3.6 GB)."""

    def __init__(self, columns: list[pa.ChunkedArray]) -> None:
        self.columns = columns
        self.starts = np.cumsum([0, *(len(c) for c in columns)])
        self._bounds: dict[int, np.ndarray] = {}  # column -> first row of each of its chunks

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        which = np.searchsorted(self.starts, index, side="right") - 1
        out = np.empty(len(index), dtype=np.int64)
        for k in np.unique(which):
            chosen = which == k
            out[chosen] = self.columns[k].take(pa.array(index[chosen] - self.starts[k])).to_numpy()
        return out

    def list_lengths(self, index: np.ndarray) -> np.ndarray:
        """The number of elements of the lists at ``index``, for list columns (token ids): read from the offsets of
        the chunks that hold them. (``take`` on a chunked list column concatenates every chunk first, in pyarrow 26
        too: 8 s a call at 10 M rows.)"""
        index = np.asarray(index, dtype=np.int64)
        which = np.searchsorted(self.starts, index, side="right") - 1
        out = np.empty(len(index), dtype=np.int64)
        for k in np.unique(which):
            chosen = np.flatnonzero(which == k)
            local = index[chosen] - self.starts[k]
            bounds = self._chunk_starts(k)
            chunk = np.searchsorted(bounds, local, side="right") - 1
            for c in np.unique(chunk):
                rows = chunk == c
                offsets = self.columns[k].chunk(int(c)).offsets.to_numpy()  # zero-copy; slices respected
                row = local[rows] - bounds[c]
                out[chosen[rows]] = offsets[row + 1] - offsets[row]
        return out

    def _chunk_starts(self, k: int) -> np.ndarray:
        if k not in self._bounds:
            self._bounds[k] = np.cumsum([0, *(len(chunk) for chunk in self.columns[k].chunks)])[:-1]
        return self._bounds[k]


class PairLengthKeys:
    """Length-bucketing keys of translation pairs, read on demand from the memory-mapped token columns (as
    :class:`ArrowLengths`), chosen for the views each batch feeds:

    * the TLM view alone: the concatenated length (both sides plus 4 special tokens), which sets its padding;
    * the clean views (the sequence and token contrast, with or without TLM): the longer side first, then the
      concatenated length. The two sides go through the encoder as one ``(2B, L)`` batch padded to the longest
      side in it, so sorting by the concatenated length alone leaves much of it padding (a short source beside a
      long target). Over an epoch of the NTREX (d) data, sorting by the longer side first cuts the padding of
      those batches from 15.9% to 8.1% while the TLM view's grows from 1.4% to 5.4%: 2.6% fewer encoder
      positions in all (``benchmarks/padding.py``).
    """

    def __init__(self, src: list[pa.ChunkedArray], tgt: list[pa.ChunkedArray], contrastive: bool = True) -> None:
        self.src, self.tgt = ArrowLengths(src), ArrowLengths(tgt)
        self.contrastive = contrastive

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        src, tgt = self.src.list_lengths(index), self.tgt.list_lengths(index)
        total = src + tgt + 4
        if not self.contrastive:
            return total
        # Lexicographic as one integer: a side holds far fewer than 2^31 tokens.
        return (np.maximum(src, tgt) << 32) + total


class ParallelDataModule(SourceDataModule):
    """Translation pairs per language pair, tokenized once and cached, sampled with exponential smoothing and
    batched by length; each batch carries a TLM view and two clean views (see
    :class:`~veco_lightning.data.collators.ParallelCollator`).

    The last ``val_pairs`` pairs of every source are held out of training; the composite datamodule scores them
    in validation (retrieval, and synonym retrieval where a dictionary is configured).

    Pairs are read by :func:`~veco_lightning.data.readers.read_pairs`: a bad pair (an empty side, a malformed line,
    invalid UTF-8, a control character, a side longer than ``max_line_chars``) is an error naming ``file:line``, or
    with ``on_bad_line: skip`` a skip counted per file. The cache is keyed by the files' identity (path, size,
    modification time): a file edited in place is read again.

    Args:
        files: language pair (``de-en``, codes ISO 639-1 or 639-3) -> source: ``{path: ...}`` (TSV or jsonl),
            ``{src: ..., tgt: ...}`` (line-aligned files) or ``{hub: ...}`` (see :class:`ParallelSource`); a bare path
            or glob (or a list of them) means ``{path: ...}``.
        tokenizer: tokenizer directory or name (the composite datamodule sets it through ``connect``).
        max_length: longest TLM sequence; each side is cut to ``(max_length - 4) // 2`` tokens so that the pair
            fits (VECO: 128 per pair).
        batch_size: pairs per batch on each device.
        alpha: language-pair sampling exponent (q ∝ p^alpha).
        tlm_probability: TLM masking rate (VECO: 25% for bilingual data).
        mask_replace_prob: of the TLM-selected tokens, the fraction replaced by ``<mask>``.
        random_replace_prob: of the TLM-selected tokens, the fraction replaced by a random token.
        whole_word_mask: TLM masks whole words (SentencePiece-aware) instead of single tokens.
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
        on_bad_line: ``error`` stops at the first bad pair (``file:line`` and the fix); ``skip`` skips bad pairs,
            counted per file with the first locations logged.
        max_line_chars: longest side of a pair, in characters.
        extra_languages: language codes to accept beyond the ISO 639-1 / 639-3 codes the package knows.
        prepared: train on what ``veco-prepare`` wrote to ``cache_dir``, never reading or tokenizing the pair files
            (the held-out pairs are stored with the prepared data).
        shard_rows: pairs per prepared shard.
        prepare_data_per_node: prepare on every node (node-local ``cache_dir``) or once (shared ``cache_dir``).
    """

    _cache_kind = "parallel"
    _columns = ("src", "tgt")

    def __init__(
        self,
        files: dict[str, str | list[str] | ParallelSource],
        tokenizer: str | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        alpha: float = 0.3,
        tlm_probability: float = 0.25,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        whole_word_mask: bool = False,
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
        on_bad_line: BadLinePolicy = "error",
        max_line_chars: int = MAX_LINE_CHARS,
        extra_languages: list[str] | None = None,
        prepared: bool = False,
        shard_rows: int = 1_000_000,
        prepare_data_per_node: bool = True,
    ) -> None:
        super().__init__(tokenizer, max_length, batch_size, alpha, samples_per_epoch, num_workers, num_proc, cache_dir,
                         seed, prepared, shard_rows, prepare_data_per_node)
        if not files:
            raise ValueError("ParallelDataModule needs files: {de-en: {path: ...}}")
        self.files = {pair: as_pair_source(source, pair) for pair, source in files.items()}
        self.tlm_probability = tlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.whole_word_mask = whole_word_mask
        self.restart_positions = restart_positions
        self.tlm, self.contrastive = tlm, contrastive
        self.tlm_fraction = tlm_fraction
        self.val_pairs = val_pairs
        self.bucket_batches = bucket_batches
        self.on_bad_line = on_bad_line
        self.max_line_chars = max_line_chars
        self.extra_languages = list(extra_languages or [])
        self.train_sets: dict[str, datasets.Dataset] = {}
        self.held_out: dict[str, tuple[list[str], list[str]]] = {}

    def source_names(self) -> list[str]:
        return list(self.files)

    def source_identity(self, pair: str) -> Any:
        source = self.files[pair]
        files = source.files()
        return file_identity(files) if files else [source.hub, source.hub_config, source.hub_split]

    def source_options(self, pair: str) -> list:
        return [_CACHE_FORMAT, READER_VERSION, vars(self.files[pair]), self.max_length, self.val_pairs,
                self.on_bad_line, self.max_line_chars, *self._cache_extra(pair)]

    def _cache_extra(self, pair: str) -> list:
        """More cache-key parts (subclasses that store more per pair add their options here)."""
        return []

    def _tokenize_fn(self, pair: str) -> Callable[[dict[str, list]], pa.Table]:
        """The batched ``datasets.map`` function that turns ``{"src", "tgt"}`` texts into stored columns."""
        tokenizer, side_length = self.tokenizer, (self.max_length - 4) // 2

        def tokenize(batch: dict[str, list]) -> pa.Table:
            return pair_columns(*(encode_ids(tokenizer, batch[side], side_length) for side in ("src", "tgt")))

        return tokenize

    def masker(self) -> Masker:
        """The TLM view's masking (rate, 80/10/10 split, whole words)."""
        return Masker.for_tokenizer(self.tokenizer, self.tlm_probability, self.mask_replace_prob,
                                    self.random_replace_prob, self.whole_word_mask)

    def collator(self) -> ParallelCollator:
        return ParallelCollator(self.tokenizer, self.masker(), self.restart_positions, self.tlm, self.contrastive,
                                self.tlm_fraction)

    def _split(self, pair: str) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
        src, tgt = read_pairs(self.files[pair], pair, self.on_bad_line, self.max_line_chars)
        cut = len(src) - self.val_pairs if self.val_pairs else len(src)
        if cut <= 0:
            raise ValueError(f"{pair}: {len(src)} pairs cannot spare val_pairs={self.val_pairs} for validation; set "
                             f"data.{self._cache_kind}.val_pairs below {len(src)} (0 holds out none)")
        return (src[:cut], tgt[:cut]), (src[cut:], tgt[cut:])

    def check_sources(self) -> None:
        """Every language pair's codes and files, checked before any pair is read."""
        for pair, source in self.files.items():
            for code in split_pair(pair, self.extra_languages):
                check_language(code, f"in language pair {pair!r}", self.extra_languages)
            check_pair_source(source, pair)

    def prepare_source(self, pair: str, path: str) -> dict[str, Any]:
        """Read a language pair, tokenize its training pairs (``num_proc`` processes) shard by shard into ``path``,
        and store its held-out pairs beside them (so that training never reads the pair files again)."""
        # Frozen from the start (as write_sharded freezes its map): the pairs read and a dictionary loaded here
        # (heap.long_lived) are not walked by the collections that follow.
        with frozen_heap():
            (src, tgt), (val_src, val_tgt) = self._split(pair)
            source_tokenizer_cache(self.tokenizer, 2 * len(src))
            function, finish = self._prepare_functions(pair)

            def complete(folder: str, summary: dict[str, Any]) -> None:
                with open(os.path.join(folder, HELD_OUT_FILE), "w", encoding="utf-8") as handle:
                    json.dump({"src": val_src, "tgt": val_tgt}, handle, ensure_ascii=False)
                finish(folder, summary)

            raw = text_dataset({"src": src, "tgt": tgt}, pair)
            del src, tgt
            return write_sharded(path, raw, function, shard_rows=self.shard_rows, num_proc=self.num_proc,
                                 desc=f"Tokenizing {pair}", on_complete=complete)

    def _prepare_functions(self, pair: str) -> tuple[Callable[[dict[str, list]], pa.Table],
                                                      Callable[[str, dict[str, Any]], None]]:
        """The batched map function of a pair and what to write beside its shards once they are done."""
        return self._tokenize_fn(pair), lambda folder, summary: None

    def prepare_data_for(self, pair: str) -> dict[str, Any]:
        """Prepare one language pair into its cache folder (whether or not it is there); returns its summary."""
        path = self.cache_location(pair)
        if os.path.exists(path):
            shutil.rmtree(path)
        return self.prepare_source(pair, path)

    def _tokenize(self, pair: str, tokenize: Callable[[dict[str, list]], pa.Table]) -> datasets.Dataset:
        """The pair's training pairs through ``tokenize``, in memory (for measurements; training uses the cache)."""
        (src, tgt), _ = self._split(pair)
        raw = text_dataset({"src": src, "tgt": tgt}, pair)
        # A fingerprint of our own: without it datasets fingerprints the function by pickling it, with every
        # dictionary it closes over (seconds for a large dictionary).
        with frozen_heap(), tokenizer_threads_kept():  # as write_sharded
            return raw.map(PausedCycleCollection(tokenize), batched=True, num_proc=self.num_proc,
                           desc=f"Tokenizing {pair}", new_fingerprint=f"{pair}-{os.getpid()}-{id(tokenize)}")

    def setup(self, stage: str | None = None) -> None:
        if self.train_sets:
            return
        for pair in self.files:
            path = self.cache_location(pair)
            tokenized = load_sharded(path)
            if tokenized._indices is not None:  # never: the cache is stored whole
                raise RuntimeError(f"{path}: a prepared dataset with an indices mapping")
            self.train_sets[pair] = tokenized.select_columns(list(self._columns))
            src_lang, tgt_lang = split_pair(pair, self.extra_languages)
            self.warn_unknown_tokens(pair, tokenized.data, {"src": src_lang, "tgt": tgt_lang})
            if self.val_pairs:
                with open(os.path.join(path, HELD_OUT_FILE), encoding="utf-8") as handle:
                    held_out = json.load(handle)
                self.held_out[pair] = (held_out["src"], held_out["tgt"])
        log.info("Parallel training pairs: %s", {p: len(d) for p, d in self.train_sets.items()})

    def train_dataloader(self) -> StatefulDataLoader:
        return self.sampled_loader(self.train_sets, self.collator(), self.length_keys(), self.bucket_batches)

    def length_keys(self) -> PairLengthKeys:
        """The bucketing keys of the training pairs (:class:`PairLengthKeys`) for this datamodule's views."""
        return PairLengthKeys([self.train_sets[pair].data.column("src") for pair in self.train_sets],
                              [self.train_sets[pair].data.column("tgt") for pair in self.train_sets], self.contrastive)

    def val_dataloader(self) -> list:
        return []  # held-out pairs are scored through the composite datamodule's evaluation sets
