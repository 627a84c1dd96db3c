"""Where the time of one masked-LM training step goes, without any training framework.

Companion to ``mlm_throughput.py``: it times plain PyTorch training steps (forward, backward, gradient clipping,
AdamW step, zero_grad) of the same ``XLMRobertaForMaskedLM`` (veco preset ``small`` by default) on random token
blocks with 15% of positions labelled, in four variants:

* ``dense``   -- the stock HF head: ``model(input_ids, attention_mask, labels).loss`` projects every position
  onto the vocabulary (what ``transformers.Trainer`` runs);
* ``sparse``  -- veco_lightning's ``MaskedLMLoss``: only the labelled positions are projected;
* ``encoder`` -- the encoder alone with a trivial loss (no LM head at all): the floor any head optimisation can
  reach, so ``dense / encoder`` is the ceiling of the veco/HF speed-up at this shape;
* ``sparse-no-opt`` -- ``sparse`` without clipping and optimizer step: the optimizer's share.

Each round runs ``--steps`` steps of every variant, in an order rotated round by round (so that machine noise hits
all of them); the median step time over all rounds is reported. A variant's steps in a round are one measurement
of ``benchmarks/harness.py`` (on an idle CPU, contention recorded; ``--idle-wait``, ``--retries``). With
``--profile`` it also prints the ``torch.profiler`` top operators of a few ``sparse`` and ``dense`` steps. No data
set is needed (token content does not change the work; random ids are used).

Usage (from the repository root)::

    python benchmarks/mlm_step_breakdown.py                 # small preset, vocab 32000, batch 16 x 128
    python benchmarks/mlm_step_breakdown.py --rounds 5 --steps 8 --profile

Results are printed and written to ``benchmarks/results/mlm_step_breakdown.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import os
import statistics

import harness
import torch
from transformers import XLMRobertaForMaskedLM

from veco_lightning.losses.masked_lm import MaskedLMLoss
from veco_lightning.models.encoder import preset_config

VARIANTS = ("dense", "sparse", "encoder", "sparse-no-opt")


def make_batch(args, generator: torch.Generator) -> dict[str, torch.Tensor]:
    ids = torch.randint(5, args.vocab_size - 1, (args.batch_size, args.seq_len), generator=generator)
    selected = torch.rand(ids.shape, generator=generator) < 0.15
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def loss_fn(variant: str, model: XLMRobertaForMaskedLM, head: MaskedLMLoss, batch: dict) -> torch.Tensor:
    if variant == "dense":
        return model(**batch).loss
    hidden = model.roberta(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    if variant == "encoder":
        return hidden.pow(2).mean()
    return head(hidden, batch["labels"])[0]


class Runner:
    """One model + optimizer per variant, kept across rounds."""

    def __init__(self, variant: str, args) -> None:
        torch.manual_seed(args.seed)
        config = preset_config(args.preset, args.vocab_size, 1, max_length=args.seq_len, attn_implementation="sdpa")
        self.variant = variant
        self.model = XLMRobertaForMaskedLM(config).train()
        self.head = MaskedLMLoss(self.model.lm_head)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=5e-4, weight_decay=0.01)
        self.generator = torch.Generator().manual_seed(args.seed)
        self.args = args

    def step(self) -> None:
        """One untimed training step on a fresh random batch."""
        self._train(make_batch(self.args, self.generator))

    def timed_steps(self, steps: int) -> dict:
        """``steps`` timed training steps: the :class:`harness.StepTimer` figures plus ``step_times_s``."""
        timer = harness.StepTimer(warmup=0)
        for i in range(steps):
            batch = make_batch(self.args, self.generator)
            timer.begin(i)
            self._train(batch)
            timer.end(i, tokens=batch["input_ids"].numel())
        return {**timer.result(), "step_times_s": timer.step_times}

    def _train(self, batch: dict) -> None:
        loss = loss_fn(self.variant, self.model, self.head, batch)
        loss.backward()
        if self.variant != "sparse-no-opt":
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
        self.optimizer.zero_grad()


def profile(runner: Runner, steps: int = 3, rows: int = 15) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    runner.step()
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            runner.step()
    print(f"\n== torch.profiler, {runner.variant}: top operators by self CPU time over {steps} steps ==")
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=rows,
                                                              max_name_column_width=40, max_shapes_column_width=60))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default="small")
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3, help="rounds; each runs every variant once, in rotating order")
    p.add_argument("--steps", type=int, default=6, help="timed steps per variant and round")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per variant before the first round")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", action="store_true", help="also print torch.profiler tables for sparse and dense")
    harness.add_contention_options(p)
    harness.add_output(p, "mlm_step_breakdown")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine = harness.describe_machine()
    harness.log(f"Preset {args.preset}, vocab {args.vocab_size}, batch {args.batch_size} x {args.seq_len}; "
                f"{args.rounds} rounds x {args.steps} steps")

    runners = {v: Runner(v, args) for v in VARIANTS}
    for runner in runners.values():
        for _ in range(args.warmup):
            runner.step()
    rounds = harness.interleave({v: lambda runner=runners[v]: runner.timed_steps(args.steps) for v in VARIANTS},
                                args.rounds, idle_wait=args.idle_wait, retries=args.retries)
    med = {v: statistics.median(t for r in rounds for t in r[v]["step_times_s"]) for v in VARIANTS}
    tokens = args.batch_size * args.seq_len
    print("\n" + harness.markdown_table(
        ["variant", "median step (ms)", "tokens/s", "vs dense"],
        [[v, f"{med[v] * 1000:.0f}", f"{tokens / med[v]:.0f}", f"{med['dense'] / med[v]:.2f}x"] for v in VARIANTS]))
    print(f"\nDense LM head costs {1000 * (med['dense'] - med['encoder']):.0f} ms/step, the sparse head "
          f"{1000 * (med['sparse'] - med['encoder']):.0f} ms; optimizer + clipping "
          f"{1000 * (med['sparse'] - med['sparse-no-opt']):.0f} ms. Ceiling of the sparse-head speed-up (head for "
          f"free): {med['dense'] / med['encoder']:.2f}x; sparse head: {med['dense'] / med['sparse']:.2f}x.")
    contention = harness.summarize_contention(rounds)
    harness.write_result(args.output, "mlm_step_breakdown", {
        "settings": {"preset": args.preset, "vocab_size": args.vocab_size, "batch_size": args.batch_size,
                     "seq_len": args.seq_len, "rounds": args.rounds, "timed_steps": args.steps,
                     "warmup_steps": args.warmup, "seed": args.seed, "torch_threads": args.threads},
        "rounds": rounds,
        "median_step_s": med,
        "tokens_per_s": {v: tokens / med[v] for v in VARIANTS},
    }, environment={**machine, **contention}, argv=argv)
    if args.profile:
        profile(runners["sparse"])
        profile(runners["dense"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
