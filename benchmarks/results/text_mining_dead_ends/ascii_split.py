"""English segmentation's ``re`` split against a numpy alternative, on the first 1,000 NTREX English sentences.

Text mining splits a batch of ASCII texts with one ``re.split`` of the joined, lower-cased text
(``words._ASCII_SPLIT``). The alternative: the word characters' runs found with numpy (a byte table, ``np.diff``) and
the words themselves by ``str.translate`` (non-word characters to spaces) and ``str.split``. It ignores joiners, digit
groups and clitics, so it does less than the split; it is still slower, and was not pursued. Run from the repository
root:

    python benchmarks/results/text_mining_dead_ends/ascii_split.py [--data-dir ../shared/data]
"""

import os
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import harness  # noqa: E402
import numpy as np  # noqa: E402


def main() -> int:
    found = harness.found_or_exit(harness.parse_ntrex_data(__doc__.split("\n\n")[0]))
    from veco_lightning.lexicon.words import _ASCII_SPLIT

    texts = harness.read_lines(found[2])[:1000]
    folded = "\n".join(texts).lower()
    table = np.zeros(256, np.int8)
    table[list(b"abcdefghijklmnopqrstuvwxyz0123456789")] = 1
    spaces = str.maketrans({i: " " for i in range(128) if not chr(i).isalnum()})

    def numpy_way():
        change = np.diff(table[np.frombuffer(folded.encode("ascii", "replace"), np.uint8)], prepend=0, append=0)
        return np.flatnonzero(change == 1), np.flatnonzero(change == -1), folded.translate(spaces).split()

    for name, fn in (("re split", lambda: _ASCII_SPLIT.split(folded)), ("numpy + translate", numpy_way)):
        best = min(timeit.repeat(fn, number=5, repeat=7)) / 5
        print(f"{name}: {best / len(texts) * 1e6:.2f} µs per sentence (best of 7)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
