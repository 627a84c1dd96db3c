"""Encoder throughput of the NTREX recipes side by side: (c) and (d) relative to (a) MMLM only.

Each round trains every recipe (``configs/experiments/ntrex.yaml`` + ``ntrex-<run>.yaml``: data, model, schedule) for
``--steps`` steps in a fresh ``veco-fit`` process, in rotating order, and reads the ``EncoderThroughput`` figure
(non-pad encoder tokens per second over the training steps after 10 warm-up steps; every view of every objective
counts). Reports each recipe's median over the rounds and the ratios of medians. Validation, checkpoints and export
are off. The data caches of the configs are reused (run ``benchmarks/ntrex_experiments.sh`` or one ``veco-fit``
of each config first, so that no round pays for tokenization or mining).

Each ``veco-fit`` process is one measurement of ``benchmarks/harness.py`` (on an idle CPU, contention recorded over
the whole process; ``--idle-wait``, ``--retries``). Results go to ``benchmarks/results/objective_throughput.json``.

    python benchmarks/objective_throughput.py [--runs a c d] [--rounds 3] [--steps 80]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from typing import Any

import harness


def train(run: str, steps: int, precision: str = "32-true", peak_flops: float | None = None,
          extra: list[str] = (), callbacks: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Train recipe ``run`` for ``steps`` steps in a ``veco-fit`` process; returns the figures of its
    ``EncoderThroughput`` callback: ``tokens_per_s``, ``model_flops_per_s``, ``mfu`` (given ``peak_flops``),
    ``wait_share``, ``padding_share``. ``callbacks``: more callbacks for the run (``class_path`` / ``init_args``
    dicts), e.g. ``products.ProductsRecorder`` (``benchmarks/`` is on the child's ``PYTHONPATH``)."""
    with tempfile.TemporaryDirectory() as scratch:
        output = os.path.join(scratch, "throughput.json")
        listed = json.dumps([{"class_path": "veco_lightning.callbacks.EncoderThroughput",
                              "init_args": {"peak_flops": peak_flops, "output": output}}, *callbacks])
        result = _fit(run, steps, precision, listed, extra)
        if result.returncode != 0 or not os.path.exists(output):
            raise RuntimeError(f"veco-fit of recipe ({run}) failed:\n{result.stderr[-3000:]}")
        with open(output) as handle:
            return json.load(handle)


def _fit(run: str, steps: int, precision: str, callbacks: str, extra: list[str]) -> subprocess.CompletedProcess:
    command = ["veco-fit", "--config", "configs/experiments/ntrex.yaml", "--config",
               f"configs/experiments/ntrex-{run}.yaml", "--trainer.max_time", "null",
               "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "0", "--trainer.logger", "false",
               "--trainer.precision", precision,
               "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false",
               f"--trainer.callbacks={callbacks}", "--export.enabled", "false", *extra]
    # The offline settings harness put into os.environ are inherited; benchmarks/ is importable (callbacks of ours).
    path = os.pathsep.join(filter(None, [os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH")]))
    return subprocess.run(command, cwd=harness.REPO, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": path})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["a", "c", "d"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=80)
    harness.add_contention_options(parser)
    harness.add_output(parser, "objective_throughput")
    args = parser.parse_args(argv)
    missing = harness.ntrex_recipe_missing()
    if missing:
        return harness.skip(missing)

    machine = harness.describe_machine()
    rounds = harness.interleave(
        {run: lambda run=run: train(run, args.steps) for run in args.runs}, args.rounds,
        idle_wait=args.idle_wait, retries=args.retries,
        describe=lambda round_, run, r: f"round {round_}: ({run}) {r['tokens_per_s']:.0f} tokens/s")
    figures = {run: [r[run]["tokens_per_s"] for r in rounds] for run in args.runs}
    medians = harness.medians(rounds, "tokens_per_s")
    base = args.runs[0]
    print("\n" + harness.markdown_table(
        ["recipe", "tokens/s per round", "median", f"÷ ({base})"],
        [[f"({run})", ", ".join(f"{v:.0f}" for v in figures[run]), f"{medians[run]:.0f}",
          f"{medians[run] / medians[base]:.2f}"] for run in args.runs], "llrr"))
    contention = harness.summarize_contention(rounds)
    harness.write_result(args.output, "objective_throughput", {
        "tokens_per_s": figures, "median": medians,
        "ratio_to_" + base: {run: medians[run] / medians[base] for run in args.runs}, "rounds": rounds,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
