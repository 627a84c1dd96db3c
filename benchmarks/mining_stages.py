"""Where the CPU time of synonym-aligned data preparation goes, stage by stage, per NTREX language pair.

For every language pair ``xx-en`` with a Wiktionary dictionary in ``<data-dir>/dictionaries`` (en-xx.tsv) and an
NTREX-128 reference, the pairs go through the stages of the synonym datamodule's map function, batch by batch
(``--batch-size``, 1000 as ``datasets.map``), each timed alone in CPU time (best of ``--repeats``):

* ``tokens``: the token ids of both sides, as the parallel datamodule encodes them (``encode_ids``, no offsets
  tracked; the baseline);
* ``tokens+offsets``: the ids and the character offsets of both sides, tracked by the tokenizer (what text mining
  encodes where a sentence's pieces do not spell its text: :class:`~veco_lightning.data.token_mining.OffsetReader`);
* ``tokens+read``: the ids and offsets of both sides as text mining gets them with a SentencePiece-style tokenizer,
  read off the pieces (:meth:`~veco_lightning.data.token_mining.PieceOffsets.read`, the texts they do not spell
  encoded again with offsets tracked); the ``tokens+offsets`` figure with other tokenizers;
* ``read``: the reading alone (:meth:`~veco_lightning.data.token_mining.PieceOffsets.read_ids`, on ids encoded
  beforehand; the texts the pieces do not spell still encoded with offsets tracked): timed on its own since
  2026-12-05, where the difference ``tokens+read - tokens`` of two stages timed apart was noisy; with other
  tokenizers ``tokens+offsets - tokens``;
* ``seg xx`` / ``seg en``: the segmentation of each side (:meth:`SynonymMiner.segment_batch`);
* ``match``: the dictionary matching of those words (:meth:`SynonymMiner.match_batch`);
* ``words``: the segmentation and matching as the datamodule runs them
  (:func:`~veco_lightning.data.units.match_texts_batch`: since 2026-12-05, each spaced side's plain texts split with
  numpy and their words looked up by their characters through a cache of the words seen before), best of
  ``--repeats`` calls on the same batch: from the second call on every word of the batch is cached, as on a corpus
  that repeats its words (with older code: the three stages above in one call);
* ``words cold``: the same with the miner's word caches emptied before each call, as on a batch of words never seen
  (the first batches of a corpus);
* ``units``: the units and token maps from the offsets as the datamodule has them: from the ``tokens+read`` flat
  arrays (:func:`veco_lightning.data.units.batch_units`) with a SentencePiece-style tokenizer, else from the tracked
  offsets' lists (:func:`~veco_lightning.data.units.units_of_matches`, which flattens them first; until 2026-12-05
  the stage always took this path, and so counted about 3 µs per pair of flattening the datamodule does not do);
* ``mine tokens``: mining on token ids instead (``data.synonym.mining: tokens``): all of
  :meth:`~veco_lightning.data.token_mining.TokenMiner.mine` on both sides' ids, which are all it needs (best of
  ``--repeats`` calls on the same batch: from the second call on, every word of the batch is in its cache of decoded
  words, as on a corpus that repeats its words).

Loading the dictionary, its index and its lookup tables is timed once per pair (``dictionary s``). The tokenizer runs
on one thread (``TOKENIZERS_PARALLELISM=false``), so that every stage is timed on one core. Mining's share is
``(read + words + units) / tokens``: what it adds, in CPU time, to tokenisation alone, on a corpus whose words recur
(``cold share``: with ``words cold``, words never seen; until 2026-12-05 the share added the three stages ``seg xx``,
``seg en`` and ``match``, which ``words`` then was) (the
whole step, timed by ``benchmarks/mining_speed.py``, also holds reading and writing, which both datamodules share).
Token mining's share is ``mine tokens / tokens``.

Usage (from the repository root; about 2 minutes for the 10 pairs)::

    python benchmarks/mining_stages.py [--data-dir ../shared/data] [--langs de zh] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # every stage on one core

import harness

STAGES = ("tokens", "tokens+offsets", "tokens+read", "read", "seg xx", "seg en", "match", "words", "words cold",
          "units", "mine tokens")


def best_cpu(fn, repeats: int) -> tuple[float, object]:
    """The least CPU time of ``repeats`` calls of ``fn``, and its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        begin = time.process_time()
        result = fn()
        best = min(best, time.process_time() - begin)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_mining_batch_options(parser, "mining_stages", 5, "each stage's time is the best of this many calls")
    args = parser.parse_args(argv)
    found = harness.ntrex_mining_setup(args)
    if isinstance(found, str):
        return harness.skip(found)
    ntrex, dict_dir, english, langs, tok_dir, tokenizer = found

    from veco_lightning.data.token_mining import PieceOffsets, TokenMiner, token_tables
    from veco_lightning.data.tokenizer import encode_ids, encode_with_offsets
    from veco_lightning.data.units import MatchedBatch, batch_units, match_texts_batch, units_of_matches
    from veco_lightning.lexicon.synonyms import SynonymMiner

    side_length = (args.max_length - 4) // 2
    en = harness.read_lines(english)
    harness.log(f"{len(langs)} language pairs, tokenizer {tok_dir}, batches of {args.batch_size}, best of "
                f"{args.repeats} (CPU time, one thread)")

    tables = token_tables(tokenizer)
    piece_offsets = PieceOffsets(tables[2]) if tables[2] is not None else None

    def time_batch(miner: SynonymMiner, token_miner: TokenMiner, src: list[str], tgt: list[str]) -> dict[str, float]:
        """Each stage's least CPU time on one batch."""
        spent = {}

        spent["tokens"], _ = best_cpu(lambda: [encode_ids(tokenizer, texts, side_length) for texts in (src, tgt)],
                                      args.repeats)
        spent["tokens+offsets"], encoded = best_cpu(
            lambda: [encode_with_offsets(tokenizer, texts, side_length) for texts in (src, tgt)], args.repeats)
        if piece_offsets is None:
            spent["tokens+read"], read = spent["tokens+offsets"], None
        else:
            spent["tokens+read"], read = best_cpu(
                lambda: [piece_offsets.read(tokenizer, texts, side_length) for texts in (src, tgt)], args.repeats)
        if piece_offsets is None:  # the offsets' cost is the tracking's
            spent["read"] = spent["tokens+offsets"] - spent["tokens"]
        elif hasattr(piece_offsets, "read_ids"):  # the reading alone, on ids encoded beforehand
            uncut = [encode_ids(tokenizer, texts) for texts in (src, tgt)]
            spent["read"], _ = best_cpu(lambda: [piece_offsets.read_ids(tokenizer, texts, ids, side_length)
                                                 for texts, ids in zip((src, tgt), uncut)], args.repeats)
        else:  # a checkout from before read_ids (an A/B): the difference of two stages
            spent["read"] = spent["tokens+read"] - spent["tokens"]
        spent["seg xx"], src_words = best_cpu(lambda: miner.segment_batch(src, "src"), args.repeats)
        spent["seg en"], tgt_words = best_cpu(lambda: miner.segment_batch(tgt, "tgt"), args.repeats)
        spent["match"], matches = best_cpu(
            lambda: miner.match_batch(src_words.words, src_words.counts, tgt_words.words, tgt_words.counts),
            args.repeats)
        spent["words"], _ = best_cpu(lambda: match_texts_batch(miner, src, tgt), args.repeats)

        def cold() -> object:
            for cache in getattr(miner, "_word_ids", {}).values():  # code before the word caches has none
                cache.cache.clear()
            return match_texts_batch(miner, src, tgt)

        spent["words cold"], _ = best_cpu(cold, args.repeats)
        matched = MatchedBatch(src_words, tgt_words, matches)
        if read is None:  # the tracked offsets, as lists
            offsets = [[o for _, o in side] for side in encoded]
            spent["units"], _ = best_cpu(lambda: units_of_matches(matched, *offsets), args.repeats)
        else:  # the read offsets, already flat arrays
            spent["units"], _ = best_cpu(lambda: batch_units(matched, read[0][1], read[1][1]), args.repeats)
        ids = [encode_ids(tokenizer, texts) for texts in (src, tgt)]  # uncut, as token mining takes them
        spent["mine tokens"], _ = best_cpu(lambda: token_miner.mine(*ids, side_length), args.repeats)
        return spent

    per_pair: dict[str, dict[str, float]] = {}
    totals = dict.fromkeys(STAGES, 0.0)
    n_total = 0
    for lang in langs:
        xx = harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
        begin = time.process_time()
        miner = harness.ntrex_miner(dict_dir, lang)
        load = time.process_time() - begin
        token_miner = TokenMiner(miner, tokenizer, *tables)
        seconds = dict.fromkeys(STAGES, 0.0)
        for start in range(0, len(xx), args.batch_size):
            for stage, spent in time_batch(miner, token_miner, xx[start:start + args.batch_size],
                                           en[start:start + args.batch_size]).items():
                seconds[stage] += spent
        per_pair[f"{lang}-en"] = {**{stage: s / len(xx) * 1e6 for stage, s in seconds.items()},
                                  "dictionary_s": load, "sentence_pairs": len(xx)}
        for stage in STAGES:
            totals[stage] += seconds[stage]
        n_total += len(xx)
        harness.log(f"  {lang}-en: " + ", ".join(f"{stage} {per_pair[f'{lang}-en'][stage]:.1f}" for stage in STAGES)
                    + f" µs/pair; dictionary {load:.2f} s")
    per_pair["all"] = {stage: totals[stage] / n_total * 1e6 for stage in STAGES}
    per_pair["all"]["dictionary_s"] = sum(row["dictionary_s"] for row in per_pair.values() if "sentence_pairs" in row)

    def share(row: dict[str, float], words: str = "words") -> float:
        return (row["read"] + row[words] + row["units"]) / row["tokens"]

    rows = [[pair, *(f"{row[stage]:.1f}" for stage in STAGES), f"{share(row):+.0%}", f"{share(row, 'words cold'):+.0%}",
             f"{row['mine tokens'] / row['tokens']:+.0%}", f"{row['dictionary_s']:.2f}"]
            for pair, row in per_pair.items()]
    print(f"\n## Synonym preparation by stage (CPU µs per sentence pair, best of {args.repeats}, one thread)\n")
    print(harness.markdown_table(["pair", *STAGES, "mining / tokens", "cold", "token mining / tokens", "dictionary s"],
                                 rows))
    for row in per_pair.values():
        row["mining_share"] = share(row)
        row["mining_share_cold"] = share(row, "words cold")
        row["token_mining_share"] = row["mine tokens"] / row["tokens"]
    harness.write_result(args.output, "mining_stages",
                         {"settings": {"tokenizer": tok_dir, "batch_size": args.batch_size, "repeats": args.repeats,
                                       "max_length": args.max_length, "langs": langs},
                          "us_per_pair": per_pair},
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
