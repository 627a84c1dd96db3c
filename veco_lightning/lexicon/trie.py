"""Tries of integer symbol sequences as numpy edge arrays, built and walked for many sequences at once.

The dictionary matching of :mod:`veco_lightning.lexicon.synonyms` (phrases as word ids, no-space keys as characters)
and the longest-match segmentation of no-space runs in :mod:`veco_lightning.lexicon.words` walk every position of a
batch one symbol at a time with these: one hash lookup (:class:`IntMap`) per step over all live positions, no Python
loop over them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from itertools import chain
from typing import NamedTuple

import numpy as np
import pyarrow as pa

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, odd: multiplying by it permutes the 64-bit integers


class IntMap:
    """A map from int64 keys to non-negative int64 values, looked up and filled for a whole array of keys at once:
    open addressing with linear probing in two numpy arrays kept at most a quarter full (a value of -1 marks an empty
    place), each probe one vectorised step over every key still looking. A key's first place is the top bits of the
    key times an odd constant (Fibonacci hashing, which also spreads keys with structure, such as a trie's
    ``state * width + symbol`` codes).

    A Python dict does the same one key at a time. For 5,000 keys among 300,000 it takes 6.8x as long (607 µs
    against 89 µs), and a sorted array's binary search (``np.searchsorted``) 8.1x; for 150 to 500 keys the map is no
    faster than a dict (17-35 µs against 11-51 µs) and the binary search beats both (6-14 µs)
    (``benchmarks/int_map.py``, 2 cores of an AMD EPYC). Token mining looks up a batch's distinct words, thousands at
    once; a trie walk's steps look up a hundred to a few thousand states each, where choosing the binary search for
    the smaller steps made no measurable difference to token mining's time. Each place takes 16 bytes: a million
    keys take 64 to 128 MB, about what a dict of as many int keys and values takes."""

    def __init__(self, capacity: int = 1 << 10) -> None:
        """An empty map with room for ``capacity`` keys before it grows."""
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        """Empty places for ``capacity`` keys at a quarter full (a power of two of them)."""
        bits = max(int(4 * max(capacity, 1) - 1).bit_length(), 2)
        self.keys = np.zeros(1 << bits, np.int64)
        self.values = np.full(1 << bits, -1, np.int64)
        self.shift = np.uint64(64 - bits)
        self.size = 0

    def _place(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.view(np.uint64) * _GOLDEN) >> self.shift).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key (-1: none)."""
        keys = np.asarray(keys, np.int64)
        found = np.full(len(keys), -1, np.int64)
        mask = len(self.keys) - 1
        which, place, wanted = np.arange(len(keys)), self._place(keys), keys
        while len(which):  # one probe for every key still looking
            value = self.values[place]
            hit = (value >= 0) & (self.keys[place] == wanted)
            found[which[hit]] = value[hit]
            on = (value >= 0) & ~hit
            which, place, wanted = which[on], (place[on] + 1) & mask, wanted[on]
        return found

    def put(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Add ``keys``, distinct and none of them held yet, with their ``values`` (non-negative)."""
        keys, values = np.asarray(keys, np.int64), np.asarray(values, np.int64)
        if 4 * (self.size + len(keys)) > len(self.keys):  # grown: every key placed again
            held = np.flatnonzero(self.values >= 0)
            keys, values = np.concatenate([self.keys[held], keys]), np.concatenate([self.values[held], values])
            self._allocate(len(keys))
        mask = len(self.keys) - 1
        place = self._place(keys)
        self.size += len(keys)
        while len(keys):  # each key takes its place if empty; of several keys at one empty place, one wins
            empty = np.flatnonzero(self.values[place] < 0)
            self.values[place[empty]] = empty  # a claim: the claiming key's index
            won = np.zeros(len(keys), bool)
            won[empty] = self.values[place[empty]] == empty
            self.keys[place[won]], self.values[place[won]] = keys[won], values[won]
            keys, values, place = keys[~won], values[~won], (place[~won] + 1) & mask

    @classmethod
    def of(cls, keys: np.ndarray, values: np.ndarray) -> IntMap:
        """A map holding ``keys`` (distinct) with their ``values``."""
        table = cls(len(keys))
        table.put(keys, values)
        return table


_BASE = 0x9E3779B97F4A7C15 & 0x7FFFFFFFFFFFFFFF  # odd: invertible modulo 2^64
_POWERS = [np.ones(1, np.uint64), np.ones(1, np.uint64)]  # _BASE to the power i, and to the power -i (mod 2^64)
_KEPT_POWERS = 1 << 20


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` powers of the hash base and of its inverse modulo 2^64: kept and grown on demand up to
    ``_KEPT_POWERS`` of them (16 MB; a batch of 1,000 sentences needs about 150,000), computed afresh beyond."""
    if len(_POWERS[0]) >= n:
        return _POWERS[0][:n], _POWERS[1][:n]
    size = max(n, min(2 * len(_POWERS[0]), _KEPT_POWERS))
    made = []
    for base in (_BASE, pow(_BASE, -1, 1 << 64)):
        powers = np.full(size, base, np.uint64)
        powers[0] = 1
        made.append(np.cumprod(powers))  # wraps modulo 2^64, as intended
    if size <= _KEPT_POWERS:
        _POWERS[:] = made
    return made[0][:n], made[1][:n]


def _hashes(flat: np.ndarray, first: np.ndarray, length: np.ndarray) -> np.ndarray:
    """A polynomial hash modulo 2^64 of each sequence ``flat[first:first + length]``, the same for a sequence
    wherever it occurs (+1: a value 0 counts): from the running sum of ``(value + 1) * base^i`` over all of ``flat``,
    one pass over it instead of one over every sequence's values gathered."""
    powers, inverse = _powers(len(flat) + 1)
    running = np.zeros(len(flat) + 1, np.uint64)
    np.cumsum((flat.astype(np.uint64) + np.uint64(1)) * powers[:len(flat)], out=running[1:])
    return ((running[first + length] - running[first]) * inverse[first]).view(np.int64)


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values of an int64 array in order of first appearance, the index of each one's first appearance,
    and each value's index among them (``np.unique(values, return_index=True, return_inverse=True)`` up to the order
    of the distinct values). Arrow's hash-based dictionary encoding does this in linear time: about 6x faster than
    ``np.unique``, which sorts, on a batch's 25,000 word hashes."""
    encoded = pa.array(values, pa.int64()).dictionary_encode()
    inverse = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    first = np.full(len(distinct), len(values), np.int64)
    np.minimum.at(first, inverse, np.arange(len(values)))
    return distinct, first, inverse


class SequenceIds:
    """The id of every integer sequence of a batch (a word's token ids, or its characters' code points), from
    ``resolve`` for the sequences it has not seen, from a cache for the others. Every sequence is looked up by its
    hash (:func:`_hashes`) in ``slots`` (an :class:`IntMap` from a sequence's hash to its row in ``rows``: its values
    padded with -1, ``lengths``, ``ids``), the hit checked value by value against the stored row, so the result is
    exact whatever the hash does; the sequences not found are grouped by hash (checked value by value too: equal
    hashes must hold equal sequences) and each distinct one resolved once, then stored. Sequences longer than
    ``width`` values are resolved each time; past ``size`` sequences the cache starts afresh, so memory stays bounded
    (``rows`` are int32: at most ``4 * width * size`` bytes, and the hash map 64 bytes a sequence).

    ``resolve(values, lengths)`` gets the new sequences flat (``values``, ``lengths`` each, every length at least 1)
    and returns their ids."""

    def __init__(self, resolve: Callable[[np.ndarray, np.ndarray], np.ndarray], width: int, size: int) -> None:
        self.resolve, self.width, self.size_limit = resolve, width, size
        self.clear()

    def clear(self) -> None:
        self.slots = IntMap()
        self.rows = np.full((1024, self.width), -1, np.int32)
        self.lengths = np.zeros(1024, np.int64)
        self.ids = np.zeros(1024, np.int64)
        self.size = 0

    def _store(self, values: np.ndarray, lengths: np.ndarray, ids: np.ndarray, hashes: np.ndarray) -> None:
        """Cache sequences (flat ``values``, ``lengths`` each), their ids and hashes; longer ones are not kept."""
        if (lengths > self.width).any():
            short = lengths <= self.width
            values, lengths, ids, hashes = values[np.repeat(short, lengths)], lengths[short], ids[short], hashes[short]
        limit = self.size_limit
        if self.size + len(lengths) > limit:
            self.clear()
            values = values[:int(lengths[:limit].sum())]
            lengths, ids, hashes = lengths[:limit], ids[:limit], hashes[:limit]
        end = self.size + len(lengths)
        if end > len(self.rows):
            capacity = min(max(end, 2 * len(self.rows)), limit)
            grown = np.full((capacity, self.width), -1, np.int32)
            grown[:self.size] = self.rows[:self.size]
            self.rows, self.lengths, self.ids = grown, np.resize(self.lengths, capacity), np.resize(self.ids, capacity)
        padded = np.full((len(lengths), self.width), -1, np.int32)
        padded[np.arange(self.width) < lengths[:, None]] = values  # row by row, in order: each sequence in its row
        self.rows[self.size:end] = padded
        self.lengths[self.size:end], self.ids[self.size:end] = lengths, ids
        self.slots.put(hashes, np.arange(self.size, end))
        self.size = end

    def __call__(self, flat: np.ndarray, first: np.ndarray, length: np.ndarray) -> np.ndarray:
        """The id of each sequence ``flat[first:first + length]`` of a batch (every length at least 1): every sequence
        looked up in the cache by its hash and checked against the stored values; the ones not found grouped by hash
        (checked value by value: equal hashes must hold equal sequences) and resolved once each."""
        n = len(first)
        if not n:
            return np.zeros(0, np.int64)
        hashes = _hashes(flat, first, length)
        bounds = np.cumsum(length) - length  # each sequence's first value among the sequences' values
        step = np.arange(int(length.sum()))
        values = flat[np.repeat(first - bounds, length) + step].astype(np.int64, copy=False)
        slot = self.slots.get(hashes)
        # Each value against the stored row of its sequence's slot, as one flat take: a sequence longer than a row,
        # or with no slot (-1, clipped), reads other values, but is known only with its stored length, which no
        # such sequence has.
        stored = self.rows.ravel().take(np.repeat(slot * self.width - bounds, length) + step, mode="clip")
        known = (slot >= 0) & (self.lengths[slot] == length) & np.logical_and.reduceat(stored == values, bounds)
        found = np.where(known, self.ids[slot], -1)
        if known.all():
            return found
        new = np.flatnonzero(~known)
        column = step - np.repeat(bounds, length)
        found[new] = self._new(values, column, bounds[new], length[new], hashes[new], slot[new] < 0)
        return found

    def _new(self, values: np.ndarray, column: np.ndarray, bounds: np.ndarray, length: np.ndarray,
             hashes: np.ndarray, free: np.ndarray) -> np.ndarray:
        """The ids of sequences the cache does not hold (``values[bounds:bounds + length]``, ``column``: each value's
        place in its sequence; ``free``: no other sequence holds the hash's slot), resolved once per distinct sequence
        and cached."""
        unique, representative, inverse = _distinct(hashes)
        delegate = np.repeat(bounds[representative[inverse]], length)  # each value's sequence's representative
        at = _ranges(bounds, length)
        if not ((length[representative[inverse]] == length).all()
                and (values[delegate + column[at]] == values[at]).all()):
            # Two sequences with one hash: resolve each distinct one apart, and cache nothing.
            sequences = [tuple(values[a:a + k].tolist()) for a, k in zip(bounds.tolist(), length.tolist())]
            distinct = list(dict.fromkeys(sequences))
            lengths = np.fromiter(map(len, distinct), np.int64, len(distinct))
            ids = dict(zip(distinct, self.resolve(np.fromiter(chain.from_iterable(distinct), np.int64,
                                                              int(lengths.sum())), lengths).tolist()))
            return np.fromiter(map(ids.__getitem__, sequences), np.int64, len(sequences))
        rep_length = length[representative]
        rep_values = values[_ranges(bounds[representative], rep_length)]
        ids = self.resolve(rep_values, rep_length)
        fresh = free[representative]  # a hash whose slot holds another sequence is not stored again
        self._store(rep_values[np.repeat(fresh, rep_length)], rep_length[fresh], ids[fresh], unique[fresh])
        return ids[inverse]


def build_trie(flat: np.ndarray, lengths: np.ndarray, state: np.ndarray, level: int, n_states: int,
               width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A trie of symbol sequences (``flat``: their symbols, sequence after sequence; ``lengths``: theirs), built one
    level at a time over all of them: the prefixes of ``n + 1`` symbols are the distinct ``(state of the first n,
    next symbol)`` codes, numbered after the ``n_states`` states made so far. ``state`` holds each sequence's state
    after its first ``level`` symbols. Returns the sorted edge codes (``state * width + symbol``), the state each
    edge leads to, each sequence's final state, and the number of states."""
    first = np.cumsum(lengths) - lengths
    codes, targets = [], []
    for n in range(level, int(lengths.max(initial=0))):
        longer = np.flatnonzero(lengths > n)
        code = state[longer] * width + flat[first[longer] + n]
        found, inverse = np.unique(code, return_inverse=True)
        codes.append(found)
        targets.append(n_states + np.arange(len(found)))
        state[longer] = n_states + inverse.reshape(-1)
        n_states += len(found)
    if not codes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), state, n_states
    edges = np.concatenate(codes)
    order = np.argsort(edges)
    return edges[order], np.concatenate(targets)[order], state, n_states


def trie_step(edges: IntMap, width: int, state: np.ndarray, symbol: np.ndarray) -> np.ndarray:
    """The states reached from ``state`` by ``symbol`` in a :func:`build_trie` trie whose edges ``edges`` maps from
    their codes to the states they lead to (-1: none, also for a symbol of -1)."""
    if not edges.size:
        return np.full(len(state), -1, np.int64)
    return np.where(symbol >= 0, edges.get(state * width + symbol), -1)


def _ranges(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(f, f + c) for f, c in zip(first, counts)])`` without a Python loop."""
    total = int(counts.sum())
    if not total:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    return np.repeat(first - ends + counts, counts) + np.arange(total)


def code_points(text: str) -> np.ndarray:
    """``text``'s characters as code points, one ``uint32`` each (a lone surrogate too; ``from_code_points`` turns
    them back into text)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def from_code_points(points: np.ndarray) -> str:
    """The text of :func:`code_points`."""
    return np.ascontiguousarray(points, np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


class CharTrie(NamedTuple):
    """Strings as a :func:`build_trie` trie of their characters. A character's symbol is its rank among the
    characters of the strings (``symbols``); state 0 is the empty prefix; ``first`` gives the state each symbol leads
    to from it (-1: none), ``edges`` maps every edge's code, ``state * width + symbol``, to the state it leads to;
    ``key`` gives the index in ``keys`` of the string a state spells (-1: a prefix only)."""

    keys: list[str]
    symbol: np.ndarray  # code point -> symbol, up to the largest code point of the keys (-1: in no key)
    first: np.ndarray
    edges: IntMap
    key: np.ndarray
    width: int

    def symbols(self, text: str) -> np.ndarray:
        """The symbol of every character of ``text`` (-1: a character of no key)."""
        points = code_points(text).astype(np.int64)
        if not len(self.symbol):
            return np.full(len(points), -1, np.int64)
        found = self.symbol[np.minimum(points, len(self.symbol) - 1)].astype(np.int64)
        found[points >= len(self.symbol)] = -1
        return found

    def step(self, state: np.ndarray, symbol: np.ndarray) -> np.ndarray:
        """:func:`trie_step` in this trie."""
        return trie_step(self.edges, self.width, state, symbol)


@functools.lru_cache(maxsize=8)  # keyed by the set itself (a frozenset hashes once): one build per dictionary side
def char_trie(strings: frozenset[str]) -> CharTrie:
    """The :class:`CharTrie` of a set of strings (the keys of a no-space dictionary side: its segmentation and its
    matching share it; about 0.06 s for the 48,000 Chinese entries of the shared en-zh dictionary)."""
    keys = [key for key in strings if key]
    points = code_points("".join(keys)).astype(np.int64)
    alphabet = np.unique(points)
    width = len(alphabet)
    symbol = np.full(int(alphabet[-1]) + 1 if width else 0, -1, np.int32)
    symbol[alphabet] = np.arange(width)
    lengths = np.fromiter(map(len, keys), np.int64, len(keys))
    codes, following, state, n_states = build_trie(symbol[points].astype(np.int64), lengths,
                                                   np.zeros(len(keys), np.int64), 0, 1, width)
    first = np.full(width, -1, np.int64)
    from_root = codes < width  # the root is state 0: its edges' codes are the symbols themselves
    first[codes[from_root]] = following[from_root]
    key = np.full(n_states, -1, np.int64)
    key[state] = np.arange(len(keys))
    return CharTrie(keys, symbol, first, IntMap.of(codes, following), key, width)
