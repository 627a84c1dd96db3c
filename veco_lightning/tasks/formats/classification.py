"""Sentence(-pair) classification files (XNLI, PAWS-X): XTREME's TSV layouts, the original TSV layouts with a header
row, and JSON lines; XTREME's one-label-per-line prediction files; the grouped train/dev split of an English dev file.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from veco_lightning.data.readers import BadLinePolicy
from veco_lightning.tasks.formats._common import (
    BadLines,
    check_file_language,
    check_label_line,
    grouped_split,
    is_json_lines,
    json_records,
    log,
    read_text,
    single_file,
    text_lines,
    write_text,
)

ClassificationLayout = Literal["auto", "tsv", "tsv_header", "jsonl"]
Quoting = Literal["auto", "csv", "none"]

# Integer labels of the Hugging Face ``xnli`` export (0 entailment, 1 neutral, 2 contradiction): pass as int_labels.
XNLI_HF_INT_LABELS = ("entailment", "neutral", "contradiction")
# XNLI-MT's training files (XTREME's ``train-en.tsv``) say "contradictory"; XTREME's reader maps it, and so do we.
DEFAULT_LABEL_ALIASES = {"contradictory": "contradiction"}

# Column names (of a header row or a JSON object) for each field, by preference.
COLUMN_NAMES = {
    "text_a": ("sentence1", "premise", "text_a", "text", "sentence"),
    "text_b": ("sentence2", "hypothesis", "hypo", "text_b"),
    "label": ("gold_label", "label"),
    "language": ("language", "lang"),
}
_HEADER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class ClassificationExample:
    """One sentence or sentence pair.

    Args:
        text_a: the (first) sentence: XNLI's premise, PAWS-X's sentence1.
        text_b: the second sentence (XNLI's hypothesis, PAWS-X's sentence2); None for single sentences.
        label: the label as the task names it (``entailment``, ``1``); None in unlabelled (test) files.
        line: the line of the file the example starts on (1-based).
    """

    text_a: str
    text_b: str | None
    label: str | None
    line: int


def detect_quoting(lines: Sequence[str]) -> Literal["csv", "none"]:
    """``"csv"`` when the file holds a ``"`` and every record that holds one reads back exactly as Python's csv module
    writes it (``"..."`` around a field holding a quote, a TAB or a line break, inner quotes doubled: XTREME's
    PAWS-X files, pandas' ``to_csv``); else ``"none"`` (raw text, as XTREME's XNLI files: a quote inside a text, like
    ``He said "no".``, is then kept as it is)."""
    if not any('"' in line for line in lines):
        return "none"
    reader = csv.reader((line + "\n" for line in lines), delimiter="\t", strict=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    start = 0
    try:
        for row in reader:
            raw = "\n".join(lines[start:reader.line_num])
            start = reader.line_num
            if '"' in raw:
                buffer.seek(0)
                buffer.truncate()
                writer.writerow(row)
                if buffer.getvalue()[:-1] != raw:
                    return "none"
    except csv.Error:
        return "none"
    return "csv"


def detect_layout(path: str, lines: Sequence[str]) -> Literal["tsv", "tsv_header", "jsonl"]:
    """``jsonl`` for ``.jsonl`` / ``.json`` files or lines that each hold a JSON object (:func:`is_json_lines`, as
    for tagging files); ``tsv_header`` when the first line is a header row (only column names, one of them a known
    text column such as ``sentence1`` or ``premise``); else ``tsv`` (XTREME's headerless
    ``text_a<TAB>text_b[<TAB>label]``)."""
    first = next((line for line in lines if line.strip()), "")
    if path.endswith(".json") or is_json_lines(path, lines):
        return "jsonl"
    names = [name.strip() for name in first.split("\t")]
    if all(_HEADER_NAME.fullmatch(n) for n in names) and {n.lower() for n in names} & set(COLUMN_NAMES["text_a"]):
        return "tsv_header"
    return "tsv"


def _tsv_rows(path: str, lines: list[str], quoting: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of every record; with csv quoting a record may span lines."""
    if quoting == "none":
        yield from ((i, line.split("\t")) for i, line in enumerate(lines, start=1))
        return
    reader = csv.reader((line + "\n" for line in lines), delimiter="\t", strict=True)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as err:
        raise ValueError(f"{path}:{reader.line_num}: bad csv quoting ({err}); quote the field as Python's csv module "
                         "does (\"...\" with inner quotes doubled), or read the file with quoting='none'") from None


def _pick(names: Iterable[str], field: str) -> str | None:
    lowered = {name.lower(): name for name in names}
    return next((lowered[c] for c in COLUMN_NAMES[field] if c in lowered), None)


def _records(path: str, lines: list[str], layout: str, quoting: str, columns: Sequence[str],
             bad: BadLines) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, {text_a, text_b, label, language})`` per record; a field a layout lacks is absent from the dict."""
    if layout == "jsonl":
        expected = (f"one of the fields {COLUMN_NAMES['text_a']} (and optionally {COLUMN_NAMES['text_b']}, "
                    f"{COLUMN_NAMES['label']})")
        for line_no, record in json_records(path, lines, bad, expected):
            if _pick(record, "text_a") is None:
                bad(f"{path}:{line_no}", "not a JSON object with a text field", f"each line must be an object with "
                    f"{expected}", "without a text field")
                continue
            yield line_no, {field: record[key] for field in COLUMN_NAMES if (key := _pick(record, field))}
        return
    if quoting == "auto":
        quoting = detect_quoting(lines)
    rows = _tsv_rows(path, lines, quoting)
    if layout == "tsv_header":
        _, header = next(rows, (1, []))
        index = {field: header.index(key) for field in COLUMN_NAMES if (key := _pick(header, field))}
        if "text_a" not in index:
            raise ValueError(f"{path}:1: the header row {header} names no text column; name it one of "
                             f"{COLUMN_NAMES['text_a']}, or read a headerless file with layout='tsv'")
        for line_no, fields in rows:
            if len(fields) != len(header):
                bad(f"{path}:{line_no}", f"{len(fields)} field(s), the header has {len(header)}",
                    "fields are separated by TABs", "with a wrong number of fields")
                continue
            yield line_no, {field: fields[i] for field, i in index.items()}
        return
    unknown = set(columns) - {"text_a", "text_b", "label"}
    if unknown or "text_a" not in columns:
        raise ValueError(f"columns={list(columns)}: name the columns of a headerless file with text_a, text_b, label")
    counts = {len(columns): tuple(columns)}
    if columns[-1] == "label":  # unlabelled (test) files leave the label column out
        counts[len(columns) - 1] = tuple(columns[:-1])
    for line_no, fields in rows:
        if not any(f.strip() for f in fields):  # only a line in the middle gets here (trailing ones were cut)
            bad(f"{path}:{line_no}", "empty line", "remove the line", "empty")
            continue
        if len(fields) not in counts:
            bad(f"{path}:{line_no}", f"{len(fields)} TAB-separated field(s), expected "
                f"{' or '.join(str(n) for n in sorted(counts, reverse=True))} ({', '.join(columns)})",
                "fix the line (a text holding a TAB must be csv-quoted: quoting='csv'), or set columns=",
                "with a wrong number of fields")
            continue
        yield line_no, dict(zip(counts[len(fields)], fields))


def read_classification(
    path: str | os.PathLike,
    labels: Sequence[str] | None = None,
    layout: ClassificationLayout = "auto",
    quoting: Quoting = "auto",
    language: str | None = None,
    int_labels: Sequence[str] | None = None,
    label_aliases: Mapping[str, str] | None = None,
    columns: Sequence[str] = ("text_a", "text_b", "label"),
    on_bad_line: BadLinePolicy = "error",
    default_language: str | None = None,
) -> list[ClassificationExample]:
    """The examples of one classification file, in file order.

    Layouts (``layout="auto"`` picks one with :func:`detect_layout`):

    - ``tsv``: XTREME's headerless ``premise<TAB>hypothesis<TAB>label`` (XNLI, PAWS-X dev; ``columns`` names the
      fields) or the same without the label column (test files).
    - ``tsv_header``: a header row naming the columns, e.g. the original XNLI 1.0 ``xnli.{dev,test}.tsv``
      (``language gold_label ... sentence1 sentence2 ...``; pick a language with ``language=``), MultiNLI and XNLI-MT
      (``premise hypo label``), the original PAWS-X (``id sentence1 sentence2 label``). Column names: see
      ``COLUMN_NAMES``; other columns are ignored. Rows whose gold label is ``-`` (MultiNLI's "no agreement") are
      dropped with a warning.
    - ``jsonl``: one object per line with the same field names, e.g. ``{premise, hypothesis, label}``, or Hugging
      Face XNLI's ``all_languages`` rows (``premise: {lang: text}``, ``hypothesis: {language: [...],
      translation: [...]}``: one example per language, read as a file with a language column); integer
      labels name ``int_labels[label]`` (``XNLI_HF_INT_LABELS`` for the Hugging Face XNLI export) or, without
      ``int_labels``, their decimal string (PAWS-X's ``0`` / ``1``); a missing label, null or -1 means unlabelled.

    TSV fields are raw text (XTREME's XNLI) or csv-quoted with doubled quotes (XTREME's PAWS-X, written by Python's
    csv module): ``quoting="auto"`` decides per file with :func:`detect_quoting`.

    Args:
        path: the file (``~`` and ``pkg://`` resolved).
        labels: the task's label set; a label outside it is a bad line. None: no check.
        layout: the file layout, or ``"auto"``.
        quoting: ``"csv"``, ``"none"`` or ``"auto"`` (TSV layouts only).
        language: the rows of this language, for files with a language column (the original XNLI 1.0). A file
            holding several languages needs it.
        int_labels: label names by integer, for JSON lines with integer labels.
        label_aliases: file label -> task label, applied before the check. None: ``DEFAULT_LABEL_ALIASES``
            (``contradictory`` -> ``contradiction``, as XTREME reads XNLI-MT); ``{}`` for none.
        columns: the fields of a headerless TSV line, in order (``("text_a", "label")`` for single sentences).
        on_bad_line: ``"error"`` raises on the first bad line (a wrong number of fields, an empty text, a label
            outside ``labels``, a line unlabelled in a labelled file or the reverse), naming the file, the line and
            the fix; ``"skip"`` drops such lines and logs how many, by reason.
        default_language: the language read from a file that holds rows of several (the language a test file is
            given for, in ``veco-xtreme``); a file of one language, or none, is read whole.
    """
    path = single_file(path)
    lines = text_lines(read_text(path))
    while lines and not lines[-1].strip():
        lines.pop()
    if layout == "auto":
        layout = detect_layout(path, lines)
    if layout not in ("tsv", "tsv_header", "jsonl"):
        raise ValueError(f"layout must be one of auto, tsv, tsv_header, jsonl; got {layout!r}")
    bad = BadLines(path, on_bad_line)
    return classification_examples(path, _records(path, lines, layout, quoting, columns, bad), bad, labels,
                                   language, int_labels, label_aliases, default_language)


def _one_language_records(records: Iterable[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Records of Hugging Face XNLI's ``all_languages`` layout (the premise as ``{lang: text}``, the hypothesis as
    parallel ``language`` and ``translation`` lists) as one record per language; other records unchanged."""
    for line_no, record in records:
        premises, hypotheses = record.get("text_a"), record.get("text_b")
        if (isinstance(premises, dict) and isinstance(hypotheses, dict)
                and isinstance(hypotheses.get("language"), list) and isinstance(hypotheses.get("translation"), list)):
            by_language = dict(zip(hypotheses["language"], hypotheses["translation"]))
            for language, premise in premises.items():
                yield line_no, {**record, "text_a": premise, "text_b": by_language.get(language, ""),
                                "language": language}
        else:
            yield line_no, record


def classification_examples(
    path: str,
    records: Iterable[tuple[int, dict[str, Any]]],
    bad: BadLines,
    labels: Sequence[str] | None = None,
    language: str | None = None,
    int_labels: Sequence[str] | None = None,
    label_aliases: Mapping[str, str] | None = None,
    default_language: str | None = None,
) -> list[ClassificationExample]:
    """Checked examples of ``(line, {text_a, text_b, label, language})`` records of the source ``path`` (a file's
    lines, a Hub dataset's rows): the checks and options of :func:`read_classification`, bad records to ``bad``."""
    aliases = DEFAULT_LABEL_ALIASES if label_aliases is None else label_aliases
    label_set = set(labels) if labels is not None else None
    examples: list[ClassificationExample] = []
    languages: set[str] = set()
    row_languages: list[str | None] = []  # each example's, for default_language
    first_line, labelled = None, False  # the first example decides whether the file is labelled
    no_gold = 0
    for line_no, record in _one_language_records(records):
        where = f"{path}:{line_no}"
        if "language" in record:
            languages.add(str(record["language"]))
            if language is not None and record["language"] != language:
                continue
        text_a, text_b = record["text_a"], record.get("text_b")
        not_text = [type(text).__name__ for text in (text_a, text_b) if text is not None and not isinstance(text, str)]
        if not_text:
            bad(where, f"a text field holds a {not_text[0]}, not text", "give each sentence as a string (or, as "
                "Hugging Face's XNLI all_languages does, the premise as {language: text} and the hypothesis as "
                "language and translation lists)", "with a text field that is no string")
            continue
        if not text_a.strip() or (text_b is not None and not text_b.strip()):
            bad(where, "empty text field", "fill in the text or remove the line", "with an empty text")
            continue
        label = record.get("label")
        if isinstance(label, bool) or not isinstance(label, str | int | type(None)):
            bad(where, f"label {label!r} is neither a string nor an integer", "fix the label", "with a bad label")
            continue
        if isinstance(label, int):
            if label == -1:  # Hugging Face's "no label"
                label = None
            elif int_labels is None:
                label = str(label)
            elif 0 <= label < len(int_labels):
                label = int_labels[label]
            else:
                bad(where, f"integer label {label} has no name in int_labels={list(int_labels)}", "fix the label or "
                    "int_labels", "with an integer label out of range")
                continue
        if label is not None:
            label = aliases.get(label.strip(), label.strip())
            if label == "-" and (label_set is None or "-" not in label_set):
                no_gold += 1
                continue
            if label_set is not None and label not in label_set:
                fix = "fix the line, or pass this file's label set as labels="
                if int_labels is None and label.isdigit():
                    fix += ", or name integer labels with int_labels= (XNLI_HF_INT_LABELS for Hugging Face's XNLI)"
                bad(where, f"label {label!r} is not one of {sorted(label_set)}", fix, "with a label outside labels")
                continue
        if first_line is None:
            first_line, labelled = line_no, label is not None
        elif (label is not None) != labelled:
            bad(where, f"{'a' if label is not None else 'no'} label, but line {first_line} has "
                f"{'one' if labelled else 'none'}", "label every line or none (unlabelled test files leave the label "
                "column out)", "labelled unlike the file's first line")
            continue
        examples.append(ClassificationExample(text_a, text_b, label, line_no))
        row_languages.append(str(record["language"]) if "language" in record else None)
    bad.report()
    if no_gold:
        log.warning("Dropped %d row(s) of %s without a gold label ('-', MultiNLI's 'no agreement')", no_gold, path)
    if language is not None and not languages:
        raise ValueError(f"{path}: language={language!r}, but the file has no language column; drop language= "
                         f"(it selects rows of files that have one, such as the original XNLI 1.0 xnli.dev.tsv)")
    if language is not None and language not in languages:
        raise ValueError(f"{path}: no row of language {language!r}; the file holds {sorted(languages)}")
    if language is None and len(languages) > 1:
        if default_language is None:
            raise ValueError(f"{path}: the file holds rows of {len(languages)} languages "
                             f"({', '.join(sorted(languages))}); pick one with language=")
        if default_language not in languages:
            raise ValueError(f"{path}: no row of language {default_language!r}, the language it is given for; the "
                             f"file holds {sorted(languages)}")
        examples = [e for e, lang in zip(examples, row_languages) if lang == default_language]
    elif language is None and len(languages) == 1:
        found = next(iter(languages))
        check_file_language(path, default_language, found, f"its language column says {found} on every row")
    return examples


def write_classification(path: str | os.PathLike, examples: Iterable[ClassificationExample],
                         quoting: Literal["csv", "none"] = "csv") -> None:
    """Write examples in XTREME's headerless layout ``text_a<TAB>text_b<TAB>label`` (fields left out where every
    example lacks them), e.g. the two sides of :func:`split_classification`.

    Args:
        path: the file to write (its folder is created).
        examples: the examples; all pairs or all single sentences, all labelled or all unlabelled.
        quoting: ``"csv"`` quotes fields as XTREME's PAWS-X files (Python's csv module, inner quotes doubled), which
            :func:`read_classification` reads back unchanged; ``"none"`` writes raw text as XTREME's XNLI files
            (a field holding a TAB or a line break is then an error).
    """
    rows = []
    for i, e in enumerate(examples):
        row = [e.text_a] + ([e.text_b] if e.text_b is not None else []) + ([e.label] if e.label is not None else [])
        if rows and len(row) != len(rows[0]):
            raise ValueError(f"example {i} (line {e.line}) has {len(row)} fields, example 0 has {len(rows[0])}: "
                             "write pairs and single sentences, labelled and unlabelled examples to separate files")
        if quoting == "none" and any(c in field for field in row for c in "\t\n\r"):
            raise ValueError(f"example {i} (line {e.line}) holds a TAB or a line break; write with quoting='csv'")
        rows.append(row)
    buffer = io.StringIO()
    if quoting == "csv":
        csv.writer(buffer, delimiter="\t", lineterminator="\n").writerows(rows)
    else:
        buffer.write("".join("\t".join(row) + "\n" for row in rows))
    write_text(path, buffer.getvalue())


def write_classification_predictions(path: str | os.PathLike, labels: Iterable[str]) -> None:
    """XTREME's submission file of a classification task (``xnli/test-de.tsv``): one label per line."""
    write_text(path, "".join(check_label_line(label, f"prediction {i}") + "\n" for i, label in enumerate(labels)))


def write_classification_labels(path: str | os.PathLike, examples: Iterable[ClassificationExample]) -> None:
    """The gold labels of a labelled file in the layout of XTREME's label files (one label per line), to score
    predictions against."""
    labels = []
    for e in examples:
        if e.label is None:
            raise ValueError(f"the example of line {e.line} has no label: write labels of labelled files only")
        labels.append(check_label_line(e.label, f"the example of line {e.line}"))
    write_text(path, "".join(label + "\n" for label in labels))


def read_classification_labels(path: str | os.PathLike) -> list[str]:
    """The labels of an XTREME classification prediction or label file, one per line, stripped; also the other
    one-item-per-line files of XTREME's layout (tatoeba's retrieved indices, bucc2018's ``src_id<TAB>trg_id`` pairs).

    Blank lines at the end are ignored and a blank line before the end is an error naming it, where XTREME's scorer
    reads each blank line as an item (an empty prediction, or a gold label that matches an empty one)."""
    path = single_file(path)
    lines = text_lines(read_text(path))
    while lines and not lines[-1].strip():
        lines.pop()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(f"{path}:{line_no}: empty line; the file must hold one label per line, line i labelling "
                             "example i of the test file")
    return [line.strip() for line in lines]


def split_classification(examples: Sequence[ClassificationExample], dev_fraction: float = 0.2,
                         seed: int = 0) -> tuple[list[ClassificationExample], list[ClassificationExample]]:
    """Split a labelled English dev file into ``(train, dev)`` for zero-shot experiments where no training set is
    at hand (XNLI and PAWS-X here): fine-tune on train, select on dev, test the other languages, and say so.

    Examples sharing a sentence (XNLI's three hypotheses of one premise; PAWS-X pairs reusing a sentence) stay on
    one side, so no sentence is seen in training and again in selection. Groups are shuffled with ``seed`` and
    taken into dev until it holds at least ``round(dev_fraction * len(examples))`` examples; both sides keep the
    file order. Deterministic: the same examples, fraction and seed give the same split.

    The dev files of the other languages are translations of the English one (line i of each translates line i):
    selecting on them, or scoring them, would meet translations of the training examples. Report the test files.
    """
    return grouped_split(examples, lambda e: [e.text_a] + ([e.text_b] if e.text_b is not None else []), dev_fraction,
                         seed)
