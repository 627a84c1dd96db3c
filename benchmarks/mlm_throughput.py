"""Masked-LM training throughput: veco_lightning vs. Hugging Face ``transformers.Trainer``, side by side.

Both systems train the same XLM-R-shaped encoder (veco preset ``small`` by default: 4 layers x 256 hidden, 4 heads,
FFN 1024; ``--preset base`` is XLM-R base's shape) with a >= 32k SentencePiece-Unigram vocabulary (``--model-vocab
250002`` makes the embedding and LM head XLM-R's size while the text stays the same), on the same packed blocks of
real multilingual text (NTREX-128, 13 languages), with the same batch size, sequence length, seed, optimizer (AdamW,
lr 5e-4, weight decay 0.01 on matrices only, gradient clipping at 1.0, the same AdamW implementation: fused by
default, as transformers' default ``optim="adamw_torch_fused"``; ``--adamw unfused`` uses torch's plain loop for both)
and thread count, in one process. The figure of merit is non-pad tokens per second of training
(forward + backward + optimizer step, data loading and masking included).

* veco side: ``MonolingualDataModule`` + ``VecoPretrainModule`` under ``lightning.Trainer`` (sparse LM head: only
  the ~15% masked positions are projected onto the vocabulary).
* HF side: ``XLMRobertaForMaskedLM`` (same config, built with ``veco_lightning.models.encoder.preset_config``) under
  ``transformers.Trainer`` with ``DataCollatorForLanguageModeling`` (the stock dense LM head: every position is
  projected onto the vocabulary). It is fed exactly the blocks the veco datamodule packed (read back from
  ``dm.train_sets``), so the text and token stream are identical; both sides mask 15% of the tokens with the
  80/10/10 rule. (Block *order* differs: veco draws languages with alpha=0.3 smoothing, HF shuffles uniformly.
  Every block is full, so the order does not change the work per step.)

Precision: ``--precision bf16-mixed`` runs Lightning's bf16 autocast on the veco side and ``bf16=True`` (the same
autocast, through accelerate) on the HF side. Memory: each system's peak resident memory above what the process held
before it started (``harness.PeakMemory``: the kernel's high-water mark, reset before each system).

Timing: the first ``--warmup`` optimizer steps are skipped; the clock runs from the start of step ``warmup`` (Lightning
``on_train_batch_start`` / HF ``on_step_begin``) to the end of the last step (``on_train_batch_end`` /
``on_step_end``) with ``time.perf_counter`` (``harness.StepTimer``), and the non-pad tokens
(``attention_mask.sum()``) of the timed batches are counted. Each run trains one fresh model per system; the order
alternates run by run (veco first in even runs, HF first in odd runs) so that machine noise hits both. Medians over
runs are reported, with the ratio veco tokens/s / HF tokens/s.

Other processes: on a small machine a second busy process slows both systems several-fold and makes the figures
meaningless; on a VM, so does a busy host (visible only as "steal" time). Through ``benchmarks/harness.py`` the
script measures, from ``/proc/stat``, how many cores other processes used and the hypervisor stole during each timed
window; before each measurement it waits (``--idle-wait``) for an idle CPU, re-measures a contended one up to
``--retries`` times, flags what stays contended, reports the medians of the uncontended runs separately, and also
reports a robust figure (tokens per step / median step time) that a few disturbed steps do not move.

Data: read from ``--data-dir`` (default ``<repo>/../shared/data``, or ``$VECO_BENCH_DATA``); nothing is copied into
the repository. The script exits with a message (status 0) if the data is absent. The tokenizer is trained once
with ``veco_lightning.data.tokenizer.train_tokenizer`` and cached under ``benchmarks/.cache/`` (git-ignored), as are
the packed blocks and the HF Trainer's scratch output directory.

Requirements: the project's dependencies plus ``accelerate`` (needed by ``transformers.Trainer``; it is in the
project's ``bench`` extra: ``pip install -e ".[bench]"`` or ``pip install accelerate``).

Usage (from the repository root; the Hugging Face libraries run offline)::

    python benchmarks/mlm_throughput.py
    python benchmarks/mlm_throughput.py --runs 5 --steps 40 --warmup 5 --batch-size 16 --seq-len 128

Results are printed and written to ``benchmarks/results/mlm_throughput.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import io
import json
import os
import time

import harness

MIN_VOCAB = 32000


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
    out_dir = os.path.join(harness.CACHE, "tatoeba_txt")
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


def get_tokenizer(data_dir: str, vocab_size: int) -> tuple[str, int, list[str]]:
    """Train (or reuse the cached) SentencePiece-Unigram tokenizer; returns (dir, size, corpora used)."""
    from veco_lightning.data.tokenizer import load_tokenizer, train_tokenizer

    log = harness.log
    files = ntrex_files(data_dir)
    stamp = json.dumps([vocab_size, [(p, os.path.getsize(p)) for ps in files.values() for p in ps]])
    tok_dir = os.path.join(harness.CACHE, f"tokenizer-{vocab_size}-{hashlib.sha256(stamp.encode()).hexdigest()[:10]}")
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
        cache_dir=os.path.join(harness.CACHE, "veco_data"), num_workers=0, seed=args.seed,
    )


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


# --------------------------------------------------------------------------------------------------- systems


def mlm_counts(batch) -> dict[str, int]:
    """Non-pad and masked tokens of a masked-LM batch (``input_ids``, ``attention_mask``, ``labels``)."""
    return {"tokens": int(batch["attention_mask"].sum()), "masked_tokens": int((batch["labels"] != -100).sum())}


def describe_optimizer(optimizer) -> str:
    """E.g. ``AdamW(fused=True, foreach=None, weight_decay=[0.01, 0.0])`` of the optimizer a trainer really built."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # unwrap accelerate's / Lightning's wrappers
    d = optimizer.defaults
    decays = sorted({g.get("weight_decay") for g in optimizer.param_groups}, reverse=True)
    return (f"{type(optimizer).__name__}(lr={d.get('lr')}, betas={tuple(d.get('betas', ()))}, eps={d.get('eps')}, "
            f"fused={d.get('fused')}, foreach={d.get('foreach')}, weight_decay={decays})")


def run_veco(args, files, tok_dir) -> dict:
    """Train one fresh veco model under ``lightning.Trainer``; returns the :class:`harness.StepTimer` figures."""
    import torch
    from lightning import Trainer, seed_everything

    from veco_lightning import EncoderSpec, VecoPretrainModule

    timer = harness.StepTimer(args.warmup)
    seed_everything(args.seed, verbose=False)
    dm = make_datamodule(args, files, tok_dir)
    model = VecoPretrainModule(
        encoder=EncoderSpec(preset=args.preset, max_length=args.seq_len,
                            fast_dropout=getattr(args, "fast_dropout", True)),
        vocab_size=args.model_vocab or len(dm.tokenizer),
        pad_token_id=dm.pad_token_id, weight_decay=args.weight_decay, compile=getattr(args, "compile", False),
        compile_scope=getattr(args, "compile_scope", "layers"),
        fused_lm_loss=getattr(args, "fused_lm_loss", True), row_multiple=getattr(args, "row_multiple", None),
        optimizer=lambda params: torch.optim.AdamW(params, lr=args.lr, fused=args.adamw == "fused" or None),
    )
    trainer = Trainer(
        accelerator="cpu", devices=1, precision=args.precision, max_steps=args.warmup + args.steps, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, gradient_clip_val=args.clip or None,
        callbacks=[timer.lightning_callback(lambda batch: mlm_counts(batch["mmlm"])), *getattr(args, "callbacks", ())],
        default_root_dir=os.path.join(harness.CACHE, "lightning_out"),
    )
    with harness.PeakMemory() as memory:
        trainer.fit(model, datamodule=dm)
    out = timer.result()
    out["peak_mib"] = memory.peak_mib
    out["parameters"] = sum(p.numel() for p in model.parameters())
    out["final_loss"] = float(trainer.callback_metrics.get("train/loss", float("nan")))
    out["optimizer"] = describe_optimizer(trainer.optimizers[0])
    del trainer, model, dm
    return out


def run_hf(args, blocks, tokenizer) -> dict:
    """Train one fresh ``XLMRobertaForMaskedLM`` under ``transformers.Trainer``; returns the timer's figures."""
    import torch
    import transformers
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments, XLMRobertaForMaskedLM

    from veco_lightning.models.encoder import preset_config

    timer = harness.StepTimer(args.warmup)
    collated: list[dict[str, int]] = []  # counts of each batch, in collation order
    base_collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)

    def collator(examples):
        batch = base_collator(examples)
        collated.append(mlm_counts(batch))
        return batch

    transformers.set_seed(args.seed)
    config = preset_config(args.preset, args.model_vocab or len(tokenizer), tokenizer.pad_token_id,
                           max_length=args.seq_len, attn_implementation="sdpa")
    model = XLMRobertaForMaskedLM(config)
    max_steps = args.warmup + args.steps
    targs = TrainingArguments(
        output_dir=os.path.join(harness.CACHE, "hf_out"), per_device_train_batch_size=args.batch_size,
        max_steps=max_steps, learning_rate=args.lr, weight_decay=args.weight_decay, max_grad_norm=args.clip,
        warmup_steps=round(0.06 * max_steps), lr_scheduler_type="linear",
        use_cpu=getattr(args, "accelerator", "cpu") == "cpu", report_to=[],
        save_strategy="no", logging_strategy="no", eval_strategy="no", dataloader_num_workers=0, disable_tqdm=True,
        seed=args.seed, optim="adamw_torch_fused" if args.adamw == "fused" else "adamw_torch",
        bf16=args.precision == "bf16-mixed",  # autocast to bfloat16, as Lightning's bf16-mixed
    )
    # HF (through accelerate) may collate a batch ahead, so the k-th collated batch is counted for step k.
    trainer = Trainer(model=model, args=targs, train_dataset=blocks, data_collator=collator,
                      processing_class=tokenizer, callbacks=[timer.trainer_callback(lambda step: collated[step])])
    with contextlib.redirect_stdout(io.StringIO()), harness.PeakMemory() as memory:  # Trainer prints a summary
        trainer.train()
    out = timer.result()
    out["peak_mib"] = memory.peak_mib
    out["parameters"] = sum(p.numel() for p in model.parameters())
    out["optimizer"] = describe_optimizer(trainer.optimizer)
    del trainer, model
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)  # in case anything changed it
    return out


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", type=int, default=3,
                   help="runs; each trains one veco and one HF model (alternating order)")
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
    p.add_argument("--vocab-size", type=int, default=MIN_VOCAB, help="entries of the tokenizer trained on the text")
    p.add_argument("--model-vocab", type=int, default=None,
                   help="the model's vocabulary (embedding and tied LM head) if larger than the tokenizer's, e.g. "
                        "250002 for XLM-R's: the text and its ids stay the same, the matrices are that size")
    p.add_argument("--preset", default="small", help="encoder shape (veco_lightning.models.encoder.PRESETS)")
    p.add_argument("--precision", choices=("32-true", "bf16-mixed"), default="32-true",
                   help="Lightning precision of the veco side; bf16-mixed sets the HF side's bf16=True")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads for both systems")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unfused-head", action="store_true",
                   help="also veco with model.fused_lm_loss off (LM head and cross-entropy apart), side by side")
    harness.add_contention_options(p)
    harness.add_data_dir(p, "ntrex128/ (and tatoeba/)")
    harness.add_output(p, "mlm_throughput")
    return p.parse_args(argv)


def describe_run(run: int, name: str, r: dict) -> str:
    return (f"run {run} {name:>4}: {r['tokens_per_s']:8.0f} tokens/s  ({r['tokens']} tokens in {r['seconds']:.2f} s, "
            f"median step {r['median_step_s'] * 1000:.0f} ms, {r['masked_tokens'] / r['tokens']:.3f} masked, "
            f"peak {r['peak_mib'] or float('nan'):.0f} MiB, "
            f"{r['torch_threads_during_timing']} threads)")


def main(argv=None) -> int:
    args = parse_args(argv)
    wall0 = time.perf_counter()
    log = harness.log
    files = ntrex_files(args.data_dir)
    if not files:
        return harness.skip(f"no NTREX-128 files under {os.path.join(args.data_dir, 'ntrex128')!r}; set --data-dir "
                            "or $VECO_BENCH_DATA")
    try:
        import accelerate  # noqa: F401  (transformers.Trainer needs it)
    except ImportError:
        log("ERROR: transformers.Trainer needs `accelerate`: pip install accelerate (or pip install -e '.[bench]').")
        return 1

    import torch

    harness.quiet_libraries("veco_lightning")
    torch.set_num_threads(args.threads)
    machine = harness.describe_machine()
    tok_dir, vocab, corpora = get_tokenizer(args.data_dir, args.vocab_size)

    prep0 = time.perf_counter()
    blocks, tokenizer = hf_blocks(args, files, tok_dir)  # also tokenizes + packs for veco (cached on disk)
    log(f"Data: {len(blocks)} packed blocks of {args.seq_len} tokens from NTREX-128 ({len(files)} languages), "
        f"prepared in {time.perf_counter() - prep0:.0f} s")
    from veco_lightning.models.encoder import PRESETS

    shape = PRESETS[args.preset]
    model_name = (f"veco preset {args.preset}: {shape['num_hidden_layers']} layers x {shape['hidden_size']} hidden, "
                  f"{shape['num_attention_heads']} heads, FFN {shape['intermediate_size']} (XLMRobertaForMaskedLM, "
                  "sdpa)")
    model_vocab = args.model_vocab or vocab
    log(f"Model: {model_name}, vocabulary {model_vocab} (tokenizer {vocab}), {args.precision}; "
        f"batch {args.batch_size} x "
        f"{args.seq_len}; {args.warmup} warm-up + {args.steps} timed steps; {args.runs} runs\n")

    systems = {"veco": lambda: run_veco(args, files, tok_dir), "hf": lambda: run_hf(args, blocks, tokenizer)}
    if args.unfused_head:
        unfused = argparse.Namespace(**{**vars(args), "fused_lm_loss": False})
        systems["veco-unfused"] = lambda: run_veco(unfused, files, tok_dir)
    runs = harness.interleave(systems, args.runs, idle_wait=args.idle_wait, retries=args.retries,
                              describe=describe_run)
    for r in runs:
        r["ratio"] = r["veco"]["tokens_per_s"] / r["hf"]["tokens_per_s"]

    med = harness.medians(runs, "tokens_per_s")
    med_step = harness.medians(runs, "median_step_s")
    med_robust = harness.medians(runs, "step_median_tokens_per_s")
    ratio = med["veco"] / med["hf"]
    clean = [r for r in runs if r["clean"]]
    med_clean = harness.medians(clean, "tokens_per_s") if clean else None

    rows = [[r["run"], " -> ".join(r["order"]) + ("" if r["clean"] else " (contended)"),
             f"{r['veco']['tokens_per_s']:.0f}", f"{r['hf']['tokens_per_s']:.0f}", f"{r['ratio']:.2f}x",
             f"{r['veco']['step_median_tokens_per_s']:.0f} / {r['hf']['step_median_tokens_per_s']:.0f}"] for r in runs]
    rows.append(["median", "", f"{med['veco']:.0f}", f"{med['hf']:.0f}", f"{ratio:.2f}x",
                 f"{med_robust['veco']:.0f} / {med_robust['hf']:.0f} = {med_robust['veco'] / med_robust['hf']:.2f}x"])
    if med_clean is not None and len(clean) < len(runs):
        rows.append([f"median of the {len(clean)} uncontended runs", "", f"{med_clean['veco']:.0f}",
                     f"{med_clean['hf']:.0f}", f"{med_clean['veco'] / med_clean['hf']:.2f}x", ""])
    log("\n" + harness.markdown_table(
        ["run", "order", "veco tokens/s", "HF tokens/s", "ratio", "veco / HF step-median tokens/s"], rows, "llrrrr"))
    per_run = ", ".join(f"{r['ratio']:.2f}" for r in runs)
    memory = None
    if all(r[side]["peak_mib"] is not None for r in runs for side in ("veco", "hf")):
        memory = harness.medians(runs, "peak_mib")
        log(f"\nPeak memory above the process's baseline (median): veco {memory['veco']:.0f} MiB, HF "
            f"{memory['hf']:.0f} MiB, ratio {memory['veco'] / memory['hf']:.2f}")
    if args.unfused_head:
        log(f"\nveco with the LM head and cross-entropy apart (model.fused_lm_loss: false): "
            f"{med['veco-unfused']:.0f} tokens/s, peak {memory['veco-unfused'] if memory else float('nan'):.0f} MiB "
            f"(median); fused / apart {med['veco'] / med['veco-unfused']:.2f}x tokens/s, per run "
            + ", ".join(f"{r['veco']['tokens_per_s'] / r['veco-unfused']['tokens_per_s']:.2f}" for r in runs))
    log(f"\nRatio of medians veco / HF: {ratio:.2f}x (target >= 2.5x); per-run ratios "
        f"{per_run}; median step {med_step['veco'] * 1000:.0f} ms vs "
        f"{med_step['hf'] * 1000:.0f} ms")
    if runs[0]["veco"]["parameters"] != runs[0]["hf"]["parameters"]:
        log(f"WARNING: parameter counts differ: {runs[0]['veco']['parameters']} vs {runs[0]['hf']['parameters']}")
    contention = harness.summarize_contention(runs)

    wall = time.perf_counter() - wall0
    log(f"\nBenchmark wall time {wall:.0f} s.")
    harness.write_result(args.output, "mlm_throughput", {
        "settings": {
            "model": model_name, "preset": args.preset, "vocab_size": model_vocab, "tokenizer_size": vocab,
            "batch_size": args.batch_size, "seq_len": args.seq_len, "warmup_steps": args.warmup,
            "timed_steps": args.steps, "runs": args.runs, "lr": args.lr, "weight_decay": args.weight_decay,
            "grad_clip": args.clip, "adamw": args.adamw,
            "optimizer_veco": runs[0]["veco"]["optimizer"], "optimizer_hf": runs[0]["hf"]["optimizer"],
            "mlm_probability": 0.15, "seed": args.seed, "precision": args.precision,
            "data": f"NTREX-128 newstest2019, {len(files)} languages, packed into {len(blocks)} full blocks",
            "tokenizer_corpora": corpora, "torch_threads": args.threads,
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
        "median_peak_mib": memory,
        "peak_memory_ratio_veco_over_hf": memory["veco"] / memory["hf"] if memory else None,
        "wall_time_s": wall,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
