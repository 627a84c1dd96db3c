"""Tables of the NTREX experiments: Tatoeba (test) and NTREX held-out (development) scores of every run, per language.

Reads ``runs/ntrex-<run>/eval/results.json`` (written by ``benchmarks/ntrex_experiments.sh``) and, when present,
``runs/ntrex-<run>/eval-heldout/results.json``; prints Markdown.

    python benchmarks/ntrex_table.py [--runs a b c d st] [--root runs]
"""

from __future__ import annotations

import argparse
import json
import os

import harness


def load(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["results"]


def table(title: str, results: dict[str, dict], metric: str, direction: str) -> str:
    runs = [r for r, res in results.items() if res and metric in res]
    if not runs:
        return ""
    sets = sorted({s for r in runs for s in results[r][metric] if s != "average"})
    rows = []
    for name in [*sets, "average"]:
        values = [results[r][metric].get(name, {}).get(direction) for r in runs]
        rows.append([f"**{name}**" if name == "average" else name,
                     *("–" if value is None else f"{100 * value:.1f}" for value in values)])
    return f"### {title}\n\n" + harness.markdown_table(["set", *runs], rows) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["a", "b", "c", "d", "st"])
    parser.add_argument("--root", default="runs")
    args = parser.parse_args(argv)
    for report, label in (("eval", "Tatoeba"), ("eval-heldout", "NTREX held-out")):
        results = {r: load(os.path.join(args.root, f"ntrex-{r}", report, "results.json")) for r in args.runs}
        for metric, what in (("retrieval", "sentence retrieval"), ("synonym", "synonym retrieval")):
            for direction, arrow in (("src2tgt", "xx→en"), ("tgt2src", "en→xx")):
                text = table(f"{label}: {what} top-1 accuracy (%), {arrow}", results, metric, direction)
                if text:
                    print(text)


if __name__ == "__main__":
    main()
