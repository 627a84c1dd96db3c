"""The report's pictures: grouped bars of sentence and synonym retrieval accuracy (both directions) and of
bitext-mining F1, precision and recall, and a word-similarity heatmap of one sentence pair with the links the alignment
error rate is computed from.

Labels in any script are drawn with an installed font that has their glyphs, or spelled as code points where none has
(see :mod:`veco_lightning.evaluation.fonts`). Matplotlib 3.11 and later shape Arabic and Devanagari (joined letters,
right to left); older versions draw their letters unjoined.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence

import torch

from veco_lightning.evaluation.fonts import readable_labels

_DIRECTIONS = [("src2tgt", "source → target"), ("tgt2src", "target → source")]
_SETS = "evaluation set (source-target)"
# metric -> (file, title, bars, y axis, x axis): the bar charts of a report, each drawn where its metric was scored.
_BAR_CHARTS = {
    "retrieval": ("retrieval_accuracy.png", "Sentence retrieval", _DIRECTIONS, "top-1 accuracy (%)", _SETS),
    "synonym": ("synonym_accuracy.png", "Synonym retrieval (dictionary word pairs within sentence pairs)",
                _DIRECTIONS, "top-1 accuracy (%)", _SETS),
    "mining": ("mining_f1.png", "Bitext mining (BUCC protocol, test split)",
               [("f1", "F1"), ("precision", "precision"), ("recall", "recall")], "F1, precision, recall (%)",
               "mining task"),
}
# What the heatmap's boxes are, per EvaluationOptions.alignment (see evaluation/alignment.py).
_LINK_CAPTIONS = {
    "argmax": "boxes: mutual best match, each word the other's most similar (the alignment the AER is computed from)",
    "itermax": "boxes: SimAlign IterMax, mutual best matches, then again among words left unaligned "
               "(the alignment the AER is computed from)",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(per_set: Mapping[str, Mapping[str, float]], columns: Sequence[tuple[str, str]], path: str, title: str,
              ylabel: str, xlabel: str = _SETS) -> str:
    """Grouped bars: one group per set (``average`` last), one bar per ``(figure, legend label)`` of ``columns``,
    values (fractions) drawn in %."""
    plt = _pyplot()
    names = [n for n in per_set if n != "average"] + (["average"] if "average" in per_set else [])
    families, texts, note = readable_labels([title, ylabel, xlabel, *names, *(label for _, label in columns)])
    (title, ylabel, xlabel), labels, legend = texts[:3], texts[3 : 3 + len(names)], texts[3 + len(names) :]
    with plt.rc_context({"font.family": families}):
        fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * len(columns) * len(names) + 3), 4.2), layout="constrained")
        width = 0.8 / len(columns)
        for c, ((key, _), label) in enumerate(zip(columns, legend)):
            values = [100 * v if (v := per_set[n].get(key)) is not None else math.nan for n in names]
            bars = ax.bar([i + (c - (len(columns) - 1) / 2) * width for i in range(len(names))], values, width,
                          label=label)
            if len(names) * len(columns) <= 36:
                ax.bar_label(bars, ["" if math.isnan(v) else f"{v:.0f}" for v in values], fontsize="x-small")
        ax.set_xticks(range(len(names)), labels, rotation=45 if len(names) > 3 else 0,
                      ha="right" if len(names) > 3 else "center")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        shown = [100 * v for f in per_set.values() for k, _ in columns if (v := f.get(k)) is not None and v == v]
        top = max(shown + [0.0])
        ax.set_ylim(0, 105 if top > 50 else max(5.0, 1.25 * top))
        ax.set_title(title)
        ax.legend(fontsize="small")
        if note:
            fig.supxlabel(note, fontsize="x-small")
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return path


def plot_accuracy_bars(per_set: Mapping[str, Mapping[str, float]], path: str, title: str = "Sentence retrieval"
                       ) -> str:
    """Grouped bars of top-1 accuracy per set, both directions."""
    return plot_bars(per_set, _DIRECTIONS, path, title, "top-1 accuracy (%)")


def plot_metric_bars(results: Mapping[str, Mapping[str, Mapping[str, float]]], out_dir: str) -> dict[str, str]:
    """A bar chart in ``out_dir`` for each metric of ``results`` that has bars and was scored (retrieval, synonym,
    mining); returns the path of each as ``<metric>_bars``."""
    paths = {}
    for metric, (name, title, columns, ylabel, xlabel) in _BAR_CHARTS.items():
        if results.get(metric):
            paths[f"{metric}_bars"] = plot_bars(results[metric], columns, os.path.join(out_dir, name), title, ylabel,
                                                xlabel)
    return paths


def plot_similarity_heatmap(
    sims: torch.Tensor, src_words: Sequence[str], tgt_words: Sequence[str], path: str, title: str = "", *,
    links: Iterable[tuple[int, int]] | None = None, method: str = "argmax",
    languages: tuple[str | None, str | None] = (None, None), value_label: str = "cosine similarity",
) -> str:
    """Cosine similarity between the words of a sentence pair, with the alignment the AER is computed from boxed.

    Args:
        sims: ``(n, m)`` similarities of source word ``i`` and target word ``j``; NaN for a pair that is not scored
            (a word with no token of its own), drawn grey.
        src_words, tgt_words: the words, in any script (see :func:`~veco_lightning.evaluation.fonts.label_fonts`).
        path: the PNG to write.
        title: the picture's title.
        links: the boxed ``(i, j)`` cells; by default the mutual arg-max of ``sims``.
        method: how ``links`` were found (``argmax`` or ``itermax``), explained under the picture.
        languages: ISO codes of the source and target words (axis labels, CJK font choice, text shaping).
        value_label: what the colour scale shows.
    """
    from veco_lightning.evaluation.alignment import argmax_alignment

    plt = _pyplot()
    from matplotlib import colormaps
    from matplotlib.patches import Patch

    matrix = sims.detach().float().cpu()
    scored = torch.isfinite(matrix)  # NaN: a word with no token of its own, never aligned nor scored
    links = sorted(argmax_alignment(matrix.nan_to_num(-2.0)) if links is None else links)
    src_lang, tgt_lang = languages
    axis_labels = [f"source words ({src_lang})" if src_lang else "source words",
                   f"target words ({tgt_lang})" if tgt_lang else "target words"]
    caption = _LINK_CAPTIONS.get(method, f"boxes: {method} alignment (the alignment the AER is computed from)")
    texts = [title, caption, value_label, *axis_labels, *src_words, *tgt_words]
    families, texts, note = readable_labels(texts, [lang for lang in languages if lang])
    title, caption, value_label, xlabel_src, xlabel_tgt = texts[:5]
    src_labels, tgt_labels = texts[5 : 5 + len(src_words)], texts[5 + len(src_words) :]
    n, m = matrix.shape
    width = max(5.5, 0.5 * m + 3.0)
    unscored = "" if scored.all() else "grey: a word with no token of its own (truncated or shared), not scored"
    legend = [({"fill": False, "edgecolor": "red", "linewidth": 1.8}, caption), ({"facecolor": "lightgrey"}, unscored),
              ({"alpha": 0.0}, note)]
    with plt.rc_context({"font.family": families}):
        fig, ax = plt.subplots(figsize=(width, max(4.0, 0.42 * n + 2.6)), layout="constrained")
        low, high = (float(matrix[scored].min()), float(matrix[scored].max())) if scored.any() else (0.0, 1.0)
        cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
        image = ax.imshow(matrix.numpy(), cmap=cmap, vmin=low, vmax=high if high > low else low + 1e-6)
        for i, j in links:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.8))
        if n * m <= 400:  # the value in each cell, while cells are large enough to read it
            middle = (low + high) / 2
            for i, j in scored.nonzero().tolist():
                value = float(matrix[i, j])
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if value > middle else "white")
        ax.set_xticks(range(m), tgt_labels, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(n), src_labels)
        for labels, lang in ((ax.get_yticklabels(), src_lang), (ax.get_xticklabels(), tgt_lang)):
            for label in labels:
                if lang and hasattr(label, "set_language"):  # matplotlib >= 3.11: regional forms, shaping
                    label.set_language(lang)
        ax.set_ylabel(xlabel_src)
        ax.set_xlabel(xlabel_tgt)
        ax.set_title(title)
        fig.colorbar(image, ax=ax, fraction=0.05, label=value_label)
        handles = [Patch(**style, label=textwrap.fill(text, int(10 * width))) for style, text in legend if text]
        fig.legend(handles=handles, loc="outside lower center", fontsize="small", frameon=False)
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return path

