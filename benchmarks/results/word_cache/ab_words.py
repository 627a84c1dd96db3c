"""In-process A/B of text mining's words stage: both sides of a batch segmented and matched against the dictionary,
the way the synonym datamodule ran it before the word cache (``SynonymMiner.segment_batch`` of each side, then
``SynonymMiner.match_batch``; that code is unchanged) against the way it runs it now (``units.match_texts_batch``:
each spaced side's plain texts split with numpy and their words looked up by their characters through a cache of the
words seen before). NTREX's 10 language pairs in batches of 1,000; CPU time per sentence pair; both ways alternated
round by round; each way checked to give the same matches.

``warm``: each pair's miner has seen all its batches once before the timed pass, as on a corpus whose words recur
(every word cached). ``cold``: a fresh miner per pair and round, so the first batch's words are all new and the
second's partly (the first batches of a corpus); the normalisation cache, shared by both ways, is warm in both. Each
batch runs with the cyclic garbage collector paused, as data preparation runs it (``harness.collector_paused``).

Usage, from the repository root::

    python benchmarks/results/word_cache/ab_words.py warm|cold [ROUNDS] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import harness  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("state", choices=("warm", "cold"))
    parser.add_argument("rounds", type=int, nargs="?", default=5)
    harness.add_data_dir(parser, "ntrex128/ and dictionaries/")
    args = parser.parse_args()
    ntrex, dict_dir, english, langs = harness.found_or_exit(harness.ntrex_mining_data(args.data_dir))
    from veco_lightning.data.units import match_texts_batch

    def before(miner, src: list[str], tgt: list[str]):
        a, b = miner.segment_batch(src, "src"), miner.segment_batch(tgt, "tgt")
        return miner.match_batch(a.words, a.counts, b.words, b.counts)

    def now(miner, src: list[str], tgt: list[str]):
        return match_texts_batch(miner, src, tgt).found

    ways = {"before": harness.collector_paused(before), "now": harness.collector_paused(now)}
    en = harness.read_lines(english)
    corpus = {lang: harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
              for lang in langs}
    kept = {lang: harness.ntrex_miner(dict_dir, lang) for lang in langs}
    for lang, xx in corpus.items():  # the same matches both ways (and every word cached for the warm runs)
        for k in range(0, len(xx), 1000):
            a, b = before(kept[lang], xx[k:k + 1000], en[k:k + 1000]), now(kept[lang], xx[k:k + 1000], en[k:k + 1000])
            assert all((x == y).all() for x, y in zip(a, b)), lang
    per_lang: dict[tuple[str, str], list[float]] = {}
    ratios = []
    for round_ in range(args.rounds):
        spent = {}
        for way in (("before", "now") if round_ % 2 == 0 else ("now", "before")):
            spent[way] = 0.0
            for lang, xx in corpus.items():
                miner = kept[lang] if args.state == "warm" else harness.ntrex_miner(dict_dir, lang)
                begin = time.process_time()
                for k in range(0, len(xx), 1000):
                    ways[way](miner, xx[k:k + 1000], en[k:k + 1000])
                seconds = time.process_time() - begin
                spent[way] += seconds
                per_lang.setdefault((lang, way), []).append(seconds / len(xx))
        ratios.append(spent["now"] / spent["before"])
    n_pairs = sum(map(len, corpus.values()))
    harness.log(f"words stage, {args.state}: now / before median {statistics.median(ratios):.3f} (rounds: "
                + ", ".join(f"{r:.3f}" for r in ratios) + ")")
    for lang in langs:
        a, b = statistics.median(per_lang[lang, "before"]), statistics.median(per_lang[lang, "now"])
        harness.log(f"  {lang}-en: {a * 1e6:.1f} -> {b * 1e6:.1f} µs per pair ({b / a:.3f})")
    mean = {way: sum(statistics.median(per_lang[lang, way]) * len(corpus[lang]) for lang in langs) / n_pairs
            for way in ways}
    harness.log(f"  all: {mean['before'] * 1e6:.1f} -> {mean['now'] * 1e6:.1f} µs per pair")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
