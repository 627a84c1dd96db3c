"""Where tokenized corpora are cached: a path keyed by everything that changes the tokens."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

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


def file_identity(files: list[str]) -> list[tuple[str, int, float]]:
    """Path, size and modification time of each file: a changed corpus file invalidates its cache."""
    return [(f, os.path.getsize(f), os.path.getmtime(f)) for f in files]


def cache_path(cache_dir: str, kind: str, name: str, tokenizer: PreTrainedTokenizerBase, *identity: Any) -> str:
    """``<cache_dir>/<kind>/<name>-<hash of identity and tokenizer>``."""
    key = json.dumps([*identity, tokenizer_fingerprint(tokenizer)], default=str)
    return os.path.join(cache_dir, kind, f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}")
