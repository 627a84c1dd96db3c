"""Record the per-step training losses of a ``veco-fit`` run, and compare two recordings.

A regression check for changes that must not change behaviour (refactors): run the same config and seed before and
after, then compare. Steps are stopped by a callback, not by ``trainer.max_steps``, so the learning-rate schedule is
the one of the full run.

    python tools/loss_trace.py record --steps 200 --out before.json -- --config configs/quickstart.yaml
    python tools/loss_trace.py compare before.json after.json

Everything after ``--`` goes to ``veco-fit fit`` unchanged. The run writes under a temporary directory (its own
``trainer.default_root_dir``, no export, a CSV logger logging every step); give cache directories in the veco-fit
arguments to keep data caches apart.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import os
import sys
import tempfile

from lightning import Callback


class StopAtStep(Callback):
    """Stops training after ``steps`` optimizer steps (the schedule keeps the configured length)."""

    def __init__(self, steps: int = 1) -> None:
        self.steps = steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        if trainer.global_step >= self.steps:
            trainer.should_stop = True


def record(steps: int, out: str, fit_args: list[str]) -> None:
    from veco_lightning.cli import main

    root = tempfile.mkdtemp(prefix="loss-trace-")
    main([
        "fit", *fit_args,
        f"--trainer.default_root_dir={root}",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={root}",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.callbacks+=__main__.StopAtStep",
        f"--trainer.callbacks.steps={steps}",
        "--export.enabled=false",
    ])
    (metrics_file,) = glob.glob(os.path.join(root, "**", "metrics.csv"), recursive=True)
    trace: dict[str, dict[str, float]] = {}
    with open(metrics_file, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key.startswith("train/") and key.endswith("loss") and value:
                    trace.setdefault(key, {})[row["step"]] = float(value)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"args": fit_args, "steps": steps, "losses": trace}, handle, indent=1)
    print(f"{sum(len(v) for v in trace.values())} loss values of {len(trace)} series written to {out}")


def compare(first: str, second: str, show: int) -> int:
    with open(first, encoding="utf-8") as handle:
        a = json.load(handle)["losses"]
    with open(second, encoding="utf-8") as handle:
        b = json.load(handle)["losses"]
    worst = 0.0
    differing = 0
    for key in sorted(set(a) | set(b)):
        steps = sorted(set(a.get(key, {})) | set(b.get(key, {})), key=int)
        for step in steps:
            x, y = a.get(key, {}).get(step), b.get(key, {}).get(step)
            if x is None or y is None or not (x == y or (math.isnan(x) and math.isnan(y))):
                differing += 1
                worst = max(worst, math.inf if x is None or y is None else abs(x - y))
        print(f"{key}: {len(steps)} steps")
        for step in steps[:show] + (steps[-show:] if len(steps) > show else []):
            print(f"  step {step:>4}  {a.get(key, {}).get(step)!r:>22}  {b.get(key, {}).get(step)!r:>22}")
    print(f"{differing} value(s) differ; largest difference {worst:.3g}")
    return 1 if differing else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="run veco-fit and record the per-step losses")
    rec.add_argument("--steps", type=int, default=200)
    rec.add_argument("--out", required=True)
    cmp = commands.add_parser("compare", help="compare two recordings value by value")
    cmp.add_argument("first")
    cmp.add_argument("second")
    cmp.add_argument("--show", type=int, default=5, help="steps printed at each end of every series")
    argv = sys.argv[1:]
    fit_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, fit_args = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.steps, args.out, fit_args)
    else:
        sys.exit(compare(args.first, args.second, args.show))


if __name__ == "__main__":
    main()
