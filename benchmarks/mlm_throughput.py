"""Masked-LM training throughput: veco_lightning vs. Hugging Face ``transformers.Trainer``, side by side.

Both systems train the same XLM-R-shaped encoder (veco preset ``small``: 4 layers x 256 hidden, 4 heads, FFN 1024)
with a >= 32k SentencePiece-Unigram vocabulary, on the same packed blocks of real multilingual text (NTREX-128,
13 languages), with the same batch size, sequence length, seed, optimizer (AdamW, lr 5e-4, weight decay 0.01 on
matrices only, gradient clipping at 1.0, the same AdamW implementation: fused by default, as transformers' default
``optim="adamw_torch_fused"``; ``--adamw unfused`` uses torch's plain loop for both) and thread count, in one
process. The figure of merit is non-pad tokens per second of
training (forward + backward + optimizer step, data loading and masking included).

* veco side: ``MonolingualDataModule`` + ``VecoPretrainModule`` under ``lightning.Trainer`` (sparse LM head: only
  the ~15% masked positions are projected onto the vocabulary).
* HF side: ``XLMRobertaForMaskedLM`` (same config, built with ``veco_lightning.models.encoder.preset_config``) under
  ``transformers.Trainer`` with ``DataCollatorForLanguageModeling`` (the stock dense LM head: every position is
  projected onto the vocabulary). It is fed exactly the blocks the veco datamodule packed (read back from
  ``dm.train_sets``), so the text and token stream are identical; both sides mask 15% of the tokens with the
  80/10/10 rule. (Block *order* differs: veco draws languages with alpha=0.3 smoothing, HF shuffles uniformly.
  Every block is full, so the order does not change the work per step.)

Timing: the first ``--warmup`` optimizer steps are skipped; the clock runs from the start of step ``warmup`` (Lightning
``on_train_batch_start`` / HF ``on_step_begin``) to the end of the last step (``on_train_batch_end`` /
``on_step_end``) with ``time.perf_counter``, and the non-pad tokens (``attention_mask.sum()``) of the timed batches
are counted. Each run trains one fresh model per system; the order alternates run by run (veco first in even
runs, HF first in odd runs) so that machine noise hits both. Medians over runs are reported, with the ratio
veco tokens/s / HF tokens/s.

Other processes: on a small machine a second busy process slows both systems several-fold and makes the figures
meaningless; on a VM, so does a busy host (visible only as "steal" time). The script therefore measures, from
``/proc/stat``, how many cores other processes used and the hypervisor stole during each timed window; before each
measurement it waits (``--idle-wait``) for an idle CPU, re-measures a contended one up to ``--retries`` times, flags
what stays contended, and also reports a robust figure (tokens per step / median step time) that a few disturbed
steps do not move.

Data: read from ``--data-dir`` (default ``<repo>/../shared/data``, or ``$VECO_BENCH_DATA``); nothing is copied into
the repository. The script exits with a message (status 0) if the data is absent. The tokenizer is trained once
with ``veco_lightning.data.tokenizer.train_tokenizer`` and cached under ``benchmarks/.cache/`` (git-ignored), as are
the packed blocks and the HF Trainer's scratch output directory.

Requirements: the project's dependencies plus ``accelerate`` (needed by ``transformers.Trainer``; it is in the
project's ``bench`` extra: ``pip install -e ".[bench]"`` or ``pip install accelerate``).

Usage (from the repository root)::

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 python benchmarks/mlm_throughput.py
    python benchmarks/mlm_throughput.py --runs 5 --steps 40 --warmup 5 --batch-size 16 --seq-len 128

Results are printed and written to ``benchmarks/results/mlm_throughput.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import glob
import hashlib
import io
import json
import logging
import os
import platform
import shlex
import statistics
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO)

CACHE = os.path.join(HERE, ".cache")
DEFAULT_OUTPUT = os.path.join(HERE, "results", "mlm_throughput.json")
DEFAULT_DATA = os.environ.get("VECO_BENCH_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
MIN_VOCAB = 32000
CONTENTION_WARN = 0.15  # cores used by other processes during a measurement above which it is flagged
# Cores stolen by the hypervisor above which a measurement is flagged. On the 2-core VM this was written on, an idle
# host steals < 0.002 cores; measurements with 0.01-0.03 cores stolen ran the HF side 25-70% slower (busy host:
# OpenMP threads stall at every barrier), although no process inside the VM was busy.
STEAL_WARN = 0.005


# --------------------------------------------------------------------------------------------------- data


def ntrex_files(data_dir: str) -> dict[str, list[str]]:
    """NTREX-128 newstest2019 files per language: {"eng": [...src.eng.txt], "deu": [...ref.deu.txt], ...}."""
    files = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "ntrex128", "newstest2019-*.txt"))):
        lang = os.path.basename(path)[len("newstest2019-"):-len(".txt")].split(".", 1)[1]  # src.eng / ref.deu
        files[lang] = [path]
    return files


def tatoeba_txt_files(data_dir: str, languages: set[str]) -> dict[str, list[str]]:
    """Non-English Tatoeba sides, for languages not in ``languages``, written as ``.txt`` temp files under
    ``benchmarks/.cache`` (the tokenizer trainer reads .txt / .jsonl only). Used only when NTREX alone does not give
    a >= 32k vocabulary."""
    out_dir = os.path.join(CACHE, "tatoeba_txt")
    os.makedirs(out_dir, exist_ok=True)
    files = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "tatoeba", "tatoeba.*-eng.*"))):
        lang = path.rsplit(".", 1)[1]
        if lang == "eng" or lang in languages:
            continue
        target = os.path.join(out_dir, f"tatoeba.{lang}.txt")
        if not os.path.exists(target):
            with open(path, encoding="utf-8", errors="replace") as src, open(target, "w", encoding="utf-8") as dst:
                dst.writelines(line for line in src if line.strip())
        files[f"tatoeba-{lang}"] = [target]
    return files


def get_tokenizer(data_dir: str, vocab_size: int, log) -> tuple[str, int, list[str]]:
    """Train (or reuse the cached) SentencePiece-Unigram tokenizer; returns (dir, size, corpora used)."""
    from veco_lightning.data.tokenizer import load_tokenizer, train_tokenizer

    files = ntrex_files(data_dir)
    stamp = json.dumps([vocab_size, [(p, os.path.getsize(p)) for ps in files.values() for p in ps]])
    tok_dir = os.path.join(CACHE, f"tokenizer-{vocab_size}-{hashlib.sha256(stamp.encode()).hexdigest()[:10]}")
    meta_path = os.path.join(tok_dir, "bench_meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        tok = load_tokenizer(tok_dir)
        log(f"Tokenizer: cached at {tok_dir} ({len(tok)} entries)")
        return tok_dir, len(tok), meta["corpora"]
    corpora = ["ntrex128"]
    log(f"Training a {vocab_size}-entry SentencePiece-Unigram tokenizer on NTREX-128 ({len(files)} languages)...")
    t0 = time.perf_counter()
    tok = train_tokenizer(files, tok_dir, vocab_size=vocab_size, alpha=0.3, max_lines=None)
    if len(tok) < MIN_VOCAB:
        log(f"  NTREX gave only {len(tok)} entries; adding the Tatoeba sentences of many more languages...")
        files = {**files, **tatoeba_txt_files(data_dir, set(files))}
        corpora.append("tatoeba")
        tok = train_tokenizer(files, tok_dir, vocab_size=vocab_size, alpha=0.3, max_lines=None)
    if len(tok) < MIN_VOCAB:
        log(f"  WARNING: the tokenizer has {len(tok)} < {MIN_VOCAB} entries even with the extra text.")
    with open(meta_path, "w") as f:
        json.dump({"corpora": corpora, "size": len(tok)}, f)
    log(f"  done in {time.perf_counter() - t0:.0f} s: {len(tok)} entries, saved to {tok_dir}")
    return tok_dir, len(tok), corpora


def make_datamodule(args, files: dict[str, list[str]], tok_dir: str):
    from veco_lightning import MonolingualDataModule

    return MonolingualDataModule(
        files=files, tokenizer=tok_dir, max_length=args.seq_len, batch_size=args.batch_size, alpha=0.3,
        mlm_probability=0.15, whole_word_mask=False, val_fraction=0.0,
        cache_dir=os.path.join(CACHE, "veco_data"), num_workers=0, seed=args.seed,
    )


# --------------------------------------------------------------------------------------------------- timing


class CpuMonitor:
    """CPU time spent by *other* processes (and stolen by the hypervisor) while a system trains.

    Another busy process on a 2-core machine slows both systems several-fold (OpenMP threads get descheduled), so
    every measurement records how many cores others used meanwhile; the script warns when that is not negligible.
    Reads ``/proc/stat`` (Linux); elsewhere the fields are None.
    """

    def __init__(self) -> None:
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.start = self._sample()

    def _sample(self):
        import resource

        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        usage = resource.getrusage(resource.RUSAGE_SELF)
        idle = fields[3] + fields[4]  # idle + iowait
        steal = fields[7] if len(fields) > 7 else 0
        busy = sum(fields[:8]) - idle - steal
        return time.perf_counter(), busy / self.hz, steal / self.hz, usage.ru_utime + usage.ru_stime

    def stop(self) -> dict:
        end = self._sample()
        if self.start is None or end is None:
            return {"other_processes_cores": None, "steal_cores": None, "steal_s": None}
        wall = end[0] - self.start[0]
        others = max(0.0, (end[1] - self.start[1]) - (end[3] - self.start[3]))
        steal = end[2] - self.start[2]
        return {"other_processes_cores": others / wall, "steal_cores": steal / wall, "steal_s": steal}



class _Timing:
    """Shared bookkeeping: wall time from the start of step ``warmup`` to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.t0: float | None = None
        self.t1: float | None = None
        self.step_start: float | None = None
        self.step_times: list[float] = []
        self.tokens = 0
        self.masked = 0
        self.steps = 0
        self.threads: int | None = None
        self.monitor: CpuMonitor | None = None
        self.contention: dict = {}

    def begin(self, step: int) -> None:
        import torch

        if step == self.warmup:
            self.monitor = CpuMonitor()
            self.t0 = time.perf_counter()
            self.threads = torch.get_num_threads()
        self.step_start = time.perf_counter()

    def end(self, step: int, tokens: int, masked: int) -> None:
        now = time.perf_counter()
        if step >= self.warmup and self.t0 is not None:
            self.t1 = now
            self.step_times.append(now - self.step_start)
            self.tokens += tokens
            self.masked += masked
            self.steps += 1
            self.contention = self.monitor.stop()

    def result(self) -> dict:
        elapsed = self.t1 - self.t0
        return {
            "timed_steps": self.steps,
            "tokens": self.tokens,
            "masked_tokens": self.masked,
            "seconds": elapsed,
            "tokens_per_s": self.tokens / elapsed,
            "median_step_s": statistics.median(self.step_times),
            # Robust to a few steps slowed by other processes: tokens per step / median step time (excludes the
            # between-step data fetch, a few ms on both sides).
            "step_median_tokens_per_s": self.tokens / self.steps / statistics.median(self.step_times),
            "torch_threads_during_timing": self.threads,
            **self.contention,
        }


def describe_optimizer(optimizer) -> str:
    """E.g. ``AdamW(fused=True, foreach=None, weight_decay=[0.01, 0.0])`` of the optimizer a trainer really built."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # unwrap accelerate's / Lightning's wrappers
    d = optimizer.defaults
    decays = sorted({g.get("weight_decay") for g in optimizer.param_groups}, reverse=True)
    return (f"{type(optimizer).__name__}(lr={d.get('lr')}, betas={tuple(d.get('betas', ()))}, eps={d.get('eps')}, "
            f"fused={d.get('fused')}, foreach={d.get('foreach')}, weight_decay={decays})")


def contended(result: dict) -> bool:
    """Whether other processes (or the hypervisor) took a noticeable share of the CPU during a measurement."""
    busy = result.get("other_processes_cores")
    steal = result.get("steal_cores") or 0.0
    # /proc/stat counts in jiffies (10 ms): ignore a single stolen tick in a short window.
    steal_ticks_s = result.get("steal_s") or 0.0
    return busy is not None and (busy + steal > CONTENTION_WARN or (steal > STEAL_WARN and steal_ticks_s > 0.015))


def probe_others(seconds: float = 2.0) -> dict:
    probe = CpuMonitor()
    time.sleep(seconds)
    return probe.stop()


def wait_for_idle(max_wait: float, log) -> float:
    """Wait (at most ``max_wait`` s) until other processes leave the CPU idle for 2 s; returns the time waited."""
    t0 = time.perf_counter()
    warned = False
    while time.perf_counter() - t0 < max_wait:
        if not contended(probe_others()):
            break
        if not warned:
            log(f"  (other processes are busy; waiting up to {max_wait:.0f} s for an idle CPU...)")
            warned = True
    return time.perf_counter() - t0


def run_veco(args, files, tok_dir) -> dict:
    import torch
    from lightning import Callback, Trainer, seed_everything

    from veco_lightning import EncoderSpec, VecoPretrainModule

    timing = _Timing(args.warmup)

    class VecoTimer(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            timing.begin(batch_idx)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            inputs = batch["mmlm"]
            timing.end(batch_idx, int(inputs["attention_mask"].sum()), int((inputs["labels"] != -100).sum()))

    seed_everything(args.seed, verbose=False)
    dm = make_datamodule(args, files, tok_dir)
    model = VecoPretrainModule(
        encoder=EncoderSpec(preset="small", max_length=args.seq_len), vocab_size=len(dm.tokenizer),
        pad_token_id=dm.pad_token_id, weight_decay=args.weight_decay,
        optimizer=lambda params: torch.optim.AdamW(params, lr=args.lr, fused=args.adamw == "fused" or None),
    )
    trainer = Trainer(
        accelerator="cpu", devices=1, precision="32-true", max_steps=args.warmup + args.steps, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, gradient_clip_val=args.clip or None,
        callbacks=[VecoTimer()], default_root_dir=os.path.join(CACHE, "lightning_out"),
    )
    trainer.fit(model, datamodule=dm)
    out = timing.result()
    out["parameters"] = sum(p.numel() for p in model.parameters())
    out["final_loss"] = float(trainer.callback_metrics.get("train/loss", float("nan")))
    out["optimizer"] = describe_optimizer(trainer.optimizers[0])
    del trainer, model, dm
    return out


def hf_blocks(args, files, tok_dir):
    """The veco datamodule's packed training blocks, as one plain (list-valued) ``datasets.Dataset``."""
    import datasets

    dm = make_datamodule(args, files, tok_dir)
    dm.prepare_data()
    dm.setup("fit")
    blocks = datasets.concatenate_datasets([dm.train_sets[lang] for lang in files]).with_format(None)
    ids = blocks.with_format("torch")[:]["input_ids"]  # (N, L)
    if ids.dim() != 2 or ids.shape[1] != args.seq_len or bool((ids == dm.pad_token_id).any()):
        raise RuntimeError("Expected every packed block to hold exactly seq_len non-pad tokens")
    return blocks, dm.tokenizer


def run_hf(args, blocks, tokenizer) -> dict:
    import torch
    import transformers
    from transformers import (
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        XLMRobertaForMaskedLM,
    )

    from veco_lightning.models.encoder import preset_config

    timing = _Timing(args.warmup)
    collated: list[tuple[int, int]] = []  # (non-pad tokens, masked tokens) of each batch, in collation order
    base_collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)

    def collator(examples):
        batch = base_collator(examples)
        collated.append((int(batch["attention_mask"].sum()), int((batch["labels"] != -100).sum())))
        return batch

    class HFTimer(TrainerCallback):
        # HF (through accelerate) may collate a batch ahead, so count the k-th collated batch for step k.
        def on_step_begin(self, targs, state, control, **kwargs):
            timing.begin(state.global_step)

        def on_step_end(self, targs, state, control, **kwargs):
            step = state.global_step - 1  # global_step is incremented before on_step_end
            timing.end(step, *collated[step])

    transformers.set_seed(args.seed)
    config = preset_config("small", len(tokenizer), tokenizer.pad_token_id, max_length=args.seq_len,
                           attn_implementation="sdpa")
    model = XLMRobertaForMaskedLM(config)
    max_steps = args.warmup + args.steps
    targs = TrainingArguments(
        output_dir=os.path.join(CACHE, "hf_out"), per_device_train_batch_size=args.batch_size, max_steps=max_steps,
        learning_rate=args.lr, weight_decay=args.weight_decay, max_grad_norm=args.clip,
        warmup_steps=round(0.06 * max_steps), lr_scheduler_type="linear", use_cpu=True, report_to=[],
        save_strategy="no", logging_strategy="no", eval_strategy="no", dataloader_num_workers=0, disable_tqdm=True,
        seed=args.seed, optim="adamw_torch_fused" if args.adamw == "fused" else "adamw_torch",
    )
    trainer = Trainer(model=model, args=targs, train_dataset=blocks, data_collator=collator,
                      processing_class=tokenizer, callbacks=[HFTimer()])
    with contextlib.redirect_stdout(io.StringIO()):  # Trainer prints its own (untimed-warm-up-inclusive) summary
        trainer.train()
    out = timing.result()
    out["parameters"] = sum(p.numel() for p in model.parameters())
    out["optimizer"] = describe_optimizer(trainer.optimizer)
    del trainer, model
    torch.set_num_threads(args.threads)  # in case anything changed it
    return out


# --------------------------------------------------------------------------------------------------- main


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs; each trains one veco and one HF model (alternating order)")
    p.add_argument("--steps", type=int, default=30, help="timed optimizer steps per system and run")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before the timed ones")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping for both (0 disables)")
    p.add_argument("--adamw", choices=("fused", "unfused"), default="fused",
                   help="AdamW implementation for both: fused (transformers' default optim adamw_torch_fused) or "
                        "unfused (torch.optim.AdamW's default, a per-parameter loop on CPU)")
    p.add_argument("--vocab-size", type=int, default=MIN_VOCAB)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads for both systems")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--idle-wait", type=float, default=120.0,
                   help="before each measurement, wait up to this many seconds for other processes to go idle")
    p.add_argument("--retries", type=int, default=2,
                   help="re-measure a system up to this many times when other processes slowed the measurement")
    p.add_argument("--data-dir", default=DEFAULT_DATA, help="folder holding ntrex128/ (and tatoeba/)")
    p.add_argument("--output", default=DEFAULT_OUTPUT, help="JSON results file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    wall0 = time.perf_counter()

    def log(msg: str) -> None:
        print(msg, flush=True)

    files = ntrex_files(args.data_dir)
    if not files:
        log(f"SKIPPED: no NTREX-128 files under {os.path.join(args.data_dir, 'ntrex128')!r}. Point --data-dir (or "
            "$VECO_BENCH_DATA) at the shared data folder holding ntrex128/newstest2019-*.txt.")
        return 0
    try:
        import accelerate  # noqa: F401  (transformers.Trainer needs it)
    except ImportError:
        log("ERROR: transformers.Trainer needs `accelerate`: pip install accelerate (or pip install -e '.[bench]').")
        return 1

    import lightning
    import torch
    import transformers

    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*set_vital.*")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "transformers", "datasets", "veco_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    transformers.utils.logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bars()
    torch.set_num_threads(args.threads)

    log(f"torch {torch.__version__}, transformers {transformers.__version__}, lightning {lightning.__version__}; "
        f"{args.threads} threads on {os.cpu_count()} cores ({cpu_model()})")
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    idle_probe = probe_others()
    if (idle_probe["other_processes_cores"] or 0.0) > CONTENTION_WARN:
        log(f"WARNING: other processes are using {idle_probe['other_processes_cores']:.2f} cores right now: the "
            "figures will be low and noisy (run on an idle machine).")
    tok_dir, vocab, corpora = get_tokenizer(args.data_dir, args.vocab_size, log)

    prep0 = time.perf_counter()
    blocks, tokenizer = hf_blocks(args, files, tok_dir)  # also tokenizes + packs for veco (cached on disk)
    log(f"Data: {len(blocks)} packed blocks of {args.seq_len} tokens from NTREX-128 ({len(files)} languages), "
        f"prepared in {time.perf_counter() - prep0:.0f} s")
    log(f"Model: preset small (4 x 256, 4 heads, FFN 1024), vocabulary {vocab}; batch {args.batch_size} x "
        f"{args.seq_len}; {args.warmup} warm-up + {args.steps} timed steps; {args.runs} runs\n")

    systems = {"veco": lambda: run_veco(args, files, tok_dir), "hf": lambda: run_hf(args, blocks, tokenizer)}
    runs = []
    for run in range(args.runs):
        order = ["veco", "hf"] if run % 2 == 0 else ["hf", "veco"]
        record = {"run": run, "order": order}
        for name in order:
            discarded = []
            for attempt in range(args.retries + 1):
                waited = wait_for_idle(args.idle_wait, log)
                t0 = time.perf_counter()
                r = systems[name]()
                r["run_wall_s"] = time.perf_counter() - t0
                r["waited_for_idle_s"] = waited
                gc.collect()
                log(f"run {run} {name:>4}: {r['tokens_per_s']:8.0f} tokens/s  ({r['tokens']} tokens in "
                    f"{r['seconds']:.2f} s, median step {r['median_step_s'] * 1000:.0f} ms, "
                    f"{r['masked_tokens'] / r['tokens']:.3f} masked, {r['torch_threads_during_timing']} threads)")
                r["contended"] = contended(r)
                if not r["contended"]:
                    break
                log(f"           WARNING: other processes used {r['other_processes_cores']:.2f} cores and the "
                    f"hypervisor stole {r['steal_cores']:.3f} during this measurement: it is slowed down and not "
                    "representative"
                    + ("; measuring again." if attempt < args.retries else "; kept (no retries left)."))
                if attempt < args.retries:
                    discarded.append(r)
            r["discarded_contended_attempts"] = discarded
            record[name] = r
        record["ratio"] = record["veco"]["tokens_per_s"] / record["hf"]["tokens_per_s"]
        record["clean"] = not (record["veco"]["contended"] or record["hf"]["contended"])
        runs.append(record)

    med = {name: statistics.median(r[name]["tokens_per_s"] for r in runs) for name in systems}
    med_step = {name: statistics.median(r[name]["median_step_s"] for r in runs) for name in systems}
    med_robust = {name: statistics.median(r[name]["step_median_tokens_per_s"] for r in runs) for name in systems}
    ratio = med["veco"] / med["hf"]
    clean = [r for r in runs if r["clean"]]
    med_clean = ({name: statistics.median(r[name]["tokens_per_s"] for r in clean) for name in systems}
                 if clean else None)

    log("\n| run | order | veco tokens/s | HF tokens/s | ratio | veco / HF step-median tokens/s |")
    log("|---|---|---:|---:|---:|---:|")
    for r in runs:
        flag = "" if r["clean"] else " (contended)"
        log(f"| {r['run']} | {' -> '.join(r['order'])}{flag} | {r['veco']['tokens_per_s']:.0f} | "
            f"{r['hf']['tokens_per_s']:.0f} | {r['ratio']:.2f}x | {r['veco']['step_median_tokens_per_s']:.0f} / "
            f"{r['hf']['step_median_tokens_per_s']:.0f} |")
    log(f"| median | | {med['veco']:.0f} | {med['hf']:.0f} | {ratio:.2f}x | {med_robust['veco']:.0f} / "
        f"{med_robust['hf']:.0f} = {med_robust['veco'] / med_robust['hf']:.2f}x |")
    if med_clean is not None and len(clean) < len(runs):
        log(f"| median of the {len(clean)} uncontended runs | | {med_clean['veco']:.0f} | {med_clean['hf']:.0f} | "
            f"{med_clean['veco'] / med_clean['hf']:.2f}x | |")
    per_run = ", ".join(f"{r['ratio']:.2f}" for r in runs)
    log(f"\nRatio of medians veco / HF: {ratio:.2f}x (target >= 2.5x); per-run ratios "
        f"{per_run}; median step {med_step['veco'] * 1000:.0f} ms vs "
        f"{med_step['hf'] * 1000:.0f} ms")
    if runs[0]["veco"]["parameters"] != runs[0]["hf"]["parameters"]:
        log(f"WARNING: parameter counts differ: {runs[0]['veco']['parameters']} vs {runs[0]['hf']['parameters']}")

    others = [r[n]["other_processes_cores"] for r in runs for n in systems if r[n]["other_processes_cores"] is not None]
    max_others = max(others) if others else None
    steals = [r[n]["steal_cores"] for r in runs for n in systems if r[n]["steal_cores"] is not None]
    max_steal = max(steals) if steals else None
    if len(clean) < len(runs):
        log(f"WARNING: {len(runs) - len(clean)} of {len(runs)} runs were slowed by other processes or the host (up to "
            f"{max_others:.2f} cores busy, {max_steal:.3f} stolen): re-run on an idle machine before trusting "
            "these figures.")

    wall = time.perf_counter() - wall0
    command = "python benchmarks/mlm_throughput.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    result = {
        "benchmark": "mlm_throughput",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command.strip(),
        "settings": {
            "model": "veco preset small: 4 layers x 256 hidden, 4 heads, FFN 1024 (XLMRobertaForMaskedLM, sdpa)",
            "vocab_size": vocab, "batch_size": args.batch_size, "seq_len": args.seq_len, "warmup_steps": args.warmup,
            "timed_steps": args.steps, "runs": args.runs, "lr": args.lr, "weight_decay": args.weight_decay,
            "grad_clip": args.clip, "adamw": args.adamw,
            "optimizer_veco": runs[0]["veco"]["optimizer"], "optimizer_hf": runs[0]["hf"]["optimizer"],
            "mlm_probability": 0.15, "seed": args.seed, "precision": "fp32",
            "data": f"NTREX-128 newstest2019, {len(files)} languages, packed into {len(blocks)} full blocks",
            "tokenizer_corpora": corpora, "torch_threads": args.threads,
        },
        "environment": {
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "lightning": lightning.__version__,
            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": args.threads,
            "platform": platform.platform(), "load_average_before": load_before,
            "other_processes_cores_before": idle_probe["other_processes_cores"],
            "max_other_processes_cores": max_others, "max_steal_cores": max_steal,
        },
        "runs": runs,
        "median_tokens_per_s": med,
        "clean_runs": len(clean),
        "median_tokens_per_s_clean_runs": med_clean,
        "ratio_veco_over_hf_clean_runs": med_clean["veco"] / med_clean["hf"] if med_clean else None,
        "median_step_s": med_step,
        "median_step_median_tokens_per_s": med_robust,
        "ratio_step_median": med_robust["veco"] / med_robust["hf"],
        "ratio_veco_over_hf": ratio,
        "wall_time_s": wall,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    log(f"\nWrote {os.path.relpath(args.output)}; benchmark wall time {wall:.0f} s.")
    log(f"Reproduce: HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 {command.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
