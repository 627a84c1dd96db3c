"""Peak memory of the masked-LM head's cross-entropy of 16-bit logits (``BlockwiseCrossEntropy``) under its two
schedules, both run on the CPU: the CPU's (``softmax``) and the GPU's (``log_softmax``); both write the gradient in the
forward pass and keep it instead of the logits. (Until 2026-12-04 the CPU's schedule kept the logits and wrote the
gradient in the backward pass: the figures in ``results/blockwise_memory.json`` compare that one with the GPU's.)

Each measurement is a fresh process that projects ``--rows`` bf16 features of width ``--dim`` onto ``--vocab``
entries (the logits: what the LM head's decoder gives the loss), runs the loss forward and backward, and reports its
peak resident memory above what it held before the projection. glibc maps buffers this large afresh and unmaps them
when they are freed, so the resident peak follows the peak of live tensors. The default shape is the H200 run's
``large`` step at XLM-R's vocabulary (32 x 512 tokens masked 15%: 2,496 rows with the filler, 250,002 entries); the
small ``--dim`` keeps the projection's own inputs out of the figure. Time is not measured: on the CPU the GPU
schedule runs with the CPU's blocks, which says nothing about a GPU (``results/blockwise_softmax_ab/ab_ce.py`` times
the schedules on the CPU).

    python benchmarks/blockwise_memory.py                      # 2 runs of each schedule; under a minute on 2 cores
    python benchmarks/blockwise_memory.py --rows 300 --vocab 32000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

import harness

CHILD = """
import json, resource, sys, torch
from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy
rows, vocab, dim, schedule = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
g = torch.Generator().manual_seed(0)
features = torch.randn(rows, dim, generator=g).bfloat16().requires_grad_()
weight = torch.randn(vocab, dim, generator=g).bfloat16().requires_grad_()
targets = torch.randint(0, vocab, (rows,), generator=g)
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
logits = features @ weight.t()
loss = BlockwiseCrossEntropy.apply(logits, targets, schedule)
del logits
loss.backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak_above_start_bytes": peak - start, "loss": float(loss)}))
"""


def measure(rows: int, vocab: int, dim: int, schedule: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(rows), str(vocab), str(dim), schedule],
                            capture_output=True, text=True, check=True, cwd=harness.REPO)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=2496, help="masked positions (with the head's filler rows)")
    p.add_argument("--vocab", type=int, default=250_002)
    p.add_argument("--dim", type=int, default=64, help="the features' width (small: the logits dominate)")
    p.add_argument("--runs", type=int, default=2)
    harness.add_output(p, "blockwise_memory")
    args = p.parse_args(argv)
    logits_gib = args.rows * args.vocab * 2 / 2**30
    figures: dict[str, list[dict]] = {"softmax": [], "log_softmax": []}
    for run in range(args.runs):
        for schedule in ("softmax", "log_softmax") if run % 2 == 0 else ("log_softmax", "softmax"):
            figures[schedule].append(measure(args.rows, args.vocab, args.dim, schedule))
            harness.log(f"run {run} {schedule} schedule: peak "
                        f"{figures[schedule][-1]['peak_above_start_bytes'] / 2**30:.2f} GiB above the start")
    rows = []
    for schedule, results in figures.items():
        peak = statistics.median(r["peak_above_start_bytes"] for r in results) / 2**30
        rows.append([schedule, f"{peak:.2f}", f"{peak / logits_gib:.2f}", f"{results[0]['loss']:.4f}"])
    harness.log(f"\n(rows {args.rows:,}, vocabulary {args.vocab:,}: the bf16 logits are {logits_gib:.2f} GiB; medians "
                f"of {args.runs} runs)\n" + harness.markdown_table(
                    ["schedule", "peak above the start, GiB", "in logits' sizes", "loss"], rows))
    harness.write_result(args.output, "blockwise_memory", {
        "settings": {key: value for key, value in vars(args).items() if key != "output"},
        "logits_gib": logits_gib, "runs": figures}, environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
