"""Language sampling with exponential smoothing, sharded across ranks, in memory that does not grow with the data.

Multilingual corpora are very unbalanced (CC-100 has ~1000x more English than Swahili). XLM and XLM-R sample
language i with probability q_i ∝ p_i^α, where p_i is its share of the data: α = 1 keeps the natural
distribution, α = 0 is uniform, and α = 0.3 (XLM-R) or 0.5 (VECO) up-samples low-resource languages.

The epoch's order is never materialised: it is generated chunk by chunk (a chunk's language draws come from a
generator seeded by ``(seed, epoch, chunk)``), and the n-th draw of a language maps to an example through a keyed
pseudo-random permutation of that language (a Feistel network with cycle walking), computed from the draw number
alone. A rank therefore holds one chunk at a time and its state is ``(epoch, yielded)``: O(1) in the data, where a
materialised order costs 8 bytes per example on every rank (4 GB at 0.5 B blocks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

_LOCAL_CHUNK = 8192  # draws per rank generated at once
_MASK32 = 0xFFFFFFFF


def smoothed_probabilities(sizes: Sequence[int], alpha: float) -> torch.Tensor:
    """q_i = p_i^α / Σ_j p_j^α with p_i = sizes_i / Σ sizes. Empty sources get probability 0."""
    sizes_t = torch.tensor(sizes, dtype=torch.float64)
    if sizes_t.sum() <= 0:
        raise ValueError("All sources are empty: nothing to sample from")
    p = sizes_t / sizes_t.sum()
    q = torch.where(p > 0, p.pow(alpha), torch.zeros_like(p))
    return q / q.sum()


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply rounds), element-wise on int64 tensors holding values < 2^32.

    The multipliers are below 2^31, so every product fits in a signed 64-bit integer before masking."""
    x = (x ^ (x >> 16)) * 0x45D9F3B & _MASK32
    x = (x ^ (x >> 16)) * 0x45D9F3B & _MASK32
    return x ^ (x >> 16)


def permute(index: torch.Tensor, n: int, key: torch.Tensor | int) -> torch.Tensor:
    """Element-wise image of ``index`` (values in ``[0, n)``) under a pseudo-random permutation of ``[0, n)`` chosen
    by ``key`` (an int, or an int64 tensor of per-element keys below 2^32).

    A 4-round balanced Feistel network on the smallest even number of bits that holds ``n - 1`` is a bijection of
    ``[0, 4^k)``; cycle walking (re-applying it to values that land at or above ``n``) restricts it to ``[0, n)``.
    Needs no memory beyond its arguments, whatever ``n`` is."""
    if n <= 1:
        return torch.zeros_like(index)
    bits = max(2, (n - 1).bit_length())
    half = (bits + 1) // 2
    low = (1 << half) - 1
    key = torch.as_tensor(key, dtype=torch.long) & _MASK32
    x = index.clone()
    todo = torch.ones_like(x, dtype=torch.bool)
    while True:
        left, right = x >> half, x & low
        for round_ in range(4):
            left, right = right, left ^ (_mix(right ^ _mix(key + round_)) & low)
        x = torch.where(todo, (left << half) | right, x)
        todo = x >= n
        if not todo.any():
            return x


class LanguageSampler(DistributedSampler):
    """Draws indices into a concatenation of per-language datasets, each language with its smoothed probability.

    Within a language, examples are visited in a random permutation (a new one for every pass), so a language
    that is up-sampled repeats its examples only after showing all of them. The whole epoch's sequence is a function
    of ``(seed, epoch)``; rank r takes positions r, r + W, r + 2W, … of it, so ranks see disjoint draws and the same
    global mixture. It subclasses ``DistributedSampler`` so that Lightning leaves it in place under DDP instead of
    wrapping it in another distributed sampler; ``set_epoch`` is called by Lightning every epoch.

    The sequence is generated lazily (see the module docstring): memory and ``state_dict`` do not grow with the
    data. ``state_dict`` / ``load_state_dict`` (the torchdata ``Stateful`` protocol, used by ``StatefulDataLoader``)
    hold the epoch and the number of indices this rank has yielded; a resumed iterator continues at that position,
    regenerating only the language counts before it.

    Args:
        sizes: number of examples of each language, in concatenation order.
        alpha: smoothing exponent (1 = natural distribution, 0 = uniform).
        num_samples: draws per epoch over all ranks (default: the total number of examples).
        num_replicas: world size (default: from ``torch.distributed`` when initialised, else 1).
        rank: this process's rank (default: as above).
        seed: base seed, identical on every rank.
        lengths: example lengths, or any integer sort keys (any object indexable by an int64 array or tensor, such
            as :class:`~veco_lightning.data.parallel.PairLengthKeys` over memory-mapped columns); with
            ``bucket_batches`` > 0 each rank sorts its draws by length within windows of
            ``batch_size * bucket_batches`` and shuffles the batches of each window, so that a loader with
            ``batch_size`` yields batches of similar lengths (little padding) in random order.
        batch_size: the loader's batch size (for bucketing).
        bucket_batches: batches per sorting window (0: no bucketing).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        alpha: float = 0.3,
        num_samples: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
        seed: int = 0,
        lengths: Any = None,
        batch_size: int = 1,
        bucket_batches: int = 0,
    ) -> None:
        initialised = dist.is_available() and dist.is_initialized()
        self.num_replicas = num_replicas if num_replicas is not None else (dist.get_world_size() if initialised else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if initialised else 0)
        self.sizes = [int(s) for s in sizes]
        self.probabilities = smoothed_probabilities(self.sizes, alpha)
        total = num_samples if num_samples is not None else sum(self.sizes)
        self.num_samples = total // self.num_replicas  # per rank
        if self.num_samples == 0:
            raise ValueError(f"{total} samples per epoch cannot feed {self.num_replicas} ranks: add data")
        self.total_size = self.num_samples * self.num_replicas
        self.offsets = torch.tensor([0, *self.sizes[:-1]]).cumsum(0)
        self.seed = seed
        self.epoch = 0
        self.lengths = np.asarray(lengths) if isinstance(lengths, (list, tuple, torch.Tensor)) else lengths
        self.batch_size = batch_size
        self.bucket_batches = bucket_batches
        self.yielded = 0
        self._resume_at: int | None = None

    # -- the global sequence, one chunk at a time ------------------------------------------------------------------

    def _key(self, *parts: int) -> int:
        key = 0
        for part in (self.seed, self.epoch, *parts):
            key = int(_mix(torch.tensor((key * 0x9E3779B1 + part + 1) & _MASK32)))
        return key

    def _languages(self, chunk: int) -> torch.Tensor:
        """The language of every global position of ``chunk``."""
        size = _LOCAL_CHUNK * self.num_replicas
        count = min(size, self.total_size - chunk * size)
        generator = torch.Generator().manual_seed(self._key(0, chunk))
        return torch.multinomial(self.probabilities.float(), count, True, generator=generator)

    def _chunk(self, chunk: int, drawn: torch.Tensor) -> torch.Tensor:
        """The global indices of ``chunk``'s positions, given how often each language was ``drawn`` before it (updated
        in place)."""
        languages = self._languages(chunk)
        out = torch.empty(len(languages), dtype=torch.long)
        for lang in languages.unique().tolist():
            slots = (languages == lang).nonzero().squeeze(1)
            size = self.sizes[lang]
            number = drawn[lang] + torch.arange(len(slots))  # the language's draw numbers in this epoch
            passes = number // size
            keys = _mix((passes * 0x2545F491 + self._key(1, lang)) & _MASK32)
            out[slots] = self.offsets[lang] + permute(number % size, size, keys)
            drawn[lang] += len(slots)
        return out

    def _local(self, start: int = 0) -> Iterator[torch.Tensor]:
        """This rank's draws from local position ``start`` (rounded down to a chunk), chunk by chunk: yields
        ``(first local position, indices)``."""
        chunks = -(-self.num_samples // _LOCAL_CHUNK)
        drawn = torch.zeros(len(self.sizes), dtype=torch.long)
        first = start // _LOCAL_CHUNK
        for chunk in range(first):  # only the counts of the chunks before
            drawn += torch.bincount(self._languages(chunk), minlength=len(self.sizes))
        for chunk in range(first, chunks):
            yield chunk * _LOCAL_CHUNK, self._chunk(chunk, drawn)[self.rank :: self.num_replicas]

    def global_order(self) -> torch.Tensor:
        """The epoch's full sequence of indices before sharding, ``(total_size,)`` (materialised: for inspection)."""
        drawn = torch.zeros(len(self.sizes), dtype=torch.long)
        chunks = -(-self.num_samples // _LOCAL_CHUNK)
        return torch.cat([self._chunk(chunk, drawn) for chunk in range(chunks)])

    # -- this rank's stream -----------------------------------------------------------------------------------------

    def _window(self) -> int:
        if self.lengths is not None and self.bucket_batches > 0:
            return self.batch_size * self.bucket_batches
        return _LOCAL_CHUNK

    def _bucketed(self, window: torch.Tensor, number: int) -> torch.Tensor:
        """Sort a window by length, cut it into batches, shuffle the full batches (a partial one goes last)."""
        lengths = torch.as_tensor(self.lengths[window.numpy()])
        batches = window[lengths.argsort(stable=True)].split(self.batch_size)
        full = [b for b in batches if len(b) == self.batch_size]
        partial = [b for b in batches if len(b) != self.batch_size]
        generator = torch.Generator().manual_seed(self._key(2, self.rank, number))
        order = torch.randperm(len(full), generator=generator).tolist()
        return torch.cat([full[i] for i in order] + partial)

    def _windows(self, start: int) -> Iterator[tuple[int, torch.Tensor]]:
        """This rank's stream as windows ``(first local position, indices)``, from the window holding ``start``."""
        size = self._window()
        first = start // size * size
        pending, pending_at = torch.empty(0, dtype=torch.long), first
        for at, local in self._local(first):
            if at + len(local) <= first:
                continue
            local = local[max(0, first - at) :]
            pending = torch.cat([pending, local])
            while len(pending) >= size:
                yield pending_at, pending[:size]
                pending, pending_at = pending[size:], pending_at + size
        if len(pending):
            yield pending_at, pending

    def __iter__(self) -> Iterator[int]:
        start = self._resume_at or 0
        self._resume_at = None
        self.yielded = start
        bucketing = self.lengths is not None and self.bucket_batches > 0
        for at, window in self._windows(start):
            if bucketing:
                window = self._bucketed(window, at // self._window())
            for index in window[max(0, start - at) :].tolist():
                self.yielded += 1
                yield index

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self._resume_at = None
        self.epoch = epoch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "yielded": self.yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self._resume_at = int(state["yielded"])
        self.yielded = self._resume_at
