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
from itertools import accumulate
from typing import NamedTuple

try:
    import regex
except ImportError as err:  # pragma: no cover - regex is a dependency of transformers
    raise ImportError(
        "veco_lightning/lexicon/words.py needs the `regex` package for Unicode properties (\\p{L}); it is a dependency "
        "of transformers: pip install regex"
    ) from err

from veco_lightning.lexicon.languages import base_language

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
# regex's Unicode \d is [0-9] there, [^\W_] is [a-zA-Z0-9], and the joiners are ' and -). The look-ahead only spares
# ``re`` trying the digit-group branch at every letter (1.7x faster on English news; the same matches).
_ASCII_SPLIT = re.compile(r"((?=[0-9])[0-9]+(?:[.,:][0-9]+)+|[a-zA-Z0-9]+(?:['\-][a-zA-Z0-9]+)*)")


@functools.cache
def _agreed_patterns() -> tuple[re.Pattern, re.Pattern]:
    r"""``(other, split)``: ``split`` is :data:`_SPLIT` compiled by stdlib ``re`` (1.3x faster, and a text it may
    split is checked 5x faster than :data:`NO_SPACE_CHAR` searches it), for text of which ``other`` finds no
    character. The characters it may split are those below U+3000 on which the two engines agree about ``\d`` and
    ``[^\W_]`` (``re`` leaves combining marks out of words, so Devanagari, for one, stays with ``regex``) and that
    are not of a no-space script: on them the same pattern finds the same words. Found by a scan on first use
    (about 35 ms)."""
    classes = [(re.compile(r"[^\W_]"), regex.compile(r"[^\W_]")), (re.compile(r"\d"), regex.compile(r"\d"))]
    ranges: list[list[int]] = []
    for code in range(0x3000):
        char = chr(code)
        if NO_SPACE_CHAR.match(char) is None and all(bool(a.match(char)) == bool(b.match(char)) for a, b in classes):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    agreed = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    split = re.compile(rf"((?=\d)\d+(?:[.,:]\d+)+|[^\W_]+(?:{_JOINERS}[^\W_]+)*)")  # the look-ahead: see _ASCII_SPLIT
    return re.compile(f"[^{agreed}]"), split


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

_CACHE: dict[str, str] = {}
_CACHE_SIZE = 200_000


def _norm(word: str) -> str:
    """``normalize(word)`` through a bounded cache: the same words recur all the time in a corpus."""
    folded = _CACHE.get(word)
    if folded is None:
        folded = word.lower() if word.isascii() else normalize(word)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[word] = folded
    return folded


class Word(NamedTuple):
    """A word: its normalised text and its half-open character span ``[start, end)`` in the original text."""

    text: str
    start: int
    end: int


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
    agreed = ascii_text or _agreed_patterns()[0].search(text) is None
    if not agreed and NO_SPACE_CHAR.search(text) is not None:
        out: list[RawWord] = []
        for match in _FULL.finditer(text):
            start, end = match.span()
            if match.lastindex == _NS_GROUP:
                _segment_run(text, start, end, lexicon, prefixes, max_word_chars, out)
            else:
                _emit(text, None, start, end, rules, out)
        return out
    # Lower-casing is the whole normalisation of ASCII text and keeps every position: find words in it directly.
    # Other text is normalised word by word, through a cache: cheaper than normalising whole sentences and checking
    # that positions survived (NFKC and case folding can change lengths).
    folded = text.lower() if ascii_text else None
    if ascii_text:
        parts = _ASCII_SPLIT.split(folded)
    else:
        parts = (_agreed_patterns()[1] if agreed else _SPLIT).split(text)
    raw = parts[1::2]
    if ascii_text:
        texts = raw
    else:
        texts = list(map(_CACHE.get, raw))
        if None in texts:
            texts = list(map(_norm, raw))
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
