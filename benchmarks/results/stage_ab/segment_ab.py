"""In-process A/B of word segmentation (``segment_batch``) between a checkout's ``words.py`` and this one's, on NTREX's
English side and the given languages' (default: German and Spanish, whose batches mix ASCII texts with others, and
Greek and Russian, whose batches do not): CPU time of all the side's batches of 1,000 (least of 5 calls each), old and
new alternated, new / old per round. ``merge_ab.log``: the run for the groups put back in order by slices
(``segment_ab.py BEFORE_DIR 15``); ``clitics_ab.log``: for the apostrophes found by comparing code points and the
clitics' words spliced in by slices (``segment_ab.py BEFORE_DIR 15 fr it de``).

Usage, from the repository root (``BEFORE_DIR``: a checkout, e.g. ``git worktree add /tmp/before <commit>``)::

    python benchmarks/results/stage_ab/segment_ab.py BEFORE_DIR [ROUNDS] [LANG ...]
"""

from __future__ import annotations

import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import harness  # noqa: E402


def main() -> int:
    before, rounds, (ntrex, _, english, langs) = harness.checkout_ab(15, sys.argv[3:] or ["de", "es", "el", "ru"])
    from veco_lightning.lexicon import words as new

    old = harness.checkout_module(before, "veco_lightning/lexicon/words.py", "before_words")
    sides = {"en": harness.read_lines(english)}
    for lang in langs:
        sides[lang] = harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
    for lang, lines in sides.items():
        batches = [lines[k:k + 1000] for k in range(0, len(lines), 1000)]
        for batch in batches:
            a, b = old.segment_batch(batch, lang), new.segment_batch(batch, lang)
            assert a.words == b.words and (a.starts == b.starts).all() and (a.ends == b.ends).all(), lang
        ratios = []
        for _ in range(rounds):
            spent_old = sum(harness.least_cpu(old.segment_batch, batch, lang, calls=5) for batch in batches)
            spent_new = sum(harness.least_cpu(new.segment_batch, batch, lang, calls=5) for batch in batches)
            ratios.append(spent_new / spent_old)
        ascii_texts = [sum(text.isascii() for text in batch) for batch in batches]
        harness.log(f"{lang}: ASCII texts per batch {ascii_texts}; new / old median {statistics.median(ratios):.3f} "
                    f"({min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
