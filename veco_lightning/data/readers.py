"""Reading raw sources: monolingual text into ``datasets.Dataset`` objects with one ``text`` column, and sentence pairs
(training pairs and evaluation pairs alike) into two aligned lists.

Every file is read line by line by this module (rather than by ``load_dataset("text")``) under the rules of
:mod:`veco_lightning.lexicon.badinput`, so that a bad line is reported with its file and line number, or skipped and
counted when the user asks for that. Parquet files are read in record batches with the same rules; hub datasets go
through ``datasets.load_dataset``.
"""

from __future__ import annotations

import glob
import itertools
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from veco_lightning.data.cache import content_key, file_identity
from veco_lightning.lexicon.badinput import (
    MAX_LINE_CHARS,
    BadInputError,
    BadLinePolicy,
    BadLines,
    Problem,
    count_lines,
    empty_file_error,
    plain_name,
    read_lines,
    text_problem,
)
from veco_lightning.lexicon.languages import split_pair
from veco_lightning.paths import offline, resolve_path

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

__all__ = ["BadLinePolicy", "HubSource", "ParallelSource", "PairSet", "as_pair_source", "delete_text_dataset",
           "expand_globs", "iter_lines", "load_text_dataset", "read_pairs", "read_pairs_with_index",
           "text_dataset_key"]

READER_VERSION = 2
"""Part of every cache key built from read text: bump it when the readers return other text for the same file."""


@dataclass
class HubSource:
    """A Hugging Face hub (or local script/folder) dataset, loaded with ``datasets.load_dataset``.

    Args:
        path: dataset name on the hub (``statmt/cc100``) or a local dataset folder.
        name: configuration name (``en``).
        split: split to read.
        text_field: column holding the text.
        data_files: passed through to ``load_dataset``.
    """

    path: str
    name: str | None = None
    split: str = "train"
    text_field: str = "text"
    data_files: list[str] | None = None


def expand_globs(patterns: str | list[str], context: str = "") -> list[str]:
    """Sorted files matched by each pattern; an error names any pattern that matches nothing (and ``context``,
    e.g. the language it was given for)."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files: list[str] = []
    for pattern in patterns:
        resolved = resolve_path(pattern)
        if os.path.isdir(resolved):
            if any(os.path.isfile(os.path.join(resolved, name)) for name in ("state.json", "dataset_dict.json")):
                raise IsADirectoryError(
                    f"{pattern!r}{context} is a dataset written by datasets' save_to_disk, which this option does "
                    "not read: write it as files (dataset.to_parquet('x.parquet') or to_json('x.jsonl')) and give "
                    "those, or give the dataset by its Hub name (hub sources)")
            raise IsADirectoryError(
                f"{pattern!r}{context} is a folder (resolved to {resolved!r}); give its files, e.g. "
                f"{os.path.join(pattern, '*.txt')!r} (a glob), or the file itself")
        if os.path.isfile(resolved):  # a file named as it is, even if its name holds glob characters ([, ], *, ?)
            matched = [resolved]
        else:
            matched = sorted(path for path in glob.glob(resolved, recursive=True) if not os.path.isdir(path))
        if not matched:
            raise FileNotFoundError(
                f"No file matches {pattern!r}{context} (resolved to {resolve_path(pattern)!r}, working directory "
                f"{os.getcwd()!r}): fix the path or glob in the data config"
            )
        files.extend(matched)
    return files


def iter_lines(files: list[str], text_field: str = "text", on_bad_line: BadLinePolicy = "error",
               lines: list[int | None] | tuple[int | None, ...] | None = None,
               max_line_chars: int = MAX_LINE_CHARS, log_skipped: bool = True) -> Iterator[dict]:
    """Yield ``{"text": ...}`` for every non-blank line of ``.txt`` files, every record of ``.jsonl`` files and every
    cell of the ``text_field`` column of ``.parquet`` files (a null cell counts as blank).

    ``lines`` keeps the physical lines ``[first, last)`` of every txt / jsonl file (Python slice semantics, so
    ``[0, -200]`` leaves out each file's last 200 lines, e.g. to hold them out for evaluation).

    A bad line (:mod:`veco_lightning.lexicon.badinput`: not UTF-8, a control character, longer than
    ``max_line_chars``; in jsonl also not JSON or without a string ``text_field``) raises ``BadInputError`` naming the
    file, the line and the fix, or with ``on_bad_line="skip"`` is skipped, counted per file and logged (unless
    ``log_skipped`` is false: a second pass over files already read once). A file with no text is an error either
    way.
    """
    bad = BadLines(on_bad_line)
    for path in files:
        found = 0
        for where, text, problem in _texts(path, text_field, lines, max_line_chars):
            if problem is not None:
                bad(path, where, *problem)
            elif text.strip():
                found += 1
                yield {"text": text}
        if not found:
            detail = f" within lines {list(lines)}" if lines is not None and not path.endswith(".parquet") else ""
            skipped = bad.counts.get(path, 0)
            detail += f", and {skipped} bad line(s) were skipped" if skipped else ""
            raise empty_file_error(path, detail)
    if log_skipped:
        bad.warn(log)


def _texts(path: str, text_field: str, lines: list[int | None] | tuple[int | None, ...] | None,
           max_line_chars: int) -> Iterator[tuple[int | str, str, Problem | None]]:
    """``(line, text, problem)`` of one txt / jsonl / parquet file, before the blank-line filter."""
    if path.endswith(".parquet"):
        yield from _parquet_texts(path, text_field, max_line_chars)
        return
    jsonl = plain_name(path).endswith((".jsonl", ".json"))
    keep = None
    if lines is not None:
        keep = range(count_lines(path))[slice(*lines)]
    for line_no, line, problem in read_lines(path, keep):
        if problem is None and jsonl and line.strip():
            try:
                record = json.loads(line)
            except ValueError as err:
                record, problem = None, (f"not JSON ({err})", _json_fix(text_field))
            if problem is None:
                if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                    problem = (f'no string field "{text_field}"', _json_fix(text_field))
                else:
                    line = record[text_field]
        if problem is None:
            problem = text_problem(line, max_line_chars, document=jsonl)
        yield line_no, line, problem


def _json_fix(text_field: str) -> str:
    return f'each line must be a JSON object with a string "{text_field}" field (or set text_field)'


def _parquet_texts(path: str, text_field: str, max_line_chars: int) -> Iterator[tuple[str, str, Problem | None]]:
    """``("row N", text, problem)`` of a Parquet file's ``text_field`` column, read in record batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    schema = handle.schema_arrow
    if text_field not in schema.names:
        raise BadInputError(f"{path}: no column {text_field!r} (columns: {schema.names}); set text_field")
    kind = schema.field(text_field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise BadInputError(f"{path}: column {text_field!r} holds {kind}, not text; set text_field to a string column")
    row = 0
    for batch in handle.iter_batches(batch_size=10_000, columns=[text_field]):
        for value in batch.column(0).to_pylist():
            row += 1
            text = value or ""
            yield f"row {row}", text, text_problem(text, max_line_chars, document=True)


def load_text_dataset(
    patterns: str | list[str] | HubSource,
    text_field: str = "text",
    on_bad_line: BadLinePolicy = "error",
    cache_dir: str | None = None,
    lines: list[int | None] | None = None,
    max_line_chars: int = MAX_LINE_CHARS,
) -> datasets.Dataset:
    """A ``datasets.Dataset`` with a single ``text`` column from files (txt, jsonl, parquet) or a hub dataset.

    Files are read by :func:`iter_lines` through ``Dataset.from_generator``, whose cache is named by the files'
    identity (path, size, modification time) and the reading options: a file edited in place is read again.
    """
    import datasets
    from datasets.exceptions import DatasetGenerationError

    if isinstance(patterns, HubSource):
        source = patterns
        dataset = load_hub_dataset(source.path, source.name, source.split, [source.text_field], "text_field",
                                   data_files=source.data_files, cache_dir=cache_dir)
        return dataset.select_columns([source.text_field]).rename_column(source.text_field, "text")
    files, options = _text_reading(patterns, text_field, on_bad_line, lines, max_line_chars)
    # What ``Dataset.from_generator`` does, with its builder at hand to check the cache folder first.
    from datasets.io.generator import GeneratorDatasetInputStream

    stream = GeneratorDatasetInputStream(
        generator=iter_lines,
        gen_kwargs={"files": files, **options},
        features=datasets.Features({"text": datasets.Value("string")}),
        cache_dir=cache_dir,
        fingerprint=content_key(READER_VERSION, file_identity(files), options),
    )
    folder = stream.builder.cache_dir
    if os.path.isfile(os.path.join(folder, "dataset_info.json")) and not any(
            name.endswith(".arrow") for name in os.listdir(folder)):
        # Its text deleted but its description kept (earlier versions of this package deleted only the Arrow
        # files after tokenizing): datasets would take it as built and fail on the missing file. Read the files again.
        log.info("Raw text cache %s holds no data; reading %d file(s) again", folder, len(files))
        shutil.rmtree(folder)
    try:
        return stream.read()
    except DatasetGenerationError as err:
        # datasets wraps the reader's error; surface the file:line message itself.
        if isinstance(err.__cause__, ValueError):
            raise err.__cause__ from None
        raise


def _text_reading(patterns: str | list[str], text_field: str, on_bad_line: BadLinePolicy,
                  lines: list[int | None] | None, max_line_chars: int) -> tuple[list[str], dict[str, Any]]:
    """The files and reading options of :func:`load_text_dataset` (what its cache is keyed by)."""
    files = expand_globs(patterns)
    # a tuple: datasets would shard a list
    return files, {"text_field": text_field, "on_bad_line": on_bad_line, "max_line_chars": max_line_chars,
                   "lines": tuple(lines) if lines is not None else None}


def text_dataset_key(patterns: str | list[str], text_field: str = "text", on_bad_line: BadLinePolicy = "error",
                     lines: list[int | None] | None = None, max_line_chars: int = MAX_LINE_CHARS) -> str:
    """The key of the text :func:`load_text_dataset` reads from files with these options: two sources with the same
    key share one raw-text cache (and its lock, :func:`~veco_lightning.data.cache.cache_lock`)."""
    files, options = _text_reading(patterns, text_field, on_bad_line, lines, max_line_chars)
    return content_key(READER_VERSION, file_identity(files), options)


def load_hub_dataset(path: str, name: str | None, split: str, columns: list[str], option: str, context: str = "",
                     **options) -> datasets.Dataset:
    """``datasets.load_dataset(path, name, split=split, **options)``, with errors that say what to do: a dataset that
    cannot be loaded (offline and not in the local cache, no network, a wrong name) names itself, ``context`` and the
    ways out; a dataset without ``columns`` names the columns it has and ``option``, the option that chose them."""
    import datasets

    try:
        table = datasets.load_dataset(path, name, split=split, **options)
    except (ConnectionError, FileNotFoundError) as err:  # datasets' DatasetNotFoundError is a FileNotFoundError
        raise FileNotFoundError(
            f"hub:{path}{f' ({name})' if name else ''}{context} could not be loaded ({err})."
            + (" Offline (HF_DATASETS_OFFLINE / HF_HUB_OFFLINE), only datasets already in the local cache load."
               if offline("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE") else "")
            + " Load it once where there is a network (the cache keeps it), or give local files instead"
        ) from err
    check_columns(table, path, columns, option, context)
    return table


def check_columns(table: datasets.Dataset, path: str, columns: list[str], option: str, context: str = "") -> None:
    """A clear error when hub dataset ``path`` lacks one of ``columns`` (chosen by ``option``)."""
    missing = [column for column in columns if column not in table.column_names]
    if missing:
        raise BadInputError(f"hub:{path}{context} has no column {', '.join(map(repr, missing))} (its columns: "
                            f"{table.column_names}): set {option} to the column(s) that hold the text")


def delete_text_dataset(dataset: datasets.Dataset) -> None:
    """Delete the cache folder of a :func:`load_text_dataset` result read from files (its Arrow files and the
    description beside them, so that datasets builds it anew if the same text is read again), once what was made from
    it is stored. Nothing happens for a dataset without cache files (in memory) or a hub dataset's, which its own
    cache keeps."""
    folders = {os.path.dirname(entry["filename"]) for entry in dataset.cache_files}
    for folder in folders:
        if os.path.isfile(os.path.join(folder, "dataset_info.json")):
            shutil.rmtree(folder, ignore_errors=True)  # (datasets' empty lock files beside it stay: see cache_lock)


@dataclass
class ParallelSource:
    """The sentence pairs of one language pair (or one evaluation set).

    Give one of: ``path`` (TSV ``src<TAB>tgt``, fast_align's ``src ||| tgt``, or JSON lines with ``src_field`` /
    ``tgt_field``; globs), ``src`` and ``tgt`` (line-aligned files; globs matching the same number of files, paired in
    sorted order), or ``hub`` (a Hugging Face dataset; a ``translation`` column of ``{lang: text}`` dicts, as OPUS sets
    have, is read with the pair's language codes).

    Args:
        path: TSV or jsonl file(s).
        src: line-aligned source file(s).
        tgt: line-aligned target file(s).
        hub: hub dataset name (needs network or a local hub cache).
        hub_config: its configuration name.
        hub_split: its split.
        src_field: source field of jsonl / hub records.
        tgt_field: target field of jsonl / hub records.
        lines: ``[first, last)`` range of pairs to use (e.g. ``[0, -200]`` to keep the tail for evaluation).
    """

    path: str | list[str] | None = None
    src: str | list[str] | None = None
    tgt: str | list[str] | None = None
    hub: str | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    src_field: str = "src"
    tgt_field: str = "tgt"
    lines: list[int | None] = field(default_factory=lambda: [0, None])

    def files(self, context: str = "") -> list[str]:
        """Every local file the source reads (empty for a hub source): what its cache key depends on."""
        patterns = [p for p in (self.path, self.src, self.tgt) if p]
        return [f for pattern in patterns for f in expand_globs(pattern, context)]


def as_pair_source(value: ParallelSource | str | list[str] | dict, name: str,
                   kind: type[ParallelSource] = ParallelSource) -> ParallelSource:
    """A pair source from its config value: the dataclass itself, a path or glob (or a list of them) of TSV / jsonl
    pairs as shorthand for ``{path: ...}``, or a plain dict of the dataclass's fields (programmatic use)."""
    if isinstance(value, kind):
        return value
    if isinstance(value, ParallelSource):  # e.g. a training source given as an evaluation set
        return kind(**vars(value))
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return kind(path=value)
    if isinstance(value, dict):
        known = list(kind.__dataclass_fields__)
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"Pairs {name!r}: unknown field(s) {unknown}; the fields are {', '.join(known)}")
        return kind(**value)
    raise TypeError(f"Pairs {name!r}: expected a path, a list of paths or {{path: ...}} / {{src: ..., tgt: ...}} / "
                    f"{{hub: ...}}, got {type(value).__name__} {value!r}")


def check_pair_source(source: ParallelSource, name: str) -> list[str]:
    """Check a pair source without reading it: one kind of source given, every glob matching, line-aligned globs
    matching as many files on both sides. Returns its local files."""
    context = f" (pairs {name!r})"
    if source.path is None and source.hub is None and (source.src is None or source.tgt is None):
        raise ValueError(f"Pair source {name!r} needs path (TSV / jsonl), src + tgt (line-aligned files), or hub")
    if source.path is None and source.hub is None:
        src_files, tgt_files = expand_globs(source.src, context), expand_globs(source.tgt, context)
        if len(src_files) != len(tgt_files):
            raise ValueError(f"{name}: src matches {len(src_files)} file(s) and tgt {len(tgt_files)}; line-aligned "
                             "sources pair their files in sorted order, so both must match the same number")
    return source.files()


@dataclass
class PairSet:
    """The pairs of a source: ``src[k]`` / ``tgt[k]`` was pair ``index[k]`` of the ``size`` pairs in the source's
    ``lines`` range (the others were bad and skipped; an evaluation set drops their gold alignments by it)."""

    src: list[str]
    tgt: list[str]
    index: Sequence[int]
    size: int


# A bad pair: where (file, line) its problem is, what it is, and the fix.
_BadPair = tuple[str, int | str, str, str]


def _pair_problem(src: str, tgt: str, src_at: tuple[str, int | str], tgt_at: tuple[str, int | str],
                  max_line_chars: int, document: bool) -> _BadPair | None:
    """An empty side, a control character or an over-long side of one pair, located in its file."""
    for side, text, (path, line) in (("source", src, src_at), ("target", tgt, tgt_at)):
        if not text.strip():
            return path, line, f"empty {side} side", "give both sides a text, or remove the pair"
        found = text_problem(text, max_line_chars, document)
        if found:
            return path, line, f"{side} side: {found[0]}", found[1]
    return None


def _record_pair(record: Any, source: ParallelSource, name: str) -> tuple[Any, Any]:
    """The two sides of one JSON record: its ``src_field`` and ``tgt_field``, else (when it has neither) the pair's
    languages in its ``translation`` object. Raises ``KeyError`` / ``TypeError`` / ``ValueError`` for a record that
    has no pair."""
    if isinstance(record, dict) and source.src_field not in record and source.tgt_field not in record and isinstance(
            record.get("translation"), dict):
        src_lang, tgt_lang = split_pair(name)
        return record["translation"][src_lang], record["translation"][tgt_lang]
    return record[source.src_field], record[source.tgt_field]


class _PairReader:
    """Every pair of a source in file order, bad ones included as placeholders (so that ``lines`` counts them), with
    the problems of the bad ones by position."""

    def __init__(self, max_line_chars: int) -> None:
        self.max_line_chars = max_line_chars
        self.src: list[str] = []
        self.tgt: list[str] = []
        self.bad: dict[int, _BadPair] = {}

    def add(self, src: str, tgt: str, problem: _BadPair | None = None) -> None:
        if problem is not None:
            self.bad[len(self.src)] = problem
        self.src.append(src)
        self.tgt.append(tgt)

    def add_checked(self, src: str, tgt: str, src_at: tuple[str, int | str], tgt_at: tuple[str, int | str],
                    document: bool = False) -> None:
        self.add(src, tgt, _pair_problem(src, tgt, src_at, tgt_at, self.max_line_chars, document))

    def read_pair_file(self, path: str, source: ParallelSource, name: str = "") -> None:
        """A TSV (``src<TAB>tgt``; a line without a TAB may be fast_align's ``src ||| tgt``) or JSON-lines file:
        records with ``src_field`` and ``tgt_field``, or a ``translation`` object of ``{lang: text}`` (what
        ``datasets`` writes of OPUS / WMT sets), read with the language codes of the pair ``name``."""
        jsonl, before = plain_name(path).endswith((".jsonl", ".json")), len(self.src)
        fields = (f"string fields {source.src_field!r} and {source.tgt_field!r}, or a 'translation' object keyed by "
                  f"the pair's language codes")
        for line_no, line, problem in read_lines(path):
            if problem is not None:
                self.add("", "", (path, line_no, *problem))
            elif jsonl:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    pair = _record_pair(record, source, name)
                except (ValueError, KeyError, TypeError) as err:
                    fix = f"each line must be a JSON object with {fields} (or set src_field / tgt_field)"
                    self.add("", "", (path, line_no, f"cannot read a pair ({err!r})", fix))
                    continue
                if not all(isinstance(side, str) for side in pair):
                    self.add("", "", (path, line_no, f"fields {source.src_field!r} and {source.tgt_field!r} are not "
                                      "both strings", f"give every record {fields}"))
                    continue
                self.add_checked(*pair, (path, line_no), (path, line_no), document=True)
            elif not line.strip():
                self.add("", "", (path, line_no, "an empty line (no pair)", "remove the line"))
            else:
                pair = line.split("\t")
                if len(pair) == 1 and line.count(" ||| ") == 1:  # fast_align's layout (awesome-align's, eflomal's)
                    pair = [side.strip() for side in line.split(" ||| ")]
                if len(pair) != 2:
                    self.add("", "", (path, line_no, f"{len(pair)} TAB-separated field(s)",
                                      "write 'source<TAB>target' (one TAB per line) or 'source ||| target'"))
                    continue
                self.add_checked(*pair, (path, line_no), (path, line_no))
        if len(self.src) == before:
            raise empty_file_error(path)

    def read_aligned_files(self, src_file: str, tgt_file: str) -> None:
        """Two line-aligned files: line ``n`` of one translates line ``n`` of the other (read in step, never whole)."""
        src_lines, tgt_lines = read_lines(src_file), read_lines(tgt_file)
        line_no = 0
        for line_no, (src, tgt) in enumerate(itertools.zip_longest(src_lines, tgt_lines), start=1):
            if src is None or tgt is None:
                longer, rest, shorter = src_file, src_lines, tgt_file
                if src is None:
                    longer, rest, shorter = tgt_file, tgt_lines, src_file
                if line_no == 1:
                    raise empty_file_error(shorter)
                more = line_no + sum(1 for _ in rest)
                raise BadInputError(f"{longer}:{line_no}: no partner line in {shorter}, which has {line_no - 1} lines "
                                    f"({longer} has {more}); line-aligned files must have the same number of lines: "
                                    "restore the missing lines or remove the extra ones")
            (_, src_text, src_problem), (_, tgt_text, tgt_problem) = src, tgt
            if src_problem is not None or tgt_problem is not None:
                path, problem = (src_file, src_problem) if src_problem is not None else (tgt_file, tgt_problem)
                self.add("", "", (path, line_no, *problem))
            else:
                self.add_checked(src_text, tgt_text, (src_file, line_no), (tgt_file, line_no))
        if line_no == 0:
            raise empty_file_error(src_file)

    def read_hub(self, source: ParallelSource, name: str) -> None:
        table = load_hub_dataset(source.hub, source.hub_config, source.hub_split, [], "", f" (language pair {name!r})")
        if "translation" in table.column_names:
            src_lang, tgt_lang = split_pair(name)
            rows = table["translation"]
            keys = sorted(rows[0]) if len(rows) and isinstance(rows[0], dict) else []
            if src_lang not in keys or tgt_lang not in keys:
                raise BadInputError(f"hub:{source.hub} (language pair {name!r}): its translation column holds the "
                                    f"languages {keys}, not {src_lang!r} and {tgt_lang!r}: name the pair after them")
            src, tgt = [r[src_lang] for r in rows], [r[tgt_lang] for r in rows]
        else:
            check_columns(table, source.hub, [source.src_field, source.tgt_field], "src_field / tgt_field",
                          f" (language pair {name!r})")
            src, tgt = list(table[source.src_field]), list(table[source.tgt_field])
        where = f"hub:{source.hub}"
        for row, pair in enumerate(zip(src, tgt), start=1):
            if not all(isinstance(side, str) for side in pair):
                self.add("", "", (where, f"row {row}", "a side that is not a string", "fix the dataset"))
            else:
                self.add_checked(*pair, (where, f"row {row}"), (where, f"row {row}"), document=True)


def read_pairs_with_index(source: ParallelSource, name: str, on_bad_line: BadLinePolicy = "error",
                          max_line_chars: int = MAX_LINE_CHARS) -> PairSet:
    """All ``(src, tgt)`` sentences of a source, in file order, cut to ``source.lines``, bad pairs handled by
    ``on_bad_line``.

    A pair is bad when a side is empty or breaks the rules of :mod:`veco_lightning.lexicon.badinput` (not UTF-8, a
    control character, longer than ``max_line_chars``), or its line is malformed (not ``source<TAB>target``, not a JSON
    object with both fields). Bad pairs inside the ``lines`` range are errors naming ``file:line`` and the fix, or with
    ``on_bad_line="skip"`` are skipped, counted per file and logged. Line-aligned files of different lengths (the
    first line with no partner is named), empty files and a source left with no pair are errors either way.

    Args:
        source: where the pairs are.
        name: the pair's name in the config (``de-en``): the language codes of a hub ``translation`` column, and the
            context of error messages.
        on_bad_line: ``error`` or ``skip``.
        max_line_chars: longest side, in characters.
    """
    files = check_pair_source(source, name)
    context = f" (pairs {name!r})"
    reader = _PairReader(max_line_chars)
    if source.hub is not None:
        reader.read_hub(source, name)
    elif source.path is not None:
        for path in expand_globs(source.path, context):
            reader.read_pair_file(path, source, name)
    else:
        for src_file, tgt_file in zip(expand_globs(source.src, context), expand_globs(source.tgt, context)):
            reader.read_aligned_files(src_file, tgt_file)
    window = range(len(reader.src))[slice(*source.lines)]
    report = BadLines(on_bad_line)
    bad = sorted(position for position in reader.bad if position in window)
    for position in bad:
        report(*reader.bad[position])
    report.warn(log, "pair")
    if bad:
        skipped = set(bad)
        index: Sequence[int] = [k for k, position in enumerate(window) if position not in skipped]
        src, tgt = [reader.src[window.start + k] for k in index], [reader.tgt[window.start + k] for k in index]
    else:
        index = range(len(window))
        src, tgt = reader.src[window.start:window.stop], reader.tgt[window.start:window.stop]
    if not src:
        where = files or [f"hub:{source.hub}"]
        raise BadInputError(f"Pairs {name!r}: no pair in {where} within lines {list(source.lines)}"
                            f"{f' once {len(bad)} bad pair(s) were skipped' if bad else ''}; give the source pairs")
    return PairSet(src, tgt, index, len(window))


def read_pairs(source: ParallelSource, name: str, on_bad_line: BadLinePolicy = "error",
               max_line_chars: int = MAX_LINE_CHARS) -> tuple[list[str], list[str]]:
    """The ``(src, tgt)`` sentences of a source (see :func:`read_pairs_with_index`)."""
    pairs = read_pairs_with_index(source, name, on_bad_line, max_line_chars)
    return pairs.src, pairs.tgt
