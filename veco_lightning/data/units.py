"""Word units: which sub-word tokens form which word, the one mapping training and evaluation share.

The token contrastive loss (training) and synonym retrieval, word alignment and the word-similarity heatmap
(evaluation) all pool sub-word states into *units*: every synonym phrase a dictionary finds in a sentence pair is
one unit, every other word another. This module turns character spans (from the lexicon's segmentation and mining)
into a unit index per token, through the tokenizer's offsets, with one rule everywhere:

* a token belongs to the first unit its characters overlap (a token spanning two words, ``不喜欢吃``, goes to the
  first); tokens outside every unit (spaces, punctuation, special tokens) get -1;
* a unit cut by truncation (it ends after the last token) gets no token at all, so it is absent rather than
  represented by a fragment, in training and in evaluation alike.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import chain, pairwise
from typing import NamedTuple

import numpy as np

from veco_lightning.lexicon.synonyms import BatchMatches, MiningStats, SynonymMiner, SynonymPair
from veco_lightning.lexicon.trie import _ranges
from veco_lightning.lexicon.words import SegmentedBatch, WordSpans, segment_spans

Span = tuple[int, int]


def char_spans_to_token_spans(word_spans: Sequence[Span], offsets: Sequence[Sequence[int]]) -> list[Span | None]:
    """Map character spans onto half-open ranges of the tokens whose offsets overlap them.

    Args:
        word_spans: ``(start, end)`` character spans into one text.
        offsets: that text's ``offset_mapping`` (from ``tokenizer(..., return_offsets_mapping=True)``), a list or
            tensor of ``(start, end)``. Tokens with empty offsets (special tokens: ``(0, 0)``) are ignored. For a
            pair encoded together, pass each sequence's slice of the offsets separately.

    Returns:
        For each span, ``(first_token, last_token + 1)`` in ``offsets`` positions, or ``None`` if no token overlaps
        (the text was truncated before the word). Overlap, not containment, is the test, so a SentencePiece token
        whose offsets include the leading space (``▁word`` starting one character before the word) still counts,
        and a token shared by two words (``不喜欢吃``) belongs to both.
    """
    if hasattr(offsets, "tolist"):
        offsets = offsets.tolist()
    positions, starts, ends = [], [], []
    for k, (start, end) in enumerate(offsets):
        if end > start:
            positions.append(k)
            starts.append(start)
            ends.append(end)
    monotone = all(a <= b for a, b in pairwise(starts)) and all(a <= b for a, b in pairwise(ends))
    result: list[Span | None] = []
    for word_start, word_end in word_spans:
        if monotone:
            first = bisect_right(ends, word_start)  # first token ending after the word starts
            stop = bisect_left(starts, word_end)  # first token starting at or after the word's end
            result.append((positions[first], positions[stop - 1] + 1) if first < stop else None)
        else:  # unusual tokenizers: scan
            hits = [positions[k] for k in range(len(starts)) if starts[k] < word_end and ends[k] > word_start]
            result.append((min(hits), max(hits) + 1) if hits else None)
    return result


def pair_token_spans(pairs: Sequence[SynonymPair], src_offsets, tgt_offsets) -> list[tuple[Span, Span]]:
    """Token spans ``(src_range, tgt_range)`` of mined pairs; pairs with a side lost to truncation are dropped."""
    src = char_spans_to_token_spans([p.src_span for p in pairs], src_offsets)
    tgt = char_spans_to_token_spans([p.tgt_span for p in pairs], tgt_offsets)
    return [(s, t) for s, t in zip(src, tgt) if s is not None and t is not None]


def units_of(words: list[tuple[str, int, int]],
             phrases: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """Character spans of a side's units (synonym phrases merged, every other word alone), in text order, and the
    unit index of each phrase.

    Args:
        words: the side's segmentation, ``(text, start, end)``.
        phrases: word ranges ``[first, last + 1)`` of the mined phrases (disjoint).
    """
    if all(last - first == 1 for first, last in phrases):  # the common case: every unit is a word
        return [(start, end) for _, start, end in words], [first for first, _ in phrases]
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
    :func:`char_spans_to_token_spans` because this runs for every word of every pair)."""
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


class PairUnits(NamedTuple):
    """The units of one sentence pair.

    Attributes:
        src_index: unit index of every source token (-1: none), aligned with the source offsets.
        tgt_index: the same for the target.
        synonyms: synonym pairs as flat ``[src unit, tgt unit, ...]`` (a flat Arrow list is cheap to store); only pairs
            whose two units both kept a token.
        src_spans: character spans of the source units, in text order (unit ``u`` is ``src_spans[u]``).
        tgt_spans: the same for the target.
        counts: the mining counts of :meth:`MiningStats.count
            <veco_lightning.lexicon.synonyms.MiningStats.count>`, then the number of synonym pairs kept.
    """

    src_index: list[int]
    tgt_index: list[int]
    synonyms: list[int]
    src_spans: list[Span]
    tgt_spans: list[Span]
    counts: tuple[int, ...]


def mine_units(miner: SynonymMiner, src_text: str, tgt_text: str, src_offsets: Sequence[Span],
               tgt_offsets: Sequence[Span]) -> PairUnits:
    """Mine a sentence pair and map its units onto its tokens (``*_offsets``: each side's token offsets)."""
    matches, src_words, tgt_words = miner.matches(src_text, tgt_text)
    src_spans, src_units = units_of(src_words, [(m[0], m[1]) for m in matches])
    tgt_spans, tgt_units = units_of(tgt_words, [(m[2], m[3]) for m in matches])
    src_index, tgt_index = token_units(src_spans, src_offsets), token_units(tgt_spans, tgt_offsets)
    synonyms: list[int] = []
    if matches:
        present_src, present_tgt = set(src_index), set(tgt_index)
        synonyms = [u for i, j in zip(src_units, tgt_units) if i in present_src and j in present_tgt for u in (i, j)]
    counts = (*MiningStats.count_matches(matches, len(src_words), len(tgt_words)), len(synonyms) // 2)
    return PairUnits(src_index, tgt_index, synonyms, src_spans, tgt_spans, counts)


def word_units(text: str, lang: str, offsets: Sequence[Span]) -> tuple[list[int], list[Span]]:
    """Units of a sentence without a dictionary: its words (``lexicon.words.segment``; one unit per character in
    scripts without spaces). Returns ``(unit index of every token, unit spans)``."""
    spans = [(start, end) for _, start, end in segment_spans(text, lang)]
    return token_units(spans, offsets), spans


def whitespace_units(text: str, offsets: Sequence[Span]) -> tuple[list[int], list[Span]]:
    """Units that are the whitespace-separated tokens of ``text``: the words gold word alignments (Pharaoh files)
    index. Returns ``(unit index of every token, unit spans)``."""
    spans, start = [], 0
    for word in text.split():
        start = text.index(word, start)
        spans.append((start, start + len(word)))
        start += len(word)
    return token_units(spans, offsets), spans


__all__ = ["BatchUnits", "MatchedBatch", "PairUnits", "SynonymPair", "UnitLayout", "batch_units",
           "char_spans_to_token_spans", "flat_offsets", "match_texts_batch", "mine_units", "mine_units_batch",
           "pair_token_spans", "token_units", "unit_layout", "units_of", "units_of_matches", "units_of_sides",
           "whitespace_units", "word_units"]



class BatchUnits(NamedTuple):
    """:class:`PairUnits` of a batch of sentence pairs, column by column and flat (what the synonym datamodule
    stores): the unit of every token (-1: none), pair after pair, with the tokens of each pair (``src_index`` /
    ``src_tokens``, ``tgt_index`` / ``tgt_tokens``); the kept synonym pairs ``[src unit, tgt unit, ...]``, pair
    after pair, with their number per pair (``synonyms`` / ``kept``); and :attr:`PairUnits.counts` per pair
    (``counts``, one row each)."""

    src_index: np.ndarray
    src_tokens: np.ndarray
    tgt_index: np.ndarray
    tgt_tokens: np.ndarray
    synonyms: np.ndarray
    kept: np.ndarray
    counts: np.ndarray

    def rows(self) -> list[tuple[list[int], list[int], list[int], tuple[int, ...]]]:
        """``(src_index, tgt_index, synonyms, counts)`` of each pair, as :func:`mine_units` gives them."""
        return list(zip(_split(self.src_index, self.src_tokens), _split(self.tgt_index, self.tgt_tokens),
                        _split(self.synonyms, 2 * self.kept), map(tuple, self.counts.tolist())))


def _split(values: np.ndarray, counts: np.ndarray) -> list[list[int]]:
    """``values`` cut into consecutive lists of ``counts`` elements."""
    flat, bounds = values.tolist(), np.cumsum(counts).tolist()
    return [flat[a:b] for a, b in zip([0, *bounds[:-1]], bounds)]


class UnitLayout(NamedTuple):
    """The units of one side of a batch (:func:`unit_layout`), in flat unit numbers: each unit's first and last word
    (flat word positions), its sentence, the units of the sentences before each sentence, the unit of every word and
    the unit of every phrase."""

    unit_first: np.ndarray
    unit_last: np.ndarray
    unit_sentence: np.ndarray
    units_before: np.ndarray
    unit_of_word: np.ndarray
    phrase_unit: np.ndarray


def unit_layout(word_counts: np.ndarray, sentence: np.ndarray, first: np.ndarray, last: np.ndarray) -> UnitLayout:
    """The units of a side whose sentences hold ``word_counts`` words: every phrase (words ``[first, last)`` of
    sentence ``sentence``; disjoint) one unit, every other word another. Shared by the token maps of text mining
    (:func:`_side_units`) and of token mining."""
    n_sentences, n_words = len(word_counts), int(np.sum(word_counts))
    word_first = np.cumsum(word_counts) - word_counts
    phrase_first = word_first[sentence] + first
    inside = np.zeros(n_words, bool)  # words merged into the unit of the phrase they continue
    inside[_ranges(phrase_first + 1, last - first - 1)] = True
    unit_of_word = np.cumsum(~inside) - 1
    unit_first = np.flatnonzero(~inside)  # a unit runs from its first word to the word before the next unit
    unit_last = np.append(unit_first[1:], n_words)[:len(unit_first)] - 1  # none where the side has no word
    unit_sentence = np.repeat(np.arange(n_sentences), word_counts)[unit_first]
    per_sentence = np.bincount(unit_sentence, minlength=n_sentences)
    return UnitLayout(unit_first, unit_last, unit_sentence, np.cumsum(per_sentence) - per_sentence, unit_of_word,
                      unit_of_word[phrase_first])


def _side_units(starts: np.ndarray, ends: np.ndarray, word_counts: np.ndarray, sentence: np.ndarray,
                first: np.ndarray, last: np.ndarray, token_start: np.ndarray, token_end: np.ndarray,
                token_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One side of :func:`mine_units_batch`: the units (the phrases, words ``[first, last)`` of sentence
    ``sentence``, merged; every other word alone) and the unit of every token by the rule of :func:`token_units`.
    ``starts``/``ends``: the character spans of the side's words, sentence after sentence; ``token_start`` /
    ``token_end``: the character offsets of the side's tokens, sentence after sentence (:func:`flat_offsets`), with
    the tokens of each sentence (``token_counts``).

    Returns the unit of every token (local to its sentence; -1: none), the tokens per sentence, the unit of every
    phrase (local) and whether it kept a token."""
    n_sentences = len(word_counts)
    layout = unit_layout(word_counts, sentence, first, last)
    unit_first, unit_last, unit_sentence, units_before = (layout.unit_first, layout.unit_last, layout.unit_sentence,
                                                          layout.units_before)
    n_units = len(unit_first)

    n_tokens = len(token_start)
    token_sentence = np.repeat(np.arange(n_sentences), token_counts)
    last_end = np.zeros(n_sentences, np.int64)  # a unit ending after the last token was cut by truncation
    np.maximum.at(last_end, token_sentence, token_end)
    stride = int(max(ends.max(initial=0), token_end.max(initial=0))) + 1  # positions of sentence s: s * stride + char
    base = token_sentence * stride
    nonempty = token_end > token_start
    # A token goes to the first unit that ends after the furthest token start so far (empty tokens do not count) ...
    reach = np.maximum.accumulate(np.where(nonempty, base + token_start, base)) if n_tokens else base
    unit = np.searchsorted(unit_sentence * stride + ends[unit_last], reach, "right")
    valid = nonempty & (unit < n_units)
    at = np.minimum(unit, n_units - 1) if n_units else np.zeros_like(unit)
    if n_units:  # ... if that unit is in its sentence, overlaps the token, and was not cut by truncation
        valid &= ((unit_sentence[at] == token_sentence) & (starts[unit_first[at]] < token_end)
                  & (ends[unit_last[at]] <= last_end[token_sentence]))
        token_unit = np.where(valid, unit - units_before[token_sentence], -1)
    else:
        token_unit = np.full(n_tokens, -1, np.int64)
    present = np.zeros(n_units, bool)
    present[unit[valid]] = True
    return token_unit, token_counts, layout.phrase_unit - units_before[sentence], present[layout.phrase_unit]


class MatchedBatch(NamedTuple):
    """The half of :func:`mine_units_batch` that needs only the texts: both sides' segmentation and the dictionary
    matches between them (:func:`match_texts_batch`). The token maps need the tokenizer's offsets too
    (:func:`units_of_matches`), so the two halves can run side by side."""

    src: SegmentedBatch | WordSpans
    tgt: SegmentedBatch | WordSpans
    found: BatchMatches


def match_texts_batch(miner: SynonymMiner, src_texts: Sequence[str], tgt_texts: Sequence[str]) -> MatchedBatch:
    """Segment both sides of a batch and match them against the dictionary: what
    :meth:`SynonymMiner.segment_batch` and :meth:`SynonymMiner.match_batch` give, each side's words found and
    looked up in one step (:meth:`SynonymMiner.side_occurrences`; a spaced side's words without their texts)."""
    src, src_found = miner.side_occurrences(src_texts, "src")
    tgt, tgt_found = miner.side_occurrences(tgt_texts, "tgt")
    return MatchedBatch(src, tgt, miner.join_occurrences(*src_found, *tgt_found, src.counts, tgt.counts))


def flat_offsets(offsets: Sequence[Sequence[Span]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The token offsets of many texts as flat arrays: every token's start and end, text after text, and the number
    of tokens of each text."""
    token_counts = np.fromiter(map(len, offsets), np.int64, len(offsets))
    n_tokens = int(token_counts.sum())
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(offsets)), np.int64, 2 * n_tokens).reshape(n_tokens, 2)
    return flat[:, 0], flat[:, 1], token_counts


def units_of_matches(matched: MatchedBatch, src_offsets: Sequence[Sequence[Span]],
                     tgt_offsets: Sequence[Sequence[Span]]) -> BatchUnits:
    """The units and token maps of a :func:`match_texts_batch` result, given each text's token offsets."""
    return batch_units(matched, flat_offsets(src_offsets), flat_offsets(tgt_offsets))


def batch_units(matched: MatchedBatch, src_tokens: tuple[np.ndarray, np.ndarray, np.ndarray],
                tgt_tokens: tuple[np.ndarray, np.ndarray, np.ndarray]) -> BatchUnits:
    """:func:`units_of_matches` with each side's token offsets as :func:`flat_offsets` gives them. The words' spans
    and the tokens' offsets need only share one coordinate (characters for text mining, token positions for
    :mod:`veco_lightning.data.token_mining`)."""
    src, tgt, found = matched
    src_side = _side_units(src.starts, src.ends, src.counts, found.sentence, found.i0, found.i1, *src_tokens)
    tgt_side = _side_units(tgt.starts, tgt.ends, tgt.counts, found.sentence, found.j0, found.j1, *tgt_tokens)
    return units_of_sides(found, src.counts, tgt.counts, src_side, tgt_side)


def units_of_sides(found: BatchMatches, src_counts: np.ndarray, tgt_counts: np.ndarray, src_side: tuple,
                   tgt_side: tuple) -> BatchUnits:
    """:class:`BatchUnits` from each side's units as :func:`_side_units` gives them (the unit of every token, the
    tokens per sentence, the unit of every phrase and whether it kept a token) and each side's words per sentence."""
    src_unit, src_tokens, src_phrase, src_kept = src_side
    tgt_unit, tgt_tokens, tgt_phrase, tgt_kept = tgt_side
    n_sentences = len(src_counts)
    keep = src_kept & tgt_kept  # a synonym pair is kept when both its units kept a token
    kept_per_sentence = np.bincount(found.sentence[keep], minlength=n_sentences)
    synonyms = np.stack([src_phrase[keep], tgt_phrase[keep]], axis=1).reshape(-1)
    src_len, tgt_len = found.i1 - found.i0, found.j1 - found.j0
    pairs = np.bincount(found.sentence, minlength=n_sentences)
    stats = np.stack([
        np.ones(n_sentences, np.int64), pairs > 0, pairs,
        np.bincount(found.sentence, (src_len > 1) | (tgt_len > 1), n_sentences), src_counts, tgt_counts,
        np.bincount(found.sentence, src_len, n_sentences), np.bincount(found.sentence, tgt_len, n_sentences),
        kept_per_sentence,
    ], axis=1).astype(np.int64)
    return BatchUnits(src_unit, src_tokens, tgt_unit, tgt_tokens, synonyms, kept_per_sentence, stats)


def mine_units_batch(miner: SynonymMiner, src_texts: Sequence[str], tgt_texts: Sequence[str],
                     src_offsets: Sequence[Sequence[Span]], tgt_offsets: Sequence[Sequence[Span]]) -> BatchUnits:
    """:func:`mine_units` for a batch of sentence pairs, with the same result (:meth:`BatchUnits.rows`): the
    segmentation and the dictionary matching (:func:`match_texts_batch`), then the units and the token maps
    (:func:`units_of_matches`), each over the whole batch."""
    return units_of_matches(match_texts_batch(miner, src_texts, tgt_texts), src_offsets, tgt_offsets)
