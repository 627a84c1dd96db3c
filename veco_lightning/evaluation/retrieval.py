"""Parallel sentence retrieval (the Tatoeba protocol of XTREME / LASER).

Each of ``N`` source sentences has exactly one translation among ``N`` target sentences, and pair ``i``'s gold
is index ``i``. A sentence embedding retrieves the target with the highest score; the metric is top-1 accuracy,
reported in both directions (XTREME reports xx→en).

Two scores are supported:

* plain cosine similarity (XTREME's Tatoeba baseline);
* the *ratio margin* of Artetxe & Schwenk (2019), which divides the cosine by the average similarity of both
  sentences to their ``k`` nearest neighbours. It corrects for *hubness*: some embeddings are close to
  everything, and cosine retrieval then returns them for many queries. Margin is also what BUCC mining uses
  (:mod:`veco_lightning.evaluation.bitext_mining`).

Everything is computed in row chunks of at most ``chunk_size x M`` entries, so a 10k x 10k evaluation never
builds the full similarity matrix, and no loop runs over pairs in Python.

References:
    - Artetxe & Schwenk, "Margin-based Parallel Corpus Mining with Multilingual Sentence Embeddings", ACL 2019
      (ratio margin, ``k = 4``).
    - Artetxe & Schwenk, "Massively Multilingual Sentence Embeddings for Zero-Shot Cross-Lingual Transfer and
      Beyond", TACL 2019 (LASER; the Tatoeba test set).
    - Hu et al., "XTREME: A Massively Multilingual Multi-task Benchmark for Evaluating Cross-lingual
      Generalization", ICML 2020 (Tatoeba and BUCC protocols for pretrained encoders).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_CHUNK_SIZE = 1024


def _normalize(x: Tensor, name: str) -> Tensor:
    """L2-normalised float32 copy of ``x`` ``(N, D)``; float32 because bf16 cosines tie far too often."""
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) tensor of sentence embeddings, got shape {tuple(x.shape)}")
    return F.normalize(x.detach().float(), p=2, dim=1)  # zero vectors stay zero (cosine 0 with everything)


def _check_dims(src: Tensor, tgt: Tensor) -> None:
    if src.dim() == 2 and tgt.dim() == 2 and src.shape[1] != tgt.shape[1]:
        raise ValueError(f"src and tgt embeddings differ in width: {src.shape[1]} vs {tgt.shape[1]}")


def cosine_similarity_matrix(src: Tensor, tgt: Tensor) -> Tensor:
    """All pairwise cosine similarities.

    Args:
        src: ``(N, D)`` embeddings (any float dtype; computed in float32).
        tgt: ``(M, D)`` embeddings.

    Returns:
        ``(N, M)`` float32 matrix, ``[i, j] = cos(src_i, tgt_j)``.
    """
    _check_dims(src, tgt)
    return _normalize(src, "src") @ _normalize(tgt, "tgt").T  # (N, D) @ (D, M) -> (N, M)


def _knn_mean(queries: Tensor, pool: Tensor, k: int, chunk_size: int) -> Tensor:
    """Mean cosine of each (normalised) query ``(N, D)`` to its ``min(k, M)`` nearest (normalised) pool rows."""
    if pool.shape[0] == 0:
        raise ValueError("cannot compute nearest neighbours in an empty pool")
    k = max(1, min(k, pool.shape[0]))
    out = [(queries[s : s + chunk_size] @ pool.T).topk(k, dim=1).values.mean(dim=1)  # (c, M) -> (c,)
           for s in range(0, queries.shape[0], chunk_size)]
    return torch.cat(out) if out else queries.new_zeros(0)


def ratio_margin_scores(src: Tensor, tgt: Tensor, k: int = 4) -> Tensor:
    """Ratio-margin scores (Artetxe & Schwenk 2019, Eq. 2 with the "ratio" margin).

    ``margin(x, y) = cos(x, y) / (Σ_{z∈NN_k(x)} cos(x, z) / 2k + Σ_{z∈NN_k(y)} cos(y, z) / 2k)``, where
    ``NN_k(x)`` are the ``k`` targets nearest to source ``x`` and ``NN_k(y)`` the ``k`` sources nearest to target
    ``y``. ``k`` is clipped to the size of the pool searched (``M`` for sources, ``N`` for targets).

    Args:
        src: ``(N, D)`` source embeddings.
        tgt: ``(M, D)`` target embeddings.
        k: neighbourhood size (4 in the paper, LASER and XTREME).

    Returns:
        ``(N, M)`` float32 margin scores.
    """
    sim = cosine_similarity_matrix(src, tgt)  # (N, M)
    if sim.numel() == 0:
        return sim
    fwd = sim.topk(max(1, min(k, sim.shape[1])), dim=1).values.mean(dim=1)  # (N,) mean cos to k nearest targets
    bwd = sim.topk(max(1, min(k, sim.shape[0])), dim=0).values.mean(dim=0)  # (M,) mean cos to k nearest sources
    return sim / ((fwd[:, None] + bwd[None, :]) / 2)


def top1(scores: Tensor) -> Tensor:
    """Index of the best column of every row of ``scores`` ``(N, M)``; ties go to the lowest index.

    ``torch.argmax`` documents first-occurrence tie breaking, which is what makes results reproducible when
    duplicated sentences give exactly equal scores.
    """
    if scores.dim() != 2 or scores.shape[1] == 0:
        raise ValueError(f"top1 needs an (N, M) score matrix with M > 0, got shape {tuple(scores.shape)}")
    return scores.argmax(dim=1)


def _nearest(queries: Tensor, pool: Tensor, q_knn: Tensor | None, p_knn: Tensor | None, chunk_size: int
             ) -> tuple[Tensor, Tensor]:
    """Top-1 pool index and its score for every (normalised) query, chunk by chunk."""
    indices, scores = [], []
    for s in range(0, queries.shape[0], chunk_size):
        block = queries[s : s + chunk_size] @ pool.T  # (c, M) cosines
        if q_knn is not None and p_knn is not None:
            block = block / ((q_knn[s : s + chunk_size, None] + p_knn[None, :]) / 2)  # ratio margin
        best = top1(block)  # (c,)
        indices.append(best)
        scores.append(block.gather(1, best[:, None]).squeeze(1))
    if not indices:
        return torch.zeros(0, dtype=torch.long, device=queries.device), queries.new_zeros(0)
    return torch.cat(indices), torch.cat(scores)


def bidirectional_nearest_neighbours(src: Tensor, tgt: Tensor, margin: bool = False, k: int = 4,
                                     chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Nearest target of every source and nearest source of every target, by cosine or ratio margin.

    Shared by Tatoeba retrieval and BUCC mining; the ``k``-NN averages are computed once and reused for both
    directions.

    Args:
        src: ``(N, D)`` source embeddings.
        tgt: ``(M, D)`` target embeddings.
        margin: score with :func:`ratio_margin_scores` instead of cosine.
        k: margin neighbourhood size.
        chunk_size: rows scored at once (memory is ``chunk_size x max(N, M)`` floats).

    Returns:
        ``(fwd_index (N,), fwd_score (N,), bwd_index (M,), bwd_score (M,))``; ``fwd_index[i]`` is a target index,
        ``bwd_index[j]`` a source index.
    """
    _check_dims(src, tgt)
    s, t = _normalize(src, "src"), _normalize(tgt, "tgt")
    if s.shape[0] == 0 or t.shape[0] == 0:
        raise ValueError(f"need at least one source and one target sentence, got {s.shape[0]} and {t.shape[0]}")
    s_knn = _knn_mean(s, t, k, chunk_size) if margin else None  # (N,)
    t_knn = _knn_mean(t, s, k, chunk_size) if margin else None  # (M,)
    fwd_index, fwd_score = _nearest(s, t, s_knn, t_knn, chunk_size)
    bwd_index, bwd_score = _nearest(t, s, t_knn, s_knn, chunk_size)
    return fwd_index, fwd_score, bwd_index, bwd_score


def retrieval_accuracy(src: Tensor, tgt: Tensor, margin: bool = False, k: int = 4,
                       chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[str, float]:
    """Top-1 retrieval accuracy in both directions when pair ``i``'s gold is index ``i`` (Tatoeba).

    Args:
        src: ``(N, D)`` source-language embeddings (e.g. mean-pooled layer states).
        tgt: ``(N, D)`` embeddings of their translations, in the same order.
        margin: use ratio-margin scoring (Artetxe & Schwenk 2019) instead of cosine.
        k: margin neighbourhood size.
        chunk_size: rows scored at once.

    Returns:
        ``{"src2tgt": accuracy, "tgt2src": accuracy}``, fractions in ``[0, 1]``.
    """
    if src.dim() == 2 and tgt.dim() == 2 and src.shape[0] != tgt.shape[0]:
        raise ValueError(f"Tatoeba retrieval needs aligned lists (gold of i is i): got {src.shape[0]} sources and "
                         f"{tgt.shape[0]} targets")
    fwd_index, _, bwd_index, _ = bidirectional_nearest_neighbours(src, tgt, margin=margin, k=k, chunk_size=chunk_size)
    return aligned_accuracy(fwd_index, bwd_index)


def aligned_accuracy(fwd_index: Tensor, bwd_index: Tensor) -> dict[str, float]:
    """``{"src2tgt", "tgt2src"}`` top-1 accuracy of :func:`bidirectional_nearest_neighbours`' indices when pair
    ``i``'s gold is index ``i``."""
    n = fwd_index.shape[0]
    gold = torch.arange(n, device=fwd_index.device)
    # Integer counts divided in Python: a float32 mean would turn 37/50 into 0.74000001.
    return {
        "src2tgt": int((fwd_index == gold).sum().item()) / n,
        "tgt2src": int((bwd_index == gold).sum().item()) / n,
    }
