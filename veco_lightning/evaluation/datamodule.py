"""The evaluation datamodule: aligned pairs and mining tasks scored in the validation and test loops."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader

from veco_lightning.data.base import TokenizedDataModule
from veco_lightning.data.readers import as_pair_source, check_pair_source, expand_globs
from veco_lightning.evaluation.bitext_mining import bucc_files
from veco_lightning.evaluation.datasets import BitextEvalSet, MiningEvalSet, collate_bitext, collate_sentences
from veco_lightning.evaluation.sources import BuccSource, PairSource, TatoebaSource, tatoeba_sources
from veco_lightning.lexicon.badinput import MAX_LINE_CHARS, BadLinePolicy
from veco_lightning.lexicon.dictionary import BilingualDictionary, dictionary_for
from veco_lightning.lexicon.languages import check_language, split_pair
from veco_lightning.paths import resolve_path


class EvaluationDataModule(TokenizedDataModule):
    """Aligned sentence pairs that the validation and test loops score: retrieval accuracy for every set, word
    alignment error rate where gold alignments are given, synonym retrieval where a dictionary covers the pair, and
    bitext-mining F1 on BUCC-style tasks. Usable alone (``veco-fit test`` with only ``data.evaluation``, or a plain
    ``Trainer.test``) or inside :class:`~veco_lightning.datamodule.VecoDataModule`.

    Args:
        tatoeba: Tatoeba folder and languages (``{root: ..., languages: [...]}``; a folder alone means every
            language found in it).
        pairs: named pair sources (TSV, jsonl, line-aligned files or hub sets, optional Pharaoh gold).
        bucc: BUCC-style mining tasks (scored in ``test`` only: mining needs the whole pools).
        dictionaries: ``"en-de"`` -> MUSE dictionary files (either direction is used), for synonym retrieval.
        tokenizer: tokenizer directory or name (the composite datamodule sets it through ``connect``).
        max_length: longest tokenized sentence (longer ones are truncated).
        batch_size: pairs per batch.
        val_max_pairs: pairs per set scored in validation during training (all are scored in ``test``);
            0 turns validation scoring off.
        stop_words: synonym pairs made only of stop words are not scored (as training does by default).
        max_word_chars: longest dictionary match when segmenting a side written without spaces (as in training).
        num_workers: loader workers.
        allow_empty: accept no source here (pairs are added with ``add_pairs``).
        on_bad_line: a bad pair of a pair set (an empty side, a malformed line, invalid UTF-8, a control character, a
            side longer than ``max_line_chars``): ``error`` names ``file:line`` and the fix; ``skip`` leaves it out of
            the set (with its gold alignment line), counted per file. BUCC tasks and gold alignment files cannot skip
            lines: their bad lines are errors.
        on_bad_dictionary_line: ``skip`` (default) or ``error`` for malformed dictionary lines, as in training.
        max_line_chars: longest sentence (or dictionary line), in characters.
        extra_languages: language codes to accept beyond the ISO 639-1 / 639-3 codes the package knows.
        prompt: text put before every sentence scored (both sides of every set, BUCC's sentences), as models trained
            with an instruction read their input: ``"query: "`` for the multilingual E5 models (their advice for
            bitext mining). Its tokens count in ``max_length``; they belong to no word (word-level scores read the
            sentence's words). ``None``: the sentence as it is. A sentence-transformers model scored with
            ``model.evaluation.pooling: sentence_transformers`` is checked against its default prompt.
    """

    def __init__(
        self,
        tatoeba: str | TatoebaSource | None = None,
        pairs: dict[str, str | list[str] | PairSource] | None = None,
        bucc: BuccSource | None = None,
        dictionaries: dict[str, list[str]] | None = None,
        tokenizer: str | None = None,
        max_length: int = 256,
        batch_size: int = 64,
        val_max_pairs: int = 200,
        stop_words: bool = True,
        max_word_chars: int = 8,
        num_workers: int = 0,
        allow_empty: bool = False,
        on_bad_line: BadLinePolicy = "error",
        on_bad_dictionary_line: BadLinePolicy = "skip",
        max_line_chars: int = MAX_LINE_CHARS,
        extra_languages: list[str] | None = None,
        prompt: str | None = None,
    ) -> None:
        super().__init__(tokenizer)
        self.tatoeba = TatoebaSource(root=tatoeba) if isinstance(tatoeba, str) else tatoeba
        self.pairs = {name: as_pair_source(source, name, PairSource) for name, source in (pairs or {}).items()}
        self.bucc = bucc
        self.dictionaries = dictionaries or {}
        self.max_length = max_length
        self.prompt = prompt or None
        self.batch_size = batch_size
        self.val_max_pairs = val_max_pairs
        self.stop_words = stop_words
        self.max_word_chars = max_word_chars
        self.num_workers = num_workers
        self.on_bad_line = on_bad_line
        self.on_bad_dictionary_line = on_bad_dictionary_line
        self.max_line_chars = max_line_chars
        self.extra_languages = list(extra_languages or [])
        self.sets: list[BitextEvalSet] = []
        self.mining_sets: list[MiningEvalSet] = []
        self.tatoeba_names: list[str] = []  # the sets read from the Tatoeba folder (XTREME's tatoeba task)
        self.extra_pairs: dict[str, tuple[str, str, list[str], list[str]]] = {}
        if tatoeba is None and not self.pairs and bucc is None and not allow_empty:
            raise ValueError("EvaluationDataModule (data.evaluation) has no evaluation set: give tatoeba: "
                             "{root: ...}, pairs: {name: ...} or bucc: {root: ...}, or set data.evaluation: null "
                             "for no sets of its own (the parallel data's held-out pairs, if any, are still scored)")

    def add_pairs(self, name: str, src_lang: str, tgt_lang: str, src: list[str], tgt: list[str]) -> None:
        """Score in-memory pairs too (the composite datamodule adds the parallel data's held-out pairs)."""
        self.extra_pairs[name] = (src_lang, tgt_lang, src, tgt)

    @property
    def set_names(self) -> list[str]:
        """Names of the pair sets, by set id (the id batches and metrics carry)."""
        return [s.name for s in self.sets]

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def _dictionary(self, src_lang: str, tgt_lang: str) -> BilingualDictionary | None:
        return dictionary_for(self.dictionaries, src_lang, tgt_lang, strict=self.on_bad_dictionary_line == "error",
                              max_line_chars=self.max_line_chars)

    def _sources(self) -> dict[str, PairSource]:
        return {**(tatoeba_sources(self.tatoeba) if self.tatoeba else {}), **self.pairs}

    def check_sources(self) -> None:
        """Every set's files, globs and language codes, the dictionaries and the BUCC files, checked before any
        sentence is read."""
        extra = self.extra_languages
        for name, source in self._sources().items():
            check_pair_source(source, name)
            if source.alignments:
                expand_globs(source.alignments, f" (gold alignments of evaluation set {name!r})")
            for code in source.languages(name, extra):
                check_language(code, f"in evaluation set {name!r}", extra)
        for key, files in self.dictionaries.items():
            for code in split_pair(key, extra):
                check_language(code, f"in evaluation dictionaries key {key!r}", extra)
            for path in [files] if isinstance(files, str) else files:
                expand_globs(path, f" (dictionary {key!r})")
        for pair in self.bucc.pairs if self.bucc else []:
            for code in split_pair(pair, extra):
                check_language(code, f"in BUCC pair {pair!r}", extra)
            for split in (self.bucc.dev_split, self.bucc.test_split):
                bucc_files(resolve_path(self.bucc.root), pair, split)

    def prepare_data(self) -> None:
        self.check_sources()

    def setup(self, stage: str | None = None) -> None:
        if self.sets or self.mining_sets:
            return
        tokenizer = self.tokenizer
        options = {"stop_words": self.stop_words, "max_word_chars": self.max_word_chars, "prompt": self.prompt}
        reading = {"on_bad_line": self.on_bad_line, "max_line_chars": self.max_line_chars,
                   "extra_languages": self.extra_languages}
        sources = self._sources()
        if self.tatoeba:
            self.tatoeba_names = [name for name in tatoeba_sources(self.tatoeba) if name not in self.pairs]
        for name, source in sources.items():
            dictionary = self._dictionary(*source.languages(name, self.extra_languages))
            self.sets.append(BitextEvalSet.from_source(name, source, tokenizer, self.max_length, dictionary,
                                                       **reading, **options))
        for name, (src_lang, tgt_lang, src, tgt) in self.extra_pairs.items():
            dictionary = self._dictionary(src_lang, tgt_lang)
            self.sets.append(BitextEvalSet(name, src, tgt, src_lang, tgt_lang, tokenizer, self.max_length, dictionary,
                                           **options))
        for pair in self.bucc.pairs if self.bucc else []:
            self.mining_sets.append(MiningEvalSet(f"bucc-{pair}", self.bucc, pair, tokenizer, self.max_length,
                                                  self.max_line_chars, self.prompt))

    def _loaders(self, max_pairs: int | None) -> list[DataLoader]:
        loaders = []
        for set_id, dataset in enumerate(self.sets):
            if max_pairs is not None:
                keep = [p for p in range(len(dataset)) if dataset.items[dataset.order[p]]["index"] < max_pairs]
                dataset = torch.utils.data.Subset(dataset, keep)
            loaders.append(DataLoader(
                dataset, batch_size=self.batch_size, num_workers=self.num_workers,
                collate_fn=partial(collate_bitext, pad_id=self.pad_id, set_id=set_id),
                generator=torch.Generator(),  # never draws from the global random state (exact resume)
            ))
        return loaders

    def val_dataloader(self) -> list[DataLoader]:
        return self._loaders(self.val_max_pairs) if self.val_max_pairs else []

    def predict_dataloader(self) -> list[DataLoader]:
        """Every pair set, both sides clean: ``veco-fit predict`` writes their sentence embeddings."""
        return self._loaders(None)

    def test_dataloader(self) -> list[DataLoader]:
        mining = [
            DataLoader(dataset, batch_size=self.batch_size, num_workers=self.num_workers,
                       collate_fn=partial(collate_sentences, pad_id=self.pad_id, task_id=task_id),
                       generator=torch.Generator())
            for task_id, dataset in enumerate(self.mining_sets)
        ]
        return self._loaders(None) + mining


def evaluation_data(datamodule: LightningDataModule | Any) -> EvaluationDataModule | None:
    """The evaluation datamodule a trainer's datamodule holds: itself, or a composite's ``evaluation`` member."""
    if isinstance(datamodule, EvaluationDataModule):
        return datamodule
    member = getattr(datamodule, "evaluation", None)
    return member if isinstance(member, EvaluationDataModule) else None
