"""Where the whole step's mining overhead goes (one-off): NTREX x5 (10 pairs, read beforehand), each datamodule's
map function through ``write_sharded`` (one process), timing the calls of the function apart from the rest of the
map (reading the batches, writing the Arrow files), and the map again with the function's outputs computed
beforehand (the writing alone). Rounds alternate the arms; medians. Run from the repository root:

    python benchmarks/results/overhead_split_amx/split.py [ROUNDS]
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

harness.quiet_libraries("veco_lightning")
from veco_lightning.data.cache import text_dataset, write_sharded  # noqa: E402
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource  # noqa: E402
from veco_lightning.data.synonym import SynonymAlignedDataModule  # noqa: E402

SCALE = 5
ntrex, dict_dir, english, langs = harness.ntrex_mining_data("../shared/data", None)
files = {f"{lang}-en": ParallelSource(src=os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"),
                                      tgt=english) for lang in langs}
common = dict(files=files, tokenizer=harness.find_tokenizer(None), max_length=128, val_pairs=0, num_proc=None)
dictionaries = {f"en-{lang}": os.path.join(dict_dir, f"en-{lang}.tsv") for lang in langs}
modules = {"tokenisation": ParallelDataModule(**common),
           "text": SynonymAlignedDataModule(dictionaries=dictionaries, stop_words=True, mining="text", **common),
           "tokens": SynonymAlignedDataModule(dictionaries=dictionaries, stop_words=True, mining="tokens", **common)}
raw, functions, outputs = {}, {name: {} for name in modules}, {name: {} for name in modules}
for pair in files:
    (src, tgt), _ = modules["tokenisation"]._split(pair)
    raw[pair] = text_dataset({"src": src * SCALE, "tgt": tgt * SCALE}, pair)
    for name, dm in modules.items():
        fn = dm._tokenize_fn(pair) if name == "tokenisation" else dm._mining_fn(pair)[0]
        functions[name][pair] = fn
        outputs[name][pair] = [fn({"src": src[i:i + 1000], "tgt": tgt[i:i + 1000]})
                               for i in range(0, len(src), 1000)] * SCALE
n = sum(len(d) for d in raw.values())
scratch = tempfile.mkdtemp(dir="/tmp")
arms = [f"{name} {kind}" for name in modules for kind in ("map", "write only")]
results = {arm: [] for arm in arms}
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
for r in range(rounds):
    for arm in arms[r % len(arms):] + arms[:r % len(arms)]:
        name, kind = arm.split(" ", 1)
        inside = [0.0]

        def timed(fn, inside=inside):
            def call(batch):
                begin = time.perf_counter()
                out = fn(batch)
                inside[0] += time.perf_counter() - begin
                return out
            return call

        begin, begin_cpu = time.perf_counter(), time.process_time()
        for pair in files:
            if kind == "map":
                fn = timed(functions[name][pair])
            else:
                stored = iter(outputs[name][pair])
                fn = timed(lambda batch, stored=stored: next(stored))
            write_sharded(os.path.join(scratch, f"{arm}-{pair}-{r}".replace(" ", "_")), raw[pair], fn,
                          shard_rows=10 ** 9, num_proc=None, desc=arm)
        results[arm].append({"total": (time.perf_counter() - begin) / n * 1e6,
                             "cpu": (time.process_time() - begin_cpu) / n * 1e6, "function": inside[0] / n * 1e6})
        print(f"round {r + 1} {arm}: " + ", ".join(f"{k} {v:.1f}" for k, v in results[arm][-1].items())
              + " µs/pair", flush=True)
shutil.rmtree(scratch)
print(f"\n{n:,} sentence pairs (NTREX x{SCALE}, 10 pairs), one process; µs per pair, medians of {rounds} rounds")
print("| arm | wall | CPU | in the function | rest of the map |")
print("|---|---:|---:|---:|---:|")
med = {arm: {k: statistics.median(x[k] for x in v) for k in v[0]} for arm, v in results.items()}
for arm, m in med.items():
    print(f"| {arm} | {m['total']:.1f} | {m['cpu']:.1f} | {m['function']:.1f} | {m['total'] - m['function']:.1f} |")
base = med["tokenisation map"]
for name in ("text", "tokens"):
    m = med[f"{name} map"]
    print(f"{name}: whole map {m['total'] / base['total'] - 1:+.1%} over tokenisation; in the function "
          f"{m['function'] - base['function']:+.1f} µs/pair, the rest of the map "
          f"{(m['total'] - m['function']) - (base['total'] - base['function']):+.1f} µs/pair")
