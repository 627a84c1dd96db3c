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
from itertools import chain, repeat
from typing import NamedTuple

import numpy as np

from veco_lightning.lexicon.dictionary import BilingualDictionary, DictionaryIndex
from veco_lightning.lexicon.stopwords import StopWords, stop_sets
from veco_lightning.lexicon.trie import (
    IntMap,
    SequenceIds,
    _distinct,
    _ranges,
    build_trie,
    char_trie,
    from_code_points,
    trie_step,
)
from veco_lightning.lexicon.words import (
    PlainWords,
    RawWord,
    SegmentedBatch,
    WordSpans,
    _norm,
    _plain_table,
    plain_words,
    segment_batch,
    segment_spans,
)

log = logging.getLogger(__name__)

Span = tuple[int, int]
Match = tuple[int, int, int, int, str, str]
"""A mined pair as the hot loop keeps it: word ranges ``[i0, i1)``, ``[j0, j1)`` and the two phrases."""

__all__ = ["BatchMatches", "MiningStats", "SynonymMiner", "SynonymPair", "mine_corpus", "mine_pair"]


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


def _find(texts: list[str], keys, prefixes: frozenset[str], extendable: frozenset[str], sep: str, max_n: int,
          stop: frozenset[str]) -> list[tuple[int, int, str]]:
    """Every n-gram ``texts[i:j]`` (joined by ``sep``) that is in ``keys``, as ``(i, j, key)`` in ``(i, j)`` order.

    Single words are one set lookup each (a comprehension, in C mostly); only words that start a longer entry
    (``extendable``) are extended, and only while the n-gram is still a prefix of some entry."""
    if stop:
        found = [(i, i + 1, word) for i, word in enumerate(texts) if word in keys and word not in stop]
    else:
        found = [(i, i + 1, word) for i, word in enumerate(texts) if word in keys]
    if max_n < 2 or not extendable:
        return found
    starts = [i for i, word in enumerate(texts) if word in extendable]
    if not starts:
        return found
    n = len(texts)
    for i in starts:
        key, j, last = texts[i], i + 1, min(n, i + max_n)
        while j < last:
            key = key + sep + texts[j]
            j += 1
            if key not in prefixes:
                break
            if key in keys and not (stop and (key in stop or all(w in stop for w in texts[i:j]))):
                found.append((i, j, key))
            if key not in extendable:
                break
    found.sort()  # (i, j) order: the candidates' ranking breaks its last ties by this order
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
    src_found = _find(src_texts, index.src_map, index.src_prefixes, index.src_extendable, index.src_sep,
                      index.src_max_words, stops[0])
    if not src_found:
        return [], src_words, tgt_words
    tgt_found = _find([w[0] for w in tgt_words], index.tgt_keys, index.tgt_prefixes, index.tgt_extendable,
                      index.tgt_sep, index.tgt_max_words, stops[1])
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

    return _resolve(candidates, n_src, n_tgt, max_pairs), src_words, tgt_words


def _resolve(candidates: list[Match], n_src: int, n_tgt: int, max_pairs: int | None) -> list[Match]:
    """Choose one-to-one pairs among one sentence pair's candidates (ranked as the module docstring says; the
    ranking is a total order, so the result does not depend on the candidates' order). Returns them in source
    order."""
    if (len({c[:2] for c in candidates}) == len({c[2:4] for c in candidates}) == len(candidates)
            and (max_pairs is None or len(candidates) <= max_pairs)
            and all(c[1] - c[0] == 1 and c[3] - c[2] == 1 for c in candidates)):
        # Fast path (the common case): single words, each with exactly one candidate partner: nothing to resolve.
        return sorted(candidates)  # source order: the source words are distinct

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
        return (i0 - i1 + j0 - j1, ambiguous, distance, i0, j0, i1, j1)

    used_src, used_tgt = bytearray(n_src), bytearray(n_tgt)
    chosen: list[Match] = []
    for c in sorted(candidates, key=rank):
        i0, i1, j0, j1 = c[0], c[1], c[2], c[3]
        if used_src.find(1, i0, i1) != -1 or used_tgt.find(1, j0, j1) != -1:
            continue
        used_src[i0:i1] = b"\x01" * (i1 - i0)
        used_tgt[j0:j1] = b"\x01" * (j1 - j0)
        chosen.append(c)
        if max_pairs is not None and len(chosen) >= max_pairs:
            break
    chosen.sort()  # source order: the chosen source phrases are disjoint
    return chosen


def _resolve_batch(sentence: np.ndarray, i0: np.ndarray, i1: np.ndarray, j0: np.ndarray, j1: np.ndarray,
                   src_counts: np.ndarray, tgt_counts: np.ndarray,
                   max_pairs: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_resolve` of many sentences' candidates at once (``sentence``: each candidate's sentence, whose word
    counts ``src_counts`` / ``tgt_counts`` give). Returns the chosen candidates' columns, in no particular order.

    The same greedy choice, one round per chosen pair and all sentences at once: every candidate is ranked by
    :func:`_resolve`'s key (the same float arithmetic), and in each round the best-ranked candidate left in each
    sentence is chosen (all those ranked before it were chosen or ruled out) and every candidate overlapping it on
    either side is ruled out. The rounds number the most pairs chosen in one sentence, not the candidates."""
    n = len(sentence)
    empty = np.zeros(0, np.int64)
    if not n:
        return empty, empty, empty, empty, empty
    stride = int(max(src_counts.max(), tgt_counts.max())) + 1
    ambiguous = np.zeros(n, np.int64)
    for code in ((sentence * stride + i0) * stride + i1, (sentence * stride + j0) * stride + j1):
        _, inverse, partners = np.unique(code, return_inverse=True, return_counts=True)
        ambiguous += partners[inverse] > 1
    distance = np.abs((i0 + i1) * (0.5 / src_counts[sentence]) - (j0 + j1) * (0.5 / tgt_counts[sentence]))
    order = np.lexsort((j1, i1, j0, i0, distance, ambiguous, i0 - i1 + j0 - j1, sentence))
    s, a0, a1, b0, b1 = sentence[order], i0[order], i1[order], j0[order], j1[order]
    chosen: list[np.ndarray] = []
    taken = np.zeros(int(sentence.max()) + 1, np.int64)
    head = np.zeros(len(taken), np.int64)
    while len(s):
        first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # the best candidate left in each sentence
        chosen.append(order[first])
        head[s[first]] = first
        h = head[s]  # each candidate's sentence's new choice
        keep = ((a1 <= a0[h]) | (a0 >= a1[h])) & ((b1 <= b0[h]) | (b0 >= b1[h]))
        if max_pairs is not None:
            taken[s[first]] += 1
            keep &= taken[s] < max_pairs
        order, s, a0, a1, b0, b1 = order[keep], s[keep], a0[keep], a1[keep], b0[keep], b1[keep]
    picked = np.concatenate(chosen)
    return sentence[picked], i0[picked], i1[picked], j0[picked], j1[picked]


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


class BatchMatches(NamedTuple):
    """The chosen pairs of a batch of sentence pairs, as flat integer arrays sorted by ``(sentence, i0)``: the
    sentence index in the batch and the word ranges ``[i0, i1)``, ``[j0, j1)`` into that sentence's words."""

    sentence: np.ndarray
    i0: np.ndarray
    i1: np.ndarray
    j0: np.ndarray
    j1: np.ndarray


class _BatchTables:
    """Integer versions of a :class:`DictionaryIndex` for :meth:`SynonymMiner.match_batch`: key ids per side, the
    translations as a CSR table of target ids, and which keys are stop words."""

    def __init__(self, index: DictionaryIndex, stops: tuple[frozenset[str], frozenset[str]]) -> None:
        self.src_ids = {key: k for k, key in enumerate(index.src_map)}
        self.tgt_ids = {key: k for k, key in enumerate(index.tgt_keys)}
        counts = np.fromiter(map(len, index.src_map.values()), np.int64, len(index.src_map))
        self.trans_first = np.cumsum(counts) - counts
        self.trans_count = counts
        self.trans = np.fromiter((self.tgt_ids[t] for targets in index.src_map.values() for t in targets), np.int64,
                                 int(counts.sum()))
        self.src_stop = np.fromiter((key in stops[0] for key in index.src_map), bool, len(index.src_map))
        self.tgt_stop = np.fromiter((key in stops[1] for key in index.tgt_keys), bool, len(index.tgt_keys))
        # The longer keys of a spaced side as a trie of word ids: n-grams are matched for all positions of a batch at
        # once, without building the joined strings.
        self.src_phrases = _Phrases(index.src_map, self.src_ids, stops[0]) if index.src_sep else None
        self.tgt_phrases = _Phrases(index.tgt_keys, self.tgt_ids, stops[1]) if index.tgt_sep else None
        # A no-space side's keys as a trie of characters: n-grams of words are walked character by character.
        self.src_chars = None if index.src_sep else _CharTrie(index.src_keys, self.src_ids, stops[0],
                                                              index.src_extendable)
        self.tgt_chars = None if index.tgt_sep else _CharTrie(index.tgt_keys, self.tgt_ids, stops[1],
                                                              index.tgt_extendable)


class _Phrases:
    """The keys of two words or more of a spaced side as a trie over integer word ids, for matching every n-gram of a
    batch at once (one hash lookup per n-gram length over all positions, no joined strings built).

    ``word_ids`` numbers every key (with the key ids of :class:`_BatchTables`, so a single word's id below ``n_keys``
    is its key id) and every other word of a longer key. A trie state is a word id (one word) or, above that, a
    longer prefix; ``edges`` (:class:`~veco_lightning.lexicon.trie.IntMap`) maps every edge's code, ``state * width +
    next word``, to the state it leads to; ``key`` gives a state's key id (-1: the prefix is no key) and ``stop``
    whether that key is dropped as stop words (the phrase itself, or every word of it, is a stop word: :func:`_find`'s
    test)."""

    def __init__(self, keys: Iterable[str], ids: dict[str, int], stop: frozenset[str]) -> None:
        multi = [key for key in keys if " " in key]
        phrases = [key.split(" ") for key in multi]
        self.word_ids = dict(ids)
        others = sorted(set(chain.from_iterable(phrases)) - ids.keys())
        self.word_ids.update(zip(others, range(len(ids), len(ids) + len(others))))
        self.n_keys = len(ids)
        self.width = width = len(self.word_ids)
        # The trie: a word's state is its word id, longer prefixes are numbered above.
        lengths = np.fromiter(map(len, phrases), np.int64, len(phrases))
        flat = np.fromiter(map(self.word_ids.__getitem__, chain.from_iterable(phrases)), np.int64,
                           int(lengths.sum()))
        state = flat[np.cumsum(lengths) - lengths] if len(phrases) else np.zeros(0, np.int64)
        codes, following, state, n_states = build_trie(flat, lengths, state, 1, width, width)
        self.edges = IntMap.of(codes, following)
        self.key = np.full(n_states, -1, np.int64)
        multi_ids = np.fromiter(map(ids.__getitem__, multi), np.int64, len(multi))
        self.key[state] = multi_ids
        self.starts = np.zeros(width, bool)  # words that begin a longer key: the edges out of one-word states
        first = codes // width
        self.starts[first[first < width]] = True
        self.follows = np.zeros(width, bool)  # words that continue some key: only those can grow an n-gram
        self.follows[codes % width] = True
        self.stop = np.zeros(max(len(ids), 1), bool)
        if stop and len(multi):  # a key that is a stop word, or all of whose words are
            stop_word = np.zeros(width, bool)
            stop_word[[self.word_ids[word] for word in stop if word in self.word_ids]] = True
            every = np.logical_and.reduceat(stop_word[flat], np.cumsum(lengths) - lengths)
            self.stop[multi_ids] = np.fromiter(map(stop.__contains__, multi), bool, len(multi)) | every

    def lookup(self, words: list[str]) -> np.ndarray:
        """The word id of every word (-1: none; below ``n_keys`` it is the word's key id)."""
        return np.fromiter(map(self.word_ids.get, words, repeat(-1)), np.int64, len(words))

    def occurrences(self, word: np.ndarray, sentence_end: np.ndarray,
                    stop: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every n-gram of two words or more (inside one sentence) that is a key, as ``(i0, i1, key id)`` arrays,
        stop-word keys left out as :func:`_find` leaves them out. ``word``: :meth:`lookup`'s ids. Every n-gram length
        at once over all positions: the trie state of each live n-gram, grown by a word."""
        at = np.flatnonzero(self.starts[np.maximum(word, 0)] & (word >= 0))
        state = word[at]
        found = []
        n = 1
        while len(at):
            live = at + n < sentence_end[at]
            at, state = at[live], state[live]
            following = word[at + n]
            live = self.follows[np.maximum(following, 0)] & (following >= 0)  # a cheap test before the search
            at, state = at[live], state[live]
            state = trie_step(self.edges, self.width, state, following[live])
            n += 1
            live = state >= 0
            at, state = at[live], state[live]
            k = self.key[state]
            complete = k >= 0
            if stop:
                complete &= ~self.stop[np.maximum(k, 0)]
            if complete.any():
                found.append((at[complete], at[complete] + n, k[complete]))
        return _columns(found)


_WORD_CHARS = 24  # longer words are normalised and looked up each time
_WORD_CACHE = 1 << 18  # words kept per side (about 45 MB at most with the hash map); past it the cache starts afresh
_SPACED = -2  # the id of a word whose normalised text holds a space: such a side is matched as strings


class _TextWordIds:
    """One spaced side's word ids (:class:`_Phrases`' numbering; -1: no word of the dictionary) for the words of the
    texts :func:`~veco_lightning.lexicon.words.plain_words` segments, looked up by their code points as written
    through a :class:`~veco_lightning.lexicon.trie.SequenceIds` cache: a word is normalised and looked up in the
    dictionary the first time it is seen, and after that found by a hash of its characters (checked against them)
    with the rest of its batch, no string made for it."""

    def __init__(self, phrases: _Phrases) -> None:
        self.phrases = phrases
        self.cache = SequenceIds(self._resolve, _WORD_CHARS, _WORD_CACHE)

    def _resolve(self, values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The ids of new words given by their code points (flat ``values``, ``lengths`` each): the words cut out of
        one string (a newline, which no word holds, put before each but the first), lower-cased at once where ASCII
        (all the normalisation ASCII needs), normalised one by one where not."""
        bounds = np.cumsum(lengths) - lengths
        joined = from_code_points(np.insert(values, bounds[1:], 10))
        forms = joined.lower().split("\n")
        if not joined.isascii():
            words = joined.split("\n")
            for k in np.flatnonzero(np.maximum.reduceat(values, bounds) >= 128).tolist():
                forms[k] = _norm(words[k])
        ids = self.phrases.lookup(forms)
        if " " in "".join(forms):
            ids[[k for k, form in enumerate(forms) if " " in form]] = _SPACED
        return ids

    def __call__(self, words: PlainWords) -> np.ndarray | None:
        """The id of every word of ``words``; ``None`` when one's normalised text holds a space."""
        ids = self.cache(words.points, words.runs, words.run_ends - words.runs)[words.source]
        if len(words.made_at):  # words the clitic rules made: normalised already
            if " " in "".join(words.made):
                return None
            ids[words.made_at] = self.phrases.lookup(words.made)
        return None if (ids == _SPACED).any() else ids


class _CharTrie:
    """The keys of a no-space side as a trie of characters, for matching the n-grams of words of a whole batch at
    once: a key spans several words when their concatenation spells it, however the segmentation cut it.

    ``trie`` is the keys' :func:`~veco_lightning.lexicon.trie.char_trie`, the one the side's runs are cut with
    (:func:`~veco_lightning.lexicon.words.segment_batch`), built once for both; ``key`` gives a state's key id
    (-1: none) and ``stop`` whether a key is itself a stop word. ``codes`` gives, for every word that is a key, a
    strict prefix of one (``extendable``) or a stop word, all three facts in one number (:meth:`lookup`): one dict
    lookup per word of a batch instead of one per fact (a no-space side's words are mostly keys and single
    characters; on NTREX's Chinese the separate lookups took about two thirds of its matching's time)."""

    def __init__(self, keys: frozenset[str], ids: dict[str, int], stop: frozenset[str],
                 extendable: frozenset[str]) -> None:
        self.trie = trie = char_trie(keys)
        ids_of = np.fromiter(map(ids.__getitem__, trie.keys), np.int64, len(trie.keys))
        self.key = np.where(trie.key >= 0, ids_of[np.maximum(trie.key, 0)] if len(ids_of) else -1, -1)
        self.stop = np.zeros(max(len(ids), 1), bool)
        for key in stop & ids.keys():
            self.stop[ids[key]] = True
        self.stop_words = stop
        self.codes = {word: (ids.get(word, -1) + 1) << 2 for word in ids.keys() | extendable | stop}
        for word in extendable:
            self.codes[word] |= 2
        for word in stop:
            self.codes[word] |= 1

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of every word: its key id (-1: none), whether it is in ``extendable`` and whether it is a stop word."""
        codes = np.fromiter(map(self.codes.get, words, repeat(0)), np.int64, len(words))
        return (codes >> 2) - 1, (codes & 2) > 0, (codes & 1) > 0

    def occurrences(self, words: list[str], sentence_end: np.ndarray,
                    looked_up: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every n-gram of two words or more (inside one sentence) whose concatenation is a key, as ``(i0, i1, key
        id)`` arrays, stop-word keys left out as :func:`_find` leaves them out (the key, or every word of it, a stop
        word). Only words that are strict prefixes of keys can begin one. ``looked_up``: :meth:`lookup` of the
        words."""
        if not self.trie.edges.size or len(words) < 2:
            return _columns([])
        lengths = np.fromiter(map(len, words), np.int64, len(words))
        char = self.trie.symbols("".join(words))
        word_end = np.cumsum(lengths)  # character position after each word (the words are concatenated)
        stop = self.stop_words
        if stop:
            non_stop = np.concatenate([[0], np.cumsum(~looked_up[2])])
        # One walker per starting word, all moved a character at a time; at a word end, a key of two words or more
        # is an occurrence, and the walker goes on into the next word of its sentence.
        start = np.flatnonzero(looked_up[1])
        word, at, state = start.copy(), (word_end - lengths)[start], np.zeros(len(start), np.int64)
        found = []
        while len(start):
            state = self.trie.step(state, char[at])
            live = state >= 0
            start, word, at, state = start[live], word[live], at[live] + 1, state[live]
            boundary = at == word_end[word]
            key = self.key[state]
            hit = boundary & (word > start) & (key >= 0)
            if hit.any():
                k, i0, i1 = key[hit], start[hit], word[hit] + 1
                if stop:
                    keep = ~self.stop[k] & (non_stop[i1] - non_stop[i0] > 0)
                    k, i0, i1 = k[keep], i0[keep], i1[keep]
                found.append((i0, i1, k))
            word = word + boundary
            live = ~boundary | (word < sentence_end[start])
            start, word, at, state = start[live], word[live], at[live], state[live]
        return _columns(found)


def _columns(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, i1, key id)`` pieces concatenated column by column (empty arrays for none)."""
    if not found:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    return tuple(np.concatenate(column) for column in zip(*found))


def _occurrences_of_words(word: np.ndarray, sentence_end: np.ndarray, phrases: _Phrases, key_stop: np.ndarray,
                          stop: frozenset[str], max_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_occurrences` of a spaced side given the word ids of its words (:meth:`_Phrases.lookup`; -1: none):
    single-word keys read off the ids, longer ones through the trie."""
    key = np.where(word < phrases.n_keys, word, -1)
    hit = key >= 0
    if stop and len(key_stop):
        hit &= ~key_stop[key]  # key -1 reads the last flag: masked by ``hit`` anyway
    i0 = np.flatnonzero(hit)
    i1, key = i0 + 1, key[i0]
    if max_n < 2 or len(word) < 2:
        return i0, i1, key
    return _columns([(i0, i1, key), phrases.occurrences(word, sentence_end, stop)])


def _occurrences(words: list[str], sentence_end: np.ndarray, ids: dict[str, int], key_stop: np.ndarray,
                 prefixes: frozenset[str], extendable: frozenset[str], phrases: _Phrases | None,
                 chars: _CharTrie | None, sep: str, max_n: int,
                 stop: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_find` over a batch's flat word list: ``(i0, i1, key id)`` arrays in flat word positions (n-grams
    never cross a sentence: ``sentence_end[w]`` is the flat position after word ``w``'s sentence). ``phrases`` and
    ``chars``: see :class:`_BatchTables` (a spaced side has the former, a no-space side the latter)."""
    n_words = len(words)
    # With longer keys to look for (a word holding a space is matched as a string, below), one lookup per word gives
    # the key ids and the trie's start states. Whether a word holds a space: from the segmentation where it says so
    # (lexicon.words.Words), else by a scan of the words.
    if phrases is not None and max_n >= 2 and extendable and n_words >= 2 and not (
            " " in "\n".join(words) if getattr(words, "spaced", None) is None else words.spaced):
        return _occurrences_of_words(phrases.lookup(words), sentence_end, phrases, key_stop, stop, max_n)
    # A no-space side (its trie built with these ids, stop words and prefixes): all three facts in one lookup.
    looked_up = chars.lookup(words) if chars is not None else None
    key = looked_up[0] if looked_up is not None else np.fromiter(map(ids.get, words, repeat(-1)), np.int64, n_words)
    hit = key >= 0
    if stop and len(key_stop):
        hit &= ~key_stop[key]  # key -1 reads the last flag: masked by ``hit`` anyway
    i0 = np.flatnonzero(hit)
    i1, key = i0 + 1, key[i0]
    if max_n < 2 or not extendable or n_words < 2:
        return i0, i1, key
    if chars is not None:
        return _columns([(i0, i1, key), chars.occurrences(words, sentence_end, looked_up)])
    # Longer n-grams, one length at a time: those of the last length that other entries extend, grown by a word.
    start = np.flatnonzero(np.fromiter(map(extendable.__contains__, words), bool, n_words))
    grow = [(i, words[i]) for i in start.tolist()]
    multi: list[tuple[int, int, int]] = []
    limit = sentence_end.tolist()
    for n in range(2, max_n + 1):
        grow = [(i, text + sep + words[i + n - 1]) for i, text in grow if i + n <= limit[i]]
        grow = [(i, text) for i, text in grow if text in prefixes]
        for i, text in grow:
            k = ids.get(text, -1)
            if k >= 0 and not (stop and (text in stop or all(w in stop for w in words[i:i + n]))):
                multi.append((i, i + n, k))
        grow = [(i, text) for i, text in grow if text in extendable]
        if not grow:
            break
    if not multi:
        return i0, i1, key
    m0, m1, mk = (np.array(column, np.int64) for column in zip(*multi))
    return np.concatenate([i0, m0]), np.concatenate([i1, m1]), np.concatenate([key, mk])


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
        self._tables: _BatchTables | None = None
        self._word_ids: dict[str, _TextWordIds] = {}  # per spaced side: the word cache of side_occurrences

    def batch_tables(self) -> _BatchTables:
        """The integer lookup tables of :meth:`match_batch`, built on first use (a fraction of a second for a large
        dictionary). Data preparation builds them before forking ``num_proc`` workers, which then share them; so
        also :meth:`side_occurrences`' character classes and Arrow's hash kernel, which each process otherwise sets
        up on its first batch (about 20 ms each, per worker and language pair)."""
        if self._tables is None:
            self._tables = _BatchTables(self.index, self.stops)
            if self.index.src_sep or self.index.tgt_sep:
                _plain_table()
                _distinct(np.zeros(1, np.int64))
        return self._tables

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tables": None, "_word_ids": {}}  # rebuilt where needed: cheaper than pickling

    def __call__(self, src_text: str, tgt_text: str) -> tuple[list[SynonymPair], list[RawWord], list[RawWord]]:
        return _mine(src_text, tgt_text, self.index, self.src_lang, self.tgt_lang, self.stops, self.max_pairs,
                     self.max_word_chars)

    def matches(self, src_text: str, tgt_text: str) -> tuple[list[Match], list[RawWord], list[RawWord]]:
        """The same mining in the hot loop's form (what :func:`veco_lightning.data.units.mine_units` reads): each
        pair as ``(i0, i1, j0, j1, src_phrase, tgt_phrase)``, word ranges and phrases, in source order."""
        return _mine_matches(src_text, tgt_text, self.index, self.src_lang, self.tgt_lang, self.stops, self.max_pairs,
                             self.max_word_chars)

    def _segmentation(self, side: str) -> tuple:
        """The segmentation arguments of a ``"src"`` or ``"tgt"`` side: its language, and for a no-space side the
        dictionary's phrases of that language to cut against."""
        index = self.index
        if side == "src":
            return (self.src_lang,) if index.src_sep else (self.src_lang, index.src_keys, self.max_word_chars,
                                                          index.src_prefixes)
        return (self.tgt_lang,) if index.tgt_sep else (self.tgt_lang, index.tgt_keys, self.max_word_chars,
                                                      index.tgt_prefixes)

    def segment(self, text: str, side: str) -> list[RawWord]:
        """The segmentation mining uses for a ``"src"`` or ``"tgt"`` sentence (a no-space side is cut against the
        dictionary's phrases of its language)."""
        return segment_spans(text, *self._segmentation(side))

    def segment_batch(self, texts: Sequence[str], side: str) -> SegmentedBatch:
        """:meth:`segment` of every text, concatenated (:func:`~veco_lightning.lexicon.words.segment_batch`)."""
        return segment_batch(texts, *self._segmentation(side))

    def match_batch(self, src_words: list[str], src_counts: np.ndarray, tgt_words: list[str],
                    tgt_counts: np.ndarray) -> BatchMatches:
        """:meth:`matches` for a whole batch at once, with the same result: the segmented words of every sentence
        concatenated (``*_words``, normalised texts) and each sentence's word count (``*_counts``).

        Dictionary lookups of single words, the join of source matches with their translations among the target
        matches, and the sentences with nothing to resolve (the common case: single words with one candidate
        partner each) are handled with numpy over the whole batch; only sentences with competing candidates go
        through the ranking of :func:`_resolve`, one by one. Per-pair mining is a Python loop over every word and
        costs as much as tokenisation itself; this form is what data preparation runs."""
        src_counts, tgt_counts = np.asarray(src_counts, np.int64), np.asarray(tgt_counts, np.int64)
        if self.max_pairs == 0 or not src_words or not tgt_words:
            empty = np.zeros(0, np.int64)
            return BatchMatches(empty, empty, empty, empty, empty)
        return self.join_occurrences(*self.occurrences(src_words, src_counts, "src"),
                                     *self.occurrences(tgt_words, tgt_counts, "tgt"), src_counts, tgt_counts)

    def occurrences(self, words: list[str], counts: np.ndarray,
                    side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The dictionary keys found among the segmented words of a ``"src"`` or ``"tgt"`` side of a batch (``words``,
        sentence after sentence, ``counts`` per sentence): ``(i0, i1, key id)`` arrays, flat word ranges ``[i0, i1)``
        that never cross a sentence, stop-word keys left out (:meth:`join_occurrences` takes them)."""
        index, tables = self.index, self.batch_tables()
        counts = np.asarray(counts, np.int64)
        sentence_end = np.repeat(np.cumsum(counts), counts)
        if side == "src":
            return _occurrences(words, sentence_end, tables.src_ids, tables.src_stop, index.src_prefixes,
                                index.src_extendable, tables.src_phrases, tables.src_chars, index.src_sep,
                                index.src_max_words, self.stops[0])
        return _occurrences(words, sentence_end, tables.tgt_ids, tables.tgt_stop, index.tgt_prefixes,
                            index.tgt_extendable, tables.tgt_phrases, tables.tgt_chars, index.tgt_sep,
                            index.tgt_max_words, self.stops[1])

    def side_occurrences(self, texts: Sequence[str], side: str) -> tuple[
            SegmentedBatch | WordSpans, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """:meth:`segment_batch` and :meth:`occurrences` of a ``"src"`` or ``"tgt"`` side of a batch in one step: the
        words' spans and counts (no word texts on a spaced side) and the dictionary occurrences, the same as those two
        give. On a spaced side the words of the plain texts (:func:`~veco_lightning.lexicon.words.plain_words`: all
        but those holding a no-space script or a character outside the Basic Multilingual Plane) are found with
        numpy and looked up by their characters through a cache of the words seen before (:class:`_TextWordIds`),
        with no string per word; the other texts are segmented as :meth:`segment_batch` does and their words looked
        up as strings. What data preparation runs."""
        index = self.index
        if (index.src_sep if side == "src" else index.tgt_sep) and len(texts):
            found = self._plain_side(texts, side)
            if found is not None:
                return found
        words = self.segment_batch(texts, side)
        return words, self.occurrences(words.words, words.counts, side)

    def _plain_side(self, texts: Sequence[str], side: str) -> tuple[
            WordSpans, tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
        """:meth:`side_occurrences` of a spaced side by word ids; ``None`` when a word's normalised text holds a
        space (then the side is matched as strings, as :meth:`occurrences` does)."""
        index, tables = self.index, self.batch_tables()
        source = side == "src"
        lang, phrases = (self.src_lang, tables.src_phrases) if source else (self.tgt_lang, tables.tgt_phrases)
        plain = plain_words(texts, lang)
        if side not in self._word_ids:
            self._word_ids[side] = _TextWordIds(phrases)
        ids = self._word_ids[side](plain)
        if ids is None:
            return None
        starts, ends, counts = plain.starts, plain.ends, plain.counts
        other = np.flatnonzero(~plain.plain)
        if len(other):  # segmented as segment_batch does, their words looked up as strings, put back in text order
            rest = segment_batch([texts[k] for k in other.tolist()], lang)
            spaced = getattr(rest.words, "spaced", None)
            if spaced or (spaced is None and " " in "\n".join(rest.words)):
                return None
            owner = np.concatenate([np.repeat(np.arange(len(texts)), counts), np.repeat(other, rest.counts)])
            order = np.argsort(owner, kind="stable")
            starts = np.concatenate([starts, rest.starts])[order]
            ends = np.concatenate([ends, rest.ends])[order]
            ids = np.concatenate([ids, phrases.lookup(rest.words)])[order]
            counts = counts.copy()
            counts[other] = rest.counts
        max_n = index.src_max_words if source else index.tgt_max_words
        extendable = index.src_extendable if source else index.tgt_extendable
        found = _occurrences_of_words(ids, np.repeat(np.cumsum(counts), counts), phrases,
                                      tables.src_stop if source else tables.tgt_stop, self.stops[0 if source else 1],
                                      max_n if extendable else 1)
        return WordSpans(starts, ends, counts), found

    def join_occurrences(self, s0: np.ndarray, s1: np.ndarray, skey: np.ndarray, t0: np.ndarray, t1: np.ndarray,
                         tkey: np.ndarray, src_counts: np.ndarray, tgt_counts: np.ndarray) -> BatchMatches:
        """The second half of :meth:`match_batch`, for dictionary occurrences found by any means: ``(s0, s1, skey)``
        are the source sides' occurrences (flat word ranges ``[s0, s1)`` over the batch's words, sentence after
        sentence, and the key ids of :class:`_BatchTables`), ``(t0, t1, tkey)`` the target's; ``*_counts`` the words
        of each sentence. Joins every source occurrence with its translations among the target occurrences of its
        sentence and resolves the candidates one-to-one."""
        tables = self.batch_tables()
        empty = np.zeros(0, np.int64)
        src_counts, tgt_counts = np.asarray(src_counts, np.int64), np.asarray(tgt_counts, np.int64)
        if self.max_pairs == 0 or not len(s0) or not len(t0):
            return BatchMatches(empty, empty, empty, empty, empty)
        src_first, tgt_first = np.cumsum(src_counts) - src_counts, np.cumsum(tgt_counts) - tgt_counts
        src_sentence = np.repeat(np.arange(len(src_counts)), src_counts)
        tgt_sentence = np.repeat(np.arange(len(tgt_counts)), tgt_counts)
        # Join: every source match with each of its translations, looked up among the target matches of its sentence.
        n_tgt_keys = len(tables.tgt_ids) + 1
        row = np.repeat(np.arange(len(s0)), tables.trans_count[skey])
        translation = tables.trans[_ranges(tables.trans_first[skey], tables.trans_count[skey])]
        present = np.zeros(n_tgt_keys, bool)  # translations that no target side of the batch holds need no search
        present[tkey] = True
        kept = present[translation]
        row = row[kept]
        wanted = src_sentence[s0][row] * n_tgt_keys + translation[kept]
        found = tgt_sentence[t0] * n_tgt_keys + tkey
        order = np.argsort(found, kind="stable")
        found = found[order]
        lo, hi = np.searchsorted(found, wanted, "left"), np.searchsorted(found, wanted, "right")
        row = np.repeat(row, hi - lo)
        col = order[_ranges(lo, hi - lo)]
        if not len(row):
            return BatchMatches(empty, empty, empty, empty, empty)
        sentence = src_sentence[s0[row]]
        c_i0, c_i1 = s0[row] - src_first[sentence], s1[row] - src_first[sentence]
        c_j0, c_j1 = t0[col] - tgt_first[sentence], t1[col] - tgt_first[sentence]

        # Sentences with something to resolve: a phrase, a word with two candidate partners, more than max_pairs.
        n_sentences = len(src_counts)
        hard = np.zeros(n_sentences, bool)
        hard[sentence[(c_i1 - c_i0 != 1) | (c_j1 - c_j0 != 1)]] = True
        stride = int(max(src_counts.max(), tgt_counts.max())) + 1
        for start in (c_i0, c_j0):
            code = np.sort(sentence * stride + start)
            hard[code[1:][code[1:] == code[:-1]] // stride] = True
        if self.max_pairs is not None:
            hard |= np.bincount(sentence, minlength=n_sentences) > self.max_pairs
        easy = ~hard[sentence]
        parts = [(sentence[easy], c_i0[easy], c_i1[easy], c_j0[easy], c_j1[easy])]
        if hard.any():
            pick = ~easy
            parts.append(_resolve_batch(sentence[pick], c_i0[pick], c_i1[pick], c_j0[pick], c_j1[pick], src_counts,
                                        tgt_counts, self.max_pairs))
        columns = [np.concatenate(column) for column in zip(*parts)]
        order = np.lexsort((columns[1], columns[0]))
        return BatchMatches(*(column[order] for column in columns))


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
