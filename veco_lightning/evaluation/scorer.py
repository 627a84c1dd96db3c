"""Scoring an encoder on aligned pairs: sentence retrieval, synonym retrieval and word alignment in one pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from veco_lightning.evaluation.alignment import alignment_counts, argmax_alignment, itermax_alignment
from veco_lightning.evaluation.metrics import (
    AlignmentErrorRate,
    BitextRetrievalAccuracy,
    EmbeddingCollector,
    SynonymRetrievalAccuracy,
)
from veco_lightning.models.pooling import WordPooling, pool_sentences, pool_words

Encode = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class EvaluationOptions:
    """How an encoder is scored (XTREME protocols).

    Args:
        layer: hidden layer to read: 0 is the embedding output, ``l`` the output of layer ``l``, negative counts
            from the top. Middle layers retrieve best: XTREME used layer 14 of 24 for XLM-R large, VECO layer 19.
        pooling: sentence vector: ``mean`` over real tokens (mask-aware) or the ``cls`` (``<s>``) state; or
            ``sentence_transformers``: the embedding of the sentence-transformers model given as the encoder
            (``model.encoder.path``), made as its own modules make it (its ``Pooling`` mode, then its ``Dense``
            layers and ``Normalize``; LaBSE's CLS and ``tanh`` projection), of the states of ``layer`` (its
            ``Transformer`` gives the last: -1).
        margin: score retrieval with the ratio margin (Artetxe & Schwenk, 2019) instead of cosine.
        margin_k: neighbourhood size of the margin.
        word_pooling: word vector: ``mean`` of its sub-word states or the ``first`` one.
        alignment: word alignment from the similarity matrix: ``argmax`` (mutual argmax) or ``itermax`` (SimAlign).
        report_dir: where ``test`` writes ``results.json``, ``results.md`` and plots (default: ``<log_dir>/eval``).
        predictions_dir: where ``test`` writes the retrieval tasks in XTREME's submission layout, for
            ``veco-xtreme score``: ``predictions/tatoeba/test-<lang>.tsv`` (for each Tatoeba set, the English
            sentence every xx sentence retrieves, by its line in the English file XTREME's preprocessing writes,
            LASER's lines sorted by their text) and ``predictions/bucc2018/test-<lang>.tsv`` (the pairs mined on the
            test split at the dev threshold), and their gold under ``labels/`` where it is known (default:
            ``<report_dir>/xtreme``).
        heatmap_set: evaluation set (name or position) whose pair ``heatmap_pair`` is drawn as a word-similarity
            heatmap; ``None``: none is drawn.
        heatmap_pair: pair index within that set.
    """

    layer: int = -1
    pooling: Literal["mean", "cls", "sentence_transformers"] = "mean"
    margin: bool = False
    margin_k: int = 4
    word_pooling: WordPooling = "mean"
    alignment: Literal["argmax", "itermax"] = "argmax"
    report_dir: str | None = None
    predictions_dir: str | None = None
    heatmap_set: str | int | None = 0
    heatmap_pair: int = 0


torch.serialization.add_safe_globals([EvaluationOptions])  # weights_only checkpoints keep it in hyper-parameters


def word_similarities(
    encode: Encode, side_a: dict[str, torch.Tensor], side_b: dict[str, torch.Tensor], word_pooling: WordPooling
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sentence states, and cosine similarities between the words of paired sentences.

    Returns:
        ``(hidden_a (B, La, D), hidden_b (B, Lb, D), sims (B, Wa, Wb), present_a (B, Wa), present_b (B, Wb))``.
    """
    hidden_a = encode(side_a["input_ids"], side_a["attention_mask"])
    hidden_b = encode(side_b["input_ids"], side_b["attention_mask"])
    num_a = max(1, int(side_a["num_words"].max()))
    num_b = max(1, int(side_b["num_words"].max()))
    words_a, present_a = pool_words(hidden_a.float(), side_a["word_index"], num_a, word_pooling)  # (B, Wa, D)
    words_b, present_b = pool_words(hidden_b.float(), side_b["word_index"], num_b, word_pooling)  # (B, Wb, D)
    sims = F.normalize(words_a, dim=-1) @ F.normalize(words_b, dim=-1).transpose(1, 2)  # (B, Wa, Wb)
    return hidden_a, hidden_b, sims, present_a, present_b


class CrossLingualScorer(nn.Module):
    """Holds the evaluation metrics and feeds them from batches of aligned pairs (``collate_bitext`` output)."""

    def __init__(self, options: EvaluationOptions | None = None) -> None:
        super().__init__()
        self.options = options or EvaluationOptions()
        self.retrieval = BitextRetrievalAccuracy(margin=self.options.margin, k=self.options.margin_k)
        self.synonym = SynonymRetrievalAccuracy()
        self.alignment = AlignmentErrorRate()
        self.mining = EmbeddingCollector()
        # pooling "sentence_transformers": the model's own head (set_sentence_head), kept out of the module's
        # parameters and state (it is read from the encoder's folder, never trained or checkpointed)
        self.__dict__["_sentence_head"] = None

    def set_sentence_head(self, head: nn.Module | None) -> None:
        """The :class:`~veco_lightning.models.sentence_head.SentenceHead` that makes sentence vectors when
        ``pooling`` is ``sentence_transformers``."""
        self.__dict__["_sentence_head"] = head

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` token states -> ``(B, D')`` sentence vectors, as ``options.pooling`` says."""
        if self.options.pooling != "sentence_transformers":
            return pool_sentences(hidden, attention_mask, self.options.pooling)
        head = self.__dict__["_sentence_head"]
        if head is None:
            raise RuntimeError("pooling is sentence_transformers but no sentence head was loaded (set_sentence_head)")
        return head.to(hidden.device)(hidden, attention_mask)

    @torch.no_grad()
    def update_mining(self, batch: dict[str, Any], encode: Encode) -> None:
        """Sentence embeddings of a batch of mining (BUCC) sentences, tagged by task, split and side."""
        hidden = encode(batch["input_ids"], batch["attention_mask"])
        vectors = self.pool(hidden, batch["attention_mask"])
        self.mining.update(batch["key"], batch["index"], vectors)

    @torch.no_grad()
    def update(self, batch: dict[str, Any], encode: Encode) -> None:
        src, tgt = batch["src"], batch["tgt"]
        hidden_src, hidden_tgt, sims, present_src, present_tgt = word_similarities(
            encode, src, tgt, self.options.word_pooling
        )
        self.retrieval.update(
            batch["set_id"], batch["index"],
            self.pool(hidden_src, src["attention_mask"]),
            self.pool(hidden_tgt, tgt["attention_mask"]),
        )
        sims = sims.masked_fill(~present_src.unsqueeze(2), float("-inf"))
        sims = sims.masked_fill(~present_tgt.unsqueeze(1), float("-inf"))  # absent words never win
        if (batch["synonyms"] >= 0).any():
            self.synonym.update(batch["set_id"], batch["index"], self._synonym_counts(sims, batch["synonyms"]))
        if batch.get("gold") is not None:
            counts = []
            for row, (sure, possible) in enumerate(batch["gold"]):
                n, m = int(src["num_words"][row]), int(tgt["num_words"][row])
                present = (present_src[row, :n], present_tgt[row, :m])
                predicted = {(i, j) for i, j in self.align(sims[row, :n, :m]) if present[0][i] and present[1][j]}
                counts.append(alignment_counts([predicted], [sure], [possible]))
            self.alignment.update(batch["set_id"], batch["index"], torch.tensor(counts, dtype=torch.float64))

    def align(self, sims: torch.Tensor) -> set[tuple[int, int]]:
        """Word alignment from a ``(n, m)`` cosine matrix (absent words at -inf), on SimAlign's (cos + 1) / 2 scale."""
        sims = ((sims + 1) / 2).nan_to_num(neginf=0.0).clamp(min=0.0)
        if self.options.alignment == "itermax":
            return itermax_alignment(sims)
        return argmax_alignment(sims)

    @staticmethod
    def _synonym_counts(sims: torch.Tensor, synonyms: torch.Tensor) -> torch.Tensor:
        """``(B, 3)``: hits src->tgt, hits tgt->src, number of word pairs, per pair of sentences."""
        valid = synonyms[..., 0] >= 0  # (B, P)
        a, b = synonyms[..., 0].clamp(min=0), synonyms[..., 1].clamp(min=0)  # (B, P)
        rows = torch.arange(sims.shape[0], device=sims.device).unsqueeze(1)  # (B, 1)
        best_tgt = sims.argmax(dim=2)[rows, a]  # (B, P): the target word src word a retrieves
        best_src = sims.argmax(dim=1)[rows, b]  # (B, P): the source word tgt word b retrieves
        hits_st = ((best_tgt == b) & valid).sum(dim=1)
        hits_ts = ((best_src == a) & valid).sum(dim=1)
        return torch.stack([hits_st, hits_ts, valid.sum(dim=1)], dim=1).to(torch.float64)

    def compute(self) -> dict[str, dict[int, dict[str, float]]]:
        """Results per metric and set id (for ``mining``: the gathered embeddings), then resets the metrics.
        Metrics that saw no data are left out."""
        results = {}
        for name in ("retrieval", "synonym", "alignment", "mining"):
            metric = getattr(self, name)
            if metric.update_count:
                results[name] = metric.compute()
            metric.reset()
        return results
