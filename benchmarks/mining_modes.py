"""Synonym mining on text against mining on token ids (``data.synonym.mining: text`` / ``tokens``): what each finds
and what each costs, per NTREX language pair.

For every language pair ``xx-en`` with a Wiktionary dictionary in ``<data-dir>/dictionaries`` (en-xx.tsv) and an
NTREX-128 reference, the 1,997 pairs go through both ways of the synonym datamodule's map function, batch by batch
(``--batch-size``, 1000 as ``datasets.map``), with built-in stop words and the datamodule's side length:

* *text*: ids and character offsets (``encode_with_offsets``), segmentation, dictionary matching and token maps
  (:func:`veco_lightning.data.units.mine_units_batch`);
* *tokens*: ids (``encode_ids``) and :meth:`veco_lightning.data.token_mining.TokenMiner.mine`.

What each finds: the synonym pairs kept per sentence pair, and how many pairs both find, as a share of each: *of
tokens* (how many of token mining's pairs text mining also finds) and *of text* (how many of text mining's pairs
token mining finds). Two pairs are the same when their units share a token on each side (the two ways may put an
elided article or a clitic in the unit or not: ``l’OTAN`` is one token of the NTREX tokenizer).

What each costs, in CPU time on one thread (``TOKENIZERS_PARALLELISM=false``), µs per sentence pair: *ids* alone
(``encode_ids``, what the parallel datamodule stores; the baseline), *text* and *tokens* as above, each the least of
``--repeats`` passes (caches warm: text mining's normalisation cache, token mining's decoded words), and *tokens
cold*, token mining's first pass with a fresh miner (every word decoded once; after an untimed pass of *ids*, so that
the tokenizer's own caches are warm in every pass). Mining's share is ``(way - ids) /
ids``. The passes rotate their order pass by pass. A pair with a side written without spaces (zh) is mined on token
ids when the tokenizer is SentencePiece-style (its side cut in the text its pieces spell), else on text, as the
datamodule mines it; then it is listed without a token-mining figure. Totals: the spaced pairs, and all pairs that
token mining took.

Usage (from the repository root; about 3 minutes for the 10 pairs)::

    python benchmarks/mining_modes.py [--data-dir ../shared/data] [--langs de fr] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # every way on one core

import harness

WAYS = ("ids", "text", "tokens")


def pair_sets(units) -> list[list[tuple[set[int], set[int]]]]:
    """Each sentence pair's kept synonym pairs as ``(source token positions, target token positions)``."""
    found = []
    for src_index, tgt_index, synonyms, _ in units.rows():
        found.append([({k for k, u in enumerate(src_index) if u == i}, {k for k, u in enumerate(tgt_index) if u == j})
                      for i, j in zip(synonyms[0::2], synonyms[1::2])])
    return found


def also_found(pairs: list, others: list) -> int:
    """How many of ``pairs`` have a pair in ``others`` that shares a token on both sides (the same synonym pair,
    whatever each way put in its units: ``l’OTAN`` is one token, a unit of its own in token mining, while text mining
    gives it to the elided article)."""
    return sum(any(src & other_src and tgt & other_tgt for other_src, other_tgt in others) for src, tgt in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_mining_batch_options(parser, "mining_modes", 3, "each way's time is the least of this many passes")
    args = parser.parse_args(argv)
    found = harness.ntrex_mining_setup(args)
    if isinstance(found, str):
        return harness.skip(found)
    ntrex, dict_dir, english, langs, tok_dir, tokenizer = found

    from veco_lightning.data.token_mining import TokenMiner, token_tables
    from veco_lightning.data.tokenizer import encode_ids, encode_with_offsets
    from veco_lightning.data.units import mine_units_batch

    tables = token_tables(tokenizer)
    side = (args.max_length - 4) // 2
    en = harness.read_lines(english)
    harness.log(f"{len(langs)} language pairs, tokenizer {tok_dir}, batches of {args.batch_size}, least of "
                f"{args.repeats} passes (CPU time, one thread)")

    def text_way(miner, src, tgt):
        encoded = [encode_with_offsets(tokenizer, texts, side) for texts in (src, tgt)]
        return mine_units_batch(miner, src, tgt, *([o for _, o in sides] for sides in encoded)), encoded[0]

    results: dict[str, dict] = {}
    groups = ("spaced pairs", "all pairs mined on tokens")
    totals = {group: {way: 0.0 for way in (*WAYS, "tokens cold")} for group in groups}
    counts = {group: {"text": 0, "tokens": 0, "tokens_also_text": 0, "text_also_tokens": 0, "sentence_pairs": 0}
              for group in groups}
    for lang in langs:
        xx = harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt"))
        batches = [(xx[a:a + args.batch_size], en[a:a + args.batch_size]) for a in range(0, len(xx), args.batch_size)]
        miner = harness.ntrex_miner(dict_dir, lang)
        spaced = bool(miner.index.src_sep and miner.index.tgt_sep)
        on_tokens = spaced or tables[2] is not None
        ways = {"ids": lambda src, tgt: [encode_ids(tokenizer, texts) for texts in (src, tgt)],
                "text": lambda src, tgt, m=miner: text_way(m, src, tgt)}
        for src, tgt in batches:  # untimed: the tokenizer's own caches warm, as in every timed pass after it
            ways["ids"](src, tgt)
        cold = None
        if on_tokens:
            token_miner = TokenMiner(miner, tokenizer, *tables)
            ways["tokens"] = lambda src, tgt, t=token_miner: t.mine_texts(src, tgt, side)
            begin = time.process_time()
            for src, tgt in batches:
                TokenMiner.mine_texts(token_miner, src, tgt, side)
            cold = time.process_time() - begin
        best = {way: float("inf") for way in ways}
        for repeat in range(args.repeats):
            order = list(ways)[repeat % len(ways):] + list(ways)[:repeat % len(ways)]
            for way in order:
                begin = time.process_time()
                for src, tgt in batches:
                    ways[way](src, tgt)
                best[way] = min(best[way], time.process_time() - begin)
        row = {way: best[way] / len(xx) * 1e6 for way in best}
        if cold is not None:
            row["tokens cold"] = cold / len(xx) * 1e6
        # What each way finds.
        text_pairs, token_pairs = [], []
        for src, tgt in batches:
            text_pairs += pair_sets(text_way(miner, src, tgt)[0])
            if on_tokens:
                token_pairs += pair_sets(token_miner.mine_texts(src, tgt, side).units)
        n_text = sum(map(len, text_pairs))
        row.update({"sentence_pairs": len(xx), "text_pairs_per_sentence_pair": n_text / len(xx)})
        if on_tokens:
            n_tokens = sum(map(len, token_pairs))
            tokens_in_text = sum(also_found(a, b) for a, b in zip(token_pairs, text_pairs))
            text_in_tokens = sum(also_found(b, a) for a, b in zip(token_pairs, text_pairs))
            row.update({"tokens_pairs_per_sentence_pair": n_tokens / len(xx), "tokens_also_text": tokens_in_text,
                        "text_also_tokens": text_in_tokens, "of_tokens": tokens_in_text / max(1, n_tokens),
                        "of_text": text_in_tokens / max(1, n_text)})
            for group in (groups if spaced else groups[1:]):
                for key, value in (("tokens", n_tokens), ("tokens_also_text", tokens_in_text),
                                   ("text_also_tokens", text_in_tokens), ("text", n_text), ("sentence_pairs", len(xx))):
                    counts[group][key] += value
                for way in (*WAYS, "tokens cold"):
                    totals[group][way] += row[way] * len(xx)
        results[f"{lang}-en"] = row
        harness.log(f"  {lang}-en: " + ", ".join(f"{way} {row[way]:.0f}" for way in (*WAYS, "tokens cold")
                                                if way in row) + " µs/pair")

    for group in groups:
        n, tally = counts[group]["sentence_pairs"], counts[group]
        if n and (group == groups[0] or n > counts[groups[0]]["sentence_pairs"]):
            results[group] = {
                **{way: totals[group][way] / n for way in totals[group]}, "sentence_pairs": n,
                "text_pairs_per_sentence_pair": tally["text"] / n,
                "tokens_pairs_per_sentence_pair": tally["tokens"] / n,
                "of_tokens": tally["tokens_also_text"] / max(1, tally["tokens"]),
                "of_text": tally["text_also_tokens"] / max(1, tally["text"])}

    def share(row: dict, way: str) -> str:
        return f"{(row[way] - row['ids']) / row['ids']:+.0%}" if way in row else "—"

    rows = []
    for pair, row in results.items():
        rows.append([pair, f"{row['ids']:.0f}", f"{row['text']:.0f}", share(row, "text"),
                     f"{row['tokens']:.0f}" if "tokens" in row else "—", share(row, "tokens"),
                     f"{row['tokens cold']:.0f}" if "tokens cold" in row else "—", share(row, "tokens cold"),
                     f"{row['text_pairs_per_sentence_pair']:.2f}",
                     f"{row['tokens_pairs_per_sentence_pair']:.2f}" if "of_text" in row else "text (no spaces)",
                     f"{row['of_tokens']:.1%}" if "of_text" in row else "—",
                     f"{row['of_text']:.1%}" if "of_text" in row else "—"])
    print(f"\n## Mining on text vs on token ids (CPU µs per sentence pair, least of {args.repeats} passes, one thread; "
          f"tokenizer {os.path.relpath(tok_dir, harness.REPO)}, max_length {args.max_length})\n")
    print(harness.markdown_table(["pair", "ids", "text", "text / ids", "tokens", "tokens / ids", "tokens cold",
                                  "cold / ids", "text pairs/sent", "tokens pairs/sent", "of tokens: also text",
                                  "of text: also tokens"], rows))
    harness.write_result(args.output, "mining_modes",
                         {"settings": {"tokenizer": os.path.relpath(tok_dir, harness.REPO), "langs": langs,
                                       "batch_size": args.batch_size, "repeats": args.repeats,
                                       "max_length": args.max_length},
                          "results": results},
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
