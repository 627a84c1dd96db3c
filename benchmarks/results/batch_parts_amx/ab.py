"""The batch of text mining's map function encoded in parts (one-off A/B): with ``parts.diff`` applied (a module
knob ``_CHUNKS`` in ``veco_lightning/data/synonym.py``), the map function of each of NTREX's 10 pairs on batches of
1,000 pairs (every word cached: each batch run once first), the batch whole (1), in 2 and in 4 parts, alternated with
tokenisation alone, in one process with the collector off; checks that the stored columns are equal for every arm.
Run from the repository root, with the diff applied (``git apply benchmarks/results/batch_parts_amx/parts.diff``):

    python benchmarks/results/batch_parts_amx/ab.py [ROUNDS] [PARTS, e.g. 1,2,4]
"""

import gc
import os
import statistics
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "true"  # as veco-prepare and mining_speed.py
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import harness  # noqa: E402

harness.quiet_libraries("veco_lightning")
import veco_lightning.data.synonym as synmod  # noqa: E402
from veco_lightning.data.parallel import ParallelDataModule, ParallelSource  # noqa: E402
from veco_lightning.data.synonym import SynonymAlignedDataModule  # noqa: E402

ntrex, dict_dir, english, langs = harness.ntrex_mining_data("../shared/data", None)
files = {f"{lang}-en": ParallelSource(src=os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"),
                                      tgt=english) for lang in langs}
common = dict(files=files, tokenizer=harness.find_tokenizer(None), max_length=128, val_pairs=0, num_proc=None)
par = ParallelDataModule(**common)
syn = SynonymAlignedDataModule(dictionaries={f"en-{lang}": os.path.join(dict_dir, f"en-{lang}.tsv") for lang in langs},
                               stop_words=True, mining="text", **common)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
arms = [int(a) for a in sys.argv[2].split(",")] if len(sys.argv) > 2 else [1, 4]
functions, batches = {}, {}
for pair in files:
    (src, tgt), _ = par._split(pair)
    batches[pair] = [{"src": src[i:i + 1000], "tgt": tgt[i:i + 1000]} for i in range(0, len(src), 1000)]
    functions[pair] = (par._tokenize_fn(pair), syn._mining_fn(pair)[0])
    outputs = {}
    for parts in arms:
        synmod._CHUNKS = parts
        outputs[parts] = [functions[pair][1](batch) for batch in batches[pair]]
    for parts in arms[1:]:
        assert all(x.equals(y) for x, y in zip(outputs[arms[0]], outputs[parts])), (pair, parts)
print("outputs equal across arms")
n = sum(len(batch["src"]) for pair_batches in batches.values() for batch in pair_batches)
names = ["par"] + [f"c{parts}" for parts in arms]
results = {name: [] for name in names}
gc.disable()
for r in range(rounds):
    for name in names[r % len(names):] + names[:r % len(names)]:
        if name != "par":
            synmod._CHUNKS = int(name[1:])
        which = 0 if name == "par" else 1
        begin, begin_cpu = time.perf_counter(), time.process_time()
        for pair in files:
            for batch in batches[pair]:
                functions[pair][which](batch)
        results[name].append(((time.perf_counter() - begin) / n * 1e6, (time.process_time() - begin_cpu) / n * 1e6))
for name, values in results.items():
    print(name, "wall", " ".join(f"{w:.1f}" for w, _ in values), "| cpu", " ".join(f"{c:.1f}" for _, c in values),
          f"| median wall {statistics.median(w for w, _ in values):.1f}")
for name in names[1:]:
    ratios = [s[0] / p[0] for s, p in zip(results[name], results["par"])]
    print(name, "over tokenisation, per round:", " ".join(f"{x - 1:+.1%}" for x in ratios),
          f"median {statistics.median(ratios) - 1:+.1%}")
for name in names[2:]:
    ratios = [s[0] / p[0] for s, p in zip(results[name], results[names[1]])]
    print(name, "/", names[1], "per round:", " ".join(f"{x:.3f}" for x in ratios),
          f"median {statistics.median(ratios):.3f}")
