"""Synonym-pair mining on real parallel data: yield per language pair, throughput against tokenisation, samples.

For every language pair that has a Wiktionary dictionary in ``<data-dir>/dictionaries`` (en-xx.tsv) and an
NTREX-128 reference (``newstest2019-ref.<code>.txt``, line-aligned with ``newstest2019-src.eng.txt``), all 1997
lines are mined with :func:`veco_lightning.lexicon.synonyms.mine_corpus` (built-in stop words on both sides unless
``--no-stop-words``) and a Markdown table is printed: sentence pairs, synonym pairs per sentence pair, share of
sentence pairs with at least one pair, multi-word pairs, source/target word coverage, dictionary load time and
mining time.

Throughput: over all mined pairs, the median of ``--runs`` runs of

* *tokenise*: ``tokenizer(texts, return_offsets_mapping=True)`` on both sides, in batches of ``--batch-size``
  (the way a ``datasets.map(batched=True)`` pre-processing step calls it);
* *pipeline*: the same tokenisation + :func:`mine_pair` for each pair + :func:`pair_token_spans` (character ->
  token spans) for each pair: everything the synonym data pipeline does per pair once dictionaries are loaded;
* *mining alone*: :func:`mine_pair` for each pair;
* *units, pair by pair* vs *units, batch by batch*: what the synonym datamodule stores per xx-en pair (mining, word
  units, token maps) from offsets computed beforehand, through :func:`mine_units` one pair at a time and through
  :func:`mine_units_batch` a ``--batch-size`` batch at a time (the datamodule's path; the same output);

reported as pairs/s and as the overhead of the pipeline over tokenisation alone; and, closest to what a training run
does, the two datamodules' pre-processing (``datasets.map``, as in ``prepare_data`` without the disk write) of the
same xx-en pairs:

* *ParallelDataModule*: reading the pairs and tokenising both sides (no offsets needed), truncated to the pair
  length (``--num-proc`` processes);
* *SynonymAlignedDataModule*: tokenisation with offsets + mining + word units + token maps (what is cached).

Each run measures every stage once, in an order rotated run by run; a stage is one measurement of
``benchmarks/harness.py`` (on an idle CPU, contention recorded; ``--idle-wait``, ``--retries``). The tokenizer is
the NTREX-trained 32k Unigram tokenizer cached by ``benchmarks/mlm_throughput.py`` under ``benchmarks/.cache`` if
present, else the demo tokenizer shipped with the package (no downloads); ``--tokenizer`` overrides. It encodes on
every core (``--tokenizer-threads off``: on one).

Finally ``--samples`` random mined pairs of en-de and en-zh are printed for a human read. The tables' figures are
written to ``benchmarks/results/mining_stats.json`` (``--output``).

Usage (from the repository root)::

    python benchmarks/mining_stats.py [--data-dir ../shared/data] [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Callable

import harness


def throughput_table(title: str, stages: list[tuple[str, float]], n_pairs: int) -> str:
    return harness.markdown_table(
        [title, "seconds", "pairs/s", "µs/pair"],
        [[label, f"{seconds:.2f}", f"{n_pairs / seconds:,.0f}", f"{seconds / n_pairs * 1e6:.0f}"]
         for label, seconds in stages])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_data_dir(parser, "ntrex128/ and dictionaries/")
    harness.add_tokenizer(parser)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="RAYON_NUM_THREADS for the Rust tokenizer (mining is single-threaded Python)")
    parser.add_argument("--no-stop-words", action="store_true")
    parser.add_argument("--num-proc", type=int, default=None, help="datasets.map processes in the datamodule stage")
    harness.add_tokenizer_threads(parser)
    harness.add_contention_options(parser)
    harness.add_output(parser, "mining_stats")
    args = parser.parse_args(argv)
    harness.apply_tokenizer_threads(args)
    found = harness.ntrex_with_dictionaries(args.data_dir)
    if found is None:
        return harness.skip(f"no NTREX-128 / dictionaries under {args.data_dir!r}; set --data-dir or $VECO_BENCH_DATA")
    ntrex, dict_dir, english = found
    if args.threads:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before the tokenizers library is loaded

    from transformers import AutoTokenizer

    from veco_lightning.data.parallel import ParallelDataModule, ParallelSource
    from veco_lightning.data.synonym import SynonymAlignedDataModule
    from veco_lightning.data.tokenizer import encode_with_offsets
    from veco_lightning.data.units import mine_units, mine_units_batch, pair_token_spans
    from veco_lightning.lexicon.dictionary import read_dictionary
    from veco_lightning.lexicon.stopwords import default_stop_words
    from veco_lightning.lexicon.synonyms import SynonymMiner, mine_corpus, mine_pair

    machine = harness.describe_machine()
    src_lines = harness.read_lines(english)
    corpora = {}
    for lang, code in harness.NTREX_CODES.items():
        dict_path = os.path.join(dict_dir, f"en-{lang}.tsv")
        ref_path = os.path.join(ntrex, f"newstest2019-ref.{code}.txt")
        if os.path.exists(dict_path) and os.path.exists(ref_path):
            with harness.Stopwatch() as load:
                dictionary = read_dictionary(dict_path, "en", lang)
                dictionary.index()  # the lookup tables are built once per dictionary
            corpora[lang] = (dictionary, harness.read_lines(ref_path), load.seconds)

    stops = (lambda lang: None) if args.no_stop_words else (
        lambda lang: {"en": default_stop_words("en"), lang: default_stop_words(lang)})
    print(f"\n## Synonym mining on NTREX-128 (newstest2019, {len(src_lines)} lines), Wiktionary dictionaries, "
          f"stop words {'off' if args.no_stop_words else 'on'}\n")
    mined, mining = {}, {}
    for lang, (dictionary, tgt_lines, load_s) in corpora.items():
        mined[lang], stats = mine_corpus(zip(src_lines, tgt_lines), dictionary, "en", lang, stop_words=stops(lang))
        mining[lang] = {"dict_entries": dictionary.entries, "sentence_pairs": stats.sentence_pairs,
                        "synonym_pairs_per_sentence_pair": stats.mean_per_pair,
                        "with_synonyms": stats.pairs_with_synonyms / stats.sentence_pairs,
                        "multi_word_pairs": stats.multi_word_pairs, "src_coverage": stats.src_coverage,
                        "tgt_coverage": stats.tgt_coverage, "dict_load_s": load_s, "mining_s": stats.seconds}
    print(harness.markdown_table(
        ["pair", "dict entries", "sentence pairs", "synonym pairs / sentence pair", "with >=1 pair", "multi-word",
         "src coverage", "tgt coverage", "dict load s", "mining s"],
        [[f"en-{lang}", m["dict_entries"], m["sentence_pairs"], f"{m['synonym_pairs_per_sentence_pair']:.2f}",
          f"{m['with_synonyms']:.1%}", m["multi_word_pairs"], f"{m['src_coverage']:.1%}", f"{m['tgt_coverage']:.1%}",
          f"{m['dict_load_s']:.2f}", f"{m['mining_s']:.2f}"] for lang, m in mining.items()]))

    tok_dir = harness.find_tokenizer(args.tokenizer)
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

    # The datamodule's direction (xx-en) and offsets (Rust backend, 62 tokens a side), computed once, untimed.
    unit_jobs = []
    for lang, src, tgt in jobs:
        miner = SynonymMiner(corpora[lang][0], lang, "en", stops(lang))
        for start in range(0, len(src), args.batch_size):
            xx, en = tgt[start:start + args.batch_size], src[start:start + args.batch_size]
            unit_jobs.append((miner, xx, en, [o for _, o in encode_with_offsets(tokenizer, xx, 62)],
                              [o for _, o in encode_with_offsets(tokenizer, en, 62)]))

    def units_per_pair() -> None:
        for miner, xx, en, xx_offsets, en_offsets in unit_jobs:
            for k in range(len(xx)):
                mine_units(miner, xx[k], en[k], xx_offsets[k], en_offsets[k])

    def units_per_batch() -> None:
        for miner, xx, en, xx_offsets, en_offsets in unit_jobs:
            mine_units_batch(miner, xx, en, xx_offsets, en_offsets)

    sources = {f"{lang}-en": ParallelSource(src=os.path.join(ntrex, f"newstest2019-ref.{code}.txt"), tgt=english)
               for lang, code in harness.NTREX_CODES.items() if lang in corpora}
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
            harness.apply_tokenizer_threads(args)  # again: a num_proc map leaves the process environment at "false"
            for pair, fn in fns.items():
                dm._tokenize(pair, fn)
        return run

    pipeline()  # warm-up: word caches, lazy imports, the batch miners' tables
    units_per_batch()
    datamodule_stage(synonym, synonym_fns)()
    runs = harness.interleave(
        {"tok": tokenise_only, "all": pipeline, "mine": mining_only, "units_pair": units_per_pair,
         "units_batch": units_per_batch,
         "dm_tok": datamodule_stage(plain, plain_fns), "dm_all": datamodule_stage(synonym, synonym_fns)},
        args.runs, idle_wait=args.idle_wait, retries=args.retries)
    seconds = harness.medians(runs, "run_wall_s")
    rayon = os.environ.get("RAYON_NUM_THREADS", "default")
    print(f"\n## Throughput ({n_pairs} sentence pairs, {len(jobs)} language pairs, median of {args.runs} runs, "
          f"tokenizer {os.path.relpath(tok_dir, harness.REPO)} ({len(tokenizer)} entries), batch {args.batch_size}, "
          f"RAYON_NUM_THREADS={rayon}, tokenizer threads {args.tokenizer_threads}, {os.cpu_count()} CPUs)\n")
    print(throughput_table("stage", [("tokenisation with offsets (both sides)", seconds["tok"]),
                                     ("tokenisation + mining + span mapping", seconds["all"]),
                                     ("mining alone (mine_pair)", seconds["mine"])], n_pairs))
    print(f"\nMining + span mapping add {(seconds['all'] - seconds['tok']) / seconds['tok']:.0%} over tokenisation "
          "alone.\n")
    print(throughput_table("what the synonym datamodule stores (xx-en, offsets given)",
                           [("mine_units, pair by pair", seconds["units_pair"]),
                            (f"mine_units_batch, {args.batch_size} pairs a call", seconds["units_batch"])], n_pairs))
    print(f"\nBatch by batch: {seconds['units_pair'] / seconds['units_batch']:.2f}x the pairs/s of pair by pair.\n")
    print(throughput_table(f"datamodule pre-processing (datasets.map, num_proc={args.num_proc})",
                           [("ParallelDataModule (tokenisation)", seconds["dm_tok"]),
                            ("SynonymAlignedDataModule (tokenisation + mining + token maps)", seconds["dm_all"])],
                           n_pairs))
    print(f"\nIn the datamodules, mining adds {(seconds['dm_all'] - seconds['dm_tok']) / seconds['dm_tok']:.0%} over "
          "tokenisation alone.")

    rng = random.Random(args.seed)
    for lang in ("de", "zh"):
        if lang not in mined:
            continue
        tgt_lines = corpora[lang][1]
        flat = [(i, p) for i, found in enumerate(mined[lang]) for p in found]
        print(f"\n## {min(args.samples, len(flat))} random en-{lang} synonym pairs (line: en — {lang})\n")
        for i, p in sorted(rng.sample(flat, min(args.samples, len(flat)))):
            print(f"- {i + 1}: {src_lines[i][slice(*p.src_span)]} — {tgt_lines[i][slice(*p.tgt_span)]}")

    contention = harness.summarize_contention(runs)
    harness.write_result(args.output, "mining_stats", {
        "settings": {"tokenizer": os.path.relpath(tok_dir, harness.REPO), "tokenizer_entries": len(tokenizer),
                     "batch_size": args.batch_size, "rayon_num_threads": rayon,
                     "tokenizers_parallelism": os.environ["TOKENIZERS_PARALLELISM"], "num_proc": args.num_proc,
                     "stop_words": not args.no_stop_words, "runs": args.runs},
        "mining": mining,
        "sentence_pairs": n_pairs,
        "median_seconds": seconds,
        "microseconds_per_pair": {stage: s / n_pairs * 1e6 for stage, s in seconds.items()},
        "runs": runs,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
