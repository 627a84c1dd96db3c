"""Synonym-pair mining on real parallel data: yield per language pair, throughput against tokenisation, samples.

For every language pair that has a Wiktionary dictionary in ``<data-dir>/dictionaries`` (en-xx.tsv) and an
NTREX-128 reference (``newstest2019-ref.<code>.txt``, line-aligned with ``newstest2019-src.eng.txt``), all 1997
lines are mined with :func:`veco_lightning.data.mining.mine_corpus` (built-in stop words on both sides unless
``--no-stop-words``) and a Markdown table is printed: sentence pairs, synonym pairs per sentence pair, share of
sentence pairs with at least one pair, multi-word pairs, source/target word coverage, dictionary load time and
mining time.

Throughput: over all mined pairs, the median of ``--runs`` runs of

* *tokenise*: ``tokenizer(texts, return_offsets_mapping=True)`` on both sides, in batches of ``--batch-size``
  (the way a ``datasets.map(batched=True)`` pre-processing step calls it);
* *pipeline*: the same tokenisation + :func:`mine_pair` for each pair + :func:`pair_token_spans` (character ->
  token spans) for each pair: everything the synonym data pipeline does per pair once dictionaries are loaded;

reported as pairs/s and as the overhead of the pipeline over tokenisation alone; and, closest to what a training run
does, the two datamodules' pre-processing (``datasets.map``, as in ``prepare_data`` without the disk write) of the
same xx-en pairs:

* *ParallelDataModule*: reading the pairs and tokenising both sides (no offsets needed), truncated to the pair
  length (``--num-proc`` processes);
* *SynonymAlignedDataModule*: tokenisation with offsets + mining + word units + token maps (what is cached). The tokenizer is the NTREX-trained
32k Unigram tokenizer cached by ``benchmarks/mlm_throughput.py`` under ``benchmarks/.cache`` if present, else the
demo tokenizer shipped with the package (no downloads); ``--tokenizer`` overrides.

Finally ``--samples`` random mined pairs of en-de and en-zh are printed for a human read.

Usage (from the repository root)::

    HF_HUB_OFFLINE=1 python benchmarks/mining_stats.py [--data-dir ../shared/data] [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
DEFAULT_DATA = os.environ.get("VECO_BENCH_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
NTREX_CODES = {"ar": "arb", "de": "deu", "el": "ell", "es": "spa", "fr": "fra", "hi": "hin", "ru": "rus", "tr": "tur",
               "vi": "vie", "zh": "zho-CN"}


def read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def find_tokenizer(explicit: str | None) -> str:
    if explicit:
        return explicit
    cached = sorted(glob.glob(os.path.join(HERE, ".cache", "tokenizer-*", "tokenizer.json")))
    if cached:
        return os.path.dirname(cached[-1])
    return os.path.join(REPO, "veco_lightning", "resources", "demo", "tokenizer")


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA, help="folder holding ntrex128/ and dictionaries/")
    parser.add_argument("--tokenizer", default=None, help="local tokenizer directory (default: see module doc)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="RAYON_NUM_THREADS for the Rust tokenizer (mining is single-threaded Python)")
    parser.add_argument("--no-stop-words", action="store_true")
    parser.add_argument("--num-proc", type=int, default=None, help="datasets.map processes in the datamodule stage")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from transformers import AutoTokenizer

    from veco_lightning.data.dictionary import read_dictionary
    from veco_lightning.data.mining import (
        default_stop_words,
        mine_corpus,
        mine_pair,
        pair_token_spans,
    )

    ntrex, dict_dir = os.path.join(args.data_dir, "ntrex128"), os.path.join(args.data_dir, "dictionaries")
    english = os.path.join(ntrex, "newstest2019-src.eng.txt")
    if not os.path.exists(english) or not os.path.isdir(dict_dir):
        print(f"SKIPPED: no NTREX-128 / dictionaries under {args.data_dir!r}; set --data-dir or $VECO_BENCH_DATA")
        return 0
    src_lines = read_lines(english)
    corpora = {}
    for lang, code in NTREX_CODES.items():
        dict_path, ref_path = os.path.join(dict_dir, f"en-{lang}.tsv"), os.path.join(ntrex, f"newstest2019-ref.{code}.txt")
        if os.path.exists(dict_path) and os.path.exists(ref_path):
            begin = time.perf_counter()
            dictionary = read_dictionary(dict_path, "en", lang)
            dictionary.index()  # the lookup tables are built once per dictionary
            corpora[lang] = (dictionary, read_lines(ref_path), time.perf_counter() - begin)

    stops = (lambda lang: None) if args.no_stop_words else (
        lambda lang: {"en": default_stop_words("en"), lang: default_stop_words(lang)})
    print(f"## Synonym mining on NTREX-128 (newstest2019, {len(src_lines)} lines), Wiktionary dictionaries, "
          f"stop words {'off' if args.no_stop_words else 'on'}\n")
    print("| pair | dict entries | sentence pairs | synonym pairs / sentence pair | with >=1 pair | multi-word "
          "| src coverage | tgt coverage | dict load s | mining s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    mined = {}
    for lang, (dictionary, tgt_lines, load_s) in corpora.items():
        results, stats = mine_corpus(zip(src_lines, tgt_lines), dictionary, "en", lang, stop_words=stops(lang))
        mined[lang] = results
        print(f"| en-{lang} | {dictionary.entries} | {stats.sentence_pairs} | {stats.mean_per_pair:.2f} "
              f"| {stats.pairs_with_synonyms / stats.sentence_pairs:.1%} | {stats.multi_word_pairs} "
              f"| {stats.src_coverage:.1%} | {stats.tgt_coverage:.1%} | {load_s:.2f} | {stats.seconds:.2f} |")

    tok_dir = find_tokenizer(args.tokenizer)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    jobs = [(lang, src_lines, tgt_lines) for lang, (_, tgt_lines, _) in corpora.items()]
    n_pairs = sum(len(src) for _, src, _ in jobs)

    def tokenize(src: list[str], tgt: list[str]):
        encoded = []
        for start in range(0, len(src), args.batch_size):
            s = tokenizer(src[start : start + args.batch_size], return_offsets_mapping=True)["offset_mapping"]
            t = tokenizer(tgt[start : start + args.batch_size], return_offsets_mapping=True)["offset_mapping"]
            encoded.extend(zip(s, t))
        return encoded

    def tokenise_only() -> None:
        for _, src, tgt in jobs:
            tokenize(src, tgt)

    def pipeline() -> None:
        for lang, src, tgt in jobs:
            dictionary, stop = corpora[lang][0], stops(lang)
            for (s_text, t_text), (s_off, t_off) in zip(zip(src, tgt), tokenize(src, tgt)):
                pair_token_spans(mine_pair(s_text, t_text, dictionary, "en", lang, stop_words=stop), s_off, t_off)

    def mining_only() -> None:
        for lang, src, tgt in jobs:
            dictionary, stop = corpora[lang][0], stops(lang)
            for s_text, t_text in zip(src, tgt):
                mine_pair(s_text, t_text, dictionary, "en", lang, stop_words=stop)

    from veco_lightning.data.parallel import ParallelDataModule, ParallelSource
    from veco_lightning.data.synonym import SynonymAlignedDataModule

    sources = {f"{lang}-en": ParallelSource(src=os.path.join(ntrex, f"newstest2019-ref.{NTREX_CODES[lang]}.txt"),
                                            tgt=english) for lang in corpora}
    common = {"files": sources, "tokenizer": tok_dir, "max_length": 128, "val_pairs": 0}
    plain = ParallelDataModule(**common)
    synonym = SynonymAlignedDataModule(
        dictionaries={f"en-{lang}": os.path.join(dict_dir, f"en-{lang}.tsv") for lang in corpora},
        stop_words=not args.no_stop_words, **common)
    plain.num_proc = synonym.num_proc = args.num_proc
    plain_fns = {pair: plain._tokenize_fn(pair) for pair in sources}
    synonym_fns = {pair: synonym._mining_fn(pair)[0] for pair in sources}  # dictionaries loaded here, untimed

    def datamodule_stage(dm, fns) -> Callable[[], None]:
        def run() -> None:  # reading the pairs and datasets.map, as prepare_data does (without the disk write)
            for pair, fn in fns.items():
                dm._tokenize(pair, fn)
        return run

    pipeline()  # warm-up: word caches, lazy imports
    datamodule_stage(synonym, synonym_fns)()
    # The stages alternate run by run, so that drifting machine load hits all of them alike.
    stages = (("tok", tokenise_only), ("all", pipeline), ("mine", mining_only),
              ("dm_tok", datamodule_stage(plain, plain_fns)),
              ("dm_all", datamodule_stage(synonym, synonym_fns)))
    times: dict[str, list[float]] = {name: [] for name, _ in stages}
    for _ in range(args.runs):
        for name, fn in stages:
            times[name].append(median_time(fn, 1))
    t_tok, t_all, t_mine, t_dm_tok, t_dm_all = (statistics.median(times[name]) for name, _ in stages)
    print(f"\n## Throughput ({n_pairs} sentence pairs, {len(jobs)} language pairs, median of {args.runs} runs, "
          f"tokenizer {os.path.relpath(tok_dir, REPO)} ({len(tokenizer)} entries), batch {args.batch_size}, "
          f"RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'default')}, {os.cpu_count()} CPUs)\n")
    print("| stage | seconds | pairs/s | µs/pair |")
    print("|---|---:|---:|---:|")
    for label, seconds in (("tokenisation with offsets (both sides)", t_tok),
                           ("tokenisation + mining + span mapping", t_all), ("mining alone (mine_pair)", t_mine)):
        print(f"| {label} | {seconds:.2f} | {n_pairs / seconds:,.0f} | {seconds / n_pairs * 1e6:.0f} |")
    print(f"\nMining + span mapping add {(t_all - t_tok) / t_tok:.0%} over tokenisation alone.")
    print(f"\n| datamodule pre-processing (datasets.map, num_proc={args.num_proc}) | seconds | pairs/s | µs/pair |")
    print("|---|---:|---:|---:|")
    for label, seconds in (("ParallelDataModule (tokenisation)", t_dm_tok),
                           ("SynonymAlignedDataModule (tokenisation + mining + token maps)", t_dm_all)):
        print(f"| {label} | {seconds:.2f} | {n_pairs / seconds:,.0f} | {seconds / n_pairs * 1e6:.0f} |")
    print(f"\nIn the datamodules, mining adds {(t_dm_all - t_dm_tok) / t_dm_tok:.0%} over tokenisation alone.")

    rng = random.Random(args.seed)
    for lang in ("de", "zh"):
        if lang not in mined:
            continue
        tgt_lines = corpora[lang][1]
        flat = [(i, p) for i, found in enumerate(mined[lang]) for p in found]
        print(f"\n## {min(args.samples, len(flat))} random en-{lang} synonym pairs (line: en — {lang})\n")
        for i, p in sorted(rng.sample(flat, min(args.samples, len(flat)))):
            print(f"- {i + 1}: {src_lines[i][slice(*p.src_span)]} — {tgt_lines[i][slice(*p.tgt_span)]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
