"""Tatoeba retrieval against a slow, obvious re-implementation (Python loops over pairs, explicit sorting)."""

import math

import pytest
import torch

from veco_lightning.evaluation.retrieval import (
    bidirectional_nearest_neighbours,
    cosine_similarity_matrix,
    ratio_margin_scores,
    retrieval_accuracy,
    top1,
)

# --- reference implementation: plain Python, written from the paper's formula -------------------------------


def ref_cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def ref_scores(src, tgt, margin, k):
    """Score matrix as nested lists: cosine, or Artetxe & Schwenk's ratio margin."""
    cos = [[ref_cos(x, y) for y in tgt] for x in src]
    if not margin:
        return cos
    kx, ky = min(k, len(tgt)), min(k, len(src))
    fwd = [sum(sorted(cos[i], reverse=True)[:kx]) / (2 * kx) for i in range(len(src))]
    bwd = [sum(sorted((cos[i][j] for i in range(len(src))), reverse=True)[:ky]) / (2 * ky) for j in range(len(tgt))]
    return [[cos[i][j] / (fwd[i] + bwd[j]) for j in range(len(tgt))] for i in range(len(src))]


def ref_argmax(row):
    best = 0
    for j in range(1, len(row)):
        if row[j] > row[best]:
            best = j
    return best


def ref_transpose(matrix):
    return [list(col) for col in zip(*matrix)]


def ref_accuracy(src, tgt, margin, k):
    scores = ref_scores(src, tgt, margin, k)
    fwd = sum(ref_argmax(row) == i for i, row in enumerate(scores)) / len(src)
    bwd = sum(ref_argmax(col) == j for j, col in enumerate(ref_transpose(scores))) / len(tgt)
    return {"src2tgt": fwd, "tgt2src": bwd}


def ref_min_gap(scores):
    """Smallest best-minus-second-best gap over rows: the test data must not hinge on float rounding."""
    gaps = []
    for row in scores:
        top = sorted(row, reverse=True)
        gaps.append(top[0] - top[1])
    return min(gaps)


# --- test data ---------------------------------------------------------------------------------------------


def planted_embeddings(n=50, dim=16, seed=0):
    """Translations = source + noise, with near-duplicate sources and targets and some unrelated targets."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(n, dim, generator=g)
    src[11] = src[10] + 1e-2 * torch.randn(dim, generator=g)  # near-duplicate sources
    src[31] = src[30] + 1e-2 * torch.randn(dim, generator=g)
    tgt = src + 0.6 * torch.randn(n, dim, generator=g)
    tgt[21] = tgt[20] + 1e-2 * torch.randn(dim, generator=g)  # near-duplicate targets
    tgt[40:] = torch.randn(n - 40, dim, generator=g)  # no usable translation
    return src, tgt


def as_lists(x):
    return [[float(v) for v in row] for row in x.tolist()]


@pytest.mark.parametrize("margin", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top1_and_accuracy_match_reference_exactly(margin, seed):
    src, tgt = planted_embeddings(seed=seed)
    ref = ref_scores(as_lists(src), as_lists(tgt), margin, 4)
    assert ref_min_gap(ref) > 1e-5 and ref_min_gap(ref_transpose(ref)) > 1e-5
    scores = ratio_margin_scores(src, tgt, k=4) if margin else cosine_similarity_matrix(src, tgt)
    assert top1(scores).tolist() == [ref_argmax(row) for row in ref]
    assert top1(scores.T).tolist() == [ref_argmax(col) for col in ref_transpose(ref)]
    torch.testing.assert_close(scores.double(), torch.tensor(ref, dtype=torch.float64), rtol=0, atol=1e-5)

    expected = ref_accuracy(as_lists(src), as_lists(tgt), margin, 4)
    for chunk_size in (7, 1024):  # chunked and one-block computations agree exactly with the reference
        assert retrieval_accuracy(src, tgt, margin=margin, k=4, chunk_size=chunk_size) == expected
    assert 0.5 < expected["src2tgt"] < 1.0  # the planted data is neither trivial nor hopeless


def test_margin_clips_k_to_pool_size_per_side():
    g = torch.Generator().manual_seed(3)
    src, tgt = torch.randn(6, 8, generator=g), torch.randn(9, 8, generator=g)
    for k in (1, 4, 7, 50):  # 7 exceeds the 6 sources, 50 exceeds both sides
        ref = ref_scores(as_lists(src), as_lists(tgt), True, k)
        torch.testing.assert_close(ratio_margin_scores(src, tgt, k=k).double(), torch.tensor(ref, dtype=torch.float64),
                                   rtol=1e-5, atol=1e-5)  # margins reach ~100 when k-NN means are near 0


def test_nearest_neighbour_scores_are_the_row_maxima():
    src, tgt = planted_embeddings(seed=4)
    fwd_i, fwd_s, bwd_i, bwd_s = bidirectional_nearest_neighbours(src, tgt, margin=True, chunk_size=4)
    ref = ref_scores(as_lists(src), as_lists(tgt), True, 4)
    assert fwd_i.tolist() == [ref_argmax(row) for row in ref]
    assert bwd_i.tolist() == [ref_argmax(col) for col in ref_transpose(ref)]
    assert fwd_s.tolist() == pytest.approx([max(row) for row in ref], rel=1e-5, abs=1e-5)
    assert bwd_s.tolist() == pytest.approx([max(col) for col in ref_transpose(ref)], rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("margin", [False, True])
def test_identical_vectors_retrieve_themselves(margin):
    x = torch.randn(200, 64, generator=torch.Generator().manual_seed(5))
    assert retrieval_accuracy(x, x, margin=margin) == {"src2tgt": 1.0, "tgt2src": 1.0}
    assert retrieval_accuracy(x.bfloat16(), x.bfloat16(), margin=margin, chunk_size=33) == {"src2tgt": 1.0,
                                                                                         "tgt2src": 1.0}


def test_bf16_inputs_are_scored_in_float32():
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(6)).bfloat16()
    sim = cosine_similarity_matrix(x, x)
    assert sim.dtype == torch.float32 and sim.shape == (5, 5)
    assert ratio_margin_scores(x, x[:3]).dtype == torch.float32


def test_top1_breaks_ties_to_lowest_index():
    scores = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0], [4.0, 1.0, 4.0]])
    assert top1(scores).tolist() == [1, 0, 2, 0]
    g = torch.Generator().manual_seed(7)
    ints = torch.randint(0, 3, (40, 9), generator=g).float()  # many exact ties
    assert top1(ints).tolist() == [ref_argmax(row) for row in ints.tolist()]


def test_shape_errors_are_explicit():
    with pytest.raises(ValueError, match="gold of i is i"):
        retrieval_accuracy(torch.randn(3, 4), torch.randn(4, 4))
    with pytest.raises(ValueError, match="width"):
        cosine_similarity_matrix(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        cosine_similarity_matrix(torch.randn(3), torch.randn(3, 5))
