"""Model FLOPs utilisation (MFU) against this machine's measured matmul peak, in fp32 and bf16-mixed.

1. **Peak**: ``torch.matmul`` of two square ``--matmul-size`` matrices (default 4096), in float32 and bfloat16,
   median FLOP/s (``2 n^3`` per product) of ``--repeats`` products after two warm-up ones; measured before and after
   the steps and right after every step measurement, and the highest of all these counts as the run's peak (bf16 on
   a CPU without bf16 kernels at ``--slow-bf16-size``, default 1024: there it runs at about 1 GFLOP/s, and one 4096^3
   product takes minutes). The
   table also gives the MFU against the peak measured right after each step measurement: on a shared machine whose
   speed drifts over the hour (the hypervisor), that figure compares the step with what the machine gave at the
   time.
2. **MLM step**: the veco side of ``mlm_throughput.py`` (``MonolingualDataModule`` + ``VecoPretrainModule`` under
   ``lightning.Trainer``, packed NTREX-128 blocks, sparse LM head) at each ``--presets`` shape and precision.
3. **VECO step**: the NTREX recipe ``--recipe`` (default (d): MMLM + TLM + sequence and token contrast) through
   ``veco-fit``, as ``objective_throughput.py`` runs it, at its ``small`` shape.

Model FLOPs are counted from the shapes (:mod:`veco_lightning.flops`: the matrix products of the encoder on the
non-pad tokens, attention included, and of the heads; a training step is 3 forward passes), so padding and
recomputation do not count as useful work. MFU = model FLOP/s / the peak of the run's precision (bf16-mixed against
the bfloat16 peak). The VECO step also reports the time between steps (loader wait, hooks) and the padding share of
every input kind (``EncoderThroughput``). Every measurement is one of ``benchmarks/harness.py`` (idle CPU
awaited, contention recorded); rounds alternate the order; medians are reported.

    python benchmarks/mfu.py                                   # small; fp32 and bf16-mixed; MLM and VECO (d)
    python benchmarks/mfu.py --presets small base --runs 3 --steps 20
    python benchmarks/mfu.py --recipe none --precisions 32-true --torch-dropout   # fast vs torch's dropout
    python benchmarks/mfu.py --unfused-head   # fused LM-head cross-entropy (blockwise in bf16) vs apart
    python benchmarks/mfu.py --precisions 32-true --padded   # padding-free VECO step (model.unpad) vs padded
    python benchmarks/mfu.py --precisions bf16-mixed --exact-rows   # rows rounded to 64 (model.row_multiple) vs not
    python benchmarks/mfu.py --products   # + the steps' matrix products alone: the MFU ceiling

Results are printed and written to ``benchmarks/results/mfu.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace

import harness
import mlm_throughput
import objective_throughput

PRECISIONS = {"32-true": "float32", "bf16-mixed": "bfloat16"}


def matmul_peak(dtype_name: str, size: int, repeats: int) -> dict:
    """Median FLOP/s of ``torch.matmul`` on two ``size x size`` matrices of ``dtype_name``."""
    import torch

    dtype = getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    for _ in range(2):
        torch.matmul(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"flops_per_s": 2 * size**3 / median, "median_s": median, "size": size}


def mlm_step(preset: str, precision: str, args, files, tok_dir: str, peak: float, compile: bool = False,
             compile_scope: str = "layers", fast_dropout: bool = True, fused_lm_loss: bool = True,
             row_multiple: int | None = None) -> dict:
    """Tokens/s, model FLOP/s and MFU of the veco MLM step (``mlm_throughput.run_veco``); with ``args.products``,
    also the step's matrix products replayed alone (``products.replay``): ``products_model_flops_per_s`` (the
    step's model FLOPs over the products' time, the MFU ceiling) and ``products_share`` (their share of the step)."""
    import torch

    from veco_lightning.data.tokenizer import load_tokenizer
    from veco_lightning.flops import encoder_flops, mlm_head_flops
    from veco_lightning.models.encoder import preset_config

    recorder = None
    if args.products:
        import products

        step = max(0, args.warmup - 1)  # an untimed warm-up step: the MLM step's shapes are the same every step
        recorder = products.ProductsRecorder(first_step=step, last_step=step)
    options = SimpleNamespace(preset=preset, precision=precision, seq_len=args.seq_len, batch_size=args.batch_size,
                              steps=args.steps, warmup=args.warmup, seed=0, lr=5e-4, weight_decay=0.01, clip=1.0,
                              adamw="fused", model_vocab=None, compile=compile, compile_scope=compile_scope,
                              fast_dropout=fast_dropout, fused_lm_loss=fused_lm_loss, row_multiple=row_multiple,
                              callbacks=[recorder] if recorder else [])
    out = mlm_throughput.run_veco(options, files, tok_dir)
    config = preset_config(preset, len(load_tokenizer(tok_dir)), max_length=args.seq_len)
    blocks = out["tokens"] / args.seq_len  # every packed block is full
    per_block = encoder_flops(config, torch.ones(1, args.seq_len))
    flops = blocks * per_block + mlm_head_flops(config, out["masked_tokens"])
    out["model_flops_per_s"] = flops / out["seconds"]
    out["mfu"] = out["model_flops_per_s"] / peak
    if recorder is not None:
        add_products(out, products.replay(recorder.steps), flops / args.steps, out["seconds"] / args.steps)
    return out


def add_products(out: dict, replay: dict, model_flops_per_step: float, step_seconds: float) -> None:
    """The figures of ``--products`` (per step): the model FLOPs over the products' time (``/ peak``: the MFU
    ceiling), the products' own FLOP/s and their share of the step."""
    out["products"] = replay
    per_step = replay["seconds"] / replay["steps"]
    out["products_model_flops_per_s"] = model_flops_per_step / per_step
    out["products_flops_per_s"] = replay["flops"] / replay["seconds"]
    out["products_share"] = per_step / step_seconds


def veco_step(recipe: str, steps: int, precision: str, peak: float, record_products: bool) -> dict:
    """The VECO step through ``veco-fit`` (``objective_throughput.train``); with ``record_products``, a second run
    of the same seed records the matrix products of the timed steps (recording slows them, so not in the timed run),
    which are replayed alone: the same figures as the MLM step's."""
    out = objective_throughput.train(recipe, steps, precision, peak)
    if record_products:
        import inspect
        import tempfile

        import products as recorded

        from veco_lightning.callbacks import EncoderThroughput

        # The steps EncoderThroughput times: those after its warm-up (objective_throughput keeps the default).
        warmup = inspect.signature(EncoderThroughput).parameters["warmup_steps"].default
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "products.json")
            objective_throughput.train(recipe, steps, precision, callbacks=[
                {"class_path": "products.ProductsRecorder", "init_args": {"first_step": warmup, "output": path}}])
            replay = recorded.replay(recorded.load(path), repeats=3)
        timed = steps - warmup
        add_products(out, replay, out["model_flops_per_s"] * out["seconds"] / timed, out["seconds"] / timed)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["small"], help="shapes of the MLM step")
    p.add_argument("--precisions", nargs="+", choices=sorted(PRECISIONS), default=None,
                   help="default: 32-true and bf16-mixed, or 32-true alone on a CPU without bf16 kernels (there a bf16 "
                        "step runs about 36x slower: name bf16-mixed to measure it anyway)")
    p.add_argument("--recipe", default="d", help="NTREX recipe of the VECO step ('none' skips it)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="timed MLM steps per run")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--veco-steps", type=int, default=40, help="steps of the VECO run (10 of them warm-up)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--matmul-size", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--slow-bf16-size", type=int, default=1024,
                   help="the bf16 peak's size on a CPU without bf16 kernels (veco_lightning.hardware)")
    p.add_argument("--compile", action="store_true",
                   help="also the fp32 small steps with model.compile (torch.compile, dynamic shapes)")
    p.add_argument("--compile-scope", nargs="+", choices=("layers", "trunk"), default=["layers"],
                   help="model.compile_scope of the compiled steps (both: each, side by side)")
    p.add_argument("--torch-dropout", action="store_true",
                   help="also the MLM steps with encoder.fast_dropout off (torch's own dropout), side by side")
    p.add_argument("--unfused-head", action="store_true",
                   help="also every step with model.fused_lm_loss off (LM head and cross-entropy apart, the "
                        "cross-entropy of 16-bit logits through an fp32 upcast), side by side")
    p.add_argument("--padded", action="store_true",
                   help="also the VECO steps with model.unpad off (padded batches through every layer), side by side")
    p.add_argument("--exact-rows", action="store_true",
                   help="also the bf16 steps with model.row_multiple 1 (matrix-product row counts as they come, "
                        "not rounded up to 64), side by side")
    p.add_argument("--products", action="store_true",
                   help="also replay the steps' matrix products alone (MLM: recorded from a warm-up step; VECO: the "
                        "timed steps, recorded in a second run of the same seed): their time, the MFU ceiling it "
                        "sets, and their share of the step")
    harness.add_contention_options(p)
    harness.add_data_dir(p, "ntrex128/")
    harness.add_output(p, "mfu")
    args = p.parse_args(argv)
    files = mlm_throughput.ntrex_files(args.data_dir)
    if not files:
        return harness.skip(f"no NTREX-128 files under {os.path.join(args.data_dir, 'ntrex128')!r}")
    missing = harness.ntrex_recipe_missing() if args.recipe != "none" else None
    if missing:
        return harness.skip(f"{missing} (or measure the MLM step alone with --recipe none)")
    harness.quiet_libraries("veco_lightning")
    machine = harness.describe_machine()
    log = harness.log

    from veco_lightning.hardware import cpu_bf16_kernels

    bf16_kernels = cpu_bf16_kernels()
    if args.precisions is None:
        args.precisions = ["32-true", "bf16-mixed"] if bf16_kernels else ["32-true"]
        if not bf16_kernels:
            log("this CPU has no bf16 kernels (veco_lightning.hardware): bf16-mixed is left out (--precisions "
                "32-true bf16-mixed measures it, about 36x slower than fp32)")
    elif not bf16_kernels and "bf16-mixed" in args.precisions:
        log(f"this CPU has no bf16 kernels (veco_lightning.hardware): the bf16 steps are slow, and the bf16 peak is "
            f"measured at {args.slow_bf16_size}^3")

    def peak_size(dtype: str) -> int:
        return args.matmul_size if dtype != "bfloat16" or bf16_kernels else min(args.matmul_size, args.slow_bf16_size)

    def measure_peaks(when: str) -> dict:
        found = {}
        for precision in args.precisions:
            dtype = PRECISIONS[precision]
            size = peak_size(dtype)
            result = harness.measure(lambda dtype=dtype, size=size: matmul_peak(dtype, size, args.repeats),
                                     idle_wait=args.idle_wait, retries=args.retries)
            found[precision] = result
            log(f"matmul peak {dtype} ({when}): {result['flops_per_s'] / 1e9:.0f} GFLOP/s ({size}^3 in "
                f"{result['median_s'] * 1000:.0f} ms)")
        return found

    # The peak is measured before and after the steps (and after every step measurement) and the highest counts: a
    # single measurement that the hypervisor slowed (on a shared 2-core machine one came out 25% low within the hour)
    # would inflate every MFU.
    peaks = measure_peaks("before the steps")

    tok_dir, _, _ = mlm_throughput.get_tokenizer(args.data_dir, mlm_throughput.MIN_VOCAB)
    mlm_throughput.hf_blocks(argparse.Namespace(seq_len=args.seq_len, batch_size=args.batch_size, seed=0), files,
                             tok_dir)  # tokenise and pack once, outside the timed runs
    measurements = {}
    for precision in args.precisions:
        peak = peaks[precision]["flops_per_s"]
        for preset in args.presets:
            measurements[f"MLM {preset} {precision}"] = (
                lambda preset=preset, precision=precision, peak=peak: mlm_step(preset, precision, args, files,
                                                                                tok_dir, peak))
            if args.torch_dropout:
                measurements[f"MLM {preset} {precision} torch dropout"] = (
                    lambda preset=preset, precision=precision, peak=peak: mlm_step(
                        preset, precision, args, files, tok_dir, peak, fast_dropout=False))
            if args.exact_rows and precision != "32-true":  # fp32 rounds nothing by default
                measurements[f"MLM {preset} {precision} exact rows"] = (
                    lambda preset=preset, precision=precision, peak=peak: mlm_step(
                        preset, precision, args, files, tok_dir, peak, row_multiple=1))
            if args.unfused_head:
                measurements[f"MLM {preset} {precision} unfused head"] = (
                    lambda preset=preset, precision=precision, peak=peak: mlm_step(
                        preset, precision, args, files, tok_dir, peak, fused_lm_loss=False))
        if args.recipe != "none":
            measurements[f"VECO ({args.recipe}) small {precision}"] = (
                lambda precision=precision, peak=peak: veco_step(args.recipe, args.veco_steps, precision, peak,
                                                                 args.products))
            if args.padded:
                measurements[f"VECO ({args.recipe}) small {precision} padded"] = (
                    lambda precision=precision, peak=peak: objective_throughput.train(
                        args.recipe, args.veco_steps, precision, peak, ["--model.unpad", "false"]))
            if args.exact_rows and precision != "32-true":  # fp32 rounds nothing by default
                measurements[f"VECO ({args.recipe}) small {precision} exact rows"] = (
                    lambda precision=precision, peak=peak: objective_throughput.train(
                        args.recipe, args.veco_steps, precision, peak, ["--model.row_multiple", "1"]))
            if args.unfused_head:
                measurements[f"VECO ({args.recipe}) small {precision} unfused head"] = (
                    lambda precision=precision, peak=peak: objective_throughput.train(
                        args.recipe, args.veco_steps, precision, peak, ["--model.fused_lm_loss", "false"]))
    for scope in args.compile_scope if args.compile else ():
        peak = peaks["32-true"]["flops_per_s"]
        suffix = " compiled" if len(args.compile_scope) == 1 else f" compiled {scope}"
        measurements["MLM small 32-true" + suffix] = lambda scope=scope, peak=peak: mlm_step(
            "small", "32-true", args, files, tok_dir, peak, compile=True, compile_scope=scope)
        if args.recipe != "none":
            measurements[f"VECO ({args.recipe}) small 32-true" + suffix] = (
                lambda scope=scope, peak=peak: objective_throughput.train(
                    args.recipe, args.veco_steps, "32-true", peak,
                    ["--model.compile", "true", "--model.compile_scope", scope]))
    def with_adjacent_peak(name: str, measure: Callable[[], dict]) -> Callable[[], dict]:
        """The measurement, then the matmul peak of its precision measured right after it: the peak the machine gave
        at that time (a hypervisor's slow spell slows both), beside the run-wide peak."""
        dtype = PRECISIONS["bf16-mixed" if "bf16-mixed" in name else "32-true"]

        def run() -> dict:
            result = measure()
            result["adjacent_peak"] = matmul_peak(dtype, peak_size(dtype), args.repeats)["flops_per_s"]
            return result
        return run

    measurements = {name: with_adjacent_peak(name, measure) for name, measure in measurements.items()}
    rounds = harness.interleave(measurements, args.runs, idle_wait=args.idle_wait, retries=args.retries,
                                describe=lambda run, name, r: f"run {run} {name}: {r['tokens_per_s']:.0f} tokens/s, "
                                                              f"MFU {100 * r['mfu']:.1f}%")
    after = measure_peaks("after the steps")

    def precision_of(name: str) -> str:
        return "bf16-mixed" if "bf16-mixed" in name else "32-true"

    for precision, result in after.items():
        # The peak is the highest rate any of the run's measurements of it gave: before and after the steps, and
        # right after each step measurement. A peak measurement the host slowed would inflate every MFU; the
        # highest one is the conservative denominator.
        adjacent = [record[name]["adjacent_peak"] for record in rounds for name in measurements
                    if precision_of(name) == precision]
        measured = [peaks[precision]["flops_per_s"], result["flops_per_s"], *adjacent]
        peaks[precision] = {**max(peaks[precision], result, key=lambda r: r["flops_per_s"]),
                            "flops_per_s": max(measured), "measured": measured}
        log(f"matmul peak {PRECISIONS[precision]}: {peaks[precision]['flops_per_s'] / 1e9:.0f} GFLOP/s, the highest of "
            f"the run's {len(measured)} measurements (before and after the steps: "
            f"{measured[0] / 1e9:.0f} / {measured[1] / 1e9:.0f})")
    for record in rounds:  # MFU against the highest peak, and against the one measured right after
        for name in measurements:
            record[name]["mfu"] = record[name]["model_flops_per_s"] / peaks[precision_of(name)]["flops_per_s"]
            record[name]["mfu_adjacent"] = record[name]["model_flops_per_s"] / record[name]["adjacent_peak"]
    tokens = harness.medians(rounds, "tokens_per_s")
    flops = harness.medians(rounds, "model_flops_per_s")
    mfu = harness.medians(rounds, "mfu")
    mfu_adjacent = harness.medians(rounds, "mfu_adjacent")
    rows = []
    for name in measurements:
        base = (re.sub(r" compiled( layers| trunk)?$", "", name).replace("bf16-mixed", "32-true")
                .replace(" torch dropout", "")
                .replace(" unfused head", "").replace(" padded", "").replace(" exact rows", ""))
        speedup = f"{tokens[name] / tokens[base]:.2f}x" if base in tokens and base != name else ""
        rows.append([name, f"{tokens[name]:.0f}", speedup, f"{flops[name] / 1e9:.1f}", f"{100 * mfu[name]:.1f}%",
                     f"{100 * mfu_adjacent[name]:.1f}%"])
    log("\n" + harness.markdown_table(["step", "tokens/s", "vs the default fp32 step", "model GFLOP/s", "MFU",
                                       "MFU, peak right after each run"], rows, "lrrrrr"))
    if args.products:
        measured = [name for name in measurements if "products" in rounds[0][name]]
        for record in rounds:
            for name in measured:
                peak = peaks[precision_of(name)]["flops_per_s"]
                record[name]["products_mfu"] = record[name]["products_model_flops_per_s"] / peak
                record[name]["products_peak_share"] = record[name]["products_flops_per_s"] / peak
        ceiling = {key: {name: statistics.median(r[name][key] for r in rounds) for name in measured}
                   for key in ("products_mfu", "products_peak_share", "products_share")}
        log("\nThe steps' matrix products alone (recorded, replayed on warm inputs):\n"
            + harness.markdown_table(
                ["step", "MFU", "MFU of the products alone (ceiling)", "products' FLOP/s / peak",
                 "products' share of the step"],
                [[name, f"{100 * mfu[name]:.1f}%", f"{100 * ceiling['products_mfu'][name]:.1f}%",
                  f"{100 * ceiling['products_peak_share'][name]:.1f}%", f"{100 * ceiling['products_share'][name]:.1f}%"]
                 for name in measured], "lrrrr"))
    waits = {name: [r[name] for r in rounds] for name in measurements if name.startswith("VECO")}
    for name, runs in waits.items():
        padding = {kind: statistics.median(r["padding_share"][kind] for r in runs) for kind in runs[0]["padding_share"]}
        log(f"{name}: time between steps {100 * statistics.median(r['wait_share'] for r in runs):.1f}% of wall time; "
            "padding " + ", ".join(f"{kind} {100 * share:.1f}%" for kind, share in sorted(padding.items())))
    contention = harness.summarize_contention(rounds)
    harness.write_result(args.output, "mfu", {
        "settings": {"presets": args.presets, "precisions": args.precisions, "recipe": args.recipe,
                     "batch_size": args.batch_size, "seq_len": args.seq_len, "timed_steps": args.steps,
                     "warmup_steps": args.warmup, "veco_steps": args.veco_steps, "matmul_size": args.matmul_size},
        "peaks": peaks, "rounds": rounds, "median_tokens_per_s": tokens, "median_model_flops_per_s": flops,
        "median_mfu": mfu, "median_mfu_adjacent": mfu_adjacent,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
