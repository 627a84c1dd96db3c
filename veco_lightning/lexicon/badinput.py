"""Bad input: the rules every reader of the package applies to the text it reads, and how a bad line is reported.

A line (of a text, TSV, JSON-lines, line-aligned or dictionary file) is read as bytes: its line end (LF or CRLF) and
a byte-order mark at its start are removed, as formatting rather than text, and it is decoded as strict UTF-8. A
text is then bad when it

- is not valid UTF-8;
- holds a control character: C0 (U+0000-U+001F) other than TAB, DEL (U+007F) or C1 (U+0080-U+009F): NUL bytes,
  stray carriage returns, form feeds, escape sequences are never text a model should learn. A text taken from a JSON
  record or a Parquet cell (a document) may also hold LF and CR, its own line breaks;
- is longer than ``max_line_chars`` characters (default 100,000): one such line would otherwise become most of its
  language's training data without a word.

Readers take a policy, ``on_bad_line``: ``error`` stops at the first bad line with ``file:line``, the problem and the
fix; ``skip`` leaves it out, counts it per file and logs the first few ``file:line`` (:class:`BadLines`).

It lives in the lexicon, the lowest layer (plain Python, standard library only), because dictionaries are read
under the same rules as the training and evaluation data of ``data/`` and ``evaluation/``.
"""

from __future__ import annotations

import codecs
import importlib
import io
import logging
import lzma
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Literal, TextIO

BadLinePolicy = Literal["error", "skip"]

MAX_LINE_CHARS = 100_000
"""Default longest text, in characters: far above any sentence or paragraph, far below a file glued into one line."""

_REPORTED = 5  # bad locations logged per file
_CONTROL_IN_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_IN_DOCUMENT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NAMES = {0x00: "NUL", 0x0A: "LF", 0x0B: "vertical tab", 0x0C: "form feed", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL"}
UTF8_FIX = "re-encode the file as UTF-8 (e.g. iconv -f <its encoding> -t UTF-8)"


class BadInputError(ValueError):
    """Input that breaks the rules of this module; the message names the file, the line and the fix."""


Problem = tuple[str, str]
"""What is wrong with a line, and what the user should do about it."""


def text_problem(text: str, max_line_chars: int = MAX_LINE_CHARS, document: bool = False) -> Problem | None:
    """Why ``text`` is bad input (too long, a control character) and the fix, or ``None`` when it is fine.

    Args:
        text: a decoded text without its line end.
        max_line_chars: longest text allowed, in characters.
        document: the text comes from a JSON record or a Parquet cell, where LF and CR are its own line breaks.
    """
    if len(text) > max_line_chars:
        return (f"a text of {len(text):,} characters, longer than max_line_chars={max_line_chars:,}",
                "split the text, or raise max_line_chars if texts this long are intended")
    found = (_CONTROL_IN_DOCUMENT if document else _CONTROL_IN_LINE).search(text)
    if found:
        code = ord(found.group())
        name = f" ({_NAMES[code]})" if code in _NAMES else ""
        hint = " (CR-only line ends? convert them to LF)" if code == 0x0D else ""
        return (f"control character U+{code:04X}{name} at character {found.start() + 1}",
                f"remove or replace the character{hint}")
    return None


COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}
"""File name endings read decompressed (standard library), and the module that reads each."""

DECOMPRESSION_ERRORS = (OSError, EOFError, ValueError, lzma.LZMAError)
"""What reading a file that is not the compression its name says raises (``gzip.BadGzipFile`` is an OSError)."""

# The first bytes of a compressed file, to name the compression when such a file is read as text.
_MAGIC = ((b"\x1f\x8b", "gzip", ".gz"), (b"BZh", "bzip2", ".bz2"), (b"\xfd7zXZ\x00", "xz", ".xz"),
          (b"\x28\xb5\x2f\xfd", "zstandard", ".zst"))


def plain_name(path: str) -> str:
    """``path`` without a compression ending (:data:`COMPRESSIONS`): what tells its format (``a.jsonl.gz`` ->
    ``a.jsonl``)."""
    lower = path.lower()
    return next((path[:-len(end)] for end in COMPRESSIONS if lower.endswith(end)), path)


def existing(path: str) -> str | None:
    """``path`` if it is a file, else ``path`` with the first compression ending (:data:`COMPRESSIONS`) that makes
    one (``de-en.test.de`` -> ``de-en.test.de.gz``), else ``None``: for files named by convention (BUCC splits,
    Tatoeba languages), which may come compressed."""
    return next((p for p in (path, *(path + end for end in COMPRESSIONS)) if os.path.isfile(p)), None)


def open_binary(path: str) -> BinaryIO:
    """A file opened for reading bytes, decompressed as it is read when its name ends in ``.gz``, ``.bz2`` or ``.xz``
    (corpora such as CC-100 or OPUS come compressed; the standard library's decompressors, in C)."""
    lower = path.lower()
    for end, module in COMPRESSIONS.items():
        if lower.endswith(end):
            return importlib.import_module(module).open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 -- the caller's with-statement closes it


def open_text(path: str) -> TextIO:
    """:func:`open_binary` as UTF-8 text with universal line ends (what ``open(path, encoding="utf-8")`` gives a
    plain file)."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8")


def _compressed_problem(path: str, raw: bytes) -> Problem | None:
    """The problem of a first line that is not UTF-8 because the file is compressed: under a name that does not say
    so (``corpus.txt`` holding gzip bytes), or in a compression these readers do not open (zstandard)."""
    for magic, kind, end in _MAGIC:
        if raw.startswith(magic):
            if end not in COMPRESSIONS:
                return (f"the file is {kind}-compressed, which these readers do not decompress",
                        "decompress it, or compress it as .gz, .bz2 or .xz, which are read decompressed (streaming: "
                        "true reads it as it is)")
            return (f"the file is {kind}-compressed, but its name does not end in {end}",
                    f"rename it to {path}{end} to have it read decompressed")
    return None


def read_lines(path: str, keep: range | None = None) -> Iterator[tuple[int, str, Problem | None]]:
    """``(line number, text, problem)`` for every line of a file, in order.

    The line end (LF, CRLF) and a byte-order mark at the start of the line (the first line of a UTF-8-with-BOM file;
    files joined with ``cat`` carry it further down) are removed. A line that is not valid UTF-8 comes back with an
    empty text and its problem, so that callers counting lines (line-aligned files) stay aligned.

    A file named ``.gz``, ``.bz2`` or ``.xz`` is decompressed as it is read (:func:`open_binary`); one that is not
    in that format, or is cut short, raises :class:`BadInputError` naming it.

    Args:
        path: the file.
        keep: zero-based line positions to return (others are not decoded); ``None``: all.
    """
    with _named_decompression_errors(path):
        yield from _lines(path, keep)


def count_lines(path: str) -> int:
    """The number of lines of a file (decompressed as :func:`open_binary` reads it), without decoding them."""
    with _named_decompression_errors(path), open_binary(path) as handle:
        return sum(1 for _ in handle)


@contextmanager
def _named_decompression_errors(path: str) -> Iterator[None]:
    """Turn the error of a file that is not the compression its name says, or is cut short, into a
    :class:`BadInputError` naming it (errors of the file system itself, which carry an errno, pass)."""
    try:
        yield
    except DECOMPRESSION_ERRORS as err:
        if (isinstance(err, BadInputError) or plain_name(path) == path
                or (isinstance(err, OSError) and err.errno is not None)):
            raise
        raise BadInputError(f"{path}: cannot be read decompressed ({type(err).__name__}: {err}): the file is not "
                            f"{COMPRESSIONS[path[len(plain_name(path)):].lower()]} data or is cut short. Fix: "
                            "compress it again, or name it without the compression ending if it is plain text") from err


def _lines(path: str, keep: range | None) -> Iterator[tuple[int, str, Problem | None]]:
    with open_binary(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            if keep is not None and line_no - 1 not in keep:
                continue
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            elif raw.endswith(b"\r"):  # a last line ending in CR without LF: a CRLF file cut short
                raw = raw[:-1]
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield line_no, raw.decode("utf-8"), None
            except UnicodeDecodeError as err:
                found = _compressed_problem(path, raw) if line_no == 1 else None
                if found is not None:
                    raise BadInputError(f"{path}: {found[0]}. Fix: {found[1]}") from None
                problem = f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1} of the line)"
                yield line_no, "", (problem, UTF8_FIX)


def check_file(path: str, max_line_chars: int = MAX_LINE_CHARS) -> int:
    """Raise :class:`BadInputError` at the first bad line of a file that cannot skip lines (gold alignments, BUCC
    tasks: a line skipped would shift what the gold names); returns the number of non-blank lines."""
    found = 0
    for line_no, text, problem in read_lines(path):
        problem = problem or text_problem(text, max_line_chars)
        if problem:
            raise BadInputError(f"{path}:{line_no}: {problem[0]}. Fix: {problem[1]} (lines of this file cannot be "
                                "skipped)")
        found += bool(text.strip())
    return found


def empty_file_error(path: str, detail: str = "") -> BadInputError:
    """The error for a file that holds no text: an empty language (or pair, or dictionary) is not data."""
    return BadInputError(f"{path}: no text (the file is empty or holds only blank lines{detail}); fill it, or remove "
                         "it from the data config (or from its glob)")


class BadLines:
    """The bad lines met while reading, under one policy.

    ``error`` raises :class:`BadInputError` at the first, naming ``file:line``, the problem and the fix; ``skip`` counts
    them per file and keeps the first few locations, which :meth:`warn` logs.

    Args:
        on_bad_line: ``error`` or ``skip``.
        fix: what the user should do about a bad line (the message adds the ``skip`` alternative).
        option: the config option that chooses the policy, named in messages.
    """

    def __init__(self, on_bad_line: BadLinePolicy = "error", fix: str = "fix or remove the line",
                 option: str = "on_bad_line") -> None:
        if on_bad_line not in ("error", "skip"):
            raise ValueError(f"{option} must be 'error' or 'skip', not {on_bad_line!r}")
        self.on_bad_line, self.fix, self.option = on_bad_line, fix, option
        self.counts: dict[str, int] = {}
        self.first: dict[str, list[str]] = {}

    def __call__(self, path: str, line: int | str, problem: str, fix: str | None = None) -> None:
        """Report one bad line (``line``: a line number, or e.g. ``"row 7"``); ``fix`` overrides the reader's."""
        where = f"{path}:{line}"
        if self.on_bad_line == "error":
            raise BadInputError(f"{where}: {problem}. Fix: {fix or self.fix}; or set {self.option}: skip to skip such "
                                "lines with a count")
        self.counts[path] = self.counts.get(path, 0) + 1
        found = self.first.setdefault(path, [])
        if len(found) < _REPORTED:
            found.append(f"{where} ({problem})")

    @property
    def total(self) -> int:
        """Lines skipped so far, over all files."""
        return sum(self.counts.values())

    def warn(self, logger: logging.Logger, what: str = "line") -> None:
        """Log, per file, how many bad lines were skipped and where the first were."""
        for path, count in self.counts.items():
            logger.warning("%s: skipped %d bad %s(s) (%s: skip); first: %s", path, count, what, self.option,
                           "; ".join(self.first[path]))
