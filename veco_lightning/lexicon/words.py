"""Word segmentation with character spans into the original text (the first step of synonym mining, ``synonyms.py``).

The token-level contrastive loss needs *words* (the unit a bilingual dictionary speaks about) located by
character offsets in the sentence as it will be tokenised, so that each word can later be mapped onto its sub-word
tokens through the tokenizer's offset mapping. Two consequences shape this module:

* Spans index the ORIGINAL text. Normalisation (NFKC, casefold) can change the length of a string (``ﬁ`` -> ``fi``,
  ``ß`` -> ``ss``, half-width ``ｶﾞ`` -> ``ガ``), so words are found on the original text and each word is normalised
  on its own afterwards. ``normalize(text[w.start:w.end]) == w.text`` always holds.
* Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) have no word boundaries to
  find with a regex. The only lexicon available at mining time is the bilingual dictionary itself, so such runs are
  cut by greedy longest match against the dictionary's phrases of that language, and characters that start no
  lexicon entry become one-character words. (A statistical segmenter such as jieba would be a heavier dependency
  and would cut differently from the dictionary, which is the thing we need to match.)

Everything else is found by a Unicode word pattern: a maximal run of word characters (letters and other
alphabetic characters, combining marks, decimal digits: the ``regex`` module's Unicode ``\\w`` without ``_``), with
internal apostrophes and hyphens kept inside the word (``o'clock``, ``well-known``), and digit groups such as ``3.5``
or ``1,000`` kept whole. Punctuation and symbols are not words. For French/Italian/Catalan the elided articles and
pronouns (``l'``, ``d'``, ``qu'``) and for English the clitics ``'s 're 've 'll 'd 'm`` are split off, because
dictionaries list ``homme`` and ``john``, not ``l'homme`` and ``john's``; the clitic becomes its own word in French
(``l``), and is dropped in English. Dictionary entries go through the same segmenter (see ``dictionary.py``), so
whatever this module decides, entries and sentences agree on it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple

import numpy as np

try:
    import regex
except ImportError as err:  # pragma: no cover - regex is a dependency of transformers
    raise ImportError(
        "veco_lightning/lexicon/words.py needs the `regex` package for Unicode properties (\\p{L}); it is a dependency "
        "of transformers: pip install regex"
    ) from err

from veco_lightning.lexicon.languages import base_language
from veco_lightning.lexicon.trie import CharTrie, _ranges, char_trie, code_points, from_code_points

NO_SPACE_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "yue", "wuu", "bo", "dz"})
"""Languages written without spaces between words: their dictionary phrases are stored with spaces removed."""

_NS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\u3005\u30fc"
_JOINERS = "['’ʼ\\-‐‑]"
# A word character is regex's Unicode ``\w`` (alphabetic, marks, decimal digits, connectors) minus ``_``.
_FAST = regex.compile(rf"\d+(?:[.,:]\d+)+|[^\W_]+(?:{_JOINERS}[^\W_]+)*")
# Splitting on the word pattern inside a group gives [gap, word, gap, ..., word, gap]: the running lengths of the parts
# are the words' offsets, found with no Python loop over the words.
_SPLIT = regex.compile(f"({_FAST.pattern})")
# _FAST restricted to ASCII, for stdlib ``re`` (about twice as fast as ``regex`` on ASCII text, where the two agree:
# regex's Unicode \d is [0-9] there, [^\W_] is [a-zA-Z0-9], and the joiners are ' and -). A match's first character
# is taken by a class and the digit-group branch is chosen by a look-behind at that character (never before the
# match): a pattern that begins with a class lets ``re``'s search loop skip the characters that cannot begin a word
# instead of trying the pattern at each (split 1.04-1.16x faster on NTREX than with a look-ahead for the digit group,
# itself 1.7x faster on English news than trying that branch at every letter; the same matches). The quantifiers are
# possessive (``++``, Python 3.11): nothing after a run could match what backtracking into it would give back (a digit
# run is followed by [.,:] or the end, a word run by a joiner or the end), so the matches are those of the greedy
# pattern, and ``re`` keeps no backtracking points: split 1.08-1.13x faster on NTREX. (In the ``regex`` module the same
# change is 0.83x, so its patterns stay greedy.)
_ASCII_SPLIT = re.compile(
    r"([a-zA-Z0-9](?:(?<=[0-9])[0-9]*+(?:[.,:][0-9]++)++|[a-zA-Z0-9]*+(?:['\-][a-zA-Z0-9]++)*+))")


@functools.cache
def _plane_patterns() -> tuple[re.Pattern, re.Pattern]:
    r"""``(other, split)``: ``split`` is :data:`_SPLIT` for stdlib ``re``, its ``\d`` and ``[^\W_]`` spelled out as
    the classes of Basic Multilingual Plane characters that ``regex`` puts in them, read off ``regex`` by one scan of
    the plane on first use (about 25 ms). On text of which ``other`` finds no character (none outside the plane,
    none of a no-space script) it finds exactly the words :data:`_SPLIT` finds, 1.7-2.0x faster on NTREX's spaced
    languages, Devanagari (whose vowel signs ``re``'s own ``\w`` leaves out of words) included, and 1.2-1.4x faster
    than ``re``'s own classes where those agreed with ``regex``. ``re`` keeps a class of plane characters as a
    bitmap; one reaching outside the plane is tested range by range (5x slower than ``regex`` on NTREX), so text
    outside the plane (emoji, say) stays with ``regex``."""
    kept, start = [], 0  # the plane less the no-space characters
    for first, last in _plane_spans(NO_SPACE_CHAR.pattern):
        if start < first:
            kept.append((start, first - 1))
        start = last + 1
    if start <= 0xFFFF:
        kept.append((start, 0xFFFF))
    word, digit = _plane_class(r"[^\W_]"), _plane_class(r"\d")
    # The first character taken by a class, the look-behind and the possessive quantifiers: see _ASCII_SPLIT.
    split = re.compile(rf"({word}(?:(?<={digit}){digit}*+(?:[.,:]{digit}++)++|{word}*+(?:{_JOINERS}{word}++)*+))")
    return re.compile(f"[^{_spelled(kept)}]"), split


@functools.cache
def _plane_mixed() -> tuple[re.Pattern, re.Pattern, np.ndarray]:
    """``(astral, split, no_space)``: ``split`` is :data:`_FULL` for stdlib ``re``, its classes spelled out as in
    :func:`_plane_patterns`, one group around the whole match; on text of which ``astral`` finds no character (all
    in the plane) it finds :data:`_FULL`'s matches, a match being a no-space run when ``no_space`` holds its first
    character (that alternative is tried first). Splitting and classifying the matches with numpy takes half the time
    of :data:`_FULL`'s ``finditer`` loop on NTREX's Chinese."""
    no_space = np.zeros(0x10000, bool)
    for first, last in _plane_spans(NO_SPACE_CHAR.pattern):
        no_space[first:last + 1] = True
    run, run_on = _plane_class(NO_SPACE_CHAR.pattern), _plane_class(rf"[{_NS}\p{{M}}]")
    word, digit = _plane_class(_W, regex.V1), _plane_class(r"\d")
    begins = _plane_class(rf"{NO_SPACE_CHAR.pattern}|{_W}", regex.V1)  # a run's or a word's first character
    # The first character taken by a class, the branch chosen by look-behinds at it: see _ASCII_SPLIT.
    split = re.compile(rf"({begins}(?:(?<={run}){run_on}*+|(?<={digit}){digit}*+(?:[.,:]{digit}++)++"
                       rf"|{word}*+(?:{_JOINERS}{word}++)*+))")
    return re.compile(r"[^\x00-\uffff]"), split, no_space


@functools.cache
def _plane_spans(pattern: str, flags: int = 0) -> tuple[tuple[int, int], ...]:
    """The ranges ``(first, last)`` of the Basic Multilingual Plane's characters that ``regex`` matches with
    ``pattern`` (one character's class)."""
    plane = "".join(map(chr, range(0x10000)))
    return tuple((m.start(), m.end() - 1) for m in regex.finditer(f"(?:{pattern})+", plane, flags))


def _plane_class(pattern: str, flags: int = 0) -> str:
    """:func:`_plane_spans` of ``pattern`` as a stdlib ``re`` character class."""
    return f"[{_spelled(_plane_spans(pattern, flags))}]"


def _spelled(ranges: Sequence[tuple[int, int]]) -> str:
    return "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_W = rf"[[^\W_]--[{_NS}]]"
_FULL = regex.compile(  # the same words, plus runs of no-space scripts; only used for text holding such a run
    rf"(?V1)(?P<ns>[{_NS}][{_NS}\p{{M}}]*)|\d+(?:[.,:]\d+)+|{_W}+(?:{_JOINERS}{_W}+)*"
)
_NS_GROUP = _FULL.groupindex["ns"]
NO_SPACE_CHAR = regex.compile(rf"[{_NS}]")
_MARK = regex.compile(r"\p{M}")
_APOSTROPHES = "'’ʼ"
_CLITIC_RULES = {  # (kind, clitics): elided prefixes kept as words, English suffixes dropped
    "fr": ("prefix", frozenset("l d j m n s t c qu jusqu lorsqu puisqu quoiqu presqu quelqu".split())),
    "it": ("prefix", frozenset("l d un all dall dell nell sull quell c m t s v".split())),
    "ca": ("prefix", frozenset("l d m n s t".split())),
    "en": ("suffix", frozenset({"s", "re", "ve", "ll", "d", "m"})),
}

RawWord = tuple[str, int, int]


def normalize(text: str, collapse_whitespace: bool = True) -> str:
    """NFKC, casefold, typographic apostrophes to ``'`` and (by default) whitespace collapsed to single spaces.

    NFKC makes full-width, ligature and compatibility forms compare equal to their plain forms (``ＡＢＣ``, ``ﬁ``);
    casefold is the caseless-matching fold (``Straße`` == ``STRASSE``); dictionaries and sentences disagree on
    ``'`` vs ``’`` too often not to fold them.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    if "’" in text or "ʼ" in text or "‘" in text:  # str.translate is slow on non-ASCII text; this is the rare case
        text = text.replace("’", "'").replace("ʼ", "'").replace("‘", "'")
    return " ".join(text.split()) if collapse_whitespace else text

class _NormCache(dict):
    """``word -> normalize(word)``, bounded: the same words recur all the time in a corpus. A hit is a plain dict
    lookup (``map(_CACHE.__getitem__, words)`` runs in C); a miss computes and stores the form."""

    size = 200_000
    spaced: set[str] | None = set()
    """The words ever normalised to a form holding a space (NFKC makes one of some characters: ``¨`` -> space and a
    mark); ``None`` once that has grown past ``size``: not known any more. Kept across clears, so a word of a batch
    normalised before a clear is still in it."""

    def __missing__(self, word: str) -> str:
        folded = word.lower() if word.isascii() else normalize(word)
        if len(self) >= self.size:
            self.clear()
        self[word] = folded
        if " " in folded and self.spaced is not None:
            self.spaced.add(word)
            if len(self.spaced) > self.size:
                _NormCache.spaced = None
        return folded

    def holds_spaced(self, raw: list[str]) -> bool | None:
        """Whether the forms of the words ``raw`` (all normalised through this cache) hold a space; ``None`` when not
        known. One test of an empty set in the usual case, where no word ever had such a form."""
        spaced = self.spaced
        return None if spaced is None else bool(spaced) and not spaced.isdisjoint(raw)


_CACHE = _NormCache()
_norm = _CACHE.__getitem__


class Word(NamedTuple):
    """A word: its normalised text and its half-open character span ``[start, end)`` in the original text."""

    text: str
    start: int
    end: int


@functools.lru_cache(maxsize=1024)  # called per dictionary entry and per segmented text
def is_no_space_lang(lang: str) -> bool:
    """Whether ``lang`` (ISO 639-1/3 code, optionally with a region: ``zh-CN``) is written without spaces."""
    return base_language(lang) in NO_SPACE_LANGS


def segment(text: str, lang: str, lexicon: set[str] | frozenset[str] | None = None, max_word_chars: int = 8,
            prefixes: set[str] | frozenset[str] | None = None) -> list[Word]:
    """Split ``text`` into words with character spans into ``text``.

    Args:
        text: the original sentence.
        lang: its language code; selects the clitic rules (fr/it/ca elision, English ``'s``). Runs of no-space
            scripts are recognised by script, whatever ``lang`` says, so mixed-script text works.
        lexicon: normalised words/phrases (spaces removed) for longest-match segmentation of no-space runs,
            usually ``BilingualDictionary.src_phrases``/``tgt_phrases``. ``None``: one word per character.
        max_word_chars: the longest lexicon match tried, in characters.
        prefixes: optionally, every prefix of every lexicon entry (``DictionaryIndex.tgt_prefixes``): matching then
            scans forward and stops as soon as no entry can match, instead of trying every length.

    Returns:
        Words in text order; ``normalize(text[w.start:w.end]) == w.text`` for each.
    """
    return list(map(Word._make, segment_spans(text, lang, lexicon, max_word_chars, prefixes)))


def segment_spans(text: str, lang: str, lexicon: set[str] | frozenset[str] | None = None, max_word_chars: int = 8,
                  prefixes: set[str] | frozenset[str] | None = None) -> list[RawWord]:
    """:func:`segment` as plain ``(text, start, end)`` tuples: the allocation-light form the mining loop uses."""
    rules = _CLITIC_RULES.get(base_language(lang))
    ascii_text = text.isascii()
    in_plane = ascii_text or _plane_patterns()[0].search(text) is None
    if not in_plane and NO_SPACE_CHAR.search(text) is not None:
        return _segment_mixed(text, rules, lexicon, max_word_chars, prefixes)
    # Lower-casing is the whole normalisation of ASCII text and keeps every position: find words in it directly.
    # Other text is normalised word by word, through a cache: cheaper than normalising whole sentences and checking
    # that positions survived (NFKC and case folding can change lengths).
    folded = text.lower() if ascii_text else None
    if ascii_text:
        parts = _ASCII_SPLIT.split(folded)
    else:
        parts = (_plane_patterns()[1] if in_plane else _SPLIT).split(text)
    raw = parts[1::2]
    texts = raw if ascii_text else list(map(_norm, raw))
    bounds = list(accumulate(map(len, parts)))  # word k is parts[2k + 1]: from bounds[2k] to bounds[2k + 1]
    out = list(zip(texts, bounds[:-1:2], bounds[1::2]))
    if rules is not None and ascii_text and rules[0] == "suffix":
        if "'" in folded:  # English: drop a final clitic (``john's`` -> ``john``) as _emit does, with no call per word
            clitics = rules[1]
            for k in [k for k, word in enumerate(raw) if "'" in word]:
                word, start, end = out[k]
                head, _, tail = word.rpartition("'")
                if tail in clitics:
                    out[k] = (head, start, start + len(head))
    elif rules is not None and ("'" in text or "’" in text or "ʼ" in text):
        # Words with an apostrophe go through the clitic rules, from the last, so that earlier indices stay valid.
        for k in reversed([k for k, word in enumerate(raw) if "'" in word or "’" in word or "ʼ" in word]):
            split: list[RawWord] = []
            _emit(text, folded, out[k][1], out[k][2], rules, split)
            out[k : k + 1] = split
    return out


class Words(list):
    """A batch's normalised words (:attr:`SegmentedBatch.words`), with ``spaced``: whether any of them holds a space
    (``None``: not known). Matching grows n-grams of words through a trie of the dictionary's words only where none
    does; knowing it from the segmentation spares a scan of every word (about 0.3 µs per sentence)."""

    __slots__ = ("spaced",)

    def __init__(self, words=(), spaced: bool | None = None) -> None:
        super().__init__(words)
        self.spaced = spaced


class WordSpans(NamedTuple):
    """The words of a batch of texts as :class:`SegmentedBatch` gives them, without their texts: spans in their own
    text and the number of words of each text."""

    starts: np.ndarray
    ends: np.ndarray
    counts: np.ndarray


class SegmentedBatch(NamedTuple):
    """The words of a batch of texts, sentence after sentence (:func:`segment_batch`): normalised ``words``, their
    character spans ``[starts, ends)`` in their own text (int64 arrays) and the number of words of each text."""

    words: list[str]
    starts: np.ndarray
    ends: np.ndarray
    counts: np.ndarray


def segment_batch(texts: Sequence[str], lang: str, lexicon: set[str] | frozenset[str] | None = None,
                  max_word_chars: int = 8, prefixes: set[str] | frozenset[str] | None = None) -> SegmentedBatch:
    """:func:`segment_spans` of every text, concatenated: the same words, found batch by batch.

    Texts that split with one pattern (ASCII; other text of the Basic Multilingual Plane, split by stdlib ``re``;
    the rest without a no-space run, by ``regex``) are joined with newlines and split in one call, the words' spans
    and texts taken with no Python loop over the texts (a newline is neither a word character nor a joiner, so no
    word crosses it, and the patterns look neither before a match's start nor at word boundaries). Texts holding a
    no-space run are joined too and scanned in one pass, their runs cut all at once against the lexicon's character trie
    (:func:`_cut_runs`, when ``lexicon`` is a frozenset given with ``prefixes``; else run by run). Data preparation
    segments this way: half the time of text-by-text calls on European languages, and about two thirds of the CPU
    time of cutting Chinese runs one by one."""
    rules = _CLITIC_RULES.get(base_language(lang))
    other, plane_split = _plane_patterns()
    groups: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])  # ASCII, plane, regex, no-space
    for k, text in enumerate(texts):
        if text.isascii():
            groups[0].append(k)
        elif other.search(text) is None:
            groups[1].append(k)
        elif NO_SPACE_CHAR.search(text) is None:
            groups[2].append(k)
        else:
            groups[3].append(k)
    parts = []
    for kind, (members, pattern) in enumerate(zip(groups[:3], (_ASCII_SPLIT, plane_split, _SPLIT))):
        if members:
            parts.append((members, _split_joined([texts[k] for k in members], pattern, rules, kind == 0)))
    if groups[3]:
        parts.append((groups[3], _no_space_joined([texts[k] for k in groups[3]], rules, lexicon, max_word_chars,
                                                  prefixes)))
    if len(parts) == 1 and len(parts[0][0]) == len(texts):
        return parts[0][1]
    counts = np.zeros(len(texts), np.int64)
    if not parts:
        return SegmentedBatch([], np.zeros(0, np.int64), np.zeros(0, np.int64), counts)
    # Groups back into text order: the spans by a stable sort of every word by the index of its text; the words by
    # slicing each group's list run by run (texts of one group in a row hold consecutive words of its list), a few
    # slices instead of two passes over every word (0.87x the segmentation of NTREX's English, whose few texts
    # holding a typographic quote or a pound sign make a second group).
    owner = np.concatenate([np.repeat(np.asarray(members, np.int64), part.counts) for members, part in parts])
    order = np.argsort(owner, kind="stable")
    group, first = np.zeros(len(texts), np.int64), np.zeros(len(texts), np.int64)
    for g, (members, part) in enumerate(parts):
        counts[members] = part.counts
        group[members] = g
        first[members] = np.cumsum(part.counts) - part.counts  # each text's first word in its group's list
    run_start = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    run_last = np.r_[run_start[1:], len(texts)] - 1
    words: list[str] = []
    for g, begin, end in zip(group[run_start].tolist(), first[run_start].tolist(),
                             (first[run_last] + counts[run_last]).tolist()):
        words += parts[g][1].words[begin:end]
    flags = [getattr(part.words, "spaced", None) for _, part in parts]
    spaced = True if True in flags else None if None in flags else False
    return SegmentedBatch(Words(words, spaced), np.concatenate([part.starts for _, part in parts])[order],
                          np.concatenate([part.ends for _, part in parts])[order], counts)


def _no_space_joined(texts: list[str], rules, lexicon, max_word_chars: int, prefixes) -> SegmentedBatch:
    """:func:`segment_batch` of texts holding a no-space run, in one pass over their newline-joined text: the same
    words as :func:`segment_spans` text by text (each run cut by :func:`_segment_run`, or all of them at once by
    :func:`_cut_runs`; each other word through :func:`_emit`, in joined positions; no match crosses a newline),
    without a call per text."""
    words, starts, ends = _segment_mixed_batch("\n".join(texts), rules, lexicon, max_word_chars, prefixes)
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    begin = np.cumsum(lengths + 1) - lengths - 1  # text j starts at begin[j] in the joined text
    owner = np.searchsorted(begin, starts, "right") - 1
    return SegmentedBatch(words, starts - begin[owner], ends - begin[owner], np.bincount(owner, minlength=len(texts)))


def _cut_runs(runs: str, lengths: np.ndarray, trie: CharTrie, max_word_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_segment_run`'s greedy longest match for many runs at once: ``runs`` holds them one after the other
    (normalised, each exactly as long as its original), ``lengths`` their lengths, ``trie`` the lexicon's
    (:func:`~veco_lightning.lexicon.trie.char_trie`). Returns the words' starts and ends in ``runs``, in order.

    The longest entry of at most ``max_word_chars`` characters starting at every position is found for all positions
    together, one character at a time through the trie (a position stops when no entry continues it or its run ends),
    then each run is walked from its start, word by word, all runs in step. The same words as the loop of
    :func:`_segment_run`, whose test of ``prefixes`` stops a match exactly where no entry continues it."""
    run_start = np.cumsum(lengths) - lengths
    symbol = trie.symbols(runs)
    left = np.repeat(run_start + lengths, lengths) - np.arange(len(symbol))  # characters left in the run
    longest = np.ones(len(symbol), np.int64)  # a character that starts no entry is a word of its own
    at = np.flatnonzero(symbol >= 0)
    state = trie.first[symbol[at]]
    for k in range(1, max_word_chars):  # at + k: the next character of each live match
        live = (state >= 0) & (left[at] > k)
        at, state = at[live], state[live]
        if not len(at):
            break
        state = trie.step(state, symbol[at + k])
        longest[at[(state >= 0) & (trie.key[state] >= 0)]] = k + 1  # longer matches come later and overwrite
    # Each run word by word from its start, all runs at once.
    found, word, end = [], run_start, run_start + lengths
    while len(word):
        found.append(word)
        word = word + longest[word]
        more = word < end
        word, end = word[more], end[more]
    starts = np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)
    return starts, starts + longest[starts]


def _tiles(text: str, starts: np.ndarray) -> list[str]:
    """``text`` cut at ``starts`` (sorted, the first 0): ``[text[a:b] for a, b in zip(starts, starts[1:] + [end])]``
    in one split of the text with a newline (which it does not hold) put before each start, not a slice per word:
    each run's words tile it (NTREX's Chinese segmentation takes 0.86-0.90x its CPU time, ``benchmarks/README.md``)."""
    if not len(starts):
        return []
    return from_code_points(np.insert(code_points(text), starts[1:], 10)).split("\n")


def _segment_mixed_batch(text: str, rules, lexicon, max_word_chars: int,
                         prefixes) -> tuple[list[str], np.ndarray, np.ndarray]:
    """:func:`_segment_mixed` as ``(words, starts, ends)``, its runs cut together by :func:`_cut_runs` when
    :func:`_segment_run` would take its fast path for them (a lexicon given as a frozenset with ``prefixes``, a run
    already NFKC, that case folding keeps as long, and no combining mark in it); other runs go through
    :func:`_segment_run` as before."""
    if not (lexicon and prefixes is not None and isinstance(lexicon, frozenset)):
        out = _segment_mixed(text, rules, lexicon, max_word_chars, prefixes)
        if not out:
            return [], np.zeros(0, np.int64), np.zeros(0, np.int64)
        words, starts, ends = zip(*out)
        return list(words), np.array(starts, np.int64), np.array(ends, np.int64)
    out: list[RawWord] = []
    spans = _runs_and_words(text, rules, out)
    originals = [text[start:end] for start, end in spans]
    joined = "\n".join(originals)
    folded = normalize(joined, collapse_whitespace=False)
    if len(folded) == len(joined) and unicodedata.is_normalized("NFKC", joined) and _MARK.search(joined) is None:
        fast = spans  # every run (the usual case): NFKC already, the case fold kept each one's length, no mark
        runs = folded.replace("\n", "")
    else:
        fast, kept = [], []
        for (start, end), original in zip(spans, originals):
            run = normalize(original, collapse_whitespace=False)
            if (len(run) == len(original) and unicodedata.is_normalized("NFKC", original)
                    and _MARK.search(original) is None):
                fast.append((start, end))
                kept.append(run)
            else:
                _segment_run(text, start, end, lexicon, prefixes, max_word_chars, out)
        runs = "".join(kept)
    lengths = np.fromiter((end - start for start, end in fast), np.int64, len(fast))
    starts, ends = _cut_runs(runs, lengths, char_trie(lexicon), max_word_chars)
    words = _tiles(runs, starts)
    # Back to positions in the text, then merged with the other words in text order.
    run_start = np.cumsum(lengths) - lengths
    shift = (np.fromiter((start for start, _ in fast), np.int64, len(fast)) - run_start)[
        np.searchsorted(run_start, starts, "right") - 1] if len(starts) else np.zeros(0, np.int64)
    if not out:
        return words, starts + shift, ends + shift
    other_words, other_starts, other_ends = zip(*out)
    all_starts = np.concatenate([starts + shift, np.array(other_starts, np.int64)])
    all_ends = np.concatenate([ends + shift, np.array(other_ends, np.int64)])
    order = np.argsort(all_starts, kind="stable")
    merged = words + list(other_words)
    return list(map(merged.__getitem__, order.tolist())), all_starts[order], all_ends[order]


def _runs_and_words(text: str, rules, out: list[RawWord]) -> list[tuple[int, int]]:
    """The matches of :data:`_FULL` in ``text``: the no-space runs' spans, returned, and every other word through
    :func:`_emit` into ``out``. Text of the plane is split by :func:`_plane_mixed`'s pattern, the runs told apart by
    their first characters all at once; other text goes through :data:`_FULL` match by match."""
    astral, split, no_space = _plane_mixed()
    if astral.search(text) is not None:
        spans: list[tuple[int, int]] = []
        for match in _FULL.finditer(text):
            if match.lastindex == _NS_GROUP:
                spans.append(match.span())
            else:
                _emit(text, None, *match.span(), rules, out)
        return spans
    parts = split.split(text)
    bounds = np.cumsum(np.fromiter(map(len, parts), np.int64, len(parts)))
    starts, ends = bounds[:-1:2], bounds[1::2]  # match k is parts[2k + 1]
    run = no_space[code_points(text)[starts]]
    for start, end in zip(starts[~run].tolist(), ends[~run].tolist()):
        _emit(text, None, start, end, rules, out)
    return list(zip(starts[run].tolist(), ends[run].tolist()))


def _segment_mixed(text: str, rules, lexicon, max_word_chars: int, prefixes) -> list[RawWord]:
    """The words of a text holding a no-space run: each run cut by :func:`_segment_run`, every other word through
    :func:`_emit`."""
    out: list[RawWord] = []
    for match in _FULL.finditer(text):
        start, end = match.span()
        if match.lastindex == _NS_GROUP:
            _segment_run(text, start, end, lexicon, prefixes, max_word_chars, out)
        else:
            _emit(text, None, start, end, rules, out)
    return out


def _split_joined(texts: list[str], pattern: re.Pattern, rules, ascii_text: bool) -> SegmentedBatch:
    """:func:`segment_batch` of texts that all split with ``pattern`` (``ascii_text``: all ASCII), in one call."""
    joined = "\n".join(texts)
    folded = joined.lower() if ascii_text else None
    parts = pattern.split(folded if ascii_text else joined)
    raw = parts[1::2]
    if ascii_text and "\0" not in joined:
        # The parts' ends from where a NUL put between them lands in one byte string: 0.5x the time of a len() per
        # part on NTREX's English (text of more bytes a character costs more than it saves).
        gaps = np.flatnonzero(np.frombuffer("\0".join(parts).encode("ascii"), np.uint8) == 0)
        bounds = np.r_[gaps - np.arange(len(gaps)), len(joined)]
    else:
        bounds = np.cumsum(np.fromiter(map(len, parts), np.int64, len(parts)))
    starts, ends = bounds[:-1:2], bounds[1::2]  # in the joined text: word k is parts[2k + 1]
    words = raw if ascii_text else list(map(_norm, raw))
    spaced = False if ascii_text else _CACHE.holds_spaced(raw)  # ASCII words hold no space; the others' forms may
    if rules is not None and ascii_text and rules[0] == "suffix":
        if "'" in joined:  # English clitics, as segment_spans drops them
            clitics = rules[1]
            for k in _words_holding("'", joined, starts, ends):
                head, _, tail = words[k].rpartition("'")
                if tail in clitics:
                    words[k], ends[k] = head, starts[k] + len(head)
    elif rules is not None and ("'" in joined or "’" in joined or "ʼ" in joined):
        split = {k: _clitic_split(raw[k], ascii_text, rules)
                 for k in _words_holding(_APOSTROPHES, joined, starts, ends)}
        if split:  # each such word becomes the words _emit gave (spans relative to the word)
            starts, ends, _, _, found = _splice(starts, ends, split)
            # The words between split ones by slices, each split one's words in its place: no pass over every word.
            kept, done = [], 0
            for k, piece in split.items():
                kept += words[done:k]
                kept += [word[0] for word in piece]
                done = k + 1
            words = kept + words[done:]
            if spaced is False and any(" " in word[0] for word in found):  # the clitics' words, normalised alone
                spaced = True
    # Spans into each text: the joined text holds text j from begin[j], after j newlines.
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    begin = np.cumsum(lengths + 1) - lengths - 1
    owner = np.searchsorted(begin, starts, "right") - 1
    return SegmentedBatch(Words(words, spaced), starts - begin[owner], ends - begin[owner],
                          np.bincount(owner, minlength=len(texts)))


def _splice(starts: np.ndarray, ends: np.ndarray, split: dict[int, tuple[RawWord, ...]]) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[RawWord]]:
    """Words ``[starts, ends)`` with each word ``k`` of ``split`` (ascending) replaced by the words it holds
    (``split[k]``, spans relative to it, as :func:`_clitic_split` gives them). Returns the new spans, each new word's
    old word (``source``), where the replacing words are (``at``) and those words in order."""
    which = np.fromiter(split, np.int64, len(split))
    made = np.fromiter(map(len, split.values()), np.int64, len(split))
    size = np.ones(len(starts), np.int64)
    size[which] = made
    source = np.repeat(np.arange(len(starts)), size)
    starts, ends = starts[source], ends[source]
    at = _ranges((np.cumsum(size) - size)[which], made)
    offset = starts[at]
    found = [word for piece in split.values() for word in piece]
    starts[at] = offset + np.fromiter((word[1] for word in found), np.int64, len(found))
    ends[at] = offset + np.fromiter((word[2] for word in found), np.int64, len(found))
    return starts, ends, source, at, found


# The classes of plain_words' table, one bit each.
_WORD_BIT, _JOINER_BIT, _DIGIT_BIT, _GROUP_BIT, _APOSTROPHE_BIT, _NO_SPACE_BIT = 1, 2, 4, 8, 16, 32


@functools.cache
def _plain_table() -> np.ndarray:
    r"""The class of every character of the Basic Multilingual Plane as bits: a word character (``[^\W_]`` as
    ``regex`` has it), a joiner, a digit (``\d``), a digit group's separator (``[.,:]``), an apostrophe, a character
    of a no-space script. Read off ``regex`` as :func:`_plane_patterns` reads its classes."""
    table = np.zeros(0x10000, np.uint8)
    for bit, pattern in ((_WORD_BIT, r"[^\W_]"), (_DIGIT_BIT, r"\d"), (_NO_SPACE_BIT, NO_SPACE_CHAR.pattern),
                         (_JOINER_BIT, _JOINERS), (_GROUP_BIT, "[.,:]")):
        for first, last in _plane_spans(pattern):
            table[first:last + 1] |= bit
    table[[ord(char) for char in _APOSTROPHES]] |= _APOSTROPHE_BIT
    return table


class PlainWords(NamedTuple):
    """:func:`plain_words`' result. ``plain`` marks the texts it segmented (the others are left to
    :func:`segment_batch`); ``points`` holds the texts' code points, joined with newlines, and ``runs`` /
    ``run_ends`` the spans in it of the plain texts' words as the word pattern matches them (before clitic rules);
    ``starts`` / ``ends`` are the words' spans in their own texts after the clitic rules, ``source`` each one's run,
    ``counts`` the words of each text (0 for the others); ``made_at`` gives the words that clitic rules made (a
    run split or cut), ``made`` their normalised texts."""

    plain: np.ndarray
    points: np.ndarray
    runs: np.ndarray
    run_ends: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    source: np.ndarray
    counts: np.ndarray
    made_at: np.ndarray
    made: list[str]


def plain_words(texts: Sequence[str], lang: str) -> PlainWords:
    r"""The words of the texts whose segmentation is runs of characters, found with numpy alone: no string per word.

    A text is plain when all its characters are in the Basic Multilingual Plane and none is of a no-space script. In
    such a text :data:`_FAST`'s matches are the maximal runs of word characters and of joiners standing between two
    word characters, found for the whole batch at once from a class table (:func:`_plain_table`) and the differences
    of a mask, except where a digit group's separator stands between two digits (``3.5``, ``1,000``: the digit-group
    branch of the word pattern may match there). A match never crosses a character that is neither a word character,
    a joiner nor a separator, so the runs of each stretch of such characters holding a digit group are replaced by
    :data:`_FAST`'s matches over that stretch alone (:func:`_digit_group_matches`). Words holding an apostrophe then
    go through the language's clitic rules (:func:`_clitic_split`), as :func:`segment_batch` takes them. The texts'
    other words and every word's normalised text are not made here:
    :class:`~veco_lightning.lexicon.synonyms.SynonymMiner` looks the words up by their code points
    (``points[runs:run_ends]``, the text as written) and segments the texts that are not plain with
    :func:`segment_batch`. The spans and counts are :func:`segment_batch`'s for the plain texts."""
    n = len(texts)
    joined = "\n".join(texts)
    points = code_points(joined)
    lengths = np.fromiter(map(len, texts), np.int64, n)
    begin = np.cumsum(lengths + 1) - lengths - 1  # text j starts at begin[j] in the joined text
    kind = _plain_table()[np.minimum(points, 0xFFFF)]
    word = (kind & _WORD_BIT) > 0
    inside = word.copy()  # a word's characters: word characters, and joiners between two of them
    inside[1:-1] |= ((kind[1:-1] & _JOINER_BIT) > 0) & word[:-2] & word[2:]
    bad = (points > 0xFFFF) | ((kind & _NO_SPACE_BIT) > 0)
    plain = np.ones(n, bool)
    if bad.any():
        plain[np.searchsorted(begin, np.flatnonzero(bad), "right") - 1] = False
    runs, run_ends = _true_runs(inside)
    digit = (kind & _DIGIT_BIT) > 0
    group = np.flatnonzero(digit[:-2] & ((kind[1:-1] & _GROUP_BIT) > 0) & digit[2:]) + 1
    if len(group):
        runs, run_ends = _digit_group_matches(joined, kind, group, runs, run_ends)
    owner = np.searchsorted(begin, runs, "right") - 1
    if not plain.all():
        keep = plain[owner]
        runs, run_ends, owner = runs[keep], run_ends[keep], owner[keep]
    starts, ends, source = runs - begin[owner], run_ends - begin[owner], np.arange(len(runs))
    made_at, made = np.zeros(0, np.int64), []
    rules = _CLITIC_RULES.get(base_language(lang))
    if rules is not None and len(runs):
        holder = _holders(np.flatnonzero((kind & _APOSTROPHE_BIT) > 0), runs, run_ends)
        if holder:
            split = {k: _clitic_split(joined[a:b], joined[a:b].isascii(), rules)
                     for k, a, b in zip(holder, runs[holder].tolist(), run_ends[holder].tolist())}
            if split:
                starts, ends, source, made_at, found = _splice(starts, ends, split)
                owner = owner[source]
                made = [word[0] for word in found]
    return PlainWords(plain, points, runs, run_ends, starts, ends, source,
                      np.bincount(owner, minlength=n), made_at, made)


def _digit_group_matches(joined: str, kind: np.ndarray, group: np.ndarray, runs: np.ndarray,
                         run_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`plain_words`' runs ``[runs, run_ends)`` of ``joined`` with those of every stretch of word characters,
    joiners and digit groups' separators that holds one of the separators ``group`` (each between two digits)
    replaced by :data:`_FAST`'s matches over that stretch alone. Nothing before a stretch bears on the matches inside
    it (the pattern looks behind nothing, and no match crosses the characters around it), so they are the matches
    the whole text has there."""
    first, last = _true_runs((kind & (_WORD_BIT | _JOINER_BIT | _GROUP_BIT)) > 0)
    held = _holders(group, first, last)
    first, last = first[held], last[held]
    where = np.searchsorted(first, runs, "right") - 1  # the stretch each run starts in, if one of those
    outside = (where < 0) | (runs >= last[np.maximum(where, 0)])
    spans = [match.span() for a, b in zip(first.tolist(), last.tolist()) for match in _FAST.finditer(joined, a, b)]
    found = np.array(spans, np.int64).reshape(-1, 2)
    starts, ends = np.concatenate([runs[outside], found[:, 0]]), np.concatenate([run_ends[outside], found[:, 1]])
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order]


def _true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The maximal runs of True in a boolean array, as the start and end (exclusive) of each."""
    edge = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)


def _words_holding(chars: str, text: str, starts: np.ndarray, ends: np.ndarray) -> list[int]:
    """The indices of the words ``text[starts[k]:ends[k]]`` (sorted, disjoint) holding one of ``chars``: found from
    the few places of those characters in the text, not by a test of every word. The places by comparing the text's
    bytes or code points: 0.15x the time of a ``re.finditer`` over the three apostrophes on NTREX's French (a search
    for the one ASCII apostrophe, as English takes, was about as fast)."""
    if not len(starts):
        return []
    if text.isascii():
        points, chars = np.frombuffer(text.encode("ascii"), np.uint8), "".join(c for c in chars if c.isascii())
    else:
        points = code_points(text)
    hit = np.zeros(len(points), bool)
    for char in chars:
        hit |= points == ord(char)
    return _holders(np.flatnonzero(hit), starts, ends)


def _holders(at: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[int]:
    """The indices of the words ``[starts[k], ends[k])`` (sorted, disjoint) holding one of the positions ``at``."""
    word = np.searchsorted(starts, at, "right") - 1
    inside = (word >= 0) & (at < ends[np.maximum(word, 0)])
    return np.unique(word[inside]).tolist()


@functools.lru_cache(maxsize=100_000)
def _clitic_split(word: str, ascii_text: bool, rules) -> tuple[RawWord, ...]:
    """What :func:`_emit` makes of a word holding an apostrophe, with spans relative to the word (it reads nothing
    outside the word): cached, as elided forms (``l'``, ``d'``, ``qu'``) recur in every French sentence."""
    out: list[RawWord] = []
    _emit(word, word.lower() if ascii_text else None, 0, len(word), rules, out)
    return tuple(out)


def _emit(text: str, folded: str | None, start: int, end: int, rules, out: list[RawWord]) -> None:
    """Append the word ``text[start:end]``, splitting elided prefixes (``l'homme`` -> ``l``, ``homme``) or
    dropping English suffix clitics (``john's`` -> ``john``) when ``rules`` say so."""
    word = folded[start:end] if folded is not None else _norm(text[start:end])
    if rules is not None and "'" in word:  # normalize() folds ’ and ʼ to '
        kind, clitics = rules
        if kind == "suffix":
            last = max(text.rfind(q, start, end) for q in _APOSTROPHES)
            if last > start and normalize(text[last + 1 : end]) in clitics:
                _emit(text, folded, start, last, None, out)
                return
        else:  # an apostrophe made by NFKC alone (``ŉ`` -> ``'n``) elides nothing: no cut
            cut = min((k for k in (text.find(q, start, end) for q in _APOSTROPHES) if k >= 0), default=-1)
            if start < cut < end - 1 and normalize(text[start:cut]) in clitics:
                _emit(text, folded, start, cut, None, out)
                _emit(text, folded, cut + 1, end, rules, out)  # the rest may hold another elision
                return
    out.append((word, start, end))


def _segment_run(text: str, start: int, end: int, lexicon, prefixes, max_word_chars: int,
                 out: list[RawWord]) -> None:
    """Greedy longest-match segmentation of the no-space run ``text[start:end]`` against ``lexicon``; characters
    that start no entry become one-character words.

    The run is normalised as a whole. If that keeps its length, lexicon candidates are slices of it; if the run was
    NFKC already it is also *exact* (only the case fold acted, character by character) and the emitted words are
    slices too. Otherwise (half-width kana, compatibility ideographs) each candidate and word is normalised alone.
    """
    original = text[start:end]
    run = normalize(original, collapse_whitespace=False)
    run_exact = len(run) == len(original) and unicodedata.is_normalized("NFKC", original)
    if len(run) != len(original):
        run = None
    has_marks = _MARK.search(text, start, end) is not None
    i, n = 0, end - start
    if lexicon and prefixes is not None and run_exact and not has_marks:
        # The common case (a run already NFKC, a prefix set), as one tight loop: the same greedy longest match, with
        # words sliced from the run. A single character needs no lexicon test: it is a word either way.
        while i < n:
            found = i + 1
            if run[i] in prefixes:
                stop = i + max_word_chars if i + max_word_chars < n else n
                j = i + 2
                while j <= stop:
                    piece = run[i:j]
                    if piece not in prefixes:
                        break
                    if piece in lexicon:
                        found = j
                    j += 1
            out.append((run[i:found], start + i, start + found))
            i = found
        return
    while i < n:
        size = 1
        if lexicon:
            limit = min(max_word_chars, n - i)
            if run is not None and prefixes is not None:
                k = 1
                while k <= limit:
                    piece = run[i : i + k]
                    if piece not in prefixes:
                        break
                    if piece in lexicon:
                        size = k
                    k += 1
            else:  # try every length, longest first
                for k in range(limit, 1, -1):
                    piece = run[i : i + k] if run is not None else _norm(text[start + i : start + i + k])
                    if piece in lexicon:
                        size = k
                        break
        if has_marks:  # keep combining marks (Thai vowels, dakuten) with their base character
            while i + size < n and unicodedata.category(text[start + i + size])[0] == "M":
                size += 1
        a, b = start + i, start + i + size
        out.append((run[i : i + size] if run_exact else _norm(text[a:b]), a, b))
        i += size
