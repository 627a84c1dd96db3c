"""Synonym-pair mining on parallel sentence pairs: VECO 2.0's token-level "thesaurus" alignment, reconstructed
(DESIGN.md §3.4, step 1).

For a pair (x, y), a *synonym pair* is a word (or multi-word phrase) a of x and b of y such that the bilingual
dictionary lists b as a translation of a. The token contrastive loss pulls the representations of a and b together,
so a wrong pair teaches the model a wrong alignment; ambiguity is therefore resolved conservatively, one-to-one:

1. Both sides are segmented (:func:`veco_lightning.data.words.segment`); a side written without spaces is cut by
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

Finally :func:`char_spans_to_token_spans` maps each pair's character spans onto sub-word token ranges through the
tokenizer's offset mapping.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from veco_lightning.data.dictionary import (
    BilingualDictionary,
    DictionaryIndex,
    normalize,
)
from veco_lightning.data.words import RawWord, segment_spans

log = logging.getLogger(__name__)

StopWords = AbstractSet[str] | Mapping[str, AbstractSet[str]] | None
Span = tuple[int, int]

__all__ = ["MiningStats", "SynonymMiner", "SynonymPair", "char_spans_to_token_spans", "default_stop_words", "mine_corpus",
           "mine_pair", "pair_token_spans"]


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
        f"veco_lightning/data/mining.py: a {dictionary.src_lang}-{dictionary.tgt_lang} dictionary cannot mine "
        f"{src_lang}-{tgt_lang} pairs; pass the dictionary of this language pair (either direction works)"
    )


def _stop_sets(stop_words: StopWords, src_lang: str, tgt_lang: str) -> tuple[AbstractSet[str], AbstractSet[str]]:
    if not stop_words:
        return frozenset(), frozenset()
    if isinstance(stop_words, Mapping):
        return stop_words.get(src_lang) or frozenset(), stop_words.get(tgt_lang) or frozenset()
    return stop_words, stop_words


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


def _mine(src_text: str, tgt_text: str, index: DictionaryIndex, src_lang: str, tgt_lang: str,
          stops: tuple[frozenset[str], frozenset[str]], max_pairs: int | None,
          max_word_chars: int) -> tuple[list[SynonymPair], list[RawWord], list[RawWord]]:
    """Mine one pair; also returns the segmentation of both sides (``(text, start, end)`` words)."""
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
        pairs = [SynonymPair((src_words[i0][1], src_words[i0][2]), (tgt_words[j0][1], tgt_words[j0][2]), src_key,
                             tgt_key, (i0, i1), (j0, j1)) for i0, i1, j0, j1, src_key, tgt_key in candidates]
        pairs.sort()
        return pairs, src_words, tgt_words

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
    pairs: list[SynonymPair] = []
    for i0, i1, j0, j1, src_key, tgt_key in candidates:
        if used_src.find(1, i0, i1) != -1 or used_tgt.find(1, j0, j1) != -1:
            continue
        used_src[i0:i1] = b"\x01" * (i1 - i0)
        used_tgt[j0:j1] = b"\x01" * (j1 - j0)
        pairs.append(SynonymPair((src_words[i0][1], src_words[i1 - 1][2]),
                                 (tgt_words[j0][1], tgt_words[j1 - 1][2]), src_key, tgt_key, (i0, i1), (j0, j1)))
        if max_pairs is not None and len(pairs) >= max_pairs:
            break
    pairs.sort()
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
    return _mine(src_text, tgt_text, index, src_lang, tgt_lang, _stop_sets(stop_words, src_lang, tgt_lang),
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
        self.stops = _stop_sets(stop_words, src_lang, tgt_lang)
        self.max_pairs, self.max_word_chars = max_pairs, max_word_chars

    def __call__(self, src_text: str, tgt_text: str) -> tuple[list[SynonymPair], list[RawWord], list[RawWord]]:
        return _mine(src_text, tgt_text, self.index, self.src_lang, self.tgt_lang, self.stops, self.max_pairs,
                     self.max_word_chars)


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

    def add(self, pairs: Sequence[SynonymPair], n_src: int, n_tgt: int) -> None:
        """Count one mined sentence pair."""
        self.sentence_pairs += 1
        self.pairs_with_synonyms += bool(pairs)
        self.synonym_pairs += len(pairs)
        self.src_words += n_src
        self.tgt_words += n_tgt
        for p in pairs:
            self.src_covered += p.src_words[1] - p.src_words[0]
            self.tgt_covered += p.tgt_words[1] - p.tgt_words[0]
            self.multi_word_pairs += (p.src_words[1] - p.src_words[0] > 1) or (p.tgt_words[1] - p.tgt_words[0] > 1)

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

# Built-in stop words: the most frequent function words (articles, pronouns, prepositions, conjunctions, auxiliaries)
# of each language, written for this project. Normalised on use, like everything that is matched.
_STOP_WORDS = {
    "en": "the a an and or but of to in on at by for with from as is are was were be been being it its this that "
          "these those he she they we you i his her their our my your him them us me not no do does did have has had "
          "will would can could should there which who what so if than then also about into up out",
    "de": "der die das den dem des ein eine einen einem einer eines und oder aber in im an am auf aus bei mit nach "
          "von vom zu zum zur für über um durch als wie auch nicht noch nur so sich es er sie wir ihr ich du ist sind "
          "war waren hat haben hatte wird werden wurde wurden dass ob wenn was man sein seine ihre ihren diese dieser "
          "dieses doch schon",
    "fr": "le la les l un une des du de d et ou mais à au aux en dans par pour sur avec sans ce cet cette ces c se s "
          "qui que qu il elle ils elles on je j tu nous vous ne n pas plus est sont a ont été être son sa ses leur "
          "leurs y lui comme si m t",
    "es": "el la los las lo un una unos unas y e o u pero de del a al en por para con sin sobre que qué se su sus es "
          "son fue era ha han había ser está están este esta estos estas ese esa eso como más no ni le les me te nos "
          "él ella ellos yo tú también muy cuando donde porque si",
    "ru": "и в во не что он на я с со как а то все всё она так его но да ты к у же вы за бы по только ее её мне было "
          "от меня еще ещё нет о об из ему когда даже ли если уже или ни быть был была были до там они мы их для это "
          "этот эта эти при также который которые которая которого чтобы без под будет есть",
    "zh": "的 了 是 在 和 与 及 或 也 都 就 而 但 被 把 给 对 从 向 到 于 以 之 其 所 为 着 过 吗 呢 吧 啊 这 那 个 "
          "一 不 有 我 你 他 她 它 们 我们 他们 这个 那个 这些 那些 上 中 将 会 能 要 还 又 很 等 并 由 该 此",
    "ar": "في من على إلى الى عن أن ان إن ما لا هذا هذه ذلك تلك التي الذي الذين كان كانت قد و مع بين كل بعد قبل عند "
          "حتى أو ثم لم لن هو هي هم نحن أنا له لها لهم به بها فيه فيها منه عليه كما أيضا حيث لكن غير ليس هناك أي "
          "وقد وفي ومن",
    "el": "ο η το οι τα του της των τον την τους τις ένα ένας μια μία και να σε στο στη στην στον στα στους στις με "
          "για από που θα δεν μη μην είναι ήταν αυτό αυτή αυτός αυτά ως ότι όπως αλλά ή έχει είχε πιο κατά μετά "
          "προς εγώ εμείς αυτοί ενώ όταν αν τι πως",
    "hi": "का की के में है हैं और से को ने पर यह वह था थी थे एक लिए भी कि तो जो इस उस हो गया गई गए कर किया रहा "
          "रही रहे नहीं या तक ही होता होती होने साथ बाद अपने अपनी वे ये इन उन कुछ द्वारा अब जब तब मैं हम आप",
    "tr": "ve bir bu da de için ile o şu ki ne mi mı mu mü çok daha gibi kadar ama fakat ancak veya ya en her olarak "
          "olan oldu olduğu ise sonra önce diye ben sen biz siz onlar onun bunu bunun şey var yok değil tarafından "
          "göre kendi hem bunlar nasıl neden içinde",
    "vi": "của và là các những có được cho với trong này đã không một để khi thì mà từ về ra cũng đến như nhưng tại "
          "theo sẽ đó rằng bị lại nên vì nếu hay hoặc trên ở do bởi sau trước đang còn vào rất nhiều chỉ cái nhau "
          "thế gì ai đây kia",
}
_ISO3 = {"eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "rus": "ru", "zho": "zh",
         "cmn": "zh", "chi": "zh", "ara": "ar", "arb": "ar", "ell": "el", "gre": "el", "hin": "hi", "tur": "tr",
         "vie": "vi"}


def default_stop_words(lang: str) -> set[str]:
    """The built-in stop words of ``lang`` (ISO 639-1 or 639-3, region ignored: ``zh-CN``), normalised; an empty
    set (logged once) for a language without a list."""
    base = lang.replace("_", "-").split("-")[0].lower()
    base = _ISO3.get(base, base)
    words = _STOP_WORDS.get(base)
    if words is None:
        if base not in _MISSING_STOP_WORDS:
            _MISSING_STOP_WORDS.add(base)
            log.info("No built-in stop words for %r (have: %s); stop-word filtering is off for it",
                     lang, ", ".join(sorted(_STOP_WORDS)))
        return set()
    return {normalize(w) for w in words.split()}


_MISSING_STOP_WORDS: set[str] = set()
