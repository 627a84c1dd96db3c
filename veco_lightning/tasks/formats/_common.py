"""What the readers and writers of every task family share: one file per call, UTF-8 decoding that names the bad
line, raising or counting bad lines, one-label-per-line files, and the grouped train/dev split."""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TypeVar

from veco_lightning.data.readers import BadLinePolicy, expand_globs
from veco_lightning.lexicon.languages import ISO_639_1, to_iso1
from veco_lightning.paths import resolve_path

log = logging.getLogger("veco_lightning.tasks.formats")

T = TypeVar("T")


def check_file_language(path: str, listed: str | None, found: str | None, evidence: str) -> None:
    """Warn when a file listed under the language ``listed`` holds another one, ``found``, as ``evidence`` says (its
    PAN-X prefixes, its language column, its name): another language's file listed there would be read and scored
    as ``listed`` without a word. Codes are compared as two-letter ones (``deu`` is ``de``); a key that is no
    language code (an MLQA set name) or an unknown ``found`` says nothing."""
    if listed is None or found is None or to_iso1(listed) not in ISO_639_1 or to_iso1(found) == to_iso1(listed):
        return
    log.warning("%s is listed under %s, but %s: is it the %s file? It is read and scored as %s", path, listed,
                evidence, found, listed)


def single_file(path: str | os.PathLike) -> str:
    """The one file ``path`` names (``~`` and ``pkg://`` resolved, a glob allowed if it matches exactly one file)."""
    resolved = resolve_path(os.fspath(path))
    if os.path.isfile(resolved):  # taken as it is, even when its name holds glob characters ("[1]")
        return resolved
    files = expand_globs(os.fspath(path))
    if len(files) != 1:
        raise ValueError(f"{os.fspath(path)!r} matches {len(files)} files ({files[0]}, ...): the task readers read one "
                         "file per call; give one file, or read each file of the glob in turn")
    return files[0]


def read_text(path: str) -> str:
    """The file decoded as UTF-8 (a byte-order mark dropped); bytes that are not UTF-8 are an error naming the line."""
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = raw.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}:{line_no}: not valid UTF-8 ({err.reason}); re-encode the file as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def text_lines(text: str) -> list[str]:
    """Physical lines without their ends (``\\n`` or ``\\r\\n``); the empty string after a final newline is dropped.

    Only ``\\n`` ends a line: texts may hold other Unicode line separators (U+2028 in Wikipedia text), which
    ``str.splitlines`` would split on."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class BadLines:
    """Raises on a bad line of one file, or (``policy="skip"``) counts it by reason for one warning at the end.

    Args:
        path: the file, named in the warning.
        policy: ``"error"`` or ``"skip"``.
        option: the reader's argument that sets the policy, named in the fix.
        unit: what a skip drops (``"line"``, ``"sentence"``, ``"question"``), named in the warning.
    """

    def __init__(self, path: str, policy: BadLinePolicy, option: str = "on_bad_line", unit: str = "line") -> None:
        if policy not in ("error", "skip"):
            raise ValueError(f"{option} must be 'error' or 'skip', got {policy!r}")
        self.path, self.policy, self.option, self.unit = path, policy, option, unit
        self.counts: Counter[str] = Counter()

    def __call__(self, where: str, problem: str, fix: str, reason: str) -> None:
        """Raise ``ValueError("{where}: {problem}; {fix}, or set {option}='skip' ...")`` or count ``reason``."""
        if self.policy == "skip":
            self.counts[reason] += 1
            return
        raise ValueError(f"{where}: {problem}; {fix}, or set {self.option}='skip' to skip such {self.unit}s with a "
                         "warning")

    def report(self) -> None:
        """Log one warning with the skipped counts (nothing when nothing was skipped)."""
        if self.counts:
            parts = ", ".join(f"{n} {reason}" for reason, n in self.counts.most_common())
            log.warning("Skipped %d %s(s) of %s (%s=skip): %s", sum(self.counts.values()), self.unit, self.path,
                        self.option, parts)


def json_records(path: str, lines: Sequence[str], bad: BadLines, expected: str) -> Iterator[tuple[int, dict]]:
    """``(line, object)`` for each non-blank line of a JSON-lines file (what ``datasets``' ``to_json`` writes); a
    line that is no JSON object is a bad line, whose fix says what ``expected`` each line to hold."""
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            bad(f"{path}:{line_no}", f"not valid JSON ({err})", "fix or remove the line", "not valid JSON")
            continue
        if not isinstance(record, dict):
            bad(f"{path}:{line_no}", "not a JSON object", f"each line must be an object with {expected}",
                "not a JSON object")
            continue
        yield line_no, record


def is_json_lines(path: str, lines: Sequence[str]) -> bool:
    """A ``.jsonl`` file, or one whose first non-blank lines (two, or the only one) each hold a whole JSON object
    (``{...}``): a JSON document spread over lines, as SQuAD files are, does not close its object on its first line,
    and a TSV line opening with ``{`` does not end with ``}``."""
    if path.endswith(".jsonl"):
        return True
    first = list(itertools.islice((line.strip() for line in lines if line.strip()), 2))
    return bool(first) and all(line.startswith("{") and line.endswith("}") for line in first)


def check_label_line(label: str, where: str) -> str:
    """A label as one line of a label file: non-empty, without line breaks or surrounding spaces."""
    if not isinstance(label, str) or not label or label != label.strip() or "\n" in label or "\r" in label:
        raise ValueError(f"{where}: label {label!r} cannot be written as one line of XTREME's layout; labels must be "
                         "non-empty strings without line breaks or surrounding spaces")
    return label


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text with ``\\n`` line ends, creating the parent folder."""
    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def grouped_split(items: Sequence[T], keys: Callable[[T], Iterable[Hashable]], dev_fraction: float,
                  seed: int) -> tuple[list[T], list[T]]:
    """Split ``items`` into ``(train, dev)`` so that items sharing any key land on the same side.

    Items are joined into groups (union-find over their keys); the groups are shuffled with ``random.Random(seed)``
    and taken into dev, whole, until dev holds at least ``round(dev_fraction * len(items))`` items; the rest is
    train. Both sides keep the input order. The same items, fraction and seed give the same split.
    """
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction must be between 0 and 1 (exclusive), got {dev_fraction}")
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Hashable, int] = {}
    for i, item in enumerate(items):
        for key in keys(item):
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):  # groups in order of their first item, so the shuffle alone decides
        groups.setdefault(root(i), []).append(i)
    ordered = list(groups.values())
    random.Random(seed).shuffle(ordered)
    target = round(dev_fraction * len(items))
    dev: set[int] = set()
    for group in ordered:
        if len(dev) >= target:
            break
        dev.update(group)
    if not dev or len(dev) == len(items):
        raise ValueError(f"cannot split {len(items)} item(s) in {len(ordered)} group(s) with dev_fraction="
                         f"{dev_fraction}: one side would be empty; use more data or another fraction")
    return [x for i, x in enumerate(items) if i not in dev], [x for i, x in enumerate(items) if i in dev]
