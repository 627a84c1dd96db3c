"""Synonym mining speed through the datamodules: what mining adds to tokenisation, with 1 and 2 processes, on NTREX
and on a corpus ``--scale`` times larger, and whether the time grows linearly with the corpus.

For every language pair ``xx-en`` that has a Wiktionary dictionary in ``<data-dir>/dictionaries`` (en-xx.tsv) and an
NTREX-128 reference, two datamodules prepare the same pair files from scratch (``prepare_data_for`` on a fresh
cache folder each time: reading the pairs, ``datasets.map``, writing the shards):

* *tokenisation*: :class:`~veco_lightning.data.parallel.ParallelDataModule` (token ids of both sides);
* *tokenisation + mining*: :class:`~veco_lightning.data.synonym.SynonymAlignedDataModule` (token ids and offsets,
  synonym mining, word units, token maps; built-in stop words), which also loads each pair's dictionary: that load
  is timed apart, so that the overhead of mining proper can be read beside the overhead of the whole step. Each
  ``--mining`` option is one such datamodule: ``text`` (the default option) and ``tokens`` (mining on token ids,
  no offsets: :mod:`veco_lightning.data.token_mining`), both measured by default.

Each is measured with ``num_proc`` 1 and 2 (``--num-proc``) on the corpora of ``--corpora``: ``ntrex`` (1,997 lines
per pair), ``replicated`` (NTREX repeated ``--scale`` times, default 20: each file's lines repeated, written to a
temporary folder) and ``distinct`` (every distinct sentence pair of NTREX, XNLI dev and test and Tatoeba with English,
about 13,000 per language: real text that repeats no sentence, :func:`harness.distinct_pairs`). A replicated corpus
has seen all its words after its first copy, which flatters token mining's cache of decoded words; the distinct one
measures what new text costs. The default is ``ntrex replicated``. A round measures every
combination once, in an order rotated round by round (``benchmarks/harness.py``: idle CPU awaited, contention
recorded); the figures are medians over ``--runs`` rounds. The script prints

* per corpus and ``num_proc``: seconds, µs per sentence pair, pairs/s, and the overhead of mining over tokenisation
  (whole step, from the medians; without the dictionary loads; and the median and range of each round's own ratio,
  which a host whose speed drifts during the run moves less);
* the same in CPU time (this process, its threads and its ``num_proc`` workers) and the cores each kept busy: when
  the CPU overhead matches the wall-clock one, mining is not waiting on anything, and only less work makes it faster;
* per larger corpus, datamodule and ``num_proc``: time on it / time on NTREX (its size over NTREX's when the time
  is linear in the corpus size; fixed costs such as dictionary loads and process start-up pull it below), and the
  marginal cost per pair, ``(T_large - T_ntrex) / (pairs_large - pairs_ntrex)``, which excludes every fixed cost;
* with several ``--scale`` values (e.g. ``--scale 5 10 20``): one straight line fitted through NTREX and every
  replicated size, per datamodule and ``num_proc`` (fixed seconds, µs per pair, R², each size's residual).

Results go to ``benchmarks/results/mining_speed.json`` (``--output``). The tokenizer is the one
``benchmarks/mining_stats.py`` uses (the NTREX-trained tokenizer cached by ``mlm_throughput.py`` if present, else
the demo tokenizer); ``--tokenizer`` overrides. It encodes each batch on every core, its default and what
``veco-prepare`` does (``--tokenizer-threads off``: on one core, as the runs of this script before that option did).

Usage (from the repository root; with the defaults about 40 minutes on 2 busy CPU cores, 10 language pairs)::

    python benchmarks/mining_speed.py [--data-dir ../shared/data] [--runs 3] [--scale 20 | --scale 5 10 20]
        [--langs de zh] [--mining text tokens] [--corpora ntrex replicated distinct]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

import harness

KINDS = {"text": "synonym", "tokens": "synonym_tokens"}  # data.synonym.mining -> the measurement's name
CORPORA = ("ntrex", "replicated", "distinct")


def replicate(path: str, times: int, folder: str) -> str:
    """Write ``path``'s lines ``times`` over into ``folder`` (same file name); returns the new path."""
    target = os.path.join(folder, os.path.basename(path))
    if not os.path.exists(target):
        lines = harness.read_lines(path)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines * times) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_data_dir(parser, "ntrex128/ and dictionaries/")
    harness.add_tokenizer(parser)
    parser.add_argument("--runs", type=int, default=3, help="rounds; the figures are medians over them")
    parser.add_argument("--scale", type=int, nargs="+", default=[20],
                        help="the replicated corpus is NTREX repeated this many times; several values: one replicated "
                             "corpus each, and a straight line fitted through all sizes")
    parser.add_argument("--corpora", nargs="+", choices=CORPORA, default=["ntrex", "replicated"],
                        help="corpora to prepare: NTREX, NTREX repeated --scale times, and/or every distinct pair of "
                             "NTREX, XNLI and Tatoeba (the scaling table compares each larger one with NTREX)")
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2], help="datasets.map processes to measure")
    parser.add_argument("--langs", nargs="+", default=None,
                        help="non-English sides to use (default: every language with a dictionary and NTREX file)")
    parser.add_argument("--max-length", type=int, default=128, help="the datamodules' pair length in tokens")
    parser.add_argument("--mining", nargs="+", choices=sorted(KINDS), default=list(KINDS),
                        help="the synonym datamodule's mining option(s) to measure (data.synonym.mining)")
    harness.add_tokenizer_threads(parser)
    harness.add_contention_options(parser)
    harness.add_output(parser, "mining_speed")
    args = parser.parse_args(argv)
    harness.apply_tokenizer_threads(args)
    found = harness.ntrex_mining_data(args.data_dir, args.langs)
    if isinstance(found, str):
        return harness.skip(found)
    ntrex, dict_dir, english, langs = found
    harness.quiet_libraries("veco_lightning")

    from veco_lightning.data.parallel import ParallelDataModule, ParallelSource
    from veco_lightning.data.synonym import SynonymAlignedDataModule

    machine = harness.describe_machine()
    tok_dir = harness.find_tokenizer(args.tokenizer)
    scratch = tempfile.mkdtemp(prefix="mining_speed-", dir=harness.CACHE if os.path.isdir(harness.CACHE) else None)
    n_lines = len(harness.read_lines(english))
    # corpus -> each language's (source file, English file), and the corpus's sentence pairs
    corpora: dict[str, dict[str, tuple[str, str]]] = {}
    pairs: dict[str, int] = {}
    ntrex_files = {lang: (os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"), english)
                   for lang in langs}
    if "ntrex" in args.corpora:
        corpora["ntrex"], pairs["ntrex"] = ntrex_files, len(langs) * n_lines
    if "replicated" in args.corpora:
        for scale in args.scale:
            folder = os.path.join(scratch, f"ntrex-x{scale}")
            os.makedirs(folder)
            corpora[f"x{scale}"] = {lang: tuple(replicate(path, scale, folder) for path in files)
                                    for lang, files in ntrex_files.items()}
            pairs[f"x{scale}"] = len(langs) * n_lines * scale
    if "distinct" in args.corpora:
        folder = os.path.join(scratch, "distinct")
        os.makedirs(folder)
        corpora["distinct"], pairs["distinct"] = {}, 0
        for lang in langs:
            corpora["distinct"][lang], n = harness.write_distinct_pairs(args.data_dir, lang, folder)
            pairs["distinct"] += n

    class TimedSynonymModule(SynonymAlignedDataModule):
        """The synonym datamodule, timing its dictionary loads (read inside ``prepare_data_for``)."""

        dictionary_seconds = 0.0

        def dictionary(self, pair: str):
            begin = time.perf_counter()
            found = super().dictionary(pair)
            TimedSynonymModule.dictionary_seconds += time.perf_counter() - begin
            return found

    def datamodules(corpus: str, num_proc: int) -> dict[str, object]:
        files = {f"{lang}-en": ParallelSource(src=src, tgt=tgt) for lang, (src, tgt) in corpora[corpus].items()}
        common = {"files": files, "tokenizer": tok_dir, "max_length": args.max_length, "val_pairs": 0,
                  "num_proc": num_proc if num_proc > 1 else None}
        dictionaries = {f"en-{lang}": os.path.join(dict_dir, f"en-{lang}.tsv") for lang in langs}
        return {"parallel": ParallelDataModule(**common),
                **{KINDS[mode]: TimedSynonymModule(dictionaries=dictionaries, stop_words=True, mining=mode, **common)
                   for mode in args.mining}}

    def stage(dm, corpus: str) -> Callable[[], dict]:
        def run() -> dict:
            harness.apply_tokenizer_threads(args)  # again: a num_proc map leaves the process environment at "false"
            dm.cache_dir = tempfile.mkdtemp(prefix="cache-", dir=scratch)  # fresh: nothing prepared before
            TimedSynonymModule.dictionary_seconds = 0.0
            begin, begin_cpu = time.perf_counter(), harness.own_cpu_seconds()
            for pair in dm.files:
                dm.prepare_data_for(pair)
            seconds, cpu = time.perf_counter() - begin, harness.own_cpu_seconds() - begin_cpu
            shutil.rmtree(dm.cache_dir)
            loads = TimedSynonymModule.dictionary_seconds if isinstance(dm, TimedSynonymModule) else 0.0
            return {"seconds": seconds, "cpu_s": cpu, "dictionary_s": loads, "sentence_pairs": pairs[corpus]}
        return run

    measurements = {}
    for corpus in corpora:
        for num_proc in args.num_proc:
            for kind, dm in datamodules(corpus, num_proc).items():
                _ = dm.tokenizer  # loaded once, untimed
                measurements[f"{corpus}/np{num_proc}/{kind}"] = stage(dm, corpus)
    harness.log(f"{len(langs)} language pairs ({', '.join(f'{lang}-en' for lang in langs)}), "
                + ", ".join(f"{name} {n:,} sentence pairs" for name, n in pairs.items())
                + f"; {len(measurements)} measurements per round, {args.runs} rounds")

    def describe(run: int, name: str, figures: dict) -> str:
        per_pair = figures["seconds"] / figures["sentence_pairs"] * 1e6
        cores = figures["cpu_s"] / figures["seconds"]
        return (f"  round {run + 1} {name}: {figures['seconds']:.1f} s ({per_pair:.0f} µs/pair; {cores:.2f} cores "
                f"busy; dictionaries {figures['dictionary_s']:.1f} s)")

    try:
        runs = harness.interleave(measurements, args.runs, idle_wait=args.idle_wait, retries=args.retries,
                                  describe=describe)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = harness.medians(runs, "seconds")
    loads = harness.medians(runs, "dictionary_s")
    cpu = harness.medians(runs, "cpu_s")

    rows, cpu_rows, results = [], [], {}
    for corpus in corpora:
        for num_proc in args.num_proc:
            key = f"{corpus}/np{num_proc}"
            tok, n = seconds[f"{key}/parallel"], pairs[corpus]
            for mode in args.mining:
                kind = KINDS[mode]
                syn, load = seconds[f"{key}/{kind}"], loads[f"{key}/{kind}"]
                # Each round's own ratio too: the two measurements of a round ran within minutes of each other, so a
                # host whose speed drifts over the run moves both alike; the ratio of the medians can pair rounds.
                per_round = [r[f"{key}/{kind}"]["seconds"] / r[f"{key}/parallel"]["seconds"] - 1 for r in runs]
                results[f"{key}/{mode}"] = r = {
                    "sentence_pairs": n, "tokenisation_s": tok, "tokenisation_mining_s": syn,
                    "dictionary_load_s": load, "tokenisation_us_per_pair": tok / n * 1e6,
                    "tokenisation_mining_us_per_pair": syn / n * 1e6, "tokenisation_pairs_per_s": n / tok,
                    "tokenisation_mining_pairs_per_s": n / syn, "overhead": (syn - tok) / tok,
                    "overhead_without_dictionary_load": (syn - load - tok) / tok,
                    "overhead_per_round": per_round, "overhead_median_of_rounds": statistics.median(per_round),
                    "tokenisation_cpu_us_per_pair": cpu[f"{key}/parallel"] / n * 1e6,
                    "tokenisation_mining_cpu_us_per_pair": cpu[f"{key}/{kind}"] / n * 1e6,
                    "tokenisation_cores": cpu[f"{key}/parallel"] / tok,
                    "tokenisation_mining_cores": cpu[f"{key}/{kind}"] / syn,
                    "cpu_overhead": (cpu[f"{key}/{kind}"] - cpu[f"{key}/parallel"]) / cpu[f"{key}/parallel"]}
                cpu_rows.append([corpus, num_proc, mode, f"{r['tokenisation_cpu_us_per_pair']:.0f}",
                                 f"{r['tokenisation_mining_cpu_us_per_pair']:.0f}", f"{r['cpu_overhead']:+.0%}",
                                 f"{r['tokenisation_cores']:.2f}", f"{r['tokenisation_mining_cores']:.2f}"])
                rows.append([corpus, num_proc, mode, f"{n:,}", f"{tok:.1f}", f"{syn:.1f}", f"{load:.1f}",
                             f"{r['tokenisation_us_per_pair']:.0f}", f"{r['tokenisation_mining_us_per_pair']:.0f}",
                             f"{r['tokenisation_pairs_per_s']:,.0f}", f"{r['tokenisation_mining_pairs_per_s']:,.0f}",
                             f"{r['overhead']:+.0%}", f"{r['overhead_without_dictionary_load']:+.0%}",
                             f"{r['overhead_median_of_rounds']:+.0%} ({min(per_round):+.0%} to {max(per_round):+.0%})"])
    print(f"\n## Synonym mining through the datamodules (prepare_data_for, fresh cache; median of {args.runs} rounds; "
          f"tokenizer {os.path.relpath(tok_dir, harness.REPO)}, max_length {args.max_length}, tokenizer threads "
          f"{args.tokenizer_threads}, {os.cpu_count()} CPUs)\n")
    print(harness.markdown_table(
        ["corpus", "num_proc", "mining", "pairs", "tok s", "tok+mining s", "of which dict load s", "tok µs/pair",
         "tok+mining µs/pair", "tok pairs/s", "tok+mining pairs/s", "overhead", "overhead w/o dict load",
         "overhead per round: median (range)"], rows))
    # CPU time beside wall time: when the two overheads agree, mining is not waiting on anything (it uses the cores
    # as well as tokenisation does) and only less work would make it cheaper.
    print("\n## CPU time (this process, its threads and its num_proc workers; dictionary loads included)\n")
    print(harness.markdown_table(["corpus", "num_proc", "mining", "tok CPU µs/pair", "tok+mining CPU µs/pair",
                                  "CPU overhead", "tok cores busy", "tok+mining cores busy"], cpu_rows))

    linear_rows, linearity, marginal_rows = [], {}, []
    for large in [name for name in corpora if name != "ntrex"] if "ntrex" in corpora else []:
        for num_proc in args.num_proc:
            for kind in ("parallel", *(KINDS[mode] for mode in args.mining)):
                small_s, large_s = seconds[f"ntrex/np{num_proc}/{kind}"], seconds[f"{large}/np{num_proc}/{kind}"]
                marginal = (large_s - small_s) / (pairs[large] - pairs["ntrex"])
                linearity[f"{large}/np{num_proc}/{kind}"] = {"ratio": large_s / small_s,
                                                             "marginal_us_per_pair": marginal * 1e6}
                linear_rows.append([large, kind, num_proc, f"{pairs[large] / pairs['ntrex']:.1f}", f"{small_s:.1f}",
                                    f"{large_s:.1f}", f"{large_s / small_s:.1f}", f"{marginal * 1e6:.0f}"])
            tok_m = linearity[f"{large}/np{num_proc}/parallel"]["marginal_us_per_pair"]
            for mode in args.mining:
                syn_m = linearity[f"{large}/np{num_proc}/{KINDS[mode]}"]["marginal_us_per_pair"]
                linearity[f"{large}/np{num_proc}/marginal_overhead/{mode}"] = (syn_m - tok_m) / tok_m
                marginal_rows.append(f"{large}, {mode}, num_proc {num_proc}: {(syn_m - tok_m) / tok_m:+.0%}")
    if linear_rows:
        print("\n## Scaling: each larger corpus vs NTREX (the ratio is the size ratio if linear; fixed costs pull it "
              "below)\n")
        print(harness.markdown_table(["corpus", "datamodule", "num_proc", "size vs NTREX", "NTREX s", "corpus s",
                                      "ratio", "marginal µs/pair"], linear_rows))
        print("\nMarginal overhead of mining (fixed costs excluded): " + ", ".join(marginal_rows))

    # With two or more replicated sizes: one straight line through NTREX and all of them (least squares), seconds =
    # fixed + per pair x pairs. Linear time shows as small residuals at every size, not only at the two ends.
    sizes = ["ntrex", *(f"x{scale}" for scale in args.scale)] if "ntrex" in corpora and "replicated" in args.corpora \
        else []
    fit_rows, fits = [], {}
    if len(sizes) >= 3:
        for num_proc in args.num_proc:
            for kind in ("parallel", *(KINDS[mode] for mode in args.mining)):
                xs = [pairs[size] for size in sizes]
                ys = [seconds[f"{size}/np{num_proc}/{kind}"] for size in sizes]
                slope, intercept = statistics.linear_regression(xs, ys)
                residuals = [(y - (intercept + slope * x)) / y for x, y in zip(xs, ys)]
                worst = max(range(len(sizes)), key=lambda i: abs(residuals[i]))
                fits[f"np{num_proc}/{kind}"] = {
                    "sizes": dict(zip(sizes, xs)), "fixed_s": intercept, "per_pair_us": slope * 1e6,
                    "r2": statistics.correlation(xs, ys) ** 2, "relative_residuals": dict(zip(sizes, residuals))}
                fit_rows.append([kind, num_proc, f"{intercept:.2f}", f"{slope * 1e6:.1f}",
                                 f"{statistics.correlation(xs, ys) ** 2:.5f}",
                                 ", ".join(f"{size} {res:+.1%}" for size, res in zip(sizes, residuals)),
                                 f"{sizes[worst]}"])
        print(f"\n## Linearity: one straight line through {', '.join(sizes)} (least squares; residual = "
              "(measured - line) / measured)\n")
        print(harness.markdown_table(["datamodule", "num_proc", "fixed s", "µs per pair", "R²", "residuals",
                                      "largest at"], fit_rows))

    spread = {name: {"min": min(r[name]["seconds"] for r in runs), "max": max(r[name]["seconds"] for r in runs),
                     "stdev": statistics.pstdev(r[name]["seconds"] for r in runs)} for name in measurements}
    contention = harness.summarize_contention(runs)
    harness.write_result(args.output, "mining_speed", {
        "settings": {"languages": langs, "corpora": list(corpora), "scale": args.scale, "num_proc": args.num_proc,
                     "runs": args.runs,
                     "tokenizer": os.path.relpath(tok_dir, harness.REPO), "max_length": args.max_length,
                     "stop_words": True, "mining": args.mining,
                     "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
                     "rayon_num_threads": os.environ.get("RAYON_NUM_THREADS", "default")},
        "sentence_pairs": pairs, "median_seconds": seconds, "median_cpu_seconds": cpu,
        "median_dictionary_load_s": loads,
        "spread_seconds": spread, "results": results, "linearity": linearity, "linear_fit": fits, "runs": runs,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
