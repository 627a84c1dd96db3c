"""Where the VECO step's model FLOPs utilisation goes: each forward pass of the step timed apart, on real batches.

Companion to ``mfu.py``, which measures the whole VECO (d) step through ``veco-fit``. The step runs up to three
encoder passes (``VecoPretrainModule.training_step``): the MMLM blocks, the TLM rows (a share of the pairs, both
sides concatenated) and the two clean sides of the pairs as one ``(2B, L)`` batch (the sequence and token contrast).
This script builds the module and the data of a recipe from its configs (default the NTREX (d) recipe), draws
``--batches`` training batches from its loader, and times forward + backward (no optimizer step) of

* each input kind alone (``mmlm``, ``tlm``, ``pairs``) on every batch that holds it, and
* the whole batch (``step``: what ``veco-fit`` runs between its hooks),

with the model FLOPs of :func:`veco_lightning.flops.batch_flops` (pad positions count none). With ``--padded``, the
kinds that hold pad positions are also measured with ``model.unpad`` off (the padded batch through every layer),
side by side, and the table gives each one's speed-up from padding-free encoding. One measurement is one
kind over all its batches (``benchmarks/harness.py``: idle CPU awaited, contention recorded); rounds rotate the
order; the table gives medians over rounds of each kind's median pass. The first ``--warmup`` batches of every
measurement are not timed.

Usage (from the repository root; needs ``../shared/data/ntrex128`` and the recipe's tokenizer, see the header of
``configs/experiments/ntrex.yaml``)::

    python benchmarks/veco_step_passes.py                       # NTREX (d), 24 batches, 3 rounds
    python benchmarks/veco_step_passes.py --padded --rounds 5   # also padded (model.unpad off), side by side
    python benchmarks/veco_step_passes.py --configs configs/experiments/ntrex.yaml configs/experiments/ntrex-c.yaml

Results are printed and written to ``benchmarks/results/veco_step_passes.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import warnings

import harness

KINDS = ("mmlm", "tlm", "pairs", "step")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+",
                        default=["configs/experiments/ntrex.yaml", "configs/experiments/ntrex-d.yaml"],
                        help="veco-fit config files of the recipe, composed left to right")
    parser.add_argument("--batches", type=int, default=24, help="training batches drawn from the recipe's loader")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches at the start of every measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--padded", action="store_true",
                        help="also measure the TLM rows, the pairs and the whole step with model.unpad off")
    harness.add_contention_options(parser)
    harness.add_output(parser, "veco_step_passes")
    args = parser.parse_args(argv)
    missing = harness.ntrex_recipe_missing() if "configs/experiments/ntrex.yaml" in args.configs else None
    if missing:
        return harness.skip(missing)
    harness.quiet_libraries("veco_lightning")
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)

    from veco_lightning.cli import VecoCLI
    from veco_lightning.datamodule import VecoDataModule
    from veco_lightning.flops import batch_flops
    from veco_lightning.module import VecoPretrainModule

    machine = harness.describe_machine()
    os.chdir(harness.REPO)  # the configs' paths are relative to the repository root
    config_args = [arg for path in args.configs for arg in ("--config", path)]
    cli = VecoCLI(VecoPretrainModule, VecoDataModule, run=False, seed_everything_default=0,
                  auto_configure_optimizers=False, args=[*config_args, "--trainer.logger", "false"])
    module, datamodule = cli.model, cli.datamodule
    datamodule.prepare_data()
    datamodule.setup("fit")
    loader = iter(datamodule.train_dataloader())
    batches = [next(loader) for _ in range(args.batches)]
    module.train()
    config = module.model.config

    def inputs(batch: dict, kind: str) -> dict | None:
        if kind == "step":
            return batch
        return {kind: batch[kind]} if kind in batch else None

    def rows_and_length(part: dict) -> tuple[int, int]:
        """Rows and padded length of the encoder batch a part becomes (the pairs: both sides, joined)."""
        if "input_ids" in next(iter(part.values())):
            ids = next(iter(part.values()))["input_ids"]
            return ids.shape[0], ids.shape[1]
        pairs = next(iter(part.values()))
        return 2 * pairs["src"]["input_ids"].shape[0], max(pairs[s]["input_ids"].shape[1] for s in ("src", "tgt"))

    def measure(kind: str, unpad: bool = True):
        def run() -> dict:
            module.unpad = unpad
            times, flops, shapes = [], [], []
            for number, batch in enumerate(batches):
                part = inputs(batch, kind)
                if part is None:
                    continue
                module.zero_grad(set_to_none=True)
                begin = time.perf_counter()
                # stage="val": the same losses without the trainer's step bookkeeping (logging, skip decisions)
                module.training_step(part, number, stage="val").backward()
                seconds = time.perf_counter() - begin
                if number >= args.warmup:
                    times.append(seconds)
                    flops.append(batch_flops(config, part, module.seq_head, module.tok_head))
                    if kind != "step":
                        shapes.append(rows_and_length(part))
            if not times:
                return {"passes": 0}
            seconds, model_flops = statistics.median(times), statistics.median(flops)
            figures = {"passes": len(times), "median_s": seconds, "median_model_flops": model_flops,
                       "model_flops_per_s": statistics.median(f / t for f, t in zip(flops, times))}
            if shapes:
                figures["median_rows"] = statistics.median(r for r, _ in shapes)
                figures["median_length"] = statistics.median(n for _, n in shapes)
            return figures
        return run

    present = [kind for kind in KINDS if any(inputs(b, kind) is not None for b in batches[args.warmup:])]
    harness.log(f"{len(batches)} batches ({args.warmup} untimed per measurement); kinds {', '.join(present)}; "
                f"{args.rounds} rounds")
    measurements = {kind: measure(kind) for kind in present}
    if args.padded:
        measurements.update({f"{kind} padded": measure(kind, unpad=False) for kind in present if kind != "mmlm"})
    rounds = harness.interleave(measurements, args.rounds, idle_wait=args.idle_wait,
                                retries=args.retries, describe=lambda r, kind, f: (
                                    f"  round {r + 1} {kind}: {f['passes']} passes, median "
                                    f"{1000 * f['median_s']:.0f} ms, {f['model_flops_per_s'] / 1e9:.1f} GFLOP/s"))
    speed = harness.medians(rounds, "model_flops_per_s")
    seconds = harness.medians(rounds, "median_s")
    model_flops = harness.medians(rounds, "median_model_flops")
    reference = speed.get("mmlm")
    table = []
    for kind in measurements:
        first = rounds[0][kind]
        shape = f"{first['median_rows']:.0f} × {first['median_length']:.0f}" if "median_rows" in first else ""
        table.append([kind, first["passes"], shape, f"{model_flops[kind] / 1e9:.1f}", f"{1000 * seconds[kind]:.0f}",
                      f"{speed[kind] / 1e9:.1f}", f"{speed[kind] / reference:.2f}" if reference else ""])
    print(f"\n## Forward + backward per input kind ({' + '.join(args.configs)}; medians of {args.rounds} rounds)\n")
    print(harness.markdown_table(["pass", "passes", "median rows × length", "model GFLOP", "ms", "model GFLOP/s",
                                  "÷ mmlm"], table))
    speedups = {}
    if args.padded:  # padded time / padding-free time, round by round (the two measured side by side)
        for kind in present:
            if f"{kind} padded" in measurements:
                per_round = [r[f"{kind} padded"]["median_s"] / r[kind]["median_s"] for r in rounds]
                speedups[kind] = {"median": statistics.median(per_round), "per_round": per_round}
                print(f"- {kind}: padding-free {speedups[kind]['median']:.3f}× the padded pass (per round "
                      f"{', '.join(f'{x:.2f}' for x in per_round)})")
    harness.write_result(args.output, "veco_step_passes", {
        "settings": {"configs": args.configs, "batches": args.batches, "warmup": args.warmup, "rounds": args.rounds},
        "median_model_flops_per_s": speed, "median_seconds": seconds, "median_model_flops": model_flops,
        "unpad_speedup": speedups, "rounds": rounds,
    }, environment={**machine, **harness.summarize_contention(rounds)}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
