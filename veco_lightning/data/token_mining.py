"""Synonym mining on token ids: the fast alternative to mining on text (``data.synonym.mining: tokens``).

Text mining (:mod:`veco_lightning.lexicon.synonyms`) segments both sides of every pair into words with regular
expressions, matches those against the dictionary, and maps the matches onto the tokens through the tokenizer's
character offsets. At corpus scale that costs about as much again as tokenisation itself
(``benchmarks/mining_speed.py``). Mining on token ids needs neither the offsets nor the segmentation: the words are
read off the token ids, with numpy over a whole batch, and each distinct word is decoded and looked up once (a
corpus repeats its words: a cache keeps what each token sequence decoded to).

* A *word* is the tokenizer's: it starts at a token that starts one
  (:func:`~veco_lightning.data.tokenizer.word_start_table`; a bare ``▁`` starts the word whose letters follow it),
  at a sentence's first token or after a *wordless* token, and runs to the next word start. Wordless tokens (no
  letter or digit: punctuation, symbols) belong to no word, as spaces and punctuation belong to no unit in text
  mining.
* A word's text is what the tokenizer decodes its tokens to, normalised as text mining normalises words
  (:func:`~veco_lightning.lexicon.words.normalize`) with punctuation at its edges removed (a piece such as
  ``▁Macedonia,`` holds its comma); a French elided article or an English clitic (``l’otan``, ``john's``) is looked
  up without it, as text mining segments them; phrases of several words are matched over the word sequence with
  text mining's word trie, stop words dropped by the same tests.
* Candidates are ranked and resolved one-to-one as text mining resolves them
  (:meth:`~veco_lightning.lexicon.synonyms.SynonymMiner.join_occurrences`); the units follow the same rules
  (:func:`~veco_lightning.data.units.units_of_sides`; a token belongs to its word's unit, punctuation to none, a unit
  cut by truncation is dropped), and the stored columns are the same.

Its words are the tokenizer's, so the two can differ: a hyphenated word is several words here, and a piece such as
``▁l’OTAN`` is one unit here while text mining gives that token to the article and loses the pair. On NTREX it finds
99.6% of text mining's pairs, and 97.8% of its pairs are text mining's (``benchmarks/mining_modes.py``).

A side written without spaces (Chinese, Japanese, Thai, ...) has no words the tokenizer marks. With a
SentencePiece-style tokenizer (XLM-R's, or one ``veco-train-tokenizer`` trains) its pieces spell the sentence as the
tokenizer normalised it (:func:`piece_texts`: ``▁`` is a space), so that text is cut into words by text mining's
own segmentation (longest match against the dictionary's entries), matched by text mining's own matcher, and each
token's characters in it are the lengths of the pieces before it: the tokenizer's offsets, without having the
tokenizer track them. Where normalisation leaves a sentence as it is, the words and the token maps are text
mining's (tested); on NTREX zh-en 99.8% of text mining's pairs are found. With other tokenizers (byte-level BPE,
WordPiece) such a pair is mined on text.
"""

from __future__ import annotations

import functools
import json
import operator
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import regex
import transformers

from veco_lightning.data.cache import list_column
from veco_lightning.data.tokenizer import _plain_backend, encode_ids, encode_with_offsets, word_start_table
from veco_lightning.data.units import BatchUnits, _side_units, _split, flat_offsets, unit_layout, units_of_sides
from veco_lightning.lexicon.languages import base_language
from veco_lightning.lexicon.synonyms import MiningStats, SynonymMiner, _occurrences_of_words, _Phrases
from veco_lightning.lexicon.trie import SequenceIds, _ranges, code_points
from veco_lightning.lexicon.words import _CLITIC_RULES, SegmentedBatch, normalize

__all__ = ["MARKER", "SPACE", "WORD", "WORDLESS", "CutPairs", "OffsetReader", "PieceOffsets", "TokenMiner",
           "piece_texts", "token_kinds", "token_tables"]

WORD, WORDLESS, MARKER, SPACE = 0, 1, 2, 3
"""The kinds of :func:`token_kinds`."""

_MARKERS = ("▁", "Ġ", "##")
_CACHE_SIZE = 1_000_000  # decoded words kept per side; past it the cache starts afresh (memory stays bounded)
_CACHE_TOKENS = 16  # longer words (a URL, a number) are decoded each time: ≤ 64 MB per side, stored as int32


def _vocabulary(tokenizer: transformers.PreTrainedTokenizerBase) -> tuple[list[str], list[str]]:
    """Every vocabulary entry's piece and the text the tokenizer decodes it to alone (one call for them all)."""
    size = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    backend = _plain_backend(tokenizer)
    texts = (backend.decode_batch([[idx] for idx in range(size)], skip_special_tokens=False) if backend is not None
             else pieces)
    return pieces, texts


def token_kinds(tokenizer: transformers.PreTrainedTokenizerBase,
                vocabulary: tuple[list[str], list[str]] | None = None) -> np.ndarray:
    """The kind of every vocabulary entry: ``MARKER``, a bare SentencePiece marker (``▁``: a word split before its
    first letter is written ``▁`` + ``word``; the tokenizer's offsets put it on the word's first character, so it
    belongs to the word's unit); ``SPACE``, a bare byte-level BPE space (``Ġ``: the same, but its offsets cover the
    space, so it belongs to no unit); ``WORDLESS``, no letter or digit in the text the entry decodes to, markers
    (``▁``, ``Ġ``, ``##``) removed (punctuation, symbols; a combining mark counts as a letter, and so does part of a
    character that byte-level BPE splits over several entries), and the unknown token (what it stands for is not
    known: punctuation the vocabulary lacks as often as a word); ``WORD`` otherwise, special tokens included.

    Entries are decoded one by one by the tokenizer (byte-level BPE writes a byte as a letter-like character:
    ``’`` is ``âĢĻ``, which only decoding shows to be punctuation); ``vocabulary``: :func:`_vocabulary`'s result,
    when already at hand."""
    pieces, texts = _vocabulary(tokenizer) if vocabulary is None else vocabulary
    size = len(pieces)
    table = np.full(size, WORD, np.int8)
    for idx, (piece, text) in enumerate(zip(pieces, texts)):
        if piece in _MARKERS[:2]:
            table[idx] = MARKER if piece == "▁" else SPACE
            continue
        for marker in _MARKERS:
            text = text.replace(marker, "")
        if not any(unicodedata.category(c)[0] in "LNM" or c == "\ufffd" for c in text):  # M: Devanagari vowels...
            table[idx] = WORDLESS
    for idx in set(tokenizer.all_special_ids):
        if 0 <= idx < size:
            table[idx] = WORD
    if tokenizer.unk_token_id is not None and 0 <= tokenizer.unk_token_id < size:
        table[tokenizer.unk_token_id] = WORDLESS
    return table


_UNREADABLE = "\ufffd"  # what piece_texts writes for an entry whose text is not known (unknown, special, byte)


def piece_texts(tokenizer: transformers.PreTrainedTokenizerBase,
                vocabulary: tuple[list[str], list[str]] | None = None) -> list[str] | None:
    """For a SentencePiece-style tokenizer (words marked with ``▁``, which stands for a space), the text every
    vocabulary entry adds to its sentence: the piece with its markers as spaces (``▁中国`` -> `` 中国``), so that a
    sentence's pieces joined are its text as the tokenizer normalised it, and each token's characters in that text
    are known without the tokenizer's offsets. The unknown token, special tokens and pieces that do not decode to
    their own text (byte fallback, ``<0xE4>``) stand for one character that is no letter (``U+FFFD``).

    ``None`` for other tokenizers (no ``▁`` piece; byte-level BPE and WordPiece, whose pieces are not the text's
    characters one for one: more than 1% of the entries decode to something else than their piece)."""
    pieces, texts = _vocabulary(tokenizer) if vocabulary is None else vocabulary
    if not any(piece.startswith("▁") for piece in pieces):
        return None
    special = set(tokenizer.all_special_ids)
    result, unreadable = [], 0
    for idx, (piece, text) in enumerate(zip(pieces, texts)):
        spaced = piece.replace("▁", " ")
        if idx in special or not spaced or text.strip(" ") != spaced.strip(" ") or "\n" in spaced:
            unreadable += idx not in special
            spaced = _UNREADABLE
        result.append(spaced)
    return None if unreadable > 0.01 * len(pieces) else result


def _joined(table: list[str], flat: np.ndarray, first: np.ndarray) -> str:
    """The ``table`` entries of ``flat``'s groups (each from its ``first`` index to the next) joined, the table's
    last entry (a newline) between groups: one ``str.join`` for a whole batch."""
    return "".join(map(table.__getitem__, np.insert(flat, first[1:], len(table) - 1).tolist()))


@functools.lru_cache(maxsize=1 << 16)
def _nfkc(char: str) -> str:
    return unicodedata.normalize("NFKC", char)


@functools.lru_cache(maxsize=1 << 16)
def _nfkc_point(code: int) -> int:
    """The code point a character's NFKC form is, or -1 when that form is not one character."""
    form = _nfkc(chr(code))
    return ord(form) if len(form) == 1 else -1


class PieceOffsets:
    """The character offsets of each token in its text, read off the token ids with a SentencePiece-style tokenizer's
    :func:`piece_texts` instead of tracked by the tokenizer (which costs about a third of tokenisation: the Rust
    tokenizer keeps an alignment for every normalised character, and every offset becomes a Python tuple).

    A sentence's pieces joined spell its text as the tokenizer normalised and pre-tokenised it, a space before each
    word. Where that is ``" " + text`` character for character (normalisation changed at most single characters into
    their NFKC forms, such as a non-breaking space into a space; pre-tokenisation merged no run of spaces; no unknown or
    byte-fallback piece), each token's characters are the lengths of the pieces before it, as
    :meth:`TokenMiner._text_words` counts them: a piece's marker is not part of its offsets, and a bare marker covers
    the next character, as the tokenizer's offsets put them. The other sentences are encoded again with offsets tracked.
    :class:`OffsetReader` checks texts of the first batch against the tracked offsets: a tokenizer whose offsets
    follow another rule keeps tracking them, so the offsets are the tokenizer's either way. Token mining cuts a side
    without spaces in the same spelled text (:meth:`TokenMiner._text_words`)."""

    def __init__(self, pieces: list[str]) -> None:
        self.table = [*pieces, "\n"]  # the last entry separates sentences
        self.length = np.fromiter(map(len, pieces), np.int64, len(pieces))
        self.lead = self.length - np.fromiter((len(p.lstrip(" ")) for p in pieces), np.int64, len(pieces))
        # Every piece's characters as code points, one after the other, and where each piece's begin.
        self.points = code_points("".join(pieces))
        self.begin = np.cumsum(self.length) - self.length

    def spelled(self, tokens: _Tokens) -> list[str]:
        """Each sentence's pieces joined: all the batch's at once, a newline (which no piece holds) between them."""
        if not len(tokens.first):
            return []
        return _joined(self.table, tokens.flat, tokens.first).split("\n")

    def exact(self, tokens: _Tokens, texts: list[str]) -> np.ndarray:
        """Which sentences' pieces spell their texts (:meth:`_check`)."""
        return self._check(tokens, texts)[0]

    def _check(self, tokens: _Tokens, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(exact, spelled, begin, length)``: which sentences' pieces joined (:meth:`spelled`) are their texts after
        a space, character for character, each character that differs being the text's under NFKC (a non-breaking
        space as a space, a full-width comma as a comma: the tokenizer's normalisation changed no length and moved no
        character, so the offsets are the positions). For the whole batch at once as code points, NFKC asked only
        where characters differ. 0.5-0.6x the time of spelling every text and comparing them one by one on
        NTREX's spaced languages, 0.2x on Chinese. ``spelled`` holds every sentence's spelled text as code points,
        sentence ``k``'s from ``begin[k]``, ``length[k]`` of them."""
        n = len(texts)
        size = self.length[tokens.flat]
        end = np.r_[0, np.cumsum(size)]  # end[k]: the spelled characters before token k
        spelled = self.points[np.repeat(self.begin[tokens.flat] - end[:-1], size) + np.arange(end[-1])]
        spelled_begin = end[tokens.first]
        spelled_length = end[tokens.first + np.bincount(tokens.sentence, minlength=n)] - spelled_begin
        text_length = np.fromiter(map(len, texts), np.int64, n)
        exact = (spelled_length == text_length + 1) & (spelled_length > 0)
        exact[exact] = spelled[spelled_begin[exact]] == 32  # a space first
        length = text_length[exact]
        within = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
        spelled_at = np.repeat(spelled_begin[exact] + 1, length) + within
        text_at = np.repeat((np.cumsum(text_length) - text_length)[exact], length) + within
        text = code_points("".join(texts))
        differs = np.flatnonzero(spelled[spelled_at] != text[text_at])
        if len(differs):
            owner = np.repeat(np.flatnonzero(exact), length)[differs]
            normalised = np.fromiter(map(operator.eq, spelled[spelled_at[differs]].tolist(),
                                         map(_nfkc_point, text[text_at[differs]].tolist())), bool, len(differs))
            exact[owner[~normalised]] = False
        return exact, spelled, spelled_begin, spelled_length

    def spans(self, tokens: _Tokens) -> tuple[np.ndarray, np.ndarray]:
        """Each token's characters ``[start, end)`` in its sentence's :meth:`spelled` text: the lengths of the pieces
        before it; a marker belongs to the characters after it, as the tokenizer's offsets put it (a bare ``▁``
        covers the next character)."""
        size, lead = self.length[tokens.flat], self.lead[tokens.flat]
        total = np.cumsum(size)
        end = total - np.r_[0, total][tokens.first][tokens.sentence]  # characters to each token's end
        bare = (lead >= size) & (size > 0)
        return np.where(bare, end, end - size + lead), np.where(bare, end + 1, end)

    def read(self, tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str],
             max_length: int) -> tuple[pa.ListArray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """Each text's token ids cut to ``max_length`` (a :func:`~veco_lightning.data.cache.list_column`, as the
        shards store them: made from the flat ids, not a list per text), the kept tokens' offsets as
        :func:`~veco_lightning.data.units.flat_offsets` gives them (starts, ends, tokens per text), and which texts
        had them read off their pieces (the others were tracked)."""
        return self.read_ids(tokenizer, texts, encode_ids(tokenizer, texts), max_length)

    def read_ids(self, tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str], ids: list[list[int]],
                 max_length: int) -> tuple[pa.ListArray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """:meth:`read` given each text's uncut token ids (``encode_ids(tokenizer, texts)``): the tokenizer encodes
        only the texts whose offsets are tracked."""
        tokens = _Tokens.of(ids, max_length)
        exact, spelled, spelled_begin, spelled_length = self._check(tokens, texts)
        start, end = self.spans(tokens)
        start, end = start - 1, end - 1  # in the text: the space before its first word dropped
        keep, kept = tokens.keep, tokens.kept
        if not exact.all():  # texts whose characters NFKC expands (Devanagari's nukta letters, an ellipsis)
            redo = np.flatnonzero(~exact)
            exact[redo] = _expanded_spans(texts, redo, spelled, spelled_begin, spelled_length, tokens, start, end)
        if exact.all():
            return list_column(tokens.flat[keep], kept), (start[keep], end[keep], kept), exact
        # The others through the tokenizer with offsets tracked, placed among the read ones in sentence order.
        redo = np.flatnonzero(~exact)
        tracked = encode_with_offsets(tokenizer, [texts[k] for k in redo.tolist()], max_length)
        tracked_start, tracked_end, tracked_kept = flat_offsets([offsets for _, offsets in tracked])
        read = keep & exact[tokens.sentence]
        kept = kept.copy()
        kept[redo] = tracked_kept
        out_first = np.cumsum(kept) - kept
        values = np.zeros(int(kept.sum()), np.int64)
        starts, ends = np.zeros(int(kept.sum()), np.int64), np.zeros(int(kept.sum()), np.int64)
        at = out_first[tokens.sentence[read]] + tokens.local[read]
        values[at], starts[at], ends[at] = tokens.flat[read], start[read], end[read]
        at = np.repeat(out_first[redo], tracked_kept) + np.arange(len(tracked_start)) - np.repeat(
            np.cumsum(tracked_kept) - tracked_kept, tracked_kept)
        values[at] = np.fromiter(chain.from_iterable(row for row, _ in tracked), np.int64, len(at))
        starts[at], ends[at] = tracked_start, tracked_end
        return list_column(values, kept), (starts, ends, kept), exact


def _expanded_spans(texts: list[str], which: np.ndarray, spelled: np.ndarray, spelled_begin: np.ndarray,
                    spelled_length: np.ndarray, tokens: _Tokens, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The token spans of the sentences ``which`` (``start``, ``end``: positions in each one's spelled text less its
    leading space; ``spelled``, ``spelled_begin``, ``spelled_length``: :meth:`PieceOffsets._check`'s) moved into their
    texts, in place, where a sentence's spelled code points are a space and the NFKC forms of its text's characters
    one after the other (each character of the text became one or more of the normalised text, none composed with
    another): a span then covers the characters whose forms hold its first and its last position, as the tokenizer maps
    its normalised text back (equal to its tracked offsets on 803,590 texts of the shared data and on odd text, spans
    ending inside a form included). Returns which of them were moved; nothing is moved for the others (their spelled
    text is another, or a span is empty or out of it).

    All the sentences at once: each distinct character's form is found once, and a span's characters by one sorted
    search over all the sentences' forms (a Python call per sentence took 0.4 of the reading of NTREX's Hindi side,
    whose precomposed nukta letters NFKC decomposes)."""
    n = len(which)
    if not n:
        return np.zeros(0, bool)
    chosen = [texts[k] for k in which.tolist()]
    text_length = np.fromiter(map(len, chosen), np.int64, n)
    points = code_points("".join(chosen))
    if len(points) > 0x4000 and points.max() < 0x10000:  # many characters of the plane: a table, no sort
        index = np.zeros(0x10000, np.int64)
        index[points] = 1
        distinct = np.flatnonzero(index)
        index[distinct] = np.arange(len(distinct))
        inverse = index[points]
    else:
        distinct, inverse = np.unique(points, return_inverse=True)
    forms = [_nfkc(chr(point)) for point in distinct.tolist()]
    form_size = np.fromiter(map(len, forms), np.int64, len(forms))
    form_points = code_points("".join(forms))
    size = form_size[inverse]  # each character's form's length
    form_start = np.cumsum(size) - size  # where each character's form begins, over all the sentences' forms
    formed = form_points[_ranges((np.cumsum(form_size) - form_size)[inverse], size)]
    char_base = np.cumsum(text_length) - text_length  # each sentence's first character
    normal_base = np.r_[0, np.cumsum(size)][char_base]  # where each sentence's forms begin
    normal_length = np.r_[normal_base[1:], len(formed)] - normal_base
    # The spelled text must be a space and the forms, code point for code point.
    begin, length = spelled_begin[which], spelled_length[which]
    moved = (length > 0) & (length == normal_length + 1)
    moved[moved] = spelled[begin[moved]] == 32
    same = normal_length[moved]
    at = _ranges(begin[moved] + 1, same)
    differs = spelled[at] != formed[_ranges(normal_base[moved], same)]
    if differs.any():
        moved[np.flatnonzero(moved)[np.repeat(np.arange(len(same)), same)[differs]]] = False
    # Every span of a moved sentence must be non-empty and inside its normalised text.
    token_count = np.r_[tokens.first[1:], len(tokens.flat)][which] - tokens.first[which]
    token = _ranges(tokens.first[which], token_count)
    owner = np.repeat(np.arange(n), token_count)
    s, e = start[token], end[token]
    bad = (s < 0) | (e > normal_length[owner]) | (e <= s)
    moved[owner[bad]] = False
    mine = moved[owner]
    token, owner, s, e = token[mine], owner[mine], s[mine], e[mine]
    # The character whose form holds a span's first position, to the one whose form holds its last.
    start[token] = np.searchsorted(form_start, normal_base[owner] + s, "right") - 1 - char_base[owner]
    end[token] = np.searchsorted(form_start, normal_base[owner] + e - 1, "right") - char_base[owner]
    return moved


def _tracked(tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str],
             max_length: int) -> tuple[pa.ListArray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each text's ids cut to ``max_length`` and its offsets, tracked by the tokenizer, as :class:`PieceOffsets`
    gives them (the ids a list column too)."""
    tracked = encode_with_offsets(tokenizer, texts, max_length)
    starts, ends, kept = flat_offsets([offsets for _, offsets in tracked])
    values = np.fromiter(chain.from_iterable(ids for ids, _ in tracked), np.int64, int(kept.sum()))
    return list_column(values, kept), (starts, ends, kept)


class OffsetReader:
    """Token ids and character offsets of one side of a language pair's batches, for text mining: read off the pieces
    (:meth:`PieceOffsets.read`) when the tokenizer has them and, on the first batch, at least ``min_share`` of its
    texts are read off the pieces (below it, encoding most texts twice costs more than tracking the offsets of all)
    and the read ids and offsets of its first ``check_texts`` texts are the tokenizer's own (compared with the tracked
    ones); tracked by the tokenizer otherwise. Decided on the first batch, so a forked ``num_proc`` worker decides on
    its own.

    The check tracks the offsets of a sample rather than of the whole first batch: a tokenizer whose offsets follow
    another rule than the pieces' lengths (a marker counted in its piece's offsets, say) differs on nearly every text,
    and encoding a whole batch once more, per side, language pair and ``num_proc`` worker, is a fixed cost that
    weighs on small corpora: the whole text-mining preparation of NTREX takes 0.83-0.88x the time with the sample, of
    NTREX x5 0.88-0.95x (``num_proc`` 1 and 2, two runs; ``benchmarks/results/first_batch_check/``).

    A batch goes through two steps, :meth:`encode` (the tokenizer alone, which releases the interpreter lock: run it
    on a thread beside other Python work) and then :meth:`finish` (Python); calling the reader does both."""

    def __init__(self, pieces: PieceOffsets | None, min_share: float = 0.8, check_texts: int = 256) -> None:
        self.pieces, self.min_share, self.check_texts = pieces, min_share, check_texts
        self.decided: bool | None = None if pieces is not None else False

    def encode(self, tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str],
               max_length: int) -> list[list[int]] | tuple:
        """The tokenizer's part of a batch: each text's uncut ids where the offsets are read off the pieces; the ids
        cut to ``max_length`` with the tracked offsets where they are tracked; on the first batch, the uncut ids and
        the tracked ids and offsets of its first ``check_texts`` texts."""
        if self.decided:
            return encode_ids(tokenizer, texts)
        if self.decided is None and len(texts):
            return encode_ids(tokenizer, texts), _tracked(tokenizer, texts[:self.check_texts], max_length)
        return _tracked(tokenizer, texts, max_length)

    def finish(self, tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str], encoded: list | tuple,
               max_length: int) -> tuple[pa.ListArray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each text's ids cut to ``max_length`` (a :func:`~veco_lightning.data.cache.list_column`) and the kept
        tokens' offsets as :func:`~veco_lightning.data.units.flat_offsets` gives them, from what :meth:`encode` gave
        for ``texts`` (read off the pieces, or as tracked; the first batch decides which way the next ones go)."""
        if self.decided:
            return self.pieces.read_ids(tokenizer, texts, encoded, max_length)[:2]
        if self.decided is None and len(texts):
            ids, (sample_ids, (sample_starts, sample_ends, sample_kept)) = encoded
            cut, (starts, ends, kept), exact = self.pieces.read_ids(tokenizer, texts, ids, max_length)
            n, n_tokens = len(sample_ids), int(sample_kept.sum())
            self.decided = bool(exact.mean() >= self.min_share and cut.slice(0, n).equals(sample_ids)
                                and np.array_equal(kept[:n], sample_kept)
                                and np.array_equal(starts[:n_tokens], sample_starts)
                                and np.array_equal(ends[:n_tokens], sample_ends))
            if self.decided:
                return cut, (starts, ends, kept)
            return _tracked(tokenizer, texts, max_length)  # the tokenizer's offsets follow another rule
        return encoded

    def __call__(self, tokenizer: transformers.PreTrainedTokenizerBase, texts: list[str],
                 max_length: int) -> tuple[pa.ListArray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """:meth:`encode` then :meth:`finish`."""
        return self.finish(tokenizer, texts, self.encode(tokenizer, texts, max_length), max_length)


def token_tables(tokenizer: transformers.PreTrainedTokenizerBase) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """What :class:`TokenMiner` reads of a tokenizer, for sharing between language pairs: its
    :func:`~veco_lightning.data.tokenizer.word_start_table` (as numpy), :func:`token_kinds` and :func:`piece_texts`
    (the vocabulary decoded once for both)."""
    vocabulary = _vocabulary(tokenizer)
    return word_start_table(tokenizer).numpy(), token_kinds(tokenizer, vocabulary), piece_texts(tokenizer, vocabulary)


# Punctuation, symbols and spaces (not newlines) at either end of a line.
_EDGES = regex.compile(r"(?m)^[\p{P}\p{S}\t\r\f\v ]+|[\p{P}\p{S}\t\r\f\v ]+$")


def _word_texts(texts: list[str]) -> list[str]:
    """Decoded words as the dictionary's index holds words: normalised
    (:func:`~veco_lightning.lexicon.words.normalize`), without the punctuation and symbols at their two ends. All at
    once, joined by newlines (neither NFKC nor case folding makes or removes one): a few C calls, not a few per
    word, which matters when a batch brings thousands of words never seen."""
    return _lines_as_words("\n".join(text.replace("\n", " ") for text in texts))


def _lines_as_words(joined: str) -> list[str]:
    """:func:`_word_texts` of texts already joined by newlines (none inside a text)."""
    return _EDGES.sub("", normalize(joined, collapse_whitespace=False)).split("\n")


# Decoders that turn each piece into its text on its own (a marker into a space) and at most strip spaces at the whole
# text's edges: with them, a word's decoded text is its pieces' texts joined (spaces at the edges apart). A step type
# with a setting is accepted with that setting only: ``Replace`` of the marker by a space (a longer pattern could span
# two pieces), ``Strip`` of spaces. ``ByteFallback`` joins byte pieces (``<0xE4>``), which piece_texts marks
# unreadable, so such a word is decoded.
_PIECEWISE_DECODERS = {"Metaspace": {"replacement": "▁"}, "Replace": {"pattern": {"String": "▁"}, "content": " "},
                       "ByteFallback": {}, "Fuse": {}, "Strip": {"content": " "}}


def _decodes_piecewise(backend) -> bool:
    """Whether the Rust tokenizer ``backend``'s decoder only writes each piece as its own text (a SentencePiece-style
    ``Metaspace`` decoder, or a sequence of the steps in ``_PIECEWISE_DECODERS``, as Llama-style tokenizers have)."""
    decoder = getattr(backend, "decoder", None)
    if decoder is None:
        return False
    try:
        spec = json.loads(decoder.__getstate__())
    except (TypeError, ValueError, AttributeError):
        return False
    steps = spec.get("decoders", [spec]) if spec.get("type") == "Sequence" else [spec]
    return all(isinstance(step, dict) and step.get("type") in _PIECEWISE_DECODERS
               and all(step.get(key) == value for key, value in _PIECEWISE_DECODERS[step["type"]].items())
               for step in steps)


def _spelling(tokenizer: transformers.PreTrainedTokenizerBase,
              pieces: list[str] | None) -> tuple[list[str], np.ndarray] | None:
    """What :meth:`_WordIds._texts` spells new words with: :func:`piece_texts`' entries with a newline added as the
    last (the word separator), and which entries cannot be spelled; ``None`` when the tokenizer has no such pieces or
    does not decode piece by piece (:func:`_decodes_piecewise`). Made once per language pair for both its sides (at a
    250,002-entry vocabulary: 2 MB of references, about 10 ms)."""
    backend = _plain_backend(tokenizer)
    if pieces is None or backend is None or not _decodes_piecewise(backend):
        return None
    table = [*pieces, "\n"]
    return table, np.fromiter((piece == _UNREADABLE for piece in table), bool, len(table))


class _WordIds:
    """One side's lookup from token sequences to the word ids of text mining's word trie
    (:class:`~veco_lightning.lexicon.synonyms._Phrases`; below ``n_keys`` a word id is a single-word key's id), with a
    cache of the token sequences decoded so far (:class:`~veco_lightning.lexicon.trie.SequenceIds`, up to
    ``_CACHE_TOKENS`` tokens long, ``_CACHE_SIZE`` of them): a hit is checked against the stored tokens, so the result
    is exact whatever the hash does.

    ``spelling``: :func:`_spelling`'s table, for tokenizers that decode piece by piece (SentencePiece-style ones such
    as XLM-R's): then a new word's text is its pieces' texts joined, all the batch's new words in one ``str.join`` (a
    word holding a piece that :func:`piece_texts` cannot spell is decoded by the tokenizer): the same text, without
    the tokenizer's per-sequence decoding."""

    def __init__(self, tokenizer: transformers.PreTrainedTokenizerBase, phrases: _Phrases, lang: str,
                 spelling: tuple[list[str], np.ndarray] | None = None) -> None:
        self.tokenizer, self.phrases = tokenizer, phrases
        self.backend = _plain_backend(tokenizer)
        self.clitics = _CLITIC_RULES.get(base_language(lang))
        self.table, self.unreadable = spelling if spelling is not None else (None, None)
        self.cache = SequenceIds(self.decode, _CACHE_TOKENS, _CACHE_SIZE)

    def _decoded(self, sequences: list[list[int]]) -> list[str]:
        """What the tokenizer decodes each token sequence to, normalised (:func:`_word_texts`)."""
        if self.backend is not None:
            return _word_texts(self.backend.decode_batch(sequences, skip_special_tokens=False))
        return _word_texts(self.tokenizer.batch_decode(sequences, skip_special_tokens=False))

    def _texts(self, tokens: np.ndarray, lengths: np.ndarray) -> list[str]:
        """The normalised text of each word (its tokens flat in ``tokens``, ``lengths`` of them each, at least 1)."""
        starts = np.cumsum(lengths) - lengths
        if self.table is None:
            return self._decoded(_split(tokens, lengths))
        words = _lines_as_words(_joined(self.table, tokens, starts))
        if len(words) != len(lengths):  # not expected (piece_texts holds no newline): decode them all instead
            return self._decoded(_split(tokens, lengths))
        unspellable = np.logical_or.reduceat(self.unreadable[tokens], starts)
        if unspellable.any():
            odd = np.flatnonzero(unspellable)
            for k, text in zip(odd.tolist(), self._decoded(_split(tokens[_ranges(starts[odd], lengths[odd])],
                                                                  lengths[odd]))):
                words[k] = text
        return words

    def decode(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The word ids of words given by their tokens (flat ``tokens``, ``lengths`` each, at least 1), from their
        text (:meth:`_texts`)."""
        words = self._texts(tokens, lengths)
        ids = self.phrases.lookup(words)
        if self.clitics is not None:
            # As text mining segments them: a French elided article (``l'europe``) or an English clitic
            # (``martin's``) is not part of the word the dictionary knows.
            kind, clitics = self.clitics
            retry = [k for k in np.flatnonzero(ids < 0).tolist() if "'" in words[k]]
            stems = []
            for k in retry:
                head, _, tail = words[k].rpartition("'") if kind == "suffix" else words[k].partition("'")
                stems.append(head if kind == "suffix" and tail in clitics else
                             tail if kind == "prefix" and head in clitics else "")
            if retry:
                ids[retry] = self.phrases.lookup(stems)
        return ids

    def __call__(self, flat: np.ndarray, first: np.ndarray, length: np.ndarray) -> np.ndarray:
        """The word id (-1: not in the dictionary) of each word ``flat[first:first + length]`` of a batch (every
        length at least 1): every word looked up in the cache, only the words not seen before decoded (once each)."""
        return self.cache(flat, first, length)


class _Tokens(NamedTuple):
    """The token ids of one side of a batch, flat: each token's sentence and position in it (``local``), each
    sentence's first token (``first``), and the first ``max_length`` tokens of each sentence (``kept`` of them;
    ``keep`` marks them)."""

    flat: np.ndarray
    first: np.ndarray
    sentence: np.ndarray
    local: np.ndarray
    kept: np.ndarray
    keep: np.ndarray

    @classmethod
    def of(cls, ids: Sequence[Sequence[int]], max_length: int) -> _Tokens:
        lengths = np.fromiter(map(len, ids), np.int64, len(ids))
        flat = np.fromiter(chain.from_iterable(ids), np.int64, int(lengths.sum()))
        first = np.cumsum(lengths) - lengths
        sentence = np.repeat(np.arange(len(ids)), lengths)
        local = np.arange(len(flat)) - first[sentence]
        kept = np.minimum(lengths, max_length)
        return cls(flat, first, sentence, local, kept, local < kept[sentence])


class _Side(NamedTuple):
    """One side of a batch as :meth:`TokenMiner._words` reads it: its words (token positions, local to each
    sentence, in place of :class:`~veco_lightning.lexicon.words.SegmentedBatch`'s character spans; no word texts),
    the dictionary occurrences ``(first word, last word + 1, key id)`` in flat word positions, and for the first
    ``max_length`` tokens of each sentence (``kept`` of them): their ids, words (flat), whether each is outside
    every unit (punctuation, a byte-level space), their sentence and position."""

    words: SegmentedBatch
    occurrences: tuple[np.ndarray, np.ndarray, np.ndarray]
    ids: np.ndarray
    kept: np.ndarray
    token_word: np.ndarray
    token_outside: np.ndarray
    token_sentence: np.ndarray
    token_local: np.ndarray


class _TextSide(NamedTuple):
    """A side written without spaces, as :meth:`TokenMiner._text_words` reads it: its words as text mining segments
    the text its pieces spell (:func:`piece_texts`; character spans in that text), their dictionary occurrences
    ``(first word, last word + 1, key id)`` in flat word positions, and for the first ``max_length`` tokens of each
    sentence (``kept`` of them): their ids and their characters ``[token_start, token_end)`` in that text."""

    words: SegmentedBatch
    occurrences: tuple[np.ndarray, np.ndarray, np.ndarray]
    ids: np.ndarray
    kept: np.ndarray
    token_start: np.ndarray
    token_end: np.ndarray


class CutPairs(NamedTuple):
    """What :meth:`TokenMiner.mine` gives for a batch: each side's token ids cut to the side length, flat
    (``src_ids``) with each pair's number of them (``src_lengths``), and the units."""

    src_ids: np.ndarray
    src_lengths: np.ndarray
    tgt_ids: np.ndarray
    tgt_lengths: np.ndarray
    units: BatchUnits

    def rows(self) -> tuple[list[list[int]], list[list[int]]]:
        """The cut ids of each side as lists, one per pair."""
        return _split(self.src_ids, self.src_lengths), _split(self.tgt_ids, self.tgt_lengths)


class TokenMiner:
    """Synonym mining on token ids for one language pair (see the module docstring): the text miner's dictionary
    tables, stop words and options, and the tokenizer's word starts.

    Args:
        miner: the language pair's :class:`~veco_lightning.lexicon.synonyms.SynonymMiner`.
        tokenizer: the tokenizer the pairs are encoded with. A side written without spaces (Chinese, Japanese, Thai)
            needs a SentencePiece-style one (:func:`piece_texts`): its words are cut, as text mining cuts them, in the
            text its pieces spell.
        word_start, kinds, pieces: the tokenizer's :func:`~veco_lightning.data.tokenizer.word_start_table` (as
            numpy), :func:`token_kinds` and :func:`piece_texts`, when already at hand (several language pairs share
            them: :func:`token_tables`). With ``kinds`` given, ``pieces=None`` says the tokenizer has no such pieces.
            The pieces also spell the spaced sides' new words when the tokenizer decodes piece by piece (see
            :class:`_WordIds`).
    """

    def __init__(self, miner: SynonymMiner, tokenizer: transformers.PreTrainedTokenizerBase,
                 word_start: np.ndarray | None = None, kinds: np.ndarray | None = None,
                 pieces: list[str] | None = None) -> None:
        self.miner, self.tokenizer = miner, tokenizer
        self.spaced = (bool(miner.index.src_sep), bool(miner.index.tgt_sep))
        if kinds is None:  # the tables not at hand: the vocabulary decoded once for all three
            found = token_tables(tokenizer)
            word_start = found[0] if word_start is None else word_start
            kinds, pieces = found[1], found[2] if pieces is None else pieces
        self.pieces = pieces  # given with the other tables, None means the tokenizer has no such pieces
        if not all(self.spaced):
            if self.pieces is None:
                raise ValueError(
                    f"{miner.src_lang}-{miner.tgt_lang}: a side written without spaces is mined on token ids only with "
                    "a SentencePiece-style tokenizer (pieces marked with '▁'); mine this pair on text "
                    "(data.synonym.mining: text)")
            self.piece_table = PieceOffsets(self.pieces)
        self.word_start = word_start_table(tokenizer).numpy() if word_start is None else word_start
        self.kinds = kinds
        self.sides = self._sides()

    def _sides(self) -> tuple:
        """Per side: the word-id lookup (``None`` for a side without spaces), the stop flags of the keys, the stop
        words and the longest phrase."""
        miner = self.miner
        tables = miner.batch_tables()
        spelling = _spelling(self.tokenizer, self.pieces) if any(self.spaced) else None  # one for both sides
        return ((_WordIds(self.tokenizer, tables.src_phrases, miner.src_lang, spelling) if self.spaced[0] else None,
                 tables.src_stop, miner.stops[0], miner.index.src_max_words),
                (_WordIds(self.tokenizer, tables.tgt_phrases, miner.tgt_lang, spelling) if self.spaced[1] else None,
                 tables.tgt_stop, miner.stops[1], miner.index.tgt_max_words))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "sides": None}  # the miner's tables are not pickled either: rebuilt where needed

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.sides = self._sides()

    def _text_words(self, ids: Sequence[Sequence[int]], side: int, max_length: int) -> _TextSide:
        """One side without spaces of a batch, mined (:class:`_TextSide`): each sentence's pieces joined
        (:func:`piece_texts`), segmented and matched as text mining segments and matches a text, each token's
        characters the length of its piece after the pieces before it. A marker belongs to the characters after it,
        as the tokenizer's offsets put it: a bare ``▁`` covers the next character."""
        name = ("src", "tgt")[side]
        tokens = _Tokens.of(ids, max_length)
        words = self.miner.segment_batch(self.piece_table.spelled(tokens), name)
        occurrences = self.miner.occurrences(words.words, words.counts, name)
        start, end = self.piece_table.spans(tokens)
        keep = tokens.keep
        return _TextSide(words, occurrences, tokens.flat[keep], tokens.kept, start[keep], end[keep])

    def _words(self, ids: Sequence[Sequence[int]], side: int, max_length: int) -> _Side:
        """One side of a batch, mined (:class:`_Side`)."""
        tokens = _Tokens.of(ids, max_length)
        flat, sentence, local = tokens.flat, tokens.sentence, tokens.local
        n = len(flat)
        kind = self.kinds[flat]
        word_start = self.word_start[flat]
        # A bare marker or space starts the word whose letters follow it (``▁`` + ``while``); one that no such token
        # follows is wordless, as punctuation is.
        continued = np.r_[(kind[1:] == WORD) & ~word_start[1:] & (local[1:] > 0), False] if n else word_start
        bare = (kind == MARKER) | (kind == SPACE)
        wordless = (kind == WORDLESS) | (bare & ~continued)
        after_wordless = np.r_[True, wordless[:-1]] if n else wordless
        begin = ~wordless & (word_start | (local == 0) | after_wordless)
        word = np.cumsum(begin) - 1  # each token's word, flat (a wordless token: the word before it)
        counts = np.bincount(sentence[begin], minlength=len(ids))
        # A word's tokens run from its start (its marker, if any) to its last token with a letter or digit.
        inside = np.flatnonzero(~wordless)
        ends = np.zeros(int(counts.sum()), np.int64)
        ends[word[inside]] = local[inside] + 1  # positions increase, so each word keeps its last token's
        starts = local[begin]
        words = SegmentedBatch([], starts, ends, counts)

        lookup, key_stop, stop, max_n = self.sides[side]
        word_first = np.cumsum(counts) - counts
        word_ids = lookup(flat, np.flatnonzero(begin), ends - starts)
        sentence_end = np.repeat(word_first + counts, counts)
        occurrences = _occurrences_of_words(word_ids, sentence_end, lookup.phrases, key_stop, stop, max_n)

        keep = tokens.keep
        outside = (wordless | (kind == SPACE))[keep]  # tokens of no unit
        return _Side(words, occurrences, flat[keep], tokens.kept, word[keep], outside, sentence[keep], local[keep])

    @staticmethod
    def _units(side: _Side, sentence: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, ...]:
        """:func:`veco_lightning.data.units._side_units` for token positions, where each token's word is known: the
        units (the phrases, words ``[first, last)`` of sentence ``sentence``, merged; every other word alone), the
        unit of every kept token (local; -1: outside every unit, or its unit was cut), the tokens per sentence, the
        unit of every phrase (local) and whether it kept a token (its last token is within the cut)."""
        layout = unit_layout(side.words.counts, sentence, first, last)
        present = side.words.ends[layout.unit_last] <= side.kept[layout.unit_sentence]  # not cut by truncation
        if not len(layout.unit_first):  # no word at all (punctuation only)
            return np.full(len(side.token_word), -1, np.int64), side.kept, layout.phrase_unit, present
        unit = layout.unit_of_word[np.maximum(side.token_word, 0)]
        valid = ~side.token_outside & present[unit]
        token_unit = np.where(valid, unit - layout.units_before[side.token_sentence], -1)
        return (token_unit, side.kept, layout.phrase_unit - layout.units_before[sentence],
                present[layout.phrase_unit])

    def mine(self, src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]],
             max_length: int) -> CutPairs:
        """Mine a batch of pairs, given the token ids of both sides uncut: each side's ids cut to ``max_length``, and
        the same :class:`~veco_lightning.data.units.BatchUnits` as text mining's
        :func:`~veco_lightning.data.units.units_of_matches` gives for the cut ids (a synonym pair is kept only if the
        cut left both its units whole)."""
        if not len(src_ids):
            empty = np.zeros(0, np.int64)
            return CutPairs(empty, empty, empty, empty, BatchUnits(
                empty, empty, empty, empty, empty, empty, np.zeros((0, len(MiningStats.COUNTS) + 1), np.int64)))
        return self._joined(self._mine_side(src_ids, 0, max_length), self._mine_side(tgt_ids, 1, max_length))

    def _joined(self, src: _Side | _TextSide, tgt: _Side | _TextSide) -> CutPairs:
        """The synonym pairs of two mined sides of a batch (:meth:`_mine_side`), resolved, and their units."""
        found = self.miner.join_occurrences(*src.occurrences, *tgt.occurrences, src.words.counts, tgt.words.counts)
        units = units_of_sides(found, src.words.counts, tgt.words.counts,
                               self._side_units(src, found.sentence, found.i0, found.i1),
                               self._side_units(tgt, found.sentence, found.j0, found.j1))
        return CutPairs(src.ids, src.kept, tgt.ids, tgt.kept, units)

    def _mine_side(self, ids: Sequence[Sequence[int]], side: int, max_length: int) -> _Side | _TextSide:
        """One side of a batch, mined: read off its tokens (:meth:`_words`), or cut in its pieces' text when written
        without spaces (:meth:`_text_words`)."""
        return self._words(ids, side, max_length) if self.spaced[side] else self._text_words(ids, side, max_length)

    def _side_units(self, side: _Side | _TextSide, sentence: np.ndarray, first: np.ndarray,
                    last: np.ndarray) -> tuple[np.ndarray, ...]:
        """:meth:`_units` of a spaced side; text mining's own token maps for a side without spaces, its tokens'
        characters in place of the tokenizer's offsets."""
        if isinstance(side, _Side):
            return self._units(side, sentence, first, last)
        return _side_units(side.words.starts, side.words.ends, side.words.counts, sentence, first, last,
                           side.token_start, side.token_end, side.kept)

    def mine_texts(self, src_texts: Sequence[str], tgt_texts: Sequence[str], max_length: int) -> CutPairs:
        """Tokenize a batch of pairs (no special tokens) and :meth:`mine` them: the target side is tokenized on a
        thread while the source side is mined (the Rust tokenizer releases the GIL while it encodes), the same result
        as one after the other. With the tokenizer on both cores that gave the synonym datamodule's map 1.04x the
        pairs per second on NTREX, and it costs nothing where the tokenizer runs on one core (``num_proc`` workers).
        (Cutting a batch into four parts, each tokenized while the one before it is mined, gave about half that: the
        tokenizer's worker threads and the mining contend for the two cores and the GIL.)"""
        if not len(src_texts):
            return self.mine([], [], max_length)
        src_ids = encode_ids(self.tokenizer, list(src_texts))  # first: it leaves the Rust tokenizer's settings plain
        # Meanwhile this thread only decodes new words with the same Rust tokenizer (a shared borrow, as encoding
        # is; nothing changes its settings until both are done).
        with ThreadPoolExecutor(max_workers=1) as pool:  # per batch: a pool does not survive a num_proc fork
            tgt_ids = pool.submit(encode_ids, self.tokenizer, list(tgt_texts))
            src = self._mine_side(src_ids, 0, max_length)
            return self._joined(src, self._mine_side(tgt_ids.result(), 1, max_length))
