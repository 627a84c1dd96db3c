"""Encoding throughput of the evaluator: sentences per second through the test loop of `veco-fit test` on Tatoeba.

Times the test loop only (encoding, pooling, word similarities, metric updates), not data loading or the final
scoring, with a callback. Sentences = 2 x pairs (both sides are encoded). Each run (a fresh model and trainer) is
one measurement of ``benchmarks/harness.py`` (on an idle CPU, contention recorded over the test loop;
``--idle-wait``, ``--retries``); the median goes to ``benchmarks/results/eval_throughput.json``.

    python benchmarks/eval_throughput.py --model runs/quickstart/hf_model [--languages deu fra ...] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import harness


def evaluate(args) -> dict:
    """One ``trainer.test`` run of a fresh model; returns sentences, seconds, sentences/s and the contention."""
    from lightning import Callback, Trainer

    from veco_lightning import EncoderSpec, EvaluationOptions, VecoPretrainModule
    from veco_lightning.datamodule import VecoDataModule
    from veco_lightning.evaluation.datamodule import EvaluationDataModule
    from veco_lightning.evaluation.sources import TatoebaSource

    class TestLoopTimer(Callback):
        """Wall time and CPU contention of the test loop."""

        def on_test_start(self, trainer, pl_module):
            self.monitor = harness.CpuMonitor()
            self.start = time.perf_counter()

        def on_test_epoch_end(self, trainer, pl_module):
            # Called before the module's own epoch-end scoring: the loop's encoding time only.
            self.seconds = time.perf_counter() - self.start
            self.contention = self.monitor.stop()

    evaluation = EvaluationDataModule(tatoeba=TatoebaSource(args.tatoeba, args.languages), max_length=128,
                                      batch_size=args.batch_size)
    data = VecoDataModule(tokenizer=args.model, evaluation=evaluation)
    timer = TestLoopTimer()
    with tempfile.TemporaryDirectory() as report_dir:
        model = VecoPretrainModule(encoder=EncoderSpec(preset=None, path=args.model),
                                   evaluation=EvaluationOptions(report_dir=report_dir))
        trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, callbacks=[timer])
        trainer.test(model, datamodule=data, verbose=False)
    sentences = 2 * sum(len(s) for s in evaluation.sets)
    return {"sentences": sentences, "seconds": timer.seconds, "sentences_per_s": sentences / timer.seconds,
            **timer.contention}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/quickstart/hf_model")
    parser.add_argument("--tatoeba", default=os.path.join(harness.DEFAULT_DATA, "tatoeba"))
    parser.add_argument("--languages", nargs="+", default=["deu", "fra", "rus", "cmn"])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    harness.add_contention_options(parser)
    harness.add_output(parser, "eval_throughput")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.tatoeba):
        return harness.skip(f"no Tatoeba folder at {args.tatoeba!r}; set --tatoeba (or $VECO_BENCH_DATA)")

    harness.quiet_libraries()
    machine = harness.describe_machine()
    runs = harness.interleave(
        {"test": lambda: evaluate(args)}, args.runs, idle_wait=args.idle_wait, retries=args.retries,
        describe=lambda run, name, r: f"{r['sentences']} sentences in {r['seconds']:.1f} s: "
                                      f"{r['sentences_per_s']:.0f} sentences/s")
    rates = [r["test"]["sentences_per_s"] for r in runs]
    median = statistics.median(rates)
    print(f"median {median:.0f} sentences/s over {args.runs} runs")
    contention = harness.summarize_contention(runs)
    harness.write_result(args.output, "eval_throughput", {
        "model": args.model, "languages": args.languages, "batch_size": args.batch_size,
        "threads": machine["torch_threads"], "sentences_per_s": rates, "median": median, "runs": runs,
    }, environment={**machine, **contention}, argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
