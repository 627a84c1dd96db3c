"""The XTREME scorer: a predictions folder against a labels folder, scored and averaged as XTREME's ``evaluate.py``.

Both folders have XTREME's submission layout, one sub-folder per task and one file per language:
``<task>/test-<lang>.tsv`` (pawsx, xnli, udpos, panx, bucc2018, tatoeba) or ``<task>/test-<lang>.json`` (xquad,
mlqa, tydiqa). A task is scored when its folder exists on both sides: every language of XTREME's list for it
(:data:`XTREME_TASK_LANGUAGES`) with :mod:`.metrics`, then XTREME's averages, each the plain mean over languages
in that list's order: ``avg_<metric>`` for every metric and ``avg_metric``, the task's score (QA:
``(avg_exact_match + avg_f1) / 2``, otherwise ``avg_f1`` or ``avg_accuracy``). A group's score is the mean of its
tasks' ``avg_metric`` when all of them are scored, ``overall`` the mean over all nine tasks.

File formats (XTREME's), read by :mod:`veco_lightning.tasks.formats`, every line stripped as XTREME reads it:
    - pawsx, xnli: one label per line; tatoeba: one retrieved index per line; compared line by line
      (:func:`~veco_lightning.tasks.formats.read_classification_labels`).
    - bucc2018: one ``src_id<TAB>trg_id`` pair per line (the same reader), compared as sets of pairs.
    - panx, udpos: one tag per line, one blank line between sentences
      (:func:`~veco_lightning.tasks.formats.read_tagging_labels`; a ``token<TAB>tag`` line counts as its tag, so
      gold data files in XTREME's PAN-X and UD POS layout serve as labels).
    - xquad, mlqa, tydiqa: predictions ``{question_id: answer_text}``
      (:func:`~veco_lightning.tasks.formats.read_qa_predictions`); labels SQuAD v1.1 JSON (``{"data": [...]}`` or
      the bare list of articles), each question's answer texts taken as written
      (:func:`~veco_lightning.tasks.formats.read_squad` with ``on_bad_answer="keep"``: offsets unchecked; empty
      texts, as in the shared TyDiQA copy, kept and warned about).

Differences from ``evaluate.py``, all where it stops with a traceback, reads nonsense or scores a malformed file:
a missing language file (it raises ``FileNotFoundError``) is an error that names the file, or with
``allow_missing=True`` is listed and left out of the task's averages, and the task out of group and overall scores;
blank lines at the end of a file are ignored (it reads each as an item, or in a tagging file may read an empty
sentence), while a blank line inside a line file (an empty label there) and an empty sentence inside a tagging file
(a blank line at its start or two in a row) are errors naming the line; unequal line or sentence counts (an
assertion there), unequal token counts within a sentence (silently misaligned there), a question id used twice and
a label file that is not SQuAD v1.1 (a question without context, question text or answers, an answer without
``answer_start``, ``is_impossible``) are errors naming the files; ``token<TAB>tag`` lines are read as their tag.
XTREME names the group ``structured_prediction`` ``tagging`` and ``overall`` ``all_task``; it sums the overall score
over a ``set`` of tasks, so its last bits depend on the string hash seed (62.17319850507246 for 27 of 40 seeds tried,
…48 for the others, on its full mock submission); here it is the correctly rounded sum (``math.fsum``), …46 there.
Task and group averages are summed in XTREME's list order, left to right
(:func:`~veco_lightning.tasks.metrics.mean_in_order`, on every Python), and equal its figures bit for bit.

Example:
    ``veco-xtreme score --predictions runs/xtreme/predictions --labels xtreme_labels --output scores.json``
    writes ``scores.json`` and ``scores.md`` and prints the table.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
from collections.abc import Collection
from typing import Any

from veco_lightning.tasks.formats import (
    read_classification_labels,
    read_qa_predictions,
    read_squad,
    read_tagging_labels,
)
from veco_lightning.tasks.metrics import (
    accuracy,
    bucc_scores,
    mean_in_order,
    qa_scores,
    span_scores,
    token_accuracy,
)

log = logging.getLogger(__name__)

# XTREME's evaluate.py XTREME_TASK2LANGS; the order is the order of its averaging sums, so keep it.
XTREME_TASK_LANGUAGES: dict[str, tuple[str, ...]] = {
    "pawsx": tuple("de,en,es,fr,ja,ko,zh".split(",")),
    "xnli": tuple("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh".split(",")),
    "panx": tuple("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                  "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu".split(",")),
    "udpos": tuple("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                   "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh".split(",")),
    "bucc2018": tuple("de,fr,ru,zh".split(",")),
    "tatoeba": tuple("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                     "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu".split(",")),
    "xquad": tuple("en,es,de,el,ru,tr,ar,vi,th,zh,hi".split(",")),
    "mlqa": tuple("en,es,de,ar,hi,vi,zh".split(",")),
    "tydiqa": tuple("en,ar,bn,fi,id,ko,ru,sw,te".split(",")),
}
XTREME_GROUPS: dict[str, tuple[str, ...]] = {
    "classification": ("pawsx", "xnli"),
    "structured_prediction": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc2018", "tatoeba"),
}
QA_TASKS = XTREME_GROUPS["qa"]
TAGGING_TASKS = XTREME_GROUPS["structured_prediction"]


def _count_mismatch(task: str, prediction_file: str, label_file: str, n_pred: int, n_gold: int) -> ValueError:
    if task in TAGGING_TASKS:
        unit, layout = "sentences", "one tag per line and exactly one blank line between sentences"
    else:
        unit, layout = "lines", "one prediction per line in the order of the labels"
    return ValueError(f"{prediction_file} has {n_pred} {unit} but {label_file} has {n_gold}; write {layout}")


# Scoring ----------------------------------------------------------------------------------------------------------

def score_language(task: str, prediction_file: str, label_file: str, language: str
                   ) -> tuple[dict[str, float], dict[str, Any]]:
    """XTREME's metrics of one task and language, and extras: ``token_accuracy`` (udpos); for QA the counts of
    ``unanswered`` questions (scored 0, logged) and of ``unknown_ids`` (predictions for no gold question)."""
    extra: dict[str, Any] = {}
    if task in QA_TASKS:
        # Each question's gold texts as written: SQuAD's evaluation compares texts only, so offsets go unchecked.
        references = {e.id: [text for text, _ in e.answers] for e in read_squad(label_file, on_bad_answer="keep")}
        answers = read_qa_predictions(prediction_file)
        unanswered = [qid for qid in references if qid not in answers]
        extra["unanswered"], extra["unknown_ids"] = len(unanswered), len(set(answers) - set(references))
        if unanswered:
            log.warning("%s: %d of %d questions have no answer in %s and score 0 (first: %s)", label_file,
                        len(unanswered), len(references), prediction_file, ", ".join(unanswered[:3]))
        empty = sum(not any(text.strip() for text in texts) for texts in references.values())
        if empty:
            log.warning("%s: %d of %d questions have only empty gold answers; they score F1 0 whatever the "
                        "prediction (labels stripped of their answers?)", label_file, empty, len(references))
        return qa_scores(answers, references, task=task, language=language), extra
    reader = read_tagging_labels if task in TAGGING_TASKS else read_classification_labels
    predictions, labels = reader(prediction_file), reader(label_file)
    if task != "bucc2018" and len(predictions) != len(labels):
        raise _count_mismatch(task, prediction_file, label_file, len(predictions), len(labels))
    if task in TAGGING_TASKS:
        if task == "udpos":
            extra["token_accuracy"] = token_accuracy(predictions, labels)
        return span_scores(predictions, labels), extra
    if task == "bucc2018":
        return bucc_scores(predictions, labels), extra
    return {"accuracy": accuracy(predictions, labels)}, extra


def _averages(task: str, metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    averages = {f"avg_{name}": mean_in_order(values.values()) for name, values in metrics.items()}
    if task in QA_TASKS:
        averages["avg_metric"] = (averages["avg_exact_match"] + averages["avg_f1"]) / 2
    else:
        averages["avg_metric"] = averages["avg_f1"] if "avg_f1" in averages else averages["avg_accuracy"]
    return averages


def score_task(task: str, predictions: str, labels: str, allow_missing: bool = False) -> dict[str, Any]:
    """One task of a submission: per-language metrics, XTREME's averages, extras and which languages were scored.

    Returns:
        ``{"metrics": {metric: {lang: %}}, "averages": {"avg_<metric>": %, "avg_metric": %}, "extra": {...},
        "languages": {"scored": [...], "missing": [...], "ignored": [file names]}, "complete": bool}``.
    """
    suffix = "json" if task in QA_TASKS else "tsv"
    languages = XTREME_TASK_LANGUAGES[task]
    metrics: dict[str, dict[str, float]] = {}
    extras: dict[str, dict[str, Any]] = {}
    scored, missing = [], []
    for lang in languages:
        files = [os.path.join(folder, task, f"test-{lang}.{suffix}") for folder in (predictions, labels)]
        absent = [path for path in files if not os.path.isfile(path)]
        if absent:
            if not allow_missing:
                raise FileNotFoundError(f"{absent[0]} is missing: XTREME scores {task} on {len(languages)} languages "
                                        f"({', '.join(languages)}); add the file, or pass --allow_missing true to "
                                        "average over the languages present (not comparable with XTREME's figures)")
            missing.append(lang)
            continue
        try:
            result, extra = score_language(task, *files, language=lang)
        except ValueError as err:
            raise ValueError(f"{task} {lang}: {files[0]} against {files[1]}: {err}") from err
        scored.append(lang)
        for name, value in result.items():
            metrics.setdefault(name, {})[lang] = value
        for name, value in extra.items():
            extras.setdefault(name, {})[lang] = value
    if not scored:
        raise FileNotFoundError(f"no language of {task} has both {os.path.join(predictions, task)}/test-<lang>."
                                f"{suffix} and {os.path.join(labels, task)}/test-<lang>.{suffix}; languages: "
                                f"{', '.join(languages)}")
    if missing:
        log.warning("%s: %d of %d languages missing (%s); its averages cover the other %d only", task,
                    len(missing), len(languages), ", ".join(missing), len(scored))
    expected = {f"test-{lang}.{suffix}" for lang in languages}
    ignored = sorted({name for folder in (predictions, labels) for name in os.listdir(os.path.join(folder, task))
                      if name not in expected})
    if ignored:  # MLQA's cross-language sets, say: listed in the scores, not averaged into XTREME's
        log.info("%s: %s not scored (no language of XTREME's list for the task)", task, ", ".join(ignored))
    extra_scores: dict[str, Any] = dict(extras)
    if "token_accuracy" in extras:
        values = extras["token_accuracy"]
        extra_scores["avg_token_accuracy"] = mean_in_order(values.values())
    return {"metrics": metrics, "averages": _averages(task, metrics), "extra": extra_scores,
            "languages": {"scored": scored, "missing": missing, "ignored": ignored}, "complete": not missing}


def _task_folders(folder: str) -> set[str]:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder} is not a folder; pass the folder that holds one sub-folder per task")
    return {name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name)) and name[0] != "."}


def score_folders(predictions: str, labels: str, allow_missing: bool = False,
                  only: Collection[str] | None = None) -> dict[str, Any]:
    """Score every XTREME task whose folder exists in both ``predictions`` and ``labels``.

    Args:
        predictions: a submission, ``<task>/test-<lang>.<tsv|json>``.
        labels: the gold files in the same layout.
        allow_missing: average over the languages present instead of stopping at the first missing file.
        only: score only these task folders (the others are left out, as ``metadata["left_out"]`` lists); ``None``:
            every task folder.

    Returns:
        ``{"tasks": {task: score_task(...)}, "groups": {group: %}, "overall": % or None, "metadata": {...}}``;
        ``metadata`` lists the task folders on one side only, unknown folders and incomplete tasks.
    """
    found_pred, found_gold = _task_folders(predictions), _task_folders(labels)
    left_out = sorted((found_pred | found_gold) - set(only)) if only is not None else []
    if only is not None:
        found_pred, found_gold = found_pred & set(only), found_gold & set(only)
    unknown = sorted((found_pred | found_gold) - set(XTREME_TASK_LANGUAGES))
    for name in unknown:
        close = difflib.get_close_matches(name, XTREME_TASK_LANGUAGES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        log.warning("folder %r is not an XTREME task%s and is ignored; tasks: %s", name, hint,
                    ", ".join(XTREME_TASK_LANGUAGES))
    one_side = {"only_in_predictions": sorted((found_pred - found_gold) & set(XTREME_TASK_LANGUAGES)),
                "only_in_labels": sorted((found_gold - found_pred) & set(XTREME_TASK_LANGUAGES))}
    for side, names in one_side.items():
        if names:
            log.warning("not scored, %s: %s", side.replace("_", " "), ", ".join(names))
    tasks = {task: score_task(task, predictions, labels, allow_missing)
             for task in XTREME_TASK_LANGUAGES if task in found_pred and task in found_gold}
    if not tasks:
        raise ValueError(f"no XTREME task folder in both {predictions} and {labels} (found {sorted(found_pred)} and "
                         f"{sorted(found_gold)}); tasks: {', '.join(XTREME_TASK_LANGUAGES)}")
    complete = {task for task, score in tasks.items() if score["complete"]}
    groups = {group: mean_in_order(tasks[t]["averages"]["avg_metric"] for t in members)
              for group, members in XTREME_GROUPS.items() if complete.issuperset(members)}
    overall = None
    if complete == set(XTREME_TASK_LANGUAGES):
        overall = math.fsum(tasks[t]["averages"]["avg_metric"] for t in tasks) / len(tasks)
    metadata = {"predictions": os.path.abspath(predictions), "labels": os.path.abspath(labels),
                "allow_missing": allow_missing, "unknown_folders": unknown, "left_out": left_out, **one_side,
                "incomplete_tasks": sorted(set(tasks) - complete)}
    return {"tasks": tasks, "groups": groups, "overall": overall, "metadata": metadata}


# Report -----------------------------------------------------------------------------------------------------------

def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def format_table(scores: dict[str, Any]) -> str:
    """Markdown: the XTREME scores (tasks, groups, overall), then task/metric rows × language columns."""
    tasks = scores["tasks"]
    lines = ["## XTREME scores", "", "A task's score is its `avg_metric`: F1 (panx, udpos, bucc2018), accuracy (pawsx, "
             "xnli, tatoeba) or (EM + F1) / 2 (xquad, mlqa, tydiqa); a group's and the overall score average them.",
             "", _row(["task / group", "score", "languages"]), _row(["---", "---:", "---"])]
    for task, score in tasks.items():
        langs = score["languages"]
        note = f"{len(langs['scored'])}/{len(XTREME_TASK_LANGUAGES[task])}"
        note += f", missing {', '.join(langs['missing'])}" if langs["missing"] else ""
        lines.append(_row([task, f"{score['averages']['avg_metric']:.1f}", note]))
    for group, value in scores["groups"].items():
        lines.append(_row([f"**{group}**", f"{value:.1f}", ", ".join(XTREME_GROUPS[group])]))
    if scores["overall"] is not None:
        lines.append(_row(["**overall**", f"{scores['overall']:.1f}", "all nine tasks"]))
    columns = sorted({lang for task in tasks for lang in XTREME_TASK_LANGUAGES[task]})
    lines += ["", "## Per language", "", _row(["task", "metric", "avg", *columns]),
              _row(["---", "---", *["---:"] * (len(columns) + 1)])]
    for task, score in tasks.items():
        rows = [(name, values, score["averages"][f"avg_{name}"]) for name, values in score["metrics"].items()]
        rows += [(f"{name} *", values, score["extra"][f"avg_{name}"]) for name, values in score["extra"].items()
                 if name == "token_accuracy"]
        for name, values, average in rows:
            cells = [f"{values[lang]:.1f}" if lang in values else
                     ("missing" if lang in score["languages"]["missing"] else "") for lang in columns]
            lines.append(_row([task, name, f"{average:.1f}", *cells]))
    if any("token_accuracy" in score["extra"] for score in tasks.values()):
        lines += ["", "\\* per-token accuracy: reported, not part of XTREME's averages."]
    return "\n".join(lines) + "\n"


def write_table(scores: dict[str, Any], path_json: str, path_md: str) -> str:
    """Write ``scores`` (:func:`score_folders`) as JSON and as the Markdown of :func:`format_table`; return it."""
    table = format_table(scores)
    for path in (path_json, path_md):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path_json, "w", encoding="utf-8") as f:
        json.dump(scores, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(path_md, "w", encoding="utf-8") as f:
        f.write(table)
    return table


def score_main(args: list[str] | None = None) -> dict[str, Any]:
    """``veco-xtreme score``: score a submission folder, write ``--output`` (JSON) and its ``.md``, print the table.

    Example: ``veco-xtreme score --predictions preds --labels labels --output scores.json``.

    Args:
        args: Command-line arguments after ``score``; ``sys.argv[1:]`` when None.
    """
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="veco-xtreme score", description="Score predictions against labels as XTREME "
                            "does: per-language metrics, task averages, group and overall scores.")
    parser.add_argument("--predictions", type=str, required=True,
                        help="submission folder: <task>/test-<lang>.<tsv|json>")
    parser.add_argument("--labels", type=str, required=True, help="gold files in the same layout")
    parser.add_argument("--output", type=str, required=True, help="JSON file to write; the Markdown goes next to "
                        "it with the suffix .md")
    parser.add_argument("--allow_missing", type=bool, default=False,
                        help="average over the languages present instead of stopping at a missing file")
    cfg = parser.parse_args(args)
    from veco_lightning.logs import configure_logging

    configure_logging(libraries=False)  # once: a second handler on the root logger would print every line twice
    scores = score_folders(cfg.predictions, cfg.labels, allow_missing=cfg.allow_missing)
    table = write_table(scores, cfg.output, os.path.splitext(cfg.output)[0] + ".md")
    print(table)
    return scores
