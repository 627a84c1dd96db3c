"""Dictionary induction (veco_lightning.lexicon.induction) on NTREX-128 parallel data: size, precision, mining yield.

For each of the 12 NTREX-128 languages xx paired with English (``newstest2019-ref.<code>.txt`` line-aligned with
``newstest2019-src.eng.txt``), a xx->en dictionary is induced with
:func:`veco_lightning.lexicon.induction.induce_dictionary` from the training split the NTREX experiments use (all
lines but the last 200, which are held out for validation). Reported per language:

* *entries*: induced entries;
* *covered*: share of induced entries whose source phrase is in the shipped Wiktionary dictionary
  (``<data-dir>/dictionaries/en-xx.tsv``, read as xx->en), i.e. that the shipped dictionary can judge;
* *precision*: among those, the share whose target is one of the shipped translations (both normalised); *lenient*
  also accepts a listed translation up to English inflection (a crude suffix stripper: ``killed`` for ``kill``,
  ``supermarkets`` for ``supermarket``), because Wiktionary lists lemmas and news text is inflected;
* *mined/pair*: synonym pairs per training sentence pair that :func:`veco_lightning.lexicon.synonyms.mine_corpus`
  finds with the induced dictionary, and with the shipped one (built-in stop words on both sides in both cases).

Japanese and Swahili have no shipped dictionary: their entry count, mining yield and a seeded random sample of
induced entries are printed instead. Precision is a lower bound: Wiktionary misses many right pairs (inflected
forms are mostly not headwords, so ``präsidenten -> president`` is "not covered"; a listed word with an unlisted but
right sense counts as wrong).

``--grid`` first runs the induction alone for a list of settings (min_count, min_dice, mutual) and prints entries and
precision per setting (the tuning table behind the defaults). The tables' figures, the settings and the machine are
written to ``benchmarks/results/induction_precision.json`` (``--output``). The induction times are for information:
they are not repeated, and only the start of the run is checked for a busy CPU.

Usage (from the repository root; about 15 s on 2 cores, 45 s with ``--grid``)::

    python benchmarks/induction_precision.py [--data-dir ../shared/data] [--min-count 3] [--min-dice 0.3]
        [--no-mutual] [--max-frequency 0.1] [--max-ngram-chars 4] [--grid]
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import random
import time

import harness

HELD_OUT = 200
GRID = [(2, 0.3, True), (3, 0.2, True), (3, 0.3, True), (3, 0.4, True), (3, 0.5, True), (4, 0.3, True),
        (5, 0.3, True), (3, 0.3, False), (3, 0.5, False)]


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


def tuning_grid(corpora: dict, en_lines: list[str], judged_langs: list[str],
                **options) -> tuple[list[dict], list[list[object]]]:
    """Induction alone with every :data:`GRID` setting: the figures per setting, and the tuning table's rows."""
    from veco_lightning.lexicon.induction import induce_dictionary

    rows, cells = [], []
    for min_count, min_dice, mutual in GRID:
        row = {"min_count": min_count, "min_dice": min_dice, "mutual": mutual, "languages": {}}
        for lang, (lines, shipped) in corpora.items():
            induced = induce_dictionary(zip(lines, en_lines), lang, "en", min_count=min_count, min_dice=min_dice,
                                        mutual=mutual, **options)
            figures = {"entries": induced.entries}
            if shipped is not None:
                covered, correct, lenient = judge(induced, shipped)
                figures.update(covered=covered, correct=correct, lenient=lenient, precision=correct / max(1, covered))
            row["languages"][lang] = figures
        judged = [row["languages"][lang] for lang in judged_langs]
        covered, correct = sum(f["covered"] for f in judged), sum(f["correct"] for f in judged)
        lenient = sum(f["lenient"] for f in judged)
        precisions = [f["precision"] for f in judged]
        row.update(mean_entries=sum(f["entries"] for f in judged) / len(judged), covered=covered,
                   precision_pooled=correct / max(1, covered), precision_macro=sum(precisions) / len(precisions),
                   precision_lenient_pooled=lenient / max(1, covered))
        rows.append(row)
        ja, sw = (row["languages"].get(lang, {}).get("entries", "-") for lang in ("ja", "sw"))
        cells.append([min_count, min_dice, "yes" if mutual else "no", f"{row['mean_entries']:.0f}", ja, sw,
                      f"{covered / sum(f['entries'] for f in judged):.1%}", f"{row['precision_pooled']:.1%}",
                      f"{row['precision_macro']:.1%}", f"{min(precisions):.0%}-{max(precisions):.0%}",
                      f"{row['precision_lenient_pooled']:.1%}"])
    return rows, cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    harness.add_data_dir(parser, "ntrex128/ and dictionaries/")
    parser.add_argument("--min-count", type=int, default=None, help="induce_dictionary min_count (default: its own)")
    parser.add_argument("--min-dice", type=float, default=None, help="induce_dictionary min_dice (default: its own)")
    parser.add_argument("--no-mutual", action="store_true", help="keep every candidate above the thresholds")
    parser.add_argument("--max-frequency", type=float, default=None, help="induce_dictionary max_frequency")
    parser.add_argument("--max-ngram-chars", type=int, default=None, help="induce_dictionary max_ngram_chars")
    parser.add_argument("--samples", type=int, default=15, help="sample entries printed for ja and sw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help="first print the tuning grid (induction only)")
    harness.add_output(parser, "induction_precision")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    ntrex, dict_dir = os.path.join(args.data_dir, "ntrex128"), os.path.join(args.data_dir, "dictionaries")
    english = os.path.join(ntrex, "newstest2019-src.eng.txt")
    if not os.path.exists(english):
        return harness.skip(f"no NTREX-128 under {args.data_dir!r}; set --data-dir or $VECO_BENCH_DATA")

    from veco_lightning.lexicon.dictionary import load_dictionaries
    from veco_lightning.lexicon.induction import induce_dictionary
    from veco_lightning.lexicon.stopwords import default_stop_words
    from veco_lightning.lexicon.synonyms import mine_corpus

    machine = harness.describe_machine()
    begin_all = time.perf_counter()
    en_lines = harness.read_lines(english)[:-HELD_OUT]
    corpora: dict[str, tuple[list[str], object]] = {}
    for lang, code in harness.NTREX_CODES.items():
        ref = os.path.join(ntrex, f"newstest2019-ref.{code}.txt")
        if not os.path.exists(ref):
            continue
        lines = harness.read_lines(ref)[:-HELD_OUT]
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
        grid_rows, grid_cells = tuning_grid(corpora, en_lines, judged_langs, **{
            k: v for k, v in options.items() if k in ("max_frequency", "max_ngram_chars")})
        print(f"\n## Tuning grid: xx->en induction on NTREX-128 training lines ({len(en_lines)} pairs per language)\n")
        print(harness.markdown_table(
            ["min_count", "min_dice", "mutual", "entries (mean, 10 dict langs)", "ja", "sw", "covered",
             "precision (pooled)", "precision (macro)", "precision range", "lenient (pooled)"], grid_cells,
            "rrlrrrrrrrr"))

    print(f"\n## Induced xx->en dictionaries on NTREX-128 training lines ({len(en_lines)} pairs per language; "
          f"min_count={settings['min_count']}, min_dice={settings['min_dice']}, mutual={settings['mutual']}, "
          f"max_frequency={settings['max_frequency']}, max_ngram_chars={settings['max_ngram_chars']})\n")
    results: dict[str, dict] = {}
    rows: list[list[object]] = []
    samples: dict[str, list[str]] = {}
    rng = random.Random(args.seed)
    for lang, (lines, shipped) in corpora.items():
        with harness.Stopwatch() as induction:
            induced = induce_dictionary(zip(lines, en_lines), lang, "en", **options)
        stops = {lang: default_stop_words(lang), "en": default_stop_words("en")}
        _, stats = mine_corpus(zip(lines, en_lines), induced, lang, "en", stop_words=stops)
        figures = {"entries": induced.entries, "induce_seconds": round(induction.seconds, 3),
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
            figures["sample"] = samples[lang] = [f"{' '.join(s)} -> {' '.join(t)}"
                                                 for s, t in rng.sample(entries, min(args.samples, len(entries)))]
        results[lang] = figures
        rows.append([f"{lang}-en", induced.entries, *cells[:3], f"{stats.mean_per_pair:.2f}", cells[3],
                     f"{induction.seconds:.2f}"])
    print(harness.markdown_table(["pair", "entries", "covered by shipped", "precision (covered)", "lenient",
                                  "mined/pair induced", "mined/pair shipped", "induce s"], rows))
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
        "settings": settings,
        "data": f"NTREX-128 newstest2019, lines [0, -{HELD_OUT}) ({len(en_lines)} pairs per language), xx->en; "
                "shipped dictionaries: Wiktionary en-xx.tsv read as xx->en",
        "languages": results,
        "seconds": round(total, 1),
    }
    if grid_rows:
        record["grid"] = grid_rows
    harness.write_result(args.output, "induction_precision", record, environment=machine, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
