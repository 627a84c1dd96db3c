"""The evaluation datamodule: aligned pairs and mining tasks scored in the validation and test loops."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader

from veco_lightning.data.base import TokenizedDataModule
from veco_lightning.evaluation.datasets import BitextEvalSet, MiningEvalSet, collate_bitext, collate_sentences
from veco_lightning.evaluation.sources import BuccSource, PairSource, TatoebaSource, tatoeba_sources
from veco_lightning.lexicon.dictionary import BilingualDictionary, dictionary_for


class EvaluationDataModule(TokenizedDataModule):
    """Aligned sentence pairs that the validation and test loops score: retrieval accuracy for every set, word
    alignment error rate where gold alignments are given, synonym retrieval where a dictionary covers the pair, and
    bitext-mining F1 on BUCC-style tasks. Usable alone (``veco-fit test`` with only ``data.evaluation``, or a plain
    ``Trainer.test``) or inside :class:`~veco_lightning.datamodule.VecoDataModule`.

    Args:
        tatoeba: Tatoeba folder and languages.
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
    """

    def __init__(
        self,
        tatoeba: TatoebaSource | None = None,
        pairs: dict[str, PairSource] | None = None,
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
    ) -> None:
        super().__init__(tokenizer)
        self.tatoeba = tatoeba
        self.pairs = pairs or {}
        self.bucc = bucc
        self.dictionaries = dictionaries or {}
        self.max_length = max_length
        self.batch_size = batch_size
        self.val_max_pairs = val_max_pairs
        self.stop_words = stop_words
        self.max_word_chars = max_word_chars
        self.num_workers = num_workers
        self.sets: list[BitextEvalSet] = []
        self.mining_sets: list[MiningEvalSet] = []
        self.extra_pairs: dict[str, tuple[str, str, list[str], list[str]]] = {}
        if tatoeba is None and not self.pairs and bucc is None and not allow_empty:
            raise ValueError("EvaluationDataModule needs tatoeba: {root: ...}, pairs: {name: ...} or bucc: {root: ...}")

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
        return dictionary_for(self.dictionaries, src_lang, tgt_lang)

    def setup(self, stage: str | None = None) -> None:
        if self.sets or self.mining_sets:
            return
        tokenizer = self.tokenizer
        options = {"stop_words": self.stop_words, "max_word_chars": self.max_word_chars}
        sources = {**(tatoeba_sources(self.tatoeba) if self.tatoeba else {}), **self.pairs}
        for name, source in sources.items():
            dictionary = self._dictionary(*source.languages(name))
            self.sets.append(BitextEvalSet.from_source(name, source, tokenizer, self.max_length, dictionary, **options))
        for name, (src_lang, tgt_lang, src, tgt) in self.extra_pairs.items():
            dictionary = self._dictionary(src_lang, tgt_lang)
            self.sets.append(BitextEvalSet(name, src, tgt, src_lang, tgt_lang, tokenizer, self.max_length, dictionary,
                                           **options))
        for pair in self.bucc.pairs if self.bucc else []:
            self.mining_sets.append(MiningEvalSet(f"bucc-{pair}", self.bucc, pair, tokenizer, self.max_length))

    def _loaders(self, max_pairs: int | None) -> list[DataLoader]:
        loaders = []
        for set_id, dataset in enumerate(self.sets):
            if max_pairs is not None:
                keep = [p for p in range(len(dataset)) if dataset.items[dataset.order[p]]["index"] < max_pairs]
                dataset = torch.utils.data.Subset(dataset, keep)
            loaders.append(DataLoader(
                dataset, batch_size=self.batch_size, num_workers=self.num_workers,
                collate_fn=partial(collate_bitext, pad_id=self.pad_id, set_id=set_id),
            ))
        return loaders

    def val_dataloader(self) -> list[DataLoader]:
        return self._loaders(self.val_max_pairs) if self.val_max_pairs else []

    def test_dataloader(self) -> list[DataLoader]:
        mining = [
            DataLoader(dataset, batch_size=self.batch_size, num_workers=self.num_workers,
                       collate_fn=partial(collate_sentences, pad_id=self.pad_id, task_id=task_id))
            for task_id, dataset in enumerate(self.mining_sets)
        ]
        return self._loaders(None) + mining


def evaluation_data(datamodule: LightningDataModule | Any) -> EvaluationDataModule | None:
    """The evaluation datamodule a trainer's datamodule holds: itself, or a composite's ``evaluation`` member."""
    if isinstance(datamodule, EvaluationDataModule):
        return datamodule
    member = getattr(datamodule, "evaluation", None)
    return member if isinstance(member, EvaluationDataModule) else None
