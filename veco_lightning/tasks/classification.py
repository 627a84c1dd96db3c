"""Sentence and sentence-pair classification (XNLI, PAWS-X): the ``<s>`` state through XLM-R's classification head."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from transformers import XLMRobertaForSequenceClassification

from veco_lightning.tasks.base import XtremeTask
from veco_lightning.tasks.datamodule import TaskDataModule, TaskSet
from veco_lightning.tasks.formats import (
    XNLI_HF_INT_LABELS,
    ClassificationExample,
    classification_examples,
    read_classification,
    write_classification_labels,
    write_classification_predictions,
)
from veco_lightning.tasks.formats._common import BadLines
from veco_lightning.tasks.metrics import accuracy

# The label sets of XTREME's classification tasks, and what integer labels (JSON lines exports) stand for.
TASK_LABELS = {"xnli": ["contradiction", "entailment", "neutral"], "pawsx": ["0", "1"]}
INT_LABELS = {"xnli": XNLI_HF_INT_LABELS}


class ClassificationSet(TaskSet):
    """One classification file, tokenized in the tokenizer's layout (XLM-R ``<s> a </s></s> b </s>``, BERT
    ``[CLS] a [SEP] b [SEP]``) cut to ``max_length`` (longest side first)."""

    def __init__(self, examples: list[ClassificationExample], language: str, path: str, tokenizer, labels: list[str],
                 max_length: int) -> None:
        self.path, self.language, self.examples = path, language, examples
        self.label_ids = {label: i for i, label in enumerate(labels)}
        self.labels = labels
        pairs = all(e.text_b is not None for e in self.examples)
        texts_b = [e.text_b for e in self.examples] if pairs else None
        # The tokenizer's own pair layout, with the token types of a model that takes them (BERT's segments).
        encoded = tokenizer([e.text_a for e in self.examples], texts_b, truncation="longest_first",
                            max_length=max_length)
        types = encoded.get("token_type_ids") if "token_type_ids" in tokenizer.model_input_names else None
        self.features = [
            {"index": i, "input_ids": ids, "labels": self.label_ids[e.label] if e.label is not None else -100}
            for i, (ids, e) in enumerate(zip(encoded["input_ids"], self.examples))
        ]
        for feature, token_types in zip(self.features, types or ()):
            feature["token_type_ids"] = token_types

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.features[i]

    def decode(self, outputs: dict[int, int], **options: Any) -> list[str]:
        missing = len(self.examples) - len(outputs)
        if missing:
            raise ValueError(f"{self.path}: {missing} examples got no prediction")
        return [self.labels[outputs[i]] for i in range(len(self.examples))]

    @property
    def references(self) -> list[str] | None:
        if any(e.label is None for e in self.examples):
            return None
        return [e.label for e in self.examples]


class ClassificationDataModule(TaskDataModule):
    """XNLI / PAWS-X files (XTREME's TSV layout, the original TSV layouts, or JSON lines; see
    :func:`veco_lightning.tasks.formats.read_classification`).

    Args:
        task: ``xnli`` or ``pawsx`` (gives the label set), or any name with ``label_names``.
        label_names: the label set, for a task other than XNLI and PAWS-X.
        layout: the files' layout (``auto`` detects it).
        test_labels: language -> a labelled file whose labels, row by row, belong to that language's unlabelled test
            file (XTREME strips test labels; XNLI is 15-way parallel, so its English test labels label every language).
        **kwargs: the arguments of :class:`~veco_lightning.tasks.datamodule.TaskDataModule`.
    """

    def __init__(self, task: str = "xnli", label_names: list[str] | None = None, layout: str = "auto",
                 test_labels: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test_labels = dict(test_labels or {})
        if label_names is None and task not in TASK_LABELS:
            raise ValueError(f"Task {task!r} has no known label set: give label_names")
        self.task = task
        self.label_names = label_names or TASK_LABELS[task]
        self.layout = layout

    @property
    def labels(self) -> list[str]:
        return self.label_names

    def read(self, path: str, language: str | None = None) -> list[ClassificationExample]:
        # A file of several languages (the original XNLI 1.0 xnli.test.tsv) gives the rows of the one it is given for.
        return read_classification(path, labels=self.label_names, layout=self.layout, on_bad_line=self.policy(path),
                                   int_labels=INT_LABELS.get(self.task), default_language=language)

    def from_rows(self, rows, spec: str, language: str | None = None) -> list[ClassificationExample]:
        """Hub rows with ``premise`` / ``hypothesis`` (XNLI) or ``sentence1`` / ``sentence2`` (PAWS-X) and ``label``
        (a class index, named by the dataset's ``ClassLabel`` or the task's integer labels; -1 is unlabelled),
        checked as files are."""
        pairs = (("premise", "hypothesis"), ("sentence1", "sentence2"))
        columns = next((c for c in pairs if c[0] in rows.column_names), None)
        if columns is None or "label" not in rows.column_names:
            raise ValueError(f"{spec}: expected columns premise/hypothesis or sentence1/sentence2, and label; found "
                             f"{rows.column_names}")
        names = getattr(rows.features["label"], "names", None) or INT_LABELS.get(self.task)
        records = ((k + 1, {"text_a": row[columns[0]], "text_b": row[columns[1]], "label": row["label"]})
                   for k, row in enumerate(rows))
        policy = "error" if spec in self.test_files.values() else self.on_bad_line  # predictions in row order
        return classification_examples(spec, records, BadLines(spec, policy), self.label_names, int_labels=names,
                                       default_language=language)

    def group_of(self, example: ClassificationExample) -> str:
        return example.text_a  # dev_split keeps a premise's hypotheses on one side

    def build(self, examples: list[ClassificationExample], language: str, split: str, path: str) -> ClassificationSet:
        if split == "test" and language in self.test_labels:
            labelled = self._test_labels_of(language, path)
            examples = [replace(e, label=gold.label) for e, gold in zip(examples, labelled)]  # test_limit: a prefix
        return ClassificationSet(examples, language, path, self.tokenizer, self.label_names, self.max_length)

    def _test_labels_of(self, language: str, path: str) -> list[ClassificationExample]:
        """The rows of ``test_labels[language]``, checked to label the test file ``path`` row by row."""
        labelled, rows = self._read_all(self.test_labels[language], language), len(self._read_all(path, language))
        if len(labelled) != rows:
            raise ValueError(f"{self.test_labels[language]} has {len(labelled)} labelled rows but {path} has "
                             f"{rows}: test_labels must label the test file row by row")
        return labelled

    def check_test_files(self) -> None:
        super().check_test_files()
        for language, path in self.test_files.items():
            if language in self.test_labels:
                self._test_labels_of(language, path)


class SequenceClassificationTask(XtremeTask):
    """Sentence(-pair) classification scored by accuracy (XNLI, PAWS-X).

    Args: those of :class:`~veco_lightning.tasks.base.XtremeTask`; ``labels`` defaults to the task's label set.
    """

    model_class = XLMRobertaForSequenceClassification
    metric = "accuracy"

    def __init__(self, encoder: str, task: str = "xnli", labels: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(encoder, task, labels or TASK_LABELS.get(task), **kwargs)

    def head_config(self) -> dict[str, Any]:
        return {"num_labels": len(self.labels), "id2label": dict(enumerate(self.labels)),
                "label2id": {label: i for i, label in enumerate(self.labels)}}

    def outputs(self, batch: dict[str, torch.Tensor], result: Any) -> dict[int, int]:
        return dict(zip(batch["index"].tolist(), result.logits.argmax(dim=-1).tolist()))

    def score(self, dataset: ClassificationSet, predictions: list[str]) -> dict[str, float]:
        return {"accuracy": accuracy(predictions, dataset.references)}

    def write(self, path: str, predictions: list[str]) -> None:
        write_classification_predictions(path, predictions)

    def write_labels(self, path: str, dataset: ClassificationSet) -> None:
        write_classification_labels(path, dataset.examples)
