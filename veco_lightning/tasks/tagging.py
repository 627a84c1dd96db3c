"""Token classification (UD-POS, WikiANN / PAN-X NER): one label per word, predicted on its first sub-word.

Every gold word gets exactly one prediction. A sentence longer than ``max_length`` tokens is cut, at word boundaries,
into consecutive windows that are classified separately and joined again; nothing is truncated (a single word longer
than a whole window keeps its first sub-words, enough for its prediction). Labels sit on the first sub-word of each
word and -100 on the rest, so the loss and the predictions see one position per word.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from transformers import XLMRobertaForTokenClassification

from veco_lightning.data.readers import expand_globs
from veco_lightning.data.tokenizer import special_template
from veco_lightning.tasks.base import XtremeTask
from veco_lightning.tasks.datamodule import TaskDataModule, TaskSet, is_dataset_source
from veco_lightning.tasks.formats import (
    TAG_FIELDS,
    WORD_FIELDS,
    TaggedSentence,
    read_tagging,
    row_sentences,
    write_tagging_labels,
    write_tagging_predictions,
    xtreme_words,
)
from veco_lightning.tasks.metrics import span_scores, token_accuracy

log = logging.getLogger(__name__)


class TaggingSet(TaskSet):
    """One tagging file, tokenized word by word and cut into windows of at most ``max_length`` tokens."""

    def __init__(self, sentences: list[TaggedSentence], language: str, path: str, tokenizer, labels: list[str],
                 max_length: int) -> None:
        self.path, self.language, self.sentences = path, language, sentences
        self.labels = labels
        label_ids = {label: i for i, label in enumerate(labels or [])}
        template = special_template(tokenizer, pair=False)  # <s> A </s>, [CLS] A [SEP]
        room = max_length - template.specials
        self.windows: list[dict[str, Any]] = []
        split = 0
        # Every word of the file in one call (each word is tokenized as a text of its own, as XLM-R sees words).
        flat = [word for sentence in self.sentences for word in sentence.words]
        all_pieces = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
        offset = 0
        for s, sentence in enumerate(self.sentences):
            pieces = all_pieces[offset : offset + len(sentence.words)]
            offset += len(sentence.words)
            pieces = [p[:room] or [tokenizer.unk_token_id] for p in pieces]  # a word always has a first sub-word
            first = 0
            while first < len(pieces) or (first == 0 and not pieces):
                body, starts, targets, last = [], [], [], first
                while last < len(pieces) and len(body) + len(pieces[last]) <= room:
                    body += pieces[last]
                    starts += [1] + [0] * (len(pieces[last]) - 1)
                    gold = sentence.labels[last] if sentence.labels is not None else None
                    targets += [label_ids[gold] if gold is not None else -100] + [-100] * (len(pieces[last]) - 1)
                    last += 1
                ids, types = template.fill(body)
                before, after = len(template.prefix), len(template.suffix)
                window = {"index": len(self.windows), "input_ids": ids, "sentence": s, "first_word": first,
                          "word_starts": [0] * before + starts + [0] * after,
                          "labels": [-100] * before + targets + [-100] * after}
                if template.token_types:
                    window["token_type_ids"] = types
                self.windows.append(window)
                split += first > 0
                if last == first:  # an empty sentence: one window without words
                    break
                first = last
        if split:
            log.info("%s: %d sentence(s) longer than %d tokens were split into windows (no word is dropped)",
                     path, split, max_length)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        window = self.windows[i]
        return {k: window[k] for k in ("index", "input_ids", "token_type_ids", "word_starts", "labels") if k in window}

    def decode(self, outputs: dict[int, list[int]], **options: Any) -> list[list[str]]:
        """One label per gold word: each sentence's windows joined in order."""
        sentences: list[list[str]] = [[] for _ in self.sentences]
        for i, window in enumerate(self.windows):
            if i not in outputs:
                raise ValueError(f"{self.path}: window {i} (sentence {window['sentence']}) got no prediction")
            sentences[window["sentence"]].extend(self.labels[label] for label in outputs[i])
        for sentence, predicted in zip(self.sentences, sentences):
            if len(predicted) != len(sentence.words):
                raise AssertionError(f"{self.path}:{sentence.line}: {len(predicted)} predictions for "
                                     f"{len(sentence.words)} words")
        return sentences

    @property
    def references(self) -> list[list[str]] | None:
        if any(s.labels is None for s in self.sentences):
            return None
        return [list(s.labels) for s in self.sentences]


class TaggingDataModule(TaskDataModule):
    """UD-POS and PAN-X / WikiANN NER files: CoNLL-U, XTREME's ``word<TAB>label`` files, ``lang:token<TAB>tag``
    (see :func:`veco_lightning.tasks.formats.read_tagging`). The label set is the training files' (sorted); a label
    outside it in a development or test file is an error naming the file and line (or a counted skip).

    Args:
        layout: the files' format: ``conllu``, ``tsv`` (``word<TAB>label``, PAN-X), ``conll`` (CoNLL-2003's
            space-separated columns, the tag last), ``jsonl`` (``{tokens, ner_tags}`` per line, as ``datasets``
            writes them) or ``auto`` (detected).
        label_names: fix the label set instead of reading it from the training files.
        int_labels: tag names by integer, for JSON lines (and Hub datasets without ``ClassLabel`` names) whose tags
            are integers: ``configs/xtreme/panx.yaml`` and ``udpos.yaml`` give those of Hugging Face's PAN-X /
            WikiANN and UD POS exports. Integer tags without names are an error.
        words: ``as_is``, or ``xtreme``: zero-width non-joiners and spaces removed from inside words, as XTREME's
            UD-POS preprocessing writes its files (:func:`~veco_lightning.tasks.formats.xtreme_words`);
            ``configs/xtreme/udpos.yaml`` sets it, so that raw treebanks are read as XTREME's UD-POS files are.
        **kwargs: the arguments of :class:`~veco_lightning.tasks.datamodule.TaskDataModule`.
    """

    def __init__(self, layout: str = "auto", label_names: list[str] | None = None,
                 int_labels: list[str] | None = None, words: Literal["as_is", "xtreme"] = "as_is",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if words not in ("as_is", "xtreme"):
            raise ValueError(f"data.words must be as_is or xtreme, not {words!r}")
        self.layout = layout
        self.label_names = label_names
        self.int_labels = int_labels
        self.words = words

    @property
    def labels(self) -> list[str]:
        if self.label_names is None:
            if not self.train_files:
                raise ValueError("The tag set comes from data.train_files: give them, or label_names")
            found = {label for s in self._read_all(self.train_files) for label in s.labels or ()}
            if not found:
                raise ValueError(f"No labels in {self.train_files}: the training files must be labelled")
            self.label_names = sorted(found)
        return self.label_names

    def read(self, path: str, language: str | None = None) -> list[TaggedSentence]:
        # The training files define the tag set; every other file is checked against it.
        training = {p for pattern in self.train_files if not is_dataset_source(pattern) for p in expand_globs(pattern)}
        labels = self.label_names if path in training else self.labels
        return self._words(read_tagging(path, labels=labels, layout=self.layout, on_bad_line=self.policy(path),
                                        int_labels=self.int_labels, language=language))

    def _words(self, sentences: list[TaggedSentence]) -> list[TaggedSentence]:
        return xtreme_words(sentences) if self.words == "xtreme" else sentences

    def from_rows(self, rows, spec: str, language: str | None = None) -> list[TaggedSentence]:
        """Hub rows with ``tokens`` and ``pos_tags`` / ``ner_tags`` / ``tags`` (class indices named by the dataset's
        ``ClassLabel`` or by ``int_labels``, or strings), checked as files are."""
        column = next((c for c in TAG_FIELDS if c in rows.column_names), None)
        if not set(WORD_FIELDS) & set(rows.column_names):
            raise ValueError(f"{spec}: expected a tokens column (and one of {', '.join(TAG_FIELDS)}); found "
                             f"{rows.column_names}")
        names = getattr(getattr(rows.features[column], "feature", None), "names", None) if column else None
        labels = self.label_names if spec in self.train_files else self.labels
        policy = "error" if spec in self.test_files.values() else self.on_bad_line  # predictions in row order
        return self._words(row_sentences(spec, ((k + 1, row) for k, row in enumerate(rows)), labels,
                                         names or self.int_labels, policy))

    def build(self, examples: list[TaggedSentence], language: str, split: str, path: str) -> TaggingSet:
        return TaggingSet(examples, language, path, self.tokenizer, self.labels, self.max_length)


class TokenClassificationTask(XtremeTask):
    """Token classification scored as XTREME scores it: span precision / recall / F1 over the tags (for POS too,
    where the tags are the span types), plus per-token accuracy (reported, not part of XTREME's average).

    Args: those of :class:`~veco_lightning.tasks.base.XtremeTask`; ``labels`` (the tag set) is required.
    """

    model_class = XLMRobertaForTokenClassification
    metric = "f1"

    def __init__(self, encoder: str, task: str = "udpos", labels: list[str] | None = None, **kwargs: Any) -> None:
        if not labels:
            raise ValueError("TokenClassificationTask needs labels (veco-xtreme links them from data.train_files)")
        super().__init__(encoder, task, labels, **kwargs)

    def head_config(self) -> dict[str, Any]:
        return {"num_labels": len(self.labels), "id2label": dict(enumerate(self.labels)),
                "label2id": {label: i for i, label in enumerate(self.labels)}}

    def outputs(self, batch: dict[str, torch.Tensor], result: Any) -> dict[int, list[int]]:
        predicted = result.logits.argmax(dim=-1)  # (B, L)
        starts = batch["word_starts"].bool()
        return {int(i): predicted[row][starts[row]].tolist() for row, i in enumerate(batch["index"])}

    def score(self, dataset: TaggingSet, predictions: list[list[str]]) -> dict[str, float]:
        return {**span_scores(predictions, dataset.references),
                "token_accuracy": token_accuracy(predictions, dataset.references)}

    def write(self, path: str, predictions: list[list[str]]) -> None:
        write_tagging_predictions(path, predictions)

    def write_labels(self, path: str, dataset: TaggingSet) -> None:
        write_tagging_labels(path, dataset.sentences)
