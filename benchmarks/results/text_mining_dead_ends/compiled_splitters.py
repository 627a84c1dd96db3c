"""Dead end: segmentation and the dictionary lookup in compiled code from maintained packages, against text mining's
own (``segment_batch`` with stdlib ``re``, then ``_Phrases.lookup``: a dict lookup per word), on NTREX's English side
(1,000 sentences) with the en-es dictionary's word ids, CPU time per sentence, least of 15 calls.

* pyarrow: the words split by RE2 (``pyarrow.compute.split_pattern_regex``, the gaps between words), and the ids by
  ``pyarrow.compute.index_in`` on the words as an Arrow array;
* tokenizers: a ``WordLevel`` model over the word ids, lower-casing normaliser, the word pattern as a ``Split``
  pre-tokenizer keeping only the matches (``invert=True``): segmentation, normalisation and lookup in Rust, ids and
  offsets out (``encode_batch``), or ids only (``encode_batch_fast``).

Neither gives the package's exact output (RE2 split yields only the gaps here; the Rust normaliser is no casefold);
they are timed as upper bounds of what moving the per-word work into those packages could save.

Usage, from the repository root::

    python benchmarks/results/text_mining_dead_ends/compiled_splitters.py
"""

from __future__ import annotations

import os
import sys

os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import harness  # noqa: E402

WORD = r"[0-9]+(?:[.,:][0-9]+)+|[a-zA-Z0-9]+(?:['\-][a-zA-Z0-9]+)*"


def per_text(fn, n: int) -> float:
    return harness.least_cpu(fn, calls=15) / n * 1e6


def main() -> int:
    data = os.environ.get("VECO_BENCH_DATA", "../shared/data")
    _, dict_dir, english, _ = harness.found_or_exit(harness.ntrex_mining_data(data, ["es"]))
    import pyarrow as pa
    import pyarrow.compute as pc
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    texts = harness.read_lines(english)[:1000]
    miner = harness.ntrex_miner(dict_dir, "es")
    phrases = miner.batch_tables().tgt_phrases
    keys = pa.array(list(phrases.word_ids))
    vocabulary = {**phrases.word_ids, "\0unk": len(phrases.word_ids)}
    rust = Tokenizer(models.WordLevel(vocabulary, unk_token="\0unk"))
    rust.normalizer = normalizers.Lowercase()
    rust.pre_tokenizer = pre_tokenizers.Split(Regex(WORD), behavior="removed", invert=True)
    segmented = miner.segment_batch(texts, "tgt")
    n = len(texts)
    rows = [
        ("package: segment_batch + lookup", lambda: phrases.lookup(miner.segment_batch(texts, "tgt").words)),
        ("package: lookup alone", lambda: phrases.lookup(segmented.words)),
        ("pyarrow: RE2 split (gaps only)",
         lambda: pc.split_pattern_regex(pa.array(["\n".join(texts).lower()]), WORD).flatten()),
        ("pyarrow: index_in alone", lambda: pc.index_in(pa.array(segmented.words), value_set=keys)),
        ("tokenizers: ids and offsets",
         lambda: [(e.ids, e.offsets) for e in rust.encode_batch(texts, add_special_tokens=False)]),
        ("tokenizers: ids only", lambda: [e.ids for e in rust.encode_batch_fast(texts, add_special_tokens=False)]),
    ]
    harness.log(f"NTREX English, {n} sentences, {len(segmented.words):,} words; en-es word ids: "
                f"{len(phrases.word_ids):,}; CPU µs per sentence, least of 15 calls")
    for name, fn in rows:
        harness.log(f"  {name}: {per_text(fn, n):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
