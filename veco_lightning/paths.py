"""Paths in configs: ``~`` and ``pkg://package/...`` (a file inside an installed package, e.g. the demo corpus)."""

from __future__ import annotations

import os
from importlib import resources

PACKAGE_PREFIX = "pkg://"


def resolve_path(pattern: str) -> str:
    """Expand ``~`` and the ``pkg://`` prefix, which points inside the installed package (the demo corpus)."""
    pattern = os.fspath(pattern)
    if pattern.startswith(PACKAGE_PREFIX):
        package, _, rest = pattern[len(PACKAGE_PREFIX) :].partition("/")
        return os.path.join(str(resources.files(package)), rest)
    return os.path.expanduser(pattern)
