"""A/B of reading text mining's offsets off the pieces: the whole synonym preparation of NTREX ×20 (10 pairs,
``mining: text``, ``num_proc`` 1, tokenizer threads on) from two checkouts, in alternated processes.

Usage, from the repository root (BEFORE: a checkout of c1e6e3b; AFTER: one of the change)::

    python benchmarks/results/text_piece_offsets/ab.py BEFORE AFTER [--rounds 3] [--scale 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = os.path.dirname(os.path.dirname(HERE))

ONE_RUN = """
import os, shutil, sys, tempfile, time
os.environ["TOKENIZERS_PARALLELISM"] = "true"
sys.path.insert(0, {benchmarks!r})
import harness
os.environ["TOKENIZERS_PARALLELISM"] = "true"
sys.path.insert(0, {checkout!r})
from veco_lightning.data.parallel import ParallelSource
from veco_lightning.data.synonym import SynonymAlignedDataModule
harness.quiet_libraries("veco_lightning")
ntrex, dict_dir, english, langs = harness.ntrex_mining_data(harness.SHARED_DATA, None)
scratch = tempfile.mkdtemp()
files = {{}}
for lang in langs:
    paths = []
    for path in (os.path.join(ntrex, "newstest2019-ref." + harness.NTREX_CODES[lang] + ".txt"), english):
        copy = os.path.join(scratch, lang + "." + os.path.basename(path))
        with open(copy, "w", encoding="utf-8") as handle:
            handle.write("\\n".join(harness.read_lines(path) * {scale}) + "\\n")
        paths.append(copy)
    files[lang + "-en"] = ParallelSource(src=paths[0], tgt=paths[1])
dm = SynonymAlignedDataModule(files=files, tokenizer=harness.find_tokenizer(None), max_length=128, val_pairs=0,
                              dictionaries={{"en-" + l: os.path.join(dict_dir, "en-" + l + ".tsv") for l in langs}},
                              stop_words=True, mining="text", cache_dir=os.path.join(scratch, "cache"))
_ = dm.tokenizer
begin = time.perf_counter()
for pair in dm.files:
    dm.prepare_data_for(pair)
print(round(time.perf_counter() - begin, 2))
shutil.rmtree(scratch)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=int, default=20)
    args = parser.parse_args()
    ratios = []
    for round_ in range(args.rounds):
        seconds = {}
        for arm in ("before", "after"):
            code = ONE_RUN.format(benchmarks=BENCHMARKS, checkout=os.path.abspath(getattr(args, arm)),
                                  scale=args.scale)
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            seconds[arm] = float(result.stdout.strip().splitlines()[-1])
        ratios.append(seconds["after"] / seconds["before"])
        print(f"round {round_ + 1}: before {seconds['before']:.2f} s, after {seconds['after']:.2f} s, "
              f"after / before {ratios[-1]:.3f}", flush=True)
    print(f"median after / before: {sorted(ratios)[len(ratios) // 2]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
