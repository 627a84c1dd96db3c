"""One-off A/B (kept with its results): the synonym datamodule's preparation with the next pair's dictionary and
miner built in a thread during the previous pair's map ("ahead", the package now) and without ("inline", as before:
``next_to_prepare`` patched to return None), beside tokenisation alone, on NTREX x20 with one process, both mining
options. Rounds interleaved and rotated by ``harness.interleave``; medians.

The change did not pay and was reverted: this script runs at commit ae7fa36, which holds it (``git checkout ae7fa36``
first, then run from the repository root).

    python benchmarks/results/mining_ahead_zen5/ab_ahead.py [--runs 3] [--scale 20] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import harness  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--runs", type=int, default=3)
parser.add_argument("--scale", type=int, default=20)
parser.add_argument("--mining", nargs="+", default=["tokens", "text"])
parser.add_argument("--output", default=None)
args = parser.parse_args()
harness.apply_tokenizer_threads(argparse.Namespace(tokenizer_threads="on"))
ntrex, dict_dir, english, langs = harness.ntrex_mining_data("../shared/data")
harness.quiet_libraries("veco_lightning")

from veco_lightning.data.parallel import ParallelDataModule, ParallelSource  # noqa: E402
from veco_lightning.data.synonym import SynonymAlignedDataModule  # noqa: E402

scratch = tempfile.mkdtemp(prefix="ab_ahead-")
folder = os.path.join(scratch, "x")
os.makedirs(folder)


def replicate(path: str) -> str:
    target = os.path.join(folder, os.path.basename(path))
    if not os.path.exists(target):
        with open(target, "w", encoding="utf-8") as handle:
            handle.write("\n".join(harness.read_lines(path) * args.scale) + "\n")
    return target


sources = {lang: os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt") for lang in langs}
files = {f"{lang}-en": ParallelSource(src=replicate(sources[lang]), tgt=replicate(english)) for lang in langs}
pairs = len(langs) * len(harness.read_lines(english)) * args.scale
common = {"files": files, "tokenizer": harness.find_tokenizer(None), "max_length": 128, "val_pairs": 0}
dictionaries = {f"en-{lang}": os.path.join(dict_dir, f"en-{lang}.tsv") for lang in langs}


class Inline(SynonymAlignedDataModule):
    def next_to_prepare(self):
        return None


modules = {"parallel": ParallelDataModule(**common)}
for mode in args.mining:
    modules[f"{mode}/ahead"] = SynonymAlignedDataModule(dictionaries=dictionaries, mining=mode, **common)
    modules[f"{mode}/inline"] = Inline(dictionaries=dictionaries, mining=mode, **common)


def stage(dm):
    def run():
        harness.apply_tokenizer_threads(argparse.Namespace(tokenizer_threads="on"))
        dm.cache_dir = tempfile.mkdtemp(prefix="cache-", dir=scratch)
        begin, begin_cpu = time.perf_counter(), harness.own_cpu_seconds()
        dm.prepare_data()
        seconds, cpu = time.perf_counter() - begin, harness.own_cpu_seconds() - begin_cpu
        shutil.rmtree(dm.cache_dir)
        return {"seconds": seconds, "cpu_s": cpu}
    return run


for dm in modules.values():
    _ = dm.tokenizer
rounds = harness.interleave({name: stage(dm) for name, dm in modules.items()}, args.runs, idle_wait=20,
                            describe=lambda run, name, f: f"round {run} {name}: {f['seconds']:.1f} s")
med = harness.medians(rounds, "seconds")
cpu = harness.medians(rounds, "cpu_s")
base = med["parallel"]
print(f"\nNTREX x{args.scale} ({pairs:,} pairs), num_proc 1, median of {args.runs} rounds")
print("| arm | seconds | µs/pair | overhead over tokenisation | CPU s |")
print("|---|---:|---:|---:|---:|")
for name in modules:
    print(f"| {name} | {med[name]:.1f} | {med[name] / pairs * 1e6:.0f} | "
          f"{'' if name == 'parallel' else f'{med[name] / base - 1:+.1%}'} | {cpu[name]:.1f} |")
for mode in args.mining:
    ratios = [r[f"{mode}/inline"]["seconds"] / r[f"{mode}/ahead"]["seconds"] for r in rounds]
    print(f"{mode}: inline / ahead per round {', '.join(f'{x:.3f}' for x in ratios)}; "
          f"median {statistics.median(ratios):.3f}")
if args.output:
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"command": " ".join(sys.argv), "pairs": pairs, "median_seconds": med, "median_cpu_s": cpu,
                   "rounds": rounds, "machine": harness.describe_machine()}, handle, indent=1, default=str)
shutil.rmtree(scratch)
