"""In-process A/B of text mining's words stage with texts holding a digit group (``3.5``, ``1,000``) split with numpy
(now) against those texts segmented by ``segment_batch`` and their words looked up as strings (before): the
``plain_words`` of another checkout patched into ``SynonymMiner.side_occurrences``, everything else this checkout's.
NTREX's 10 language pairs in batches of 1,000, each way with its own miners, every word cached before the timed
passes (a corpus whose words recur); CPU time per sentence pair; the ways alternated round by round; the same spans,
counts and matches both ways (checked). The cyclic garbage collector is paused for each batch, as data preparation
pauses it (``harness.collector_paused``): left on, a full collection over the loaded dictionaries lands in one arm or
the other and doubles that round.

Usage, from the repository root::

    python benchmarks/results/digit_groups/ab.py BEFORE_DIR [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import harness  # noqa: E402


def main() -> int:
    before_dir, rounds, (ntrex, dict_dir, english, langs) = harness.checkout_ab(7)
    import numpy as np
    import regex

    from veco_lightning.data.units import match_texts_batch
    from veco_lightning.lexicon import synonyms, words

    plain = {"before": harness.checkout_module(before_dir, "veco_lightning/lexicon/words.py",
                                               "words_before").plain_words,
             "now": words.plain_words}
    en = harness.read_lines(english)
    corpus = {lang: harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
              for lang in langs}
    match = harness.collector_paused(match_texts_batch)
    miners = {way: {lang: harness.ntrex_miner(dict_dir, lang) for lang in langs} for way in plain}
    batches = [(lang, xx[k:k + 1000], en[k:k + 1000]) for lang, xx in corpus.items() for k in range(0, len(xx), 1000)]
    pairs = sum(len(src) for _, src, _ in batches)

    def run(way: str):
        synonyms.plain_words = plain[way]
        try:
            return [match(miners[way][lang], src, tgt) for lang, src, tgt in batches]
        finally:
            synonyms.plain_words = words.plain_words

    texts = [text for _, src, tgt in batches for text in (*src, *tgt)]
    held = sum(1 for text in texts if regex.search(r"\d[.,:]\d", text))
    print(f"{len(texts):,} texts (both sides of each batch), {held:,} holding a digit group")
    for a, b in zip(run("before"), run("now")):  # the same results (and every word cached)
        assert all(np.array_equal(x, y) for x, y in zip(a.found, b.found))
        for x, y in ((a.src, b.src), (a.tgt, b.tgt)):
            assert all(np.array_equal(getattr(x, f), getattr(y, f)) for f in ("starts", "ends", "counts"))
    ratios = []
    for round_ in range(rounds):
        spent = {}
        for way in (("before", "now") if round_ % 2 == 0 else ("now", "before")):
            start = time.process_time()
            run(way)
            spent[way] = time.process_time() - start
        ratios.append(spent["now"] / spent["before"])
        print(f"round {round_ + 1}: before {spent['before'] / pairs * 1e6:.2f} µs per pair, now "
              f"{spent['now'] / pairs * 1e6:.2f}, now / before {ratios[-1]:.3f}", flush=True)
    print(f"median now / before over {rounds} rounds: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
