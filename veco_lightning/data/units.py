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
from itertools import pairwise
from typing import NamedTuple

from veco_lightning.lexicon.synonyms import MiningStats, SynonymMiner, SynonymPair
from veco_lightning.lexicon.words import segment_spans

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


__all__ = ["PairUnits", "SynonymPair", "char_spans_to_token_spans", "mine_units", "pair_token_spans", "token_units",
           "units_of", "whitespace_units", "word_units"]
