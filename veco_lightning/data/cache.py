"""Where tokenized corpora are cached: a path keyed by everything that changes the tokens.

Every cache level (the raw text ``datasets`` builds from a generator, the tokenized and packed blocks, the tokenized
pairs and their mined synonyms, the dictionaries they were mined with) is keyed by :func:`file_identity` of the files
it was built from: editing a file in place, even to the same size, invalidates it, at the cost of one ``stat`` per
file (cheap for terabytes).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """A stable hash of a tokenizer's behaviour (its serialised ``tokenizers`` pipeline, else its vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        payload = json.dumps(sorted(tokenizer.get_vocab().items()))
    else:
        # Calls with truncation=True / padding record those settings in the pipeline; they do not change tokens.
        state = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        payload = json.dumps(state, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def file_identity(files: list[str]) -> list[tuple[str, int, int]]:
    """Path, size and modification time (in nanoseconds) of each file: what identifies its content cheaply, so that a
    file edited in place (same path, even the same size) invalidates every cache built from it."""
    identity = []
    for path in files:
        stat = os.stat(path)
        identity.append((path, stat.st_size, stat.st_mtime_ns))
    return identity


def content_key(*parts: Any) -> str:
    """A short hash of JSON-serialisable parts (file identities, reading options): a cache name or fingerprint."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def cache_path(cache_dir: str, kind: str, name: str, tokenizer: PreTrainedTokenizerBase, *identity: Any) -> str:
    """``<cache_dir>/<kind>/<name>-<hash of identity and tokenizer>``."""
    return os.path.join(cache_dir, kind, f"{name}-{content_key(*identity, tokenizer_fingerprint(tokenizer))}")
