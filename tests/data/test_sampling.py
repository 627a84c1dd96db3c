import collections

import pytest
import torch

from veco_lightning.data.sampling import LanguageSampler, smoothed_probabilities


def test_smoothing_formula():
    q = smoothed_probabilities([900, 90, 10], alpha=0.3)
    p = torch.tensor([0.9, 0.09, 0.01], dtype=torch.float64)
    expected = p**0.3 / (p**0.3).sum()
    torch.testing.assert_close(q, expected)
    uniform = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    torch.testing.assert_close(smoothed_probabilities([5, 5, 0], 0.0), uniform)


def test_sampler_follows_smoothed_distribution():
    sizes = [8000, 800, 80]
    sampler = LanguageSampler(sizes, alpha=0.3, num_samples=20000, num_replicas=1, rank=0, seed=1)
    counts = collections.Counter(0 if i < 8000 else 1 if i < 8800 else 2 for i in sampler)
    q = smoothed_probabilities(sizes, 0.3)
    for lang in range(3):
        assert abs(counts[lang] / 20000 - q[lang].item()) < 0.015


def test_sampler_visits_whole_language_before_repeating():
    sampler = LanguageSampler([10, 1000], alpha=0.0, num_samples=400, num_replicas=1, rank=0)
    small = [i for i in sampler if i < 10]
    assert sorted(small[:10]) == list(range(10))


def test_ranks_get_disjoint_shards_of_the_same_global_order():
    sizes = [50, 30, 20]
    shards = [list(LanguageSampler(sizes, 0.5, num_replicas=3, rank=r, seed=7)) for r in range(3)]
    single = LanguageSampler(sizes, 0.5, num_replicas=3, rank=0, seed=7).global_order().tolist()
    assert all(len(s) == 33 for s in shards)
    interleaved = [shards[r][k] for k in range(33) for r in range(3)]
    assert interleaved == single


def test_epoch_changes_order_deterministically():
    a = LanguageSampler([40, 40], 0.3, num_replicas=1, rank=0, seed=3)
    b = LanguageSampler([40, 40], 0.3, num_replicas=1, rank=0, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first


def test_too_few_samples_for_ranks():
    with pytest.raises(ValueError, match="cannot feed"):
        LanguageSampler([1], 0.3, num_replicas=2, rank=0)


def test_bucketing_groups_similar_lengths_and_keeps_the_draws():
    lengths = torch.randint(1, 100, (400,), generator=torch.Generator().manual_seed(0)).tolist()
    plain = LanguageSampler([400], 1.0, num_replicas=1, rank=0, seed=5)
    bucketed = LanguageSampler([400], 1.0, num_replicas=1, rank=0, seed=5, lengths=lengths, batch_size=8,
                               bucket_batches=10)
    order = list(bucketed)
    assert sorted(order) == sorted(plain)  # same draws, new order
    def spreads(indices):  # length range within each batch of 8
        return [max(lengths[i] for i in indices[k : k + 8]) - min(lengths[i] for i in indices[k : k + 8])
                for k in range(0, 400, 8)]

    spread, plain_spread = spreads(order), spreads(list(plain))
    assert sum(spread) < 0.3 * sum(plain_spread)
