"""Extractive question answering (XQuAD, MLQA, TyDiQA-GoldP; SQuAD v1.1 JSON).

Contexts longer than the window are read in overlapping windows, as XTREME's baseline (the legacy SQuAD script) does:
``<s> question </s></s> context[start : start + room] </s>`` with ``room = max_length - len(question) - 4`` and
consecutive windows ``doc_stride`` tokens apart. Answer spans are mapped to tokens through the tokenizer's character
offsets (never by re-tokenising the answer text, which shifts spans in scripts without spaces); in training, a window
that does not hold the whole answer points at ``<s>``. A prediction is the best-scoring span over all windows of a
question among the ``n_best`` top start and end positions, at most ``max_answer_length`` tokens long, starting at a
token that has its maximal context in that window; its text is the context's characters between the span's
offsets. One answer per question id.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from transformers import XLMRobertaForQuestionAnswering

from veco_lightning.data.tokenizer import special_template
from veco_lightning.tasks.base import XtremeTask, mean_scores
from veco_lightning.tasks.datamodule import TaskDataModule, TaskSet
from veco_lightning.tasks.formats import (
    QAExample,
    flat_question,
    read_squad,
    squad_examples,
    tydiqa_language,
    write_qa_predictions,
    write_squad,
)
from veco_lightning.tasks.metrics import mlqa_set_languages, qa_scores, question_context_languages

log = logging.getLogger(__name__)


def window_starts(length: int, room: int, stride: int) -> list[int]:
    """Start tokens of the windows over a context of ``length`` tokens (the legacy SQuAD loop)."""
    starts, start = [], 0
    while True:
        starts.append(start)
        if start + min(length - start, room) >= length:
            return starts
        start += min(length - start, room, stride)


def max_context(position: int, windows: list[tuple[int, int]], current: int) -> bool:
    """Whether token ``position`` has its maximal context in window ``current`` among the ``(start, length)`` windows
    holding it: score ``min(left, right) + 0.01 * length`` (BERT's ``_check_is_max_context``)."""
    best, best_score = None, None
    for w, (start, length) in enumerate(windows):
        if not start <= position < start + length:
            continue
        score = min(position - start, start + length - 1 - position) + 0.01 * length
        if best_score is None or score > best_score:
            best, best_score = w, score
    return best == current


class QASet(TaskSet):
    """One SQuAD-format file: questions, their contexts' windows and the character offsets of every context token."""

    def __init__(self, examples: list[QAExample], language: str, path: str, tokenizer, max_length: int = 384,
                 doc_stride: int = 128, max_query_length: int = 64, train: bool = False) -> None:
        self.path, self.language, self.examples = path, language, examples
        template = special_template(tokenizer, pair=True)  # <s> q </s></s> context </s>, [CLS] q [SEP] context [SEP]
        contexts = list(dict.fromkeys(e.context for e in self.examples))
        context_tokens = dict(zip(contexts, tokenizer(contexts, add_special_tokens=False,
                                                      return_offsets_mapping=True)["input_ids"]))
        context_offsets = dict(zip(contexts, tokenizer(contexts, add_special_tokens=False,
                                                       return_offsets_mapping=True)["offset_mapping"]))
        questions = tokenizer([e.question for e in self.examples], add_special_tokens=False)["input_ids"]
        self.features: list[dict[str, Any]] = []
        outside = 0
        for e, (example, question) in enumerate(zip(self.examples, questions)):
            question = question[:max_query_length]
            ids, offsets = context_tokens[example.context], context_offsets[example.context]
            room = max_length - len(question) - template.specials
            starts = window_starts(len(ids), room, doc_stride)
            windows = [(start, min(len(ids) - start, room)) for start in starts]
            answer = example.answers[0] if example.answers else None
            for w, (start, length) in enumerate(windows):
                first = len(template.prefix) + len(question) + len(template.middle)  # the window's first token
                input_ids, token_types = template.fill(question, ids[start : start + length])
                feature = {"index": len(self.features), "example": e, "first": first, "start": start,
                           "input_ids": input_ids, "offsets": offsets[start : start + length],
                           "max_context": [max_context(start + k, windows, w) for k in range(length)]}
                if template.token_types:
                    feature["token_type_ids"] = token_types
                if train and answer is not None:
                    span = self._answer_tokens(offsets, answer, start, length)
                    outside += span == (0, 0)
                    feature["start_positions"], feature["end_positions"] = (
                        (first + span[0] - start, first + span[1] - start) if span != (0, 0) else (0, 0))
                self.features.append(feature)
        if train and outside:
            log.info("%s: %d of %d training windows do not hold their answer (trained to point at <s>)", path,
                     outside, len(self.features))

    @staticmethod
    def _answer_tokens(offsets: list[tuple[int, int]], answer: tuple[str, int], start: int,
                       length: int) -> tuple[int, int]:
        """Context token range (first, last) of an answer when the window ``[start, start + length)`` holds all of
        it, else ``(0, 0)``; found from the characters' offsets."""
        text, char_start = answer
        char_end = char_start + len(text)
        tokens = [k for k, (a, b) in enumerate(offsets) if b > char_start and a < char_end and b > a]
        if not tokens or tokens[0] < start or tokens[-1] >= start + length:
            return 0, 0
        return tokens[0], tokens[-1]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        feature = self.features[i]
        return {k: feature[k] for k in ("index", "input_ids", "token_type_ids", "start_positions", "end_positions")
                if k in feature}

    def decode(self, outputs: dict[int, tuple], max_answer_length: int = 30, **options: Any) -> dict[str, str]:
        """``{question id: answer text}`` from each window's top start and end positions and their logits."""
        best: dict[int, tuple[float, str]] = {}
        for i, feature in enumerate(self.features):
            if i not in outputs:
                raise ValueError(f"{self.path}: window {i} of question {self.examples[feature['example']].id} got no "
                                 "prediction")
            starts, start_logits, ends, end_logits = outputs[i]
            first, length = feature["first"], len(feature["offsets"])
            for s, s_logit in zip(starts, start_logits):
                if not first <= s < first + length or not feature["max_context"][s - first]:
                    continue
                for e, e_logit in zip(ends, end_logits):
                    if not s <= e < first + length or e - s + 1 > max_answer_length:
                        continue
                    score = s_logit + e_logit
                    held = best.get(feature["example"])
                    if held is None or score > held[0]:
                        context = self.examples[feature["example"]].context
                        text = context[feature["offsets"][s - first][0] : feature["offsets"][e - first][1]].strip()
                        best[feature["example"]] = (score, text)
        return {example.id: best.get(e, (0.0, ""))[1] for e, example in enumerate(self.examples)}

    @property
    def references(self) -> dict[str, list[str]] | None:
        if any(not e.answers for e in self.examples):
            return None
        return {e.id: [text for text, _ in e.answers] for e in self.examples}


class QADataModule(TaskDataModule):
    """SQuAD v1.1 JSON files (XQuAD, MLQA, TyDiQA-GoldP; see :func:`veco_lightning.tasks.formats.read_squad`).

    Args:
        doc_stride: tokens between the starts of consecutive context windows (XTREME: 128).
        max_query_length: questions are cut to this many tokens (XTREME: 64).
        on_bad_answer: an answer whose ``answer_start`` does not point at its text: ``error`` (naming the question
            id), ``repair`` (the nearest occurrence of the text, counted) or ``skip`` (counted).
        exclude_train_questions: leave out test questions whose id is a training question's (parallel sets such as
            XQuAD and MLQA share ids across languages: training on one language's copy leaks into the others').
        labelled_test: the test files carry answers (``false``: predictions only, e.g. a test copy whose answers
            were removed).
        max_length: tokens per window (XTREME: 384).
        **kwargs: the arguments of :class:`~veco_lightning.tasks.datamodule.TaskDataModule`.
    """

    predictions_in_file_order = False  # answers are written by question id

    def __init__(self, doc_stride: int = 128, max_query_length: int = 64, on_bad_answer: str = "error",
                 exclude_train_questions: bool = True, labelled_test: bool = True, max_length: int = 384,
                 **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)
        self.labelled_test = labelled_test
        self.exclude_train_questions = exclude_train_questions
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length
        self.on_bad_answer = on_bad_answer

    def read(self, path: str, language: str | None = None) -> list[QAExample]:
        labelled = self.labelled_test or path not in self._test_paths
        examples = read_squad(path, labelled=labelled, on_bad_answer=self.on_bad_answer,
                              on_bad_example=self.on_bad_line)
        return tydiqa_language(examples, language, path)  # a TyDiQA file of several languages: the one given

    def from_rows(self, rows, spec: str, language: str | None = None) -> list[QAExample]:
        """Hub rows in SQuAD's layout: ``id``, ``title``, ``context``, ``question``, ``answers`` (``text`` and
        ``answer_start`` lists), checked as files are (:func:`~veco_lightning.tasks.formats.squad_examples`)."""
        missing = {"id", "context", "question"} - set(rows.column_names)
        if missing:
            raise ValueError(f"{spec}: missing SQuAD columns {sorted(missing)} (found {rows.column_names})")
        labelled = self.labelled_test or spec not in self.test_files.values()
        questions = (flat_question(spec, k + 1, row) for k, row in enumerate(rows))
        return tydiqa_language(squad_examples(spec, questions, labelled, self.on_bad_answer, self.on_bad_line),
                               language, spec)

    def group_of(self, example: QAExample) -> str:
        return example.context  # dev_split holds out whole paragraphs

    def build(self, examples: list[QAExample], language: str, split: str, path: str) -> QASet:
        if split == "test" and self.exclude_train_questions and self.train_files:
            trained = {e.id for e in self._read_all(self.train_files)}
            kept = [e for e in examples if e.id not in trained]
            if examples and not kept:
                raise ValueError(f"{path}: every one of its {len(examples)} questions has the id of a training "
                                 "question (a translation of the training set, as XQuAD's languages are of each "
                                 "other), so none is left to test: test on another set, or keep them with "
                                 "data.exclude_train_questions: false")
            if len(kept) < len(examples):
                log.warning("%s: %d of %d test questions share an id with a training question and are left out",
                            path, len(examples) - len(kept), len(examples))
            examples = kept
        return QASet(examples, language, path, self.tokenizer, self.max_length, self.doc_stride,
                     self.max_query_length, train=split == "train")


class QuestionAnsweringTask(XtremeTask):
    """Extractive QA scored with SQuAD v1.1 exact match and F1 (XQuAD, TyDiQA) or MLQA's language-specific
    normalisation (MLQA). XTREME keeps the last model (no selection on a development set).

    Args:
        n_best: top start and end positions per window searched for the best span (XTREME: 20).
        max_answer_length: longest answer in tokens (XTREME: 30).
        **kwargs: the arguments of :class:`~veco_lightning.tasks.base.XtremeTask` (learning rate 3e-5 here).
    """

    model_class = XLMRobertaForQuestionAnswering
    metric = "f1"
    metric_selects_checkpoint = False
    suffix = "json"

    def __init__(self, encoder: str, task: str = "xquad", n_best: int = 20, max_answer_length: int = 30,
                 learning_rate: float = 3e-5, **kwargs: Any) -> None:
        super().__init__(encoder, task, learning_rate=learning_rate, **kwargs)
        self.n_best = n_best
        self.max_answer_length = max_answer_length

    def outputs(self, batch: dict[str, torch.Tensor], result: Any) -> dict[int, tuple]:
        mask = batch["attention_mask"].bool()
        start = result.start_logits.float().masked_fill(~mask, float("-inf"))  # (B, L)
        end = result.end_logits.float().masked_fill(~mask, float("-inf"))
        k = min(self.n_best, start.shape[1])
        top_start, top_end = start.topk(k, dim=1), end.topk(k, dim=1)
        return {int(i): (top_start.indices[row].tolist(), top_start.values[row].tolist(),
                         top_end.indices[row].tolist(), top_end.values[row].tolist())
                for row, i in enumerate(batch["index"])}

    def setup(self, stage: str) -> None:
        super().setup(stage)
        datamodule = getattr(self._trainer, "datamodule", None)
        if self.task == "mlqa" and datamodule is not None:  # before fine-tuning, not at its end when scoring
            for files in (getattr(datamodule, "test_files", {}), getattr(datamodule, "dev_files", None) or {}):
                for name, path in files.items():
                    mlqa_set_languages(name, path)

    def score(self, dataset: QASet, predictions: dict[str, str]) -> dict[str, float]:
        language = mlqa_set_languages(dataset.language, dataset.path)[0] if self.task == "mlqa" else dataset.language
        return qa_scores(predictions, dataset.references, task=self.task, language=language)

    def averages(self, scores: dict[str, dict[str, float]], datasets: dict[str, QASet]) -> dict[str, float]:
        """With sets whose questions are in another language than their contexts (G-XLT; named as MLQA's files,
        ``context-de-question-en``, by their key or file): ``avg_<metric>`` over the other sets (XTREME's score; none
        when there are none), ``gxlt_avg_<metric>`` over every set tested."""
        def cross(name: str) -> bool:
            path = os.path.basename(datasets[name].path)
            languages = question_context_languages(name) or question_context_languages(path)
            return languages is not None and languages[0] != languages[1]

        crossed = {name for name in scores if cross(name)}
        if not crossed:
            return super().averages(scores, datasets)
        same = {name: s for name, s in scores.items() if name not in crossed}
        return {**mean_scores(same, "avg_"), **mean_scores(scores, "gxlt_avg_")}

    def decode_options(self) -> dict[str, Any]:
        return {"max_answer_length": self.max_answer_length}

    def write(self, path: str, predictions: dict[str, str]) -> None:
        write_qa_predictions(path, predictions)

    def write_labels(self, path: str, dataset: QASet) -> None:
        """QA labels are SQuAD v1.1 JSON: the test file's questions, contexts and answers."""
        write_squad(path, dataset.examples)
