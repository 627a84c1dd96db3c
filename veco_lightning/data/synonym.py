"""Synonym-aligned parallel data: translation pairs with the dictionary synonym pairs mined in them, for the
token-to-token contrastive loss.

Mining happens once, while the pairs are tokenized, and is cached with them. Each side of a pair is cut into
*units* (:mod:`veco_lightning.data.units`, the same units evaluation uses): every mined synonym phrase is one unit,
every other word one unit. What is stored per pair:

- ``src`` / ``tgt``: token ids (no special tokens), as :class:`~veco_lightning.data.parallel.ParallelDataModule`;
- ``src_words`` / ``tgt_words``: for every token, the index of the unit it belongs to (-1: none; punctuation,
  spaces);
- ``synonyms``: ``[src unit, tgt unit]`` pairs, stored flat (``[i0, j0, i1, j1, ...]``). A pair is kept only if
  truncation left both units whole.

The collator (:class:`~veco_lightning.data.collators.SynonymCollator`) turns these into padding-safe tensors for
the clean views and the TLM view.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from veco_lightning.data.cache import batch_stats, file_identity, list_column
from veco_lightning.data.collators import SynonymCollator
from veco_lightning.data.parallel import ParallelDataModule, pair_columns
from veco_lightning.data.readers import BadLinePolicy, expand_globs
from veco_lightning.data.token_mining import OffsetReader, PieceOffsets, TokenMiner, piece_texts, token_tables
from veco_lightning.data.tokenizer import encode_ids
from veco_lightning.data.units import BatchUnits, batch_units, match_texts_batch
from veco_lightning.hardware import available_cores
from veco_lightning.lexicon.dictionary import BilingualDictionary, dictionary_for
from veco_lightning.lexicon.languages import check_language, split_pair, to_iso1
from veco_lightning.lexicon.stopwords import default_stop_words
from veco_lightning.lexicon.synonyms import MiningStats, SynonymMiner
from veco_lightning.paths import resolve_path

log = logging.getLogger(__name__)

STATS_FILE = "mining_stats.json"
CACHE_FORMAT = "synonym-cache-2"  # part of the cache key: change it whenever the stored columns change


class SynonymAlignedDataModule(ParallelDataModule):
    """Translation pairs plus their dictionary synonym pairs (token spans), for the token contrastive loss; also
    feeds TLM and the sequence contrast like :class:`~veco_lightning.data.parallel.ParallelDataModule`, alone or
    inside :class:`~veco_lightning.datamodule.VecoDataModule` (``data.synonym``).

    Language pairs without a dictionary still train every other objective (their pairs carry no synonyms), unless
    ``induce`` builds one from the training pairs (:func:`veco_lightning.lexicon.induction.induce_dictionary`).
    Mining statistics per language pair (synonym pairs per sentence pair, coverage) are logged, stored beside the
    cache and kept in :attr:`mining_stats`.

    Args:
        dictionaries: language pair (either direction, ``en-de`` or ``de-en``) -> MUSE-style dictionary file(s),
            whose columns follow the key's order.
        stop_words: drop synonym pairs whose source or target side is made only of built-in stop words.
        max_synonyms: keep at most this many synonym pairs per sentence pair (the best-ranked; ``None``: all).
        max_word_chars: longest dictionary match when segmenting a side written without spaces.
        induce: for language pairs with no dictionary, induce one from their training pairs.
        induction: keyword options of ``induce_dictionary`` (``min_count``, ``min_dice``, ...).
        mining: ``text`` (default) segments both sides into normalised words, matches those and maps the matches onto
            the tokens through the tokenizer's offsets; ``tokens`` reads the words off the token ids, decodes each
            distinct word once and matches them the same way (:mod:`veco_lightning.data.token_mining`): no offsets,
            no segmentation, about half the overhead over tokenisation at scale. Its words are the tokenizer's, so
            the two can differ (a hyphenated word is several words); on NTREX it finds 99.6% of text mining's pairs
            (``benchmarks/mining_modes.py``). A side written without spaces (Chinese, Japanese, Thai) is cut as
            text mining cuts it, in the text its SentencePiece pieces spell; with a tokenizer of other pieces
            (byte-level BPE, WordPiece) such a pair is mined on text.
        on_bad_dictionary_line: a malformed dictionary line (not two fields, a side without a word, not UTF-8, a
            control character, longer than ``max_line_chars``): ``skip`` (default: public dictionaries such as MUSE
            hold a few odd lines) counts it per file and logs the first ``file:line``; ``error`` stops there. A
            dictionary with no entry is an error either way (the token loss of its pair would be a constant zero).
        **kwargs: the arguments of :class:`~veco_lightning.data.parallel.ParallelDataModule` (``on_bad_line`` applies
            to the pairs).
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
        mining: Literal["text", "tokens"] = "text",
        on_bad_dictionary_line: BadLinePolicy = "skip",
        **kwargs: Any,
    ) -> None:
        if mining not in ("text", "tokens"):
            raise ValueError(f"data.synonym.mining: {mining!r}; use 'text' (the default) or 'tokens'")
        super().__init__(**kwargs)
        self.dictionaries = dictionaries or {}
        self.stop_words = stop_words
        self.max_synonyms = max_synonyms
        self.max_word_chars = max_word_chars
        self.induce = induce
        self.induction = induction or {}
        if self.induction:
            import inspect

            from veco_lightning.lexicon.induction import induce_dictionary

            known = [name for name, param in inspect.signature(induce_dictionary).parameters.items()
                     if param.kind is inspect.Parameter.KEYWORD_ONLY]
            unknown = sorted(set(self.induction) - set(known))
            if unknown:  # checked here, not when the first pair without a dictionary is prepared
                raise ValueError(f"data.synonym.induction: unknown option(s) {unknown}; the options are "
                                 f"{', '.join(known)}")
        self.mining = mining
        self.on_bad_dictionary_line = on_bad_dictionary_line
        self._token_tables: tuple[np.ndarray, np.ndarray, list[str] | None] | None = None
        self._piece_offsets: PieceOffsets | None | bool = False  # False: not made yet
        self._mined_on: dict[str, str | None] = {}  # language pair -> "text" / "tokens" (None: no dictionary)
        self.mining_stats: dict[str, dict[str, Any]] = {}

    def languages(self, pair: str) -> tuple[str, str]:
        """The ISO 639-1 codes of a language pair's name (``deu-eng`` -> ``(de, en)``)."""
        src, tgt = split_pair(pair, self.extra_languages)
        return to_iso1(src), to_iso1(tgt)

    def check_sources(self) -> None:
        """The pairs' codes and files, and every dictionary's codes and files, checked before anything is read."""
        super().check_sources()
        for key, files in self.dictionaries.items():
            for code in split_pair(key, self.extra_languages):
                check_language(code, f"in dictionaries key {key!r}", self.extra_languages)
            for path in [files] if isinstance(files, str) else files:
                expand_globs(path, f" (dictionary {key!r})")
        pairs = {frozenset(self.languages(pair)): pair for pair in self.files}
        for key in self.dictionaries:
            if frozenset(map(to_iso1, split_pair(key, self.extra_languages))) not in pairs:
                # Not an error: a shared config may list more dictionaries than one run's pairs need.
                log.warning("data.synonym.dictionaries: %r matches no language pair of data.synonym.files (%s), so "
                            "it is not used; if it was meant for one of them, name the key after that pair's two "
                            "languages (either order)", key, ", ".join(self.files) or "none")

    def _dictionary_files(self, pair: str) -> list[str]:
        src, tgt = self.languages(pair)
        for key, files in self.dictionaries.items():
            if set(map(to_iso1, split_pair(key, self.extra_languages))) == {src, tgt}:
                return [resolve_path(p) for p in ([files] if isinstance(files, str) else files)]
        return []

    def _cache_extra(self, pair: str) -> list:
        files = self._dictionary_files(pair)
        return [CACHE_FORMAT, file_identity(expand_globs(files)) if files else None, self.on_bad_dictionary_line,
                self.stop_words, self.max_synonyms, self.max_word_chars, self.induce and not files,
                self.induction if self.induce and not files else None] + (["tokens"] if self.mining == "tokens" else [])

    def dictionary(self, pair: str) -> BilingualDictionary | None:
        """The ``src -> tgt`` dictionary of a language pair: configured, induced, or ``None``."""
        src, tgt = self.languages(pair)
        found = dictionary_for(self.dictionaries, src, tgt, strict=self.on_bad_dictionary_line == "error",
                               max_line_chars=self.max_line_chars)
        if found is None and self.induce:
            from veco_lightning.lexicon.induction import induce_dictionary

            train_src, train_tgt = self._split(pair)[0]
            found = induce_dictionary(zip(train_src, train_tgt), src, tgt, **self.induction)
        return found

    def miner(self, pair: str, dictionary: BilingualDictionary) -> SynonymMiner:
        """The pair's miner with this datamodule's options (stop words, cap, segmentation length)."""
        src_lang, tgt_lang = self.languages(pair)
        stops = {lang: default_stop_words(lang) for lang in (src_lang, tgt_lang)} if self.stop_words else None
        return SynonymMiner(dictionary, src_lang, tgt_lang, stops, self.max_synonyms, self.max_word_chars)

    def token_miner(self, pair: str, miner: SynonymMiner) -> TokenMiner | None:
        """The pair's :class:`~veco_lightning.data.token_mining.TokenMiner` with ``mining: tokens``; ``None`` with
        ``mining: text``, or when a side is written without spaces and the tokenizer's pieces do not spell its text
        (:func:`~veco_lightning.data.token_mining.piece_texts`: byte-level BPE, WordPiece); then the pair is mined on
        text."""
        if self.mining != "tokens":
            return None
        if self._token_tables is None:  # the tokenizer's word starts, kinds and piece texts, shared by every pair
            self._token_tables = token_tables(self.tokenizer)
        if not (miner.index.src_sep and miner.index.tgt_sep) and self._token_tables[2] is None:
            log.info("%s: a side is written without spaces and this tokenizer's pieces do not spell the text (not a "
                     "SentencePiece-style tokenizer), so its pairs are mined on text", pair)
            return None
        return TokenMiner(miner, self.tokenizer, *self._token_tables)

    def piece_offsets(self) -> PieceOffsets | None:
        """The tokenizer's :class:`~veco_lightning.data.token_mining.PieceOffsets` (made once), or ``None`` when it
        has no SentencePiece-style pieces (then text mining's offsets are always tracked)."""
        if self._piece_offsets is False:
            pieces = self._token_tables[2] if self._token_tables is not None else piece_texts(self.tokenizer)
            self._piece_offsets = PieceOffsets(pieces) if pieces is not None else None
        return self._piece_offsets

    def _mining_fn(self, pair: str) -> tuple[Callable[[dict[str, list]], pa.Table], BilingualDictionary | None]:
        """The batched map function that tokenizes and mines (it also emits a ``_stats`` column, the counts of
        :class:`~veco_lightning.data.units.PairUnits`, so that statistics survive multi-process mapping), and the
        pair's dictionary."""
        tokenizer, side_length = self.tokenizer, (self.max_length - 4) // 2
        dictionary = self.dictionary(pair)
        if dictionary is None and (self.dictionaries or self.induce):  # with none configured at all, nothing to warn
            log.warning("%s: no dictionary (configure data.synonym.dictionaries or induce: true); its pairs train "
                        "every objective but the token contrast", pair)
        miner = self.miner(pair, dictionary) if dictionary is not None else None
        if miner is not None:
            miner.batch_tables()  # here, so that forked num_proc workers inherit them
        token_miner = self.token_miner(pair, miner) if miner is not None else None
        self._mined_on[pair] = None if miner is None else "tokens" if token_miner is not None else "text"
        width = len(MiningStats.COUNTS) + 1  # the counts of PairUnits

        def unit_columns(src_ids: list[list[int]] | pa.Array, tgt_ids: list[list[int]] | pa.Array,
                         units: BatchUnits) -> pa.Table:
            return pair_columns(
                src_ids, tgt_ids, src_words=list_column(units.src_index, units.src_tokens),
                tgt_words=list_column(units.tgt_index, units.tgt_tokens),
                synonyms=list_column(units.synonyms, 2 * units.kept),
                _stats=batch_stats(units.counts.sum(0), len(units.counts)))

        # Text mining's offsets: read off the pieces where they spell the text (OffsetReader), else tracked.
        text_mining = miner is not None and token_miner is None
        readers = {side: OffsetReader(self.piece_offsets() if text_mining else None) for side in ("src", "tgt")}
        overlap = (self.num_proc or 1) < available_cores()  # a core free for the tokenizer's thread (below)

        def tokenize(batch: dict[str, list]) -> pa.Table:
            texts = {side: batch[side] for side in ("src", "tgt")}  # read here: datasets' lazy batch is not thread-safe
            if token_miner is not None:
                cut = token_miner.mine_texts(texts["src"], texts["tgt"], side_length)
                return unit_columns(list_column(cut.src_ids, cut.src_lengths),
                                    list_column(cut.tgt_ids, cut.tgt_lengths), cut.units)
            if miner is None:
                ids = {side: encode_ids(tokenizer, side_texts, side_length) for side, side_texts in texts.items()}
                matched = None
            else:
                # Tokenisation and mining side by side: the Rust tokenizer releases the GIL while it encodes, so
                # the Python segmentation and dictionary matching (which need only the texts) run meanwhile on the
                # other core; then each side's offsets are read and the token maps join the two. The thread only
                # encodes, one side after the other: reading each side's offsets there as well made the other
                # side's encoding wait for the GIL held by the matching (the map 0.953x its time this way, and
                # 0.987x again with the source side read while the target side may still encode;
                # benchmarks/results/thread_encodes/). The same result as one after the other. Without a free
                # core (num_proc workers on every core) the thread only adds switches: one after the other there
                # (the whole NTREX x5 preparation with num_proc 2 on 2 cores 0.94x its time, 0.97x in two earlier
                # runs; with num_proc 1 one after the other took 1.05x; benchmarks/results/no_free_core/).
                if not overlap:
                    matched = match_texts_batch(miner, texts["src"], texts["tgt"])
                    encoded = {side: readers[side](tokenizer, texts[side], side_length) for side in texts}
                else:
                    with ThreadPoolExecutor(max_workers=1) as pool:
                        pending = {side: pool.submit(readers[side].encode, tokenizer, texts[side], side_length)
                                   for side in texts}
                        matched = match_texts_batch(miner, texts["src"], texts["tgt"])
                        encoded = {side: readers[side].finish(tokenizer, texts[side], pending[side].result(),
                                                              side_length) for side in texts}
            if matched is None:
                n_pairs = len(ids["src"])
                lengths = {side: np.fromiter(map(len, ids[side]), np.int64, n_pairs) for side in ("src", "tgt")}
                return pair_columns(
                    ids["src"], ids["tgt"],
                    src_words=list_column(np.full(int(lengths["src"].sum()), -1), lengths["src"]),
                    tgt_words=list_column(np.full(int(lengths["tgt"].sum()), -1), lengths["tgt"]),
                    synonyms=list_column(np.zeros(0, np.int64), np.zeros(n_pairs, np.int64)),
                    _stats=batch_stats(np.zeros(width, np.int64), n_pairs))
            units = batch_units(matched, encoded["src"][1], encoded["tgt"][1])
            return unit_columns(encoded["src"][0], encoded["tgt"][0], units)

        return tokenize, dictionary

    def _prepare_functions(self, pair: str) -> tuple[Callable[[dict[str, list]], pa.Table],
                                                      Callable[[str, dict[str, Any]], None]]:
        """Tokenize and mine; once the shards are done, their summed counts give the mining statistics, stored
        beside them."""
        tokenize, dictionary = self._mining_fn(pair)

        def write_stats(folder: str, summary: dict[str, Any]) -> None:
            width = len(MiningStats.COUNTS) + 1
            totals = np.zeros(width, dtype=np.int64)
            for shard in summary["shards"]:
                if shard.get("stats"):
                    totals += np.asarray(shard["stats"], dtype=np.int64)
            stats = MiningStats(seconds=summary["seconds"])
            stats.add_counts(totals[:-1])
            kept = int(totals[-1])
            record = {**asdict(stats), "pairs_per_sentence_pair": stats.mean_per_pair,
                      "src_coverage": stats.src_coverage, "tgt_coverage": stats.tgt_coverage,
                      "kept_after_truncation": kept, "mining": self._mined_on.get(pair),
                      "dictionary": None if dictionary is None else {"sources": list(dictionary.sources),
                                                                     "entries": dictionary.entries}}
            with open(os.path.join(folder, STATS_FILE), "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=1)
            if dictionary is not None:
                log.info("Synonym mining %s: %s; %d pairs kept after truncation", pair, stats.summary(), kept)
                if kept == 0:
                    log.warning("%s: its dictionary (%s) matches no synonym pair in its sentence pairs, so its token "
                                "contrastive loss is zero: check that the dictionary's columns follow its key's "
                                "language order and that it covers the words of these sentences", pair,
                                ", ".join(dictionary.sources) or "induced")

        return tokenize, write_stats

    def setup(self, stage: str | None = None) -> None:
        if self.train_sets:
            return
        super().setup(stage)
        for pair in self.files:
            stats_path = os.path.join(self.cache_location(pair), STATS_FILE)
            if os.path.exists(stats_path):
                with open(stats_path, encoding="utf-8") as handle:
                    self.mining_stats[pair] = json.load(handle)
        log.info("Synonym pairs per sentence pair: %s", {
            p: round(s["kept_after_truncation"] / max(1, s["sentence_pairs"]), 2) if s["dictionary"] else None
            for p, s in self.mining_stats.items()})

    def collator(self) -> SynonymCollator:
        return SynonymCollator(self.tokenizer, self.masker(), self.restart_positions, self.tlm, self.contrastive,
                               self.tlm_fraction)
