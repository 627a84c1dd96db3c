"""One-off A/B (2026-12-03): the streaming reader before (one ``datasets`` stream per language, split with
``split_dataset_by_node``) and after (one stream per file), on the same corpus, alternating in one process.

Before running: ``git show d1e9269~2:veco_lightning/data/streaming.py > /tmp/epyc/ab/streaming_old.py``.
Usage: ``python ab.py BLOCKS ROUNDS`` (the log beside it: ``python ab.py 300 5``).
"""

import importlib.util
import os
import statistics
import sys
import time

from veco_lightning.data import streaming as new
from veco_lightning.data.tokenizer import load_tokenizer

spec = importlib.util.spec_from_file_location("streaming_old", "/tmp/epyc/ab/streaming_old.py")
old = importlib.util.module_from_spec(spec)
sys.modules["streaming_old"] = old
spec.loader.exec_module(old)
tok = load_tokenizer("/work/main/benchmarks/.cache/tokenizer-32000-c3aa4c06a9")
root = "/tmp/epyc/ab/corpus"
os.makedirs(root, exist_ok=True)
src = {"de": "deu", "fr": "fra", "ru": "rus"}
for lang, code in src.items():  # 8 files per language, each NTREX-128's file twice
    text = open(f"/work/shared/data/ntrex128/newstest2019-ref.{code}.txt", encoding="utf-8").read()
    for i in range(8):
        path = f"{root}/{lang}_{i}.txt"
        if not os.path.exists(path):
            open(path, "w", encoding="utf-8").write(text * 2)
files = {lang: f"{root}/{lang}_*.txt" for lang in src}
N = int(sys.argv[1]) if len(sys.argv) > 1 else 600
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def read(module, rank, world):
    """Blocks/s of the first ``N`` 512-token blocks of reader ``rank`` of ``world``."""
    blocks = iter(module.StreamingBlocks(files, tok, 512, rank=rank, world_size=world, repeat=True))
    start = time.perf_counter()
    for _ in range(N):
        next(blocks)
    return N / (time.perf_counter() - start)


for world, label in [(1, "1 reader, whole files"), (16, "reader 0 of 16, every 16th line")]:
    ratios = []
    for r in range(ROUNDS):
        a = read(old, 0, world)
        b = read(new, 0, world)
        ratios.append(b / a)
        print(f"{label} round {r}: before {a:.1f} blocks/s, after {b:.1f} blocks/s, after/before {b / a:.3f}",
              flush=True)
    print(f"{label}: median after/before {statistics.median(ratios):.3f}", flush=True)
