"""``veco-xtreme suite``: fine-tune and test one encoder on every XTREME task the user has data for, then score the
predictions into one XTREME table.

    veco-xtreme suite --config configs/xtreme/suite.yaml --encoder runs/ntrex-d/hf_model --output_dir runs/xtreme-d

The suite config lists task configs (``tasks:``) and arguments every task run gets (``args:``, e.g. a step budget).
With ``seeds: [1, 2, 3]`` the whole suite runs once per seed (``seed_everything`` and ``data.seed``: the head's
initialisation, dropout, the training order and the ``dev_split`` / ``train_limit`` draws) into
``<output_dir>/seed-<seed>/``, each with its own XTREME table, and ``<output_dir>/xtreme.md`` gives every task, group
and overall score as the mean and sample standard deviation over the seeds (fine-tuning moves XTREME scores by
more than many differences between encoders). The retrieval tasks, which fine-tune nothing, run once and count for
every seed.
A task whose training or development files are missing is skipped with a note; missing test languages are dropped
from that task (and named in the scores' metadata by the scorer). XTREME's retrieval tasks need no fine-tuning:
``retrieval:`` names an evaluation config (``configs/eval/xtreme-tatoeba.yaml``) that ``veco-fit test`` runs on the
encoder, writing its Tatoeba and BUCC sets as XTREME's ``tatoeba`` and ``bucc2018`` predictions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from veco_lightning.data.readers import expand_globs
from veco_lightning.paths import model_dir, resolve_path

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
        seeds: run the suite once per seed and report mean and standard deviation (empty: one run, each task config
            with its own seed).
        resume: continue an interrupted suite in the same ``output_dir``: a part (a task, the retrieval run) that
            an earlier run finished with the same encoder weights, config file and arguments is kept (its
            predictions scored, not recomputed); one it started resumes from its newest ``last.ckpt``
            (``--ckpt_path last``, exactly as a killed ``veco-xtreme fit`` resumes); the others run.
    """

    tasks: list[str]
    args: list[str] = field(default_factory=list)
    task_args: dict[str, list[str]] = field(default_factory=dict)
    retrieval: str | None = None
    retrieval_args: list[str] = field(default_factory=list)
    export_models: bool = False
    seeds: list[int] = field(default_factory=list)
    resume: bool = False


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


RETRIEVAL_TASKS = ("tatoeba", "bucc2018")


class SuiteTaskFailed(RuntimeError):
    """Tasks of a suite that stopped with an error, after the others ran and were scored.

    Attributes:
        failed: task config name (``seed-<seed>/<name>`` over seeds) -> the error.
        scores: what :func:`run_suite` returns for the tasks that ran.
    """

    def __init__(self, failed: dict[str, str], scores: dict, table: str) -> None:
        self.failed, self.scores = failed, scores
        super().__init__(f"{len(failed)} task(s) of the suite failed (their errors are in the log above): "
                         + "; ".join(f"{name}: {error}" for name, error in failed.items())
                         + f". The other tasks ran; their scores are in {table}")


RECORD = "suite_part.json"  # in a part's folder: what it ran with, and whether it finished
_WEIGHT_FILES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")


def _fingerprint(encoder: str, config_file: str, args: list[str]) -> dict[str, Any]:
    """What a part's results depend on that the suite can see: its arguments, its config file's content and the
    encoder's weight files (name, size, modification time; a Hub id: the id alone)."""
    path = resolve_path(encoder)
    folder = model_dir(path) if os.path.isdir(path) else None
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(_WEIGHT_FILES)) if folder else []
    with open(resolve_path(config_file), "rb") as handle:
        config_digest = hashlib.sha256(handle.read()).hexdigest()
    return {"args": list(args), "config_sha256": config_digest,
            "encoder_files": [[os.path.basename(f), os.path.getsize(f), os.stat(f).st_mtime_ns] for f in files]}


def _record(folder: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(folder, RECORD), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write_record(folder: str, fingerprint: dict[str, Any], done: bool) -> None:
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, RECORD + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"done": done, **fingerprint}, handle, indent=2)
    os.replace(temporary, os.path.join(folder, RECORD))


def _earlier(suite: Suite, folder: str, fingerprint: dict[str, Any], predictions: list[str]) -> str | None:
    """``done`` or ``started`` when an earlier run of the suite ran this part (``folder``) as ``fingerprint`` says
    and ``suite.resume`` asks to continue it; else None. A finished part whose ``predictions`` folders are all gone
    counts as started."""
    record = _record(folder)
    if not suite.resume or record is None or {k: v for k, v in record.items() if k != "done"} != fingerprint:
        return None
    return "done" if record.get("done") and any(os.path.isdir(p) for p in predictions) else "started"


def _newest_last_checkpoint(folder: str) -> bool:
    return any(name.startswith("last") and name.endswith(".ckpt")
               for _, _, names in os.walk(folder) for name in names)


def _attempt(what: str, call: Callable[[list[str]], object], args: list[str]) -> str | None:
    """Run one part of the suite (a task, the retrieval run): ``None`` when it succeeds, else its error as one line,
    logged with its traceback, so that the suite goes on with the others. What must stop the suite (Ctrl-C,
    ``--help``) is raised."""
    try:
        call(args)
        return None
    except SystemExit as err:  # jsonargparse's exit on arguments it cannot parse (its message printed above)
        if err.code in (0, None):
            raise
        failure = f"invalid arguments (exit code {err.code}; the message above)"
        log.error("%s failed; the suite goes on with the others: %s", what, failure)
    except Exception as err:  # its data, an option the encoder cannot take
        failure = f"{type(err).__name__}: {err}".splitlines()[0]
        log.error("%s failed; the suite goes on with the others", what, exc_info=True)
    return failure


def run_suite(suite: Suite, encoder: str, output_dir: str, run: Callable[[list[str]], object],
              evaluate: Callable[[list[str]], object] | None = None, retrieval_from: str | None = None) -> dict:
    """Fine-tune and test every runnable task with ``run`` (``veco-xtreme``'s Lightning CLI), score the retrieval
    config with ``evaluate`` (``veco-fit``'s), then score ``output_dir/predictions`` against ``output_dir/labels``
    (the languages present; see the scores' metadata). With ``suite.seeds``, once per seed (:func:`run_seeds`).

    Args:
        retrieval_from: an output folder whose retrieval predictions and labels this run takes instead of running
            the retrieval config again (the later seeds of a multi-seed suite).
    """
    if suite.seeds:
        return run_seeds(suite, encoder, output_dir, run, evaluate)
    from veco_lightning.tasks.scorer import score_folders, write_table

    ran, written = [], set()  # the task folders this run writes: only those are scored
    failed: dict[str, str] = {}
    failed_tasks: set[str] = set()
    if suite.retrieval and retrieval_from is not None:
        for side in ("predictions", "labels"):
            for task in RETRIEVAL_TASKS:
                source = os.path.join(retrieval_from, side, task)
                if os.path.isdir(source):
                    shutil.copytree(source, os.path.join(output_dir, side, task), dirs_exist_ok=True)
                    written.add(task)
        ran.append(f"retrieval (taken from {retrieval_from})")
    elif suite.retrieval:
        reasons = retrieval_available(suite.retrieval)
        if reasons:
            print(f"Skipping retrieval ({suite.retrieval}): {'; '.join(reasons)}")
        elif evaluate is None:
            raise ValueError("run_suite: a suite with a retrieval config needs evaluate (veco-fit's CLI runner)")
        else:
            folder = os.path.join(output_dir, "retrieval")
            args = ["test", "--config", suite.retrieval, f"--model.encoder.path={encoder}",
                    f"--data.tokenizer={encoder}", f"--model.evaluation.report_dir={folder}",
                    f"--model.evaluation.predictions_dir={output_dir}", *suite.retrieval_args]
            fingerprint = _fingerprint(encoder, suite.retrieval, args)
            retrieval_predictions = [os.path.join(output_dir, "predictions", task) for task in RETRIEVAL_TASKS]
            if _earlier(suite, folder, fingerprint, retrieval_predictions) == "done":
                print(f"Retrieval: finished by an earlier run of this suite in {folder} (same encoder weights, config "
                      "and arguments): its predictions are kept")
                ran.append("retrieval (earlier run)")
                written |= set(RETRIEVAL_TASKS)
            else:
                _note_earlier_run(suite, folder)
                _write_record(folder, fingerprint, done=False)
                failure = _attempt("Retrieval", evaluate, args)
                if failure is None:
                    _write_record(folder, fingerprint, done=True)
                    ran.append("retrieval")
                    written |= set(RETRIEVAL_TASKS)
                else:
                    failed["retrieval"] = failure
    for config_file in suite.tasks:
        runnable, tests, missing, reasons = available(config_file)
        name = os.path.splitext(os.path.basename(config_file))[0]
        if not runnable:
            print(f"Skipping {name}: {'; '.join(reasons)}")
            continue
        only_present = [f"--data.init_args.test_files={json.dumps(tests)}"] if missing else []
        if missing:
            print(f"{name}: no test file for {', '.join(missing)}; those languages are not scored")
        folder = os.path.join(output_dir, "runs", name)
        args = ["fit", "--config", config_file, f"--model.init_args.encoder={encoder}",
                f"--model.init_args.output_dir={output_dir}", f"--trainer.default_root_dir={folder}",
                *([f"--export_dir={os.path.join(output_dir, 'models', name)}"] if suite.export_models else []),
                *suite.args, *suite.task_args.get(config_file, []), *only_present]
        fingerprint = _fingerprint(encoder, config_file, args)
        task_predictions = os.path.join(output_dir, "predictions", _task_name(config_file))
        state = _earlier(suite, folder, fingerprint, [task_predictions])
        if state == "done":
            print(f"{name}: finished by an earlier run of this suite in {folder} (same encoder weights, config and "
                  "arguments): its predictions are kept")
            written.add(_task_name(config_file))
            ran.append(f"{name} (earlier run)")
            continue
        if state is None:
            _note_earlier_run(suite, folder)
        resume = state == "started" and _newest_last_checkpoint(folder)
        if resume:
            print(f"{name}: started by an earlier run of this suite; resuming from its newest last.ckpt in {folder}")
        _write_record(folder, fingerprint, done=False)
        failure = _attempt(f"Task {name}", run, [*args, *(["--ckpt_path=last"] if resume else [])])
        if failure is not None:
            failed[name] = failure
            failed_tasks.add(_task_name(config_file))  # what it wrote before failing is not scored
            continue
        _write_record(folder, fingerprint, done=True)
        written.add(_task_name(config_file))
        ran.append(name)
    predictions, labels = os.path.join(output_dir, "predictions"), os.path.join(output_dir, "labels")
    earlier = sorted(_folders(predictions) - written - failed_tasks)
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
        if failed:
            raise SuiteTaskFailed(failed, {}, os.path.join(output_dir, "xtreme.md"))
        return {}
    scores = score_folders(predictions, labels, allow_missing=True, only=written)
    write_table(scores, os.path.join(output_dir, "xtreme.json"), os.path.join(output_dir, "xtreme.md"))
    print(f"Ran {', '.join(ran) or 'no task'}; the XTREME table is in {os.path.join(output_dir, 'xtreme.md')}")
    if failed:
        raise SuiteTaskFailed(failed, scores, os.path.join(output_dir, "xtreme.md"))
    return scores


def _note_earlier_run(suite: Suite, folder: str) -> None:
    """Say when a part runs again although an earlier run of the suite finished it (without ``resume``, or with
    other weights, config or arguments)."""
    record = _record(folder)
    if record is not None and record.get("done"):
        why = ("its encoder weights, config or arguments differ now" if suite.resume else
               "--resume true keeps what an earlier run finished")
        print(f"{folder}: an earlier run of this suite finished this part; it runs again ({why})")


def run_seeds(suite: Suite, encoder: str, output_dir: str, run: Callable[[list[str]], object],
              evaluate: Callable[[list[str]], object] | None = None) -> dict:
    """The suite once per seed of ``suite.seeds`` into ``<output_dir>/seed-<seed>``, then the mean and standard
    deviation of every score over the seeds (:func:`seed_summary`) in ``<output_dir>/xtreme.{json,md}``."""
    if len(set(suite.seeds)) != len(suite.seeds):
        raise ValueError(f"suite seeds {suite.seeds}: each seed once")
    fixed = [arg for arg in [*suite.args, *(a for args in suite.task_args.values() for a in args)]
             if arg.split("=")[0] in ("--seed_everything", "--data.seed", "--data.init_args.seed")]
    if fixed:  # later on the command line than the seed's own: every seed would run with it
        raise ValueError(f"suite seeds {suite.seeds} and {', '.join(fixed)} in args / task_args: the seeds set "
                         "seed_everything and data.seed themselves; drop one or the other")
    runs, first, failed = {}, None, {}
    for seed in suite.seeds:
        seed_dir = os.path.join(output_dir, f"seed-{seed}")
        print(f"Suite, seed {seed}: {seed_dir}")
        one = replace(suite, seeds=[], args=[*suite.args, f"--seed_everything={seed}", f"--data.init_args.seed={seed}"])
        try:
            runs[seed] = run_suite(one, encoder, seed_dir, run, evaluate, retrieval_from=first)
        except SuiteTaskFailed as err:  # the seed's other tasks were scored: they count
            if err.scores:
                runs[seed] = err.scores
            failed |= {f"seed-{seed}/{name}": error for name, error in err.failed.items()}
        first = first or seed_dir
    if not runs:
        raise SuiteTaskFailed(failed, {}, output_dir)
    summary = seed_summary(runs)
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "xtreme.json"), "w", encoding="utf-8") as handle:
        json.dump({**summary, "runs": {str(seed): scores for seed, scores in runs.items()}}, handle, indent=2,
                  ensure_ascii=False)
        handle.write("\n")
    table = format_seed_table(summary)
    with open(os.path.join(output_dir, "xtreme.md"), "w", encoding="utf-8") as handle:
        handle.write(table)
    print(table)
    if failed:
        raise SuiteTaskFailed(failed, summary, os.path.join(output_dir, "xtreme.md"))
    return summary


def _spread(values: dict[int, float]) -> dict[str, Any]:
    numbers = list(values.values())
    return {"mean": math.fsum(numbers) / len(numbers),
            "std": statistics.stdev(numbers) if len(numbers) > 1 else None, "values": values}


def seed_summary(runs: dict[int, dict]) -> dict:
    """Each task's score (``avg_metric``), each group's and the overall score as ``{mean, std, values}`` over the
    seeds (``std``: the sample standard deviation, ``None`` for one seed), and each task's metrics per language
    (``languages``: metric -> language -> the same, for the languages every seed scored); a task, group or overall
    score missing from a seed's run is left out (listed under ``not_in_every_seed``)."""
    from veco_lightning.tasks.scorer import XTREME_GROUPS, XTREME_TASK_LANGUAGES

    scored = [run for run in runs.values() if run]
    if len(scored) < len(runs):
        empty = [seed for seed, run in runs.items() if not run]
        raise ValueError(f"seeds {empty} scored nothing (no labelled test data): no mean to report")
    in_all = set.intersection(*(set(run["tasks"]) for run in scored))
    in_any = set.union(*(set(run["tasks"]) for run in scored))
    groups = set.intersection(*(set(run["groups"]) for run in scored))
    def languages(task: str) -> dict[str, dict[str, dict[str, Any]]]:
        # each metric's per-language spread, over the languages every seed scored
        metrics = [run["tasks"][task]["metrics"] for run in runs.values()]
        return {name: {lang: _spread({seed: run["tasks"][task]["metrics"][name][lang] for seed, run in runs.items()})
                       for lang in XTREME_TASK_LANGUAGES[task] if all(lang in m[name] for m in metrics)}
                for name in metrics[0]}

    return {
        "seeds": list(runs),
        "tasks": {task: {**_spread({seed: run["tasks"][task]["averages"]["avg_metric"] for seed, run in runs.items()}),
                         "languages": languages(task)}
                  for task in XTREME_TASK_LANGUAGES if task in in_all},
        "groups": {group: _spread({seed: run["groups"][group] for seed, run in runs.items()})
                   for group in XTREME_GROUPS if group in groups},
        "overall": (_spread({seed: run["overall"] for seed, run in runs.items()})
                    if all(run["overall"] is not None for run in scored) else None),
        "not_in_every_seed": sorted(in_any - in_all),
    }


def format_seed_table(summary: dict) -> str:
    """Markdown of :func:`seed_summary`: mean, standard deviation and each seed's value per row."""
    seeds = summary["seeds"]
    lines = ["## XTREME scores over seeds", "",
             f"Mean and sample standard deviation over {len(seeds)} fine-tuning seeds ({', '.join(map(str, seeds))}); "
             "each seed's full table is in `seed-<seed>/xtreme.md`.", "",
             "| task / group | mean | std | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---:|---:|" + "---:|" * len(seeds)]
    rows = [*summary["tasks"].items(), *((f"**{g}**", v) for g, v in summary["groups"].items())]
    if summary["overall"] is not None:
        rows.append(("**overall**", summary["overall"]))
    for name, spread in rows:
        std = "" if spread["std"] is None else f"{spread['std']:.2f}"
        lines.append(f"| {name} | {spread['mean']:.2f} | {std} | "
                     + " | ".join(f"{spread['values'][s]:.2f}" for s in seeds) + " |")
    if summary["not_in_every_seed"]:
        lines += ["", f"Not scored in every seed, left out: {', '.join(summary['not_in_every_seed'])}."]
    columns = sorted({lang for task in summary["tasks"].values() for m in task["languages"].values() for lang in m})
    if columns:
        lines += ["", "## Per language, mean ± standard deviation over the seeds", "",
                  "| task | metric | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
        for task, spread in summary["tasks"].items():
            for metric, by_language in spread["languages"].items():
                cells = [_cell(by_language[lang]) if lang in by_language else "" for lang in columns]
                lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(spread: dict[str, Any]) -> str:
    return f"{spread['mean']:.1f}" + ("" if spread["std"] is None else f" ± {spread['std']:.1f}")
