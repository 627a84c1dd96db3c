"""``veco-xtreme suite``: fine-tune and test one encoder on every XTREME task the user has data for, then score the
predictions into one XTREME table.

    veco-xtreme suite --config configs/xtreme/suite.yaml --encoder runs/ntrex-d/hf_model --output_dir runs/xtreme-d

The suite config lists task configs (``tasks:``) and arguments every task run gets (``args:``, e.g. a step budget).
A task whose training or development files are missing is skipped with a note; missing test languages are dropped
from that task (and named in the scores' metadata by the scorer). XTREME's retrieval tasks need no fine-tuning:
``retrieval:`` names an evaluation config (``configs/eval/xtreme-tatoeba.yaml``) that ``veco-fit test`` runs on the
encoder, writing its Tatoeba and BUCC sets as XTREME's ``tatoeba`` and ``bucc2018`` predictions.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from veco_lightning.data.readers import expand_globs
from veco_lightning.paths import resolve_path

log = logging.getLogger(__name__)


@dataclass
class Suite:
    """The tasks of a suite run.

    Args:
        tasks: task config files (``configs/xtreme/*.yaml``).
        args: extra ``veco-xtreme fit`` arguments for every task (``["--trainer.max_steps", "200"]``).
        task_args: task config file -> extra arguments of that task only.
        retrieval: evaluation config (``veco-fit test``) whose Tatoeba and BUCC sets are scored as XTREME's
            retrieval tasks; ``None``: none.
        retrieval_args: extra ``veco-fit test`` arguments of that run (``["--model.evaluation.layer=7"]``).
        export_models: write each task's fine-tuned model and tokenizer to ``<output_dir>/models/<task config>``.
    """

    tasks: list[str]
    args: list[str] = field(default_factory=list)
    task_args: dict[str, list[str]] = field(default_factory=dict)
    retrieval: str | None = None
    retrieval_args: list[str] = field(default_factory=list)
    export_models: bool = False


def _exists(pattern: str) -> bool:
    try:
        return bool(expand_globs(pattern))
    except (FileNotFoundError, IsADirectoryError):  # a folder is no task file
        return False


def _config(config_file: str) -> dict:
    path = resolve_path(config_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"suite task config {config_file!r} not found (working directory {os.getcwd()}): the "
                                "task configs of a suite, like the data paths inside them, are relative to the "
                                "directory veco-xtreme runs in (the repository root for the shipped configs)")
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def retrieval_available(config_file: str) -> list[str]:
    """Why the retrieval config of a suite cannot run (no Tatoeba folder or BUCC folder it names exists); empty when
    it can."""
    evaluation = ((_config(config_file).get("data") or {}).get("evaluation")) or {}
    roots = [(part, (evaluation.get(part) or {}).get("root")) for part in ("tatoeba", "bucc")]
    roots = [(part, root) for part, root in roots if root]
    if not roots:
        return ["it names no tatoeba or bucc folder under data.evaluation"]
    if any(os.path.isdir(resolve_path(root)) for _, root in roots):
        return []
    return [f"{part} folder {root} not found" for part, root in roots]


def _task_name(config_file: str) -> str:
    """The XTREME task a task config runs (the folder its predictions go to): its model's or data's ``task``, else
    the config file's name."""
    config = _config(config_file)
    for section in ("model", "data"):
        task = ((config.get(section) or {}).get("init_args") or {}).get("task")
        if task:
            return str(task)
    return os.path.splitext(os.path.basename(config_file))[0]


def available(config_file: str) -> tuple[bool, dict[str, str], list[str], list[str]]:
    """``(runnable, test files present, test languages missing, reasons it cannot run)`` of a task config."""
    config = _config(config_file)
    data = (config.get("data") or {}).get("init_args") or {}
    train = data.get("train_files") or []
    train = [train] if isinstance(train, str) else train
    reasons = [f"training file {p} not found" for p in train if not _exists(p)]
    if not train:
        reasons.append("no train_files")
    if data.get("dev_file") and not _exists(data["dev_file"]):
        reasons.append(f"development file {data['dev_file']} not found")
    tests = {lang: p for lang, p in (data.get("test_files") or {}).items() if p}
    present = {lang: p for lang, p in tests.items() if _exists(p)}
    return not reasons, present, sorted(set(tests) - set(present)), reasons


def _folders(path: str) -> set[str]:
    """The sub-folders of ``path`` (none when it does not exist)."""
    if not os.path.isdir(path):
        return set()
    return {name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name))}


def run_suite(suite: Suite, encoder: str, output_dir: str, run: Callable[[list[str]], object],
              evaluate: Callable[[list[str]], object] | None = None) -> dict:
    """Fine-tune and test every runnable task with ``run`` (``veco-xtreme``'s Lightning CLI), score the retrieval
    config with ``evaluate`` (``veco-fit``'s), then score ``output_dir/predictions`` against ``output_dir/labels``
    (the languages present; see the scores' metadata)."""
    from veco_lightning.tasks.scorer import score_folders, write_table

    ran, written = [], set()  # the task folders this run writes: only those are scored
    if suite.retrieval:
        reasons = retrieval_available(suite.retrieval)
        if reasons:
            print(f"Skipping retrieval ({suite.retrieval}): {'; '.join(reasons)}")
        elif evaluate is None:
            raise ValueError("run_suite: a suite with a retrieval config needs evaluate (veco-fit's CLI runner)")
        else:
            evaluate(["test", "--config", suite.retrieval, f"--model.encoder.path={encoder}",
                      f"--data.tokenizer={encoder}",
                      f"--model.evaluation.report_dir={os.path.join(output_dir, 'retrieval')}",
                      f"--model.evaluation.predictions_dir={output_dir}", *suite.retrieval_args])
            ran.append("retrieval")
            written |= {"tatoeba", "bucc2018"}
    for config_file in suite.tasks:
        runnable, tests, missing, reasons = available(config_file)
        name = os.path.splitext(os.path.basename(config_file))[0]
        if not runnable:
            print(f"Skipping {name}: {'; '.join(reasons)}")
            continue
        only_present = [f"--data.init_args.test_files={json.dumps(tests)}"] if missing else []
        if missing:
            print(f"{name}: no test file for {', '.join(missing)}; those languages are not scored")
        written.add(_task_name(config_file))
        run(["fit", "--config", config_file, f"--model.init_args.encoder={encoder}",
             f"--model.init_args.output_dir={output_dir}",
             f"--trainer.default_root_dir={os.path.join(output_dir, 'runs', name)}",
             *([f"--export_dir={os.path.join(output_dir, 'models', name)}"] if suite.export_models else []),
             *suite.args, *suite.task_args.get(config_file, []), *only_present])
        ran.append(name)
    predictions, labels = os.path.join(output_dir, "predictions"), os.path.join(output_dir, "labels")
    earlier = sorted(_folders(predictions) - written)
    if earlier:
        print(f"Not scored: {', '.join(earlier)} in {predictions}, left there by an earlier run (another encoder, "
              "perhaps); the table holds only the tasks of this run")
    if not _folders(predictions) & _folders(labels) & written:  # e.g. TyDiQA alone: its test copy has no answers
        note = (f"Ran {', '.join(ran) or 'no task'}; none wrote labelled test data, so nothing is scored. The "
                f"predictions are in {predictions}.")
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "xtreme.md"), "w", encoding="utf-8") as handle:
            handle.write(note + "\n")
        print(note)
        return {}
    scores = score_folders(predictions, labels, allow_missing=True, only=written)
    write_table(scores, os.path.join(output_dir, "xtreme.json"), os.path.join(output_dir, "xtreme.md"))
    print(f"Ran {', '.join(ran) or 'no task'}; the XTREME table is in {os.path.join(output_dir, 'xtreme.md')}")
    return scores
