"""Tries of integer symbol sequences as numpy edge arrays, built and walked for many sequences at once.

The dictionary matching of :mod:`veco_lightning.lexicon.synonyms` (phrases as word ids, no-space keys as characters)
and the longest-match segmentation of no-space runs in :mod:`veco_lightning.lexicon.words` walk every position of a
batch one symbol at a time with these: one hash lookup (:class:`IntMap`) per step over all live positions, no Python
loop over them.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

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
