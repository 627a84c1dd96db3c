r"""What every XTREME task's data shares: English training and development files, one test file per language, read in
the task's formats and tokenized once per run into :class:`TaskSet`\ s that also decode and score predictions."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerBase

from veco_lightning.data.collators import pad_sequences
from veco_lightning.data.readers import expand_globs, load_hub_dataset
from veco_lightning.data.sampling import LanguageSampler
from veco_lightning.data.tokenizer import load_tokenizer
from veco_lightning.lexicon.languages import ISO_639_1
from veco_lightning.paths import resolve_path
from veco_lightning.tasks.backbone import tokenizer_of
from veco_lightning.tasks.formats._common import check_file_language
from veco_lightning.tasks.metrics import question_context_languages

log = logging.getLogger(__name__)

# the language in the file names of XTREME and its datasets: test-de.tsv, dev-de.tsv, xquad.de.json (the end),
# tydiqa.goldp.fi.dev.json (TyDiQA-GoldP), de_gsd-ud-test.conllu (Universal Dependencies, the start)
_FILE_LANGUAGE = re.compile(r"[._-](?P<a>[a-z]{2})\.(?:tsv|json|jsonl|txt|conllu|conll|csv)(?:\.(?:gz|bz2|xz|zst))?$|"
                            r"^tydiqa\.goldp\.(?P<b>[a-z]{2})\.|^(?P<c>[a-z]{2})_[a-z0-9]+-ud-(?:train|dev|test)\.")


def file_language(path: str) -> str | None:
    """The ISO 639-1 language a data file's name gives (``test-de.tsv``, ``xquad.de.json``,
    ``tydiqa.goldp.fi.dev.json``, ``de_gsd-ud-test.conllu``), or None. MLQA's
    names of two languages (``dev-context-de-question-en.json``) give none here: the MLQA task reads them."""
    name = os.path.basename(path)
    if question_context_languages(name) is not None:
        return None
    found = _FILE_LANGUAGE.search(name)
    code = next((c for c in found.groups() if c), None) if found else None
    return code if code in ISO_639_1 else None

Selection = Literal["english_dev", "target_dev"]
HUB_PREFIX = "hf://"


def is_dataset_source(pattern: str) -> bool:
    """Whether a data option names a dataset rather than files: ``hf://...``, or a directory written by
    ``datasets``' ``save_to_disk``."""
    return pattern.startswith(HUB_PREFIX) or os.path.isdir(resolve_path(pattern))


def load_rows(spec: str) -> Any:
    """The rows of a dataset source: an ``hf://`` spec (:func:`load_hub`), or a ``save_to_disk`` directory of one
    split (a directory of several, a ``DatasetDict``, is an error naming them)."""
    if spec.startswith(HUB_PREFIX):
        return load_hub(spec)
    import datasets

    path = resolve_path(spec)
    if os.path.isfile(os.path.join(path, "dataset_dict.json")):
        splits = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
        raise ValueError(f"{spec} holds a dataset of several splits ({', '.join(splits)}): give one of them, e.g. "
                         f"{os.path.join(spec, splits[0]) if splits else spec + '/train'}")
    if not os.path.isfile(os.path.join(path, "state.json")):
        expand_globs(spec)  # a plain folder: its error says which glob of its files to give
    return datasets.load_from_disk(path)


def load_hub(spec: str) -> Any:
    """A dataset split from an ``hf://NAME?name=CONFIG&split=SPLIT`` source (``datasets.load_dataset``)."""
    parsed = urlsplit(spec)
    name = parsed.netloc + parsed.path
    options = {key: values[0] if len(values) == 1 else values for key, values in parse_qs(parsed.query).items()}
    if "split" not in options:
        raise ValueError(f"{spec}: name the split, e.g. {spec}{'&' if parsed.query else '?'}split=train")
    config, split = options.pop("name", None), options.pop("split")
    return load_hub_dataset(name, config, split, [], "", f" ({spec})", **options)


class TaskSet(Dataset):
    """The tokenized features of one file (one language): what a task module needs to decode and score them.

    Subclasses hold the examples and their features; ``__getitem__`` gives ``{"index": feature index, ...tensors}``;
    :meth:`decode` turns the module's per-feature outputs into one prediction per example (re-joining windows) and
    :attr:`references` gives the gold answers (``None`` for an unlabelled file).
    """

    language: str
    path: str

    def decode(self, outputs: dict[int, Any], **options: Any) -> Any:
        raise NotImplementedError

    @property
    def references(self) -> Any:
        raise NotImplementedError


class TaskDataModule(LightningDataModule):
    """English training file(s), English development file (model selection) and one test file per language.

    Zero-shot by default: train on the training files, select on ``dev_file``, test on every file of ``test_files``.
    Where no English training set exists (XNLI and PAWS-X without MultiNLI / PAWS-Wiki, QA without SQuAD),
    ``dev_split`` holds out a seeded share of the training examples for selection instead of ``dev_file`` (whole
    paragraphs for QA, so that no context is on both sides).
    ``model_selection: target_dev`` selects on the target languages' development files ``dev_files`` instead, which
    is *not* zero-shot transfer (it uses labelled target-language data) and is logged as such. Several training
    files of different languages (translate-train-all) are concatenated.

    Args:
        train_files: training file(s) (globs; several languages for translate-train-all). Every file argument also
            takes a Hugging Face dataset as ``hf://NAME?name=CONFIG&split=SPLIT`` (needs the hub or a local cache;
            other query keys go to ``datasets.load_dataset``, e.g. ``hf://json?data_files=x.jsonl&split=train``), or
            as the directory of one split that ``save_to_disk`` wrote (its ``ClassLabel`` names kept).
        dev_file: the English development file for model selection.
        test_files: language -> test file; each is scored, and predicted in XTREME's submission layout (a language
            set to ``null`` is left out).
        dev_split: share of the training examples held out for model selection when there is no ``dev_file``.
        tokenizer: the encoder's tokenizer (set from ``model.encoder`` by ``veco-xtreme``).
        max_length: longest input in tokens (longer inputs are windowed, never truncated).
        batch_size: training examples per batch.
        eval_batch_size: evaluation examples per batch.
        train_limit: use only this many training examples (a seeded random subset; ``None``: all).
        dev_limit: use only this many development examples (a seeded random subset; ``None``: all).
        test_limit: score only the first this many examples of each test file (``None``: all); the predictions and
            labels written cover the same examples.
        model_selection: ``english_dev`` (zero-shot) or ``target_dev`` (select on ``dev_files``; not zero-shot).
        dev_files: language -> development file, for ``model_selection: target_dev``.
        on_bad_line: ``error`` stops at a malformed line or example (naming file, line and fix); ``skip`` skips it
            and counts it in a warning. Test files whose predictions are written line by line (classification,
            tagging) are always read strictly: a skipped line would shift every prediction after it.
        num_workers: loader workers.
        seed: seed of the training order and of the subsets.
    """

    def __init__(
        self,
        train_files: str | list[str] | None = None,
        dev_file: str | None = None,
        test_files: dict[str, str | None] | None = None,
        dev_split: float | None = None,
        tokenizer: str | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        train_limit: int | None = None,
        dev_limit: int | None = None,
        test_limit: int | None = None,
        model_selection: Selection = "english_dev",
        dev_files: dict[str, str] | None = None,
        on_bad_line: Literal["error", "skip"] = "error",
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_files = [train_files] if isinstance(train_files, str) else list(train_files or [])
        self.dev_file = dev_file
        self.test_files = {lang: path for lang, path in (test_files or {}).items() if path}
        self.dev_split = dev_split
        if dev_split is not None and not 0 < dev_split < 1:
            raise ValueError(f"dev_split is a share of the training examples in (0, 1), got {dev_split}")
        self.tokenizer_name = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.train_limit = train_limit
        self.dev_limit = dev_limit
        self.test_limit = test_limit
        self.model_selection = model_selection
        self.dev_files = dict(dev_files or {})
        self.on_bad_line = on_bad_line
        self.num_workers = num_workers
        self.seed = seed
        if model_selection == "target_dev" and not self.dev_files:
            raise ValueError("model_selection: target_dev needs dev_files (language -> development file)")
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._read_cache: dict[tuple[str, ...], list[Any]] = {}
        self._test_files_checked = False
        self._named_languages: set[tuple[str, str]] = set()  # (language, file) pairs already looked at
        self.train_set: TaskSet | None = None
        self.dev_sets: list[TaskSet] = []
        self.test_sets: list[TaskSet] = []

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            if self.tokenizer_name is None:
                raise ValueError("No tokenizer: set data.tokenizer, or model.encoder (veco-xtreme links them)")
            self._tokenizer = load_tokenizer(tokenizer_of(self.tokenizer_name))
        return self._tokenizer

    @property
    def labels(self) -> list[str] | None:
        """The label set the model predicts (classification and tagging); linked into the model by ``veco-xtreme``."""
        return None

    def read(self, path: str, language: str | None = None) -> list[Any]:
        """The examples of one file (a path without glob characters) in this task's formats; ``language``: the
        language it is given for (a file holding rows of several languages gives that one's), if any."""
        raise NotImplementedError

    def from_rows(self, rows: Any, spec: str, language: str | None = None) -> list[Any]:
        """The examples of a Hugging Face dataset (``hf://`` sources); ``spec`` names it in messages; ``language`` as
        in :meth:`read`."""
        raise NotImplementedError

    def build(self, examples: list[Any], language: str, split: str, path: str) -> TaskSet:
        """Tokenize examples into a :class:`TaskSet` (``path`` names them in messages)."""
        raise NotImplementedError

    def group_of(self, example: Any) -> Any:
        """What ``dev_split`` keeps together (QA: the context); default: each example alone."""
        return id(example)

    def _read_all(self, patterns: str | list[str], language: str | None = None) -> list[Any]:
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        key = (tuple(patterns), language)
        if key not in self._read_cache:  # the training files may be read once for the label set, then reused
            examples = []
            for pattern in patterns:
                if is_dataset_source(pattern):
                    with self._option_hints(pattern):
                        examples += self.from_rows(load_rows(pattern), pattern, language)
                else:
                    examples += [example for path in expand_globs(pattern)
                                 for example in self._read_one(path, language)]
            self._read_cache[key] = examples
        return self._read_cache[key]

    # The readers' fixes name their own arguments; through veco-xtreme these are options of the data section, or
    # none the user can set (the reader's default is what the task uses).
    HINTS = (
        ("set on_bad_line='skip' to skip such", "set data.on_bad_line: skip to skip such"),
        ("set on_bad_example='skip' to skip such", "set data.on_bad_line: skip to skip such"),
        ("pass this file's label set as labels=", "give the task's label set as data.label_names"),
        ("pass this file's tag set as labels=", "give the task's tag set as data.label_names"),
        ("read it with labelled=False", "set data.labelled_test: false"),
        ("read an unlabelled file with labelled=False", "for an unlabelled test file set data.labelled_test: false"),
        (" (a text holding a TAB must be csv-quoted: quoting='csv'), or set columns=",
         " (a text holding a TAB must be csv-quoted)"),
        (", or read the file with quoting='none'", ""),
        (", or name integer labels with int_labels= (XNLI_HF_INT_LABELS for Hugging Face's XNLI)", ""),
        ("prefix every word or none, or read with strip_lang_prefix=None", "prefix every word or none"),
        ("name them in order with int_labels= (PANX_HF_INT_TAGS, UDPOS_HF_INT_TAGS for Hugging Face's PAN-X / WikiANN "
         "and UD POS)", "name them in order with data.int_labels (configs/xtreme/panx.yaml and udpos.yaml give Hugging "
         "Face's)"),
        ("fix the tag or int_labels", "fix the tag or data.int_labels"),
    )

    # Whether a test file's predictions are written in its order, one per line or sentence (classification,
    # tagging): then none of its lines may be skipped. QA writes answers by question id.
    predictions_in_file_order = True

    def policy(self, path: str) -> Literal["error", "skip"]:
        """The bad-line policy for reading ``path``: ``on_bad_line``, but ``error`` for a test file whose predictions
        are written in file order (a skipped line would shift every prediction after it)."""
        if self.predictions_in_file_order and path in self._test_paths:
            return "error"
        return self.on_bad_line

    @property
    def _test_paths(self) -> set[str]:
        return {p for pattern in self.test_files.values() if not is_dataset_source(pattern)
                for p in expand_globs(pattern)}

    @contextlib.contextmanager
    def _option_hints(self, source: str) -> Iterator[None]:
        """Reader errors of ``source`` (a file, an ``hf://`` dataset) with their fixes in terms of this datamodule's
        options."""
        try:
            yield
        except ValueError as err:
            message = str(err)
            if self.predictions_in_file_order and (source in self._test_paths or source in self.test_files.values()):
                message = re.sub(r", or set on_bad_line='skip' to skip such \w+ with a warning$",
                                 " (a test file is read whole, even with data.on_bad_line: skip: its predictions are "
                                 "written one per line, in its order)", message)
            for reader_hint, option_hint in self.HINTS:
                message = message.replace(reader_hint, option_hint)
            if message == str(err):
                raise
            raise ValueError(message) from None

    def _read_one(self, path: str, language: str | None = None) -> list[Any]:
        """:meth:`read`, its errors' fixes in terms of this datamodule's options; a file without examples is an
        error (it would otherwise fail in the tokenizer, or leave its language out of the results)."""
        with self._option_hints(path):
            examples = self.read(path, language)
        if not examples:
            skipped = " (every one was skipped as bad; see the warning above)" if self.on_bad_line == "skip" else ""
            raise ValueError(f"{path}: no examples{skipped}: the file is empty or holds nothing this task reads; give "
                             "a file with examples, or remove it from the data config")
        return examples

    def _split_off(self, examples: list[Any]) -> tuple[list[Any], list[Any]]:
        """Hold out a seeded ``dev_split`` share of the example groups for model selection."""
        groups = list(dict.fromkeys(self.group_of(e) for e in examples))
        generator = torch.Generator().manual_seed(self.seed)
        chosen = torch.randperm(len(groups), generator=generator)[: round(self.dev_split * len(groups))]
        held = {groups[i] for i in chosen.tolist()}
        train = [e for e in examples if self.group_of(e) not in held]
        dev = [e for e in examples if self.group_of(e) in held]
        log.info("dev_split: %d training and %d development examples (%d of %d groups held out, seed %d)",
                 len(train), len(dev), len(held), len(groups), self.seed)
        return train, dev

    def _sample(self, examples: list[Any], limit: int | None) -> list[Any]:
        """A seeded random subset of ``limit`` examples, in file order (all of them when ``limit`` is ``None``)."""
        if limit is None or limit >= len(examples):
            return list(examples)
        generator = torch.Generator().manual_seed(self.seed)
        return [examples[i] for i in sorted(torch.randperm(len(examples), generator=generator)[:limit].tolist())]

    def setup(self, stage: str | None = None) -> None:
        if (stage in (None, "fit") and self.train_set is None) or (
                stage == "validate" and self.dev_split is not None and not self.dev_sets):
            if not self.train_files:
                raise ValueError("Fine-tuning needs data.train_files")
            train = list(self._read_all(self.train_files))
            if self.dev_file is None and self.dev_split is not None and self.model_selection == "english_dev":
                train, dev = self._split_off(train)
                self.dev_sets = [self.build(self._sample(dev, self.dev_limit), "en", "dev",
                                            f"{self.train_files} (dev_split)")]
            self.train_set = self.build(self._sample(train, self.train_limit), "train", "train", str(self.train_files))
        if stage in (None, "fit", "validate") and not self.dev_sets:
            if self.model_selection == "target_dev":
                log.warning("model_selection: target_dev selects the checkpoint on labelled target-language data: the "
                            "results are NOT zero-shot cross-lingual transfer")
                for lang, path in self.dev_files.items():
                    self._check_file_language(lang, path)
                self.dev_sets = [self.build(self._sample(self._read_all(path, lang), self.dev_limit), lang, "dev", path)
                                 for lang, path in self.dev_files.items()]
            elif self.dev_file is not None:
                dev = self._sample(self._read_all(self.dev_file, "en"), self.dev_limit)
                self.dev_sets = [self.build(dev, "en", "dev", self.dev_file)]
        if stage == "fit" and not self._test_files_checked:
            self.check_test_files()
            self._test_files_checked = True
        if stage in (None, "test", "predict") and not self.test_sets:
            for lang, path in self.test_files.items():
                self._check_file_language(lang, path)
            self.test_sets = [self.build(self._read_all(path, lang)[: self.test_limit], lang, "test", path)
                              for lang, path in self.test_files.items()]

    def check_test_files(self) -> None:
        """Read every test file before fine-tuning starts (the examples are kept for the test): a test file that is
        missing or cannot be read would otherwise stop the run only after the whole fine-tuning."""
        for language, path in self.test_files.items():
            self._check_file_language(language, path)
            self._read_all(path, language)

    def _check_file_language(self, language: str, pattern: str) -> None:
        """Warn (once) when a file listed under ``language`` is named as another language's (``test-en.tsv``,
        ``xquad.en.json`` under ``de``): it would be scored as ``language``."""
        if (language, pattern) in self._named_languages or is_dataset_source(pattern):
            return
        self._named_languages.add((language, pattern))
        found = file_language(pattern)
        check_file_language(pattern, language, found, f"its name says {found}")

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad ``input_ids`` (and every other per-token list) to the longest item; stack the rest."""
        pad_values = {"input_ids": self.tokenizer.pad_token_id, "labels": -100, "word_starts": 0}
        batch: dict[str, torch.Tensor] = {}
        for key in items[0]:
            values = [item[key] for item in items]
            batch[key] = (pad_sequences(values, pad_values.get(key, 0)) if isinstance(values[0], list)
                          else torch.tensor(values))
        batch["attention_mask"] = (batch["input_ids"] != self.tokenizer.pad_token_id).long()
        return batch

    def train_dataloader(self) -> StatefulDataLoader:
        # Each epoch's order a function of (seed, epoch), this rank's share of it, and the position within it saved in
        # checkpoints (LanguageSampler over one set): a resumed fine-tuning run, killed mid-epoch or between epochs,
        # goes on with the batches it would have had (with RandomStates, exactly). A shuffling loader's generator
        # started again from its seed on resume, and replayed the first epoch's order.
        sampler = LanguageSampler([len(self.train_set)], seed=self.seed)
        return StatefulDataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler, collate_fn=self.collate,
                                  num_workers=self.num_workers, generator=torch.Generator().manual_seed(self.seed))

    def _eval_loaders(self, sets: list[TaskSet]) -> list[DataLoader]:
        return [DataLoader(s, batch_size=self.eval_batch_size, collate_fn=self.collate, num_workers=self.num_workers)
                for s in sets]

    def val_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders(self.dev_sets)

    def test_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders(self.test_sets)

    predict_dataloader = test_dataloader
