"""Encoding throughput of the evaluator: sentences per second through `veco-fit test` on Tatoeba.

Times the test loop only (encoding, pooling, word similarities, metric updates), not data loading or the final
scoring, with a callback. Sentences = 2 x pairs (both sides are encoded).

    python benchmarks/eval_throughput.py --model runs/quickstart/hf_model [--languages deu fra ...] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch
from lightning import Callback, Trainer

from veco_lightning import EncoderSpec, EvaluationOptions, VecoPretrainModule
from veco_lightning.data.composite import VecoDataModule
from veco_lightning.data.evaluation import EvaluationDataModule, TatoebaSource


class TestTimer(Callback):
    def on_test_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_test_epoch_end(self, trainer, pl_module):
        # Called before the module's own epoch-end scoring: the loop's encoding time only.
        self.seconds = time.perf_counter() - self.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/quickstart/hf_model")
    parser.add_argument("--tatoeba", default="../shared/data/tatoeba")
    parser.add_argument("--languages", nargs="+", default=["deu", "fra", "rus", "cmn"])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default="benchmarks/results/eval_throughput.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    rates = []
    for _ in range(args.runs):
        evaluation = EvaluationDataModule(tatoeba=TatoebaSource(args.tatoeba, args.languages), max_length=128,
                                          batch_size=args.batch_size)
        data = VecoDataModule(tokenizer=args.model, evaluation=evaluation)
        model = VecoPretrainModule(encoder=EncoderSpec(preset=None, path=args.model),
                                   evaluation=EvaluationOptions(report_dir=tempfile.mkdtemp()))
        timer = TestTimer()
        trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, callbacks=[timer])
        trainer.test(model, datamodule=data, verbose=False)
        sentences = 2 * sum(len(s) for s in data.evaluation_sets)
        rates.append(sentences / timer.seconds)
        print(f"{sentences} sentences in {timer.seconds:.1f} s: {rates[-1]:.0f} sentences/s")
    result = {"model": args.model, "languages": args.languages, "batch_size": args.batch_size,
              "threads": torch.get_num_threads(), "sentences_per_s": rates, "median": statistics.median(rates)}
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2)
    print(f"median {result['median']:.0f} sentences/s over {args.runs} runs -> {args.output}")


if __name__ == "__main__":
    main()
