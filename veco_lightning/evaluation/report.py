"""Evaluation reports: a JSON file, a Markdown table per metric, and pictures."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import torch

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


def with_averages(results: Results) -> Results:
    """Add an ``average`` row to each metric: the unweighted mean over sets, as XTREME averages languages."""
    out: Results = {}
    for metric, per_set in results.items():
        rows = {name: figures for name, figures in per_set.items() if name != "average"}
        keys = {k for figures in rows.values() for k in figures}
        average = {}
        for key in sorted(keys):
            values = [figures[key] for figures in rows.values() if key in figures and not math.isnan(figures[key])]
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


def write_report(results: Results, out_dir: str, metadata: dict[str, Any] | None = None) -> dict[str, str]:
    """Write ``results.json`` and ``results.md`` (and a bar chart of retrieval accuracy) into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    results = with_averages(results)
    paths = {"json": os.path.join(out_dir, "results.json"), "markdown": os.path.join(out_dir, "results.md")}
    with open(paths["json"], "w", encoding="utf-8") as handle:
        json.dump({"metadata": metadata or {}, "results": results}, handle, indent=2, ensure_ascii=False)
    header = "# Cross-lingual evaluation\n\n" + "".join(f"- {k}: {v}\n" for k, v in (metadata or {}).items())
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write(header + "\n" + markdown_tables(results))
    if "retrieval" in results:
        paths["bars"] = plot_accuracy_bars(results["retrieval"], os.path.join(out_dir, "retrieval_accuracy.png"))
    return paths


def plot_accuracy_bars(per_set: dict[str, dict[str, float]], path: str, title: str = "Sentence retrieval"):
    """Grouped bars of top-1 accuracy per set, both directions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in per_set if n != "average"] + (["average"] if "average" in per_set else [])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(names) + 2), 3.8))
    width = 0.4
    for offset, (key, label) in zip((-width / 2, width / 2), _COLUMNS["retrieval"][:2]):
        values = [100 * per_set[n].get(key, float("nan")) for n in names]
        ax.bar([i + offset for i in range(len(names))], values, width, label=label)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("top-1 accuracy (%)")
    shown = [100 * v[k] for v in per_set.values() for k in ("src2tgt", "tgt2src") if k in v and v[k] == v[k]]
    top = max(shown + [0.0])
    ax.set_ylim(0, 100 if top > 50 else max(5.0, 1.2 * top))
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_similarity_heatmap(
    sims: torch.Tensor, src_words: Sequence[str], tgt_words: Sequence[str], path: str, title: str = ""
) -> str:
    """Cosine similarity between the words of a sentence pair, with the mutual-argmax alignment marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from veco_lightning.evaluation.alignment import argmax_alignment

    matrix = sims.detach().float().cpu()
    fig, ax = plt.subplots(figsize=(0.45 * len(tgt_words) + 2.5, 0.4 * len(src_words) + 1.8))
    image = ax.imshow(matrix.numpy(), cmap="viridis", vmin=float(matrix.min()), vmax=float(matrix.max()))
    for i, j in argmax_alignment(matrix):
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5))
    ax.set_xticks(range(len(tgt_words)), tgt_words, rotation=60, ha="right")
    ax.set_yticks(range(len(src_words)), src_words)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


class EvaluationReporter:
    """Turns the scorer's results (by set id) into logged metrics and, after ``test``, into report files.

    Set names and mining tasks come from the evaluation datamodule of the trainer (an
    :class:`~veco_lightning.evaluation.datamodule.EvaluationDataModule` alone or inside the composite); logged keys
    are ``<stage>/<metric>/<set>/<figure>``, e.g. ``val/retrieval/deu-eng/src2tgt``, and
    ``<stage>/<metric>/average/...``.
    """

    _NOT_LOGGED = ("pairs", "word_pairs", "threshold")

    def __init__(self, module: Any, stage: str) -> None:
        from veco_lightning.evaluation.datamodule import evaluation_data

        self.module = module
        self.stage = stage
        self.data = evaluation_data(getattr(module.trainer, "datamodule", None))
        self.names = self.data.set_names if self.data is not None else []
        self.tasks = self.data.mining_sets if self.data is not None else []

    def _name(self, set_id: int) -> str:
        return self.names[set_id] if set_id < len(self.names) else f"set{set_id}"

    def _score_mining(self, embeddings: dict[tuple[int, int, int], torch.Tensor]) -> dict[int, dict[str, float]]:
        """BUCC protocol per task: margin candidates on dev and test, threshold maximising dev F1, test figures."""
        from veco_lightning.evaluation.bitext_mining import evaluate_mining, mine_candidates

        tasks = self.tasks
        k = self.module.scorer.options.margin_k
        scores = {}
        for task_id in sorted({key[0] for key in embeddings}):
            splits = []
            for split_id in (0, 1):
                src, trg = embeddings.get((task_id, split_id, 0)), embeddings.get((task_id, split_id, 1))
                if src is None or trg is None:
                    break
                splits.append((mine_candidates(src, trg, k=k), tasks[task_id].gold_indices(split_id)))
            if len(splits) == 2:
                found = evaluate_mining(*splits)
                scores[task_id] = {"f1": found["test_f1"], "precision": found["test_precision"],
                                   "recall": found["test_recall"], "dev_f1": found["dev_f1"],
                                   "threshold": found["threshold"]}
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
                    if key not in self._NOT_LOGGED:
                        # Values come from metrics already synchronised across ranks.
                        self.module.log(f"{self.stage}/{metric}/{name}/{key}", float(value), rank_zero_only=True)
        return results

    def write(self, results: Results) -> None:
        trainer = self.module.trainer
        if not results or not trainer.is_global_zero:
            return
        options = self.module.scorer.options
        out_dir = options.report_dir or os.path.join(trainer.log_dir or trainer.default_root_dir, "eval")
        metadata = {"layer": options.layer, "pooling": options.pooling, "margin": options.margin,
                    "alignment": options.alignment, "word_pooling": options.word_pooling,
                    "encoder": self.module.hparams.get("encoder")}
        paths = write_report(results, out_dir, {k: str(v) for k, v in metadata.items()})
        heatmap = self._heatmap(out_dir)
        if heatmap:
            paths["heatmap"] = heatmap
        self._to_logger(paths)
        print(markdown_tables(results))
        print(f"Evaluation report written to {os.path.abspath(paths['markdown'])}")

    def _heatmap(self, out_dir: str) -> str | None:
        sets = self.data.sets if self.data is not None else []
        if not sets:
            return None
        options = self.module.scorer.options
        chosen = options.heatmap_set
        dataset = next((s for s in sets if s.name == chosen), None) if isinstance(chosen, str) else sets[chosen]
        if dataset is None or options.heatmap_pair >= len(dataset.items):
            return None
        from veco_lightning.evaluation.datasets import collate_bitext
        from veco_lightning.evaluation.scorer import word_similarities

        item = dataset.items[options.heatmap_pair]
        batch = collate_bitext([item], self.data.pad_id, 0)["bitext"]
        device = self.module.device
        sides = [{k: v.to(device) for k, v in batch[side].items()} for side in ("src", "tgt")]
        with torch.no_grad():
            *_, sims, _, _ = word_similarities(self.module.encode_layer, sides[0], sides[1], options.word_pooling)
        i = options.heatmap_pair
        src_words = [dataset.src_texts[i][a:b] for a, b in dataset.words[0][i]]
        tgt_words = [dataset.tgt_texts[i][a:b] for a, b in dataset.words[1][i]]
        matrix = sims[0, : len(src_words), : len(tgt_words)]
        path = os.path.join(out_dir, f"word_similarity_{dataset.name}_{i}.png")
        title = f"{dataset.name} pair {i}, layer {options.layer}"
        return plot_similarity_heatmap(matrix, src_words, tgt_words, path, title)

    def _to_logger(self, paths: dict[str, str]) -> None:
        experiment = getattr(self.module.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_image"):
            return
        import matplotlib.image

        for key in ("bars", "heatmap"):
            if key in paths:
                image = matplotlib.image.imread(paths[key])[..., :3]
                experiment.add_image(f"{self.stage}/{key}", image, self.module.global_step, dataformats="HWC")
