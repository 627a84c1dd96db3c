"""Padding of the parallel batches under each length-bucketing key: how much of what the encoder runs is padding.

The parallel (and synonym) datamodule sorts its draws by a length key within windows of ``bucket_batches`` batches
(:class:`~veco_lightning.data.parallel.PairLengthKeys`). A batch of translation pairs feeds two kinds of encoder
input: the TLM view (each pair concatenated, padded to the longest concatenation) and the clean views of the
contrastive objectives (both sides as one ``(2B, L)`` batch, padded to the longest side). This script draws one
epoch of NTREX-128 pairs (every language with English; the last 200 lines of each file held out, as the NTREX
recipes do) through the datamodule's own loader, sorted by each key, and counts the positions:

* ``total``: the concatenated length (the key for the TLM view alone);
* ``longer side, then total``: the key with the clean views (the default whenever ``contrastive`` is on).

It prints, per key, the padding share of the TLM view, of the joined clean views (and of each side padded alone,
as collated), the encoder positions per real token over both views, and the share of target sentences that another
pair of their batch also holds (NTREX is multi-way parallel; the sequence contrast masks such duplicates). Counting
only: no timing, so the figures are the same on any machine.

Usage (from the repository root; about a minute)::

    python benchmarks/padding.py [--data-dir ../shared/data] [--batch-size 32] [--bucket-batches 50]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter

import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_data_dir(parser, "ntrex128/")
    harness.add_tokenizer(parser)
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per batch (the NTREX recipes' 32)")
    parser.add_argument("--bucket-batches", type=int, default=50, help="batches per sorting window (the default)")
    parser.add_argument("--max-length", type=int, default=128, help="the datamodule's pair length in tokens")
    parser.add_argument("--held-out", type=int, default=200, help="last lines of each file left out")
    harness.add_output(parser, "padding")
    args = parser.parse_args(argv)
    ntrex = os.path.join(args.data_dir, "ntrex128")
    english = os.path.join(ntrex, "newstest2019-src.eng.txt")
    if not os.path.exists(english):
        return harness.skip(f"no NTREX-128 under {args.data_dir!r}; set --data-dir or $VECO_BENCH_DATA")
    harness.quiet_libraries("veco_lightning")

    from veco_lightning.data.parallel import PairLengthKeys, ParallelDataModule, ParallelSource

    files = {}
    for lang, code in harness.NTREX_CODES.items():
        path = os.path.join(ntrex, f"newstest2019-ref.{code}.txt")
        if os.path.exists(path):
            files[f"{lang}-en"] = ParallelSource(src=path, tgt=english, lines=[0, -args.held_out])
    tok_dir = harness.find_tokenizer(args.tokenizer)
    with tempfile.TemporaryDirectory(prefix="padding-") as cache:
        dm = ParallelDataModule(files=files, tokenizer=tok_dir, max_length=args.max_length,
                                batch_size=args.batch_size, bucket_batches=args.bucket_batches, val_pairs=0,
                                cache_dir=cache)
        dm.prepare_data()
        dm.setup("fit")
        columns = {side: [dm.train_sets[pair].data.column(side) for pair in dm.train_sets] for side in ("src", "tgt")}
        keys = {"total": PairLengthKeys(columns["src"], columns["tgt"], contrastive=False),
                "longer side, then total": PairLengthKeys(columns["src"], columns["tgt"], contrastive=True)}
        figures = {}
        for name, key in keys.items():
            counts = dict.fromkeys(("tlm_real", "tlm", "pairs_real", "pairs_joined", "pairs_sides", "targets",
                                    "duplicate_targets"), 0)
            batches = 0
            for batch in dm.sampled_loader(dm.train_sets, dm.collator(), key, dm.bucket_batches):
                tlm = batch["tlm"]["attention_mask"]
                src, tgt = (batch["pairs"][side]["attention_mask"] for side in ("src", "tgt"))
                counts["tlm_real"] += int(tlm.sum())
                counts["tlm"] += tlm.numel()
                counts["pairs_real"] += int(src.sum() + tgt.sum())
                counts["pairs_joined"] += 2 * src.shape[0] * max(src.shape[1], tgt.shape[1])
                counts["pairs_sides"] += src.numel() + tgt.numel()
                # Target sentences that another pair of the batch also has (the multi-way NTREX: one English
                # sentence per line for every language), which the sequence contrast masks as negatives.
                targets = [tuple(row[mask.bool()].tolist())
                           for row, mask in zip(batch["pairs"]["tgt"]["input_ids"], tgt)]
                seen = Counter(targets)
                counts["targets"] += len(targets)
                counts["duplicate_targets"] += sum(n for n in seen.values() if n > 1)
                batches += 1
            figures[name] = {
                "batches": batches, **counts,
                "tlm_padding": 1 - counts["tlm_real"] / counts["tlm"],
                "pairs_padding_joined": 1 - counts["pairs_real"] / counts["pairs_joined"],
                "pairs_padding_sides": 1 - counts["pairs_real"] / counts["pairs_sides"],
                "positions_per_token": (counts["tlm"] + counts["pairs_joined"])
                / (counts["tlm_real"] + counts["pairs_real"]),
                "duplicate_target_share": counts["duplicate_targets"] / counts["targets"],
            }
    rows = [[name, f["batches"], f"{f['tlm_padding']:.1%}", f"{f['pairs_padding_joined']:.1%}",
             f"{f['pairs_padding_sides']:.1%}", f"{f['positions_per_token']:.3f}", f"{f['duplicate_target_share']:.1%}"]
            for name, f in figures.items()]
    print(f"\n## Padding of NTREX-128 parallel batches ({len(files)} pairs, batches of {args.batch_size}, windows of "
          f"{args.bucket_batches} batches, one epoch)\n")
    print(harness.markdown_table(["sort key", "batches", "TLM view", "clean views (joined, as encoded)",
                                  "clean views (each side alone)", "encoder positions / token",
                                  "targets duplicated in their batch"], rows, "lrrrrrr"))
    ratio = figures["longer side, then total"]["positions_per_token"] / figures["total"]["positions_per_token"]
    print(f"\nEncoder positions, longer side first / total: {ratio:.3f}")
    harness.write_result(args.output, "padding",
                         {"settings": {"tokenizer": tok_dir, "batch_size": args.batch_size,
                                       "bucket_batches": args.bucket_batches, "max_length": args.max_length,
                                       "pairs": list(files)},
                          "figures": figures, "positions_ratio": ratio},
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
