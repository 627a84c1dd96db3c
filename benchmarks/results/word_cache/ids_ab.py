"""Text mining's reading of the offsets and its id columns, now against before, in-process, alternated rounds, CPU
time per sentence pair (NTREX's 10 language pairs, batches of 1,000, the tokenizer on one thread).

Now: ``PieceOffsets.read_ids`` returns each side's cut ids as a list column made from the flat ids it holds, and
``parallel.pair_columns`` takes it as it is. Before: the reading cut each text's id list (a slice per text) and
``pair_columns`` turned those lists into a column again (``cache.list_column_of``). The "before" arm is this code's
reading plus those two steps, so it counts the new column's making twice (about 0.03 ms per side and batch).

Usage, from the repository root::

    python benchmarks/results/word_cache/ids_ab.py [ROUNDS]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import harness  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rounds", type=int, nargs="?", default=7)
    harness.add_mining_batch_options(parser, "ids_ab", 1, "unused")
    args = parser.parse_args()
    found = harness.ntrex_mining_setup(args)
    if isinstance(found, str):
        return harness.skip(found)
    ntrex, _, english, langs, _, tokenizer = found
    from veco_lightning.data.parallel import pair_columns
    from veco_lightning.data.token_mining import PieceOffsets, token_tables
    from veco_lightning.data.tokenizer import encode_ids

    reader, side_length = PieceOffsets(token_tables(tokenizer)[2]), (args.max_length - 4) // 2
    en = harness.read_lines(english)
    batches = []
    for lang in langs:
        xx = harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
        for start in range(0, len(xx), args.batch_size):
            batches.append([(texts, encode_ids(tokenizer, texts))
                            for texts in (xx[start:start + args.batch_size], en[start:start + args.batch_size])])
    n_pairs = sum(len(sides[0][0]) for sides in batches)

    def now() -> None:
        for sides in batches:
            pair_columns(*[reader.read_ids(tokenizer, texts, ids, side_length)[0] for texts, ids in sides])

    def before() -> None:
        for sides in batches:
            for texts, ids in sides:
                reader.read_ids(tokenizer, texts, ids, side_length)
            pair_columns(*[[row[:side_length] for row in ids] for _, ids in sides])

    spent: dict[str, list[float]] = {"before": [], "now": []}
    for round_ in range(args.rounds):
        for name, fn in (("before", before), ("now", now)) if round_ % 2 == 0 else (("now", now), ("before", before)):
            begin = time.process_time()
            fn()
            spent[name].append((time.process_time() - begin) / n_pairs * 1e6)
    old, new = statistics.median(spent["before"]), statistics.median(spent["now"])
    rounds = {name: ", ".join(f"{x:.2f}" for x in values) for name, values in spent.items()}
    harness.log(f"reading + id columns: before {old:.2f}, now {new:.2f} µs per pair ({new / old:.3f}); rounds before "
                f"{rounds['before']}; now {rounds['now']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
