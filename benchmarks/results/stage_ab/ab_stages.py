"""In-process A/B of two stages of text mining between a checkout's modules and this one's: word segmentation
(``SynonymMiner.segment_batch``'s ``segment_batch``, both sides) and the offsets read off the pieces
(``PieceOffsets.read_ids``), on NTREX's 10 language pairs in batches of 1,000, CPU time on one thread.

The two versions of ``veco_lightning/lexicon/words.py`` and ``veco_lightning/data/token_mining.py`` are loaded side by
side (the checkout's under other module names; their imports resolve to this checkout's other modules), and their
calls alternate round by round, so that both see the host's drift alike. Each round's figure is the least of 3 calls
per batch; the ratio is new / old per round, and the medians are printed.

Usage, from the repository root (``BEFORE_DIR``: a checkout, e.g. ``git worktree add /tmp/before <commit>``)::

    python benchmarks/results/stage_ab/ab_stages.py BEFORE_DIR [ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import sys

os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import harness  # noqa: E402


def rows(ids) -> list[list[int]]:
    """The cut ids as lists: a list column since the reading returns one (``PieceOffsets.read_ids``), lists before."""
    return ids if isinstance(ids, list) else ids.to_pylist()


def main() -> int:
    before, rounds, (ntrex, dict_dir, english, langs) = harness.checkout_ab(7)
    from transformers import AutoTokenizer

    from veco_lightning.data import token_mining as new_mining
    from veco_lightning.data.tokenizer import encode_ids
    from veco_lightning.lexicon import words as new_words

    old_words = harness.checkout_module(before, "veco_lightning/lexicon/words.py", "before_words")
    old_mining = harness.checkout_module(before, "veco_lightning/data/token_mining.py", "before_token_mining")
    tokenizer = AutoTokenizer.from_pretrained(harness.find_tokenizer(None))
    pieces = new_mining.token_tables(tokenizer)[2]
    readers = {"old": old_mining.PieceOffsets(pieces), "new": new_mining.PieceOffsets(pieces)}
    segmenters = {"old": old_words.segment_batch, "new": new_words.segment_batch}
    # Each side segmented as the miner segments it (a no-space side cut against its dictionary's phrases).
    sides = [("en", harness.read_lines(english), ("en",))]
    for lang in langs:
        path = os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt")
        sides.append((lang, harness.read_lines(path), harness.ntrex_miner(dict_dir, lang)._segmentation("src")))
    batches = [(lang, lines[k:k + 1000], how) for lang, lines, how in sides for k in range(0, len(lines), 1000)]
    ids = [encode_ids(tokenizer, texts) for _, texts, _ in batches]
    n_texts = sum(len(texts) for _, texts, _ in batches)
    # Both versions give the same output first.
    for (lang, texts, how), batch_ids in zip(batches, ids):
        a, b = old_words.segment_batch(texts, *how), new_words.segment_batch(texts, *how)
        assert a.words == b.words and (a.starts == b.starts).all() and (a.ends == b.ends).all(), lang
        ra, rb = (readers[v].read_ids(tokenizer, texts, batch_ids, 62) for v in ("old", "new"))
        assert (rows(ra[0]) == rows(rb[0]) and all((x == y).all() for x, y in zip(ra[1], rb[1]))
                and (ra[2] == rb[2]).all()), lang
    ratios = {"segmentation": [], "reading": []}
    per_lang = {"segmentation": {}, "reading": {}}
    for round_ in range(rounds):
        spent = {}
        for version in (("old", "new") if round_ % 2 == 0 else ("new", "old")):
            seg = read = 0.0
            for (lang, texts, how), batch_ids in zip(batches, ids):
                s = harness.least_cpu(segmenters[version], texts, *how)
                r = harness.least_cpu(readers[version].read_ids, tokenizer, texts, batch_ids, 62)
                seg, read = seg + s, read + r
                per_lang["segmentation"].setdefault((lang, version), []).append(s / len(texts))
                per_lang["reading"].setdefault((lang, version), []).append(r / len(texts))
            spent[version] = (seg, read)
        for k, stage in enumerate(ratios):
            ratios[stage].append(spent["new"][k] / spent["old"][k])
        harness.log(f"round {round_ + 1}: segmentation {spent['old'][0] / n_texts * 1e6:.2f} -> "
                    f"{spent['new'][0] / n_texts * 1e6:.2f} µs/text ({ratios['segmentation'][-1]:.3f}), reading "
                    f"{spent['old'][1] / n_texts * 1e6:.2f} -> {spent['new'][1] / n_texts * 1e6:.2f} µs/text "
                    f"({ratios['reading'][-1]:.3f})")
    for stage, values in ratios.items():
        harness.log(f"{stage}: new/old median {statistics.median(values):.3f} (rounds: "
                    + ", ".join(f"{v:.3f}" for v in values) + ")")
        for lang, _, _ in sides:
            old = statistics.median(per_lang[stage][lang, "old"])
            new = statistics.median(per_lang[stage][lang, "new"])
            harness.log(f"  {lang}: {old * 1e6:.2f} -> {new * 1e6:.2f} µs per text ({new / old:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
