"""Which data sources feed each training step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch


class ScheduledLoader:
    """Combines per-source loaders; each step takes a batch from a subset of sources drawn with fixed proportions.

    Step ``t`` draws every source independently with probability ``proportions[name]`` (a proportion of 1 feeds
    every step), redrawing if none was chosen. The draw uses a generator seeded with ``(seed, t)``, so every rank
    takes the same sources at the same step (ranks must agree, or the cross-rank gather of the contrastive loss
    would pair different objectives). A source whose loader is exhausted starts its next epoch
    (``sampler.set_epoch``) and continues: the run length is set by ``max_steps``.

    The position (step, and each loader's own state when it has ``state_dict``) is saved in checkpoints, so a
    resumed run continues the same schedule and the same data order.

    Args:
        loaders: source name -> loader yielding ``{input: tensors}`` batches.
        proportions: source name -> probability of feeding a step (missing sources: 1.0).
        seed: schedule seed.
        combine: turns the batches of a step's sources (in source order) into one; default: their union, which
            requires every input name to come from one source.
    """

    def __init__(self, loaders: dict[str, Any], proportions: dict[str, float] | None = None, seed: int = 0,
                 combine: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None) -> None:
        unknown = set(proportions or {}) - set(loaders)
        if unknown:
            raise ValueError(f"proportions name unknown sources {sorted(unknown)}; sources: {sorted(loaders)}")
        self.loaders = loaders
        self.proportions = torch.tensor([float((proportions or {}).get(name, 1.0)) for name in loaders])
        if (self.proportions <= 0).all():
            raise ValueError("At least one source needs a positive proportion")
        self.seed = seed
        self.combine = combine or _union
        self.step = 0
        self.epochs = dict.fromkeys(loaders, 0)
        self._iterators: dict[str, Iterator] = {}

    def sources_at(self, step: int) -> list[str]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        while True:
            chosen = torch.rand(len(self.loaders), generator=generator) < self.proportions
            if chosen.any():
                return [name for name, take in zip(self.loaders, chosen.tolist()) if take]

    def _next(self, name: str) -> Any:
        if name not in self._iterators:
            self._iterators[name] = iter(self.loaders[name])
        try:
            return next(self._iterators[name])
        except StopIteration:
            self.epochs[name] += 1
            sampler = getattr(self.loaders[name], "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.epochs[name])
            self._iterators[name] = iter(self.loaders[name])
            return next(self._iterators[name])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            sources = self.sources_at(self.step)
            self.step += 1
            yield self.combine([self._next(name) for name in sources])

    def __len__(self) -> int:
        return max(len(loader) for loader in self.loaders.values())

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epochs": dict(self.epochs),
            "loaders": {name: loader.state_dict() for name, loader in self.loaders.items()
                        if hasattr(loader, "state_dict")},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]
        self.epochs = dict(state["epochs"])
        for name, loader_state in state["loaders"].items():
            sampler = getattr(self.loaders[name], "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.epochs[name])
            self.loaders[name].load_state_dict(loader_state)
        self._iterators = {}


def _union(batches: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for batch in batches:
        clash = merged.keys() & batch.keys()
        if clash:
            raise ValueError(f"Two sources yield the same inputs {sorted(clash)}: give ScheduledLoader a combine "
                             "function")
        merged.update(batch)
    return merged
