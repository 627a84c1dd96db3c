"""Bilingual dictionaries (the "thesaurus" of VECO 2.0's token-level alignment).

Dictionaries come in the MUSE format: one ``word translation`` entry per line, separated by a TAB, or by
whitespace when the line has no TAB (then the line must hold exactly two whitespace tokens); multi-word entries
need the TAB (``post office<TAB>Postamt``). Blank lines and ``#`` comments are skipped. Lines are read under the rules
of :mod:`veco_lightning.lexicon.badinput` (a BOM and CRLF line ends are fine; invalid UTF-8, a control character or a
line longer than ``max_line_chars`` make it malformed). A malformed line is counted and reported (``file:line``) rather
than fatal, because public dictionaries always hold a few odd lines and one of them should not stop a pre-training
job; ``strict=True`` (``on_bad_dictionary_line: error`` in a data config) makes it an error. A dictionary with no
entry is always an error: the token contrastive loss of its language pair would be a constant zero.

Entries are stored *normalised* (NFKC, casefold, typographic apostrophes folded to ``'``) and *segmented with the
same word segmenter that is applied to sentences* (:func:`veco_lightning.lexicon.words.segment`), so that an entry and
a sentence n-gram compare equal exactly when the mining step should match them (``Mr.`` -> ``("mr",)``,
``Aaron's rod`` -> ``("aaron", "rod")``). A phrase is a tuple of words. For languages written without spaces
(zh, ja, th, ...) a phrase is a 1-tuple holding the whole entry with its spaces removed (``("北京大学",)``): the
mining step compares it with consecutive segmented words joined without spaces.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress, repeat

import numpy as np

from veco_lightning.heap import long_lived
from veco_lightning.lexicon.badinput import (
    DECOMPRESSION_ERRORS,
    MAX_LINE_CHARS,
    BadInputError,
    open_binary,
    plain_name,
    read_lines,
    text_problem,
)
from veco_lightning.lexicon.languages import split_pair, to_iso1
from veco_lightning.lexicon.words import is_no_space_lang, normalize, segment, segment_batch
from veco_lightning.paths import resolve_path

log = logging.getLogger(__name__)

Phrase = tuple[str, ...]
_MAX_REPORTED = 5


def phrase(text: str, lang: str) -> Phrase:
    """The normalised phrase (tuple of words) for a raw dictionary side or query string in ``lang``."""
    if _letters_only(text, lang):
        found = _letters_phrase(normalize(text), lang)
        if found is not None:
            return found
    return _segmented_phrase(text, lang)


def phrases(texts: Sequence[str], lang: str) -> list[Phrase]:
    """:func:`phrase` of every text (a dictionary's distinct sides), with the same result: the texts are normalised
    in one call on their newline-joined text (NFKC leaves a newline alone and never composes across it, and case
    folding works character by character, so this is each text's own normalisation), not one call each."""
    folded = normalize("\n".join(texts), collapse_whitespace=False).split("\n") if texts else []
    if len(folded) != len(texts):  # a text holding a newline: one by one
        return [phrase(text, lang) for text in texts]
    # Most sides are one word of letters: that test and its phrase in one comprehension (no call per text); the
    # rest through the steps of phrase().
    # (``isascii`` first: ASCII letters are all below U+0E00, and it spares ``max`` most sides, 0.66x the time.)
    no_space = is_no_space_lang(lang)
    if no_space:
        out = [(joined,) if text.replace(" ", "").isalpha() and (joined := "".join(form.split())).isalpha() else None
               for text, form in zip(texts, folded)]
    else:  # one word of letters; else several (_letters_only, then _letters_phrase, inline)
        out = [(form,) if " " not in text and text.isalpha() and form.isalpha()
               and (text.isascii() or max(text) < "\u0e00")
               else tuple(words) if ((letters := text.replace(" ", "")).isalpha()
                                     and (letters.isascii() or max(letters) < "\u0e00")
                                     and "".join(words := form.split()).isalpha())
               else None for text, form in zip(texts, folded)]
    segmented = []
    for k in [k for k, found in enumerate(out) if found is None]:
        found = _letters_phrase(folded[k], lang) if _letters_only(texts[k], lang) else None
        if found is None:
            segmented.append(k)
        else:
            out[k] = found
    if segmented:  # segmented together: the same words as text by text (segment_batch), 0.3x the time
        batch = segment_batch([texts[k] for k in segmented], lang)
        ends = np.cumsum(batch.counts).tolist()
        for k, first, last in zip(segmented, [0, *ends[:-1]], ends):
            words = tuple(batch.words[first:last])
            out[k] = (("".join(words),) if words else ()) if no_space else words
    return out


def _letters_only(text: str, lang: str) -> bool:
    """Whether ``text`` holds only letters and spaces, and, in a spaced language, no letter of a script written
    without spaces (one that the segmenter would cut into words of one character each): then its words are its
    space-separated tokens, normalised (in a no-space language, the whole text with its spaces removed)."""
    letters = text.replace(" ", "")
    return letters.isalpha() and (max(letters) < "\u0e00" or is_no_space_lang(lang))


def _letters_phrase(folded: str, lang: str) -> Phrase | None:
    """The fast path of :func:`phrase` (most entries): a normalised text of letters of spaced scripts only, whose
    words are its whitespace-separated tokens; ``None`` when ``folded`` is not that."""
    words = folded.split()
    if not "".join(words).isalpha():
        return None
    return ("".join(words),) if is_no_space_lang(lang) else tuple(words)


def _segmented_phrase(text: str, lang: str) -> Phrase:
    words = tuple(w.text for w in segment(text, lang))
    if is_no_space_lang(lang):
        return ("".join(words),) if words else ()
    return words


def phrase_key(words: Phrase, lang: str) -> str:
    """The lookup string of a phrase: words joined by a space, or without one for no-space languages."""
    return ("" if is_no_space_lang(lang) else " ").join(words)


@dataclass(frozen=True)
class DictionaryIndex:
    """String-keyed lookup tables built once per dictionary for the mining hot loop.

    ``*_prefixes`` hold every prefix of every key (whole words for spaced languages, characters for no-space ones),
    and ``*_extendable`` the strict ones (a prefix some longer key continues), so an n-gram is extended only while it
    can still become an entry: most words of a sentence cost one set lookup.
    """

    src_map: dict[str, frozenset[str]]
    src_keys: frozenset[str]
    tgt_keys: frozenset[str]
    src_prefixes: frozenset[str]
    tgt_prefixes: frozenset[str]
    src_sep: str
    tgt_sep: str
    src_max_words: int
    tgt_max_words: int
    src_extendable: frozenset[str]
    tgt_extendable: frozenset[str]


class BilingualDictionary:
    """Normalised entries ``src phrase -> {tgt phrases}`` for one language pair, queryable both ways.

    Attributes:
        src_lang, tgt_lang: language codes.
        mapping: ``{src phrase: {tgt phrase, ...}}`` (phrases are tuples of normalised words).
        read: entry lines read (blank and comment lines excluded, malformed ones included).
        skipped: malformed lines skipped.
        duplicates: lines that repeated an entry already present (after normalisation).
        sources: files the entries came from.
    """

    def __init__(self, src_lang: str, tgt_lang: str) -> None:
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.mapping: dict[Phrase, set[Phrase]] = {}
        self.read = self.skipped = self.duplicates = 0
        self.sources: list[str] = []
        self._cache: dict[str, object] = {}

    def add(self, src: str | Phrase, tgt: str | Phrase) -> bool:
        """Add one entry given as raw strings or word tuples (normalised here); ``False`` if it was present."""
        return self._add(self._as_phrase(src, self.src_lang), self._as_phrase(tgt, self.tgt_lang))

    def _add_all(self, entries: Iterable[tuple[Phrase, Phrase]]) -> None:
        """:meth:`_add` of many entries (a file's): the same entries and counts, with no call per entry."""
        mapping, duplicates = self.mapping, 0
        for src, tgt in entries:
            targets = mapping.get(src)
            if targets is None:
                mapping[src] = {tgt}
            elif tgt in targets:
                duplicates += 1
            else:
                targets.add(tgt)
        self.duplicates += duplicates
        self._cache.clear()

    def _add(self, src: Phrase, tgt: Phrase) -> bool:
        duplicates = self.duplicates
        self._add_all([(src, tgt)])
        return self.duplicates == duplicates

    @staticmethod
    def _as_phrase(value: str | Phrase, lang: str) -> Phrase:
        return phrase(value if isinstance(value, str) else " ".join(value), lang)

    @property
    def entries(self) -> int:
        """Number of distinct (src phrase, tgt phrase) entries."""
        return sum(len(targets) for targets in self.mapping.values())

    def __len__(self) -> int:
        return self.entries

    def __iter__(self) -> Iterator[tuple[Phrase, Phrase]]:
        for src, targets in self.mapping.items():
            for tgt in targets:
                yield src, tgt

    def __contains__(self, src: str | Phrase) -> bool:
        return self._as_phrase(src, self.src_lang) in self.mapping

    def translations(self, src: str | Phrase) -> frozenset[Phrase]:
        """Target phrases listed for ``src`` (a raw string or word tuple); empty if none."""
        return frozenset(self.mapping.get(self._as_phrase(src, self.src_lang), ()))

    def sources_of(self, tgt: str | Phrase) -> frozenset[Phrase]:
        """Source phrases that list ``tgt`` as a translation (the reverse query, without building ``inverse()``)."""
        return self.inverse().translations(tgt)

    def inverse(self) -> BilingualDictionary:
        """The same entries as a ``tgt_lang -> src_lang`` dictionary (cached until the next change)."""
        cached = self._cache.get("inverse")
        if cached is None:
            cached = BilingualDictionary(self.tgt_lang, self.src_lang)
            for src, tgt in self:
                cached.mapping.setdefault(tgt, set()).add(src)
            cached.read, cached.skipped, cached.duplicates = self.read, self.skipped, self.duplicates
            cached.sources = list(self.sources)
            self._cache["inverse"] = cached
        return cached

    def merge(self, other: BilingualDictionary) -> BilingualDictionary:
        """Add ``other``'s entries (inverting it first if it runs the other way); returns ``self``."""
        if (other.src_lang, other.tgt_lang) == (self.tgt_lang, self.src_lang) and self.src_lang != self.tgt_lang:
            other = other.inverse()
        elif (other.src_lang, other.tgt_lang) != (self.src_lang, self.tgt_lang):
            raise ValueError(
                f"Cannot merge a {other.src_lang}-{other.tgt_lang} dictionary into a {self.src_lang}-{self.tgt_lang} "
                f"one ({other.sources or 'built in memory'}): merge only dictionaries of the same language pair"
            )
        for src, tgt in other:
            self._add(src, tgt)
        self.read += other.read
        self.skipped += other.skipped
        self.duplicates += other.duplicates
        self.sources.extend(other.sources)
        return self

    @property
    def max_src_words(self) -> int:
        """Longest source phrase, in words (0 when empty)."""
        return max((len(p) for p in self.mapping), default=0)

    @property
    def max_tgt_words(self) -> int:
        """Longest target phrase, in words (0 when empty)."""
        return max((len(p) for targets in self.mapping.values() for p in targets), default=0)

    @property
    def max_phrase_words(self) -> int:
        """Longest phrase on either side, in words: the n-gram length the mining step considers."""
        return max(self.max_src_words, self.max_tgt_words)

    @property
    def src_phrases(self) -> frozenset[str]:
        """Source phrases as lookup strings (see :func:`phrase_key`): the segmentation lexicon of ``src_lang``."""
        return self.index().src_keys

    @property
    def tgt_phrases(self) -> frozenset[str]:
        """Target phrases as lookup strings: the segmentation lexicon of ``tgt_lang``."""
        return self.index().tgt_keys

    def index(self) -> DictionaryIndex:
        """The string-keyed lookup tables of the mining step, built once and cached until the next change."""
        cached = self._cache.get("index")
        if cached is None:
            with long_lived():  # 10^5 long-lived sets: a full collection on the way costs 0.3-0.4 s
                cached = self._cache["index"] = self._build_index()
        return cached  # type: ignore[return-value]

    def _build_index(self) -> DictionaryIndex:
        src_ns, tgt_ns = is_no_space_lang(self.src_lang), is_no_space_lang(self.tgt_lang)
        src_sep, tgt_sep = ("" if src_ns else " "), ("" if tgt_ns else " ")
        src_join, tgt_join = src_sep.join, tgt_sep.join  # (map with a bound method: no Python call per phrase)
        src_map = dict(zip(map(src_join, self.mapping), (frozenset(map(tgt_join, targets))
                                                         for targets in self.mapping.values())))
        tgt_keys = frozenset(chain.from_iterable(src_map.values()))

        def prefixes(keys: Iterable[str], no_space: bool) -> tuple[frozenset[str], frozenset[str]]:
            """Every prefix of the keys, and the strict prefixes among them."""
            strict: set[str] = set()
            if no_space:
                for key in keys:
                    strict.update(key[:end] for end in range(1, len(key)))
            else:  # only keys of several words have strict prefixes
                for parts in map(str.split, [key for key in keys if " " in key], repeat(" ")):
                    strict.update(" ".join(parts[:end]) for end in range(1, len(parts)))
            return frozenset(strict.union(keys)), frozenset(strict)

        # A no-space phrase may span several segmented words (at least one character each).
        src_max = max((len(k) for k in src_map), default=0) if src_ns else self.max_src_words
        tgt_max = max((len(k) for k in tgt_keys), default=0) if tgt_ns else self.max_tgt_words
        (src_prefixes, src_strict), (tgt_prefixes, tgt_strict) = prefixes(src_map, src_ns), prefixes(tgt_keys, tgt_ns)
        return DictionaryIndex(src_map, frozenset(src_map), tgt_keys, src_prefixes, tgt_prefixes, src_sep, tgt_sep,
                               src_max, tgt_max, src_strict, tgt_strict)

    def __repr__(self) -> str:
        return (f"BilingualDictionary({self.src_lang}->{self.tgt_lang}: {self.entries} entries, "
                f"{len(self.mapping)} source phrases, read={self.read}, skipped={self.skipped})")


_WHOLE_FILE_BYTES = 256 * 2**20
"""A larger dictionary file is read line by line: whole, its lines and their fields would be held at once."""
_UNCLEAN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")  # a control character (LF apart), or a BOM


def _clean_lines(path: str, max_line_chars: int) -> list[str] | None:
    """A file's lines (line ends removed) when the file breaks none of the rules of
    :mod:`~veco_lightning.lexicon.badinput` (valid UTF-8, no control character, no byte-order mark, no line longer
    than ``max_line_chars``, at most ``_WHOLE_FILE_BYTES``): one decode and one split for the whole file. ``None`` for
    any other file, which is then read line by line (:func:`~veco_lightning.lexicon.badinput.read_lines`), with its
    problems per line."""
    if os.path.getsize(path) > _WHOLE_FILE_BYTES:
        return None
    try:
        with open_binary(path) as handle:  # a compressed file may hold more than it measures
            data = handle.read(_WHOLE_FILE_BYTES + 1)
    except DECOMPRESSION_ERRORS:  # not the compression its name says: read_lines names the problem
        if plain_name(path) == path:
            raise
        return None
    if len(data) > _WHOLE_FILE_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    del data
    if "\r" in text:
        text = text.replace("\r\n", "\n")  # a CR left after this is a bad line
    if _UNCLEAN.search(text) is not None:
        return None
    lines = text.split("\n")
    if lines[-1] == "":  # the file's last line end
        lines.pop()
    if lines and max(map(len, lines)) > max_line_chars:
        return None
    return lines


def _tab_fields(lines: list[str]) -> list[str] | None:
    """The two fields of every line, flat (``[src, tgt, src, tgt, ...]``), when each of ``lines`` is exactly two
    fields around one TAB, neither empty nor with whitespace at its ends, and none is a comment: what
    :func:`read_dictionary`'s line-by-line rules make of such lines, found with no Python loop over them. ``None``
    otherwise (those rules then go line by line)."""
    if not lines or not all(map(str.__contains__, lines, repeat("\t"))):
        return None
    fields = "\t".join(lines).split("\t")
    if len(fields) != 2 * len(lines) or not all(fields) or not all(map(str.__eq__, fields, map(str.strip, fields))):
        return None  # a line with another TAB, an empty field, or whitespace around a field
    if any(map(str.startswith, fields[0::2], repeat("#"))):  # a comment line
        return None
    return fields


def read_dictionary(path: str | os.PathLike, src_lang: str, tgt_lang: str, reverse: bool = False,
                    strict: bool = False, max_line_chars: int = MAX_LINE_CHARS) -> BilingualDictionary:
    """Read a MUSE-style dictionary file into a ``src_lang -> tgt_lang`` dictionary.

    Args:
        path: the file (``pkg://`` paths point inside an installed package, as elsewhere in the data config).
        src_lang, tgt_lang: the languages of the *returned* dictionary.
        reverse: the file's columns are ``tgt_lang<TAB>src_lang`` (e.g. read ``en-de.tsv`` as a de->en
            dictionary with ``src_lang="de", tgt_lang="en", reverse=True``).
        strict: raise ``ValueError`` (naming ``file:line`` and the fix) on the first malformed line instead of
            skipping it with a warning.
        max_line_chars: a longer line is malformed.

    Raises:
        BadInputError: the file holds no entry (empty, only comments, or every line malformed).
    """
    path = resolve_path(os.fspath(path))
    file_src, file_tgt = (tgt_lang, src_lang) if reverse else (src_lang, tgt_lang)
    result = BilingualDictionary(src_lang, tgt_lang)
    result.sources.append(path)
    # The entries are long-lived: no collection walks them while they are made (10^5-10^6 objects).
    with long_lived():
        # Pass 1: every line's fields or its problem. A clean file (the usual case) is decoded and split in one go.
        rows: list[tuple[int, str, str, str]] = []  # line number, the two sides, the line
        problems: dict[int, tuple[str, str]] = {}  # line number -> (problem, line)
        clean = _clean_lines(path, max_line_chars)
        sides = _tab_fields(clean) if clean is not None else None
        if sides is not None:  # every line two clean fields: the sides of line k + 1 are sides[2k] and sides[2k + 1]
            numbered = iter(())
            line_nos, src_sides, tgt_sides, lines = range(1, len(clean) + 1), sides[0::2], sides[1::2], clean
        else:
            numbered = read_lines(path) if clean is None else ((n, line, None) for n, line in enumerate(clean, 1))
        for line_no, line, decoding in numbered:
            found = decoding or (text_problem(line, max_line_chars) if clean is None else None)
            if found:
                problems[line_no] = (found[0], line)
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "\t" in line:
                fields = [field.strip() for field in line.split("\t")]
                while fields and not fields[-1]:
                    fields.pop()
                if len(fields) != 2 or not fields[0]:
                    problems[line_no] = (f"{len(fields)} TAB-separated field(s)", line)
                    continue
            else:
                fields = line.split()
                if len(fields) != 2:
                    problems[line_no] = (f"{len(fields)} whitespace-separated field(s) and no TAB", line)
                    continue
            rows.append((line_no, fields[0], fields[1], line))
        if sides is None:
            line_nos, src_sides, tgt_sides, lines = (list(column) for column in zip(*rows)) if rows else ([],) * 4
        del rows
        result.read = len(src_sides) + len(problems)  # entry lines: blank and comment lines apart
        # Pass 2: each distinct side made a phrase once (a headword recurs on the lines of its translations), in bulk.
        src_texts, tgt_texts = list(dict.fromkeys(src_sides)), list(dict.fromkeys(tgt_sides))
        src_phrases = dict(zip(src_texts, phrases(src_texts, file_src)))
        tgt_phrases = dict(zip(tgt_texts, phrases(tgt_texts, file_tgt)))
        del src_texts, tgt_texts
        src_column = list(map(src_phrases.__getitem__, src_sides))
        tgt_column = list(map(tgt_phrases.__getitem__, tgt_sides))
        if not (all(src_column) and all(tgt_column)):  # a side with no word (rare): that line is a problem
            for k, (src, tgt) in enumerate(zip(src_column, tgt_column)):
                if not (src and tgt):
                    problems[line_nos[k]] = ("a side with no word characters", lines[k])
            good = [src and tgt for src, tgt in zip(src_column, tgt_column)]
            src_column, tgt_column = (list(compress(column, good)) for column in (src_column, tgt_column))
        entries = zip(tgt_column, src_column) if reverse else zip(src_column, tgt_column)
        if problems and strict:
            line_no = min(problems)
            problem, line = problems[line_no]
            raise BadInputError(
                f"{path}:{line_no}: malformed dictionary line ({problem}): {line[:200]!r}. Expected "
                "'word<TAB>translation' (multi-word entries need the TAB) or exactly two "
                "whitespace-separated words, UTF-8, no control characters; fix or delete the line, or skip "
                "malformed lines with a count (on_bad_dictionary_line: skip in the data config, strict=False "
                "here)"
            )
        result.skipped = len(problems)
        bad_lines = sorted(problems)[:_MAX_REPORTED]
        result._add_all(entries)
    if not result.entries:
        raise BadInputError(
            f"{path}: no dictionary entry ({result.read} entry line(s) read, {result.skipped} malformed): the token "
            f"contrastive loss of {src_lang}-{tgt_lang} would be a constant zero. Fill the file, or remove it from the "
            "dictionaries (a language pair without a dictionary trains every objective but the token contrast)"
        )
    if result.skipped:
        log.warning(
            "%s: skipped %d malformed line(s) of %d (first: %s); expected 'word<TAB>translation' or two "
            "whitespace-separated words", path, result.skipped, result.read,
            ", ".join(f"{path}:{n}" for n in bad_lines))
    log.info("%s: %d %s-%s entries (%d lines read, %d skipped, %d duplicates)", path, result.entries,
             src_lang, tgt_lang, result.read, result.skipped, result.duplicates)
    return result


def load_dictionaries(paths: str | os.PathLike | Iterable[str | os.PathLike], src_lang: str, tgt_lang: str,
                      reverse: bool = False, strict: bool = False,
                      max_line_chars: int = MAX_LINE_CHARS) -> BilingualDictionary:
    """Read and merge several dictionary files of one language pair (see :func:`read_dictionary`)."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError(f"load_dictionaries: no file given for {src_lang}-{tgt_lang}; pass at least one path")
    if len(paths) == 1:  # nothing to merge: no copy of every entry
        return read_dictionary(paths[0], src_lang, tgt_lang, reverse=reverse, strict=strict,
                               max_line_chars=max_line_chars)
    merged = BilingualDictionary(src_lang, tgt_lang)
    for path in paths:
        merged.merge(read_dictionary(path, src_lang, tgt_lang, reverse=reverse, strict=strict,
                                     max_line_chars=max_line_chars))
    return merged


def dictionary_for(dictionaries: Mapping[str, str | Sequence[str]], src_lang: str, tgt_lang: str,
                   strict: bool = False, max_line_chars: int = MAX_LINE_CHARS) -> BilingualDictionary | None:
    """The ``src_lang -> tgt_lang`` dictionary from a config mapping ``"en-de" -> file(s)``, or ``None``.

    Keys may name the pair in either direction (``de-en`` or ``en-de``); the columns of each file follow its key.
    Language codes are compared as ISO 639-1 (``deu`` = ``de``, ``zh-CN`` = ``zh``).
    """
    src, tgt = to_iso1(src_lang), to_iso1(tgt_lang)
    for key, files in dictionaries.items():
        first, second = split_pair(key)
        key_src, key_tgt = to_iso1(first), to_iso1(second)
        if (key_src, key_tgt) == (src, tgt):
            return load_dictionaries(files, src, tgt, strict=strict, max_line_chars=max_line_chars)
        if (key_src, key_tgt) == (tgt, src):  # the files' columns are tgt, src: read them reversed
            return load_dictionaries(files, src, tgt, reverse=True, strict=strict, max_line_chars=max_line_chars)
    return None
