"""Zero-shot XTREME fine-tuning of the NTREX encoders on CPU: the matrix of runs, their scores, wall times and
baselines, and the XTREME table over what was run.

Encoders (all the ``small`` 4 x 256 shape and the 16k NTREX tokenizer): ``random`` (untrained), and the exports of
``configs/experiments/ntrex.yaml`` + ``ntrex-{a,c,d}.yaml`` trained for ``--pretrain-steps`` steps each (pre-trained
here when ``runs/xtreme-enc/ntrex-<run>/hf_model`` is absent). Runs (task: encoders):

* udpos: random, c, d — train English-EWT, select on EWT dev, test en de es fr ru zh;
* panx: random, c, d — train / select on English PAN-X, test the 12 languages;
* xnli: a, c, d — train on 80% of the English XNLI dev file, select on the rest, test the 15 languages;
* xquad: random, d — train on English MLQA (dev), test XQuAD; mlqa: random, d — train on English XQuAD, test MLQA.

Each run is ``veco-xtreme fit`` with the task's config (``configs/xtreme/<task>.yaml``) and the CPU budget of
:data:`BUDGETS` (fewer epochs, subsets: listed in the results), in a fresh process, one at a time; its wall time
includes data preparation and testing. Baselines: the majority class (POS: the commonest English training tag for
every word; XNLI: the commonest training label) and the empty answer (QA), scored on the same test examples.

    python benchmarks/xtreme_matrix.py                        # ~1 h on 2 cores, after the pre-training
    python benchmarks/xtreme_matrix.py --tasks udpos --encoders c d
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter

import harness

ENCODERS_DIR = os.path.join(harness.REPO, "runs", "xtreme-enc")
OUTPUT_DIR = os.path.join(harness.REPO, "runs", "xtreme-matrix")
TOKENIZER = os.path.join(harness.REPO, "runs", "ntrex", "tokenizer")
RUNS = {"udpos": ["random", "c", "d"], "panx": ["random", "c", "d"], "xnli": ["a", "c", "d"],
        "xquad": ["random", "d"], "mlqa": ["random", "d"]}
# The NTREX encoders were pre-trained on 128-token blocks (130 position embeddings), so QA reads 128-token windows
# (question cut to 32 tokens, windows 64 tokens apart) instead of XTREME's 384 / 64 / 128, and warms up over the first
# 10% of its steps (XTREME's 500 warm-up steps would exceed the whole CPU run).
QA_BUDGET = ["--trainer.max_epochs=1", "--model.init_args.warmup_steps=0.1", "--data.init_args.max_length=128",
             "--data.init_args.max_query_length=32", "--data.init_args.doc_stride=64",
             "--data.init_args.test_limit=300"]
# XTREME's 2e-5 suits XLM-R over 5-10 epochs; in one to three epochs these small encoders stay near the floor with it
# (first run, results/xtreme_matrix_lr2e-5.json: English POS F1 50-53, English NER F1 5, XNLI at chance), so the
# tagging tasks and XNLI take 10 times that. QA is at the floor either way at this budget.
SHORT_LR = ["--model.init_args.learning_rate=2.0e-4"]
# The CPU budget of each task (about 5 minutes a run on 2 cores), on top of configs/xtreme/<task>.yaml.
BUDGETS = {
    "udpos": ["--trainer.max_epochs=1", "--trainer.val_check_interval=0.5", "--data.init_args.dev_limit=1000",
              *SHORT_LR],
    "panx": ["--trainer.max_epochs=1", "--trainer.val_check_interval=0.5", "--data.init_args.train_limit=8000",
             "--data.init_args.dev_limit=1000", "--data.init_args.test_limit=2000", *SHORT_LR],
    "xnli": ["--trainer.max_epochs=3", "--data.init_args.test_limit=2000", *SHORT_LR],
    "xquad": QA_BUDGET,
    "mlqa": QA_BUDGET,
}


def pretrained(run: str, steps: int) -> str:
    """The export of NTREX run ``run`` after ``steps`` pre-training steps (trained now if absent)."""
    path = os.path.join(ENCODERS_DIR, f"ntrex-{run}", "hf_model")
    if not os.path.exists(os.path.join(path, "config.json")):
        harness.log(f"Pre-training NTREX ({run}) for {steps} steps...")
        subprocess.run(["veco-fit", "--config", "configs/experiments/ntrex.yaml", "--config",
                        f"configs/experiments/ntrex-{run}.yaml", f"--trainer.max_steps={steps}",
                        "--trainer.max_time=null", f"--trainer.default_root_dir={os.path.dirname(path)}",
                        f"--export.dirpath={path}", "--trainer.enable_progress_bar=false"],
                       cwd=harness.REPO, check=True)
    return path


def random_encoder() -> str:
    """An untrained encoder of the same shape and tokenizer."""
    path = os.path.join(ENCODERS_DIR, "random", "hf_model")
    if not os.path.exists(os.path.join(path, "config.json")):
        import torch
        from transformers import AutoTokenizer

        from veco_lightning.models.encoder import EncoderSpec, build_encoder

        torch.manual_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
        build_encoder(EncoderSpec(preset="small", max_length=512), vocab_size=len(tokenizer)).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def fine_tune(task: str, encoder_name: str, encoder: str, extra: list[str]) -> dict:
    """One ``veco-xtreme fit`` run in a fresh process; its wall time and per-language scores."""
    out = os.path.join(OUTPUT_DIR, encoder_name)
    command = [sys.executable, "-m", "veco_lightning.tasks", "fit", "--config", f"configs/xtreme/{task}.yaml",
               f"--model.init_args.encoder={encoder}",
               f"--model.init_args.output_dir={out}", f"--trainer.default_root_dir={os.path.join(out, 'runs', task)}",
               "--trainer.enable_progress_bar=false", *BUDGETS[task], *extra]
    os.makedirs(out, exist_ok=True)
    monitor = harness.CpuMonitor()  # the wall time counts only if nothing else used the CPU meanwhile
    start = time.perf_counter()
    with open(os.path.join(out, f"{task}.log"), "w", encoding="utf-8") as log_file:
        subprocess.run(command, cwd=harness.REPO, stdout=log_file, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - start
    contention = monitor.stop()
    with open(os.path.join(out, "scores", f"{task}.json"), encoding="utf-8") as handle:
        scores = json.load(handle)
    return {"wall_s": wall, "command": command, **contention, "contended": harness.contended(contention), **scores}


def baselines(task: str, labelled: dict[str, str], limit: int | None, data_dir: str) -> dict[str, dict[str, float]]:
    """Majority-class (udpos, xnli) or empty-answer (QA) scores on the test examples the runs score."""
    from veco_lightning.tasks import formats
    from veco_lightning.tasks.metrics import accuracy, qa_scores, span_scores, token_accuracy

    out = {}
    if task == "udpos":
        train = formats.read_tagging(os.path.join(data_dir, "ud/UD_English-EWT/en_ewt-ud-train.conllu"))
        tag = Counter(t for s in train for t in s.labels).most_common(1)[0][0]
        for lang, path in labelled.items():
            gold = [s.labels for s in formats.read_tagging(path)][:limit]
            guess = [[tag] * len(s) for s in gold]
            out[lang] = {**span_scores(guess, gold), "token_accuracy": token_accuracy(guess, gold), "label": tag}
    elif task == "xnli":
        train = formats.read_classification(os.path.join(data_dir, "xnli/dev-en.tsv"))
        label = Counter(e.label for e in train).most_common(1)[0][0]
        gold = [e.label for e in formats.read_classification(
            os.path.join(data_dir, "xnli/hf-jsonl/en/test.jsonl"), int_labels=formats.XNLI_HF_INT_LABELS)][:limit]
        out = {lang: {"accuracy": accuracy([label] * len(gold), gold), "label": label} for lang in labelled}
    elif task in ("xquad", "mlqa"):
        for lang, path in labelled.items():
            questions = formats.read_squad(path)[:limit]
            references = {q.id: [text for text, _ in q.answers] for q in questions}
            out[lang] = qa_scores({q.id: "" for q in questions}, references, task=task, language=lang)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--encoders", nargs="+", default=None, help="only these encoders (random a c d)")
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--extra", nargs="*", default=[], help="more veco-xtreme arguments for every run")
    parser.add_argument("--update", action="store_true",
                        help="keep the other runs of an existing --output file (rerun some tasks only)")
    parser.add_argument("--resume", action="store_true",
                        help="with --update: skip the runs the file already holds with the same budget (the file is "
                             "written after every run)")
    harness.add_data_dir(parser, "ud/, panx/, xnli/, xquad/ and mlqa/")
    harness.add_output(parser, "xtreme_matrix")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.data_dir, "panx")):
        return harness.skip(f"no XTREME task data under {args.data_dir}")
    if not os.path.isdir(TOKENIZER):
        return harness.skip(f"no NTREX tokenizer at {TOKENIZER}: train it as configs/experiments/ntrex.yaml says")
    import yaml

    from veco_lightning.tasks.scorer import format_table, score_folders

    machine = harness.describe_machine()
    results: dict = {"budgets": BUDGETS, "pretrain_steps": args.pretrain_steps, "runs": {}, "baselines": {}}
    if args.update and os.path.exists(args.output):
        with open(args.output, encoding="utf-8") as handle:
            earlier = json.load(handle)
        results["runs"], results["baselines"] = earlier["runs"], earlier["baselines"]
    for task in args.tasks:
        with open(os.path.join(harness.REPO, "configs", "xtreme", f"{task}.yaml"), encoding="utf-8") as handle:
            data = yaml.safe_load(handle)["data"]["init_args"]
        limit = next((int(a.split("=")[1]) for a in BUDGETS[task] if a.startswith("--data.init_args.test_limit")), None)
        results["baselines"][task] = baselines(task, data["test_files"], limit, args.data_dir)
        for name in RUNS[task]:
            if args.encoders and name not in args.encoders:
                continue
            budget = [*BUDGETS[task], *args.extra]
            if args.resume and results["runs"].get(task, {}).get(name, {}).get("budget") == budget:
                harness.log(f"{task} on {name}: done (--resume)")
                continue
            encoder = random_encoder() if name == "random" else pretrained(name, args.pretrain_steps)
            harness.log(f"{task} on {name}...")
            run = {**fine_tune(task, name, encoder, args.extra), "budget": budget}
            results["runs"].setdefault(task, {})[name] = run
            harness.write_result(args.output, "xtreme_matrix", results, environment=machine, argv=argv)
            averages = {k: round(v, 2) for k, v in run.items() if k.startswith("avg_")}
            busy = " (other processes busy: wall time inflated)" if run["contended"] else ""
            harness.log(f"  {run['wall_s']:.0f} s{busy}, {averages}")
    tables = {}
    for name in sorted({n for task in results["runs"].values() for n in task}):
        folder = os.path.join(OUTPUT_DIR, name)
        scores = score_folders(os.path.join(folder, "predictions"), os.path.join(folder, "labels"), allow_missing=True)
        results.setdefault("xtreme", {})[name] = scores
        tables[name] = format_table(scores)
        harness.log(f"\n## XTREME table, encoder {name}\n\n{tables[name]}")
    harness.write_result(args.output, "xtreme_matrix", results, environment=machine, argv=argv)
    with open(os.path.splitext(args.output)[0] + ".md", "w", encoding="utf-8") as handle:
        handle.write("\n\n".join(f"## Encoder {name}\n\n{table}" for name, table in tables.items()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
