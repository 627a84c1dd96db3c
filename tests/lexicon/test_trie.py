"""Tests for veco_lightning.lexicon.trie: the vectorised hash map and the tries walked with it."""

from __future__ import annotations

import numpy as np
import pytest

from veco_lightning.lexicon.trie import IntMap, build_trie, char_trie, trie_step


def test_int_map_agrees_with_a_dict_while_it_grows():
    """Batches of new keys, looked up before and after they are added, give what a dict gives; the map grows and
    stays at most a quarter full. Keys include negative ones, 0, and many with the same low bits."""
    rng = np.random.default_rng(0)
    table, reference = IntMap(4), {}
    for _ in range(60):
        keys = np.unique(np.concatenate([
            rng.integers(-2**63, 2**63 - 1, int(rng.integers(0, 400)), dtype=np.int64),
            rng.integers(-50, 50, 10), rng.integers(0, 100, 20) << 32]))
        found = table.get(keys)
        assert found.tolist() == [reference.get(key, -1) for key in keys.tolist()]
        new = keys[found < 0]
        values = rng.integers(0, 1 << 40, len(new))
        values[:1] = 0  # 0 is a value like any other
        table.put(new, values)
        reference.update(zip(new.tolist(), values.tolist()))
        assert table.get(keys).tolist() == [reference[key] for key in keys.tolist()]
        assert table.size == len(reference) == int((table.values >= 0).sum())
        assert 4 * table.size <= len(table.keys)
    assert len(reference) > 5_000


def test_int_map_edges():
    table = IntMap()
    assert table.get(np.zeros(0, np.int64)).tolist() == []
    assert table.get(np.array([0, -1, 7])).tolist() == [-1, -1, -1]  # nothing held: 0 is no key yet
    table.put(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert table.size == 0
    table = IntMap.of(np.array([5, -3, 0]), np.array([1, 2, 3]))
    assert table.get(np.array([0, 5, -3, 6, 5])).tolist() == [3, 1, 2, -1, 1]


@pytest.mark.parametrize("seed", range(3))
def test_trie_step_walks_every_prefix(seed):
    """Every prefix of every sequence is reached symbol by symbol from the root; a symbol no sequence continues
    with, or -1, leads nowhere."""
    rng = np.random.default_rng(seed)
    width = 7
    sequences = {tuple(rng.integers(0, width - 1, int(rng.integers(1, 6))).tolist()) for _ in range(300)}
    sequences = sorted(sequences)
    lengths = np.array([len(s) for s in sequences])
    flat = np.array([x for s in sequences for x in s])
    codes, following, state, n_states = build_trie(flat, lengths, np.zeros(len(sequences), np.int64), 0, 1, width)
    edges = IntMap.of(codes, following)
    walked = np.zeros(len(sequences), np.int64)
    for n in range(int(lengths.max())):
        live = lengths > n
        walked[live] = trie_step(edges, width, walked[live], flat[np.cumsum(lengths)[live] - lengths[live] + n])
        assert (walked[live] > 0).all()
    assert (walked == state).all()  # each sequence ends in the state build_trie gave it
    assert len(set(state.tolist())) == len(sequences) and n_states > len(sequences)
    unused = np.full(len(state), width - 1)  # no sequence holds the last symbol
    assert (trie_step(edges, width, state, unused) == -1).all()
    assert (trie_step(edges, width, state, np.full(len(state), -1)) == -1).all()


def test_char_trie_spells_its_keys():
    trie = char_trie(frozenset({"中国", "中", "国家", "人民"}))
    for key in trie.keys:
        symbols = trie.symbols(key)
        state = trie.first[symbols[:1]]
        for symbol in symbols[1:]:
            state = trie.step(state, np.array([symbol]))
        assert trie.keys[int(trie.key[state[0]])] == key
    assert trie.step(trie.first[trie.symbols("人")], trie.symbols("国")).tolist() == [-1]  # 人国: no key's prefix


@pytest.mark.parametrize("collide", [False, True])
def test_sequence_ids_resolve_each_new_sequence_once_and_stay_exact(collide, monkeypatch):
    """Batches of random integer sequences (repeats within and across batches, some longer than a cached row, the
    cache overflowing) get the ids ``resolve`` gives; a sequence is resolved again only when it was not cached (too
    long, or after the cache started afresh, or in a batch with a hash collision). With every hash equal, the ids
    are still exact."""
    from veco_lightning.lexicon import trie

    if collide:
        monkeypatch.setattr(trie, "_hashes", lambda flat, first, length: np.zeros(len(first), np.int64))
    calls = []

    def resolve(values, lengths):
        bounds = np.cumsum(lengths) - lengths
        found = [tuple(values[a:a + k].tolist()) for a, k in zip(bounds.tolist(), lengths.tolist())]
        calls.extend(found)
        return np.array([hash(sequence) % 1000 - 1 for sequence in found], np.int64)  # -1 is an id like any other

    rng = np.random.default_rng(1)
    pool = [tuple(rng.integers(0, 5, int(rng.integers(1, 7))).tolist()) for _ in range(300)]
    ids = trie.SequenceIds(resolve, width=4, size=200)
    for _ in range(12):
        chosen = [pool[k] for k in rng.integers(0, len(pool), int(rng.integers(1, 400)))]
        gaps = rng.integers(0, 3, len(chosen))  # values between the sequences that belong to none
        flat, first = [], []
        for sequence, gap in zip(chosen, gaps.tolist()):
            flat += [9] * gap
            first.append(len(flat))
            flat += sequence
        calls.clear()
        got = ids(np.array(flat, np.int64), np.array(first, np.int64), np.array([len(s) for s in chosen], np.int64))
        assert got.tolist() == [hash(sequence) % 1000 - 1 for sequence in chosen]
        if not collide:
            assert len(calls) == len(set(calls))  # each new sequence resolved once per batch
        assert ids.size <= 200 and (ids.lengths[:ids.size] <= 4).all()


def test_hashes_depend_on_the_sequence_only(monkeypatch):
    """A sequence hashes alike wherever it stands in ``flat``, also past the powers kept between calls; sequences
    that differ (in a value, their order or their length) hash apart here."""
    from veco_lightning.lexicon import trie

    monkeypatch.setattr(trie, "_KEPT_POWERS", 8)
    monkeypatch.setattr(trie, "_POWERS", [np.ones(1, np.uint64), np.ones(1, np.uint64)])
    flat = np.array([5, 1, 2, 3, 9, 9, 1, 2, 3, 0, 3, 2, 1, 1, 2, 3, 0, 7, 1, 2, 3], np.int64)
    first = np.array([1, 6, 10, 13, 18, 13])
    length = np.array([3, 3, 3, 4, 3, 3])
    hashes = trie._hashes(flat, first, length).tolist()
    assert hashes[0] == hashes[1] == hashes[4] == hashes[5]  # 1 2 3 at four places, the last past the kept powers
    assert len({hashes[0], hashes[2], hashes[3]}) == 3  # 3 2 1 and 1 2 3 0 differ
    assert len(trie._POWERS[0]) <= 8
