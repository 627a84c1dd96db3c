"""Data at scale: preparation throughput and memory of a training run as the corpus grows.

Three measurements on NTREX-128 (12 language pairs with English, 13 monolingual files), replicated k times
(``--scales``; the files' lines repeated k times, the same recipe otherwise):

- ``prepare``: ``veco-prepare`` of the NTREX (d) recipe's sources with ``--num_proc`` 1 and 2, monolingual and
  synonym-aligned sources timed apart (their own runs): lines/s, blocks/s, pairs/s, and time per line as the
  corpus grows (linear scaling keeps it flat).
- ``memory``: peak resident memory (VmHWM) and peak anonymous memory of the same ``veco-fit`` run (the NTREX (d)
  recipe on prepared data, ``--steps`` steps) at each scale; the ratio of the largest scale to 1x.
- ``trace``: resident and anonymous memory every 25 steps of one (d) run of ``--minutes`` minutes (or ``--steps``)
  under one allocator setting (``--allocator``: glibc's defaults, glibc tuned through ``MALLOC_*``, jemalloc or
  tcmalloc; see ``ALLOCATORS``), to tell a leak from fragmentation.
- ``speed``: what each allocator setting does to the step: encoder tokens/s of ``--steps`` steps of (d) (after 10
  warm-up steps), the settings (``--allocators``) in fresh processes, rotated each round, ``--runs`` rounds,
  medians and their ratios to the first.

    python benchmarks/data_scale.py prepare --scales 1 10
    python benchmarks/data_scale.py memory --scales 1 10 --steps 60
    python benchmarks/data_scale.py trace --minutes 10 --allocator tcmalloc
    python benchmarks/data_scale.py speed --steps 80 --runs 3 --allocators glibc-default jemalloc tcmalloc

Each runs veco-prepare / veco-fit in a child process (tokenizer: ``runs/ntrex/tokenizer``, see
configs/experiments/ntrex.yaml). Results go to ``benchmarks/results/data_scale_<what>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

from veco_lightning.allocator import JEMALLOC_CONF  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".cache", "data_scale")
CONFIGS = [os.path.join(ROOT, "configs", "experiments", name) for name in ("ntrex.yaml", "ntrex-d.yaml")]


def replicate(data_dir: str, scale: int) -> str:
    """NTREX's files with every file's lines repeated ``scale`` times (made once)."""
    source = os.path.join(data_dir, "ntrex128")
    target = os.path.join(WORK, f"ntrex-x{scale}")
    if not os.path.exists(os.path.join(target, "DONE")):
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(source):
            if name.endswith(".txt"):
                with open(os.path.join(source, name), encoding="utf-8") as handle:
                    text = handle.read()
                with open(os.path.join(target, name), "w", encoding="utf-8") as handle:
                    handle.write(text * scale)
        open(os.path.join(target, "DONE"), "w").close()
    return target


def config(data_dir: str, scale: int, extra: str = "") -> str:
    """The NTREX (d) recipe reading the ``scale``-times corpus, as one config file."""
    corpus = replicate(data_dir, scale)
    text = "\n".join(open(path, encoding="utf-8").read() for path in CONFIGS[:1])
    text = text.replace("../shared/data/ntrex128/", corpus + "/").replace("../shared/data/", data_dir + "/")
    text = text.replace("runs/ntrex/tokenizer", os.path.join(ROOT, "runs", "ntrex", "tokenizer"))
    path = os.path.join(WORK, f"ntrex-x{scale}{'-' + str(abs(hash(extra))) if extra else ''}.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text + extra)
    return path


def run(command: list[str], env: dict | None = None) -> tuple[float, str]:
    begin = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - begin
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def prepare(args: argparse.Namespace) -> dict:
    rows = []
    for scale in args.scales:
        cfg = config(args.data_dir, scale)
        for num_proc in args.num_proc:
            for kind, other in (("monolingual", "synonym"), ("synonym", "monolingual")):
                cache = os.path.join(WORK, f"cache-x{scale}-p{num_proc}-{kind}")
                shutil.rmtree(cache, ignore_errors=True)
                seconds, _ = run(["veco-prepare", "--config", cfg, "--config", CONFIGS[1], f"--data.{other}", "null",
                                  "--data.evaluation", "null", f"--data.{kind}.cache_dir", cache,
                                  "--num_proc", str(num_proc)])
                with open(os.path.join(cache, "prepared.json"), encoding="utf-8") as handle:
                    manifest = json.load(handle)
                inputs = sum(e["input_rows"] for e in manifest.values())
                outputs = sum(e["rows"] for e in manifest.values())
                row = {"scale": scale, "num_proc": num_proc, "source": kind, "seconds": seconds,
                       "input_rows": inputs, "rows": outputs, "input_rows_per_s": inputs / seconds,
                       "rows_per_s": outputs / seconds, "us_per_input_row": 1e6 * seconds / inputs}
                harness.log(f"x{scale} num_proc {num_proc} {kind}: {inputs:,} lines/pairs -> {outputs:,} rows in "
                            f"{seconds:.1f} s ({row['input_rows_per_s']:,.0f}/s)")
                rows.append(row)
                shutil.rmtree(cache, ignore_errors=True)
    table = harness.markdown_table(
        ["scale", "num_proc", "source", "input rows", "stored rows", "seconds", "input rows/s", "stored rows/s",
         "µs / input row"],
        [[f"{r['scale']}x", r["num_proc"], r["source"], f"{r['input_rows']:,}", f"{r['rows']:,}",
          f"{r['seconds']:.1f}", f"{r['input_rows_per_s']:,.0f}", f"{r['rows_per_s']:,.0f}",
          f"{r['us_per_input_row']:.0f}"] for r in rows])
    harness.log("\n" + table)
    return {"rows": rows, "table": table}


# The environment of each allocator setting. The entry points choose jemalloc when the machine has it
# (veco_lightning/allocator.py), so the glibc settings ask for glibc; glibc reads MALLOC_* at start (a fixed mmap
# threshold also turns off its dynamic adjustment). jemalloc and tcmalloc: Debian's libjemalloc2 and
# libtcmalloc-minimal4, preloaded by the entry points and inherited by the data loader's workers.
ALLOCATORS = {
    "auto": {"VECO_ALLOCATOR": "auto"},  # the package's default: tcmalloc, else jemalloc, else glibc
    "glibc-default": {"VECO_ALLOCATOR": "glibc"},
    "mmap-threshold": {"VECO_ALLOCATOR": "glibc", "MALLOC_MMAP_THRESHOLD_": "1048576"},
    "mmap-threshold-8m": {"VECO_ALLOCATOR": "glibc", "MALLOC_MMAP_THRESHOLD_": "8388608"},
    "arena-max-1": {"VECO_ALLOCATOR": "glibc", "MALLOC_ARENA_MAX": "1"},
    "jemalloc": {"VECO_ALLOCATOR": "jemalloc", "MALLOC_CONF": ""},  # jemalloc's own defaults
    "tcmalloc": {"VECO_ALLOCATOR": "tcmalloc"},
    # jemalloc keeping freed pages instead of returning them after 10 s (the entry points' jemalloc setting, which
    # torch.backends.xeon.run_cpu also uses)
    "jemalloc-retain": {"VECO_ALLOCATOR": "jemalloc", "MALLOC_CONF": JEMALLOC_CONF},
}

TRACE = """
    - class_path: data_scale.MemoryTrace
      init_args: {{output: {output}, every_n_steps: {every}}}
"""


def _train(cfg: str, output: str, steps: int | None, minutes: float | None, env: dict | None, cache: str) -> dict:
    extra = (["--trainer.max_steps", str(steps), "--trainer.max_time", "null"] if steps
             else ["--trainer.max_time", f"00:00:{int(minutes):02d}:00"])
    env = {"PYTHONPATH": os.path.join(ROOT, "benchmarks"), **(env or {})}
    run(["veco-prepare", "--config", cfg, "--config", CONFIGS[1], "--data.monolingual.cache_dir", cache,
         "--data.synonym.cache_dir", cache], env=env)
    run(["veco-fit", "--config", cfg, "--config", CONFIGS[1], "--data.prepared", "true",
         "--data.monolingual.cache_dir", cache, "--data.synonym.cache_dir", cache,
         "--trainer.default_root_dir", os.path.join(WORK, "run"), "--export.enabled", "false",
         "--trainer.logger", "false", "--trainer.limit_val_batches", "0",
         *extra], env=env)
    with open(output, encoding="utf-8") as handle:
        return json.load(handle)


def _without_checkpoints(text: str) -> str:
    """A config text without its ModelCheckpoint callback: a measurement of the training loop only."""
    return re.sub(r"    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n      init_args:.*\n", "", text)


def _config_with_trace(data_dir: str, scale: int, output: str, every: int) -> str:
    cfg = config(data_dir, scale)
    text = _without_checkpoints(open(cfg, encoding="utf-8").read())
    text = text.replace("  callbacks:\n", "  callbacks:\n" + TRACE.strip("\n").format(
        output=output, every=every) + "\n", 1)
    path = cfg.replace(".yaml", f"-trace{every}.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def memory(args: argparse.Namespace) -> dict:
    rows = []
    for scale in args.scales:
        output = os.path.join(WORK, f"memory-x{scale}.json")
        cfg = _config_with_trace(args.data_dir, scale, output, 10)
        trace = _train(cfg, output, args.steps, None, ALLOCATORS[args.allocator], os.path.join(WORK, f"cache-x{scale}"))
        rows.append({"scale": scale, "steps": trace["steps"], "peak_rss_mib": trace["peak_rss_mib"],
                     "peak_anon_mib": max(p["anon_mib"] for p in trace["points"]), "pairs": trace.get("pairs")})
        harness.log(f"x{scale}: peak RSS {rows[-1]['peak_rss_mib']:.0f} MiB, peak anonymous "
                    f"{rows[-1]['peak_anon_mib']:.0f} MiB over {trace['steps']} steps")
    base = rows[0]
    for row in rows:
        row["rss_ratio"] = row["peak_rss_mib"] / base["peak_rss_mib"]
        row["anon_ratio"] = row["peak_anon_mib"] / base["peak_anon_mib"]
    table = harness.markdown_table(
        ["corpus", "steps", "peak RSS (MiB)", "peak anonymous (MiB)", "RSS ratio", "anonymous ratio"],
        [[f"NTREX x{r['scale']}", r["steps"], f"{r['peak_rss_mib']:.0f}", f"{r['peak_anon_mib']:.0f}",
          f"{r['rss_ratio']:.2f}", f"{r['anon_ratio']:.2f}"] for r in rows])
    harness.log("\n" + table)
    return {"rows": rows, "table": table}


def trace(args: argparse.Namespace) -> dict:
    output = os.path.join(WORK, f"trace-{args.allocator}.json")
    cfg = _config_with_trace(args.data_dir, 1, output, 25)
    record = _train(cfg, output, args.steps, args.minutes, ALLOCATORS[args.allocator], os.path.join(WORK, "cache-x1"))
    points = record["points"]
    first = next((p for p in points if p["step"] >= 50), points[0])
    last = points[-1]
    summary = {"allocator": args.allocator, "steps": record["steps"], "first": first, "last": last,
               "anon_growth_mib": last["anon_mib"] - first["anon_mib"], "rss_growth_mib": last["rss_mib"] -
               first["rss_mib"], "points": points}
    harness.log(f"{args.allocator}: anonymous {first['anon_mib']:.0f} MiB at step {first['step']} -> "
                f"{last['anon_mib']:.0f} MiB at step {last['step']}; RSS {first['rss_mib']:.0f} -> "
                f"{last['rss_mib']:.0f} MiB")
    return summary


def speed(args: argparse.Namespace) -> dict:
    steps = args.steps or 60
    names = args.allocators
    rounds = []
    for round_ in range(args.runs):
        figures = {}
        order = names[round_ % len(names):] + names[:round_ % len(names)]  # rotated: no setting always first
        for allocator in order:
            output = os.path.join(WORK, f"speed-{allocator}.json")
            cfg = config(args.data_dir, 1)
            text = _without_checkpoints(open(cfg, encoding="utf-8").read())
            text = text.replace("    - class_path: veco_lightning.callbacks.EncoderThroughput\n",
                                "    - class_path: veco_lightning.callbacks.EncoderThroughput\n"
                                f"      init_args: {{warmup_steps: 10, output: {output}}}\n")
            path = cfg.replace(".yaml", "-speed.yaml")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            monitor = harness.CpuMonitor()
            _train(path, output, steps, None, ALLOCATORS[allocator], os.path.join(WORK, "cache-x1"))
            with open(output, encoding="utf-8") as handle:
                figures[allocator] = json.load(handle)["tokens_per_s"]
            figures[f"{allocator}_contention"] = monitor.stop()
            harness.log(f"round {round_ + 1} {allocator}: {figures[allocator]:,.0f} tokens/s")
        rounds.append(figures)
    base = names[0]
    medians = {name: statistics.median(r[name] for r in rounds) for name in names}
    ratios = {name: medians[name] / medians[base] for name in names}
    per_round = {name: [r[name] / r[base] for r in rounds] for name in names}
    table = harness.markdown_table(
        ["allocator", "median tokens/s", f"ratio to {base}", "ratio per round"],
        [[name, f"{medians[name]:,.0f}", f"{ratios[name]:.3f}", ", ".join(f"{x:.3f}" for x in per_round[name])]
         for name in names])
    harness.log("\n" + table)
    return {"steps": steps, "rounds": rounds, "medians": medians, "ratios": ratios, "ratio_per_round": per_round,
            "table": table}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["prepare", "memory", "trace", "speed"])
    parser.add_argument("--runs", type=int, default=3, help="speed: rounds")
    harness.add_data_dir(parser, "ntrex128/ and dictionaries/")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--num_proc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=None, help="memory / trace: steps of the run")
    parser.add_argument("--minutes", type=float, default=10.0, help="trace: minutes of the run (without --steps)")
    parser.add_argument("--allocator", choices=list(ALLOCATORS), default="auto",
                        help="memory / trace: the allocator setting (see ALLOCATORS; auto: the package's choice)")
    parser.add_argument("--allocators", choices=list(ALLOCATORS), nargs="+",
                        default=["glibc-default", "jemalloc", "tcmalloc"],
                        help="speed: the settings compared (ratios to the first)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.data_dir, "ntrex128")):
        return harness.skip(f"no ntrex128/ under {args.data_dir} (--data-dir)")
    if not os.path.isdir(os.path.join(ROOT, "runs", "ntrex", "tokenizer")):
        return harness.skip("no runs/ntrex/tokenizer: train it first (see configs/experiments/ntrex.yaml)")
    if args.what == "memory" and args.steps is None:
        args.steps = 60
    figures = {"prepare": prepare, "memory": memory, "trace": trace, "speed": speed}[args.what](args)
    name = f"data_scale_{args.what}" + (f"_{args.allocator}" if args.what == "trace" or (
        args.what == "memory" and args.allocator != "auto") else "")
    harness.write_result(args.output or os.path.join(harness.RESULTS, f"{name}.json"), "data_scale", figures,
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- the callback the child veco-fit runs (class path data_scale.MemoryTrace; benchmarks/ is on its PYTHONPATH) ----

from lightning import Callback  # noqa: E402


def _status() -> dict[str, float]:
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


class MemoryTrace(Callback):
    """Resident (RSS), anonymous and file-backed memory of the training process every ``every_n_steps`` steps,
    written to ``output`` (JSON) when training ends."""

    def __init__(self, output: str, every_n_steps: int = 25) -> None:
        self.output, self.every = output, every_n_steps
        self.points: list[dict] = []
        self.begin = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every == 0 or trainer.global_step == 1:
            status = _status()
            self.points.append({"step": trainer.global_step, "seconds": time.perf_counter() - self.begin,
                                "rss_mib": status["VmRSS"], "anon_mib": status["RssAnon"],
                                "file_mib": status["RssFile"]})

    def on_train_end(self, trainer, pl_module) -> None:
        status = _status()
        self.points.append({"step": trainer.global_step, "seconds": time.perf_counter() - self.begin,
                            "rss_mib": status["VmRSS"], "anon_mib": status["RssAnon"], "file_mib": status["RssFile"]})
        with open(self.output, "w", encoding="utf-8") as handle:
            json.dump({"steps": trainer.global_step, "peak_rss_mib": status["VmHWM"], "points": self.points}, handle)
