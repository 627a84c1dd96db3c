"""Fine-tuning throughput: ``veco-xtreme``'s task modules vs the Hugging Face ``Trainer`` with the stock task models.

Both sides fine-tune the same encoder (a ``small`` 4 x 256 XLM-R with the NTREX tokenizer, randomly initialised
unless ``--encoder`` names another) on the same training examples with the same batch size, learning rate,
AdamW implementation (torch's, for-loop), gradient clipping and thread count:

* UD-POS: English-EWT sentences, ``XLMRobertaForTokenClassification``;
* XNLI: English XNLI development pairs (the training data the configs use here),
  ``XLMRobertaForSequenceClassification``.

veco side: ``TaggingDataModule`` / ``ClassificationDataModule`` with ``TokenClassificationTask`` /
``SequenceClassificationTask`` under ``lightning.Trainer`` (what ``veco-xtreme fit`` runs). HF side:
``transformers.Trainer`` on the very token ids and labels the veco datamodule built, with
``DataCollatorForTokenClassification`` / ``DataCollatorWithPadding`` (both pad each batch to its longest example,
like the veco collator), and gets the veco side's batches in the veco side's order (a sequential sampler over the
examples as the veco loader draws them), so that every step pads to the same length on both sides. The figure is
training examples (sentences, pairs) per second over the timed steps; runs
alternate which side goes first; medians over runs (``benchmarks/harness.py`` records CPU contention).

    python benchmarks/finetune_throughput.py                      # ~5 min on 2 cores
    python benchmarks/finetune_throughput.py --tasks udpos --runs 5 --steps 40
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import harness

TOKENIZER = os.path.join(harness.REPO, "runs", "ntrex", "tokenizer")


def task_data(task: str, data_dir: str, tokenizer: str, limit: int):
    """The veco datamodule of a task, set up for fitting (its training set is what both sides train on)."""
    from veco_lightning.tasks import ClassificationDataModule, TaggingDataModule

    if task == "udpos":
        dm = TaggingDataModule(train_files=os.path.join(data_dir, "ud/UD_English-EWT/en_ewt-ud-train.conllu"),
                               tokenizer=tokenizer, train_limit=limit, batch_size=32)
    else:
        dm = ClassificationDataModule(task="xnli", train_files=os.path.join(data_dir, "xnli/dev-en.tsv"),
                                      tokenizer=tokenizer, train_limit=limit, batch_size=32)
    dm.setup("fit")
    return dm


def random_encoder(tokenizer: str) -> str:
    """A random ``small`` encoder exported with the tokenizer (cached under benchmarks/.cache)."""
    path = os.path.join(harness.CACHE, "finetune-encoder-small")
    if not os.path.exists(os.path.join(path, "config.json")):
        import torch
        from transformers import AutoTokenizer

        from veco_lightning.models.encoder import EncoderSpec, build_encoder

        torch.manual_seed(0)
        tok = AutoTokenizer.from_pretrained(tokenizer)
        build_encoder(EncoderSpec(preset="small", max_length=512), vocab_size=len(tok)).save_pretrained(path)
        tok.save_pretrained(path)
    return path


def counts(batch) -> dict[str, int]:
    """Examples, non-pad tokens and padded positions (the work) of a batch."""
    return {"examples": int(batch["input_ids"].shape[0]), "tokens": int(batch["attention_mask"].sum()),
            "positions": int(batch["input_ids"].numel())}


def run_veco(task: str, dm, encoder: str, args) -> dict:
    import torch
    from lightning import Trainer, seed_everything

    from veco_lightning.tasks import SequenceClassificationTask, TokenClassificationTask

    seed_everything(args.seed, verbose=False)
    torch.set_num_threads(args.threads)
    cls = TokenClassificationTask if task == "udpos" else SequenceClassificationTask
    model = cls(encoder=encoder, task=task, labels=dm.labels, learning_rate=2e-5)
    timer = harness.StepTimer(args.warmup)
    trainer = Trainer(max_steps=args.warmup + args.steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, gradient_clip_val=1.0,
                      limit_val_batches=0, num_sanity_val_steps=0,
                      callbacks=[timer.lightning_callback(counts)])
    trainer.fit(model, train_dataloaders=dm.train_dataloader())
    return timer.result()


def run_hf(task: str, dm, encoder: str, args) -> dict:
    import torch
    from transformers import (
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        XLMRobertaForSequenceClassification,
        XLMRobertaForTokenClassification,
    )

    torch.set_num_threads(args.threads)
    labels = dm.labels
    if task == "udpos":
        model = XLMRobertaForTokenClassification.from_pretrained(encoder, num_labels=len(labels))
        collator = DataCollatorForTokenClassification(dm.tokenizer)
        rows = [{"input_ids": w["input_ids"], "labels": w["labels"]} for w in dm.train_set.windows]
    else:
        model = XLMRobertaForSequenceClassification.from_pretrained(encoder, num_labels=len(labels))
        collator = DataCollatorWithPadding(dm.tokenizer)
        rows = [{"input_ids": f["input_ids"], "labels": f["labels"]} for f in dm.train_set.features]
    # The very batches the veco side trains on, in its order (read from its loader, whose shuffling generator is
    # also drawn from by the loader itself): the padded length (the work) of each step is the same.
    rows = [rows[i] for batch in dm.train_dataloader() for i in batch["index"].tolist()]
    seen: list[dict[str, int]] = []

    def collate(features):
        batch = collator(features)
        seen.append(counts(batch))
        return batch

    timer = harness.StepTimer(args.warmup)
    with tempfile.TemporaryDirectory(dir=harness.CACHE) as scratch:
        training = TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=32, learning_rate=2e-5, max_steps=args.warmup + args.steps,
            optim="adamw_torch", weight_decay=0.0, max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=0,
            logging_strategy="no", save_strategy="no", report_to=[], seed=args.seed, dataloader_num_workers=0,
            use_cpu=True, disable_tqdm=True, train_sampling_strategy="sequential")
        Trainer(model=model, args=training, train_dataset=rows, data_collator=collate,
                callbacks=[timer.trainer_callback(lambda step: seen[step])]).train()
    return timer.result()


def measure(task: str, args, encoder: str) -> dict:
    """Side-by-side runs of one task; medians of examples/s and their ratio."""
    dm = task_data(task, args.data_dir, encoder, args.limit)
    runs = harness.interleave(
        {"veco": lambda: run_veco(task, dm, encoder, args), "hf": lambda: run_hf(task, dm, encoder, args)},
        args.runs, idle_wait=args.idle_wait, retries=args.retries,
        describe=lambda run, name, f: f"  {task} run {run} {name}: {f['examples'] / f['seconds']:.1f} examples/s")
    for r in runs:
        for side in ("veco", "hf"):
            r[side]["examples_per_s"] = r[side]["examples"] / r[side]["seconds"]
    med = harness.medians(runs, "examples_per_s")
    same = all(r["veco"]["positions"] == r["hf"]["positions"] for r in runs)
    if not same:
        harness.log(f"  WARNING: {task}: the two sides' timed steps padded to different lengths")
    return {"same_batches": same, "runs": runs, "median_examples_per_s": med,
            "ratio_veco_over_hf": med["veco"] / med["hf"],
            "contention": harness.summarize_contention(runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["udpos", "xnli"], choices=["udpos", "xnli"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps per side and run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--limit", type=int, default=2000, help="training examples used (a seeded subset)")
    parser.add_argument("--encoder", default=None, help="encoder directory (default: a random small encoder)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=1)
    harness.add_data_dir(parser, "ud/ and xnli/")
    harness.add_contention_options(parser)
    harness.add_output(parser, "finetune_throughput")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.data_dir, "ud")):
        return harness.skip(f"no UD / XNLI data under {args.data_dir}")
    if not os.path.isdir(TOKENIZER) and args.encoder is None:
        return harness.skip(f"no tokenizer at {TOKENIZER}: train it as configs/experiments/ntrex.yaml says")
    harness.quiet_libraries("veco_lightning", "transformers")
    wall0 = time.perf_counter()
    encoder = args.encoder or random_encoder(TOKENIZER)
    results = {task: measure(task, args, encoder) for task in args.tasks}
    rows = []
    for task, r in results.items():
        per_run = ", ".join(f"{x['veco']['examples_per_s'] / x['hf']['examples_per_s']:.2f}" for x in r["runs"])
        med = r["median_examples_per_s"]
        rows.append([task, f"{med['veco']:.1f}", f"{med['hf']:.1f}", f"{r['ratio_veco_over_hf']:.2f}x", per_run,
                     "yes" if r["same_batches"] else "no"])
    harness.log("\n" + harness.markdown_table(["task", "veco examples/s", "HF Trainer examples/s", "ratio",
                                               "per-run ratios", "same padded positions"], rows, "lrrrll"))
    harness.write_result(args.output, "finetune_throughput", {
        "settings": {"encoder": encoder, "batch_size": 32, "learning_rate": 2e-5, "optimizer": "torch AdamW",
                     "grad_clip": 1.0, "warmup_steps": args.warmup, "timed_steps": args.steps, "runs": args.runs,
                     "training_examples": args.limit, "threads": args.threads},
        "tasks": results, "wall_time_s": time.perf_counter() - wall0,
    }, environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
