"""Tokenisation of NTREX's 10 pairs split (one-off): the Rust tokenizer's batch encode, its ids made Python lists,
the Arrow column (``list_column_of``); µs per sentence pair, medians of 5 passes. Run from the repository root:

    python benchmarks/results/overhead_split_amx/tokenize_split.py
"""

import gc
import os
import statistics
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "true"  # as veco-prepare and mining_speed.py
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import harness  # noqa: E402

from veco_lightning.data.cache import list_column_of  # noqa: E402
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource  # noqa: E402
from veco_lightning.data.tokenizer import _plain_backend  # noqa: E402

ntrex, dict_dir, english, langs = harness.ntrex_mining_data("../shared/data", None)
files = {f"{lang}-en": ParallelSource(src=os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"),
                                      tgt=english) for lang in langs}
par = ParallelDataModule(files=files, tokenizer=harness.find_tokenizer(None), val_pairs=0)
backend = _plain_backend(par.tokenizer)
batches = []
for pair in files:
    (src, tgt), _ = par._split(pair)
    batches += [side[i:i + 1000] for side in (src, tgt) for i in range(0, len(side), 1000)]
n = sum(map(len, batches)) / 2
gc.disable()
parts = {"rust encode": [], "ids as lists": [], "arrow column": []}
for _ in range(5):
    spent = [0.0, 0.0, 0.0]
    for batch in batches:
        t0 = time.perf_counter()
        encoded = backend.encode_batch_fast(batch, add_special_tokens=False)
        t1 = time.perf_counter()
        ids = [e.ids[:62] for e in encoded]
        t2 = time.perf_counter()
        list_column_of(ids)
        t3 = time.perf_counter()
        for k, seconds in enumerate((t1 - t0, t2 - t1, t3 - t2)):
            spent[k] += seconds
    for name, seconds in zip(parts, spent):
        parts[name].append(seconds / n * 1e6)
for name, values in parts.items():
    print(f"{name}: µs per pair {[round(v, 1) for v in values]}, median {statistics.median(values):.1f}")
