"""Vectorised lookups of int64 keys: :class:`~veco_lightning.lexicon.trie.IntMap` against a Python dict and a sorted
array's binary search, at the sizes token mining meets.

Token mining looks up every batch's distinct words (their token hashes) in its cache of decoded words, up to a
million entries, and walks dictionary phrases through a trie whose edges are ``state * width + symbol`` codes. For
each map size (``--sizes``) and number of keys looked up at once (``--queries``; 90% of them held, as in a warm
cache), three ways give each key's value (-1: none):

* ``IntMap.get``: open addressing in numpy, one vectorised probe per step over the keys still looking;
* ``dict``: ``np.fromiter(map(table.get, keys.tolist(), repeat(-1)))``, what the word cache used before;
* ``searchsorted``: ``np.searchsorted`` in the sorted keys, what the trie walks used before.

All three are checked to agree. Each way is timed ``--repeats`` times in rotating order; the table gives medians in
µs per call and the ratios to ``IntMap.get``.

Usage (from the repository root; about half a minute)::

    python benchmarks/int_map.py [--sizes 7000 300000 1000000] [--queries 150 500 5000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from itertools import repeat

import harness


def lookups(table, lookup: dict[int, int], sorted_keys, sorted_values, wanted) -> dict[str, Callable[[], object]]:
    """The three ways of looking up ``wanted``, each a call without arguments."""
    import numpy as np

    def by_search():
        at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
        return np.where(sorted_keys[at] == wanted, sorted_values[at], -1)

    return {"IntMap.get": lambda: table.get(wanted),
            "dict": lambda: np.fromiter(map(lookup.get, wanted.tolist(), repeat(-1)), np.int64, len(wanted)),
            "searchsorted": by_search}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[7_000, 300_000, 1_000_000], help="keys held")
    parser.add_argument("--queries", type=int, nargs="+", default=[150, 500, 5_000], help="keys looked up per call")
    parser.add_argument("--repeats", type=int, default=200, help="calls timed per way; medians")
    parser.add_argument("--seed", type=int, default=0)
    harness.add_output(parser, "int_map")
    args = parser.parse_args(argv)
    import numpy as np

    from veco_lightning.lexicon.trie import IntMap

    rng = np.random.default_rng(args.seed)
    rows, results = [], []
    for size in args.sizes:
        keys = np.unique(rng.integers(-2**63, 2**63 - 1, size, dtype=np.int64))
        values = rng.permutation(len(keys)).astype(np.int64)
        table = IntMap.of(keys, values)
        lookup = dict(zip(keys.tolist(), values.tolist()))
        order = np.argsort(keys)
        sorted_keys, sorted_values = keys[order], values[order]
        for n in args.queries:
            held = keys[rng.integers(0, len(keys), n - n // 10)]
            wanted = rng.permutation(np.concatenate([held, rng.integers(-2**63, 2**63 - 1, n // 10, dtype=np.int64)]))

            ways = lookups(table, lookup, sorted_keys, sorted_values, wanted)
            answers = [way() for way in ways.values()]
            if not all((answer == answers[0]).all() for answer in answers):
                raise AssertionError(f"the three ways disagree at {size} keys, {n} looked up")
            spent = {name: [] for name in ways}
            names = list(ways)
            for k in range(args.repeats):
                for name in names[k % 3:] + names[:k % 3]:
                    begin = time.perf_counter()
                    ways[name]()
                    spent[name].append(time.perf_counter() - begin)
            median = {name: statistics.median(times) * 1e6 for name, times in spent.items()}
            results.append({"keys_held": len(keys), "looked_up": n, "us_per_call": median})
            rows.append([f"{len(keys):,}", f"{n:,}", *(f"{median[name]:.0f}" for name in names),
                         f"{median['dict'] / median['IntMap.get']:.1f}×",
                         f"{median['searchsorted'] / median['IntMap.get']:.1f}×"])
    print(f"\n## Looking up int64 keys (µs per call, median of {args.repeats})\n")
    print(harness.markdown_table(["keys held", "looked up", "IntMap.get", "dict", "searchsorted", "dict / IntMap",
                                  "searchsorted / IntMap"], rows))
    harness.write_result(args.output, "int_map", {"settings": vars(args) | {"output": None}, "results": results},
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
