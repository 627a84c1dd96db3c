"""Reading raw text sources into ``datasets.Dataset`` objects with one ``text`` column.

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
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import datasets
from datasets.exceptions import DatasetGenerationError

log = logging.getLogger(__name__)

PACKAGE_PREFIX = "pkg://"
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


def resolve_path(pattern: str) -> str:
    """Expand ``~`` and the ``pkg://`` prefix, which points inside the installed package (the demo corpus)."""
    if pattern.startswith(PACKAGE_PREFIX):
        package, _, rest = pattern[len(PACKAGE_PREFIX) :].partition("/")
        return os.path.join(str(resources.files(package)), rest)
    return os.path.expanduser(pattern)


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


def iter_lines(
    files: list[str], text_field: str = "text", on_bad_line: BadLinePolicy = "error", lines: list[int | None] | None = None
) -> Iterator[dict]:
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
