"""GradCache (``model.grad_cache_chunk``): peak memory and pairs/s of the contrastive step with and without it.

The sequence + token contrast step of ``VecoPretrainModule`` (``small`` encoder by default, MMLM and TLM off) on
random translation pairs of ``--seq-len`` tokens per side (content does not change the work), plain PyTorch steps
(forward, backward, AdamW). First the largest batch (a power of two) whose step stays under ``--budget-mib`` of
peak memory without GradCache is found; then, side by side in rotating order:

* that batch ``B`` without GradCache;
* ``4 B`` pairs with ``grad_cache_chunk = 2 B`` sequences (one chunk = the B pairs' two sides, what fitted);
* ``4 B`` without GradCache (what would not fit the budget), when ``--over-budget`` is given.

Peak memory is the step's resident-memory peak above the process's baseline (``harness.PeakMemory``); pairs/s over
``--steps`` timed steps after one warm-up step. Medians of ``--runs`` rounds.

    python benchmarks/grad_cache.py                               # small, 128 tokens, budget 2048 MiB
    python benchmarks/grad_cache.py --budget-mib 4096 --preset base --over-budget

Results are printed and written to ``benchmarks/results/grad_cache.json`` (``--output``).
"""

from __future__ import annotations

import argparse

import harness

VOCAB = 32000


def pairs_batch(pairs: int, length: int, seed: int) -> dict:
    """A pairs batch as the collators make it: both sides full (no padding), every word one token, 4 synonym pairs
    per sentence pair."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    sides = {}
    for side in ("src", "tgt"):
        ids = torch.randint(5, VOCAB, (pairs, length), generator=generator)
        word_index = torch.arange(length).expand(pairs, length).clone()
        word_index[:, 0] = word_index[:, -1] = -1  # <s>, </s>
        sides[side] = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "word_index": word_index}
    synonyms = torch.stack([torch.randperm(length - 2, generator=generator)[:4] + 1 for _ in range(pairs)])
    return {"pairs": {**sides, "synonyms": torch.stack([synonyms, synonyms], dim=-1)}}


class Step:
    def __init__(self, args, chunk: int | None) -> None:
        import torch

        from veco_lightning import EncoderSpec, VecoPretrainModule

        torch.manual_seed(0)
        self.module = VecoPretrainModule(
            encoder=EncoderSpec(preset=args.preset, max_length=args.seq_len), vocab_size=VOCAB,
            loss_weights={"mmlm": 0.0, "tlm": 0.0, "seq": 1.0, "tok": 1.0}, grad_cache_chunk=chunk).train()
        self.module.log_losses = lambda *a: None
        self.optimizer = torch.optim.AdamW(self.module.parameters(), lr=1e-4, fused=True)

    def __call__(self, batch) -> float:
        loss = self.module.training_step(batch, 0)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()


def run(args, pairs: int, chunk: int | None) -> dict:
    """Peak memory of one step (model, optimizer state and all) and pairs/s of ``--steps`` steps."""
    import gc
    import time

    with harness.PeakMemory() as memory:
        step = Step(args, chunk)
        batch = pairs_batch(pairs, args.seq_len, 0)
        step(batch)  # warm-up; also allocates the optimizer state
        start = time.perf_counter()
        for i in range(args.steps):
            step(pairs_batch(pairs, args.seq_len, i + 1))
        seconds = time.perf_counter() - start
    del step, batch
    gc.collect()
    return {"pairs": pairs, "chunk": chunk, "peak_mib": memory.peak_mib, "pairs_per_s": pairs * args.steps / seconds}


def largest_fitting(args) -> int:
    pairs, best = 4, None
    while pairs <= args.max_pairs:
        result = run(argparse.Namespace(**{**vars(args), "steps": 1}), pairs, None)
        harness.log(f"  without GradCache, {pairs} pairs: peak {result['peak_mib']:.0f} MiB")
        if result["peak_mib"] > args.budget_mib:
            break
        best, pairs = pairs, pairs * 2
    if best is None:
        raise SystemExit(f"even 4 pairs exceed --budget-mib {args.budget_mib}")
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default="small")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--budget-mib", type=float, default=2048)
    p.add_argument("--max-pairs", type=int, default=1024)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--over-budget", action="store_true", help="also run 4B pairs without GradCache")
    harness.add_contention_options(p)
    harness.add_output(p, "grad_cache")
    args = p.parse_args(argv)
    machine = harness.describe_machine()
    harness.log(f"Finding the largest batch under {args.budget_mib:.0f} MiB without GradCache ({args.preset}, "
                f"{args.seq_len} tokens per side)...")
    fit = largest_fitting(args)
    measurements = {f"{fit} pairs": lambda: run(args, fit, None),
                    f"{4 * fit} pairs, chunk {2 * fit}": lambda: run(args, 4 * fit, 2 * fit)}
    if args.over_budget:
        measurements[f"{4 * fit} pairs"] = lambda: run(args, 4 * fit, None)
    rounds = harness.interleave(measurements, args.runs, idle_wait=args.idle_wait, retries=args.retries,
                                describe=lambda r, name, f: f"round {r} {name}: {f['peak_mib']:.0f} MiB, "
                                                            f"{f['pairs_per_s']:.1f} pairs/s")
    memory, speed = harness.medians(rounds, "peak_mib"), harness.medians(rounds, "pairs_per_s")
    base = next(iter(measurements))
    print("\n" + harness.markdown_table(
        ["step", "peak memory (MiB)", "vs " + base, "pairs/s", "vs " + base],
        [[name, f"{memory[name]:.0f}", f"{memory[name] / memory[base]:.2f}x", f"{speed[name]:.1f}",
          f"{speed[name] / speed[base]:.2f}x"] for name in measurements], "lrrrr"))
    contention = harness.summarize_contention(rounds)
    harness.write_result(args.output, "grad_cache", {
        "settings": {"preset": args.preset, "seq_len": args.seq_len, "budget_mib": args.budget_mib,
                     "largest_fitting_pairs": fit, "steps": args.steps, "runs": args.runs},
        "rounds": rounds, "median_peak_mib": memory, "median_pairs_per_s": speed,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
