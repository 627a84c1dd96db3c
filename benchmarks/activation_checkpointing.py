"""Activation checkpointing (``model.activation_checkpointing``): peak memory and tokens/s of the MLM step with and
without it.

The MMLM step of ``VecoPretrainModule`` (``--preset``, default ``base``) on random blocks of ``--seq-len`` tokens
(content does not change the work), plain PyTorch steps (forward, backward, fused AdamW), in fp32 or under
``--precision bf16-mixed`` autocast, side by side in rotating order, medians of ``--runs`` rounds. Peak memory is
the step's peak above the process's baseline (``harness.PeakDeviceMemory``): resident memory on the CPU (model,
gradients, optimizer state, activations), ``torch.cuda.max_memory_allocated`` on a GPU. Tokens/s over ``--steps``
timed steps after one warm-up step. Each measurement runs in a process of its own (started with this process's
allocator: run it under ``LD_PRELOAD=.../libtcmalloc_minimal.so.4`` to measure as ``veco-fit`` runs where tcmalloc
is installed).

    python benchmarks/activation_checkpointing.py                          # base, 8 x 512, CPU, fp32
    python benchmarks/activation_checkpointing.py --preset large --batch-size 32 --device cuda --precision bf16-mixed

Results are printed and written to ``benchmarks/results/activation_checkpointing.json`` (``--output``).
"""

from __future__ import annotations

import argparse

import harness

VOCAB = 32000


class Step:
    def __init__(self, args, checkpointing: bool) -> None:
        import torch

        from veco_lightning import EncoderSpec, VecoPretrainModule

        torch.manual_seed(0)
        self.device = torch.device(args.device)
        self.module = VecoPretrainModule(
            encoder=EncoderSpec(preset=args.preset, max_length=args.seq_len), vocab_size=args.vocab,
            activation_checkpointing=checkpointing).train().to(self.device)
        self.module.log_losses = lambda *a: None
        self.optimizer = torch.optim.AdamW(self.module.parameters(), lr=1e-4, fused=True)
        self.autocast = args.precision == "bf16-mixed"

    def batch(self, args, seed: int) -> dict:
        import torch

        generator = torch.Generator().manual_seed(seed)
        ids = torch.randint(5, args.vocab, (args.batch_size, args.seq_len), generator=generator)
        labels = torch.where(torch.rand(ids.shape, generator=generator) < 0.15, ids, torch.full_like(ids, -100))
        return {"mmlm": {"input_ids": ids.to(self.device), "attention_mask": torch.ones_like(ids).to(self.device),
                         "labels": labels.to(self.device)}}

    def __call__(self, batch) -> float:
        import torch

        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            loss = self.module.training_step(batch, 0)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()


def measure_here(args, checkpointing: bool) -> dict:
    """One measurement in this process (a fresh one: see :func:`run`)."""
    import time

    import torch

    with harness.PeakDeviceMemory(args.device.startswith("cuda")) as memory:
        step = Step(args, checkpointing)
        losses = [step(step.batch(args, 0))]  # warm-up; also allocates the optimizer state
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(args.steps):
            losses.append(step(step.batch(args, i + 1)))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return {"peak_mib": memory.gib * 2**10, "tokens_per_s": args.batch_size * args.seq_len * args.steps / seconds,
            "losses": losses}


def run(args, checkpointing: bool) -> dict:
    """A measurement in a process of its own: an allocator that keeps freed memory (tcmalloc, which ``veco-fit``
    uses when installed) would otherwise serve one measurement from the memory another left, and the first step in
    a process also allocates the math libraries' buffers."""
    import json
    import subprocess
    import sys

    command = [sys.executable, __file__, "--child", json.dumps({**vars(args), "checkpointing": checkpointing})]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default="base")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--vocab", type=int, default=VOCAB)
    p.add_argument("--precision", choices=["32-true", "bf16-mixed"], default="32-true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, in a process of its own (run)
    harness.add_contention_options(p)
    harness.add_output(p, "activation_checkpointing")
    args = p.parse_args(argv)
    if args.child:
        import json

        settings = json.loads(args.child)
        print(json.dumps(measure_here(argparse.Namespace(**settings), settings["checkpointing"])))
        return 0
    machine = harness.describe_machine()
    harness.log(f"MLM step, {args.preset}, {args.batch_size} x {args.seq_len} tokens, {args.precision}, "
                f"{args.device}")
    measurements = {"without": lambda: run(args, False), "activation_checkpointing": lambda: run(args, True)}
    rounds = harness.interleave(measurements, args.runs, idle_wait=args.idle_wait, retries=args.retries,
                                describe=lambda r, name, f: f"round {r} {name}: {f['peak_mib']:.0f} MiB, "
                                                            f"{f['tokens_per_s']:.0f} tokens/s")
    for one in rounds:  # the same weights, batches and dropout masks: the same losses
        if one["without"]["losses"] != one["activation_checkpointing"]["losses"]:
            harness.log(f"losses differ: {one['without']['losses']} vs {one['activation_checkpointing']['losses']}")
    memory, speed = harness.medians(rounds, "peak_mib"), harness.medians(rounds, "tokens_per_s")
    print("\n" + harness.markdown_table(
        ["step", "peak memory (MiB)", "vs without", "tokens/s", "vs without"],
        [[name, f"{memory[name]:.0f}", f"{memory[name] / memory['without']:.2f}x", f"{speed[name]:.0f}",
          f"{speed[name] / speed['without']:.2f}x"] for name in measurements], "lrrrr"))
    contention = harness.summarize_contention(rounds)
    harness.write_result(args.output, "activation_checkpointing", {
        "settings": {key: getattr(args, key) for key in ("preset", "batch_size", "seq_len", "vocab", "precision",
                                                         "device", "steps", "runs")},
        "rounds": rounds, "median_peak_mib": memory, "median_tokens_per_s": speed,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
