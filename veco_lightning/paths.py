"""Paths in configs: ``~`` and ``pkg://package/...`` (a file inside an installed package, e.g. the demo corpus)."""

from __future__ import annotations

import json
import logging
import os
from importlib import resources

log = logging.getLogger(__name__)

PACKAGE_PREFIX = "pkg://"
_REPORTED: set[str] = set()  # sentence-transformers folders whose subfolder was named in the log


def resolve_path(pattern: str) -> str:
    """Expand ``~`` and the ``pkg://`` prefix, which points inside the installed package (the demo corpus)."""
    pattern = os.fspath(pattern)
    if pattern.startswith(PACKAGE_PREFIX):
        package, _, rest = pattern[len(PACKAGE_PREFIX) :].partition("/")
        return os.path.join(str(resources.files(package)), rest)
    return os.path.expanduser(pattern)


def model_dir(path: str) -> str:
    """The directory that holds the Hugging Face model (``config.json``, weights, tokenizer) of ``path``: ``path``
    itself, or, for a sentence-transformers model that keeps its ``Transformer`` module in a subfolder (the layout
    before sentence-transformers 2, ``0_Transformer/``, named by ``modules.json``), that subfolder.

    The package reads the ``Transformer`` module only; the sentence embedding is pooled as
    ``model.evaluation.pooling`` says (see :func:`sentence_head_modules`)."""
    modules = sentence_transformers_modules(path)
    if not modules:
        return path
    inner = path
    if not os.path.exists(os.path.join(path, "config.json")):
        inner = next((os.path.join(path, m["path"]) for m in modules if str(m.get("type", "")).endswith(".Transformer")
                      and m.get("path") and os.path.isdir(os.path.join(path, m["path"]))), path)
    if inner != path and path not in _REPORTED:
        _REPORTED.add(path)
        log.info("%s is a sentence-transformers model: reading its Transformer module, %s", path, inner)
    return inner


def sentence_head_modules(path: str) -> list[str]:
    """The modules (by class name) a sentence-transformers model in the folder ``path`` puts its pooled embedding
    through besides ``Normalize`` (LaBSE: ``["Dense"]``); none for another folder. Scoring such a model's
    ``Transformer`` states pooled as ``mean`` or ``cls`` is not scoring its own embedding."""
    return [str(m.get("type", "?")).rpartition(".")[2] for m in sentence_transformers_modules(path)
            if not str(m.get("type", "")).endswith((".Transformer", ".Pooling", ".Normalize"))]


def sentence_transformers_modules(path: str) -> list[dict]:
    """The modules ``modules.json`` lists in the directory ``path`` (none when there is no readable one)."""
    listing = os.path.join(path, "modules.json")
    if not os.path.isdir(path) or not os.path.isfile(listing):
        return []
    try:
        with open(listing, encoding="utf-8") as handle:
            modules = json.load(handle)
    except (OSError, ValueError):
        return []
    return [m for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []


def looks_local(name: str) -> bool:
    """Whether ``name`` can only be a filesystem path, not a Hugging Face Hub id (``name`` or ``org/name``, as in
    ``FacebookAI/xlm-roberta-base``): absolute, relative to ``.`` or ``~``, with a backslash, a trailing or a second
    slash, or a space."""
    return (
        os.path.isabs(name) or name.startswith((".", "~")) or "\\" in name
        or name.endswith("/") or name.count("/") > 1 or " " in name
    )


def recorded_path(name: str | None) -> str | None:
    """``name`` as a checkpoint records it: an existing local path made absolute (recorded relative, it would not be
    found from another working directory: an export or evaluation run elsewhere), a ``pkg://`` path or a Hub id as
    given."""
    if name is None or name.startswith(PACKAGE_PREFIX):
        return name
    path = os.path.expanduser(name)
    return os.path.abspath(path) if os.path.exists(path) else name


def offline(*variables: str) -> bool:
    """Whether one of the environment ``variables`` (``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``) turns the Hugging
    Face libraries offline (they read ``1``, ``true``, ``yes`` and ``on``)."""
    return any(os.environ.get(name, "0").lower() in ("1", "true", "yes", "on") for name in variables)
