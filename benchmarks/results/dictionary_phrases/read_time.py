"""CPU seconds to read the 10 NTREX dictionaries of the shared data (``read_dictionary``, English as the target side,
as the synonym datamodule reads them), best of 3, with the code of the checkout given as the first argument.

A/B, alternated, from the repository root (BEFORE: a checkout of the code before, e.g. ``git worktree add``):
    for r in 1 2 3 4 5; do echo "round $r before $(python benchmarks/results/dictionary_phrases/read_time.py BEFORE)
    after $(python benchmarks/results/dictionary_phrases/read_time.py .)"; done
"""

import logging
import os
import sys
import time

sys.path.insert(0, os.path.abspath(sys.argv[1]))
DATA = os.environ.get("VECO_BENCH_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared",
                                                      "data"))
logging.disable(logging.WARNING)

from veco_lightning.lexicon.dictionary import read_dictionary  # noqa: E402

best = []
for _ in range(3):
    begin = time.process_time()
    for lang in ["ar", "de", "el", "es", "fr", "hi", "ru", "tr", "vi", "zh"]:
        read_dictionary(os.path.join(DATA, "dictionaries", f"en-{lang}.tsv"), lang, "en", reverse=True)
    best.append(time.process_time() - begin)
print(f"{min(best):.3f}")
