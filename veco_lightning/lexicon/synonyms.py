"""Synonym-pair mining on parallel sentence pairs: VECO 2.0's token-level "thesaurus" alignment, reconstructed.

For a pair (x, y), a *synonym pair* is a word (or multi-word phrase) a of x and b of y such that the bilingual
dictionary lists b as a translation of a. The token contrastive loss pulls the representations of a and b together,
so a wrong pair teaches the model a wrong alignment; ambiguity is therefore resolved conservatively, one-to-one:

1. Both sides are segmented (:func:`veco_lightning.lexicon.words.segment`); a side written without spaces is cut by
   longest match against the dictionary's phrases of that language.
2. Every n-gram of up to the dictionary's longest phrase is looked up (normalised, joined by a space, or joined
   without one for no-space languages, the convention the dictionary stores those phrases in). N-grams are
   extended only while they are a prefix of some entry, and target n-grams are indexed by their string, so the cost
   is linear in the sentence length, never quadratic in the n-gram pairs.
3. Candidates are ranked: longer phrases first (``post office`` <-> ``Postamt`` beats ``office`` <-> ``Amt``), then
   unique matches (the source phrase has exactly one candidate partner in this sentence and vice versa), then the
   nearest relative position ``|i/len(x) - j/len(y)|`` (span centres). They are taken greedily in that order,
   skipping any that reuses a word: a word belongs to at most one pair.
4. Optional: pairs whose source or target phrase consists only of stop words are dropped before ranking (function
   words are frequent, ambiguous and carry little lexical meaning), and ``max_pairs`` keeps the best-ranked pairs.

Pairs are found on characters; :mod:`veco_lightning.data.units` later maps them onto sub-word tokens through the
tokenizer's offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from veco_lightning.lexicon.dictionary import BilingualDictionary, DictionaryIndex
from veco_lightning.lexicon.stopwords import StopWords, stop_sets
from veco_lightning.lexicon.words import RawWord, segment_spans

log = logging.getLogger(__name__)

Span = tuple[int, int]
Match = tuple[int, int, int, int, str, str]
"""A mined pair as the hot loop keeps it: word ranges ``[i0, i1)``, ``[j0, j1)`` and the two phrases."""

__all__ = ["MiningStats", "SynonymMiner", "SynonymPair", "mine_corpus", "mine_pair"]


class SynonymPair(NamedTuple):
    """A mined pair: character spans (half-open, into the original texts), the matched normalised phrases, and the
    word-index ranges ``[first, last + 1)`` into each side's segmentation."""

    src_span: Span
    tgt_span: Span
    src_phrase: str
    tgt_phrase: str
    src_words: Span
    tgt_words: Span


def _index_for(dictionary: BilingualDictionary, src_lang: str, tgt_lang: str) -> DictionaryIndex:
    if (dictionary.src_lang, dictionary.tgt_lang) == (src_lang, tgt_lang):
        return dictionary.index()
    if (dictionary.src_lang, dictionary.tgt_lang) == (tgt_lang, src_lang):
        return dictionary.inverse().index()
    raise ValueError(
        f"veco_lightning/lexicon/synonyms.py: a {dictionary.src_lang}-{dictionary.tgt_lang} dictionary cannot mine "
        f"{src_lang}-{tgt_lang} pairs; pass the dictionary of this language pair (either direction works)"
    )


def _find(texts: list[str], keys, prefixes: frozenset[str], sep: str, max_n: int,
          stop: frozenset[str]) -> list[tuple[int, int, str]]:
    """Every n-gram ``texts[i:j]`` (joined by ``sep``) that is in ``keys``, as ``(i, j, key)``."""
    found = []
    n = len(texts)
    for i in [i for i, word in enumerate(texts) if word in prefixes]:  # one set lookup per word, in C mostly
        key = texts[i]
        j = i + 1
        while True:
            if key in keys and not (stop and (key in stop or (j - i > 1 and all(w in stop for w in texts[i:j])))):
                found.append((i, j, key))
            if j >= n or j - i >= max_n:
                break
            key = key + sep + texts[j]
            if key not in prefixes:
                break
            j += 1
    return found


def _mine_matches(src_text: str, tgt_text: str, index: DictionaryIndex, src_lang: str, tgt_lang: str,
                  stops: tuple[frozenset[str], frozenset[str]], max_pairs: int | None,
                  max_word_chars: int) -> tuple[list[Match], list[RawWord], list[RawWord]]:
    """Mine one pair: the chosen pairs as :data:`Match` tuples in source order (no per-pair object is built), and the
    segmentation of both sides (``(text, start, end)`` words)."""
    # A no-space side is cut against the dictionary's phrases of its language (the prefix sets speed that up).
    if index.src_sep:
        src_words = segment_spans(src_text, src_lang)
    else:
        src_words = segment_spans(src_text, src_lang, index.src_keys, max_word_chars, index.src_prefixes)
    if index.tgt_sep:
        tgt_words = segment_spans(tgt_text, tgt_lang)
    else:
        tgt_words = segment_spans(tgt_text, tgt_lang, index.tgt_keys, max_word_chars, index.tgt_prefixes)
    n_src, n_tgt = len(src_words), len(tgt_words)
    if max_pairs == 0 or not n_src or not n_tgt:
        return [], src_words, tgt_words
    src_texts = [w[0] for w in src_words]
    src_found = _find(src_texts, index.src_map, index.src_prefixes, index.src_sep, index.src_max_words, stops[0])
    if not src_found:
        return [], src_words, tgt_words
    tgt_found = _find([w[0] for w in tgt_words], index.tgt_keys, index.tgt_prefixes, index.tgt_sep,
                      index.tgt_max_words, stops[1])
    tgt_at: dict[str, list[Span]] = {}
    for j0, j1, key in tgt_found:
        tgt_at.setdefault(key, []).append((j0, j1))

    src_map = index.src_map
    candidates = []
    for i0, i1, src_key in src_found:
        targets = src_map[src_key]
        if len(targets) <= len(tgt_at):
            matched = [(t, tgt_at[t]) for t in targets if t in tgt_at]
        else:
            matched = [(t, spans) for t, spans in tgt_at.items() if t in targets]
        for tgt_key, spans in matched:
            for j0, j1 in spans:
                candidates.append((i0, i1, j0, j1, src_key, tgt_key))
    if not candidates:
        return [], src_words, tgt_words

    if (len({c[:2] for c in candidates}) == len({c[2:4] for c in candidates}) == len(candidates)
            and (max_pairs is None or len(candidates) <= max_pairs)
            and all(c[1] - c[0] == 1 and c[3] - c[2] == 1 for c in candidates)):
        # Fast path (the common case): single words, each with exactly one candidate partner: nothing to resolve.
        candidates.sort()  # source order: the source words are distinct
        return candidates, src_words, tgt_words

    if len(candidates) > 1:
        partners_src: dict[Span, int] = {}
        partners_tgt: dict[Span, int] = {}
        for i0, i1, j0, j1, _, _ in candidates:
            partners_src[i0, i1] = partners_src.get((i0, i1), 0) + 1
            partners_tgt[j0, j1] = partners_tgt.get((j0, j1), 0) + 1
        scale_src, scale_tgt = 0.5 / n_src, 0.5 / n_tgt

        def rank(c: tuple) -> tuple:
            i0, i1, j0, j1 = c[0], c[1], c[2], c[3]
            ambiguous = (partners_src[i0, i1] > 1) + (partners_tgt[j0, j1] > 1)
            distance = abs((i0 + i1) * scale_src - (j0 + j1) * scale_tgt)
            return (i0 - i1 + j0 - j1, ambiguous, distance, i0, j0)

        candidates.sort(key=rank)

    used_src, used_tgt = bytearray(n_src), bytearray(n_tgt)
    chosen: list[Match] = []
    for c in candidates:
        i0, i1, j0, j1 = c[0], c[1], c[2], c[3]
        if used_src.find(1, i0, i1) != -1 or used_tgt.find(1, j0, j1) != -1:
            continue
        used_src[i0:i1] = b"\x01" * (i1 - i0)
        used_tgt[j0:j1] = b"\x01" * (j1 - j0)
        chosen.append(c)
        if max_pairs is not None and len(chosen) >= max_pairs:
            break
    chosen.sort()  # source order: the chosen source phrases are disjoint
    return chosen, src_words, tgt_words


def _mine(src_text: str, tgt_text: str, index: DictionaryIndex, src_lang: str, tgt_lang: str,
          stops: tuple[frozenset[str], frozenset[str]], max_pairs: int | None,
          max_word_chars: int) -> tuple[list[SynonymPair], list[RawWord], list[RawWord]]:
    """Mine one pair; also returns the segmentation of both sides (``(text, start, end)`` words)."""
    chosen, src_words, tgt_words = _mine_matches(src_text, tgt_text, index, src_lang, tgt_lang, stops, max_pairs,
                                                 max_word_chars)
    pairs = [SynonymPair((src_words[i0][1], src_words[i1 - 1][2]), (tgt_words[j0][1], tgt_words[j1 - 1][2]), src_key,
                         tgt_key, (i0, i1), (j0, j1)) for i0, i1, j0, j1, src_key, tgt_key in chosen]
    return pairs, src_words, tgt_words


def mine_pair(src_text: str, tgt_text: str, dictionary: BilingualDictionary, src_lang: str, tgt_lang: str,
              stop_words: StopWords = None, max_pairs: int | None = None,
              max_word_chars: int = 8) -> list[SynonymPair]:
    """Synonym pairs of one sentence pair, one-to-one, ordered by source position.

    Args:
        src_text, tgt_text: the two sentences (spans index these strings).
        dictionary: a ``src_lang-tgt_lang`` dictionary, or a ``tgt_lang-src_lang`` one (inverted, cached).
        src_lang, tgt_lang: language codes of the two sentences.
        stop_words: normalised stop words: one set for both sides, or ``{lang: words}`` per side (see
            :func:`default_stop_words`). A pair whose source or target phrase is made only of stop words is dropped.
        max_pairs: keep at most this many pairs (the best-ranked ones).
        max_word_chars: longest lexicon match when segmenting a no-space side.
    """
    index = _index_for(dictionary, src_lang, tgt_lang)
    return _mine(src_text, tgt_text, index, src_lang, tgt_lang, stop_sets(stop_words, src_lang, tgt_lang),
                 max_pairs, max_word_chars)[0]


class SynonymMiner:
    """:func:`mine_pair` for many sentence pairs of one language pair: the dictionary index and stop-word sets are
    built once. Calling it returns ``(pairs, src_words, tgt_words)``, the words being each side's segmentation as
    ``(normalised text, start, end)`` tuples (a pair's ``src_words`` / ``tgt_words`` ranges index them).

    Args: as :func:`mine_pair`.
    """

    def __init__(self, dictionary: BilingualDictionary, src_lang: str, tgt_lang: str, stop_words: StopWords = None,
                 max_pairs: int | None = None, max_word_chars: int = 8) -> None:
        self.index = _index_for(dictionary, src_lang, tgt_lang)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.stops = stop_sets(stop_words, src_lang, tgt_lang)
        self.max_pairs, self.max_word_chars = max_pairs, max_word_chars

    def __call__(self, src_text: str, tgt_text: str) -> tuple[list[SynonymPair], list[RawWord], list[RawWord]]:
        return _mine(src_text, tgt_text, self.index, self.src_lang, self.tgt_lang, self.stops, self.max_pairs,
                     self.max_word_chars)

    def matches(self, src_text: str, tgt_text: str) -> tuple[list[Match], list[RawWord], list[RawWord]]:
        """The same mining in the hot loop's form (what :func:`veco_lightning.data.units.mine_units` reads): each
        pair as ``(i0, i1, j0, j1, src_phrase, tgt_phrase)``, word ranges and phrases, in source order."""
        return _mine_matches(src_text, tgt_text, self.index, self.src_lang, self.tgt_lang, self.stops, self.max_pairs,
                             self.max_word_chars)


@dataclass
class MiningStats:
    """Corpus-level mining statistics (see :meth:`summary`)."""

    sentence_pairs: int = 0
    pairs_with_synonyms: int = 0
    synonym_pairs: int = 0
    multi_word_pairs: int = 0
    src_words: int = 0
    tgt_words: int = 0
    src_covered: int = 0
    tgt_covered: int = 0
    seconds: float = 0.0

    COUNTS = ("sentence_pairs", "pairs_with_synonyms", "synonym_pairs", "multi_word_pairs", "src_words", "tgt_words",
              "src_covered", "tgt_covered")
    """The counted fields, in the order of :meth:`count`."""

    @staticmethod
    def count(pairs: Sequence[SynonymPair], n_src: int, n_tgt: int) -> tuple[int, ...]:
        """The counts one mined sentence pair adds (the fields of :attr:`COUNTS`, in order): kept as a row so that
        statistics survive multi-process mapping, where rows are summed afterwards."""
        return MiningStats.count_matches([(*p.src_words, *p.tgt_words) for p in pairs], n_src, n_tgt)

    @staticmethod
    def count_matches(matches: Sequence[tuple[int, ...]], n_src: int, n_tgt: int) -> tuple[int, ...]:
        """:meth:`count` from word ranges ``(i0, i1, j0, j1, ...)``, the pairs of :meth:`SynonymMiner.matches`."""
        multi = src_covered = tgt_covered = 0
        for i0, i1, j0, j1, *_ in matches:
            src_covered += i1 - i0
            tgt_covered += j1 - j0
            multi += i1 - i0 > 1 or j1 - j0 > 1
        return 1, int(bool(matches)), len(matches), multi, n_src, n_tgt, src_covered, tgt_covered

    def add(self, pairs: Sequence[SynonymPair], n_src: int, n_tgt: int) -> None:
        """Count one mined sentence pair."""
        self.add_counts(self.count(pairs, n_src, n_tgt))

    def add_counts(self, counts: Sequence[int]) -> None:
        """Add a row (or a column sum of rows) of :meth:`count`."""
        for name, value in zip(self.COUNTS, counts):
            setattr(self, name, getattr(self, name) + int(value))

    @property
    def mean_per_pair(self) -> float:
        """Synonym pairs per sentence pair."""
        return self.synonym_pairs / max(1, self.sentence_pairs)

    @property
    def src_coverage(self) -> float:
        """Fraction of source words inside a synonym pair."""
        return self.src_covered / max(1, self.src_words)

    @property
    def tgt_coverage(self) -> float:
        """Fraction of target words inside a synonym pair."""
        return self.tgt_covered / max(1, self.tgt_words)

    def summary(self) -> str:
        """One line for logs."""
        return (f"{self.sentence_pairs} sentence pairs, {self.pairs_with_synonyms} with >=1 synonym pair "
                f"({self.pairs_with_synonyms / max(1, self.sentence_pairs):.1%}), {self.synonym_pairs} synonym pairs "
                f"({self.mean_per_pair:.2f} per sentence pair, {self.multi_word_pairs} multi-word), coverage "
                f"src {self.src_coverage:.1%} / tgt {self.tgt_coverage:.1%}, {self.seconds:.2f} s")


def mine_corpus(pairs: Iterable[tuple[str, str]], dictionary: BilingualDictionary, src_lang: str, tgt_lang: str,
                stop_words: StopWords = None, max_pairs: int | None = None,
                max_word_chars: int = 8) -> tuple[list[list[SynonymPair]], MiningStats]:
    """:func:`mine_pair` over ``(src, tgt)`` sentence pairs, with corpus statistics (logged at INFO)."""
    miner = SynonymMiner(dictionary, src_lang, tgt_lang, stop_words, max_pairs, max_word_chars)
    stats = MiningStats()
    results: list[list[SynonymPair]] = []
    begin = time.perf_counter()
    for src_text, tgt_text in pairs:
        found, src_words, tgt_words = miner(src_text, tgt_text)
        results.append(found)
        stats.add(found, len(src_words), len(tgt_words))
    stats.seconds = time.perf_counter() - begin
    log.info("Synonym mining %s-%s: %s", src_lang, tgt_lang, stats.summary())
    return results, stats
