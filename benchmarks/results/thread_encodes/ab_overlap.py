"""In-process A/B of the text-mining map's thread arrangement, with the tokenizer on both cores (wall time).

* A (the package's map until 2026-12-05): a thread encodes and reads each side in turn (``PieceOffsets.read``)
  while the main thread segments and matches; then the token maps.
* B (the package's map since: ``OffsetReader.encode`` on the thread, ``OffsetReader.finish`` after): the thread
  only encodes both sides; the main thread segments and matches, then reads both sides' offsets
  (``PieceOffsets.read_ids``); then the token maps.
* C: as B, each side encoded as a task of its own, so that the source side's offsets are read while the target
  side may still be encoding.
* base: the token ids alone, as the parallel datamodule encodes them.

NTREX ×2, all 10 pairs, batches of 1,000 pairs. The two arms compared give the same units (checked on the first
batch of three pairs). Run from the repository root::

    python benchmarks/results/thread_encodes/ab_overlap.py ROUNDS [ARM ARM]

(the two arms to alternate, ``A B`` by default; ``ab_overlap.log`` is ``7 A B``, ``ab_overlap_bc.log`` ``7 B C``).
"""

import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

os.environ["TOKENIZERS_PARALLELISM"] = "true"  # the tokenizer on both cores, as with num_proc 1
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import harness  # noqa: E402


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ntrex, dict_dir, english, langs = harness.found_or_exit(harness.ntrex_mining_data(harness.DEFAULT_DATA))
    harness.quiet_libraries("veco_lightning")
    from transformers import AutoTokenizer

    from veco_lightning.data.token_mining import PieceOffsets, token_tables
    from veco_lightning.data.tokenizer import encode_ids
    from veco_lightning.data.units import batch_units, match_texts_batch
    from veco_lightning.heap import cycles_paused

    tokenizer = AutoTokenizer.from_pretrained(harness.find_tokenizer(None))
    pieces = PieceOffsets(token_tables(tokenizer)[2])
    english_lines = harness.read_lines(english) * 2
    work = [(harness.ntrex_miner(dict_dir, lang),
             harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt")) * 2,
             english_lines) for lang in langs]
    side = 62

    def base(miner, src, tgt):
        return [encode_ids(tokenizer, texts, side) for texts in (src, tgt)]

    def arm_a(miner, src, tgt):
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(lambda: [pieces.read(tokenizer, texts, side)[:2] for texts in (src, tgt)])
            matched = match_texts_batch(miner, src, tgt)
            encoded = pending.result()
        return batch_units(matched, encoded[0][1], encoded[1][1])

    def arm_b(miner, src, tgt):
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(lambda: [encode_ids(tokenizer, texts) for texts in (src, tgt)])
            matched = match_texts_batch(miner, src, tgt)
            ids = pending.result()
        encoded = [pieces.read_ids(tokenizer, texts, i, side)[:2] for texts, i in zip((src, tgt), ids)]
        return batch_units(matched, encoded[0][1], encoded[1][1])

    def arm_c(miner, src, tgt):
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = [pool.submit(encode_ids, tokenizer, texts) for texts in (src, tgt)]
            matched = match_texts_batch(miner, src, tgt)
            encoded = [pieces.read_ids(tokenizer, texts, p.result(), side)[:2] for texts, p in zip((src, tgt), pending)]
        return batch_units(matched, encoded[0][1], encoded[1][1])

    arms = {"base": base, "A": arm_a, "B": arm_b, "C": arm_c}
    compared = sys.argv[2:] or ["A", "B"]  # the two arms to alternate

    def run(fn) -> float:
        begin = time.perf_counter()
        for miner, src, tgt in work:
            for start in range(0, len(src), 1000):
                with cycles_paused():  # as the datamodule's map runs each batch
                    fn(miner, src[start:start + 1000], tgt[start:start + 1000])
        return time.perf_counter() - begin

    first, second = compared
    for miner, src, tgt in work[:3]:
        a, b = arms[first](miner, src[:1000], tgt[:1000]), arms[second](miner, src[:1000], tgt[:1000])
        assert all((x == y).all() for x, y in zip(a, b))
    seconds: dict[str, list[float]] = {name: [] for name in ("base", first, second)}
    for r in range(rounds):
        for name in ("base", first, second) if r % 2 == 0 else ("base", second, first):
            seconds[name].append(run(arms[name]))
        last = {name: s[-1] for name, s in seconds.items()}
        print(f"round {r}: base {last['base']:.2f} s, " + ", ".join(
            f"{name} {last[name]:.2f} s ({last[name] / last['base']:.3f}x base)" for name in (first, second))
            + f", {second} / {first} {last[second] / last[first]:.3f}", flush=True)

    def median_ratio(num: str, den: str) -> float:
        return statistics.median(n / d for n, d in zip(seconds[num], seconds[den]))

    print(f"median {second} / {first} {median_ratio(second, first):.3f}; over tokenisation: "
          + ", ".join(f"{name} {median_ratio(name, 'base') - 1:+.1%}" for name in (first, second)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
