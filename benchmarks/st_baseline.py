"""Baseline for the NTREX experiments: sentence-transformers' MultipleNegativesRankingLoss on the same pairs.

Same training pairs (NTREX, 12 languages with English, the last 200 lines of each file held out), same encoder
shape (veco preset ``small``, randomly initialised), same tokenizer and the same wall-clock budget as
``configs/experiments/ntrex-c.yaml``; mean pooling. The trained transformer is saved with ``save_pretrained`` so
that it is evaluated by exactly the same command as the veco runs:

    pip install sentence-transformers accelerate
    python benchmarks/st_baseline.py --tokenizer runs/ntrex/tokenizer --output runs/ntrex-st/hf_model
    veco-fit test --config configs/eval/tatoeba.yaml --model.encoder.path runs/ntrex-st/hf_model \\
      --data.tokenizer runs/ntrex-st/hf_model --model.evaluation.report_dir runs/ntrex-st/eval
"""

from __future__ import annotations

import argparse
import os
import random
import time

import torch
from datasets import Dataset
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

LANGS = ["arb", "deu", "ell", "fra", "hin", "jpn", "rus", "spa", "swa", "tur", "vie", "zho-CN"]


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


def pairs(data_dir: str, held_out: int) -> Dataset:
    with open(os.path.join(data_dir, "newstest2019-src.eng.txt"), encoding="utf-8") as f:
        english = [line.rstrip("\n") for line in f]
    anchors, positives = [], []
    for lang in LANGS:
        with open(os.path.join(data_dir, f"newstest2019-ref.{lang}.txt"), encoding="utf-8") as f:
            other = [line.rstrip("\n") for line in f]
        for x, y in list(zip(other, english))[:-held_out]:
            if x.strip() and y.strip():
                anchors.append(x)
                positives.append(y)
    order = list(range(len(anchors)))
    random.Random(0).shuffle(order)
    return Dataset.from_dict({"anchor": [anchors[i] for i in order], "positive": [positives[i] for i in order]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", default="runs/ntrex/tokenizer")
    parser.add_argument("--output", default="runs/ntrex-st/hf_model")
    parser.add_argument("--data_dir", default="../shared/data/ntrex128")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    encoder_dir = os.path.join(os.path.dirname(args.output), "init")
    XLMRobertaModel(preset_config("small", len(tokenizer), tokenizer.pad_token_id, 128,
                                  attn_implementation="sdpa"), add_pooling_layer=False).save_pretrained(encoder_dir)
    tokenizer.save_pretrained(encoder_dir)
    transformer = models.Transformer(encoder_dir, max_seq_length=args.max_length)
    model = SentenceTransformer(modules=[transformer, models.Pooling(transformer.get_word_embedding_dimension(), "mean")])
    train = pairs(args.data_dir, held_out=200)
    stopper = StopAfter(60 * args.minutes)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=os.path.join(os.path.dirname(args.output), "st_out"), num_train_epochs=100,
        per_device_train_batch_size=args.batch_size, learning_rate=args.lr, warmup_steps=100,
        lr_scheduler_type="constant_with_warmup", batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no",
        logging_steps=50, report_to=[], use_cpu=True, seed=args.seed, dataloader_drop_last=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=train,
                                         loss=losses.MultipleNegativesRankingLoss(model), callbacks=[stopper])
    start = time.perf_counter()
    trainer.train()
    print(f"Trained {stopper.steps} steps in {time.perf_counter() - start:.0f} s on {len(train)} pairs")
    model[0].auto_model.save_pretrained(args.output)
    tokenizer.save_pretrained(args.output)
    print(f"Saved the encoder to {args.output}")


if __name__ == "__main__":
    main()
