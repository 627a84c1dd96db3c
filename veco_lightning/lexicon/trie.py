"""Tries of integer symbol sequences as sorted numpy edge arrays, built and walked for many sequences at once.

The dictionary matching of :mod:`veco_lightning.lexicon.synonyms` (phrases as word ids, no-space keys as characters)
and the longest-match segmentation of no-space runs in :mod:`veco_lightning.lexicon.words` walk every position of a
batch one symbol at a time with these: one sorted search per step over all live positions, no Python loop over them.
"""

from __future__ import annotations

import numpy as np


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


def trie_step(codes: np.ndarray, following: np.ndarray, width: int, state: np.ndarray,
              symbol: np.ndarray) -> np.ndarray:
    """The states reached from ``state`` by ``symbol`` in a :func:`build_trie` trie (-1: none, also for a symbol
    of -1)."""
    if not len(codes):
        return np.full(len(state), -1, np.int64)
    code = state * width + symbol
    at = np.minimum(np.searchsorted(codes, code), len(codes) - 1)
    return np.where((symbol >= 0) & (codes[at] == code), following[at], -1)
