"""Baseline for the NTREX experiments: sentence-transformers' MultipleNegativesRankingLoss on the same pairs.

Same training pairs (NTREX, 12 languages with English, the last 200 lines of each file held out), same encoder
shape (veco preset ``small``, randomly initialised), same tokenizer and the same wall-clock budget as run (c) of
``configs/experiments/ntrex.yaml``; mean pooling. The trained transformer is saved with ``save_pretrained`` so that
it is evaluated by exactly the same command as the veco runs:

    pip install sentence-transformers accelerate
    python benchmarks/st_baseline.py --tokenizer runs/ntrex/tokenizer --output runs/ntrex-st/hf_model
    veco-fit test --config configs/eval/tatoeba.yaml --model.encoder.path runs/ntrex-st/hf_model \\
      --data.tokenizer runs/ntrex-st/hf_model --model.evaluation.report_dir runs/ntrex-st/eval

The steps that fit into the budget depend on a free CPU, so training is one measurement of
``benchmarks/harness.py`` (on an idle CPU, contention flagged; ``--idle-wait``, ``--retries``). NTREX is read from
``--data_dir`` (default ``ntrex128/`` of ``$VECO_BENCH_DATA`` or ``<repo>/../shared/data``; absent: exit 0).
"""

from __future__ import annotations

import argparse
import os
import random
import time

import harness
import torch
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
    losses,
    models,
)
from sentence_transformers.training_args import BatchSamplers
from transformers import AutoTokenizer, TrainerCallback, XLMRobertaModel

from veco_lightning.models.encoder import preset_config


class StopAfter(TrainerCallback):
    """Stops training after ``seconds`` of wall clock (the veco runs use trainer.max_time)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()
        self.steps = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.steps = state.global_step
        if time.perf_counter() - self.start > self.seconds:
            control.should_training_stop = True


def pairs(data_dir: str, held_out: int):
    """The shuffled (xx, English) training pairs of every language, as a ``datasets.Dataset`` (anchor, positive)."""
    from datasets import Dataset

    english = harness.read_lines(os.path.join(data_dir, "newstest2019-src.eng.txt"))
    anchors, positives = [], []
    for code in sorted(harness.NTREX_CODES.values()):  # the order the shuffle below was seeded with
        other = harness.read_lines(os.path.join(data_dir, f"newstest2019-ref.{code}.txt"))
        for x, y in list(zip(other, english))[:-held_out]:
            if x.strip() and y.strip():
                anchors.append(x)
                positives.append(y)
    order = list(range(len(anchors)))
    random.Random(0).shuffle(order)
    return Dataset.from_dict({"anchor": [anchors[i] for i in order], "positive": [positives[i] for i in order]})


def train_and_save(args, tokenizer, train) -> dict:
    """Train a fresh model for the wall-clock budget and save its encoder; returns the steps and training seconds."""
    torch.manual_seed(args.seed)
    encoder_dir = os.path.join(os.path.dirname(args.output), "init")
    XLMRobertaModel(preset_config("small", len(tokenizer), tokenizer.pad_token_id, 128,
                                  attn_implementation="sdpa"), add_pooling_layer=False).save_pretrained(encoder_dir)
    tokenizer.save_pretrained(encoder_dir)
    transformer = models.Transformer(encoder_dir, max_seq_length=args.max_length)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), "mean")
    model = SentenceTransformer(modules=[transformer, pooling])
    stopper = StopAfter(60 * args.minutes)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=os.path.join(os.path.dirname(args.output), "st_out"), num_train_epochs=100,
        per_device_train_batch_size=args.batch_size, learning_rate=args.lr, warmup_steps=100,
        lr_scheduler_type="constant_with_warmup", batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no",
        logging_steps=50, report_to=[], use_cpu=True, seed=args.seed, dataloader_drop_last=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=train,
                                         loss=losses.MultipleNegativesRankingLoss(model), callbacks=[stopper])
    with harness.Stopwatch() as training:
        trainer.train()
    model[0].auto_model.save_pretrained(args.output)
    tokenizer.save_pretrained(args.output)
    return {"steps": stopper.steps, "seconds": training.seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", default="runs/ntrex/tokenizer")
    parser.add_argument("--output", default="runs/ntrex-st/hf_model")
    parser.add_argument("--data_dir", default=os.path.join(harness.DEFAULT_DATA, "ntrex128"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    harness.add_contention_options(parser, retries=0)
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.data_dir, "newstest2019-src.eng.txt")):
        return harness.skip(f"no NTREX-128 at {args.data_dir!r}; set --data_dir or $VECO_BENCH_DATA")

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    train = pairs(args.data_dir, held_out=200)
    harness.measure(lambda: train_and_save(args, tokenizer, train), idle_wait=args.idle_wait, retries=args.retries,
                    describe=lambda r: f"Trained {r['steps']} steps in {r['seconds']:.0f} s on {len(train)} pairs")
    print(f"Saved the encoder to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
