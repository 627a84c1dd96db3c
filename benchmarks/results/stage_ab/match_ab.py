"""In-process A/B of the dictionary matching (``SynonymMiner.match_batch``) between a checkout's ``synonyms.py`` and
this one's, on NTREX's 10 language pairs in batches of 1,000, both fed the same segmentation (this checkout's): CPU time
(least of 3 calls per batch), old and new alternated round by round, new / old per round.

Usage, from the repository root (``BEFORE_DIR``: a checkout, e.g. ``git worktree add /tmp/before <commit>``)::

    python benchmarks/results/stage_ab/match_ab.py BEFORE_DIR [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import harness  # noqa: E402


def main() -> int:
    before, rounds, (ntrex, dict_dir, english, langs) = harness.checkout_ab(9)
    from veco_lightning.lexicon.dictionary import read_dictionary
    from veco_lightning.lexicon.stopwords import default_stop_words

    old = harness.checkout_module(before, "veco_lightning/lexicon/synonyms.py", "before_synonyms")
    en = harness.read_lines(english)
    work = []
    for lang in langs:
        new_miner = harness.ntrex_miner(dict_dir, lang)
        dictionary = read_dictionary(os.path.join(dict_dir, f"en-{lang}.tsv"), lang, "en", reverse=True)
        old_miner = old.SynonymMiner(dictionary, lang, "en", {code: default_stop_words(code) for code in (lang, "en")})
        old_miner.batch_tables()
        xx = harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
        for k in range(0, len(xx), 1000):
            src, tgt = new_miner.segment_batch(xx[k:k + 1000], "src"), new_miner.segment_batch(en[k:k + 1000], "tgt")
            args = (src.words, src.counts, tgt.words, tgt.counts)
            a, b = old_miner.match_batch(*args), new_miner.match_batch(*args)
            assert all((x == y).all() for x, y in zip(a, b)), lang
            work.append((lang, len(src.counts), {"old": old_miner.match_batch, "new": new_miner.match_batch}, args))
    ratios, per_lang = [], {}
    for round_ in range(rounds):
        spent = {}
        for version in (("old", "new") if round_ % 2 == 0 else ("new", "old")):
            spent[version] = 0.0
            for lang, n, fns, args in work:
                s = harness.least_cpu(fns[version], *args)
                spent[version] += s
                per_lang.setdefault((lang, version), []).append(s / n)
        ratios.append(spent["new"] / spent["old"])
    harness.log(f"matching: new / old median {statistics.median(ratios):.3f} (rounds: "
                + ", ".join(f"{r:.3f}" for r in ratios) + ")")
    for lang in langs:
        o, n = statistics.median(per_lang[lang, "old"]), statistics.median(per_lang[lang, "new"])
        harness.log(f"  {lang}-en: {o * 1e6:.2f} -> {n * 1e6:.2f} µs per pair ({n / o:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
