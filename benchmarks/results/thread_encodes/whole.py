"""The whole text-mining preparation (``prepare_data_for`` on a fresh cache) of NTREX ×SCALE, all 10 pairs, one
process (or NUM_PROC, default 1), the tokenizer on both cores; prints the package folder it ran and the wall seconds.
The package is the one ``PYTHONPATH`` names first (another checkout), else this one. ``whole_ab.sh`` alternates two
checkouts.

    python benchmarks/results/thread_encodes/whole.py SCALE SCRATCH_DIR [NUM_PROC]
"""

import os
import shutil
import sys
import tempfile
import time

os.environ["TOKENIZERS_PARALLELISM"] = "true"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
import veco_lightning  # noqa: E402  first: from PYTHONPATH when set (the harness puts this checkout on the path)

sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import harness  # noqa: E402


def main() -> int:
    scale, scratch = int(sys.argv[1]), sys.argv[2]
    num_proc = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    ntrex, dict_dir, english, langs = harness.found_or_exit(harness.ntrex_mining_data(harness.DEFAULT_DATA))
    harness.quiet_libraries("veco_lightning")
    from veco_lightning.data.parallel import ParallelSource
    from veco_lightning.data.synonym import SynonymAlignedDataModule

    def replicated(path: str) -> str:
        out = os.path.join(scratch, f"x{scale}-" + os.path.basename(path))
        if not os.path.exists(out):
            with open(path, encoding="utf-8") as handle:
                data = handle.read()
            with open(out, "w", encoding="utf-8") as handle:
                handle.write((data if data.endswith("\n") else data + "\n") * scale)
        return out

    files = {f"{lang}-en": ParallelSource(
        src=replicated(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt")),
        tgt=replicated(english)) for lang in langs}
    dm = SynonymAlignedDataModule(
        files=files, tokenizer=harness.find_tokenizer(None), max_length=128, val_pairs=0, stop_words=True,
        dictionaries={f"en-{lang}": os.path.join(dict_dir, f"en-{lang}.tsv") for lang in langs}, mining="text",
        num_proc=num_proc if num_proc > 1 else None)
    _ = dm.tokenizer  # loaded untimed
    dm.cache_dir = tempfile.mkdtemp(dir=scratch)
    begin = time.perf_counter()
    for pair in dm.files:
        os.environ["TOKENIZERS_PARALLELISM"] = "true"  # a num_proc map leaves "false" behind (harness.py)
        dm.prepare_data_for(pair)
    print(os.path.dirname(os.path.dirname(os.path.abspath(veco_lightning.__file__))),
          f"{time.perf_counter() - begin:.2f}")
    shutil.rmtree(dm.cache_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
