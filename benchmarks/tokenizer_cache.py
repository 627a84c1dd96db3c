"""The fast tokenizer's cache of encoded words: how its size and its emptying per source change the encoding speed of
real multilingual text, source after source as data preparation encodes it, and what it costs in memory.

The Rust tokenizer's model (Unigram, BPE) keeps each word it encodes with its pieces, up to a capacity (10,000 words
by default), and never evicts: once full it stops adding. The ways compared:

* ``default``: the tokenizer as ``transformers`` loads it (10,000 words, never emptied);
* ``package``: as :func:`~veco_lightning.data.tokenizer.load_tokenizer` loads it and data preparation uses it
  (:data:`~veco_lightning.data.tokenizer.TOKENIZER_CACHE` words; at a source's start
  :func:`~veco_lightning.data.tokenizer.source_tokenizer_cache` empties it for a source of at least
  :data:`~veco_lightning.data.tokenizer.FRESH_CACHE_TEXTS` texts and leaves it for a smaller one);
* ``kept``: ``--capacity`` words (default ``TOKENIZER_CACHE``), never emptied;
* ``fresh``: ``--capacity`` words, emptied at every source's start;
* ``none``: no cache at all.

With ``--capacity`` below the distinct words of the corpus (30,000 with the shared data), ``kept`` and ``fresh`` show
what a large corpus does to a cache of ``TOKENIZER_CACHE`` words: the first sources fill it.

Corpora (``--corpora``), each encoded source after source in batches of ``--batch-size``: ``distinct`` (every
distinct sentence pair of NTREX, XNLI and Tatoeba with English for each language with an NTREX file and a dictionary,
about 13,000 per language: a source is a language pair, both its sides), ``mlqa`` (the distinct MLQA contexts of
each of its languages, dev and test where present, a paragraph a text: a source is a language), ``ntrex`` (NTREX's
pairs, 1,997 each). The ways alternate in rotating order for ``--rounds`` rounds (each on an idle CPU, the harness's
checks), each with a freshly loaded tokenizer; medians. Besides the whole pass, each source's second half is timed
apart (the first half encoded just before it): new text of a source whose earlier text the cache has seen, as most
of a large source is. The ids are checked equal across the ways first. ``--memory`` also measures the resident
memory each way adds over one pass, in a fresh process each (``/proc/self/statm``, Linux).

Usage (from the repository root; about 3 minutes)::

    python benchmarks/tokenizer_cache.py [--data-dir ../shared/data] [--tokenizer DIR] [--rounds 3] [--memory]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

import harness

WAYS = ("default", "package", "kept", "fresh", "none")
CORPORA = ("distinct", "mlqa", "ntrex")


def load_sources(data_dir: str, corpus: str) -> dict[str, list[str]]:
    """Each source's texts (a language pair's two sides one after the other, or a language's paragraphs)."""
    if corpus == "mlqa":
        sources: dict[str, list[str]] = {}
        for path in sorted(glob.glob(os.path.join(data_dir, "mlqa", "MLQA_V1", "*", "*-context-*-question-*.json"))):
            split, _, lang, _, question = os.path.basename(path)[:-len(".json")].split("-")
            if question != lang:  # one file per language: its contexts with its own questions
                continue
            with open(path, encoding="utf-8") as handle:
                articles = json.load(handle)["data"]
            found = sources.setdefault(lang, [])
            found.extend(p["context"] for a in articles for p in a["paragraphs"])
        return {lang: list(dict.fromkeys(texts)) for lang, texts in sources.items()}
    found = harness.ntrex_mining_data(data_dir, None)
    if isinstance(found, str):
        return {}
    ntrex, _, english, langs = found
    sources = {}
    for lang in langs:
        if corpus == "distinct":
            src, tgt = harness.distinct_pairs(data_dir, lang)
        else:
            src = harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
            tgt = harness.read_lines(english)
        sources[f"{lang}-en"] = src + tgt
    return sources


def tokenizer_for(way: str, tok_dir: str, capacity: int):
    """A freshly loaded tokenizer set up ``way``, and what to call at each source's start (given its texts)."""
    from transformers import AutoTokenizer

    from veco_lightning.data.tokenizer import fresh_tokenizer_cache, load_tokenizer, source_tokenizer_cache

    if way == "package":
        tokenizer = load_tokenizer(tok_dir)
        return tokenizer, lambda texts: source_tokenizer_cache(tokenizer, len(texts))
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    if way == "fresh":
        return tokenizer, lambda texts: fresh_tokenizer_cache(tokenizer, capacity)
    if way != "default":
        tokenizer.backend_tokenizer.model._resize_cache(capacity if way == "kept" else 0)
    return tokenizer, lambda texts: None


def encode_all(tokenizer, on_source, sources: dict[str, list[str]], batch_size: int, keep: bool = True,
               second_halves: list[float] | None = None) -> list[list[int]]:
    """The ids of every text, source after source (``on_source(texts)`` at each source's start), each source's first
    half then its second half in batches; none kept unless ``keep``. ``second_halves`` gets the seconds each
    source's second half took: new text of a source whose first half the cache has seen."""
    from veco_lightning.data.tokenizer import encode_ids

    out = []
    for texts in sources.values():
        on_source(texts)
        half = len(texts) // 2
        for first, last in ((0, half), (half, len(texts))):
            begin = time.perf_counter()
            for start in range(first, last, batch_size):
                ids = encode_ids(tokenizer, texts[start:min(start + batch_size, last)])
                if keep:
                    out.extend(ids)
            if first and second_halves is not None:
                second_halves.append(time.perf_counter() - begin)
    return out


def resident_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def one_pass_memory(args: argparse.Namespace) -> int:
    """``--one WAY CORPUS``: the resident memory a way adds over one pass (run in a fresh process)."""
    way, corpus = args.one
    sources = load_sources(args.data_dir, corpus)
    tokenizer, on_source = tokenizer_for(way, harness.find_tokenizer(args.tokenizer), args.capacity)
    encode_all(tokenizer, on_source, {k: v[:args.batch_size] for k, v in sources.items()}, args.batch_size,
               keep=False)  # the first batches: what is allocated once
    before = resident_mib()
    encode_all(tokenizer, on_source, sources, args.batch_size, keep=False)
    print(json.dumps({"way": way, "corpus": corpus, "added_mib": resident_mib() - before}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_data_dir(parser, "ntrex128/, dictionaries/, xnli/, tatoeba/ and mlqa/")
    harness.add_tokenizer(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--corpora", nargs="+", choices=CORPORA, default=["distinct", "mlqa"])
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--capacity", type=int, default=None,
                        help="words the kept and fresh ways' cache holds (default: the package's TOKENIZER_CACHE)")
    parser.add_argument("--memory", action="store_true", help="also each way's resident memory after one pass")
    parser.add_argument("--one", nargs=2, metavar=("WAY", "CORPUS"), help=argparse.SUPPRESS)
    harness.add_tokenizer_threads(parser)
    harness.add_contention_options(parser, retries=1)
    harness.add_output(parser, "tokenizer_cache")
    args = parser.parse_args(argv)
    harness.apply_tokenizer_threads(args)
    harness.quiet_libraries("veco_lightning")
    if args.capacity is None:
        from veco_lightning.data.tokenizer import TOKENIZER_CACHE

        args.capacity = TOKENIZER_CACHE
    if args.one:
        return one_pass_memory(args)
    corpora = {corpus: load_sources(args.data_dir, corpus) for corpus in args.corpora}
    corpora = {corpus: sources for corpus, sources in corpora.items() if sources}
    if not corpora:
        return harness.skip(f"none of {args.corpora} found under {args.data_dir!r}; set --data-dir or $VECO_BENCH_DATA")
    tok_dir = harness.find_tokenizer(args.tokenizer)
    texts = {corpus: sum(map(len, sources.values())) for corpus, sources in corpora.items()}
    halves = {corpus: sum(len(t) - len(t) // 2 for t in sources.values()) for corpus, sources in corpora.items()}
    for corpus, sources in corpora.items():  # the same ids every way
        reference = None
        for way in args.ways:
            ids = encode_all(*tokenizer_for(way, tok_dir, args.capacity), sources, args.batch_size)
            if reference is None:
                reference = ids
            elif ids != reference:
                raise SystemExit(f"{way} gave other ids than {args.ways[0]} on {corpus}")
    harness.log(", ".join(f"{corpus}: {len(sources)} sources, {texts[corpus]:,} texts"
                          for corpus, sources in corpora.items()) + f"; tokenizer {tok_dir}")

    def timed(way: str, corpus: str):
        def run() -> dict:
            harness.apply_tokenizer_threads(args)
            tokenizer, on_source = tokenizer_for(way, tok_dir, args.capacity)
            second_halves: list[float] = []
            begin = time.perf_counter()
            encode_all(tokenizer, on_source, corpora[corpus], args.batch_size, keep=False, second_halves=second_halves)
            return {"us_per_text": (time.perf_counter() - begin) / texts[corpus] * 1e6,
                    "second_halves_us_per_text": sum(second_halves) / halves[corpus] * 1e6}
        return run

    measurements = {f"{corpus}/{way}": timed(way, corpus) for corpus in corpora for way in args.ways}
    rounds = harness.interleave(measurements, args.rounds, idle_wait=args.idle_wait, retries=args.retries,
                                describe=lambda r, name, f: f"  round {r + 1} {name}: {f['us_per_text']:.2f} µs")
    per_text = harness.medians(rounds, "us_per_text")
    second = harness.medians(rounds, "second_halves_us_per_text")
    memory = {}
    if args.memory:
        for key in measurements:
            corpus, way = key.split("/")
            done = subprocess.run([sys.executable, __file__, "--one", way, corpus, "--data-dir", args.data_dir,
                                   "--batch-size", str(args.batch_size), "--tokenizer", tok_dir,
                                   "--capacity", str(args.capacity),
                                   "--tokenizer-threads", args.tokenizer_threads],
                                  capture_output=True, text=True, check=True)
            memory[key] = json.loads(done.stdout.strip().splitlines()[-1])["added_mib"]
    rows = []
    for key, value in per_text.items():
        corpus, way = key.split("/")
        base, base_second = per_text.get(f"{corpus}/default"), second.get(f"{corpus}/default")
        rows.append([corpus, way, f"{value:.2f}", f"{base / value:.3f}×" if base else "", f"{second[key]:.2f}",
                     f"{base_second / second[key]:.3f}×" if base_second else "",
                     f"{memory[key]:.0f}" if key in memory else ""])
    print(f"\n## Encoding source after source, by word cache (medians of {args.rounds} rounds)\n")
    print(harness.markdown_table(["corpus", "way", "µs/text", "speed vs default", "second halves µs/text",
                                  "second halves vs default", "memory added MiB"], rows))
    harness.write_result(args.output, "tokenizer_cache",
                         {"settings": {"tokenizer": tok_dir, "batch_size": args.batch_size, "rounds": args.rounds,
                                       "capacity": args.capacity,
                                       "corpora": {c: {"sources": len(s), "texts": texts[c]}
                                                   for c, s in corpora.items()},
                                       "tokenizer_threads": args.tokenizer_threads},
                          "us_per_text": per_text, "second_halves_us_per_text": second, "memory_added_mib": memory,
                          "rounds": rounds,
                          "worst_contention": harness.summarize_contention(rounds)},
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
