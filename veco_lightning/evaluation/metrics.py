"""torchmetrics metrics for cross-lingual evaluation inside Lightning's validation and test loops.

Every metric keeps list ("cat") states tagged with the evaluation set they came from, so that one metric object
serves any number of language pairs, and under DDP each rank encodes its shard while ``compute`` sees all of it.
Duplicates that ``DistributedSampler`` adds to even out shards are removed by pair index before scoring.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from veco_lightning.evaluation.alignment import aer_from_counts
from veco_lightning.evaluation.retrieval import aligned_accuracy, bidirectional_nearest_neighbours


def _by_set(set_ids: torch.Tensor, index: torch.Tensor) -> dict[int, torch.Tensor]:
    """For each set, the positions of its unique pair indices, sorted by pair index."""
    groups = {}
    for set_id in set_ids.unique().tolist():
        positions = (set_ids == set_id).nonzero().squeeze(1)
        order = index[positions].argsort(stable=True)
        positions = positions[order]
        keep = torch.ones_like(positions, dtype=torch.bool)
        keep[1:] = index[positions][1:] != index[positions][:-1]
        groups[set_id] = positions[keep]
    return groups


class BitextRetrievalAccuracy(Metric):
    """Top-1 accuracy of retrieving each sentence's translation among all target sentences of its set, both ways
    (the Tatoeba protocol of XTREME): ``src2tgt`` (xx -> en for Tatoeba) and ``tgt2src``.

    Args:
        margin: score with the ratio margin of Artetxe & Schwenk (2019) instead of plain cosine.
        k: neighbourhood size of the margin.

    After ``compute``, ``retrieved`` holds each set's ``src2tgt`` answers: the target index every source sentence
    retrieved, in pair order (XTREME's Tatoeba submission).
    """

    full_state_update = False

    def __init__(self, margin: bool = False, k: int = 4) -> None:
        super().__init__()
        self.margin = margin
        self.k = k
        self.retrieved: dict[int, torch.Tensor] = {}
        for name in ("set_id", "index", "src", "tgt"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, set_id: torch.Tensor, index: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor) -> None:
        self.set_id.append(set_id)
        self.index.append(index)
        self.src.append(src.float())
        self.tgt.append(tgt.float())

    def compute(self) -> dict[int, dict[str, float]]:
        set_id, index = dim_zero_cat(self.set_id), dim_zero_cat(self.index)
        src, tgt = dim_zero_cat(self.src), dim_zero_cat(self.tgt)
        results, self.retrieved = {}, {}
        for s, pos in _by_set(set_id, index).items():
            fwd, _, bwd, _ = bidirectional_nearest_neighbours(src[pos], tgt[pos], margin=self.margin, k=self.k)
            results[s] = {**aligned_accuracy(fwd, bwd), "pairs": len(pos)}
            self.retrieved[s] = fwd.cpu()
        return results


class CountingMetric(Metric):
    """Sums per-pair count vectors by evaluation set; subclasses turn the sums into a score."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("set_id", "index", "counts"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, set_id: torch.Tensor, index: torch.Tensor, counts: torch.Tensor) -> None:
        """``counts``: ``(B, C)`` per-pair counts."""
        self.set_id.append(set_id)
        self.index.append(index)
        self.counts.append(counts.to(torch.float64))

    def totals(self) -> dict[int, torch.Tensor]:
        set_id, index, counts = dim_zero_cat(self.set_id), dim_zero_cat(self.index), dim_zero_cat(self.counts)
        return {s: counts[pos].sum(dim=0) for s, pos in _by_set(set_id, index).items()}


class SynonymRetrievalAccuracy(CountingMetric):
    """Does a word's contextual vector retrieve its dictionary translation among the partner sentence's words?
    Counts per pair: ``(hits src->tgt, hits tgt->src, synonym pairs)``."""

    def compute(self) -> dict[int, dict[str, float]]:
        return {
            s: {"src2tgt": (c[0] / c[2]).item() if c[2] else float("nan"),
                "tgt2src": (c[1] / c[2]).item() if c[2] else float("nan"),
                "word_pairs": int(c[2])}
            for s, c in self.totals().items()
        }


class AlignmentErrorRate(CountingMetric):
    """Corpus-level AER (Och & Ney, 2003): ``1 - (|A∩S| + |A∩P|) / (|A| + |S|)``.
    Counts per pair: ``(|A∩S|, |A∩P|, |A|, |S|)``."""

    def compute(self) -> dict[int, dict[str, float]]:
        results = {}
        for s, c in self.totals().items():
            a_s, a_p, a, sure = c.tolist()
            results[s] = {"aer": aer_from_counts(a_s, a_p, a, sure),
                          "precision": a_p / a if a else float("nan"), "recall": a_s / sure if sure else float("nan")}
        return results


class EmbeddingCollector(Metric):
    """Gathers sentence embeddings tagged ``(task, split, side, index)`` from all ranks, for scores that need whole
    pools at once (bitext mining). ``compute`` returns ``{(task, split, side): (N, D)}`` ordered by index."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("key", "index", "embedding"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, key: torch.Tensor, index: torch.Tensor, embedding: torch.Tensor) -> None:
        """``key``: ``(B, 3)`` task, split and side ids."""
        self.key.append(key)
        self.index.append(index)
        self.embedding.append(embedding.float())

    def compute(self) -> dict[tuple[int, int, int], torch.Tensor]:
        key, index, embedding = dim_zero_cat(self.key), dim_zero_cat(self.index), dim_zero_cat(self.embedding)
        # Encode (task, split, side) as one id so the shared grouping helper applies.
        flat = key[:, 0] * 4 + key[:, 1] * 2 + key[:, 2]
        return {(g // 4, (g % 4) // 2, g % 2): embedding[pos] for g, pos in _by_set(flat, index).items()}
