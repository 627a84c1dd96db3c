"""Token classification files (UD POS, WikiANN / PAN-X NER, CoNLL-2002/2003 NER): CoNLL-U, XTREME's
``word<TAB>label`` TSV (with or without PAN-X's ``lang:`` prefixes), CoNLL-2003's space-separated columns, JSON lines
of ``{tokens, ner_tags}`` as ``datasets`` writes them, and XTREME's one-label-per-line prediction files."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from veco_lightning.data.readers import BadLinePolicy
from veco_lightning.tasks.formats._common import (
    BadLines,
    check_file_language,
    check_label_line,
    is_json_lines,
    json_records,
    log,
    read_text,
    single_file,
    text_lines,
    write_text,
)

TaggingLayout = Literal["auto", "conllu", "tsv", "conll", "jsonl"]
_DOCSTART = "-DOCSTART-"  # CoNLL-2002/2003's document separator line

_WORD_ID = re.compile(r"[1-9][0-9]*")
_SKIPPED_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*")  # multi-word token ranges, empty nodes
_LANG_PREFIX = re.compile(r"([a-z]{2,3}):(?=.)", re.DOTALL)  # PAN-X's raw "en:word"
_TAG_COLUMNS = {"upos": 3, "xpos": 4}
WORD_FIELDS = ("tokens", "words")  # a JSON line's (a Hub row's) words, the first of these it has
TAG_FIELDS = ("pos_tags", "upos", "ner_tags", "ner", "tags", "labels")  # its tags
# Names of the integer tags of Hugging Face's exports (the ClassLabel of google/xtreme's PAN-X.* and wikiann, and of
# google/xtreme's udpos.*): what a JSON-lines file written from them with ``to_json`` holds instead of the names.
PANX_HF_INT_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
UDPOS_HF_INT_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
                     "PUNCT", "SCONJ", "SYM", "VERB", "X")


@dataclass
class TaggedSentence:
    """One sentence of a tagging file.

    Args:
        words: the words (CoNLL-U's syntactic words; multi-word token ranges and empty nodes are not words).
        labels: one tag per word, or None in unlabelled (test) files.
        line: the line the sentence starts on (1-based; its first comment in CoNLL-U).
    """

    words: list[str]
    labels: list[str] | None
    line: int


class _BadSentence(Exception):
    """A bad line: ``(line, problem, fix, reason)``; the sentence holding it is raised on or skipped whole."""


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """``(first line, lines)`` of each run of non-blank lines (a line of spaces counts as blank)."""
    blocks: list[tuple[int, list[str]]] = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if blocks and blocks[-1][0] + len(blocks[-1][1]) == line_no:
            blocks[-1][1].append(line)
        else:
            blocks.append((line_no, [line]))
    return blocks


def detect_tagging_layout(path: str, lines: Sequence[str]) -> Literal["conllu", "tsv", "conll", "jsonl"]:
    """``conllu`` for ``.conllu`` files or when the first line that is neither blank nor a ``#`` comment has 10
    TAB-separated columns starting with a word ID; ``jsonl`` for ``.jsonl`` / ``.json`` files or lines that each hold
    a JSON object; ``conll`` when that line is CoNLL-2003's ``-DOCSTART-`` or holds no TAB but several
    space-separated columns; else ``tsv``."""
    if path.endswith(".conllu"):
        return "conllu"
    if path.endswith(".json") or is_json_lines(path, lines):
        return "jsonl"
    first = next((line for line in lines if line.strip() and not line.startswith("#")), "")
    fields = first.split("\t")
    if len(fields) == 10 and (_WORD_ID.fullmatch(fields[0]) or _SKIPPED_ID.fullmatch(fields[0])):
        return "conllu"
    if first.split()[:1] == [_DOCSTART] or (len(fields) == 1 and len(first.split()) > 1):
        return "conll"
    return "tsv"


def _check_tag(tag: str, label_set: set[str] | None, line_no: int, name: str) -> str:
    if not tag.strip() or tag == "_":
        raise _BadSentence(line_no, f"no {name} tag ({tag!r})", "tag the word", "with a word without a tag")
    if label_set is not None and tag not in label_set:
        raise _BadSentence(line_no, f"tag {tag!r} is not one of {sorted(label_set)}",
                           "fix the tag, or pass this file's tag set as labels=", "with a tag outside labels")
    return tag


def _conllu_sentence(first: int, block: list[str], tag_column: str, label_set: set[str] | None) -> TaggedSentence:
    words, tags = [], []
    for line_no, line in enumerate(block, start=first):
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise _BadSentence(line_no, f"{len(fields)} TAB-separated column(s); CoNLL-U word lines have exactly 10",
                               "separate the 10 columns by TABs (not spaces), '_' for an empty one",
                               "with a wrong number of columns")
        if _SKIPPED_ID.fullmatch(fields[0]):
            continue
        if not _WORD_ID.fullmatch(fields[0]) or int(fields[0]) != len(words) + 1:
            raise _BadSentence(line_no, f"word ID {fields[0]!r} where {len(words) + 1} was due",
                               "number the words of each sentence 1, 2, 3, ... (a line lost?), ranges as 1-2 and "
                               "empty nodes as 1.1", "with a bad word ID")
        if not fields[1].strip():
            raise _BadSentence(line_no, "empty word form", "fill in the FORM column", "with an empty word")
        words.append(fields[1])
        tags.append(_check_tag(fields[_TAG_COLUMNS[tag_column]], label_set, line_no, tag_column.upper()))
    return TaggedSentence(words, tags, first)


def xtreme_words(sentences: list[TaggedSentence]) -> list[TaggedSentence]:
    """The words as XTREME's UD-POS preprocessing writes them: zero-width non-joiners (U+200C, frequent in Persian)
    and spaces inside a word (Vietnamese and French treebanks have words of several syllables or parts) removed,
    ``đại học`` -> ``đạihọc``. Every word stays one word with its tag; only what the encoder reads changes."""
    return [TaggedSentence(["".join(w.replace("\u200c", "").split(" ")) for w in s.words], s.labels, s.line)
            if any("\u200c" in w or " " in w for w in s.words) else s for s in sentences]


def _text_withheld(words: Sequence[str]) -> bool:
    """Whether a UD sentence comes without its text: ``_`` as the FORM of all its words, or of all but one (the
    treebanks that distribute annotations only, such as UD_Japanese-BCCWJ or UD_French-FTB). XTREME's preprocessing
    leaves such sentences out by exactly this rule."""
    empty = sum(word == "_" for word in words)
    return empty > 0 and empty >= len(words) - 1


def _column_problem(found: int, expected: str) -> tuple[str, str, str]:
    hint = "; this looks like CoNLL-U: read it with layout='conllu'" if found == 10 else ""
    return (f"{found} TAB-separated column(s), expected {expected}{hint}", "write 'word<TAB>label' (or the word alone "
            "in unlabelled files) on every line", "with a wrong number of columns")


def _tsv_sentence(first: int, block: list[str], columns: int, label_set: set[str] | None) -> TaggedSentence:
    words, tags = [], []
    for line_no, line in enumerate(block, start=first):
        fields = line.split("\t")
        if len(fields) != columns:
            raise _BadSentence(line_no, *_column_problem(len(fields), f"{columns} as the file's first word line"))
        if not fields[0].strip():
            raise _BadSentence(line_no, "empty word", "fill in the word or remove the line", "with an empty word")
        words.append(fields[0])
        if columns == 2:
            tags.append(_check_tag(fields[1], label_set, line_no, "the"))
    return TaggedSentence(words, tags if columns == 2 else None, first)


def _conll_sentence(first: int, block: list[str], columns: int, label_set: set[str] | None) -> TaggedSentence:
    """CoNLL-2002/2003: the word first, the tag last, columns separated by spaces (or TABs)."""
    words, tags = [], []
    for line_no, line in enumerate(block, start=first):
        fields = line.split()
        if len(fields) != columns:
            raise _BadSentence(line_no, f"{len(fields)} space-separated column(s), expected {columns} as the file's "
                               "first word line", "write the word, its other columns and its tag on every line "
                               "(a word holding a space cannot be written in this layout)",
                               "with a wrong number of columns")
        words.append(fields[0])
        if columns > 1:
            tags.append(_check_tag(fields[-1], label_set, line_no, "the"))
    return TaggedSentence(words, tags if columns > 1 else None, first)


def row_sentence(row: dict, line: int, label_set: set[str] | None,
                 int_labels: Sequence[str] | None = None) -> TaggedSentence:
    """One sentence of a JSON line or Hub row: its words (``tokens`` or ``words``) and tags (``ner_tags``,
    ``pos_tags``, ``tags``...: strings, or integers named by ``int_labels``); without a tag field it is unlabelled.
    Raises :class:`_BadSentence` (the reader raises on it or counts it)."""
    words = next((row[f] for f in WORD_FIELDS if f in row), None)
    if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
        raise _BadSentence(line, f"no words: expected one of the fields {list(WORD_FIELDS)} holding a non-empty list "
                           f"of non-empty strings, got {words!r}", "fix or remove the line", "without words")
    field = next((f for f in TAG_FIELDS if row.get(f) is not None), None)
    if field is None:
        return TaggedSentence(list(words), None, line)
    tags = row[field]
    if not isinstance(tags, list) or len(tags) != len(words):
        count = f"{len(tags)} tags" if isinstance(tags, list) else f"{field} {tags!r}"
        raise _BadSentence(line, f"{count} for {len(words)} words", f"give {field} one tag per word",
                           "with a tag count unlike the word count")
    names = []
    for tag in tags:
        if isinstance(tag, int) and not isinstance(tag, bool):
            if int_labels is None:
                raise _BadSentence(line, f"integer tag {tag} and no names for integer tags",
                                   "name them in order with int_labels= (PANX_HF_INT_TAGS, UDPOS_HF_INT_TAGS for "
                                   "Hugging Face's PAN-X / WikiANN and UD POS)", "with an unnamed integer tag")
            if not 0 <= tag < len(int_labels):
                raise _BadSentence(line, f"integer tag {tag} has no name in int_labels={list(int_labels)}",
                                   "fix the tag or int_labels", "with an integer tag out of range")
            tag = int_labels[tag]
        elif not isinstance(tag, str):
            raise _BadSentence(line, f"tag {tag!r} is neither a string nor an integer", "fix the tag",
                               "with a bad tag")
        names.append(_check_tag(tag, label_set, line, "the"))
    return TaggedSentence(list(words), names, line)


def row_sentences(name: str, rows: Iterable[tuple[int, dict]], labels: Sequence[str] | None = None,
                  int_labels: Sequence[str] | None = None,
                  on_bad_line: BadLinePolicy = "error") -> list[TaggedSentence]:
    """The sentences of ``(line, row)`` pairs (JSON lines, Hub rows) from source ``name``, checked as
    :func:`read_tagging` checks files: every row labelled as the first one is, tags within ``labels``."""
    label_set = set(labels) if labels is not None else None
    bad = BadLines(name, on_bad_line, unit="sentence")
    sentences: list[TaggedSentence] = []
    for line, row in rows:
        try:
            sentence = row_sentence(row, line, label_set, int_labels)
            if sentences and (sentence.labels is None) != (sentences[0].labels is None):
                raise _BadSentence(line, f"{'no' if sentence.labels is None else 'a'} tag field, but line "
                                   f"{sentences[0].line} has {'one' if sentence.labels is None else 'none'}",
                                   "tag every line or none", "labelled unlike the first line")
        except _BadSentence as err:
            line_no, problem, fix, reason = err.args
            bad(f"{name}:{line_no}", problem, fix, reason)
            continue
        sentences.append(sentence)
    bad.report()
    return sentences


def _strip_prefixes(path: str, sentences: list[TaggedSentence], strip: bool | None, bad: BadLines,
                    language: str | None = None) -> list[TaggedSentence]:
    """Drop PAN-X's ``lang:`` prefix: with ``strip=None`` only when every word of the file has the same one. A file
    whose every word carries the prefix of a language other than ``language`` (the one it is given for) is named in
    a warning: another language's file listed under this one would be scored as this language."""
    prefixes = {m.group(1) if (m := _LANG_PREFIX.match(w)) else None for s in sentences for w in s.words}
    if strip is None:
        strip = len(prefixes) == 1 and None not in prefixes
    if strip and len(prefixes) == 1 and None not in prefixes:
        found = next(iter(prefixes))
        check_file_language(path, language, found, f"every word of it carries the prefix '{found}:'")
    if not strip:
        return sentences
    kept = []
    for s in sentences:
        missing = next((i for i, w in enumerate(s.words) if not _LANG_PREFIX.match(w)), None)
        if missing is not None:
            bad(f"{path}:{s.line + missing}", f"word {s.words[missing]!r} has no 'xx:' language prefix",
                "prefix every word or none, or read with strip_lang_prefix=None", "with a word without prefix")
            continue
        kept.append(TaggedSentence([w.partition(":")[2] for w in s.words], s.labels, s.line))
    return kept


def read_tagging(
    path: str | os.PathLike,
    labels: Sequence[str] | None = None,
    layout: TaggingLayout = "auto",
    tag_column: Literal["upos", "xpos"] = "upos",
    strip_lang_prefix: bool | None = None,
    on_bad_line: BadLinePolicy = "error",
    int_labels: Sequence[str] | None = None,
    language: str | None = None,
) -> list[TaggedSentence]:
    """The sentences of one tagging file, in file order. Sentences are separated by blank lines.

    Layouts (``layout="auto"`` picks one with :func:`detect_tagging_layout`):

    - ``conllu`` (Universal Dependencies): ``#`` comment lines, word lines of exactly 10 TAB-separated columns
      numbered 1, 2, 3, ...; the tag is UPOS (or XPOS with ``tag_column="xpos"``). Multi-word token ranges
      (``1-2``) and empty nodes (``1.1``) are skipped: they are not words. Sentences whose words are ``_`` (all, or
      all but one: treebanks distributed without their text) are left out with a warning, as XTREME leaves them.
    - ``tsv``: XTREME's ``word<TAB>label`` per line (UD POS and PAN-X as XTREME writes them), or the word alone
      (unlabelled test files): every word line of a file has as many columns as its first. PAN-X as XTREME
      downloads it prefixes each word with its language (``en:Paris``); ``strip_lang_prefix=None`` drops the prefix
      only when every word of the file has the same ``xx:`` one, so a word holding ``:`` (``3:15``) is kept as it
      is. ``#`` starts a word here, not a comment.

    - ``conll`` (CoNLL-2002/2003 NER, and WikiANN as distributed elsewhere): columns separated by spaces, the word
      first and the tag last (``EU NNP B-NP B-ORG``, or ``word tag``); ``-DOCSTART-`` lines start documents and are
      skipped; a file of one column is unlabelled.
    - ``jsonl`` (what ``datasets``' ``to_json`` writes of a token classification set): one sentence per line,
      ``{"tokens": [...], "ner_tags": [...]}`` (words in ``tokens`` or ``words``; tags in ``ner_tags``, ``pos_tags``,
      ``tags``, ``labels``...: strings, or integers named by ``int_labels``); a line without tags is unlabelled.

    No word is ever dropped alone: a bad line makes its whole sentence an error, or with ``on_bad_line="skip"`` a
    counted skip, so every sentence comes back with all its words.

    Args:
        path: the file (``~`` and ``pkg://`` resolved).
        labels: the task's tag set (the training set's); a tag outside it is a bad line. None: no check.
        layout: ``"conllu"``, ``"tsv"``, ``"conll"`` or ``"auto"``.
        tag_column: the CoNLL-U column read as the tag.
        strip_lang_prefix: True drops an ``xx:`` prefix from every word (a word without one is a bad line); False
            keeps the words as they are; None decides per file as above.
        on_bad_line: ``"error"`` raises on the first bad line (a wrong column count, a bad CoNLL-U word ID, an
            empty word, a missing tag or one outside ``labels``) naming the file, the line and the fix; ``"skip"``
            drops the sentences holding one and logs how many, by reason.
        int_labels: tag names by integer, for JSON lines with integer tags (``PANX_HF_INT_TAGS``,
            ``UDPOS_HF_INT_TAGS``).
        language: the language the file is given for; a PAN-X file whose words all carry another language's prefix
            is named in a warning.
    """
    path = single_file(path)
    lines = text_lines(read_text(path))
    if layout == "auto":
        layout = detect_tagging_layout(path, lines)
    if layout not in ("conllu", "tsv", "conll", "jsonl") or tag_column not in _TAG_COLUMNS:
        raise ValueError(f"layout must be auto, conllu, tsv, conll or jsonl (got {layout!r}); tag_column upos or xpos "
                         f"(got {tag_column!r})")
    if layout == "jsonl":
        bad = BadLines(path, on_bad_line, unit="sentence")
        rows = json_records(path, lines, bad, f"one of the fields {list(WORD_FIELDS)} and one of {list(TAG_FIELDS)}")
        sentences = row_sentences(path, rows, labels, int_labels, on_bad_line)  # reads the lines as it goes
        bad.report()
        return sentences
    label_set = set(labels) if labels is not None else None
    bad = BadLines(path, on_bad_line, unit="sentence")
    sentences: list[TaggedSentence] = []
    columns = None  # TSV: the column count of the file's first word line
    withheld = 0
    for first, block in _blocks(lines):
        try:
            if layout == "conllu":
                if all(line.startswith("#") for line in block):
                    continue  # comments only (e.g. at the top of the file): no sentence
                sentence = _conllu_sentence(first, block, tag_column, label_set)
                if _text_withheld(sentence.words):
                    withheld += 1
                    continue
            elif layout == "conll":
                while block and block[0].split()[:1] == [_DOCSTART]:  # a document's start, not a word
                    first, block = first + 1, block[1:]
                if not block:
                    continue
                if columns is None:
                    columns = len(block[0].split())
                sentence = _conll_sentence(first, block, columns, label_set)
            else:
                if columns is None:
                    columns = len(block[0].split("\t"))
                    if columns not in (1, 2):
                        columns, found = None, columns
                        raise _BadSentence(first, *_column_problem(found, "1 or 2"))
                sentence = _tsv_sentence(first, block, columns, label_set)
        except _BadSentence as err:
            line_no, problem, fix, reason = err.args
            bad(f"{path}:{line_no}", problem, fix, reason)
            continue
        sentences.append(sentence)
    if layout == "tsv":
        sentences = _strip_prefixes(path, sentences, strip_lang_prefix, bad, language)
    bad.report()
    if withheld:
        where = ("every sentence comes" if not sentences else
                 f"{withheld} of its {withheld + len(sentences)} sentences come")
        message = (f"{path}: {where} without the text (the words are '_': a treebank distributed without it, "
                   "whose own scripts add it)")
        if not sentences:
            raise ValueError(f"{message}; add the text, or leave the file out")
        log.warning("%s; left out, as XTREME leaves them out", message)
    return sentences


def read_tagging_labels(path: str | os.PathLike) -> list[list[str]]:
    """The label sentences of an XTREME tagging prediction or label file: one label per line, exactly one blank line
    between sentences (blank lines at the end are ignored; an empty sentence is an error naming its line).

    Lines are stripped, as XTREME's scorer reads them. A ``word<TAB>label`` line counts as its label, so a gold data
    file in XTREME's layout (PAN-X, UD POS) serves as a label file; a line of more TAB-separated fields is an error.
    """
    path = single_file(path)
    lines = text_lines(read_text(path))
    while lines and not lines[-1].strip():
        lines.pop()
    sentences: list[list[str]] = [[]]
    for line_no, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            if not sentences[-1]:
                raise ValueError(f"{path}:{line_no}: empty sentence (a blank line at the start or two in a row); "
                                 "sentences are separated by exactly one blank line")
            sentences.append([])
            continue
        fields = line.split("\t")
        if len(fields) > 2:
            raise ValueError(f"{path}:{line_no}: {len(fields)} TAB-separated fields; a line of a tagging label file "
                             "is a label or 'word<TAB>label' (read other data files, such as CoNLL-U, with "
                             "read_tagging)")
        sentences[-1].append(fields[-1].strip())
    return sentences if sentences[-1] else []


def write_tagging_predictions(path: str | os.PathLike, sentences: Iterable[Sequence[str]]) -> None:
    """XTREME's submission file of a tagging task (``panx/test-de.tsv``, ``udpos/test-de.tsv``): one label per
    line, one blank line between sentences, none after the last."""
    blocks = []
    for i, tags in enumerate(sentences):
        if not tags:
            raise ValueError(f"sentence {i} has no label: an empty sentence cannot be written in XTREME's layout")
        blocks.append("".join(check_label_line(tag, f"sentence {i}") + "\n" for tag in tags))
    write_text(path, "\n".join(blocks))


def write_tagging_labels(path: str | os.PathLike, sentences: Iterable[TaggedSentence]) -> None:
    """The gold tags of a labelled file in the layout of XTREME's label files (as
    :func:`write_tagging_predictions`), to score predictions against."""
    tags = []
    for s in sentences:
        if s.labels is None:
            raise ValueError(f"the sentence of line {s.line} has no labels: write labels of labelled files only")
        tags.append(s.labels)
    write_tagging_predictions(path, tags)
