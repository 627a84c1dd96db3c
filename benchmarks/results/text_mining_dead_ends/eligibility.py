"""How many NTREX sentence pairs text mining could hand to token mining's faster path with the same result.

Token mining reads a side's words off its tokens; text mining segments the text. The two give the same words for a
sentence when (1) its pieces spell its text (``PieceOffsets.exact``), (2) no piece mixes word and non-word characters
(a piece such as ``s.`` or ``).``: token mining keeps it in the word), and (3) the text holds no joiner between word
characters and no ``[.,:]`` between digits (``well-known``, ``l'homme``, ``1,000``: one word of text mining, several
tokens' words). A pair qualifies when both sides do. Run from the repository root:

    python benchmarks/results/text_mining_dead_ends/eligibility.py [--data-dir ../shared/data]

It prints one row per language pair and writes ``eligibility.json`` beside itself.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import harness  # noqa: E402
import numpy as np  # noqa: E402
import regex  # noqa: E402


def main() -> int:
    ntrex, _, english, langs = harness.found_or_exit(harness.parse_ntrex_data(__doc__.split("\n\n")[0]))
    from transformers import AutoTokenizer

    from veco_lightning.data.token_mining import PieceOffsets, _Tokens, token_tables
    from veco_lightning.data.tokenizer import encode_ids

    tokenizer = AutoTokenizer.from_pretrained(harness.find_tokenizer(None))
    pieces = token_tables(tokenizer)[2]
    offsets = PieceOffsets(pieces)
    word = regex.compile(r"[^\W_]")  # text mining's word character (words._FAST)
    pure = np.array([not stripped or len({bool(word.match(c)) for c in stripped}) == 1
                     for stripped in (piece.lstrip(" ") for piece in pieces)])
    joined = regex.compile(r"[^\W_][’'ʼ\-‐‑][^\W_]|\d[.,:]\d")

    def shares(texts: list[str]) -> dict[str, np.ndarray]:
        tokens = _Tokens.of(encode_ids(tokenizer, texts), 10**9)
        exact = offsets.exact(tokens, texts)
        mixed = np.bincount(tokens.sentence, weights=~pure[tokens.flat], minlength=len(texts)) > 0
        joins = np.fromiter((bool(joined.search(text)) for text in texts), bool, len(texts))
        return {"spelled": exact, "mixed_piece": mixed, "joiner": joins, "eligible": exact & ~mixed & ~joins}

    english_side = shares(harness.read_lines(english))
    rows, result = [], {"impure_pieces": int((~pure).sum()), "vocabulary": len(pieces),
                        "en": {k: float(v.mean()) for k, v in english_side.items()}}
    for lang in langs:
        side = shares(harness.read_lines(os.path.join(ntrex, f"newstest2019-ref.{harness.NTREX_CODES[lang]}.txt")))
        pair = float((side["eligible"] & english_side["eligible"]).mean())
        result[f"{lang}-en"] = {**{k: float(v.mean()) for k, v in side.items()}, "pair_eligible": pair}
        rows.append([f"{lang}-en", *(f"{side[k].mean():.1%}" for k in side), f"{pair:.1%}"])
    rows.append(["en side", *(f"{v.mean():.1%}" for v in english_side.values()), ""])
    print(f"{result['impure_pieces']:,} of {len(pieces):,} pieces mix word and non-word characters\n")
    print(harness.markdown_table(["pair", "spelled", "a mixed piece", "a joiner", "eligible side", "eligible pair"],
                                 rows))
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "eligibility.json"), "w") as handle:
        json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
