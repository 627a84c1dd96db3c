"""Streaming monolingual blocks, for corpora larger than disk cache or memory: nothing is tokenized ahead of training.

Each language is a Hugging Face ``datasets`` stream (``load_dataset("text" | "json" | "parquet", data_files=...,
streaming=True)``) over local files or fsspec URLs (``s3://``, ``gs://``, ``hf://``, ``https://``; the extension picks
the reader, which never runs code from a file). :class:`StreamingBlocks` reads every language in batches of
documents, tokenizes them on the fly and packs them as :func:`~veco_lightning.data.monolingual.pack_blocks` does
(documents joined with ``</s>``, blocks of exactly ``max_length`` tokens starting with ``<s>``); the remainder of a
batch is carried into the next, so nothing is lost but the very end of the stream. Each block's language is drawn
with q_i ∝ p_i^alpha, p_i the language's share of the bytes (or of ``language_sizes``).

Sharding: the readers are the ``world_size x num_workers`` (rank, loader worker) pairs. Each reader takes its part
of every language: whole files (every ``readers``-th one) when the language has at least as many files as there are
readers, else every file, keeping the lines whose index in their file is its reader index modulo ``readers`` (each
reader then reads the language's files but tokenizes only its own lines). Either way every line goes to exactly one
reader, which packs its own lines. Each file is read as a stream of its own (``IterableDataset.shard`` of the
language's stream), so that a bad line is reported by its file and line. The split is done here, per language and
before tokenization, rather than left to ``datasets`` (which splits an interleaved dataset by the *smallest*
language's file count, idling all workers but one when one language has one file, and applies the ``"examples"``
split after every ``map``, so that each rank would tokenize the whole corpus).

Resuming: the state (:meth:`StreamingBlocks.state_dict`, saved by torchdata's ``StatefulDataLoader`` per worker) is
each language's current file and its ``datasets`` state at the start of its current batch, the lines of that batch
already used, the carried tokens, and the language-draw generator: a resumed run (with as many ranks and loader
workers) yields exactly the blocks an uninterrupted one would.
The languages are therefore mixed here rather than with ``interleave_datasets``: that one prefetches a document of
every language in threads and rewinds one on resume, so the carried tokens of a packer could not be saved in step
with it through the public API. A language that runs out starts again (like ``stopping_strategy="all_exhausted"``,
but the stream never ends): an epoch has no natural length, so ``trainer.max_steps`` bounds the run
(:class:`StreamLoader` says why its length is nominal).

Why ``datasets`` rather than LitData (``optimize`` + ``StreamingDataset`` / ``CombinedStreamingDataset``): both
stream from object stores, shard by rank and worker and resume mid-epoch. LitData first needs an ``optimize`` pass
that writes the tokenized corpus in its own chunk format (a second copy, redone for another tokenizer), then reads
fast; its dataset weights stop at the first exhausted dataset (no repeated low-resource languages), and it requires
torchvision. ``datasets`` reads the raw txt / jsonl / parquet files as they are, so training starts at once, and the
package already depends on it and on torchdata. The price is tokenizing in the loader workers: on a 20 MB corpus
(32k vocabulary, 512-token blocks, 2 busy CPU cores) about 390 blocks (200k tokens) per CPU-second, against about
510 for the tokenizer alone, so each loader worker adds about that much; LitData read its optimized chunks at over
1,000 blocks/s after a 37 s ``optimize``. Pre-tokenized data remain the cached, non-streaming path of this package.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info
from torchdata.stateful_dataloader import StatefulDataLoader

from veco_lightning.data.readers import expand_globs
from veco_lightning.data.sampling import smoothed_probabilities
from veco_lightning.data.tokenizer import boundary_ids, encode_ids
from veco_lightning.lexicon.badinput import (
    MAX_LINE_CHARS,
    UTF8_FIX,
    BadInputError,
    BadLinePolicy,
    BadLines,
    text_problem,
)
from veco_lightning.paths import PACKAGE_PREFIX

log = logging.getLogger(__name__)

READ_BATCH_ROWS = 1000
"""Lines (documents) read and tokenized at once per language and reader."""

_FORMATS = {".txt": "text", ".text": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".lz4")
# The package that provides each common fsspec protocol (fsspec's own message names the class, not the pip name).
FSSPEC_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
                   "abfss": "adlfs", "hf": "huggingface_hub", "http": "aiohttp", "https": "aiohttp"}


def is_url(pattern: str) -> bool:
    """A fsspec URL (``s3://...``), as opposed to a local path or the package's own ``pkg://`` paths."""
    return "://" in pattern and not pattern.startswith(PACKAGE_PREFIX)


def check_protocol(url: str, context: str = "") -> None:
    """Raise an ``ImportError`` naming the package to install when ``url``'s protocol has no fsspec filesystem."""
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as err:
        package = FSSPEC_PACKAGES.get(protocol)
        fix = (f"pip install {package}" if package
               else f"install the fsspec filesystem for {protocol}:// (fsspec's list of known implementations)")
        raise ImportError(f"{url}{context}: reading {protocol}:// URLs needs {package or 'a filesystem package'} "
                          f"({err}). Fix: {fix}") from err


def stream_format(paths: list[str], context: str = "") -> str:
    """The ``datasets`` reader of a language's files (``text``, ``json`` or ``parquet``), from their extension."""
    kinds = set()
    for path in paths:
        name = path.lower()
        name = next((name[: -len(c)] for c in _COMPRESSIONS if name.endswith(c)), name)
        extension = os.path.splitext(name)[1]
        if extension not in _FORMATS:
            raise ValueError(f"{path}{context}: cannot stream {extension or 'a file without extension'}; streaming "
                             f"reads {', '.join(_FORMATS)} files (optionally {', '.join(_COMPRESSIONS)})")
        kinds.add(_FORMATS[extension])
    if len(kinds) > 1:
        raise ValueError(f"{paths}{context}: mixes {sorted(kinds)} files; give each language files of one format")
    return kinds.pop()


def check_stream_patterns(patterns: str | list[str], context: str = "") -> None:
    """Check a language's globs and URLs without reading them: local globs match, URL protocols are installed, the
    extensions are readable."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    names = []
    for pattern in patterns:
        if is_url(pattern):
            check_protocol(pattern, context)
            names.append(pattern)
        else:
            names.extend(expand_globs(pattern, context))
    stream_format(names, context)


@dataclass
class LanguageFiles:
    """The files of one language, their ``datasets`` reader and the size its sampling probability comes from."""

    files: list[str]
    format: str
    size: float


def resolve_language(patterns: str | list[str], context: str = "", size: float | None = None) -> LanguageFiles:
    """Expand local globs and URL globs (through fsspec) in order, and measure the files' total bytes unless
    ``size`` is given."""
    import fsspec

    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files: list[str] = []
    total = 0
    for pattern in patterns:
        if not is_url(pattern):
            found = expand_globs(pattern, context)
            total += sum(os.path.getsize(f) for f in found) if size is None else 0
        else:
            check_protocol(pattern, context)
            fs, path = fsspec.core.url_to_fs(pattern)
            paths = sorted(fs.glob(path)) if glob.has_magic(path) else [path]
            if not paths:
                raise FileNotFoundError(f"No file matches {pattern!r}{context}: fix the URL or glob in the data config")
            total += sum(fs.size(p) for p in paths) if size is None else 0
            found = [fs.unstrip_protocol(p) for p in paths]
        files.extend(found)
    return LanguageFiles(files, stream_format(files, context), float(size) if size is not None else float(total))


def open_stream(language: LanguageFiles, text_field: str, on_bad_line: BadLinePolicy) -> datasets.IterableDataset:
    """A ``datasets`` stream over a language's files. Text files are decoded strictly, or with ``on_bad_line:
    skip`` with replacement characters, whose lines are then skipped."""
    import pyarrow as pa

    options: dict[str, Any] = {}
    if language.format == "text":
        options = {"encoding": "utf-8-sig", "encoding_errors": "replace" if on_bad_line == "skip" else "strict"}
    elif language.format == "parquet":
        options = {"columns": [text_field]}
    # datasets reads data_files as globs: a local file whose name holds [, ], * or ? would match nothing (an empty
    # stream, no error), so local files go escaped.
    data_files = [path if is_url(path) else glob.escape(path) for path in language.files]
    try:  # the JSON reader reads the first file's first lines here, for the columns
        return datasets.load_dataset(language.format, data_files=data_files, split="train", streaming=True, **options)
    except (UnicodeDecodeError, ValueError, pa.ArrowInvalid) as err:  # ArrowInvalid is a ValueError
        raise unreadable(language.files, language.format, text_field, err) from err


def _line_failure(path: str, check: Callable[[bytes], bool]) -> int | None:
    """The number of the first physical line of ``path`` (local or a fsspec URL, compression from its extension)
    that ``check`` rejects; ``None`` if none does or the file cannot be read again. Only called once a read has
    failed: the stream's own error knows the file but not the line."""
    import fsspec

    try:
        with fsspec.open(path, "rb", compression="infer") as handle:
            for number, raw in enumerate(handle, 1):
                if not check(raw):
                    return number
    except Exception:  # noqa: BLE001 -- best effort: the caller's message stands without the line
        return None
    return None


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json_record(text_field: str) -> Callable[[bytes], bool]:
    """A check of a JSON line: blank, or an object whose ``text_field`` is a string or absent."""
    import json

    def check(raw: bytes) -> bool:
        if not raw.strip():
            return True
        try:
            record = json.loads(raw)
        except ValueError:
            return False
        return isinstance(record, dict) and isinstance(record.get(text_field, ""), str)
    return check


class _RecordCounter:
    """A check for :func:`_line_failure` that rejects the ``n``-th non-blank line: the line of JSON record ``n``."""

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, raw: bytes) -> bool:
        if raw.strip():
            self.left -= 1
        return self.left != 0


def unreadable(paths: list[str], kind: str, text_field: str, err: Exception) -> BadInputError:
    """The error for files that ``datasets`` could not read (``err``): it names the first bad line it finds in
    ``paths`` (invalid UTF-8; in JSON lines also a line that is not an object with a string ``text_field``), or the
    files when it finds none."""
    decode = isinstance(err, UnicodeDecodeError)
    check = _decodes if decode or kind != "json" else _json_record(text_field)
    for path in paths:
        line = _line_failure(path, check)
        if line is not None:
            break
    where = f"{path}:{line}" if line is not None else (paths[0] if len(paths) == 1 else f"one of {paths}")
    if decode:
        return BadInputError(f"{where}: not valid UTF-8 ({err}). Fix: {UTF8_FIX}; or, for txt files, set "
                             "on_bad_line: skip to skip such lines with a count")
    fix = (f"give every line one JSON object with a string {text_field!r} field (or set text_field)"
           if kind == "json" else "repair the file")
    return BadInputError(f"{where}: cannot be read ({err}). Fix: {fix}: unreadable records cannot be skipped while "
                         "streaming")


class _Reader:
    """One language's blocks for one reader: its files (or its lines of every file), one file at a time, tokenized
    batch by batch and packed, with a position that resumes exactly (:meth:`state`).

    Each file is a stream of its own (one shard of the language's stream), so that a bad line is reported by its file
    and line (``.txt``; ``record`` in ``.jsonl``, ``row`` in ``.parquet``). With ``every=(reader, readers)`` the reader
    reads every file and keeps the rows whose index in their file is ``reader`` modulo ``readers``.

    The position is the file, its ``datasets`` state before the current batch, that batch's first row, the next row to
    use and the carried tokens; ``reads`` counts how often the language was started again after running out.
    """

    def __init__(self, owner: StreamingBlocks, language: str, files: list[int], every: tuple[int, int] | None,
                 where: str, repeat: bool, state: dict[str, Any] | None = None) -> None:
        self.owner, self.language, self.files, self.every, self.where = owner, language, files, every, where
        self.repeat = repeat
        state = state or {"file": 0, "batch_state": None, "batch_row": 0, "row": 0, "buffer": [], "reads": 0}
        if "file" not in state:
            raise ValueError(f"{where}: this stream position was saved by an earlier veco_lightning, whose positions "
                             "do not name the file; resume it with that version, or start the run again")
        self.file, self.batch_state = state["file"], state["batch_state"]
        self.batch_row, self.row, self.reads = state["batch_row"], state["row"], state["reads"]
        self.buffer: list[int] = list(state["buffer"])
        self.bad = BadLines(owner.on_bad_line)
        self.found = self.row > 0 or self.file > 0  # a document was used in this read (resumed mid-read: assume so)
        self.documents: Iterator[list[int]] | None = None

    def state(self) -> dict[str, Any]:
        return {"file": self.file, "batch_state": self.batch_state, "batch_row": self.batch_row, "row": self.row,
                "buffer": list(self.buffer), "reads": self.reads}

    def _text(self, value: Any, path: str, row: int) -> str | None:
        """The row's text, or ``None`` for a blank row or a bad one (skipped with a count, or an error)."""
        if value is None:
            return None
        if not isinstance(value, str):
            self._skip(path, row, f"a value of type {type(value).__name__}, not text",
                       f"give every record a string {self.owner.text_field!r} field")
            return None
        text = value[1:] if value.startswith("\ufeff") else value
        if not text.strip():
            return None
        problem = text_problem(text, self.owner.max_line_chars, document=self.owner.formats[self.language] != "text")
        if problem is None and "\ufffd" in text and self.owner.on_bad_line == "skip":
            problem = ("not valid UTF-8 (replacement characters)", UTF8_FIX)
        if problem is not None:
            self._skip(path, row, *problem)
            return None
        return text

    def _position(self, row: int) -> int | str:
        """How a message names row ``row`` of a file: its line in a text file (``datasets`` reads one row per line),
        else the record or row."""
        kind = self.owner.formats[self.language]
        return row + 1 if kind == "text" else f"{'record' if kind == 'json' else 'row'} {row + 1}"

    def _skip(self, path: str, row: int, problem: str, fix: str | None = None) -> None:
        """Report a bad row (an error, or a skip counted for the end of this read). The first skip of a read is
        logged at once: a run may end long before its read of the files does, and the count with it."""
        position = self._position(row)
        if self.owner.on_bad_line == "error" and self.owner.formats[self.language] == "json":
            line = _line_failure(path, _RecordCounter(row + 1))  # the JSON reader drops blank lines: find the line
            position = f"{line} ({position})" if line is not None else position
        self.bad(path, position, problem, fix)
        if self.bad.total == 1:
            log.warning("%s:%s: skipped a bad line (on_bad_line: skip): %s; the number skipped is logged when %s's "
                        "read of its files ends", path, self._position(row), problem, self.where)

    def _batches(self, stream: datasets.IterableDataset, path: str) -> Iterator[dict[str, list]]:
        import pyarrow as pa

        batches = stream.iter(batch_size=self.owner.read_batch_rows)
        while True:
            try:
                yield next(batches)
            except StopIteration:
                return
            except (UnicodeDecodeError, pa.ArrowInvalid) as err:  # e.g. a line of a .jsonl file that is not JSON
                raise unreadable([path], self.owner.formats[self.language], self.owner.text_field, err) from err

    def _documents(self) -> Iterator[list[int]]:
        """Token ids of the documents of this read, from the saved position on."""
        field = self.owner.text_field
        paths = self.owner.languages[self.language].files
        while self.file < len(self.files):
            index = self.files[self.file]
            path = paths[index]
            stream = self.owner.file_stream(self.language, index)
            stream.load_state_dict(self.batch_state)  # None: from the start
            held = self.owner.held_out_rows.get(self.language, 0) if index == 0 else 0
            step = self.every[1] if self.every is not None else 1
            for batch in self._batches(stream, path):
                after = stream.state_dict()
                if field not in batch:
                    raise BadInputError(f"{path}: no field {field!r} (fields: {sorted(batch)}); set text_field")
                values = batch[field]
                rows = range(self._first(max(self.row, held, self.batch_row)), self.batch_row + len(values), step)
                kept = [(row, text) for row, value in zip(rows, values[rows.start - self.batch_row :: step])
                        if (text := self._text(value, path, row)) is not None]
                if kept:
                    ids = encode_ids(self.owner.tokenizer, [text for _, text in kept])
                    for (row, _), doc in zip(kept, ids):
                        self.row = row + 1
                        yield doc
                self.row = self.batch_row = self.batch_row + len(values)
                self.batch_state = after
            self.file, self.batch_state, self.batch_row, self.row = self.file + 1, None, 0, 0

    def _first(self, row: int) -> int:
        """The first row from ``row`` on that is this reader's."""
        if self.every is None:
            return row
        reader, readers = self.every
        return row + (reader - row) % readers

    def next_block(self) -> list[int] | None:
        """The next block of ``max_length`` tokens; ``None`` when the language ran out and is not repeated."""
        body = self.owner.max_length - 1
        while len(self.buffer) < body:
            if self.documents is None:
                self.documents = self._documents()
            doc = next(self.documents, None)
            if doc is not None:
                self.found = True
                self.buffer.extend(doc)
                self.buffer.append(self.owner.eos_id)
                continue
            self.bad.warn(log)
            self.bad = BadLines(self.owner.on_bad_line)
            if not self.repeat:
                return None
            if not self.found:
                raise ValueError(f"{self.where} gets no text: its files hold fewer usable lines than there are readers "
                                 "(ranks x loader workers), or the lines held out for validation are all there is. "
                                 "Fix: add text, lower num_workers, or lower val_blocks")
            self.file, self.batch_state, self.batch_row, self.row, self.found = 0, None, 0, 0, False
            self.reads += 1
            self.documents = None
        block = [self.owner.bos_id, *self.buffer[:body]]
        del self.buffer[:body]
        return block


class StreamingBlocks(IterableDataset):
    """Packed blocks of every language, drawn with smoothed probabilities, read and tokenized on the fly; sharded by
    rank and loader worker, and resumable exactly (see the module docstring).

    Yields ``{"input_ids": [max_length ids], "language": code}``. The first ``val_blocks`` blocks of each language
    (packed from the start of its first file) are held out: :attr:`held_out` holds them, and the reader that gets
    their lines skips them on every read, so they are never trained on.

    Args:
        files: language code -> file glob(s) or URL(s): ``.txt`` (a document per line), ``.jsonl`` / ``.json`` (JSON
            lines with ``text_field``) or ``.parquet`` (column ``text_field``), optionally compressed (``.gz``, ...).
        tokenizer: a Hugging Face tokenizer (``bos`` / ``eos`` ids delimit blocks and documents).
        max_length: block length in tokens, ``<s>`` included.
        alpha: sampling exponent, q_i ∝ p_i^alpha.
        language_sizes: language -> size in any one unit (bytes, lines, tokens) for p_i; default: the total bytes of
            the language's files as stored (compressed files count compressed), from the local or remote filesystem.
        val_blocks: blocks held out per language for validation.
        seed: seed of the language draws (each reader draws from ``(seed, reader)``).
        rank: this process's rank; world_size: the number of ranks (default: one process).
        repeat: start a language again when it runs out (an endless stream); ``False`` ends a language at its end
            (its last partial block is dropped) and the stream once every language has ended (one pass).
        text_field: the text column of json / parquet files.
        on_bad_line: ``error`` stops at a bad line (control character, over ``max_line_chars``, invalid UTF-8, not
            text), ``skip`` skips it with a count per reader and language. Undecodable bytes in txt files are
            replaced and their lines skipped under ``skip``; in JSON lines they stop the run either way.
        max_line_chars: longest text in characters.
        read_batch_rows: lines read and tokenized at once (per language and reader).
    """

    def __init__(self, files: dict[str, str | list[str]], tokenizer: Any, max_length: int, alpha: float = 0.3,
                 language_sizes: dict[str, float] | None = None, val_blocks: int = 0, seed: int = 0, rank: int = 0,
                 world_size: int = 1, repeat: bool = True, text_field: str = "text",
                 on_bad_line: BadLinePolicy = "error", max_line_chars: int = MAX_LINE_CHARS,
                 read_batch_rows: int = READ_BATCH_ROWS) -> None:
        super().__init__()
        sizes = language_sizes or {}
        unknown = set(sizes) - set(files)
        if unknown:
            raise ValueError(f"language_sizes names languages without files: {sorted(unknown)}")
        BadLines(on_bad_line)  # checks the policy's name
        self.tokenizer, self.max_length, self.seed = tokenizer, max_length, seed
        self.bos_id, self.eos_id = boundary_ids(tokenizer)
        self.rank, self.world_size, self.repeat = rank, world_size, repeat
        self.text_field, self.on_bad_line, self.max_line_chars = text_field, on_bad_line, max_line_chars
        self.read_batch_rows = read_batch_rows
        self.languages = {lang: resolve_language(patterns, f" (language {lang!r})", sizes.get(lang))
                          for lang, patterns in files.items()}
        self.formats = {lang: found.format for lang, found in self.languages.items()}
        self.probabilities = smoothed_probabilities([found.size for found in self.languages.values()], alpha).numpy()
        self.streams = {lang: open_stream(found, text_field, on_bad_line) for lang, found in self.languages.items()}
        for lang, stream in self.streams.items():  # file_stream takes shard i as file i
            if stream.num_shards != len(self.languages[lang].files):
                raise ValueError(f"language {lang!r}: datasets reads its {len(self.languages[lang].files)} files as "
                                 f"{stream.num_shards} shards, so they cannot be read file by file; give plain "
                                 "txt / jsonl / parquet files (optionally compressed), not archives")
        self.held_out: dict[str, list[list[int]]] = {}
        self.held_out_rows: dict[str, int] = {}
        if val_blocks > 0:
            for lang in self.languages:
                self.held_out[lang], self.held_out_rows[lang] = self._hold_out(lang, val_blocks)
        self._resume: dict[str, Any] | None = None
        self._live: Any = None
        if rank == 0:
            shares = zip(self.languages.items(), self.probabilities)
            log.info("Streaming MMLM languages (size, probability): %s",
                     ", ".join(f"{lang} {found.size:,.0f} {q:.3f}" for (lang, found), q in shares))

    def _hold_out(self, language: str, val_blocks: int) -> tuple[list[list[int]], int]:
        """The first ``val_blocks`` blocks packed from the start of the language's first file, and the rows they used
        (the last one's rest is dropped)."""
        found = self.languages[language]
        reader = _Reader(self, language, [0], None, f"language {language!r} ({found.files[0]})", repeat=False)
        blocks, rows = [], 0
        while len(blocks) < val_blocks and (block := reader.next_block()) is not None:
            blocks.append(block)
            rows = reader.row
        if len(blocks) < val_blocks and len(found.files) == 1:  # validation would take all the text training has
            raise ValueError(f"language {language!r} ({found.files[0]}): its text packs into {len(blocks)} blocks of "
                             f"{self.max_length} tokens, and validation holds out the first {val_blocks} "
                             f"(data.monolingual.val_blocks), so training would get none: set val_blocks to at most "
                             f"{len(blocks) // 2}, or add text")
        if len(blocks) < val_blocks:
            log.info("%s: its first file gives %d of the %d validation blocks asked for", language, len(blocks),
                     val_blocks)
        return blocks, rows

    def readers(self) -> tuple[int, int]:
        """``(reader, readers)``: this (rank, worker) pair's index among all of them."""
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def file_stream(self, language: str, index: int) -> datasets.IterableDataset:
        """File ``index`` of a language as a stream of its own (a new dataset object each time, so that iterations
        never share a position)."""
        stream = self.streams[language]
        return stream.shard(num_shards=stream.num_shards, index=index, contiguous=True)

    def reader_files(self, language: str, reader: int, readers: int) -> tuple[list[int], tuple[int, int] | None]:
        """Reader ``reader``'s part of a language: whole files (every ``readers``-th one) when the language has at
        least as many files as there are readers, else every file with ``every=(reader, readers)``: the rows whose
        index in their file is ``reader`` modulo ``readers``."""
        count = len(self.languages[language].files)
        if count >= readers:
            return list(range(reader, count, readers)), None
        return list(range(count)), (reader, readers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        # A new iterator continues where the last one in this process stopped (a stream has no epochs), or where a
        # loaded state says.
        start = self._resume if self._resume is not None else (self._live() if self._live is not None else None)
        self._resume = None
        reader, readers = self.readers()
        if start is not None and start["readers"] != [reader, readers]:
            raise ValueError(f"This stream state was saved by reader {start['readers'][0]} of {start['readers'][1]} "
                             f"and is loaded by reader {reader} of {readers}: resume with the same number of ranks "
                             "and loader workers")
        return self._blocks(reader, readers, start)

    def _blocks(self, reader: int, readers: int, start: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        names = list(self.languages)
        packers = {}
        for lang in names:
            files, every = self.reader_files(lang, reader, readers)
            where = f"language {lang!r} (reader {reader} of {readers})"
            packers[lang] = _Reader(self, lang, files, every, where, self.repeat,
                                    start["languages"][lang] if start else None)
        rng = np.random.default_rng([self.seed, reader])
        if start is not None:
            rng.bit_generator.state = start["rng"]
        ended = set(start["ended"]) if start else set()

        def snapshot() -> dict[str, Any]:
            return {"readers": [reader, readers], "rng": rng.bit_generator.state, "ended": sorted(ended),
                    "languages": {lang: packer.state() for lang, packer in packers.items()}}

        self._live = snapshot
        while len(ended) < len(names):
            weights = np.array([0.0 if lang in ended else q for lang, q in zip(names, self.probabilities)])
            cumulative = weights.cumsum()
            language = names[int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))]
            block = packers[language].next_block()
            if block is None:
                ended.add(language)
                continue
            yield {"input_ids": block, "language": language}

    def state_dict(self) -> dict[str, Any] | None:
        """The position after the last block yielded in this process (``None`` before the first): per language its
        ``datasets`` state and carried tokens, and the draw generator's state. Plain values only."""
        if self._resume is not None:
            return self._resume
        return self._live() if self._live is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Continue from ``state`` at the next iterator (``None``: from the start)."""
        self._resume = state
        if state is None:
            self._live = None


ENDLESS = 2**40
"""The length of a stream loader without ``samples_per_epoch``: an epoch that never ends in practice."""


class StreamLoader(StatefulDataLoader):
    """A ``StatefulDataLoader`` over an endless :class:`StreamingBlocks`, full batches only.

    Its length is ``batches_per_epoch``, Lightning's epoch (the stream goes on across epochs: a new iterator
    continues where the last stopped), by default :data:`ENDLESS`, so that ``trainer.max_steps`` ends the run and
    validation needs an int ``val_check_interval``. A length it must have even so: Lightning reads a loader without
    one as endless too, but then fetches each batch one step ahead, and a checkpoint would save the loader's state
    one batch past the step it was taken at (a resumed run would skip that batch).
    """

    def __init__(self, dataset: StreamingBlocks, batches_per_epoch: int = ENDLESS, **kwargs: Any) -> None:
        self.batches_per_epoch = batches_per_epoch
        super().__init__(dataset, drop_last=True, **kwargs)

    def __len__(self) -> int:
        return self.batches_per_epoch


def stream_loader(dataset: StreamingBlocks, batch_size: int, collate_fn: Any, num_workers: int = 0,
                  samples_per_epoch: int | None = None) -> StreamLoader:
    """The training loader of a stream: persistent workers (each keeps its position between epochs), and
    ``samples_per_epoch`` blocks over all ranks per Lightning epoch when given."""
    per_epoch = ENDLESS
    if samples_per_epoch is not None:
        per_epoch = samples_per_epoch // (dataset.world_size * batch_size)
        if per_epoch == 0:
            raise ValueError(f"samples_per_epoch={samples_per_epoch} is less than one batch of {batch_size} on each of "
                             f"{dataset.world_size} rank(s)")
    return StreamLoader(dataset, batches_per_epoch=per_epoch, batch_size=batch_size, collate_fn=collate_fn,
                        num_workers=num_workers, persistent_workers=num_workers > 0,
                        pin_memory=torch.cuda.is_available())


def check_run_length(trainer: Any, samples_per_epoch: int | None) -> None:
    """A stream never ends: raise when nothing else ends the run (``trainer.max_steps`` unset and no
    ``samples_per_epoch`` for ``trainer.max_epochs`` to count). ``trainer`` is ``None`` where it is unknown (a
    datamodule inside the composite one): nothing is checked then."""
    if trainer is None or samples_per_epoch is not None or getattr(trainer, "max_steps", -1) not in (-1, None):
        return
    if any(type(callback).__name__ == "Timer" for callback in getattr(trainer, "callbacks", [])):
        return  # trainer.max_time ends it
    raise ValueError("data.monolingual.streaming: a stream has no end, so the run needs trainer.max_steps or "
                     "trainer.max_time (or data.monolingual.samples_per_epoch, blocks per epoch over all ranks, for "
                     "trainer.max_epochs to count); set one of them")
