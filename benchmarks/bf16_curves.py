"""Loss curves of an NTREX recipe in fp32 and bf16-mixed, side by side: does bf16 track fp32?

Trains the NTREX recipe ``--recipe`` (default (d): MMLM + TLM + sequence and token contrast, ``small`` encoder,
``configs/experiments/ntrex.yaml`` + ``ntrex-<recipe>.yaml``) for ``--steps`` steps (default 300) twice, with the same
seed, data order and masks: ``--trainer.precision 32-true`` and ``bf16-mixed`` (CPU autocast to bfloat16; the losses'
soft-max maths stay in fp32). Every objective's training loss is logged every ``--every`` steps (CSVLogger); the
script draws them in one PNG (one panel per objective, both precisions) and reports, per objective, the mean loss of
the last 50 steps in each precision and the largest gap between the two curves smoothed over 25 steps, plus each
run's encoder tokens/s.

Both runs round their row counts up to the same multiple (``--row-multiple``, default 64: ``model.row_multiple``,
which bf16 on the CPU uses by default and fp32 does not). The filler rows draw dropout masks too, so runs with
different multiples train on different dropout noise: their curves then differ by that noise (the sequence loss by
up to 0.14 after smoothing in a measured pair), not by precision. ``--row-multiple 0`` leaves each precision its
default.

    python benchmarks/bf16_curves.py                 # about 8 minutes on 2 CPU cores
    python benchmarks/bf16_curves.py --steps 100 --recipe c

Writes ``benchmarks/results/bf16_curves.png`` and ``bf16_curves.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import subprocess
import tempfile

import harness

PRECISIONS = ("32-true", "bf16-mixed")


def train(recipe: str, precision: str, steps: int, every: int, root: str, extra: list[str] = ()) -> dict:
    """One ``veco-fit`` run; returns ``{objective: {step: loss}}`` and the throughput figures."""
    figures = os.path.join(root, "throughput.json")
    callbacks = json.dumps([{"class_path": "veco_lightning.callbacks.EncoderThroughput",
                             "init_args": {"output": figures}}])
    command = ["veco-fit", "--config", "configs/experiments/ntrex.yaml", "--config",
               f"configs/experiments/ntrex-{recipe}.yaml", "--trainer.max_time", "null",
               "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "0",
               "--trainer.precision", precision, "--trainer.enable_checkpointing", "false",
               "--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", root,
               "--trainer.log_every_n_steps", str(every), "--trainer.default_root_dir", root,
               f"--trainer.callbacks={callbacks}", "--export.enabled", "false", *extra]
    result = subprocess.run(command, cwd=harness.REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    losses: dict[str, dict[int, float]] = {}
    for path in glob.glob(os.path.join(root, "lightning_logs", "*", "metrics.csv")):
        with open(path) as handle:
            for row in csv.DictReader(handle):
                for key, value in row.items():
                    if key.startswith("train/") and key.endswith("_loss") and value:
                        losses.setdefault(key[len("train/"):-len("_loss")], {})[int(row["step"])] = float(value)
    throughput = None
    if os.path.exists(figures):  # written when there were timed steps (after EncoderThroughput's 10 warm-up ones)
        with open(figures) as handle:
            throughput = json.load(handle)["tokens_per_s"]
    return {"losses": losses, "tokens_per_s": throughput}


def smooth(values: list[float], window: int) -> list[float]:
    return [sum(values[max(0, i - window + 1): i + 1]) / len(values[max(0, i - window + 1): i + 1])
            for i in range(len(values))]


def plot(runs: dict[str, dict], objectives: list[str], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(objectives), figsize=(4 * len(objectives), 3.4), squeeze=False)
    for ax, objective in zip(axes[0], objectives):
        for precision, style in zip(PRECISIONS, ("-", "--")):
            curve = runs[precision]["losses"][objective]
            steps = sorted(curve)
            ax.plot(steps, [curve[s] for s in steps], style, label=precision, linewidth=1.2)
        ax.set_title(objective)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("training loss")
    axes[0][0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--recipe", default="d")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=5, help="log every N steps")
    p.add_argument("--row-multiple", type=int, default=64,
                   help="model.row_multiple of both runs, so that they draw the same dropout masks (0: each "
                        "precision's default)")
    harness.add_output(p, "bf16_curves")
    args = p.parse_args(argv)
    missing = harness.ntrex_recipe_missing()
    if missing:
        return harness.skip(missing)
    machine = harness.describe_machine()
    runs = {}
    with tempfile.TemporaryDirectory(dir=harness.CACHE) as scratch:
        for precision in PRECISIONS:
            harness.log(f"({args.recipe}) {precision}: {args.steps} steps...")
            with harness.Stopwatch() as watch:
                extra = ["--model.row_multiple", str(args.row_multiple)] if args.row_multiple else []
                runs[precision] = train(args.recipe, precision, args.steps, args.every,
                                        os.path.join(scratch, precision), extra)
            runs[precision]["wall_s"] = watch.seconds
    objectives = sorted(set(runs[PRECISIONS[0]]["losses"]) & set(runs[PRECISIONS[1]]["losses"]))
    rows, summary = [], {}
    for objective in objectives:
        a, b = (runs[precision]["losses"][objective] for precision in PRECISIONS)
        steps = sorted(set(a) & set(b))
        last = [s for s in steps if s > steps[-1] - 50]
        mean = {precision: sum(runs[precision]["losses"][objective][s] for s in last) / len(last)
                for precision in PRECISIONS}
        window = max(1, 25 // args.every)
        gap = max(abs(x - y) for x, y in zip(smooth([a[s] for s in steps], window), smooth([b[s] for s in steps],
                                                                                          window)))
        summary[objective] = {"last50_mean": mean, "max_smoothed_gap": gap}
        rows.append([objective, f"{mean['32-true']:.4g}", f"{mean['bf16-mixed']:.4g}", f"{gap:.3g}"])
    harness.log("\n" + harness.markdown_table(
        ["objective", "fp32 mean loss, last 50 steps", "bf16-mixed", "largest gap (25-step smoothing)"], rows,
        "lrrr"))
    speed = {precision: runs[precision]["tokens_per_s"] for precision in PRECISIONS}
    if all(speed.values()):
        harness.log(f"\nEncoder tokens/s: fp32 {speed['32-true']:.0f}, bf16-mixed {speed['bf16-mixed']:.0f} "
                    f"({speed['bf16-mixed'] / speed['32-true']:.2f}x); wall "
                    + ", ".join(f"{p} {runs[p]['wall_s']:.0f} s" for p in PRECISIONS))
    png = os.path.splitext(args.output)[0] + ".png"
    plot(runs, objectives, png, f"NTREX ({args.recipe}), small encoder: training losses, fp32 vs bf16-mixed (CPU)")
    harness.log(f"Wrote {os.path.relpath(png, harness.REPO)}")
    harness.write_result(args.output, "bf16_curves", {
        "settings": {"recipe": args.recipe, "steps": args.steps, "every": args.every,
                     "row_multiple": args.row_multiple},
        "summary": summary, "tokens_per_s": speed, "losses": {p: runs[p]["losses"] for p in PRECISIONS},
    }, environment=machine, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
