"""Language sampling with exponential smoothing, sharded across ranks.

Multilingual corpora are very unbalanced (CC-100 has ~1000x more English than Swahili). XLM and XLM-R sample
language i with probability q_i ∝ p_i^α, where p_i is its share of the data: α = 1 keeps the natural
distribution, α = 0 is uniform, and α = 0.3 (XLM-R) or 0.5 (VECO) up-samples low-resource languages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


def smoothed_probabilities(sizes: Sequence[int], alpha: float) -> torch.Tensor:
    """q_i = p_i^α / Σ_j p_j^α with p_i = sizes_i / Σ sizes. Empty sources get probability 0."""
    sizes_t = torch.tensor(sizes, dtype=torch.float64)
    if sizes_t.sum() <= 0:
        raise ValueError("All sources are empty: nothing to sample from")
    p = sizes_t / sizes_t.sum()
    q = torch.where(p > 0, p.pow(alpha), torch.zeros_like(p))
    return q / q.sum()


class LanguageSampler(DistributedSampler):
    """Draws indices into a concatenation of per-language datasets, each language with its smoothed probability.

    Within a language, examples are visited in a random permutation (re-drawn when exhausted), so a language that
    is up-sampled repeats its examples only after showing all of them. The whole epoch's sequence is a function of
    ``(seed, epoch)``; rank r takes positions r, r + W, r + 2W, … of it, so ranks see disjoint draws and the same
    global mixture. It subclasses ``DistributedSampler`` so that Lightning leaves it in place under DDP instead of
    wrapping it in another distributed sampler; ``set_epoch`` is called by Lightning every epoch.

    Args:
        sizes: number of examples of each language, in concatenation order.
        alpha: smoothing exponent (1 = natural distribution, 0 = uniform).
        num_samples: draws per epoch over all ranks (default: the total number of examples).
        num_replicas: world size (default: from ``torch.distributed`` when initialised, else 1).
        rank: this process's rank (default: as above).
        seed: base seed, identical on every rank.
        lengths: example lengths; with ``bucket_batches`` > 0 each rank sorts its draws by length within windows of
            ``batch_size * bucket_batches`` and shuffles whole batches, so that a loader with ``batch_size`` yields
            batches of similar lengths (little padding) in random order.
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
        lengths: Sequence[int] | None = None,
        batch_size: int = 1,
        bucket_batches: int = 0,
    ) -> None:
        initialised = dist.is_available() and dist.is_initialized()
        self.num_replicas = num_replicas if num_replicas is not None else (dist.get_world_size() if initialised else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if initialised else 0)
        self.sizes = list(sizes)
        self.probabilities = smoothed_probabilities(self.sizes, alpha)
        total = num_samples if num_samples is not None else sum(self.sizes)
        self.num_samples = total // self.num_replicas  # per rank
        if self.num_samples == 0:
            raise ValueError(f"{total} samples per epoch cannot feed {self.num_replicas} ranks: add data")
        self.total_size = self.num_samples * self.num_replicas
        self.offsets = torch.tensor([0, *self.sizes[:-1]]).cumsum(0)
        self.seed = seed
        self.epoch = 0
        self.lengths = torch.as_tensor(lengths) if lengths is not None else None
        self.batch_size = batch_size
        self.bucket_batches = bucket_batches

    def global_order(self) -> torch.Tensor:
        """The epoch's full sequence of indices, before sharding: ``(total_size,)``."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        languages = torch.multinomial(self.probabilities.float(), self.total_size, True, generator=generator)
        order = torch.empty(self.total_size, dtype=torch.long)
        for lang, size in enumerate(self.sizes):
            slots = (languages == lang).nonzero().squeeze(1)
            if len(slots) == 0:
                continue
            repeats = -(-len(slots) // size)
            perm = torch.cat([torch.randperm(size, generator=generator) for _ in range(repeats)])[: len(slots)]
            order[slots] = self.offsets[lang] + perm
        return order

    def bucketed(self, local: torch.Tensor) -> torch.Tensor:
        """Sort ``local`` by length within windows, cut into batches, shuffle the full batches (partial one last)."""
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 4099 + self.rank)
        window = self.batch_size * self.bucket_batches
        batches = []
        for start in range(0, len(local), window):
            chunk = local[start : start + window]
            batches.extend(chunk[self.lengths[chunk].argsort(stable=True)].split(self.batch_size))
        full = [b for b in batches if len(b) == self.batch_size]
        partial = [b for b in batches if len(b) != self.batch_size]
        order = torch.randperm(len(full), generator=generator).tolist()
        return torch.cat([full[i] for i in order] + partial)

    def __iter__(self) -> Iterator[int]:
        local = self.global_order()[self.rank : self.total_size : self.num_replicas]
        if self.lengths is not None and self.bucket_batches > 0:
            local = self.bucketed(local)
        return iter(local.tolist())

    def __len__(self) -> int:
        return self.num_samples
