"""Evaluation reports: ``results.json`` (typed metadata and figures), ``results.md`` (the same, readable) and pictures.

The metadata says what was evaluated (:func:`model_source`), on what (:func:`describe_data`), how (the evaluation
options) and with which software (:func:`software_versions`), as JSON types (:func:`to_json`). The
:class:`EvaluationReporter` ties it together for a Lightning module: it logs the figures, writes the report with its
pictures (:mod:`veco_lightning.evaluation.plots`) and sends each picture to the loggers that take images.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from typing import Any

import torch

from veco_lightning.checkpointing import is_checkpoint
from veco_lightning.evaluation.plots import plot_metric_bars, plot_similarity_heatmap
from veco_lightning.logs import run_log_dir

log = logging.getLogger(__name__)

Results = dict[str, dict[str, dict[str, float]]]  # metric -> set name -> figure -> value

_COLUMNS = {
    "retrieval": [("src2tgt", "acc xx→en"), ("tgt2src", "acc en→xx"), ("pairs", "pairs")],
    "synonym": [("src2tgt", "acc xx→en"), ("tgt2src", "acc en→xx"), ("word_pairs", "word pairs")],
    "alignment": [("aer", "AER"), ("precision", "precision"), ("recall", "recall")],
    "mining": [("f1", "F1"), ("precision", "precision"), ("recall", "recall"), ("dev_f1", "dev F1"),
               ("threshold", "threshold")],
}
_TITLES = {"retrieval": "Sentence retrieval (top-1 accuracy, %)", "synonym": "Synonym retrieval (top-1 accuracy, %)",
           "alignment": "Word alignment", "mining": "Bitext mining (BUCC protocol, test split, %)"}


# ---------------------------------------------------------------------------------------------------- tables, JSON


def with_averages(results: Results) -> Results:
    """Add an ``average`` row to each metric: the unweighted mean over sets, as XTREME averages languages (not of a
    mining task's threshold: each task's margins have their own scale)."""
    out: Results = {}
    for metric, per_set in results.items():
        rows = {name: figures for name, figures in per_set.items() if name != "average"}
        keys = {k for figures in rows.values() for k in figures} - {"threshold"}
        average = {}
        for key in sorted(keys):
            values = [figures[key] for figures in rows.values()
                      if figures.get(key) is not None and not math.isnan(figures[key])]
            if values:
                average[key] = sum(values) / len(values)
        out[metric] = {**rows, "average": average}
    return out


def _cell(key: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key in ("pairs", "word_pairs"):
        return str(int(value))
    if key in ("aer", "threshold"):
        return f"{value:.3f}"
    return f"{100 * value:.1f}"


def markdown_tables(results: Results) -> str:
    parts = []
    for metric, per_set in results.items():
        columns = _COLUMNS.get(metric, [(k, k) for k in next(iter(per_set.values()), {})])
        lines = [f"### {_TITLES.get(metric, metric)}", "", "| set | " + " | ".join(c for _, c in columns) + " |",
                 "|---|" + "---|" * len(columns)]
        for name, figures in per_set.items():
            label = f"**{name}**" if name == "average" else name
            lines.append(f"| {label} | " + " | ".join(_cell(k, figures.get(k)) for k, _ in columns) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def to_json(value: Any) -> Any:
    """``value`` as JSON types: dataclasses and mappings as objects, tensors and arrays as numbers or lists, paths as
    strings, NaN and infinities as ``null`` (strict JSON has no NaN); anything else as its ``str``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [to_json(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if callable(getattr(value, "tolist", None)):  # torch tensors, numpy arrays and scalars
        return to_json(value.tolist())
    if callable(getattr(value, "as_dict", None)):  # jsonargparse namespaces
        return to_json(value.as_dict())
    return str(value)


def _md_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_md_value(v) for v in value) if value else "–"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_md_value(v)}" for k, v in value.items()) if value else "–"
    return str(value).replace("|", "\\|")


def markdown_metadata(metadata: Mapping[str, Any]) -> str:
    """The metadata as nested bullets, with each list of records (evaluation sets, mining splits) as a table."""
    tables: list[str] = []

    def walk(mapping: Mapping[str, Any], depth: int, prefix: str) -> list[str]:
        bullets = []
        for key, value in mapping.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                columns = list(dict.fromkeys(k for row in value for k in row))
                tables.append("\n".join([f"#### {prefix}{key}", "", "| " + " | ".join(columns) + " |",
                                         "|" + "---|" * len(columns)]
                                        + ["| " + " | ".join(_md_value(row.get(c)) for c in columns) + " |"
                                           for row in value]))
            elif isinstance(value, dict) and value:
                inner = walk(value, depth + 1, f"{prefix}{key}: ")
                bullets += ["  " * depth + f"- **{key}**", *inner] if inner else []
            else:
                bullets.append("  " * depth + f"- **{key}**: {_md_value(value)}")
        return bullets

    bullets = walk(to_json(dict(metadata)), 0, "")
    return "\n\n".join(filter(None, ["\n".join(bullets), *tables])) + "\n"


def write_report(results: Results, out_dir: str, metadata: Mapping[str, Any] | None = None,
                 pictures: Mapping[str, str] | None = None) -> dict[str, str]:
    """Write ``results.json``, ``results.md`` and a bar chart per scored metric (retrieval, synonym, mining) into
    ``out_dir``; ``pictures`` (e.g. a heatmap already drawn there) are listed in ``results.md`` too.

    Returns:
        ``json``, ``markdown`` and one path per picture (``retrieval_bars``, ``synonym_bars``, ``mining_bars``, and
        those of ``pictures``).
    """
    os.makedirs(out_dir, exist_ok=True)
    results = with_averages(results)
    paths = {"json": os.path.join(out_dir, "results.json"), "markdown": os.path.join(out_dir, "results.md")}
    paths.update(plot_metric_bars(results, out_dir))
    paths.update(pictures or {})
    with open(paths["json"], "w", encoding="utf-8") as handle:
        json.dump({"metadata": to_json(dict(metadata or {})), "results": to_json(results)}, handle, indent=2,
                  ensure_ascii=False, allow_nan=False)
    drawn = [(key, path) for key, path in paths.items() if path.endswith(".png")]
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write("# Cross-lingual evaluation\n\n" + markdown_tables(results))
        if drawn:
            links = [f"![{key.replace('_', ' ')}]({os.path.relpath(path, out_dir)})\n\n" for key, path in drawn]
            handle.write("\n## Pictures\n\n" + "".join(links))
        if metadata:
            handle.write("\n## Run\n\n" + markdown_metadata(metadata))
    return paths


# -------------------------------------------------------------------------------------------------------- metadata


def software_versions() -> dict[str, str | None]:
    """Versions of this package, Python and the libraries that shape the figures."""
    import veco_lightning

    versions: dict[str, str | None] = {"veco_lightning": veco_lightning.__version__,
                                       "python": platform.python_version(), "torch": torch.__version__}
    for package in ("transformers", "lightning", "tokenizers"):
        try:
            versions[package] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _local(path: str | None) -> str | None:
    return os.path.abspath(path) if path and os.path.exists(path) else path


def model_source(encoder: Any, ckpt_path: str | None = None, tokenizer: str | None = None) -> dict[str, Any]:
    """Where the evaluated weights come from: the checkpoint tested (``trainer.ckpt_path``), else ``encoder.path``
    (an export directory, or a hub name), else a preset's random initialisation.

    Args:
        encoder: ``module.hparams["encoder"]``: an :class:`~veco_lightning.models.encoder.EncoderSpec`, a dict or
            ``None`` (the default spec).
        ckpt_path: the checkpoint the trainer tested.
        tokenizer: the tokenizer's directory or name.
    """
    spec = to_json(encoder) if encoder is not None else None
    path = spec.get("path") if isinstance(spec, dict) else None
    source: dict[str, Any] = {}
    if ckpt_path:
        weights_from, where = "checkpoint", _local(ckpt_path)
    elif path and is_checkpoint(path):  # encoder.path names a veco-fit checkpoint: record the step it was saved at
        weights_from, where = "checkpoint", _local(path)
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        source["checkpoint_step"] = int(saved.get("global_step", 0))
    elif path:
        weights_from, where = ("export directory" if os.path.isdir(path) else "hub"), _local(path)
    else:
        weights_from, where = "preset (random initialisation)", None
    return {"weights_from": weights_from, "path": where, **source, "encoder": spec, "tokenizer": _local(tokenizer)}


def describe_data(data: Any) -> dict[str, Any] | None:
    """The evaluation sets of an :class:`~veco_lightning.evaluation.datamodule.EvaluationDataModule` and their sizes:
    pairs, scored synonym pairs and gold alignments per set; sentences and gold pairs per mining split."""
    if data is None:
        return None
    sets = [{"name": s.name, "languages": f"{s.src_lang}-{s.tgt_lang}", "pairs": len(s.items),
             "synonym_pairs": sum(len(item["synonyms"]) // 2 for item in s.items),
             "gold_alignments": bool(s.items) and s.items[0]["gold"] is not None} for s in data.sets]
    bucc = getattr(data, "bucc", None)
    split_names = (bucc.dev_split, bucc.test_split) if bucc is not None else ("dev", "test")
    mining = [{"task": task.name, "split": name, "role": role, "source_sentences": len(split.src_ids),
               "target_sentences": len(split.trg_ids), "gold_pairs": len(split.gold)}
              for task in data.mining_sets
              for split, name, role in zip(task.splits, split_names, ("threshold", "reported"))]
    return {"tokenizer": _local(getattr(data, "tokenizer_name", None)), "max_length": data.max_length,
            "prompt": getattr(data, "prompt", None), "sets": sets, "mining": mining}


# -------------------------------------------------------------------------------------------------------- reporter


def xtreme_tatoeba_positions(english: Sequence[str]) -> list[int]:
    """``positions[i]``: the line of English sentence ``i`` (LASER's order) in XTREME's Tatoeba English file, which
    its preprocessing writes sorted by the stripped text (Python's stable sort); XTREME's predictions and gold index
    that file."""
    positions = [0] * len(english)
    for rank, i in enumerate(sorted(range(len(english)), key=lambda k: english[k].strip())):
        positions[i] = rank
    return positions


class EvaluationReporter:
    """Turns the scorer's results (by set id) into logged metrics and, after ``test``, into report files.

    Set names and mining tasks come from the evaluation datamodule of the trainer (an
    :class:`~veco_lightning.evaluation.datamodule.EvaluationDataModule` alone or inside the composite); logged keys
    are ``<stage>/<metric>/<set>/<figure>``, e.g. ``val/retrieval/deu-eng/src2tgt``, and
    ``<stage>/<metric>/average/...``. Every picture also goes to each logger whose experiment has ``add_image``
    (TensorBoard), as ``<stage>/<picture>``.
    """

    _NOT_LOGGED = ("pairs", "word_pairs", "threshold")

    def __init__(self, module: Any, stage: str) -> None:
        from veco_lightning.evaluation.datamodule import evaluation_data

        self.module = module
        self.stage = stage
        self.data = evaluation_data(getattr(module.trainer, "datamodule", None))
        self.names = self.data.set_names if self.data is not None else []
        self.tasks = self.data.mining_sets if self.data is not None else []
        self.mined: dict[int, list[tuple[str, str]]] = {}  # task -> the test split's pairs at the dev threshold

    def _name(self, set_id: int) -> str:
        return self.names[set_id] if set_id < len(self.names) else f"set{set_id}"

    def _score_mining(self, embeddings: dict[tuple[int, int, int], torch.Tensor]) -> dict[int, dict[str, float]]:
        """BUCC protocol per task: margin candidates on dev and test, threshold maximising dev F1, test figures."""
        from veco_lightning.evaluation.bitext_mining import candidates_to_ids, evaluate_mining, mine_candidates

        tasks = self.tasks
        k = self.module.scorer.options.margin_k
        scores = {}
        for task_id in sorted({key[0] for key in embeddings}):
            splits = []
            for split_id in (0, 1):
                if split_id == 1 and tasks[task_id].shared:  # the dev split is scored as the test split too
                    splits.append(splits[0])
                    continue
                src, trg = embeddings.get((task_id, split_id, 0)), embeddings.get((task_id, split_id, 1))
                if src is None or trg is None:
                    break
                splits.append((mine_candidates(src, trg, k=k), tasks[task_id].gold_indices(split_id)))
            if len(splits) == 2:
                found = evaluate_mining(*splits)
                test = tasks[task_id].splits[1]
                self.mined[task_id] = [(src, trg) for src, trg, score in
                                       candidates_to_ids(splits[1][0], test.src_ids, test.trg_ids)
                                       if score >= found["threshold"]]
                scored = bool(test.gold)  # a split without gold (BUCC's test) is mined for submission only
                scores[task_id] = {"f1": found["test_f1"] if scored else None,
                                   "precision": found["test_precision"] if scored else None,
                                   "recall": found["test_recall"] if scored else None, "dev_f1": found["dev_f1"],
                                   "threshold": found["threshold"]}
                if not scored:
                    log.warning("%s: the test split has no gold pairs, so F1 is not scored; its %d mined pairs are "
                                "written for submission (model.evaluation.predictions_dir)", tasks[task_id].name,
                                len(self.mined[task_id]))
        return scores

    def log(self, raw: dict[str, dict[int, dict[str, float]]]) -> Results:
        if "mining" in raw:
            mining = self._score_mining(raw.pop("mining"))
            named = {self.tasks[t].name if t < len(self.tasks) else f"task{t}": v for t, v in mining.items()}
            raw = {**raw, "mining": named} if named else raw
        results = with_averages({
            metric: per_set if metric == "mining" else {self._name(s): v for s, v in per_set.items()}
            for metric, per_set in raw.items()
        })
        for metric, per_set in results.items():
            for name, figures in per_set.items():
                for key, value in figures.items():
                    if key not in self._NOT_LOGGED and value is not None:
                        # Values come from metrics already synchronised across ranks.
                        self.module.log(f"{self.stage}/{metric}/{name}/{key}", float(value), rank_zero_only=True)
        return results

    def metadata(self) -> dict[str, Any]:
        """What was evaluated, on what, how, with which software, and when (JSON types throughout)."""
        module, trainer = self.module, self.module.trainer
        options = module.scorer.options
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "stage": self.stage,
            "model": model_source(module.hparams.get("encoder") or getattr(module, "encoder_spec", None),
                                  getattr(trainer, "ckpt_path", None), module.hparams.get("tokenizer")),
            "global_step": int(module.global_step),
            "evaluation": to_json(options),
            "data": describe_data(self.data),
            "versions": software_versions(),
        }

    def write(self, results: Results) -> None:
        trainer = self.module.trainer
        if not results or not trainer.is_global_zero:
            return
        options = self.module.scorer.options
        out_dir = options.report_dir or os.path.join(run_log_dir(trainer), "eval")
        os.makedirs(out_dir, exist_ok=True)
        heatmap = self._heatmap(out_dir)
        paths = write_report(results, out_dir, self.metadata(), {"heatmap": heatmap} if heatmap else None)
        self._to_logger(paths)
        print(markdown_tables(results))
        print(f"Evaluation report written to {os.path.abspath(paths['markdown'])}")
        root = options.predictions_dir or os.path.join(out_dir, "xtreme")
        submission = self.write_submission(root)
        if submission:
            tasks = sorted({name.split("/")[0] for name in submission})
            counts = ", ".join(f"{task} {sum(n.startswith(task + '/') for n in submission)}" for task in tasks)
            print(f"XTREME retrieval predictions (languages: {counts}) written to "
                  f"{os.path.join(os.path.abspath(root), 'predictions')}")

    def write_submission(self, root: str) -> list[str]:
        """The retrieval tasks in XTREME's submission layout under ``root`` (see
        :class:`~veco_lightning.evaluation.scorer.EvaluationOptions`' ``predictions_dir``); returns the files'
        ``<task>/test-<lang>`` names. A set or task whose language another already took is left out, with a
        warning."""
        from veco_lightning.lexicon.languages import to_iso1

        files: dict[str, tuple[list[str], list[str] | None]] = {}  # task/test-<lang> -> (prediction, gold lines)
        retrieved = self.module.scorer.retrieval.retrieved
        names = set(self.data.tatoeba_names if self.data is not None else [])
        for set_id, dataset in enumerate(self.data.sets if self.data is not None else []):
            if dataset.name in names and set_id in retrieved:
                # Indices into the English file as XTREME's preprocessing writes it (its lines sorted by their
                # stripped text, a stable sort): the file its leaderboard's gold indexes. A one-to-one renumbering,
                # so the accuracy is the same in either order.
                position = xtreme_tatoeba_positions(dataset.tgt_texts)
                predicted = [str(position[int(i)]) for i in retrieved[set_id]]
                self._add(files, f"tatoeba/test-{to_iso1(dataset.src_lang)}", dataset.name, predicted,
                          [str(position[i]) for i in range(len(predicted))])
        for task_id, pairs in self.mined.items():
            task = self.tasks[task_id]
            codes = [to_iso1(code) for code in task.pair.split("-")]
            language = codes[0] if codes[-1] == "en" else "-".join(codes)
            gold = task.splits[1].gold
            self._add(files, f"bucc2018/test-{language}", task.name, [f"{s}\t{t}" for s, t in sorted(pairs)],
                      [f"{s}\t{t}" for s, t in sorted(gold)] if gold else None)
        for name, (predicted, gold) in files.items():
            for kind, lines in (("predictions", predicted), ("labels", gold)):
                if lines is not None:
                    path = os.path.join(root, kind, f"{name}.tsv")
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w", encoding="utf-8") as handle:
                        handle.write("".join(line + "\n" for line in lines))
        return sorted(files)

    @staticmethod
    def _add(files: dict, name: str, source: str, predicted: list[str], gold: list[str] | None) -> None:
        if name in files:
            log.warning("%s: %s.tsv is taken by another evaluation set of the same language; this set's "
                        "predictions are left out of the XTREME submission", source, name)
            return
        files[name] = (predicted, gold)

    def _heatmap(self, out_dir: str) -> str | None:
        sets = self.data.sets if self.data is not None else []
        options = self.module.scorer.options
        chosen = options.heatmap_set
        if chosen is None:
            return None
        if isinstance(chosen, str):
            dataset = next((s for s in sets if s.name == chosen), None)
        else:
            dataset = sets[chosen] if -len(sets) <= chosen < len(sets) else None
        if dataset is None:
            if sets:  # a set renamed or left out since the config named it
                log.warning("No heatmap: model.evaluation.heatmap_set %r names none of the evaluation sets (%s); name "
                            "one of them, or set heatmap_set: null", chosen, ", ".join(s.name for s in sets))
            return None
        if not -len(dataset.items) <= options.heatmap_pair < len(dataset.items):
            log.warning("No heatmap: model.evaluation.heatmap_pair is %d but set %s has %d pairs",
                        options.heatmap_pair, dataset.name, len(dataset.items))
            return None
        from veco_lightning.evaluation.datasets import collate_bitext
        from veco_lightning.evaluation.scorer import word_similarities

        i = options.heatmap_pair
        batch = collate_bitext([dataset.items[i]], self.data.pad_id, 0)["bitext"]
        device = self.module.device
        sides = [{k: v.to(device) for k, v in batch[side].items()} for side in ("src", "tgt")]
        with torch.no_grad():
            *_, sims, present_src, present_tgt = word_similarities(self.module.encode_layer, sides[0], sides[1],
                                                                   options.word_pooling)
        src_words = [dataset.src_texts[i][a:b] for a, b in dataset.words[0][i]]
        tgt_words = [dataset.tgt_texts[i][a:b] for a, b in dataset.words[1][i]]
        n, m = len(src_words), len(tgt_words)
        present = (present_src[0, :n, None] & present_tgt[0, None, :m]).cpu()  # (n, m)
        matrix = sims[0, :n, :m].cpu()
        # The links the AER counts: absent words at -inf and never linked, as in CrossLingualScorer.update.
        links = {(a, b) for a, b in self.module.scorer.align(matrix.masked_fill(~present, float("-inf")))
                 if present[a, b]}
        layer = f"layer {options.layer}" + (" (from the top)" if options.layer < 0 else "")
        return plot_similarity_heatmap(
            matrix.masked_fill(~present, float("nan")), src_words, tgt_words,
            os.path.join(out_dir, f"word_similarity_{dataset.name}_{i}.png"),
            f"{dataset.name}, pair {i}: word similarity at {layer}", links=links, method=options.alignment,
            languages=(dataset.src_lang, dataset.tgt_lang),
        )

    def _to_logger(self, paths: Mapping[str, str]) -> None:
        """Every picture to every logger that takes images: TensorBoard's ``add_image``, Weights & Biases'
        ``log_image``, MLflow's run artifacts (``<stage>/step-<step>/<file>.png``)."""
        loggers = [lg for lg in getattr(self.module, "loggers", None) or [getattr(self.module, "logger", None)]
                   if lg is not None]
        pictures = {f"{self.stage}/{key}": path for key, path in paths.items() if path.endswith(".png")}
        if not pictures:
            return
        from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

        step = self.module.global_step
        image_of: dict[str, Any] = {}
        for logger in loggers:
            if isinstance(logger, WandbLogger):
                for key, path in pictures.items():
                    logger.log_image(key=key, images=[path], step=step)
            elif isinstance(logger, MLFlowLogger):
                for path in pictures.values():
                    logger.experiment.log_artifact(logger.run_id, path, f"{self.stage}/step-{step}")
            elif callable(getattr(getattr(logger, "experiment", None), "add_image", None)):
                import matplotlib.image

                for key, path in pictures.items():
                    if key not in image_of:
                        image_of[key] = matplotlib.image.imread(path)[..., :3]  # (H, W, 3), RGBA without alpha
                    logger.experiment.add_image(key, image_of[key], step, dataformats="HWC")
