"""Dictionary induction from parallel data (veco_lightning.data.induction) on NTREX-128: size, precision, mining yield.

For each of the 12 NTREX-128 languages xx paired with English (``newstest2019-ref.<code>.txt`` line-aligned with
``newstest2019-src.eng.txt``), a xx->en dictionary is induced with
:func:`veco_lightning.data.induction.induce_dictionary` from the training split the NTREX experiments use (all
lines but the last 200, which are held out for validation). Reported per language:

* *entries*: induced entries;
* *covered*: share of induced entries whose source phrase is in the shipped Wiktionary dictionary
  (``<data-dir>/dictionaries/en-xx.tsv``, read as xx->en), i.e. that the shipped dictionary can judge;
* *precision*: among those, the share whose target is one of the shipped translations (both normalised); *lenient*
  also accepts a listed translation up to English inflection (a crude suffix stripper: ``killed`` for ``kill``,
  ``supermarkets`` for ``supermarket``), because Wiktionary lists lemmas and news text is inflected;
* *mined/pair*: synonym pairs per training sentence pair that :func:`veco_lightning.data.mining.mine_corpus` finds
  with the induced dictionary, and with the shipped one (built-in stop words on both sides in both cases).

Japanese and Swahili have no shipped dictionary: their entry count, mining yield and a seeded random sample of
induced entries are printed instead. Precision is a lower bound: Wiktionary misses many right pairs (inflected
forms are mostly not headwords, so ``präsidenten -> president`` is "not covered"; a listed word with an unlisted but
right sense counts as wrong).

``--grid`` first runs the induction alone for a list of settings (min_count, min_dice, mutual) and prints entries and
precision per setting (the tuning table behind the defaults). The main table and the settings are written to
``benchmarks/results/induction_precision.json``.

Usage (from the repository root; about 15 s on 2 cores, 45 s with ``--grid``)::

    python benchmarks/induction_precision.py [--data-dir ../shared/data] [--min-count 3] [--min-dice 0.3]
        [--no-mutual] [--max-frequency 0.1] [--max-ngram-chars 4] [--grid]
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import logging
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
DEFAULT_DATA = os.environ.get("VECO_BENCH_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
NTREX_CODES = {"ar": "arb", "de": "deu", "el": "ell", "es": "spa", "fr": "fra", "hi": "hin", "ja": "jpn", "ru": "rus",
               "sw": "swa", "tr": "tur", "vi": "vie", "zh": "zho-CN"}
HELD_OUT = 200
GRID = [(2, 0.3, True), (3, 0.2, True), (3, 0.3, True), (3, 0.4, True), (3, 0.5, True), (4, 0.3, True),
        (5, 0.3, True), (3, 0.3, False), (3, 0.5, False)]


def read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def english_stem(words: tuple[str, ...]) -> tuple[str, ...]:
    """A crude English suffix stripper for the lenient score (``announced``, ``announces`` -> ``announc``)."""
    out = []
    for word in words:
        for suffix in ("ies", "ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
        out.append(word.rstrip("e") if len(word) > 3 else word)
    return tuple(out)


def judge(induced, shipped) -> tuple[int, int, int]:
    """Entries whose source the shipped dictionary lists; of those, the ones with a listed translation (strict),
    and the ones with a listed translation up to English inflection (lenient: ``killed`` for ``kill``)."""
    covered = correct = lenient = 0
    for src, tgt in induced:
        targets = shipped.mapping.get(src)
        if targets is not None:
            covered += 1
            correct += tgt in targets
            lenient += tgt in targets or english_stem(tgt) in {english_stem(t) for t in targets}
    return covered, correct, lenient


def show(phrase_: tuple[str, ...]) -> str:
    return " ".join(phrase_)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", default=DEFAULT_DATA, help="folder holding ntrex128/ and dictionaries/")
    parser.add_argument("--min-count", type=int, default=None, help="induce_dictionary min_count (default: its own)")
    parser.add_argument("--min-dice", type=float, default=None, help="induce_dictionary min_dice (default: its own)")
    parser.add_argument("--no-mutual", action="store_true", help="keep every candidate above the thresholds")
    parser.add_argument("--max-frequency", type=float, default=None, help="induce_dictionary max_frequency")
    parser.add_argument("--max-ngram-chars", type=int, default=None, help="induce_dictionary max_ngram_chars")
    parser.add_argument("--samples", type=int, default=15, help="sample entries printed for ja and sw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help="first print the tuning grid (induction only)")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "induction_precision.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from veco_lightning.data.dictionary import load_dictionaries
    from veco_lightning.data.induction import induce_dictionary
    from veco_lightning.data.mining import default_stop_words, mine_corpus

    ntrex, dict_dir = os.path.join(args.data_dir, "ntrex128"), os.path.join(args.data_dir, "dictionaries")
    english = os.path.join(ntrex, "newstest2019-src.eng.txt")
    if not os.path.exists(english):
        print(f"SKIPPED: no NTREX-128 under {args.data_dir!r}; set --data-dir or $VECO_BENCH_DATA")
        return 0
    begin_all = time.perf_counter()
    en_lines = read_lines(english)[:-HELD_OUT]
    corpora: dict[str, tuple[list[str], object]] = {}
    for lang, code in NTREX_CODES.items():
        ref = os.path.join(ntrex, f"newstest2019-ref.{code}.txt")
        if not os.path.exists(ref):
            continue
        lines = read_lines(ref)[:-HELD_OUT]
        if len(lines) != len(en_lines):
            raise SystemExit(f"{ref}: {len(lines)} training lines, English has {len(en_lines)}; files not aligned")
        dict_path = os.path.join(dict_dir, f"en-{lang}.tsv")
        shipped = load_dictionaries(dict_path, lang, "en", reverse=True) if os.path.exists(dict_path) else None
        corpora[lang] = (lines, shipped)

    options = {k: v for k, v in (("min_count", args.min_count), ("min_dice", args.min_dice),
                                 ("max_frequency", args.max_frequency), ("max_ngram_chars", args.max_ngram_chars))
               if v is not None}
    if args.no_mutual:
        options["mutual"] = False
    settings = {name: p.default for name, p in inspect.signature(induce_dictionary).parameters.items()
                if p.kind is p.KEYWORD_ONLY and name != "stop_words"}
    settings.update(options)
    settings["stop_words"] = "built-in (default_stop_words; none for ja and sw)"
    judged_langs = [lang for lang, (_, shipped) in corpora.items() if shipped is not None]

    grid_rows = []
    if args.grid:
        print(f"## Tuning grid: xx->en induction on NTREX-128 training lines ({len(en_lines)} pairs per language)\n")
        print("| min_count | min_dice | mutual | entries (mean, 10 dict langs) | ja | sw | covered | precision "
              "(pooled) | precision (macro) | precision range | lenient (pooled) |")
        print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for min_count, min_dice, mutual in GRID:
            row = {"min_count": min_count, "min_dice": min_dice, "mutual": mutual, "languages": {}}
            for lang, (lines, shipped) in corpora.items():
                induced = induce_dictionary(zip(lines, en_lines), lang, "en", min_count=min_count, min_dice=min_dice,
                                            mutual=mutual, **{k: v for k, v in options.items()
                                                              if k in ("max_frequency", "max_ngram_chars")})
                figures = {"entries": induced.entries}
                if shipped is not None:
                    covered, correct, lenient = judge(induced, shipped)
                    figures.update(covered=covered, correct=correct, lenient=lenient,
                                   precision=correct / max(1, covered))
                row["languages"][lang] = figures
            judged = [row["languages"][lang] for lang in judged_langs]
            covered, correct = sum(f["covered"] for f in judged), sum(f["correct"] for f in judged)
            lenient = sum(f["lenient"] for f in judged)
            precisions = [f["precision"] for f in judged]
            row.update(mean_entries=sum(f["entries"] for f in judged) / len(judged), covered=covered,
                       precision_pooled=correct / max(1, covered), precision_macro=sum(precisions) / len(precisions),
                       precision_lenient_pooled=lenient / max(1, covered))
            grid_rows.append(row)
            ja, sw = (row["languages"].get(lang, {}).get("entries", "-") for lang in ("ja", "sw"))
            print(f"| {min_count} | {min_dice} | {'yes' if mutual else 'no'} | {row['mean_entries']:.0f} | {ja} "
                  f"| {sw} | {covered / sum(f['entries'] for f in judged):.1%} | {row['precision_pooled']:.1%} "
                  f"| {row['precision_macro']:.1%} | {min(precisions):.0%}-{max(precisions):.0%} "
                  f"| {row['precision_lenient_pooled']:.1%} |")
        print()

    print(f"## Induced xx->en dictionaries on NTREX-128 training lines ({len(en_lines)} pairs per language; "
          f"min_count={settings['min_count']}, min_dice={settings['min_dice']}, mutual={settings['mutual']}, "
          f"max_frequency={settings['max_frequency']}, max_ngram_chars={settings['max_ngram_chars']})\n")
    print("| pair | entries | covered by shipped | precision (covered) | lenient | mined/pair induced "
          "| mined/pair shipped | induce s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    results: dict[str, dict] = {}
    samples: dict[str, list[str]] = {}
    rng = random.Random(args.seed)
    for lang, (lines, shipped) in corpora.items():
        begin = time.perf_counter()
        induced = induce_dictionary(zip(lines, en_lines), lang, "en", **options)
        seconds = time.perf_counter() - begin
        stops = {lang: default_stop_words(lang), "en": default_stop_words("en")}
        _, stats = mine_corpus(zip(lines, en_lines), induced, lang, "en", stop_words=stops)
        figures = {"entries": induced.entries, "induce_seconds": round(seconds, 3),
                   "mined_per_pair_induced": round(stats.mean_per_pair, 3),
                   "pairs_with_synonyms_induced": round(stats.pairs_with_synonyms / max(1, stats.sentence_pairs), 4)}
        cells = ["-", "-", "-", "-"]
        if shipped is not None:
            covered, correct, lenient = judge(induced, shipped)
            _, shipped_stats = mine_corpus(zip(lines, en_lines), shipped, lang, "en", stop_words=stops)
            figures.update(covered=covered, correct=correct, covered_share=round(covered / max(1, induced.entries), 4),
                           precision=round(correct / max(1, covered), 4), lenient=lenient,
                           precision_lenient=round(lenient / max(1, covered), 4), shipped_entries=shipped.entries,
                           mined_per_pair_shipped=round(shipped_stats.mean_per_pair, 3))
            cells = [f"{covered / max(1, induced.entries):.1%} ({covered})", f"{correct / max(1, covered):.1%}",
                     f"{lenient / max(1, covered):.1%}", f"{shipped_stats.mean_per_pair:.2f}"]
        else:
            entries = sorted(induced)
            figures["sample"] = samples[lang] = [f"{show(s)} -> {show(t)}"
                                                 for s, t in rng.sample(entries, min(args.samples, len(entries)))]
        results[lang] = figures
        print(f"| {lang}-en | {induced.entries} | {cells[0]} | {cells[1]} | {cells[2]} | {stats.mean_per_pair:.2f} "
              f"| {cells[3]} | {seconds:.2f} |")
    judged = [results[lang] for lang in judged_langs]
    if judged:
        covered, correct = sum(f["covered"] for f in judged), sum(f["correct"] for f in judged)
        lenient = sum(f["lenient"] for f in judged)
        print(f"\nDictionary languages: {sum(f['entries'] for f in judged) / len(judged):.0f} entries on average, "
              f"precision {correct / max(1, covered):.1%} pooled over {covered} covered entries "
              f"({sum(f['precision'] for f in judged) / len(judged):.1%} macro-averaged), lenient "
              f"{lenient / max(1, covered):.1%} pooled.")
    for lang, sample in samples.items():
        print(f"\n{len(sample)} random induced {lang}->en entries: " + "; ".join(sample))
    total = time.perf_counter() - begin_all
    print(f"\nTotal {total:.1f} s")

    record = {
        "benchmark": "induction_precision",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python benchmarks/induction_precision.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
        "settings": settings,
        "data": f"NTREX-128 newstest2019, lines [0, -{HELD_OUT}) ({len(en_lines)} pairs per language), xx->en; "
                "shipped dictionaries: Wiktionary en-xx.tsv read as xx->en",
        "languages": results,
        "seconds": round(total, 1),
    }
    if grid_rows:
        record["grid"] = grid_rows
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(record, handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    print(f"Wrote {os.path.relpath(args.output, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
