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


@pytest.mark.parametrize("n", [1, 2, 3, 10, 97, 1000, 4097])
def test_permute_is_a_bijection(n):
    from veco_lightning.data.sampling import permute

    image = permute(torch.arange(n), n, 12345)
    assert sorted(image.tolist()) == list(range(n))
    if n > 10:  # a different key gives a different order
        assert permute(torch.arange(n), n, 999).tolist() != image.tolist()


def _take(iterator, count):
    return [next(iterator) for _ in range(count)]


@pytest.mark.parametrize("bucket", [False, True])
def test_state_dict_resumes_mid_epoch_exactly(bucket, monkeypatch):
    monkeypatch.setattr("veco_lightning.data.sampling._LOCAL_CHUNK", 64)  # many chunks and windows
    sizes = [700, 90, 13]
    lengths = torch.randint(1, 100, (sum(sizes),), generator=torch.Generator().manual_seed(1)).tolist()
    options = dict(lengths=lengths, batch_size=8, bucket_batches=5) if bucket else {}

    def sampler():
        return LanguageSampler(sizes, 0.5, num_samples=1200, num_replicas=2, rank=1, seed=4, **options)

    full = list(sampler())
    for stop in (0, 1, 37, 64, 333, 599):
        first = sampler()
        head = _take(iter(first), stop)
        state = first.state_dict()
        assert state == {"epoch": 0, "yielded": stop}
        resumed = sampler()
        resumed.load_state_dict(state)
        assert head + list(resumed) == full
    assert len(full) == 600


def test_chunked_order_keeps_ranks_disjoint_and_complete(monkeypatch):
    monkeypatch.setattr("veco_lightning.data.sampling._LOCAL_CHUNK", 16)
    sizes = [300, 50]
    shards = [list(LanguageSampler(sizes, 1.0, num_replicas=3, rank=r, seed=2)) for r in range(3)]
    single = LanguageSampler(sizes, 1.0, num_replicas=3, rank=0, seed=2).global_order().tolist()
    assert [shards[r][k] for k in range(116) for r in range(3)] == single
    # with alpha 1 and one epoch of every example, each language's draws are one permutation of it
    counts = collections.Counter(single)
    assert max(counts.values()) <= 2


def test_state_does_not_grow_with_the_data():
    # a billion examples: the sampler starts at once and its state is two integers
    sampler = LanguageSampler([10**9, 10**7, 5], 0.3, num_replicas=8, rank=3, seed=0)
    head = _take(iter(sampler), 1000)
    assert all(0 <= i < 10**9 + 10**7 + 5 for i in head) and len(set(head)) == 1000
    assert sampler.state_dict() == {"epoch": 0, "yielded": 1000}


def test_set_epoch_after_resume_keeps_the_position():
    sampler = LanguageSampler([40, 40], 0.3, num_replicas=1, rank=0, seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    resumed = LanguageSampler([40, 40], 0.3, num_replicas=1, rank=0, seed=3)
    resumed.load_state_dict({"epoch": 2, "yielded": 30})
    resumed.set_epoch(2)  # Lightning sets the epoch again when the loop restarts
    assert list(resumed) == full[30:]
