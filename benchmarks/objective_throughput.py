"""Encoder throughput of the NTREX recipes side by side: (c) and (d) relative to (a) MMLM only.

Each round trains every recipe (``configs/experiments/ntrex-<run>.yaml``, its data, model and schedule) for
``--steps`` steps in a fresh ``veco-fit`` process, in rotating order, and reads the ``EncoderThroughput`` figure
(non-pad encoder tokens per second over the training steps after 10 warm-up steps; every view of every objective
counts). Reports each recipe's median over the rounds and the ratios of medians. Validation, checkpoints and export
are off. The data caches of the configs are reused (run ``benchmarks/ntrex_experiments.sh`` or one ``veco-fit``
of each config first, so that no round pays for tokenization or mining).

    python benchmarks/objective_throughput.py [--runs a c d] [--rounds 3] [--steps 80]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LINE = re.compile(r"Encoder throughput: (\d+) tokens/s")


def measure(run: str, steps: int) -> float:
    callbacks = json.dumps([{"class_path": "veco_lightning.callbacks.EncoderThroughput"}])
    command = ["veco-fit", "--config", f"configs/experiments/ntrex-{run}.yaml", "--trainer.max_time", "null",
               "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "0", "--trainer.logger", "false",
               "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false",
               f"--trainer.callbacks={callbacks}", "--export.enabled", "false"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    found = LINE.search(result.stdout)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["a", "c", "d"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--output", default=os.path.join(HERE, "results", "objective_throughput.json"))
    args = parser.parse_args()
    figures: dict[str, list[float]] = {run: [] for run in args.runs}
    for round_ in range(args.rounds):
        order = args.runs[round_ % len(args.runs):] + args.runs[: round_ % len(args.runs)]
        for run in order:
            figures[run].append(measure(run, args.steps))
            print(f"round {round_}: ({run}) {figures[run][-1]:.0f} tokens/s", flush=True)
    medians = {run: statistics.median(values) for run, values in figures.items()}
    base = args.runs[0]
    print(f"\n| recipe | tokens/s per round | median | ÷ ({base}) |\n|---|---|---:|---:|")
    for run in args.runs:
        print(f"| ({run}) | {', '.join(f'{v:.0f}' for v in figures[run])} | {medians[run]:.0f} "
              f"| {medians[run] / medians[base]:.2f} |")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"benchmark": "objective_throughput", "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   "command": "python benchmarks/objective_throughput.py " + " ".join(
                       f"--runs {' '.join(args.runs)} --rounds {args.rounds} --steps {args.steps}".split()),
                   "tokens_per_s": figures, "median": medians,
                   "ratio_to_" + base: {r: medians[r] / medians[base] for r in args.runs}}, handle, indent=1)


if __name__ == "__main__":
    main()
