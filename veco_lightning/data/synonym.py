"""Synonym-aligned parallel data: translation pairs with the dictionary synonym pairs mined in them, for the
token-to-token contrastive loss (DESIGN.md §3.4).

Mining happens once, while the pairs are tokenized, and is cached with them. Each side of a pair is cut into
*units*: every mined synonym phrase is one unit, every other word one unit. What is stored per pair:

- ``src`` / ``tgt``: token ids (no special tokens), as :class:`~veco_lightning.data.parallel.ParallelDataModule`;
- ``src_words`` / ``tgt_words``: for every token, the index of the unit it belongs to (-1: none; punctuation,
  spaces). A token overlapping two units (``不喜欢吃`` may span two words) belongs to the first;
- ``synonyms``: ``[src unit, tgt unit]`` pairs, stored flat (``[i0, j0, i1, j1, ...]``). A pair is kept only if
  truncation left both units whole.

The collator turns these into padding-safe tensors: ``word_index`` ``(B, L)`` aligned with each clean view
(``-1`` on ``<s>``, ``</s>`` and padding) and ``synonyms`` ``(B, P, 2)`` padded with ``-1``. The TLM view gets the
same in its concatenated coordinates (target units offset by the batch's largest source unit count), for the option
of computing the token loss on the TLM input.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from veco_lightning.data.cache import file_identity
from veco_lightning.data.collators import pad_sequences
from veco_lightning.data.dictionary import BilingualDictionary, dictionary_for
from veco_lightning.data.languages import to_iso1
from veco_lightning.data.mining import MiningStats, SynonymMiner, default_stop_words
from veco_lightning.data.parallel import ParallelCollator, ParallelDataModule, encode_with_offsets
from veco_lightning.data.readers import expand_globs, resolve_path

log = logging.getLogger(__name__)

STATS_FILE = "mining_stats.json"
CACHE_FORMAT = "synonym-cache-2"  # part of the cache key: change it whenever the stored columns change
# Per-pair statistics emitted by the map function (the MiningStats fields, then the pairs that survive truncation).
STAT_FIELDS = ("sentence_pairs", "pairs_with_synonyms", "synonym_pairs", "multi_word_pairs", "src_words", "tgt_words",
               "src_covered", "tgt_covered", "kept_after_truncation")


def units_of(words: list[tuple[str, int, int]],
             phrases: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """Character spans of a side's units (synonym phrases merged, every other word alone), in text order, and the
    unit index of each phrase.

    Args:
        words: the side's segmentation, ``(text, start, end)``.
        phrases: word ranges ``[first, last + 1)`` of the mined phrases (disjoint).
    """
    starts = {first: (k, last) for k, (first, last) in enumerate(phrases)}
    spans: list[tuple[int, int]] = []
    unit_of_phrase = [0] * len(phrases)
    w = 0
    while w < len(words):
        if w in starts:
            k, last = starts[w]
            unit_of_phrase[k] = len(spans)
            spans.append((words[w][1], words[last - 1][2]))
            w = last
        else:
            spans.append((words[w][1], words[w][2]))
            w += 1
    return spans, unit_of_phrase


def token_units(spans: list[tuple[int, int]], offsets: list[tuple[int, int]]) -> list[int]:
    """The unit index of every token (-1: outside every unit): the first unit its characters overlap. A unit cut by
    truncation (it ends after the last token) gets no token, so it is absent rather than represented by a fragment.

    One merge pass over the two sorted, disjoint span lists (written out rather than through
    :func:`~veco_lightning.data.mining.char_spans_to_token_spans` because this runs for every word of every pair)."""
    index = [-1] * len(offsets)
    last_end = max([end for _, end in offsets], default=0)
    u, n = 0, len(spans)
    for t, (start, end) in enumerate(offsets):
        if end <= start:  # special or empty token
            continue
        while u < n and spans[u][1] <= start:
            u += 1
        if u == n:
            break
        if spans[u][0] < end and spans[u][1] <= last_end:
            index[t] = u
    return index


class SynonymCollator(ParallelCollator):
    """:class:`ParallelCollator` plus the unit maps and synonym pairs of :mod:`veco_lightning.data.synonym`.

    ``pairs`` gains ``src.word_index`` / ``tgt.word_index`` ``(B, L)`` and ``synonyms`` ``(B, P, 2)``; ``tlm`` gains
    ``word_index`` ``(B', L')``, ``synonyms`` and ``num_src_units`` (the offset of the target units).
    """

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out = super().__call__(examples)
        if "pairs" in out:
            for side in ("src", "tgt"):
                out["pairs"][side]["word_index"] = pad_sequences([[-1, *e[f"{side}_words"], -1] for e in examples], -1)
            out["pairs"]["synonyms"] = _synonym_tensor([e["synonyms"] for e in examples])
        if "tlm" in out:
            rows = examples[: out["tlm"]["input_ids"].shape[0]]
            offset = max(1, *(max(e["src_words"], default=-1) + 1 for e in rows))
            out["tlm"]["word_index"] = pad_sequences(
                [[-1, *e["src_words"], -1, -1, *(u + offset if u >= 0 else -1 for u in e["tgt_words"]), -1]
                 for e in rows], -1)
            out["tlm"]["synonyms"] = _synonym_tensor(
                [[u + offset if k % 2 else u for k, u in enumerate(e["synonyms"])] for e in rows])
            out["tlm"]["num_src_units"] = offset
        return out


def _synonym_tensor(rows: list[list[int]]) -> torch.Tensor:
    """Flat ``[i0, j0, i1, j1, ...]`` rows (as cached) -> ``(B, P, 2)``, padded with -1."""
    width = max(1, *(len(r) // 2 for r in rows))
    out = torch.full((len(rows), width, 2), -1, dtype=torch.long)
    for b, flat in enumerate(rows):
        if flat:
            out[b, : len(flat) // 2] = torch.tensor(flat, dtype=torch.long).view(-1, 2)
    return out


class SynonymAlignedDataModule(ParallelDataModule):
    """Translation pairs plus their dictionary synonym pairs (token spans), for the token contrastive loss; also
    feeds TLM and the sequence contrast like :class:`~veco_lightning.data.parallel.ParallelDataModule`, alone or
    inside :class:`~veco_lightning.data.composite.VecoDataModule` (``data.synonym``).

    Language pairs without a dictionary still train every other objective (their pairs carry no synonyms), unless
    ``induce`` builds one from the training pairs (:func:`veco_lightning.data.induction.induce_dictionary`).
    Mining statistics per language pair (synonym pairs per sentence pair, coverage) are logged, stored beside the
    cache and kept in :attr:`mining_stats`.

    Args:
        files: language pair (``de-en``: source language, then target language) -> source.
        dictionaries: language pair (either direction, ``en-de`` or ``de-en``) -> MUSE-style dictionary file(s),
            whose columns follow the key's order.
        stop_words: drop synonym pairs whose source or target side is made only of built-in stop words.
        max_synonyms: keep at most this many synonym pairs per sentence pair (the best-ranked; ``None``: all).
        max_word_chars: longest dictionary match when segmenting a side written without spaces.
        induce: for language pairs with no dictionary, induce one from their training pairs.
        induction: keyword options of ``induce_dictionary`` (``min_count``, ``min_dice``, ...).
        **kwargs: the arguments of :class:`~veco_lightning.data.parallel.ParallelDataModule`.
    """

    _cache_kind = "synonym"
    _columns = ("src", "tgt", "src_words", "tgt_words", "synonyms")

    def __init__(
        self,
        dictionaries: dict[str, str | list[str]] | None = None,
        stop_words: bool = True,
        max_synonyms: int | None = None,
        max_word_chars: int = 8,
        induce: bool = False,
        induction: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dictionaries = dictionaries or {}
        self.stop_words = stop_words
        self.max_synonyms = max_synonyms
        self.max_word_chars = max_word_chars
        self.induce = induce
        self.induction = induction or {}
        self.mining_stats: dict[str, dict[str, Any]] = {}

    @staticmethod
    def languages(pair: str) -> tuple[str, str]:
        src, sep, tgt = pair.partition("-")
        if not sep or not src or not tgt:
            raise ValueError(f"Language pair {pair!r} must be named 'src-tgt' (e.g. de-en) for dictionary lookup")
        return to_iso1(src), to_iso1(tgt)

    def _dictionary_files(self, pair: str) -> list[str]:
        src, tgt = self.languages(pair)
        for key, files in self.dictionaries.items():
            if set(map(to_iso1, key.split("-", 1))) == {src, tgt}:
                return [resolve_path(p) for p in ([files] if isinstance(files, str) else files)]
        return []

    def _cache_extra(self, pair: str) -> list:
        files = self._dictionary_files(pair)
        return [CACHE_FORMAT, file_identity(expand_globs(files)) if files else None, self.stop_words, self.max_synonyms,
                self.max_word_chars, self.induce and not files, self.induction if self.induce and not files else None]

    def dictionary(self, pair: str) -> BilingualDictionary | None:
        """The ``src -> tgt`` dictionary of a language pair: configured, induced, or ``None``."""
        src, tgt = self.languages(pair)
        found = dictionary_for(self.dictionaries, src, tgt)
        if found is None and self.induce:
            from veco_lightning.data.induction import induce_dictionary

            train_src, train_tgt = self._split(pair)[0]
            found = induce_dictionary(zip(train_src, train_tgt), src, tgt, **self.induction)
        return found

    def _mining_fn(self, pair: str) -> tuple[Callable[[dict[str, list]], dict[str, list]], BilingualDictionary | None]:
        """The batched map function that tokenizes and mines (it also emits a ``_stats`` column per pair, see
        :data:`STAT_FIELDS`, so that statistics survive multi-process mapping), and the pair's dictionary."""
        src_lang, tgt_lang = self.languages(pair)
        tokenizer, side_length = self.tokenizer, (self.max_length - 4) // 2
        dictionary = self.dictionary(pair)
        if dictionary is None:
            log.warning("%s: no dictionary (configure data.synonym.dictionaries or induce: true); its pairs train "
                        "every objective but the token contrast", pair)
        stops = {lang: default_stop_words(lang) for lang in (src_lang, tgt_lang)} if self.stop_words else None
        miner = (SynonymMiner(dictionary, src_lang, tgt_lang, stops, self.max_synonyms, self.max_word_chars)
                 if dictionary is not None else None)

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            encoded = {side: encode_with_offsets(tokenizer, batch[side], side_length) for side in ("src", "tgt")}
            out: dict[str, list] = {side: [ids for ids, _ in encoded[side]] for side in ("src", "tgt")}
            out["length"] = [len(a) + len(b) + 4 for a, b in zip(out["src"], out["tgt"])]
            out["src_words"], out["tgt_words"], out["synonyms"], out["_stats"] = [], [], [], []
            for k, (src_text, tgt_text) in enumerate(zip(batch["src"], batch["tgt"])):
                src_offsets, tgt_offsets = encoded["src"][k][1], encoded["tgt"][k][1]
                if miner is None:
                    out["src_words"].append([-1] * len(src_offsets))
                    out["tgt_words"].append([-1] * len(tgt_offsets))
                    out["synonyms"].append([])
                    out["_stats"].append([0] * len(STAT_FIELDS))
                    continue
                pairs, src_words, tgt_words = miner(src_text, tgt_text)
                src_spans, src_units = units_of(src_words, [p.src_words for p in pairs])
                tgt_spans, tgt_units = units_of(tgt_words, [p.tgt_words for p in pairs])
                src_index, tgt_index = token_units(src_spans, src_offsets), token_units(tgt_spans, tgt_offsets)
                present_src, present_tgt = set(src_index), set(tgt_index)
                synonyms = [u for i, j in zip(src_units, tgt_units) if i in present_src and j in present_tgt
                            for u in (i, j)]  # flat [i0, j0, i1, j1, ...]: a flat Arrow list is cheap to write
                out["src_words"].append(src_index)
                out["tgt_words"].append(tgt_index)
                out["synonyms"].append(synonyms)
                src_covered = sum(p.src_words[1] - p.src_words[0] for p in pairs)
                tgt_covered = sum(p.tgt_words[1] - p.tgt_words[0] for p in pairs)
                multi = sum((p.src_words[1] - p.src_words[0] > 1) or (p.tgt_words[1] - p.tgt_words[0] > 1)
                            for p in pairs)
                out["_stats"].append([1, int(bool(pairs)), len(pairs), multi, len(src_words), len(tgt_words),
                                      src_covered, tgt_covered, len(synonyms) // 2])
            return out

        return tokenize, dictionary

    def prepare_data_for(self, pair: str) -> None:
        tokenize, dictionary = self._mining_fn(pair)
        begin = time.perf_counter()
        table = self._tokenize(pair, tokenize)
        per_pair = np.asarray(table["_stats"], dtype=np.int64).reshape(-1, len(STAT_FIELDS))
        totals = dict(zip(STAT_FIELDS, map(int, per_pair.sum(0))))
        kept = totals.pop("kept_after_truncation")
        stats = MiningStats(**totals, seconds=time.perf_counter() - begin)
        table.remove_columns("_stats").save_to_disk(self._cache_path(pair))
        record = {**asdict(stats), "pairs_per_sentence_pair": stats.mean_per_pair, "src_coverage": stats.src_coverage,
                  "tgt_coverage": stats.tgt_coverage, "kept_after_truncation": kept,
                  "dictionary": None if dictionary is None else {"sources": list(dictionary.sources),
                                                                 "entries": dictionary.entries}}
        with open(os.path.join(self._cache_path(pair), STATS_FILE), "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)
        if dictionary is not None:
            log.info("Synonym mining %s: %s; %d pairs kept after truncation", pair, stats.summary(), kept)

    def setup(self, stage: str | None = None) -> None:
        if self.train_sets:
            return
        super().setup(stage)
        for pair in self.files:
            stats_path = os.path.join(self._cache_path(pair), STATS_FILE)
            if os.path.exists(stats_path):
                with open(stats_path, encoding="utf-8") as handle:
                    self.mining_stats[pair] = json.load(handle)
        log.info("Synonym pairs per sentence pair: %s", {
            p: round(s["kept_after_truncation"] / max(1, s["sentence_pairs"]), 2) if s["dictionary"] else None
            for p, s in self.mining_stats.items()})

    def _collator(self) -> SynonymCollator:
        return SynonymCollator(self.tokenizer, self.tlm_probability, self.restart_positions, self.tlm,
                               self.contrastive, self.tlm_fraction)
