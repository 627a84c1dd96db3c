"""Lazy package namespaces: a package lists its public names and the modules that define them, and a name's
module is imported only when the name is first used.

This keeps the plain-PyTorch parts usable alone: ``import veco_lightning.losses`` or ``veco_lightning.lexicon`` never
loads Lightning, ``datasets`` or the CLI, although ``veco_lightning.VecoPretrainModule`` still works.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package whose public ``name`` lives in module ``exports[name]``.

    Args:
        package: the package's ``__name__``.
        exports: public name -> module path relative to the package (``"monolingual"``) or absolute.
    """

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if module.startswith("veco_lightning") else f"{package}.{module}"
        return getattr(importlib.import_module(path), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
