"""Token ids of NTREX through the four ways a fast tokenizer can give them: wall and CPU time per sentence.

* ``transformers``: ``tokenizer(texts, add_special_tokens=False)["input_ids"]``, the wrapper (which converts every
  encoding to Python dicts of lists);
* ``encode_batch + offsets``: the Rust backend's ``encode_batch``, ids and offsets taken
  (:func:`~veco_lightning.data.tokenizer.encode_with_offsets`, what the synonym datamodule needs);
* ``encode_batch``: the same, ids only;
* ``encode_ids``: :func:`~veco_lightning.data.tokenizer.encode_ids`, the backend's ``encode_batch_fast`` (no offsets
  tracked), what the parallel and monolingual datamodules store.

All NTREX-128 sentences (English and every other language with a reference file), in batches of ``--batch-size`` (1000,
as ``datasets.map``); the four ways alternate in rotating order for ``--rounds`` rounds, each on an idle CPU (the
harness's contention checks); medians. ``--tokenizer-threads on`` (default) lets the tokenizer use every core, as
``veco-prepare`` does.

Usage (from the repository root; about a minute)::

    python benchmarks/tokenize_speed.py [--data-dir ../shared/data] [--tokenizer DIR] [--rounds 5]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_data_dir(parser, "ntrex128/")
    harness.add_tokenizer(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--max-length", type=int, default=62, help="ids cut to this many tokens (a side of a "
                        "128-token pair, as the parallel datamodule cuts)")
    harness.add_tokenizer_threads(parser)
    harness.add_contention_options(parser, retries=1)
    harness.add_output(parser, "tokenize_speed")
    args = parser.parse_args(argv)
    files = sorted(glob.glob(os.path.join(args.data_dir, "ntrex128", "newstest2019-*.txt")))
    if not files:
        return harness.skip(f"no NTREX-128 files under {args.data_dir!r}; set --data-dir or $VECO_BENCH_DATA")
    harness.quiet_libraries("veco_lightning")
    from transformers import AutoTokenizer

    from veco_lightning.data.tokenizer import encode_ids, encode_with_offsets

    tok_dir = harness.find_tokenizer(args.tokenizer)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    backend, cut = tokenizer.backend_tokenizer, args.max_length
    texts = [line for path in files for line in harness.read_lines(path)]
    batches = [texts[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    def encode_batch_ids(batch: list[str]) -> list[list[int]]:
        # The transformers call leaves its truncation set on the backend; encode_ids and encode_with_offsets clear
        # it, so this way does too, to encode the same way.
        backend.no_truncation()
        return [e.ids[:cut] for e in backend.encode_batch(batch, add_special_tokens=False)]

    ways = {
        "transformers": lambda b: tokenizer(b, add_special_tokens=False, truncation=True, max_length=cut)["input_ids"],
        "encode_batch + offsets": lambda b: encode_with_offsets(tokenizer, b, cut),
        "encode_batch": encode_batch_ids,
        "encode_ids": lambda b: encode_ids(tokenizer, b, cut),
    }
    reference = [ids for batch in batches for ids in ways["transformers"](batch)]
    for name, way in ways.items():  # the same ids every way
        got = [item[0] if name == "encode_batch + offsets" else item for batch in batches for item in way(batch)]
        if got != reference:
            raise SystemExit(f"{name} gave other ids than the transformers call")
    harness.log(f"{len(texts):,} sentences from {len(files)} files, tokenizer {tok_dir}, "
                f"TOKENIZERS_PARALLELISM={harness.apply_tokenizer_threads(args)}")

    def timed(way):
        def run() -> dict:
            harness.apply_tokenizer_threads(args)
            wall, cpu = time.perf_counter(), harness.own_cpu_seconds()
            for batch in batches:
                way(batch)
            return {"us_per_sentence": (time.perf_counter() - wall) / len(texts) * 1e6,
                    "cpu_us_per_sentence": (harness.own_cpu_seconds() - cpu) / len(texts) * 1e6}
        return run

    rounds = harness.interleave({name: timed(way) for name, way in ways.items()}, args.rounds,
                                idle_wait=args.idle_wait, retries=args.retries,
                                describe=lambda r, name, f: f"  round {r + 1} {name}: {f['us_per_sentence']:.1f} µs")
    wall, cpu = harness.medians(rounds, "us_per_sentence"), harness.medians(rounds, "cpu_us_per_sentence")
    base = wall["transformers"]
    print(f"\n## Token ids of {len(texts):,} NTREX sentences (medians of {args.rounds} rounds)\n")
    print(harness.markdown_table(["way", "wall µs/sentence", "CPU µs/sentence", "speed vs transformers"],
                                 [[name, f"{wall[name]:.1f}", f"{cpu[name]:.1f}", f"{base / wall[name]:.2f}×"]
                                  for name in ways]))
    contention = harness.summarize_contention(rounds)
    harness.write_result(args.output, "tokenize_speed",
                         {"settings": {"tokenizer": tok_dir, "batch_size": args.batch_size, "rounds": args.rounds,
                                       "max_length": cut, "sentences": len(texts),
                                       "tokenizer_threads": args.tokenizer_threads},
                          "us_per_sentence": wall, "cpu_us_per_sentence": cpu, "rounds": rounds,
                          "worst_contention": contention},
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
