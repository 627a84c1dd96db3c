"""Data preparation with the tokenizer's word cache as the package sets it against the tokenizer's default
(one-off A/B): ``after`` as the package is (:data:`~veco_lightning.data.tokenizer.TOKENIZER_CACHE` words, emptied at
each source's start); ``before`` with the default cache of 10,000 words never emptied (``fresh_tokenizer_cache``
patched out, the cache sized back after loading). Each datamodule (parallel, synonym with ``mining: text`` and
``tokens``) prepares every pair from scratch (``prepare_data_for``, a fresh cache folder each time, one process) on
real text that repeats no sentence (``distinct``: NTREX, XNLI, Tatoeba; 10 pairs) and on NTREX x5; arms and
datamodules alternate, medians.
Run from the repository root:

    python benchmarks/results/tokenizer_cache_prepare/ab.py [ROUNDS]
"""

import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "true"  # as veco-prepare and mining_speed.py
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import harness  # noqa: E402
from mining_speed import replicate  # noqa: E402

harness.quiet_libraries("veco_lightning")
import veco_lightning.data.parallel as parallel_module  # noqa: E402
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource  # noqa: E402
from veco_lightning.data.synonym import SynonymAlignedDataModule  # noqa: E402
from veco_lightning.data.tokenizer import fresh_tokenizer_cache  # noqa: E402

ntrex, dict_dir, english, langs = harness.ntrex_mining_data("../shared/data", None)
scratch = tempfile.mkdtemp(dir="/tmp")
corpora = {"distinct": {}, "ntrex x5": {}}
pairs = {"distinct": 0, "ntrex x5": 0}
for lang in langs:
    corpora["distinct"][lang], n = harness.write_distinct_pairs("../shared/data", lang, scratch)
    pairs["distinct"] += n
    folder = os.path.join(scratch, "x5")
    os.makedirs(folder, exist_ok=True)
    corpora["ntrex x5"][lang] = (replicate(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"),
                                           5, folder), replicate(english, 5, folder))
    pairs["ntrex x5"] += 5 * len(harness.read_lines(english))
tok_dir = harness.find_tokenizer(None)
dictionaries = {f"en-{lang}": os.path.join(dict_dir, f"en-{lang}.tsv") for lang in langs}


def datamodules(corpus: str) -> dict:
    files = {f"{lang}-en": ParallelSource(src=src, tgt=tgt) for lang, (src, tgt) in corpora[corpus].items()}
    common = dict(files=files, tokenizer=tok_dir, max_length=128, val_pairs=0, num_proc=None)
    return {"tokenisation": ParallelDataModule(**common),
            "text": SynonymAlignedDataModule(dictionaries=dictionaries, stop_words=True, mining="text", **common),
            "tokens": SynonymAlignedDataModule(dictionaries=dictionaries, stop_words=True, mining="tokens", **common)}


modules = {corpus: {arm: datamodules(corpus) for arm in ("before", "after")} for corpus in corpora}


def run(corpus: str, arm: str, kind: str) -> float:
    dm = modules[corpus][arm][kind]
    tokenizer = dm.tokenizer
    if arm == "before":
        tokenizer.backend_tokenizer.model._clear_cache()
        tokenizer.backend_tokenizer.model._resize_cache(10_000)  # the tokenizer's default
    parallel_module.fresh_tokenizer_cache = (lambda tokenizer: None) if arm == "before" else fresh_tokenizer_cache
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    dm.cache_dir = tempfile.mkdtemp(dir=scratch)
    begin = time.perf_counter()
    for pair in dm.files:
        dm.prepare_data_for(pair)
    seconds = time.perf_counter() - begin
    shutil.rmtree(dm.cache_dir)
    return seconds / pairs[corpus] * 1e6


names = [(corpus, arm, kind) for corpus in corpora for kind in ("tokenisation", "text", "tokens")
         for arm in ("before", "after")]
results = {name: [] for name in names}
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
try:
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            results[name].append(run(*name))
            print(f"round {r + 1} {' / '.join(name)}: {results[name][-1]:.1f} µs/pair", flush=True)
finally:
    parallel_module.fresh_tokenizer_cache = fresh_tokenizer_cache
    shutil.rmtree(scratch, ignore_errors=True)
print(f"\nµs per sentence pair, medians of {rounds} rounds (whole preparation, dictionary loads included); "
      f"pairs: {pairs}")
print("| corpus | datamodule | before | after | after / before | overhead over tokenisation, before → after |")
print("|---|---|---:|---:|---:|---|")
for corpus in corpora:
    base = {arm: statistics.median(results[(corpus, arm, "tokenisation")]) for arm in ("before", "after")}
    for kind in ("tokenisation", "text", "tokens"):
        med = {arm: statistics.median(results[(corpus, arm, kind)]) for arm in ("before", "after")}
        ratios = [a / b for a, b in zip(results[(corpus, "after", kind)], results[(corpus, "before", kind)])]
        overhead = "" if kind == "tokenisation" else (f"{med['before'] / base['before'] - 1:+.1%} → "
                                                      f"{med['after'] / base['after'] - 1:+.1%}")
        print(f"| {corpus} | {kind} | {med['before']:.1f} | {med['after']:.1f} | {statistics.median(ratios):.3f} "
              f"({', '.join(f'{x:.3f}' for x in ratios)}) | {overhead} |")
