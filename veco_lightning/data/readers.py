"""Reading raw sources: monolingual text into ``datasets.Dataset`` objects with one ``text`` column, and sentence pairs
(training pairs and evaluation pairs alike) into two aligned lists.

Text and JSON-lines files are read line by line by this module (rather than by ``load_dataset("text")``)
so that a bad line is reported with its file and line number, or skipped and counted when the user asks for
that. Parquet files and hub datasets go through ``datasets.load_dataset``.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from veco_lightning.paths import resolve_path

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

BadLinePolicy = Literal["error", "skip"]


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
        matched = sorted(glob.glob(resolve_path(pattern), recursive=True))
        if not matched:
            raise FileNotFoundError(
                f"No file matches {pattern!r}{context} (resolved to {resolve_path(pattern)!r}, working directory "
                f"{os.getcwd()!r}): fix the path or glob in the data config"
            )
        files.extend(matched)
    return files


def iter_lines(files: list[str], text_field: str = "text", on_bad_line: BadLinePolicy = "error",
               lines: list[int | None] | None = None) -> Iterator[dict]:
    """Yield ``{"text": ...}`` for every non-empty line of ``.txt`` files and every record of ``.jsonl`` files.

    ``lines`` keeps the physical lines ``[first, last)`` of every file (Python slice semantics, so ``[0, -200]``
    leaves out each file's last 200 lines, e.g. to hold them out for evaluation).

    A line that is not valid UTF-8, not valid JSON, or lacks ``text_field`` raises ``ValueError`` naming the file
    and line, or with ``on_bad_line="skip"`` is skipped; skipped lines are counted and logged per file.
    """
    for path in files:
        is_jsonl = path.endswith((".jsonl", ".json"))
        skipped = 0
        keep = range(10**18)
        if lines is not None:
            with open(path, "rb") as handle:
                keep = range(sum(1 for _ in handle))[slice(*lines)]
        with open(path, "rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                if line_no - 1 not in keep:
                    continue
                try:
                    line = raw.decode("utf-8")
                    if is_jsonl:
                        if not line.strip():
                            continue
                        record = json.loads(line)
                        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                            raise ValueError(f'no string field "{text_field}"')
                        text = record[text_field]
                    else:
                        text = line.rstrip("\r\n")
                except (UnicodeDecodeError, ValueError) as err:
                    if on_bad_line == "skip":
                        skipped += 1
                        continue
                    fix = (
                        f'each line must be a JSON object with a string "{text_field}" field'
                        if is_jsonl
                        else "the file must be UTF-8 text"
                    )
                    raise ValueError(
                        f"{path}:{line_no}: cannot read line ({err}); {fix}. Fix or remove the line, "
                        "or set on_bad_line: skip to skip bad lines with a warning"
                    ) from err
                if text.strip():
                    yield {"text": text}
        if skipped:
            log.warning("Skipped %d bad line(s) in %s (on_bad_line=skip)", skipped, path)


def load_text_dataset(
    patterns: str | list[str] | HubSource,
    text_field: str = "text",
    on_bad_line: BadLinePolicy = "error",
    cache_dir: str | None = None,
    lines: list[int | None] | None = None,
) -> datasets.Dataset:
    """A ``datasets.Dataset`` with a single ``text`` column from files (txt, jsonl, parquet) or a hub dataset."""
    import datasets
    from datasets.exceptions import DatasetGenerationError

    if isinstance(patterns, HubSource):
        source = patterns
        dataset = datasets.load_dataset(
            source.path, source.name, split=source.split, data_files=source.data_files, cache_dir=cache_dir
        )
        return dataset.select_columns([source.text_field]).rename_column(source.text_field, "text")
    files = expand_globs(patterns)
    parquet = [f for f in files if f.endswith(".parquet")]
    text_files = [f for f in files if not f.endswith(".parquet")]
    parts = []
    if text_files:
        try:
            parts.append(
                datasets.Dataset.from_generator(
                    iter_lines,
                    gen_kwargs={"files": text_files, "text_field": text_field, "on_bad_line": on_bad_line,
                                # a tuple: datasets would shard a list
                                "lines": tuple(lines) if lines is not None else None},
                    features=datasets.Features({"text": datasets.Value("string")}),
                    cache_dir=cache_dir,
                )
            )
        except DatasetGenerationError as err:
            # datasets wraps the reader's error; surface the file:line message itself.
            if isinstance(err.__cause__, ValueError):
                raise err.__cause__ from None
            raise
    if parquet:
        table = datasets.load_dataset("parquet", data_files=parquet, split="train", cache_dir=cache_dir)
        if text_field not in table.column_names:
            raise ValueError(f"{parquet}: no column {text_field!r} (columns: {table.column_names}); set text_field")
        parts.append(table.select_columns([text_field]).rename_column(text_field, "text"))
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


@dataclass
class ParallelSource:
    """The sentence pairs of one language pair (or one evaluation set).

    Give one of: ``path`` (TSV ``src<TAB>tgt`` or JSON lines with ``src_field`` / ``tgt_field``; globs), ``src`` and
    ``tgt`` (line-aligned files; globs matching the same number of files, paired in sorted order), or ``hub`` (a
    Hugging Face dataset; a ``translation`` column of ``{lang: text}`` dicts, as OPUS sets have, is read with the pair's
    language codes).

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

    def files(self) -> list[str]:
        """Every local file the source reads (empty for a hub source): what its cache key depends on."""
        patterns = [p for p in (self.path, self.src, self.tgt) if p]
        return [f for pattern in patterns for f in expand_globs(pattern)]


def _decoded_lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, line without its end)`` of a UTF-8 file; a line that is not UTF-8 is an error naming it."""
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                yield line_no, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not valid UTF-8 ({err}); re-encode the file as UTF-8") from None


def read_pairs(source: ParallelSource, name: str) -> tuple[list[str], list[str]]:
    """All ``(src, tgt)`` sentences of a source, in file order, cut to ``source.lines``.

    Every line is returned, empty sides included (training drops them with a count; evaluation sets keep them);
    malformed lines and mismatched line-aligned files are errors naming the file, the line and the fix.

    Args:
        source: where the pairs are.
        name: the pair's name in the config (``de-en``): the language codes of a hub ``translation`` column, and the
            context of error messages.
    """
    context = f" (pairs {name!r})"
    if source.hub is not None:
        import datasets

        table = datasets.load_dataset(source.hub, source.hub_config, split=source.hub_split)
        if "translation" in table.column_names:
            src_lang, _, tgt_lang = name.partition("-")
            rows = table["translation"]
            src, tgt = [r[src_lang] for r in rows], [r[tgt_lang] for r in rows]
        else:
            src, tgt = list(table[source.src_field]), list(table[source.tgt_field])
    elif source.path is not None:
        src, tgt = [], []
        for path in expand_globs(source.path, context):
            jsonl = path.endswith((".jsonl", ".json"))
            for line_no, line in _decoded_lines(path):
                if jsonl:
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                        pair = record[source.src_field], record[source.tgt_field]
                    except (ValueError, KeyError, TypeError) as err:
                        raise ValueError(f"{path}:{line_no}: cannot read a pair ({err!r}); each line must be a JSON "
                                         f"object with string fields {source.src_field!r} and {source.tgt_field!r} "
                                         "(set src_field / tgt_field)") from None
                    if not all(isinstance(side, str) for side in pair):
                        raise ValueError(f"{path}:{line_no}: fields {source.src_field!r} and {source.tgt_field!r} "
                                         "must be strings")
                else:
                    pair = line.split("\t")
                    if len(pair) != 2:
                        raise ValueError(f"{path}:{line_no}: expected 'source<TAB>target', found {len(pair)} "
                                         "field(s); fix the line or remove it")
                src.append(pair[0])
                tgt.append(pair[1])
    elif source.src is not None and source.tgt is not None:
        src_files, tgt_files = expand_globs(source.src, context), expand_globs(source.tgt, context)
        if len(src_files) != len(tgt_files):
            raise ValueError(f"{name}: src matches {len(src_files)} file(s) and tgt {len(tgt_files)}; line-aligned "
                             "sources pair their files in sorted order, so both must match the same number")
        src, tgt = [], []
        for src_file, tgt_file in zip(src_files, tgt_files):
            src_lines = [line for _, line in _decoded_lines(src_file)]
            tgt_lines = [line for _, line in _decoded_lines(tgt_file)]
            if len(src_lines) != len(tgt_lines):
                raise ValueError(f"{src_file} has {len(src_lines)} lines, {tgt_file} has {len(tgt_lines)}: they must "
                                 "be line-aligned")
            src.extend(src_lines)
            tgt.extend(tgt_lines)
    else:
        raise ValueError(f"Pair source {name!r} needs path, src + tgt, or hub")
    first, last = source.lines
    return src[first:last], tgt[first:last]
