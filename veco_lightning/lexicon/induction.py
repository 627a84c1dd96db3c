"""Bilingual dictionary induction from a parallel corpus by co-occurrence statistics.

The token-level contrastive loss needs a bilingual dictionary per language pair
(:mod:`veco_lightning.lexicon.synonyms`). For pairs without one (here Japanese-English and Swahili-English), this
module induces a dictionary from the parallel sentence pairs themselves, with the classic sentence-level
co-occurrence method:

1. Each side of each sentence pair becomes a *set* of distinct normalised words
   (:func:`veco_lightning.lexicon.words.segment`). A side written without spaces (zh, ja, th, ...) has no words to
   find, so its candidates are the character n-grams (1 to ``max_ngram_chars`` characters) of every run of such a
   script; an induced entry such as ``東京`` is later found in a sentence by the mining step's longest-match
   segmentation against the dictionary's phrases, because no-space phrases are stored without spaces.
2. Sentence frequencies ``c(s)``, ``c(t)`` and co-occurrence counts ``c(s, t)`` (the number of sentence pairs holding
   both) are counted. Words seen in fewer than ``min_count`` sentences, in more than ``max_frequency`` of them (the
   function words of a language without a stop-word list), stop words and tokens without a letter (numbers) are
   dropped before pairs are counted.
3. Each pair with ``c(s, t) >= min_count`` is scored by the Dice coefficient ``2 c(s, t) / (c(s) + c(t))`` and kept
   if the score reaches ``min_dice``.
4. On an n-gram side an n-gram and its sub-grams co-occur almost identically (``東京`` and ``東``); of two candidates
   with the same partner where one string contains the other and both Dice and ``c(s, t)`` agree within 10%, the
   shorter is dropped.
5. ``mutual=True`` keeps ``(s, t)`` only if ``t`` is the best-scoring partner of ``s`` and ``s`` the best-scoring
   partner of ``t``: a type-level form of *competitive linking* (Melamed 2000, "Models of translational
   equivalence among words", Computational Linguistics 26(2)). Plain association scores over-rate indirect
   associations (a word and the frequent neighbours of its translation); letting each word keep only its strongest
   partner, in both directions, removes most of them. Ties go to the higher ``c(s, t)``, then to identical strings
   (names, cognates), then to the longer string.

What to expect: a one-to-one, single-word (or single n-gram) dictionary of the corpus' mid-frequency content words,
proper names included; multi-word expressions and inflectional variants beyond the best one are missed, and a
word's several senses collapse to its most frequent translation. On NTREX-128 (1,797 training sentence pairs per
language, xx->en) the defaults induce 735-1,150 entries per language pair; where a Wiktionary dictionary covers the
source word, 71% of them (pooled over 10 languages) are listed translations: 75-83% for de/es/fr/ru/el, 56-70%
for ar/hi/tr/zh, 40% for Vietnamese, whose words are single syllables (``benchmarks/induction_precision.py``; the
figure is a lower bound, as Wiktionary lists lemmas and misses many right pairs). No-space n-gram entries often
carry a particle or a cut (``区の``, ``教えるこ``), and words longer than ``max_ngram_chars`` are truncated. Without
``mutual`` precision halves (38%). ``min_count``/``min_dice`` trade entries for a few points of precision; more
sentence pairs help both.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import NamedTuple

import numpy as np

from veco_lightning.lexicon.dictionary import BilingualDictionary, phrase
from veco_lightning.lexicon.stopwords import StopWords, default_stop_words, stop_sets
from veco_lightning.lexicon.words import NO_SPACE_CHAR, is_no_space_lang, segment_spans

log = logging.getLogger(__name__)

__all__ = ["InducedEntry", "induce_dictionary", "induce_entries"]

_TIE = 0.1  # relative difference under which an n-gram and a sub-gram count as a near-tie
_COMPACT_AT = 4_000_000  # pair codes buffered before they are reduced to (code, count)


class InducedEntry(NamedTuple):
    """A scored dictionary candidate: normalised source and target words (no-space n-grams without spaces), their
    co-occurrence count ``c(s, t)``, sentence frequencies ``c(s)``, ``c(t)`` and Dice coefficient."""

    src: str
    tgt: str
    count: int
    src_count: int
    tgt_count: int
    dice: float


def _has_letter(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def _units(text: str, lang: str, no_space: bool, max_chars: int) -> set[str]:
    """The distinct candidate words of one sentence: its segmented words with a letter, and for a no-space
    language the character n-grams (up to ``max_chars``) of each run of a no-space script instead of its characters."""
    words = segment_spans(text, lang)
    if not no_space:
        return {w for w, _, _ in words if _has_letter(w)}
    units: set[str] = set()
    run: list[str] = []

    def flush() -> None:
        for i in range(len(run)):
            for j in range(i + 1, min(i + max_chars, len(run)) + 1):
                units.add("".join(run[i:j]))
        run.clear()

    end = -1
    for word, start, stop in words:
        if NO_SPACE_CHAR.match(word):  # without a lexicon, a no-space run is segmented into single characters
            if start != end:
                flush()
            run.append(word)
        else:
            flush()
            if _has_letter(word):
                units.add(word)
        end = stop
    flush()
    return units


def _stop_sets(stop_words: StopWords, src_lang: str, tgt_lang: str) -> tuple[AbstractSet[str], AbstractSet[str]]:
    """Induction's stop words: the built-in lists when ``stop_words`` is ``None`` (unlike mining, where ``None`` is
    none), else as :func:`~veco_lightning.lexicon.stopwords.stop_sets`."""
    if stop_words is None:
        return default_stop_words(src_lang), default_stop_words(tgt_lang)
    return stop_sets(stop_words, src_lang, tgt_lang)


def _vocabulary(counts: Counter, min_count: int, max_count: float, stop: AbstractSet[str]) -> dict[str, int]:
    kept = sorted(w for w, c in counts.items() if min_count <= c <= max_count and w not in stop)
    return {w: i for i, w in enumerate(kept)}


def _reduce(codes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(codes, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts, minlength=len(unique)).astype(np.int64)


def _near(a: InducedEntry, b: InducedEntry) -> bool:
    return abs(a.dice - b.dice) <= _TIE * max(a.dice, b.dice) and abs(a.count - b.count) <= _TIE * max(a.count, b.count)


def _drop_subsumed(entries: list[InducedEntry], side: int) -> list[InducedEntry]:
    """Drop candidates whose ``side`` string (0: src, 1: tgt) is a substring of a longer candidate's with the same
    partner and a near-tied score (the longer n-gram is the word; its sub-grams only ride along)."""
    groups: dict[str, list[InducedEntry]] = defaultdict(list)
    for entry in entries:
        groups[entry[1 - side]].append(entry)
    dropped: set[tuple[str, str]] = set()
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda e: len(e[side]))
        for i, short in enumerate(group):
            for long in group[i + 1 :]:
                if len(long[side]) > len(short[side]) and short[side] in long[side] and _near(short, long):
                    dropped.add((short.src, short.tgt))
                    break
    return [e for e in entries if (e.src, e.tgt) not in dropped]


def induce_entries(pairs: Iterable[tuple[str, str]], src_lang: str, tgt_lang: str, *, min_count: int = 3,
                   min_dice: float = 0.3, max_ngram_chars: int = 4, stop_words: StopWords = None,
                   max_frequency: float = 0.1, mutual: bool = True) -> list[InducedEntry]:
    """The scored entries :func:`induce_dictionary` keeps, best Dice first (see there for the arguments)."""
    return _induce(pairs, src_lang, tgt_lang, min_count, min_dice, max_ngram_chars, stop_words, max_frequency,
                   mutual)[0]


def _induce(pairs: Iterable[tuple[str, str]], src_lang: str, tgt_lang: str, min_count: int, min_dice: float,
            max_ngram_chars: int, stop_words: StopWords, max_frequency: float,
            mutual: bool) -> tuple[list[InducedEntry], dict[str, int]]:
    if min_count < 1:
        raise ValueError(f"induce_dictionary: min_count must be >= 1, got {min_count}")
    if not 0.0 < max_frequency <= 1.0:
        raise ValueError(f"induce_dictionary: max_frequency is a share of sentences in (0, 1], got {max_frequency}")
    if max_ngram_chars < 1:
        raise ValueError(f"induce_dictionary: max_ngram_chars must be >= 1, got {max_ngram_chars}")
    src_ns, tgt_ns = is_no_space_lang(src_lang), is_no_space_lang(tgt_lang)
    src_stop, tgt_stop = _stop_sets(stop_words, src_lang, tgt_lang)
    src_sets: list[set[str]] = []
    tgt_sets: list[set[str]] = []
    src_freq: Counter[str] = Counter()
    tgt_freq: Counter[str] = Counter()
    for src_text, tgt_text in pairs:
        src_units = _units(src_text, src_lang, src_ns, max_ngram_chars)
        tgt_units = _units(tgt_text, tgt_lang, tgt_ns, max_ngram_chars)
        src_sets.append(src_units)
        tgt_sets.append(tgt_units)
        src_freq.update(src_units)
        tgt_freq.update(tgt_units)
    n = len(src_sets)
    stats = {"sentence_pairs": n, "src_words": len(src_freq), "tgt_words": len(tgt_freq)}
    src_vocab = _vocabulary(src_freq, min_count, max_frequency * n, src_stop)
    tgt_vocab = _vocabulary(tgt_freq, min_count, max_frequency * n, tgt_stop)
    stats.update(src_kept=len(src_vocab), tgt_kept=len(tgt_vocab))
    if not src_vocab or not tgt_vocab:
        return [], stats

    # Co-occurrences as integer codes src_id * |tgt vocabulary| + tgt_id, counted with numpy in bounded chunks.
    width = len(tgt_vocab)
    codes = np.empty(0, dtype=np.int64)
    counts = np.empty(0, dtype=np.int64)
    pending: list[np.ndarray] = []
    buffered = 0
    for src_units, tgt_units in zip(src_sets, tgt_sets):
        s_ids = [src_vocab[w] for w in src_units if w in src_vocab]
        t_ids = [tgt_vocab[w] for w in tgt_units if w in tgt_vocab]
        if s_ids and t_ids:
            block = (np.array(s_ids, dtype=np.int64)[:, None] * width + np.array(t_ids, dtype=np.int64)).ravel()
            pending.append(block)
            buffered += block.size
            if buffered >= _COMPACT_AT:
                fresh = np.concatenate(pending)
                codes, counts = _reduce(np.concatenate([codes, fresh]),
                                        np.concatenate([counts, np.ones(fresh.size, dtype=np.int64)]))
                pending, buffered = [], 0
    if pending:
        fresh = np.concatenate(pending)
        codes, counts = _reduce(np.concatenate([codes, fresh]),
                                np.concatenate([counts, np.ones(fresh.size, dtype=np.int64)]))
    stats["cooccurring_pairs"] = int(codes.size)

    src_words = sorted(src_vocab, key=src_vocab.__getitem__)
    tgt_words = sorted(tgt_vocab, key=tgt_vocab.__getitem__)
    src_c = np.array([src_freq[w] for w in src_words], dtype=np.int64)
    tgt_c = np.array([tgt_freq[w] for w in tgt_words], dtype=np.int64)
    frequent = counts >= min_count
    codes, counts = codes[frequent], counts[frequent]
    s_idx, t_idx = codes // width, codes % width
    dice = 2.0 * counts / (src_c[s_idx] + tgt_c[t_idx])
    good = dice >= min_dice
    stats.update(frequent_pairs=int(frequent.sum()), above_min_dice=int(good.sum()))
    entries = [InducedEntry(src_words[s], tgt_words[t], int(c), int(src_c[s]), int(tgt_c[t]), float(d))
               for s, t, c, d in zip(s_idx[good].tolist(), t_idx[good].tolist(), counts[good].tolist(),
                                     dice[good].tolist())]
    if src_ns:
        entries = _drop_subsumed(entries, 0)
    if tgt_ns:
        entries = _drop_subsumed(entries, 1)
    stats["after_ngram_ties"] = len(entries)
    if mutual:
        best_src: dict[str, InducedEntry] = {}
        best_tgt: dict[str, InducedEntry] = {}
        for e in entries:
            key = (e.dice, e.count, e.src == e.tgt, len(e.tgt), e.tgt)
            held = best_src.get(e.src)
            if held is None or key > (held.dice, held.count, held.src == held.tgt, len(held.tgt), held.tgt):
                best_src[e.src] = e
            key = (e.dice, e.count, e.src == e.tgt, len(e.src), e.src)
            held = best_tgt.get(e.tgt)
            if held is None or key > (held.dice, held.count, held.src == held.tgt, len(held.src), held.src):
                best_tgt[e.tgt] = e
        entries = [e for e in entries if best_src[e.src] is e and best_tgt[e.tgt] is e]
    entries.sort(key=lambda e: (-e.dice, -e.count, e.src, e.tgt))
    return entries, stats


def induce_dictionary(pairs: Iterable[tuple[str, str]], src_lang: str, tgt_lang: str, *, min_count: int = 3,
                      min_dice: float = 0.3, max_ngram_chars: int = 4, stop_words: StopWords = None,
                      max_frequency: float = 0.1, mutual: bool = True) -> BilingualDictionary:
    """Induce a ``src_lang -> tgt_lang`` dictionary from parallel sentence pairs (Dice + competitive linking).

    See the module docstring for the method. The returned dictionary holds normalised phrases in the convention of
    :func:`veco_lightning.lexicon.dictionary.phrase` (no-space n-grams as one unspaced word), so it plugs straight into
    :func:`veco_lightning.lexicon.synonyms.mine_pair` / ``mine_corpus``; its ``sources`` read ``induced:<n> pairs``.

    Args:
        pairs: ``(src sentence, tgt sentence)`` pairs, read once.
        src_lang, tgt_lang: language codes of the two sides (``ja``, ``zh-CN``, ...).
        min_count: least co-occurrence count ``c(s, t)`` (and hence sentence frequency) of an entry. Entries seen in
            fewer sentence pairs are mostly chance; raising it trades recall for precision.
        min_dice: least Dice coefficient ``2 c(s, t) / (c(s) + c(t))``.
        max_ngram_chars: longest character n-gram considered on a no-space side.
        stop_words: words never induced: ``None`` for the built-in lists
            (:func:`veco_lightning.lexicon.stopwords.default_stop_words`, empty for a language without one), one set for
            both sides, or ``{lang: words}``; pass an empty set to switch the filter off.
        max_frequency: words in more than this share of the sentences are dropped (function words, also in
            languages without a stop-word list; the n-grams of particles on a no-space side).
        mutual: keep ``(s, t)`` only if each is the other's best-scoring partner (one-to-one, high precision);
            ``False`` keeps every candidate that passes the thresholds (several translations per word, lower
            precision).

    Returns:
        A :class:`~veco_lightning.lexicon.dictionary.BilingualDictionary` with the induced entries (logged at INFO).
    """
    begin = time.perf_counter()
    entries, stats = _induce(pairs, src_lang, tgt_lang, min_count, min_dice, max_ngram_chars, stop_words,
                             max_frequency, mutual)
    result = BilingualDictionary(src_lang, tgt_lang)
    result.sources.append(f"induced:{stats['sentence_pairs']} pairs")
    for entry in entries:
        src, tgt = phrase(entry.src, src_lang), phrase(entry.tgt, tgt_lang)
        if src and tgt:
            result.add(src, tgt)
    log.info(
        "Induced %d %s-%s dictionary entries from %d sentence pairs in %.2f s (words kept %d/%d src, %d/%d tgt; "
        "%d pairs with c(s,t) >= %d, %d with Dice >= %.2f, %d after n-gram ties; mutual=%s)",
        result.entries, src_lang, tgt_lang, stats["sentence_pairs"], time.perf_counter() - begin,
        stats.get("src_kept", 0), stats["src_words"], stats.get("tgt_kept", 0), stats["tgt_words"],
        stats.get("frequent_pairs", 0), min_count, stats.get("above_min_dice", 0), min_dice,
        stats.get("after_ngram_ties", 0), mutual)
    return result
